//! One clean of one log: map the dirty section's keys, rewrite the segments
//! below the cleanable end group by group, swap them in.
//!
//! As Kafka's cleaner, the log is held only for the short steps that look at
//! or change its segment list ([`LogAccess`]): taking the snapshot a clean
//! starts from, swapping each cleaned group in, writing the checkpoint.
//! Mapping keys and writing the cleaned files read the segments through
//! their own file handles with the log free, so appends and fetches go on.
//! Segments below the cleanable end are never the active one and never
//! appended to; retention, DeleteRecords or a truncation may still change
//! them meanwhile, which the swap detects: it then abandons the clean
//! (the next one starts over), never swapping in a stale copy.

use super::filter::{Aborted, Filter, Outcome};
use super::key_map::KeyMap;
use super::plan::{self, Dirtiness, LogFacts, SegmentFacts};
use super::swap::{self, staged_path, CLEANED};
use crate::checkpoint;
use crate::partition::{sync_dir, PartitionLog};
use crate::segment::{scan_headers, Segment};
use crate::txn_index::{AbortedTxnEntry, TXN_INDEX_SUFFIX};
use crate::LogError;
use gregor_protocol::batch::BatchHeader;
use gregor_protocol::records::decode_batch;
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// Where a log's cleaner checkpoint (first dirty offset) is kept: one file
/// per partition directory (Kafka keeps one `cleaner-offset-checkpoint`
/// per log directory).
pub const CLEANER_CHECKPOINT_FILE: &str = "cleaner-offset-checkpoint";

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CleanOptions {
    pub now_ms: i64,
    /// `min(last stable offset, high watermark)`: nothing at or past it is cleaned.
    pub upper_bound_offset: i64,
    /// `log.cleaner.dedupe.buffer.size` available to this clean.
    pub dedupe_buffer_bytes: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CleanStats {
    pub first_dirty_offset: i64,
    /// The new first dirty offset (cleaner checkpoint).
    pub end_offset: i64,
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub records_read: u64,
    pub records_kept: u64,
    pub segments_before: usize,
    pub segments_after: usize,
    /// Time the clean held the log to swap and checkpoint: what
    /// appends and fetches to the partition may have waited for.
    pub locked_us: u64,
    /// The cleaned segments' bytes on disk before and after (their
    /// difference is what the clean reclaimed; appends meanwhile are not
    /// counted).
    pub size_before: u64,
    pub size_after: u64,
}

/// The earliest delete horizon in the batch headers of the segments before
/// the active one: after a restart, when the next clean can drop expired
/// tombstones or markers (a batch keeps its horizon when only some of its
/// records go, so this may be early: that clean then finds less to do).
pub(crate) fn earliest_delete_horizon(segments: &[Segment]) -> Result<Option<i64>, LogError> {
    let mut earliest: Option<i64> = None;
    for segment in segments.iter().take(segments.len().saturating_sub(1)) {
        for (_, header) in segment.headers_from(0)? {
            if let Some(h) = gregor_protocol::records::delete_horizon(&header) {
                earliest = Some(earliest.map_or(h, |e| e.min(h)));
            }
        }
    }
    Ok(earliest)
}

/// Short, exclusive access to the log being cleaned: the broker's partition
/// lock, or the log itself when the caller already owns it.
pub trait LogAccess {
    fn with_log<T>(
        &mut self,
        f: impl FnOnce(&mut PartitionLog) -> Result<T, LogError>,
    ) -> Result<T, LogError>;
}

impl LogAccess for PartitionLog {
    fn with_log<T>(
        &mut self,
        f: impl FnOnce(&mut PartitionLog) -> Result<T, LogError>,
    ) -> Result<T, LogError> {
        f(self)
    }
}

/// A segment as the clean saw it when it started: its file handle stays
/// readable even if the segment is deleted meanwhile (it is held outside the
/// open-file budget for the clean's length), and the swap compares the log
/// file's identity and size to tell whether the segment is still the same.
struct SegmentView {
    base_offset: i64,
    next_base_offset: i64,
    log: Arc<File>,
    log_id: u64,
    path: PathBuf,
    size: u64,
    index_entries: usize,
}

impl SegmentView {
    fn of(segment: &Segment, next_base_offset: i64) -> io::Result<SegmentView> {
        Ok(SegmentView {
            base_offset: segment.base_offset,
            next_base_offset,
            log: segment.log.handle()?,
            log_id: segment.log.id(),
            path: segment.log.path().to_path_buf(),
            size: segment.size,
            index_entries: segment.offset_index.len(),
        })
    }

    fn headers(&self) -> io::Result<Vec<(u64, BatchHeader)>> {
        scan_headers(&self.log, 0, self.size, &self.path)
    }

    fn read_bytes(&self, position: u64, len: usize) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; len];
        self.log.read_exact_at(&mut buf, position)?;
        Ok(buf)
    }

    fn is(&self, segment: &Segment) -> bool {
        segment.base_offset == self.base_offset
            && segment.log.id() == self.log_id
            && segment.size == self.size
    }
}

