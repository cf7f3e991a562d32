//! Idempotent and transactional producer state of one partition: for each
//! producer id its epoch, its last few batches, its open transaction and
//! the coordinator epoch of its last transaction marker, as Kafka's
//! `ProducerStateManager` keeps them. A pure in-memory state machine: the
//! partition log decides when to validate, record, persist (see
//! `producer_snapshot`) and rebuild it.
//!
//! The rules are those of Kafka 4's `ProducerAppendInfo` (KIP-98 with the
//! KIP-360 relaxations and KIP-890's epoch bump at every transaction end):
//! * a batch whose epoch and sequence range equal one of the producer's last
//!   five batches is a duplicate: not written, answered with the original
//!   offsets;
//! * an epoch older than the known one is INVALID_PRODUCER_EPOCH;
//! * a new epoch must start at sequence 0, except for a producer the
//!   partition knows nothing about, which may start anywhere (its state may
//!   have expired or been deleted by retention: KIP-360 made the broker stop
//!   answering UNKNOWN_PRODUCER_ID and accept it instead);
//! * within an epoch each batch must start right after the last one, with
//!   the sequence wrapping from i32::MAX to 0; otherwise
//!   OUT_OF_ORDER_SEQUENCE_NUMBER;
//! * a transactional data batch of a producer without an open transaction
//!   opens one at its base offset; a non-transactional batch while one is
//!   open is INVALID_TXN_STATE;
//! * an end-transaction marker closes the open transaction (if any). Its
//!   epoch may not be older than the producer's, nor its coordinator epoch
//!   older than the last marker's (TRANSACTION_COORDINATOR_FENCED); a newer
//!   epoch becomes the producer's and restarts its sequences at 0.
//!
//! Client batches get every check, the broker's own (coordinator) batches
//! all but the sequence and duplicate checks, and batches already in a log
//! (replicated from the leader or re-read at open) none, as Kafka's
//! CLIENT / COORDINATOR / REPLICATION origins do.

use crate::txn_index::AbortedTxnEntry;
use crate::txn_marker::{EndTxnMarker, Markers};
use crate::LogError;
use gregor_protocol::batch::BatchHeader;
use std::collections::{BTreeMap, VecDeque};

/// Kafka's `ProducerStateEntry.NUM_BATCHES_TO_RETAIN`: the Java producer
/// keeps at most five requests in flight, so a retry is always one of them.
pub(crate) const BATCHES_TO_RETAIN: usize = 5;

/// Kafka's RecordBatch.NO_PRODUCER_EPOCH / NO_SEQUENCE / NO_TIMESTAMP.
const NO_PRODUCER_EPOCH: i16 = -1;
const NO_SEQUENCE: i32 = -1;
pub(crate) const NO_TIMESTAMP: i64 = -1;
/// The transaction version of a marker whose request did not say (a
/// WriteTxnMarkers v0/v1): checked as Kafka checks TV0/1 markers.
pub const LEGACY_TRANSACTION_VERSION: i8 = 0;

/// The coordinator epoch of a producer no marker has been written for.
pub(crate) const NO_COORDINATOR_EPOCH: i32 = -1;

/// One appended batch of a producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchMeta {
    pub first_seq: i32,
    pub last_seq: i32,
    pub first_offset: i64,
    pub last_offset: i64,
    /// The batch's max timestamp as stored (log-append time if the topic uses it).
    pub timestamp: i64,
}

