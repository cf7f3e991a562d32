//! Partition leadership and placement: ElectLeaders and the partition
//! reassignment APIs. Sent to the bootstrap broker, which forwards them to
//! the active controller.

use crate::client::{name, Client};
use crate::error::check;
use anyhow::bail;
use kafka_protocol::messages::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
use kafka_protocol::messages::list_partition_reassignments_request::ListPartitionReassignmentsTopics;
use kafka_protocol::messages::*;

/// One partition's answer: topic, partition, error code, error message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionOutcome {
    pub topic: String,
    pub partition: i32,
    pub code: i16,
    pub message: Option<String>,
}

/// A reassignment in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OngoingReassignment {
    pub topic: String,
    pub partition: i32,
    pub replicas: Vec<i32>,
    pub adding: Vec<i32>,
    pub removing: Vec<i32>,
}

/// Partitions by topic; `None` means every partition.
pub type TopicPartitionList = Option<Vec<(String, Vec<i32>)>>;

fn ids(list: &[BrokerId]) -> Vec<i32> {
    list.iter().map(|b| b.0).collect()
}

impl Client {
    /// ElectLeaders: `unclean` false for a preferred election.
    pub async fn elect_leaders(
        &mut self,
        unclean: bool,
        partitions: TopicPartitionList,
    ) -> anyhow::Result<Vec<PartitionOutcome>> {
        let request = ElectLeadersRequest::default()
            .with_election_type(i8::from(unclean))
            .with_timeout_ms(self.timeout_ms())
            .with_topic_partitions(partitions.map(|list| {
                list.into_iter()
                    .map(|(t, ps)| {
                        TopicPartitions::default()
                            .with_topic(name(&t))
                            .with_partitions(ps)
                    })
                    .collect()
            }));
        let (response, _) = self
            .bootstrap()
            .await?
            .send(ApiKey::ElectLeaders, 2, RequestKind::ElectLeaders(request))
            .await?;
        let ResponseKind::ElectLeaders(response) = response else {
            bail!("unexpected answer to ElectLeaders")
        };
        check(response.error_code, || "cannot elect leaders".to_string())?;
        Ok(response
            .replica_election_results
            .into_iter()
            .flat_map(|t| {
                let topic = t.topic.0.to_string();
                t.partition_result
                    .into_iter()
                    .map(move |p| PartitionOutcome {
                        topic: topic.clone(),
                        partition: p.partition_id,
                        code: p.error_code,
                        message: p.error_message.map(|m| m.to_string()),
                    })
            })
            .collect())
    }

    /// AlterPartitionReassignments: each (topic, partition) to its target
    /// replicas, or `None` to cancel.
    pub async fn alter_reassignments(
        &mut self,
        items: &[(String, i32, Option<Vec<i32>>)],
    ) -> anyhow::Result<Vec<PartitionOutcome>> {
        let topics = items
            .iter()
            .map(|(t, p, replicas)| {
                ReassignableTopic::default()
                    .with_name(name(t))
                    .with_partitions(vec![ReassignablePartition::default()
                        .with_partition_index(*p)
                        .with_replicas(
                            replicas
                                .as_ref()
                                .map(|r| r.iter().map(|&b| BrokerId(b)).collect()),
                        )])
            })
            .collect();
        let request = AlterPartitionReassignmentsRequest::default()
            .with_timeout_ms(self.timeout_ms())
            .with_allow_replication_factor_change(true)
            .with_topics(topics);
        let connection = self.bootstrap().await?;
        let version = connection.version_for(ApiKey::AlterPartitionReassignments, 1)?;
        let (response, _) = connection
            .send(
                ApiKey::AlterPartitionReassignments,
                version,
                RequestKind::AlterPartitionReassignments(request),
            )
            .await?;
        let ResponseKind::AlterPartitionReassignments(response) = response else {
            bail!("unexpected answer to AlterPartitionReassignments")
        };
        let message = response.error_message.as_deref().unwrap_or("").to_string();
        check(response.error_code, || {
            format!("cannot reassign partitions: {message}")
        })?;
        Ok(response
            .responses
            .into_iter()
            .flat_map(|t| {
                let topic = t.name.0.to_string();
                t.partitions.into_iter().map(move |p| PartitionOutcome {
                    topic: topic.clone(),
                    partition: p.partition_index,
                    code: p.error_code,
                    message: p.error_message.map(|m| m.to_string()),
                })
            })
            .collect())
    }

    /// ListPartitionReassignments.
    pub async fn list_reassignments(
        &mut self,
        partitions: TopicPartitionList,
    ) -> anyhow::Result<Vec<OngoingReassignment>> {
        let request = ListPartitionReassignmentsRequest::default()
            .with_timeout_ms(self.timeout_ms())
            .with_topics(partitions.map(|list| {
                list.into_iter()
                    .map(|(t, ps)| {
                        ListPartitionReassignmentsTopics::default()
                            .with_name(name(&t))
                            .with_partition_indexes(ps)
                    })
                    .collect()
            }));
        let (response, _) = self
            .bootstrap()
            .await?
            .send(
                ApiKey::ListPartitionReassignments,
                0,
                RequestKind::ListPartitionReassignments(request),
            )
            .await?;
        let ResponseKind::ListPartitionReassignments(response) = response else {
            bail!("unexpected answer to ListPartitionReassignments")
        };
        let message = response.error_message.as_deref().unwrap_or("").to_string();
        check(response.error_code, || {
            format!("cannot list reassignments: {message}")
        })?;
        Ok(response
            .topics
            .into_iter()
            .flat_map(|t| {
                let topic = t.name.0.to_string();
                t.partitions.into_iter().map(move |p| OngoingReassignment {
                    topic: topic.clone(),
                    partition: p.partition_index,
                    replicas: ids(&p.replicas),
                    adding: ids(&p.adding_replicas),
                    removing: ids(&p.removing_replicas),
                })
            })
            .collect())
    }
}
