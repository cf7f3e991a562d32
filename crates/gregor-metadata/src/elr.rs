//! Eligible leader replicas (KIP-966 part 1), as Kafka 4.4's
//! `PartitionChangeBuilder` tracks them: while the ISR is below the topic's
//! min.insync.replicas, the replicas that leave it stay eligible to lead
//! (they held every committed record when they left), so the ISR may shrink
//! to empty and a returning ELR member can still take over cleanly.

use crate::election::Change;
use crate::partition_change::{build, Election, Target};
use crate::{ConfigResource, MetadataImage, MetadataRecord, PartitionImage, TopicImage};
use std::collections::BTreeMap;

/// The feature flag; level 1 turns ELR on (Kafka 4.4 new clusters).
pub const FEATURE: &str = "eligible.leader.replicas.version";

/// The level a newly formatted cluster finalizes, as Kafka 4.4's.
pub const DEFAULT_LEVEL: i16 = 1;

/// Whether the finalized `eligible.leader.replicas.version` is at least 1.
pub fn enabled(image: &MetadataImage) -> bool {
    image.features.get(FEATURE).is_some_and(|&level| level >= 1)
}

/// The topic's effective min.insync.replicas: its own config, else the
/// cluster-wide dynamic default, else Kafka's default of 1.
pub fn min_isr(image: &MetadataImage, topic_configs: &BTreeMap<String, String>) -> usize {
    const KEY: &str = "min.insync.replicas";
    topic_configs
        .get(KEY)
        .or_else(|| image.broker_default_configs.get(KEY))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(1)
}

/// The ELR and last known ELR once the ISR becomes `target_isr`: both empty
/// when ELR is off or the ISR reaches `min_isr`; otherwise the ELR keeps its
/// members and gains the current ISR members that leave, minus the new ISR
/// and `unclean_shutdown` (a broker that restarted without a clean shutdown
/// may have lost records); the last known ELR collects every former member
/// that is in neither. Only current replicas are kept (a reassignment can
/// remove one), in the order first seen, so the result is deterministic.
pub(crate) fn target(
    enabled: bool,
    min_isr: usize,
    current: &PartitionImage,
    replicas: &[i32],
    target_isr: &[i32],
    unclean_shutdown: Option<i32>,
) -> (Vec<i32>, Vec<i32>) {
    if !enabled || target_isr.len() >= min_isr {
        return (Vec::new(), Vec::new());
    }
    let mut candidates: Vec<i32> = Vec::new();
    for &r in current.elr.iter().chain(&current.isr) {
        if !candidates.contains(&r) {
            candidates.push(r);
        }
    }
    let keep = |r: &i32| replicas.contains(r) && !target_isr.contains(r);
    let elr: Vec<i32> = candidates
        .iter()
        .copied()
        .filter(keep)
        .filter(|&r| Some(r) != unclean_shutdown)
        .collect();
    for &r in &current.last_known_elr {
        if !candidates.contains(&r) {
            candidates.push(r);
        }
    }
    let last_known = candidates
        .into_iter()
        .filter(keep)
        .filter(|r| !elr.contains(r))
        .collect();
    (elr, last_known)
}

/// `records` (a config change) followed by the partition changes it
/// implies: when min.insync.replicas changes for a topic or cluster-wide,
/// the partitions concerned get their ELR recomputed against the new
/// minimum (cleared where the ISR now reaches it), as Kafka's controller
/// does on such a config change.
pub fn with_min_isr_effects(
    image: &MetadataImage,
    records: Vec<MetadataRecord>,
) -> Vec<MetadataRecord> {
    let mut cluster_wide = false;
    let mut topics = Vec::new();
    for record in &records {
        if let MetadataRecord::Config { resource, name, .. } = record {
            if name != "min.insync.replicas" {
                continue;
            }
            match resource {
                ConfigResource::Topic(topic) => topics.push(topic.clone()),
                ConfigResource::BrokerDefault => cluster_wide = true,
                ConfigResource::Broker(_)
                | ConfigResource::Group(_)
                | ConfigResource::ClientMetrics(_) => {}
            }
        }
    }
    if !enabled(image) || (!cluster_wide && topics.is_empty()) {
        return records;
    }
    let mut change = Change::new(image);
    for record in records {
        change.push(record);
    }
    recompute(change, |topic, _| {
        cluster_wide || topics.contains(&topic.name)
    })
}

/// `change` followed by the partition changes that recompute the ELR of
/// every partition `concerned` selects against the changed image.
fn recompute(
    mut change: Change,
    concerned: impl Fn(&TopicImage, &PartitionImage) -> bool,
) -> Vec<MetadataRecord> {
    let mut updates = Vec::new();
    for topic in change.image.topics.values() {
        for (&partition, current) in &topic.partitions {
            if !concerned(topic, current) {
                continue;
            }
            let reassignment = topic.reassignments.get(&partition);
            let (_, records) = build(
                &change.image,
                topic.id,
                partition,
                current,
                reassignment,
                Target::of(current, reassignment),
                Election::Online,
            );
            updates.extend(records);
        }
    }
    for record in updates {
        change.push(record);
    }
    change.records
}

