//! The effective settings of a topic: its own overrides, else the broker's
//! synonym, else Kafka's default. Used for the partition logs and for
//! DescribeConfigs, so both always agree.

use crate::config::BrokerConfig;
use gregor_log::{CompressionPolicy, LogConfig, TimestampType};
use gregor_metadata::topic_config::{self, TopicConfigDef};
use gregor_metadata::TopicImage;
use gregor_protocol::compression::Compression;

/// Where a config value comes from, as DescribeConfigs v1+ reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    DynamicTopic,
    StaticBroker,
    Default,
}

impl ConfigSource {
    pub fn code(self) -> i8 {
        match self {
            ConfigSource::DynamicTopic => 1,
            ConfigSource::StaticBroker => 4,
            ConfigSource::Default => 5,
        }
    }
}

/// The effective value of one topic config and where it comes from.
pub fn effective(
    topic: &TopicImage,
    broker: &BrokerConfig,
    def: &TopicConfigDef,
) -> (String, ConfigSource) {
    if let Some(value) = topic.configs.get(def.name) {
        return (value.clone(), ConfigSource::DynamicTopic);
    }
    if let Some(value) = broker.topic_default(def.name) {
        return (value, ConfigSource::StaticBroker);
    }
    (def.default.to_string(), ConfigSource::Default)
}

/// The storage settings of a topic's partitions.
pub fn log_config_for(topic: &TopicImage, broker: &BrokerConfig) -> LogConfig {
    let value = |name: &str| -> String {
        match topic_config::find(name) {
            Some(def) => effective(topic, broker, def).0,
            None => String::new(),
        }
    };
    let long = |name: &str, fallback: i64| value(name).parse::<i64>().unwrap_or(fallback);
    let defaults = LogConfig::default();
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
    }
}
