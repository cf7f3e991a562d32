//! The controller's decisions: pure functions from the current image and a
//! request to the records that carry it out, or the Kafka error to answer.
//! Checks run in the order Kafka's `ReplicationControlManager` runs them, so
//! a request with several faults gets the same error code as from Kafka.

use crate::election::NO_LEADER;
use crate::placement::{active_isr, check_manual, place};
use crate::{topic_config, ConfigResource, MetadataImage, MetadataRecord};
use gregor_protocol::error_codes;
use std::collections::BTreeMap;
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

/// Kafka's cap on the records one user operation may produce
/// (`QuorumController.MAX_RECORDS_PER_USER_OP`). It also keeps a request for
/// two billion partitions from exhausting memory.
pub const MAX_RECORDS_PER_USER_OP: usize = 10_000;

/// The metadata log's own topic, which users may never create.
pub const CLUSTER_METADATA_TOPIC: &str = "__cluster_metadata";

const MAX_TOPIC_NAME_LENGTH: usize = 249;

fn refuse(code: i16, message: impl Into<String>) -> ControllerError {
    ControllerError {
        code,
        message: message.into(),
    }
}

fn too_large() -> ControllerError {
    refuse(
        error_codes::POLICY_VIOLATION,
        "Unable to perform excessively large batch operation.",
    )
}

/// Kafka's topic name rules: 1-249 characters of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub fn validate_topic_name(name: &str) -> Result<(), ControllerError> {
    let why = if name.is_empty() {
        "the empty string is not allowed".to_string()
    } else if name == "." {
        "'.' is not allowed".to_string()
    } else if name == ".." {
        "'..' is not allowed".to_string()
    } else if name.encode_utf16().count() > MAX_TOPIC_NAME_LENGTH {
        // Java counts UTF-16 units; the character check below rejects
        // anything non-ASCII anyway, this only picks the same message.
        format!(
            "the length of '{name}' is longer than the max allowed length {MAX_TOPIC_NAME_LENGTH}"
        )
    } else if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        format!("'{name}' contains one or more characters other than ASCII alphanumerics, '.', '_' and '-'")
    } else {
        return Ok(());
    };
    Err(refuse(
        error_codes::INVALID_TOPIC_EXCEPTION,
        format!("Topic name is invalid: {why}"),
    ))
}

/// Kafka's metric names fold '.' into '_', so two names equal after folding
/// would collide.
fn colliding_topic<'a>(image: &'a MetadataImage, name: &str) -> Option<&'a str> {
    if !name.contains(['.', '_']) {
        return None;
    }
    let folded = name.replace('.', "_");
    image
        .topics
        .keys()
        .find(|other| other.contains(['.', '_']) && other.replace('.', "_") == folded)
        .map(String::as_str)
}

/// Validates configs and returns them in canonical form (INVALID_CONFIG).
fn canonical_configs(
    configs: impl IntoIterator<Item = (String, Option<String>)>,
    mut merged: BTreeMap<String, String>,
) -> Result<Vec<(String, Option<String>)>, ControllerError> {
    let invalid = |m: String| refuse(error_codes::INVALID_CONFIG, m);
    let mut changes = Vec::new();
    for (key, value) in configs {
        let value = match value {
            Some(v) => Some(topic_config::canonical(&key, &v).map_err(invalid)?),
            None if topic_config::find(&key).is_none() => {
                return Err(invalid(format!("Unknown topic config name: {key}")))
            }
            None => None,
        };
        match &value {
            Some(v) => merged.insert(key.clone(), v.clone()),
            None => merged.remove(&key),
        };
        changes.push((key, value));
    }
    topic_config::validate_combination(&merged).map_err(invalid)?;
    Ok(changes)
}

