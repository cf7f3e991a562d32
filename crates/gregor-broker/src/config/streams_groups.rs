//! The `group.streams.*` settings (KIP-1071 streams groups), checked
//! against each other as Kafka's `GroupCoordinatorConfig` does.

use super::{invalid, BrokerConfig, ConfigError};
use gregor_coordinator::group::streams::description::IN_MEMORY_PLUGIN;
use gregor_coordinator::group::streams::StreamsGroupConfig;

pub(super) fn settings(config: &BrokerConfig) -> Result<StreamsGroupConfig, ConfigError> {
    let int = |key: &str| -> Result<i32, ConfigError> { Ok(config.positive(key)? as i32) };
    let session = int("group.streams.session.timeout.ms")?;
    let min_session = int("group.streams.min.session.timeout.ms")?;
    let max_session = int("group.streams.max.session.timeout.ms")?;
    let heartbeat = int("group.streams.heartbeat.interval.ms")?;
    let min_heartbeat = int("group.streams.min.heartbeat.interval.ms")?;
    let max_heartbeat = int("group.streams.max.heartbeat.interval.ms")?;
    let max_size = int("group.streams.max.size")?;
    let standby = config.int("group.streams.num.standby.replicas")?;
    let max_standby = config.int("group.streams.max.standby.replicas")?;
    if max_standby < 0 {
        return Err(invalid(
            "group.streams.max.standby.replicas",
            config.value("group.streams.max.standby.replicas"),
            "must be at least 0",
        ));
    }
    let plugin = config.value("group.streams.topology.description.plugin.class");
    // Gregor cannot load Java plugins; it does what Kafka's in-memory one does.
    if !plugin.is_empty() && plugin != IN_MEMORY_PLUGIN {
        return Err(invalid(
            "group.streams.topology.description.plugin.class",
            plugin,
            "only org.apache.kafka.server.streams.InMemoryTopologyDescriptionPlugin (or none) is available",
        ));
    }
    let rules = [
        (
            (0..=max_standby).contains(&standby),
            "group.streams.num.standby.replicas",
            "must be between 0 and group.streams.max.standby.replicas",
        ),
        (
            max_heartbeat >= min_heartbeat,
            "group.streams.max.heartbeat.interval.ms",
            "must be greater than or equal to group.streams.min.heartbeat.interval.ms",
        ),
        (
            heartbeat >= min_heartbeat,
            "group.streams.heartbeat.interval.ms",
            "must be greater than or equal to group.streams.min.heartbeat.interval.ms",
        ),
        (
            heartbeat <= max_heartbeat,
            "group.streams.heartbeat.interval.ms",
            "must be less than or equal to group.streams.max.heartbeat.interval.ms",
        ),
        (
            max_session >= min_session,
            "group.streams.max.session.timeout.ms",
            "must be greater than or equal to group.streams.min.session.timeout.ms",
        ),
        (
            session >= min_session,
            "group.streams.session.timeout.ms",
            "must be greater than or equal to group.streams.min.session.timeout.ms",
        ),
        (
            session <= max_session,
            "group.streams.session.timeout.ms",
            "must be less than or equal to group.streams.max.session.timeout.ms",
        ),
        (
            heartbeat < session,
            "group.streams.heartbeat.interval.ms",
            "must be less than group.streams.session.timeout.ms",
        ),
    ];
    for (ok, key, reason) in rules {
        if !ok {
            return Err(invalid(key, config.value(key), reason));
        }
    }
    Ok(StreamsGroupConfig {
        session_timeout_ms: session,
        heartbeat_interval_ms: heartbeat,
        max_size: max_size as usize,
        num_standby_replicas: usize::try_from(standby).unwrap_or(0),
        topology_descriptions: !plugin.is_empty(),
        ..StreamsGroupConfig::default()
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn with(pairs: &[(&str, &str)]) -> Result<BrokerConfig, ConfigError> {
        let settings: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        BrokerConfig::from_settings(settings)
    }

    #[test]
    fn standby_replicas_and_the_description_plugin() {
        let c = with(&[]).unwrap().group_streams;
        assert_eq!(c.num_standby_replicas, 0);
        assert!(!c.topology_descriptions);
        let c = with(&[
            ("group.streams.num.standby.replicas", "2"),
            (
                "group.streams.topology.description.plugin.class",
                IN_MEMORY_PLUGIN,
            ),
        ])
        .unwrap()
        .group_streams;
        assert_eq!(c.num_standby_replicas, 2);
        assert!(c.topology_descriptions);
        // Above group.streams.max.standby.replicas (2).
        assert!(with(&[("group.streams.num.standby.replicas", "3")]).is_err());
        // Gregor runs no Java plugins.
        assert!(with(&[(
            "group.streams.topology.description.plugin.class",
            "com.example.MyPlugin"
        )])
        .is_err());
    }
}
