//! The transaction coordinator's marker channel (Kafka's
//! `TransactionMarkerChannelManager`): once a transaction is prepared, its
//! COMMIT or ABORT marker goes to the current leader of each of its
//! partitions, a local one by a direct call of the code WriteTxnMarkers
//! runs, a remote one by WriteTxnMarkers over the inter-broker listener.
//! Partitions that fail are retried with back-off, each time at the leader
//! the metadata names then (a failover moves them). The delivery stops when
//! this broker stops being the coordinator of the transaction at the epoch
//! it started with: the new coordinator resends the markers. When every
//! partition has its marker the coordinator completes the transaction.
//!
//! Each delivery runs on its own task, never under the coordinator's lock.

use crate::server::Broker;
use gregor_client::RequestBody;
use gregor_metadata::MetadataImage;
use gregor_protocol::error_codes;
use gregor_protocol::write_txn_markers_v2::{self, MarkersV2};
use kafka_protocol::messages::write_txn_markers_request::{
    WritableTxnMarker, WritableTxnMarkerTopic,
};
use kafka_protocol::messages::{
    ApiKey, ResponseKind, TopicName, WriteTxnMarkersRequest, WriteTxnMarkersResponse,
};
use kafka_protocol::protocol::StrBytes;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// WriteTxnMarkers v2 carries the transaction version (KIP-1228); every
/// Gregor broker serves it.
pub const WRITE_TXN_MARKERS_VERSION: i16 = write_txn_markers_v2::VERSION;

const INITIAL_BACKOFF: Duration = Duration::from_millis(20);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// The markers of one prepared transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarkerJob {
    pub transactional_id: String,
    /// The `__transaction_state` partition of the transactional id.
    pub txn_partition: i32,
    /// Its leader epoch when this coordinator loaded it.
    pub coordinator_epoch: i32,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub commit: bool,
    /// The transaction version the markers carry (KIP-1228).
    pub transaction_version: i8,
    pub partitions: BTreeSet<(String, i32)>,
}

/// The queue coordinators put prepared transactions on; the sender task
/// takes the receiving end once. A transaction already being delivered is
/// not queued twice (the periodic retry of prepared transactions finds it).
#[derive(Clone)]
pub struct MarkerOutbox {
    sender: mpsc::UnboundedSender<MarkerJob>,
    receiver: Arc<Mutex<Option<mpsc::UnboundedReceiver<MarkerJob>>>>,
    /// (transactional id, coordinator epoch) of the deliveries running: a
    /// shard reloaded at a new epoch starts its own at once.
    in_flight: Arc<Mutex<HashSet<(String, i32)>>>,
}

impl Default for MarkerOutbox {
    fn default() -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        MarkerOutbox {
            sender,
            receiver: Arc::new(Mutex::new(Some(receiver))),
            in_flight: Arc::default(),
        }
    }
}

impl MarkerOutbox {
    /// Queues a delivery unless one for the same transactional id runs.
    pub fn send(&self, job: MarkerJob) {
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        if in_flight.insert((job.transactional_id.clone(), job.coordinator_epoch)) {
            // No receiver only after shutdown, when nothing is sent any more.
            let _ = self.sender.send(job);
        }
    }

    pub(crate) fn done(&self, job: &MarkerJob) {
        self.in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&(job.transactional_id.clone(), job.coordinator_epoch));
    }

    fn take_receiver(&self) -> Option<mpsc::UnboundedReceiver<MarkerJob>> {
        self.receiver
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }
}

/// Runs until the broker shuts down: one task per prepared transaction.
pub async fn run(broker: Arc<Broker>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let Some(mut receiver) = broker.txns.outbox().take_receiver() else {
        return;
    };
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            job = receiver.recv() => match job {
                Some(job) => {
                    tasks.spawn(deliver(broker.clone(), job));
                }
                None => break,
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    tasks.abort_all();
}

/// What a partition's answer means for its marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Written,
    /// Ask again, at the leader the metadata names then.
    Retry,
    /// This coordinator (or the producer epoch) was fenced: stop; the
    /// coordinator that fenced it completes the transaction.
    Fenced,
}

