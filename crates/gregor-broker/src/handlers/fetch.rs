//! Fetch: whole batches from each partition's log, within the request's byte
//! limits. A fetch with less than `min_bytes` parks until an append to one of
//! its partitions wakes it, or `max_wait_ms` passes (the fetch purgatory).
//!
//! The answer is not a `kafka-protocol` message: its records are ranges of
//! segment files, which the connection sends with `sendfile`.
//!
//! Fetch sessions (KIP-227, `fetch::session_cache`): a full fetch at epoch 0
//! opens a session; later fetches of the session name only the partitions
//! whose offsets moved and get only the partitions that changed.

use crate::clock::now_ms;
use crate::fetch::closest::FetchClient;
use crate::fetch::read::{read_targets, ReadResult, Reader};
use crate::fetch::session::PartitionKey;
use crate::fetch::session_cache::{Begin, SessionCache, SessionRequest};
use crate::fetch::FetchTarget;
use crate::handlers::leader_hint::leader_endpoint;
use crate::handlers::str_bytes;
use crate::security::{Audit, Session};
use crate::server::Broker;
use gregor_log::FileSlice;
use gregor_metadata::acl::{AclOperation, Action, ResourceType};
use gregor_metadata::MetadataImage;
use gregor_protocol::error_codes;
use gregor_protocol::fetch_response::{FetchResponseOut, NodeEndpointOut, PartitionOut, TopicOut};
use kafka_protocol::messages::ApiKey;
use kafka_protocol::messages::FetchRequest;
use kafka_protocol::protocol::StrBytes;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;
use uuid::Uuid;

/// `isolation_level` of a read_committed consumer: data up to the last
/// stable offset, plus the aborted transactions to drop.
const READ_COMMITTED: i8 = 1;

/// Topic ids replace names in Fetch from this version on.
const TOPIC_ID_VERSION: i16 = 13;

/// Partitions can name their current leader from this version on.
const CURRENT_LEADER_VERSION: i16 = 12;

/// Responses carry the endpoints of those leaders from this version on.
const NODE_ENDPOINTS_VERSION: i16 = 16;

pub type FetchReply = FetchResponseOut<FileSlice>;

/// Leaders are named by their endpoints on the connection's listener, as
/// the client reaches them (Kafka answers with the request's listener).
pub async fn handle(
    broker: &Broker,
    request: FetchRequest,
    version: i16,
    session: &Session,
) -> FetchReply {
    let image = broker.controller.image();
    let permit = Permit::of(broker, &image, &request, session);
    let follower = request.replica_id.0 >= 0 || request.replica_state.replica_id.0 >= 0;
    let mut reply = fetch(broker, &image, request, version, &permit).await;
    point_at_leaders(&mut reply, &image, version, &session.listener.name);
    count_topic_metrics(broker, &image, &reply, follower);
    reply
}

/// BrokerTopicMetrics: per partition answered, the records' bytes (to
/// consumers as BytesOut, to followers as ReplicationBytesOut) and the
/// reads that failed. Errors Kafka's `readFromLocalLog` expects (not the
/// leader, unknown partition, fenced epoch, offset out of range, ...) are
/// not failed fetches. An incremental fetch counts the partitions it
/// answers, not all of its session's.
fn count_topic_metrics(broker: &Broker, image: &MetadataImage, reply: &FetchReply, follower: bool) {
    use error_codes::*;
    let metrics = &broker.metrics.topics;
    for topic in &reply.topics {
        let name = match image.topic_by_id(&topic.topic_id) {
            Some(t) if topic.name.is_empty() => t.name.as_str(),
            _ => topic.name.as_str(),
        };
        // Only topics that exist get series.
        if image.topic(name).is_none() {
            continue;
        }
        let counters = metrics.topic(name);
        for partition in &topic.partitions {
            let bytes = partition.records.as_ref().map_or(0, |r| r.len() as u64);
            let failed = !matches!(
                partition.error_code,
                NONE | NOT_LEADER_OR_FOLLOWER
                    | UNKNOWN_TOPIC_OR_PARTITION
                    | UNKNOWN_TOPIC_ID
                    | FENCED_LEADER_EPOCH
                    | UNKNOWN_LEADER_EPOCH
                    | OFFSET_OUT_OF_RANGE
                    | KAFKA_STORAGE_ERROR
                    | TOPIC_AUTHORIZATION_FAILED
            );
            metrics.fetched(&counters, follower, bytes, failed);
        }
    }
}

