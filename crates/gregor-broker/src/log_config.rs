//! The effective settings of a topic: its own overrides, else the broker's
//! synonym, else Kafka's default. Used for the partition logs and for
//! DescribeConfigs, so both always agree.

use crate::config::{topic_default_in, BrokerConfig};
use gregor_log::{CompressionPolicy, LogConfig, TimestampType};
use gregor_metadata::topic_config::{self, TopicConfigDef};
use gregor_metadata::MetadataImage;
use gregor_metadata::TopicImage;
use gregor_protocol::compression::Compression;
use std::collections::BTreeMap;

/// Where a config value comes from, as DescribeConfigs v1+ reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    DynamicTopic,
    DynamicBroker,
    DynamicDefaultBroker,
    StaticBroker,
    Default,
}

impl ConfigSource {
    pub fn code(self) -> i8 {
        match self {
            ConfigSource::DynamicTopic => 1,
            ConfigSource::DynamicBroker => 2,
            ConfigSource::DynamicDefaultBroker => 3,
            ConfigSource::StaticBroker => 4,
            ConfigSource::Default => 5,
        }
    }
}

/// The broker-level layers under a topic's own configs, highest first:
/// this broker's dynamic configs, the cluster-wide dynamic defaults (both
/// from the metadata log), then the static configuration.
pub struct BrokerLayers<'a> {
    pub dynamic: Option<&'a BTreeMap<String, String>>,
    pub dynamic_default: &'a BTreeMap<String, String>,
    pub config: &'a BrokerConfig,
}

impl<'a> BrokerLayers<'a> {
    pub fn new(image: &'a MetadataImage, config: &'a BrokerConfig) -> BrokerLayers<'a> {
        BrokerLayers {
            dynamic: image.broker_configs.get(&config.node_id),
            dynamic_default: &image.broker_default_configs,
            config,
        }
    }

    /// The effective value of a broker setting: this broker's dynamic
    /// value, the cluster-wide dynamic default, the static value, then the
    /// default; `None` when nothing sets an unknown name.
    pub fn value(&self, name: &str) -> Option<String> {
        self.dynamic
            .and_then(|d| d.get(name))
            .or_else(|| self.dynamic_default.get(name))
            .cloned()
            .or_else(|| {
                let value = self.config.value(name);
                (self.config.is_explicit(name) || crate::config::find(name).is_some())
                    .then(|| value.to_string())
            })
    }

    /// The broker-level default of a topic config and its source, if any
    /// layer sets its synonym.
    pub fn topic_default(&self, topic_config: &str) -> Option<(String, ConfigSource)> {
        self.topic_default_chain(topic_config).into_iter().next()
    }

    /// Every layer that sets the topic config's synonym, highest first
    /// (DescribeConfigs synonyms).
    pub fn topic_default_chain(&self, topic_config: &str) -> Vec<(String, ConfigSource)> {
        let mut chain = Vec::new();
        if let Some(value) = self.dynamic.and_then(|d| topic_default_in(d, topic_config)) {
            chain.push((value, ConfigSource::DynamicBroker));
        }
        if let Some(value) = topic_default_in(self.dynamic_default, topic_config) {
            chain.push((value, ConfigSource::DynamicDefaultBroker));
        }
        if let Some(value) = self.config.topic_default(topic_config) {
            chain.push((value, ConfigSource::StaticBroker));
        }
        chain
    }
}

/// The effective value of one topic config and where it comes from.
pub fn effective(
    topic: &TopicImage,
    broker: &BrokerLayers,
    def: &TopicConfigDef,
) -> (String, ConfigSource) {
    if let Some(value) = topic.configs.get(def.name) {
        return (value.clone(), ConfigSource::DynamicTopic);
    }
    if let Some(found) = broker.topic_default(def.name) {
        return found;
    }
    (def.default.to_string(), ConfigSource::Default)
}

/// The storage settings of a topic's partitions.
pub fn log_config_for(topic: &TopicImage, broker: &BrokerLayers) -> LogConfig {
    let value = |name: &str| -> String {
        match topic_config::find(name) {
            Some(def) => effective(topic, broker, def).0,
            None => String::new(),
        }
    };
    let long = |name: &str, fallback: i64| value(name).parse::<i64>().unwrap_or(fallback);
    let defaults = LogConfig::default();
    let policy: Vec<String> = value("cleanup.policy")
        .split(',')
        .map(|p| p.trim().to_ascii_lowercase())
        .collect();
    LogConfig {
        segment_bytes: long("segment.bytes", defaults.segment_bytes as i64).max(1) as u64,
        segment_ms: long("segment.ms", defaults.segment_ms),
        retention_ms: long("retention.ms", defaults.retention_ms),
        retention_bytes: long("retention.bytes", defaults.retention_bytes),
        index_interval_bytes: long("index.interval.bytes", 4096).max(1) as u64,
        segment_index_bytes: long("segment.index.bytes", defaults.segment_index_bytes as i64).max(8)
            as u64,
        max_message_bytes: long("max.message.bytes", defaults.max_message_bytes as i64).max(0)
            as usize,
        flush_messages: long("flush.messages", i64::MAX),
        flush_ms: long("flush.ms", i64::MAX),
        compression: match value("compression.type").as_str() {
            "producer" | "" => CompressionPolicy::Producer,
            name => Compression::from_name(name)
                .map_or(CompressionPolicy::Producer, CompressionPolicy::Codec),
        },
        timestamp_type: match value("message.timestamp.type").as_str() {
            "LogAppendTime" => TimestampType::LogAppendTime,
            _ => TimestampType::CreateTime,
        },
        delete: policy.iter().any(|p| p == "delete"),
        compact: policy.iter().any(|p| p == "compact"),
        min_cleanable_dirty_ratio: value("min.cleanable.dirty.ratio")
            .parse::<f64>()
            .unwrap_or(defaults.min_cleanable_dirty_ratio),
        min_compaction_lag_ms: long("min.compaction.lag.ms", defaults.min_compaction_lag_ms),
        max_compaction_lag_ms: long("max.compaction.lag.ms", defaults.max_compaction_lag_ms),
        delete_retention_ms: long("delete.retention.ms", defaults.delete_retention_ms),
    }
}
