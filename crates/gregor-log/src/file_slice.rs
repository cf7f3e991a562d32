//! A byte range of a segment file holding whole batches, handed to the
//! network layer so it can send the bytes straight from the page cache
//! (`sendfile`) instead of copying them through a buffer.
//!
//! The slice owns a shared handle to the segment's open file. Retention may
//! delete the segment while a fetch response is still being written: the
//! unlinked file stays readable through the handle until the last slice is
//! dropped, so a slow consumer never sees a hole.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

#[derive(Debug, Clone, Default)]
pub struct FileSlice {
    /// `None` for an empty slice (nothing to read).
    file: Option<Arc<File>>,
    position: u64,
    len: usize,
    /// The offset after the last batch in the slice; `None` when empty.
    next_offset: Option<i64>,
}

impl FileSlice {
    pub(crate) fn new(file: Arc<File>, position: u64, len: usize, next_offset: i64) -> FileSlice {
        if len == 0 {
            return FileSlice::default();
        }
        FileSlice {
            file: Some(file),
            position,
            len,
            next_offset: Some(next_offset),
        }
    }

    /// A slice with no bytes.
    pub fn empty() -> FileSlice {
        FileSlice::default()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The file and the byte position the slice starts at; `None` when empty.
    pub fn file(&self) -> Option<(&File, u64)> {
        self.file.as_deref().map(|f| (f, self.position))
    }

    /// The offset after the slice's last batch (where the next read starts).
    pub fn next_offset(&self) -> Option<i64> {
        self.next_offset
    }

    /// Copies the bytes out (for callers that need them in memory).
    pub fn to_vec(&self) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; self.len];
        self.read_at(0, &mut buf)?;
        Ok(buf)
    }

    /// Fills `buf` from `offset` bytes into the slice. An error when the
    /// range runs past the slice or the file was truncated under it.
    pub fn read_at(&self, offset: usize, buf: &mut [u8]) -> io::Result<()> {
        if buf.is_empty() {
            return Ok(());
        }
        let in_range = offset
            .checked_add(buf.len())
            .is_some_and(|end| end <= self.len);
        let (Some(file), true) = (self.file.as_deref(), in_range) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "read past the end of a file slice",
            ));
        };
        file.read_exact_at(buf, self.position + offset as u64)
    }
}

impl gregor_protocol::fetch_response::RecordsLen for FileSlice {
    fn records_len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn reads_its_range_even_after_the_file_is_unlinked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seg.log");
        let mut file = File::create(&path).unwrap();
        file.write_all(b"0123456789").unwrap();
        let file = Arc::new(File::open(&path).unwrap());
        let slice = FileSlice::new(file, 2, 5, 42);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(slice.to_vec().unwrap(), b"23456");
        let mut tail = [0u8; 2];
        slice.read_at(3, &mut tail).unwrap();
        assert_eq!(&tail, b"56");
        assert!(slice.read_at(4, &mut tail).is_err());
        assert_eq!(slice.next_offset(), Some(42));
    }

    #[test]
    fn empty_slices_have_no_file() {
        let slice = FileSlice::empty();
        assert!(slice.is_empty());
        assert!(slice.file().is_none());
        assert!(slice.to_vec().unwrap().is_empty());
    }
}