impl BatchMeta {
    fn of(header: &BatchHeader) -> BatchMeta {
        BatchMeta {
            first_seq: header.base_sequence,
            last_seq: last_sequence(header),
            first_offset: header.base_offset,
            last_offset: header.last_offset(),
            timestamp: header.max_timestamp,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProducerEntry {
    pub epoch: i16,
    /// Oldest first, at most [`BATCHES_TO_RETAIN`].
    pub batches: VecDeque<BatchMeta>,
    /// Coordinator epoch of the producer's last marker.
    pub coordinator_epoch: i32,
    /// First offset of the producer's open transaction.
    pub current_txn_first_offset: Option<i64>,
    /// Max timestamp of its last batch or marker: what expiry counts from
    /// (Kafka's `ProducerStateEntry.lastTimestamp`). A marker may clear the
    /// batches, so this is kept on its own.
    pub last_timestamp: i64,
}

impl ProducerEntry {
    pub fn empty() -> ProducerEntry {
        ProducerEntry {
            epoch: NO_PRODUCER_EPOCH,
            batches: VecDeque::new(),
            coordinator_epoch: NO_COORDINATOR_EPOCH,
            current_txn_first_offset: None,
            last_timestamp: NO_TIMESTAMP,
        }
    }

    pub fn last_seq(&self) -> i32 {
        self.batches.back().map_or(NO_SEQUENCE, |b| b.last_seq)
    }

    /// Kafka's `maybeUpdateProducerEpoch`: a different epoch forgets the
    /// old epoch's batches, so its sequences start over.
    fn set_epoch(&mut self, epoch: i16) {
        if self.epoch != epoch {
            self.epoch = epoch;
            self.batches.clear();
        }
    }

    /// Kafka's `addBatch`.
    fn add(&mut self, epoch: i16, batch: BatchMeta) {
        self.set_epoch(epoch);
        if self.batches.len() == BATCHES_TO_RETAIN {
            self.batches.pop_front();
        }
        self.batches.push_back(batch);
        self.last_timestamp = batch.timestamp;
    }

    /// A data batch (checks done): cached, and opening a transaction if it
    /// is transactional and none is open. Returns the transaction it opened.
    fn apply_data(&mut self, header: &BatchHeader) -> Option<i64> {
        self.add(header.producer_epoch, BatchMeta::of(header));
        if header.is_transactional() && self.current_txn_first_offset.is_none() {
            self.current_txn_first_offset = Some(header.base_offset);
            return Some(header.base_offset);
        }
        None
    }

    /// A marker (checks done), as Kafka's `update(epoch, coordinatorEpoch,
    /// timestamp)`: returns the first offset of the transaction it closed.
    fn apply_marker(&mut self, header: &BatchHeader, marker: EndTxnMarker) -> Option<i64> {
        self.set_epoch(header.producer_epoch);
        self.coordinator_epoch = marker.coordinator_epoch;
        self.last_timestamp = header.max_timestamp;
        self.current_txn_first_offset.take()
    }

    fn find_duplicate(&self, header: &BatchHeader) -> Option<BatchMeta> {
        if header.producer_epoch != self.epoch {
            return None;
        }
        let last_seq = last_sequence(header);
        self.batches
            .iter()
            .find(|b| b.first_seq == header.base_sequence && b.last_seq == last_seq)
            .copied()
    }
}

/// Who is appending, which decides the checks (Kafka's `AppendOrigin`;
/// replicated batches are recorded without any).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    Client,
    /// The broker's own batches; a marker among them carries the
    /// transaction version of the WriteTxnMarkers that asked for it
    /// (KIP-1228, request metadata only: never stored in the log).
    Coordinator {
        transaction_version: i8,
    },
}

/// What a client's batches may do to the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Write them.
    Append,
    /// Already written: answer with this batch's offsets, write nothing.
    Duplicate(BatchMeta),
}

/// A transaction a marker closed (Kafka's `CompletedTxn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CompletedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    /// The marker's offset.
    pub last_offset: i64,
    pub aborted: bool,
    /// Kafka's `lastStableOffset(completedTxn)`: the first offset of the
    /// oldest transaction still open, else the offset after the marker.
    pub last_stable_offset: i64,
}

impl CompletedTxn {
    /// The aborted-transaction index entry an abort leaves.
    pub fn aborted_entry(&self) -> Option<AbortedTxnEntry> {
        self.aborted.then_some(AbortedTxnEntry {
            producer_id: self.producer_id,
            first_offset: self.first_offset,
            last_offset: self.last_offset,
            last_stable_offset: self.last_stable_offset,
        })
    }
}

/// A producer as DescribeProducers reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerStateInfo {
    pub producer_id: i64,
    pub producer_epoch: i16,
    /// -1 if the producer has no batch in the current epoch.
    pub last_sequence: i32,
    /// Max timestamp of its last batch or marker, -1 if none.
    pub last_timestamp: i64,
    /// Coordinator epoch of its last transaction marker, -1 if none.
    pub coordinator_epoch: i32,
    /// First offset of its open transaction, -1 if none.
    pub current_txn_start_offset: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ProducerStateMap {
    /// Ordered so snapshots and DescribeProducers answers are deterministic.
    producers: BTreeMap<i64, ProducerEntry>,
    /// Open transactions: first offset -> producer id (Kafka's
    /// `ongoingTxns`). Always the entries' `current_txn_first_offset`s.
    ongoing: BTreeMap<i64, i64>,
}

