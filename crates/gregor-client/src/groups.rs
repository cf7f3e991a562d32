//! Consumer group administration: list, describe (members and their
//! assignments) and committed offsets, asked of the group's coordinator.

use crate::client::Client;
use crate::connection::Connection;
use crate::error::{check, KafkaError};
use anyhow::bail;
use bytes::Bytes;
use gregor_protocol::error_codes::{
    COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE, GROUP_ID_NOT_FOUND, NOT_COORDINATOR,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, StrBytes};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    pub group_id: String,
    pub state: String,
    pub protocol_type: String,
    /// ListGroups v5's type: "classic", "consumer", "streams" or "share".
    pub group_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMember {
    pub member_id: String,
    pub client_id: String,
    pub host: String,
    /// (topic, partition) pairs assigned to this member.
    pub assignment: Vec<(String, i32)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    pub group_id: String,
    pub state: String,
    pub members: Vec<GroupMember>,
}

/// How long to wait before asking a coordinator again.
pub(crate) const COORDINATOR_RETRY_BACKOFF: Duration = Duration::from_millis(100);

/// The errors Kafka's admin client retries a group request on: the
/// coordinator moved (NOT_COORDINATOR), is loading the group's partition
/// (COORDINATOR_LOAD_IN_PROGRESS) or is not there yet
/// (COORDINATOR_NOT_AVAILABLE). The request was not applied.
pub(crate) fn is_coordinator_retriable(err: &anyhow::Error) -> bool {
    err.downcast_ref::<KafkaError>().is_some_and(|e| {
        matches!(
            e.code,
            NOT_COORDINATOR | COORDINATOR_LOAD_IN_PROGRESS | COORDINATOR_NOT_AVAILABLE
        )
    })
}

/// Runs `$call` (which finds the coordinator afresh each time) again while
/// it fails with a retriable coordinator error, up to the request timeout.
macro_rules! retrying {
    ($client:ident, $call:expr) => {{
        let deadline = Instant::now() + $client.request_timeout();
        loop {
            match $call.await {
                Err(err) if is_coordinator_retriable(&err) && Instant::now() < deadline => {
                    tokio::time::sleep(COORDINATOR_RETRY_BACKOFF).await;
                }
                other => break other,
            }
        }
    }};
}
pub(crate) use retrying;

impl Client {
    /// Every group the cluster knows: each broker lists the groups it
    /// coordinates, so all are asked (as Kafka's admin client does).
    pub async fn list_groups(&mut self) -> anyhow::Result<Vec<GroupListing>> {
        self.metadata(Some(&[])).await?;
        let mut ids = self.broker_ids();
        ids.sort();
        let mut groups = Vec::new();
        for id in ids {
            groups.extend(retrying!(self, self.list_groups_of(id))?);
        }
        groups.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        groups.dedup_by(|a, b| a.group_id == b.group_id);
        Ok(groups)
    }

    /// A group's state and members (see `describe_group_once`).
    pub async fn describe_group(&mut self, group: &str) -> anyhow::Result<GroupDescription> {
        retrying!(self, self.describe_group_once(group))
    }

    /// The group's committed offsets: (topic, partition, offset).
    pub async fn committed_offsets(
        &mut self,
        group: &str,
    ) -> anyhow::Result<Vec<(String, i32, i64)>> {
        retrying!(self, self.committed_offsets_once(group))
    }

    /// Commits offsets for a group with no active members (see `commit_group_offsets_once`).
    pub async fn commit_group_offsets(
        &mut self,
        group: &str,
        offsets: &[(String, i32, i64)],
    ) -> anyhow::Result<()> {
        retrying!(self, self.commit_group_offsets_once(group, offsets))
    }

    /// Deletes an empty group with its offsets.
    pub async fn delete_group(&mut self, group: &str) -> anyhow::Result<()> {
        retrying!(self, self.delete_group_once(group))
    }

    /// Deletes a group's committed offsets for some partitions of a topic.
    pub async fn delete_group_offsets(
        &mut self,
        group: &str,
        topic: &str,
        partitions: &[i32],
    ) -> anyhow::Result<()> {
        retrying!(
            self,
            self.delete_group_offsets_once(group, topic, partitions)
        )
    }

    async fn list_groups_of(&mut self, broker: i32) -> anyhow::Result<Vec<GroupListing>> {
        let (response, _) = self
            .broker(broker)
            .await?
            .send(
                ApiKey::ListGroups,
                5,
                RequestKind::ListGroups(ListGroupsRequest::default()),
            )
            .await?;
        let ResponseKind::ListGroups(response) = response else {
            bail!("unexpected answer to ListGroups")
        };
        check(response.error_code, || "cannot list groups".to_string())?;
        Ok(response
            .groups
            .into_iter()
            .map(|g| GroupListing {
                group_id: g.group_id.to_string(),
                state: g.group_state.to_string(),
                protocol_type: g.protocol_type.to_string(),
                group_type: g.group_type.to_string(),
            })
            .collect())
    }

