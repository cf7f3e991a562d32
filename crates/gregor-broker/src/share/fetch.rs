//! The share-partition leader's side of ShareFetch and ShareAcknowledge
//! (Kafka's `SharePartitionManager`): acknowledgements, releases, and
//! acquiring records read from the log with the consumer fetch path, with a
//! long poll like Fetch's.

use super::batches;
use super::partitions::{persist, LoadedPartition, SharePartitions};
use super::session::{SessionKey, ShareSessionCache, TopicIdPartition};
use super::settings;
use crate::clock::now_ms;
use crate::fetch::read::{read_targets, Reader};
use crate::fetch::FetchTarget;
use crate::replica_manager::LeaderLookup;
use crate::server::Broker;
use bytes::Bytes;
use gregor_coordinator::share::partition::{AckBatch, AckRules, AcquireMode, AcquiredRange};
use gregor_coordinator::share::ShareKey;
use gregor_metadata::MetadataImage;
use gregor_protocol::error_codes;
use kafka_protocol::protocol::StrBytes;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Kafka's default `max.poll.records`, for requests that name none.
const DEFAULT_MAX_RECORDS: usize = 500;

pub struct ShareFetchService {
    pub sessions: std::sync::Mutex<ShareSessionCache>,
    pub partitions: SharePartitions,
}

/// What a fetch got from one share-partition.
#[derive(Clone, Debug, Default)]
pub struct Fetched {
    pub error_code: i16,
    /// The partition's leader (id, epoch) when this broker is not it.
    pub current_leader: Option<(i32, i32)>,
    pub records: Option<Bytes>,
    pub acquired: Vec<AcquiredRange>,
}

/// A ShareFetch's limits.
pub struct FetchLimits {
    pub max_wait_ms: i32,
    pub min_bytes: i32,
    pub max_bytes: i32,
    pub max_records: i32,
    /// ShareFetch v2's `ShareAcquireMode` (v1: batch-optimized).
    pub mode: AcquireMode,
}

impl ShareFetchService {
    pub fn new(max_sessions: i32) -> ShareFetchService {
        ShareFetchService {
            sessions: std::sync::Mutex::new(ShareSessionCache::new(
                usize::try_from(max_sessions.max(0)).unwrap_or(0),
            )),
            partitions: SharePartitions::default(),
        }
    }

