//! Consumer group APIs: each hands its request to the group service (the
//! coordinator state machine plus persistence) and shapes the answer.

use super::str_bytes;
use crate::server::Broker;
use gregor_coordinator::group::JoinContext;
use gregor_coordinator::group::{FetchedTopic, Response};
use gregor_protocol::error_codes::{
    COORDINATOR_NOT_AVAILABLE, UNKNOWN_TOPIC_OR_PARTITION, UNSTABLE_OFFSET_COMMIT,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::*;
use std::net::SocketAddr;

/// OffsetFetch batches groups from this version on.
const BATCHED_OFFSET_FETCH: i16 = 8;

pub async fn join(
    broker: &Broker,
    request: JoinGroupRequest,
    version: i16,
    client_id: &str,
    peer: SocketAddr,
) -> JoinGroupResponse {
    let context = JoinContext {
        client_id: client_id.to_string(),
        client_host: format!("/{}", peer.ip()),
        api_version: version,
    };
    match broker
        .groups
        .parked(|c, id, now| c.join(&request, &context, id, now))
        .await
    {
        Some(Response::Join(response)) => response,
        _ => JoinGroupResponse::default().with_error_code(COORDINATOR_NOT_AVAILABLE),
    }
}

pub async fn sync(broker: &Broker, request: SyncGroupRequest, version: i16) -> SyncGroupResponse {
    match broker
        .groups
        .parked(|c, id, now| c.sync(&request, version, id, now))
        .await
    {
        Some(Response::Sync(response)) => response,
        _ => SyncGroupResponse::default().with_error_code(COORDINATOR_NOT_AVAILABLE),
    }
}

pub async fn heartbeat(broker: &Broker, request: HeartbeatRequest) -> HeartbeatResponse {
    match broker
        .groups
        .parked(|c, id, now| c.heartbeat(&request, id, now))
        .await
    {
        Some(Response::Heartbeat(response)) => response,
        _ => HeartbeatResponse::default().with_error_code(COORDINATOR_NOT_AVAILABLE),
    }
}

pub async fn leave(
    broker: &Broker,
    request: LeaveGroupRequest,
    version: i16,
) -> LeaveGroupResponse {
    match broker
        .groups
        .parked(|c, id, now| c.leave(&request, version, id, now))
        .await
    {
        Some(Response::Leave(response)) => response,
        _ => LeaveGroupResponse::default().with_error_code(COORDINATOR_NOT_AVAILABLE),
    }
}

pub fn commit(
    broker: &Broker,
    mut request: OffsetCommitRequest,
    version: i16,
) -> OffsetCommitResponse {
    use kafka_protocol::messages::offset_commit_response::{
        OffsetCommitResponsePartition, OffsetCommitResponseTopic,
    };
    let refuse =
        |topic: &kafka_protocol::messages::offset_commit_request::OffsetCommitRequestTopic,
         code: i16| {
            OffsetCommitResponseTopic::default()
                .with_name(topic.name.clone())
                .with_partitions(
                    topic
                        .partitions
                        .iter()
                        .map(|p| {
                            OffsetCommitResponsePartition::default()
                                .with_partition_index(p.partition_index)
                                .with_error_code(code)
                        })
                        .collect(),
                )
        };
    // Like Kafka, offsets for partitions that do not exist are refused.
    let image = broker.controller.image();
    let (known, unknown): (Vec<_>, Vec<_>) = std::mem::take(&mut request.topics)
        .into_iter()
        .partition(|t| {
            image.topic(&t.name).is_some_and(|topic| {
                t.partitions
                    .iter()
                    .all(|p| topic.partitions.contains_key(&p.partition_index))
            })
        });
    let mut refused: Vec<OffsetCommitResponseTopic> = unknown
        .iter()
        .map(|t| refuse(t, UNKNOWN_TOPIC_OR_PARTITION))
        .collect();
    request.topics = known;
    let mut response = match broker
        .groups
        .immediate(|c, now| c.commit_offsets(&request, version, image.as_ref(), now))
    {
        Ok(response) => response,
        Err(code) => OffsetCommitResponse::default()
            .with_topics(request.topics.iter().map(|t| refuse(t, code)).collect()),
    };
    response.topics.append(&mut refused);
    response
}

pub fn fetch_offsets(
    broker: &Broker,
    request: OffsetFetchRequest,
    version: i16,
) -> OffsetFetchResponse {
    if version >= BATCHED_OFFSET_FETCH {
        let groups = request
            .groups
            .iter()
            .map(|g| {
                // v9: a consumer-protocol member fetches at its member epoch.
                let member = g.member_id.as_deref();
                if let Err(code) = broker
                    .groups
                    .read(|c| c.validate_offset_fetch(&g.group_id, member, g.member_epoch))
                {
                    return OffsetFetchResponseGroup::default()
                        .with_group_id(g.group_id.clone())
                        .with_error_code(code);
                }
                let wanted: Option<Vec<(String, Vec<i32>)>> = g.topics.as_ref().map(|ts| {
                    ts.iter()
                        .map(|t| (t.name.to_string(), t.partition_indexes.clone()))
                        .collect()
                });
                let fetched = broker
                    .groups
                    .read(|c| c.fetch_offsets(&g.group_id, wanted.as_deref()));
                let unstable = unstable(broker, request.require_stable, &g.group_id, &fetched);
                let mut topics = batched_topics(fetched);
                for topic in &mut topics {
                    for p in &mut topic.partitions {
                        if unstable.contains(&(topic.name.to_string(), p.partition_index)) {
                            p.error_code = UNSTABLE_OFFSET_COMMIT;
                            p.committed_offset = -1;
                        }
                    }
                }
                OffsetFetchResponseGroup::default()
                    .with_group_id(g.group_id.clone())
                    .with_topics(topics)
            })
            .collect();
        return OffsetFetchResponse::default().with_groups(groups);
    }
    let wanted: Option<Vec<(String, Vec<i32>)>> = request.topics.as_ref().map(|ts| {
        ts.iter()
            .map(|t| (t.name.to_string(), t.partition_indexes.clone()))
            .collect()
    });
    let fetched = broker
        .groups
        .read(|c| c.fetch_offsets(&request.group_id, wanted.as_deref()));
    let unstable = unstable(broker, request.require_stable, &request.group_id, &fetched);
    let mut topics: Vec<OffsetFetchResponseTopic> = fetched
        .into_iter()
        .map(|t| {
            OffsetFetchResponseTopic::default()
                .with_name(TopicName(str_bytes(&t.name)))
                .with_partitions(
                    t.partitions
                        .into_iter()
                        .map(|p| {
                            OffsetFetchResponsePartition::default()
                                .with_partition_index(p.partition)
                                .with_committed_offset(p.offset)
                                .with_committed_leader_epoch(p.leader_epoch)
                                .with_metadata(Some(str_bytes(&p.metadata)))
                        })
                        .collect(),
                )
        })
        .collect();
    for topic in &mut topics {
        for p in &mut topic.partitions {
            if unstable.contains(&(topic.name.to_string(), p.partition_index)) {
                p.error_code = UNSTABLE_OFFSET_COMMIT;
                p.committed_offset = -1;
            }
        }
    }
    OffsetFetchResponse::default().with_topics(topics)
}

/// OffsetFetch with `require_stable` (read_committed consumers, KIP-447):
/// partitions with a transactional offset commit still pending answer
/// UNSTABLE_OFFSET_COMMIT, so the consumer waits for the transaction
/// instead of starting from an offset about to change.
fn unstable(
    broker: &Broker,
    require_stable: bool,
    group_id: &str,
    fetched: &[FetchedTopic],
) -> Vec<(String, i32)> {
    if !require_stable {
        return Vec::new();
    }
    broker.groups.read(|c| {
        fetched
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(move |p| (t.name.clone(), p.partition))
            })
            .filter(|(topic, p)| c.has_pending_offset(group_id, topic, *p))
            .collect()
    })
}

