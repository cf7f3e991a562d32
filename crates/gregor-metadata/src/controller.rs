//! The controller's decisions: pure functions from the current image and a
//! request to the records that carry it out, or the Kafka error to answer.

use crate::{MetadataImage, MetadataRecord};
use uuid::Uuid;

/// A refusal, with the Kafka error code the Java controller returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerError {
    pub code: i16,
    pub message: String,
}

/// Cluster-wide defaults the controller applies (`num.partitions`,
/// `default.replication.factor`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicDefaults {
    pub num_partitions: i32,
    pub replication_factor: i16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTopic {
    pub name: String,
    /// -1: use the default.
    pub num_partitions: i32,
    /// -1: use the default.
    pub replication_factor: i16,
    /// Explicit replica assignment per partition; when non-empty the two
    /// counts above must be -1 (INVALID_REQUEST otherwise).
    pub assignments: Vec<(i32, Vec<i32>)>,
    pub configs: Vec<(String, String)>,
}

/// Decides a topic creation: validates the name (INVALID_TOPIC_EXCEPTION),
/// existence (TOPIC_ALREADY_EXISTS), partition count (INVALID_PARTITIONS),
/// replication factor vs live brokers (INVALID_REPLICATION_FACTOR), explicit
/// assignments (INVALID_REPLICA_ASSIGNMENT) and configs (INVALID_CONFIG).
/// `new_id` is the topic id to use (callers pass a random UUID).
pub fn create_topic(image: &MetadataImage, topic: &NewTopic, defaults: TopicDefaults, new_id: Uuid) -> Result<Vec<MetadataRecord>, ControllerError> {
    let _ = (image, topic, defaults, new_id);
    todo!("gregor-metadata: create topic")
}

/// Decides a topic deletion (UNKNOWN_TOPIC_OR_PARTITION if absent).
pub fn delete_topic(image: &MetadataImage, name: &str) -> Result<Vec<MetadataRecord>, ControllerError> {
    let _ = (image, name);
    todo!("gregor-metadata: delete topic")
}

/// Decides growing a topic to `count` partitions (INVALID_PARTITIONS if not
/// larger, UNKNOWN_TOPIC_OR_PARTITION if absent, INVALID_REPLICA_ASSIGNMENT
/// for bad explicit assignments of the new partitions).
pub fn create_partitions(image: &MetadataImage, name: &str, count: i32, assignments: &[Vec<i32>]) -> Result<Vec<MetadataRecord>, ControllerError> {
    let _ = (image, name, count, assignments);
    todo!("gregor-metadata: create partitions")
}

/// Decides replacing/setting/deleting topic configs (`None` deletes).
pub fn alter_topic_configs(image: &MetadataImage, name: &str, changes: &[(String, Option<String>)]) -> Result<Vec<MetadataRecord>, ControllerError> {
    let _ = (image, name, changes);
    todo!("gregor-metadata: alter topic configs")
}
