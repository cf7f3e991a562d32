//! An in-memory model of the replicated log: entries tagged with the epoch
//! of the leader that appended them, which is all the protocol needs to find
//! where two logs diverge.

use bytes::Bytes;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// The control record a new leader appends at the start of its epoch.
    LeaderChange { leader: i32 },
    /// Opaque bytes: what they mean is the caller's business.
    Data(Bytes),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub epoch: u32,
    pub payload: Payload,
}

/// An epoch and the offset just past its last entry (Kafka's OffsetAndEpoch
/// as used for DivergingEpoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEndOffset {
    pub epoch: u32,
    pub end_offset: u64,
}

/// A snapshot of the caller's state as of `id.end_offset` (every entry
/// below it applied), taken in `id.epoch` (the epoch of the entry just
/// below it), KIP-630's snapshot id. `data` is opaque to the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub id: EpochEndOffset,
    pub data: Bytes,
}

/// The log from its start offset on. Entries below the start are covered
/// by a snapshot whose id is (`start`, `start_epoch`); a log that was never
/// compacted starts at 0.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemLog {
    start: u64,
    start_epoch: u32,
    entries: Vec<LogEntry>,
}

impl MemLog {
    pub fn new() -> Self {
        MemLog::default()
    }

    pub fn from_entries(entries: Vec<LogEntry>) -> Self {
        MemLog {
            start: 0,
            start_epoch: 0,
            entries,
        }
    }

    /// A log whose entries below `snapshot.end_offset` are in that
    /// snapshot; `entries` follow it.
    pub fn after_snapshot(snapshot: EpochEndOffset, entries: Vec<LogEntry>) -> Self {
        MemLog {
            start: snapshot.end_offset,
            start_epoch: snapshot.epoch,
            entries,
        }
    }

    /// The entries from the start offset on.
    pub fn entries(&self) -> &[LogEntry] {
        &self.entries
    }

    /// The log start offset: the first entry still held.
    pub fn start_offset(&self) -> u64 {
        self.start
    }

    /// The id of the snapshot the log starts after, if it was compacted.
    pub fn snapshot_id(&self) -> Option<EpochEndOffset> {
        (self.start > 0).then_some(EpochEndOffset {
            epoch: self.start_epoch,
            end_offset: self.start,
        })
    }

    pub fn end_offset(&self) -> u64 {
        self.start + self.entries.len() as u64
    }

    /// The epoch of the last entry (the snapshot's when the log holds none
    /// after it; 0 for an empty log).
    pub fn last_epoch(&self) -> u32 {
        self.entries.last().map_or(self.start_epoch, |e| e.epoch)
    }

    pub fn get(&self, offset: u64) -> Option<&LogEntry> {
        let index = offset.checked_sub(self.start)?;
        usize::try_from(index)
            .ok()
            .and_then(|i| self.entries.get(i))
    }

    /// The largest epoch in the log that is `<= epoch`, and the end offset
    /// of its entries (Kafka's `endOffsetForEpoch`). `(0, 0)` when none;
    /// the snapshot id when no entry after the snapshot qualifies (callers
    /// send a snapshot, not a divergence, for epochs older than it).
    pub fn epoch_end(&self, epoch: u32) -> EpochEndOffset {
        // Entries' epochs never decrease along the log, so the end of the
        // wanted epoch is the first entry of a larger epoch.
        let end = self.entries.partition_point(|e| e.epoch <= epoch);
        let found = if end == 0 {
            self.start_epoch
        } else {
            self.entries[end - 1].epoch
        };
        EpochEndOffset {
            epoch: found,
            end_offset: self.start + end as u64,
        }
    }

    pub fn append(&mut self, entry: LogEntry) -> u64 {
        self.entries.push(entry);
        self.end_offset() - 1
    }

    /// Drops every entry at or after `end_offset`; never below the start
    /// (what a snapshot covers is committed).
    pub fn truncate_to(&mut self, end_offset: u64) {
        let keep = end_offset.saturating_sub(self.start);
        self.entries
            .truncate(usize::try_from(keep).unwrap_or(usize::MAX));
    }

    /// True when the log holds the snapshot's last entry (same offset and
    /// epoch): it then agrees with the snapshot up to there and its tail
    /// may be kept.
    pub fn holds(&self, snapshot: EpochEndOffset) -> bool {
        snapshot.end_offset > 0
            && self
                .get(snapshot.end_offset - 1)
                .is_some_and(|e| e.epoch == snapshot.epoch)
    }

    /// Makes the log start after `snapshot`: entries below its end are
    /// dropped; unless the log [`holds`](Self::holds) its last entry, the
    /// log restarts empty at its end (what follows may have diverged).
    pub fn start_after(&mut self, snapshot: EpochEndOffset) {
        if snapshot.end_offset <= self.start {
            return;
        }
        if self.holds(snapshot) {
            let drop = usize::try_from(snapshot.end_offset - self.start).unwrap_or(usize::MAX);
            self.entries.drain(..drop.min(self.entries.len()));
        } else {
            self.entries.clear();
        }
        self.start = snapshot.end_offset;
        self.start_epoch = snapshot.epoch;
    }

    /// Entries from `from` on, at most `max` of them.
    pub fn read(&self, from: u64, max: usize) -> Vec<LogEntry> {
        let start = usize::try_from(from.saturating_sub(self.start))
            .unwrap_or(usize::MAX)
            .min(self.entries.len());
        self.entries[start..].iter().take(max).cloned().collect()
    }
}
