//! The leader epoch cache: for each leader epoch, the first offset written
//! in it. Followers use it (OffsetsForLeaderEpoch) to truncate exactly to
//! where their log diverged from the new leader's. Persisted, as Kafka does,
//! in `leader-epoch-checkpoint`: a version line, a count, then one
//! `epoch start_offset` line per entry.

use crate::checkpoint;
use std::io;
use std::path::{Path, PathBuf};

pub(crate) const LEADER_EPOCH_FILE: &str = "leader-epoch-checkpoint";

/// Kafka's UNDEFINED_EPOCH and UNDEFINED_EPOCH_OFFSET.
pub const UNDEFINED_EPOCH: i32 = -1;
pub const UNDEFINED_EPOCH_OFFSET: i64 = -1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEntry {
    pub epoch: i32,
    pub start_offset: i64,
}

pub(crate) struct LeaderEpochCache {
    dir: PathBuf,
    /// Strictly increasing in both epoch and start offset.
    entries: Vec<EpochEntry>,
    /// The file was last written without fsync ([`Self::persist_unsynced`]).
    unsynced: bool,
}

impl LeaderEpochCache {
    /// Loads the checkpoint; a missing or damaged one gives an empty cache
    /// (recovery re-learns the epochs of the active segment).
    pub fn load(dir: &Path) -> io::Result<Self> {
        let lines = checkpoint::read_lines(dir, LEADER_EPOCH_FILE)?.unwrap_or_default();
        let mut entries = Vec::new();
        // The first line is the count; entries follow.
        for line in lines.iter().skip(1) {
            let mut parts = line.split_whitespace();
            let entry = match (parts.next().map(str::parse), parts.next().map(str::parse)) {
                (Some(Ok(epoch)), Some(Ok(start_offset))) => EpochEntry {
                    epoch,
                    start_offset,
                },
                _ => {
                    tracing::warn!(dir = %dir.display(), "ignoring damaged leader epoch checkpoint");
                    entries.clear();
                    break;
                }
            };
            entries.push(entry);
        }
        let mut cache = LeaderEpochCache {
            dir: dir.to_path_buf(),
            entries: Vec::new(),
            unsynced: false,
        };
        for entry in entries {
            cache.assign(entry.epoch, entry.start_offset);
        }
        Ok(cache)
    }

    pub fn entries(&self) -> &[EpochEntry] {
        &self.entries
    }

    pub fn latest_epoch(&self) -> Option<i32> {
        self.entries.last().map(|e| e.epoch)
    }

    /// Records that `epoch` starts at `start_offset`. Entries it contradicts
    /// (same or later epoch, same or later offset) are dropped, as Kafka does.
    /// Returns whether anything changed.
    pub fn assign(&mut self, epoch: i32, start_offset: i64) -> bool {
        if epoch < 0 || start_offset < 0 {
            return false;
        }
        if let Some(last) = self.entries.last() {
            if last.epoch == epoch && last.start_offset <= start_offset {
                return false;
            }
        }
        self.entries
            .retain(|e| e.epoch < epoch && e.start_offset < start_offset);
        self.entries.push(EpochEntry {
            epoch,
            start_offset,
        });
        true
    }

    /// Learns an epoch from a batch being appended or recovered: only an
    /// epoch newer than every known one starts a new entry.
    pub fn observe(&mut self, epoch: i32, base_offset: i64) -> bool {
        match self.latest_epoch() {
            Some(latest) if epoch <= latest => false,
            _ => self.assign(epoch, base_offset),
        }
    }

