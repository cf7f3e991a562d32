//! Leadership moves the controller makes on request or on its own timers,
//! as Kafka's `ReplicationControlManager` does: ElectLeaders (preferred and
//! unclean), the periodic move back to preferred leaders
//! (`auto.leader.rebalance.enable`) and the periodic unclean election of
//! leaderless partitions (`unclean.leader.election.enable`).

use crate::controller::MAX_RECORDS_PER_USER_OP;
use crate::election::{Change, NO_LEADER};
use crate::partition_change::{build, unclean_enabled, Election, Target};
use crate::{MetadataImage, MetadataRecord};
use gregor_protocol::error_codes;

/// ElectLeaders' election type (0 preferred, 1 unclean on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElectionType {
    Preferred,
    Unclean,
}

impl ElectionType {
    /// `None` for a type Kafka does not know (INVALID_REQUEST).
    pub fn from_wire(value: i8) -> Option<ElectionType> {
        match value {
            0 => Some(ElectionType::Preferred),
            1 => Some(ElectionType::Unclean),
            _ => None,
        }
    }
}

/// One partition's outcome: Kafka's error code and message (`None` with 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElectionResult {
    pub partition: i32,
    pub code: i16,
    pub message: Option<String>,
}

/// ElectLeaders: the records and each topic's results. With `wanted`
/// `None` every partition of every topic is tried and those already led
/// as asked are left out of the results (Kafka does the same).
pub fn elect_leaders(
    image: &MetadataImage,
    kind: ElectionType,
    wanted: Option<&[(String, Vec<i32>)]>,
) -> (Vec<MetadataRecord>, Vec<(String, Vec<ElectionResult>)>) {
    let mut change = Change::new(image);
    let mut results = Vec::new();
    match wanted {
        None => {
            let topics: Vec<(String, Vec<i32>)> = image
                .topics
                .values()
                .map(|t| (t.name.clone(), t.partitions.keys().copied().collect()))
                .collect();
            for (topic, partitions) in topics {
                let list = partitions
                    .into_iter()
                    .map(|p| elect_one(&mut change, kind, &topic, p))
                    .filter(|r| r.code != error_codes::ELECTION_NOT_NEEDED)
                    .collect();
                results.push((topic, list));
            }
        }
        Some(wanted) => {
            for (topic, partitions) in wanted {
                let list = partitions
                    .iter()
                    .map(|&p| elect_one(&mut change, kind, topic, p))
                    .collect();
                results.push((topic.clone(), list));
            }
        }
    }
    (change.records, results)
}

fn elect_one(
    change: &mut Change,
    kind: ElectionType,
    topic: &str,
    partition: i32,
) -> ElectionResult {
    let result = |code: i16, message: Option<String>| ElectionResult {
        partition,
        code,
        message,
    };
    let Some(t) = change.image.topic(topic).cloned() else {
        return result(
            error_codes::UNKNOWN_TOPIC_OR_PARTITION,
            Some(format!("No such topic as {topic}")),
        );
    };
    let Some(current) = t.partitions.get(&partition) else {
        return result(
            error_codes::UNKNOWN_TOPIC_OR_PARTITION,
            Some(format!("No such partition as {topic}-{partition}")),
        );
    };
    let not_needed = match kind {
        ElectionType::Preferred => current.replicas.first() == Some(&current.leader),
        ElectionType::Unclean => current.leader != NO_LEADER,
    };
    if not_needed {
        return result(
            error_codes::ELECTION_NOT_NEEDED,
            Some("Leader election not needed for topic partition.".into()),
        );
    }
    let election = match kind {
        ElectionType::Preferred => Election::Preferred,
        ElectionType::Unclean => Election::Unclean,
    };
    let ongoing = t.reassignments.get(&partition);
    let (_, records) = build(
        &change.image,
        t.id,
        partition,
        current,
        ongoing,
        Target::of(current, ongoing),
        election,
    );
    if records.is_empty() {
        return match kind {
            ElectionType::Preferred => result(
                error_codes::PREFERRED_LEADER_NOT_AVAILABLE,
                Some("The preferred leader was not available.".into()),
            ),
            ElectionType::Unclean => result(
                error_codes::ELIGIBLE_LEADERS_NOT_AVAILABLE,
                Some("Eligible topic partition leaders are not available.".into()),
            ),
        };
    }
    for record in records {
        change.push(record);
    }
    result(error_codes::NONE, None)
}

