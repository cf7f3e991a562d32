//! Fetch apart from the wire: which partitions a fetch reads and how they
//! are read into a response whose records stay in the segment files.

pub mod closest;
pub mod read;
pub mod session;
pub mod session_cache;
pub mod throttled;

use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

/// One partition a fetch reads, with the request's parameters for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchTarget {
    /// Nil up to Fetch v12, where topics are named.
    pub topic_id: Uuid,
    /// `None` when a v13+ topic id names no topic (UNKNOWN_TOPIC_ID).
    pub topic_name: Option<StrBytes>,
    pub partition: i32,
    pub fetch_offset: i64,
    pub partition_max_bytes: i32,
    /// The leader epoch the fetcher knows (-1: not checked, KIP-320).
    pub current_leader_epoch: i32,
    /// A follower's epoch of its last fetched batch (-1: none), for the
    /// diverging-epoch check.
    pub last_fetched_epoch: i32,
}

/// Shared test fixtures for the session modules.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::FetchTarget;
    use bytes::Bytes;
    use gregor_protocol::error_codes;
    use gregor_protocol::fetch_response::PartitionOut;
    use kafka_protocol::protocol::StrBytes;
    use uuid::Uuid;

    pub fn target(topic: &'static str, partition: i32, offset: i64) -> FetchTarget {
        FetchTarget {
            topic_id: Uuid::nil(),
            topic_name: Some(StrBytes::from_static_str(topic)),
            partition,
            fetch_offset: offset,
            partition_max_bytes: 1000,
            current_leader_epoch: -1,
            last_fetched_epoch: -1,
        }
    }

    /// A partition's answer with `records` bytes of data.
    pub fn answer(partition: i32, hw: i64, records: usize) -> PartitionOut<Bytes> {
        PartitionOut {
            partition_index: partition,
            error_code: error_codes::NONE,
            high_watermark: hw,
            last_stable_offset: hw,
            log_start_offset: 0,
            aborted_transactions: None,
            preferred_read_replica: -1,
            diverging_epoch: None,
            current_leader: None,
            records: Some(Bytes::from(vec![0u8; records])),
        }
    }
}
