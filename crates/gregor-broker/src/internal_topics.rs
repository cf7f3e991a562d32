//! Internal topics that coordinators keep their state in (`__consumer_offsets`,
//! `__transaction_state`): created on first use, written as keyed record
//! batches (transactional ones for TxnOffsetCommit), committed (acks=all)
//! before a coordinator answers, read back in full, markers included, when
//! a coordinator partition is loaded.

use crate::clock::now_ms;
use crate::controller::Controller;
use crate::replica::leader::AckState;
use crate::replica_manager::{Progress, ReplicaManager};
use bytes::Bytes;
use gregor_metadata::controller::{ControllerError, NewTopic};
use gregor_metadata::MetadataImage;
use gregor_protocol::compression::Compression;
use gregor_protocol::error_codes::{
    self, COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR, TOPIC_ALREADY_EXISTS,
};
use gregor_protocol::records::{decode_batches, BatchBuilder};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::watch;

/// Where consumer groups keep offsets and membership.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";
/// Where the transaction coordinator keeps transactional ids' state.
pub const TXN_TOPIC: &str = "__transaction_state";

/// Bytes asked for per read while replaying.
const REPLAY_CHUNK: usize = 4 * 1024 * 1024;

/// Kafka's partition for a coordinator key: `Utils.abs(key.hashCode()) % partitions`
/// with Java's `String.hashCode` (over UTF-16 code units). `Utils.abs` is
/// `Math.abs` with `Integer.MIN_VALUE` mapped to 0, not a mask of the sign bit:
/// for a negative hash the two give different partitions, and clients of a
/// mixed or migrated cluster must find the same coordinator as Kafka's.
pub fn partition_for(key: &str, partitions: i32) -> i32 {
    let hash = key
        .encode_utf16()
        .fold(0i32, |h, unit| h.wrapping_mul(31).wrapping_add(unit as i32));
    let abs = if hash == i32::MIN { 0 } else { hash.abs() };
    abs % partitions.max(1)
}

/// Creates an internal topic (compacted, as Kafka's are) unless it exists,
/// with `replication_factor` replicas (refused, as Kafka refuses it, while
/// fewer brokers are registered) and, when given, its own
/// `min.insync.replicas`.
pub fn ensure_topic(
    controller: &Controller,
    name: &str,
    partitions: i32,
    replication_factor: i16,
    min_insync_replicas: Option<i32>,
) -> Result<(), ControllerError> {
    if controller.image().topic(name).is_some() {
        return Ok(());
    }
    let mut configs = vec![
        ("cleanup.policy".to_string(), "compact".to_string()),
        ("compression.type".to_string(), "producer".to_string()),
        ("segment.bytes".to_string(), (100 * 1024 * 1024).to_string()),
    ];
    if let Some(min_isr) = min_insync_replicas {
        configs.push(("min.insync.replicas".to_string(), min_isr.to_string()));
    }
    let topic = NewTopic {
        name: name.to_string(),
        num_partitions: partitions,
        replication_factor,
        assignments: Vec::new(),
        configs,
    };
    match controller.create_topic(&topic, false) {
        Ok(_) => Ok(()),
        Err(e) if e.code == TOPIC_ALREADY_EXISTS => Ok(()),
        Err(e) => Err(e),
    }
}

/// Appends keyed records (a `None` value is a tombstone) as one batch.
pub fn append(
    replicas: &ReplicaManager,
    topic: &str,
    partition: i32,
    records: &[(Bytes, Option<Bytes>)],
) -> anyhow::Result<i64> {
    append_batch(replicas, topic, partition, records, None)
}

/// Appends keyed records as one transactional batch of a producer (a
/// TxnOffsetCommit): they count once the transaction's marker follows.
pub fn append_transactional(
    replicas: &ReplicaManager,
    topic: &str,
    partition: i32,
    records: &[(Bytes, Option<Bytes>)],
    producer_id: i64,
    producer_epoch: i16,
) -> anyhow::Result<i64> {
    append_batch(
        replicas,
        topic,
        partition,
        records,
        Some((producer_id, producer_epoch)),
    )
}

fn append_batch(
    replicas: &ReplicaManager,
    topic: &str,
    partition: i32,
    records: &[(Bytes, Option<Bytes>)],
    producer: Option<(i64, i16)>,
) -> anyhow::Result<i64> {
    let target = replicas
        .partition(topic, partition)
        .ok_or_else(|| anyhow::anyhow!("{topic}-{partition} is not hosted here"))?;
    let info = target.append_as_coordinator(&build_batch(records, producer)?, now_ms())?;
    Ok(info.last_offset)
}

