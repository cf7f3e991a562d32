//! The `group.share.*` settings (KIP-932 share groups), with the ranges of
//! Kafka 4.4's `ShareGroupConfig` and the cross-checks of its
//! `GroupCoordinatorConfig` / `ShareGroupConfig` constructors.

use super::{invalid, BrokerConfig, ConfigError};
use gregor_coordinator::share::ShareGroupConfig;

/// (key, lowest, highest) as Kafka's `ConfigDef.Range` for each setting.
const RANGES: &[(&str, i64, i64)] = &[
    ("group.share.session.timeout.ms", 1, i32::MAX as i64),
    ("group.share.min.session.timeout.ms", 1, i32::MAX as i64),
    ("group.share.max.session.timeout.ms", 1, i32::MAX as i64),
    ("group.share.heartbeat.interval.ms", 1, i32::MAX as i64),
    ("group.share.min.heartbeat.interval.ms", 1, i32::MAX as i64),
    ("group.share.max.heartbeat.interval.ms", 1, i32::MAX as i64),
    ("group.share.max.size", 1, 1_000),
    ("group.share.delivery.count.limit", 2, 10),
    ("group.share.max.delivery.count.limit", 5, 25),
    ("group.share.min.delivery.count.limit", 2, 5),
    ("group.share.record.lock.duration.ms", 1_000, 3_600_000),
    ("group.share.min.record.lock.duration.ms", 1_000, 30_000),
    ("group.share.max.record.lock.duration.ms", 30_000, 3_600_000),
    ("group.share.partition.max.record.locks", 100, 10_000),
    ("group.share.max.partition.max.record.locks", 2_000, 10_000),
    ("group.share.min.partition.max.record.locks", 100, 2_000),
    ("group.share.max.share.sessions", 1, i32::MAX as i64),
];

