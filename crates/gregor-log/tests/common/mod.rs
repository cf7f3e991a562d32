//! Helpers shared by the integration tests.
#![allow(dead_code)]

use bytes::Bytes;
use gregor_log::{LogConfig, PartitionLog};
use gregor_protocol::compression::Compression;
use gregor_protocol::records::{decode_batches, BatchBuilder, Record};
use std::path::Path;

/// One producer batch of `count` records with values `"{tag}-{i}"` and
/// timestamps `ts, ts+1, ...`.
pub fn batch(tag: &str, count: usize, ts: i64) -> Vec<u8> {
    batch_with(Compression::None, tag, count, ts)
}

pub fn batch_with(codec: Compression, tag: &str, count: usize, ts: i64) -> Vec<u8> {
    let mut builder = BatchBuilder::new(codec);
    for i in 0..count {
        let value = Bytes::from(format!("{tag}-{i}"));
        builder.push(
            ts + i as i64,
            Some(Bytes::from(format!("k{i}"))),
            Some(value),
            vec![],
        );
    }
    builder.build().unwrap().to_vec()
}

/// A batch whose records carry the given timestamps.
pub fn batch_with_timestamps(tag: &str, timestamps: &[i64]) -> Vec<u8> {
    let mut builder = BatchBuilder::new(Compression::None);
    for (i, ts) in timestamps.iter().enumerate() {
        builder.push(*ts, None, Some(Bytes::from(format!("{tag}-{i}"))), vec![]);
    }
    builder.build().unwrap().to_vec()
}

pub fn small_config() -> LogConfig {
    LogConfig {
        segment_bytes: 1024,
        index_interval_bytes: 128,
        ..LogConfig::default()
    }
}

pub fn open(dir: &Path, config: LogConfig, recover: bool) -> PartitionLog {
    PartitionLog::open(dir, config, recover).unwrap()
}

/// Every record of the log from `offset` on, following reads across segments.
pub fn read_all(log: &PartitionLog, mut offset: i64) -> Vec<Record> {
    let mut out = Vec::new();
    while offset < log.log_end_offset() {
        let info = log.read(offset, 1 << 20, i64::MAX, true).unwrap();
        let batches = decode_batches(&info.records).unwrap();
        assert!(!batches.is_empty(), "read at {offset} returned nothing");
        for b in batches {
            for r in b.records {
                if r.offset >= offset {
                    out.push(r);
                }
            }
            offset = b.header.last_offset() + 1;
        }
    }
    out
}

pub fn values(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .map(|r| String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap())
        .collect()
}

pub fn offsets(records: &[Record]) -> Vec<i64> {
    records.iter().map(|r| r.offset).collect()
}

/// A compacted log with tiny segments, cleanable at once, tombstones kept
/// for a second.
pub fn compact_config() -> LogConfig {
    LogConfig {
        segment_bytes: 400,
        index_interval_bytes: 64,
        delete: false,
        compact: true,
        min_cleanable_dirty_ratio: 0.01,
        delete_retention_ms: 1_000,
        ..LogConfig::default()
    }
}
