//! A client over a cluster: bootstrap, metadata, connections per broker and
//! the admin, produce and fetch operations the CLI needs.

use crate::connection::Connection;
use crate::error::{check, KafkaError};
use anyhow::{anyhow, bail};
use bytes::Bytes;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    pub partition: i32,
    pub leader: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    pub name: String,
    pub id: Uuid,
    pub internal: bool,
    pub partitions: Vec<PartitionInfo>,
}

pub struct Client {
    bootstrap: Connection,
    brokers: HashMap<i32, String>,
    connections: HashMap<i32, Connection>,
    /// Leaders by (topic, partition), filled from metadata on first use.
    leaders: HashMap<(String, i32), i32>,
}

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

impl Client {
    /// Connects to the first reachable bootstrap server (comma-separated list).
    pub async fn connect(bootstrap_servers: &str) -> anyhow::Result<Client> {
        let mut last_error = None;
        for address in bootstrap_servers
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
        {
            match Connection::connect(address).await {
                Ok(bootstrap) => {
                    return Ok(Client {
                        bootstrap,
                        brokers: HashMap::new(),
                        connections: HashMap::new(),
                        leaders: HashMap::new(),
                    });
                }
                Err(err) => last_error = Some(err),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow!("no bootstrap server given")))
    }

    pub(crate) fn bootstrap_mut(&mut self) -> &mut Connection {
        &mut self.bootstrap
    }

    /// Metadata for `topics` (all topics when `None`), without auto-creation.
    pub async fn metadata(&mut self, topics: Option<&[&str]>) -> anyhow::Result<Vec<TopicInfo>> {
        self.fetch_metadata(topics, false).await
    }

    /// Metadata for one topic, letting the broker create it if its
    /// `auto.create.topics.enable` allows (as console producers do).
    pub async fn topic_or_create(&mut self, topic: &str) -> anyhow::Result<TopicInfo> {
        self.one_topic(topic, true).await
    }

    async fn fetch_metadata(
        &mut self,
        topics: Option<&[&str]>,
        auto_create: bool,
    ) -> anyhow::Result<Vec<TopicInfo>> {
        let request = MetadataRequest::default()
            .with_topics(topics.map(|t| {
                t.iter()
                    .map(|n| MetadataRequestTopic::default().with_name(Some(name(n))))
                    .collect()
            }))
            .with_allow_auto_topic_creation(auto_create);
        let (response, _) = self
            .bootstrap
            .send(ApiKey::Metadata, 12, RequestKind::Metadata(request))
            .await?;
        let ResponseKind::Metadata(response) = response else {
            bail!("unexpected answer to Metadata")
        };
        self.brokers = response
            .brokers
            .iter()
            .map(|b| (b.node_id.0, format!("{}:{}", b.host.as_str(), b.port)))
            .collect();
        let mut topics = Vec::with_capacity(response.topics.len());
        for topic in response.topics {
            let topic_name = topic
                .name
                .as_ref()
                .map(|n| n.to_string())
                .unwrap_or_default();
            check(topic.error_code, || format!("topic '{topic_name}'"))?;
            let mut partitions: Vec<PartitionInfo> = topic
                .partitions
                .iter()
                .map(|p| PartitionInfo {
                    partition: p.partition_index,
                    leader: p.leader_id.0,
                    replicas: p.replica_nodes.iter().map(|b| b.0).collect(),
                    isr: p.isr_nodes.iter().map(|b| b.0).collect(),
                })
                .collect();
            partitions.sort_by_key(|p| p.partition);
            for p in &partitions {
                self.leaders
                    .insert((topic_name.clone(), p.partition), p.leader);
            }
            topics.push(TopicInfo {
                name: topic_name,
                id: topic.topic_id,
                internal: topic.is_internal,
                partitions,
            });
        }
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(topics)
    }

    /// Metadata for one topic, with a readable error if it does not exist.
    pub async fn topic(&mut self, topic: &str) -> anyhow::Result<TopicInfo> {
        self.one_topic(topic, false).await
    }

    async fn one_topic(&mut self, topic: &str, auto_create: bool) -> anyhow::Result<TopicInfo> {
        match self.fetch_metadata(Some(&[topic]), auto_create).await {
            Ok(mut topics) if !topics.is_empty() => Ok(topics.remove(0)),
            Ok(_) => Err(KafkaError {
                code: 3,
                message: format!("topic '{topic}' does not exist"),
            }
            .into()),
            Err(err) => match err.downcast_ref::<KafkaError>() {
                Some(e) if e.code == 3 => Err(KafkaError {
                    code: 3,
                    message: format!("topic '{topic}' does not exist"),
                }
                .into()),
                _ => Err(err),
            },
        }
    }

