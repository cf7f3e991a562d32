//! Kafka 4.4's `PersisterStateBatchCombiner`: folds newly written state
//! batches over the stored ones into one sorted, non-overlapping list.
//!
//! It is not "last write wins": each offset keeps the highest (delivery
//! count, delivery state) any batch gives it, because a share-partition
//! leader never lowers either for an offset. Batches entirely below the
//! start offset are dropped and those straddling it cut at it (-1: no
//! pruning); adjacent runs with the same state and count are joined. The
//! result is what ReadShareGroupState answers and the next snapshot holds,
//! so it must be Kafka's exactly: like Kafka, a sweep over the batch
//! boundaries with the set of batches covering the current offset.

use crate::share::{DeliveryState, PersistedBatch};
use std::collections::BTreeMap;

/// A batch's rank for overlapping offsets: delivery count, then state code.
type Priority = (i16, i8);

fn priority(b: &PersistedBatch) -> Priority {
    (b.delivery_count, b.delivery_state.code())
}

/// `so_far` and `new` combined, pruned at `start_offset`.
pub fn combine(
    so_far: &[PersistedBatch],
    new: &[PersistedBatch],
    start_offset: i64,
) -> Vec<PersistedBatch> {
    let pruned: Vec<PersistedBatch> = so_far
        .iter()
        .chain(new)
        .filter(|b| start_offset == -1 || b.last_offset >= start_offset)
        .map(|b| {
            let mut b = b.clone();
            if start_offset != -1 && b.first_offset < start_offset {
                b.first_offset = start_offset;
            }
            b
        })
        .collect();
    // Kafka hands back zero or one batch as it is.
    if pruned.len() < 2 {
        return pruned;
    }
    // (offset, is_begin): at one offset, ends sort before begins.
    let mut events: Vec<(i64, bool, Priority)> = Vec::with_capacity(pruned.len() * 2);
    for b in &pruned {
        events.push((b.first_offset, true, priority(b)));
        events.push((b.last_offset.saturating_add(1), false, priority(b)));
    }
    events.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut active: BTreeMap<Priority, usize> = BTreeMap::new();
    let mut out: Vec<PersistedBatch> = Vec::new();
    let mut segment_start = -1i64;
    let mut top: Option<Priority> = None;
    let mut i = 0;
    while i < events.len() {
        let offset = events[i].0;
        if let Some(p) = top {
            if offset > segment_start {
                append_coalesced(&mut out, segment_start, offset - 1, p);
            }
        }
        while i < events.len() && events[i].0 == offset {
            let (_, begin, p) = events[i];
            if begin {
                *active.entry(p).or_insert(0) += 1;
            } else if let Some(n) = active.get_mut(&p) {
                *n -= 1;
                if *n == 0 {
                    active.remove(&p);
                }
            }
            i += 1;
        }
        top = active.keys().next_back().copied();
        segment_start = offset;
    }
    out
}

fn append_coalesced(out: &mut Vec<PersistedBatch>, first: i64, last: i64, p: Priority) {
    // Priorities come from valid batches, so the state code is known.
    let Some(state) = DeliveryState::from_code(p.1) else {
        return;
    };
    if let Some(prev) = out.last_mut() {
        if prev.last_offset + 1 == first && priority(prev) == p {
            prev.last_offset = last;
            return;
        }
    }
    out.push(PersistedBatch {
        first_offset: first,
        last_offset: last,
        delivery_state: state,
        delivery_count: p.0,
    });
}
