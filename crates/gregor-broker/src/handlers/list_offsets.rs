//! ListOffsets: earliest, latest, max timestamp, and the first offset at or
//! after a timestamp.

use crate::fetch::read::leader_epoch_error;
use crate::handlers::leader_hint::led_partition;
use crate::replica_manager::Partition;
use crate::server::Broker;
use gregor_log::LogError;
use gregor_protocol::error_codes;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;
/// `isolation_level` of a read_committed consumer.
const READ_COMMITTED: i8 = 1;

/// ListOffsets v4 added the leader epoch; older versions must leave it unset.
const LEADER_EPOCH_VERSION: i16 = 4;

/// The replica id consumers send; brokers send their own id, tools -2.
const CONSUMER_REPLICA_ID: i32 = -1;
/// The leader epoch of an answer that found nothing.
const NO_EPOCH: i32 = -1;

/// Who asks: a consumer reads up to the high watermark (or the last stable
/// offset), a broker or a debugging tool up to the log end (Kafka's
/// `isolationLevel = None`).
#[derive(Clone, Copy)]
enum Isolation {
    Replica,
    Consumer { read_committed: bool },
}

pub fn handle(broker: &Broker, request: ListOffsetsRequest, version: i16) -> ListOffsetsResponse {
    let isolation = if request.replica_id.0 == CONSUMER_REPLICA_ID {
        Isolation::Consumer {
            read_committed: request.isolation_level == READ_COMMITTED,
        }
    } else {
        Isolation::Replica
    };
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let base = ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index);
                    let failed = |code: i16| {
                        base.clone()
                            .with_error_code(code)
                            .with_offset(-1)
                            .with_timestamp(-1)
                    };
                    // KIP-320: a client whose metadata is older or newer
                    // than ours is told so first, also where this broker
                    // follows (Kafka checks the epoch, then leadership).
                    let hosted_epoch = broker
                        .replicas
                        .partition(&topic.name, p.partition_index)
                        .map(|h| h.leader_epoch());
                    if let Some(code) =
                        hosted_epoch.and_then(|e| leader_epoch_error(p.current_leader_epoch, e))
                    {
                        return failed(code);
                    }
                    let partition = match led_partition(broker, &topic.name, p.partition_index) {
                        Ok(partition) => partition,
                        Err(not_led) => return failed(not_led.code),
                    };
                    match lookup(&partition, p.timestamp, isolation) {
                        Ok(Ok((offset, timestamp, epoch))) => base
                            .with_offset(offset)
                            .with_timestamp(timestamp)
                            .with_leader_epoch(if version >= LEADER_EPOCH_VERSION {
                                epoch
                            } else {
                                NO_EPOCH
                            }),
                        Ok(Err(code)) => failed(code),
                        Err(err) => failed(err.error_code()),
                    }
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}

/// (offset, timestamp, leader epoch) for one query; -1/-1/-1 when nothing
/// matches, as Kafka answers. "Latest" carries the current leader epoch,
/// other answers the epoch of the batch they point into. A read_committed
/// consumer sees the log up to the last stable offset only: "latest" is
/// the LSO and lookups past it find nothing. Right after a leader change
/// the new leader's high watermark may lag behind the start of its epoch;
/// until it catches up, consumers get OFFSET_NOT_AVAILABLE for "latest" and
/// for lookups past what they may read (Kafka's `maybeOffsetsError`).
fn lookup(
    partition: &Partition,
    timestamp: i64,
    isolation: Isolation,
) -> Result<Result<(i64, i64, i32), i16>, LogError> {
    let (log_start, log_end) = partition.log_bounds()?;
    let high_watermark = partition.high_watermark().min(log_end);
    let last_fetchable = match isolation {
        Isolation::Replica => log_end,
        Isolation::Consumer {
            read_committed: true,
        } => partition.last_stable_offset()?,
        Isolation::Consumer {
            read_committed: false,
        } => high_watermark,
    };
    let lagging = matches!(isolation, Isolation::Consumer { .. })
        && partition
            .leader_epoch_start_offset()
            .is_some_and(|start| start > high_watermark);
    let epoch_at = |offset: i64| -> Result<i32, LogError> {
        Ok(partition.epoch_for_offset(offset)?.unwrap_or(NO_EPOCH))
    };
    let found = |found: Option<(i64, i64)>| -> Result<Result<(i64, i64, i32), i16>, LogError> {
        match found {
            Some((offset, timestamp)) if offset < last_fetchable => {
                Ok(Ok((offset, timestamp, epoch_at(offset)?)))
            }
            _ if lagging => Ok(Err(error_codes::OFFSET_NOT_AVAILABLE)),
            _ => Ok(Ok((-1, -1, NO_EPOCH))),
        }
    };
    match timestamp {
        LATEST if lagging => Ok(Err(error_codes::OFFSET_NOT_AVAILABLE)),
        LATEST => Ok(Ok((last_fetchable, -1, partition.leader_epoch()))),
        EARLIEST | EARLIEST_LOCAL => Ok(Ok((log_start, -1, epoch_at(log_start)?))),
        MAX_TIMESTAMP => found(partition.max_timestamp()?),
        ts if ts >= 0 => found(partition.offset_for_timestamp(ts)?),
        // Tiered-storage queries: nothing is tiered here.
        _ => Ok(Ok((-1, -1, NO_EPOCH))),
    }
}
