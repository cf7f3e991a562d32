//! Followers fetching from their leaders, as Kafka's ReplicaFetcherManager
//! runs them: one fetcher per source broker (`num.replica.fetchers` = 1)
//! fetching every partition this broker follows from it in one request,
//! over the leader's inter-broker listener. The replica manager publishes
//! the plan (who follows what from whom) on every metadata change; the
//! manager task starts and stops per-source fetchers to match it.
//!
//! Fetches are sessionless (session id 0, epoch -1): the leader gets the
//! full partition list every time, which is simple and what Kafka falls
//! back to when its session cache is full.

use crate::clock::now_ms;
use crate::config::FetcherSettings;
use crate::replica::follower::{self, FollowerAction, LeaderAnswer};
use crate::replica::throttle::ReplicationQuotas;
use crate::replica::throttled_fetch::Lagging;
use crate::replica_manager::{Applied, Partition};
use gregor_client::{ConnectOptions, Connection};
use gregor_protocol::error_codes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic, ReplicaState};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{
    ApiKey, BrokerId, FetchRequest, ListOffsetsRequest, RequestKind, ResponseKind, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The newest Fetch version Gregor serves and sends (KIP-903's replica
/// state and KIP-951's leader hints included).
const FETCH_VERSION: i16 = 17;
/// Before v15 the replica id is its own field; from v15 it travels in the
/// replica state with the broker epoch (KIP-903), and the old field must
/// stay -1.
const REPLICA_STATE_VERSION: i16 = 15;
const LIST_OFFSETS_VERSION: i16 = 9;
const EARLIEST: i64 = -2;
const LATEST: i64 = -1;

/// A partition this broker follows, and the leader epoch it follows it at.
#[derive(Clone)]
pub struct FollowedPartition {
    pub partition: Arc<Partition>,
    pub leader_epoch: i32,
}

impl PartialEq for FollowedPartition {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.partition, &other.partition) && self.leader_epoch == other.leader_epoch
    }
}

/// The partitions followed from one leader, and where it listens.
#[derive(Clone, PartialEq)]
pub struct FetchSource {
    /// host:port of its inter-broker listener; `None` while the image does
    /// not know it.
    pub address: Option<String>,
    pub partitions: Vec<FollowedPartition>,
}

/// Everything this broker follows, by leader.
#[derive(Clone, PartialEq, Default)]
pub struct FetchPlan {
    /// This broker's epoch (its registration's offset), sent with every
    /// fetch so a leader can ignore a previous incarnation's fetches.
    pub broker_epoch: i64,
    pub sources: BTreeMap<i32, FetchSource>,
}

/// What every fetcher shares.
pub struct FetcherContext {
    pub node_id: i32,
    pub local_ip: Option<IpAddr>,
    pub settings: FetcherSettings,
    /// The follower side's replication throttle.
    pub quotas: Arc<ReplicationQuotas>,
    /// TLS and SASL as the inter-broker listener wants them.
    pub connector: gregor_client::Connector,
    /// ReplicationBytesInPerSec (the broker's metrics).
    pub replicated_bytes_in: prometheus_client::metrics::counter::Counter,
}

/// Runs fetchers for the sources in the plan until `shutdown` turns true.
pub async fn run(
    context: Arc<FetcherContext>,
    mut plan: watch::Receiver<Arc<FetchPlan>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut fetchers: HashMap<i32, JoinHandle<()>> = HashMap::new();
    loop {
        let current = plan.borrow_and_update().clone();
        // Only this task starts and stops fetchers, so a source that leaves
        // and comes back never ends up with none (or two).
        fetchers.retain(|source, handle| {
            let keep = current.sources.contains_key(source) && !handle.is_finished();
            if !keep {
                handle.abort();
            }
            keep
        });
        for &source in current.sources.keys() {
            fetchers.entry(source).or_insert_with(|| {
                tracing::info!(source, "starting a replica fetcher");
                tokio::spawn(fetch_from(source, context.clone(), plan.clone()))
            });
        }
        tokio::select! {
            _ = shutdown.changed() => break,
            changed = plan.changed() => if changed.is_err() { break },
        }
    }
    for (_, handle) in fetchers {
        handle.abort();
    }
}

/// Why a partition is not fetched for now.
struct Delay {
    until: Instant,
    /// A new leader epoch in the plan lifts the delay at once.
    leader_epoch: i32,
}

type Key = (String, i32);

fn key(p: &Partition) -> Key {
    (p.topic.clone(), p.index)
}

