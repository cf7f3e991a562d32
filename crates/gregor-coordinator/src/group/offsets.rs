//! Committed offsets: OffsetCommit, OffsetFetch, OffsetDelete.

use super::committed;
use super::committed::ReadAt;
use super::consumer::Topics;
use super::records::{OffsetValue, Record};
use super::state::{Group, GroupState};
use super::GroupCoordinator;
use gregor_protocol::error_codes::{
    COORDINATOR_NOT_AVAILABLE, GROUP_ID_NOT_FOUND, GROUP_SUBSCRIBED_TO_TOPIC, ILLEGAL_GENERATION,
    INVALID_GROUP_ID, NONE, NON_EMPTY_GROUP, OFFSET_METADATA_TOO_LARGE, REBALANCE_IN_PROGRESS,
    UNKNOWN_MEMBER_ID,
};
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{
    OffsetCommitRequest, OffsetCommitResponse, OffsetDeleteRequest, OffsetDeleteResponse,
};
use std::collections::BTreeSet;

/// OffsetCommit v9+ says GROUP_ID_NOT_FOUND where older versions said
/// ILLEGAL_GENERATION.
const GROUP_ID_NOT_FOUND_COMMIT_VERSION: i16 = 9;
/// `retention_time_ms` meaning "the broker's default".
const DEFAULT_RETENTION: i64 = -1;

/// One topic of an OffsetFetch answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchedTopic {
    pub name: String,
    pub partitions: Vec<FetchedPartition>,
}

/// A committed offset, or offset -1 / epoch -1 / "" when there is none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchedPartition {
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
}

impl GroupCoordinator {
    /// Handles an OffsetCommit (topics by name; the edge resolves v10 topic
    /// ids and checks the topics exist). `topics` gives the ids a consumer
    /// group's members hold partitions by. Returns the response and the
    /// records to persist before sending it.
    pub fn commit_offsets(
        &mut self,
        req: &OffsetCommitRequest,
        api_version: i16,
        topics: &dyn Topics,
        now_ms: i64,
    ) -> (OffsetCommitResponse, Vec<Record>) {
        let group_id = req.group_id.as_str();
        let mut records = Vec::new();
        // Kafka's ShareGroup.validateOffsetCommit: not a consumer group.
        let share = self
            .is_share_group(group_id)
            .then_some(Err(gregor_protocol::error_codes::GROUP_ID_NOT_FOUND));
        let verdict = match share
            .or_else(|| self.consumer_commit_verdict(req, api_version, topics, now_ms))
        {
            Some(verdict) => verdict,
            None => match self.streams_commit_verdict(req, now_ms) {
                Some(verdict) => verdict,
                None => self.validate_commit(req, api_version, now_ms),
            },
        };
        let max_metadata = self.config.offset_metadata_max_bytes;
        let group = self.groups.get_mut(group_id);
        let mut topics = Vec::with_capacity(req.topics.len());
        match (verdict, group) {
            (Ok(()), Some(group)) => {
                // A commit shows the member is alive, as a heartbeat would.
                if matches!(
                    group.state,
                    GroupState::Stable | GroupState::PreparingRebalance
                ) {
                    if let Some(member) = group.members.get_mut(req.member_id.as_str()) {
                        member.reschedule_heartbeat(now_ms);
                    }
                }
                let expire_timestamp = (req.retention_time_ms != DEFAULT_RETENTION)
                    .then(|| now_ms.saturating_add(req.retention_time_ms));
                for topic in &req.topics {
                    let mut partitions = Vec::with_capacity(topic.partitions.len());
                    for p in &topic.partitions {
                        let metadata = p.committed_metadata.as_deref().unwrap_or_default();
                        let code = if metadata.len() > max_metadata {
                            OFFSET_METADATA_TOO_LARGE
                        } else {
                            let value = OffsetValue {
                                offset: p.committed_offset,
                                leader_epoch: p.committed_leader_epoch,
                                metadata: metadata.to_string(),
                                commit_timestamp: now_ms,
                                expire_timestamp,
                            };
                            let prior = group
                                .offsets
                                .insert((topic.name.to_string(), p.partition_index), value.clone());
                            committed::note(
                                &mut self.journal,
                                group_id,
                                &topic.name,
                                p.partition_index,
                                prior,
                            );
                            records.push(Record::Offset {
                                group: group_id.to_string(),
                                topic: topic.name.to_string(),
                                partition: p.partition_index,
                                value: Some(value),
                            });
                            NONE
                        };
                        partitions.push(commit_partition(p.partition_index, code));
                    }
                    topics.push(commit_topic(topic, partitions));
                }
            }
            (verdict, _) => {
                let code = verdict.err().unwrap_or(COORDINATOR_NOT_AVAILABLE);
                for topic in &req.topics {
                    let partitions = topic
                        .partitions
                        .iter()
                        .map(|p| commit_partition(p.partition_index, code))
                        .collect();
                    topics.push(commit_topic(topic, partitions));
                }
            }
        }
        (OffsetCommitResponse::default().with_topics(topics), records)
    }

