//! Writing a streams group's changes as records and applying them back.
//!
//! The heartbeat, leave and fencing code change the group in memory; the
//! records for a change are the difference between the group before and
//! after it, in the order Kafka writes them (member metadata, group epoch,
//! topology, targets, current assignments; tombstones child first). Replay
//! rebuilds the group from them when this broker loads the partition.

use super::group::{StreamsGroup, StreamsMember};
use super::records::{
    CurrentAssignment, MemberMetadata, StreamsRecord, STATE_STABLE, STATE_UNRELEASED_TASKS,
    STATE_UNREVOKED_TASKS,
};
use crate::group::GroupCoordinator;
use std::collections::BTreeMap;

/// A stable 64-bit FNV-1a hash of the task counts the target assignment
/// was computed for (stored as the group's MetadataHash); 0 for none, so a
/// new group matches an unconfigured one.
pub fn tasks_hash(tasks: &BTreeMap<String, i32>) -> i64 {
    if tasks.is_empty() {
        return 0;
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    for (sub, n) in tasks {
        eat(&(sub.len() as u64).to_be_bytes());
        eat(sub.as_bytes());
        eat(&n.to_be_bytes());
    }
    i64::from_be_bytes(h.to_be_bytes())
}

pub fn metadata_of(m: &StreamsMember) -> MemberMetadata {
    MemberMetadata {
        instance_id: m.instance_id.clone(),
        rack_id: m.rack_id.clone(),
        client_id: m.client_id.clone(),
        client_host: m.client_host.clone(),
        rebalance_timeout_ms: m.rebalance_timeout_ms,
        topology_epoch: m.topology_epoch,
        process_id: m.process_id.clone(),
        user_endpoint: m.user_endpoint.clone(),
        client_tags: m.client_tags.clone(),
    }
}

pub fn current_of(group: &StreamsGroup, m: &StreamsMember) -> CurrentAssignment {
    let state = if !m.revoking.is_empty() || !m.revoking_standby.is_empty() {
        STATE_UNREVOKED_TASKS
    } else if group
        .target
        .get(&m.id)
        .is_some_and(|t| *t != StreamsGroup::current(m))
    {
        STATE_UNRELEASED_TASKS
    } else {
        STATE_STABLE
    };
    CurrentAssignment {
        epoch: m.epoch,
        previous_epoch: m.previous_epoch,
        state,
        assigned: m.assigned.clone(),
        revoking: m.revoking.clone(),
        standby: m.standby.clone(),
        revoking_standby: m.revoking_standby.clone(),
    }
}

/// Tombstones for a whole group.
pub fn group_tombstones(group: &StreamsGroup) -> Vec<StreamsRecord> {
    let id = || group.id.clone();
    let mut out = Vec::new();
    for m in group.members.keys() {
        out.push(StreamsRecord::Current {
            group: id(),
            member: m.clone(),
            value: None,
        });
    }
    for m in group.members.keys().chain(group.target.keys()) {
        out.push(StreamsRecord::TargetMember {
            group: id(),
            member: m.clone(),
            tasks: None,
        });
    }
    out.push(StreamsRecord::TargetEpoch {
        group: id(),
        epoch: None,
    });
    for m in group.members.keys() {
        out.push(StreamsRecord::Member {
            group: id(),
            member: m.clone(),
            value: None,
        });
    }
    out.push(StreamsRecord::Topology {
        group: id(),
        value: None,
    });
    out.push(StreamsRecord::GroupEpoch {
        group: id(),
        value: None,
    });
    out
}

/// The records that turn `before` into `after` (`None`: no such group).
pub fn diff(
    group_id: &str,
    before: Option<&StreamsGroup>,
    after: Option<&StreamsGroup>,
) -> Vec<StreamsRecord> {
    let Some(after) = after else {
        return before.map(group_tombstones).unwrap_or_default();
    };
    let empty = StreamsGroup::new(group_id);
    let before = before.unwrap_or(&empty);
    let id = || group_id.to_string();
    let mut out = Vec::new();
    // Members gone: their tombstones, child records first.
    for gone in before
        .members
        .keys()
        .filter(|m| !after.members.contains_key(*m))
    {
        out.push(StreamsRecord::Current {
            group: id(),
            member: gone.clone(),
            value: None,
        });
        out.push(StreamsRecord::TargetMember {
            group: id(),
            member: gone.clone(),
            tasks: None,
        });
        out.push(StreamsRecord::Member {
            group: id(),
            member: gone.clone(),
            value: None,
        });
    }
    for (mid, m) in &after.members {
        let meta = metadata_of(m);
        if before.members.get(mid).map(metadata_of).as_ref() != Some(&meta) {
            out.push(StreamsRecord::Member {
                group: id(),
                member: mid.clone(),
                value: Some(meta),
            });
        }
    }
    if (before.epoch, before.metadata_hash) != (after.epoch, after.metadata_hash) {
        out.push(StreamsRecord::GroupEpoch {
            group: id(),
            value: Some((after.epoch, after.metadata_hash)),
        });
    }
    if before.topology != after.topology {
        out.push(StreamsRecord::Topology {
            group: id(),
            value: after.topology.clone(),
        });
    }
    for (mid, tasks) in &after.target {
        if before.target.get(mid) != Some(tasks) {
            out.push(StreamsRecord::TargetMember {
                group: id(),
                member: mid.clone(),
                tasks: Some(tasks.clone()),
            });
        }
    }
    for mid in before.target.keys() {
        // Members that left were tombstoned above.
        if !after.target.contains_key(mid) && after.members.contains_key(mid) {
            out.push(StreamsRecord::TargetMember {
                group: id(),
                member: mid.clone(),
                tasks: None,
            });
        }
    }
    if before.assignment_epoch != after.assignment_epoch {
        out.push(StreamsRecord::TargetEpoch {
            group: id(),
            epoch: Some(after.assignment_epoch),
        });
    }
    for (mid, m) in &after.members {
        let current = current_of(after, m);
        let prior = before.members.get(mid).map(|p| current_of(before, p));
        if prior.as_ref() != Some(&current) {
            out.push(StreamsRecord::Current {
                group: id(),
                member: mid.clone(),
                value: Some(current),
            });
        }
    }
    out
}

impl GroupCoordinator {
    /// Applies one streams record. Timers of the members it touches start
    /// from `now_ms`, as Kafka's do when it loads a group.
    pub(crate) fn replay_streams(&mut self, record: StreamsRecord, now_ms: i64) {
        let session = i64::from(self.config.streams.session_timeout_ms);
        let create = |groups: &mut BTreeMap<String, StreamsGroup>, id: &str| {
            groups
                .entry(id.to_string())
                .or_insert_with(|| StreamsGroup::new(id));
        };
        match record {
            StreamsRecord::GroupEpoch { group, value: None } => {
                self.streams_groups.remove(&group);
            }
            StreamsRecord::GroupEpoch {
                group,
                value: Some((epoch, hash)),
            } => {
                create(&mut self.streams_groups, &group);
                if let Some(g) = self.streams_groups.get_mut(&group) {
                    g.epoch = epoch;
                    g.metadata_hash = hash;
                }
            }
            StreamsRecord::Topology { group, value } => {
                if value.is_some() {
                    create(&mut self.streams_groups, &group);
                }
                if let Some(g) = self.streams_groups.get_mut(&group) {
                    g.topology = value;
                }
            }
            StreamsRecord::Member {
                group,
                member,
                value,
            } => match value {
                Some(meta) => {
                    create(&mut self.streams_groups, &group);
                    if let Some(g) = self.streams_groups.get_mut(&group) {
                        let m = g
                            .members
                            .entry(member.clone())
                            .or_insert_with(|| StreamsMember {
                                id: member.clone(),
                                ..Default::default()
                            });
                        apply_metadata(m, meta);
                        m.session_deadline.get_or_insert(now_ms + session);
                    }
                }
                None => {
                    if let Some(g) = self.streams_groups.get_mut(&group) {
                        g.members.remove(&member);
                        g.target.remove(&member);
                    }
                }
            },
            StreamsRecord::TargetEpoch { group, epoch } => {
                if epoch.is_some() {
                    create(&mut self.streams_groups, &group);
                }
                if let Some(g) = self.streams_groups.get_mut(&group) {
                    // Kafka's marker for "deleted" is -1.
                    g.assignment_epoch = epoch.unwrap_or(-1);
                }
            }
            StreamsRecord::TargetMember {
                group,
                member,
                tasks,
            } => {
                if tasks.is_some() {
                    create(&mut self.streams_groups, &group);
                }
                if let Some(g) = self.streams_groups.get_mut(&group) {
                    match tasks {
                        Some(t) => {
                            g.target.insert(member, t);
                        }
                        None => {
                            g.target.remove(&member);
                        }
                    }
                }
            }
            StreamsRecord::Current {
                group,
                member,
                value,
            } => {
                if value.is_some() {
                    create(&mut self.streams_groups, &group);
                }
                let Some(g) = self.streams_groups.get_mut(&group) else {
                    return;
                };
                let Some(current) = value else {
                    // The member's metadata tombstone follows and removes it.
                    if let Some(m) = g.members.get_mut(&member) {
                        m.epoch = -1;
                        m.previous_epoch = -1;
                        m.assigned.clear();
                        m.revoking.clear();
                        m.standby.clear();
                        m.revoking_standby.clear();
                        m.rebalance_deadline = None;
                    }
                    return;
                };
                let m = g
                    .members
                    .entry(member.clone())
                    .or_insert_with(|| StreamsMember {
                        id: member.clone(),
                        ..Default::default()
                    });
                m.epoch = current.epoch;
                m.previous_epoch = current.previous_epoch;
                m.assigned = current.assigned;
                m.revoking = current.revoking;
                m.standby = current.standby;
                m.revoking_standby = current.revoking_standby;
                m.session_deadline.get_or_insert(now_ms + session);
                let revoking = !m.revoking.is_empty() || !m.revoking_standby.is_empty();
                m.rebalance_deadline = revoking.then(|| {
                    let timeout = i64::from(m.rebalance_timeout_ms.max(0));
                    (now_ms + timeout, m.epoch)
                });
            }
        }
    }
}

fn apply_metadata(m: &mut StreamsMember, meta: MemberMetadata) {
    m.instance_id = meta.instance_id;
    m.rack_id = meta.rack_id;
    m.client_id = meta.client_id;
    m.client_host = meta.client_host;
    m.rebalance_timeout_ms = meta.rebalance_timeout_ms;
    m.topology_epoch = meta.topology_epoch;
    m.process_id = meta.process_id;
    m.user_endpoint = meta.user_endpoint;
    m.client_tags = meta.client_tags;
}