/// KIP-951: partitions answered NOT_LEADER_OR_FOLLOWER name the current
/// leader (v12+), and the response carries those leaders' endpoints (v16+).
fn point_at_leaders(reply: &mut FetchReply, image: &MetadataImage, version: i16, listener: &str) {
    let partitions = reply
        .topics
        .iter_mut()
        .flat_map(|t| t.partitions.iter_mut());
    if version < CURRENT_LEADER_VERSION {
        partitions.for_each(|p| p.current_leader = None);
        return;
    }
    let leaders: BTreeSet<i32> = partitions
        .filter_map(|p| p.current_leader.map(|(id, _)| id))
        .collect();
    if version >= NODE_ENDPOINTS_VERSION {
        reply.node_endpoints = leaders
            .into_iter()
            .filter_map(|id| leader_endpoint(image, id, listener))
            .map(|e| NodeEndpointOut {
                node_id: e.node_id,
                host: str_bytes(&e.host),
                port: e.port,
                rack: e.rack.as_deref().map(str_bytes),
            })
            .collect();
    }
}

async fn fetch(
    broker: &Broker,
    image: &MetadataImage,
    request: FetchRequest,
    version: i16,
    permit: &Permit<'_>,
) -> FetchReply {
    let resolve = |id: &Uuid| {
        image
            .topic_by_id(id)
            .map(|t| StrBytes::from_string(t.name.clone()))
    };
    let uses_topic_ids = version >= TOPIC_ID_VERSION;
    let privileged = request.replica_id.0 >= 0 || request.replica_state.replica_id.0 >= 0;
    let session_request = SessionRequest {
        session_id: request.session_id,
        epoch: request.session_epoch,
        uses_topic_ids,
        privileged,
        targets: request_targets(&request, uses_topic_ids, resolve),
        forgotten: forgotten(&request, uses_topic_ids),
    };
    let begin = sessions(broker).begin(session_request, now_ms(), resolve);
    match begin {
        Begin::Error(error_code) => error_reply(error_code, 0),
        Begin::Sessionless(targets) => {
            let result = authorized_poll(broker, &request, version, &targets, permit).await;
            reply(0, &targets, result.partitions)
        }
        Begin::Full(targets) => {
            let result = authorized_poll(broker, &request, version, &targets, permit).await;
            let session_id = sessions(broker).finish_full(
                &targets,
                &result.partitions,
                uses_topic_ids,
                privileged,
                now_ms(),
                random_session_id,
            );
            if session_id != 0 {
                tracing::debug!(
                    session_id,
                    partitions = targets.len(),
                    "fetch session created"
                );
            }
            reply(session_id, &targets, result.partitions)
        }
        Begin::Incremental {
            session_id,
            request_epoch,
            targets,
        } => {
            let result = authorized_poll(broker, &request, version, &targets, permit).await;
            let finished = sessions(broker).finish_incremental(
                session_id,
                request_epoch,
                targets,
                result.partitions,
            );
            match finished {
                Ok((targets, partitions)) => reply(session_id, &targets, partitions),
                // Kafka names the session in an epoch error only.
                Err(error_codes::INVALID_FETCH_SESSION_EPOCH) => {
                    error_reply(error_codes::INVALID_FETCH_SESSION_EPOCH, session_id)
                }
                Err(error_code) => error_reply(error_code, 0),
            }
        }
    }
}

/// Which partitions of a fetch the principal may read: followers need
/// ClusterAction on the cluster (else every partition is refused, as in
/// Kafka), consumers Read on each topic.
pub struct Permit<'a> {
    broker: &'a Broker,
    image: &'a MetadataImage,
    session: &'a Session,
    /// `None` without an authorizer; `Some(false)` for a refused follower.
    follower_allowed: Option<bool>,
    topics: std::sync::Mutex<std::collections::HashMap<StrBytes, bool>>,
}

