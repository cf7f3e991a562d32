//! Produce: validate and append each partition's batches; acks=0 gets no
//! answer, acks=1 is answered once the local append is done, acks=-1 once
//! the high watermark passed every appended batch (Kafka's delayed produce:
//! woken by the partition's progress, never polled) or the request's
//! `timeout_ms` ran out (REQUEST_TIMED_OUT).

use super::leader_hint::{leader_endpoint, led_partition};
use super::str_bytes;
use crate::clock::now_ms;
use crate::metrics::topics::ProduceOutcome;
use crate::replica::leader::AckState;
use crate::replica_manager::{Partition, Progress};
use crate::server::Broker;
use crate::txn_verification::{self, Verification};
use gregor_log::{AppendInfo, LogError};
use gregor_protocol::batch::BatchHeader;
use gregor_protocol::error_codes;
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, LeaderIdAndEpoch, NodeEndpoint, PartitionProduceResponse,
    TopicProduceResponse,
};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// Produce v12+ comes from transaction version 2 clients, whose partitions
/// join the transaction with their first write (KIP-890 part 2).
const IMPLICIT_ADD_VERSION: i16 = 12;
/// Produce v11+ understands TRANSACTION_ABORTABLE.
const TRANSACTION_ABORTABLE_VERSION: i16 = 11;

/// The producer of a transactional batch sent with a transactional id:
/// such writes are checked against the transaction coordinator first
/// (KIP-890 part 1). Without an id Kafka appends unverified, and so do we.
fn transactional_batch<'a>(
    records: &[u8],
    transactional_id: Option<&'a str>,
) -> Option<(&'a str, i64, i16)> {
    let transactional_id = transactional_id?;
    let header = BatchHeader::parse(records).ok()?;
    header.is_transactional().then_some((
        transactional_id,
        header.producer_id,
        header.producer_epoch,
    ))
}

/// Kafka's translation of coordinator answers for producers: a fenced
/// producer hears INVALID_PRODUCER_EPOCH, retriable coordinator trouble
/// becomes NOT_ENOUGH_REPLICAS (retried without a metadata refresh), and
/// clients before v11 get INVALID_TXN_STATE for TRANSACTION_ABORTABLE.
fn verification_error(error: i16, version: i16) -> i16 {
    use error_codes::*;
    match error {
        PRODUCER_FENCED => INVALID_PRODUCER_EPOCH,
        CONCURRENT_TRANSACTIONS
        | COORDINATOR_LOAD_IN_PROGRESS
        | COORDINATOR_NOT_AVAILABLE
        | NOT_COORDINATOR => NOT_ENOUGH_REPLICAS,
        TRANSACTION_ABORTABLE if version < TRANSACTION_ABORTABLE_VERSION => INVALID_TXN_STATE,
        other => other,
    }
}

/// An acks=all answer waiting for its batch to be committed.
struct Pending {
    topic: usize,
    partition: usize,
    required_offset: i64,
    progress: watch::Receiver<Progress>,
}

/// Waits until every pending batch is committed, refused or the deadline
/// passed; each answer then gets its outcome.
async fn await_acks(
    responses: &mut [TopicProduceResponse],
    pending: Vec<Pending>,
    timeout_ms: i32,
) {
    let deadline = Instant::now() + Duration::from_millis(timeout_ms.max(0) as u64);
    for mut wait in pending {
        let required = wait.required_offset;
        let settled = |p: &Progress| p.ack_state(required) != Some(AckState::Waiting);
        // An error only means the partition is gone: decided below.
        let _ = tokio::time::timeout_at(deadline, wait.progress.wait_for(settled)).await;
        let state = wait.progress.borrow().ack_state(required);
        let code = match state {
            Some(AckState::Done) => continue,
            Some(AckState::DoneUnderMinIsr) => error_codes::NOT_ENOUGH_REPLICAS_AFTER_APPEND,
            Some(AckState::Waiting) => error_codes::REQUEST_TIMED_OUT,
            None => error_codes::NOT_LEADER_OR_FOLLOWER,
        };
        let answer = &mut responses[wait.topic].partition_responses[wait.partition];
        answer.error_code = code;
    }
}

