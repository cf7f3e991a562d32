//! Seeded simulation of a share coordinator partition: share-partition
//! leaders of changing epochs initialize, read, write (random batches,
//! moving start offsets), an admin re-initializes and deletes, and the
//! coordinator restarts (reloads from its log). After every step:
//!
//! - a shard rebuilt from the log (every record encoded and decoded, as
//!   the broker reads them back) equals the live shard, fences included;
//! - each key's batches are sorted, non-overlapping and at or after the
//!   start offset, and per offset they hold exactly what a plain model
//!   says: the highest (delivery count, state) written since the last
//!   initialize, for offsets not below the start offset;
//! - fenced or invalid operations produce no records.
//!
//! `GREGOR_SIM_SEEDS=n` runs more (or fewer) seeds.

use super::records::ShareRecord;
use super::shard::{ShareCoordinatorShard, WriteRequest};
use super::tests::{b, key, topics};
use crate::share::{PersistedBatch, ShareKey};
use crate::sim_rng::Rng;
use std::collections::{BTreeMap, HashMap};

const DEFAULT_SEEDS: u64 = 30;
const STEPS: usize = 250;

/// What the model expects of one key.
#[derive(Clone, Default)]
struct Model {
    start_offset: i64,
    /// offset -> (delivery count, state code)
    offsets: BTreeMap<i64, (i16, i8)>,
}

fn rebuild(
    log: &[(bytes::Bytes, Option<bytes::Bytes>)],
    per_snapshot: i32,
) -> ShareCoordinatorShard {
    let mut shard = ShareCoordinatorShard::new(per_snapshot);
    for (k, v) in log {
        let record = ShareRecord::decode(k, v.as_deref()).unwrap().unwrap();
        shard.replay(&record);
    }
    shard
}

fn random_batches(rng: &mut Rng, base: i64) -> Vec<PersistedBatch> {
    let states = [0i8, 2, 4];
    (0..rng.below(4))
        .map(|_| {
            let first = base + rng.below(30) as i64;
            let last = first + rng.below(8) as i64;
            b(first, last, *rng.pick(&states), 1 + rng.below(4) as i16)
        })
        .collect()
}

fn run(seed: u64) {
    let mut rng = Rng(seed);
    let per_snapshot = 1 + rng.below(6) as i32;
    let keys: Vec<ShareKey> = (0..3).map(|p| key(&format!("g{}", p % 2), p)).collect();
    let mut live = ShareCoordinatorShard::new(per_snapshot);
    let mut log = Vec::new();
    let mut models: HashMap<ShareKey, Model> = HashMap::new();
    let mut leader_epochs: HashMap<ShareKey, i32> = HashMap::new();
    let mut state_epochs: HashMap<ShareKey, i32> = HashMap::new();
    let mut now = 1_000i64;
    for step in 0..STEPS {
        now += 1;
        let k = rng.pick(&keys).clone();
        let leader = *leader_epochs.get(&k).unwrap_or(&0);
        let state_epoch = *state_epochs.get(&k).unwrap_or(&0);
        // Mostly the current epochs, sometimes stale or newer ones.
        let leader_epoch = (leader + rng.below(4) as i32 - 1).max(0);
        let outcome = match rng.below(10) {
            0 => {
                let epoch = (state_epoch + rng.below(3) as i32 - 1).max(0);
                let start = if rng.chance(50) {
                    -1
                } else {
                    rng.below(50) as i64
                };
                live.initialize(&k, epoch, start, &topics, now)
                    .map(|((), r)| {
                        models.insert(
                            k.clone(),
                            Model {
                                start_offset: start,
                                offsets: BTreeMap::new(),
                            },
                        );
                        state_epochs.insert(k.clone(), epoch);
                        r
                    })
            }
            1 => live.delete(&k, &topics).map(|((), r)| {
                if !r.is_empty() {
                    models.remove(&k);
                    leader_epochs.remove(&k);
                    state_epochs.remove(&k);
                }
                r
            }),
            2 | 3 => live
                .read(&k, leader_epoch, &topics, now)
                .map(|(answer, r)| {
                    let model = &models[&k];
                    assert_eq!(
                        answer.start_offset, model.start_offset,
                        "seed {seed} step {step}"
                    );
                    leader_epochs.insert(k.clone(), leader_epoch.max(leader));
                    r
                }),
            _ => {
                let base = models.get(&k).map_or(0, |m| m.start_offset.max(0));
                let start = if rng.chance(30) {
                    base + rng.below(10) as i64
                } else {
                    base
                };
                let request = WriteRequest {
                    state_epoch: if rng.chance(90) {
                        state_epoch
                    } else {
                        (state_epoch - 1).max(0)
                    },
                    leader_epoch,
                    start_offset: start,
                    delivery_complete_count: rng.below(5) as i32,
                    batches: random_batches(&mut rng, base),
                };
                live.write(&k, &request, &topics, now).map(|((), r)| {
                    let model = models.get_mut(&k).unwrap();
                    for batch in &request.batches {
                        for o in batch.first_offset..=batch.last_offset {
                            let new = (batch.delivery_count, batch.delivery_state.code());
                            let e = model.offsets.entry(o).or_insert(new);
                            *e = (*e).max(new);
                        }
                    }
                    model.start_offset = model.start_offset.max(start);
                    let start = model.start_offset;
                    if start != -1 {
                        model.offsets.retain(|&o, _| o >= start);
                    }
                    r
                })
            }
        };
        if let Ok(records) = outcome {
            for r in &records {
                live.replay(r);
                log.push(r.encode().unwrap());
            }
        }
        if rng.chance(5) {
            // The coordinator moves or restarts: only the log remains.
            live = rebuild(&log, per_snapshot);
        }
        let rebuilt = rebuild(&log, per_snapshot);
        assert_eq!(rebuilt, live, "seed {seed} step {step}: replay differs");
        for k in &keys {
            let state = live.state(k);
            assert_eq!(
                state.is_some(),
                models.contains_key(k),
                "seed {seed} step {step}"
            );
            let (Some(state), Some(model)) = (state, models.get(k)) else {
                continue;
            };
            assert_eq!(
                state.start_offset, model.start_offset,
                "seed {seed} step {step}"
            );
            let mut expanded = BTreeMap::new();
            let mut last_end = i64::MIN;
            for batch in &state.batches {
                assert!(batch.first_offset <= batch.last_offset);
                assert!(
                    batch.first_offset > last_end,
                    "seed {seed} step {step}: overlap"
                );
                if state.start_offset != -1 {
                    assert!(batch.first_offset >= state.start_offset);
                }
                last_end = batch.last_offset;
                for o in batch.first_offset..=batch.last_offset {
                    expanded.insert(o, (batch.delivery_count, batch.delivery_state.code()));
                }
            }
            assert_eq!(expanded, model.offsets, "seed {seed} step {step}: {k:?}");
        }
    }
}

#[test]
fn seeded_share_coordinator_simulation() {
    let seeds = std::env::var("GREGOR_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEEDS);
    for seed in 0..seeds {
        run(seed);
    }
}