/// Kafka's `TransactionMarkerRequestCompletionHandler` table.
pub fn verdict(code: i16) -> Verdict {
    match code {
        error_codes::NONE => Verdict::Written,
        error_codes::INVALID_PRODUCER_EPOCH | error_codes::TRANSACTION_COORDINATOR_FENCED => {
            Verdict::Fenced
        }
        // NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION, NOT_ENOUGH_REPLICAS,
        // REQUEST_TIMED_OUT, KAFKA_STORAGE_ERROR, ... and anything unexpected:
        // a transaction must not stay open, so keep trying.
        _ => Verdict::Retry,
    }
}

/// Where each remaining partition's marker goes now.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Routes {
    pub local: Vec<(String, i32)>,
    pub remote: BTreeMap<i32, Vec<(String, i32)>>,
    /// Leaderless for now: retried.
    pub waiting: Vec<(String, i32)>,
    /// Gone from the metadata (topic deleted): need no marker, as Kafka
    /// skips them.
    pub gone: Vec<(String, i32)>,
}

/// Routes partitions by the leader `leader_of` gives: `None` for a
/// partition the metadata no longer has, `Some(-1)` for one without a
/// leader.
pub fn route(
    partitions: &BTreeSet<(String, i32)>,
    node_id: i32,
    leader_of: impl Fn(&str, i32) -> Option<i32>,
) -> Routes {
    let mut routes = Routes::default();
    for (topic, partition) in partitions {
        let key = (topic.clone(), *partition);
        match leader_of(topic, *partition) {
            None => routes.gone.push(key),
            Some(leader) if leader < 0 => routes.waiting.push(key),
            Some(leader) if leader == node_id => routes.local.push(key),
            Some(leader) => routes.remote.entry(leader).or_default().push(key),
        }
    }
    routes
}

async fn deliver(broker: Arc<Broker>, job: MarkerJob) {
    let outcome = deliver_all(&broker, &job).await;
    match outcome {
        // Ends the delivery (`MarkerOutbox::done`) under the coordinator's lock.
        Ok(()) => broker.txns.markers_written(&job).await,
        Err(why) => {
            tracing::info!(transactional_id = %job.transactional_id, %why, "stopped sending transaction markers");
            broker.txns.outbox().done(&job);
        }
    }
}