    pub async fn create_topic(
        &mut self,
        topic: &str,
        partitions: i32,
        replication_factor: i16,
        configs: &[(String, String)],
    ) -> anyhow::Result<()> {
        let request = CreateTopicsRequest::default()
            .with_timeout_ms(30_000)
            .with_topics(vec![CreatableTopic::default()
                .with_name(name(topic))
                .with_num_partitions(partitions)
                .with_replication_factor(replication_factor)
                .with_configs(
                    configs
                        .iter()
                        .map(|(k, v)| {
                            CreatableTopicConfig::default()
                                .with_name(text(k))
                                .with_value(Some(text(v)))
                        })
                        .collect(),
                )]);
        let (response, _) = self
            .bootstrap
            .send(ApiKey::CreateTopics, 7, RequestKind::CreateTopics(request))
            .await?;
        let ResponseKind::CreateTopics(response) = response else {
            bail!("unexpected answer to CreateTopics")
        };
        let result = first(&response.topics, "CreateTopics")?;
        let detail = detail(&result.error_message);
        check(result.error_code, || {
            format!("cannot create topic '{topic}'{detail}")
        })?;
        Ok(())
    }

    pub async fn delete_topic(&mut self, topic: &str) -> anyhow::Result<()> {
        let request = DeleteTopicsRequest::default().with_timeout_ms(30_000);
        let version = self.bootstrap.version_for(ApiKey::DeleteTopics, 6)?;
        let request = if version >= 6 {
            request.with_topics(vec![
                DeleteTopicState::default().with_name(Some(name(topic)))
            ])
        } else {
            request.with_topic_names(vec![name(topic)])
        };
        let (response, _) = self
            .bootstrap
            .send(ApiKey::DeleteTopics, 6, RequestKind::DeleteTopics(request))
            .await?;
        let ResponseKind::DeleteTopics(response) = response else {
            bail!("unexpected answer to DeleteTopics")
        };
        let result = first(&response.responses, "DeleteTopics")?;
        check(result.error_code, || {
            format!("cannot delete topic '{topic}'")
        })?;
        Ok(())
    }

    pub async fn create_partitions(&mut self, topic: &str, count: i32) -> anyhow::Result<()> {
        let request = CreatePartitionsRequest::default()
            .with_timeout_ms(30_000)
            .with_topics(vec![CreatePartitionsTopic::default()
                .with_name(name(topic))
                .with_count(count)
                .with_assignments(None)]);
        let (response, _) = self
            .bootstrap
            .send(
                ApiKey::CreatePartitions,
                3,
                RequestKind::CreatePartitions(request),
            )
            .await?;
        let ResponseKind::CreatePartitions(response) = response else {
            bail!("unexpected answer to CreatePartitions")
        };
        let result = first(&response.results, "CreatePartitions")?;
        let detail = detail(&result.error_message);
        check(result.error_code, || {
            format!("cannot change partitions of '{topic}'{detail}")
        })?;
        Ok(())
    }

    /// A topic's configs: name -> (value, is the default).
    pub async fn topic_configs(
        &mut self,
        topic: &str,
    ) -> anyhow::Result<BTreeMap<String, (String, bool)>> {
        let request = DescribeConfigsRequest::default().with_resources(vec![
            DescribeConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(text(topic))
                .with_configuration_keys(None),
        ]);
        let (response, _) = self
            .bootstrap
            .send(
                ApiKey::DescribeConfigs,
                4,
                RequestKind::DescribeConfigs(request),
            )
            .await?;
        let ResponseKind::DescribeConfigs(response) = response else {
            bail!("unexpected answer to DescribeConfigs")
        };
        let result = first(&response.results, "DescribeConfigs")?;
        check(result.error_code, || {
            format!("cannot describe configs of '{topic}'")
        })?;
        Ok(result
            .configs
            .iter()
            // Source 5 is DEFAULT_CONFIG.
            .map(|c| {
                (
                    c.name.to_string(),
                    (
                        c.value.as_deref().unwrap_or("").to_string(),
                        c.config_source == 5,
                    ),
                )
            })
            .collect())
    }