impl<'a> Permit<'a> {
    fn of(
        broker: &'a Broker,
        image: &'a MetadataImage,
        request: &FetchRequest,
        session: &'a Session,
    ) -> Permit<'a> {
        let privileged = request.replica_id.0 >= 0 || request.replica_state.replica_id.0 >= 0;
        let follower_allowed = (broker.authorizer.enabled() && privileged).then(|| {
            broker.authorizer.allows_cluster(
                image,
                session,
                ApiKey::Fetch,
                AclOperation::ClusterAction,
            )
        });
        Permit {
            broker,
            image,
            session,
            follower_allowed,
            topics: Default::default(),
        }
    }

    fn allows(&self, target: &FetchTarget) -> bool {
        if !self.broker.authorizer.enabled() {
            return true;
        }
        if let Some(allowed) = self.follower_allowed {
            return allowed;
        }
        // An unknown topic id is answered UNKNOWN_TOPIC_ID by the read.
        let Some(name) = &target.topic_name else {
            return true;
        };
        let mut topics = self.topics.lock().unwrap_or_else(|p| p.into_inner());
        *topics.entry(name.clone()).or_insert_with(|| {
            self.broker.authorizer.allows(
                self.image,
                self.session,
                ApiKey::Fetch,
                Action::new(AclOperation::Read, ResourceType::Topic, name),
                Audit::Record,
            )
        })
    }
}

/// [`long_poll`] over the partitions the principal may read; the others
/// are answered TOPIC_AUTHORIZATION_FAILED in their place.
async fn authorized_poll(
    broker: &Broker,
    request: &FetchRequest,
    version: i16,
    targets: &[FetchTarget],
    permit: &Permit<'_>,
) -> ReadResult {
    let allowed: Vec<bool> = targets.iter().map(|t| permit.allows(t)).collect();
    if allowed.iter().all(|a| *a) {
        return long_poll(broker, request, version, targets).await;
    }
    let readable: Vec<FetchTarget> = targets
        .iter()
        .zip(&allowed)
        .filter(|(_, a)| **a)
        .map(|(t, _)| t.clone())
        .collect();
    let mut result = if readable.is_empty() {
        ReadResult {
            partitions: Vec::new(),
            bytes: 0,
            read_error: false,
            found: 0,
        }
    } else {
        long_poll(broker, request, version, &readable).await
    };
    let mut read = std::mem::take(&mut result.partitions).into_iter();
    result.partitions = targets
        .iter()
        .zip(allowed)
        .map(|(t, a)| match a.then(|| read.next()).flatten() {
            Some(partition) => partition,
            None => crate::fetch::read::error_partition(
                t.partition,
                error_codes::TOPIC_AUTHORIZATION_FAILED,
            ),
        })
        .collect();
    result
}

fn sessions(broker: &Broker) -> std::sync::MutexGuard<'_, SessionCache> {
    broker
        .fetch_sessions
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// A random positive session id, as Kafka picks them, so ids from before a
/// restart are unlikely to name a new session.
fn random_session_id() -> i32 {
    (Uuid::new_v4().as_u128() as u32 & 0x7fff_ffff) as i32
}

/// A response with a top-level error and no partitions.
pub fn error_reply(error_code: i16, session_id: i32) -> FetchReply {
    FetchResponseOut {
        throttle_time_ms: 0,
        error_code,
        session_id,
        topics: Vec::new(),
        node_endpoints: Vec::new(),
    }
}

/// The request's partitions, topic names resolved from ids from v13 on.
fn request_targets(
    request: &FetchRequest,
    uses_topic_ids: bool,
    resolve: impl Fn(&Uuid) -> Option<StrBytes>,
) -> Vec<FetchTarget> {
    let mut targets = Vec::new();
    for topic in &request.topics {
        let name = if uses_topic_ids {
            resolve(&topic.topic_id)
        } else {
            Some(topic.topic.0.clone())
        };
        for partition in &topic.partitions {
            targets.push(FetchTarget {
                topic_id: topic.topic_id,
                topic_name: name.clone(),
                partition: partition.partition,
                fetch_offset: partition.fetch_offset,
                partition_max_bytes: partition.partition_max_bytes,
                current_leader_epoch: partition.current_leader_epoch,
                last_fetched_epoch: partition.last_fetched_epoch,
            });
        }
    }
    targets
}

