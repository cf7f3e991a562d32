//! The `group.consumer.*` settings (KIP-848 consumer groups), checked
//! against each other as Kafka's `GroupCoordinatorConfig` does, so a broker
//! Kafka would refuse to start does not start here either.

use super::{invalid, BrokerConfig, ConfigError};
use gregor_coordinator::group::consumer::{Assignor, ConsumerGroupConfig};

const MIGRATION_POLICIES: &[&str] = &["disabled", "upgrade", "downgrade", "bidirectional"];

pub(super) fn settings(config: &BrokerConfig) -> Result<ConsumerGroupConfig, ConfigError> {
    let int = |key: &str| -> Result<i32, ConfigError> { Ok(config.positive(key)? as i32) };
    let session = int("group.consumer.session.timeout.ms")?;
    let min_session = int("group.consumer.min.session.timeout.ms")?;
    let max_session = int("group.consumer.max.session.timeout.ms")?;
    let heartbeat = int("group.consumer.heartbeat.interval.ms")?;
    let min_heartbeat = int("group.consumer.min.heartbeat.interval.ms")?;
    let max_heartbeat = int("group.consumer.max.heartbeat.interval.ms")?;
    let max_size = int("group.consumer.max.size")?;
    let rules = [
        (
            max_heartbeat >= min_heartbeat,
            "group.consumer.max.heartbeat.interval.ms",
            "must be greater than or equal to group.consumer.min.heartbeat.interval.ms",
        ),
        (
            heartbeat >= min_heartbeat,
            "group.consumer.heartbeat.interval.ms",
            "must be greater than or equal to group.consumer.min.heartbeat.interval.ms",
        ),
        (
            heartbeat <= max_heartbeat,
            "group.consumer.heartbeat.interval.ms",
            "must be less than or equal to group.consumer.max.heartbeat.interval.ms",
        ),
        (
            max_session >= min_session,
            "group.consumer.max.session.timeout.ms",
            "must be greater than or equal to group.consumer.min.session.timeout.ms",
        ),
        (
            session >= min_session,
            "group.consumer.session.timeout.ms",
            "must be greater than or equal to group.consumer.min.session.timeout.ms",
        ),
        (
            session <= max_session,
            "group.consumer.session.timeout.ms",
            "must be less than or equal to group.consumer.max.session.timeout.ms",
        ),
        (
            heartbeat < session,
            "group.consumer.heartbeat.interval.ms",
            "must be less than group.consumer.session.timeout.ms",
        ),
    ];
    for (ok, key, reason) in rules {
        if !ok {
            return Err(invalid(key, config.value(key), reason));
        }
    }
    let listed = config.value("group.consumer.assignors");
    let mut assignors = Vec::new();
    for name in listed.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let assignor = Assignor::parse(name).ok_or_else(|| {
            invalid(
                "group.consumer.assignors",
                listed,
                format!("unknown assignor '{name}' (known: uniform, range)"),
            )
        })?;
        if !assignors.contains(&assignor) {
            assignors.push(assignor);
        }
    }
    if assignors.is_empty() {
        return Err(invalid(
            "group.consumer.assignors",
            listed,
            "no assignor given",
        ));
    }
    let policy = config.value("group.consumer.migration.policy");
    if !MIGRATION_POLICIES.contains(&policy.to_ascii_lowercase().as_str()) {
        return Err(invalid(
            "group.consumer.migration.policy",
            policy,
            "expected disabled, upgrade, downgrade or bidirectional",
        ));
    }
    Ok(ConsumerGroupConfig {
        session_timeout_ms: session,
        heartbeat_interval_ms: heartbeat,
        max_size: max_size as usize,
        assignors,
    })
}

#[cfg(test)]
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
    fn defaults_are_kafkas() {
        let c = with(&[]).unwrap().group_consumer;
        assert_eq!(
            (c.session_timeout_ms, c.heartbeat_interval_ms),
            (45_000, 5_000)
        );
        assert_eq!(c.assignors, vec![Assignor::Uniform, Assignor::Range]);
    }

    #[test]
    fn short_timeouts_need_their_bounds_lowered_too() {
        let err = with(&[("group.consumer.session.timeout.ms", "6000")]).unwrap_err();
        assert!(
            err.to_string()
                .contains("group.consumer.session.timeout.ms"),
            "{err}"
        );
        let c = with(&[
            ("group.consumer.session.timeout.ms", "6000"),
            ("group.consumer.min.session.timeout.ms", "6000"),
            ("group.consumer.heartbeat.interval.ms", "500"),
            ("group.consumer.min.heartbeat.interval.ms", "500"),
            ("group.consumer.assignors", "range, uniform"),
        ])
        .unwrap()
        .group_consumer;
        assert_eq!(
            (c.session_timeout_ms, c.heartbeat_interval_ms),
            (6_000, 500)
        );
        assert_eq!(c.default_assignor(), Assignor::Range);
        let err = with(&[("group.consumer.assignors", "sticky")]).unwrap_err();
        assert!(
            err.to_string().contains("unknown assignor 'sticky'"),
            "{err}"
        );
        assert!(with(&[("group.consumer.migration.policy", "sideways")]).is_err());
    }
}