pub(super) fn settings(config: &BrokerConfig) -> Result<ShareGroupConfig, ConfigError> {
    for (key, low, high) in RANGES {
        let value = config.int(key)?;
        if !(*low..=*high).contains(&value) {
            return Err(invalid(
                key,
                config.value(key),
                format!("Value must be in the range [{low}, {high}]"),
            ));
        }
    }
    // In range, so within i32.
    let int = |key: &str| -> Result<i32, ConfigError> { Ok(config.int(key)? as i32) };
    let c = ShareGroupConfig {
        session_timeout_ms: int("group.share.session.timeout.ms")?,
        min_session_timeout_ms: int("group.share.min.session.timeout.ms")?,
        max_session_timeout_ms: int("group.share.max.session.timeout.ms")?,
        heartbeat_interval_ms: int("group.share.heartbeat.interval.ms")?,
        min_heartbeat_interval_ms: int("group.share.min.heartbeat.interval.ms")?,
        max_heartbeat_interval_ms: int("group.share.max.heartbeat.interval.ms")?,
        max_size: int("group.share.max.size")?,
        record_lock_duration_ms: int("group.share.record.lock.duration.ms")?,
        min_record_lock_duration_ms: int("group.share.min.record.lock.duration.ms")?,
        max_record_lock_duration_ms: int("group.share.max.record.lock.duration.ms")?,
        delivery_count_limit: int("group.share.delivery.count.limit")?,
        min_delivery_count_limit: int("group.share.min.delivery.count.limit")?,
        max_delivery_count_limit: int("group.share.max.delivery.count.limit")?,
        partition_max_record_locks: int("group.share.partition.max.record.locks")?,
        min_partition_max_record_locks: int("group.share.min.partition.max.record.locks")?,
        max_partition_max_record_locks: int("group.share.max.partition.max.record.locks")?,
        max_share_sessions: int("group.share.max.share.sessions")?,
    };
    // Kafka's "%s must be greater than or equal to %s" checks, in its order.
    let at_least = [
        (
            c.max_heartbeat_interval_ms,
            c.min_heartbeat_interval_ms,
            "group.share.max.heartbeat.interval.ms",
            "group.share.min.heartbeat.interval.ms",
        ),
        (
            c.heartbeat_interval_ms,
            c.min_heartbeat_interval_ms,
            "group.share.heartbeat.interval.ms",
            "group.share.min.heartbeat.interval.ms",
        ),
        (
            c.max_heartbeat_interval_ms,
            c.heartbeat_interval_ms,
            "group.share.max.heartbeat.interval.ms",
            "group.share.heartbeat.interval.ms",
        ),
        (
            c.max_session_timeout_ms,
            c.min_session_timeout_ms,
            "group.share.max.session.timeout.ms",
            "group.share.min.session.timeout.ms",
        ),
        (
            c.session_timeout_ms,
            c.min_session_timeout_ms,
            "group.share.session.timeout.ms",
            "group.share.min.session.timeout.ms",
        ),
        (
            c.max_session_timeout_ms,
            c.session_timeout_ms,
            "group.share.max.session.timeout.ms",
            "group.share.session.timeout.ms",
        ),
        (
            c.max_delivery_count_limit,
            c.delivery_count_limit,
            "group.share.max.delivery.count.limit",
            "group.share.delivery.count.limit",
        ),
        (
            c.delivery_count_limit,
            c.min_delivery_count_limit,
            "group.share.delivery.count.limit",
            "group.share.min.delivery.count.limit",
        ),
        (
            c.max_partition_max_record_locks,
            c.partition_max_record_locks,
            "group.share.max.partition.max.record.locks",
            "group.share.partition.max.record.locks",
        ),
        (
            c.partition_max_record_locks,
            c.min_partition_max_record_locks,
            "group.share.partition.max.record.locks",
            "group.share.min.partition.max.record.locks",
        ),
        (
            c.record_lock_duration_ms,
            c.min_record_lock_duration_ms,
            "group.share.record.lock.duration.ms",
            "group.share.min.record.lock.duration.ms",
        ),
        (
            c.max_record_lock_duration_ms,
            c.record_lock_duration_ms,
            "group.share.max.record.lock.duration.ms",
            "group.share.record.lock.duration.ms",
        ),
        (
            c.max_share_sessions,
            c.max_size,
            "group.share.max.share.sessions",
            "group.share.max.size",
        ),
    ];
    for (value, bound, key, other) in at_least {
        if value < bound {
            return Err(invalid(
                key,
                config.value(key),
                format!("{key} must be greater than or equal to {other}"),
            ));
        }
    }
    if c.heartbeat_interval_ms >= c.session_timeout_ms {
        return Err(invalid(
            "group.share.heartbeat.interval.ms",
            config.value("group.share.heartbeat.interval.ms"),
            "group.share.heartbeat.interval.ms must be less than group.share.session.timeout.ms",
        ));
    }
    Ok(c)
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
    fn defaults_are_kafkas() {
        assert_eq!(with(&[]).unwrap().group_share, ShareGroupConfig::default());
    }

    #[test]
    fn settings_are_read_and_bounded() {
        let c = with(&[
            ("group.share.max.size", "3"),
            ("group.share.record.lock.duration.ms", "15000"),
            ("group.share.heartbeat.interval.ms", "6000"),
        ])
        .unwrap()
        .group_share;
        assert_eq!(c.max_size, 3);
        assert_eq!(c.record_lock_duration_ms, 15_000);
        assert_eq!(c.heartbeat_interval_ms, 6_000);
        // Out of Kafka's ranges.
        assert!(with(&[("group.share.max.size", "0")]).is_err());
        assert!(with(&[("group.share.max.size", "1001")]).is_err());
        assert!(with(&[("group.share.delivery.count.limit", "11")]).is_err());
        // Against its min/max pair.
        assert!(with(&[("group.share.record.lock.duration.ms", "14000")]).is_err());
        assert!(with(&[("group.share.session.timeout.ms", "70000")]).is_err());
        assert!(with(&[("group.share.heartbeat.interval.ms", "4000")]).is_err());
    }
}