/// One source broker's fetcher: fetch, apply, repeat.
async fn fetch_from(
    source: i32,
    context: Arc<FetcherContext>,
    mut plan: watch::Receiver<Arc<FetchPlan>>,
) {
    let backoff = Duration::from_millis(context.settings.backoff_ms.max(1));
    let mut connection: Option<Connection> = None;
    let mut delays: HashMap<Key, Delay> = HashMap::new();
    let mut lagging = Lagging::default();
    loop {
        let current = plan.borrow_and_update().clone();
        let Some(followed) = current.sources.get(&source) else {
            // The manager stops this fetcher; wait for that or a new plan.
            if plan.changed().await.is_err() {
                return;
            }
            continue;
        };
        let now = Instant::now();
        delays.retain(|k, d| {
            d.until > now
                && followed
                    .partitions
                    .iter()
                    .any(|p| key(&p.partition) == *k && p.leader_epoch == d.leader_epoch)
        });
        let unthrottled = |p: &&FollowedPartition| !lagging.throttles(&context.quotas, p);
        let ready: Vec<&FollowedPartition> = followed
            .partitions
            .iter()
            .filter(|p| !delays.contains_key(&key(&p.partition)))
            .filter(unthrottled)
            .collect();
        if ready.is_empty() && lagging.throttled_any(&context.quotas, &followed.partitions) {
            // Kafka's fetcher backs off while every partition is throttled.
            wait(&mut plan, Some(backoff)).await;
            continue;
        }
        if ready.is_empty() {
            let wake = delays.values().map(|d| d.until).min();
            wait(&mut plan, wake.map(|w| w.saturating_duration_since(now))).await;
            continue;
        }
        let Some(address) = followed.address.clone() else {
            wait(&mut plan, Some(backoff)).await;
            continue;
        };
        if connection
            .as_ref()
            .is_none_or(|c| !c.is_usable() || c.address() != address)
        {
            match connect(&address, &context).await {
                Ok(c) => connection = Some(c),
                Err(err) => {
                    tracing::debug!(source, %address, %err, "cannot reach the leader");
                    connection = None;
                    wait(&mut plan, Some(backoff)).await;
                    continue;
                }
            }
        }
        let Some(conn) = connection.as_mut() else {
            continue;
        };
        let mut positions = Vec::with_capacity(ready.len());
        for p in &ready {
            match p.partition.fetch_position() {
                Ok(position) => positions.push((*p, position)),
                // Closed (deleted) partitions leave with the next plan.
                Err(_) => continue,
            }
        }
        let version = match conn.version_for(ApiKey::Fetch, FETCH_VERSION) {
            Ok(version) => version,
            Err(err) => {
                tracing::warn!(source, %err, "the leader cannot serve follower fetches");
                connection = None;
                wait(&mut plan, Some(backoff)).await;
                continue;
            }
        };
        let request = fetch_request(&context, version, current.broker_epoch, &positions);
        let answer = conn
            .send(ApiKey::Fetch, FETCH_VERSION, RequestKind::Fetch(request))
            .await;
        let response = match answer {
            Ok((ResponseKind::Fetch(response), _)) => response,
            Ok(_) | Err(_) => {
                if let Err(err) = answer {
                    tracing::debug!(source, %err, "fetch from the leader failed");
                }
                connection = None;
                wait(&mut plan, Some(backoff)).await;
                continue;
            }
        };
        if response.error_code != error_codes::NONE {
            tracing::debug!(
                source,
                error = response.error_code,
                "leader refused the fetch"
            );
            wait(&mut plan, Some(backoff)).await;
            continue;
        }
        for topic in response.responses {
            for data in topic.partitions {
                let Some(p) = ready.iter().find(|p| {
                    p.partition.index == data.partition_index
                        && (p.partition.topic_id == topic.topic_id
                            || p.partition.topic.as_str() == topic.topic.0.as_str())
                }) else {
                    continue;
                };
                let bytes = data.records.as_ref().map_or(0, |r| r.len());
                let high_watermark = data.high_watermark;
                let outcome = apply(source, p, data, conn, &context).await;
                lagging.observe(&context.quotas, p, bytes, high_watermark);
                if outcome.is_some() {
                    delays.insert(
                        key(&p.partition),
                        Delay {
                            until: Instant::now() + backoff,
                            leader_epoch: p.leader_epoch,
                        },
                    );
                }
            }
        }
        if !conn.is_usable() {
            connection = None;
        }
    }
}

/// Sleeps until the plan changes or `timeout` passes.
async fn wait(plan: &mut watch::Receiver<Arc<FetchPlan>>, timeout: Option<Duration>) {
    match timeout {
        Some(timeout) => {
            let _ = tokio::time::timeout(timeout, plan.changed()).await;
        }
        None => {
            if plan.changed().await.is_err() {
                // The replica manager is gone: nothing left to fetch for.
                std::future::pending::<()>().await;
            }
        }
    }
}

async fn connect(address: &str, context: &FetcherContext) -> anyhow::Result<Connection> {
    let settings = &context.settings;
    let options = ConnectOptions {
        // The leader may hold the fetch for replica.fetch.wait.max.ms.
        request_timeout: Duration::from_millis(
            settings.socket_timeout_ms + settings.wait_max_ms.max(0) as u64,
        ),
        local_ip: context.local_ip,
        client_id: format!("broker-{}-fetcher-0", context.node_id),
        connector: context.connector.clone(),
        ..ConnectOptions::default()
    };
    Connection::connect_with(address, &options).await
}

