//! AlterPartitionReassignments and ListPartitionReassignments, as Kafka's
//! `ReplicationControlManager` decides them. A reassignment to target `T`
//! of a partition with replicas `C` makes the replicas `T ++ (C - T)`,
//! adding `T - C` and removing `C - T`; it completes (replicas become `T`,
//! the removed ones leave the ISR, a removed leader hands over) once the
//! ISR holds all of `T`, which for replicas that must first catch up
//! happens through AlterPartition ([`crate::alter_partition::alter_isr_records`]).

use crate::controller::ControllerError;
use crate::partition_change::{build, unclean_enabled, Election, Target};
use crate::placement::check_manual;
use crate::{MetadataImage, MetadataRecord, PartitionImage, Reassignment};
use gregor_protocol::error_codes;

fn refuse(code: i16, message: impl Into<String>) -> ControllerError {
    ControllerError {
        code,
        message: message.into(),
    }
}

/// One partition's reassignment: `target` replicas, or `None` to cancel.
/// `allow_rf_change` false (AlterPartitionReassignments v1) refuses a
/// target of another size than the original replica set.
/// `unclean_default` is the node's `unclean.leader.election.enable`.
pub fn alter_reassignment(
    image: &MetadataImage,
    topic: &str,
    partition: i32,
    target: Option<&[i32]>,
    allow_rf_change: bool,
    unclean_default: bool,
) -> Result<Vec<MetadataRecord>, ControllerError> {
    let t = image.topic(topic).ok_or_else(|| {
        refuse(
            error_codes::UNKNOWN_TOPIC_OR_PARTITION,
            format!("Unable to find a topic named {topic}."),
        )
    })?;
    let current = t.partitions.get(&partition).ok_or_else(|| {
        refuse(
            error_codes::UNKNOWN_TOPIC_OR_PARTITION,
            format!("Unable to find partition {topic}:{partition}."),
        )
    })?;
    let ongoing = t.reassignments.get(&partition);
    let (next_target, election) = match target {
        None => cancel(
            image,
            topic,
            partition,
            current,
            ongoing,
            &t.configs,
            unclean_default,
        )?,
        Some(target) => {
            check_manual(image, target, None)
                .map_err(|m| refuse(error_codes::INVALID_REPLICA_ASSIGNMENT, m))?;
            let original = current
                .replicas
                .iter()
                .filter(|r| ongoing.is_none_or(|o| !o.adding.contains(r)))
                .count();
            if !allow_rf_change && original != target.len() {
                return Err(refuse(
                    error_codes::INVALID_REPLICATION_FACTOR,
                    format!(
                        "The replication factor is changed from {original} to {} but allowReplicationFactorChange is false",
                        target.len()
                    ),
                ));
            }
            (change(current, target), Election::Online)
        }
    };
    let (_, records) = build(
        image,
        t.id,
        partition,
        current,
        ongoing,
        next_target,
        election,
    );
    Ok(records)
}

/// The replicas of a new reassignment from the current (possibly already
/// reassigning) replica set (Kafka's `PartitionReassignmentReplicas`).
/// Both differences are in ascending id order, as Kafka's sets are.
fn change(current: &PartitionImage, target: &[i32]) -> Target {
    let mut removing: Vec<i32> = current
        .replicas
        .iter()
        .copied()
        .filter(|r| !target.contains(r))
        .collect();
    removing.sort_unstable();
    let mut adding: Vec<i32> = target
        .iter()
        .copied()
        .filter(|r| !current.replicas.contains(r))
        .collect();
    adding.sort_unstable();
    let mut replicas = target.to_vec();
    replicas.extend(&removing);
    Target {
        replicas,
        isr: current.isr.clone(),
        reassignment: Reassignment { adding, removing },
        unclean_shutdown: None,
    }
}

