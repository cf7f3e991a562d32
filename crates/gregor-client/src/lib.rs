//! An async Kafka-protocol client: connections, metadata, admin, produce and
//! fetch. Used by the CLI; talks to Gregor or Apache Kafka alike.

mod connection;
mod error;
pub mod partitioner;

mod client;
mod groups;

pub use groups::{GroupDescription, GroupListing, GroupMember};

pub use client::{Client, PartitionInfo, TopicInfo};
pub use connection::Connection;
pub use error::{error_name, KafkaError};
