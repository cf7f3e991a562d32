//! One partition's log: segments, append, read, retention, recovery.

use crate::{LogConfig, LogError};
use bytes::Bytes;
use gregor_protocol::batch::BatchHeader;
use std::path::{Path, PathBuf};

/// What an append did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset given to the first record.
    pub base_offset: i64,
    /// Offset of the last record appended.
    pub last_offset: i64,
    /// The broker's time if the topic uses LogAppendTime, else -1.
    pub log_append_time: i64,
    /// Log start offset after the append.
    pub log_start_offset: i64,
    /// Number of records appended.
    pub record_count: i64,
}

/// A byte range of the log, made of whole batches (the last may be cut short
/// by `max_bytes`, as Kafka does, unless it is the first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadInfo {
    pub records: Bytes,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
}

pub struct PartitionLog {
    dir: PathBuf,
    config: LogConfig,
}

impl PartitionLog {
    /// Opens (or creates) the log in `dir`. With `recover` (the log dir was
    /// not shut down cleanly) every batch after the last flushed point is
    /// re-validated, a torn tail is truncated and indexes are rebuilt.
    pub fn open(dir: &Path, config: LogConfig, recover: bool) -> Result<PartitionLog, LogError> {
        let _ = recover;
        let _ = (dir.to_path_buf(), config);
        todo!("gregor-log: open")
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// Applies a topic config change (segment size, retention, ...).
    pub fn set_config(&mut self, config: LogConfig) {
        self.config = config;
    }

    /// Validates a produce payload, assigns offsets, applies the topic's
    /// compression and timestamp policy and appends it to the active segment
    /// (rolling first if needed). `leader_epoch` is stamped into each batch.
    pub fn append(&mut self, records: &[u8], leader_epoch: i32, now_ms: i64) -> Result<AppendInfo, LogError> {
        let _ = (records, leader_epoch, now_ms);
        todo!("gregor-log: append")
    }

    /// Reads whole batches starting at the batch containing `offset`, at most
    /// `max_bytes` (but at least one batch if `min_one` is set), never past
    /// `max_offset` (exclusive; the high watermark for consumers).
    pub fn read(&self, offset: i64, max_bytes: usize, max_offset: i64, min_one: bool) -> Result<ReadInfo, LogError> {
        let _ = (offset, max_bytes, max_offset, min_one);
        todo!("gregor-log: read")
    }

    pub fn log_start_offset(&self) -> i64 {
        todo!("gregor-log: log start offset")
    }

    /// The offset the next appended record will get.
    pub fn log_end_offset(&self) -> i64 {
        todo!("gregor-log: log end offset")
    }

    /// Total bytes of all segments.
    pub fn size_bytes(&self) -> u64 {
        todo!("gregor-log: size")
    }

    /// The first offset whose timestamp is >= `timestamp`, with that record's
    /// timestamp (ListOffsets by time). `None` if every record is older.
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<(i64, i64)>, LogError> {
        let _ = timestamp;
        todo!("gregor-log: offset for timestamp")
    }

    /// The offset and timestamp of the record with the largest timestamp
    /// (ListOffsets MAX_TIMESTAMP). `None` for an empty log.
    pub fn max_timestamp(&self) -> Result<Option<(i64, i64)>, LogError> {
        todo!("gregor-log: max timestamp")
    }

    /// Deletes whole segments past `retention.ms` / `retention.bytes`
    /// (never the active one) and advances the log start offset. Returns how
    /// many segments were deleted.
    pub fn enforce_retention(&mut self, now_ms: i64) -> Result<usize, LogError> {
        let _ = now_ms;
        todo!("gregor-log: retention")
    }

    /// Rolls the active segment if it is older than `segment.ms`.
    pub fn roll_if_due(&mut self, now_ms: i64) -> Result<(), LogError> {
        let _ = now_ms;
        todo!("gregor-log: time-based roll")
    }

    /// fsyncs if `flush.ms` has passed since the oldest unflushed append.
    pub fn flush_if_due(&mut self, now_ms: i64) -> Result<(), LogError> {
        let _ = now_ms;
        todo!("gregor-log: flush if due")
    }

    /// fsyncs the active segment and its indexes.
    pub fn flush(&mut self) -> Result<(), LogError> {
        todo!("gregor-log: flush")
    }

    /// Flushes and closes, leaving indexes trimmed and consistent so a clean
    /// restart does not re-read data.
    pub fn close(self) -> Result<(), LogError> {
        todo!("gregor-log: close")
    }

    /// Closes the log and removes its directory (topic deletion).
    pub fn delete(self) -> Result<(), LogError> {
        todo!("gregor-log: delete")
    }

    /// The headers of the batches in the log, in order (tests and tools).
    pub fn batch_headers(&self) -> Result<Vec<BatchHeader>, LogError> {
        todo!("gregor-log: batch headers")
    }
}
