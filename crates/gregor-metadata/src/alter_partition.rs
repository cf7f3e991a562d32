//! AlterPartition: a partition leader asks the controller to change its
//! ISR. Checks run in the order of Kafka's `ReplicationControlManager`
//! (`validateAlterPartitionData`), so each fault gets Kafka's error code.

use crate::election::partition_record;
use crate::partition_change::{build, Election, Target};
use crate::{MetadataImage, MetadataRecord, PartitionImage};
use gregor_protocol::error_codes;
use uuid::Uuid;

/// One partition of an AlterPartition request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsrChange {
    pub topic_id: Uuid,
    pub partition: i32,
    /// The leader epoch and partition epoch the leader knows.
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    /// The new ISR with each member's broker epoch (-1: not checked).
    pub new_isr: Vec<(i32, i64)>,
}

/// Checks that `broker` (at `broker_epoch`) may send AlterPartition at all:
/// STALE_BROKER_EPOCH otherwise, for the whole request.
pub fn check_sender(image: &MetadataImage, broker: i32, broker_epoch: i64) -> Result<(), i16> {
    match image.brokers.get(&broker) {
        Some(b) if b.epoch == broker_epoch => Ok(()),
        _ => Err(error_codes::STALE_BROKER_EPOCH),
    }
}

/// Decides one partition's ISR change from its leader `broker`: the record
/// (none when the ISR is already that) and the partition state to answer
/// with, or the partition's error code. `api_version` picks between
/// INELIGIBLE_REPLICA (v2+) and OPERATION_NOT_ATTEMPTED for ineligible
/// members. The ISR change bumps only the partition epoch.
pub fn alter_isr(
    image: &MetadataImage,
    broker: i32,
    change: &IsrChange,
    api_version: i16,
) -> Result<(Option<MetadataRecord>, PartitionImage), i16> {
    let topic = image
        .topic_by_id(&change.topic_id)
        .ok_or(error_codes::UNKNOWN_TOPIC_ID)?;
    let current = topic
        .partitions
        .get(&change.partition)
        .ok_or(error_codes::UNKNOWN_TOPIC_OR_PARTITION)?;
    // A leader ahead of us means this controller is behind: not the active one.
    if change.leader_epoch > current.leader_epoch
        || change.partition_epoch > current.partition_epoch
    {
        return Err(error_codes::NOT_CONTROLLER);
    }
    if change.leader_epoch < current.leader_epoch {
        return Err(error_codes::FENCED_LEADER_EPOCH);
    }
    if broker != current.leader {
        return Err(error_codes::INVALID_REQUEST);
    }
    if change.partition_epoch < current.partition_epoch {
        return Err(error_codes::INVALID_UPDATE_VERSION);
    }
    let isr: Vec<i32> = change.new_isr.iter().map(|&(id, _)| id).collect();
    let mut sorted = isr.clone();
    sorted.sort_unstable();
    sorted.dedup();
    let valid = sorted.len() == isr.len() && isr.iter().all(|r| current.replicas.contains(r));
    if !valid || !isr.contains(&current.leader) {
        return Err(error_codes::INVALID_REQUEST);
    }
    let ineligible = change.new_isr.iter().any(|&(id, epoch)| {
        image
            .brokers
            .get(&id)
            .is_none_or(|b| !b.is_active() || (epoch != -1 && epoch != b.epoch))
    });
    if ineligible {
        return Err(if api_version > 1 {
            error_codes::INELIGIBLE_REPLICA
        } else {
            error_codes::OPERATION_NOT_ATTEMPTED
        });
    }
    if isr == current.isr {
        return Ok((None, current.clone()));
    }
    // Members leaving an ISR below min.insync.replicas stay eligible;
    // rejoining ones leave the ELR (Kafka's PartitionChangeBuilder).
    let (elr, last_known_elr) = crate::elr::target(
        crate::elr::enabled(image),
        crate::elr::min_isr(image, &topic.configs),
        current,
        &current.replicas,
        &isr,
        None,
    );
    let next = PartitionImage {
        isr,
        partition_epoch: current.partition_epoch + 1,
        elr,
        last_known_elr,
        ..current.clone()
    };
    let record = partition_record(change.topic_id, change.partition, next.clone());
    Ok((Some(record), next))
}

/// [`alter_isr`], and what the ISR change completes: when it brings the
/// last target replica of a reassignment into the ISR, the same change
/// finalizes the replica set (removing replicas leave, a removed leader
/// hands over). The records (none when nothing changes) and the
/// partition's resulting state, to answer with.
pub fn alter_isr_records(
    image: &MetadataImage,
    broker: i32,
    change: &IsrChange,
    api_version: i16,
) -> Result<(Vec<MetadataRecord>, PartitionImage), i16> {
    let (record, next) = alter_isr(image, broker, change, api_version)?;
    let Some(record) = record else {
        return Ok((Vec::new(), next));
    };
    let topic = image
        .topic_by_id(&change.topic_id)
        .ok_or(error_codes::UNKNOWN_TOPIC_ID)?;
    let Some(ongoing) = topic.reassignments.get(&change.partition) else {
        return Ok((vec![record], next));
    };
    let current = topic
        .partitions
        .get(&change.partition)
        .ok_or(error_codes::UNKNOWN_TOPIC_OR_PARTITION)?;
    let target = Target {
        isr: next.isr.clone(),
        ..Target::of(current, Some(ongoing))
    };
    let (state, records) = build(
        image,
        change.topic_id,
        change.partition,
        current,
        Some(ongoing),
        target,
        Election::Online,
    );
    Ok((records, state))
}