/// The records that move `eligible.leader.replicas.version` to `level`:
/// the FeatureLevel record and, when it turns ELR off, the partition
/// changes clearing every ELR and last known ELR, as Kafka's controller
/// does on that downgrade.
pub fn set_level(image: &MetadataImage, level: i16) -> Vec<MetadataRecord> {
    let mut change = Change::new(image);
    change.push(MetadataRecord::FeatureLevel {
        name: FEATURE.to_string(),
        level,
    });
    recompute(change, |_, current| {
        !(current.elr.is_empty() && current.last_known_elr.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(isr: &[i32], elr: &[i32], last_known: &[i32]) -> PartitionImage {
        PartitionImage {
            replicas: vec![1, 2, 3],
            isr: isr.to_vec(),
            leader: isr.first().copied().unwrap_or(-1),
            leader_epoch: 0,
            partition_epoch: 0,
            elr: elr.to_vec(),
            last_known_elr: last_known.to_vec(),
        }
    }

    const R: &[i32] = &[1, 2, 3];

    #[test]
    fn replicas_leaving_an_isr_below_min_isr_join_the_elr() {
        // 3 -> 2 members with min ISR 2: still enough, no ELR.
        assert_eq!(
            target(true, 2, &p(&[1, 2, 3], &[], &[]), R, &[1, 2], None),
            (vec![], vec![])
        );
        // 2 -> 1: the one leaving is eligible.
        assert_eq!(
            target(true, 2, &p(&[1, 2], &[], &[]), R, &[1], None),
            (vec![2], vec![])
        );
        // 1 -> 0: the ISR may empty; the ELR keeps both.
        assert_eq!(
            target(true, 2, &p(&[1], &[2], &[]), R, &[], None),
            (vec![2, 1], vec![])
        );
        // ELR off: nothing tracked.
        assert_eq!(
            target(false, 2, &p(&[1, 2], &[], &[]), R, &[1], None),
            (vec![], vec![])
        );
    }

    #[test]
    fn rejoining_the_isr_or_reaching_min_isr_leaves_the_elr() {
        // 2 rejoins, ISR back to min: ELR and last known ELR cleared.
        assert_eq!(
            target(true, 2, &p(&[1], &[2], &[3]), R, &[1, 2], None),
            (vec![], vec![])
        );
        // With min ISR 3, the rejoining member only leaves the ELR.
        assert_eq!(
            target(true, 3, &p(&[1], &[2, 3], &[]), R, &[1, 2], None),
            (vec![3], vec![])
        );
    }

    #[test]
    fn an_unclean_shutdown_moves_a_member_to_the_last_known_elr() {
        assert_eq!(
            target(true, 2, &p(&[], &[2, 1], &[]), R, &[], Some(2)),
            (vec![1], vec![2])
        );
        // Not a replica any more: dropped from both.
        assert_eq!(
            target(true, 2, &p(&[1], &[2], &[3]), &[1, 2], &[1], None),
            (vec![2], vec![])
        );
    }

    #[test]
    fn turning_elr_off_clears_every_elr() {
        let mut image = crate::testing::cluster(&[1, 2, 3]);
        let id = uuid::Uuid::from_u128(1);
        let with_elr = p(&[1], &[2], &[3]);
        image.apply_entry(
            image.next_offset,
            &[
                MetadataRecord::FeatureLevel {
                    name: FEATURE.into(),
                    level: 1,
                },
                MetadataRecord::Topic {
                    name: "t".into(),
                    id,
                },
                crate::election::partition_record(id, 0, with_elr),
            ],
        );
        assert!(enabled(&image));
        let records = set_level(&image, 0);
        assert_eq!(records.len(), 2, "{records:?}");
        image.apply_entry(image.next_offset, &records);
        assert!(!enabled(&image));
        let p = &image.topics["t"].partitions[&0];
        assert!(p.elr.is_empty() && p.last_known_elr.is_empty());
        assert_eq!((p.leader, p.isr.clone()), (1, vec![1]));
        assert_eq!(
            set_level(&image, 1).len(),
            1,
            "turning it on changes no partition"
        );
    }

    #[test]
    fn min_isr_comes_from_the_topic_then_the_cluster_default() {
        let mut image = MetadataImage::default();
        let mut topic = BTreeMap::new();
        assert_eq!(min_isr(&image, &topic), 1);
        image
            .broker_default_configs
            .insert("min.insync.replicas".into(), "3".into());
        assert_eq!(min_isr(&image, &topic), 3);
        topic.insert("min.insync.replicas".into(), "2".into());
        assert_eq!(min_isr(&image, &topic), 2);
    }
}
