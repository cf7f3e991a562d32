//! The BROKER config resource as DescribeConfigs reports it: this broker's
//! settings with dynamic ones (from the metadata log) over static ones over
//! defaults, and the cluster-wide dynamic defaults on their own.

use crate::config::{dynamic, BrokerConfig};
use crate::log_config::ConfigSource;
use gregor_metadata::MetadataImage;
use std::collections::BTreeMap;

/// One config entry of a BROKER resource.
pub struct BrokerEntry {
    pub name: String,
    pub value: String,
    pub source: ConfigSource,
    /// Every layer that sets it, highest first, ending with the default.
    pub chain: Vec<(String, ConfigSource)>,
    pub kind: i8,
    pub sensitive: bool,
    pub read_only: bool,
    pub doc: &'static str,
}

/// DescribeConfigs' UNKNOWN config type.
const UNKNOWN_TYPE: i8 = 0;

fn type_code(name: &str) -> i8 {
    dynamic::synonym_type(name).map_or(UNKNOWN_TYPE, |kind| kind.code())
}

/// The named broker resource: every setting Gregor knows, plus any
/// other dynamic name set for this broker or as a cluster default.
pub fn this_broker(image: &MetadataImage, config: &BrokerConfig) -> Vec<BrokerEntry> {
    let empty = BTreeMap::new();
    let own = image.broker_configs.get(&config.node_id).unwrap_or(&empty);
    let defaults = &image.broker_default_configs;
    let chain_of = |name: &str, static_value: Option<String>, default: Option<&str>| {
        let mut chain = Vec::new();
        if let Some(v) = own.get(name) {
            chain.push((v.clone(), ConfigSource::DynamicBroker));
        }
        if let Some(v) = defaults.get(name) {
            chain.push((v.clone(), ConfigSource::DynamicDefaultBroker));
        }
        if let Some(v) = static_value {
            chain.push((v, ConfigSource::StaticBroker));
        }
        // An empty default means "unset" (e.g. log.retention.ms, which then
        // comes from log.retention.hours): listed only when nothing else is.
        if let Some(v) = default.filter(|v| !v.is_empty() || chain.is_empty()) {
            chain.push((v.to_string(), ConfigSource::Default));
        }
        chain
    };
    let entry = |name: &str, chain: Vec<(String, ConfigSource)>, kind: i8, doc: &'static str| {
        let (value, source) = chain.first().cloned()?;
        Some(BrokerEntry {
            name: name.to_string(),
            value,
            source,
            chain,
            kind,
            // Of Gregor's own settings only passwords and keys are secrets
            // (and the bootstrap SCRAM users, which hold passwords).
            sensitive: match crate::config::find(name)
                .or_else(|| crate::config::listener_override(name).map(|(_, def)| def))
            {
                Some(def) => {
                    def.kind == gregor_metadata::topic_config::ConfigType::Password
                        || def.name == crate::config::sasl::BOOTSTRAP_SCRAM
                }
                None => dynamic::is_sensitive(name),
            },
            read_only: !dynamic::is_dynamic(name),
            doc,
        })
    };
    let mut entries: Vec<BrokerEntry> = config
        .describe()
        .into_iter()
        .filter_map(|(def, value, explicit)| {
            let chain = chain_of(def.name, explicit.then_some(value), Some(def.default));
            entry(def.name, chain, def.kind.code(), def.doc)
        })
        .collect();
    // Per-listener overrides set at start-up, as Kafka lists them.
    let overrides = config.listener_overrides();
    entries.extend(overrides.iter().filter_map(|(name, value, def)| {
        let chain = chain_of(name, Some(value.to_string()), None);
        entry(name, chain, def.kind.code(), def.doc)
    }));
    let extra: Vec<&String> = own
        .keys()
        .chain(defaults.keys())
        .filter(|name| crate::config::find(name).is_none())
        .filter(|name| !overrides.iter().any(|(o, _, _)| o == name))
        .collect();
    let mut extra: Vec<&String> = extra;
    extra.sort();
    extra.dedup();
    entries.extend(
        extra
            .into_iter()
            .filter_map(|name| entry(name, chain_of(name, None, None), type_code(name), "")),
    );
    entries
}

/// The cluster-wide default resource (empty name): only what was set
/// dynamically for every broker, as Kafka reports it.
pub fn cluster_default(image: &MetadataImage) -> Vec<BrokerEntry> {
    image
        .broker_default_configs
        .iter()
        .map(|(name, value)| BrokerEntry {
            name: name.clone(),
            value: value.clone(),
            source: ConfigSource::DynamicDefaultBroker,
            chain: vec![(value.clone(), ConfigSource::DynamicDefaultBroker)],
            kind: type_code(name),
            sensitive: dynamic::is_sensitive(name),
            read_only: false,
            doc: "",
        })
        .collect()
}