/// The AlterPartition answer for a change [`alter_isr_records`] accepted:
/// NEW_LEADER_ELECTED when it completed a reassignment that moved
/// leadership away from the sender (the records still commit), else NONE,
/// as Kafka answers.
pub fn accepted_code(broker: i32, state: &PartitionImage) -> i16 {
    if state.leader == broker {
        error_codes::NONE
    } else {
        error_codes::NEW_LEADER_ELECTED
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::cluster;
    use gregor_protocol::error_codes::*;

    fn setup() -> MetadataImage {
        let mut image = cluster(&[1, 2, 3]);
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
                    replicas: vec![1, 2, 3],
                    isr: vec![1, 2],
                    leader: 1,
                    leader_epoch: 3,
                    partition_epoch: 5,
                    elr: Vec::new(),
                    last_known_elr: Vec::new(),
                },
            ],
        );
        image
    }

    fn change(isr: &[i32]) -> IsrChange {
        IsrChange {
            topic_id: Uuid::from_u128(1),
            partition: 0,
            leader_epoch: 3,
            partition_epoch: 5,
            new_isr: isr.iter().map(|&r| (r, -1)).collect(),
        }
    }

    #[test]
    fn the_leader_grows_and_shrinks_its_isr() {
        let mut image = setup();
        let (record, state) = alter_isr(&image, 1, &change(&[1, 2, 3]), 3).unwrap();
        assert_eq!(
            (state.isr.clone(), state.leader_epoch, state.partition_epoch),
            (vec![1, 2, 3], 3, 6)
        );
        let offset = image.next_offset;
        image.apply(offset, &record.unwrap());
        assert_eq!(image.topic("t").unwrap().partitions[&0], state);
        // The same ISR again changes nothing.
        let again = IsrChange {
            partition_epoch: 6,
            ..change(&[1, 2, 3])
        };
        assert_eq!(alter_isr(&image, 1, &again, 3).unwrap().0, None);
    }

    #[test]
    fn faults_get_kafkas_codes_in_kafkas_order() {
        let image = setup();
        let with = |f: fn(&mut IsrChange)| {
            let mut c = change(&[1, 2, 3]);
            f(&mut c);
            alter_isr(&image, 1, &c, 3).unwrap_err()
        };
        assert_eq!(with(|c| c.topic_id = Uuid::from_u128(9)), UNKNOWN_TOPIC_ID);
        assert_eq!(with(|c| c.partition = 4), UNKNOWN_TOPIC_OR_PARTITION);
        assert_eq!(with(|c| c.leader_epoch = 4), NOT_CONTROLLER);
        assert_eq!(with(|c| c.partition_epoch = 6), NOT_CONTROLLER);
        assert_eq!(with(|c| c.leader_epoch = 2), FENCED_LEADER_EPOCH);
        assert_eq!(with(|c| c.partition_epoch = 4), INVALID_UPDATE_VERSION);
        assert_eq!(
            with(|c| c.new_isr = vec![(1, -1), (1, -1)]),
            INVALID_REQUEST
        );
        assert_eq!(
            with(|c| c.new_isr = vec![(1, -1), (7, -1)]),
            INVALID_REQUEST
        );
        assert_eq!(with(|c| c.new_isr = vec![(2, -1)]), INVALID_REQUEST);
        assert_eq!(
            with(|c| c.new_isr = vec![(1, -1), (2, 999)]),
            INELIGIBLE_REPLICA
        );
        assert_eq!(
            alter_isr(&image, 2, &change(&[1, 2]), 3).unwrap_err(),
            INVALID_REQUEST
        );
        let mut fenced = image.clone();
        let epoch = fenced.brokers[&3].epoch;
        let offset = fenced.next_offset;
        fenced.apply(
            offset,
            &MetadataRecord::BrokerRegistrationChange {
                id: 3,
                epoch,
                fenced: Some(true),
                in_controlled_shutdown: false,
            },
        );
        assert_eq!(
            alter_isr(&fenced, 1, &change(&[1, 3]), 3).unwrap_err(),
            INELIGIBLE_REPLICA
        );
        assert_eq!(
            alter_isr(&fenced, 1, &change(&[1, 3]), 1).unwrap_err(),
            OPERATION_NOT_ATTEMPTED
        );
        assert_eq!(check_sender(&image, 1, 99), Err(STALE_BROKER_EPOCH));
        assert_eq!(check_sender(&image, 1, image.brokers[&1].epoch), Ok(()));
    }
}