/// Back to the replicas before the reassignment (Kafka's
/// `PartitionReassignmentRevert`): the adding ones leave (the others keep
/// their current order). Should that empty the ISR, the first remaining
/// replica becomes the ISR: an unclean election, refused unless allowed.
fn cancel(
    image: &MetadataImage,
    topic: &str,
    partition: i32,
    current: &PartitionImage,
    ongoing: Option<&Reassignment>,
    configs: &std::collections::BTreeMap<String, String>,
    unclean_default: bool,
) -> Result<(Target, Election), ControllerError> {
    let Some(ongoing) = ongoing else {
        return Err(refuse(
            error_codes::NO_REASSIGNMENT_IN_PROGRESS,
            "No partition reassignment is in progress.",
        ));
    };
    let keep = |list: &[i32]| -> Vec<i32> {
        list.iter()
            .copied()
            .filter(|r| !ongoing.adding.contains(r))
            .collect()
    };
    let replicas = keep(&current.replicas);
    let mut isr = keep(&current.isr);
    let unclean = unclean_enabled(image, configs, unclean_default);
    if isr.is_empty() {
        if !unclean {
            return Err(refuse(
                error_codes::INVALID_REPLICA_ASSIGNMENT,
                format!("Unable to revert partition assignment for {topic}:{partition} because it would require an unclean leader election."),
            ));
        }
        isr.extend(replicas.first());
    }
    // As Kafka: a topic that allows unclean elections gets one here too.
    let election = if unclean {
        Election::Unclean
    } else {
        Election::Online
    };
    Ok((
        Target {
            replicas,
            isr,
            reassignment: Reassignment::default(),
            unclean_shutdown: None,
        },
        election,
    ))
}

/// One reassignment in progress, as ListPartitionReassignments lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ongoing {
    pub partition: i32,
    pub replicas: Vec<i32>,
    pub adding: Vec<i32>,
    pub removing: Vec<i32>,
}

