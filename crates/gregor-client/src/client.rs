//! A client over a cluster: bootstrap, the metadata cache (topic ->
//! partitions -> leader -> broker address) and one connection per broker.
//! The operations live in `admin`, `data` and `groups`.

use crate::connection::{ConnectOptions, Connection, DEFAULT_REQUEST_TIMEOUT};
use crate::connector::Connector;
use crate::error::{check, KafkaError};
use anyhow::{anyhow, bail};
use gregor_protocol::error_codes::{LEADER_NOT_AVAILABLE, UNKNOWN_TOPIC_OR_PARTITION};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use std::collections::HashMap;
use std::time::Duration;
use uuid::Uuid;

/// How often metadata is asked again while a partition has no leader yet
/// (just created, or mid-election), and how long between tries.
const LEADER_RETRIES: u32 = 10;
const LEADER_RETRY_BACKOFF: Duration = Duration::from_millis(200);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    pub partition: i32,
    /// -1 while the partition has no leader.
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
    bootstrap_servers: String,
    request_timeout: Duration,
    /// TLS and SASL for every broker this client talks to.
    connector: Connector,
    bootstrap: Connection,
    /// Broker id -> "host:port", from the last Metadata answer.
    brokers: HashMap<i32, String>,
    connections: HashMap<i32, Connection>,
    /// Leaders by (topic, partition), filled from metadata on first use and
    /// dropped when a broker says it no longer leads.
    leaders: HashMap<(String, i32), i32>,
}

pub(crate) fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

pub(crate) fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

impl Client {
    /// Connects to the first reachable bootstrap server (comma-separated list).
    pub async fn connect(bootstrap_servers: &str) -> anyhow::Result<Client> {
        Self::connect_with_timeout(bootstrap_servers, DEFAULT_REQUEST_TIMEOUT).await
    }

    /// As `connect`, with `request_timeout` for every request on every broker.
    pub async fn connect_with_timeout(
        bootstrap_servers: &str,
        request_timeout: Duration,
    ) -> anyhow::Result<Client> {
        Self::connect_using(bootstrap_servers, request_timeout, Connector::default()).await
    }

    /// As `connect_with_timeout`, reaching every broker through `connector`
    /// (SSL, SASL_PLAINTEXT or SASL_SSL listeners).
    pub async fn connect_using(
        bootstrap_servers: &str,
        request_timeout: Duration,
        connector: Connector,
    ) -> anyhow::Result<Client> {
        let bootstrap = connect_any(bootstrap_servers, request_timeout, &connector).await?;
        Ok(Client {
            bootstrap_servers: bootstrap_servers.to_string(),
            request_timeout,
            connector,
            bootstrap,
            brokers: HashMap::new(),
            connections: HashMap::new(),
            leaders: HashMap::new(),
        })
    }

    /// The bootstrap connection, reopened if a failed request retired it.
    pub(crate) async fn bootstrap(&mut self) -> anyhow::Result<&mut Connection> {
        if !self.bootstrap.is_usable() {
            self.bootstrap = connect_any(
                &self.bootstrap_servers,
                self.request_timeout,
                &self.connector,
            )
            .await?;
        }
        Ok(&mut self.bootstrap)
    }

    /// The coordinator of a group (`key_type` 0) or transactional id (1):
    /// its node id and a fresh connection to it. `what` names the key in
    /// errors.
    pub(crate) async fn find_coordinator(
        &mut self,
        key: &str,
        key_type: i8,
        what: &str,
    ) -> anyhow::Result<(i32, Connection)> {
        let request = FindCoordinatorRequest::default()
            .with_key(StrBytes::from_string(key.to_string()))
            .with_key_type(key_type);
        let (response, _) = self
            .bootstrap()
            .await?
            .send(
                ApiKey::FindCoordinator,
                3,
                RequestKind::FindCoordinator(request),
            )
            .await?;
        let ResponseKind::FindCoordinator(response) = response else {
            bail!("unexpected answer to FindCoordinator")
        };
        check(response.error_code, || {
            format!("no coordinator for {what} '{key}'")
        })?;
        let address = format!("{}:{}", response.host.as_str(), response.port);
        // A clone: no borrow of self (and its connections, which are not
        // Sync) may be held across the await.
        let connector = self.connector.clone();
        let connection = open(&address, self.request_timeout, &connector).await?;
        Ok((response.node_id.0, connection))
    }

    pub(crate) fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// The request timeout as the `timeout_ms` field admin and produce
    /// requests carry, so the broker gives up no later than we do.
    pub(crate) fn timeout_ms(&self) -> i32 {
        i32::try_from(self.request_timeout.as_millis()).unwrap_or(i32::MAX)
    }

    /// Metadata for `topics` (all topics when `None`), without auto-creation.
    pub async fn metadata(&mut self, topics: Option<&[&str]>) -> anyhow::Result<Vec<TopicInfo>> {
        self.fetch_metadata(topics, false).await
    }

    /// Metadata for one topic, with a readable error if it does not exist.
    /// "host:port" of a broker, as the last Metadata answer advertised it.
    pub fn broker_address(&self, id: i32) -> Option<&str> {
        self.brokers.get(&id).map(String::as_str)
    }

    pub async fn topic(&mut self, topic: &str) -> anyhow::Result<TopicInfo> {
        self.one_topic(topic, false).await
    }

