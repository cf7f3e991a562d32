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
use bytes::{BufMut, Bytes, BytesMut};
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

const VERSION: i16 = 0;

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

fn schema(err: impl std::fmt::Display) -> CodecError {
    CodecError::Schema(err.to_string())
}

macro_rules! encode_struct {
    ($buf:expr, $value:expr) => {
        $value.encode_body(&mut $buf, VERSION).map_err(schema)?
    };
}

fn value_bytes(
    encode: impl FnOnce(&mut BytesMut) -> Result<(), CodecError>,
) -> Result<Bytes, CodecError> {
    let mut buf = BytesMut::new();
    buf.put_i16(VERSION);
    encode(&mut buf)?;
    Ok(buf.freeze())
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
        let mut key = BytesMut::new();
        let value = match self {
            StreamsRecord::GroupEpoch { group, value } => {
                key.put_i16(group_k::API_KEY);
                encode_struct!(
                    key,
                    group_k::StreamsGroupMetadataKey {
                        group_id: group.clone(),
                        ..Default::default()
                    }
                );
                value
                    .map(|(epoch, metadata_hash)| {
                        value_bytes(|b| {
                            encode_struct!(
                                *b,
                                group_v::StreamsGroupMetadataValue {
                                    epoch,
                                    metadata_hash,
                                    ..Default::default()
                                }
                            );
                            Ok(())
                        })
                    })
                    .transpose()?
            }
            StreamsRecord::Member {
                group,
                member,
                value,
            } => {
                key.put_i16(member_k::API_KEY);
                encode_struct!(
                    key,
                    member_k::StreamsGroupMemberMetadataKey {
                        group_id: group.clone(),
                        member_id: member.clone(),
                        ..Default::default()
                    }
                );
                value
                    .as_ref()
                    .map(|m| {
                        value_bytes(|b| {
                            let v = member_v::StreamsGroupMemberMetadataValue {
                                instance_id: m.instance_id.clone(),
                                rack_id: m.rack_id.clone(),
                                client_id: m.client_id.clone(),
                                client_host: m.client_host.clone(),
                                rebalance_timeout_ms: m.rebalance_timeout_ms,
                                topology_epoch: m.topology_epoch,
                                process_id: m.process_id.clone(),
                                user_endpoint: m.user_endpoint.as_ref().map(|(host, port)| {
                                    member_v::Endpoint {
                                        host: host.clone(),
                                        port: *port,
                                        ..Default::default()
                                    }
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
                            };
                            encode_struct!(*b, v);
                            Ok(())
                        })
                    })
                    .transpose()?
            }
            StreamsRecord::TargetEpoch { group, epoch } => {
                key.put_i16(target_epoch_k::API_KEY);
                encode_struct!(
                    key,
                    target_epoch_k::StreamsGroupTargetAssignmentMetadataKey {
                        group_id: group.clone(),
                        ..Default::default()
                    }
                );
                epoch
                    .map(|assignment_epoch| {
                        value_bytes(|b| {
                            encode_struct!(
                                *b,
                                target_epoch_v::StreamsGroupTargetAssignmentMetadataValue {
                                    assignment_epoch,
                                    ..Default::default()
                                }
                            );
                            Ok(())
                        })
                    })
                    .transpose()?
            }
            StreamsRecord::TargetMember {
                group,
                member,
                tasks,
            } => {
                key.put_i16(target_k::API_KEY);
                encode_struct!(
                    key,
                    target_k::StreamsGroupTargetAssignmentMemberKey {
                        group_id: group.clone(),
                        member_id: member.clone(),
                        ..Default::default()
                    }
                );
                tasks
                    .as_ref()
                    .map(|tasks| {
                        value_bytes(|b| {
                            encode_struct!(
                                *b,
                                target_v::StreamsGroupTargetAssignmentMemberValue {
                                    active_tasks: target_tasks(&tasks.active),
                                    standby_tasks: target_tasks(&tasks.standby),
                                    ..Default::default()
                                }
                            );
                            Ok(())
                        })
                    })
                    .transpose()?
            }
            StreamsRecord::Current {
                group,
                member,
                value,
            } => {
                key.put_i16(current_k::API_KEY);
                encode_struct!(
                    key,
                    current_k::StreamsGroupCurrentMemberAssignmentKey {
                        group_id: group.clone(),
                        member_id: member.clone(),
                        ..Default::default()
                    }
                );
                value
                    .as_ref()
                    .map(|c| {
                        value_bytes(|b| {
                            let v = current_v::StreamsGroupCurrentMemberAssignmentValue {
                                member_epoch: c.epoch,
                                previous_member_epoch: c.previous_epoch,
                                state: c.state,
                                active_tasks: current_tasks(&c.assigned),
                                active_tasks_pending_revocation: current_tasks(&c.revoking),
                                standby_tasks: current_tasks(&c.standby),
                                standby_tasks_pending_revocation: current_tasks(
                                    &c.revoking_standby,
                                ),
                                ..Default::default()
                            };
                            encode_struct!(*b, v);
                            Ok(())
                        })
                    })
                    .transpose()?
            }
            StreamsRecord::Topology { group, value } => {
                key.put_i16(topology_k::API_KEY);
                encode_struct!(
                    key,
                    topology_k::StreamsGroupTopologyKey {
                        group_id: group.clone(),
                        ..Default::default()
                    }
                );
                value
                    .as_ref()
                    .map(|t| {
                        value_bytes(|b| {
                            encode_struct!(*b, topology_value(t));
                            Ok(())
                        })
                    })
                    .transpose()?
            }
        };
        Ok((key.freeze(), value))
    }

    /// Decodes a record whose key type passed [`Self::is_streams_key`].
    pub fn decode(key: &[u8], value: Option<&[u8]>) -> Result<StreamsRecord, CodecError> {
        let mut k = key;
        if k.len() < 2 {
            return Err(CodecError::Truncated);
        }
        let key_type = i16::from_be_bytes([k[0], k[1]]);
        k = &k[2..];
        // The value's version, then its body (None for a tombstone).
        let body = match value {
            None => None,
            Some(v) if v.len() < 2 => return Err(CodecError::Truncated),
            Some(v) => {
                let version = i16::from_be_bytes([v[0], v[1]]);
                if version != VERSION {
                    return Err(CodecError::UnknownValueVersion {
                        kind: "streams group",
                        version,
                    });
                }
                Some(&v[2..])
            }
        };
        Ok(match key_type {
            group_k::API_KEY => StreamsRecord::GroupEpoch {
                group: group_k::StreamsGroupMetadataKey::decode_body(&mut k, VERSION)
                    .map_err(schema)?
                    .group_id,
                value: match body {
                    None => None,
                    Some(mut b) => {
                        let v = group_v::StreamsGroupMetadataValue::decode_body(&mut b, VERSION)
                            .map_err(schema)?;
                        Some((v.epoch, v.metadata_hash))
                    }
                },
            },
            member_k::API_KEY => {
                let key = member_k::StreamsGroupMemberMetadataKey::decode_body(&mut k, VERSION)
                    .map_err(schema)?;
                let value = match body {
                    None => None,
                    Some(mut b) => {
                        let v =
                            member_v::StreamsGroupMemberMetadataValue::decode_body(&mut b, VERSION)
                                .map_err(schema)?;
                        Some(MemberMetadata {
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
                        })
                    }
                };
                StreamsRecord::Member {
                    group: key.group_id,
                    member: key.member_id,
                    value,
                }
            }
            target_epoch_k::API_KEY => StreamsRecord::TargetEpoch {
                group: target_epoch_k::StreamsGroupTargetAssignmentMetadataKey::decode_body(
                    &mut k, VERSION,
                )
                .map_err(schema)?
                .group_id,
                epoch: match body {
                    None => None,
                    Some(mut b) => Some(
                        target_epoch_v::StreamsGroupTargetAssignmentMetadataValue::decode_body(
                            &mut b, VERSION,
                        )
                        .map_err(schema)?
                        .assignment_epoch,
                    ),
                },
            },
            target_k::API_KEY => {
                let key =
                    target_k::StreamsGroupTargetAssignmentMemberKey::decode_body(&mut k, VERSION)
                        .map_err(schema)?;
                let tasks = match body {
                    None => None,
                    Some(mut b) => {
                        let v = target_v::StreamsGroupTargetAssignmentMemberValue::decode_body(
                            &mut b, VERSION,
                        )
                        .map_err(schema)?;
                        let ids = |t: Vec<target_v::TaskIds>| -> Vec<(String, Vec<i32>)> {
                            t.into_iter()
                                .map(|t| (t.subtopology_id, t.partitions))
                                .collect()
                        };
                        Some(Assignment {
                            active: tasks_of(&ids(v.active_tasks)),
                            standby: tasks_of(&ids(v.standby_tasks)),
                        })
                    }
                };
                StreamsRecord::TargetMember {
                    group: key.group_id,
                    member: key.member_id,
                    tasks,
                }
            }
            current_k::API_KEY => {
                let key =
                    current_k::StreamsGroupCurrentMemberAssignmentKey::decode_body(&mut k, VERSION)
                        .map_err(schema)?;
                let value = match body {
                    None => None,
                    Some(mut b) => {
                        let v = current_v::StreamsGroupCurrentMemberAssignmentValue::decode_body(
                            &mut b, VERSION,
                        )
                        .map_err(schema)?;
                        let ids = |t: Vec<current_v::TaskIds>| -> Vec<(String, Vec<i32>)> {
                            t.into_iter()
                                .map(|t| (t.subtopology_id, t.partitions))
                                .collect()
                        };
                        Some(CurrentAssignment {
                            epoch: v.member_epoch,
                            previous_epoch: v.previous_member_epoch,
                            state: v.state,
                            assigned: tasks_of(&ids(v.active_tasks)),
                            revoking: tasks_of(&ids(v.active_tasks_pending_revocation)),
                            standby: tasks_of(&ids(v.standby_tasks)),
                            revoking_standby: tasks_of(&ids(v.standby_tasks_pending_revocation)),
                        })
                    }
                };
                StreamsRecord::Current {
                    group: key.group_id,
                    member: key.member_id,
                    value,
                }
            }
            topology_k::API_KEY => StreamsRecord::Topology {
                group: topology_k::StreamsGroupTopologyKey::decode_body(&mut k, VERSION)
                    .map_err(schema)?
                    .group_id,
                value: match body {
                    None => None,
                    Some(mut b) => Some(topology_of(
                        topology_v::StreamsGroupTopologyValue::decode_body(&mut b, VERSION)
                            .map_err(schema)?,
                    )),
                },
            },
            other => return Err(CodecError::UnknownKey(other)),
        })
    }
}