/// Reassignments in progress, by topic: all of them (`None`), or those of
/// the named partitions (unknown topics and partitions are left out, as
/// Kafka does).
pub fn list_reassignments(
    image: &MetadataImage,
    wanted: Option<&[(String, Vec<i32>)]>,
) -> Vec<(String, Vec<Ongoing>)> {
    let ongoing = |topic: &crate::TopicImage, partition: i32| {
        let r = topic.reassignments.get(&partition)?;
        let p = topic.partitions.get(&partition)?;
        Some(Ongoing {
            partition,
            replicas: p.replicas.clone(),
            adding: r.adding.clone(),
            removing: r.removing.clone(),
        })
    };
    let mut out = Vec::new();
    match wanted {
        None => {
            for topic in image.topics.values() {
                let list: Vec<Ongoing> = topic
                    .reassignments
                    .keys()
                    .filter_map(|&p| ongoing(topic, p))
                    .collect();
                if !list.is_empty() {
                    out.push((topic.name.clone(), list));
                }
            }
        }
        Some(wanted) => {
            for (name, partitions) in wanted {
                let Some(topic) = image.topic(name) else {
                    continue;
                };
                let list: Vec<Ongoing> = partitions
                    .iter()
                    .filter_map(|&p| ongoing(topic, p))
                    .collect();
                if !list.is_empty() {
                    out.push((name.clone(), list));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::cluster;
    use gregor_protocol::error_codes::*;
    use uuid::Uuid;

    fn setup(replicas: &[i32], isr: &[i32]) -> MetadataImage {
        let mut image = cluster(&[1, 2, 3, 4]);
        let offset = image.next_offset;
        image.apply_entry(
            offset,
            &[
                MetadataRecord::Topic {
                    name: "t".into(),
                    id: Uuid::from_u128(1),
                },
                MetadataRecord::Partition {
                    topic_id: Uuid::from_u128(1),
                    partition: 0,
                    replicas: replicas.to_vec(),
                    isr: isr.to_vec(),
                    leader: replicas[0],
                    leader_epoch: 1,
                    partition_epoch: 1,
                    elr: Vec::new(),
                    last_known_elr: Vec::new(),
                },
            ],
        );
        image
    }

    fn apply(image: &mut MetadataImage, records: &[MetadataRecord]) {
        let offset = image.next_offset;
        image.apply_entry(offset, records);
    }

    fn code(image: &MetadataImage, target: Option<&[i32]>) -> i16 {
        alter_reassignment(image, "t", 0, target, true, false)
            .unwrap_err()
            .code
    }

    #[test]
    fn bad_targets_get_kafkas_codes() {
        let image = setup(&[1, 2], &[1, 2]);
        assert_eq!(code(&image, Some(&[])), INVALID_REPLICA_ASSIGNMENT);
        assert_eq!(code(&image, Some(&[1, 1])), INVALID_REPLICA_ASSIGNMENT);
        assert_eq!(code(&image, Some(&[1, 9])), INVALID_REPLICA_ASSIGNMENT);
        assert_eq!(code(&image, None), NO_REASSIGNMENT_IN_PROGRESS);
        let err = alter_reassignment(&image, "nope", 0, Some(&[1]), true, false).unwrap_err();
        assert_eq!(err.code, UNKNOWN_TOPIC_OR_PARTITION);
        let err = alter_reassignment(&image, "t", 3, Some(&[1]), true, false).unwrap_err();
        assert_eq!(err.code, UNKNOWN_TOPIC_OR_PARTITION);
        let err = alter_reassignment(&image, "t", 0, Some(&[1, 2, 3]), false, false).unwrap_err();
        assert_eq!(err.code, INVALID_REPLICATION_FACTOR);
        // The same size is fine without allowing a change.
        assert!(alter_reassignment(&image, "t", 0, Some(&[3, 4]), false, false).is_ok());
        // The current replicas again: nothing to write.
        assert_eq!(
            alter_reassignment(&image, "t", 0, Some(&[1, 2]), true, false).unwrap(),
            vec![]
        );
    }

    #[test]
    fn adding_replicas_wait_for_the_isr_and_cancel_reverts() {
        let mut image = setup(&[1, 2], &[1, 2]);
        let records = alter_reassignment(&image, "t", 0, Some(&[3, 4]), true, false).unwrap();
        apply(&mut image, &records);
        let t = image.topic("t").unwrap();
        let p = &t.partitions[&0];
        assert_eq!(
            (p.replicas.clone(), p.isr.clone(), p.leader),
            (vec![3, 4, 1, 2], vec![1, 2], 1)
        );
        assert_eq!(
            t.reassignments[&0],
            Reassignment {
                adding: vec![3, 4],
                removing: vec![1, 2]
            }
        );
        let listed = list_reassignments(&image, None);
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].1[0].adding, vec![3, 4]);
        assert_eq!(
            list_reassignments(
                &image,
                Some(&[("t".into(), vec![1]), ("x".into(), vec![0])])
            ),
            vec![]
        );
        // Cancel: back to [1, 2], nothing in progress.
        let records = alter_reassignment(&image, "t", 0, None, true, false).unwrap();
        apply(&mut image, &records);
        let t = image.topic("t").unwrap();
        assert_eq!(t.partitions[&0].replicas, vec![1, 2]);
        assert!(t.reassignments.is_empty());
        assert!(list_reassignments(&image, None).is_empty());
    }

    #[test]
    fn the_isr_expansion_that_brings_in_the_last_target_completes_it() {
        use crate::alter_partition::{alter_isr_records, IsrChange};
        // Replication factor 2 -> 3 while moving off 1: [1, 2] -> [3, 4, 2].
        let mut image = setup(&[1, 2], &[1, 2]);
        let records = alter_reassignment(&image, "t", 0, Some(&[3, 4, 2]), true, false).unwrap();
        apply(&mut image, &records);
        let isr_change = |image: &MetadataImage, isr: &[i32]| {
            let p = &image.topic("t").unwrap().partitions[&0];
            IsrChange {
                topic_id: Uuid::from_u128(1),
                partition: 0,
                leader_epoch: p.leader_epoch,
                partition_epoch: p.partition_epoch,
                new_isr: isr.iter().map(|&r| (r, -1)).collect(),
            }
        };
        // 3 catches up: not done yet (4 is missing).
        let (records, state) =
            alter_isr_records(&image, 1, &isr_change(&image, &[1, 2, 3]), 3).unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(state.replicas, vec![3, 4, 2, 1]);
        apply(&mut image, &records);
        assert_eq!(list_reassignments(&image, None).len(), 1);
        // 4 catches up: 1 leaves the replicas and the ISR, and led, so 3 leads.
        let (records, state) =
            alter_isr_records(&image, 1, &isr_change(&image, &[1, 2, 3, 4]), 3).unwrap();
        apply(&mut image, &records);
        let p = &image.topic("t").unwrap().partitions[&0];
        assert_eq!(p, &state);
        // The sender no longer leads: Kafka answers NEW_LEADER_ELECTED.
        assert_eq!(
            crate::alter_partition::accepted_code(1, &state),
            NEW_LEADER_ELECTED
        );
        assert_eq!(crate::alter_partition::accepted_code(3, &state), NONE);
        assert_eq!(
            (p.replicas.clone(), p.isr.clone(), p.leader),
            (vec![3, 4, 2], vec![2, 3, 4], 3)
        );
        assert!(list_reassignments(&image, None).is_empty());
        // Without a reassignment it is exactly alter_isr.
        let change = isr_change(&image, &[3, 4]);
        let (records, _) = alter_isr_records(&image, 3, &change, 3).unwrap();
        let (record, _) = crate::alter_partition::alter_isr(&image, 3, &change, 3).unwrap();
        assert_eq!(records, vec![record.unwrap()]);
    }

    #[test]
    fn in_sync_targets_complete_at_once_and_the_leader_follows() {
        // A reorder and a shrink need no catching up.
        let mut image = setup(&[1, 2, 3], &[1, 2, 3]);
        let records = alter_reassignment(&image, "t", 0, Some(&[3, 2]), true, false).unwrap();
        apply(&mut image, &records);
        let t = image.topic("t").unwrap();
        let p = &t.partitions[&0];
        assert_eq!(
            (p.replicas.clone(), p.isr.clone()),
            (vec![3, 2], vec![2, 3])
        );
        // 1 led and left: the first valid target replica leads.
        assert_eq!((p.leader, p.leader_epoch), (3, 2));
        assert!(t.reassignments.is_empty());
    }

    #[test]
    fn cancelling_when_only_adding_replicas_are_in_sync_needs_unclean() {
        let mut image = setup(&[1, 2], &[1, 2]);
        let records = alter_reassignment(&image, "t", 0, Some(&[3, 1, 2]), true, false).unwrap();
        apply(&mut image, &records);
        // Pretend 3 caught up and 1, 2 fell out: the ISR is [3] only, but the
        // reassignment is incomplete (1 and 2 are still targets).
        let t = image.topic("t").unwrap();
        let id = t.id;
        apply(
            &mut image,
            &[MetadataRecord::Partition {
                topic_id: id,
                partition: 0,
                replicas: vec![3, 1, 2],
                isr: vec![3],
                leader: 3,
                leader_epoch: 5,
                partition_epoch: 9,
                elr: Vec::new(),
                last_known_elr: Vec::new(),
            }],
        );
        let err = alter_reassignment(&image, "t", 0, None, true, false).unwrap_err();
        assert_eq!(err.code, INVALID_REPLICA_ASSIGNMENT);
        let records = alter_reassignment(&image, "t", 0, None, true, true).unwrap();
        apply(&mut image, &records);
        let p = &image.topic("t").unwrap().partitions[&0];
        assert_eq!(
            (p.replicas.clone(), p.isr.clone(), p.leader),
            (vec![1, 2], vec![1], 1)
        );
    }
}