impl ProducerStateMap {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.producers.len()
    }

    pub fn entries(&self) -> impl Iterator<Item = (i64, &ProducerEntry)> {
        self.producers.iter().map(|(pid, e)| (*pid, e))
    }

    /// Puts back an entry read from a snapshot.
    pub fn insert(&mut self, producer_id: i64, entry: ProducerEntry) {
        let first = entry.current_txn_first_offset;
        if let Some(old) = self.producers.insert(producer_id, entry) {
            if let Some(old_first) = old.current_txn_first_offset {
                self.ongoing.remove(&old_first);
            }
        }
        if let Some(first) = first {
            self.ongoing.insert(first, producer_id);
        }
    }

    pub fn clear(&mut self) {
        self.producers.clear();
        self.ongoing.clear();
    }

    /// The producer has a transaction open here at `epoch` (Kafka's
    /// `hasOngoingTransaction`): its batches need no verification.
    pub fn has_ongoing_txn(&self, producer_id: i64, epoch: i16) -> bool {
        self.producers
            .get(&producer_id)
            .is_some_and(|e| e.epoch == epoch && e.current_txn_first_offset.is_some())
    }

    /// Checks batches about to be appended (offsets already assigned)
    /// against the state without changing it. Batches of the same producer
    /// later in `headers` are checked against the state the earlier ones
    /// would leave. `markers` holds the control batches' markers.
    pub fn validate(
        &self,
        headers: &[BatchHeader],
        markers: &Markers,
        origin: Origin,
    ) -> Result<Verdict, LogError> {
        // Kafka's `updatedEntry`: the state as of the batches checked so
        // far. Only filled when a call holds several batches (never for a
        // produce request, which carries one), so the hot path copies nothing.
        let mut pending: BTreeMap<i64, ProducerEntry> = BTreeMap::new();
        let empty = ProducerEntry::empty();
        let mut remaining = headers.iter().filter(|h| h.producer_id >= 0).count();
        for (i, header) in headers.iter().enumerate() {
            if header.producer_id < 0 {
                continue;
            }
            remaining -= 1;
            let pid = header.producer_id;
            let current = self.producers.get(&pid);
            let updated = pending.get(&pid).or(current).unwrap_or(&empty);
            let next = if header.is_control() {
                // An empty control batch changes nothing (Kafka).
                let Some(marker) = markers.get(i) else {
                    continue;
                };
                let transaction_version = match origin {
                    Origin::Coordinator {
                        transaction_version,
                    } => transaction_version,
                    Origin::Client => LEGACY_TRANSACTION_VERSION,
                };
                check_marker_epoch(header, updated, transaction_version)?;
                check_coordinator_epoch(header, marker, updated)?;
                (remaining > 0).then(|| {
                    let mut next = updated.clone();
                    next.apply_marker(header, marker);
                    next
                })
            } else {
                // Kafka looks for duplicates in the committed state only.
                if origin == Origin::Client {
                    if let Some(duplicate) = current.and_then(|e| e.find_duplicate(header)) {
                        return Ok(Verdict::Duplicate(duplicate));
                    }
                }
                check_epoch(header, updated)?;
                if origin == Origin::Client {
                    let known_epoch = current.map_or(NO_PRODUCER_EPOCH, |e| e.epoch);
                    check_sequence(header, updated, known_epoch)?;
                }
                check_txn_state(header, updated)?;
                (remaining > 0).then(|| {
                    let mut next = updated.clone();
                    next.apply_data(header);
                    next
                })
            };
            if let Some(next) = next {
                pending.insert(pid, next);
            }
        }
        Ok(Verdict::Append)
    }

    /// Learns a data batch that is now in the log (appended, replicated or
    /// re-read at open). No checks: replicas trust their leader, as Kafka's
    /// REPLICATION origin does. Control batches go to `record_marker`.
    pub fn record(&mut self, header: &BatchHeader) {
        if header.producer_id < 0 || header.is_control() {
            return;
        }
        let entry = self
            .producers
            .entry(header.producer_id)
            .or_insert_with(ProducerEntry::empty);
        if let Some(first) = entry.apply_data(header) {
            self.ongoing.insert(first, header.producer_id);
        }
    }

    /// Learns a marker that is now in the log; returns the transaction it
    /// closed, if its producer had one open. Like Kafka, a marker for a
    /// producer the partition does not know still creates its state.
    pub fn record_marker(
        &mut self,
        header: &BatchHeader,
        marker: EndTxnMarker,
    ) -> Option<CompletedTxn> {
        if header.producer_id < 0 {
            return None;
        }
        let first_offset = self
            .producers
            .entry(header.producer_id)
            .or_insert_with(ProducerEntry::empty)
            .apply_marker(header, marker)?;
        self.ongoing.remove(&first_offset);
        let last_offset = header.base_offset;
        Some(CompletedTxn {
            producer_id: header.producer_id,
            first_offset,
            last_offset,
            aborted: !marker.commit,
            last_stable_offset: self.first_unstable_offset().unwrap_or(last_offset + 1),
        })
    }

    /// The first offset of the oldest open transaction.
    pub fn first_unstable_offset(&self) -> Option<i64> {
        self.ongoing.keys().next().copied()
    }

    /// Drops producers whose last batch or marker is at least
    /// `expiration_ms` old (`producer.id.expiration.ms`), except those with
    /// an open transaction, as Kafka does. Returns how many were dropped.
    pub fn expire(&mut self, now_ms: i64, expiration_ms: i64) -> usize {
        let before = self.producers.len();
        self.producers.retain(|_, e| {
            e.current_txn_first_offset.is_some()
                || now_ms.saturating_sub(e.last_timestamp) < expiration_ms
        });
        before - self.producers.len()
    }

    pub fn describe(&self) -> Vec<ProducerStateInfo> {
        self.producers
            .iter()
            .map(|(pid, e)| ProducerStateInfo {
                producer_id: *pid,
                producer_epoch: e.epoch,
                last_sequence: e.last_seq(),
                last_timestamp: e.last_timestamp,
                coordinator_epoch: e.coordinator_epoch,
                current_txn_start_offset: e.current_txn_first_offset.unwrap_or(-1),
            })
            .collect()
    }
}

