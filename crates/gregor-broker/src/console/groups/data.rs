//! Consumer groups as `kafka-consumer-groups --list / --describe` shows
//! them: state, protocol, members with their assignments (classic and
//! KIP-848 consumer groups), committed offset, log end and lag per
//! partition, and lag in seconds.

use super::offsets::{self, TopicPartition, LATEST};
use crate::console::call::unexpected;
use crate::console::call::{call, call_at, kafka_error, live_brokers};
use crate::console::{ConsoleError, Ctx};
use gregor_protocol::error_codes;
use kafka_protocol::messages::{
    ConsumerGroupDescribeRequest, DeleteGroupsRequest, DescribeGroupsRequest,
    FindCoordinatorRequest, GroupId, ListGroupsRequest, ListGroupsResponse, RequestKind,
    ResponseKind,
};
use kafka_protocol::protocol::StrBytes;
use std::collections::{BTreeMap, BTreeSet};

/// One line of the group list.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupSummary {
    pub group_id: String,
    /// `classic`, `consumer` (KIP-848), `streams` or `share`.
    pub group_type: String,
    /// Classic groups: the protocol type (`consumer`, `connect`, or empty
    /// for a group used only to commit offsets).
    pub protocol_type: String,
    pub state: String,
    pub members: Option<usize>,
    pub coordinator: Option<i32>,
}

/// A member and the partitions it holds.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberView {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub host: String,
    pub assignment: Vec<TopicPartition>,
    /// Consumer groups: what the coordinator wants the member to hold
    /// (differs from `assignment` while it reconciles).
    pub target_assignment: Option<Vec<TopicPartition>>,
    /// Consumer groups: the member's epoch.
    pub member_epoch: Option<i32>,
}

/// A partition the group consumes or has committed for.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionLag {
    pub topic: String,
    pub partition: i32,
    pub committed: Option<i64>,
    pub log_end: Option<i64>,
    /// Log end minus committed offset; unknown without a committed offset.
    pub lag: Option<i64>,
    pub lag_seconds: Option<f64>,
    /// The member holding the partition, if any.
    pub member_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GroupDetail {
    pub summary: GroupSummary,
    /// Classic: the chosen protocol (assignor); consumer: the assignor.
    pub assignor: String,
    /// Consumer groups: group epoch and assignment epoch.
    pub epochs: Option<(i32, i32)>,
    pub members: Vec<MemberView>,
    pub partitions: Vec<PartitionLag>,
}

impl GroupDetail {
    /// Total lag over the partitions whose lag is known.
    pub fn total_lag(&self) -> i64 {
        self.partitions.iter().filter_map(|p| p.lag).sum()
    }

    pub fn max_lag_seconds(&self) -> Option<f64> {
        self.partitions
            .iter()
            .filter_map(|p| p.lag_seconds)
            .fold(None, |max, s| Some(max.map_or(s, |m: f64| m.max(s))))
    }
}

fn group_id(id: &str) -> GroupId {
    GroupId(StrBytes::from_string(id.to_string()))
}

/// Every group, sorted by id, with member counts and coordinators.
pub async fn list(ctx: &Ctx) -> Result<Vec<GroupSummary>, ConsoleError> {
    let mut groups = list_unsized(ctx).await?;
    groups.sort_by(|a, b| a.group_id.cmp(&b.group_id));
    let ids: Vec<String> = groups.iter().map(|g| g.group_id.clone()).collect();
    let coordinators = coordinators(ctx, &ids).await?;
    let classic: Vec<String> = groups
        .iter()
        .filter(|g| g.group_type == "classic")
        .map(|g| g.group_id.clone())
        .collect();
    let consumer: Vec<String> = groups
        .iter()
        .filter(|g| g.group_type == "consumer")
        .map(|g| g.group_id.clone())
        .collect();
    let mut counts = BTreeMap::new();
    for (id, detail) in describe_classic(ctx, &classic).await? {
        if let Ok(d) = detail {
            counts.insert(id, d.members.len());
        }
    }
    for (id, detail) in describe_consumer(ctx, &consumer).await? {
        if let Ok(d) = detail {
            counts.insert(id, d.members.len());
        }
    }
    for g in &mut groups {
        g.members = counts.get(&g.group_id).copied();
        g.coordinator = coordinators.get(&g.group_id).copied();
    }
    Ok(groups)
}

