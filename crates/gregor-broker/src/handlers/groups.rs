//! Consumer group APIs: each hands its request to the group service (the
//! coordinator state machine plus persistence) and shapes the answer.

use super::str_bytes;
use crate::server::Broker;
use gregor_coordinator::group::GroupCoordinator;
use gregor_coordinator::group::JoinContext;
use gregor_coordinator::group::{FetchedTopic, ReadAt, Response};
use gregor_protocol::error_codes::NONE;
use gregor_protocol::error_codes::{
    COORDINATOR_LOAD_IN_PROGRESS, INVALID_GROUP_ID, INVALID_SESSION_TIMEOUT, UNKNOWN_SERVER_ERROR,
    UNKNOWN_TOPIC_OR_PARTITION, UNSTABLE_OFFSET_COMMIT,
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
    // Refused before routing, as Kafka's group coordinator service does.
    let session = request.session_timeout_ms;
    let refusal = if request.group_id.is_empty() {
        Some(INVALID_GROUP_ID)
    } else if session < broker.config.group_min_session_timeout_ms
        || session > broker.config.group_max_session_timeout_ms
    {
        Some(INVALID_SESSION_TIMEOUT)
    } else {
        None
    };
    if let Some(code) = refusal {
        return JoinGroupResponse::default()
            .with_error_code(code)
            .with_member_id(request.member_id.clone());
    }
    let context = JoinContext {
        client_id: client_id.to_string(),
        client_host: format!("/{}", peer.ip()),
        api_version: version,
    };
    match broker
        .groups
        .parked(&request.group_id, |c, id, now| {
            c.join(&request, &context, id, now)
        })
        .await
    {
        Ok(Response::Join(response)) => response,
        Ok(_) => JoinGroupResponse::default().with_error_code(UNKNOWN_SERVER_ERROR),
        Err(code) => JoinGroupResponse::default().with_error_code(code),
    }
}

pub async fn sync(broker: &Broker, request: SyncGroupRequest, version: i16) -> SyncGroupResponse {
    if request.group_id.is_empty() {
        return SyncGroupResponse::default().with_error_code(INVALID_GROUP_ID);
    }
    match broker
        .groups
        .parked(&request.group_id, |c, id, now| {
            c.sync(&request, version, id, now)
        })
        .await
    {
        Ok(Response::Sync(response)) => response,
        Ok(_) => SyncGroupResponse::default().with_error_code(UNKNOWN_SERVER_ERROR),
        Err(code) => SyncGroupResponse::default().with_error_code(code),
    }
}

pub async fn heartbeat(broker: &Broker, request: HeartbeatRequest) -> HeartbeatResponse {
    if request.group_id.is_empty() {
        return HeartbeatResponse::default().with_error_code(INVALID_GROUP_ID);
    }
    match broker
        .groups
        .parked(&request.group_id, |c, id, now| {
            c.heartbeat(&request, id, now)
        })
        .await
    {
        Ok(Response::Heartbeat(response)) => response,
        Ok(_) => HeartbeatResponse::default().with_error_code(UNKNOWN_SERVER_ERROR),
        // Kafka answers a heartbeat blindly while the group loads: the
        // member keeps its session instead of rejoining.
        Err(COORDINATOR_LOAD_IN_PROGRESS) => HeartbeatResponse::default(),
        Err(code) => HeartbeatResponse::default().with_error_code(code),
    }
}

pub async fn leave(
    broker: &Broker,
    request: LeaveGroupRequest,
    version: i16,
) -> LeaveGroupResponse {
    if request.group_id.is_empty() {
        return LeaveGroupResponse::default().with_error_code(INVALID_GROUP_ID);
    }
    match broker
        .groups
        .parked(&request.group_id, |c, id, now| {
            c.leave(&request, version, id, now)
        })
        .await
    {
        Ok(Response::Leave(response)) => response,
        Ok(_) => LeaveGroupResponse::default().with_error_code(UNKNOWN_SERVER_ERROR),
        Err(code) => LeaveGroupResponse::default().with_error_code(code),
    }
}

