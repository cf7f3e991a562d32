//! Idempotent-producer state of one partition: for each producer id its
//! epoch and its last few batches, as Kafka's `ProducerStateManager` keeps
//! them. A pure in-memory state machine: the partition log decides when to
//! validate, record, persist (see `producer_snapshot`) and rebuild it.
//!
//! The rules are those of Kafka 4's `ProducerAppendInfo` for appends from
//! clients (KIP-98 with the KIP-360 relaxations):
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
//!   OUT_OF_ORDER_SEQUENCE_NUMBER.

use crate::LogError;
use gregor_protocol::batch::BatchHeader;
use std::collections::{BTreeMap, VecDeque};

/// Kafka's `ProducerStateEntry.NUM_BATCHES_TO_RETAIN`: the Java producer
/// keeps at most five requests in flight, so a retry is always one of them.
pub(crate) const BATCHES_TO_RETAIN: usize = 5;

/// Kafka's RecordBatch.NO_PRODUCER_EPOCH / NO_SEQUENCE / NO_TIMESTAMP.
const NO_PRODUCER_EPOCH: i16 = -1;
const NO_SEQUENCE: i32 = -1;
const NO_TIMESTAMP: i64 = -1;

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
}

impl ProducerEntry {
    fn empty() -> ProducerEntry {
        ProducerEntry {
            epoch: NO_PRODUCER_EPOCH,
            batches: VecDeque::new(),
        }
    }

    pub fn last_seq(&self) -> i32 {
        self.batches.back().map_or(NO_SEQUENCE, |b| b.last_seq)
    }

    /// What expiry counts from, as Kafka's `ProducerStateEntry.lastTimestamp`.
    pub fn last_timestamp(&self) -> i64 {
        self.batches.back().map_or(NO_TIMESTAMP, |b| b.timestamp)
    }

    /// Kafka's `addBatch`: a different epoch forgets the old epoch's batches.
    fn add(&mut self, epoch: i16, batch: BatchMeta) {
        if self.epoch != epoch {
            self.epoch = epoch;
            self.batches.clear();
        }
        if self.batches.len() == BATCHES_TO_RETAIN {
            self.batches.pop_front();
        }
        self.batches.push_back(batch);
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

/// What a client's batches may do to the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Write them.
    Append,
    /// Already written: answer with this batch's offsets, write nothing.
    Duplicate(BatchMeta),
}

/// A producer as DescribeProducers reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerStateInfo {
    pub producer_id: i64,
    pub producer_epoch: i16,
    /// -1 if the producer has no batch in the current epoch.
    pub last_sequence: i32,
    /// Max timestamp of its last batch, -1 if none.
    pub last_timestamp: i64,
    /// Always -1 until transactions are implemented.
    pub coordinator_epoch: i32,
    /// First offset of the open transaction; always -1 until transactions
    /// are implemented.
    pub current_txn_start_offset: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ProducerStateMap {
    /// Ordered so snapshots and DescribeProducers answers are deterministic.
    producers: BTreeMap<i64, ProducerEntry>,
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
        self.producers.insert(producer_id, entry);
    }

    pub fn clear(&mut self) {
        self.producers.clear();
    }

    /// Checks a client's batches (offsets already assigned) against the
    /// state without changing it. Batches of the same producer later in
    /// `headers` are checked against the state the earlier ones would leave.
    pub fn validate(&self, headers: &[BatchHeader]) -> Result<Verdict, LogError> {
        // Kafka's `updatedEntry`: the state as of the batches checked so
        // far. Only filled when a call holds several batches (never for a
        // produce request, which carries one), so the hot path copies nothing.
        let mut pending: BTreeMap<i64, ProducerEntry> = BTreeMap::new();
        let empty = ProducerEntry::empty();
        let mut remaining = headers.iter().filter(|h| tracked(h)).count();
        for header in headers.iter().filter(|h| tracked(h)) {
            remaining -= 1;
            let pid = header.producer_id;
            let current = self.producers.get(&pid);
            // Kafka looks for duplicates in the committed state only.
            if let Some(duplicate) = current.and_then(|e| e.find_duplicate(header)) {
                return Ok(Verdict::Duplicate(duplicate));
            }
            let updated = pending.get(&pid).or(current).unwrap_or(&empty);
            let known_epoch = current.map_or(NO_PRODUCER_EPOCH, |e| e.epoch);
            check_epoch(header, updated)?;
            check_sequence(header, updated, known_epoch)?;
            if remaining > 0 {
                let mut next = updated.clone();
                next.add(header.producer_epoch, BatchMeta::of(header));
                pending.insert(pid, next);
            }
        }
        Ok(Verdict::Append)
    }

