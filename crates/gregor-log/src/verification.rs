//! KIP-890 verification guards (Kafka's `VerificationStateEntry`): before
//! the first transactional batch of a producer's transaction is appended
//! to a partition, the leader asks the transaction coordinator whether the
//! partition is in the open transaction. The guard taken before asking
//! must still be there when the batch is appended, under the log lock: a
//! marker of that producer written meanwhile (the transaction ended)
//! clears it, so a late batch cannot open a transaction nobody will close.

use std::collections::HashMap;

/// Proof that a verification started for a producer and was not cleared
/// since. Only equality matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerificationGuard(u64);

/// One producer's verification in flight (Kafka's `VerificationStateEntry`).
#[derive(Debug, Clone, Copy)]
struct Entry {
    guard: VerificationGuard,
    /// The highest producer epoch verified with this guard.
    epoch: i16,
    /// Transaction version 2 (Produce v12+): every transaction ends with an
    /// epoch bump, and its markers carry the bumped epoch, which is the
    /// epoch of the producer's next transaction.
    epoch_bump: bool,
}

#[derive(Debug, Default)]
pub(crate) struct Verifications {
    next: u64,
    by_producer: HashMap<i64, Entry>,
}

impl Verifications {
    /// The producer's guard, created if it has none (a second request of
    /// the same transaction shares the first one's, as Kafka's does).
    pub fn start(&mut self, producer_id: i64, epoch: i16, epoch_bump: bool) -> VerificationGuard {
        let next = &mut self.next;
        let entry = self.by_producer.entry(producer_id).or_insert_with(|| {
            *next += 1;
            Entry {
                guard: VerificationGuard(*next),
                epoch,
                epoch_bump,
            }
        });
        entry.epoch = entry.epoch.max(epoch);
        entry.epoch_bump |= epoch_bump;
        entry.guard
    }

    pub fn holds(&self, producer_id: i64, guard: VerificationGuard) -> bool {
        self.by_producer.get(&producer_id).map(|e| e.guard) == Some(guard)
    }

    /// A marker of the producer at `marker_epoch` was written: its
    /// transaction is over here, and a verification started before it must
    /// not let a late batch open another one. Except, as in Kafka, under
    /// transaction version 2 when the marker carries the verified epoch:
    /// that marker ends the previous transaction (whose EndTxn bumped the
    /// epoch) and the verification is for the next one, which the client
    /// began as soon as EndTxn answered, while the markers were still on
    /// their way. Clearing it then fails that batch with INVALID_TXN_STATE.
    pub fn marker(&mut self, producer_id: i64, marker_epoch: i16) {
        let next_txn = self
            .by_producer
            .get(&producer_id)
            .is_some_and(|e| e.epoch_bump && e.epoch == marker_epoch);
        if !next_txn {
            self.by_producer.remove(&producer_id);
        }
    }

    /// After a truncation or a change of leader nothing verified before
    /// can be trusted.
    pub fn clear_all(&mut self) {
        self.by_producer.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_clears_the_guard_and_the_next_one_differs() {
        let mut v = Verifications::default();
        let first = v.start(7, 0, false);
        assert_eq!(
            v.start(7, 0, false),
            first,
            "one guard per producer until cleared"
        );
        assert!(v.holds(7, first));
        assert!(!v.holds(8, first));
        v.marker(7, 0);
        assert!(!v.holds(7, first));
        let second = v.start(7, 0, false);
        assert_ne!(second, first);
        assert!(!v.holds(7, first));
        v.clear_all();
        assert!(!v.holds(7, second));
    }

    #[test]
    fn a_transaction_version_2_marker_of_the_verified_epoch_keeps_the_guard() {
        // The client's next transaction (epoch 5) is being verified while the
        // previous one's markers, written with the bumped epoch 5, arrive.
        let mut v = Verifications::default();
        let guard = v.start(7, 5, true);
        v.marker(7, 5);
        assert!(
            v.holds(7, guard),
            "the verification is for the next transaction"
        );
        // A marker of a later epoch (that transaction ended too) clears it.
        v.marker(7, 6);
        assert!(!v.holds(7, guard));
        // Transaction version 1: the epoch does not move, any marker clears.
        let tv1 = v.start(8, 3, false);
        v.marker(8, 3);
        assert!(!v.holds(8, tv1));
    }
}