/// The periodic leader rebalance: every partition not led by its preferred
/// replica moves to it when that replica is an active ISR member (at most
/// [`MAX_RECORDS_PER_USER_OP`] per round).
pub fn balance_leaders(image: &MetadataImage) -> Vec<MetadataRecord> {
    let mut records = Vec::new();
    for topic in image.topics.values() {
        for (&partition, current) in &topic.partitions {
            if current.replicas.first() == Some(&current.leader) {
                continue;
            }
            let ongoing = topic.reassignments.get(&partition);
            let (next, changes) = build(
                image,
                topic.id,
                partition,
                current,
                ongoing,
                Target::of(current, ongoing),
                Election::Preferred,
            );
            // Only a move to the preferred replica is a rebalance.
            if current.replicas.first() == Some(&next.leader) {
                records.extend(changes);
            }
            if records.len() >= MAX_RECORDS_PER_USER_OP {
                return records;
            }
        }
    }
    records
}

/// The periodic unclean election: leaderless partitions of topics where
/// `unclean.leader.election.enable` holds get any active replica as leader.
pub fn elect_unclean_leaders(image: &MetadataImage, unclean_default: bool) -> Vec<MetadataRecord> {
    let mut records = Vec::new();
    for topic in image.topics.values() {
        if !unclean_enabled(image, &topic.configs, unclean_default) {
            continue;
        }
        for (&partition, current) in &topic.partitions {
            if current.leader != NO_LEADER {
                continue;
            }
            let ongoing = topic.reassignments.get(&partition);
            let (_, changes) = build(
                image,
                topic.id,
                partition,
                current,
                ongoing,
                Target::of(current, ongoing),
                Election::Unclean,
            );
            records.extend(changes);
            if records.len() >= MAX_RECORDS_PER_USER_OP {
                return records;
            }
        }
    }
    records
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{cluster, fence};
    use crate::ConfigResource;
    use gregor_protocol::error_codes::*;
    use uuid::Uuid;

    /// Topic "t": partition 0 led by its preferred replica 1, partition 1
    /// ([1, 2]) led by 2, partition 2 ([2, 1]) leaderless with ISR [2].
    fn setup() -> MetadataImage {
        let mut image = cluster(&[1, 2]);
        let id = Uuid::from_u128(1);
        let part = |partition, replicas: &[i32], isr: &[i32], leader| MetadataRecord::Partition {
            topic_id: id,
            partition,
            replicas: replicas.to_vec(),
            isr: isr.to_vec(),
            leader,
            leader_epoch: 1,
            partition_epoch: 1,
            elr: Vec::new(),
            last_known_elr: Vec::new(),
        };
        let offset = image.next_offset;
        image.apply_entry(
            offset,
            &[
                MetadataRecord::Topic {
                    name: "t".into(),
                    id,
                },
                part(0, &[1, 2], &[1, 2], 1),
                part(1, &[1, 2], &[1, 2], 2),
                part(2, &[2, 1], &[2], NO_LEADER),
            ],
        );
        image
    }

    fn codes(results: &[(String, Vec<ElectionResult>)]) -> Vec<(String, i32, i16)> {
        results
            .iter()
            .flat_map(|(t, list)| list.iter().map(move |r| (t.clone(), r.partition, r.code)))
            .collect()
    }

    #[test]
    fn preferred_elections_report_kafkas_codes() {
        let mut image = setup();
        fence(&mut image, 2);
        let wanted = vec![
            ("t".to_string(), vec![0, 1, 2, 7]),
            ("nope".to_string(), vec![0]),
        ];
        let (records, results) = elect_leaders(&image, ElectionType::Preferred, Some(&wanted));
        assert_eq!(
            codes(&results),
            vec![
                ("t".into(), 0, ELECTION_NOT_NEEDED),
                ("t".into(), 1, NONE),
                ("t".into(), 2, PREFERRED_LEADER_NOT_AVAILABLE),
                ("t".into(), 7, UNKNOWN_TOPIC_OR_PARTITION),
                ("nope".into(), 0, UNKNOWN_TOPIC_OR_PARTITION),
            ]
        );
        assert_eq!(records.len(), 1);
        let offset = image.next_offset;
        image.apply_entry(offset, &records);
        let p = &image.topic("t").unwrap().partitions[&1];
        assert_eq!((p.leader, p.leader_epoch), (1, 2));
        // All partitions: the ones already right are left out.
        let (_, results) = elect_leaders(&image, ElectionType::Preferred, None);
        assert_eq!(
            codes(&results),
            vec![("t".into(), 2, PREFERRED_LEADER_NOT_AVAILABLE)]
        );
    }

    #[test]
    fn unclean_elections_need_a_leaderless_partition_and_a_live_replica() {
        let image = setup();
        let wanted = vec![("t".to_string(), vec![0, 2])];
        let (records, results) = elect_leaders(&image, ElectionType::Unclean, Some(&wanted));
        // Partition 2's ISR member 2 is active, so this is a clean election.
        assert_eq!(
            codes(&results),
            vec![("t".into(), 0, ELECTION_NOT_NEEDED), ("t".into(), 2, NONE)]
        );
        assert_eq!(records.len(), 1);
        let mut image = setup();
        fence(&mut image, 2);
        let (records, results) = elect_leaders(&image, ElectionType::Unclean, Some(&wanted));
        assert_eq!(codes(&results)[1].2, NONE);
        let mut after = image.clone();
        let offset = after.next_offset;
        after.apply_entry(offset, &records);
        let p = &after.topic("t").unwrap().partitions[&2];
        assert_eq!((p.leader, p.isr.clone()), (1, vec![1]));
        fence(&mut image, 1);
        let (records, results) = elect_leaders(&image, ElectionType::Unclean, Some(&wanted));
        assert_eq!(codes(&results)[1].2, ELIGIBLE_LEADERS_NOT_AVAILABLE);
        assert!(records.is_empty());
    }

    #[test]
    fn rebalancing_moves_only_to_valid_preferred_replicas() {
        let image = setup();
        let records = balance_leaders(&image);
        // Partition 1 back to 1; leaderless partition 2 to its live preferred 2.
        assert_eq!(records.len(), 2, "{records:?}");
        assert!(matches!(
            &records[1],
            MetadataRecord::Partition {
                partition: 2,
                leader: 2,
                ..
            }
        ));
        assert!(matches!(
            &records[0],
            MetadataRecord::Partition {
                partition: 1,
                leader: 1,
                ..
            }
        ));
        let mut fenced = setup();
        fence(&mut fenced, 1);
        // 1 cannot lead: partition 1 stays with 2.
        let records = balance_leaders(&fenced);
        assert!(
            !records
                .iter()
                .any(|r| matches!(r, MetadataRecord::Partition { partition: 1, .. })),
            "{records:?}"
        );
    }

    #[test]
    fn periodic_unclean_elections_follow_the_topic_then_cluster_config() {
        let mut image = setup();
        fence(&mut image, 2);
        assert!(elect_unclean_leaders(&image, false).is_empty());
        assert_eq!(elect_unclean_leaders(&image, true).len(), 1);
        let offset = image.next_offset;
        image.apply(
            offset,
            &MetadataRecord::Config {
                resource: ConfigResource::BrokerDefault,
                name: "unclean.leader.election.enable".into(),
                value: Some("true".into()),
            },
        );
        assert_eq!(elect_unclean_leaders(&image, false).len(), 1);
        image.apply(
            offset + 1,
            &MetadataRecord::Config {
                resource: ConfigResource::Topic("t".into()),
                name: "unclean.leader.election.enable".into(),
                value: Some("false".into()),
            },
        );
        assert!(elect_unclean_leaders(&image, true).is_empty());
    }
}