fn check_epoch(header: &BatchHeader, updated: &ProducerEntry) -> Result<(), LogError> {
    if header.producer_epoch < updated.epoch {
        return Err(LogError::InvalidProducerEpoch {
            producer_id: header.producer_id,
            epoch: header.producer_epoch,
            current: updated.epoch,
        });
    }
    Ok(())
}

/// Kafka's `checkProducerEpoch` for a marker (KIP-1228). A transaction
/// version 2 coordinator bumps the epoch before writing the markers, so a
/// valid TV2 marker's epoch is strictly above the producer's: an equal one
/// is a late marker of an earlier transaction and must not end the one now
/// open (INVALID_PRODUCER_EPOCH), unless no transaction is open, when it is
/// a retry of a marker already written (KAFKA-19999) and is accepted.
/// Legacy (TV0/1) markers have the transaction's own epoch: not older.
fn check_marker_epoch(
    header: &BatchHeader,
    updated: &ProducerEntry,
    transaction_version: i8,
) -> Result<(), LogError> {
    if transaction_version < 2 {
        return check_epoch(header, updated);
    }
    let stale = header.producer_epoch <= updated.epoch;
    let idempotent_retry =
        header.producer_epoch == updated.epoch && updated.current_txn_first_offset.is_none();
    if stale && !idempotent_retry {
        return Err(LogError::InvalidProducerEpoch {
            producer_id: header.producer_id,
            epoch: header.producer_epoch,
            current: updated.epoch,
        });
    }
    Ok(())
}

/// A marker from an older coordinator than the last one is a zombie's.
fn check_coordinator_epoch(
    header: &BatchHeader,
    marker: EndTxnMarker,
    updated: &ProducerEntry,
) -> Result<(), LogError> {
    if marker.coordinator_epoch < updated.coordinator_epoch {
        return Err(LogError::TransactionCoordinatorFenced {
            producer_id: header.producer_id,
            coordinator_epoch: marker.coordinator_epoch,
            current: updated.coordinator_epoch,
        });
    }
    Ok(())
}

/// Inside an open transaction every batch of the producer is transactional.
fn check_txn_state(header: &BatchHeader, updated: &ProducerEntry) -> Result<(), LogError> {
    match updated.current_txn_first_offset {
        Some(first) if !header.is_transactional() => Err(LogError::InvalidTxnState {
            producer_id: header.producer_id,
            txn_first_offset: first,
        }),
        _ => Ok(()),
    }
}

/// `known_epoch` is the committed state's epoch (Kafka's `currentEntry`).
fn check_sequence(
    header: &BatchHeader,
    updated: &ProducerEntry,
    known_epoch: i16,
) -> Result<(), LogError> {
    let seq = header.base_sequence;
    let out_of_order = |last: i32| LogError::OutOfOrderSequence {
        producer_id: header.producer_id,
        epoch: header.producer_epoch,
        sequence: seq,
        last_sequence: last,
    };
    if header.producer_epoch != updated.epoch {
        // A bumped epoch restarts the sequence; a producer without state
        // (never seen, expired, or deleted by retention) may start anywhere.
        if seq != 0 && updated.epoch != NO_PRODUCER_EPOCH {
            return Err(out_of_order(NO_SEQUENCE));
        }
        return Ok(());
    }
    let last = updated.last_seq();
    if known_epoch == NO_PRODUCER_EPOCH || in_sequence(last, seq) {
        Ok(())
    } else {
        Err(out_of_order(last))
    }
}