    pub(crate) async fn coordinator(&mut self, group: &str) -> anyhow::Result<Connection> {
        let (_, connection) = self.find_coordinator(group, GROUP_KEY, "group").await?;
        Ok(connection)
    }

    /// A group's state and members. Like Kafka's admin client, asks
    /// ConsumerGroupDescribe first (KIP-848 groups) and falls back to
    /// DescribeGroups for classic groups and brokers without it.
    async fn describe_group_once(&mut self, group: &str) -> anyhow::Result<GroupDescription> {
        let mut coordinator = self.coordinator(group).await?;
        if coordinator
            .version_for(ApiKey::ConsumerGroupDescribe, 1)
            .is_ok()
        {
            if let Some(described) = describe_consumer_group(&mut coordinator, group).await? {
                return Ok(described);
            }
        }
        let request = DescribeGroupsRequest::default()
            .with_groups(vec![GroupId(StrBytes::from_string(group.to_string()))]);
        let (response, _) = coordinator
            .send(
                ApiKey::DescribeGroups,
                5,
                RequestKind::DescribeGroups(request),
            )
            .await?;
        let ResponseKind::DescribeGroups(response) = response else {
            bail!("unexpected answer to DescribeGroups")
        };
        let Some(described) = response.groups.into_iter().next() else {
            bail!("empty DescribeGroups answer")
        };
        check(described.error_code, || {
            format!("cannot describe group '{group}'")
        })?;
        let members = described
            .members
            .into_iter()
            .map(|m| GroupMember {
                member_id: m.member_id.to_string(),
                client_id: m.client_id.to_string(),
                host: m.client_host.to_string(),
                assignment: decode_assignment(m.member_assignment),
            })
            .collect();
        Ok(GroupDescription {
            group_id: group.to_string(),
            state: described.group_state.to_string(),
            members,
        })
    }

    /// The group's committed offsets: (topic, partition, offset).
    async fn committed_offsets_once(
        &mut self,
        group: &str,
    ) -> anyhow::Result<Vec<(String, i32, i64)>> {
        let mut coordinator = self.coordinator(group).await?;
        let request = OffsetFetchRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
            .with_topics(None);
        let (response, _) = coordinator
            .send(ApiKey::OffsetFetch, 7, RequestKind::OffsetFetch(request))
            .await?;
        let ResponseKind::OffsetFetch(response) = response else {
            bail!("unexpected answer to OffsetFetch")
        };
        check(response.error_code, || {
            format!("cannot fetch offsets of group '{group}'")
        })?;
        let mut offsets: Vec<(String, i32, i64)> = response
            .topics
            .into_iter()
            .flat_map(|t| {
                let name = t.name.to_string();
                t.partitions
                    .into_iter()
                    .map(move |p| (name.clone(), p.partition_index, p.committed_offset))
            })
            .collect();
        offsets.sort();
        Ok(offsets)
    }
}

impl Client {
    /// Commits offsets for a group with no active members (generation -1),
    /// as `kafka-consumer-groups.sh --reset-offsets --execute` does.
    async fn commit_group_offsets_once(
        &mut self,
        group: &str,
        offsets: &[(String, i32, i64)],
    ) -> anyhow::Result<()> {
        use kafka_protocol::messages::offset_commit_request::{
            OffsetCommitRequestPartition, OffsetCommitRequestTopic,
        };
        let mut by_topic: std::collections::BTreeMap<&str, Vec<OffsetCommitRequestPartition>> =
            Default::default();
        for (topic, partition, offset) in offsets {
            by_topic.entry(topic.as_str()).or_default().push(
                OffsetCommitRequestPartition::default()
                    .with_partition_index(*partition)
                    .with_committed_offset(*offset),
            );
        }
        let request = OffsetCommitRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
            .with_generation_id_or_member_epoch(-1)
            .with_member_id(StrBytes::from_static_str(""))
            .with_topics(
                by_topic
                    .into_iter()
                    .map(|(t, ps)| {
                        OffsetCommitRequestTopic::default()
                            .with_name(TopicName(StrBytes::from_string(t.to_string())))
                            .with_partitions(ps)
                    })
                    .collect(),
            );
        let mut coordinator = self.coordinator(group).await?;
        let (response, _) = coordinator
            .send(ApiKey::OffsetCommit, 9, RequestKind::OffsetCommit(request))
            .await?;
        let ResponseKind::OffsetCommit(response) = response else {
            bail!("unexpected answer to OffsetCommit")
        };
        for topic in &response.topics {
            for p in &topic.partitions {
                check(p.error_code, || {
                    format!(
                        "cannot commit {}-{} for group '{group}'",
                        topic.name.as_str(),
                        p.partition_index
                    )
                })?;
            }
        }
        Ok(())
    }

