//! An async Kafka-protocol client: connections, metadata, admin, produce and
//! fetch. Used by the CLI; talks to Gregor or Apache Kafka alike.

mod acls;
mod admin;
mod authorizer_settings;
mod client;
mod cluster;
mod connection;
mod connector;
mod data;
mod error;
mod groups;
pub mod partitioner;
mod partitions;
pub mod pem_key;
pub mod properties;
mod quotas;
pub mod sasl;
mod share_groups;
pub mod tls;
mod transactions;

#[cfg(test)]
mod fake_broker;

pub use admin::{NewTopic, TopicConfigs};
pub use client::{Client, PartitionInfo, TopicInfo};
pub use cluster::{ClusterDescription, ClusterNode, QuorumDescription, QuorumReplica};
pub use connection::{ConnectOptions, Connection, RequestBody, DEFAULT_REQUEST_TIMEOUT};
pub use connector::Connector;
pub use data::{FetchedPartition, EARLIEST, LATEST};
pub use error::{error_name, is_stale_metadata_code, KafkaError};
pub use groups::{decode_assignment, GroupDescription, GroupListing, GroupMember};
pub use partitions::{OngoingReassignment, PartitionOutcome, TopicPartitionList};
pub use quotas::{
    alter_client_quotas_request, describe_client_quotas_request, QuotaEntity, MATCH_ANY,
    MATCH_DEFAULT, MATCH_EXACT,
};
pub use sasl::SaslCredentials;
pub use share_groups::SharePartitionOffsets;
pub use transactions::{TransactionDescription, TransactionListing};
