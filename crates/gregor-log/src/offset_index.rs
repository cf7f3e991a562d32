//! The sparse offset index of a segment: relative offset of a batch's first
//! record -> byte position of that batch in the `.log` file.

use crate::index_file::{IndexEntry, IndexFile};
use std::io;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OffsetEntry {
    /// Base offset of the batch, relative to the segment's base offset.
    pub relative_offset: u32,
    pub position: u32,
}

impl IndexEntry for OffsetEntry {
    const SIZE: usize = 8;

    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.relative_offset.to_be_bytes());
        out.extend_from_slice(&self.position.to_be_bytes());
    }

    fn decode(buf: &[u8]) -> Self {
        let mut rel = [0u8; 4];
        let mut pos = [0u8; 4];
        rel.copy_from_slice(&buf[0..4]);
        pos.copy_from_slice(&buf[4..8]);
        OffsetEntry {
            relative_offset: u32::from_be_bytes(rel),
            position: u32::from_be_bytes(pos),
        }
    }
}

pub(crate) struct OffsetIndex {
    file: IndexFile<OffsetEntry>,
}

impl OffsetIndex {
    pub fn create(path: &Path) -> io::Result<Self> {
        Ok(OffsetIndex {
            file: IndexFile::create(path)?,
        })
    }

    /// Loads the index if its file is present, whole, strictly increasing in
    /// both columns and points inside a log of `log_size` bytes.
    pub fn load_valid(path: &Path, log_size: u64) -> io::Result<Option<Self>> {
        let Some(file) = IndexFile::<OffsetEntry>::load(path)? else {
            return Ok(None);
        };
        let entries = file.entries();
        let increasing = entries
            .windows(2)
            .all(|w| w[0].relative_offset < w[1].relative_offset && w[0].position < w[1].position);
        let inside = match entries.last() {
            Some(e) => u64::from(e.position) < log_size,
            None => true,
        };
        Ok((increasing && inside).then_some(OffsetIndex { file }))
    }

    /// The last entry at or before `relative_offset`.
    pub fn lookup(&self, relative_offset: u32) -> Option<OffsetEntry> {
        let entries = self.file.entries();
        let n = entries.partition_point(|e| e.relative_offset <= relative_offset);
        n.checked_sub(1).map(|i| entries[i])
    }

    /// How many entries point before `position` (to cut the index there).
    pub fn entries_before_position(&self, position: u64) -> usize {
        self.file
            .entries()
            .partition_point(|e| u64::from(e.position) < position)
    }

    pub fn last(&self) -> Option<OffsetEntry> {
        self.file.last().copied()
    }

    pub fn len(&self) -> usize {
        self.file.len()
    }

    pub fn append(&mut self, relative_offset: u32, position: u32) {
        self.file.push(OffsetEntry {
            relative_offset,
            position,
        });
    }

    pub fn truncate(&mut self, len: usize) -> io::Result<()> {
        self.file.truncate(len)
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
    fn lookup_finds_the_floor_entry_and_survives_reload() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.index");
        let mut index = OffsetIndex::create(&path).unwrap();
        index.append(0, 0);
        index.append(10, 100);
        index.append(20, 250);
        assert_eq!(
            index.lookup(15),
            Some(OffsetEntry {
                relative_offset: 10,
                position: 100
            })
        );
        assert_eq!(
            index.lookup(20),
            Some(OffsetEntry {
                relative_offset: 20,
                position: 250
            })
        );
        index.sync().unwrap();

        let reloaded = OffsetIndex::load_valid(&path, 300).unwrap().unwrap();
        assert_eq!(reloaded.len(), 3);
        assert_eq!(
            reloaded.lookup(9),
            Some(OffsetEntry {
                relative_offset: 0,
                position: 0
            })
        );
        // An entry pointing past the end of the log makes the index invalid.
        assert!(OffsetIndex::load_valid(&path, 200).unwrap().is_none());
    }

    #[test]
    fn torn_index_file_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.index");
        std::fs::write(&path, [0u8; 11]).unwrap();
        assert!(OffsetIndex::load_valid(&path, 1000).unwrap().is_none());
        assert!(
            OffsetIndex::load_valid(&dir.path().join("missing.index"), 1000)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn truncate_shrinks_file_and_memory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.index");
        let mut index = OffsetIndex::create(&path).unwrap();
        for i in 0..5 {
            index.append(i * 10, i * 100);
        }
        index.persist().unwrap();
        index.truncate(2).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 16);
        assert_eq!(
            index.last(),
            Some(OffsetEntry {
                relative_offset: 10,
                position: 100
            })
        );
    }
}
