//! How often the ISRs of the partitions this broker leads changed (Kafka's
//! `IsrShrinksPerSec` / `IsrExpandsPerSec`), counted when the controller
//! accepts the leader's AlterPartition and read by `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct IsrChurn {
    shrinks: AtomicU64,
    expands: AtomicU64,
}

impl IsrChurn {
    /// Counts one committed ISR change from `before` to `after`: a change
    /// that both drops and adds replicas counts as one of each.
    pub fn record(&self, before: &[i32], after: &[i32]) {
        if before.iter().any(|r| !after.contains(r)) {
            self.shrinks.fetch_add(1, Ordering::Relaxed);
        }
        if after.iter().any(|r| !before.contains(r)) {
            self.expands.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn shrinks(&self) -> u64 {
        self.shrinks.load(Ordering::Relaxed)
    }

    pub fn expands(&self) -> u64 {
        self.expands.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_drops_and_additions() {
        let churn = IsrChurn::default();
        churn.record(&[1, 2, 3], &[1, 2]);
        churn.record(&[1, 2], &[1, 2, 3]);
        churn.record(&[1, 2], &[1, 3]);
        churn.record(&[1, 2], &[2, 1]);
        assert_eq!((churn.shrinks(), churn.expands()), (2, 2));
    }
}