    /// Learns a batch that is now in the log (appended, replicated or
    /// re-read at open). No checks: replicas trust their leader, as Kafka's
    /// REPLICATION origin does.
    pub fn record(&mut self, header: &BatchHeader) {
        if !tracked(header) {
            return;
        }
        self.producers
            .entry(header.producer_id)
            .or_insert_with(ProducerEntry::empty)
            .add(header.producer_epoch, BatchMeta::of(header));
    }

    /// Drops producers whose last batch is at least `expiration_ms` old
    /// (`producer.id.expiration.ms`). Returns how many were dropped.
    pub fn expire(&mut self, now_ms: i64, expiration_ms: i64) -> usize {
        let before = self.producers.len();
        self.producers
            .retain(|_, e| now_ms.saturating_sub(e.last_timestamp()) < expiration_ms);
        before - self.producers.len()
    }

    pub fn describe(&self) -> Vec<ProducerStateInfo> {
        self.producers
            .iter()
            .map(|(pid, e)| ProducerStateInfo {
                producer_id: *pid,
                producer_epoch: e.epoch,
                last_sequence: e.last_seq(),
                last_timestamp: e.last_timestamp(),
                coordinator_epoch: -1,
                current_txn_start_offset: -1,
            })
            .collect()
    }
}

/// Data batches with a producer id carry producer state. Control batches
/// (transaction markers) will update it once transactions exist.
fn tracked(header: &BatchHeader) -> bool {
    header.producer_id >= 0 && !header.is_control()
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

    fn code(state: &ProducerStateMap, h: BatchHeader) -> i16 {
        state.validate(&[h]).unwrap_err().error_code()
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
            s.validate(&[header(7, 2, 40, 2, 0, 5)]).unwrap(),
            Verdict::Append
        );
        s.record(&header(7, 2, 40, 2, 0, 5));
        // Next in sequence.
        assert_eq!(
            s.validate(&[header(7, 2, 42, 1, 2, 6)]).unwrap(),
            Verdict::Append
        );
        // Gap and replay of an older, non-cached range.
        assert_eq!(code(&s, header(7, 2, 43, 1, 2, 6)), 45);
        assert_eq!(code(&s, header(7, 2, 41, 1, 2, 6)), 45);
        // Exact retry.
        match s.validate(&[header(7, 2, 40, 2, 99, 6)]).unwrap() {
            Verdict::Duplicate(b) => assert_eq!((b.first_offset, b.last_offset), (0, 1)),
            v => panic!("{v:?}"),
        }
        // Older epoch, newer epoch not at 0, newer epoch at 0.
        assert_eq!(code(&s, header(7, 1, 42, 1, 2, 6)), 47);
        assert_eq!(code(&s, header(7, 3, 5, 1, 2, 6)), 45);
        assert_eq!(
            s.validate(&[header(7, 3, 0, 1, 2, 6)]).unwrap(),
            Verdict::Append
        );
        // A retry with another epoch is not a duplicate.
        assert_eq!(code(&s, header(7, 1, 40, 2, 2, 6)), 47);
    }

    #[test]
    fn later_batches_of_one_call_see_the_earlier_ones() {
        let mut s = ProducerStateMap::new();
        s.record(&header(1, 0, 0, 1, 0, 0));
        let ok = [header(1, 0, 1, 2, 1, 0), header(1, 0, 3, 1, 3, 0)];
        assert_eq!(s.validate(&ok).unwrap(), Verdict::Append);
        let gap = [header(1, 0, 1, 2, 1, 0), header(1, 0, 4, 1, 3, 0)];
        assert_eq!(s.validate(&gap).unwrap_err().error_code(), 45);
        // Kafka checks sequences only against a known epoch: a producer the
        // partition has no state for is taken as it comes, even with a gap.
        let unknown = [header(2, 0, 5, 2, 0, 0), header(2, 0, 9, 1, 2, 0)];
        assert_eq!(s.validate(&unknown).unwrap(), Verdict::Append);
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
            s.validate(&[header(-1, -1, -1, 3, 0, 0)]).unwrap(),
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
}