/// The error a coordinator answers for a failed write of its records, as
/// Kafka's coordinators map them: a lost leadership or broken log means
/// "ask the new coordinator", a write that could not be replicated in time
/// means "try again later"; any other refusal is the broker's own fault.
pub fn coordinator_error(code: i16) -> i16 {
    match code {
        error_codes::NOT_LEADER_OR_FOLLOWER
        | error_codes::KAFKA_STORAGE_ERROR
        | NOT_COORDINATOR => NOT_COORDINATOR,
        error_codes::NOT_ENOUGH_REPLICAS
        | error_codes::NOT_ENOUGH_REPLICAS_AFTER_APPEND
        | error_codes::REQUEST_TIMED_OUT
        | error_codes::UNKNOWN_TOPIC_OR_PARTITION
        | COORDINATOR_NOT_AVAILABLE => COORDINATOR_NOT_AVAILABLE,
        // INVALID_FETCH_SIZE (4) is in Kafka's list too.
        error_codes::MESSAGE_TOO_LARGE | error_codes::RECORD_LIST_TOO_LARGE | 4 => {
            error_codes::UNKNOWN_SERVER_ERROR
        }
        other => other,
    }
}

/// Records appended to the leader's log, not yet known to be committed.
/// Coordinators append under their shard's lock (so records reach the log
/// in the order the state machine made them) and wait for the commit
/// after releasing it.
#[must_use = "the records are not committed until waited for"]
pub struct PendingCommit {
    last_offset: i64,
    progress: watch::Receiver<Progress>,
}

impl PendingCommit {
    /// The offset of the last record appended.
    pub fn last_offset(&self) -> i64 {
        self.last_offset
    }

    /// Waits until the high watermark passes the records (acks=all);
    /// the error is already mapped by [`coordinator_error`].
    pub async fn wait(mut self, timeout: Duration) -> Result<i64, i16> {
        let required = self.last_offset + 1;
        let settled = |p: &Progress| p.ack_state(required) != Some(AckState::Waiting);
        // An error only means the partition is gone: decided below.
        let _ = tokio::time::timeout(timeout, self.progress.wait_for(settled)).await;
        let state = self.progress.borrow().ack_state(required);
        match state {
            Some(AckState::Done) => Ok(self.last_offset),
            Some(AckState::DoneUnderMinIsr) => Err(coordinator_error(
                error_codes::NOT_ENOUGH_REPLICAS_AFTER_APPEND,
            )),
            Some(AckState::Waiting) => Err(coordinator_error(error_codes::REQUEST_TIMED_OUT)),
            None => Err(NOT_COORDINATOR),
        }
    }
}

/// Appends keyed records (a `None` value is a tombstone) as one batch at
/// the partition's leader, as a transactional batch of `producer` when
/// set. Refused with NOT_COORDINATOR when this broker does not lead the
/// partition (or no longer at `leader_epoch`, when given: the shard was
/// loaded at another epoch), COORDINATOR_NOT_AVAILABLE when the ISR is
/// below `min.insync.replicas` or the partition is not hosted here.
pub fn append_local(
    replicas: &ReplicaManager,
    topic: &str,
    partition: i32,
    leader_epoch: Option<i32>,
    records: &[(Bytes, Option<Bytes>)],
    producer: Option<(i64, i16)>,
) -> Result<PendingCommit, i16> {
    let Some(target) = replicas.partition(topic, partition) else {
        return Err(coordinator_error(error_codes::UNKNOWN_TOPIC_OR_PARTITION));
    };
    let progress = target.progress();
    if !progress.borrow().leading {
        return Err(NOT_COORDINATOR);
    }
    if leader_epoch.is_some_and(|epoch| epoch != target.leader_epoch()) {
        return Err(NOT_COORDINATOR);
    }
    if target.isr_size() < target.effective_min_insync_replicas() {
        return Err(coordinator_error(error_codes::NOT_ENOUGH_REPLICAS));
    }
    let batch = build_batch(records, producer).map_err(|err| {
        tracing::error!(topic, partition, %err, "cannot encode coordinator records");
        error_codes::UNKNOWN_SERVER_ERROR
    })?;
    match target.append_as_coordinator(&batch, now_ms()) {
        Ok(info) => Ok(PendingCommit {
            last_offset: info.last_offset,
            progress,
        }),
        Err(err) => {
            tracing::warn!(topic, partition, %err, "coordinator append refused");
            Err(coordinator_error(err.error_code()))
        }
    }
}

/// A wait for records this leader appended earlier (up to `last_offset`)
/// to be committed: an answer that wrote nothing itself may still depend
/// on them, as Kafka's runtime defers such answers. `None` when the
/// partition is not hosted here.
pub fn pending_at(
    replicas: &ReplicaManager,
    topic: &str,
    partition: i32,
    last_offset: i64,
) -> Option<PendingCommit> {
    let progress = replicas.partition(topic, partition)?.progress();
    Some(PendingCommit {
        last_offset,
        progress,
    })
}

/// The partitions of an internal topic this broker leads in `image`, with
/// their leader epochs: the image names this node leader and the local
/// replica has taken the leadership at that epoch (after `reconcile`).
pub fn led_partitions(
    image: &MetadataImage,
    replicas: &ReplicaManager,
    topic: &str,
    node_id: i32,
) -> BTreeMap<i32, i32> {
    let Some(state) = image.topic(topic) else {
        return BTreeMap::new();
    };
    state
        .partitions
        .iter()
        .filter(|(_, p)| p.leader == node_id)
        .filter(|(&index, p)| {
            replicas.partition(topic, index).is_some_and(|local| {
                local.leader_epoch() == p.leader_epoch && local.progress().borrow().leading
            })
        })
        .map(|(&index, p)| (index, p.leader_epoch))
        .collect()
}

