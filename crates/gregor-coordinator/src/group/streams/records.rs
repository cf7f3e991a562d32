//! The streams-protocol records of `__consumer_offsets` (KIP-1071), in
//! Kafka 4.4's layout (group-coordinator `StreamsGroup*Key/Value.json`,
//! vendored in gregor-protocol's `schemas/`, whose generated types encode
//! them), so a group survives a restart or a coordinator move and the topic
//! stays readable by Kafka's tools.
//!
//! Key: int16 record type (17, 19 to 23) then the key struct (version 0,
//! classic encoding). Value: int16 version 0 then the value struct
//! (flexible); a missing value is a tombstone. Active and standby tasks
//! are kept; warm-up task lists stay empty (the sticky assignor, like
//! Kafka 4.4's, assigns none).

use super::group::{Assignment, TaskId};
use super::topology::{CopartitionGroup, Subtopology, TopicInfo, Topology};
use crate::coordinator_codec::CodecError;
use crate::record_frame::{key_bytes, value_bytes, Framed};
use bytes::Bytes;
use gregor_protocol::generated::{
    streams_group_current_member_assignment_key as current_k,
    streams_group_current_member_assignment_value as current_v,
    streams_group_member_metadata_key as member_k, streams_group_member_metadata_value as member_v,
    streams_group_metadata_key as group_k, streams_group_metadata_value as group_v,
    streams_group_target_assignment_member_key as target_k,
    streams_group_target_assignment_member_value as target_v,
    streams_group_target_assignment_metadata_key as target_epoch_k,
    streams_group_target_assignment_metadata_value as target_epoch_v,
    streams_group_topology_key as topology_k, streams_group_topology_value as topology_v,
};
use std::collections::BTreeSet;

/// Who a member is (StreamsGroupMemberMetadataValue).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemberMetadata {
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub topology_epoch: i32,
    pub process_id: String,
    pub user_endpoint: Option<(String, u16)>,
    pub client_tags: Vec<(String, String)>,
}

/// Where a member is in its reconciliation (Kafka's streams `MemberState`).
pub const STATE_STABLE: i8 = 0;
pub const STATE_UNREVOKED_TASKS: i8 = 1;
pub const STATE_UNRELEASED_TASKS: i8 = 2;

/// A member's epochs and tasks (StreamsGroupCurrentMemberAssignmentValue).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CurrentAssignment {
    pub epoch: i32,
    pub previous_epoch: i32,
    pub state: i8,
    pub assigned: BTreeSet<TaskId>,
    pub revoking: BTreeSet<TaskId>,
    pub standby: BTreeSet<TaskId>,
    pub revoking_standby: BTreeSet<TaskId>,
}

/// One durable change to a streams group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamsRecord {
    /// Type 17: group epoch and the hash of the task counts the target was
    /// computed for; `None` deletes the group.
    GroupEpoch {
        group: String,
        value: Option<(i32, i64)>,
    },
    /// Type 19.
    Member {
        group: String,
        member: String,
        value: Option<MemberMetadata>,
    },
    /// Type 20: the epoch the target assignment was computed at.
    TargetEpoch { group: String, epoch: Option<i32> },
    /// Type 21: a member's target active tasks.
    TargetMember {
        group: String,
        member: String,
        tasks: Option<Assignment>,
    },
    /// Type 22.
    Current {
        group: String,
        member: String,
        value: Option<CurrentAssignment>,
    },
    /// Type 23.
    Topology {
        group: String,
        value: Option<Topology>,
    },
}

