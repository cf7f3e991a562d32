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

#[derive(Debug, Default)]
pub(crate) struct Verifications {
    next: u64,
    by_producer: HashMap<i64, VerificationGuard>,
}

impl Verifications {
    /// The producer's guard, created if it has none (a second request of
    /// the same transaction shares the first one's, as Kafka's does).
    pub fn start(&mut self, producer_id: i64) -> VerificationGuard {
        let next = &mut self.next;
        *self.by_producer.entry(producer_id).or_insert_with(|| {
            *next += 1;
            VerificationGuard(*next)
        })
    }

    pub fn holds(&self, producer_id: i64, guard: VerificationGuard) -> bool {
        self.by_producer.get(&producer_id) == Some(&guard)
    }

    /// A marker of the producer was written: its transaction is over here.
    pub fn clear(&mut self, producer_id: i64) {
        self.by_producer.remove(&producer_id);
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
        let first = v.start(7);
        assert_eq!(v.start(7), first, "one guard per producer until cleared");
        assert!(v.holds(7, first));
        assert!(!v.holds(8, first));
        v.clear(7);
        assert!(!v.holds(7, first));
        let second = v.start(7);
        assert_ne!(second, first);
        assert!(!v.holds(7, first));
        v.clear_all();
        assert!(!v.holds(7, second));
    }
}
