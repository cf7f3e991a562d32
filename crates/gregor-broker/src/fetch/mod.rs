//! Fetch apart from the wire: which partitions a fetch reads and how they
//! are read into a response whose records stay in the segment files.

pub mod read;
pub mod session;
pub mod session_cache;

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
}