/// Placement for a topic without explicit assignments.
fn automatic_assignment(
    image: &MetadataImage,
    topic: &NewTopic,
    defaults: TopicDefaults,
    extra_records: usize,
) -> Result<Vec<(i32, Vec<i32>)>, ControllerError> {
    if topic.replication_factor == 0 || topic.replication_factor < -1 {
        return Err(refuse(
            error_codes::INVALID_REPLICATION_FACTOR,
            "Replication factor must be larger than 0, or -1 to use the default value.",
        ));
    }
    if topic.num_partitions == 0 || topic.num_partitions < -1 {
        return Err(refuse(
            error_codes::INVALID_PARTITIONS,
            "Number of partitions was set to an invalid non-positive value.",
        ));
    }
    let partitions = match topic.num_partitions {
        -1 => defaults.num_partitions,
        n => n,
    };
    let replication = match topic.replication_factor {
        -1 => defaults.replication_factor,
        n => n,
    };
    // Only a misconfigured default can get here with a non-positive count.
    if partitions <= 0 {
        return Err(refuse(
            error_codes::INVALID_PARTITIONS,
            "Number of partitions was set to an invalid non-positive value.",
        ));
    }
    if partitions as usize > MAX_RECORDS_PER_USER_OP.saturating_sub(extra_records) {
        return Err(too_large());
    }
    place(image, 0, partitions, replication).map_err(|why| {
        refuse(
            error_codes::INVALID_REPLICATION_FACTOR,
            format!("Unable to replicate the partition {replication} time(s): {why}"),
        )
    })
}

/// Checks an explicit assignment of a new topic.
fn manual_assignment(
    image: &MetadataImage,
    topic: &NewTopic,
) -> Result<Vec<(i32, Vec<i32>)>, ControllerError> {
    if topic.replication_factor != -1 {
        return Err(refuse(
            error_codes::INVALID_REQUEST,
            "A manual partition assignment was specified, but replication factor was not set to -1.",
        ));
    }
    if topic.num_partitions != -1 {
        return Err(refuse(
            error_codes::INVALID_REQUEST,
            "A manual partition assignment was specified, but numPartitions was not set to -1.",
        ));
    }
    let invalid = |m: String| refuse(error_codes::INVALID_REPLICA_ASSIGNMENT, m);
    let mut by_partition = BTreeMap::new();
    let mut replication = None;
    for (partition, replicas) in &topic.assignments {
        if by_partition.contains_key(partition) {
            return Err(invalid(format!(
                "Found multiple manual partition assignments for partition {partition}"
            )));
        }
        check_manual(image, replicas, replication).map_err(invalid)?;
        check_active(image, *partition, replicas)?;
        replication = Some(replicas.len());
        by_partition.insert(*partition, replicas.clone());
    }
    // Distinct keys that are exactly 0..n-1 iff the largest is n-1 and the smallest 0.
    let consecutive = by_partition.keys().next() == Some(&0)
        && by_partition.keys().next_back().copied() == Some(by_partition.len() as i32 - 1);
    if !consecutive {
        return Err(invalid(
            "partitions should be a consecutive 0-based integer sequence".into(),
        ));
    }
    Ok(by_partition.into_iter().collect())
}

/// Partition records for new partitions: the ISR is the active replicas
/// (fenced and shutting-down ones join later, via AlterPartition), the
/// first of which leads, at leader and partition epoch 0.
fn partition_records(
    image: &MetadataImage,
    topic_id: Uuid,
    assignments: Vec<(i32, Vec<i32>)>,
) -> Vec<MetadataRecord> {
    assignments
        .into_iter()
        .map(|(partition, replicas)| {
            let isr = active_isr(image, &replicas);
            MetadataRecord::Partition {
                topic_id,
                partition,
                // Placement always leads with an active broker and manual
                // assignments are checked to have one; -1 is Kafka's "no leader".
                leader: isr.first().copied().unwrap_or(NO_LEADER),
                isr,
                replicas,
                leader_epoch: 0,
                partition_epoch: 0,
                elr: Vec::new(),
                last_known_elr: Vec::new(),
            }
        })
        .collect()
}

/// Kafka refuses a manual assignment without an active replica to lead.
fn check_active(
    image: &MetadataImage,
    partition: i32,
    replicas: &[i32],
) -> Result<(), ControllerError> {
    if active_isr(image, replicas).is_empty() {
        return Err(refuse(
            error_codes::INVALID_REPLICA_ASSIGNMENT,
            format!("All brokers specified in the manual partition assignment for partition {partition} are fenced or in controlled shutdown."),
        ));
    }
    Ok(())
}

