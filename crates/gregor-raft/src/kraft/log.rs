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

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemLog {
    entries: Vec<LogEntry>,
}

impl MemLog {
    pub fn new() -> Self {
        MemLog::default()
    }

    pub fn from_entries(entries: Vec<LogEntry>) -> Self {
        MemLog { entries }
    }

    pub fn entries(&self) -> &[LogEntry] {
        &self.entries
    }

    pub fn end_offset(&self) -> u64 {
        self.entries.len() as u64
    }

    /// The epoch of the last entry (0 for an empty log).
    pub fn last_epoch(&self) -> u32 {
        self.entries.last().map_or(0, |e| e.epoch)
    }

    pub fn get(&self, offset: u64) -> Option<&LogEntry> {
        usize::try_from(offset)
            .ok()
            .and_then(|i| self.entries.get(i))
    }

    /// The largest epoch in the log that is `<= epoch`, and the end offset
    /// of its entries (Kafka's `endOffsetForEpoch`). `(0, 0)` when none.
    pub fn epoch_end(&self, epoch: u32) -> EpochEndOffset {
        // Entries' epochs never decrease along the log, so the end of the
        // wanted epoch is the first entry of a larger epoch.
        let end = self.entries.partition_point(|e| e.epoch <= epoch);
        let found = if end == 0 {
            0
        } else {
            self.entries[end - 1].epoch
        };
        EpochEndOffset {
            epoch: found,
            end_offset: end as u64,
        }
    }

    pub fn append(&mut self, entry: LogEntry) -> u64 {
        self.entries.push(entry);
        self.end_offset() - 1
    }

    pub fn truncate_to(&mut self, end_offset: u64) {
        let keep = usize::try_from(end_offset).unwrap_or(usize::MAX);
        self.entries.truncate(keep);
    }

    /// Entries from `from` on, at most `max` of them.
    pub fn read(&self, from: u64, max: usize) -> Vec<LogEntry> {
        let start = usize::try_from(from)
            .unwrap_or(usize::MAX)
            .min(self.entries.len());
        self.entries[start..].iter().take(max).cloned().collect()
    }
}