fn fetch_request(
    context: &FetcherContext,
    version: i16,
    broker_epoch: i64,
    positions: &[(&FollowedPartition, crate::replica_manager::FetchPosition)],
) -> FetchRequest {
    let settings = &context.settings;
    let mut topics: Vec<FetchTopic> = Vec::new();
    for (p, position) in positions {
        let partition = FetchPartition::default()
            .with_partition(p.partition.index)
            .with_current_leader_epoch(p.leader_epoch)
            .with_fetch_offset(position.fetch_offset)
            .with_last_fetched_epoch(position.last_fetched_epoch)
            .with_log_start_offset(position.log_start_offset)
            .with_partition_max_bytes(settings.max_bytes);
        match topics
            .iter_mut()
            .find(|t| t.topic_id == p.partition.topic_id)
        {
            Some(topic) => topic.partitions.push(partition),
            None => topics.push(
                FetchTopic::default()
                    .with_topic(TopicName(StrBytes::from_string(p.partition.topic.clone())))
                    .with_topic_id(p.partition.topic_id)
                    .with_partitions(vec![partition]),
            ),
        }
    }
    let request = if version >= REPLICA_STATE_VERSION {
        FetchRequest::default().with_replica_state(
            ReplicaState::default()
                .with_replica_id(BrokerId(context.node_id))
                .with_replica_epoch(broker_epoch),
        )
    } else {
        FetchRequest::default().with_replica_id(BrokerId(context.node_id))
    };
    request
        .with_max_wait_ms(settings.wait_max_ms)
        .with_min_bytes(settings.min_bytes)
        .with_max_bytes(settings.response_max_bytes)
        .with_isolation_level(0)
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(topics)
}

/// Applies one partition's answer. `None` when the partition may be fetched
/// again at once; `Some(until_metadata_change)` to back it off (a new
/// leader epoch in the plan lifts any back-off early).
async fn apply(
    source: i32,
    p: &FollowedPartition,
    data: kafka_protocol::messages::fetch_response::PartitionData,
    conn: &mut Connection,
    context: &FetcherContext,
) -> Option<bool> {
    let partition = &p.partition;
    tracing::trace!(topic = %partition.topic, partition = partition.index, source, error = data.error_code, hw = data.high_watermark, bytes = data.records.as_ref().map_or(0, |r| r.len()), "fetched");
    let answer = LeaderAnswer {
        error_code: data.error_code,
        high_watermark: data.high_watermark,
        log_start_offset: data.log_start_offset,
        diverging_epoch: Some((data.diverging_epoch.epoch, data.diverging_epoch.end_offset)),
    };
    let result = match follower::on_answer(&answer) {
        FollowerAction::Append {
            high_watermark,
            leader_log_start,
        } => {
            let records = data.records.unwrap_or_default();
            let applied = partition.append_fetched(
                source,
                p.leader_epoch,
                &records,
                high_watermark,
                leader_log_start,
                now_ms(),
            );
            if applied.is_ok() {
                context.replicated_bytes_in.inc_by(records.len() as u64);
            }
            applied
        }
        FollowerAction::Diverged { epoch, end_offset } => {
            partition.truncate_diverged(source, p.leader_epoch, epoch, end_offset)
        }
        FollowerAction::OutOfRange => match leader_offsets(p, conn, context).await {
            Some((start, end)) => {
                partition.resolve_out_of_range(source, p.leader_epoch, start, end)
            }
            None => return Some(false),
        },
        FollowerAction::Backoff {
            until_metadata_change,
        } => {
            tracing::debug!(topic = %partition.topic, partition = partition.index, source, error = data.error_code, "follower fetch error");
            return Some(until_metadata_change);
        }
    };
    match result {
        Ok(Applied::Done { .. }) | Ok(Applied::Stale) => None,
        Err(err) => {
            // A batch that fails its checks (or a disk error) is not
            // written; the partition retries after the back-off and the log
            // keeps everything it had.
            tracing::warn!(topic = %partition.topic, partition = partition.index, source, %err, "cannot apply the leader's answer");
            Some(false)
        }
    }
}

/// The leader's log start and end offsets (ListOffsets as a replica, so
/// "latest" is its log end, not its high watermark).
async fn leader_offsets(
    p: &FollowedPartition,
    conn: &mut Connection,
    context: &FetcherContext,
) -> Option<(i64, i64)> {
    let mut offsets = [0i64; 2];
    for (slot, timestamp) in offsets.iter_mut().zip([EARLIEST, LATEST]) {
        let request = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(context.node_id))
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(TopicName(StrBytes::from_string(p.partition.topic.clone())))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(p.partition.index)
                    .with_current_leader_epoch(p.leader_epoch)
                    .with_timestamp(timestamp)])]);
        let answer = conn
            .send(
                ApiKey::ListOffsets,
                LIST_OFFSETS_VERSION,
                RequestKind::ListOffsets(request),
            )
            .await;
        let Ok((ResponseKind::ListOffsets(response), _)) = answer else {
            return None;
        };
        let partition = response.topics.first().and_then(|t| t.partitions.first())?;
        if partition.error_code != error_codes::NONE {
            return None;
        }
        *slot = partition.offset;
    }
    Some((offsets[0], offsets[1]))
}