/// One group with its members and lag; 404 for a group nobody knows.
pub async fn describe(ctx: &Ctx, id: &str) -> Result<GroupDetail, ConsoleError> {
    let summary = list_one(ctx, id).await?;
    let Described {
        assignor,
        epochs,
        members,
        state,
    } = match summary.group_type.as_str() {
        "classic" => one(describe_classic(ctx, &[id.to_string()]).await?)?,
        "consumer" => one(describe_consumer(ctx, &[id.to_string()]).await?)?,
        // Streams and share groups: their offsets and lag, without members.
        _ => Described::default(),
    };
    let summary = GroupSummary {
        state: state.unwrap_or(summary.state),
        members: Some(members.len()),
        ..summary
    };
    let partitions = lag(ctx, id, &members).await?;
    Ok(GroupDetail {
        summary,
        assignor,
        epochs,
        members,
        partitions,
    })
}

/// The group's line of ListGroups (with its coordinator), or 404.
pub async fn list_one(ctx: &Ctx, id: &str) -> Result<GroupSummary, ConsoleError> {
    if id.is_empty() {
        return Err(ConsoleError::bad_request("the group id is empty"));
    }
    let mut found = list_unsized(ctx)
        .await?
        .into_iter()
        .find(|g| g.group_id == id)
        .ok_or_else(|| ConsoleError::not_found(format!("group {id} does not exist")))?;
    found.coordinator = coordinators(ctx, &[id.to_string()]).await?.get(id).copied();
    Ok(found)
}

/// ListGroups of every broker (each lists the groups it coordinates), as
/// the admin client's listGroups: one broker's error fails the list.
async fn list_unsized(ctx: &Ctx) -> Result<Vec<GroupSummary>, ConsoleError> {
    let mut groups: BTreeMap<String, GroupSummary> = BTreeMap::new();
    for node in live_brokers(ctx) {
        let response = list_groups_at(ctx, node).await?;
        for g in response.groups {
            let id = g.group_id.to_string();
            groups.entry(id.clone()).or_insert(GroupSummary {
                group_id: id,
                group_type: g.group_type.to_string(),
                protocol_type: g.protocol_type.to_string(),
                state: g.group_state.to_string(),
                members: None,
                coordinator: None,
            });
        }
    }
    Ok(groups.into_values().collect())
}

/// One broker's ListGroups. A coordinator still loading (or moving) is
/// asked again for a moment, as the admin client retries these errors.
async fn list_groups_at(ctx: &Ctx, node: i32) -> Result<ListGroupsResponse, ConsoleError> {
    const TRIES: usize = 10;
    const BACKOFF: std::time::Duration = std::time::Duration::from_millis(200);
    for attempt in 1.. {
        let request = RequestKind::ListGroups(ListGroupsRequest::default());
        let response = match call_at(ctx, node, request).await? {
            ResponseKind::ListGroups(response) => response,
            _ => return Err(unexpected("ListGroups")),
        };
        let retriable = matches!(
            response.error_code,
            error_codes::COORDINATOR_LOAD_IN_PROGRESS | error_codes::COORDINATOR_NOT_AVAILABLE
        );
        if retriable && attempt < TRIES {
            tokio::time::sleep(BACKOFF).await;
            continue;
        }
        if response.error_code != 0 {
            return Err(kafka_error(
                response.error_code,
                &format!("listing the groups of broker {node}"),
            ));
        }
        return Ok(response);
    }
    Err(unexpected("ListGroups"))
}

/// The coordinator of group `id`, or the error FindCoordinator gave.
pub async fn coordinator_of(ctx: &Ctx, id: &str) -> Result<i32, ConsoleError> {
    let request = FindCoordinatorRequest::default()
        .with_key_type(0)
        .with_coordinator_keys(vec![StrBytes::from_string(id.to_string())]);
    let response = match call(ctx, RequestKind::FindCoordinator(request)).await? {
        ResponseKind::FindCoordinator(response) => response,
        _ => return Err(unexpected("FindCoordinator")),
    };
    match response.coordinators.first() {
        Some(c) if c.error_code == 0 => Ok(c.node_id.0),
        Some(c) => Err(kafka_error(
            c.error_code,
            &format!("finding the coordinator of group {id}"),
        )),
        None => Err(unexpected("FindCoordinator")),
    }
}

