//! Where replicas go: the automatic round-robin placement and the checks an
//! explicit (manual) assignment must pass. Messages follow Kafka's
//! `StripedReplicaPlacer` and `ReplicationControlManager`, since admin tools
//! show them to operators verbatim.

use crate::MetadataImage;
use std::collections::{BTreeMap, BTreeSet};

/// One rack's brokers, as placement draws them: unfenced first (sorted by
/// id), then fenced ones, which may only ever be followers.
struct Rack {
    unfenced: Vec<i32>,
    order: Vec<i32>,
}

/// Kafka's striped placement, made deterministic: usable brokers (registered
/// and not in controlled shutdown) are grouped by rack; partition `p`'s
/// leader is an unfenced broker of rack `p mod racks` (or the next rack
/// having one), picked round-robin within the rack, and its followers come
/// one per rack from the racks after it, so replicas spread over racks
/// before any rack gets a second one. Without racks this is plain
/// round-robin over the sorted ids: replica `r` of partition `p` is broker
/// `(p + r) mod n`, and partitions added later continue the rotation.
///
/// As in Kafka, the replication factor is checked against all usable
/// brokers, fenced ones included: a fenced broker may be a follower (it
/// starts outside the ISR) but never the leader, and at least one broker
/// must be unfenced. Errors carry the placer's message
/// (INVALID_REPLICATION_FACTOR).
pub(crate) fn place(
    image: &MetadataImage,
    first_partition: i32,
    count: i32,
    replication_factor: i16,
) -> Result<Vec<(i32, Vec<i32>)>, String> {
    if replication_factor <= 0 {
        return Err(format!(
            "Invalid replication factor {replication_factor}: the replication factor must be positive."
        ));
    }
    let mut by_rack: BTreeMap<Option<&str>, (Vec<i32>, Vec<i32>)> = BTreeMap::new();
    for broker in image.brokers.values().filter(|b| !b.in_controlled_shutdown) {
        let rack = by_rack.entry(broker.rack.as_deref()).or_default();
        if broker.fenced {
            rack.1.push(broker.id);
        } else {
            rack.0.push(broker.id);
        }
    }
    let unfenced: usize = by_rack.values().map(|r| r.0.len()).sum();
    let total: usize = by_rack.values().map(|r| r.0.len() + r.1.len()).sum();
    if unfenced == 0 {
        return Err("All brokers are currently fenced.".into());
    }
    let replication = replication_factor as usize;
    if replication > total {
        return Err(format!(
            "The target replication factor of {replication_factor} cannot be reached because only {total} broker(s) are registered."
        ));
    }
    // Racks with an unfenced broker first, as Kafka orders them.
    let (mut racks, fenced_only): (Vec<Rack>, Vec<Rack>) = by_rack
        .into_values()
        .map(|(unfenced, fenced)| Rack {
            order: unfenced.iter().chain(&fenced).copied().collect(),
            unfenced,
        })
        .partition(|r| !r.unfenced.is_empty());
    let leader_racks = racks.len();
    racks.extend(fenced_only);

    let placed = (first_partition..first_partition.saturating_add(count.max(0)))
        .map(|p| {
            let p_index = p.max(0) as usize;
            let round = p_index / leader_racks;
            let leader_rack = p_index % leader_racks;
            let leader_pos = round % racks[leader_rack].unfenced.len();
            // Each rack hands out its brokers in rotation from this round's
            // start; the leader's rack continues after the leader.
            let mut next: Vec<usize> = racks
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    if i == leader_rack {
                        leader_pos + 1
                    } else {
                        round % r.order.len()
                    }
                })
                .collect();
            let mut taken: Vec<usize> = vec![0; racks.len()];
            taken[leader_rack] = 1;
            let mut replicas = vec![racks[leader_rack].unfenced[leader_pos]];
            let mut chosen: BTreeSet<i32> = replicas.iter().copied().collect();
            let mut rack = leader_rack;
            // Every broker is drawn at most once and `total` covers the
            // factor, so this ends; the budget only guards against a bug.
            let mut budget = racks.len() * (total + 1);
            while replicas.len() < replication && budget > 0 {
                budget -= 1;
                rack = (rack + 1) % racks.len();
                let r = &racks[rack];
                if taken[rack] < r.order.len() {
                    let broker = r.order[next[rack] % r.order.len()];
                    next[rack] += 1;
                    taken[rack] += 1;
                    if chosen.insert(broker) {
                        replicas.push(broker);
                    }
                }
            }
            (p, replicas)
        })
        .collect();
    Ok(placed)
}

/// The initial ISR of a new partition: its active replicas in replica
/// order (Kafka leaves fenced and shutting-down brokers out). The first
/// one leads.
pub(crate) fn active_isr(image: &MetadataImage, replicas: &[i32]) -> Vec<i32> {
    replicas
        .iter()
        .copied()
        .filter(|&r| image.is_active(r))
        .collect()
}

