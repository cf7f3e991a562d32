//! The assignors' shapes and invariants.

use super::*;
use crate::group::consumer::assignment;

fn t(n: u8) -> Uuid {
    Uuid::from_bytes([n; 16])
}

fn spec(topics: &[u8], current: &[(u8, i32)]) -> MemberSpec {
    let mut a = Assignment::new();
    for (topic, p) in current {
        assignment::insert(&mut a, t(*topic), *p);
    }
    MemberSpec {
        instance_id: None,
        topics: topics.iter().map(|n| t(*n)).collect(),
        current: a,
    }
}

fn members(specs: Vec<(&str, MemberSpec)>) -> BTreeMap<String, MemberSpec> {
    specs
        .into_iter()
        .map(|(id, s)| (id.to_string(), s))
        .collect()
}

fn counts(out: &BTreeMap<String, Assignment>) -> Vec<usize> {
    out.values().map(assignment::count).collect()
}

/// Every partition of every subscribed topic exactly once, each to a
/// subscriber.
fn assert_complete(
    members: &BTreeMap<String, MemberSpec>,
    partitions: &BTreeMap<Uuid, i32>,
    out: &BTreeMap<String, Assignment>,
) {
    let mut seen = BTreeSet::new();
    for (id, a) in out {
        for (topic, p) in assignment::pairs(a) {
            assert!(members[id].topics.contains(&topic), "{id} not subscribed");
            assert!(seen.insert((topic, p)), "{topic}-{p} twice");
        }
    }
    for (topic, count) in partitions {
        if members.values().any(|m| m.topics.contains(topic)) {
            for p in 0..*count {
                assert!(seen.contains(&(*topic, p)), "{topic}-{p} unassigned");
            }
        }
    }
}

#[test]
fn uniform_balances_and_keeps_what_it_can() {
    let parts: BTreeMap<Uuid, i32> = [(t(1), 6)].into();
    let alone = members(vec![("a", spec(&[1], &[]))]);
    let first = Assignor::Uniform.assign(&alone, &parts);
    assert_eq!(counts(&first), vec![6]);
    // A second member joins: three move, a keeps the other three.
    let current: Vec<(u8, i32)> = (0..6).map(|p| (1, p)).collect();
    let two = members(vec![("a", spec(&[1], &current)), ("b", spec(&[1], &[]))]);
    let second = Assignor::Uniform.assign(&two, &parts);
    assert_complete(&two, &parts, &second);
    assert_eq!(counts(&second), vec![3, 3]);
    // A third with the same subscription: 2/2/2, nobody gains what it lost.
    let a_now: Vec<(u8, i32)> = assignment::pairs(&second["a"])
        .map(|(_, p)| (1, p))
        .collect();
    let b_now: Vec<(u8, i32)> = assignment::pairs(&second["b"])
        .map(|(_, p)| (1, p))
        .collect();
    let three = members(vec![
        ("a", spec(&[1], &a_now)),
        ("b", spec(&[1], &b_now)),
        ("c", spec(&[1], &[])),
    ]);
    let third = Assignor::Uniform.assign(&three, &parts);
    assert_complete(&three, &parts, &third);
    assert_eq!(counts(&third), vec![2, 2, 2]);
    for id in ["a", "b"] {
        let kept = assignment::pairs(&third[id])
            .all(|tp| assignment::contains(&three[id].current, tp.0, tp.1));
        assert!(kept, "{id} got a partition it did not have");
    }
}

#[test]
fn uniform_with_different_subscriptions_respects_them() {
    let parts: BTreeMap<Uuid, i32> = [(t(1), 4), (t(2), 2)].into();
    let ms = members(vec![
        ("a", spec(&[1, 2], &[])),
        ("b", spec(&[1], &[])),
        ("c", spec(&[2], &[])),
    ]);
    let out = Assignor::Uniform.assign(&ms, &parts);
    assert_complete(&ms, &parts, &out);
    assert_eq!(counts(&out), vec![2, 2, 2]);
    // Topics nobody subscribes to, and partitions beyond the count, are dropped.
    let stale = members(vec![("a", spec(&[1], &[(1, 9), (3, 0)]))]);
    let out = Assignor::Uniform.assign(&stale, &parts);
    assert_eq!(counts(&out), vec![4]);
}

#[test]
fn range_gives_co_partitioned_ranges() {
    let parts: BTreeMap<Uuid, i32> = [(t(1), 3), (t(2), 3)].into();
    let ms = members(vec![("a", spec(&[1, 2], &[])), ("b", spec(&[1, 2], &[]))]);
    let out = Assignor::Range.assign(&ms, &parts);
    assert_complete(&ms, &parts, &out);
    let ranges = |id: &str| -> Vec<(Uuid, Vec<i32>)> {
        out[id]
            .iter()
            .map(|(t, ps)| (*t, ps.iter().copied().collect()))
            .collect()
    };
    assert_eq!(ranges("a"), vec![(t(1), vec![0, 1]), (t(2), vec![0, 1])]);
    assert_eq!(ranges("b"), vec![(t(1), vec![2]), (t(2), vec![2])]);
    // Static members come first, by instance id.
    let mut z = spec(&[1, 2], &[]);
    z.instance_id = Some("i-0".into());
    let ms = members(vec![("a", spec(&[1, 2], &[])), ("z", z)]);
    let out = Assignor::Range.assign(&ms, &parts);
    assert_eq!(assignment::count(&out["z"]), 4);
}

#[test]
fn no_members_or_no_topics_assign_nothing() {
    let parts: BTreeMap<Uuid, i32> = [(t(1), 3)].into();
    for assignor in [Assignor::Uniform, Assignor::Range] {
        assert!(assignor.assign(&BTreeMap::new(), &parts).is_empty());
        let idle = members(vec![("a", spec(&[], &[]))]);
        assert_eq!(counts(&assignor.assign(&idle, &parts)), vec![0]);
    }
    assert_eq!(Assignor::parse("range"), Some(Assignor::Range));
    assert_eq!(Assignor::parse("sticky"), None);
}