    pub fn sessions(&self) -> std::sync::MutexGuard<'_, ShareSessionCache> {
        // A poisoned cache is still consistent: each step is one update.
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The leader's view of a share-partition: the log partition if this
/// broker leads it, else the error to answer (with the leader if known).
fn lead(
    broker: &Broker,
    image: &MetadataImage,
    tp: TopicIdPartition,
) -> Result<(String, Arc<crate::replica_manager::Partition>), Fetched> {
    let error = |error_code, current_leader| Fetched {
        error_code,
        current_leader,
        ..Fetched::default()
    };
    let Some(topic) = image.topic_by_id(&tp.0) else {
        return Err(error(error_codes::UNKNOWN_TOPIC_ID, None));
    };
    match broker.replicas.lookup_leader(image, &topic.name, tp.1) {
        LeaderLookup::Leader(p) => Ok((topic.name.clone(), p)),
        LeaderLookup::NotLeader { leader } => {
            Err(error(error_codes::NOT_LEADER_OR_FOLLOWER, leader))
        }
        LeaderLookup::Unknown => Err(error(error_codes::UNKNOWN_TOPIC_OR_PARTITION, None)),
    }
}

fn share_key(group_id: &str, tp: TopicIdPartition) -> ShareKey {
    ShareKey {
        group_id: group_id.to_string(),
        topic_id: tp.0,
        partition: tp.1,
    }
}

/// Applies a member's acknowledgements to one share-partition and writes
/// the result through the persister before returning its error code. A
/// share-partition this broker has not loaded is UNKNOWN_TOPIC_OR_PARTITION,
/// as in Kafka (nothing of it can be acquired).
pub async fn acknowledge(
    broker: &Broker,
    image: &MetadataImage,
    group_id: &str,
    member_id: &str,
    tp: TopicIdPartition,
    batches: &[AckBatch],
    rules: AckRules,
) -> Fetched {
    let log = match lead(broker, image, tp) {
        Ok((_, log)) => log,
        Err(fetched) => return fetched,
    };
    let key = share_key(group_id, tp);
    let Some(loaded) = broker.share_fetch.partitions.get(&key, log.leader_epoch()) else {
        return Fetched {
            error_code: error_codes::UNKNOWN_TOPIC_OR_PARTITION,
            ..Fetched::default()
        };
    };
    let mut state = loaded.state.lock().await;
    // Kafka rolls an acknowledgement back when its state cannot be written:
    // the member may retry, and nothing unwritten is acted on.
    let before = state.clone();
    let error_code = match state.acknowledge_with(member_id, batches, rules, now_ms()) {
        Ok(()) => match persist(&broker.share_persister, &key, &mut state).await {
            Ok(()) => error_codes::NONE,
            Err(code) => {
                *state = before;
                code
            }
        },
        Err(code) => code,
    };
    drop(state);
    loaded.wake_timer();
    loaded.wake_fetches();
    Fetched {
        error_code,
        ..Fetched::default()
    }
}

/// Gives back everything `member_id` holds in these share-partitions (its
/// share session closed or its connection dropped).
pub async fn release(broker: &Broker, key: &SessionKey, partitions: &[TopicIdPartition]) {
    let loaded = broker.share_fetch.partitions.of_group(&key.group_id);
    for partition in loaded {
        if !partitions.contains(&(partition.key.topic_id, partition.key.partition)) {
            continue;
        }
        let mut state = partition.state.lock().await;
        if state.release_member(&key.member_id) > 0 {
            if let Err(code) = persist(&broker.share_persister, &partition.key, &mut state).await {
                tracing::warn!(key = ?partition.key, code, "share state write after release failed");
            }
        }
        drop(state);
        partition.wake_timer();
        partition.wake_fetches();
    }
    // The group's last session here went: its share-partitions are
    // unloaded (their state is all written), as Kafka does when a group
    // empties on a broker.
    if !broker.share_fetch.sessions().has_group(&key.group_id) {
        broker.share_fetch.partitions.forget_group(&key.group_id);
    }
}

/// A member left its share group (or was fenced out of it): its share
/// session goes and its records in every share-partition of the group
/// this broker leads are released (Kafka's `ShareGroupListener`
/// `onMemberLeave`). For the group coordinator to call.
pub async fn member_left(broker: &Broker, group_id: &str, member_id: &str) {
    let key = SessionKey {
        group_id: group_id.to_string(),
        member_id: member_id.to_string(),
    };
    broker.share_fetch.sessions().remove(&key);
    let all: Vec<TopicIdPartition> = broker
        .share_fetch
        .partitions
        .of_group(group_id)
        .iter()
        .map(|p| (p.key.topic_id, p.key.partition))
        .collect();
    release(broker, &key, &all).await;
}

/// Releases the records of every share session of a connection that
/// closed.
pub async fn connection_closed(broker: &Broker, connection: SocketAddr) {
    let closed = broker.share_fetch.sessions().connection_closed(connection);
    for (key, partitions) in closed {
        tracing::debug!(?key, "share session closed with its connection");
        release(broker, &key, &partitions).await;
    }
}

/// Acquires records for `member_id` from `partitions`, waiting up to
/// `max_wait_ms` for any (Kafka answers once `min_bytes` are acquired or
/// the wait is over). The answer has one entry per partition, in order.
pub async fn fetch(
    broker: &Broker,
    group_id: &str,
    member_id: &str,
    partitions: &[TopicIdPartition],
    limits: &FetchLimits,
) -> Vec<Fetched> {
    let deadline = Instant::now() + Duration::from_millis(limits.max_wait_ms.max(0) as u64);
    let image = broker.controller.image();
    let group = settings::for_group(&image, group_id, &broker.config.group_share);
    let mut answers: Vec<Fetched> = Vec::with_capacity(partitions.len());
    let mut readable: Vec<Option<(String, Arc<LoadedPartition>)>> = Vec::new();
    for &tp in partitions {
        let loaded = match lead(broker, &image, tp) {
            Ok((name, log)) => broker
                .share_fetch
                .partitions
                .get_or_load(
                    &broker.share_persister,
                    &image,
                    &broker.config.group_share,
                    &share_key(group_id, tp),
                    &log,
                )
                .await
                .map(|loaded| (name, loaded))
                .map_err(|error_code| Fetched {
                    error_code,
                    ..Fetched::default()
                }),
            Err(fetched) => Err(fetched),
        };
        match loaded {
            Ok(loaded) => {
                loaded
                    .1
                    .state
                    .lock()
                    .await
                    .set_settings(group.partition.clone());
                answers.push(Fetched::default());
                readable.push(Some(loaded));
            }
            Err(fetched) => {
                answers.push(fetched);
                readable.push(None);
            }
        }
    }
    let min_bytes = usize::try_from(limits.min_bytes.max(1)).unwrap_or(1);
    let mut max_records = usize::try_from(limits.max_records)
        .ok()
        .filter(|m| *m > 0)
        .unwrap_or(DEFAULT_MAX_RECORDS);
    let mut budget = usize::try_from(limits.max_bytes.max(0)).unwrap_or(0);
    let mut acquired_bytes = 0usize;
    loop {
        // Registered before reading, so an append in between still wakes us.
        let woken = Arc::new(Notify::new());
        let image = broker.controller.image();
        for (answer, target) in answers.iter_mut().zip(&readable) {
            let Some((name, loaded)) = target else {
                continue;
            };
            if max_records == 0 {
                break;
            }
            let got = acquire_from(
                broker,
                &image,
                name,
                loaded,
                member_id,
                max_records,
                limits.mode,
                budget,
                group.read_committed,
                &woken,
            )
            .await;
            if got.error_code != error_codes::NONE {
                *answer = got;
                continue;
            }
            let taken: usize = got
                .acquired
                .iter()
                .map(|r| (r.last_offset - r.first_offset + 1) as usize)
                .sum();
            if taken == 0 {
                continue;
            }
            let size = got.records.as_ref().map_or(0, |r| r.len());
            max_records = max_records.saturating_sub(taken);
            budget = budget.saturating_sub(size);
            acquired_bytes += size;
            merge(answer, got);
        }
        if acquired_bytes >= min_bytes || max_records == 0 || Instant::now() >= deadline {
            return answers;
        }
        if tokio::time::timeout_at(deadline, woken.notified())
            .await
            .is_err()
            && acquired_bytes > 0
        {
            return answers;
        }
    }
}

/// Adds a later acquisition from the same partition to its answer.
fn merge(answer: &mut Fetched, got: Fetched) {
    match (&mut answer.records, got.records) {
        (Some(existing), Some(more)) => {
            let mut joined = existing.to_vec();
            joined.extend_from_slice(&more);
            *existing = Bytes::from(joined);
        }
        (slot, more) => *slot = more,
    }
    answer.acquired.extend(got.acquired);
}

/// One read from a share-partition's log at its next fetch offset, and
/// the acquisition of what it returned.
#[allow(clippy::too_many_arguments)]
async fn acquire_from(
    broker: &Broker,
    image: &MetadataImage,
    name: &str,
    loaded: &LoadedPartition,
    member_id: &str,
    max_records: usize,
    mode: AcquireMode,
    budget: usize,
    read_committed: bool,
    woken: &Arc<Notify>,
) -> Fetched {
    let mut state = loaded.state.lock().await;
    if let Some(log) = broker.replicas.partition(name, loaded.key.partition) {
        if let Ok((log_start, _)) = log.log_bounds() {
            state.advance_log_start(log_start);
        }
    }
    if !state.can_acquire() {
        loaded.wait_for_release(woken);
        return Fetched::default();
    }
    let target = FetchTarget {
        topic_id: loaded.key.topic_id,
        topic_name: Some(StrBytes::from_string(name.to_string())),
        partition: loaded.key.partition,
        fetch_offset: state.next_fetch_offset(),
        partition_max_bytes: i32::try_from(budget).unwrap_or(i32::MAX),
        current_leader_epoch: -1,
        last_fetched_epoch: -1,
    };
    let mut result = read_targets(
        &broker.replicas,
        image,
        &[target],
        i32::try_from(budget).unwrap_or(i32::MAX),
        Reader::Consumer { read_committed },
        None,
        woken,
    );
    let Some(read) = result.partitions.pop() else {
        return Fetched::default();
    };
    if read.error_code != error_codes::NONE {
        return Fetched {
            error_code: read.error_code,
            current_leader: read.current_leader,
            ..Fetched::default()
        };
    }
    let Some(bytes) = read.records.and_then(|r| r.to_vec().ok()) else {
        loaded.wait_for_release(woken);
        return Fetched::default();
    };
    let found = batches::parse(&bytes);
    let (Some(first), Some(last)) = (found.first(), found.last()) else {
        loaded.wait_for_release(woken);
        return Fetched::default();
    };
    if let Some(aborted) = read.aborted_transactions.as_deref() {
        for (from, to) in batches::aborted_ranges(&found, aborted) {
            state.archive_undelivered(from, to);
        }
    }
    let batch_lasts: Vec<i64> = found.iter().map(|b| b.last_offset).collect();
    let acquired = state.acquire_in_mode(
        member_id,
        first.base_offset,
        last.last_offset,
        max_records,
        mode,
        &batch_lasts,
        now_ms(),
    );
    if let Err(code) = persist(&broker.share_persister, &loaded.key, &mut state).await {
        tracing::warn!(key = ?loaded.key, code, "share state write after acquisition failed");
    }
    drop(state);
    let (Some(from), Some(to)) = (acquired.first(), acquired.last()) else {
        loaded.wait_for_release(woken);
        return Fetched::default();
    };
    loaded.wake_timer();
    // Only the batches holding acquired offsets go back.
    let (from, to) = (from.first_offset, to.last_offset);
    let kept: Vec<&batches::BatchInfo> = found
        .iter()
        .filter(|b| b.last_offset >= from && b.base_offset <= to)
        .collect();
    let records = match (kept.first(), kept.last()) {
        (Some(a), Some(b)) => Bytes::copy_from_slice(&bytes[a.position..b.position + b.size]),
        _ => Bytes::new(),
    };
    Fetched {
        error_code: error_codes::NONE,
        current_leader: None,
        records: Some(records),
        acquired,
    }
}