pub async fn commit(
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
    let committed = if request.group_id.is_empty() {
        Err(INVALID_GROUP_ID)
    } else {
        broker
            .groups
            .immediate(&request.group_id, |c, now| {
                c.commit_offsets(&request, version, image.as_ref(), now)
            })
            .await
    };
    let mut response = match committed {
        Ok(response) => response,
        Err(code) => OffsetCommitResponse::default()
            .with_topics(request.topics.iter().map(|t| refuse(t, code)).collect()),
    };
    response.topics.append(&mut refused);
    response
}

pub async fn fetch_offsets(
    broker: &Broker,
    request: OffsetFetchRequest,
    version: i16,
) -> OffsetFetchResponse {
    if version >= BATCHED_OFFSET_FETCH {
        let mut groups = Vec::with_capacity(request.groups.len());
        for g in &request.groups {
            let wanted: Option<Vec<(String, Vec<i32>)>> = g.topics.as_ref().map(|ts| {
                ts.iter()
                    .map(|t| (t.name.to_string(), t.partition_indexes.clone()))
                    .collect()
            });
            // v9: a consumer-protocol member fetches at its member epoch.
            let member = g.member_id.as_deref();
            let read = |c: &GroupCoordinator| {
                c.validate_offset_fetch(&g.group_id, member, g.member_epoch)?;
                Ok(fetch_group(
                    c,
                    &g.group_id,
                    wanted.as_deref(),
                    request.require_stable,
                ))
            };
            let fetched = if request.require_stable {
                broker.groups.read_stable(&g.group_id, read).await
            } else {
                broker.groups.read(&g.group_id, read)
            };
            groups.push(match fetched.and_then(|r| r) {
                Ok((fetched, unstable)) => {
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
                }
                Err(code) => OffsetFetchResponseGroup::default()
                    .with_group_id(g.group_id.clone())
                    .with_error_code(code),
            });
        }
        return OffsetFetchResponse::default().with_groups(groups);
    }
    let wanted: Option<Vec<(String, Vec<i32>)>> = request.topics.as_ref().map(|ts| {
        ts.iter()
            .map(|t| (t.name.to_string(), t.partition_indexes.clone()))
            .collect()
    });
    // Without a member: refused only for a share group (not a consumer group).
    let read = |c: &GroupCoordinator| {
        c.validate_offset_fetch(&request.group_id, None, -1)?;
        Ok(fetch_group(
            c,
            &request.group_id,
            wanted.as_deref(),
            request.require_stable,
        ))
    };
    let fetched = if request.require_stable {
        broker.groups.read_stable(&request.group_id, read).await
    } else {
        broker.groups.read(&request.group_id, read)
    };
    let (fetched, unstable) = match fetched.and_then(|r| r) {
        Ok(found) => found,
        Err(code) => return fetch_refused(&request, code),
    };
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

/// A group-level error of an OffsetFetch before v8: the top-level code
/// (v2+), and each asked partition with it (what v0-v1 clients read).
fn fetch_refused(request: &OffsetFetchRequest, code: i16) -> OffsetFetchResponse {
    let topics = request
        .topics
        .iter()
        .flatten()
        .map(|t| {
            OffsetFetchResponseTopic::default()
                .with_name(t.name.clone())
                .with_partitions(
                    t.partition_indexes
                        .iter()
                        .map(|&p| {
                            OffsetFetchResponsePartition::default()
                                .with_partition_index(p)
                                .with_committed_offset(-1)
                                .with_error_code(code)
                        })
                        .collect(),
                )
        })
        .collect();
    OffsetFetchResponse::default()
        .with_error_code(code)
        .with_topics(topics)
}

/// One group's committed offsets and, with `require_stable` (read_committed
/// consumers, KIP-447), the partitions whose transactional offset commit
/// is still pending: they answer UNSTABLE_OFFSET_COMMIT, so the consumer
/// waits for the transaction instead of starting from an offset about to
/// change. A plain fetch reads at the high watermark; a `require_stable`
/// one reads the latest state, its answer waiting for it to be committed
/// (`GroupService::read_stable`).
fn fetch_group(
    c: &GroupCoordinator,
    group_id: &str,
    wanted: Option<&[(String, Vec<i32>)]>,
    require_stable: bool,
) -> (Vec<FetchedTopic>, Vec<(String, i32)>) {
    let at = if require_stable {
        ReadAt::Latest
    } else {
        ReadAt::Committed
    };
    let fetched = c.fetch_offsets_at(group_id, wanted, at);
    if at == ReadAt::Committed && tracing::enabled!(tracing::Level::DEBUG) {
        let hidden = c.hidden_offsets(group_id);
        if !hidden.is_empty() {
            tracing::debug!(group_id, ?hidden, "offset fetch hides uncommitted offsets");
        }
    }
    let unstable = if require_stable {
        fetched
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(move |p| (t.name.clone(), p.partition))
            })
            .filter(|(topic, p)| c.has_pending_offset(group_id, topic, *p))
            .collect()
    } else {
        Vec::new()
    };
    (fetched, unstable)
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
    use kafka_protocol::messages::describe_groups_response::DescribedGroup;
    // Each group is answered by its own shard (or gets its error), as Kafka.
    let groups = request
        .groups
        .iter()
        .map(|id| {
            let single = DescribeGroupsRequest::default()
                .with_groups(vec![id.clone()])
                .with_include_authorized_operations(request.include_authorized_operations);
            match broker
                .groups
                .read(id, |c| c.describe_groups(&single, version))
            {
                Ok(answer) => answer.groups.into_iter().next().unwrap_or_default(),
                Err(code) => DescribedGroup::default()
                    .with_group_id(id.clone())
                    .with_error_code(code),
            }
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(groups)
}

/// Every group of every loaded shard; COORDINATOR_LOAD_IN_PROGRESS while
/// one loads, as Kafka.
pub fn list(broker: &Broker, request: ListGroupsRequest) -> ListGroupsResponse {
    match broker.groups.read_all(|c| c.list_groups(&request)) {
        Ok(answers) => {
            let mut groups: Vec<_> = answers.into_iter().flat_map(|a| a.groups).collect();
            groups.sort_by(|a, b| a.group_id.cmp(&b.group_id));
            ListGroupsResponse::default().with_groups(groups)
        }
        Err(code) => ListGroupsResponse::default().with_error_code(code),
    }
}

pub async fn delete(broker: &Broker, request: DeleteGroupsRequest) -> DeleteGroupsResponse {
    use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
    let mut results = Vec::with_capacity(request.groups_names.len());
    for id in &request.groups_names {
        let single = DeleteGroupsRequest::default().with_groups_names(vec![id.clone()]);
        // A share group's share-partition state goes with it.
        let result = match broker
            .groups
            .immediate(id, |c, _| {
                let state = c.share_state_keys(id);
                let (answer, records) = c.delete_groups(&single);
                ((answer, state), records)
            })
            .await
        {
            Ok((answer, state)) => {
                let result = answer.results.into_iter().next().unwrap_or_default();
                if result.error_code == NONE && !state.is_empty() {
                    super::share_groups::delete_state(broker, state).await;
                }
                result
            }
            Err(code) => DeletableGroupResult::default()
                .with_group_id(id.clone())
                .with_error_code(code),
        };
        results.push(result);
    }
    DeleteGroupsResponse::default().with_results(results)
}

pub async fn delete_offsets(broker: &Broker, request: OffsetDeleteRequest) -> OffsetDeleteResponse {
    if request.group_id.is_empty() {
        return OffsetDeleteResponse::default().with_error_code(INVALID_GROUP_ID);
    }
    match broker
        .groups
        .immediate(&request.group_id, |c, _| c.delete_offsets(&request))
        .await
    {
        Ok(response) => response,
        Err(code) => OffsetDeleteResponse::default().with_error_code(code),
    }
}
