//! Gregor's storage engine.
//!
//! A partition log is a directory of segments, each a `.log` file of record
//! batches named by its base offset (20 digits, as Kafka names them) with a
//! sparse `.index` (relative offset -> file position) and `.timeindex`
//! (timestamp -> relative offset). Appends go to the active segment; reads
//! return byte ranges of the files. After an unclean shutdown the tail is
//! re-validated by CRC and torn writes are truncated.
//!
//! Each partition also keeps its idempotent producers' state (epoch and last
//! five batches per producer id) to refuse out-of-order batches and answer
//! retries without writing them again, and its transactional producers'
//! open transactions (which hold back the last stable offset); it is
//! snapshotted to `<offset>.snapshot` at every roll and at close, and
//! rebuilt at open from the newest snapshot plus the batches after it.
//! Transactions aborted by a marker are listed in the `.txnindex` of the
//! marker's segment, in Kafka's format, for read_committed fetches.
//!
//! This crate knows nothing about the network or other brokers. Its calls are
//! synchronous file I/O; the broker decides which thread they run on.

mod checkpoint;
pub mod cleaner;
mod config;
mod dir;
mod error;
mod file_slice;
mod index_file;
mod leader_epoch;
mod log_file;
mod offset_index;
mod partition;
mod prepare;
mod producer_recovery;
mod producer_snapshot;
mod producer_state;
mod recovery;
mod retention;
mod scan;
mod segment;
mod time_index;
mod timestamps;
mod txn_index;
mod txn_marker;
mod validate;
mod verification;

pub use config::{CompressionPolicy, LogConfig, TimestampType};
pub use dir::{
    clean_shutdown_broker_epoch, clear_clean_shutdown, is_clean_shutdown, mark_clean_shutdown,
    parse_partition_dir_name, partition_dir_name,
};
pub use error::LogError;
pub use file_slice::FileSlice;
pub use leader_epoch::{EpochEntry, UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET};
pub use log_file::{open_segment_files, set_max_open_segment_files};
pub use partition::{AppendInfo, MarkerInfo, PartitionLog, ReadInfo, SliceInfo};
pub use producer_state::{ProducerStateInfo, LEGACY_TRANSACTION_VERSION};
pub use txn_index::AbortedTxn;
pub use txn_marker::TxnMarker;
pub use verification::VerificationGuard;