/// `next` directly follows `last`; sequences wrap from i32::MAX to 0.
pub(crate) fn in_sequence(last: i32, next: i32) -> bool {
    i64::from(next) == i64::from(last) + 1 || (next == 0 && last == i32::MAX)
}

/// Sequence of the batch's last record, wrapping past i32::MAX to 0 as
/// Kafka's `DefaultRecordBatch.incrementSequence` does.
pub(crate) fn last_sequence(header: &BatchHeader) -> i32 {
    if header.base_sequence == NO_SEQUENCE {
        return NO_SEQUENCE;
    }
    increment_sequence(header.base_sequence, header.last_offset_delta)
}

fn increment_sequence(sequence: i32, increment: i32) -> i32 {
    // Both are non-negative for any valid batch; the i64 sum cannot overflow.
    let next = (i64::from(sequence) + i64::from(increment.max(0))) % (i64::from(i32::MAX) + 1);
    next as i32
}

#[cfg(test)]
mod tests {
    use super::*;
    use gregor_protocol::error_codes::{
        INVALID_PRODUCER_EPOCH, INVALID_TXN_STATE, OUT_OF_ORDER_SEQUENCE_NUMBER,
        TRANSACTION_COORDINATOR_FENCED,
    };

    fn header(pid: i64, epoch: i16, seq: i32, count: i32, offset: i64, ts: i64) -> BatchHeader {
        BatchHeader {
            base_offset: offset,
            batch_length: 100,
            partition_leader_epoch: 0,
            magic: 2,
            crc: 0,
            attributes: 0,
            last_offset_delta: count - 1,
            base_timestamp: ts,
            max_timestamp: ts,
            producer_id: pid,
            producer_epoch: epoch,
            base_sequence: seq,
            records_count: count,
        }
    }

    fn check(state: &ProducerStateMap, headers: &[BatchHeader]) -> Result<Verdict, LogError> {
        state.validate(headers, &Markers::default(), Origin::Client)
    }

    fn code(state: &ProducerStateMap, h: BatchHeader) -> i16 {
        check(state, &[h]).unwrap_err().error_code()
    }

    #[test]
    fn sequence_arithmetic_wraps() {
        assert!(in_sequence(-1, 0));
        assert!(in_sequence(4, 5));
        assert!(in_sequence(i32::MAX, 0));
        assert!(!in_sequence(i32::MAX, i32::MIN));
        assert!(!in_sequence(4, 4));
        assert_eq!(last_sequence(&header(1, 0, 10, 3, 0, 0)), 12);
        assert_eq!(last_sequence(&header(1, 0, i32::MAX, 1, 0, 0)), i32::MAX);
        assert_eq!(last_sequence(&header(1, 0, i32::MAX - 1, 4, 0, 0)), 1);
        assert_eq!(last_sequence(&header(1, 0, -1, 4, 0, 0)), -1);
    }

    #[test]
    fn follows_kafkas_rules() {
        let mut s = ProducerStateMap::new();
        // Unknown producer: any sequence is accepted (KIP-360).
        assert_eq!(
            check(&s, &[header(7, 2, 40, 2, 0, 5)]).unwrap(),
            Verdict::Append
        );
        s.record(&header(7, 2, 40, 2, 0, 5));
        // Next in sequence.
        assert_eq!(
            check(&s, &[header(7, 2, 42, 1, 2, 6)]).unwrap(),
            Verdict::Append
        );
        // Gap and replay of an older, non-cached range.
        assert_eq!(
            code(&s, header(7, 2, 43, 1, 2, 6)),
            OUT_OF_ORDER_SEQUENCE_NUMBER
        );
        assert_eq!(
            code(&s, header(7, 2, 41, 1, 2, 6)),
            OUT_OF_ORDER_SEQUENCE_NUMBER
        );
        // Exact retry.
        match check(&s, &[header(7, 2, 40, 2, 99, 6)]).unwrap() {
            Verdict::Duplicate(b) => assert_eq!((b.first_offset, b.last_offset), (0, 1)),
            v => panic!("{v:?}"),
        }
        // Older epoch, newer epoch not at 0, newer epoch at 0.
        assert_eq!(code(&s, header(7, 1, 42, 1, 2, 6)), INVALID_PRODUCER_EPOCH);
        assert_eq!(
            code(&s, header(7, 3, 5, 1, 2, 6)),
            OUT_OF_ORDER_SEQUENCE_NUMBER
        );
        assert_eq!(
            check(&s, &[header(7, 3, 0, 1, 2, 6)]).unwrap(),
            Verdict::Append
        );
        // A retry with another epoch is not a duplicate.
        assert_eq!(code(&s, header(7, 1, 40, 2, 2, 6)), INVALID_PRODUCER_EPOCH);
    }