/// The partitions an incremental request drops from its session.
fn forgotten(request: &FetchRequest, uses_topic_ids: bool) -> Vec<PartitionKey> {
    let mut keys = Vec::new();
    for topic in &request.forgotten_topics_data {
        for &partition in &topic.partitions {
            let key = PartitionKey::new(uses_topic_ids, topic.topic_id, &topic.topic.0, partition);
            keys.push(key);
        }
    }
    keys
}

/// Who sends the fetch: a follower names its broker id (`replica_id`
/// up to v14, `ReplicaState` from v15 on), anyone else is a consumer.
fn reader(request: &FetchRequest) -> Reader {
    if request.replica_state.replica_id.0 >= 0 {
        return Reader::Follower {
            replica_id: request.replica_state.replica_id.0,
            broker_epoch: request.replica_state.replica_epoch,
        };
    }
    if request.replica_id.0 >= 0 {
        return Reader::Follower {
            replica_id: request.replica_id.0,
            broker_epoch: -1,
        };
    }
    Reader::Consumer {
        read_committed: request.isolation_level == READ_COMMITTED,
    }
}

/// The high watermarks a fetch answered, to tell when a parked follower
/// fetch has news even without new records.
fn high_watermarks(result: &ReadResult) -> Vec<i64> {
    result.partitions.iter().map(|p| p.high_watermark).collect()
}

/// Reads until there are `min_bytes`, an error, or `max_wait_ms` passed. A
/// follower's fetch also returns when a high watermark moved, so followers
/// learn it without waiting out `max_wait_ms` (acks=all latency of
/// consumers reading from them).
async fn long_poll(
    broker: &Broker,
    request: &FetchRequest,
    version: i16,
    targets: &[FetchTarget],
) -> ReadResult {
    let deadline = Instant::now() + Duration::from_millis(request.max_wait_ms.max(0) as u64);
    let min_bytes = request.min_bytes.max(0) as usize;
    let reader = reader(request);
    let is_follower = matches!(reader, Reader::Follower { .. });
    let client = FetchClient::of(
        reader,
        version,
        &request.rack_id,
        &broker.config.advertised.name,
        broker.config.replica_selector,
    );
    let mut first_high_watermarks: Option<Vec<i64>> = None;
    loop {
        // Registered before reading so an append between the read and the
        // wait still wakes us (Notify keeps the permit).
        let woken = Arc::new(Notify::new());
        let image = broker.controller.image();
        let result = read_targets(
            &broker.replicas,
            &image,
            targets,
            request.max_bytes,
            reader,
            client.as_ref(),
            &woken,
        );
        let nothing_to_wait_for = result.read_error || result.found == 0;
        if result.bytes >= min_bytes || nothing_to_wait_for || Instant::now() >= deadline {
            return result;
        }
        if is_follower {
            let now = high_watermarks(&result);
            match &first_high_watermarks {
                Some(first) if *first != now => return result,
                Some(_) => {}
                None => first_high_watermarks = Some(now),
            }
        }
        if tokio::time::timeout_at(deadline, woken.notified())
            .await
            .is_err()
        {
            // Timed out: answer with what is there now.
            return read_targets(
                &broker.replicas,
                &broker.controller.image(),
                targets,
                request.max_bytes,
                reader,
                client.as_ref(),
                &woken,
            );
        }
    }
}

/// Groups the partition answers into topics, consecutive targets of the
/// same topic sharing one entry as Kafka's response builder does.
pub fn reply(
    session_id: i32,
    targets: &[FetchTarget],
    partitions: Vec<PartitionOut<FileSlice>>,
) -> FetchReply {
    let mut topics: Vec<TopicOut<FileSlice>> = Vec::new();
    let mut last: Option<&FetchTarget> = None;
    for (target, partition) in targets.iter().zip(partitions) {
        let same_topic = last
            .is_some_and(|l| l.topic_id == target.topic_id && l.topic_name == target.topic_name);
        match topics.last_mut() {
            Some(topic) if same_topic => topic.partitions.push(partition),
            _ => topics.push(TopicOut {
                name: target.topic_name.clone().unwrap_or_default(),
                topic_id: target.topic_id,
                partitions: vec![partition],
            }),
        }
        last = Some(target);
    }
    FetchResponseOut {
        throttle_time_ms: 0,
        error_code: error_codes::NONE,
        session_id,
        topics,
        node_endpoints: Vec::new(),
    }
}