/// Decides a topic creation: validates the name (INVALID_TOPIC_EXCEPTION),
/// existence (TOPIC_ALREADY_EXISTS), partition count (INVALID_PARTITIONS),
/// replication factor vs live brokers (INVALID_REPLICATION_FACTOR), explicit
/// assignments (INVALID_REPLICA_ASSIGNMENT) and configs (INVALID_CONFIG).
/// `new_id` is the topic id to use (callers pass a random UUID).
///
/// The records are a TopicRecord, then its configs (canonical values, see
/// [`topic_config::canonical`]), then one PartitionRecord per partition, as
/// Kafka orders them.
pub fn create_topic(
    image: &MetadataImage,
    topic: &NewTopic,
    defaults: TopicDefaults,
    new_id: Uuid,
) -> Result<Vec<MetadataRecord>, ControllerError> {
    validate_topic_name(&topic.name)?;
    if image.topic(&topic.name).is_some() {
        return Err(refuse(
            error_codes::TOPIC_ALREADY_EXISTS,
            format!("Topic '{}' already exists.", topic.name),
        ));
    }
    if let Some(other) = colliding_topic(image, &topic.name) {
        return Err(refuse(
            error_codes::INVALID_TOPIC_EXCEPTION,
            format!(
                "Topic '{}' collides with existing topic: {other}",
                topic.name
            ),
        ));
    }
    if topic.name == CLUSTER_METADATA_TOPIC {
        return Err(refuse(
            error_codes::INVALID_REQUEST,
            format!("Creation of internal topic {CLUSTER_METADATA_TOPIC} is prohibited."),
        ));
    }
    let configs = canonical_configs(
        topic
            .configs
            .iter()
            .map(|(k, v)| (k.clone(), Some(v.clone()))),
        BTreeMap::new(),
    )?;
    let extra_records = 1 + configs.len();
    let assignments = if topic.assignments.is_empty() {
        automatic_assignment(image, topic, defaults, extra_records)?
    } else {
        manual_assignment(image, topic)?
    };
    if assignments.len() + extra_records > MAX_RECORDS_PER_USER_OP {
        return Err(too_large());
    }

    let mut records = Vec::with_capacity(assignments.len() + extra_records);
    records.push(MetadataRecord::Topic {
        name: topic.name.clone(),
        id: new_id,
    });
    records.extend(
        configs
            .into_iter()
            .map(|(name, value)| MetadataRecord::Config {
                resource: ConfigResource::Topic(topic.name.clone()),
                name,
                value,
            }),
    );
    records.extend(partition_records(image, new_id, assignments));
    Ok(records)
}

/// A topic of a CreateTopics: its new id, or why it was refused.
pub type TopicOutcome = Result<Uuid, ControllerError>;

/// Decides the topics of one CreateTopics together, as Kafka's controller
/// does: each topic is checked alone (its own error), and the records of
/// those that pass form one metadata change, so the request is committed
/// (and fsynced) once. Kafka bounds that change to
/// [`MAX_RECORDS_PER_USER_OP`] records: beyond it the whole request fails
/// (POLICY_VIOLATION). `new_id` gives each topic its id.
pub fn create_topics(
    image: &MetadataImage,
    topics: &[NewTopic],
    defaults: TopicDefaults,
    mut new_id: impl FnMut() -> Uuid,
) -> Result<(Vec<MetadataRecord>, Vec<TopicOutcome>), ControllerError> {
    let mut records = Vec::new();
    let mut results = Vec::with_capacity(topics.len());
    for topic in topics {
        let id = new_id();
        match create_topic(image, topic, defaults, id) {
            Ok(created) => {
                records.extend(created);
                results.push(Ok(id));
            }
            Err(err) => results.push(Err(err)),
        }
        if records.len() > MAX_RECORDS_PER_USER_OP {
            return Err(too_large());
        }
    }
    Ok((records, results))
}

fn unknown_topic(name: &str) -> ControllerError {
    refuse(
        error_codes::UNKNOWN_TOPIC_OR_PARTITION,
        format!("This server does not host this topic-partition: {name}"),
    )
}

/// Decides a topic deletion (UNKNOWN_TOPIC_OR_PARTITION if absent).
pub fn delete_topic(
    image: &MetadataImage,
    name: &str,
) -> Result<Vec<MetadataRecord>, ControllerError> {
    let topic = image.topic(name).ok_or_else(|| unknown_topic(name))?;
    Ok(vec![MetadataRecord::RemoveTopic { id: topic.id }])
}