/// `listener` is the connection's: KIP-951 leader endpoints are given on it.
pub async fn handle(
    broker: &Broker,
    request: ProduceRequest,
    version: i16,
    listener: &str,
) -> Option<ProduceResponse> {
    let acks = request.acks;
    let timeout_ms = request.timeout_ms;
    let mut pending = Vec::new();
    let transactional_id: Option<String> =
        request.transactional_id.as_ref().map(|id| id.to_string());
    let valid_acks = matches!(acks, -1..=1);
    let now = now_ms();
    let mut responses = Vec::with_capacity(request.topic_data.len());
    let image = broker.controller.image();
    for topic in request.topic_data {
        // BrokerTopicMetrics, for topics that exist (Kafka answers unknown
        // ones before its replica manager counts anything).
        let topic_metrics = image
            .topic(&topic.name)
            .map(|_| broker.metrics.topics.topic(&topic.name));
        let mut partition_responses = Vec::with_capacity(topic.partition_data.len());
        let topic_slot = responses.len();
        for data in topic.partition_data {
            let base = PartitionProduceResponse::default()
                .with_index(data.index)
                .with_base_offset(-1);
            let response = if !valid_acks {
                base.with_error_code(error_codes::INVALID_REQUIRED_ACKS)
            } else {
                let target = Target {
                    topic: &topic.name,
                    index: data.index,
                    transactional_id: transactional_id.as_deref(),
                    version,
                };
                let records = data.records.as_deref();
                let (response, committed, appended) =
                    append(broker, target, records, acks, now, base).await;
                if let Some(counters) = &topic_metrics {
                    let bytes = records.map_or(0, |r| r.len() as u64);
                    let outcome = produce_outcome(response.error_code, bytes, appended);
                    broker.metrics.topics.produced(counters, outcome);
                }
                if let Some((partition, required_offset)) = committed {
                    pending.push(Pending {
                        topic: topic_slot,
                        partition: partition_responses.len(),
                        required_offset,
                        progress: partition.progress(),
                    });
                }
                response
            };
            partition_responses.push(response);
        }
        responses.push(
            TopicProduceResponse::default()
                .with_name(topic.name)
                .with_partition_responses(partition_responses),
        );
    }
    if acks == 0 {
        return None;
    }
    await_acks(&mut responses, pending, timeout_ms).await;
    let image = broker.controller.image();
    // KIP-951: the endpoints of the leaders named in the answers.
    let leaders: BTreeSet<i32> = responses
        .iter()
        .flat_map(|t| t.partition_responses.iter())
        .map(|p| p.current_leader.leader_id.0)
        .filter(|id| *id >= 0)
        .collect();
    let node_endpoints = leaders
        .into_iter()
        .filter_map(|id| leader_endpoint(&image, id, listener))
        .map(|e| {
            NodeEndpoint::default()
                .with_node_id(e.node_id.into())
                .with_host(str_bytes(&e.host))
                .with_port(e.port)
                .with_rack(e.rack.as_deref().map(str_bytes))
        })
        .collect();
    Some(
        ProduceResponse::default()
            .with_responses(responses)
            .with_node_endpoints(node_endpoints),
    )
}

/// A transactional batch whose coordinator is another broker: the
/// partition's verification guard is taken, the coordinator asked (unless
/// the transaction is open here already), and the batch appended only if
/// the guard still holds then.
async fn append_verified_remotely(
    broker: &Broker,
    partition: &Partition,
    records: &[u8],
    verification: Verification<'_>,
    now: i64,
) -> Result<Result<AppendInfo, LogError>, i16> {
    let guard = match partition.start_verification(
        verification.producer_id,
        verification.producer_epoch,
        verification.add,
    ) {
        Ok(guard) => guard,
        Err(err) => return Ok(Err(err)),
    };
    if guard.is_some() {
        let code = txn_verification::verify(broker, verification).await;
        if code != error_codes::NONE {
            return Err(code);
        }
    }
    Ok(partition.append_verified(records, guard, now))
}

/// Where a partition's records go, and for whom.
struct Target<'a> {
    topic: &'a str,
    index: i32,
    transactional_id: Option<&'a str>,
    version: i16,
}

/// A successful acks=all append: the partition and the offset the high
/// watermark must reach.
type Committed = Option<(Arc<Partition>, i64)>;

/// How a partition's append counts in BrokerTopicMetrics, as Kafka's
/// `ReplicaManager.appendToLocalLog` counts it: errors it expects (not the
/// leader, unknown partition, too large or corrupt batches, storage) are
/// not failed requests; a batch over `max.message.bytes` is rejected bytes.
fn produce_outcome(error_code: i16, bytes: u64, records: u64) -> ProduceOutcome {
    use error_codes::*;
    match error_code {
        NONE => ProduceOutcome::Appended { bytes, records },
        MESSAGE_TOO_LARGE => ProduceOutcome::Rejected { bytes },
        NOT_LEADER_OR_FOLLOWER
        | UNKNOWN_TOPIC_OR_PARTITION
        | RECORD_LIST_TOO_LARGE
        | CORRUPT_MESSAGE
        | KAFKA_STORAGE_ERROR => ProduceOutcome::NotCounted,
        _ => ProduceOutcome::Failed,
    }
}

