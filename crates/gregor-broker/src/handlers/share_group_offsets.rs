//! The share-group offsets admin APIs (KIP-932): DescribeShareGroupOffsets
//! (90, v0), AlterShareGroupOffsets (91, v0), DeleteShareGroupOffsets (92,
//! v0). The coordinator checks the group (a share group; empty to alter or
//! delete); the start offsets are the persister's: read from its summary,
//! re-initialized at a bumped state epoch, or deleted.
//!
//! ACLs as Kafka's KafkaApis: describe needs DESCRIBE on the group and
//! each topic, alter READ on both, delete DELETE on the group and READ on
//! the topics. A refused group answers GROUP_AUTHORIZATION_FAILED; a
//! refused topic TOPIC_AUTHORIZATION_FAILED for it alone.

use crate::handlers::leader_hint::led_partition;
use crate::metrics::leader_reads;
use crate::security::{Audit, Session};
use crate::server::Broker;
use crate::share::persister::StateSummary;
use gregor_coordinator::group::share::StatePartitions;
use gregor_coordinator::share::ShareKey;
use gregor_metadata::acl::{AclOperation, Action, ResourceType};
use gregor_protocol::error_codes::{
    GROUP_AUTHORIZATION_FAILED, INVALID_GROUP_ID, NONE, TOPIC_AUTHORIZATION_FAILED,
    UNKNOWN_TOPIC_OR_PARTITION,
};
use gregor_protocol::generated::describe_share_group_offsets_request::DescribeShareGroupOffsetsRequest;
use gregor_protocol::generated::describe_share_group_offsets_response::{
    DescribeShareGroupOffsetsResponse, DescribeShareGroupOffsetsResponseGroup,
    DescribeShareGroupOffsetsResponsePartition, DescribeShareGroupOffsetsResponseTopic,
};
use kafka_protocol::messages::alter_share_group_offsets_response::{
    AlterShareGroupOffsetsResponsePartition, AlterShareGroupOffsetsResponseTopic,
};
use kafka_protocol::messages::delete_share_group_offsets_response::DeleteShareGroupOffsetsResponseTopic;
use kafka_protocol::messages::{
    AlterShareGroupOffsetsRequest, AlterShareGroupOffsetsResponse, ApiKey,
    DeleteShareGroupOffsetsRequest, DeleteShareGroupOffsetsResponse, RequestKind, ResponseKind,
};
use kafka_protocol::protocol::StrBytes;
use std::collections::BTreeSet;
use uuid::Uuid;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn allowed(
    broker: &Broker,
    session: &Session,
    api: ApiKey,
    op: AclOperation,
    resource: ResourceType,
    name: &str,
) -> bool {
    let image = broker.controller.image();
    broker.authorizer.allows(
        &image,
        session,
        api,
        Action::new(op, resource, name),
        Audit::Record,
    )
}

/// A topic's id and partition count, if it exists.
fn topic(broker: &Broker, name: &str) -> Option<(Uuid, i32)> {
    let image = broker.controller.image();
    image
        .topic(name)
        .map(|t| (t.id, i32::try_from(t.partitions.len()).unwrap_or(i32::MAX)))
}

/// Whether `op` on the topic is allowed, and the topic's id and partition
/// count if it exists: each offsets API asks both of every topic it names.
fn topic_access(
    broker: &Broker,
    session: &Session,
    api: ApiKey,
    op: AclOperation,
    name: &str,
) -> (bool, Option<(Uuid, i32)>) {
    let authorized = allowed(broker, session, api, op, ResourceType::Topic, name);
    (authorized, topic(broker, name))
}

fn has_state(state: &StatePartitions, id: Uuid, partition: i32) -> bool {
    state.knows(id, partition)
}

