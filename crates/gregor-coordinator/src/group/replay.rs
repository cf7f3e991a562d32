//! Rebuilding state from `__consumer_offsets` when this broker becomes the
//! coordinator of one of its partitions.

use super::committed;
use super::member::{Member, Protocol};
use super::records::{GroupValue, Record};
use super::state::{Group, GroupState};
use super::GroupCoordinator;

impl GroupCoordinator {
    /// Applies one record read back from the log; call it for every record
    /// of the partition, oldest first, before serving its groups. A group
    /// with members comes back Stable, their sessions starting at `now_ms`
    /// (members that are really gone then expire as usual).
    pub fn replay(&mut self, record: Record, now_ms: i64) {
        match record {
            Record::Offset {
                group,
                topic,
                partition,
                value,
            } => {
                if value.is_none() {
                    self.drop_pending_key(&group, &topic, partition);
                }
                if !self.groups.contains_key(&group) {
                    self.note_group_creation(&group);
                }
                let g = self
                    .groups
                    .entry(group.clone())
                    .or_insert_with(|| Group::new(&group, now_ms));
                let key = (topic, partition);
                let prior = match value {
                    Some(value) => g.offsets.insert(key.clone(), value),
                    None => g.offsets.remove(&key),
                };
                committed::note(&mut self.journal, &group, &key.0, key.1, prior);
                if g.is_unused() {
                    if let Some(removed) = self.groups.remove(&group) {
                        self.note_group_removal(&removed);
                    }
                }
            }
            Record::Group {
                group,
                value: Some(value),
            } => {
                // One group id, one group: a classic group replaces a
                // consumer group only after its tombstones, but a log that
                // says otherwise must not leave both behind.
                self.consumer_groups.remove(&group);
                let g = self
                    .groups
                    .entry(group.clone())
                    .or_insert_with(|| Group::new(&group, now_ms));
                load_group(g, value, now_ms);
            }
            Record::Consumer(record) => self.replay_consumer(record, now_ms),
            Record::Streams(record) => self.replay_streams(record, now_ms),
            Record::Share(record) => self.replay_share(record, now_ms),
            Record::Group { group, value: None } => {
                // Offsets are separate records with their own tombstones; a
                // group deleted with offsets left over lives on without
                // members, as a group that only ever committed would.
                let keep = self
                    .groups
                    .get(&group)
                    .is_some_and(|g| !g.offsets.is_empty());
                if keep {
                    if let Some(g) = self.groups.get_mut(&group) {
                        let offsets = std::mem::take(&mut g.offsets);
                        *g = Group::new(&group, now_ms);
                        g.offsets = offsets;
                    }
                } else if let Some(removed) = self.groups.remove(&group) {
                    self.note_group_removal(&removed);
                }
            }
        }
    }
}

fn load_group(group: &mut Group, value: GroupValue, now_ms: i64) {
    let offsets = std::mem::take(&mut group.offsets);
    *group = Group::new(&group.id, value.current_state_timestamp.max(0));
    group.offsets = offsets;
    group.generation = value.generation;
    group.protocol_type = (!value.protocol_type.is_empty()).then_some(value.protocol_type);
    group.protocol_name = value.protocol;
    let protocol_name = group.protocol_name.clone().unwrap_or_default();
    for m in value.members {
        let member = Member {
            id: m.member_id,
            instance_id: m.group_instance_id,
            client_id: m.client_id,
            client_host: m.client_host,
            rebalance_timeout_ms: m.rebalance_timeout,
            session_timeout_ms: m.session_timeout,
            protocol_type: group.protocol_type.clone().unwrap_or_default(),
            // Only the selected protocol's metadata is stored; it is all a
            // Stable group needs until the next rebalance.
            protocols: vec![Protocol {
                name: protocol_name.clone(),
                metadata: m.subscription,
            }],
            assignment: m.assignment,
            awaiting_join: None,
            awaiting_sync: None,
            is_new: false,
            heartbeat_deadline: Some(now_ms + i64::from(m.session_timeout)),
            seq: 0,
        };
        group.add_member(member);
    }
    // add_member makes the first member leader; the record knows better.
    if value
        .leader
        .as_ref()
        .is_some_and(|l| group.members.contains_key(l))
    {
        group.leader = value.leader;
    }
    let state = if group.members.is_empty() {
        GroupState::Empty
    } else {
        GroupState::Stable
    };
    group.state = state;
    group.previous_state = state;
    group.subscribed_topics = group.compute_subscribed_topics();
}
