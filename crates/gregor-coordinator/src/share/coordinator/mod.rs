//! The share coordinator (KIP-932): the durable state of share-partitions,
//! kept in `__share_group_state` as Kafka 4.4 keeps it. Pure: requests in,
//! records and answers out; the broker edge appends, waits for the commit
//! and replays.

pub mod combiner;
pub mod records;
pub mod shard;

#[cfg(test)]
mod sim_tests;
#[cfg(test)]
mod tests;

pub use records::{ShareRecord, SnapshotValue, UpdateValue};
pub use shard::{
    ReadAnswer, ShareCoordinatorShard, ShareStateError, SummaryAnswer, TopicLookup, WriteRequest,
    DEFAULT_UPDATES_PER_SNAPSHOT, READ_UNINITIALIZED,
};

/// The coordinator key Kafka hashes to find a share-partition's state
/// partition (`SharePartitionKey.asCoordinatorKey`): `group:topicId:partition`
/// with the topic id in Kafka's base64 form.
pub fn coordinator_key(key: &crate::share::ShareKey) -> String {
    format!(
        "{}:{}:{}",
        key.group_id,
        kafka_uuid_string(&key.topic_id),
        key.partition
    )
}

/// Kafka's `Uuid.toString`: URL-safe base64 of the 16 bytes, no padding.
pub fn kafka_uuid_string(id: &uuid::Uuid) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = id.as_bytes();
    let mut out = String::with_capacity(22);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}