/// `ids` grouped by coordinator, for requests each coordinator answers
/// for its own groups; a group whose lookup failed gets that error.
async fn by_coordinator(
    ctx: &Ctx,
    ids: &[String],
) -> Result<BTreeMap<i32, Vec<String>>, ConsoleError> {
    let mut out: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    for id in ids {
        out.entry(coordinator_of(ctx, id).await?)
            .or_default()
            .push(id.clone());
    }
    Ok(out)
}

/// Deletes a group (DeleteGroups): Kafka refuses a group with members
/// (NON_EMPTY_GROUP).
pub async fn delete(ctx: &Ctx, id: &str) -> Result<(), ConsoleError> {
    list_one(ctx, id).await?;
    let request = DeleteGroupsRequest::default().with_groups_names(vec![group_id(id)]);
    let coordinator = coordinator_of(ctx, id).await?;
    let response = match call_at(ctx, coordinator, RequestKind::DeleteGroups(request)).await? {
        ResponseKind::DeleteGroups(response) => response,
        _ => return Err(unexpected("DeleteGroups")),
    };
    match response.results.first().map(|r| r.error_code) {
        Some(0) => Ok(()),
        Some(code) => Err(kafka_error(code, &format!("deleting group {id}"))),
        None => Err(unexpected("DeleteGroups")),
    }
}

#[derive(Default)]
struct Described {
    assignor: String,
    epochs: Option<(i32, i32)>,
    members: Vec<MemberView>,
    state: Option<String>,
}

type DescribedGroups = Vec<(String, Result<Described, i16>)>;

fn one(mut described: DescribedGroups) -> Result<Described, ConsoleError> {
    match described.pop() {
        Some((_, Ok(d))) => Ok(d),
        Some((id, Err(code))) => Err(kafka_error(code, &format!("describing group {id}"))),
        None => Err(unexpected("describe")),
    }
}

async fn describe_classic(ctx: &Ctx, ids: &[String]) -> Result<DescribedGroups, ConsoleError> {
    let mut out = Vec::new();
    for (node, ids) in by_coordinator(ctx, ids).await? {
        out.extend(describe_classic_at(ctx, node, &ids).await?);
    }
    Ok(out)
}

async fn describe_classic_at(
    ctx: &Ctx,
    node: i32,
    ids: &[String],
) -> Result<DescribedGroups, ConsoleError> {
    let request =
        DescribeGroupsRequest::default().with_groups(ids.iter().map(|id| group_id(id)).collect());
    let response = match call_at(ctx, node, RequestKind::DescribeGroups(request)).await? {
        ResponseKind::DescribeGroups(response) => response,
        _ => return Err(unexpected("DescribeGroups")),
    };
    Ok(response
        .groups
        .into_iter()
        .map(|g| {
            let id = g.group_id.to_string();
            if g.error_code != 0 {
                return (id, Err(g.error_code));
            }
            let consumer = g.protocol_type.as_str() == "consumer";
            let members = g
                .members
                .into_iter()
                .map(|m| MemberView {
                    member_id: m.member_id.to_string(),
                    instance_id: m.group_instance_id.map(|s| s.to_string()),
                    client_id: m.client_id.to_string(),
                    host: m.client_host.to_string(),
                    // Only the consumer protocol's assignment format is known.
                    assignment: if consumer {
                        gregor_client::decode_assignment(m.member_assignment)
                    } else {
                        Vec::new()
                    },
                    target_assignment: None,
                    member_epoch: None,
                })
                .collect();
            (
                id,
                Ok(Described {
                    assignor: g.protocol_data.to_string(),
                    epochs: None,
                    members,
                    state: Some(g.group_state.to_string()),
                }),
            )
        })
        .collect())
}

async fn describe_consumer(ctx: &Ctx, ids: &[String]) -> Result<DescribedGroups, ConsoleError> {
    let mut out = Vec::new();
    for (node, ids) in by_coordinator(ctx, ids).await? {
        out.extend(describe_consumer_at(ctx, node, &ids).await?);
    }
    Ok(out)
}

