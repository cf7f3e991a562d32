//! What the coordinator knows of one transactional id, and the pure
//! transitions between its states (Kafka's `TransactionMetadata`). A
//! transition returns the next metadata; the caller persists it to
//! `__transaction_state` and only then applies it.

use super::state::TxnState;
use std::collections::{BTreeMap, BTreeSet};

pub const NO_PRODUCER_ID: i64 = -1;
pub const NO_PRODUCER_EPOCH: i16 = -1;

/// The first transaction version whose clients expect an epoch bump at
/// every EndTxn (KIP-890 part 2).
pub const EPOCH_BUMP_VERSION: i16 = 2;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxnMetadata {
    pub transactional_id: String,
    pub producer_id: i64,
    /// The producer id before the last transition (to accept a retried
    /// InitProducerId after a producer id rotation).
    pub previous_producer_id: i64,
    /// With epoch-bumping clients: the id the producer moves to when the
    /// epoch ran out during EndTxn.
    pub next_producer_id: i64,
    pub producer_epoch: i16,
    /// The epoch before the last bump (to recognise retries); memory only.
    pub last_producer_epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    /// (topic, partition) pairs in the open transaction.
    pub partitions: BTreeSet<(String, i32)>,
    /// When the open transaction started; -1 if none.
    pub start_ms: i64,
    pub last_update_ms: i64,
    /// The client's transaction version (0/1 classic, 2 = epoch bump per
    /// transaction).
    pub client_version: i16,
}

impl TxnMetadata {
    /// A transactional id seen for the first time: no epoch yet.
    pub fn new(transactional_id: &str, producer_id: i64, timeout_ms: i32, now_ms: i64) -> Self {
        TxnMetadata {
            transactional_id: transactional_id.to_string(),
            producer_id,
            previous_producer_id: NO_PRODUCER_ID,
            next_producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            last_producer_epoch: NO_PRODUCER_EPOCH,
            timeout_ms,
            state: TxnState::Empty,
            partitions: BTreeSet::new(),
            start_ms: -1,
            last_update_ms: now_ms,
            client_version: 0,
        }
    }

    pub fn partitions_by_topic(&self) -> BTreeMap<String, Vec<i32>> {
        let mut topics: BTreeMap<String, Vec<i32>> = BTreeMap::new();
        for (topic, partition) in &self.partitions {
            topics.entry(topic.clone()).or_default().push(*partition);
        }
        topics
    }

    /// Kafka never hands out epoch i16::MAX, so the coordinator can always
    /// fence the current producer with one more bump.
    pub fn epoch_exhausted(&self) -> bool {
        is_epoch_exhausted(self.producer_epoch)
    }

    pub fn bumps_epoch_per_transaction(&self) -> bool {
        self.client_version >= EPOCH_BUMP_VERSION
    }

    /// The common part of every transition: the old producer id becomes
    /// the previous one and the update time moves.
    fn next(&self, state: TxnState, now_ms: i64) -> TxnMetadata {
        TxnMetadata {
            state,
            previous_producer_id: self.producer_id,
            last_update_ms: now_ms,
            ..self.clone()
        }
    }

    /// InitProducerId on an idle id: the next epoch, no transaction.
    pub fn with_epoch(&self, epoch: i16, last_epoch: i16, timeout_ms: i32, now_ms: i64) -> Self {
        TxnMetadata {
            producer_epoch: epoch,
            last_producer_epoch: last_epoch,
            timeout_ms,
            partitions: BTreeSet::new(),
            start_ms: -1,
            next_producer_id: NO_PRODUCER_ID,
            ..self.next(TxnState::Empty, now_ms)
        }
    }

    /// InitProducerId when the epochs of this producer id ran out.
    pub fn rotated(&self, producer_id: i64, last_epoch: i16, timeout_ms: i32, now_ms: i64) -> Self {
        TxnMetadata {
            producer_id,
            ..self.with_epoch(0, last_epoch, timeout_ms, now_ms)
        }
    }

    /// AddPartitionsToTxn / AddOffsetsToTxn: the transaction is open.
    pub fn with_partitions(&self, added: &[(String, i32)], now_ms: i64) -> Self {
        let start_ms = match self.state {
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => now_ms,
            _ => self.start_ms,
        };
        let mut next = self.next(TxnState::Ongoing, now_ms);
        next.partitions.extend(added.iter().cloned());
        next.start_ms = start_ms;
        next
    }

    /// EndTxn accepted: markers to write. Epoch-bumping clients get the
    /// next epoch now, so no late request of this transaction can touch
    /// the next one.
    pub fn prepared(
        &self,
        commit: bool,
        client_version: i16,
        next_producer_id: i64,
        now_ms: i64,
    ) -> Self {
        let state = if commit {
            TxnState::PrepareCommit
        } else {
            TxnState::PrepareAbort
        };
        let mut next = self.next(state, now_ms);
        if client_version >= EPOCH_BUMP_VERSION {
            next.producer_epoch = self.producer_epoch + 1;
            next.last_producer_epoch = self.producer_epoch;
        }
        next.client_version = client_version;
        next.next_producer_id = next_producer_id;
        next
    }

    /// A timeout or a new producer instance fences this one: the epoch is
    /// bumped and the open transaction aborted (Kafka's PrepareEpochFence
    /// followed by PrepareAbort, as one step). `None` if the epoch cannot
    /// grow.
    pub fn fenced(&self, server_version: i16, now_ms: i64) -> Option<Self> {
        let fenced_epoch = self.producer_epoch.checked_add(1)?;
        let mut next = self.next(TxnState::PrepareAbort, now_ms);
        next.producer_epoch = fenced_epoch;
        next.last_producer_epoch = NO_PRODUCER_EPOCH;
        next.next_producer_id = NO_PRODUCER_ID;
        if server_version >= EPOCH_BUMP_VERSION {
            next.producer_epoch = fenced_epoch.checked_add(1)?;
            next.last_producer_epoch = fenced_epoch;
        }
        next.client_version = server_version;
        Some(next)
    }

    /// Markers written: the transaction is over.
    pub fn completed(&self, now_ms: i64) -> Self {
        let state = if self.state == TxnState::PrepareCommit {
            TxnState::CompleteCommit
        } else {
            TxnState::CompleteAbort
        };
        let mut next = self.next(state, now_ms);
        if self.bumps_epoch_per_transaction() && self.next_producer_id != NO_PRODUCER_ID {
            next.producer_id = self.next_producer_id;
            next.producer_epoch = 0;
        }
        next.last_producer_epoch = self.producer_epoch;
        next.next_producer_id = NO_PRODUCER_ID;
        next.partitions.clear();
        next
    }
}

pub fn is_epoch_exhausted(epoch: i16) -> bool {
    epoch >= i16::MAX - 1
}