/// Writes every marker; an error when the delivery must stop.
async fn deliver_all(broker: &Arc<Broker>, job: &MarkerJob) -> Result<(), String> {
    let node_id = broker.config.node_id;
    let mut remaining = job.partitions.clone();
    let mut backoff = INITIAL_BACKOFF;
    loop {
        if !broker
            .txns
            .still_coordinator(job.txn_partition, job.coordinator_epoch)
        {
            return Err(format!(
                "no longer the coordinator of {}-{} at epoch {}",
                crate::internal_topics::TXN_TOPIC,
                job.txn_partition,
                job.coordinator_epoch
            ));
        }
        let image = broker.controller.image();
        let routes = route(&remaining, node_id, |topic, partition| {
            image
                .topic(topic)
                .and_then(|t| t.partitions.get(&partition))
                .map(|p| p.leader)
        });
        for key in &routes.gone {
            remaining.remove(key);
        }
        let mut answers: Vec<((String, i32), i16)> = Vec::new();
        // Local markers are all appended, then waited for (acks=all).
        let mut local = Vec::with_capacity(routes.local.len());
        for (topic, partition) in routes.local {
            let marker = crate::txn_service::Marker {
                producer_id: job.producer_id,
                producer_epoch: job.producer_epoch,
                coordinator_epoch: job.coordinator_epoch,
                commit: job.commit,
                transaction_version: job.transaction_version,
            };
            let written =
                broker
                    .txns
                    .append_local_marker(&broker.groups, &topic, partition, marker);
            local.push(((topic, partition), written));
        }
        for (key, written) in local {
            let code = match written {
                Ok(pending) => pending.committed().await.err().unwrap_or(error_codes::NONE),
                Err(code) => code,
            };
            answers.push((key, code));
        }
        // Leaders are asked concurrently: a slow one does not hold up the rest.
        let mut sends = tokio::task::JoinSet::new();
        for (leader, partitions) in routes.remote {
            sends.spawn(send_to(
                broker.clone(),
                image.clone(),
                leader,
                job.clone(),
                partitions,
            ));
        }
        while let Some(sent) = sends.join_next().await {
            if let Ok(codes) = sent {
                answers.extend(codes);
            }
        }
        for (key, code) in answers {
            match verdict(code) {
                Verdict::Written => {
                    remaining.remove(&key);
                }
                Verdict::Fenced => {
                    return Err(format!(
                        "{}-{} refused the marker with error code {code}",
                        key.0, key.1
                    ))
                }
                Verdict::Retry => {
                    tracing::debug!(transactional_id = %job.transactional_id, topic = %key.0, partition = key.1, code, "transaction marker to be retried");
                }
            }
        }
        if remaining.is_empty() {
            return Ok(());
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One WriteTxnMarkers to `leader` for `partitions`: a code per partition.
async fn send_to(
    broker: Arc<Broker>,
    image: Arc<MetadataImage>,
    leader: i32,
    job: MarkerJob,
    partitions: Vec<(String, i32)>,
) -> Vec<((String, i32), i16)> {
    let request = request_for(&job, &partitions);
    let result = broker
        .markers_channel
        .call(
            &image,
            leader,
            ApiKey::WriteTxnMarkers,
            WRITE_TXN_MARKERS_VERSION,
            RequestBody::WriteTxnMarkersV2(MarkersV2 {
                request,
                transaction_versions: vec![job.transaction_version],
            }),
        )
        .await;
    match result {
        Ok(ResponseKind::WriteTxnMarkers(response)) => codes(&response, &partitions),
        Ok(_) => {
            tracing::debug!(leader, "unexpected answer to WriteTxnMarkers");
            retry_all(&partitions)
        }
        Err(err) => {
            tracing::debug!(leader, %err, "cannot send transaction markers");
            retry_all(&partitions)
        }
    }
}

fn retry_all(partitions: &[(String, i32)]) -> Vec<((String, i32), i16)> {
    partitions
        .iter()
        .map(|p| (p.clone(), error_codes::NOT_LEADER_OR_FOLLOWER))
        .collect()
}

fn request_for(job: &MarkerJob, partitions: &[(String, i32)]) -> WriteTxnMarkersRequest {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (topic, partition) in partitions {
        by_topic.entry(topic).or_default().push(*partition);
    }
    let topics = by_topic
        .into_iter()
        .map(|(topic, indexes)| {
            WritableTxnMarkerTopic::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partition_indexes(indexes)
        })
        .collect();
    WriteTxnMarkersRequest::default().with_markers(vec![WritableTxnMarker::default()
        .with_producer_id(job.producer_id.into())
        .with_producer_epoch(job.producer_epoch)
        .with_transaction_result(job.commit)
        .with_coordinator_epoch(job.coordinator_epoch)
        .with_topics(topics)])
}

/// The leader's code for each partition asked; one it did not answer is
/// retried.
fn codes(
    response: &WriteTxnMarkersResponse,
    partitions: &[(String, i32)],
) -> Vec<((String, i32), i16)> {
    let mut answered: BTreeMap<(String, i32), i16> = BTreeMap::new();
    for marker in &response.markers {
        for topic in &marker.topics {
            for p in &topic.partitions {
                answered.insert((topic.name.to_string(), p.partition_index), p.error_code);
            }
        }
    }
    partitions
        .iter()
        .map(|key| {
            let code = answered
                .get(key)
                .copied()
                .unwrap_or(error_codes::NOT_LEADER_OR_FOLLOWER);
            (key.clone(), code)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[(&str, i32)]) -> BTreeSet<(String, i32)> {
        items.iter().map(|(t, p)| (t.to_string(), *p)).collect()
    }

    fn job(id: &str, coordinator_epoch: i32) -> MarkerJob {
        MarkerJob {
            transactional_id: id.to_string(),
            txn_partition: 0,
            coordinator_epoch,
            producer_id: 1,
            producer_epoch: 0,
            commit: true,
            transaction_version: 2,
            partitions: BTreeSet::new(),
        }
    }

    #[test]
    fn a_transaction_is_delivered_once_per_coordinator_epoch() {
        let outbox = MarkerOutbox::default();
        let mut queue = outbox.take_receiver().unwrap();
        assert!(outbox.take_receiver().is_none(), "taken once");
        outbox.send(job("t", 3));
        outbox.send(job("t", 3));
        assert_eq!(queue.try_recv().unwrap(), job("t", 3));
        assert!(queue.try_recv().is_err(), "already being delivered");
        outbox.send(job("t", 4));
        assert_eq!(queue.try_recv().unwrap(), job("t", 4), "a reloaded shard");
        outbox.done(&job("t", 3));
        outbox.send(job("t", 3));
        assert_eq!(queue.try_recv().unwrap(), job("t", 3));
    }

    #[test]
    fn partitions_are_routed_by_their_current_leader() {
        let partitions = set(&[("a", 0), ("a", 1), ("b", 0), ("gone", 0), ("c", 0)]);
        let leaders = |topic: &str, partition: i32| match (topic, partition) {
            ("a", 0) => Some(1),
            ("a", 1) => Some(2),
            ("b", 0) => Some(2),
            ("c", 0) => Some(-1),
            _ => None,
        };
        let routes = route(&partitions, 1, leaders);
        assert_eq!(routes.local, vec![("a".to_string(), 0)]);
        assert_eq!(
            routes.remote.get(&2),
            Some(&vec![("a".to_string(), 1), ("b".to_string(), 0)])
        );
        assert_eq!(routes.waiting, vec![("c".to_string(), 0)]);
        assert_eq!(routes.gone, vec![("gone".to_string(), 0)]);
    }

    #[test]
    fn fencing_codes_stop_the_delivery_and_the_rest_retry() {
        assert_eq!(verdict(error_codes::NONE), Verdict::Written);
        assert_eq!(
            verdict(error_codes::TRANSACTION_COORDINATOR_FENCED),
            Verdict::Fenced
        );
        assert_eq!(
            verdict(error_codes::INVALID_PRODUCER_EPOCH),
            Verdict::Fenced
        );
        for code in [
            error_codes::NOT_LEADER_OR_FOLLOWER,
            error_codes::UNKNOWN_TOPIC_OR_PARTITION,
            error_codes::NOT_ENOUGH_REPLICAS,
            error_codes::REQUEST_TIMED_OUT,
            error_codes::KAFKA_STORAGE_ERROR,
        ] {
            assert_eq!(verdict(code), Verdict::Retry, "code {code}");
        }
    }

    #[test]
    fn unanswered_partitions_are_retried() {
        use kafka_protocol::messages::write_txn_markers_response::{
            WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
        };
        let response = WriteTxnMarkersResponse::default().with_markers(vec![
            WritableTxnMarkerResult::default().with_topics(vec![
                WritableTxnMarkerTopicResult::default()
                    .with_name(TopicName(StrBytes::from_static_str("a")))
                    .with_partitions(vec![WritableTxnMarkerPartitionResult::default()
                        .with_partition_index(0)
                        .with_error_code(error_codes::NONE)]),
            ]),
        ]);
        let asked = vec![("a".to_string(), 0), ("a".to_string(), 1)];
        assert_eq!(
            codes(&response, &asked),
            vec![
                (("a".to_string(), 0), error_codes::NONE),
                (("a".to_string(), 1), error_codes::NOT_LEADER_OR_FOLLOWER)
            ]
        );
    }
}
