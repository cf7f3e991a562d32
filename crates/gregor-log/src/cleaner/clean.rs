//! One clean of one log: map the dirty section's keys, rewrite the segments
//! below the cleanable end group by group, swap them in.
//!
//! The caller holds the log exclusively for the whole clean (`&mut self`);
//! the broker runs it on a cleaner thread, not a request thread.

use super::filter::{Aborted, Filter, Outcome};
use super::key_map::KeyMap;
use super::plan::{self, Dirtiness, LogFacts, SegmentFacts};
use super::swap::{self, staged_path, CLEANED};
use crate::checkpoint;
use crate::partition::{sync_dir, PartitionLog};
use crate::segment::{Segment, LOG_SUFFIX};
use crate::txn_index::{AbortedTxnEntry, TXN_INDEX_SUFFIX};
use crate::LogError;
use gregor_protocol::records::decode_batch;
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};

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
    /// The log's bytes on disk before and after (their difference is what
    /// the clean reclaimed).
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

    /// Cleans the log now (whatever its dirty ratio; the caller chose it).
    /// `None` when there is nothing to clean.
    pub fn clean(&mut self, options: CleanOptions) -> Result<Option<CleanStats>, LogError> {
        self.clean_with_faults(options, &mut Faults::default())
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
        self.clean_with_faults(options, &mut faults)
    }

    fn clean_with_faults(
        &mut self,
        options: CleanOptions,
        faults: &mut Faults,
    ) -> Result<Option<CleanStats>, LogError> {
        let dirt = self.dirtiness(options.now_ms, options.upper_bound_offset)?;
        if dirt.cleanable_bytes == 0 && !dirt.horizon_due {
            return Ok(None);
        }
        let mut stats = CleanStats {
            first_dirty_offset: dirt.first_dirty_offset,
            segments_before: self.segments.len(),
            size_before: self.size_bytes(),
            ..CleanStats::default()
        };
        let (map, map_end) = self.build_key_map(&dirt, options.dedupe_buffer_bytes, &mut stats)?;
        let end = map_end.max(dirt.first_dirty_offset);
        let aborted_entries: Vec<AbortedTxnEntry> = self
            .segments
            .iter()
            .flat_map(|s| s.txn_index.entries().iter().copied())
            .collect();
        let mut aborted = Aborted::default();
        for e in &aborted_entries {
            aborted.add(e.producer_id, e.first_offset, e.last_offset);
        }
        let producer_last_offsets: HashMap<i64, i64> = self
            .producers
            .entries()
            .filter_map(|(pid, entry)| entry.batches.back().map(|b| (pid, b.last_offset)))
            .collect();
        let mut filter = Filter {
            now_ms: options.now_ms,
            delete_retention_ms: self.config.delete_retention_ms,
            map: &map,
            aborted: &aborted,
            producer_last_offsets: &producer_last_offsets,
            open_txn_has_data: HashMap::new(),
            next_delete_horizon_ms: None,
            records_read: 0,
            records_kept: 0,
        };
        // Segments wholly below `end`, never the active one.
        let count = self
            .segments
            .windows(2)
            .take_while(|w| w[1].base_offset <= end)
            .count();
        let shapes: Vec<(i64, i64, u64, usize)> = self
            .segments
            .windows(2)
            .take(count)
            .map(|w| {
                (
                    w[0].base_offset,
                    w[1].base_offset,
                    w[0].size,
                    w[0].offset_index.len(),
                )
            })
            .collect();
        let max_bytes = self.config.segment_bytes.min(i32::MAX as u64);
        let max_entries = (self.config.segment_index_bytes / 8) as usize;
        let groups = plan::group_segments(&shapes, max_bytes, max_entries);
        // Each group becomes one segment, so group `i` starts at index `i`.
        for (first, len) in groups.into_iter().enumerate() {
            self.clean_group(
                first,
                len,
                &mut filter,
                &aborted_entries,
                &mut stats,
                faults,
            )?;
        }
        stats.records_read = filter.records_read;
        stats.records_kept = filter.records_kept;
        self.next_delete_horizon_ms = filter.next_delete_horizon_ms;
        faults.step()?;
        checkpoint::write_offset(&self.dir, CLEANER_CHECKPOINT_FILE, end)?;
        stats.end_offset = end;
        stats.segments_after = self.segments.len();
        stats.size_after = self.size_bytes();
        Ok(Some(stats))
    }

    /// Maps every key of the dirty section to its latest offset, stopping
    /// at a segment boundary when the dedupe buffer would overflow. Returns
    /// the map and the offset it covers up to.
    fn build_key_map(
        &self,
        dirt: &Dirtiness,
        buffer_bytes: usize,
        stats: &mut CleanStats,
    ) -> Result<(KeyMap, i64), LogError> {
        let mut map = KeyMap::with_buffer(buffer_bytes);
        let mut end = dirt.first_dirty_offset;
        let aborted = {
            let mut a = Aborted::default();
            for s in &self.segments {
                for e in s.txn_index.entries() {
                    a.add(e.producer_id, e.first_offset, e.last_offset);
                }
            }
            a
        };
        for w in self.segments.windows(2) {
            let (segment, next_base) = (&w[0], w[1].base_offset);
            if next_base <= dirt.first_dirty_offset {
                continue;
            }
            if next_base > dirt.cleanable_end_offset {
                break;
            }
            let headers = segment.headers_from(0)?;
            let records: usize = headers
                .iter()
                .map(|(_, h)| h.records_count.max(0) as usize)
                .sum();
            // The first segment is always mapped, so a clean makes progress.
            if end > dirt.first_dirty_offset && map.would_overflow(records) {
                break;
            }
            for (position, header) in headers {
                stats.bytes_read += header.total_size() as u64;
                if header.is_control() || aborted.contains(&header) {
                    continue;
                }
                let bytes = segment.read_bytes(position, header.total_size())?;
                for record in decode_batch(&bytes)?.records {
                    if let Some(key) = &record.key {
                        map.put(key, record.offset);
                    }
                }
            }
            end = next_base;
        }
        Ok((map, end))
    }

    /// Rewrites `self.segments[first..first + len]` into one segment with
    /// the first one's base offset and swaps it in.
    fn clean_group(
        &mut self,
        first: usize,
        len: usize,
        filter: &mut Filter<'_>,
        aborted_entries: &[AbortedTxnEntry],
        stats: &mut CleanStats,
        faults: &mut Faults,
    ) -> Result<(), LogError> {
        let dir = self.dir.clone();
        let base = self.segments[first].base_offset;
        let group_end = self
            .segments
            .get(first + len)
            .map_or(i64::MAX, |s| s.base_offset);
        let log_path = staged_path(&dir, base, LOG_SUFFIX, CLEANED);
        let mut out = BufWriter::new(File::create(&log_path)?);
        let mut kept_markers = Vec::new();
        for segment in &self.segments[first..first + len] {
            for (position, header) in segment.headers_from(0)? {
                let bytes = segment.read_bytes(position, header.total_size())?;
                let written = match filter.batch(&header, &bytes)? {
                    Outcome::Unchanged => {
                        out.write_all(&bytes)?;
                        bytes.len()
                    }
                    Outcome::Rewritten(new) => {
                        out.write_all(&new)?;
                        new.len()
                    }
                    Outcome::Dropped => 0,
                };
                stats.bytes_written += written as u64;
                if header.is_control() && written > 0 {
                    kept_markers.push(header.base_offset);
                }
            }
        }
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        drop(file);
        // Aborted transactions whose marker is kept stay listed.
        let entries: Vec<&AbortedTxnEntry> = aborted_entries
            .iter()
            .filter(|e| e.last_offset >= base && e.last_offset < group_end)
            .filter(|e| kept_markers.contains(&e.last_offset))
            .collect();
        if !entries.is_empty() {
            let mut buf = Vec::new();
            for e in entries {
                e.encode(&mut buf);
            }
            let path = staged_path(&dir, base, TXN_INDEX_SUFFIX, CLEANED);
            let mut f = File::create(&path)?;
            f.write_all(&buf)?;
            f.sync_all()?;
        }
        sync_dir(&dir)?;
        faults.step()?;
        swap::commit_index(&dir, base)?;
        faults.step()?;
        swap::commit_log(&dir, base)?;
        faults.step()?;
        for segment in self.segments.drain(first..first + len) {
            segment.delete()?;
            faults.step()?;
        }
        swap::install_log(&dir, base)?;
        faults.step()?;
        swap::install_index(&dir, base)?;
        faults.step()?;
        let (mut segment, _) = Segment::open(&dir, base, self.config.index_interval_bytes, false)?;
        // The rebuilt indexes are made final and durable as at a roll, so
        // the next open trusts them (and finds the max timestamp).
        segment.seal()?;
        segment.flush()?;
        self.segments.insert(first, segment);
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
