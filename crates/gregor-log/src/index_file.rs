//! Fixed-size-entry index files, kept whole in memory and written lazily.
//!
//! Entries are appended in memory on the hot path and written to the file
//! only on flush, roll, truncation and close: a lagging index file is still
//! correct (readers scan forward from the last entry they find), and after an
//! unclean shutdown the active segment's indexes are rebuilt anyway.
//!
//! No file descriptor is kept between writes: an index is written rarely
//! (flush, roll, close), and a broker with a hundred thousand partitions
//! would otherwise hold two descriptors per segment for files it almost
//! never touches (the process's descriptor limit, not memory, would bound
//! the partition count).

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// One fixed-size, big-endian record of an index file.
pub(crate) trait IndexEntry: Copy {
    const SIZE: usize;
    fn encode(&self, out: &mut Vec<u8>);
    /// `buf` is exactly `SIZE` bytes.
    fn decode(buf: &[u8]) -> Self;
}

pub(crate) struct IndexFile<E> {
    path: PathBuf,
    entries: Vec<E>,
    /// How many of `entries` are already in the file.
    persisted: usize,
    /// Written or cut since the last fsync.
    unsynced: bool,
}

impl<E: IndexEntry> IndexFile<E> {
    /// Creates an empty index, discarding whatever file was at `path`.
    pub fn create(path: &Path) -> io::Result<Self> {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        Ok(IndexFile {
            path: path.to_path_buf(),
            entries: Vec::new(),
            persisted: 0,
            unsynced: false,
        })
    }

    /// Loads an existing index. `None` when the file is missing or its size is
    /// not a whole number of entries (a torn write): the caller rebuilds it.
    pub fn load(path: &Path) -> io::Result<Option<Self>> {
        let file = match OpenOptions::new().read(true).open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let len = file.metadata()?.len();
        if len % E::SIZE as u64 != 0 {
            return Ok(None);
        }
        let len = usize::try_from(len).map_err(|_| io::Error::other("index file too large"))?;
        let mut buf = vec![0u8; len];
        file.read_exact_at(&mut buf, 0)?;
        let entries: Vec<E> = buf.chunks_exact(E::SIZE).map(E::decode).collect();
        let persisted = entries.len();
        Ok(Some(IndexFile {
            path: path.to_path_buf(),
            entries,
            persisted,
            unsynced: false,
        }))
    }

    pub fn entries(&self) -> &[E] {
        &self.entries
    }

    pub fn last(&self) -> Option<&E> {
        self.entries.last()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn push(&mut self, entry: E) {
        self.entries.push(entry);
    }

    /// Keeps the first `len` entries, in memory and on disk.
    pub fn truncate(&mut self, len: usize) -> io::Result<()> {
        if len >= self.entries.len() {
            return Ok(());
        }
        self.entries.truncate(len);
        if self.persisted > len {
            self.persisted = len;
            self.open_for_write()?.set_len((len * E::SIZE) as u64)?;
            self.unsynced = true;
        }
        Ok(())
    }

    /// Writes the entries not yet in the file, in one positional write.
    pub fn persist(&mut self) -> io::Result<()> {
        if self.persisted == self.entries.len() {
            return Ok(());
        }
        let mut buf = Vec::with_capacity((self.entries.len() - self.persisted) * E::SIZE);
        for entry in &self.entries[self.persisted..] {
            entry.encode(&mut buf);
        }
        self.open_for_write()?
            .write_all_at(&buf, (self.persisted * E::SIZE) as u64)?;
        self.persisted = self.entries.len();
        self.unsynced = true;
        Ok(())
    }

    /// Persists and fsyncs (fsync reaches the file's data whichever
    /// descriptor wrote it).
    pub fn sync(&mut self) -> io::Result<()> {
        self.persist()?;
        if self.unsynced {
            self.open_for_write()?.sync_data()?;
            self.unsynced = false;
        }
        Ok(())
    }

    /// The file, opened for one write; created again if something removed it.
    fn open_for_write(&self) -> io::Result<File> {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&self.path)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}