    async fn leader(&mut self, topic: &str, partition: i32) -> anyhow::Result<&mut Connection> {
        let key = (topic.to_string(), partition);
        if !self.leaders.contains_key(&key) {
            self.topic(topic).await?;
        }
        let leader = *self.leaders.get(&key).ok_or_else(|| KafkaError {
            code: 3,
            message: format!("topic '{topic}' has no partition {partition}"),
        })?;
        if !self.connections.contains_key(&leader) {
            let address = self
                .brokers
                .get(&leader)
                .cloned()
                .ok_or_else(|| anyhow!("partition {topic}-{partition} has no leader"))?;
            let connection = Connection::connect(&address).await?;
            self.connections.insert(leader, connection);
        }
        self.connections
            .get_mut(&leader)
            .ok_or_else(|| anyhow!("no connection to broker {leader}"))
    }

    /// Offset for a ListOffsets query (-1 latest, -2 earliest, or a timestamp);
    /// -1 when no record matches.
    pub async fn list_offset(
        &mut self,
        topic: &str,
        partition: i32,
        query: i64,
    ) -> anyhow::Result<i64> {
        let request = ListOffsetsRequest::default()
            .with_replica_id((-1).into())
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(name(topic))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(partition)
                    .with_timestamp(query)])]);
        let connection = self.leader(topic, partition).await?;
        let (response, _) = connection
            .send(ApiKey::ListOffsets, 7, RequestKind::ListOffsets(request))
            .await?;
        let ResponseKind::ListOffsets(response) = response else {
            bail!("unexpected answer to ListOffsets")
        };
        let p = response
            .topics
            .first()
            .and_then(|t| t.partitions.first())
            .ok_or_else(|| anyhow!("empty ListOffsets answer"))?;
        check(p.error_code, || {
            format!("cannot list offsets of {topic}-{partition}")
        })?;
        Ok(p.offset)
    }

    /// Produces one record batch; returns the base offset (-1 with acks=0).
    pub async fn produce(
        &mut self,
        topic: &str,
        partition: i32,
        batch: Bytes,
        acks: i16,
    ) -> anyhow::Result<i64> {
        let request = ProduceRequest::default()
            .with_acks(acks)
            .with_timeout_ms(30_000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(name(topic))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(partition)
                    .with_records(Some(batch))])]);
        let connection = self.leader(topic, partition).await?;
        if acks == 0 {
            connection
                .send_no_response(ApiKey::Produce, 9, RequestKind::Produce(request))
                .await?;
            return Ok(-1);
        }
        let (response, _) = connection
            .send(ApiKey::Produce, 9, RequestKind::Produce(request))
            .await?;
        let ResponseKind::Produce(response) = response else {
            bail!("unexpected answer to Produce")
        };
        let p = response
            .responses
            .first()
            .and_then(|t| t.partition_responses.first())
            .ok_or_else(|| anyhow!("empty Produce answer"))?;
        let detail = detail(&p.error_message);
        check(p.error_code, || {
            format!("cannot produce to {topic}-{partition}{detail}")
        })?;
        Ok(p.base_offset)
    }

    /// Fetches from one partition; returns (records, high watermark). Waits
    /// up to `max_wait_ms` for data.
    pub async fn fetch(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
        max_wait_ms: i32,
    ) -> anyhow::Result<(Bytes, i64)> {
        let request = FetchRequest::default()
            .with_replica_id((-1).into())
            .with_max_wait_ms(max_wait_ms)
            .with_min_bytes(1)
            .with_max_bytes(50 * 1024 * 1024)
            .with_session_epoch(-1)
            .with_topics(vec![FetchTopic::default()
                .with_topic(name(topic))
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(partition)
                    .with_fetch_offset(offset)
                    .with_partition_max_bytes(1024 * 1024)])]);
        let connection = self.leader(topic, partition).await?;
        // Fetch v12 is the last version that names topics instead of ids.
        let (response, _) = connection
            .send(ApiKey::Fetch, 12, RequestKind::Fetch(request))
            .await?;
        let ResponseKind::Fetch(response) = response else {
            bail!("unexpected answer to Fetch")
        };
        check(response.error_code, || {
            format!("cannot fetch {topic}-{partition}")
        })?;
        let p = response
            .responses
            .first()
            .and_then(|t| t.partitions.first())
            .ok_or_else(|| anyhow!("empty Fetch answer"))?;
        check(p.error_code, || {
            format!("cannot fetch {topic}-{partition} at offset {offset}")
        })?;
        Ok((p.records.clone().unwrap_or_default(), p.high_watermark))
    }
}

/// The broker's error message, as ": message" ready to append, or "".
fn detail(message: &Option<StrBytes>) -> String {
    message
        .as_ref()
        .map(|m| format!(": {}", m.as_str()))
        .unwrap_or_default()
}

/// The single result a one-item request gets back.
fn first<'a, T>(items: &'a [T], api: &str) -> anyhow::Result<&'a T> {
    items.first().ok_or_else(|| anyhow!("empty {api} answer"))
}
