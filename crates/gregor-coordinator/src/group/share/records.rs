//! The share-group records of `__consumer_offsets` (KIP-932), in Kafka
//! 4.4's layout (group-coordinator `ShareGroup*Key/Value.json`, vendored in
//! gregor-protocol's `schemas/`), so a group survives a restart or a
//! coordinator move and the topic stays readable by Kafka's tools.
//!
//! Key: int16 record type (10 to 15) then the key struct (version 0);
//! value: int16 version 0 then the value struct (flexible); a missing
//! value is a tombstone.

use super::group::Partitions;
use crate::coordinator_codec::CodecError;
use crate::record_frame::{key_bytes, value_bytes, Framed};
use bytes::Bytes;
use gregor_protocol::generated::{
    share_group_current_member_assignment_key as current_k,
    share_group_current_member_assignment_value as current_v,
    share_group_member_metadata_key as member_k, share_group_member_metadata_value as member_v,
    share_group_metadata_key as group_k, share_group_metadata_value as group_v,
    share_group_state_partition_metadata_key as state_k,
    share_group_state_partition_metadata_value as state_v,
    share_group_target_assignment_member_key as target_k,
    share_group_target_assignment_member_value as target_v,
    share_group_target_assignment_metadata_key as target_epoch_k,
    share_group_target_assignment_metadata_value as target_epoch_v,
};
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

/// Who a member is (ShareGroupMemberMetadataValue).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemberMeta {
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    /// Sorted, without duplicates.
    pub subscribed_topic_names: Vec<String>,
}

/// A member's epochs and partitions (ShareGroupCurrentMemberAssignmentValue).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CurrentAssignment {
    pub epoch: i32,
    pub previous_epoch: i32,
    /// Kafka's `MemberState`; share members are always STABLE (0).
    pub state: i8,
    pub assigned: Partitions,
}

/// Which share-partitions have state in the persister
/// (ShareGroupStatePartitionMetadataValue): topic id -> (name, partitions).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatePartitions {
    pub initializing: BTreeMap<Uuid, (String, BTreeSet<i32>)>,
    pub initialized: BTreeMap<Uuid, (String, BTreeSet<i32>)>,
    pub deleting: BTreeMap<Uuid, String>,
}

impl StatePartitions {
    /// Whether a share-partition is initialized or being initialized.
    pub fn knows(&self, topic: Uuid, partition: i32) -> bool {
        [&self.initializing, &self.initialized]
            .iter()
            .any(|m| m.get(&topic).is_some_and(|(_, p)| p.contains(&partition)))
    }

    pub fn is_initialized(&self, topic: Uuid, partition: i32) -> bool {
        self.initialized
            .get(&topic)
            .is_some_and(|(_, p)| p.contains(&partition))
    }
}

/// One durable change to a share group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShareRecord {
    /// Type 11: group epoch and metadata hash; `None` deletes the group.
    GroupEpoch {
        group: String,
        value: Option<(i32, i64)>,
    },
    /// Type 10.
    Member {
        group: String,
        member: String,
        value: Option<MemberMeta>,
    },
    /// Type 12: the epoch the target assignment was computed at.
    TargetEpoch { group: String, epoch: Option<i32> },
    /// Type 13: a member's target partitions.
    TargetMember {
        group: String,
        member: String,
        partitions: Option<Partitions>,
    },
    /// Type 14.
    Current {
        group: String,
        member: String,
        value: Option<CurrentAssignment>,
    },
    /// Type 15.
    StatePartitions {
        group: String,
        value: Option<StatePartitions>,
    },
}

fn partitions_of(pairs: impl Iterator<Item = (Uuid, Vec<i32>)>) -> Partitions {
    let mut out = Partitions::new();
    for (topic, parts) in pairs {
        out.entry(topic).or_default().extend(parts);
    }
    out
}

fn infos(map: &BTreeMap<Uuid, (String, BTreeSet<i32>)>) -> Vec<state_v::TopicPartitionsInfo> {
    map.iter()
        .map(|(id, (name, parts))| state_v::TopicPartitionsInfo {
            topic_id: *id,
            topic_name: name.clone(),
            partitions: parts.iter().copied().collect(),
            ..Default::default()
        })
        .collect()
}