async fn append(
    broker: &Broker,
    target: Target<'_>,
    records: Option<&[u8]>,
    acks: i16,
    now: i64,
    base: PartitionProduceResponse,
) -> (PartitionProduceResponse, Committed, u64) {
    let Target { topic, index, .. } = target;
    let partition = match led_partition(broker, topic, index) {
        Ok(partition) => partition,
        Err(not_led) => {
            let (leader_id, leader_epoch) = not_led.leader.unwrap_or((-1, -1));
            let answer = base.with_error_code(not_led.code).with_current_leader(
                LeaderIdAndEpoch::default()
                    .with_leader_id(leader_id.into())
                    .with_leader_epoch(leader_epoch),
            );
            return (answer, None, 0);
        }
    };
    match append_to(broker, &target, &partition, records, acks, now, base).await {
        (answer, Some((last_offset, count))) if acks == -1 => {
            (answer, Some((partition, last_offset + 1)), count)
        }
        (answer, Some((_, count))) => (answer, None, count),
        (answer, None) => (answer, None, 0),
    }
}

/// The append itself: the answer, with the batch's last offset and its
/// number of records when it was appended.
async fn append_to(
    broker: &Broker,
    target: &Target<'_>,
    partition: &Partition,
    records: Option<&[u8]>,
    acks: i16,
    now: i64,
    base: PartitionProduceResponse,
) -> (PartitionProduceResponse, Option<(i64, u64)>) {
    let Target { topic, index, .. } = *target;
    if acks == -1 && partition.isr_size() < partition.effective_min_insync_replicas() {
        return (base.with_error_code(error_codes::NOT_ENOUGH_REPLICAS).with_error_message(Some(str_bytes(&format!(
            "The size of the current ISR {} is insufficient to satisfy the min.isr requirement of {}",
            partition.isr_size(),
            partition.effective_min_insync_replicas()
        )))), None);
    }
    let Some(records) = records else {
        return (
            base.with_error_code(error_codes::CORRUPT_MESSAGE)
                .with_error_message(Some(str_bytes("null records"))),
            None,
        );
    };
    let appended = match transactional_batch(records, target.transactional_id) {
        Some((transactional_id, producer_id, epoch)) if !broker.txns.is_local(transactional_id) => {
            let verification = Verification {
                transactional_id,
                producer_id,
                producer_epoch: epoch,
                topic,
                partition: index,
                add: target.version >= IMPLICIT_ADD_VERSION,
            };
            append_verified_remotely(broker, partition, records, verification, now)
                .await
                .map_err(|error| verification_error(error, target.version))
        }
        Some((transactional_id, producer_id, epoch)) => broker
            .txns
            .with_verified(
                transactional_id,
                producer_id,
                epoch,
                (topic.to_string(), index),
                target.version >= IMPLICIT_ADD_VERSION,
                || partition.append(records, now),
            )
            .await
            .map_err(|error| verification_error(error, target.version)),
        None => Ok(partition.append(records, now)),
    };
    let result = match appended {
        Ok(result) => result,
        Err(error) => {
            return (
                base.with_error_code(error)
                    .with_error_message(Some(str_bytes(
                        "the partition is not part of the producer's open transaction",
                    ))),
                None,
            )
        }
    };
    match result {
        Ok(info) => (
            base.with_base_offset(info.base_offset)
                .with_log_append_time_ms(info.log_append_time)
                .with_log_start_offset(info.log_start_offset),
            Some((
                info.last_offset,
                u64::try_from(info.record_count).unwrap_or(0),
            )),
        ),
        Err(LogError::KeylessRecordOnCompactedTopic {
            partition,
            batch_indexes,
        }) => {
            // Kafka's `LogValidator` answers keyless records on a compacted
            // topic with INVALID_RECORD, one record error per record and
            // `processRecordErrors`' summary (at most three shown).
            let message = format!(
                "Compacted topic cannot accept message without key in topic partition {partition}"
            );
            let shown: Vec<String> = batch_indexes
                .iter()
                .take(3)
                .map(|i| format!("RecordError(batchIndex={i}, message='{message}')"))
                .collect();
            let summary = format!(
                "One or more records have been rejected due to {} record errors in total, and only showing the first three errors at most: [{}]",
                batch_indexes.len(),
                shown.join(", ")
            );
            let record_errors = batch_indexes
                .iter()
                .map(|i| {
                    BatchIndexAndErrorMessage::default()
                        .with_batch_index(i32::try_from(*i).unwrap_or(i32::MAX))
                        .with_batch_index_error_message(Some(str_bytes(&message)))
                })
                .collect();
            (
                base.with_error_code(error_codes::INVALID_RECORD)
                    .with_error_message(Some(str_bytes(&summary)))
                    .with_record_errors(record_errors),
                None,
            )
        }
        Err(err) => {
            tracing::debug!(topic, partition = index, %err, "produce refused");
            (
                base.with_error_code(err.error_code())
                    .with_error_message(Some(str_bytes(&err.to_string()))),
                None,
            )
        }
    }
}