async fn describe_consumer_at(
    ctx: &Ctx,
    node: i32,
    ids: &[String],
) -> Result<DescribedGroups, ConsoleError> {
    use kafka_protocol::messages::consumer_group_describe_response::Assignment;
    let flatten = |a: Assignment| -> Vec<TopicPartition> {
        a.topic_partitions
            .into_iter()
            .flat_map(|tp| {
                let topic = tp.topic_name.to_string();
                tp.partitions.into_iter().map(move |p| (topic.clone(), p))
            })
            .collect()
    };
    let request = ConsumerGroupDescribeRequest::default()
        .with_group_ids(ids.iter().map(|id| group_id(id)).collect());
    let response = match call_at(ctx, node, RequestKind::ConsumerGroupDescribe(request)).await? {
        ResponseKind::ConsumerGroupDescribe(response) => response,
        _ => return Err(unexpected("ConsumerGroupDescribe")),
    };
    Ok(response
        .groups
        .into_iter()
        .map(|g| {
            let id = g.group_id.to_string();
            if g.error_code != 0 {
                return (id, Err(g.error_code));
            }
            let members = g
                .members
                .into_iter()
                .map(|m| MemberView {
                    member_id: m.member_id.to_string(),
                    instance_id: m.instance_id.map(|s| s.to_string()),
                    client_id: m.client_id.to_string(),
                    host: m.client_host.to_string(),
                    assignment: flatten(m.assignment),
                    target_assignment: Some(flatten(m.target_assignment)),
                    member_epoch: Some(m.member_epoch),
                })
                .collect();
            (
                id,
                Ok(Described {
                    assignor: g.assignor_name.to_string(),
                    epochs: Some((g.group_epoch, g.assignment_epoch)),
                    members,
                    state: Some(g.group_state.to_string()),
                }),
            )
        })
        .collect())
}

/// The coordinator of each group (FindCoordinator); groups whose lookup
/// failed are absent.
async fn coordinators(ctx: &Ctx, ids: &[String]) -> Result<BTreeMap<String, i32>, ConsoleError> {
    if ids.is_empty() {
        return Ok(BTreeMap::new());
    }
    let request = FindCoordinatorRequest::default()
        .with_key_type(0)
        .with_coordinator_keys(
            ids.iter()
                .map(|id| StrBytes::from_string(id.clone()))
                .collect(),
        );
    let response = match call(ctx, RequestKind::FindCoordinator(request)).await? {
        ResponseKind::FindCoordinator(response) => response,
        _ => return Err(unexpected("FindCoordinator")),
    };
    Ok(response
        .coordinators
        .into_iter()
        .filter(|c| c.error_code == 0)
        .map(|c| (c.key.to_string(), c.node_id.0))
        .collect())
}

/// Committed offset, log end and lag of every partition the group holds
/// or has committed for, as `kafka-consumer-groups --describe` lists them.
async fn lag(
    ctx: &Ctx,
    id: &str,
    members: &[MemberView],
) -> Result<Vec<PartitionLag>, ConsoleError> {
    let committed = offsets::committed(ctx, id).await?;
    let mut owner: BTreeMap<TopicPartition, &str> = BTreeMap::new();
    for m in members {
        for tp in &m.assignment {
            owner.insert(tp.clone(), &m.member_id);
        }
    }
    let all: BTreeSet<TopicPartition> = committed.keys().chain(owner.keys()).cloned().collect();
    let all: Vec<TopicPartition> = all.into_iter().collect();
    // Lag in seconds from each partition's leader, as `/metrics` exports it.
    let seconds = super::lag_time::lag_seconds(ctx, &committed).await;
    let ends = if all.is_empty() {
        BTreeMap::new()
    } else {
        offsets::list(ctx, &all, LATEST).await?
    };
    Ok(all
        .into_iter()
        .map(|tp| {
            let committed = committed.get(&tp).copied();
            let log_end = ends.get(&tp).and_then(|e| e.ok().flatten());
            let lag = match (committed, log_end) {
                (Some(c), Some(e)) => Some((e - c).max(0)),
                _ => None,
            };
            let lag_seconds = match lag {
                Some(0) => Some(0.0),
                Some(_) => seconds.get(&tp).copied(),
                None => None,
            };
            PartitionLag {
                member_id: owner.get(&tp).map(|m| m.to_string()),
                topic: tp.0,
                partition: tp.1,
                committed,
                log_end,
                lag,
                lag_seconds,
            }
        })
        .collect())
}
