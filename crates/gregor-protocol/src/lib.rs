//! Kafka wire protocol for Gregor.
//!
//! Message types come from the `kafka-protocol` crate; this crate adds what it
//! lacks for a broker: frame handling, request decoding with Kafka's error
//! semantics, a zero-copy view of RecordBatch headers with in-place patching,
//! compression codecs and a record codec that keeps headers as an ordered list.
//!
//! It knows nothing about sockets or files.

#[cfg(target_os = "linux")]
pub mod alloc_guard;
pub mod batch;
pub mod compression;
pub mod error_codes;
pub mod fetch_response;
pub mod frame;
pub mod generated;
mod record_wire;
pub mod records;
pub mod request;
mod varint;
pub mod write_txn_markers_v2;

pub use kafka_protocol;
