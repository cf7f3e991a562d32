//! One segment: a `.log` file of record batches plus its two sparse indexes.
//!
//! The segment does byte-level work only (append at the end, find a batch by
//! offset, read a range, truncate); policy (when to roll, what to delete)
//! lives in the partition log.

use crate::log_file::LogFile;
use crate::offset_index::OffsetIndex;
use crate::scan::{HeaderScanner, Step};
use crate::time_index::TimeIndex;
use crate::txn_index::{TxnIndex, TXN_INDEX_SUFFIX};
use gregor_protocol::batch::{BatchHeader, BATCH_HEADER_LEN};
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

pub(crate) const LOG_SUFFIX: &str = "log";
pub(crate) const INDEX_SUFFIX: &str = "index";
pub(crate) const TIME_INDEX_SUFFIX: &str = "timeindex";

/// `{base_offset:020}.{suffix}`, as Kafka names segment files.
pub(crate) fn segment_path(dir: &Path, base_offset: i64, suffix: &str) -> PathBuf {
    dir.join(format!("{base_offset:020}.{suffix}"))
}

pub(crate) struct Segment {
    pub(crate) base_offset: i64,
    /// Opened on demand within the process's budget of open segment files;
    /// its handles are shared with in-flight fetches (`FileSlice`), which
    /// keep reading even if the segment is closed or deleted meanwhile.
    pub(crate) log: LogFile,
    /// Bytes of valid batches in the `.log` file.
    pub(crate) size: u64,
    /// Offset after the last batch (the base offset while empty).
    pub(crate) next_offset: i64,
    pub(crate) offset_index: OffsetIndex,
    pub(crate) time_index: TimeIndex,
    /// Transactions aborted by markers in this segment.
    pub(crate) txn_index: TxnIndex,
    /// Bytes appended since the last offset index entry.
    pub(crate) bytes_since_index: u64,
    /// Largest batch max timestamp, -1 when none.
    pub(crate) max_timestamp: i64,
    /// Base offset of the first batch that carried `max_timestamp`.
    pub(crate) offset_of_max_timestamp: i64,
    /// The wall-clock time `segment.ms` counts from; set by the first append.
    pub(crate) roll_base_ms: Option<i64>,
}

impl Segment {
    /// Creates an empty segment, replacing any leftover files of that name.
    pub fn create(dir: &Path, base_offset: i64) -> io::Result<Segment> {
        Segment::create_named(base_offset, |suffix| segment_path(dir, base_offset, suffix))
    }

    /// Creates an empty segment whose files are named by `path_of(suffix)`
    /// (the cleaner writes its output under staged names, indexed as it is
    /// written, and renames the files into place when it swaps them in).
    pub(crate) fn create_named(
        base_offset: i64,
        path_of: impl Fn(&str) -> PathBuf,
    ) -> io::Result<Segment> {
        let log = LogFile::create(path_of(LOG_SUFFIX))?;
        let txn_path = path_of(TXN_INDEX_SUFFIX);
        remove_if_exists(&txn_path)?;
        Ok(Segment {
            base_offset,
            log,
            size: 0,
            next_offset: base_offset,
            offset_index: OffsetIndex::create(&path_of(INDEX_SUFFIX))?,
            time_index: TimeIndex::create(&path_of(TIME_INDEX_SUFFIX))?,
            txn_index: TxnIndex::new(&txn_path),
            bytes_since_index: 0,
            max_timestamp: -1,
            offset_of_max_timestamp: -1,
            roll_base_ms: None,
        })
    }

