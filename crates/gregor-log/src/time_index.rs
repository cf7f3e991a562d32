//! The sparse time index of a segment: largest timestamp seen so far ->
//! relative base offset of the batch that first carried it. Timestamps are
//! strictly increasing, so a binary search finds where to start scanning.

use crate::index_file::{IndexEntry, IndexFile};
use std::io;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimeEntry {
    pub timestamp: i64,
    /// Base offset of the batch, relative to the segment's base offset.
    pub relative_offset: u32,
}

impl IndexEntry for TimeEntry {
    const SIZE: usize = 12;

    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.relative_offset.to_be_bytes());
    }

    fn decode(buf: &[u8]) -> Self {
        let mut ts = [0u8; 8];
        let mut rel = [0u8; 4];
        ts.copy_from_slice(&buf[0..8]);
        rel.copy_from_slice(&buf[8..12]);
        TimeEntry {
            timestamp: i64::from_be_bytes(ts),
            relative_offset: u32::from_be_bytes(rel),
        }
    }
}

pub(crate) struct TimeIndex {
    file: IndexFile<TimeEntry>,
}

impl TimeIndex {
    pub fn create(path: &Path) -> io::Result<Self> {
        Ok(TimeIndex {
            file: IndexFile::create(path)?,
        })
    }

    /// Loads the index if its file is present, whole and ordered (timestamps
    /// strictly increasing, offsets never decreasing).
    pub fn load_valid(path: &Path) -> io::Result<Option<Self>> {
        let Some(file) = IndexFile::<TimeEntry>::load(path)? else {
            return Ok(None);
        };
        let ordered = file.entries().windows(2).all(|w| {
            w[0].timestamp < w[1].timestamp && w[0].relative_offset <= w[1].relative_offset
        });
        Ok(ordered.then_some(TimeIndex { file }))
    }

    /// The last entry whose timestamp is at or before `timestamp`.
    pub fn lookup(&self, timestamp: i64) -> Option<TimeEntry> {
        let entries = self.file.entries();
        let n = entries.partition_point(|e| e.timestamp <= timestamp);
        n.checked_sub(1).map(|i| entries[i])
    }

    pub fn last(&self) -> Option<TimeEntry> {
        self.file.last().copied()
    }

    pub fn len(&self) -> usize {
        self.file.len()
    }

    /// Adds an entry only if `timestamp` is larger than every one before it
    /// (and not the "no timestamp" value -1).
    pub fn maybe_append(&mut self, timestamp: i64, relative_offset: u32) {
        let last_ts = self.file.last().map_or(-1, |e| e.timestamp);
        if timestamp > last_ts {
            self.file.push(TimeEntry {
                timestamp,
                relative_offset,
            });
        }
    }

    /// Keeps only entries whose offset is below `relative_offset`.
    pub fn truncate_to_offset(&mut self, relative_offset: u32) -> io::Result<()> {
        let keep = self
            .file
            .entries()
            .partition_point(|e| e.relative_offset < relative_offset);
        self.file.truncate(keep)
    }

    pub fn persist(&mut self) -> io::Result<()> {
        self.file.persist()
    }

    pub fn sync(&mut self) -> io::Result<()> {
        self.file.sync()
    }

    pub fn path(&self) -> &Path {
        self.file.path()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_growing_timestamps_are_indexed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.timeindex");
        let mut index = TimeIndex::create(&path).unwrap();
        index.maybe_append(-1, 0);
        index.maybe_append(100, 0);
        index.maybe_append(100, 5);
        index.maybe_append(90, 6);
        index.maybe_append(200, 7);
        assert_eq!(index.len(), 2);
        assert_eq!(index.lookup(99), None);
        assert_eq!(
            index.lookup(150),
            Some(TimeEntry {
                timestamp: 100,
                relative_offset: 0
            })
        );
        index.sync().unwrap();
        let reloaded = TimeIndex::load_valid(&path).unwrap().unwrap();
        assert_eq!(
            reloaded.last(),
            Some(TimeEntry {
                timestamp: 200,
                relative_offset: 7
            })
        );
    }

    #[test]
    fn truncation_drops_entries_at_or_after_the_offset() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = TimeIndex::create(&dir.path().join("0.timeindex")).unwrap();
        index.maybe_append(10, 0);
        index.maybe_append(20, 4);
        index.maybe_append(30, 8);
        index.truncate_to_offset(4).unwrap();
        assert_eq!(
            index.last(),
            Some(TimeEntry {
                timestamp: 10,
                relative_offset: 0
            })
        );
    }
}