/// What the filter carries from one group to the next.
#[derive(Default)]
struct FilterState {
    open_txn_has_data: HashMap<i64, bool>,
    next_delete_horizon_ms: Option<i64>,
    records_read: u64,
    records_kept: u64,
}

/// A clean under way, detached from the log: everything the unlocked steps
/// need was copied out of it by [`PartitionLog::begin_clean`].
pub struct Cleaning {
    dir: PathBuf,
    now_ms: i64,
    delete_retention_ms: i64,
    dedupe_buffer_bytes: usize,
    index_interval_bytes: u64,
    max_group_bytes: u64,
    max_group_index_entries: usize,
    dirt: Dirtiness,
    /// Every segment below the cleanable end, oldest first.
    views: Vec<SegmentView>,
    aborted_entries: Vec<AbortedTxnEntry>,
    aborted: Aborted,
    producer_last_offsets: HashMap<i64, i64>,
    /// The log's truncation count at the start: a truncation since then
    /// abandons the clean (Kafka aborts cleaning before truncating).
    truncations: u64,
    stats: CleanStats,
}

/// A group's cleaned files, written and synced, not yet swapped in.
struct Staged {
    /// Range of `Cleaning::views` it replaces.
    first: usize,
    len: usize,
    base: i64,
}

impl PartitionLog {
    /// The first dirty offset: where the last clean stopped.
    fn cleaner_checkpoint(&self) -> Result<i64, LogError> {
        let stored = checkpoint::read_offset(&self.dir, CLEANER_CHECKPOINT_FILE)?;
        Ok(stored.unwrap_or(self.log_start_offset))
    }

    /// A truncation below the cleaner checkpoint makes what is written
    /// next dirty again (Kafka's `LogCleaner.maybeTruncateCheckpoint`).
    pub(crate) fn truncate_cleaner_checkpoint(&mut self, offset: i64) -> Result<(), LogError> {
        if checkpoint::read_offset(&self.dir, CLEANER_CHECKPOINT_FILE)?.is_some_and(|c| c > offset)
        {
            checkpoint::write_offset(&self.dir, CLEANER_CHECKPOINT_FILE, offset)?;
        }
        Ok(())
    }

    fn segment_facts(&self) -> Vec<SegmentFacts> {
        self.segments
            .windows(2)
            .map(|w| SegmentFacts {
                base_offset: w[0].base_offset,
                next_base_offset: w[1].base_offset,
                size: w[0].size,
                largest_timestamp: w[0].max_timestamp,
                first_timestamp: w[0].roll_base_ms.unwrap_or(-1),
            })
            .collect()
    }

    /// How dirty this log is at `now_ms`, cleaning never reaching
    /// `upper_bound_offset` (the broker's `min(LSO, high watermark)`).
    pub fn dirtiness(&self, now_ms: i64, upper_bound_offset: i64) -> Result<Dirtiness, LogError> {
        let facts = self.log_facts(now_ms, upper_bound_offset)?;
        Ok(plan::assess(&self.segment_facts(), facts))
    }

