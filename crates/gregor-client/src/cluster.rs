//! Cluster and quorum descriptions: DescribeCluster (brokers, or with
//! KIP-919 controllers) and DescribeQuorum (the KRaft metadata quorum), as
//! `kafka-cluster`, `kafka-metadata-quorum` and Admin.describeCluster use
//! them. Sent to the bootstrap server, which may be a controller listener.

use crate::client::{text, Client};
use crate::error::check;
use anyhow::bail;
use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
use kafka_protocol::messages::*;

/// The KRaft metadata log: topic `__cluster_metadata`, partition 0.
const METADATA_TOPIC: &str = "__cluster_metadata";
/// KIP-919 DescribeCluster endpoint types.
const ENDPOINT_BROKERS: i8 = 1;
const ENDPOINT_CONTROLLERS: i8 = 2;

/// One broker or controller of a DescribeCluster answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterNode {
    pub id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterDescription {
    pub cluster_id: String,
    /// -1 when unknown.
    pub controller_id: i32,
    /// Brokers, or controllers when asked of a controller listener.
    pub nodes: Vec<ClusterNode>,
}

/// A voter or observer of the metadata quorum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumReplica {
    pub id: i32,
    /// Zero (nil) for a static voter, as Kafka reports it.
    pub directory_id: uuid::Uuid,
    pub log_end_offset: i64,
    /// -1 when unknown (DescribeQuorum v0 or never fetched).
    pub last_fetch_timestamp: i64,
    pub last_caught_up_timestamp: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumDescription {
    pub leader_id: i32,
    pub leader_epoch: i32,
    pub high_watermark: i64,
    pub voters: Vec<QuorumReplica>,
    pub observers: Vec<QuorumReplica>,
    /// Node id -> its listeners as NAME://host:port (DescribeQuorum v2+).
    pub endpoints: Vec<(i32, Vec<String>)>,
}

impl QuorumDescription {
    /// How far a replica is behind the leader's log end offset.
    pub fn lag(&self, replica: &QuorumReplica) -> i64 {
        let leader_end = self
            .voters
            .iter()
            .find(|v| v.id == self.leader_id)
            .map_or(self.high_watermark, |l| l.log_end_offset);
        (leader_end - replica.log_end_offset).max(0)
    }
}

impl Client {
    /// The cluster as the bootstrap server sees it: brokers from a broker
    /// listener, or controllers (KIP-919) from a controller listener when
    /// `controllers` is set.
    pub async fn describe_cluster(
        &mut self,
        controllers: bool,
    ) -> anyhow::Result<ClusterDescription> {
        let endpoint_type = if controllers {
            ENDPOINT_CONTROLLERS
        } else {
            ENDPOINT_BROKERS
        };
        let request = DescribeClusterRequest::default().with_endpoint_type(endpoint_type);
        let connection = self.bootstrap().await?;
        // Asking for controllers needs v1, which has the endpoint type.
        let version = connection.version_for(ApiKey::DescribeCluster, 1)?;
        if controllers && version < 1 {
            bail!(
                "{} cannot list controllers (DescribeCluster v1 needed)",
                connection.address()
            );
        }
        let (response, _) = connection
            .send(
                ApiKey::DescribeCluster,
                version,
                RequestKind::DescribeCluster(request),
            )
            .await?;
        let ResponseKind::DescribeCluster(response) = response else {
            bail!("unexpected answer to DescribeCluster")
        };
        check(response.error_code, || {
            let detail = response.error_message.as_deref().unwrap_or("");
            format!("cannot describe the cluster: {detail}")
        })?;
        let mut nodes: Vec<ClusterNode> = response
            .brokers
            .iter()
            .map(|b| ClusterNode {
                id: b.broker_id.0,
                host: b.host.to_string(),
                port: b.port,
                rack: b.rack.as_ref().map(|r| r.to_string()),
            })
            .collect();
        nodes.sort_by_key(|n| n.id);
        Ok(ClusterDescription {
            cluster_id: response.cluster_id.to_string(),
            controller_id: response.controller_id.0,
            nodes,
        })
    }

    /// The metadata quorum: leader, epoch, high watermark, voters and
    /// observers with their log end offsets.
    pub async fn describe_quorum(&mut self) -> anyhow::Result<QuorumDescription> {
        let request = DescribeQuorumRequest::default().with_topics(vec![TopicData::default()
            .with_topic_name(TopicName(text(METADATA_TOPIC)))
            .with_partitions(vec![PartitionData::default().with_partition_index(0)])]);
        let (response, _) = self
            .bootstrap()
            .await?
            .send(
                ApiKey::DescribeQuorum,
                2,
                RequestKind::DescribeQuorum(request),
            )
            .await?;
        let ResponseKind::DescribeQuorum(response) = response else {
            bail!("unexpected answer to DescribeQuorum")
        };
        check(response.error_code, || {
            let detail = response.error_message.as_deref().unwrap_or("");
            format!("cannot describe the quorum: {detail}")
        })?;
        let Some(partition) = response
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter())
            .find(|p| p.partition_index == 0)
        else {
            bail!("DescribeQuorum answer without the metadata partition")
        };
        check(partition.error_code, || {
            let detail = partition.error_message.as_deref().unwrap_or("");
            format!("cannot describe the quorum: {detail}")
        })?;
        let replicas = |states: &[describe_quorum_response::ReplicaState]| {
            states
                .iter()
                .map(|r| QuorumReplica {
                    id: r.replica_id.0,
                    directory_id: r.replica_directory_id,
                    log_end_offset: r.log_end_offset,
                    last_fetch_timestamp: r.last_fetch_timestamp,
                    last_caught_up_timestamp: r.last_caught_up_timestamp,
                })
                .collect::<Vec<_>>()
        };
        let endpoints = response
            .nodes
            .iter()
            .map(|n| {
                let listeners = n
                    .listeners
                    .iter()
                    .map(|l| format!("{}://{}:{}", l.name, l.host, l.port))
                    .collect();
                (n.node_id.0, listeners)
            })
            .collect();
        Ok(QuorumDescription {
            leader_id: partition.leader_id.0,
            leader_epoch: partition.leader_epoch,
            high_watermark: partition.high_watermark,
            voters: replicas(&partition.current_voters),
            observers: replicas(&partition.observers),
            endpoints,
        })
    }
}
