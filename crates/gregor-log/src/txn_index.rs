//! The aborted-transaction index of a segment (`<base>.txnindex`), in
//! Kafka's format (`TransactionIndex`, `AbortedTxn`): one 34-byte,
//! big-endian entry per transaction aborted by a marker in the segment:
//! `int16 version (0), int64 producer id, int64 first offset, int64 last
//! offset (the marker's), int64 last stable offset at the abort`.
//!
//! Entries are in marker order. Aborts are rare, so the whole index is kept
//! in memory and each entry is written through at once; like Kafka the file
//! only exists once a first entry is written. Durability follows the other
//! indexes: fsynced when the segment is flushed or rolled, and the active
//! segment's index is rebuilt from the log after an unclean shutdown.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

pub(crate) const TXN_INDEX_SUFFIX: &str = "txnindex";

const ENTRY_SIZE: usize = 34;
const VERSION: i16 = 0;

/// An aborted transaction, as a Fetch response's AbortedTransactions field
/// carries it to read_committed consumers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
}

/// One index entry (Kafka's `AbortedTxn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AbortedTxnEntry {
    pub producer_id: i64,
    pub first_offset: i64,
    /// Offset of the ABORT marker.
    pub last_offset: i64,
    /// The partition's last stable offset once this abort was written:
    /// the first offset of the oldest other open transaction, else the
    /// offset after the marker. Lets a fetch stop scanning later segments.
    pub last_stable_offset: i64,
}

impl AbortedTxnEntry {
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&VERSION.to_be_bytes());
        for field in [
            self.producer_id,
            self.first_offset,
            self.last_offset,
            self.last_stable_offset,
        ] {
            out.extend_from_slice(&field.to_be_bytes());
        }
    }

    /// `buf` is exactly one entry; `None` for a version we cannot read.
    fn decode(buf: &[u8]) -> Option<AbortedTxnEntry> {
        if i16::from_be_bytes([buf[0], buf[1]]) != VERSION {
            return None;
        }
        let field = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&buf[at..at + 8]);
            i64::from_be_bytes(b)
        };
        Some(AbortedTxnEntry {
            producer_id: field(2),
            first_offset: field(10),
            last_offset: field(18),
            last_stable_offset: field(26),
        })
    }
}

pub(crate) struct TxnIndex {
    path: PathBuf,
    /// Opened by the first entry when the segment had no index file.
    file: Option<File>,
    entries: Vec<AbortedTxnEntry>,
    /// Written since the last fsync.
    dirty: bool,
}

impl TxnIndex {
    /// An empty index whose file will be created by its first entry.
    pub fn new(path: &Path) -> TxnIndex {
        TxnIndex {
            path: path.to_path_buf(),
            file: None,
            entries: Vec::new(),
            dirty: false,
        }
    }