    /// The compaction status shown by `gregor topic describe` (see
    /// [`plan::status`]), from the facts a clean would be planned from.
    pub fn compaction_status(
        &self,
        now_ms: i64,
        upper_bound_offset: i64,
    ) -> Result<plan::CompactionStatus, LogError> {
        let facts = self.log_facts(now_ms, upper_bound_offset)?;
        Ok(plan::status(&self.segment_facts(), facts))
    }

    fn log_facts(&self, now_ms: i64, upper_bound_offset: i64) -> Result<LogFacts, LogError> {
        Ok(LogFacts {
            now_ms,
            first_dirty_offset: self.cleaner_checkpoint()?,
            upper_bound_offset: upper_bound_offset.min(self.log_end_offset()),
            min_compaction_lag_ms: self.config.min_compaction_lag_ms,
            max_compaction_lag_ms: self.config.max_compaction_lag_ms,
            min_cleanable_dirty_ratio: self.config.min_cleanable_dirty_ratio,
            next_delete_horizon_ms: self.next_delete_horizon_ms,
        })
    }

    /// Cleans the log now (whatever its dirty ratio; the caller chose it),
    /// holding it throughout. `None` when there is nothing to clean.
    pub fn clean(&mut self, options: CleanOptions) -> Result<Option<CleanStats>, LogError> {
        match self.begin_clean(options)? {
            Some(cleaning) => cleaning.run_with_faults(self, &mut |_| {}, &mut Faults::default()),
            None => Ok(None),
        }
    }

    /// [`clean`](Self::clean) that stops, as a crash would, after
    /// `crash_after` file-system steps, leaving the files as they are.
    /// Only for crash tests: the log must be dropped and reopened after.
    #[doc(hidden)]
    pub fn clean_crashing_after(
        &mut self,
        options: CleanOptions,
        crash_after: u32,
    ) -> Result<Option<CleanStats>, LogError> {
        let mut faults = Faults {
            steps_left: Some(crash_after),
        };
        match self.begin_clean(options)? {
            Some(cleaning) => cleaning.run_with_faults(self, &mut |_| {}, &mut faults),
            None => Ok(None),
        }
    }

    /// The first, locked step of a clean: what to clean and a snapshot of
    /// it. `None` when there is nothing to clean. Run it with
    /// [`Cleaning::run`].
    pub fn begin_clean(&self, options: CleanOptions) -> Result<Option<Cleaning>, LogError> {
        let dirt = self.dirtiness(options.now_ms, options.upper_bound_offset)?;
        if dirt.cleanable_bytes == 0 && !dirt.horizon_due {
            return Ok(None);
        }
        let views: Vec<SegmentView> = self
            .segments
            .windows(2)
            .take_while(|w| w[1].base_offset <= dirt.cleanable_end_offset)
            .map(|w| SegmentView::of(&w[0], w[1].base_offset))
            .collect::<io::Result<_>>()?;
        let cleanable_size: u64 = views.iter().map(|v| v.size).sum();
        let aborted_entries: Vec<AbortedTxnEntry> = self
            .segments
            .iter()
            .flat_map(|s| s.txn_index.entries().iter().copied())
            .collect();
        let mut aborted = Aborted::default();
        for e in &aborted_entries {
            aborted.add(e.producer_id, e.first_offset, e.last_offset);
        }
        let producer_last_offsets = self
            .producers
            .entries()
            .filter_map(|(pid, entry)| entry.batches.back().map(|b| (pid, b.last_offset)))
            .collect();
        Ok(Some(Cleaning {
            dir: self.dir.clone(),
            now_ms: options.now_ms,
            delete_retention_ms: self.config.delete_retention_ms,
            dedupe_buffer_bytes: options.dedupe_buffer_bytes,
            index_interval_bytes: self.config.index_interval_bytes,
            max_group_bytes: self.config.segment_bytes.min(i32::MAX as u64),
            max_group_index_entries: (self.config.segment_index_bytes / 8) as usize,
            dirt,
            views,
            aborted_entries,
            aborted,
            producer_last_offsets,
            truncations: self.truncations,
            stats: CleanStats {
                first_dirty_offset: dirt.first_dirty_offset,
                segments_before: self.segments.len(),
                size_before: cleanable_size,
                size_after: cleanable_size,
                ..CleanStats::default()
            },
        }))
    }

