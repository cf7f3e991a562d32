//! A seeded random walk over a share-partition, checking its invariants
//! after every step.

use super::*;
use crate::share::PersistedShareState;
use std::collections::HashMap;

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const MEMBERS: [&str; 3] = ["m0", "m1", "m2"];

/// The simulator's own view of who holds what, from acquire results.
#[derive(Default)]
struct Model {
    holder: HashMap<i64, String>,
}

fn check(p: &SharePartition, previous_start: i64, limit: i16, model: &Model) {
    assert!(p.start_offset() >= previous_start, "start offset went back");
    assert!(p.start_offset() <= p.end_offset());
    let keys: Vec<i64> = p.records.keys().copied().collect();
    let expected: Vec<i64> = (p.start_offset()..p.end_offset()).collect();
    assert_eq!(keys, expected, "window not contiguous");
    if let Some(first) = p.records.values().next() {
        assert!(!first.state.is_terminal(), "start offset not advanced");
    }
    for (offset, r) in &p.records {
        assert!(
            r.delivery_count <= limit,
            "delivery count over the limit at {offset}"
        );
        match r.state {
            RecordState::Acquired => {
                assert!(r.owner.is_some());
                assert_eq!(
                    model.holder.get(offset),
                    r.owner.as_ref(),
                    "owner at {offset}"
                );
            }
            RecordState::Available => {
                assert!(
                    r.delivery_count < limit,
                    "exhausted record available at {offset}"
                );
                assert!(!model.holder.contains_key(offset));
            }
            _ => assert!(!model.holder.contains_key(offset)),
        }
    }
}

fn run(seed: u64) {
    let mut rng = Rng(seed | 1);
    let limit = 3;
    let mut p = SharePartition::new(
        PartitionSettings {
            record_lock_duration_ms: 50,
            delivery_count_limit: limit,
            max_in_flight: 20,
        },
        0,
        0,
        0,
    );
    let mut model = Model::default();
    let mut log_end = 0i64;
    let mut now = 0i64;
    let mut stored = p.persisted_state();
    for _ in 0..2_000 {
        let start_before = p.start_offset();
        now += rng.below(10) as i64;
        let member = MEMBERS[rng.below(3) as usize];
        match rng.below(8) {
            0 => log_end += rng.below(10) as i64,
            1 | 2 => {
                let first = p.next_fetch_offset();
                if first < log_end {
                    let last = (first + rng.below(15) as i64).min(log_end - 1);
                    let max = 1 + rng.below(10) as usize;
                    let mode = if rng.below(2) == 0 {
                        AcquireMode::BatchOptimized
                    } else {
                        AcquireMode::RecordLimit
                    };
                    // The log batches read: random boundaries, ending at `last`.
                    let mut batch_lasts: Vec<i64> =
                        (first..last).filter(|_| rng.below(3) == 0).collect();
                    batch_lasts.push(last);
                    let got = p.acquire_in_mode(member, first, last, max, mode, &batch_lasts, now);
                    check_acquired_count(&got, max, mode, &batch_lasts);
                    for r in got {
                        for offset in r.first_offset..=r.last_offset {
                            let earlier = model.holder.insert(offset, member.to_string());
                            assert!(earlier.is_none(), "offset {offset} acquired twice");
                            assert_eq!(
                                p.record(offset).map(|x| x.delivery_count),
                                Some(r.delivery_count)
                            );
                        }
                    }
                }
            }
            3 | 4 => {
                let mut held: Vec<i64> = model
                    .holder
                    .iter()
                    .filter(|(_, m)| m.as_str() == member)
                    .map(|(o, _)| *o)
                    .collect();
                held.sort_unstable();
                let take = rng.below(held.len() as u64 + 1) as usize;
                let batches: Vec<AckBatch> = held[..take]
                    .iter()
                    .map(|&o| AckBatch {
                        first_offset: o,
                        last_offset: o,
                        types: vec![rng.below(4) as i8],
                    })
                    .collect();
                p.acknowledge(member, &batches).unwrap();
                for b in &batches {
                    model.holder.remove(&b.first_offset);
                }
                // a stray acknowledgement of someone else's record fails
                if let Some((&o, m)) = model.holder.iter().find(|(_, m)| m.as_str() != member) {
                    let m = m.clone();
                    let bad = AckBatch {
                        first_offset: o,
                        last_offset: o,
                        types: vec![1],
                    };
                    assert!(p.acknowledge(member, &[bad]).is_err());
                    assert_eq!(model.holder.get(&o), Some(&m));
                }
            }
            7 if rng.below(2) == 0 => {
                // Renew some of what this member holds: the lock moves to
                // now + duration, nothing else changes.
                let held: Vec<i64> = model
                    .holder
                    .iter()
                    .filter(|(_, m)| m.as_str() == member)
                    .map(|(o, _)| *o)
                    .filter(|_| rng.below(2) == 0)
                    .collect();
                let mut held = held;
                held.sort_unstable();
                let before: Vec<(i64, i16)> = held
                    .iter()
                    .filter_map(|o| p.record(*o).map(|r| (*o, r.delivery_count)))
                    .collect();
                let batches: Vec<AckBatch> = held
                    .iter()
                    .map(|&o| AckBatch {
                        first_offset: o,
                        last_offset: o,
                        types: vec![4],
                    })
                    .collect();
                p.acknowledge_with(member, &batches, RENEW, now).unwrap();
                for (o, count) in before {
                    let r = p.record(o).cloned();
                    assert_eq!(r.as_ref().map(|r| r.state), Some(RecordState::Acquired));
                    assert_eq!(r.as_ref().map(|r| r.delivery_count), Some(count));
                    assert_eq!(
                        r.map(|r| r.lock_deadline_ms),
                        Some(now + p.settings().record_lock_duration_ms)
                    );
                }
                // renewing someone else's record fails and changes nothing
                if let Some((&o, _)) = model.holder.iter().find(|(_, m)| m.as_str() != member) {
                    let before = p.record(o).cloned();
                    let bad = AckBatch {
                        first_offset: o,
                        last_offset: o,
                        types: vec![4],
                    };
                    assert_eq!(
                        p.acknowledge_with(member, &[bad], RENEW, now),
                        Err(gregor_protocol::error_codes::INVALID_RECORD_STATE)
                    );
                    assert_eq!(p.record(o).cloned(), before);
                }
            }
            5 => {
                let released = p.release_member(member);
                let before = model.holder.len();
                model.holder.retain(|_, m| m.as_str() != member);
                assert_eq!(released, before - model.holder.len());
            }
            6 => {
                let expired: Vec<i64> = p
                    .records
                    .iter()
                    .filter(|(_, r)| r.state == RecordState::Acquired && r.lock_deadline_ms <= now)
                    .map(|(o, _)| *o)
                    .collect();
                assert_eq!(p.tick(now), expired.len());
                for o in expired {
                    model.holder.remove(&o);
                }
            }
            _ => {
                if let Some(changes) = p.take_changes() {
                    merge(&mut stored, changes);
                    let reloaded = SharePartition::from_persisted(p.settings().clone(), &stored, 0);
                    // Reloading archives records whose lock was held on
                    // their last allowed delivery, so the start may be ahead.
                    assert!(reloaded.start_offset() >= p.start_offset());
                    for (offset, r) in &p.records {
                        if r.state.is_terminal() && *offset >= reloaded.start_offset() {
                            assert_eq!(reloaded.record(*offset).map(|x| x.state), Some(r.state));
                        }
                    }
                }
            }
        }
        check(&p, start_before, limit, &model);
    }
    // Drain: everything ends acknowledged, archived or available.
    for m in MEMBERS {
        p.release_member(m);
    }
    model.holder.clear();
    check(&p, 0, limit, &model);
    assert_eq!(p.acquired_count(), 0);
}

