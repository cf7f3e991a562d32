//! The metadata quorum.
//!
//! For now the quorum has a single voter (the local node), so "committed"
//! means "durably appended to the local metadata log". The log is an ordinary
//! Gregor partition log (`__cluster_metadata-0`), each metadata record stored
//! as the value of a Kafka record, so it inherits the storage engine's CRC
//! checks and crash recovery. Multi-voter replication (openraft) replaces the
//! internals of [`MetadataLog`] later without changing its callers.

use gregor_metadata::{MetadataImage, MetadataRecord};
use std::path::Path;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum QuorumError {
    #[error("metadata log: {0}")]
    Log(#[from] gregor_log::LogError),
    #[error("corrupt metadata record at offset {offset}: {message}")]
    Corrupt { offset: i64, message: String },
}

pub struct MetadataLog {
    _private: (),
}

impl MetadataLog {
    /// Opens the metadata log under `log_dir` (creating it), replays it and
    /// returns the log with the resulting image.
    pub fn open(log_dir: &Path, recover: bool) -> Result<(MetadataLog, MetadataImage), QuorumError> {
        let _ = (log_dir, recover);
        todo!("gregor-raft: open and replay")
    }

    /// Appends records as one atomic batch, fsyncs, and returns the offset of
    /// the last one. Either all records are durable or none are.
    pub fn commit(&mut self, records: &[MetadataRecord]) -> Result<i64, QuorumError> {
        let _ = records;
        todo!("gregor-raft: commit")
    }

    /// Flushes and closes cleanly.
    pub fn close(self) -> Result<(), QuorumError> {
        todo!("gregor-raft: close")
    }
}