    /// Whether the segments a staged group replaces are still exactly
    /// those the clean read; their index in the segment list if so.
    fn still_holds(&self, cleaning: &Cleaning, staged: &Staged) -> Option<usize> {
        if self.truncations != cleaning.truncations {
            return None;
        }
        let views = &cleaning.views[staged.first..staged.first + staged.len];
        let first = self
            .segments
            .iter()
            .position(|s| s.base_offset == staged.base)?;
        let current = self.segments.get(first..first + staged.len)?;
        let unchanged = views.iter().zip(current).all(|(v, s)| v.is(s));
        let group_end = views.last().map(|v| v.next_base_offset)?;
        let next_same = self
            .segments
            .get(first + staged.len)
            .is_some_and(|s| s.base_offset == group_end);
        (unchanged && next_same).then_some(first)
    }

    /// Locked: replaces the group's segments by its cleaned one, crash-safely;
    /// the bytes that saves and the replaced segments' files, renamed, for
    /// the caller to remove once the log is free. `None` (and the staged
    /// files removed) when the log changed under it.
    fn swap_in(
        &mut self,
        cleaning: &Cleaning,
        staged: &Staged,
        faults: &mut Faults,
    ) -> Result<Option<(u64, Vec<PathBuf>)>, LogError> {
        let Some(first) = self.still_holds(cleaning, staged) else {
            swap::remove_staged(&self.dir, staged.base)?;
            return Ok(None);
        };
        let (dir, base, len) = (self.dir.clone(), staged.base, staged.len);
        let replaced: u64 = self.segments[first..first + len]
            .iter()
            .map(|s| s.size)
            .sum();
        faults.step()?;
        swap::commit_index(&dir, base)?;
        faults.step()?;
        swap::commit_log(&dir, base)?;
        faults.step()?;
        let mut retired = Vec::new();
        for segment in self.segments.drain(first..first + len) {
            retired.extend(segment.retire()?);
            faults.step()?;
        }
        swap::install_log(&dir, base)?;
        faults.step()?;
        swap::install_index(&dir, base)?;
        faults.step()?;
        swap::install_offset_indexes(&dir, base)?;
        faults.step()?;
        // Trusts the indexes written with the log (sealed and synced then):
        // only the few batches after the last index entry are read.
        let (segment, _) = Segment::open(&dir, base, cleaning.index_interval_bytes, false)?;
        let saved = replaced.saturating_sub(segment.size);
        self.segments.insert(first, segment);
        Ok(Some((saved, retired)))
    }
}

impl Cleaning {
    /// Runs the clean, taking the log through `log` only for the swaps and
    /// the final checkpoint. `io` is told of every batch's bytes read or
    /// written (the broker throttles there, as Kafka's cleaner does).
    /// `None` when the clean was abandoned because the log changed.
    pub fn run(
        self,
        log: &mut impl LogAccess,
        io: &mut dyn FnMut(u64),
    ) -> Result<Option<CleanStats>, LogError> {
        self.run_with_faults(log, io, &mut Faults::default())
    }

