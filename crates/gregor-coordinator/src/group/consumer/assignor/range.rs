//! The range assignor, as Kafka's server-side `RangeAssignor`: members in a
//! fixed order (static members by instance id first, then the others by
//! member id); each topic is cut into contiguous ranges among the members
//! subscribed to it, the first `partitions % members` getting one more. With
//! equal subscriptions, partition N of every topic lands on the same member.
//! It does not look at the previous assignment.

use super::MemberSpec;
use crate::group::consumer::assignment::Assignment;
use std::collections::BTreeMap;
use uuid::Uuid;

pub(super) fn assign(
    members: &BTreeMap<String, MemberSpec>,
    partitions: &BTreeMap<Uuid, i32>,
) -> BTreeMap<String, Assignment> {
    let mut order: Vec<(&String, &MemberSpec)> = members.iter().collect();
    order.sort_by(
        |(a_id, a), (b_id, b)| match (&a.instance_id, &b.instance_id) {
            (Some(x), Some(y)) => x.cmp(y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => a_id.cmp(b_id),
        },
    );
    let mut out: BTreeMap<String, Assignment> = members
        .keys()
        .map(|id| (id.clone(), Assignment::new()))
        .collect();
    for (&topic, &count) in partitions {
        let subscribers: Vec<&String> = order
            .iter()
            .filter(|(_, spec)| spec.topics.contains(&topic))
            .map(|(id, _)| *id)
            .collect();
        if subscribers.is_empty() || count <= 0 {
            continue;
        }
        let n = subscribers.len() as i32;
        let (quota, mut extra) = (count / n, count % n);
        let mut next = 0;
        for id in subscribers {
            let mut size = quota;
            if extra > 0 {
                size += 1;
                extra -= 1;
            }
            let end = (next + size).min(count);
            if next < end {
                if let Some(target) = out.get_mut(id) {
                    target.insert(topic, (next..end).collect());
                }
            }
            next = end;
        }
    }
    out
}
