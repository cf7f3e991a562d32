//! Produce: validate and append each partition's batches; acks=0 gets no
//! answer, acks=1 and acks=-1 are answered once the append is done (on a
//! single node the leader is the whole ISR).

use super::{code, str_bytes};
use crate::server::{now_ms, Broker};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};

pub fn handle(broker: &Broker, request: ProduceRequest, _version: i16) -> Option<ProduceResponse> {
    let acks = request.acks;
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
                base.with_error_code(code::INVALID_REQUIRED_ACKS)
            } else {
                append(
                    broker,
                    &topic.name,
                    data.index,
                    data.records.as_deref(),
                    acks,
                    now,
                    base,
                )
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
    Some(ProduceResponse::default().with_responses(responses))
}

fn append(
    broker: &Broker,
    topic: &str,
    index: i32,
    records: Option<&[u8]>,
    acks: i16,
    now: i64,
    base: PartitionProduceResponse,
) -> PartitionProduceResponse {
    let Some(partition) = broker.replicas.partition(topic, index) else {
        return base.with_error_code(code::UNKNOWN_TOPIC_OR_PARTITION);
    };
    if acks == -1 && partition.isr_size < partition.min_insync_replicas() {
        return base.with_error_code(code::NOT_ENOUGH_REPLICAS).with_error_message(Some(str_bytes(&format!(
            "The size of the current ISR {} is insufficient to satisfy the min.isr requirement of {}",
            partition.isr_size,
            partition.min_insync_replicas()
        ))));
    }
    let Some(records) = records else {
        return base
            .with_error_code(code::CORRUPT_MESSAGE)
            .with_error_message(Some(str_bytes("null records")));
    };
    match partition.append(records, now) {
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