    fn run_with_faults(
        mut self,
        log: &mut impl LogAccess,
        io: &mut dyn FnMut(u64),
        faults: &mut Faults,
    ) -> Result<Option<CleanStats>, LogError> {
        let (map, map_end) = match self.build_key_map(io) {
            Ok(built) => built,
            Err(e) => return self.abandon_or_fail(log, e),
        };
        let end = map_end.max(self.dirt.first_dirty_offset);
        // Segments wholly below `end`, never the active one.
        let count = self
            .views
            .iter()
            .take_while(|v| v.next_base_offset <= end)
            .count();
        let shapes: Vec<(i64, i64, u64, usize)> = self.views[..count]
            .iter()
            .map(|v| (v.base_offset, v.next_base_offset, v.size, v.index_entries))
            .collect();
        let groups =
            plan::group_segments(&shapes, self.max_group_bytes, self.max_group_index_entries);
        let mut state = FilterState::default();
        let mut first = 0;
        for len in groups {
            let staged = match self.write_group(first, len, &map, &mut state, io) {
                Ok(staged) => staged,
                Err(e) => {
                    let _ = swap::remove_staged(&self.dir, self.views[first].base_offset);
                    return self.abandon_or_fail(log, e);
                }
            };
            let locked = Instant::now();
            let swapped = log.with_log(|l| l.swap_in(&self, &staged, faults))?;
            self.stats.locked_us += locked.elapsed().as_micros() as u64;
            let Some((saved, retired)) = swapped else {
                tracing::info!(dir = %self.dir.display(), base = staged.base, "log clean abandoned: the segments changed while it ran");
                return Ok(None);
            };
            for path in retired {
                // Freeing a big file's blocks can take a while: not under the lock.
                if let Err(e) = fs::remove_file(&path) {
                    tracing::warn!(path = %path.display(), error = %e, "cannot remove a replaced segment file");
                }
            }
            self.stats.size_after = self.stats.size_after.saturating_sub(saved);
            first += len;
        }
        self.stats.records_read = state.records_read;
        self.stats.records_kept = state.records_kept;
        self.stats.end_offset = end;
        let mut stats = self.stats.clone();
        let truncations = self.truncations;
        let locked = Instant::now();
        let finished = log.with_log(|l| {
            if l.truncations != truncations {
                // A truncation below the checkpoint rewound it; keep that.
                return Ok(false);
            }
            l.next_delete_horizon_ms = state.next_delete_horizon_ms;
            faults.step()?;
            checkpoint::write_offset(&l.dir, CLEANER_CHECKPOINT_FILE, end)?;
            stats.segments_after = l.segments.len();
            Ok(true)
        })?;
        stats.locked_us += locked.elapsed().as_micros() as u64;
        Ok(finished.then_some(stats))
    }

    /// An error in an unlocked step is no failure when a truncation caused
    /// it (the segment being read was cut): the clean is just abandoned.
    fn abandon_or_fail(
        &self,
        log: &mut impl LogAccess,
        error: LogError,
    ) -> Result<Option<CleanStats>, LogError> {
        let truncations = self.truncations;
        if log.with_log(|l| Ok(l.truncations != truncations))? {
            tracing::info!(dir = %self.dir.display(), "log clean abandoned: the log was truncated while it ran");
            return Ok(None);
        }
        Err(error)
    }

    /// Maps every key of the dirty section to its latest offset, stopping
    /// at a segment boundary when the dedupe buffer would overflow. Returns
    /// the map and the offset it covers up to.
    fn build_key_map(&mut self, io: &mut dyn FnMut(u64)) -> Result<(KeyMap, i64), LogError> {
        let mut map = KeyMap::with_buffer(self.dedupe_buffer_bytes);
        let first_dirty = self.dirt.first_dirty_offset;
        let mut end = first_dirty;
        for segment in &self.views {
            if segment.next_base_offset <= first_dirty {
                continue;
            }
            let headers = segment.headers()?;
            let records: usize = headers
                .iter()
                .map(|(_, h)| h.records_count.max(0) as usize)
                .sum();
            // The first segment is always mapped, so a clean makes progress.
            if end > first_dirty && map.would_overflow(records) {
                break;
            }
            for (position, header) in headers {
                let size = header.total_size();
                self.stats.bytes_read += size as u64;
                io(size as u64);
                if header.is_control() || self.aborted.contains(&header) {
                    continue;
                }
                let bytes = segment.read_bytes(position, size)?;
                for record in decode_batch(&bytes)?.records {
                    if let Some(key) = &record.key {
                        map.put(key, record.offset);
                    }
                }
            }
            end = segment.next_base_offset;
        }
        Ok((map, end))
    }