    /// Opens an existing segment trusting its index files: only the tail after
    /// the last offset index entry is scanned. Falls back to a full recovery
    /// when an index is missing or inconsistent or the tail is not whole
    /// batches. Returns the segment and how many bytes recovery cut off.
    pub fn open(
        dir: &Path,
        base_offset: i64,
        index_interval: u64,
        force_recovery: bool,
    ) -> io::Result<(Segment, u64)> {
        let log = LogFile::open(segment_path(dir, base_offset, LOG_SUFFIX))?;
        let size = log.metadata()?.len();
        let index_path = segment_path(dir, base_offset, INDEX_SUFFIX);
        let time_path = segment_path(dir, base_offset, TIME_INDEX_SUFFIX);

        let indexes = if force_recovery {
            None
        } else {
            match (
                OffsetIndex::load_valid(&index_path, size)?,
                TimeIndex::load_valid(&time_path)?,
            ) {
                (Some(o), Some(t)) => Some((o, t)),
                _ => None,
            }
        };
        let (offset_index, time_index, trusted) = match indexes {
            Some((o, t)) => (o, t, true),
            None => (
                OffsetIndex::create(&index_path)?,
                TimeIndex::create(&time_path)?,
                false,
            ),
        };
        let mut segment = Segment {
            base_offset,
            log,
            size,
            next_offset: base_offset,
            offset_index,
            time_index,
            txn_index: TxnIndex::load(&segment_path(dir, base_offset, TXN_INDEX_SUFFIX))?,
            bytes_since_index: 0,
            max_timestamp: -1,
            offset_of_max_timestamp: -1,
            roll_base_ms: None,
        };
        let truncated = if trusted && segment.load_tail(index_interval)? {
            0
        } else {
            if trusted {
                tracing::warn!(segment = %segment.log.path().display(), "segment index inconsistent with its log; rebuilding");
            }
            segment.recover(index_interval)?
        };
        segment.roll_base_ms = segment.first_batch_timestamp()?;
        // Aborts whose marker is not in the log (cut by recovery, or never
        // written before a crash) did not happen.
        segment.txn_index.truncate_from(segment.next_offset)?;
        Ok((segment, truncated))
    }

    /// Finishes a trusted open: checks that the last index entry points at the
    /// batch it names and scans the batches after it. `false` when the index
    /// or the tail cannot be trusted (the caller recovers the segment).
    fn load_tail(&mut self, index_interval: u64) -> io::Result<bool> {
        let start = match self.offset_index.last() {
            Some(entry) => {
                let position = u64::from(entry.position);
                match self.header_at(position)? {
                    Some(h)
                        if h.base_offset == self.base_offset + i64::from(entry.relative_offset) =>
                    {
                        position
                    }
                    _ => return Ok(false),
                }
            }
            None => 0,
        };
        if let Some(entry) = self.time_index.last() {
            self.max_timestamp = entry.timestamp;
            self.offset_of_max_timestamp = self.base_offset + i64::from(entry.relative_offset);
        }
        let file = self.log.handle()?;
        let mut scanner = HeaderScanner::new(&file, start, self.size);
        let mut batches = Vec::new();
        loop {
            match scanner.next_step()? {
                Step::Batch { position, header } => batches.push((position, header)),
                Step::End => break,
                Step::Invalid { .. } => return Ok(false),
            }
        }
        self.bytes_since_index = 0;
        for (position, header) in batches {
            if !self.fits(&header) || header.base_offset < self.next_offset {
                return Ok(false);
            }
            self.index_batch(position, &header, index_interval);
        }
        Ok(true)
    }

    /// Whether the batch's offsets can be stored relative to this segment.
    pub fn fits(&self, header: &BatchHeader) -> bool {
        self.fits_offsets(header.base_offset, header.last_offset())
    }

    /// Whether offsets `first..=last` can be stored relative to this segment.
    pub fn fits_offsets(&self, first: i64, last: i64) -> bool {
        first >= self.base_offset && last - self.base_offset <= i64::from(i32::MAX)
    }

    fn relative(&self, offset: i64) -> u32 {
        // Callers only pass offsets that `fits` accepted.
        u32::try_from(offset - self.base_offset).unwrap_or(u32::MAX)
    }

