//! The controller's decisions: pure functions from the current image and a
//! request to the records that carry it out, or the Kafka error to answer.

use crate::{ConfigResource, MetadataImage, MetadataRecord};
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

mod code {
    pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
    pub const INVALID_TOPIC_EXCEPTION: i16 = 17;
    pub const TOPIC_ALREADY_EXISTS: i16 = 36;
    pub const INVALID_PARTITIONS: i16 = 37;
    pub const INVALID_REPLICATION_FACTOR: i16 = 38;
    pub const INVALID_REPLICA_ASSIGNMENT: i16 = 39;
    pub const INVALID_CONFIG: i16 = 40;
    pub const INVALID_REQUEST: i16 = 42;
}

fn refuse(code: i16, message: impl Into<String>) -> ControllerError {
    ControllerError {
        code,
        message: message.into(),
    }
}

/// Kafka's topic name rules: 1-249 characters of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub fn validate_topic_name(name: &str) -> Result<(), ControllerError> {
    let invalid = |why: String| Err(refuse(code::INVALID_TOPIC_EXCEPTION, why));
    if name.is_empty() {
        return invalid("Topic name is illegal, it can't be empty".into());
    }
    if name == "." || name == ".." {
        return invalid("Topic name cannot be \".\" or \"..\"".into());
    }
    if name.len() > 249 {
        return invalid(format!(
            "Topic name is illegal, it can't be longer than 249 characters, topic name: {name}"
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return invalid(format!(
            "Topic name {name} is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
        ));
    }
    Ok(())
}

/// Round-robin placement over the registered brokers, each partition starting
/// one broker further along, as Kafka spreads leaders.
fn place(
    image: &MetadataImage,
    first_partition: i32,
    count: i32,
    replication_factor: i16,
) -> Vec<(i32, Vec<i32>)> {
    let brokers: Vec<i32> = image.brokers.keys().copied().collect();
    (first_partition..first_partition + count)
        .map(|p| {
            let replicas = (0..replication_factor as usize)
                .map(|r| brokers[(p as usize + r) % brokers.len()])
                .collect();
            (p, replicas)
        })
        .collect()
}

fn check_assignment(
    image: &MetadataImage,
    replicas: &[i32],
    expected_len: Option<usize>,
) -> Result<(), ControllerError> {
    let invalid = |why: String| Err(refuse(code::INVALID_REPLICA_ASSIGNMENT, why));
    if replicas.is_empty() {
        return invalid("The manual partition assignment includes an empty replica list.".into());
    }
    if let Some(len) = expected_len {
        if replicas.len() != len {
            return invalid("The manual partition assignment includes a partition with a different replication factor.".into());
        }
    }
    let mut seen = replicas.to_vec();
    seen.sort_unstable();
    seen.dedup();
    if seen.len() != replicas.len() {
        return invalid(format!(
            "The manual partition assignment includes the broker twice: {replicas:?}"
        ));
    }
    if let Some(missing) = replicas.iter().find(|b| !image.brokers.contains_key(b)) {
        return invalid(format!("The manual partition assignment includes broker {missing}, but no such broker is registered."));
    }
    Ok(())
}

fn partition_records(
    topic_id: Uuid,
    assignments: Vec<(i32, Vec<i32>)>,
) -> impl Iterator<Item = MetadataRecord> {
    assignments
        .into_iter()
        .map(move |(partition, replicas)| MetadataRecord::Partition {
            topic_id,
            partition,
            leader: replicas[0],
            isr: replicas.clone(),
            replicas,
            leader_epoch: 0,
            partition_epoch: 0,
        })
}

/// Decides a topic creation: validates the name (INVALID_TOPIC_EXCEPTION),
/// existence (TOPIC_ALREADY_EXISTS), partition count (INVALID_PARTITIONS),
/// replication factor vs live brokers (INVALID_REPLICATION_FACTOR), explicit
/// assignments (INVALID_REPLICA_ASSIGNMENT) and configs (INVALID_CONFIG).
/// `new_id` is the topic id to use (callers pass a random UUID).
pub fn create_topic(
    image: &MetadataImage,
    topic: &NewTopic,
    defaults: TopicDefaults,
    new_id: Uuid,
) -> Result<Vec<MetadataRecord>, ControllerError> {
    validate_topic_name(&topic.name)?;
    if image.topic(&topic.name).is_some() {
        return Err(refuse(
            code::TOPIC_ALREADY_EXISTS,
            format!("Topic '{}' already exists.", topic.name),
        ));
    }
    // Kafka's metric names fold '.' into '_', so such names would collide.
    let folded = topic.name.replace('.', "_");
    if let Some(other) = image.topics.keys().find(|n| n.replace('.', "_") == folded) {
        return Err(refuse(
            code::INVALID_TOPIC_EXCEPTION,
            format!(
                "Topic '{}' collides with existing topic: {other}",
                topic.name
            ),
        ));
    }
    for (key, value) in &topic.configs {
        crate::topic_config::validate(key, value).map_err(|m| refuse(code::INVALID_CONFIG, m))?;
    }

    let assignments = if topic.assignments.is_empty() {
        let partitions = match topic.num_partitions {
            -1 => defaults.num_partitions,
            n if n <= 0 => {
                return Err(refuse(
                    code::INVALID_PARTITIONS,
                    "Number of partitions was set to an invalid non-positive value.",
                ))
            }
            n => n,
        };
        let replication = match topic.replication_factor {
            -1 => defaults.replication_factor,
            n if n <= 0 => {
                return Err(refuse(
                    code::INVALID_REPLICATION_FACTOR,
                    "Replication factor must be larger than 0, or -1 to use the default value.",
                ))
            }
            n => n,
        };
        let brokers = image.brokers.len();
        if replication as usize > brokers {
            return Err(refuse(
                code::INVALID_REPLICATION_FACTOR,
                format!(
                    "Unable to replicate the partition {replication} time(s): The target replication factor of {replication} cannot be reached because only {brokers} broker(s) are registered."
                ),
            ));
        }
        place(image, 0, partitions, replication)
    } else {
        if topic.num_partitions != -1 || topic.replication_factor != -1 {
            return Err(refuse(
                code::INVALID_REQUEST,
                "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.",
            ));
        }
        let mut assignments = topic.assignments.clone();
        assignments.sort_by_key(|(p, _)| *p);
        let expected_len = assignments[0].1.len();
        for (index, (partition, replicas)) in assignments.iter().enumerate() {
            if *partition != index as i32 {
                return Err(refuse(
                    code::INVALID_REPLICA_ASSIGNMENT,
                    "Partitions should be a consecutive 0-based integer sequence",
                ));
            }
            check_assignment(image, replicas, Some(expected_len))?;
        }
        assignments
    };

    let mut records = vec![MetadataRecord::Topic {
        name: topic.name.clone(),
        id: new_id,
    }];
    records.extend(
        topic
            .configs
            .iter()
            .map(|(name, value)| MetadataRecord::Config {
                resource: ConfigResource::Topic(topic.name.clone()),
                name: name.clone(),
                value: Some(value.clone()),
            }),
    );
    records.extend(partition_records(new_id, assignments));
    Ok(records)
}

fn unknown_topic(name: &str) -> ControllerError {
    refuse(
        code::UNKNOWN_TOPIC_OR_PARTITION,
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
    if count < current {
        return Err(refuse(code::INVALID_PARTITIONS, format!("Topic currently has {current} partitions, which is higher than the requested {count}.")));
    }
    if count == current {
        return Err(refuse(
            code::INVALID_PARTITIONS,
            format!("Topic already has {current} partitions."),
        ));
    }
    let replication = topic
        .partitions
        .values()
        .next()
        .map_or(1, |p| p.replicas.len()) as i16;
    let added = count - current;
    let new_assignments = if let Some(assignments) = assignments {
        if assignments.len() != added as usize {
            return Err(refuse(
                code::INVALID_REPLICA_ASSIGNMENT,
                format!("Attempted to add {added} additional partition(s), but only {} assignment(s) were specified.", assignments.len()),
            ));
        }
        for replicas in assignments {
            check_assignment(image, replicas, Some(replication as usize))?;
        }
        (current..count).zip(assignments.iter().cloned()).collect()
    } else {
        if replication as usize > image.brokers.len() {
            return Err(refuse(
                code::INVALID_REPLICATION_FACTOR,
                "Not enough registered brokers for the topic's replication factor.",
            ));
        }
        place(image, current, added, replication)
    };
    Ok(partition_records(topic.id, new_assignments).collect())
}

/// Decides replacing/setting/deleting topic configs (`None` deletes).
pub fn alter_topic_configs(
    image: &MetadataImage,
    name: &str,
    changes: &[(String, Option<String>)],
) -> Result<Vec<MetadataRecord>, ControllerError> {
    image.topic(name).ok_or_else(|| unknown_topic(name))?;
    let mut records = Vec::with_capacity(changes.len());
    for (key, value) in changes {
        match value {
            Some(v) => crate::topic_config::validate(key, v)
                .map_err(|m| refuse(code::INVALID_CONFIG, m))?,
            None if crate::topic_config::find(key).is_none() => {
                return Err(refuse(
                    code::INVALID_CONFIG,
                    format!("Unknown topic config name: {key}"),
                ))
            }
            None => {}
        }
        records.push(MetadataRecord::Config {
            resource: ConfigResource::Topic(name.to_string()),
            name: key.clone(),
            value: value.clone(),
        });
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULTS: TopicDefaults = TopicDefaults {
        num_partitions: 2,
        replication_factor: 1,
    };

    fn cluster(brokers: i32) -> MetadataImage {
        let mut image = MetadataImage::default();
        for id in 1..=brokers {
            image.apply(&MetadataRecord::RegisterBroker {
                id,
                host: "h".into(),
                port: 9092,
                rack: None,
            });
        }
        image
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

    fn apply(image: &mut MetadataImage, records: &[MetadataRecord]) {
        for r in records {
            image.apply(r);
        }
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
        let records =
            create_topic(&image, &new_topic("u", 3, 3), DEFAULTS, Uuid::from_u128(2)).unwrap();
        apply(&mut image, &records);
        let leaders: Vec<i32> = image
            .topic("u")
            .unwrap()
            .partitions
            .values()
            .map(|p| p.leader)
            .collect();
        assert_eq!(leaders, vec![1, 2, 3]);
        assert!(image
            .topic("u")
            .unwrap()
            .partitions
            .values()
            .all(|p| p.isr.len() == 3));
    }

    #[test]
    fn refusals_carry_kafkas_codes() {
        let mut image = cluster(1);
        let code_of = |image: &MetadataImage, t: NewTopic| {
            create_topic(image, &t, DEFAULTS, Uuid::from_u128(9))
                .unwrap_err()
                .code
        };
        assert_eq!(code_of(&image, new_topic("", 1, 1)), 17);
        assert_eq!(code_of(&image, new_topic("..", 1, 1)), 17);
        assert_eq!(code_of(&image, new_topic("a/b", 1, 1)), 17);
        assert_eq!(code_of(&image, new_topic(&"x".repeat(250), 1, 1)), 17);
        assert_eq!(code_of(&image, new_topic("t", 0, 1)), 37);
        assert_eq!(code_of(&image, new_topic("t", -5, 1)), 37);
        assert_eq!(code_of(&image, new_topic("t", 1, 0)), 38);
        assert_eq!(code_of(&image, new_topic("t", 1, 2)), 38);
        let mut with_config = new_topic("t", 1, 1);
        with_config.configs = vec![("retention.ms".into(), "x".into())];
        assert_eq!(code_of(&image, with_config), 40);
        let mut both = new_topic("t", 1, -1);
        both.assignments = vec![(0, vec![1])];
        assert_eq!(code_of(&image, both), 42);
        let mut bad = new_topic("t", -1, -1);
        bad.assignments = vec![(0, vec![7])];
        assert_eq!(code_of(&image, bad), 39);

        let records = create_topic(
            &image,
            &new_topic("a.b", 1, 1),
            DEFAULTS,
            Uuid::from_u128(3),
        )
        .unwrap();
        apply(&mut image, &records);
        assert_eq!(code_of(&image, new_topic("a.b", 1, 1)), 36);
        assert_eq!(
            code_of(&image, new_topic("a_b", 1, 1)),
            17,
            "collides after folding '.'"
        );
    }

    #[test]
    fn grows_deletes_and_alters() {
        let mut image = cluster(1);
        let records =
            create_topic(&image, &new_topic("t", 2, 1), DEFAULTS, Uuid::from_u128(4)).unwrap();
        apply(&mut image, &records);
        assert_eq!(
            create_partitions(&image, "t", 2, None).unwrap_err().code,
            37
        );
        assert_eq!(
            create_partitions(&image, "t", 1, None).unwrap_err().code,
            37
        );
        assert_eq!(
            create_partitions(&image, "nope", 5, None).unwrap_err().code,
            3
        );
        assert_eq!(
            create_partitions(&image, "t", 4, Some(&[vec![1]]))
                .unwrap_err()
                .code,
            39
        );
        let records = create_partitions(&image, "t", 4, None).unwrap();
        apply(&mut image, &records);
        assert_eq!(image.topic("t").unwrap().partitions.len(), 4);

        let records =
            alter_topic_configs(&image, "t", &[("retention.ms".into(), Some("10".into()))])
                .unwrap();
        apply(&mut image, &records);
        assert_eq!(image.topic("t").unwrap().configs["retention.ms"], "10");
        assert_eq!(
            alter_topic_configs(&image, "t", &[("bogus".into(), Some("1".into()))])
                .unwrap_err()
                .code,
            40
        );

        let records = delete_topic(&image, "t").unwrap();
        apply(&mut image, &records);
        assert!(image.topic("t").is_none());
        assert_eq!(delete_topic(&image, "t").unwrap_err().code, 3);
    }
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
            image.apply(r);
        }
        let (second, _) = allocate_producer_ids(&image, 1);
        assert_eq!(first, 0);
        assert_eq!(second, PRODUCER_ID_BLOCK_SIZE);
    }
}
