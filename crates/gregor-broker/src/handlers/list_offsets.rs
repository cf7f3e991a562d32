//! ListOffsets: earliest, latest, max timestamp, and the first offset at or
//! after a timestamp.

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
                    let Some(partition) = broker.replicas.partition(&topic.name, p.partition_index)
                    else {
                        return base
                            .with_error_code(error_codes::UNKNOWN_TOPIC_OR_PARTITION)
                            .with_offset(-1)
                            .with_timestamp(-1);
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
                        Err(err) => base
                            .with_error_code(err.error_code())
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
/// offset only: "latest" is the LSO and lookups past it find nothing.
fn lookup(
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