    /// Accounts for a batch now at `position`: max timestamp, next offset
    /// and, every `index_interval` bytes, an entry in each index.
    pub fn index_batch(&mut self, position: u64, header: &BatchHeader, index_interval: u64) {
        if header.max_timestamp > self.max_timestamp {
            self.max_timestamp = header.max_timestamp;
            self.offset_of_max_timestamp = header.base_offset;
        }
        if self.bytes_since_index > index_interval {
            // Positions fit in u32: segments are capped below 2 GiB.
            let pos = u32::try_from(position).unwrap_or(u32::MAX);
            self.offset_index
                .append(self.relative(header.base_offset), pos);
            self.time_index.maybe_append(
                self.max_timestamp,
                self.relative(self.offset_of_max_timestamp),
            );
            self.bytes_since_index = 0;
        }
        self.bytes_since_index += header.total_size() as u64;
        self.next_offset = header.last_offset() + 1;
    }

    /// Appends already-validated batches with one write; `headers` are the
    /// batches of `buf`, in order, with their final offsets.
    pub fn append(
        &mut self,
        buf: &[u8],
        headers: &[BatchHeader],
        index_interval: u64,
        now_ms: i64,
    ) -> io::Result<()> {
        self.log.handle()?.write_all_at(buf, self.size)?;
        let mut position = self.size;
        for header in headers {
            self.index_batch(position, header, index_interval);
            position += header.total_size() as u64;
        }
        self.size += buf.len() as u64;
        if self.roll_base_ms.is_none() {
            self.roll_base_ms = Some(now_ms);
        }
        Ok(())
    }

    /// The header at `position`, `None` if no sane header is there.
    pub fn header_at(&self, position: u64) -> io::Result<Option<BatchHeader>> {
        let file = self.log.handle()?;
        let mut scanner = HeaderScanner::new(&file, position, self.size);
        Ok(match scanner.next_step()? {
            Step::Batch { header, .. } => Some(header),
            _ => None,
        })
    }

    /// The first batch whose last offset is at or after `offset`, with its
    /// position: starts at the index entry below `offset`, then scans headers.
    pub fn find_batch(&self, offset: i64) -> io::Result<Option<(u64, BatchHeader)>> {
        self.find_batch_from(offset, self.position_for(offset))
    }

    /// The position of the last indexed batch starting at or before `offset`.
    pub fn position_for(&self, offset: i64) -> u64 {
        if offset <= self.base_offset {
            return 0;
        }
        let relative = u32::try_from(offset - self.base_offset).unwrap_or(u32::MAX);
        self.offset_index
            .lookup(relative)
            .map_or(0, |e| u64::from(e.position))
    }

