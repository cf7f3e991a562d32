//! The uniform assignor: every member ends within one partition of every
//! other member it could trade with, moving as few partitions as that
//! takes. Same goals as Kafka's `UniformAssignor`, one algorithm for equal
//! and differing subscriptions:
//!
//! 1. each member keeps what it had that it still may have (topic still
//!    subscribed and existing, partition still there, nobody kept it first);
//! 2. the rest goes, partition by partition, to the least loaded subscriber
//!    (partitions with the fewest possible owners first);
//! 3. while a member holds two or more partitions more than one that could
//!    take one of them, one moves. Each move strictly lowers the sum of
//!    squared loads, so this ends.

use super::MemberSpec;
use crate::group::consumer::assignment::{self, Assignment};
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

pub(super) fn assign(
    members: &BTreeMap<String, MemberSpec>,
    partitions: &BTreeMap<Uuid, i32>,
) -> BTreeMap<String, Assignment> {
    let mut out: BTreeMap<String, Assignment> = members
        .keys()
        .map(|id| (id.clone(), Assignment::new()))
        .collect();
    let mut taken: BTreeSet<(Uuid, i32)> = BTreeSet::new();

    // 1. Stickiness.
    for (id, spec) in members {
        for (topic, partition) in assignment::pairs(&spec.current) {
            let valid = spec.topics.contains(&topic)
                && partitions
                    .get(&topic)
                    .is_some_and(|&count| (0..count).contains(&partition));
            if valid && taken.insert((topic, partition)) {
                if let Some(target) = out.get_mut(id) {
                    assignment::insert(target, topic, partition);
                }
            }
        }
    }

    // 2. Everything left, hardest to place first.
    let subscribers = |topic: &Uuid| -> Vec<&String> {
        members
            .iter()
            .filter(|(_, spec)| spec.topics.contains(topic))
            .map(|(id, _)| id)
            .collect()
    };
    let mut free: Vec<(usize, Uuid, i32)> = Vec::new();
    for (topic, &count) in partitions {
        let n = subscribers(topic).len();
        if n == 0 {
            continue;
        }
        for partition in 0..count.max(0) {
            if !taken.contains(&(*topic, partition)) {
                free.push((n, *topic, partition));
            }
        }
    }
    free.sort();
    let mut loads: BTreeMap<&String, usize> = members
        .keys()
        .map(|id| (id, out.get(id).map_or(0, assignment::count)))
        .collect();
    for (_, topic, partition) in free {
        let least = subscribers(&topic)
            .into_iter()
            .min_by_key(|id| (loads.get(id).copied().unwrap_or(0), *id));
        if let Some(id) = least {
            if let Some(target) = out.get_mut(id) {
                assignment::insert(target, topic, partition);
            }
            *loads.entry(id).or_default() += 1;
        }
    }

    // 3. Balance.
    while let Some((from, to, topic, partition)) = next_move(members, &out) {
        if let Some(a) = out.get_mut(&from) {
            assignment::remove(a, topic, partition);
        }
        if let Some(b) = out.get_mut(&to) {
            assignment::insert(b, topic, partition);
        }
    }
    out
}

/// A partition a member holds that a member with at least two fewer could
/// take: the most loaded giver, the least loaded taker, the giver's last
/// such partition.
fn next_move(
    members: &BTreeMap<String, MemberSpec>,
    out: &BTreeMap<String, Assignment>,
) -> Option<(String, String, Uuid, i32)> {
    let mut by_load: Vec<(usize, &String)> = out
        .iter()
        .map(|(id, a)| (assignment::count(a), id))
        .collect();
    by_load.sort();
    for &(giver_load, giver) in by_load.iter().rev() {
        for &(taker_load, taker) in &by_load {
            if taker_load + 2 > giver_load {
                break;
            }
            let Some(taker_topics) = members.get(taker).map(|s| &s.topics) else {
                continue;
            };
            let held = out.get(giver)?;
            let movable = assignment::pairs(held)
                .filter(|(topic, _)| taker_topics.contains(topic))
                .last();
            if let Some((topic, partition)) = movable {
                return Some((giver.clone(), taker.clone(), topic, partition));
            }
        }
    }
    None
}