    /// Who may commit: members of the current generation (not mid-sync),
    /// or anyone with generation -1 while the group is Empty — simple
    /// consumers using assign(), and admin tools. A commit of that kind to
    /// an unknown group creates it.
    fn validate_commit(
        &mut self,
        req: &OffsetCommitRequest,
        api_version: i16,
        now_ms: i64,
    ) -> Result<(), i16> {
        let group_id = req.group_id.as_str();
        if group_id.is_empty() {
            return Err(INVALID_GROUP_ID);
        }
        let generation = req.generation_id_or_member_epoch;
        if !self.groups.contains_key(group_id) {
            if generation >= 0 {
                return Err(if api_version >= GROUP_ID_NOT_FOUND_COMMIT_VERSION {
                    GROUP_ID_NOT_FOUND
                } else {
                    ILLEGAL_GENERATION
                });
            }
            self.note_group_creation(group_id);
            self.groups
                .insert(group_id.to_string(), Group::new(group_id, now_ms));
        }
        let Some(group) = self.groups.get(group_id) else {
            return Err(COORDINATOR_NOT_AVAILABLE);
        };
        if group.state == GroupState::Dead {
            return Err(COORDINATOR_NOT_AVAILABLE);
        }
        let member_id = req.member_id.as_str();
        let instance_id = req.group_instance_id.as_ref().map(|s| s.as_str());
        if generation < 0 && group.state == GroupState::Empty {
            return Ok(());
        }
        if generation >= 0 || !member_id.is_empty() || instance_id.is_some() {
            group.validate_member(member_id, instance_id)?;
            if generation != group.generation {
                return Err(ILLEGAL_GENERATION);
            }
        } else {
            // No member id and no generation: only for groups nobody is in.
            return Err(UNKNOWN_MEMBER_ID);
        }
        if group.state == GroupState::CompletingRebalance {
            // The member has its new generation but not its assignment yet.
            return Err(REBALANCE_IN_PROGRESS);
        }
        Ok(())
    }

    /// The group's committed offsets: for the listed topics and partitions
    /// (unknown ones as offset -1), or all of them when `topics` is `None`.
    /// An unknown group has no offsets. Values whose records are not
    /// committed yet are not shown: a key reads as before its first
    /// uncommitted change (see [`super::committed`]).
    pub fn fetch_offsets(
        &self,
        group_id: &str,
        topics: Option<&[(String, Vec<i32>)]>,
    ) -> Vec<FetchedTopic> {
        self.fetch_offsets_at(group_id, topics, ReadAt::Committed)
    }

    /// [`Self::fetch_offsets`] at `at`: a `require_stable` fetch reads the
    /// latest state and its answer then waits for everything written so
    /// far to be committed, as Kafka runs it as a write operation (reading
    /// at the high watermark there would show a transaction's offsets as
    /// before it once its marker is in, though that transaction was
    /// acknowledged and the fetch no longer sees it pending).
    pub fn fetch_offsets_at(
        &self,
        group_id: &str,
        topics: Option<&[(String, Vec<i32>)]>,
        at: ReadAt,
    ) -> Vec<FetchedTopic> {
        match topics {
            Some(topics) => topics
                .iter()
                .map(|(name, partitions)| FetchedTopic {
                    name: name.clone(),
                    partitions: partitions
                        .iter()
                        .map(|&partition| {
                            fetched(partition, self.offset_at(group_id, name, partition, at))
                        })
                        .collect(),
                })
                .collect(),
            None => {
                let mut keys: BTreeSet<(&str, i32)> = self
                    .groups
                    .get(group_id)
                    .into_iter()
                    .flat_map(|g| g.offsets.keys())
                    .map(|(topic, partition)| (topic.as_str(), *partition))
                    .collect();
                if at == ReadAt::Committed {
                    keys.extend(self.undo.pending_of(group_id));
                }
                let mut out: Vec<FetchedTopic> = Vec::new();
                for (topic, partition) in keys {
                    let Some(value) = self.offset_at(group_id, topic, partition, at) else {
                        continue;
                    };
                    if out.last().map(|t| t.name.as_str()) != Some(topic) {
                        out.push(FetchedTopic {
                            name: topic.to_string(),
                            partitions: Vec::new(),
                        });
                    }
                    if let Some(last) = out.last_mut() {
                        last.partitions.push(fetched(partition, Some(value)));
                    }
                }
                out
            }
        }
    }