    #[test]
    fn later_batches_of_one_call_see_the_earlier_ones() {
        let mut s = ProducerStateMap::new();
        s.record(&header(1, 0, 0, 1, 0, 0));
        let ok = [header(1, 0, 1, 2, 1, 0), header(1, 0, 3, 1, 3, 0)];
        assert_eq!(check(&s, &ok).unwrap(), Verdict::Append);
        let gap = [header(1, 0, 1, 2, 1, 0), header(1, 0, 4, 1, 3, 0)];
        assert_eq!(
            check(&s, &gap).unwrap_err().error_code(),
            OUT_OF_ORDER_SEQUENCE_NUMBER
        );
        // Kafka checks sequences only against a known epoch: a producer the
        // partition has no state for is taken as it comes, even with a gap.
        let unknown = [header(2, 0, 5, 2, 0, 0), header(2, 0, 9, 1, 2, 0)];
        assert_eq!(check(&s, &unknown).unwrap(), Verdict::Append);
        // Nothing was recorded by validation.
        assert_eq!(s.entries().next().unwrap().1.last_seq(), 0);
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn keeps_five_batches_and_resets_on_new_epoch() {
        let mut s = ProducerStateMap::new();
        for i in 0..7 {
            s.record(&header(1, 0, i, 1, i64::from(i), 0));
        }
        let (_, e) = s.entries().next().unwrap();
        assert_eq!(e.batches.len(), BATCHES_TO_RETAIN);
        assert_eq!(e.batches[0].first_seq, 2);
        s.record(&header(1, 1, 0, 1, 7, 0));
        let (_, e) = s.entries().next().unwrap();
        assert_eq!((e.epoch, e.batches.len()), (1, 1));
    }

    #[test]
    fn untracked_batches_are_ignored() {
        let mut s = ProducerStateMap::new();
        s.record(&header(-1, -1, -1, 3, 0, 0));
        let mut control = header(5, 0, -1, 1, 3, 0);
        control.attributes = gregor_protocol::batch::ATTR_CONTROL;
        s.record(&control);
        assert_eq!(s.len(), 0);
        assert_eq!(
            check(&s, &[header(-1, -1, -1, 3, 0, 0)]).unwrap(),
            Verdict::Append
        );
    }

    #[test]
    fn expiry_and_describe() {
        let mut s = ProducerStateMap::new();
        s.record(&header(1, 0, 0, 1, 0, 1_000));
        s.record(&header(2, 3, 0, 4, 1, 5_000));
        assert_eq!(s.expire(5_999, 5_000), 0);
        assert_eq!(s.expire(6_000, 5_000), 1);
        assert_eq!(
            s.describe(),
            vec![ProducerStateInfo {
                producer_id: 2,
                producer_epoch: 3,
                last_sequence: 3,
                last_timestamp: 5_000,
                coordinator_epoch: -1,
                current_txn_start_offset: -1,
            }]
        );
    }

    fn txn(pid: i64, epoch: i16, seq: i32, count: i32, offset: i64) -> BatchHeader {
        let mut h = header(pid, epoch, seq, count, offset, 100 + offset);
        h.attributes = gregor_protocol::batch::ATTR_TRANSACTIONAL;
        h
    }

    fn marker_at(pid: i64, epoch: i16, offset: i64) -> BatchHeader {
        let mut h = header(pid, epoch, -1, 1, offset, 100 + offset);
        h.attributes =
            gregor_protocol::batch::ATTR_TRANSACTIONAL | gregor_protocol::batch::ATTR_CONTROL;
        h
    }

    fn end(commit: bool, coordinator_epoch: i32) -> EndTxnMarker {
        EndTxnMarker {
            commit,
            coordinator_epoch,
        }
    }

    /// Validates one marker batch as the coordinator would write it.
    fn check_marker(s: &ProducerStateMap, h: BatchHeader, m: EndTxnMarker) -> Result<(), i16> {
        check_marker_tv(s, h, m, 0)
    }

    /// The same for a marker of transaction version `tv` (KIP-1228).
    fn check_marker_tv(
        s: &ProducerStateMap,
        h: BatchHeader,
        m: EndTxnMarker,
        tv: i8,
    ) -> Result<(), i16> {
        let markers = Markers::of(vec![(0, m)]);
        let origin = Origin::Coordinator {
            transaction_version: tv,
        };
        s.validate(&[h], &markers, origin)
            .map(|_| ())
            .map_err(|e| e.error_code())
    }

    #[test]
    fn tv2_markers_need_a_newer_epoch_than_the_open_transaction() {
        let mut s = ProducerStateMap::new();
        // A TV2 transaction at epoch 5 is open.
        s.record(&txn(1, 5, 0, 1, 10));
        // Its marker comes at the bumped epoch 6.
        assert_eq!(
            check_marker_tv(&s, marker_at(1, 6, 11), end(true, 0), 2),
            Ok(())
        );
        // A late marker of the previous transaction, at the open one's
        // epoch, must not end it.
        assert_eq!(
            check_marker_tv(&s, marker_at(1, 5, 11), end(true, 0), 2),
            Err(INVALID_PRODUCER_EPOCH)
        );
        assert_eq!(
            check_marker_tv(&s, marker_at(1, 4, 11), end(false, 0), 2),
            Err(INVALID_PRODUCER_EPOCH)
        );
        // A legacy (TV0/1) marker at the same epoch is the transaction's own.
        assert_eq!(
            check_marker_tv(&s, marker_at(1, 5, 11), end(true, 0), 1),
            Ok(())
        );
        assert_eq!(
            check_marker_tv(&s, marker_at(1, 5, 11), end(true, 0), 0),
            Ok(())
        );
        assert_eq!(
            check_marker_tv(&s, marker_at(1, 4, 11), end(true, 0), 1),
            Err(INVALID_PRODUCER_EPOCH)
        );
    }

    #[test]
    fn a_retried_tv2_marker_is_accepted_once_the_transaction_ended() {
        let mut s = ProducerStateMap::new();
        s.record(&txn(1, 5, 0, 1, 10));
        let done = s.record_marker(&marker_at(1, 6, 11), end(true, 0));
        assert!(done.is_some());
        // The same marker again (a lost response, a coordinator reload):
        // epoch == current and no open transaction.
        assert_eq!(
            check_marker_tv(&s, marker_at(1, 6, 12), end(true, 0), 2),
            Ok(())
        );
        // Once the producer opened a new transaction at epoch 6 the retry is stale.
        s.record(&txn(1, 6, 0, 1, 13));
        assert_eq!(
            check_marker_tv(&s, marker_at(1, 6, 14), end(true, 0), 2),
            Err(INVALID_PRODUCER_EPOCH)
        );
    }

    #[test]
    fn transactions_open_at_their_first_batch_and_close_at_the_marker() {
        let mut s = ProducerStateMap::new();
        s.record(&txn(1, 0, 0, 2, 10));
        s.record(&txn(1, 0, 2, 1, 12));
        assert_eq!(s.first_unstable_offset(), Some(10));
        assert_eq!(s.describe()[0].current_txn_start_offset, 10);
        // Inside the transaction: transactional batches only.
        assert_eq!(code(&s, header(1, 0, 3, 1, 13, 0)), INVALID_TXN_STATE);
        assert_eq!(check(&s, &[txn(1, 0, 3, 1, 13)]).unwrap(), Verdict::Append);
        let done = s
            .record_marker(&marker_at(1, 0, 13), end(false, 4))
            .unwrap();
        assert_eq!(
            done,
            CompletedTxn {
                producer_id: 1,
                first_offset: 10,
                last_offset: 13,
                aborted: true,
                last_stable_offset: 14,
            }
        );
        assert_eq!(s.first_unstable_offset(), None);
        let info = s.describe()[0];
        assert_eq!(
            (info.coordinator_epoch, info.current_txn_start_offset),
            (4, -1)
        );
        assert_eq!((info.last_sequence, info.last_timestamp), (2, 113));
        // After it, the producer may write outside a transaction again, and
        // a second marker has nothing to close.
        assert_eq!(
            check(&s, &[header(1, 0, 3, 1, 14, 0)]).unwrap(),
            Verdict::Append
        );
        assert_eq!(s.record_marker(&marker_at(1, 0, 14), end(true, 4)), None);
    }

    #[test]
    fn an_abort_records_the_oldest_other_open_transaction_as_stable_offset() {
        let mut s = ProducerStateMap::new();
        s.record(&txn(1, 0, 0, 1, 0));
        s.record(&txn(2, 0, 0, 1, 1));
        s.record(&txn(3, 0, 0, 1, 5));
        let p2 = s.record_marker(&marker_at(2, 0, 6), end(false, 0)).unwrap();
        assert_eq!((p2.first_offset, p2.last_stable_offset), (1, 0));
        assert_eq!(p2.aborted_entry().unwrap().last_offset, 6);
        let p1 = s.record_marker(&marker_at(1, 0, 7), end(true, 0)).unwrap();
        assert_eq!((p1.aborted, p1.last_stable_offset), (false, 5));
        assert_eq!(p1.aborted_entry(), None);
        assert_eq!(s.first_unstable_offset(), Some(5));
        let p3 = s.record_marker(&marker_at(3, 0, 8), end(false, 0)).unwrap();
        assert_eq!(p3.last_stable_offset, 9);
        assert_eq!(s.first_unstable_offset(), None);
    }

    #[test]
    fn markers_check_both_epochs_and_a_newer_epoch_restarts_sequences() {
        let mut s = ProducerStateMap::new();
        s.record(&txn(1, 3, 0, 3, 0));
        s.record_marker(&marker_at(1, 3, 3), end(true, 5));
        assert_eq!(
            check_marker(&s, marker_at(1, 2, 4), end(false, 5)),
            Err(INVALID_PRODUCER_EPOCH)
        );
        assert_eq!(
            check_marker(&s, marker_at(1, 3, 4), end(false, 4)),
            Err(TRANSACTION_COORDINATOR_FENCED)
        );
        assert_eq!(check_marker(&s, marker_at(1, 3, 4), end(false, 5)), Ok(()));
        // KIP-890: the coordinator ends a transaction with a bumped epoch.
        assert_eq!(check_marker(&s, marker_at(1, 4, 4), end(true, 6)), Ok(()));
        s.record(&txn(1, 3, 3, 1, 4));
        s.record_marker(&marker_at(1, 4, 5), end(true, 6));
        assert_eq!(s.describe()[0].producer_epoch, 4);
        assert_eq!(s.describe()[0].last_sequence, -1);
        assert_eq!(code(&s, txn(1, 4, 4, 1, 6)), OUT_OF_ORDER_SEQUENCE_NUMBER);
        assert_eq!(code(&s, txn(1, 3, 4, 1, 6)), INVALID_PRODUCER_EPOCH);
        assert_eq!(check(&s, &[txn(1, 4, 0, 1, 6)]).unwrap(), Verdict::Append);
        // An unknown producer's marker is accepted and creates its state.
        assert_eq!(check_marker(&s, marker_at(9, 0, 6), end(true, 0)), Ok(()));
        assert_eq!(s.record_marker(&marker_at(9, 0, 6), end(true, 2)), None);
        assert_eq!(s.describe()[1].coordinator_epoch, 2);
    }

    #[test]
    fn later_batches_of_one_call_see_earlier_markers() {
        let mut s = ProducerStateMap::new();
        s.record(&txn(1, 0, 0, 1, 0));
        let headers = [marker_at(1, 0, 1), header(1, 0, 1, 1, 2, 0)];
        let markers = Markers::of(vec![(0, end(true, 0))]);
        // The marker closes the transaction the plain batch would break.
        assert!(s
            .validate(
                &headers,
                &markers,
                Origin::Coordinator {
                    transaction_version: 0
                }
            )
            .is_ok());
        assert_eq!(
            s.validate(
                &headers[1..],
                &Markers::default(),
                Origin::Coordinator {
                    transaction_version: 0
                }
            )
            .unwrap_err()
            .error_code(),
            INVALID_TXN_STATE
        );
        // A fenced coordinator's second marker is caught within the call.
        let two = [marker_at(1, 0, 1), marker_at(1, 0, 2)];
        let markers = Markers::of(vec![(0, end(true, 3)), (1, end(true, 2))]);
        assert_eq!(
            s.validate(
                &two,
                &markers,
                Origin::Coordinator {
                    transaction_version: 0
                }
            )
            .unwrap_err()
            .error_code(),
            TRANSACTION_COORDINATOR_FENCED
        );
    }

    #[test]
    fn open_transactions_never_expire() {
        let mut s = ProducerStateMap::new();
        s.record(&txn(1, 0, 0, 1, 0));
        s.record(&header(2, 0, 0, 1, 1, 100));
        assert_eq!(s.expire(1_000_000, 10), 1);
        assert_eq!(s.describe()[0].producer_id, 1);
        s.record_marker(&marker_at(1, 0, 2), end(true, 0));
        // Expiry counts from the marker's timestamp (102).
        assert_eq!(s.expire(111, 10), 0);
        assert_eq!(s.expire(112, 10), 1);
    }

    #[test]
    fn inserted_entries_keep_the_open_transactions_in_step() {
        let mut s = ProducerStateMap::new();
        let mut open = ProducerEntry::empty();
        open.current_txn_first_offset = Some(7);
        s.insert(1, open.clone());
        assert_eq!(s.first_unstable_offset(), Some(7));
        s.insert(1, ProducerEntry::empty());
        assert_eq!(s.first_unstable_offset(), None);
        s.insert(2, open);
        s.clear();
        assert_eq!(s.first_unstable_offset(), None);
    }
}
