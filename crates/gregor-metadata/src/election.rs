//! Leader and ISR changes, as Kafka's `PartitionChangeBuilder` decides them,
//! and the scratch image a multi-record change is built against.

use crate::partition_change::{build, Election, Target};
use crate::{MetadataImage, MetadataRecord, PartitionImage};
use uuid::Uuid;

/// Kafka's "no leader" id.
pub const NO_LEADER: i32 = -1;

/// A metadata change being built: every record pushed is applied to a
/// scratch copy of the image at once, so later decisions in the same change
/// see the earlier ones (the whole change is one raft entry).
pub(crate) struct Change {
    pub image: MetadataImage,
    pub records: Vec<MetadataRecord>,
    offset: i64,
}

impl Change {
    pub fn new(image: &MetadataImage) -> Change {
        Change {
            image: image.clone(),
            records: Vec::new(),
            // Where the entry will land if nothing else commits first; only
            // a registration's epoch depends on it.
            offset: image.next_offset,
        }
    }

    pub fn push(&mut self, record: MetadataRecord) {
        self.image.apply(self.offset, &record);
        self.records.push(record);
    }
}

/// The partition after an election, as Kafka's `PartitionChangeBuilder`
/// makes it on fencing, shutdown and unfencing: `remove` leaves the ISR;
/// without ELR only if others remain (the last member is the only one known
/// to be complete), with ELR the ISR may empty since the ELR remembers who
/// was complete (see [`crate::elr`]). `unclean_shutdown` leaves the ELR.
/// The leader is the current one if still valid, else the first valid
/// replica: an active ISR member, or an active ELR member once the ISR is
/// empty; with none, [`NO_LEADER`], unless `unclean` lets any active replica
/// lead with an ISR of itself alone.
///
/// The partition's next state and its records; `None` when nothing changes.
pub(crate) fn elect(
    image: &MetadataImage,
    topic_id: Uuid,
    partition: i32,
    current: &PartitionImage,
    remove: Option<i32>,
    unclean_shutdown: Option<i32>,
    unclean: bool,
) -> Option<(PartitionImage, Vec<MetadataRecord>)> {
    let mut isr = current.isr.clone();
    if let Some(broker) = remove {
        if isr.len() > 1 || crate::elr::enabled(image) {
            isr.retain(|&r| r != broker);
        }
    }
    let reassignment = image
        .topic_by_id(&topic_id)
        .and_then(|t| t.reassignments.get(&partition));
    let target = Target {
        isr,
        unclean_shutdown,
        ..Target::of(current, reassignment)
    };
    let election = if unclean {
        Election::Unclean
    } else {
        Election::Online
    };
    let (next, records) = build(
        image,
        topic_id,
        partition,
        current,
        reassignment,
        target,
        election,
    );
    (!records.is_empty()).then_some((next, records))
}

/// Re-elects every partition `broker` is a replica of, against the change's
/// image (where the broker's new state already is): with `remove_from_isr`
/// it also leaves their ISRs (fencing, controlled shutdown, unregistering);
/// without, leaderless partitions it is in the ISR or ELR of get it back
/// (unfencing).
pub(crate) fn reelect_for(
    change: &mut Change,
    broker: i32,
    remove_from_isr: bool,
    unclean_default: bool,
) {
    reelect(change, broker, remove_from_isr, false, unclean_default);
}

/// A broker that registers again without having shut down cleanly (its
/// previous broker epoch is not its last registration's) may have lost
/// records it had acknowledged: it leaves the ELR of every partition, as
/// Kafka's `handleBrokerUncleanShutdown` (its ISR places are not touched
/// here).
pub(crate) fn remove_unclean_for(change: &mut Change, broker: i32, unclean_default: bool) {
    reelect(change, broker, false, true, unclean_default);
}

fn reelect(
    change: &mut Change,
    broker: i32,
    remove_from_isr: bool,
    unclean_shutdown: bool,
    unclean_default: bool,
) {
    let mut updates = Vec::new();
    for topic in change.image.topics.values() {
        let unclean = crate::partition_change::unclean_enabled(
            &change.image,
            &topic.configs,
            unclean_default,
        );
        for (&partition, current) in &topic.partitions {
            if !current.replicas.contains(&broker) {
                continue;
            }
            let remove = remove_from_isr.then_some(broker);
            let unclean_shutdown = unclean_shutdown.then_some(broker);
            if let Some((_, records)) = elect(
                &change.image,
                topic.id,
                partition,
                current,
                remove,
                unclean_shutdown,
                unclean,
            ) {
                updates.extend(records);
            }
        }
    }
    for record in updates {
        change.push(record);
    }
}

