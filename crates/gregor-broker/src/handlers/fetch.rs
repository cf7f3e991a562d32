//! Fetch: whole batches from each partition's log, within the request's byte
//! limits. A fetch with less than `min_bytes` parks until an append to one of
//! its partitions wakes it, or `max_wait_ms` passes (the fetch purgatory).
//!
//! Fetch sessions (KIP-227) are not kept: every response has session id 0,
//! which tells clients to keep sending full fetch requests.

use super::code;
use crate::replica_manager::ConsumerRead;
use crate::server::Broker;
use bytes::Bytes;
use kafka_protocol::messages::fetch_request::FetchTopic;
use kafka_protocol::messages::fetch_response::{
    AbortedTransaction, FetchableTopicResponse, PartitionData,
};
use kafka_protocol::messages::{FetchRequest, FetchResponse, TopicName};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// `isolation_level` of a read_committed consumer: data up to the last
/// stable offset, plus the aborted transactions to drop.
const READ_COMMITTED: i8 = 1;

/// Topic ids replace names in Fetch from this version on.
const TOPIC_ID_VERSION: i16 = 13;

pub async fn handle(broker: &Broker, request: FetchRequest, version: i16) -> FetchResponse {
    if request.session_id != 0 {
        return FetchResponse::default().with_error_code(code::FETCH_SESSION_ID_NOT_FOUND);
    }
    let deadline = Instant::now() + Duration::from_millis(request.max_wait_ms.max(0) as u64);
    let min_bytes = request.min_bytes.max(0) as usize;
    loop {
        // Register before reading so an append between the read and the
        // wait still wakes us (Notify keeps the permit).
        let woken = Arc::new(Notify::new());
        let (responses, total, any_error) = read_all(broker, &request, version, &woken);
        if total >= min_bytes || any_error || Instant::now() >= deadline {
            return FetchResponse::default().with_responses(responses);
        }
        if tokio::time::timeout_at(deadline, woken.notified())
            .await
            .is_err()
        {
            // Timed out: answer with what is there now.
            let (responses, _, _) = read_all(broker, &request, version, &woken);
            return FetchResponse::default().with_responses(responses);
        }
    }
}

fn read_all(
    broker: &Broker,
    request: &FetchRequest,
    version: i16,
    woken: &Arc<Notify>,
) -> (Vec<FetchableTopicResponse>, usize, bool) {
    let topics: &[FetchTopic] = &request.topics;
    let read_committed = request.isolation_level == READ_COMMITTED;
    let image = broker.controller.image();
    let mut budget = request.max_bytes.max(0) as usize;
    let mut total = 0usize;
    let mut any_error = false;
    let mut responses = Vec::with_capacity(topics.len());
    for topic in topics {
        let name: Option<String> = if version >= TOPIC_ID_VERSION {
            image.topic_by_id(&topic.topic_id).map(|t| t.name.clone())
        } else {
            Some(topic.topic.to_string())
        };
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for request in &topic.partitions {
            let base = PartitionData::default().with_partition_index(request.partition);
            let Some(name) = name.as_deref() else {
                any_error = true;
                partitions.push(
                    base.with_error_code(code::UNKNOWN_TOPIC_ID)
                        .with_high_watermark(-1),
                );
                continue;
            };
            let Some(partition) = broker.replicas.partition(name, request.partition) else {
                any_error = true;
                partitions.push(
                    base.with_error_code(code::UNKNOWN_TOPIC_OR_PARTITION)
                        .with_high_watermark(-1),
                );
                continue;
            };
            partition.add_waiter(woken);
            let limit = (request.partition_max_bytes.max(0) as usize).min(budget);
            // KIP-74: the first batch of the response is returned whole even
            // if it is over the limits, so consumers always make progress.
            let min_one = total == 0;
            match partition.read_for_consumer(request.fetch_offset, limit, min_one, read_committed)
            {
                Ok(ConsumerRead {
                    read,
                    last_stable_offset,
                    aborted,
                }) => {
                    let size = read.records.len();
                    total += size;
                    budget = budget.saturating_sub(size);
                    let aborted = aborted.map(|list| {
                        list.into_iter()
                            .map(|a| {
                                AbortedTransaction::default()
                                    .with_producer_id(a.producer_id.into())
                                    .with_first_offset(a.first_offset)
                            })
                            .collect()
                    });
                    partitions.push(
                        base.with_high_watermark(read.log_end_offset)
                            .with_last_stable_offset(last_stable_offset)
                            .with_log_start_offset(read.log_start_offset)
                            .with_aborted_transactions(aborted)
                            .with_records(Some(read.records)),
                    );
                }
                Err(err) => {
                    any_error = true;
                    let (start, end) = partition.offsets().unwrap_or((-1, -1));
                    let stable = partition.last_stable_offset().unwrap_or(end);
                    partitions.push(
                        base.with_error_code(err.error_code())
                            .with_high_watermark(end)
                            .with_last_stable_offset(stable)
                            .with_log_start_offset(start)
                            .with_records(Some(Bytes::new())),
                    );
                }
            }
        }
        responses.push(
            FetchableTopicResponse::default()
                .with_topic(TopicName(topic.topic.0.clone()))
                .with_topic_id(topic.topic_id)
                .with_partitions(partitions),
        );
    }
    (responses, total, any_error)
}