    /// Writes `views[first..first + len]` cleaned into one segment with the
    /// first one's base offset, as synced `.cleaned` files.
    fn write_group(
        &mut self,
        first: usize,
        len: usize,
        map: &KeyMap,
        state: &mut FilterState,
        io: &mut dyn FnMut(u64),
    ) -> Result<Staged, LogError> {
        let views = &self.views[first..first + len];
        let base = views[0].base_offset;
        let group_end = views[len - 1].next_base_offset;
        let mut filter = Filter {
            now_ms: self.now_ms,
            delete_retention_ms: self.delete_retention_ms,
            map,
            aborted: &self.aborted,
            producer_last_offsets: &self.producer_last_offsets,
            open_txn_has_data: std::mem::take(&mut state.open_txn_has_data),
            next_delete_horizon_ms: state.next_delete_horizon_ms,
            records_read: state.records_read,
            records_kept: state.records_kept,
        };
        // The output is a segment under staged names, indexed as it is
        // written, so the swap renames finished files instead of re-reading
        // the log under the partition's lock to rebuild its indexes.
        let dir = self.dir.clone();
        let mut out =
            Segment::create_named(base, |suffix| staged_path(&dir, base, suffix, CLEANED))?;
        let mut pending = PendingWrites::default();
        let mut kept_markers = Vec::new();
        for segment in views {
            for (position, header) in segment.headers()? {
                let bytes = segment.read_bytes(position, header.total_size())?;
                let written = match filter.batch(&header, &bytes)? {
                    Outcome::Unchanged => pending.push(header, &bytes),
                    Outcome::Rewritten(new) => pending.push(BatchHeader::parse(&new)?, &new),
                    Outcome::Dropped => 0,
                };
                pending.write_when_full(&mut out, self.index_interval_bytes, self.now_ms)?;
                io((bytes.len() + written) as u64);
                self.stats.bytes_written += written as u64;
                if header.is_control() && written > 0 {
                    kept_markers.push(header.base_offset);
                }
            }
        }
        pending.write(&mut out, self.index_interval_bytes, self.now_ms)?;
        state.open_txn_has_data = filter.open_txn_has_data;
        state.next_delete_horizon_ms = filter.next_delete_horizon_ms;
        state.records_read = filter.records_read;
        state.records_kept = filter.records_kept;
        out.seal()?;
        out.flush()?;
        drop(out);
        // Aborted transactions whose marker is kept stay listed.
        let entries: Vec<&AbortedTxnEntry> = self
            .aborted_entries
            .iter()
            .filter(|e| e.last_offset >= base && e.last_offset < group_end)
            .filter(|e| kept_markers.contains(&e.last_offset))
            .collect();
        if !entries.is_empty() {
            let mut buf = Vec::new();
            for e in entries {
                e.encode(&mut buf);
            }
            let path = staged_path(&self.dir, base, TXN_INDEX_SUFFIX, CLEANED);
            let mut f = File::create(&path)?;
            f.write_all(&buf)?;
            f.sync_all()?;
        }
        sync_dir(&self.dir)?;
        Ok(Staged { first, len, base })
    }
}

/// Kept batches gathered into writes of about [`PendingWrites::WRITE_BYTES`].
#[derive(Default)]
struct PendingWrites {
    bytes: Vec<u8>,
    headers: Vec<BatchHeader>,
}

impl PendingWrites {
    const WRITE_BYTES: usize = 1 << 20;

    /// Adds a batch; its size.
    fn push(&mut self, header: BatchHeader, batch: &[u8]) -> usize {
        self.bytes.extend_from_slice(batch);
        self.headers.push(header);
        batch.len()
    }

    fn write_when_full(
        &mut self,
        out: &mut Segment,
        index_interval: u64,
        now_ms: i64,
    ) -> io::Result<()> {
        if self.bytes.len() < Self::WRITE_BYTES {
            return Ok(());
        }
        self.write(out, index_interval, now_ms)
    }

    fn write(&mut self, out: &mut Segment, index_interval: u64, now_ms: i64) -> io::Result<()> {
        if !self.headers.is_empty() {
            out.append(&self.bytes, &self.headers, index_interval, now_ms)?;
        }
        self.bytes.clear();
        self.headers.clear();
        Ok(())
    }
}

/// Crash injection for tests: counts file-system steps down to a failure.
#[derive(Default)]
struct Faults {
    steps_left: Option<u32>,
}

impl Faults {
    fn step(&mut self) -> Result<(), LogError> {
        match &mut self.steps_left {
            Some(0) => Err(LogError::Corrupt("injected crash".into())),
            Some(n) => {
                *n -= 1;
                Ok(())
            }
            None => Ok(()),
        }
    }
}
