//! The cluster metadata model.
//!
//! Cluster state (brokers, topics, partitions, configs) is an ordered log of
//! metadata changes, each one raft entry holding a batch of
//! [`MetadataRecord`]s ([`encode_batch`]); applying them in order, each at
//! its entry's offset ([`MetadataImage::apply_entry`]), yields a
//! [`MetadataImage`]. The controller's decisions are pure functions from an
//! image and a request to the records to append, so they can be tested
//! without sockets, files or clocks: topics and configs ([`controller`]),
//! broker membership with explicit time ([`membership`]), leader/ISR
//! elections ([`election`]) and ISR changes ([`alter_partition`]).

pub mod acl;
pub mod acl_control;
pub mod alter_partition;
pub mod client_quota;
pub mod controller;
pub mod election;
pub mod elr;
pub mod image;
pub mod leadership;
pub mod membership;
pub mod partition_change;
mod placement;
pub mod reassignment;
pub mod record;
pub mod scram;
pub mod snapshot;
#[cfg(test)]
mod testing;
pub mod topic_config;

pub use image::{
    BrokerImage, ControllerImage, MetadataImage, PartitionImage, Reassignment, ScramCredential,
    TopicImage,
};
pub use record::{decode_batch, encode_batch, ConfigResource, Endpoint, MetadataRecord};
