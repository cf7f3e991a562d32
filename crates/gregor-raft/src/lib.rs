//! The metadata quorum: Kafka's KRaft. [`kraft`] is the state machine
//! (sans-IO, driven by a seeded simulator in the tests), [`runtime`] runs it
//! over TCP with Kafka's raft RPCs ([`kraft::wire`]) on a
//! `__cluster_metadata-0` partition log ([`kraft::store`]), which inherits
//! the storage engine's CRC checks and crash recovery. The broker starts one
//! with [`runtime::start`].
//!
//! [`MetadataLog`] is the single-voter log of Gregor's first releases: a
//! node reads such a dir as the start of its KRaft log, and the upgrade
//! tests write one with it.
//!
//! Consensus is generic over the bytes it replicates: records go in and come
//! back out as opaque values. What they mean (`gregor-metadata`) is the
//! caller's business, so this crate never imports it.

pub mod kraft;
pub mod runtime;

use bytes::Bytes;
use gregor_log::{LogConfig, PartitionLog};
use gregor_protocol::compression::Compression;
use gregor_protocol::records::{decode_batches, BatchBuilder};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum QuorumError {
    #[error("metadata log: {0}")]
    Log(#[from] gregor_log::LogError),
    #[error("corrupt metadata record at offset {offset}: {message}")]
    Corrupt { offset: i64, message: String },
    /// The records could not be framed as a batch (nothing was written).
    #[error("cannot encode metadata batch: {0}")]
    Encode(String),
}

/// The metadata log's partition directory, as KRaft names it.
pub const METADATA_DIR: &str = "__cluster_metadata-0";

/// How much of the log one replay read asks for.
const REPLAY_CHUNK: usize = 1024 * 1024;

pub struct MetadataLog {
    log: PartitionLog,
}

fn log_config() -> LogConfig {
    LogConfig {
        // Every commit is fsynced before it is acknowledged.
        flush_messages: 1,
        segment_bytes: 64 * 1024 * 1024,
        // Metadata is never deleted by retention (snapshots come later).
        retention_ms: -1,
        retention_bytes: -1,
        segment_ms: i64::MAX,
        max_message_bytes: 64 * 1024 * 1024,
        ..LogConfig::default()
    }
}

impl MetadataLog {
    /// Opens the metadata log under `log_dir` (creating it) and replays it:
    /// `apply` gets every committed record's offset and value, in log order. A record
    /// `apply` refuses stops the replay as corruption at its offset.
    pub fn open(
        log_dir: &Path,
        recover: bool,
        mut apply: impl FnMut(i64, &[u8]) -> Result<(), String>,
    ) -> Result<MetadataLog, QuorumError> {
        let log = PartitionLog::open(&log_dir.join(METADATA_DIR), log_config(), recover)?;
        let end = log.log_end_offset();
        let mut next = log.log_start_offset();
        while next < end {
            let read = log.read(next, REPLAY_CHUNK, end, true)?;
            let batches = decode_batches(&read.records).map_err(|e| QuorumError::Corrupt {
                offset: next,
                message: e.to_string(),
            })?;
            let before = next;
            for batch in batches {
                for record in batch.records {
                    if record.offset < next {
                        continue;
                    }
                    let value = record.value.unwrap_or_default();
                    apply(record.offset, &value).map_err(|message| QuorumError::Corrupt {
                        offset: record.offset,
                        message,
                    })?;
                    next = record.offset + 1;
                }
            }
            if next == before {
                return Err(QuorumError::Corrupt {
                    offset: next,
                    message: "replay made no progress".into(),
                });
            }
        }
        Ok(MetadataLog { log })
    }

    /// Appends records as one atomic batch, fsyncs, and returns the offset of
    /// the last one. Either all records are durable or none are.
    ///
    /// An empty commit writes nothing and returns the last offset already in
    /// the log (-1 when it is empty), since Kafka batches are never empty.
    pub fn commit(&mut self, records: &[Bytes]) -> Result<i64, QuorumError> {
        if records.is_empty() {
            return Ok(self.log.log_end_offset() - 1);
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let mut batch = BatchBuilder::new(Compression::None);
        for record in records {
            batch.push(now, None, Some(record.clone()), Vec::new());
        }
        let bytes = batch
            .build()
            .map_err(|e| QuorumError::Encode(e.to_string()))?;
        let info = self.log.append(&bytes, 0, now)?;
        Ok(info.last_offset)
    }

    /// The offset the next committed record will get.
    pub fn end_offset(&self) -> i64 {
        self.log.log_end_offset()
    }

    /// Flushes and closes cleanly.
    pub fn close(self) -> Result<(), QuorumError> {
        Ok(self.log.close()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two records whose values name the commit they came from.
    fn records(n: u32) -> Vec<Bytes> {
        vec![
            Bytes::from(format!("topic {n}")),
            Bytes::from(format!("partition {n}")),
        ]
    }

    /// Opens the log and returns it with every replayed value.
    fn open(dir: &Path, recover: bool) -> Result<(MetadataLog, Vec<Bytes>), QuorumError> {
        let mut seen = Vec::new();
        let log = MetadataLog::open(dir, recover, |_, value| {
            seen.push(Bytes::copy_from_slice(value));
            Ok(())
        })?;
        Ok((log, seen))
    }

    #[test]
    fn committed_records_replay_after_clean_and_unclean_stops() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, seen) = open(dir.path(), false).unwrap();
        assert!(seen.is_empty());
        assert_eq!(log.commit(&records(1)).unwrap(), 1);
        assert_eq!(log.commit(&records(2)).unwrap(), 3);
        log.close().unwrap();

        let (mut log, seen) = open(dir.path(), false).unwrap();
        assert_eq!(seen, [records(1), records(2)].concat());
        log.commit(&[Bytes::from_static(b"remove 1")]).unwrap();
        drop(log); // a crash: no close

        let (_, seen) = open(dir.path(), true).unwrap();
        let mut expected = [records(1), records(2)].concat();
        expected.push(Bytes::from_static(b"remove 1"));
        assert_eq!(seen, expected);
    }

    #[test]
    fn a_refused_record_is_reported_as_corruption_at_its_offset() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = open(dir.path(), false).unwrap();
        log.commit(&records(1)).unwrap();
        log.commit(&[Bytes::from_static(&[99, 0, 1])]).unwrap();
        log.close().unwrap();
        let mut applied = 0;
        let result = MetadataLog::open(dir.path(), false, |_, value| {
            if value.first() == Some(&99) {
                return Err("unknown record type 99".into());
            }
            applied += 1;
            Ok(())
        });
        match result {
            Err(QuorumError::Corrupt { offset, message }) => {
                assert_eq!((offset, message.as_str()), (2, "unknown record type 99"))
            }
            other => panic!("expected corruption, got {:?}", other.map(|_| ())),
        }
        assert_eq!(applied, 2);
    }

    #[test]
    fn an_empty_commit_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = open(dir.path(), false).unwrap();
        assert_eq!(log.commit(&[]).unwrap(), -1);
        assert_eq!(log.commit(&records(1)).unwrap(), 1);
        assert_eq!(log.commit(&[]).unwrap(), 1);
        assert_eq!(log.end_offset(), 2);
    }

    #[test]
    fn a_torn_last_commit_is_dropped_whole_on_recovery() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = open(dir.path(), false).unwrap();
        log.commit(&records(1)).unwrap();
        log.commit(&records(2)).unwrap();
        drop(log);
        // A crash in the middle of writing the second batch.
        let segment = dir.path().join(METADATA_DIR).join(format!("{:020}.log", 0));
        let len = std::fs::metadata(&segment).unwrap().len();
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&segment)
            .unwrap();
        file.set_len(len - 5).unwrap();
        drop(file);

        let (mut log, seen) = open(dir.path(), true).unwrap();
        assert_eq!(seen, records(1));
        assert_eq!(log.end_offset(), 2);
        // The log goes on from the last whole commit.
        assert_eq!(log.commit(&records(3)).unwrap(), 3);
        log.close().unwrap();
        let (_, seen) = open(dir.path(), false).unwrap();
        assert_eq!(seen, [records(1), records(3)].concat());
    }

    #[test]
    fn replay_reads_a_log_larger_than_one_chunk() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = open(dir.path(), false).unwrap();
        let mut expected = Vec::new();
        // About 2.5 MiB of records in 5 commits.
        for commit in 0..5 {
            let batch: Vec<Bytes> = (0..8_000)
                .map(|i| Bytes::from(format!("{:064}", commit * 8_000 + i)))
                .collect();
            expected.extend(batch.iter().cloned());
            log.commit(&batch).unwrap();
        }
        log.close().unwrap();
        let (_, seen) = open(dir.path(), false).unwrap();
        assert_eq!(seen.len(), expected.len());
        assert_eq!(seen, expected);
    }
}