fn member_value(m: &MemberMetadata) -> member_v::StreamsGroupMemberMetadataValue {
    member_v::StreamsGroupMemberMetadataValue {
        instance_id: m.instance_id.clone(),
        rack_id: m.rack_id.clone(),
        client_id: m.client_id.clone(),
        client_host: m.client_host.clone(),
        rebalance_timeout_ms: m.rebalance_timeout_ms,
        topology_epoch: m.topology_epoch,
        process_id: m.process_id.clone(),
        user_endpoint: m
            .user_endpoint
            .as_ref()
            .map(|(host, port)| member_v::Endpoint {
                host: host.clone(),
                port: *port,
                ..Default::default()
            }),
        client_tags: m
            .client_tags
            .iter()
            .map(|(key, value)| member_v::KeyValue {
                key: key.clone(),
                value: value.clone(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

fn member_metadata_of(v: member_v::StreamsGroupMemberMetadataValue) -> MemberMetadata {
    MemberMetadata {
        instance_id: v.instance_id,
        rack_id: v.rack_id,
        client_id: v.client_id,
        client_host: v.client_host,
        rebalance_timeout_ms: v.rebalance_timeout_ms,
        topology_epoch: v.topology_epoch,
        process_id: v.process_id,
        user_endpoint: v.user_endpoint.map(|e| (e.host, e.port)),
        client_tags: v
            .client_tags
            .into_iter()
            .map(|kv| (kv.key, kv.value))
            .collect(),
    }
}

fn tasks_of(ids: &[(String, Vec<i32>)]) -> BTreeSet<TaskId> {
    ids.iter()
        .flat_map(|(sub, parts)| parts.iter().map(move |p| (sub.clone(), *p)))
        .collect()
}

/// Tasks grouped by subtopology, in order.
fn grouped(tasks: &BTreeSet<TaskId>) -> Vec<(String, Vec<i32>)> {
    let mut out: Vec<(String, Vec<i32>)> = Vec::new();
    for (sub, p) in tasks {
        match out.last_mut() {
            Some((last, parts)) if last == sub => parts.push(*p),
            _ => out.push((sub.clone(), vec![*p])),
        }
    }
    out
}

fn current_tasks(tasks: &BTreeSet<TaskId>) -> Vec<current_v::TaskIds> {
    grouped(tasks)
        .into_iter()
        .map(|(subtopology_id, partitions)| current_v::TaskIds {
            subtopology_id,
            partitions,
            ..Default::default()
        })
        .collect()
}

fn target_tasks(tasks: &BTreeSet<TaskId>) -> Vec<target_v::TaskIds> {
    grouped(tasks)
        .into_iter()
        .map(|(subtopology_id, partitions)| target_v::TaskIds {
            subtopology_id,
            partitions,
            ..Default::default()
        })
        .collect()
}

fn topic_info_value(t: &TopicInfo) -> topology_v::TopicInfo {
    topology_v::TopicInfo {
        name: t.name.clone(),
        partitions: t.partitions,
        replication_factor: t.replication_factor,
        topic_configs: t
            .configs
            .iter()
            .map(|(key, value)| topology_v::TopicConfig {
                key: key.clone(),
                value: value.clone(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

fn topic_info_of(t: topology_v::TopicInfo) -> TopicInfo {
    TopicInfo {
        name: t.name,
        partitions: t.partitions,
        replication_factor: t.replication_factor,
        configs: t
            .topic_configs
            .into_iter()
            .map(|c| (c.key, c.value))
            .collect(),
    }
}

fn topology_value(t: &Topology) -> topology_v::StreamsGroupTopologyValue {
    topology_v::StreamsGroupTopologyValue {
        epoch: t.epoch,
        subtopologies: t
            .subtopologies
            .iter()
            .map(|s| topology_v::Subtopology {
                subtopology_id: s.id.clone(),
                source_topics: s.source_topics.clone(),
                source_topic_regex: s.source_topic_regex.clone(),
                repartition_sink_topics: s.repartition_sinks.clone(),
                repartition_source_topics: s
                    .repartition_sources
                    .iter()
                    .map(topic_info_value)
                    .collect(),
                state_changelog_topics: s.changelogs.iter().map(topic_info_value).collect(),
                copartition_groups: s
                    .copartition_groups
                    .iter()
                    .map(|g| topology_v::CopartitionGroup {
                        source_topics: g.source_topics.clone(),
                        source_topic_regex: g.source_topic_regex.clone(),
                        repartition_source_topics: g.repartition_sources.clone(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

fn topology_of(v: topology_v::StreamsGroupTopologyValue) -> Topology {
    Topology {
        epoch: v.epoch,
        subtopologies: v
            .subtopologies
            .into_iter()
            .map(|s| Subtopology {
                id: s.subtopology_id,
                source_topics: s.source_topics,
                source_topic_regex: s.source_topic_regex,
                repartition_sinks: s.repartition_sink_topics,
                repartition_sources: s
                    .repartition_source_topics
                    .into_iter()
                    .map(topic_info_of)
                    .collect(),
                changelogs: s
                    .state_changelog_topics
                    .into_iter()
                    .map(topic_info_of)
                    .collect(),
                copartition_groups: s
                    .copartition_groups
                    .into_iter()
                    .map(|g| CopartitionGroup {
                        source_topics: g.source_topics,
                        source_topic_regex: g.source_topic_regex,
                        repartition_sources: g.repartition_source_topics,
                    })
                    .collect(),
            })
            .collect(),
    }
}

impl StreamsRecord {
    pub fn group_id(&self) -> &str {
        match self {
            StreamsRecord::GroupEpoch { group, .. }
            | StreamsRecord::Member { group, .. }
            | StreamsRecord::TargetEpoch { group, .. }
            | StreamsRecord::TargetMember { group, .. }
            | StreamsRecord::Current { group, .. }
            | StreamsRecord::Topology { group, .. } => group,
        }
    }

    /// Whether a key type is one of the streams records read here. Type 18
    /// (partition metadata, written by Kafka 4.0) is not: it is skipped.
    pub fn is_streams_key(key_type: i16) -> bool {
        matches!(
            key_type,
            group_k::API_KEY
                | member_k::API_KEY
                | target_epoch_k::API_KEY
                | target_k::API_KEY
                | current_k::API_KEY
                | topology_k::API_KEY
        )
    }

    /// Key and value bytes as Kafka 4.4 writes them.
    pub fn encode(&self) -> Result<(Bytes, Option<Bytes>), CodecError> {
        Ok(match self {
            StreamsRecord::GroupEpoch { group, value } => (
                key_bytes(
                    group_k::API_KEY,
                    &group_k::StreamsGroupMetadataKey {
                        group_id: group.clone(),
                        ..Default::default()
                    },
                )?,
                value_bytes(value.map(|(epoch, metadata_hash)| {
                    group_v::StreamsGroupMetadataValue {
                        epoch,
                        metadata_hash,
                        ..Default::default()
                    }
                }))?,
            ),
            StreamsRecord::Member {
                group,
                member,
                value,
            } => (
                key_bytes(
                    member_k::API_KEY,
                    &member_k::StreamsGroupMemberMetadataKey {
                        group_id: group.clone(),
                        member_id: member.clone(),
                        ..Default::default()
                    },
                )?,
                value_bytes(value.as_ref().map(member_value))?,
            ),
            StreamsRecord::TargetEpoch { group, epoch } => (
                key_bytes(
                    target_epoch_k::API_KEY,
                    &target_epoch_k::StreamsGroupTargetAssignmentMetadataKey {
                        group_id: group.clone(),
                        ..Default::default()
                    },
                )?,
                value_bytes(epoch.map(|assignment_epoch| {
                    target_epoch_v::StreamsGroupTargetAssignmentMetadataValue {
                        assignment_epoch,
                        ..Default::default()
                    }
                }))?,
            ),
            StreamsRecord::TargetMember {
                group,
                member,
                tasks,
            } => (
                key_bytes(
                    target_k::API_KEY,
                    &target_k::StreamsGroupTargetAssignmentMemberKey {
                        group_id: group.clone(),
                        member_id: member.clone(),
                        ..Default::default()
                    },
                )?,
                value_bytes(tasks.as_ref().map(|tasks| {
                    target_v::StreamsGroupTargetAssignmentMemberValue {
                        active_tasks: target_tasks(&tasks.active),
                        standby_tasks: target_tasks(&tasks.standby),
                        ..Default::default()
                    }
                }))?,
            ),
            StreamsRecord::Current {
                group,
                member,
                value,
            } => (
                key_bytes(
                    current_k::API_KEY,
                    &current_k::StreamsGroupCurrentMemberAssignmentKey {
                        group_id: group.clone(),
                        member_id: member.clone(),
                        ..Default::default()
                    },
                )?,
                value_bytes(value.as_ref().map(|c| {
                    current_v::StreamsGroupCurrentMemberAssignmentValue {
                        member_epoch: c.epoch,
                        previous_member_epoch: c.previous_epoch,
                        state: c.state,
                        active_tasks: current_tasks(&c.assigned),
                        active_tasks_pending_revocation: current_tasks(&c.revoking),
                        standby_tasks: current_tasks(&c.standby),
                        standby_tasks_pending_revocation: current_tasks(&c.revoking_standby),
                        ..Default::default()
                    }
                }))?,
            ),
            StreamsRecord::Topology { group, value } => (
                key_bytes(
                    topology_k::API_KEY,
                    &topology_k::StreamsGroupTopologyKey {
                        group_id: group.clone(),
                        ..Default::default()
                    },
                )?,
                value_bytes(value.as_ref().map(topology_value))?,
            ),
        })
    }

    /// Decodes a record whose key type passed [`Self::is_streams_key`].
    pub fn decode(key: &[u8], value: Option<&[u8]>) -> Result<StreamsRecord, CodecError> {
        let record = Framed::split(key, value, "streams group")?;
        Ok(match record.record_type {
            group_k::API_KEY => StreamsRecord::GroupEpoch {
                group: record.key::<group_k::StreamsGroupMetadataKey>()?.group_id,
                value: record
                    .value::<group_v::StreamsGroupMetadataValue>()?
                    .map(|v| (v.epoch, v.metadata_hash)),
            },
            member_k::API_KEY => {
                let key: member_k::StreamsGroupMemberMetadataKey = record.key()?;
                StreamsRecord::Member {
                    group: key.group_id,
                    member: key.member_id,
                    value: record
                        .value::<member_v::StreamsGroupMemberMetadataValue>()?
                        .map(member_metadata_of),
                }
            }
            target_epoch_k::API_KEY => StreamsRecord::TargetEpoch {
                group: record
                    .key::<target_epoch_k::StreamsGroupTargetAssignmentMetadataKey>()?
                    .group_id,
                epoch: record
                    .value::<target_epoch_v::StreamsGroupTargetAssignmentMetadataValue>()?
                    .map(|v| v.assignment_epoch),
            },
            target_k::API_KEY => {
                let key: target_k::StreamsGroupTargetAssignmentMemberKey = record.key()?;
                let ids = |t: Vec<target_v::TaskIds>| -> Vec<(String, Vec<i32>)> {
                    t.into_iter()
                        .map(|t| (t.subtopology_id, t.partitions))
                        .collect()
                };
                StreamsRecord::TargetMember {
                    group: key.group_id,
                    member: key.member_id,
                    tasks: record
                        .value::<target_v::StreamsGroupTargetAssignmentMemberValue>()?
                        .map(|v| Assignment {
                            active: tasks_of(&ids(v.active_tasks)),
                            standby: tasks_of(&ids(v.standby_tasks)),
                        }),
                }
            }
            current_k::API_KEY => {
                let key: current_k::StreamsGroupCurrentMemberAssignmentKey = record.key()?;
                let ids = |t: Vec<current_v::TaskIds>| -> Vec<(String, Vec<i32>)> {
                    t.into_iter()
                        .map(|t| (t.subtopology_id, t.partitions))
                        .collect()
                };
                StreamsRecord::Current {
                    group: key.group_id,
                    member: key.member_id,
                    value: record
                        .value::<current_v::StreamsGroupCurrentMemberAssignmentValue>()?
                        .map(|v| CurrentAssignment {
                            epoch: v.member_epoch,
                            previous_epoch: v.previous_member_epoch,
                            state: v.state,
                            assigned: tasks_of(&ids(v.active_tasks)),
                            revoking: tasks_of(&ids(v.active_tasks_pending_revocation)),
                            standby: tasks_of(&ids(v.standby_tasks)),
                            revoking_standby: tasks_of(&ids(v.standby_tasks_pending_revocation)),
                        }),
                }
            }
            topology_k::API_KEY => StreamsRecord::Topology {
                group: record
                    .key::<topology_k::StreamsGroupTopologyKey>()?
                    .group_id,
                value: record
                    .value::<topology_v::StreamsGroupTopologyValue>()?
                    .map(topology_of),
            },
            other => return Err(CodecError::UnknownKey(other)),
        })
    }
}
