//! One partition's log: segments, append, read, retention, recovery.
//!
//! Thread-safety: mutations take `&mut self`, reads (`read`, timestamp
//! lookups, `batch_headers`) take `&self` and use positional file reads, so
//! the broker can keep the log behind a `Mutex` or a `RwLock`.

use crate::checkpoint::{self, LOG_START_OFFSET_FILE};
use crate::leader_epoch::{EpochEntry, LeaderEpochCache};
use crate::prepare::{prepare, Stamp};
use crate::producer_recovery;
use crate::producer_snapshot as snapshot;
use crate::producer_state::{
    CompletedTxn, Origin, ProducerStateInfo, ProducerStateMap, Verdict, LEGACY_TRANSACTION_VERSION,
};
use crate::retention::{segments_to_delete, Policy, SegmentFacts};
use crate::scan::{HeaderScanner, Step};
use crate::segment::{Segment, INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX};
use crate::txn_index::{AbortedTxn, TXN_INDEX_SUFFIX};
use crate::txn_marker::{marker_batch, Markers, TxnMarker};
use crate::validate::{validate_batches, Source};
use crate::verification::{VerificationGuard, Verifications};
use crate::{FileSlice, LogConfig, LogError, TimestampType};
use bytes::Bytes;
use gregor_protocol::batch::{validate_produce, BatchHeader};
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

/// What an append did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset given to the first record.
    pub base_offset: i64,
    /// Offset of the last record appended.
    pub last_offset: i64,
    /// The broker's time if the topic uses LogAppendTime, else -1.
    pub log_append_time: i64,
    /// Log start offset after the append.
    pub log_start_offset: i64,
    /// Number of records appended (0 for a duplicate).
    pub record_count: i64,
    /// The batch repeated one of its producer's last five batches and was
    /// not appended. Kafka answers it as a success (error NONE) with the
    /// original batch's offsets: `base_offset`/`last_offset` are the
    /// original's and `log_append_time` is the original batch's max
    /// timestamp (whatever the topic's timestamp type, as Kafka 4 does).
    pub duplicate: bool,
}

impl AppendInfo {
    /// Nothing appended at `log_end`.
    fn empty(log_end: i64, log_append_time: i64, log_start_offset: i64) -> AppendInfo {
        AppendInfo {
            base_offset: log_end,
            last_offset: log_end - 1,
            log_append_time,
            log_start_offset,
            record_count: 0,
            duplicate: false,
        }
    }
}

/// What writing a transaction marker did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarkerInfo {
    /// Offset of the marker.
    pub offset: i64,
    /// First offset of the transaction the marker closed; `None` when its
    /// producer had no open transaction here (the marker is still written,
    /// as Kafka writes it, and closes nothing).
    pub completed_txn_first_offset: Option<i64>,
    /// Log start offset after the append.
    pub log_start_offset: i64,
}

/// A byte range of the log, made of whole batches: at most `max_bytes`,
/// except that with `min_one` a first batch larger than that is returned whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadInfo {
    pub records: Bytes,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
}

/// Like [`ReadInfo`], but the batches stay in the segment file: the caller
/// sends them from there (zero-copy fetch) or copies them out.
#[derive(Debug, Clone)]
pub struct SliceInfo {
    pub records: FileSlice,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
}

pub struct PartitionLog {
    pub(crate) dir: PathBuf,
    pub(crate) config: LogConfig,
    /// Ordered by base offset; the last one is active. Never empty, except
    /// after an I/O error while replacing segments (writes then fail).
    pub(crate) segments: Vec<Segment>,
    pub(crate) log_start_offset: i64,
    /// Records appended since the last fsync.
    unflushed_messages: i64,
    /// When the oldest unflushed append happened.
    first_unflushed_ms: Option<i64>,
    /// First offset of each leader epoch, for OffsetsForLeaderEpoch.
    epochs: LeaderEpochCache,
    /// Idempotent producers' epochs and last batches; always reflects
    /// exactly the batches in the log (plus producers whose batches
    /// retention deleted, until they expire).
    pub(crate) producers: ProducerStateMap,
    /// KIP-890 verifications in flight with the transaction coordinator.
    verifications: Verifications,
    /// Earliest delete horizon the last clean left on a batch holding
    /// tombstones or markers: a clean after it can drop them.
    pub(crate) next_delete_horizon_ms: Option<i64>,
    /// Truncations so far: a clean running with the log unlocked compares
    /// it to know whether the segments it read were cut meanwhile, and a key
    /// index built before one is stale.
    pub(crate) truncations: u64,
    /// Transactions whose marker is in the log but maybe not yet below the
    /// high watermark: first offset -> marker offset. Kafka keeps them
    /// unstable until the high watermark passes the marker, so a
    /// read_committed consumer never reads records whose commit a new
    /// leader might not have yet.
    unreplicated_txns: BTreeMap<i64, i64>,
}