    fn find_batch_from(&self, offset: i64, start: u64) -> io::Result<Option<(u64, BatchHeader)>> {
        let file = self.log.handle()?;
        let mut scanner = HeaderScanner::new(&file, start, self.size);
        loop {
            match scanner.next_step()? {
                Step::Batch { position, header } if header.last_offset() >= offset => {
                    return Ok(Some((position, header)))
                }
                Step::Batch { .. } => {}
                Step::End => return Ok(None),
                Step::Invalid { position, reason } => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{} at {position}: {reason}", self.log.path().display()),
                    ))
                }
            }
        }
    }

    /// Every batch header from `start` to the end of the segment.
    pub fn headers_from(&self, start: u64) -> io::Result<Vec<(u64, BatchHeader)>> {
        scan_headers(&*self.log.handle()?, start, self.size, self.log.path())
    }

    /// Reads `len` bytes at `position`.
    pub fn read_bytes(&self, position: u64, len: usize) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; len];
        self.log.handle()?.read_exact_at(&mut buf, position)?;
        Ok(buf)
    }

    /// Timestamp `segment.ms` counts from after a reopen: the first batch's
    /// max timestamp, as Kafka uses. `None` for an empty segment.
    fn first_batch_timestamp(&self) -> io::Result<Option<i64>> {
        if self.size < BATCH_HEADER_LEN as u64 {
            return Ok(None);
        }
        Ok(self
            .header_at(0)?
            .map(|h| h.max_timestamp)
            .filter(|ts| *ts >= 0))
    }

    /// The timestamp retention compares: the largest record timestamp, or
    /// the file's modification time when no batch carried one (as Kafka).
    pub fn largest_timestamp(&self) -> i64 {
        if self.max_timestamp >= 0 {
            return self.max_timestamp;
        }
        self.log
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(-1, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }

    pub fn is_index_full(&self, max_index_bytes: u64) -> bool {
        let max_offset_entries = (max_index_bytes / 8) as usize;
        let max_time_entries = (max_index_bytes / 12) as usize;
        self.offset_index.len() >= max_offset_entries || self.time_index.len() >= max_time_entries
    }

    /// Called when the segment stops being active (roll, close): records the
    /// final max timestamp in the time index so a reopen finds it there.
    pub fn seal(&mut self) -> io::Result<()> {
        if self.max_timestamp >= 0 {
            let relative = self.relative(self.offset_of_max_timestamp);
            self.time_index.maybe_append(self.max_timestamp, relative);
        }
        self.offset_index.persist()?;
        self.time_index.persist()
    }

    /// Makes the data and indexes durable.
    pub fn flush(&mut self) -> io::Result<()> {
        self.log.handle()?.sync_data()?;
        self.offset_index.sync()?;
        self.time_index.sync()?;
        self.txn_index.sync()
    }

    /// Cuts the segment so it ends just before the first batch whose last
    /// offset is at or after `offset` (batches are never split).
    pub fn truncate_to(&mut self, offset: i64, index_interval: u64) -> io::Result<()> {
        let Some((position, cut)) = self.find_batch(offset)? else {
            return Ok(());
        };
        self.log.handle()?.set_len(position)?;
        self.size = position;
        let keep = self.offset_index.entries_before_position(position);
        self.offset_index.truncate(keep)?;
        self.time_index
            .truncate_to_offset(self.relative(cut.base_offset))?;
        // Recompute the in-memory state from the indexes and the kept tail.
        self.next_offset = self.base_offset;
        self.max_timestamp = -1;
        self.offset_of_max_timestamp = -1;
        if !self.load_tail(index_interval)? {
            self.recover(index_interval)?;
        }
        if self.size == 0 {
            self.roll_base_ms = None;
        }
        self.txn_index.truncate_from(self.next_offset)
    }

    /// Renames the segment's files to `<name>.deleted` (cheap whatever their
    /// size) for their removal later, away from the partition's lock, as
    /// Kafka does; the names to remove. A crash in between leaves them to
    /// the next open, which removes every `.deleted` file.
    pub(crate) fn retire(self) -> io::Result<Vec<PathBuf>> {
        let mut retired = Vec::new();
        for path in [
            self.log.path(),
            self.offset_index.path(),
            self.time_index.path(),
            self.txn_index.path(),
        ] {
            let mut name = path.as_os_str().to_owned();
            name.push(".deleted");
            let to = PathBuf::from(name);
            match std::fs::rename(path, &to) {
                Ok(()) => retired.push(to),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(retired)
    }

    /// Removes the segment's files.
    pub fn delete(self) -> io::Result<()> {
        for path in [
            self.log.path(),
            self.offset_index.path(),
            self.time_index.path(),
            self.txn_index.path(),
        ] {
            remove_if_exists(path)?;
        }
        Ok(())
    }
}

/// Every batch header of `file` in `[start, end)`; `path` names it in errors.
pub(crate) fn scan_headers(
    file: &File,
    start: u64,
    end: u64,
    path: &Path,
) -> io::Result<Vec<(u64, BatchHeader)>> {
    let mut scanner = HeaderScanner::new(file, start, end);
    let mut out = Vec::new();
    loop {
        match scanner.next_step()? {
            Step::Batch { position, header } => out.push((position, header)),
            Step::End => return Ok(out),
            Step::Invalid { position, reason } => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{} at {position}: {reason}", path.display()),
                ))
            }
        }
    }
}

fn remove_if_exists(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}
