//! The broker's `group.share.*` settings, with Kafka 4.4's defaults
//! (`ShareGroupConfig`, `GroupCoordinatorConfig`). Per-group overrides
//! (`share.*` GROUP configs) are bounded by the min/max pairs here.

/// Kafka's `group.share.*` broker settings.
#[derive(Clone, Debug, PartialEq)]
pub struct ShareGroupConfig {
    /// `group.share.session.timeout.ms`
    pub session_timeout_ms: i32,
    /// `group.share.min.session.timeout.ms`
    pub min_session_timeout_ms: i32,
    /// `group.share.max.session.timeout.ms`
    pub max_session_timeout_ms: i32,
    /// `group.share.heartbeat.interval.ms`
    pub heartbeat_interval_ms: i32,
    /// `group.share.min.heartbeat.interval.ms`
    pub min_heartbeat_interval_ms: i32,
    /// `group.share.max.heartbeat.interval.ms`
    pub max_heartbeat_interval_ms: i32,
    /// `group.share.max.size`
    pub max_size: i32,
    /// `group.share.record.lock.duration.ms`
    pub record_lock_duration_ms: i32,
    /// `group.share.min.record.lock.duration.ms`
    pub min_record_lock_duration_ms: i32,
    /// `group.share.max.record.lock.duration.ms`
    pub max_record_lock_duration_ms: i32,
    /// `group.share.delivery.count.limit`
    pub delivery_count_limit: i32,
    /// `group.share.min.delivery.count.limit`
    pub min_delivery_count_limit: i32,
    /// `group.share.max.delivery.count.limit`
    pub max_delivery_count_limit: i32,
    /// `group.share.partition.max.record.locks`
    pub partition_max_record_locks: i32,
    /// `group.share.min.partition.max.record.locks`
    pub min_partition_max_record_locks: i32,
    /// `group.share.max.partition.max.record.locks`
    pub max_partition_max_record_locks: i32,
    /// `group.share.max.share.sessions` (per broker)
    pub max_share_sessions: i32,
}

impl Default for ShareGroupConfig {
    fn default() -> Self {
        ShareGroupConfig {
            session_timeout_ms: 45_000,
            min_session_timeout_ms: 45_000,
            max_session_timeout_ms: 60_000,
            heartbeat_interval_ms: 5_000,
            min_heartbeat_interval_ms: 5_000,
            max_heartbeat_interval_ms: 15_000,
            max_size: 200,
            record_lock_duration_ms: 30_000,
            min_record_lock_duration_ms: 15_000,
            max_record_lock_duration_ms: 60_000,
            delivery_count_limit: 5,
            min_delivery_count_limit: 2,
            max_delivery_count_limit: 10,
            partition_max_record_locks: 2_000,
            min_partition_max_record_locks: 100,
            max_partition_max_record_locks: 4_000,
            max_share_sessions: 2_000,
        }
    }
}
