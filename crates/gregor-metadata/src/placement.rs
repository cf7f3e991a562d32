//! Where replicas go: the automatic round-robin placement and the checks an
//! explicit (manual) assignment must pass. Messages follow Kafka's
//! `StripedReplicaPlacer` and `ReplicationControlManager`, since admin tools
//! show them to operators verbatim.

use crate::MetadataImage;

/// Round-robin placement over the registered brokers (sorted by id):
/// replica `r` of partition `p` is broker `(p + r) mod n`, so leaders rotate
/// across brokers and partitions added later continue the rotation.
///
/// Errors carry the placer's message (INVALID_REPLICATION_FACTOR).
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
    let brokers: Vec<i32> = image.brokers.keys().copied().collect();
    if brokers.is_empty() {
        return Err("All brokers are currently fenced.".into());
    }
    let replication = replication_factor as usize;
    if replication > brokers.len() {
        return Err(format!(
            "The target replication factor of {replication_factor} cannot be reached because only {} broker(s) are registered.",
            brokers.len()
        ));
    }
    let placed = (first_partition..first_partition.saturating_add(count.max(0)))
        .map(|p| {
            let start = p.max(0) as usize;
            let replicas = (0..replication)
                .map(|r| brokers[(start + r) % brokers.len()])
                .collect();
            (p, replicas)
        })
        .collect();
    Ok(placed)
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
    use crate::MetadataRecord;

    fn cluster(ids: &[i32]) -> MetadataImage {
        let mut image = MetadataImage::default();
        for &id in ids {
            image.apply(&MetadataRecord::RegisterBroker {
                id,
                host: "h".into(),
                port: 9092,
                rack: None,
            });
        }
        image
    }

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