fn infos_of(list: Vec<state_v::TopicPartitionsInfo>) -> BTreeMap<Uuid, (String, BTreeSet<i32>)> {
    list.into_iter()
        .map(|t| {
            (
                t.topic_id,
                (t.topic_name, t.partitions.into_iter().collect()),
            )
        })
        .collect()
}

impl ShareRecord {
    pub fn group_id(&self) -> &str {
        match self {
            ShareRecord::GroupEpoch { group, .. }
            | ShareRecord::Member { group, .. }
            | ShareRecord::TargetEpoch { group, .. }
            | ShareRecord::TargetMember { group, .. }
            | ShareRecord::Current { group, .. }
            | ShareRecord::StatePartitions { group, .. } => group,
        }
    }

    /// Whether a key type is a share-group record.
    pub fn is_share_key(key_type: i16) -> bool {
        matches!(
            key_type,
            group_k::API_KEY
                | member_k::API_KEY
                | target_epoch_k::API_KEY
                | target_k::API_KEY
                | current_k::API_KEY
                | state_k::API_KEY
        )
    }

    /// Key and value bytes as Kafka 4.4 writes them.
    pub fn encode(&self) -> Result<(Bytes, Option<Bytes>), CodecError> {
        Ok(match self {
            ShareRecord::GroupEpoch { group, value } => (
                key_bytes(
                    group_k::API_KEY,
                    &group_k::ShareGroupMetadataKey {
                        group_id: group.clone(),
                        ..Default::default()
                    },
                )?,
                value_bytes(value.map(|(epoch, metadata_hash)| {
                    group_v::ShareGroupMetadataValue {
                        epoch,
                        metadata_hash,
                        ..Default::default()
                    }
                }))?,
            ),
            ShareRecord::Member {
                group,
                member,
                value,
            } => (
                key_bytes(
                    member_k::API_KEY,
                    &member_k::ShareGroupMemberMetadataKey {
                        group_id: group.clone(),
                        member_id: member.clone(),
                        ..Default::default()
                    },
                )?,
                value_bytes(
                    value
                        .as_ref()
                        .map(|m| member_v::ShareGroupMemberMetadataValue {
                            rack_id: m.rack_id.clone(),
                            client_id: m.client_id.clone(),
                            client_host: m.client_host.clone(),
                            subscribed_topic_names: m.subscribed_topic_names.clone(),
                            ..Default::default()
                        }),
                )?,
            ),
            ShareRecord::TargetEpoch { group, epoch } => (
                key_bytes(
                    target_epoch_k::API_KEY,
                    &target_epoch_k::ShareGroupTargetAssignmentMetadataKey {
                        group_id: group.clone(),
                        ..Default::default()
                    },
                )?,
                value_bytes(epoch.map(|assignment_epoch| {
                    target_epoch_v::ShareGroupTargetAssignmentMetadataValue {
                        assignment_epoch,
                        ..Default::default()
                    }
                }))?,
            ),
            ShareRecord::TargetMember {
                group,
                member,
                partitions,
            } => (
                key_bytes(
                    target_k::API_KEY,
                    &target_k::ShareGroupTargetAssignmentMemberKey {
                        group_id: group.clone(),
                        member_id: member.clone(),
                        ..Default::default()
                    },
                )?,
                value_bytes(partitions.as_ref().map(|parts| {
                    target_v::ShareGroupTargetAssignmentMemberValue {
                        topic_partitions: parts
                            .iter()
                            .map(|(id, p)| target_v::TopicPartition {
                                topic_id: *id,
                                partitions: p.iter().copied().collect(),
                                ..Default::default()
                            })
                            .collect(),
                        ..Default::default()
                    }
                }))?,
            ),
            ShareRecord::Current {
                group,
                member,
                value,
            } => (
                key_bytes(
                    current_k::API_KEY,
                    &current_k::ShareGroupCurrentMemberAssignmentKey {
                        group_id: group.clone(),
                        member_id: member.clone(),
                        ..Default::default()
                    },
                )?,
                value_bytes(value.as_ref().map(|c| {
                    current_v::ShareGroupCurrentMemberAssignmentValue {
                        member_epoch: c.epoch,
                        previous_member_epoch: c.previous_epoch,
                        state: c.state,
                        assigned_partitions: c
                            .assigned
                            .iter()
                            .map(|(id, p)| current_v::TopicPartitions {
                                topic_id: *id,
                                partitions: p.iter().copied().collect(),
                                ..Default::default()
                            })
                            .collect(),
                        ..Default::default()
                    }
                }))?,
            ),
            ShareRecord::StatePartitions { group, value } => (
                key_bytes(
                    state_k::API_KEY,
                    &state_k::ShareGroupStatePartitionMetadataKey {
                        group_id: group.clone(),
                        ..Default::default()
                    },
                )?,
                value_bytes(value.as_ref().map(|s| {
                    state_v::ShareGroupStatePartitionMetadataValue {
                        initializing_topics: infos(&s.initializing),
                        initialized_topics: infos(&s.initialized),
                        deleting_topics: s
                            .deleting
                            .iter()
                            .map(|(id, name)| state_v::TopicInfo {
                                topic_id: *id,
                                topic_name: name.clone(),
                                ..Default::default()
                            })
                            .collect(),
                        ..Default::default()
                    }
                }))?,
            ),
        })
    }

