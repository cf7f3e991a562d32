//! Reads the partitions of one fetch within its byte limits. The records of
//! each partition are a range of a segment file; nothing is copied here.

use super::closest::{self, FetchClient};
use super::throttled;
use super::FetchTarget;
use crate::replica::leader::FollowerFetch;
use crate::replica_manager::{
    ConsumerRead, FollowerFetchCheck, FollowerRead, LeaderLookup, Partition, ReplicaManager,
};
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

/// Who fetches: a consumer reads up to the high watermark (or the last
/// stable offset), a follower up to the log end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    Consumer {
        read_committed: bool,
    },
    Follower {
        replica_id: i32,
        /// -1 before Fetch v15 (no ReplicaState).
        broker_epoch: i64,
    },
}

/// Kafka's `localLogWithEpochOrThrow` epoch check: a fetcher behind the
/// partition's leader epoch is fenced, one ahead of it is ahead of this
/// broker's metadata.
pub fn leader_epoch_error(requested: i32, current: i32) -> Option<i16> {
    if requested < 0 {
        None
    } else if requested < current {
        Some(error_codes::FENCED_LEADER_EPOCH)
    } else if requested > current {
        Some(error_codes::UNKNOWN_LEADER_EPOCH)
    } else {
        None
    }
}

/// Kafka's answer to a follower fetch from a broker that is not a replica
/// (`followerReplicaOrThrow`): with a leader epoch the pair is not known
/// yet (a reassignment may add it), without one the follower retries.
fn non_replica_error(current_leader_epoch: i32) -> i16 {
    if current_leader_epoch >= 0 {
        error_codes::UNKNOWN_LEADER_EPOCH
    } else {
        error_codes::NOT_LEADER_OR_FOLLOWER
    }
}

/// Whether `replica_id`'s broker may join the ISR: active, and registered
/// with the epoch its fetch carries (when it carries one).
fn isr_eligible(image: &MetadataImage, replica_id: i32, broker_epoch: i64) -> bool {
    image
        .brokers
        .get(&replica_id)
        .is_some_and(|b| b.is_active() && (broker_epoch < 0 || b.epoch == broker_epoch))
}

/// A follower's read of one partition this broker leads.
fn follower_read(
    partition: &Partition,
    image: &MetadataImage,
    target: &FetchTarget,
    reader: (i32, i64),
    limit: usize,
    min_one: bool,
) -> PartitionOut<FileSlice> {
    let (replica_id, broker_epoch) = reader;
    if !partition.leadership().replicas.contains(&replica_id) {
        return error_partition(
            target.partition,
            non_replica_error(target.current_leader_epoch),
        );
    }
    let with_offsets = |answer: PartitionOut<FileSlice>| {
        let (start, end) = partition.offsets().unwrap_or((-1, -1));
        PartitionOut {
            high_watermark: end,
            last_stable_offset: partition.last_stable_offset().unwrap_or(end),
            log_start_offset: start,
            ..answer
        }
    };
    match partition.check_follower_fetch(target.fetch_offset, target.last_fetched_epoch) {
        Ok(FollowerFetchCheck::Read) => {}
        Ok(FollowerFetchCheck::Diverging { epoch, end_offset }) => {
            return with_offsets(PartitionOut {
                diverging_epoch: Some((epoch, end_offset)),
                ..error_partition(target.partition, error_codes::NONE)
            });
        }
        Err(err) => return with_offsets(error_partition(target.partition, err.error_code())),
    }
    let fetch = FollowerFetch {
        replica_id,
        fetch_offset: target.fetch_offset,
        broker_epoch,
        eligible: isr_eligible(image, replica_id, broker_epoch),
    };
    let now = crate::clock::now_ms();
    match partition.read_for_follower(fetch, limit, min_one, now) {
        Ok(FollowerRead {
            read,
            high_watermark,
        }) => PartitionOut {
            partition_index: target.partition,
            error_code: error_codes::NONE,
            high_watermark,
            last_stable_offset: partition.last_stable_offset().unwrap_or(high_watermark),
            log_start_offset: read.log_start_offset,
            aborted_transactions: None,
            preferred_read_replica: -1,
            records: Some(read.records),
            diverging_epoch: None,
            current_leader: None,
        },
        Err(err) => with_offsets(error_partition(target.partition, err.error_code())),
    }
}

/// Reads every target, registering `woken` with each partition so an
/// append (or a high watermark change) wakes a fetch that decides to wait.
/// `max_bytes` bounds the whole response; KIP-74: the first batch is
/// returned whole even if it is over the limits, so fetchers always make
/// progress.
pub fn read_targets(
    replicas: &ReplicaManager,
    image: &MetadataImage,
    targets: &[FetchTarget],
    max_bytes: i32,
    reader: Reader,
    client: Option<&FetchClient>,
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
        // The epoch check comes first, as in Kafka, also where this
        // broker follows.
        let hosted_epoch = replicas
            .partition(name, target.partition)
            .map(|p| p.leader_epoch());
        if let Some(code) =
            hosted_epoch.and_then(|e| leader_epoch_error(target.current_leader_epoch, e))
        {
            result.read_error = true;
            result
                .partitions
                .push(error_partition(target.partition, code));
            continue;
        }
        let partition = match replicas.lookup_leader(image, name, target.partition) {
            LeaderLookup::Leader(partition) => partition,
            LeaderLookup::NotLeader { leader } => {
                if let Some(partition) =
                    closest::follower_copy(replicas, client, name, target.partition)
                {
                    partition
                } else {
                    // The client must go elsewhere: answer at once.
                    result.read_error = true;
                    let answer = PartitionOut {
                        current_leader: leader,
                        ..error_partition(target.partition, error_codes::NOT_LEADER_OR_FOLLOWER)
                    };
                    result.partitions.push(answer);
                    continue;
                }
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
        let read_committed = match reader {
            Reader::Consumer { read_committed } => read_committed,
            Reader::Follower {
                replica_id,
                broker_epoch,
            } => {
                let answer = follower_read(
                    &partition,
                    image,
                    target,
                    (replica_id, broker_epoch),
                    limit,
                    min_one,
                );
                let answer = throttled::limit(replicas.quotas(), &partition, replica_id, answer);
                if answer.error_code != error_codes::NONE || answer.diverging_epoch.is_some() {
                    result.read_error = true;
                }
                let size = answer.records.as_ref().map_or(0, |r| r.len());
                result.bytes += size;
                budget = budget.saturating_sub(size);
                result.partitions.push(answer);
                continue;
            }
        };
        let now = crate::clock::now_ms();
        if let Some(replica) =
            closest::preferred_read_replica(client, &partition, image, target.fetch_offset, now)
        {
            // As Kafka, a redirect is answered at once, not long-polled.
            result.read_error = true;
            let answer = closest::redirect(&partition, target.partition, replica);
            result.partitions.push(answer);
            continue;
        }
        let read = partition.read_for_consumer(target.fetch_offset, limit, min_one, read_committed);
        let answer = match read {
            Ok(ConsumerRead {
                read,
                high_watermark,
                last_stable_offset,
                aborted,
            }) => {
                let size = read.records.len();
                result.bytes += size;
                budget = budget.saturating_sub(size);
                PartitionOut {
                    partition_index: target.partition,
                    error_code: error_codes::NONE,
                    high_watermark,
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
