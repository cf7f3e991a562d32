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

pub fn handle(broker: &Broker, request: ListOffsetsRequest, version: i16) -> ListOffsetsResponse {
    let read_committed = request.isolation_level == READ_COMMITTED;
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
                    // Kafka checks the leader epoch first, also where this
                    // broker follows (KIP-320).
                    let hosted_epoch = broker
                        .replicas
                        .partition(&topic.name, p.partition_index)
                        .map(|h| h.leader_epoch());
                    if let Some(code) =
                        hosted_epoch.and_then(|e| leader_epoch_error(p.current_leader_epoch, e))
                    {
                        return base
                            .with_error_code(code)
                            .with_offset(-1)
                            .with_timestamp(-1);
                    }
                    let partition = match led_partition(broker, &topic.name, p.partition_index) {
                        Ok(partition) => partition,
                        Err(not_led) => {
                            return base
                                .with_error_code(not_led.code)
                                .with_offset(-1)
                                .with_timestamp(-1)
                        }
                    };
                    match lookup(&partition, p.timestamp, read_committed) {
                        Ok((offset, timestamp)) => base
                            .with_offset(offset)
                            .with_timestamp(timestamp)
                            .with_leader_epoch(if version >= LEADER_EPOCH_VERSION {
                                partition.leader_epoch()
                            } else {
                                -1
                            }),
                        Err(code) => base
                            .with_error_code(code)
                            .with_offset(-1)
                            .with_timestamp(-1),
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

/// (offset, timestamp) for one query; -1/-1 when nothing matches, as Kafka
/// answers. A read_committed consumer sees the log up to the last stable
/// offset only: "latest" is the LSO and lookups past it find nothing. A new
/// leader whose high watermark has not yet reached the start of its epoch
/// answers "latest", and lookups past what is readable, with
/// OFFSET_NOT_AVAILABLE (Kafka's `fetchOffsetForTimestamp`): the offsets
/// it would give could still be cut by the followers' catching up.
fn lookup(partition: &Partition, timestamp: i64, read_committed: bool) -> Result<(i64, i64), i16> {
    let found = lookup_log(partition, timestamp, read_committed).map_err(|e| e.error_code())?;
    let lagging = partition
        .leader_epoch_start_offset()
        .is_some_and(|start| start > partition.high_watermark());
    let beyond_readable = timestamp == LATEST || (timestamp >= MAX_TIMESTAMP && found.0 == -1);
    if lagging && timestamp != EARLIEST && timestamp != EARLIEST_LOCAL && beyond_readable {
        return Err(error_codes::OFFSET_NOT_AVAILABLE);
    }
    Ok(found)
}

fn lookup_log(
    partition: &Partition,
    timestamp: i64,
    read_committed: bool,
) -> Result<(i64, i64), LogError> {
    let (log_start, high_watermark) = partition.offsets()?;
    let last_fetchable = if read_committed {
        partition.last_stable_offset()?
    } else {
        high_watermark
    };
    let visible = |found: (i64, i64)| {
        if found.0 < last_fetchable {
            found
        } else {
            (-1, -1)
        }
    };
    Ok(match timestamp {
        LATEST => (last_fetchable, -1),
        EARLIEST | EARLIEST_LOCAL => (log_start, -1),
        MAX_TIMESTAMP => partition.max_timestamp()?.map_or((-1, -1), visible),
        ts if ts >= 0 => partition
            .offset_for_timestamp(ts)?
            .map_or((-1, -1), visible),
        // Tiered-storage queries: nothing is tiered here.
        _ => (-1, -1),
    })
}