const RENEW: AckRules = AckRules {
    renew_in_version: true,
    renew_flagged: true,
    renew_enabled: true,
};

/// What one acquisition may take: record-limit never more than `max`;
/// batch-optimized past `max` only to the end of the log batch holding the
/// `max`-th offset taken.
fn check_acquired_count(got: &[AcquiredRange], max: usize, mode: AcquireMode, batch_lasts: &[i64]) {
    let offsets: Vec<i64> = got
        .iter()
        .flat_map(|r| r.first_offset..=r.last_offset)
        .collect();
    match mode {
        AcquireMode::RecordLimit => assert!(offsets.len() <= max, "record limit exceeded"),
        AcquireMode::BatchOptimized => {
            if offsets.len() > max {
                let limit_at = offsets[max - 1];
                let end = batch_lasts.iter().copied().find(|&e| e >= limit_at);
                assert!(
                    offsets[max..]
                        .iter()
                        .all(|&o| Some(o) <= end && o > limit_at),
                    "batch-optimized went past the batch of the last counted offset"
                );
            }
        }
    }
}

/// The persister's merge: stored runs overlapped by a changed run are
/// replaced, runs below the start offset dropped.
fn merge(stored: &mut PersistedShareState, changes: PersistedShareState) {
    let start = changes.start_offset;
    let mut per_offset: std::collections::BTreeMap<i64, (crate::share::DeliveryState, i16)> =
        stored
            .batches
            .iter()
            .flat_map(|b| {
                (b.first_offset..=b.last_offset)
                    .map(move |o| (o, (b.delivery_state, b.delivery_count)))
            })
            .collect();
    for b in &changes.batches {
        for o in b.first_offset..=b.last_offset {
            per_offset.insert(o, (b.delivery_state, b.delivery_count));
        }
    }
    per_offset.retain(|o, _| *o >= start);
    stored.start_offset = start;
    stored.batches = per_offset
        .into_iter()
        .map(|(o, (s, c))| crate::share::PersistedBatch {
            first_offset: o,
            last_offset: o,
            delivery_state: s,
            delivery_count: c,
        })
        .collect();
}

#[test]
fn random_walks_keep_the_invariants() {
    for seed in 1..=40u64 {
        run(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    }
}