fn batched_topics(fetched: Vec<FetchedTopic>) -> Vec<OffsetFetchResponseTopics> {
    fetched
        .into_iter()
        .map(|t| {
            OffsetFetchResponseTopics::default()
                .with_name(TopicName(str_bytes(&t.name)))
                .with_partitions(
                    t.partitions
                        .into_iter()
                        .map(|p| {
                            OffsetFetchResponsePartitions::default()
                                .with_partition_index(p.partition)
                                .with_committed_offset(p.offset)
                                .with_committed_leader_epoch(p.leader_epoch)
                                .with_metadata(Some(str_bytes(&p.metadata)))
                        })
                        .collect(),
                )
        })
        .collect()
}

pub fn describe(
    broker: &Broker,
    request: DescribeGroupsRequest,
    version: i16,
) -> DescribeGroupsResponse {
    broker.groups.read(|c| c.describe_groups(&request, version))
}

pub fn list(broker: &Broker, request: ListGroupsRequest) -> ListGroupsResponse {
    broker.groups.read(|c| c.list_groups(&request))
}

pub fn delete(broker: &Broker, request: DeleteGroupsRequest) -> DeleteGroupsResponse {
    match broker.groups.immediate(|c, _| c.delete_groups(&request)) {
        Ok(response) => response,
        Err(code) => {
            use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
            DeleteGroupsResponse::default().with_results(
                request
                    .groups_names
                    .iter()
                    .map(|g| {
                        DeletableGroupResult::default()
                            .with_group_id(g.clone())
                            .with_error_code(code)
                    })
                    .collect(),
            )
        }
    }
}

pub fn delete_offsets(broker: &Broker, request: OffsetDeleteRequest) -> OffsetDeleteResponse {
    match broker.groups.immediate(|c, _| c.delete_offsets(&request)) {
        Ok(response) => response,
        Err(code) => OffsetDeleteResponse::default().with_error_code(code),
    }
}