/// The group checks each offsets API starts with, in KafkaApis' order: an
/// id, then the group ACL (`op`), then the coordinator's word that it is a
/// share group (and empty, for `must_be_empty`). `Ok`: the group's
/// share-partitions with state; `Err`: the code (and message) to answer.
fn checked_group(
    broker: &Broker,
    session: &Session,
    api: ApiKey,
    op: AclOperation,
    group_id: &str,
    must_be_empty: bool,
) -> Result<StatePartitions, (i16, Option<String>)> {
    if group_id.is_empty() {
        return Err((INVALID_GROUP_ID, None));
    }
    if !allowed(broker, session, api, op, ResourceType::Group, group_id) {
        return Err((GROUP_AUTHORIZATION_FAILED, None));
    }
    match broker.groups.read(group_id, |c| {
        c.share_offsets_partitions(group_id, must_be_empty)
    }) {
        Ok(Ok(state)) => Ok(state),
        Ok(Err((code, message))) => Err((code, Some(message))),
        Err(code) => Err((code, None)),
    }
}

pub async fn describe(
    broker: &Broker,
    request: DescribeShareGroupOffsetsRequest,
    session: &Session,
) -> DescribeShareGroupOffsetsResponse {
    const API: ApiKey = ApiKey::DescribeShareGroupOffsets;
    let mut groups = Vec::with_capacity(request.groups.len());
    for g in &request.groups {
        let group_id = g.group_id.to_string();
        let refused = |code: i16, message: Option<String>| DescribeShareGroupOffsetsResponseGroup {
            group_id: g.group_id.clone(),
            error_code: code,
            error_message: message,
            ..Default::default()
        };
        let state = match checked_group(
            broker,
            session,
            API,
            AclOperation::Describe,
            &group_id,
            false,
        ) {
            Ok(state) => state,
            Err((code, message)) => {
                groups.push(refused(code, message));
                continue;
            }
        };
        // (name, partitions asked for; None: those with state).
        let wanted: Vec<(String, Option<Vec<i32>>)> = match &g.topics {
            Some(topics) => topics
                .iter()
                .map(|t| (t.topic_name.clone(), Some(t.partitions.clone())))
                .collect(),
            None => state
                .initialized
                .values()
                .map(|(name, _)| (name.clone(), None))
                .collect(),
        };
        let mut topics = Vec::with_capacity(wanted.len());
        for (name, asked) in wanted {
            let (authorized, found) =
                topic_access(broker, session, API, AclOperation::Describe, &name);
            let partitions: Vec<i32> = match (&asked, found) {
                (Some(p), _) => p.clone(),
                (None, Some((id, _))) => state
                    .initialized
                    .get(&id)
                    .map(|(_, p)| p.iter().copied().collect())
                    .unwrap_or_default(),
                (None, None) => Vec::new(),
            };
            let mut out = Vec::with_capacity(partitions.len());
            for p in partitions {
                let partition = DescribeShareGroupOffsetsResponsePartition {
                    partition_index: p,
                    start_offset: -1,
                    leader_epoch: -1,
                    ..Default::default()
                };
                let failed = |code: i16| DescribeShareGroupOffsetsResponsePartition {
                    error_code: code,
                    ..partition.clone()
                };
                let partition = match found {
                    _ if !authorized => failed(TOPIC_AUTHORIZATION_FAILED),
                    None => failed(UNKNOWN_TOPIC_OR_PARTITION),
                    Some((_, count)) if p < 0 || p >= count => failed(UNKNOWN_TOPIC_OR_PARTITION),
                    Some((id, _)) if has_state(&state, id, p) => {
                        let key = ShareKey {
                            group_id: group_id.clone(),
                            topic_id: id,
                            partition: p,
                        };
                        match broker.share_persister.read_summary(&key).await {
                            Ok(Some(summary)) => DescribeShareGroupOffsetsResponsePartition {
                                start_offset: summary.start_offset,
                                leader_epoch: summary.leader_epoch,
                                lag: lag(broker, &name, p, &summary).await,
                                ..partition
                            },
                            Ok(None) => partition,
                            Err(code) => failed(code),
                        }
                    }
                    Some(_) => partition,
                };
                out.push(partition);
            }
            topics.push(DescribeShareGroupOffsetsResponseTopic {
                topic_id: found.map(|(id, _)| id).unwrap_or_default(),
                topic_name: name,
                partitions: out,
                ..Default::default()
            });
        }
        groups.push(DescribeShareGroupOffsetsResponseGroup {
            group_id: g.group_id.clone(),
            topics,
            ..Default::default()
        });
    }
    DescribeShareGroupOffsetsResponse {
        groups,
        ..Default::default()
    }
}

