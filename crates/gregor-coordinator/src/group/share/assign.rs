//! Kafka's SimpleAssignor for share groups: every assignable partition goes
//! to at least one member, and when there are more members than partitions
//! a partition is shared by several (records of a share-partition are
//! handed out to whoever fetches). Per topic, among the members subscribed
//! to it: each partition is wanted by `ceil(members / partitions)` members
//! and each member wants an even share of those slots; current holders
//! keep what still fits (sticky), the rest goes to the least loaded.

use super::group::Partitions;
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

/// A topic to assign: its id, its assignable (initialized) partitions and
/// the members subscribed to it.
pub struct TopicToAssign<'a> {
    pub id: Uuid,
    pub partitions: Vec<i32>,
    pub members: Vec<&'a str>,
}

/// The new target of every member (members without partitions included,
/// with an empty set).
pub fn assign(
    members: &BTreeSet<String>,
    topics: &[TopicToAssign<'_>],
    previous: &BTreeMap<String, Partitions>,
) -> BTreeMap<String, Partitions> {
    let mut out: BTreeMap<String, Partitions> = members
        .iter()
        .map(|m| (m.clone(), Partitions::new()))
        .collect();
    // Load across topics, so a member heavy on one topic gets less of the next.
    let mut load: BTreeMap<&str, usize> = members.iter().map(|m| (m.as_str(), 0)).collect();
    for topic in topics {
        if topic.partitions.is_empty() || topic.members.is_empty() {
            continue;
        }
        let n_members = topic.members.len();
        let n_parts = topic.partitions.len();
        let sharing = n_members.div_ceil(n_parts).max(1);
        let slots = n_parts * sharing;
        // Members in order; the first `slots % n` want one more.
        let desired: BTreeMap<&str, usize> = topic
            .members
            .iter()
            .enumerate()
            .map(|(i, m)| (*m, slots / n_members + usize::from(i < slots % n_members)))
            .collect();
        let mut holders: BTreeMap<i32, BTreeSet<&str>> = BTreeMap::new();
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        // 1. Sticky: keep previous holdings that still fit.
        for m in &topic.members {
            let kept = previous
                .get(*m)
                .and_then(|p| p.get(&topic.id))
                .into_iter()
                .flatten();
            for p in kept {
                let Some(h) = holders
                    .get_mut(p)
                    .map(|h| h.len())
                    .or_else(|| topic.partitions.contains(p).then_some(0))
                else {
                    continue;
                };
                let count = counts.get(*m).copied().unwrap_or(0);
                if h < sharing && count < desired[*m] {
                    holders.entry(*p).or_default().insert(m);
                    *counts.entry(m).or_default() += 1;
                }
            }
        }
        // 2. The remaining slots, partition by partition, to the member
        // with the most room left (then the least overall load).
        for p in &topic.partitions {
            while holders.get(p).map_or(0, BTreeSet::len) < sharing {
                let pick = topic
                    .members
                    .iter()
                    .filter(|m| !holders.get(p).is_some_and(|h| h.contains(**m)))
                    .filter(|m| counts.get(**m).copied().unwrap_or(0) < desired[**m])
                    .min_by_key(|m| {
                        (
                            counts.get(**m).copied().unwrap_or(0),
                            load.get(**m).copied().unwrap_or(0),
                        )
                    })
                    .copied();
                let Some(m) = pick else { break };
                holders.entry(*p).or_default().insert(m);
                *counts.entry(m).or_default() += 1;
            }
        }
        for (p, hs) in holders {
            for m in hs {
                if let Some(target) = out.get_mut(m) {
                    target.entry(topic.id).or_default().insert(p);
                }
                *load.entry(m).or_default() += 1;
            }
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn members(n: usize) -> BTreeSet<String> {
        (0..n).map(|i| format!("m{i}")).collect()
    }

    fn topic<'a>(id: Uuid, parts: i32, members: &'a BTreeSet<String>) -> TopicToAssign<'a> {
        TopicToAssign {
            id,
            partitions: (0..parts).collect(),
            members: members.iter().map(String::as_str).collect(),
        }
    }

    fn count(out: &BTreeMap<String, Partitions>, m: &str) -> usize {
        out[m].values().map(BTreeSet::len).sum()
    }

    #[test]
    fn fewer_members_than_partitions_split_them_evenly() {
        let ms = members(3);
        let t = Uuid::from_u128(1);
        let out = assign(&ms, &[topic(t, 7, &ms)], &BTreeMap::new());
        let counts: Vec<usize> = ms.iter().map(|m| count(&out, m)).collect();
        assert_eq!(counts.iter().sum::<usize>(), 7);
        assert!(counts.iter().all(|c| (2..=3).contains(c)));
        // No partition twice.
        let all: BTreeSet<i32> = out.values().flat_map(|p| p[&t].iter().copied()).collect();
        assert_eq!(all.len(), 7);
    }

    #[test]
    fn more_members_than_partitions_share_them() {
        let ms = members(5);
        let t = Uuid::from_u128(1);
        let out = assign(&ms, &[topic(t, 2, &ms)], &BTreeMap::new());
        // Each partition is wanted by ceil(5 / 2) = 3 members: 6 slots over
        // 5 members, so every member gets one and the first a second.
        for m in &ms {
            assert!((1..=2).contains(&count(&out, m)), "{m}");
        }
        assert_eq!(ms.iter().map(|m| count(&out, m)).sum::<usize>(), 6);
        for p in 0..2 {
            let holders = out.values().filter(|a| a[&t].contains(&p)).count();
            assert_eq!(holders, 3);
        }
    }

    #[test]
    fn holdings_are_sticky() {
        let t = Uuid::from_u128(1);
        let ms = members(2);
        let first = assign(&ms, &[topic(t, 4, &ms)], &BTreeMap::new());
        let ms3 = members(3);
        let second = assign(&ms3, &[topic(t, 4, &ms3)], &first);
        // The old members keep partitions they had (at most 2 of them move).
        for m in ["m0", "m1"] {
            let kept = second[m][&t].intersection(&first[m][&t]).count();
            assert!(kept >= 1, "{m} kept nothing");
        }
        assert!(count(&second, "m2") >= 1);
    }

    #[test]
    fn only_subscribed_members_get_a_topic() {
        let ms = members(2);
        let t = Uuid::from_u128(1);
        let out = assign(
            &ms,
            &[TopicToAssign {
                id: t,
                partitions: vec![0, 1],
                members: vec!["m1"],
            }],
            &BTreeMap::new(),
        );
        assert!(out["m0"].is_empty());
        assert_eq!(count(&out, "m1"), 2);
    }
}
