//! Sets of partitions by topic id, the currency of the consumer protocol:
//! what a member owns, must revoke, or is targeted to get.

use kafka_protocol::messages::consumer_group_heartbeat_request::TopicPartitions as OwnedTopic;
use kafka_protocol::messages::consumer_group_heartbeat_response::TopicPartitions as AssignedTopic;
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

/// Partitions by topic id; topics with no partitions are never kept.
pub type Assignment = BTreeMap<Uuid, BTreeSet<i32>>;

pub fn count(assignment: &Assignment) -> usize {
    assignment.values().map(BTreeSet::len).sum()
}

pub fn contains(assignment: &Assignment, topic: Uuid, partition: i32) -> bool {
    assignment
        .get(&topic)
        .is_some_and(|parts| parts.contains(&partition))
}

/// Adds one partition.
pub fn insert(assignment: &mut Assignment, topic: Uuid, partition: i32) {
    assignment.entry(topic).or_default().insert(partition);
}

/// Removes one partition, dropping the topic when it empties.
pub fn remove(assignment: &mut Assignment, topic: Uuid, partition: i32) {
    if let Some(parts) = assignment.get_mut(&topic) {
        parts.remove(&partition);
        if parts.is_empty() {
            assignment.remove(&topic);
        }
    }
}

/// Every (topic, partition) pair, in order.
pub fn pairs(assignment: &Assignment) -> impl Iterator<Item = (Uuid, i32)> + '_ {
    assignment
        .iter()
        .flat_map(|(topic, parts)| parts.iter().map(move |p| (*topic, *p)))
}

/// What a member says it owns. A topic listed twice adds up, as Kafka reads
/// every entry.
pub fn from_owned(owned: &[OwnedTopic]) -> Assignment {
    let mut out = Assignment::new();
    for topic in owned {
        for &partition in &topic.partitions {
            insert(&mut out, topic.topic_id, partition);
        }
    }
    out
}

/// Kafka's `isSubset`: the member owns nothing outside `target`. Not
/// reporting what it owns (`None`) is never a subset.
pub fn owned_within(owned: Option<&Assignment>, target: &Assignment) -> bool {
    owned.is_some_and(|owned| pairs(owned).all(|(t, p)| contains(target, t, p)))
}

/// Kafka's `ownsRevokedPartitions`: the member still holds one of
/// `revoking`. A member that does not say what it owns is assumed to.
pub fn still_owns_any(owned: Option<&Assignment>, revoking: &Assignment) -> bool {
    match owned {
        None => true,
        Some(owned) => pairs(owned).any(|(t, p)| contains(revoking, t, p)),
    }
}

/// The assignment as a ConsumerGroupHeartbeat response lists it.
pub fn to_response(assignment: &Assignment) -> Vec<AssignedTopic> {
    assignment
        .iter()
        .map(|(topic, parts)| {
            AssignedTopic::default()
                .with_topic_id(*topic)
                .with_partitions(parts.iter().copied().collect())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(n: u8) -> Uuid {
        Uuid::from_bytes([n; 16])
    }

    #[test]
    fn owned_partitions_merge_and_compare() {
        let owned = from_owned(&[
            OwnedTopic::default()
                .with_topic_id(t(1))
                .with_partitions(vec![0, 1]),
            OwnedTopic::default()
                .with_topic_id(t(1))
                .with_partitions(vec![2]),
        ]);
        assert_eq!(count(&owned), 3);
        let mut target = owned.clone();
        assert!(owned_within(Some(&owned), &target));
        remove(&mut target, t(1), 2);
        assert!(!owned_within(Some(&owned), &target));
        assert!(!owned_within(None, &target));
        let mut revoking = Assignment::new();
        insert(&mut revoking, t(2), 0);
        assert!(!still_owns_any(Some(&owned), &revoking));
        assert!(still_owns_any(None, &revoking));
        insert(&mut revoking, t(1), 1);
        assert!(still_owns_any(Some(&owned), &revoking));
        remove(&mut revoking, t(2), 0);
        assert_eq!(revoking.keys().collect::<Vec<_>>(), vec![&t(1)]);
    }
}
