//! Produce: validate and append each partition's batches; acks=0 gets no
//! answer, acks=1 and acks=-1 are answered once the append is done (on a
//! single node the leader is the whole ISR).

use super::leader_hint::{leader_endpoint, led_partition};
use super::str_bytes;
use crate::clock::now_ms;
use crate::server::Broker;
use gregor_protocol::batch::BatchHeader;
use gregor_protocol::error_codes;
use kafka_protocol::messages::produce_response::{
    LeaderIdAndEpoch, NodeEndpoint, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use std::collections::BTreeSet;

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

pub fn handle(broker: &Broker, request: ProduceRequest, version: i16) -> Option<ProduceResponse> {
    let acks = request.acks;
    let transactional_id: Option<String> =
        request.transactional_id.as_ref().map(|id| id.to_string());
    let valid_acks = matches!(acks, -1..=1);
    let now = now_ms();
    let mut responses = Vec::with_capacity(request.topic_data.len());
    for topic in request.topic_data {
        let mut partition_responses = Vec::with_capacity(topic.partition_data.len());
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
                append(broker, target, data.records.as_deref(), acks, now, base)
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
    // KIP-951: the endpoints of the leaders named in the answers.
    let leaders: BTreeSet<i32> = responses
        .iter()
        .flat_map(|t| t.partition_responses.iter())
        .map(|p| p.current_leader.leader_id.0)
        .filter(|id| *id >= 0)
        .collect();
    let image = broker.controller.image();
    let node_endpoints = leaders
        .into_iter()
        .filter_map(|id| leader_endpoint(&image, id, &broker.config.advertised.name))
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

/// Where a partition's records go, and for whom.
struct Target<'a> {
    topic: &'a str,
    index: i32,
    transactional_id: Option<&'a str>,
    version: i16,
}

fn append(
    broker: &Broker,
    target: Target,
    records: Option<&[u8]>,
    acks: i16,
    now: i64,
    base: PartitionProduceResponse,
) -> PartitionProduceResponse {
    let Target { topic, index, .. } = target;
    let partition = match led_partition(broker, topic, index) {
        Ok(partition) => partition,
        Err(not_led) => {
            let (leader_id, leader_epoch) = not_led.leader.unwrap_or((-1, -1));
            return base.with_error_code(not_led.code).with_current_leader(
                LeaderIdAndEpoch::default()
                    .with_leader_id(leader_id.into())
                    .with_leader_epoch(leader_epoch),
            );
        }
    };
    if acks == -1 && partition.isr_size() < partition.effective_min_insync_replicas() {
        return base.with_error_code(error_codes::NOT_ENOUGH_REPLICAS).with_error_message(Some(str_bytes(&format!(
            "The size of the current ISR {} is insufficient to satisfy the min.isr requirement of {}",
            partition.isr_size(),
            partition.effective_min_insync_replicas()
        ))));
    }
    let Some(records) = records else {
        return base
            .with_error_code(error_codes::CORRUPT_MESSAGE)
            .with_error_message(Some(str_bytes("null records")));
    };
    let appended = match transactional_batch(records, target.transactional_id) {
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
            .map_err(|error| verification_error(error, target.version)),
        None => Ok(partition.append(records, now)),
    };
    let result = match appended {
        Ok(result) => result,
        Err(error) => {
            return base
                .with_error_code(error)
                .with_error_message(Some(str_bytes(
                    "the partition is not part of the producer's open transaction",
                )))
        }
    };
    match result {
        Ok(info) => base
            .with_base_offset(info.base_offset)
            .with_log_append_time_ms(info.log_append_time)
            .with_log_start_offset(info.log_start_offset),
        Err(err) => {
            tracing::debug!(topic, partition = index, %err, "produce refused");
            base.with_error_code(err.error_code())
                .with_error_message(Some(str_bytes(&err.to_string())))
        }
    }
}