    async fn delete_group_once(&mut self, group: &str) -> anyhow::Result<()> {
        let request = DeleteGroupsRequest::default()
            .with_groups_names(vec![GroupId(StrBytes::from_string(group.to_string()))]);
        let mut coordinator = self.coordinator(group).await?;
        let (response, _) = coordinator
            .send(ApiKey::DeleteGroups, 2, RequestKind::DeleteGroups(request))
            .await?;
        let ResponseKind::DeleteGroups(response) = response else {
            bail!("unexpected answer to DeleteGroups")
        };
        let result = response
            .results
            .first()
            .ok_or_else(|| anyhow::anyhow!("empty DeleteGroups answer"))?;
        check(result.error_code, || {
            format!("cannot delete group '{group}'")
        })?;
        Ok(())
    }

    /// Deletes a group's committed offsets for some partitions of a topic.
    async fn delete_group_offsets_once(
        &mut self,
        group: &str,
        topic: &str,
        partitions: &[i32],
    ) -> anyhow::Result<()> {
        use kafka_protocol::messages::offset_delete_request::{
            OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
        };
        let request = OffsetDeleteRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
            .with_topics(vec![OffsetDeleteRequestTopic::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partitions(
                    partitions
                        .iter()
                        .map(|p| OffsetDeleteRequestPartition::default().with_partition_index(*p))
                        .collect(),
                )]);
        let mut coordinator = self.coordinator(group).await?;
        let (response, _) = coordinator
            .send(ApiKey::OffsetDelete, 0, RequestKind::OffsetDelete(request))
            .await?;
        let ResponseKind::OffsetDelete(response) = response else {
            bail!("unexpected answer to OffsetDelete")
        };
        check(response.error_code, || {
            format!("cannot delete offsets of group '{group}'")
        })?;
        for t in &response.topics {
            for p in &t.partitions {
                check(p.error_code, || {
                    format!(
                        "cannot delete offset of {topic}-{} for group '{group}'",
                        p.partition_index
                    )
                })?;
            }
        }
        Ok(())
    }
}

/// FindCoordinator's key type for groups.
const GROUP_KEY: i8 = 0;

/// A KIP-848 group's description; `None` when the id is not one.
async fn describe_consumer_group(
    coordinator: &mut Connection,
    group: &str,
) -> anyhow::Result<Option<GroupDescription>> {
    let request = ConsumerGroupDescribeRequest::default()
        .with_group_ids(vec![GroupId(StrBytes::from_string(group.to_string()))]);
    let (response, _) = coordinator
        .send(
            ApiKey::ConsumerGroupDescribe,
            1,
            RequestKind::ConsumerGroupDescribe(request),
        )
        .await?;
    let ResponseKind::ConsumerGroupDescribe(response) = response else {
        bail!("unexpected answer to ConsumerGroupDescribe")
    };
    let Some(described) = response.groups.into_iter().next() else {
        bail!("empty ConsumerGroupDescribe answer")
    };
    if described.error_code == GROUP_ID_NOT_FOUND {
        return Ok(None);
    }
    check(described.error_code, || {
        format!("cannot describe group '{group}'")
    })?;
    let members = described
        .members
        .into_iter()
        .map(|m| GroupMember {
            member_id: m.member_id.to_string(),
            client_id: m.client_id.to_string(),
            host: m.client_host.to_string(),
            assignment: m
                .assignment
                .topic_partitions
                .iter()
                .flat_map(|tp| {
                    let topic = tp.topic_name.to_string();
                    tp.partitions.iter().map(move |p| (topic.clone(), *p))
                })
                .collect(),
        })
        .collect();
    Ok(Some(GroupDescription {
        group_id: group.to_string(),
        state: described.group_state.to_string(),
        members,
    }))
}

/// A consumer-protocol assignment: i16 version, then the assignment struct.
/// Anything else (another protocol type, garbage) yields no partitions.
pub fn decode_assignment(mut bytes: Bytes) -> Vec<(String, i32)> {
    if bytes.len() < 2 {
        return Vec::new();
    }
    let version = i16::from_be_bytes([bytes[0], bytes[1]]);
    let _ = bytes.split_to(2);
    match ConsumerProtocolAssignment::decode(&mut bytes, version.clamp(0, 3)) {
        Ok(assignment) => assignment
            .assigned_partitions
            .into_iter()
            .flat_map(|tp| {
                let topic = tp.topic.to_string();
                tp.partitions.into_iter().map(move |p| (topic.clone(), p))
            })
            .collect(),
        Err(_) => Vec::new(),
    }
}
