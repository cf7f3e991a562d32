//! The log cleaner (compaction) of `cleanup.policy=compact` logs: keeps the
//! latest record per key, drops tombstones and transaction markers once
//! `delete.retention.ms` has passed since a clean first saw them, and drops
//! the records of aborted transactions, without moving any offset.
//!
//! `plan` chooses what to clean (pure), `key_map` is the dedupe map,
//! `filter` decides per batch what stays, `clean` does the file work on a
//! [`PartitionLog`](crate::PartitionLog) and `swap` makes it crash-safe.
//! The broker runs it on its own threads, holding the partition's lock only
//! to start a clean and to swap cleaned segments in (see `clean`).

mod clean;
mod filter;
mod key_lookup;
mod key_map;
pub mod plan;
pub(crate) mod swap;

pub(crate) use clean::earliest_delete_horizon;
pub use clean::{CleanOptions, CleanStats, Cleaning, LogAccess, CLEANER_CHECKPOINT_FILE};
pub use key_lookup::{KeyIndex, KeyLookup};
pub use key_map::KeyMap;
pub use plan::CompactionStatus;
pub use plan::{Dirtiness, LogFacts, SegmentFacts};
