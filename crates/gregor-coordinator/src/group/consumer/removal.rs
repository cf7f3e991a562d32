//! Members and groups going away: the records for a member that leaves or
//! is fenced (Kafka's `consumerGroupFenceMember`), for a static member
//! replaced by a new incarnation, and for deleting a whole group.

use super::group::ConsumerGroup;
use super::member::ConsumerMember;
use super::records::ConsumerRecord;
use super::roster::Roster;

/// The member's three records tombstoned, in the order Kafka writes them
/// (assignment, target, metadata).
pub(crate) fn member_tombstones(group: &str, member: &str) -> Vec<ConsumerRecord> {
    vec![
        ConsumerRecord::CurrentAssignment {
            group: group.to_string(),
            member: member.to_string(),
            value: None,
        },
        ConsumerRecord::TargetMember {
            group: group.to_string(),
            member: member.to_string(),
            partitions: None,
        },
        ConsumerRecord::Member {
            group: group.to_string(),
            member: member.to_string(),
            value: None,
        },
    ]
}

/// A member leaves (or is fenced): its records go, the subscribed topics
/// are recomputed without it, and the group epoch is bumped so the others
/// get its partitions.
pub(crate) fn fence(group: &ConsumerGroup, member: &str) -> Vec<ConsumerRecord> {
    let mut records = member_tombstones(&group.id, member);
    let roster = Roster {
        group,
        updated: None,
        removed: vec![member],
    };
    let metadata = roster.remaining_metadata();
    if metadata != group.subscription {
        records.push(ConsumerRecord::SubscriptionMetadata {
            group: group.id.clone(),
            topics: Some(metadata.into_values().collect()),
        });
    }
    records.push(ConsumerRecord::GroupEpoch {
        group: group.id.clone(),
        epoch: Some(group.epoch + 1),
    });
    records
}

/// Kafka's `replaceMember`: a static member rejoining under a new member id
/// takes over the old one's target and partitions.
pub(crate) fn replace(
    group: &ConsumerGroup,
    old: &ConsumerMember,
    new: &ConsumerMember,
) -> Vec<ConsumerRecord> {
    let mut records = member_tombstones(&group.id, &old.id);
    records.push(ConsumerRecord::Member {
        group: group.id.clone(),
        member: new.id.clone(),
        value: Some(new.meta.clone()),
    });
    records.push(ConsumerRecord::TargetMember {
        group: group.id.clone(),
        member: new.id.clone(),
        partitions: Some(group.target.get(&old.id).cloned().unwrap_or_default()),
    });
    records.push(ConsumerRecord::CurrentAssignment {
        group: group.id.clone(),
        member: new.id.clone(),
        value: Some(new.current.clone()),
    });
    records
}

/// Everything of the group tombstoned (DeleteGroups, or a classic group
/// taking over the id of an empty consumer group).
pub(crate) fn group_tombstones(group: &ConsumerGroup) -> Vec<ConsumerRecord> {
    let id = || group.id.clone();
    let mut records: Vec<ConsumerRecord> = group
        .members
        .keys()
        .map(|m| ConsumerRecord::CurrentAssignment {
            group: id(),
            member: m.clone(),
            value: None,
        })
        .collect();
    records.extend(group.members.keys().map(|m| ConsumerRecord::TargetMember {
        group: id(),
        member: m.clone(),
        partitions: None,
    }));
    records.push(ConsumerRecord::TargetEpoch {
        group: id(),
        epoch: None,
    });
    records.extend(group.members.keys().map(|m| ConsumerRecord::Member {
        group: id(),
        member: m.clone(),
        value: None,
    }));
    records.push(ConsumerRecord::SubscriptionMetadata {
        group: id(),
        topics: None,
    });
    records.push(ConsumerRecord::GroupEpoch {
        group: id(),
        epoch: None,
    });
    records
}
