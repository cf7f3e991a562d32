//! The cluster metadata model.
//!
//! Cluster state (brokers, topics, partitions, configs) is an ordered log of
//! [`MetadataRecord`]s; applying them in order yields a [`MetadataImage`].
//! The controller's decisions ([`controller`]) are pure functions from an
//! image and a request to the records to append, so they can be tested
//! without sockets, files or clocks.

pub mod controller;
pub mod image;
mod placement;
pub mod record;
pub mod topic_config;

pub use image::{BrokerImage, MetadataImage, PartitionImage, TopicImage};
pub use record::{ConfigResource, MetadataRecord};