    /// Loads the index file at `path`, if any. A torn last entry, or an
    /// entry of an unknown version (garbage), ends the index and is cut off.
    pub fn load(path: &Path) -> io::Result<TxnIndex> {
        let file = match OpenOptions::new().read(true).write(true).open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(TxnIndex::new(path)),
            Err(e) => return Err(e),
        };
        let len = usize::try_from(file.metadata()?.len())
            .map_err(|_| io::Error::other("transaction index too large"))?;
        let mut buf = vec![0u8; len];
        file.read_exact_at(&mut buf, 0)?;
        let entries: Vec<AbortedTxnEntry> = buf
            .chunks_exact(ENTRY_SIZE)
            .map_while(AbortedTxnEntry::decode)
            .collect();
        let valid = entries.len() * ENTRY_SIZE;
        if valid != len {
            tracing::warn!(index = %path.display(), valid_bytes = valid, file_bytes = len, "cutting an unreadable tail off a transaction index");
            file.set_len(valid as u64)?;
        }
        Ok(TxnIndex {
            path: path.to_path_buf(),
            file: Some(file),
            entries,
            dirty: valid != len,
        })
    }

    pub fn entries(&self) -> &[AbortedTxnEntry] {
        &self.entries
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends an entry; markers only move forward, so its marker offset
    /// must follow the previous entry's (Kafka refuses it otherwise too).
    pub fn append(&mut self, entry: AbortedTxnEntry) -> io::Result<()> {
        if let Some(last) = self.entries.last() {
            if entry.last_offset <= last.last_offset {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "aborted transaction at offset {} does not follow offset {} in {}",
                        entry.last_offset,
                        last.last_offset,
                        self.path.display()
                    ),
                ));
            }
        }
        let mut buf = Vec::with_capacity(ENTRY_SIZE);
        entry.encode(&mut buf);
        let position = (self.entries.len() * ENTRY_SIZE) as u64;
        self.file()?.write_all_at(&buf, position)?;
        self.entries.push(entry);
        self.dirty = true;
        Ok(())
    }

    /// Drops the entries whose marker is at or after `offset` (the log was
    /// cut there).
    pub fn truncate_from(&mut self, offset: i64) -> io::Result<()> {
        let keep = self.entries.partition_point(|e| e.last_offset < offset);
        if keep == self.entries.len() {
            return Ok(());
        }
        self.entries.truncate(keep);
        if let Some(file) = &self.file {
            file.set_len((keep * ENTRY_SIZE) as u64)?;
            self.dirty = true;
        }
        Ok(())
    }

    /// Removes every entry (before a rebuild).
    pub fn reset(&mut self) -> io::Result<()> {
        self.truncate_from(i64::MIN)
    }

    /// fsyncs what was written since the last call.
    pub fn sync(&mut self) -> io::Result<()> {
        if let (Some(file), true) = (&self.file, self.dirty) {
            file.sync_data()?;
        }
        self.dirty = false;
        Ok(())
    }

    /// Kafka's `TransactionIndex.collectAbortedTxns`: adds the aborted
    /// transactions overlapping `[from, upper_bound)` to `out` and says
    /// whether the search is complete. It is once an entry's last stable
    /// offset reaches `upper_bound`: when that abort was written no other
    /// transaction starting below the bound was still open, so no later
    /// abort, here or in a later segment, can overlap the range.
    pub fn collect(&self, from: i64, upper_bound: i64, out: &mut Vec<AbortedTxn>) -> bool {
        for entry in &self.entries {
            if entry.last_offset >= from && entry.first_offset < upper_bound {
                out.push(AbortedTxn {
                    producer_id: entry.producer_id,
                    first_offset: entry.first_offset,
                });
            }
            if entry.last_stable_offset >= upper_bound {
                return true;
            }
        }
        false
    }

    fn file(&mut self) -> io::Result<&File> {
        let file = match self.file.take() {
            Some(file) => file,
            // No file was there when the segment was opened or created:
            // anything now at this path is a leftover, not ours.
            None => OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(&self.path)?,
        };
        Ok(self.file.insert(file))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(pid: i64, first: i64, last: i64, lso: i64) -> AbortedTxnEntry {
        AbortedTxnEntry {
            producer_id: pid,
            first_offset: first,
            last_offset: last,
            last_stable_offset: lso,
        }
    }

    #[test]
    fn entries_are_kafkas_34_bytes_and_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000000000000000000.txnindex");
        let mut index = TxnIndex::new(&path);
        assert!(!path.exists(), "the file is only created by a first entry");
        index.append(entry(7, 3, 9, 10)).unwrap();
        index.append(entry(8, 5, 12, 13)).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 68);
        let mut expected = vec![0u8, 0];
        for v in [7i64, 3, 9, 10] {
            expected.extend_from_slice(&v.to_be_bytes());
        }
        assert_eq!(&bytes[..34], &expected[..]);
        let loaded = TxnIndex::load(&path).unwrap();
        assert_eq!(loaded.entries(), &[entry(7, 3, 9, 10), entry(8, 5, 12, 13)]);
        // Appends continue after the loaded entries.
        let mut loaded = loaded;
        loaded.append(entry(9, 13, 14, 15)).unwrap();
        assert_eq!(TxnIndex::load(&path).unwrap().entries().len(), 3);
    }

    #[test]
    fn markers_must_move_forward() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = TxnIndex::new(&dir.path().join("x.txnindex"));
        index.append(entry(1, 0, 5, 6)).unwrap();
        assert!(index.append(entry(2, 1, 5, 6)).is_err());
        assert_eq!(index.entries().len(), 1);
    }

    #[test]
    fn torn_or_garbage_tails_are_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.txnindex");
        let mut index = TxnIndex::new(&path);
        index.append(entry(1, 0, 5, 6)).unwrap();
        index.append(entry(2, 3, 8, 9)).unwrap();
        let good = std::fs::read(&path).unwrap();
        std::fs::write(&path, &good[..50]).unwrap();
        assert_eq!(TxnIndex::load(&path).unwrap().entries().len(), 1);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 34);
        let mut bad_version = good.clone();
        bad_version[34] = 1;
        std::fs::write(&path, &bad_version).unwrap();
        assert_eq!(
            TxnIndex::load(&path).unwrap().entries(),
            &[entry(1, 0, 5, 6)]
        );
    }

    #[test]
    fn truncation_drops_markers_at_or_after_the_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.txnindex");
        let mut index = TxnIndex::new(&path);
        for (i, last) in [5, 8, 12].into_iter().enumerate() {
            index.append(entry(i as i64, 0, last, last + 1)).unwrap();
        }
        index.truncate_from(9).unwrap();
        assert_eq!(index.entries().len(), 2);
        index.truncate_from(8).unwrap();
        assert_eq!(index.entries().len(), 1);
        assert_eq!(TxnIndex::load(&path).unwrap().entries().len(), 1);
        index.reset().unwrap();
        assert!(TxnIndex::load(&path).unwrap().entries().is_empty());
        // After a reset, entries may start over.
        index.append(entry(1, 0, 2, 3)).unwrap();
    }

    #[test]
    fn collect_follows_kafka() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = TxnIndex::new(&dir.path().join("x.txnindex"));
        // pid 1 aborted [0, 10] with pid 2's transaction open from 4;
        // pid 2 aborted [4, 20]; pid 3 aborted [21, 30].
        index.append(entry(1, 0, 10, 4)).unwrap();
        index.append(entry(2, 4, 20, 21)).unwrap();
        index.append(entry(3, 21, 30, 31)).unwrap();
        let run = |from, upper| {
            let mut out = Vec::new();
            let complete = index.collect(from, upper, &mut out);
            (
                out.iter().map(|a| a.producer_id).collect::<Vec<_>>(),
                complete,
            )
        };
        assert_eq!(run(0, 4), (vec![1], true));
        assert_eq!(run(0, 5), (vec![1, 2], true));
        assert_eq!(run(11, 21), (vec![2], true));
        assert_eq!(run(21, 25), (vec![3], true));
        assert_eq!(run(31, 40), (vec![], false));
    }
}
