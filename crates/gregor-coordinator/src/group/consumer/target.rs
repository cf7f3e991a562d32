//! Recomputing a group's target assignment for a new group epoch, as
//! Kafka's `TargetAssignmentBuilder`: the assignor sees every member's
//! subscription (existing topics only) and previous target, and only the
//! members whose target changed get a record, followed by the new
//! assignment epoch.

use super::assignment::Assignment;
use super::assignor::{Assignor, MemberSpec};
use super::records::{ConsumerRecord, TopicMetadata};
use super::roster::Roster;
use std::collections::BTreeMap;
use uuid::Uuid;

/// The new target of every member in the roster, and the records that
/// persist the difference.
pub(crate) fn recompute(
    roster: &Roster<'_>,
    metadata: &BTreeMap<String, TopicMetadata>,
    assignor: Assignor,
    epoch: i32,
) -> (BTreeMap<String, Assignment>, Vec<ConsumerRecord>) {
    let group = roster.group;
    let partitions: BTreeMap<Uuid, i32> = metadata.values().map(|t| (t.id, t.partitions)).collect();
    let mut specs = BTreeMap::new();
    for (member, regex) in roster.members() {
        // A static member that replaces its previous incarnation inherits
        // its target, so it gets its old partitions back.
        let current = match member.instance_id() {
            Some(instance) if !group.members.contains_key(&member.id) => {
                group.target_of(&member.id, Some(instance))
            }
            _ => group.target.get(&member.id).cloned().unwrap_or_default(),
        };
        let topics = metadata
            .values()
            .filter(|t| roster.subscribes(member, regex, &t.name))
            .map(|t| t.id)
            .collect();
        specs.insert(
            member.id.clone(),
            MemberSpec {
                instance_id: member.meta.instance_id.clone(),
                topics,
                current,
            },
        );
    }
    let target = assignor.assign(&specs, &partitions);
    let mut records = Vec::new();
    for (member, assignment) in &target {
        if group.target.get(member) != Some(assignment) {
            records.push(ConsumerRecord::TargetMember {
                group: group.id.clone(),
                member: member.clone(),
                partitions: Some(assignment.clone()),
            });
        }
    }
    records.push(ConsumerRecord::TargetEpoch {
        group: group.id.clone(),
        epoch: Some(epoch),
    });
    (target, records)
}
