//! Share groups (KIP-932, "queues for Kafka"): the pieces that are pure
//! state — the `group.share.*` settings and the durable state of a
//! share-partition as the persister stores it (Kafka's `Persister` API and
//! the `__share_group_state` records carry the same fields).

pub mod config;
pub mod coordinator;
pub mod partition;
pub mod state;

pub use config::ShareGroupConfig;
pub use state::{DeliveryState, PersistedBatch, PersistedShareState, ShareKey};