pub(crate) fn partition_record(
    topic_id: Uuid,
    partition: i32,
    p: PartitionImage,
) -> MetadataRecord {
    MetadataRecord::Partition {
        topic_id,
        partition,
        replicas: p.replicas,
        isr: p.isr,
        leader: p.leader,
        leader_epoch: p.leader_epoch,
        partition_epoch: p.partition_epoch,
        elr: p.elr,
        last_known_elr: p.last_known_elr,
    }
}

/// Whether `broker` leads any partition.
pub(crate) fn leads_any(image: &MetadataImage, broker: i32) -> bool {
    image
        .topics
        .values()
        .any(|t| t.partitions.values().any(|p| p.leader == broker))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{cluster, fence};

    fn partition(replicas: &[i32], isr: &[i32], leader: i32) -> PartitionImage {
        PartitionImage {
            replicas: replicas.to_vec(),
            isr: isr.to_vec(),
            leader,
            leader_epoch: 4,
            partition_epoch: 7,
            elr: Vec::new(),
            last_known_elr: Vec::new(),
        }
    }

    fn el(
        image: &MetadataImage,
        current: &PartitionImage,
        remove: Option<i32>,
        unclean: bool,
    ) -> Option<PartitionImage> {
        elect(image, Uuid::nil(), 0, current, remove, None, unclean).map(|(p, _)| p)
    }

    #[test]
    fn a_fenced_leader_hands_over_to_the_next_active_isr_member() {
        let mut image = cluster(&[1, 2, 3]);
        fence(&mut image, 1);
        let next = el(&image, &partition(&[1, 2, 3], &[1, 3], 1), Some(1), false).unwrap();
        assert_eq!((next.leader, next.isr.clone()), (3, vec![3]));
        assert_eq!((next.leader_epoch, next.partition_epoch), (5, 8));
        // A follower leaving the ISR bumps only the partition epoch.
        let next = el(&image, &partition(&[2, 1], &[2, 1], 2), Some(1), false).unwrap();
        assert_eq!((next.leader, next.isr), (2, vec![2]));
        assert_eq!((next.leader_epoch, next.partition_epoch), (4, 8));
        // Nothing to do: no record.
        assert_eq!(
            el(&image, &partition(&[2, 3], &[2, 3], 2), Some(1), false),
            None
        );
    }

    #[test]
    fn the_last_isr_member_stays_and_only_unclean_elections_pick_others() {
        let mut image = cluster(&[1, 2]);
        fence(&mut image, 1);
        let offline = el(&image, &partition(&[1, 2], &[1], 1), Some(1), false).unwrap();
        assert_eq!((offline.leader, offline.isr.clone()), (NO_LEADER, vec![1]));
        assert_eq!(offline.leader_epoch, 5);
        let unclean = el(&image, &partition(&[1, 2], &[1], 1), Some(1), true).unwrap();
        assert_eq!((unclean.leader, unclean.isr), (2, vec![2]));
        // Once 1 is back, the leaderless partition is its again.
        let mut back = cluster(&[1, 2]);
        fence(&mut back, 2);
        let led = el(&back, &offline, None, false).unwrap();
        assert_eq!((led.leader, led.isr, led.leader_epoch), (1, vec![1], 6));
    }

    /// Brokers 1-3, ELR at `level`, topic "t" (min.insync.replicas 2) with
    /// partition 0 on [1, 2, 3], all in sync, led by 1.
    fn elr_cluster(level: i16) -> (MetadataImage, Uuid) {
        let mut image = cluster(&[1, 2, 3]);
        let id = Uuid::from_u128(7);
        let offset = image.next_offset;
        image.apply_entry(
            offset,
            &[
                MetadataRecord::FeatureLevel {
                    name: crate::elr::FEATURE.into(),
                    level,
                },
                MetadataRecord::Topic {
                    name: "t".into(),
                    id,
                },
                MetadataRecord::Config {
                    resource: crate::ConfigResource::Topic("t".into()),
                    name: "min.insync.replicas".into(),
                    value: Some("2".into()),
                },
                partition_record(id, 0, partition(&[1, 2, 3], &[1, 2, 3], 1)),
            ],
        );
        (image, id)
    }

    fn set_fenced(image: &mut MetadataImage, id: i32, fenced: bool) {
        let epoch = image.brokers[&id].epoch;
        let mut change = Change::new(image);
        change.push(MetadataRecord::BrokerRegistrationChange {
            id,
            epoch,
            fenced: Some(fenced),
            in_controlled_shutdown: false,
        });
        reelect_for(&mut change, id, fenced, false);
        *image = change.image;
    }

    fn state(image: &MetadataImage) -> (i32, Vec<i32>, Vec<i32>, Vec<i32>) {
        let p = &image.topics["t"].partitions[&0];
        (
            p.leader,
            p.isr.clone(),
            p.elr.clone(),
            p.last_known_elr.clone(),
        )
    }

    #[test]
    fn with_elr_the_isr_empties_and_a_returning_elr_member_leads() {
        let (mut image, _) = elr_cluster(1);
        set_fenced(&mut image, 1, true);
        assert_eq!(state(&image), (2, vec![2, 3], vec![], vec![]));
        set_fenced(&mut image, 2, true);
        assert_eq!(state(&image), (3, vec![3], vec![2], vec![]));
        set_fenced(&mut image, 3, true);
        assert_eq!(state(&image), (NO_LEADER, vec![], vec![2, 3], vec![]));
        // 1 left while the ISR was still at min ISR: not eligible.
        set_fenced(&mut image, 1, false);
        assert_eq!(state(&image), (NO_LEADER, vec![], vec![2, 3], vec![]));
        // 2 comes back: an ELR member, it leads alone.
        set_fenced(&mut image, 2, false);
        assert_eq!(state(&image), (2, vec![2], vec![3], vec![]));
        let p = &image.topics["t"].partitions[&0];
        assert_eq!(p.leader_epoch, 8, "one bump per leader change (4 of them)");
    }

    #[test]
    fn without_elr_the_last_isr_member_stays() {
        let (mut image, _) = elr_cluster(0);
        for b in [1, 2, 3] {
            set_fenced(&mut image, b, true);
        }
        assert_eq!(state(&image), (NO_LEADER, vec![3], vec![], vec![]));
        set_fenced(&mut image, 2, false);
        assert_eq!(state(&image), (NO_LEADER, vec![3], vec![], vec![]));
    }

    #[test]
    fn an_unclean_shutdown_leaves_the_elr_for_the_last_known_elr() {
        let (mut image, _) = elr_cluster(1);
        for b in [1, 2, 3] {
            set_fenced(&mut image, b, true);
        }
        let mut change = Change::new(&image);
        remove_unclean_for(&mut change, 3, false);
        assert_eq!(state(&change.image), (NO_LEADER, vec![], vec![2], vec![3]));
        // 3 is back but not eligible; 2 still is.
        set_fenced(&mut change.image, 3, false);
        assert_eq!(state(&change.image), (NO_LEADER, vec![], vec![2], vec![3]));
        set_fenced(&mut change.image, 2, false);
        assert_eq!(state(&change.image), (2, vec![2], vec![], vec![3]));
    }

    #[test]
    fn an_unclean_election_clears_the_elr() {
        let (mut image, id) = elr_cluster(1);
        for b in [1, 2, 3] {
            set_fenced(&mut image, b, true);
        }
        let mut change = Change::new(&image);
        remove_unclean_for(&mut change, 2, false);
        remove_unclean_for(&mut change, 3, false);
        let mut image = change.image;
        assert_eq!(state(&image), (NO_LEADER, vec![], vec![], vec![3, 2]));
        set_fenced(&mut image, 1, false);
        let current = image.topics["t"].partitions[&0].clone();
        let (next, _) = elect(&image, id, 0, &current, None, None, true).unwrap();
        assert_eq!(
            (next.leader, next.isr, next.elr, next.last_known_elr),
            (1, vec![1], vec![], vec![])
        );
    }

    #[test]
    fn min_isr_changes_recompute_the_elr() {
        let (mut image, _) = elr_cluster(1);
        set_fenced(&mut image, 1, true);
        set_fenced(&mut image, 2, true);
        assert_eq!(state(&image), (3, vec![3], vec![2], vec![]));
        let records = crate::controller::alter_topic_configs(
            &image,
            "t",
            &[("min.insync.replicas".into(), Some("1".into()))],
        )
        .unwrap();
        assert_eq!(records.len(), 2, "the config and the partition change");
        let offset = image.next_offset;
        image.apply_entry(offset, &records);
        assert_eq!(state(&image), (3, vec![3], vec![], vec![]));
    }
}
