//! Internal topics that coordinators keep their state in (`__consumer_offsets`,
//! `__transaction_state`): created on first use, written as keyed record
//! batches (transactional ones for TxnOffsetCommit), read back in full,
//! markers included, when the broker starts.

use crate::clock::now_ms;
use crate::controller::Controller;
use crate::replica_manager::ReplicaManager;
use bytes::Bytes;
use gregor_metadata::controller::{ControllerError, NewTopic};
use gregor_protocol::compression::Compression;
use gregor_protocol::error_codes::TOPIC_ALREADY_EXISTS;
use gregor_protocol::records::{decode_batches, BatchBuilder};

/// Where consumer groups keep offsets and membership.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";
/// Where the transaction coordinator keeps transactional ids' state.
pub const TXN_TOPIC: &str = "__transaction_state";

/// Bytes asked for per read while replaying.
const REPLAY_CHUNK: usize = 4 * 1024 * 1024;

/// Kafka's partition for a coordinator key: `abs(key.hashCode()) % partitions`
/// with Java's `String.hashCode` (over UTF-16 code units).
pub fn partition_for(key: &str, partitions: i32) -> i32 {
    let hash = key
        .encode_utf16()
        .fold(0i32, |h, unit| h.wrapping_mul(31).wrapping_add(unit as i32));
    (hash & 0x7fff_ffff) % partitions.max(1)
}

/// Creates an internal topic (compacted, as Kafka's are) unless it exists.
pub fn ensure_topic(
    controller: &Controller,
    name: &str,
    partitions: i32,
) -> Result<(), ControllerError> {
    let topic = NewTopic {
        name: name.to_string(),
        num_partitions: partitions,
        replication_factor: 1,
        assignments: Vec::new(),
        configs: vec![
            ("cleanup.policy".to_string(), "compact".to_string()),
            ("compression.type".to_string(), "producer".to_string()),
            ("segment.bytes".to_string(), (100 * 1024 * 1024).to_string()),
        ],
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
    let now = now_ms();
    let mut batch = BatchBuilder::new(Compression::None);
    if let Some((producer_id, epoch)) = producer {
        // Coordinator writes carry no sequence, as Kafka's do.
        batch = batch.producer(producer_id, epoch, -1).transactional(true);
    }
    for (key, value) in records {
        batch.push(now, Some(key.clone()), value.clone(), Vec::new());
    }
    let info = target.append_as_coordinator(&batch.build()?, now)?;
    Ok(info.last_offset)
}

/// One item read back from an internal topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Replayed {
    /// A keyed record; `producer` is set for a transactional batch's record,
    /// which only counts once a commit marker of that producer follows.
    Record {
        key: Bytes,
        value: Option<Bytes>,
        producer: Option<i64>,
    },
    /// A transaction marker.
    Marker { producer_id: i64, commit: bool },
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
                        });
                    }
                    continue;
                }
                out.push(Replayed::Record {
                    key,
                    value: record.value,
                    producer,
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
