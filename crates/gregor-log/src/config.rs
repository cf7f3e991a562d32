//! Per-partition settings, under the names of Kafka's topic configs.

use gregor_protocol::compression::Compression;

/// `compression.type`: `producer` keeps what the producer sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompressionPolicy {
    Producer,
    Codec(Compression),
}

/// `message.timestamp.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampType {
    CreateTime,
    LogAppendTime,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// `segment.bytes`
    pub segment_bytes: u64,
    /// `segment.ms`
    pub segment_ms: i64,
    /// `retention.ms`; -1 keeps forever.
    pub retention_ms: i64,
    /// `retention.bytes`; -1 means no size limit.
    pub retention_bytes: i64,
    /// `index.interval.bytes`: bytes between sparse index entries.
    pub index_interval_bytes: u64,
    /// `segment.index.bytes`: maximum size of an index file.
    pub segment_index_bytes: u64,
    /// `max.message.bytes`: largest batch accepted.
    pub max_message_bytes: usize,
    /// `flush.messages`: fsync after this many messages (i64::MAX: never).
    pub flush_messages: i64,
    /// `flush.ms`: fsync when the oldest unflushed write is this old.
    pub flush_ms: i64,
    /// `compression.type`
    pub compression: CompressionPolicy,
    /// `message.timestamp.type`
    pub timestamp_type: TimestampType,
    /// `cleanup.policy` has `delete`: retention removes old segments.
    pub delete: bool,
    /// `cleanup.policy` has `compact`: the cleaner keeps the latest record
    /// per key and produce refuses records without a key.
    pub compact: bool,
    /// `min.cleanable.dirty.ratio`
    pub min_cleanable_dirty_ratio: f64,
    /// `min.compaction.lag.ms`
    pub min_compaction_lag_ms: i64,
    /// `max.compaction.lag.ms`
    pub max_compaction_lag_ms: i64,
    /// `delete.retention.ms`: how long tombstones and markers outlive the
    /// clean that first saw them.
    pub delete_retention_ms: i64,
}

impl Default for LogConfig {
    /// Kafka's defaults.
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1024 * 1024 * 1024,
            segment_ms: 7 * 24 * 60 * 60 * 1000,
            retention_ms: 7 * 24 * 60 * 60 * 1000,
            retention_bytes: -1,
            index_interval_bytes: 4096,
            segment_index_bytes: 10 * 1024 * 1024,
            max_message_bytes: 1024 * 1024 + 12,
            flush_messages: i64::MAX,
            flush_ms: i64::MAX,
            compression: CompressionPolicy::Producer,
            timestamp_type: TimestampType::CreateTime,
            delete: true,
            compact: false,
            min_cleanable_dirty_ratio: 0.5,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
            delete_retention_ms: 24 * 60 * 60 * 1000,
        }
    }
}