    /// Metadata for one topic, letting the broker create it if its
    /// `auto.create.topics.enable` allows (as console producers do). Waits
    /// briefly for a just-created topic to get leaders.
    pub async fn topic_or_create(&mut self, topic: &str) -> anyhow::Result<TopicInfo> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.one_topic(topic, true).await {
                Ok(info) if info.partitions.iter().all(|p| p.leader >= 0) => return Ok(info),
                Ok(info) if attempt >= LEADER_RETRIES => return Ok(info),
                // A topic being created reports LEADER_NOT_AVAILABLE, and
                // Kafka's KRaft brokers (which create asynchronously) even
                // UNKNOWN_TOPIC_OR_PARTITION: ask again for a moment. So
                // with auto-creation off, an unknown topic takes ~2 s to fail.
                Err(err)
                    if attempt >= LEADER_RETRIES
                        || !(has_code(&err, LEADER_NOT_AVAILABLE)
                            || has_code(&err, UNKNOWN_TOPIC_OR_PARTITION)) =>
                {
                    return Err(err)
                }
                _ => tokio::time::sleep(LEADER_RETRY_BACKOFF).await,
            }
        }
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
            .bootstrap()
            .await?
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
                let key = (topic_name.clone(), p.partition);
                if p.leader >= 0 {
                    self.leaders.insert(key, p.leader);
                } else {
                    self.leaders.remove(&key);
                }
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

    async fn one_topic(&mut self, topic: &str, auto_create: bool) -> anyhow::Result<TopicInfo> {
        let missing = || -> anyhow::Error {
            KafkaError {
                code: UNKNOWN_TOPIC_OR_PARTITION,
                message: format!("topic '{topic}' does not exist"),
            }
            .into()
        };
        match self.fetch_metadata(Some(&[topic]), auto_create).await {
            Ok(mut topics) if !topics.is_empty() => Ok(topics.remove(0)),
            Ok(_) => Err(missing()),
            Err(err) if has_code(&err, UNKNOWN_TOPIC_OR_PARTITION) => Err(missing()),
            Err(err) => Err(err),
        }
    }

    /// Forgets where a partition leads, so the next request asks metadata.
    pub(crate) fn forget_leader(&mut self, topic: &str, partition: i32) {
        self.leaders.remove(&(topic.to_string(), partition));
    }

    /// The leader's broker id, refreshing metadata (and waiting a little for
    /// an election) when it is not known.
    pub(crate) async fn leader_id(&mut self, topic: &str, partition: i32) -> anyhow::Result<i32> {
        let key = (topic.to_string(), partition);
        for attempt in 1..=LEADER_RETRIES {
            if let Some(leader) = self.leaders.get(&key) {
                return Ok(*leader);
            }
            let info = self.topic(topic).await?;
            if !info.partitions.iter().any(|p| p.partition == partition) {
                return Err(KafkaError {
                    code: UNKNOWN_TOPIC_OR_PARTITION,
                    message: format!("topic '{topic}' has no partition {partition}"),
                }
                .into());
            }
            if !self.leaders.contains_key(&key) && attempt < LEADER_RETRIES {
                tokio::time::sleep(LEADER_RETRY_BACKOFF).await;
            }
        }
        bail!("partition {topic}-{partition} has no leader")
    }

    /// The brokers of the last metadata answer.
    pub(crate) fn broker_ids(&self) -> Vec<i32> {
        self.brokers.keys().copied().collect()
    }

    /// The connection to broker `id`, opened on first use and reopened if a
    /// failed request retired it.
    pub(crate) async fn broker(&mut self, id: i32) -> anyhow::Result<&mut Connection> {
        if self.connections.get(&id).is_some_and(|c| !c.is_usable()) {
            self.connections.remove(&id);
        }
        if !self.connections.contains_key(&id) {
            let address = self
                .brokers
                .get(&id)
                .cloned()
                .ok_or_else(|| anyhow!("broker {id} is not in the cluster metadata"))?;
            let connector = self.connector.clone();
            let connection = open(&address, self.request_timeout, &connector).await?;
            self.connections.insert(id, connection);
        }
        self.connections
            .get_mut(&id)
            .ok_or_else(|| anyhow!("no connection to broker {id}"))
    }
}

/// Opens a connection to the first bootstrap server that answers.
async fn connect_any(
    servers: &str,
    request_timeout: Duration,
    connector: &Connector,
) -> anyhow::Result<Connection> {
    let mut last_error = None;
    for address in servers.split(',').map(str::trim).filter(|a| !a.is_empty()) {
        match open(address, request_timeout, connector).await {
            Ok(connection) => return Ok(connection),
            Err(err) => last_error = Some(err),
        }
    }
    Err(last_error.unwrap_or_else(|| anyhow!("no bootstrap server given")))
}

async fn open(
    address: &str,
    request_timeout: Duration,
    connector: &Connector,
) -> anyhow::Result<Connection> {
    let options = ConnectOptions {
        request_timeout,
        connector: connector.clone(),
        ..ConnectOptions::default()
    };
    Connection::connect_with(address, &options).await
}

pub(crate) fn has_code(err: &anyhow::Error, code: i16) -> bool {
    err.downcast_ref::<KafkaError>()
        .is_some_and(|e| e.code == code)
}

/// Errors that mean "your metadata is out of date; ask again and retry".
/// None of them means the broker wrote anything.
pub(crate) fn is_stale_metadata(err: &anyhow::Error) -> bool {
    err.downcast_ref::<KafkaError>()
        .is_some_and(|e| crate::error::is_stale_metadata_code(e.code))
}
