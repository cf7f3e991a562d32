//! KRaft, Kafka's pull-based Raft (KIP-595 with KIP-996 pre-vote), as a
//! sans-IO state machine.
//!
//! [`Node`] takes received messages, ticks with an explicit `now_ms` and
//! client appends, and answers with [`Output`]s: quorum state to persist,
//! log appends/truncations to apply and messages to send, in the order the
//! driver must carry them out (a `Persist` comes before the sends that rely
//! on it). It owns no clock, no randomness but a seeded [`Rng`], no sockets
//! and no files, so a simulator can drive several nodes deterministically.
//!
//! [`wire`] maps the messages to Kafka's RPCs and [`records`] the entries
//! //! to record batches. A log may start after a snapshot (KIP-630): the node
//! keeps the latest one's bytes, answers a Fetch below its log start with
//! the snapshot id and serves the bytes in chunks with FetchSnapshot.

mod config;
mod election;
mod fetch;
mod fetch_snapshot;
mod log;
mod messages;
mod node;
pub mod records;
mod rng;
mod state;
pub mod store;
pub mod wire;

pub use config::QuorumConfig;
pub use log::{EpochEndOffset, LogEntry, MemLog, Payload, Snapshot};
pub use messages::{FetchError, FetchResponse, FetchSnapshotResponse, Message};
pub use node::{LeaderProgress, Node, Output, ReplicaProgress, SnapshotRefused};
pub use rng::Rng;
pub use state::{QuorumState, Role};

/// A node (replica) id, as `node.id` in Kafka.
pub type NodeId = i32;

#[cfg(test)]
mod tests;