/// Decides growing a topic to `count` partitions (INVALID_PARTITIONS if not
/// larger, UNKNOWN_TOPIC_OR_PARTITION if absent, INVALID_REPLICA_ASSIGNMENT
/// for bad explicit assignments of the new partitions).
pub fn create_partitions(
    image: &MetadataImage,
    name: &str,
    count: i32,
    assignments: Option<&[Vec<i32>]>,
) -> Result<Vec<MetadataRecord>, ControllerError> {
    let topic = image.topic(name).ok_or_else(|| unknown_topic(name))?;
    let current = topic.partitions.len() as i32;
    if count == current {
        return Err(refuse(
            error_codes::INVALID_PARTITIONS,
            format!("Topic already has {current} partition(s)."),
        ));
    }
    if count < current {
        return Err(refuse(
            error_codes::INVALID_PARTITIONS,
            format!(
                "The topic {name} currently has {current} partition(s); {count} would not be an increase."
            ),
        ));
    }
    let added = count - current;
    if let Some(assignments) = assignments {
        if assignments.len() != added as usize {
            return Err(refuse(
                error_codes::INVALID_REPLICA_ASSIGNMENT,
                format!(
                    "Attempted to add {added} additional partition(s), but only {} assignment(s) were specified.",
                    assignments.len()
                ),
            ));
        }
    }
    if added as usize > MAX_RECORDS_PER_USER_OP {
        return Err(too_large());
    }
    let Some(first) = topic.partitions.values().next() else {
        return Err(refuse(
            error_codes::UNKNOWN_SERVER_ERROR,
            format!("Invalid state: topic {name} appears to have no partitions."),
        ));
    };
    let replication = first.replicas.len();
    let new_assignments = match assignments {
        Some(assignments) => {
            for (partition, replicas) in (current..count).zip(assignments) {
                check_manual(image, replicas, Some(replication))
                    .map_err(|m| refuse(error_codes::INVALID_REPLICA_ASSIGNMENT, m))?;
                check_active(image, partition, replicas)?;
            }
            (current..count).zip(assignments.iter().cloned()).collect()
        }
        None => {
            let replication = i16::try_from(replication).unwrap_or(i16::MAX);
            place(image, current, added, replication)
                .map_err(|m| refuse(error_codes::INVALID_REPLICATION_FACTOR, m))?
        }
    };
    Ok(partition_records(image, topic.id, new_assignments))
}

/// Decides replacing/setting/deleting topic configs (`None` deletes).
/// Values are validated and stored in canonical form; the topic's resulting
/// configs must also pass the cross-config checks (INVALID_CONFIG).
pub fn alter_topic_configs(
    image: &MetadataImage,
    name: &str,
    changes: &[(String, Option<String>)],
) -> Result<Vec<MetadataRecord>, ControllerError> {
    let topic = image.topic(name).ok_or_else(|| unknown_topic(name))?;
    let changes = canonical_configs(changes.iter().cloned(), topic.configs.clone())?;
    let records = changes
        .into_iter()
        .map(|(key, value)| MetadataRecord::Config {
            resource: ConfigResource::Topic(name.to_string()),
            name: key,
            value,
        })
        .collect();
    Ok(crate::elr::with_min_isr_effects(image, records))
}

/// Records for dynamic broker config changes (`None` removes a key); the
/// broker validates names and values against Kafka's rules first.
pub fn alter_broker_configs(
    resource: &ConfigResource,
    changes: &[(String, Option<String>)],
) -> Result<Vec<MetadataRecord>, ControllerError> {
    let too_long = |s: &str| s.len() > crate::record::MAX_STRING_BYTES;
    if changes
        .iter()
        .any(|(k, v)| too_long(k) || v.as_deref().is_some_and(too_long))
    {
        return Err(too_large());
    }
    Ok(changes
        .iter()
        .map(|(key, value)| MetadataRecord::Config {
            resource: resource.clone(),
            name: key.clone(),
            value: value.clone(),
        })
        .collect())
}

/// Producer ids are handed to brokers in blocks this large, as Kafka does,
/// so the metadata log grows by one record per thousand producers.
pub const PRODUCER_ID_BLOCK_SIZE: i64 = 1000;