    /// One committed offset as of the high watermark, or the latest one.
    fn offset_at(
        &self,
        group_id: &str,
        topic: &str,
        partition: i32,
        at: ReadAt,
    ) -> Option<&OffsetValue> {
        let current = self
            .groups
            .get(group_id)
            .and_then(|g| g.offsets.get(&(topic.to_string(), partition)));
        if at == ReadAt::Latest || self.undo.is_empty() {
            return current;
        }
        let key = (group_id.to_string(), topic.to_string(), partition);
        self.undo.committed(&key, current)
    }

    /// Handles an OffsetDelete (KIP-496). A group with members may only lose
    /// offsets of topics none of its consumers subscribe to.
    pub fn delete_offsets(
        &mut self,
        req: &OffsetDeleteRequest,
    ) -> (OffsetDeleteResponse, Vec<Record>) {
        let group_id = req.group_id.as_str();
        let mut records = Vec::new();
        // A consumer group's members say what they subscribe to.
        let consumer_subscribed = self.consumer_subscribed_topics(group_id);
        if consumer_subscribed.is_some() {
            // It exists even without offsets (dropped again once unused).
            self.groups
                .entry(group_id.to_string())
                .or_insert_with(|| Group::new(group_id, 0));
        }
        let Some(group) = self.groups.get_mut(group_id) else {
            return (
                OffsetDeleteResponse::default().with_error_code(GROUP_ID_NOT_FOUND),
                records,
            );
        };
        let top_level = match group.state {
            GroupState::Dead => GROUP_ID_NOT_FOUND,
            GroupState::Empty => NONE,
            _ if group.uses_consumer_protocol() => NONE,
            // Without the consumer protocol there is no way to tell what a
            // member uses.
            _ => NON_EMPTY_GROUP,
        };
        if top_level != NONE {
            return (
                OffsetDeleteResponse::default().with_error_code(top_level),
                records,
            );
        }
        let mut topics = Vec::with_capacity(req.topics.len());
        for topic in &req.topics {
            let name = topic.name.to_string();
            let subscribed = match &consumer_subscribed {
                Some(topics) => topics.contains(&name),
                None => group.is_subscribed_to(&name),
            };
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let code = if subscribed {
                        GROUP_SUBSCRIBED_TO_TOPIC
                    } else {
                        let prior = group.offsets.remove(&(name.clone(), p.partition_index));
                        if prior.is_some() {
                            committed::note(
                                &mut self.journal,
                                group_id,
                                &name,
                                p.partition_index,
                                prior,
                            );
                            records.push(Record::Offset {
                                group: group_id.to_string(),
                                topic: name.clone(),
                                partition: p.partition_index,
                                value: None,
                            });
                        }
                        NONE
                    };
                    OffsetDeleteResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code)
                })
                .collect();
            topics.push(
                OffsetDeleteResponseTopic::default()
                    .with_name(topic.name.clone())
                    .with_partitions(partitions),
            );
        }
        self.drop_pending_of_tombstones(&records);
        (OffsetDeleteResponse::default().with_topics(topics), records)
    }
}

fn fetched(partition: i32, committed: Option<&OffsetValue>) -> FetchedPartition {
    match committed {
        Some(v) => FetchedPartition {
            partition,
            offset: v.offset,
            leader_epoch: v.leader_epoch,
            metadata: v.metadata.clone(),
        },
        None => FetchedPartition {
            partition,
            offset: -1,
            leader_epoch: -1,
            metadata: String::new(),
        },
    }
}

fn commit_partition(partition: i32, code: i16) -> OffsetCommitResponsePartition {
    OffsetCommitResponsePartition::default()
        .with_partition_index(partition)
        .with_error_code(code)
}

fn commit_topic(
    topic: &kafka_protocol::messages::offset_commit_request::OffsetCommitRequestTopic,
    partitions: Vec<OffsetCommitResponsePartition>,
) -> OffsetCommitResponseTopic {
    OffsetCommitResponseTopic::default()
        .with_name(topic.name.clone())
        .with_topic_id(topic.topic_id)
        .with_partitions(partitions)
}