/// [`append_local`] then [`PendingCommit::wait`]: the last offset once
/// the records are committed. Do not hold a shard lock across it.
pub async fn append_committed(
    replicas: &ReplicaManager,
    topic: &str,
    partition: i32,
    records: &[(Bytes, Option<Bytes>)],
    producer: Option<(i64, i16)>,
    timeout: Duration,
) -> Result<i64, i16> {
    append_local(replicas, topic, partition, None, records, producer)?
        .wait(timeout)
        .await
}

fn build_batch(
    records: &[(Bytes, Option<Bytes>)],
    producer: Option<(i64, i16)>,
) -> anyhow::Result<Vec<u8>> {
    let now = now_ms();
    let mut batch = BatchBuilder::new(Compression::None);
    if let Some((producer_id, epoch)) = producer {
        // Coordinator writes carry no sequence, as Kafka's do.
        batch = batch.producer(producer_id, epoch, -1).transactional(true);
    }
    for (key, value) in records {
        batch.push(now, Some(key.clone()), value.clone(), Vec::new());
    }
    Ok(batch.build()?.to_vec())
}

/// One item read back from an internal topic. `batch_end` is the last
/// offset of its batch: a batch is replicated, and so committed, whole
/// (the high watermark moves by followers' fetches, which end at batch
/// boundaries), so a loading coordinator compares that with the high
/// watermark to tell committed items from the rest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Replayed {
    /// A keyed record; `producer` is set for a transactional batch's record,
    /// which only counts once a commit marker of that producer follows.
    Record {
        key: Bytes,
        value: Option<Bytes>,
        producer: Option<i64>,
        batch_end: i64,
    },
    /// A transaction marker.
    Marker {
        producer_id: i64,
        commit: bool,
        batch_end: i64,
    },
}

/// Control record key: int16 version, int16 type (0 abort, 1 commit).
fn marker_kind(key: &[u8]) -> Option<bool> {
    match key {
        [_, _, 0, 0] => Some(false),
        [_, _, 0, 1] => Some(true),
        _ => None,
    }
}

/// Every record and marker of one partition, oldest first.
pub fn replay(
    replicas: &ReplicaManager,
    topic: &str,
    partition: i32,
) -> anyhow::Result<Vec<Replayed>> {
    let Some(source) = replicas.partition(topic, partition) else {
        return Ok(Vec::new());
    };
    let (start, end) = source.log_bounds()?;
    let mut next = start;
    let mut out = Vec::new();
    while next < end {
        let read = source.read(next, REPLAY_CHUNK, true)?;
        let before = next;
        for batch in decode_batches(&read.records)? {
            let header = &batch.header;
            let producer = header.is_transactional().then_some(header.producer_id);
            let batch_end = header.last_offset();
            for record in batch.records {
                if record.offset < next {
                    continue;
                }
                next = record.offset + 1;
                let Some(key) = record.key else { continue };
                if header.is_control() {
                    if let Some(commit) = marker_kind(&key) {
                        out.push(Replayed::Marker {
                            producer_id: header.producer_id,
                            commit,
                            batch_end,
                        });
                    }
                    continue;
                }
                out.push(Replayed::Record {
                    key,
                    value: record.value,
                    producer,
                    batch_end,
                });
            }
            next = next.max(header.last_offset() + 1);
        }
        if next == before {
            anyhow::bail!("{topic}-{partition}: replay stuck at offset {next}");
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_match_kafkas_string_hash() {
        // Java: "group-a".hashCode() = 293427347.
        assert_eq!(partition_for("group-a", 50), 293427347 % 50);
        assert_eq!(partition_for("", 50), 0);
        // Java: "my-consumer-group".hashCode() = 1513705513 -> partition 13 of 50.
        assert_eq!(partition_for("my-consumer-group", 50), 13);
        // A negative hash: Kafka 4.4 put the group "eos-0fd86a-librdkafka-group-76"
        // (hashCode -1625069097) on __consumer_offsets-47; masking the sign bit gives 1.
        assert_eq!(partition_for("eos-0fd86a-librdkafka-group-76", 50), 47);
        // Java "my-group".hashCode() = -1906497762 -> 1906497762 % 50 = 12.
        assert_eq!(partition_for("my-group", 50), 12);
        // Java: "polygenelubricants".hashCode() == Integer.MIN_VALUE; Utils.abs gives 0.
        assert_eq!(partition_for("polygenelubricants", 50), 0);
        for key in [
            "x",
            "my-consumer-group",
            "ünïcode",
            "a-very-long-group-name-that-overflows-the-hash",
        ] {
            let p = partition_for(key, 50);
            assert!((0..50).contains(&p));
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
#[path = "internal_topics_commit_tests.rs"]
mod commit_tests;
