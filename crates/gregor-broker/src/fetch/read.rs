//! Reads the partitions of one fetch within its byte limits. The records of
//! each partition are a range of a segment file; nothing is copied here.

use super::FetchTarget;
use crate::replica_manager::{ConsumerRead, LeaderLookup, ReplicaManager};
use gregor_log::FileSlice;
use gregor_metadata::MetadataImage;
use gregor_protocol::error_codes;
use gregor_protocol::fetch_response::PartitionOut;
use std::sync::Arc;
use tokio::sync::Notify;

/// One fetch's reads, one partition answer per target, in target order.
pub struct ReadResult {
    pub partitions: Vec<PartitionOut<FileSlice>>,
    /// Record bytes read, to compare with `min_bytes`.
    pub bytes: usize,
    /// A log read failed; the fetch answers at once instead of waiting.
    pub read_error: bool,
    /// Targets naming a partition this broker has. Unknown topics and
    /// partitions are answered with their error but, as in Kafka, do not
    /// cut a long poll short unless nothing else can be read.
    pub found: usize,
}

/// A partition answer carrying only an error, as Kafka writes them.
pub fn error_partition(partition: i32, error_code: i16) -> PartitionOut<FileSlice> {
    PartitionOut {
        partition_index: partition,
        error_code,
        high_watermark: -1,
        last_stable_offset: -1,
        log_start_offset: -1,
        aborted_transactions: None,
        preferred_read_replica: -1,
        records: Some(FileSlice::empty()),
        diverging_epoch: None,
        current_leader: None,
    }
}

/// Reads every target, registering `woken` with each partition so an
/// append wakes a fetch that decides to wait. `max_bytes` bounds the whole
/// response; KIP-74: the first batch is returned whole even if it is over
/// the limits, so consumers always make progress.
pub fn read_targets(
    replicas: &ReplicaManager,
    image: &MetadataImage,
    targets: &[FetchTarget],
    max_bytes: i32,
    read_committed: bool,
    woken: &Arc<Notify>,
) -> ReadResult {
    let mut budget = max_bytes.max(0) as usize;
    let mut result = ReadResult {
        partitions: Vec::with_capacity(targets.len()),
        bytes: 0,
        read_error: false,
        found: 0,
    };
    for target in targets {
        let Some(name) = target.topic_name.as_deref() else {
            let answer = error_partition(target.partition, error_codes::UNKNOWN_TOPIC_ID);
            result.partitions.push(answer);
            continue;
        };
        let partition = match replicas.lookup_leader(image, name, target.partition) {
            LeaderLookup::Leader(partition) => partition,
            LeaderLookup::NotLeader { leader } => {
                // The client must go elsewhere: answer at once.
                result.read_error = true;
                let answer = PartitionOut {
                    current_leader: leader,
                    ..error_partition(target.partition, error_codes::NOT_LEADER_OR_FOLLOWER)
                };
                result.partitions.push(answer);
                continue;
            }
            LeaderLookup::Unknown => {
                let code = error_codes::UNKNOWN_TOPIC_OR_PARTITION;
                result
                    .partitions
                    .push(error_partition(target.partition, code));
                continue;
            }
        };
        result.found += 1;
        partition.add_waiter(woken);
        let limit = (target.partition_max_bytes.max(0) as usize).min(budget);
        let min_one = result.bytes == 0;
        let read = partition.read_for_consumer(target.fetch_offset, limit, min_one, read_committed);
        let answer = match read {
            Ok(ConsumerRead {
                read,
                last_stable_offset,
                aborted,
            }) => {
                let size = read.records.len();
                result.bytes += size;
                budget = budget.saturating_sub(size);
                PartitionOut {
                    partition_index: target.partition,
                    error_code: error_codes::NONE,
                    high_watermark: read.log_end_offset,
                    last_stable_offset,
                    log_start_offset: read.log_start_offset,
                    aborted_transactions: aborted.map(|list| {
                        list.iter()
                            .map(|a| (a.producer_id, a.first_offset))
                            .collect()
                    }),
                    preferred_read_replica: -1,
                    records: Some(read.records),
                    diverging_epoch: None,
                    current_leader: None,
                }
            }
            Err(err) => {
                result.read_error = true;
                let (start, end) = partition.offsets().unwrap_or((-1, -1));
                let stable = partition.last_stable_offset().unwrap_or(end);
                PartitionOut {
                    high_watermark: end,
                    last_stable_offset: stable,
                    log_start_offset: start,
                    ..error_partition(target.partition, err.error_code())
                }
            }
        };
        result.partitions.push(answer);
    }
    result
}