    /// Forgets epochs starting at or after `end_offset` (log truncation).
    pub fn truncate_from_end(&mut self, end_offset: i64) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| e.start_offset < end_offset);
        before != self.entries.len()
    }

    /// Opening a cleanly closed log that ends at `log_end`: epochs starting
    /// past it go. One starting exactly there stays: the leader that
    /// assigned it wrote nothing yet, and it answers OffsetForLeaderEpoch as
    /// dropping it would, so a restart need not rewrite (and fsync) the
    /// checkpoint of every partition for it.
    pub fn truncate_past_end(&mut self, log_end: i64) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| e.start_offset <= log_end);
        before != self.entries.len()
    }

    /// The log now starts at `start_offset`: the epoch in force there now
    /// starts there, older ones go.
    pub fn truncate_from_start(&mut self, start_offset: i64) -> bool {
        let below = self
            .entries
            .partition_point(|e| e.start_offset <= start_offset);
        let Some(last_below) = below.checked_sub(1) else {
            return false;
        };
        if last_below == 0 && self.entries[0].start_offset == start_offset {
            return false;
        }
        let epoch = self.entries[last_below].epoch;
        self.entries.drain(..=last_below);
        self.entries.insert(
            0,
            EpochEntry {
                epoch,
                start_offset,
            },
        );
        true
    }

    pub fn clear(&mut self) -> bool {
        let changed = !self.entries.is_empty();
        self.entries.clear();
        changed
    }

    /// Kafka's `endOffsetFor`: the largest epoch at or below `requested` and
    /// the offset where the next epoch starts (the log end for the latest).
    pub fn end_offset_for(&self, requested: i32, log_end_offset: i64) -> (i32, i64) {
        if requested == UNDEFINED_EPOCH {
            return (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET);
        }
        if self.latest_epoch() == Some(requested) {
            return (requested, log_end_offset);
        }
        let higher = self.entries.partition_point(|e| e.epoch <= requested);
        let Some(next) = self.entries.get(higher) else {
            return (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET);
        };
        match higher.checked_sub(1).map(|i| self.entries[i]) {
            Some(floor) => (floor.epoch, next.start_offset),
            None => (requested, next.start_offset),
        }
    }

    /// The epoch of the leader that wrote `offset`, if known.
    pub fn epoch_for_offset(&self, offset: i64) -> Option<i32> {
        let n = self.entries.partition_point(|e| e.start_offset <= offset);
        n.checked_sub(1).map(|i| self.entries[i].epoch)
    }

    pub fn persist(&mut self) -> io::Result<()> {
        checkpoint::write_lines(&self.dir, LEADER_EPOCH_FILE, &self.lines())?;
        self.unsynced = false;
        Ok(())
    }

    /// Writes the checkpoint without fsyncs. Only for an empty log: its
    /// epochs describe no record, and the leader assigns its epoch again
    /// whenever it opens the log, so a machine crash that loses the file
    /// loses nothing (two fsyncs per new partition made creating
    /// thousands of partitions take seconds).
    pub fn persist_unsynced(&mut self) -> io::Result<()> {
        checkpoint::write_lines_unsynced(&self.dir, LEADER_EPOCH_FILE, &self.lines())?;
        self.unsynced = true;
        Ok(())
    }

    /// Makes an unsynced checkpoint durable (with the log's flush, once the
    /// log holds records of its epochs).
    pub fn sync(&mut self) -> io::Result<()> {
        if self.unsynced {
            self.persist()?;
        }
        Ok(())
    }

    fn lines(&self) -> Vec<String> {
        let mut lines = vec![self.entries.len().to_string()];
        lines.extend(
            self.entries
                .iter()
                .map(|e| format!("{} {}", e.epoch, e.start_offset)),
        );
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(entries: &[(i32, i64)]) -> (tempfile::TempDir, LeaderEpochCache) {
        let dir = tempfile::tempdir().unwrap();
        let mut cache = LeaderEpochCache::load(dir.path()).unwrap();
        for (epoch, start) in entries {
            cache.assign(*epoch, *start);
        }
        (dir, cache)
    }

    #[test]
    fn end_offset_follows_kafka() {
        let (_dir, cache) = cache(&[(1, 0), (3, 10), (5, 20)]);
        assert_eq!(cache.end_offset_for(5, 30), (5, 30));
        assert_eq!(cache.end_offset_for(3, 30), (3, 20));
        assert_eq!(cache.end_offset_for(4, 30), (3, 20));
        assert_eq!(cache.end_offset_for(0, 30), (0, 0));
        assert_eq!(
            cache.end_offset_for(6, 30),
            (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET)
        );
        assert_eq!(
            cache.end_offset_for(-1, 30),
            (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET)
        );
        assert_eq!(cache.epoch_for_offset(15), Some(3));
    }

    #[test]
    fn assign_drops_contradicted_entries() {
        let (_dir, mut cache) = cache(&[(1, 0), (3, 10), (5, 20)]);
        assert!(!cache.assign(5, 25));
        assert!(!cache.assign(-1, 40));
        // A new epoch starting below existing entries replaces them.
        assert!(cache.assign(6, 15));
        assert_eq!(
            cache.entries(),
            &[
                EpochEntry {
                    epoch: 1,
                    start_offset: 0
                },
                EpochEntry {
                    epoch: 3,
                    start_offset: 10
                },
                EpochEntry {
                    epoch: 6,
                    start_offset: 15
                }
            ]
        );
    }

    #[test]
    fn truncation_from_both_ends() {
        let (_dir, mut cache) = cache(&[(1, 0), (3, 10), (5, 20)]);
        assert!(cache.truncate_from_end(20));
        assert_eq!(cache.latest_epoch(), Some(3));
        assert!(cache.truncate_from_start(12));
        assert_eq!(
            cache.entries(),
            &[EpochEntry {
                epoch: 3,
                start_offset: 12
            }]
        );
        assert!(!cache.truncate_from_start(12));
        assert!(!cache.truncate_from_start(5));
    }

    #[test]
    fn persists_in_kafkas_format() {
        let (dir, mut cache) = cache(&[(0, 0), (2, 7)]);
        cache.persist().unwrap();
        let text = std::fs::read_to_string(dir.path().join(LEADER_EPOCH_FILE)).unwrap();
        assert_eq!(text, "0\n2\n0 0\n2 7\n");
        let reloaded = LeaderEpochCache::load(dir.path()).unwrap();
        assert_eq!(reloaded.entries(), cache.entries());
    }
}