/// The share-partition lag as Kafka 4.4's coordinator computes it (KIP-1226):
/// the partition's latest offset (ListOffsets LATEST, read_uncommitted: the
/// high watermark) minus the start offset minus the records past the start
/// already delivered for good. The latest offset is the local log's when
/// this broker leads the partition, else the leader's answer to ListOffsets
/// (as Kafka asks the leader). -1 (unknown) when the summary has no start
/// offset or no delivery-complete count, or the leader cannot be asked.
async fn lag(broker: &Broker, topic: &str, partition: i32, summary: &StateSummary) -> i64 {
    if summary.start_offset == -1 || summary.delivery_complete_count == -1 {
        return -1;
    }
    let latest = match led_partition(broker, topic, partition) {
        Ok(log) => Some(log.high_watermark()),
        Err(_) => latest_at_leader(broker, topic, partition).await,
    };
    match latest {
        Some(latest) => latest - summary.start_offset - i64::from(summary.delivery_complete_count),
        None => -1,
    }
}

/// The high watermark of a partition another broker leads, from it.
async fn latest_at_leader(broker: &Broker, topic: &str, partition: i32) -> Option<i64> {
    let image = broker.controller.image();
    let leader = image.topic(topic)?.partitions.get(&partition)?.leader;
    if leader < 0 || leader == broker.config.node_id {
        return None;
    }
    let peer = Peer {
        broker,
        image: &image,
        node: leader,
    };
    let tp = (topic.to_string(), partition);
    let bounds = leader_reads::bounds(&peer, std::slice::from_ref(&tp)).await;
    bounds.get(&tp).map(|&(_start, end)| end)
}

/// A partition leader on another broker, over the inter-broker channel
/// that also serves `/metrics`' remote reads.
struct Peer<'a> {
    broker: &'a Broker,
    image: &'a gregor_metadata::MetadataImage,
    node: i32,
}

impl leader_reads::AskLeader for Peer<'_> {
    async fn send(&self, api_key: ApiKey, version: i16, body: RequestKind) -> Option<ResponseKind> {
        let sent = self
            .broker
            .peer_reads
            .call(self.image, self.node, api_key, version, body)
            .await;
        sent.map_err(|err| {
            tracing::debug!(node = self.node, %err, "share lag: the partition leader did not answer");
        })
        .ok()
    }
}