/// Decides the next block of producer ids for `broker`: ids
/// `[image.next_producer_id, image.next_producer_id + PRODUCER_ID_BLOCK_SIZE)`.
pub fn allocate_producer_ids(image: &MetadataImage, broker: i32) -> (i64, Vec<MetadataRecord>) {
    let start = image.next_producer_id;
    let record = MetadataRecord::ProducerIds {
        broker,
        next_producer_id: start + PRODUCER_ID_BLOCK_SIZE,
    };
    (start, vec![record])
}

#[cfg(test)]
mod producer_id_tests {
    use super::*;

    #[test]
    fn blocks_never_overlap() {
        let mut image = MetadataImage::default();
        let (first, records) = allocate_producer_ids(&image, 1);
        for r in &records {
            image.apply(0, r);
        }
        let (second, _) = allocate_producer_ids(&image, 1);
        assert_eq!(first, 0);
        assert_eq!(second, PRODUCER_ID_BLOCK_SIZE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gregor_protocol::error_codes::{
        INVALID_CONFIG, INVALID_PARTITIONS, INVALID_REPLICATION_FACTOR, INVALID_REPLICA_ASSIGNMENT,
        INVALID_REQUEST, INVALID_TOPIC_EXCEPTION, POLICY_VIOLATION, UNKNOWN_TOPIC_OR_PARTITION,
    };

    const DEFAULTS: TopicDefaults = TopicDefaults {
        num_partitions: 2,
        replication_factor: 1,
    };

    fn cluster(brokers: i32) -> MetadataImage {
        crate::testing::cluster(&(1..=brokers).collect::<Vec<_>>())
    }

    fn new_topic(name: &str, partitions: i32, rf: i16) -> NewTopic {
        NewTopic {
            name: name.into(),
            num_partitions: partitions,
            replication_factor: rf,
            assignments: vec![],
            configs: vec![],
        }
    }

    fn manual(name: &str, assignments: Vec<(i32, Vec<i32>)>) -> NewTopic {
        NewTopic {
            assignments,
            ..new_topic(name, -1, -1)
        }
    }

    fn apply(image: &mut MetadataImage, records: &[MetadataRecord]) {
        let offset = image.next_offset;
        image.apply_entry(offset, records);
    }

    fn create(
        image: &MetadataImage,
        topic: NewTopic,
    ) -> Result<Vec<MetadataRecord>, ControllerError> {
        create_topic(image, &topic, DEFAULTS, Uuid::from_u128(9))
    }

    fn code_of(image: &MetadataImage, topic: NewTopic) -> i16 {
        create(image, topic).unwrap_err().code
    }

    #[test]
    fn creates_with_defaults_and_round_robin_leaders() {
        let mut image = cluster(3);
        let records = create_topic(
            &image,
            &new_topic("t", -1, -1),
            DEFAULTS,
            Uuid::from_u128(1),
        )
        .unwrap();
        apply(&mut image, &records);
        let topic = image.topic("t").unwrap();
        assert_eq!(topic.partitions.len(), 2);
        assert_eq!(topic.id, Uuid::from_u128(1));
        let records =
            create_topic(&image, &new_topic("u", 3, 3), DEFAULTS, Uuid::from_u128(2)).unwrap();
        apply(&mut image, &records);
        let u = image.topic("u").unwrap();
        let leaders: Vec<i32> = u.partitions.values().map(|p| p.leader).collect();
        assert_eq!(leaders, vec![1, 2, 3]);
        assert_eq!(u.partitions[&1].replicas, vec![2, 3, 1]);
        assert!(u
            .partitions
            .values()
            .all(|p| p.isr == p.replicas && p.leader_epoch == 0 && p.partition_epoch == 0));
    }

    #[test]
    fn a_request_is_one_change_with_per_topic_errors_and_a_record_cap() {
        let mut image = cluster(1);
        let records = create(&image, new_topic("exists", 1, 1)).unwrap();
        apply(&mut image, &records);
        let mut ids = (10..).map(Uuid::from_u128);
        let (records, results) = create_topics(
            &image,
            &[
                new_topic("a", 3, 1),
                new_topic("exists", 1, 1),
                new_topic("b", 2, 1),
            ],
            DEFAULTS,
            || ids.next().unwrap(),
        )
        .unwrap();
        assert_eq!(results[0], Ok(Uuid::from_u128(10)));
        assert_eq!(
            results[1].as_ref().unwrap_err().code,
            error_codes::TOPIC_ALREADY_EXISTS
        );
        assert_eq!(results[2], Ok(Uuid::from_u128(12)));
        // Topic, 3 partitions, topic, 2 partitions: one change.
        assert_eq!(records.len(), 7);
        apply(&mut image, &records);
        assert_eq!(image.topic("a").unwrap().partitions.len(), 3);
        assert_eq!(image.topic("b").unwrap().partitions.len(), 2);

        // Each topic fits alone; together they exceed Kafka's record cap.
        let half = (MAX_RECORDS_PER_USER_OP / 2) as i32;
        let err = create_topics(
            &image,
            &[new_topic("c", half, 1), new_topic("d", half, 1)],
            DEFAULTS,
            Uuid::new_v4,
        )
        .unwrap_err();
        assert_eq!(err.code, POLICY_VIOLATION);
        assert_eq!(
            err.message,
            "Unable to perform excessively large batch operation."
        );
    }

    #[test]
    fn records_come_in_kafkas_order_with_canonical_configs() {
        let image = cluster(1);
        let mut topic = new_topic("t", 1, 1);
        topic.configs = vec![("retention.ms".into(), " 1000 ".into())];
        let records = create(&image, topic).unwrap();
        assert!(matches!(records[0], MetadataRecord::Topic { .. }));
        assert_eq!(
            records[1],
            MetadataRecord::Config {
                resource: ConfigResource::Topic("t".into()),
                name: "retention.ms".into(),
                value: Some("1000".into()),
            }
        );
        assert!(matches!(records[2], MetadataRecord::Partition { .. }));
        assert_eq!(records.len(), 3);
    }

    #[test]
    fn topic_names_follow_kafkas_rules() {
        let image = cluster(1);
        for bad in ["", ".", "..", "a/b", "a b", "é"] {
            let err = create(&image, new_topic(bad, 1, 1)).unwrap_err();
            assert_eq!(err.code, INVALID_TOPIC_EXCEPTION, "{bad:?}");
            assert!(
                err.message.starts_with("Topic name is invalid: "),
                "{err:?}"
            );
        }
        assert_eq!(
            code_of(&image, new_topic(&"x".repeat(250), 1, 1)),
            INVALID_TOPIC_EXCEPTION
        );
        assert!(create(&image, new_topic(&"x".repeat(249), 1, 1)).is_ok());
        assert!(create(&image, new_topic("a-Z_0.9", 1, 1)).is_ok());
        assert_eq!(
            code_of(&image, new_topic(CLUSTER_METADATA_TOPIC, 1, 1)),
            INVALID_REQUEST
        );
    }

    #[test]
    fn existing_and_colliding_names_are_refused() {
        let mut image = cluster(1);
        let records = create(&image, new_topic("a.b", 1, 1)).unwrap();
        apply(&mut image, &records);
        let err = create(&image, new_topic("a.b", 1, 1)).unwrap_err();
        assert_eq!(
            (err.code, err.message.as_str()),
            (36, "Topic 'a.b' already exists.")
        );
        let err = create(&image, new_topic("a_b", 1, 1)).unwrap_err();
        assert_eq!(err.code, INVALID_TOPIC_EXCEPTION);
        assert_eq!(err.message, "Topic 'a_b' collides with existing topic: a.b");
        assert!(create(&image, new_topic("ab", 1, 1)).is_ok());
    }

    #[test]
    fn counts_and_replication_factors_are_checked() {
        let image = cluster(1);
        assert_eq!(code_of(&image, new_topic("t", 0, 1)), INVALID_PARTITIONS);
        assert_eq!(code_of(&image, new_topic("t", -5, 1)), INVALID_PARTITIONS);
        assert_eq!(
            code_of(&image, new_topic("t", 1, 0)),
            INVALID_REPLICATION_FACTOR
        );
        assert_eq!(
            code_of(&image, new_topic("t", 1, -3)),
            INVALID_REPLICATION_FACTOR
        );
        // Kafka checks the replication factor first.
        assert_eq!(
            code_of(&image, new_topic("t", 0, 0)),
            INVALID_REPLICATION_FACTOR
        );
        let err = create(&image, new_topic("t", 1, 3)).unwrap_err();
        assert_eq!(err.code, INVALID_REPLICATION_FACTOR);
        assert_eq!(
            err.message,
            "Unable to replicate the partition 3 time(s): The target replication factor of 3 cannot be reached because only 1 broker(s) are registered."
        );
        let err = create(&cluster(0), new_topic("t", 1, 1)).unwrap_err();
        assert_eq!(err.code, INVALID_REPLICATION_FACTOR);
        // A default that exceeds the brokers is refused the same way.
        let wide = TopicDefaults {
            num_partitions: 1,
            replication_factor: 3,
        };
        let err = create_topic(&image, &new_topic("t", -1, -1), wide, Uuid::nil()).unwrap_err();
        assert_eq!(err.code, INVALID_REPLICATION_FACTOR);
        // A broken default partition count is refused, not turned into an empty topic.
        let none = TopicDefaults {
            num_partitions: 0,
            replication_factor: 1,
        };
        let err = create_topic(&image, &new_topic("t", -1, -1), none, Uuid::nil()).unwrap_err();
        assert_eq!(err.code, INVALID_PARTITIONS);
    }

    #[test]
    fn huge_requests_are_refused_before_allocating() {
        let image = cluster(1);
        let err = create(&image, new_topic("t", i32::MAX, 1)).unwrap_err();
        assert_eq!(err.code, POLICY_VIOLATION);
        assert!(create(&image, new_topic("t", 9_999, 1)).is_ok());
        assert_eq!(code_of(&image, new_topic("t", 10_000, 1)), POLICY_VIOLATION);
    }

    #[test]
    fn configs_are_validated() {
        let image = cluster(1);
        for (key, value) in [
            ("retention.ms", "x"),
            ("bogus", "1"),
            ("segment.bytes", "1000"),
        ] {
            let mut topic = new_topic("t", 1, 1);
            topic.configs = vec![(key.into(), value.into())];
            let err = create(&image, topic).unwrap_err();
            assert_eq!(err.code, INVALID_CONFIG);
            assert!(err.message.contains(key), "{err:?}");
        }
        let mut crossed = new_topic("t", 1, 1);
        crossed.configs = vec![
            ("min.compaction.lag.ms".into(), "10".into()),
            ("max.compaction.lag.ms".into(), "5".into()),
        ];
        assert_eq!(code_of(&image, crossed), INVALID_CONFIG);
        // Kafka validates configs before the partition count.
        let mut both = new_topic("t", 0, 1);
        both.configs = vec![("retention.ms".into(), "x".into())];
        assert_eq!(code_of(&image, both), INVALID_CONFIG);
    }

    #[test]
    fn manual_assignments_are_checked() {
        let image = cluster(3);
        let mut with_count = manual("t", vec![(0, vec![1])]);
        with_count.num_partitions = 1;
        assert_eq!(code_of(&image, with_count), INVALID_REQUEST);
        let mut with_rf = manual("t", vec![(0, vec![1])]);
        with_rf.replication_factor = 1;
        assert_eq!(code_of(&image, with_rf), INVALID_REQUEST);
        for bad in [
            vec![(0, vec![7])],
            vec![(0, vec![])],
            vec![(0, vec![1, 1])],
            vec![(0, vec![1]), (0, vec![2])],
            vec![(0, vec![1]), (2, vec![2])],
            vec![(1, vec![1])],
            vec![(-1, vec![1])],
            vec![(0, vec![1, 2]), (1, vec![3])],
        ] {
            let err = create(&image, manual("t", bad.clone())).unwrap_err();
            assert_eq!(err.code, INVALID_REPLICA_ASSIGNMENT, "{bad:?}: {err:?}");
        }
        let mut image = image;
        let records = create(&image, manual("t", vec![(1, vec![3, 1]), (0, vec![2, 3])])).unwrap();
        apply(&mut image, &records);
        let t = image.topic("t").unwrap();
        assert_eq!(t.partitions[&0].replicas, vec![2, 3]);
        assert_eq!(t.partitions[&0].leader, 2);
        assert_eq!(t.partitions[&1].leader, 3);
    }

    #[test]
    fn grows_topics() {
        let mut image = cluster(2);
        let records = create(&image, new_topic("t", 2, 2)).unwrap();
        apply(&mut image, &records);
        let err = create_partitions(&image, "t", 2, None).unwrap_err();
        assert_eq!(
            (err.code, err.message.as_str()),
            (37, "Topic already has 2 partition(s).")
        );
        assert_eq!(
            create_partitions(&image, "t", 1, None).unwrap_err().code,
            INVALID_PARTITIONS
        );
        assert_eq!(
            create_partitions(&image, "t", -1, None).unwrap_err().code,
            INVALID_PARTITIONS
        );
        assert_eq!(
            create_partitions(&image, "nope", 5, None).unwrap_err().code,
            UNKNOWN_TOPIC_OR_PARTITION
        );
        for bad in [
            vec![vec![1, 2]],
            vec![vec![1, 2], vec![1]],
            vec![vec![1, 2], vec![1, 9]],
            vec![vec![1, 2], vec![]],
        ] {
            assert_eq!(
                create_partitions(&image, "t", 4, Some(&bad))
                    .unwrap_err()
                    .code,
                INVALID_REPLICA_ASSIGNMENT,
                "{bad:?}"
            );
        }
        assert_eq!(
            create_partitions(&image, "t", i32::MAX, None)
                .unwrap_err()
                .code,
            POLICY_VIOLATION
        );
        let records = create_partitions(&image, "t", 3, Some(&[vec![2, 1]])).unwrap();
        apply(&mut image, &records);
        assert_eq!(image.topic("t").unwrap().partitions[&2].leader, 2);
        let records = create_partitions(&image, "t", 5, None).unwrap();
        apply(&mut image, &records);
        let t = image.topic("t").unwrap();
        assert_eq!(t.partitions.len(), 5);
        // Placement continues the rotation: partition 3 starts at broker 2.
        assert_eq!(t.partitions[&3].replicas, vec![2, 1]);
        assert_eq!(t.partitions[&4].replicas, vec![1, 2]);
    }

    #[test]
    fn growing_needs_enough_brokers() {
        let mut image = cluster(2);
        let records = create(&image, new_topic("t", 1, 2)).unwrap();
        apply(&mut image, &records);
        let mut shrunk = image.clone();
        shrunk.brokers.remove(&2);
        let err = create_partitions(&shrunk, "t", 2, None).unwrap_err();
        assert_eq!(err.code, INVALID_REPLICATION_FACTOR);
        assert!(err.message.contains("only 1 broker(s)"), "{err:?}");
    }

    #[test]
    fn alters_and_deletes() {
        let mut image = cluster(1);
        let records = create(&image, new_topic("t", 1, 1)).unwrap();
        apply(&mut image, &records);
        let records = alter_topic_configs(
            &image,
            "t",
            &[
                ("retention.ms".into(), Some("10".into())),
                ("preallocate".into(), Some("TRUE".into())),
            ],
        )
        .unwrap();
        apply(&mut image, &records);
        let t = image.topic("t").unwrap();
        assert_eq!(t.configs["retention.ms"], "10");
        assert_eq!(t.configs["preallocate"], "true");
        let records = alter_topic_configs(&image, "t", &[("retention.ms".into(), None)]).unwrap();
        apply(&mut image, &records);
        assert!(!image
            .topic("t")
            .unwrap()
            .configs
            .contains_key("retention.ms"));
        for bad in [
            ("bogus".to_string(), Some("1".to_string())),
            ("bogus".to_string(), None),
            ("retention.ms".to_string(), Some("-7".to_string())),
        ] {
            assert_eq!(
                alter_topic_configs(&image, "t", &[bad]).unwrap_err().code,
                INVALID_CONFIG
            );
        }
        // Cross-config rules look at the topic's existing configs too.
        let records = alter_topic_configs(
            &image,
            "t",
            &[("max.compaction.lag.ms".into(), Some("100".into()))],
        )
        .unwrap();
        apply(&mut image, &records);
        assert_eq!(
            alter_topic_configs(
                &image,
                "t",
                &[("min.compaction.lag.ms".into(), Some("101".into()))]
            )
            .unwrap_err()
            .code,
            INVALID_CONFIG
        );
        assert_eq!(
            alter_topic_configs(&image, "nope", &[]).unwrap_err().code,
            UNKNOWN_TOPIC_OR_PARTITION
        );

        let records = delete_topic(&image, "t").unwrap();
        apply(&mut image, &records);
        assert!(image.topic("t").is_none());
        assert_eq!(
            delete_topic(&image, "t").unwrap_err().code,
            UNKNOWN_TOPIC_OR_PARTITION
        );
    }
}