impl PartitionLog {
    /// Opens (or creates) the log in `dir`. With `recover` (the log dir was
    /// not shut down cleanly) every batch after the last flushed point is
    /// re-validated, a torn tail is truncated and indexes are rebuilt.
    ///
    /// Segments before the active one were fsynced when they were rolled, so
    /// the flushed point is the start of the active segment; older segments
    /// are only rebuilt when their index files are missing or inconsistent.
    pub fn open(dir: &Path, config: LogConfig, recover: bool) -> Result<PartitionLog, LogError> {
        fs::create_dir_all(dir)?;
        // A clean interrupted by a crash is finished or undone first.
        crate::cleaner::swap::recover(dir)?;
        let bases = list_segments(dir)?;
        let checkpointed_start = checkpoint::read_offset(dir, LOG_START_OFFSET_FILE)?;
        let mut segments = Vec::with_capacity(bases.len().max(1));
        for (i, base) in bases.iter().enumerate() {
            let is_last = i + 1 == bases.len();
            let (segment, truncated) =
                Segment::open(dir, *base, config.index_interval_bytes, recover && is_last)?;
            if truncated > 0 && !is_last {
                tracing::warn!(dir = %dir.display(), base_offset = base, truncated, "truncated a corrupt non-active segment");
            }
            segments.push(segment);
        }
        if segments.is_empty() {
            // No fsync of the new files' names, as Kafka: an empty segment
            // lost in a machine crash is created again by the next open.
            segments.push(Segment::create(dir, checkpointed_start.unwrap_or(0))?);
        }
        let first_base = segments.first().map_or(0, |s| s.base_offset);
        let log_end = segments.last().map_or(0, |s| s.next_offset);
        let log_start_offset = checkpointed_start
            .unwrap_or(first_base)
            .max(first_base)
            .min(log_end);
        let epochs = load_epochs(dir, &segments, recover, log_start_offset, log_end)?;
        // After an unclean shutdown the active segment's aborted-transaction
        // index is rebuilt from its markers along with producer state.
        let producers = producer_recovery::load(dir, &mut segments, recover)?;
        let next_delete_horizon_ms = if config.compact {
            crate::cleaner::earliest_delete_horizon(&segments)?
        } else {
            None
        };
        Ok(PartitionLog {
            dir: dir.to_path_buf(),
            config,
            segments,
            log_start_offset,
            unflushed_messages: 0,
            first_unflushed_ms: None,
            epochs,
            producers,
            verifications: Verifications::default(),
            next_delete_horizon_ms,
            truncations: 0,
            unreplicated_txns: BTreeMap::new(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// Applies a topic config change (segment size, retention, ...).
    pub fn set_config(&mut self, config: LogConfig) {
        self.config = config;
    }

    /// Validates a produce payload, assigns offsets, applies the topic's
    /// compression and timestamp policy and appends it to the active segment
    /// (rolling first if needed). `leader_epoch` is stamped into each batch.
    pub fn append(
        &mut self,
        records: &[u8],
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        let headers = validate_produce(records, self.config.max_message_bytes)?;
        self.check_keys(records)?;
        self.append_as_leader(records, &headers, leader_epoch, now_ms, Origin::Client)
            .map(|(info, _)| info)
    }

    /// A compacted topic refuses records without a key, as Kafka's
    /// `LogValidator` does (INVALID_RECORD).
    fn check_keys(&self, records: &[u8]) -> Result<(), LogError> {
        if !self.config.compact {
            return Ok(());
        }
        let keyless = gregor_protocol::records::keyless_records(records)?;
        if !keyless.is_empty() {
            let partition = self
                .dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            return Err(LogError::KeylessRecordOnCompactedTopic {
                partition,
                batch_indexes: keyless,
            });
        }
        Ok(())
    }

    /// Starts verifying a producer's transactional batch (KIP-890): `None`
    /// when its transaction is already open here at `epoch` (nothing to
    /// verify), else the guard [`append_verified`](Self::append_verified)
    /// needs once the coordinator confirmed the partition.
    pub fn start_verification(
        &mut self,
        producer_id: i64,
        epoch: i16,
    ) -> Option<VerificationGuard> {
        self.start_verification_for(producer_id, epoch, false)
    }

    /// [`start_verification`](Self::start_verification) saying whether the
    /// client runs transaction version 2 (`epoch_bump`: Produce v12+), whose
    /// markers carry the epoch of its next transaction and so must not
    /// clear a verification of that epoch (Kafka's `UnifiedLog`).
    pub fn start_verification_for(
        &mut self,
        producer_id: i64,
        epoch: i16,
        epoch_bump: bool,
    ) -> Option<VerificationGuard> {
        if self.producers.has_ongoing_txn(producer_id, epoch) {
            return None;
        }
        Some(self.verifications.start(producer_id, epoch, epoch_bump))
    }

    /// [`append`](Self::append) of a transactional batch verified with the
    /// coordinator: refused (INVALID_TXN_STATE) unless its transaction is
    /// open here already or `guard` still holds (no marker of the producer
    /// was written since the verification started).
    pub fn append_verified(
        &mut self,
        records: &[u8],
        guard: Option<VerificationGuard>,
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        let headers = validate_produce(records, self.config.max_message_bytes)?;
        self.check_keys(records)?;
        for header in headers.iter().filter(|h| h.is_transactional()) {
            let (pid, epoch) = (header.producer_id, header.producer_epoch);
            let verified = self.producers.has_ongoing_txn(pid, epoch)
                || guard.is_some_and(|g| self.verifications.holds(pid, g));
            if !verified {
                return Err(LogError::UnverifiedTransaction { producer_id: pid });
            }
        }
        self.append_as_leader(records, &headers, leader_epoch, now_ms, Origin::Client)
            .map(|(info, _)| info)
    }

    /// Like [`append`](Self::append) for batches the broker writes itself
    /// (transaction markers, group coordinator records): control batches and
    /// several batches per call are accepted; offsets are still assigned.
    /// Batches with a producer id get Kafka's COORDINATOR checks (epoch,
    /// transaction state, and for markers the coordinator epoch), so a
    /// marker written this way is the same as one from
    /// [`append_txn_marker`](Self::append_txn_marker).
    pub fn append_as_coordinator(
        &mut self,
        records: &[u8],
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        self.append_coordinator_batches(records, leader_epoch, now_ms, LEGACY_TRANSACTION_VERSION)
            .map(|(info, _)| info)
    }

    /// Writes an end-transaction marker for `marker.producer_id` at the log
    /// end (Kafka's `appendEndTxnMarker` through `appendAsLeader` with the
    /// COORDINATOR origin): one uncompressed control batch stamped with
    /// `leader_epoch` and `now_ms`. It closes the producer's open
    /// transaction, and an ABORT records it in the aborted-transaction index.
    ///
    /// Refused, with nothing written, when the marker's producer epoch is
    /// older than the producer's, or for a transaction version 2 marker not
    /// newer unless it retries the marker that ended the producer's last
    /// transaction (INVALID_PRODUCER_EPOCH, KIP-1228), or its coordinator
    /// epoch older than the producer's last marker's
    /// (TRANSACTION_COORDINATOR_FENCED). A newer producer epoch is accepted
    /// (KIP-890: the coordinator bumps the epoch at every EndTxn) and
    /// becomes the producer's, whose next batch must then start at
    /// sequence 0.
    pub fn append_txn_marker(
        &mut self,
        marker: TxnMarker,
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<MarkerInfo, LogError> {
        let batch = marker_batch(&marker, now_ms)?;
        let (info, completed) = self.append_coordinator_batches(
            &batch,
            leader_epoch,
            now_ms,
            marker.transaction_version,
        )?;
        Ok(MarkerInfo {
            offset: info.base_offset,
            completed_txn_first_offset: completed.first().map(|c| c.first_offset),
            log_start_offset: info.log_start_offset,
        })
    }

    /// The one path of the broker's own batches, markers included; a
    /// marker is checked for its `transaction_version` (KIP-1228).
    fn append_coordinator_batches(
        &mut self,
        records: &[u8],
        leader_epoch: i32,
        now_ms: i64,
        transaction_version: i8,
    ) -> Result<(AppendInfo, Vec<CompletedTxn>), LogError> {
        let source = Source::Coordinator {
            max_message_bytes: self.config.max_message_bytes,
        };
        let headers = validate_batches(records, source)?;
        let origin = Origin::Coordinator {
            transaction_version,
        };
        let appended = self.append_as_leader(records, &headers, leader_epoch, now_ms, origin)?;
        // A marker ends the producer's transaction here: a verification
        // started before it must not let a late batch open another one.
        for header in headers.iter().filter(|h| h.is_control()) {
            self.verifications
                .marker(header.producer_id, header.producer_epoch);
        }
        Ok(appended)
    }

    /// Assigns offsets from the log end and appends validated batches.
    /// They are checked against producer state first; a client's
    /// duplicate is answered with the original's offsets and not written.
    /// Also returns the transactions the batches' markers closed.
    fn append_as_leader(
        &mut self,
        records: &[u8],
        headers: &[BatchHeader],
        leader_epoch: i32,
        now_ms: i64,
        origin: Origin,
    ) -> Result<(AppendInfo, Vec<CompletedTxn>), LogError> {
        let log_append_time = match self.config.timestamp_type {
            TimestampType::LogAppendTime => now_ms,
            TimestampType::CreateTime => -1,
        };
        let base_offset = self.log_end_offset();
        if headers.is_empty() {
            // Kafka treats an empty record set as a no-op.
            let info = AppendInfo::empty(base_offset, log_append_time, self.log_start_offset);
            return Ok((info, Vec::new()));
        }
        self.check_fits_segment(records.len())?;
        let stamp = Stamp {
            first_offset: base_offset,
            leader_epoch,
            compression: self.config.compression,
            timestamp_type: self.config.timestamp_type,
            now_ms,
            max_message_bytes: self.config.max_message_bytes,
        };
        let prepared = prepare(records, headers, stamp)?;
        // Recompression can grow a payload past the segment size.
        self.check_fits_segment(prepared.bytes.len())?;
        // Kafka's order: producer state is checked after offsets are
        // assigned and sizes checked, and before anything is written.
        let markers = Markers::strict(&prepared.bytes, &prepared.headers)?;
        let verdict = self
            .producers
            .validate(&prepared.headers, &markers, origin)?;
        if let Verdict::Duplicate(original) = verdict {
            let info = AppendInfo {
                base_offset: original.first_offset,
                last_offset: original.last_offset,
                log_append_time: original.timestamp,
                log_start_offset: self.log_start_offset,
                record_count: 0,
                duplicate: true,
            };
            return Ok((info, Vec::new()));
        }
        let last_offset = prepared
            .headers
            .last()
            .map_or(base_offset - 1, |h| h.last_offset());
        let record_count = prepared
            .headers
            .iter()
            .map(|h| i64::from(h.records_count))
            .sum();
        let completed = self.append_prepared(&prepared.bytes, &prepared.headers, now_ms)?;
        if self.epochs.observe(leader_epoch, base_offset) {
            self.epochs.persist()?;
        }
        let info = AppendInfo {
            base_offset,
            last_offset,
            log_append_time,
            log_start_offset: self.log_start_offset,
            record_count,
            duplicate: false,
        };
        Ok((info, completed))
    }

    /// Appends batches replicated from the leader as they are: offsets,
    /// epochs and timestamps kept. They are checked (CRC, sizes) and must
    /// start at or after the log end offset.
    pub fn append_replicated(
        &mut self,
        records: &[u8],
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        let headers = validate_batches(records, Source::Replica)?;
        let log_end = self.log_end_offset();
        let (Some(first), Some(last)) = (headers.first(), headers.last()) else {
            return Ok(AppendInfo::empty(log_end, -1, self.log_start_offset));
        };
        let ordered = headers
            .windows(2)
            .all(|w| w[1].base_offset > w[0].last_offset());
        if first.base_offset < log_end || !ordered {
            return Err(LogError::Corrupt(format!(
                "replicated batches at offset {} do not follow the log end offset {log_end}",
                first.base_offset
            )));
        }
        let (base_offset, last_offset) = (first.base_offset, last.last_offset());
        let record_count = headers.iter().map(|h| i64::from(h.records_count)).sum();
        // A fetch may carry more than a segment holds: append in runs that fit.
        let mut start = 0;
        let mut run_start = 0;
        let mut run_bytes = 0;
        for (i, header) in headers.iter().enumerate() {
            let size = header.total_size();
            self.check_fits_segment(size)?;
            if run_bytes + size > self.max_segment_bytes() as usize {
                self.append_prepared(
                    &records[start..start + run_bytes],
                    &headers[run_start..i],
                    now_ms,
                )?;
                start += run_bytes;
                run_start = i;
                run_bytes = 0;
            }
            run_bytes += size;
        }
        self.append_prepared(
            &records[start..start + run_bytes],
            &headers[run_start..],
            now_ms,
        )?;
        let mut learned = false;
        for header in &headers {
            learned |= self
                .epochs
                .observe(header.partition_leader_epoch, header.base_offset);
        }
        if learned {
            self.epochs.persist()?;
        }
        Ok(AppendInfo {
            base_offset,
            last_offset,
            log_append_time: -1,
            log_start_offset: self.log_start_offset,
            record_count,
            duplicate: false,
        })
    }

    fn check_fits_segment(&self, size: usize) -> Result<(), LogError> {
        if size as u64 > self.max_segment_bytes() {
            return Err(LogError::RecordListTooLarge {
                size,
                max: self.config.segment_bytes,
            });
        }
        Ok(())
    }

    /// Rolls if needed, writes, records the batches' producer state and
    /// the transactions their markers abort, and fsyncs when
    /// `flush.messages` is reached. Every write of batches to the log goes
    /// through here, so producer state and the aborted-transaction index
    /// follow the log. Returns the transactions the markers closed.
    fn append_prepared(
        &mut self,
        bytes: &[u8],
        headers: &[BatchHeader],
        now_ms: i64,
    ) -> Result<Vec<CompletedTxn>, LogError> {
        let (Some(first), Some(last)) = (headers.first(), headers.last()) else {
            return Ok(Vec::new());
        };
        if self.should_roll(
            bytes.len() as u64,
            first.base_offset,
            last.last_offset(),
            now_ms,
        ) {
            self.roll_at(first.base_offset)?;
        }
        let interval = self.config.index_interval_bytes;
        self.active_mut()?
            .append(bytes, headers, interval, now_ms)?;
        // In log order, one batch at a time, exactly as recovery replays
        // them, so a reopened log rebuilds the same state and index.
        let markers = Markers::lenient(bytes, headers);
        let mut completed = Vec::new();
        for (i, header) in headers.iter().enumerate() {
            match markers.get(i) {
                Some(marker) => completed.extend(self.producers.record_marker(header, marker)),
                None => self.producers.record(header),
            }
        }
        for entry in completed.iter().filter_map(CompletedTxn::aborted_entry) {
            self.active_mut()?.txn_index.append(entry)?;
        }
        for txn in &completed {
            self.unreplicated_txns
                .insert(txn.first_offset, txn.last_offset);
        }
        self.unflushed_messages += headers
            .iter()
            .map(|h| i64::from(h.records_count))
            .sum::<i64>();
        self.first_unflushed_ms.get_or_insert(now_ms);
        if self.unflushed_messages >= self.config.flush_messages {
            self.flush()?;
        }
        Ok(completed)
    }

    /// Kafka's roll rules: the batches would overflow `segment.bytes`, the
    /// segment is older than `segment.ms`, an index is full, or an offset
    /// would not fit relative to the segment's base offset.
    fn should_roll(&self, incoming: u64, first_offset: i64, last_offset: i64, now_ms: i64) -> bool {
        let Some(active) = self.active() else {
            return true;
        };
        if active.size == 0 {
            // An empty segment only needs replacing if offsets jump past it.
            return first_offset != active.base_offset
                && !active.fits_offsets(first_offset, last_offset);
        }
        active.size + incoming > self.max_segment_bytes()
            || self.roll_time_due(now_ms)
            || active.is_index_full(self.config.segment_index_bytes)
            || !active.fits_offsets(first_offset, last_offset)
    }

    fn roll_time_due(&self, now_ms: i64) -> bool {
        self.active().is_some_and(|active| {
            active.size > 0
                && active
                    .roll_base_ms
                    .is_some_and(|t| now_ms.saturating_sub(t) > self.config.segment_ms)
        })
    }

    /// Positions are stored as u32 and Kafka caps `segment.bytes` at i32::MAX.
    fn max_segment_bytes(&self) -> u64 {
        self.config.segment_bytes.min(i32::MAX as u64)
    }

    /// Seals and fsyncs the active segment and starts a new one at `base_offset`.
    fn roll_at(&mut self, base_offset: i64) -> Result<(), LogError> {
        match self.segments.last_mut() {
            Some(active) if active.size > 0 => {
                active.seal()?;
                active.flush()?;
                self.unflushed_messages = 0;
                self.first_unflushed_ms = None;
            }
            _ => {
                // Nothing to keep: replace the empty segment.
                if let Some(empty) = self.segments.pop() {
                    empty.delete()?;
                }
            }
        }
        self.segments.push(Segment::create(&self.dir, base_offset)?);
        sync_dir(&self.dir)?;
        // Kafka snapshots producer state at every roll, so a restart only
        // replays the active segment and retention can delete old segments
        // without losing the state of their producers.
        snapshot::write(&self.dir, base_offset, &self.producers)?;
        tracing::debug!(dir = %self.dir.display(), base_offset, "rolled segment");
        Ok(())
    }

    /// Reads whole batches starting at the batch containing `offset`, at most
    /// `max_bytes` (but at least one batch if `min_one` is set), never
    /// including a batch whose last offset reaches `max_offset` (exclusive;
    /// the high watermark for consumers). Returns data of one segment only,
    /// as Kafka does; the caller fetches again from the next offset.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        max_offset: i64,
        min_one: bool,
    ) -> Result<ReadInfo, LogError> {
        let slice = self.read_slice(offset, max_bytes, max_offset, min_one)?;
        Ok(ReadInfo {
            records: Bytes::from(slice.records.to_vec()?),
            log_start_offset: slice.log_start_offset,
            log_end_offset: slice.log_end_offset,
        })
    }

    /// [`read`](Self::read) without copying: the range of the segment file
    /// that holds the batches, with a handle that keeps it readable.
    pub fn read_slice(
        &self,
        offset: i64,
        max_bytes: usize,
        max_offset: i64,
        min_one: bool,
    ) -> Result<SliceInfo, LogError> {
        let log_end = self.log_end_offset();
        if offset < self.log_start_offset || offset > log_end {
            return Err(LogError::OffsetOutOfRange {
                requested: offset,
                log_start: self.log_start_offset,
                log_end,
            });
        }
        let info = |records: FileSlice| SliceInfo {
            records,
            log_start_offset: self.log_start_offset,
            log_end_offset: log_end,
        };
        if offset == log_end || offset >= max_offset {
            return Ok(info(FileSlice::empty()));
        }
        for segment in &self.segments[self.segment_index_for(offset)..] {
            let Some((position, _)) = segment.find_batch(offset)? else {
                continue;
            };
            // One handle for the scan and the slice that keeps it.
            let file = segment.log.handle()?;
            let (len, next_offset) =
                whole_batches_len(segment, &file, position, max_bytes, max_offset, min_one)?;
            let slice = FileSlice::new(file, position, len, next_offset);
            return Ok(info(slice));
        }
        Ok(info(FileSlice::empty()))
    }

    /// Index of the segment whose offsets include `offset`.
    fn segment_index_for(&self, offset: i64) -> usize {
        self.segments
            .partition_point(|s| s.base_offset <= offset)
            .saturating_sub(1)
    }

    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    /// The offset the next appended record will get.
    pub fn log_end_offset(&self) -> i64 {
        self.active()
            .map_or(self.log_start_offset, |s| s.next_offset)
    }

    /// Total bytes of all segments.
    pub fn size_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.size).sum()
    }

    /// Number of segments (tests and metrics).
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Base offsets of the segments, oldest first (tests and tools).
    pub fn segment_base_offsets(&self) -> Vec<i64> {
        self.segments.iter().map(|s| s.base_offset).collect()
    }

    /// The first offset whose timestamp is >= `timestamp`, with that record's
    /// timestamp (ListOffsets by time). `None` if every record is older.
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<(i64, i64)>, LogError> {
        for segment in &self.segments {
            if segment.next_offset <= self.log_start_offset || segment.max_timestamp < timestamp {
                continue;
            }
            if let Some(found) = segment.offset_for_timestamp(timestamp, self.log_start_offset)? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// The timestamp of the record at `offset` (the next one when compaction
    /// removed it); `None` outside the log. Reads one batch.
    pub fn timestamp_at(&self, offset: i64) -> Result<Option<i64>, LogError> {
        if offset < self.log_start_offset || offset >= self.log_end_offset() {
            return Ok(None);
        }
        for segment in &self.segments[self.segment_index_for(offset)..] {
            if let Some(timestamp) = segment.timestamp_at(offset)? {
                return Ok(Some(timestamp));
            }
        }
        Ok(None)
    }

    /// The offset and timestamp of the record with the largest timestamp
    /// (ListOffsets MAX_TIMESTAMP); the first such record when several share
    /// it. `None` for an empty log or one without timestamps.
    pub fn max_timestamp(&self) -> Result<Option<(i64, i64)>, LogError> {
        let mut best: Option<&Segment> = None;
        for segment in &self.segments {
            let better = match best {
                Some(b) => segment.max_timestamp > b.max_timestamp,
                None => segment.max_timestamp >= 0,
            };
            if better {
                best = Some(segment);
            }
        }
        match best {
            Some(segment) => segment.record_with_max_timestamp(),
            None => Ok(None),
        }
    }

    /// Deletes whole segments past `retention.ms` / `retention.bytes`
    /// (never the active one), and those wholly below the log start offset,
    /// and advances the log start offset. Returns how many segments were deleted.
    pub fn enforce_retention(&mut self, now_ms: i64) -> Result<usize, LogError> {
        let policy = Policy {
            now_ms,
            // Only `cleanup.policy=delete` expires data by time or size;
            // DeleteRecords still applies to compacted topics.
            retention_ms: if self.config.delete {
                self.config.retention_ms
            } else {
                -1
            },
            retention_bytes: if self.config.delete {
                self.config.retention_bytes
            } else {
                -1
            },
            log_start_offset: self.log_start_offset,
        };
        let candidates: Vec<SegmentFacts> = self
            .segments
            .windows(2)
            .map(|w| SegmentFacts {
                size: w[0].size,
                largest_timestamp: w[0].largest_timestamp(),
                next_base_offset: w[1].base_offset,
            })
            .collect();
        let count = segments_to_delete(&candidates, self.size_bytes(), policy);
        self.delete_oldest(count)?;
        if count > 0 {
            tracing::info!(dir = %self.dir.display(), segments = count, log_start_offset = self.log_start_offset, "retention deleted segments");
        }
        Ok(count)
    }

    /// Moves the log start offset forward (DeleteRecords); segments wholly
    /// below it are deleted. The caller checks `offset` against the high
    /// watermark; it is capped at the log end offset here.
    pub fn advance_log_start_offset(&mut self, offset: i64) -> Result<(), LogError> {
        let offset = offset.min(self.log_end_offset());
        if offset <= self.log_start_offset {
            return Ok(());
        }
        self.set_log_start_offset(offset)?;
        let below = self
            .segments
            .windows(2)
            .take_while(|w| w[1].base_offset <= offset)
            .count();
        self.delete_oldest(below)
    }

    /// Removes every record at or after `offset` (follower truncation). A
    /// batch containing `offset` is removed whole.
    pub fn truncate_to(&mut self, offset: i64) -> Result<(), LogError> {
        if offset >= self.log_end_offset() {
            return Ok(());
        }
        self.truncations += 1;
        let below_first = match self.segments.first() {
            Some(first) => offset <= first.base_offset,
            None => true,
        };
        if below_first {
            return self.truncate_fully_and_start_at(offset.max(0));
        }
        while self.segments.len() > 1 && self.active().is_some_and(|s| s.base_offset >= offset) {
            if let Some(segment) = self.segments.pop() {
                segment.delete()?;
            }
        }
        let interval = self.config.index_interval_bytes;
        let active = self.active_mut()?;
        active.truncate_to(offset, interval)?;
        active.flush()?;
        if self.log_start_offset > self.log_end_offset() {
            let end = self.log_end_offset();
            self.set_log_start_offset(end)?;
        }
        if self.epochs.truncate_from_end(self.log_end_offset()) {
            self.epochs.persist()?;
        }
        self.verifications.clear_all();
        self.truncate_cleaner_checkpoint(offset)?;
        // Rebuilt rather than undone: the newest snapshot still within the
        // log plus a replay of the batches after it.
        // The active segment's aborted-transaction index was cut with it.
        self.producers = producer_recovery::load(&self.dir, &mut self.segments, false)?;
        self.unreplicated_txns.clear();
        Ok(())
    }

    /// Deletes every segment and restarts the log empty at `offset`.
    pub fn truncate_fully_and_start_at(&mut self, offset: i64) -> Result<(), LogError> {
        self.truncations += 1;
        // Every old segment is removed from the list even if deleting its
        // files fails, so the new empty one is always the only segment.
        let mut deleted: Result<(), io::Error> = Ok(());
        for segment in std::mem::take(&mut self.segments) {
            if let Err(e) = segment.delete() {
                deleted = deleted.and(Err(e));
            }
        }
        self.segments.push(Segment::create(&self.dir, offset)?);
        deleted?;
        sync_dir(&self.dir)?;
        if self.epochs.clear() {
            self.epochs.persist()?;
        }
        snapshot::delete_where(&self.dir, |_| true)?;
        self.producers.clear();
        self.unreplicated_txns.clear();
        self.set_log_start_offset(offset)?;
        self.truncate_cleaner_checkpoint(offset)?;
        self.unflushed_messages = 0;
        self.first_unflushed_ms = None;
        Ok(())
    }

    fn set_log_start_offset(&mut self, offset: i64) -> Result<(), LogError> {
        // Persisted first: a crash then never resurrects deleted records.
        checkpoint::write_offset(&self.dir, LOG_START_OFFSET_FILE, offset)?;
        self.log_start_offset = offset;
        if self.epochs.truncate_from_start(offset) {
            self.epochs.persist()?;
        }
        Ok(())
    }

    /// Deletes the `count` oldest segments (never the active one).
    fn delete_oldest(&mut self, count: usize) -> Result<(), LogError> {
        let count = count.min(self.segments.len().saturating_sub(1));
        let Some(new_start) = self.segments.get(count).map(|s| s.base_offset) else {
            return Ok(());
        };
        if count == 0 {
            return Ok(());
        }
        if new_start > self.log_start_offset {
            self.set_log_start_offset(new_start)?;
        }
        for segment in self.segments.drain(..count) {
            segment.delete()?;
        }
        // Their producers stay in memory (Kafka keeps producer state until
        // it expires, KIP-360); the snapshot taken when the new first
        // segment was rolled carries them across restarts.
        snapshot::delete_where(&self.dir, |o| o < new_start)?;
        Ok(())
    }

    /// Rolls the active segment if it is older than `segment.ms`.
    pub fn roll_if_due(&mut self, now_ms: i64) -> Result<(), LogError> {
        if self.roll_time_due(now_ms) {
            let next = self.log_end_offset();
            self.roll_at(next)?;
        }
        Ok(())
    }

    /// fsyncs if `flush.ms` has passed since the oldest unflushed append.
    pub fn flush_if_due(&mut self, now_ms: i64) -> Result<(), LogError> {
        match self.first_unflushed_ms {
            Some(t) if now_ms.saturating_sub(t) >= self.config.flush_ms => self.flush(),
            _ => Ok(()),
        }
    }

    /// fsyncs the active segment and its indexes.
    pub fn flush(&mut self) -> Result<(), LogError> {
        self.active_mut()?.flush()?;
        self.epochs.sync()?;
        self.unflushed_messages = 0;
        self.first_unflushed_ms = None;
        Ok(())
    }

    /// Flushes and closes, leaving indexes trimmed and consistent so a clean
    /// restart does not re-read data.
    pub fn close(mut self) -> Result<(), LogError> {
        self.active_mut()?.seal()?;
        self.flush()?;
        self.snapshot_producers()
    }

    /// Writes a producer-state snapshot at the log end so the next open
    /// replays nothing, and drops the older snapshots inside the active
    /// segment that it makes redundant.
    fn snapshot_producers(&self) -> Result<(), LogError> {
        let log_end = self.log_end_offset();
        let active_base = self.active().map_or(log_end, |s| s.base_offset);
        snapshot::write(&self.dir, log_end, &self.producers)?;
        snapshot::delete_where(&self.dir, |o| o > active_base && o < log_end)?;
        Ok(())
    }

    /// Forgets producers whose last batch is `producer_id_expiration_ms`
    /// (`producer.id.expiration.ms`, default 86400000) or more older than
    /// `now_ms`, as Kafka's periodic producer expiration does. Returns how
    /// many were dropped. The broker calls this from its maintenance loop.
    pub fn expire_producers(&mut self, now_ms: i64, producer_id_expiration_ms: i64) -> usize {
        self.producers.expire(now_ms, producer_id_expiration_ms)
    }

    /// The idempotent producers this partition knows, by producer id
    /// (DescribeProducers).
    pub fn producer_states(&self) -> Vec<ProducerStateInfo> {
        self.producers.describe()
    }

    /// The first offset of the oldest open transaction, at least the log
    /// start offset (Kafka keeps an open transaction whose first batches
    /// retention deleted, and clamps it the same way). `None` when no
    /// transaction is open.
    ///
    /// The broker's last stable offset (LSO) is
    /// `min(first_unstable_offset, high_watermark)`, or the high watermark
    /// when this is `None`. read_committed fetches read with
    /// [`read`](Self::read)`(offset, max_bytes, lso, min_one)` and answer
    /// [`aborted_transactions`](Self::aborted_transactions) alongside; the
    /// LSO is also what ListOffsets LATEST answers them.
    ///
    /// Open transactions only: [`last_stable_offset`](Self::last_stable_offset)
    /// also keeps a completed transaction unstable until the high watermark
    /// passes its marker, as Kafka does.
    pub fn first_unstable_offset(&self) -> Option<i64> {
        self.producers
            .first_unstable_offset()
            .map(|offset| offset.max(self.log_start_offset))
    }

    /// Kafka's LSO: `min(first unstable offset, high_watermark)`, where a
    /// transaction stays unstable until the high watermark passes its marker
    /// (with followers, a marker at the leader's log end is not yet
    /// committed: the records stay invisible to read_committed until it is).
    /// Forgets the transactions whose marker the high watermark passed. A
    /// high watermark past the log end (a follower behind its leader's)
    /// counts as the log end.
    pub fn last_stable_offset(&mut self, high_watermark: i64) -> i64 {
        let high_watermark = high_watermark.min(self.log_end_offset());
        self.forget_replicated_txns(high_watermark);
        let unreplicated = self.unreplicated_txns.keys().next().copied();
        let first = match (self.producers.first_unstable_offset(), unreplicated) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        first.map_or(high_watermark, |f| {
            f.max(self.log_start_offset).min(high_watermark)
        })
    }

    /// The high watermark is now `high_watermark`: transactions whose
    /// marker is below it are stable.
    pub fn forget_replicated_txns(&mut self, high_watermark: i64) {
        self.unreplicated_txns
            .retain(|_, marker| *marker >= high_watermark);
    }

    /// The aborted transactions whose range `[first offset, marker offset]`
    /// overlaps `[from_offset, upper_bound_offset)`: what a Fetch response
    /// must list for read_committed consumers, for records read from
    /// `from_offset` up to (excluding) `upper_bound_offset` (the offset
    /// after the last returned batch, or the LSO). As Kafka's
    /// `collectAbortedTransactions`: the aborted-transaction indexes are
    /// scanned from the segment holding `from_offset` on, until an entry
    /// shows that no transaction overlapping the range was still open.
    pub fn aborted_transactions(
        &self,
        from_offset: i64,
        upper_bound_offset: i64,
    ) -> Vec<AbortedTxn> {
        let mut out = Vec::new();
        // Like Kafka, nothing is found below the first segment.
        match self.segments.first() {
            Some(first) if from_offset >= first.base_offset => {}
            _ => return out,
        }
        for segment in &self.segments[self.segment_index_for(from_offset)..] {
            if segment
                .txn_index
                .collect(from_offset, upper_bound_offset, &mut out)
            {
                break;
            }
        }
        out
    }

    /// Closes the log and removes its directory (topic deletion).
    pub fn delete(self) -> Result<(), LogError> {
        let dir = self.dir.clone();
        drop(self);
        match fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// Records that `epoch` starts at `start_offset` (a broker becoming
    /// leader assigns its new epoch at its log end offset, as Kafka's
    /// `makeLeader` does, so diverging followers can be told where the
    /// epochs they lack end even before the new leader has written).
    pub fn assign_epoch(&mut self, epoch: i32, start_offset: i64) -> Result<(), LogError> {
        if self.epochs.assign(epoch, start_offset) {
            if self.is_empty() {
                // A new partition's leader: see `persist_unsynced`. The
                // next flush makes it durable along with the first records.
                self.epochs.persist_unsynced()?;
            } else {
                self.epochs.persist()?;
            }
        }
        Ok(())
    }

    /// No record at all: a new partition (or one truncated to nothing).
    fn is_empty(&self) -> bool {
        self.segments.iter().all(|s| s.size == 0)
    }

    /// The latest leader epoch that wrote to this log.
    pub fn latest_epoch(&self) -> Option<i32> {
        self.epochs.latest_epoch()
    }

    /// OffsetsForLeaderEpoch: the largest epoch at or below `epoch` and the
    /// offset where the epoch after it starts (the log end offset for the
    /// latest epoch); `(-1, -1)` when unknown, as Kafka answers.
    pub fn end_offset_for_epoch(&self, epoch: i32) -> (i32, i64) {
        self.epochs.end_offset_for(epoch, self.log_end_offset())
    }

    /// The leader epoch in force at `offset` (ListOffsets answers carry it).
    pub fn epoch_for_offset(&self, offset: i64) -> Option<i32> {
        self.epochs.epoch_for_offset(offset)
    }

    /// The leader epoch cache, oldest epoch first.
    pub fn leader_epochs(&self) -> Vec<EpochEntry> {
        self.epochs.entries().to_vec()
    }

    /// The headers of the batches in the log, in order (tests and tools).
    pub fn batch_headers(&self) -> Result<Vec<BatchHeader>, LogError> {
        let mut out = Vec::new();
        for segment in &self.segments {
            out.extend(segment.headers_from(0)?.into_iter().map(|(_, h)| h));
        }
        Ok(out)
    }

    /// The segment appends go to. Only an I/O failure while replacing
    /// segments can leave the log without one; it then refuses writes.
    fn active(&self) -> Option<&Segment> {
        self.segments.last()
    }

    fn active_mut(&mut self) -> Result<&mut Segment, LogError> {
        self.segments.last_mut().ok_or_else(|| {
            LogError::Corrupt("log has no active segment after an earlier I/O failure".into())
        })
    }
}

/// Length of the run of whole batches at `position` that a read returns,
/// and the offset after its last batch.
fn whole_batches_len(
    segment: &Segment,
    file: &File,
    position: u64,
    max_bytes: usize,
    max_offset: i64,
    min_one: bool,
) -> Result<(usize, i64), LogError> {
    let mut scanner = HeaderScanner::new(file, position, segment.size);
    let mut len = 0usize;
    let mut next_offset = -1;
    loop {
        let header = match scanner.next_step()? {
            Step::Batch { header, .. } => header,
            Step::End => return Ok((len, next_offset)),
            Step::Invalid { position, reason } => {
                return Err(LogError::Corrupt(format!(
                    "{} at {position}: {reason}",
                    segment.log.path().display()
                )))
            }
        };
        if header.last_offset() >= max_offset {
            return Ok((len, next_offset));
        }
        let size = header.total_size();
        if len + size > max_bytes {
            let first_too_big = len == 0 && min_one;
            return Ok(if first_too_big {
                (size, header.last_offset() + 1)
            } else {
                (len, next_offset)
            });
        }
        len += size;
        next_offset = header.last_offset() + 1;
    }
}

/// Base offsets of the segments in `dir`, sorted. Leftover temporary files
/// and index files without their log are removed.
fn list_segments(dir: &Path) -> io::Result<Vec<i64>> {
    let mut bases = Vec::new();
    let mut index_files = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.ends_with(".tmp") || name.ends_with(".deleted") {
            fs::remove_file(entry.path())?;
            continue;
        }
        let Some((stem, suffix)) = name.split_once('.') else {
            continue;
        };
        let Some(base) = parse_base_offset(stem) else {
            continue;
        };
        match suffix {
            LOG_SUFFIX => bases.push(base),
            INDEX_SUFFIX | TIME_INDEX_SUFFIX | TXN_INDEX_SUFFIX => {
                index_files.push((base, entry.path()))
            }
            _ => {}
        }
    }
    bases.sort_unstable();
    for (base, path) in index_files {
        if bases.binary_search(&base).is_err() {
            fs::remove_file(path)?;
        }
    }
    Ok(bases)
}

fn parse_base_offset(stem: &str) -> Option<i64> {
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

/// Makes created, renamed or removed directory entries durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Loads the leader epoch cache and makes it agree with the log: after an
/// unclean shutdown the active segment's epochs are re-learned from its
/// batches (the checkpoint may predate them), then entries outside
/// `[log_start, log_end)` are dropped.
fn load_epochs(
    dir: &Path,
    segments: &[Segment],
    recovered: bool,
    log_start: i64,
    log_end: i64,
) -> Result<LeaderEpochCache, LogError> {
    let mut epochs = LeaderEpochCache::load(dir)?;
    let mut changed = false;
    if recovered {
        if let Some(active) = segments.last() {
            for (_, header) in active.headers_from(0)? {
                changed |= epochs.observe(header.partition_leader_epoch, header.base_offset);
            }
        }
    }
    // After a crash an epoch may start where its records were torn off: it
    // goes, as Kafka's truncation at recovery. After a clean stop one
    // starting at the log end was assigned by a leader that wrote nothing
    // since, and stays (see `truncate_past_end`).
    changed |= if recovered {
        epochs.truncate_from_end(log_end)
    } else {
        epochs.truncate_past_end(log_end)
    };
    changed |= epochs.truncate_from_start(log_start);
    if changed {
        epochs.persist()?;
    }
    Ok(epochs)
}