    pub fn decode(key: &[u8], value: Option<&[u8]>) -> Result<ShareRecord, CodecError> {
        let record = Framed::split(key, value, "share group")?;
        Ok(match record.record_type {
            group_k::API_KEY => ShareRecord::GroupEpoch {
                group: record.key::<group_k::ShareGroupMetadataKey>()?.group_id,
                value: record
                    .value::<group_v::ShareGroupMetadataValue>()?
                    .map(|v| (v.epoch, v.metadata_hash)),
            },
            member_k::API_KEY => {
                let key: member_k::ShareGroupMemberMetadataKey = record.key()?;
                ShareRecord::Member {
                    group: key.group_id,
                    member: key.member_id,
                    value: record
                        .value::<member_v::ShareGroupMemberMetadataValue>()?
                        .map(|v| MemberMeta {
                            rack_id: v.rack_id,
                            client_id: v.client_id,
                            client_host: v.client_host,
                            subscribed_topic_names: v.subscribed_topic_names,
                        }),
                }
            }
            target_epoch_k::API_KEY => ShareRecord::TargetEpoch {
                group: record
                    .key::<target_epoch_k::ShareGroupTargetAssignmentMetadataKey>()?
                    .group_id,
                epoch: record
                    .value::<target_epoch_v::ShareGroupTargetAssignmentMetadataValue>()?
                    .map(|v| v.assignment_epoch),
            },
            target_k::API_KEY => {
                let key: target_k::ShareGroupTargetAssignmentMemberKey = record.key()?;
                ShareRecord::TargetMember {
                    group: key.group_id,
                    member: key.member_id,
                    partitions: record
                        .value::<target_v::ShareGroupTargetAssignmentMemberValue>()?
                        .map(|v| {
                            partitions_of(
                                v.topic_partitions
                                    .into_iter()
                                    .map(|t| (t.topic_id, t.partitions)),
                            )
                        }),
                }
            }
            current_k::API_KEY => {
                let key: current_k::ShareGroupCurrentMemberAssignmentKey = record.key()?;
                ShareRecord::Current {
                    group: key.group_id,
                    member: key.member_id,
                    value: record
                        .value::<current_v::ShareGroupCurrentMemberAssignmentValue>()?
                        .map(|v| CurrentAssignment {
                            epoch: v.member_epoch,
                            previous_epoch: v.previous_member_epoch,
                            state: v.state,
                            assigned: partitions_of(
                                v.assigned_partitions
                                    .into_iter()
                                    .map(|t| (t.topic_id, t.partitions)),
                            ),
                        }),
                }
            }
            state_k::API_KEY => ShareRecord::StatePartitions {
                group: record
                    .key::<state_k::ShareGroupStatePartitionMetadataKey>()?
                    .group_id,
                value: record
                    .value::<state_v::ShareGroupStatePartitionMetadataValue>()?
                    .map(|v| StatePartitions {
                        initializing: infos_of(v.initializing_topics),
                        initialized: infos_of(v.initialized_topics),
                        deleting: v
                            .deleting_topics
                            .into_iter()
                            .map(|t| (t.topic_id, t.topic_name))
                            .collect(),
                    }),
            },
            other => return Err(CodecError::UnknownKey(other)),
        })
    }
}