pub async fn alter(
    broker: &Broker,
    request: AlterShareGroupOffsetsRequest,
    session: &Session,
) -> AlterShareGroupOffsetsResponse {
    const API: ApiKey = ApiKey::AlterShareGroupOffsets;
    let group_id = request.group_id.to_string();
    let refused = |code: i16, message: Option<String>| {
        AlterShareGroupOffsetsResponse::default()
            .with_error_code(code)
            .with_error_message(message.map(|m| s(&m)))
    };
    if let Err((code, message)) =
        checked_group(broker, session, API, AclOperation::Read, &group_id, true)
    {
        return refused(code, message);
    }
    let mut responses = Vec::with_capacity(request.topics.len());
    let mut initialized = Vec::new();
    for t in &request.topics {
        let name = t.topic_name.to_string();
        let (authorized, found) = topic_access(broker, session, API, AclOperation::Read, &name);
        let mut done = BTreeSet::new();
        let mut partitions = Vec::with_capacity(t.partitions.len());
        for p in &t.partitions {
            let index = p.partition_index;
            let code = match found {
                _ if !authorized => TOPIC_AUTHORIZATION_FAILED,
                None => UNKNOWN_TOPIC_OR_PARTITION,
                Some((_, count)) if index < 0 || index >= count => UNKNOWN_TOPIC_OR_PARTITION,
                Some((id, _)) => {
                    let key = ShareKey {
                        group_id: group_id.clone(),
                        topic_id: id,
                        partition: index,
                    };
                    // A new state epoch fences writes of the old state.
                    let epoch = match broker.share_persister.read_summary(&key).await {
                        Ok(Some(summary)) => summary.state_epoch + 1,
                        _ => 0,
                    };
                    match broker
                        .share_persister
                        .initialize(&key, epoch, p.start_offset)
                        .await
                    {
                        Ok(()) => {
                            done.insert(index);
                            NONE
                        }
                        Err(code) => code,
                    }
                }
            };
            partitions.push(
                AlterShareGroupOffsetsResponsePartition::default()
                    .with_partition_index(index)
                    .with_error_code(code),
            );
        }
        if let (Some((id, _)), false) = (found, done.is_empty()) {
            initialized.push((id, name.clone(), done));
        }
        responses.push(
            AlterShareGroupOffsetsResponseTopic::default()
                .with_topic_name(t.topic_name.clone())
                .with_topic_id(found.map(|(id, _)| id).unwrap_or_default())
                .with_partitions(partitions),
        );
    }
    if !initialized.is_empty() {
        let recorded = broker
            .groups
            .immediate(&group_id, |c, now| {
                (
                    (),
                    c.share_partitions_initialized(&group_id, &initialized, true, now),
                )
            })
            .await;
        if let Err(code) = recorded {
            return refused(code, None);
        }
    }
    AlterShareGroupOffsetsResponse::default().with_responses(responses)
}

pub async fn delete(
    broker: &Broker,
    request: DeleteShareGroupOffsetsRequest,
    session: &Session,
) -> DeleteShareGroupOffsetsResponse {
    const API: ApiKey = ApiKey::DeleteShareGroupOffsets;
    let group_id = request.group_id.to_string();
    let refused = |code: i16, message: Option<String>| {
        DeleteShareGroupOffsetsResponse::default()
            .with_error_code(code)
            .with_error_message(message.map(|m| s(&m)))
    };
    let state = match checked_group(broker, session, API, AclOperation::Delete, &group_id, true) {
        Ok(state) => state,
        Err((code, message)) => return refused(code, message),
    };
    let mut responses = Vec::with_capacity(request.topics.len());
    let mut forgotten = Vec::new();
    for t in &request.topics {
        let name = t.topic_name.to_string();
        let (authorized, found) = topic_access(broker, session, API, AclOperation::Read, &name);
        let code = match found {
            _ if !authorized => TOPIC_AUTHORIZATION_FAILED,
            None => UNKNOWN_TOPIC_OR_PARTITION,
            Some((id, count)) => {
                let mut code = NONE;
                for p in (0..count).filter(|p| has_state(&state, id, *p)) {
                    let key = ShareKey {
                        group_id: group_id.clone(),
                        topic_id: id,
                        partition: p,
                    };
                    if let Err(err) = broker.share_persister.delete(&key).await {
                        code = err;
                    }
                }
                if code == NONE {
                    forgotten.push(id);
                }
                code
            }
        };
        responses.push(
            DeleteShareGroupOffsetsResponseTopic::default()
                .with_topic_name(t.topic_name.clone())
                .with_topic_id(found.map(|(id, _)| id).unwrap_or_default())
                .with_error_code(code),
        );
    }
    if !forgotten.is_empty() {
        let recorded = broker
            .groups
            .immediate(&group_id, |c, now| {
                ((), c.share_topics_forgotten(&group_id, &forgotten, now))
            })
            .await;
        if let Err(code) = recorded {
            return refused(code, None);
        }
    }
    DeleteShareGroupOffsetsResponse::default().with_responses(responses)
}