/// Checks one partition of a manual assignment: not empty, only registered
/// brokers, none twice, and (when given) the same replica count as the
/// partitions before it. Errors are INVALID_REPLICA_ASSIGNMENT messages.
pub(crate) fn check_manual(
    image: &MetadataImage,
    replicas: &[i32],
    replication_factor: Option<usize>,
) -> Result<(), String> {
    if replicas.is_empty() {
        return Err("The manual partition assignment includes an empty replica list.".into());
    }
    // Kafka walks the sorted ids, so the first offending id is the smallest.
    let mut sorted = replicas.to_vec();
    sorted.sort_unstable();
    let mut previous = None;
    for broker in sorted {
        if !image.brokers.contains_key(&broker) {
            return Err(format!(
                "The manual partition assignment includes broker {broker}, but no such broker is registered."
            ));
        }
        if previous == Some(broker) {
            return Err(format!(
                "The manual partition assignment includes the broker {broker} more than once."
            ));
        }
        previous = Some(broker);
    }
    match replication_factor {
        Some(expected) if expected != replicas.len() => Err(format!(
            "The manual partition assignment includes a partition with {} replica(s), but this is not consistent with previous partitions, which have {expected} replica(s).",
            replicas.len()
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{cluster, racked_cluster};
    use crate::MetadataRecord;

    #[test]
    fn round_robin_over_sorted_ids_continues_across_calls() {
        let image = cluster(&[30, 10, 20]);
        assert_eq!(
            place(&image, 0, 4, 2).unwrap(),
            vec![
                (0, vec![10, 20]),
                (1, vec![20, 30]),
                (2, vec![30, 10]),
                (3, vec![10, 20])
            ]
        );
        assert_eq!(place(&image, 4, 1, 3).unwrap(), vec![(4, vec![20, 30, 10])]);
    }

    #[test]
    fn replicas_spread_over_racks_and_leaders_rotate() {
        let image = racked_cluster(&[(1, "a"), (2, "a"), (3, "b"), (4, "b"), (5, "c"), (6, "c")]);
        let rack = |id: i32| image.brokers[&id].rack.clone();
        let placed = place(&image, 0, 6, 3).unwrap();
        for (_, replicas) in &placed {
            let racks: BTreeSet<_> = replicas.iter().map(|&r| rack(r)).collect();
            assert_eq!(racks.len(), 3, "{replicas:?}");
        }
        let leaders: BTreeSet<i32> = placed.iter().map(|(_, r)| r[0]).collect();
        assert_eq!(leaders.len(), 6, "{placed:?}");
        // Two racks, factor three: one rack holds two replicas, never the same broker twice.
        let two = racked_cluster(&[(1, "a"), (2, "a"), (3, "b")]);
        for (_, replicas) in place(&two, 0, 5, 3).unwrap() {
            assert_eq!(replicas.iter().collect::<BTreeSet<_>>().len(), 3);
        }
    }

    #[test]
    fn fenced_brokers_only_follow_and_shutting_down_ones_get_nothing() {
        let mut image = cluster(&[1, 2, 3]);
        let epoch = image.brokers[&2].epoch;
        image.apply(
            9,
            &MetadataRecord::BrokerRegistrationChange {
                id: 2,
                epoch,
                fenced: Some(true),
                in_controlled_shutdown: false,
            },
        );
        for (_, replicas) in place(&image, 0, 6, 3).unwrap() {
            assert_ne!(replicas[0], 2, "{replicas:?}");
            assert!(replicas.contains(&2));
        }
        assert_eq!(active_isr(&image, &[2, 3, 1]), vec![3, 1]);
        let epoch = image.brokers[&3].epoch;
        image.apply(
            10,
            &MetadataRecord::BrokerRegistrationChange {
                id: 3,
                epoch,
                fenced: None,
                in_controlled_shutdown: true,
            },
        );
        assert_eq!(
            place(&image, 0, 1, 3).unwrap_err(),
            "The target replication factor of 3 cannot be reached because only 2 broker(s) are registered."
        );
        assert_eq!(
            place(&image, 0, 2, 2).unwrap(),
            vec![(0, vec![1, 2]), (1, vec![1, 2])]
        );
    }

    #[test]
    fn placer_refusals_use_kafkas_words() {
        let one = cluster(&[1]);
        assert_eq!(
            place(&one, 0, 1, 3).unwrap_err(),
            "The target replication factor of 3 cannot be reached because only 1 broker(s) are registered."
        );
        assert!(place(&one, 0, 1, 0)
            .unwrap_err()
            .contains("must be positive"));
        assert_eq!(
            place(&cluster(&[]), 0, 1, 1).unwrap_err(),
            "All brokers are currently fenced."
        );
        let mut fenced = MetadataImage::default();
        fenced.apply(0, &crate::testing::register(1, None));
        assert_eq!(
            place(&fenced, 0, 1, 1).unwrap_err(),
            "All brokers are currently fenced."
        );
    }

    #[test]
    fn manual_assignments_are_checked_like_kafka() {
        let image = cluster(&[1, 2, 3]);
        assert!(check_manual(&image, &[3, 1], Some(2)).is_ok());
        assert!(check_manual(&image, &[], None)
            .unwrap_err()
            .contains("empty replica list"));
        assert!(check_manual(&image, &[9, 1], None)
            .unwrap_err()
            .contains("broker 9, but no such broker"));
        assert!(check_manual(&image, &[2, 1, 2], None)
            .unwrap_err()
            .contains("broker 2 more than once"));
        assert!(check_manual(&image, &[1], Some(2))
            .unwrap_err()
            .contains("with 1 replica(s)"));
    }
}
