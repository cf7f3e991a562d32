//! One partition's next state from a target replica set, ISR and
//! reassignment, as Kafka's `PartitionChangeBuilder` builds it: a
//! reassignment completes once the ISR (without the removing replicas)
//! holds every target replica, then a leader is elected as the election
//! kind asks, and the epochs move.

use crate::election::{partition_record, NO_LEADER};
use crate::elr;
use crate::{MetadataImage, MetadataRecord, PartitionImage, Reassignment};
use uuid::Uuid;

/// How a leader is chosen (Kafka's `PartitionChangeBuilder.Election`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Election {
    /// Keep a valid leader, else the first valid replica.
    Online,
    /// The first replica if valid, else keep a valid leader, else the
    /// first valid replica.
    Preferred,
    /// As `Online`, then any active replica (its ISR becomes itself).
    Unclean,
}

/// Where the partition should go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub reassignment: Reassignment,
    /// A replica that restarted without a clean shutdown: it leaves the
    /// ELR (Kafka's `uncleanShutdownReplicas`).
    pub unclean_shutdown: Option<i32>,
}

impl Target {
    /// The partition as it is: a base to change one thing of.
    pub fn of(current: &PartitionImage, reassignment: Option<&Reassignment>) -> Target {
        Target {
            replicas: current.replicas.clone(),
            isr: current.isr.clone(),
            reassignment: reassignment.cloned().unwrap_or_default(),
            unclean_shutdown: None,
        }
    }
}

/// The partition's next state and the records carrying it (empty when
/// nothing changes). The leader epoch bumps when the leader changes or a
/// replica leaves the replica set (so removed replicas are fenced); the
/// partition epoch on any change of replicas, ISR or leader.
pub fn build(
    image: &MetadataImage,
    topic_id: Uuid,
    partition: i32,
    current: &PartitionImage,
    current_reassignment: Option<&Reassignment>,
    target: Target,
    election: Election,
) -> (PartitionImage, Vec<MetadataRecord>) {
    let Target {
        mut replicas,
        mut isr,
        mut reassignment,
        unclean_shutdown,
    } = target;
    // Complete the reassignment once every target replica is in sync.
    if !reassignment.adding.is_empty() || !reassignment.removing.is_empty() {
        let removing = &reassignment.removing;
        let target_isr: Vec<i32> = isr
            .iter()
            .copied()
            .filter(|r| !removing.contains(r))
            .collect();
        let target_replicas = reassignment.target(&replicas);
        if target_replicas.iter().all(|r| target_isr.contains(r)) {
            replicas = target_replicas;
            isr = target_isr;
            reassignment = Reassignment::default();
        }
    }
    let elr_enabled = elr::enabled(image);
    let min_isr = image
        .topic_by_id(&topic_id)
        .map_or(1, |t| elr::min_isr(image, &t.configs));
    let (mut elr, mut last_known_elr) = elr::target(
        elr_enabled,
        min_isr,
        current,
        &replicas,
        &isr,
        unclean_shutdown,
    );
    // An ELR member may lead only once the ISR is empty.
    let valid = |r: i32, isr: &[i32], elr: &[i32]| {
        (isr.contains(&r) || (isr.is_empty() && elr.contains(&r))) && image.is_active(r)
    };
    let keep = (current.leader != NO_LEADER && valid(current.leader, &isr, &elr))
        .then_some(current.leader);
    let first_valid = || replicas.iter().copied().find(|&r| valid(r, &isr, &elr));
    let mut leader = match election {
        Election::Preferred => replicas
            .first()
            .copied()
            .filter(|&r| valid(r, &isr, &elr))
            .or(keep)
            .or_else(first_valid),
        Election::Online | Election::Unclean => keep.or_else(first_valid),
    };
    if let Some(l) = leader.filter(|&l| l != current.leader && elr.contains(&l)) {
        // A clean election from the ELR: the new leader is the whole ISR.
        isr = vec![l];
        elr.retain(|&r| r != l);
    }
    if leader.is_none() && election == Election::Unclean {
        // Data written only to the old ISR may be lost: only when asked.
        if let Some(r) = replicas.iter().copied().find(|&r| image.is_active(r)) {
            isr = vec![r];
            leader = Some(r);
            // Nobody left is known to hold every committed record.
            elr.clear();
            last_known_elr.clear();
        }
    }
    if isr.is_empty() && !elr_enabled {
        // Without ELR the ISR never empties: its last member is the only
        // one known to be complete.
        isr = current.isr.clone();
    }
    let leader = leader.unwrap_or(NO_LEADER);
    let replica_removed = current.replicas.iter().any(|r| !replicas.contains(r));
    let partition_changed = replicas != current.replicas
        || isr != current.isr
        || leader != current.leader
        || elr != current.elr
        || last_known_elr != current.last_known_elr;
    let next = PartitionImage {
        leader_epoch: current.leader_epoch + i32::from(leader != current.leader || replica_removed),
        partition_epoch: current.partition_epoch + i32::from(partition_changed),
        replicas,
        isr,
        leader,
        elr,
        last_known_elr,
    };
    let mut records = Vec::new();
    if partition_changed {
        records.push(partition_record(topic_id, partition, next.clone()));
    }
    if reassignment != current_reassignment.cloned().unwrap_or_default() {
        records.push(MetadataRecord::PartitionReassignment {
            topic_id,
            partition,
            adding: reassignment.adding,
            removing: reassignment.removing,
        });
    }
    (next, records)
}

/// Whether `unclean.leader.election.enable` holds for `topic`: its own
/// config, else the cluster-wide dynamic default, else `static_default`
/// (the node's configuration).
pub fn unclean_enabled(
    image: &MetadataImage,
    topic_configs: &std::collections::BTreeMap<String, String>,
    static_default: bool,
) -> bool {
    const KEY: &str = "unclean.leader.election.enable";
    topic_configs
        .get(KEY)
        .or_else(|| image.broker_default_configs.get(KEY))
        .map_or(static_default, |v| v.eq_ignore_ascii_case("true"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{cluster, fence};

    fn p(replicas: &[i32], isr: &[i32], leader: i32) -> PartitionImage {
        PartitionImage {
            replicas: replicas.to_vec(),
            isr: isr.to_vec(),
            leader,
            leader_epoch: 2,
            partition_epoch: 5,
            elr: Vec::new(),
            last_known_elr: Vec::new(),
        }
    }

    fn run(
        image: &MetadataImage,
        current: &PartitionImage,
        target: Target,
        election: Election,
    ) -> (PartitionImage, Vec<MetadataRecord>) {
        build(image, Uuid::nil(), 0, current, None, target, election)
    }

    #[test]
    fn preferred_election_moves_to_the_first_replica_only_when_valid() {
        let mut image = cluster(&[1, 2, 3]);
        let current = p(&[1, 2, 3], &[1, 2, 3], 2);
        let (next, records) = run(
            &image,
            &current,
            Target::of(&current, None),
            Election::Preferred,
        );
        assert_eq!(
            (next.leader, next.leader_epoch, next.partition_epoch),
            (1, 3, 6)
        );
        assert_eq!(records.len(), 1);
        // Online keeps a valid leader.
        let (_, records) = run(
            &image,
            &current,
            Target::of(&current, None),
            Election::Online,
        );
        assert!(records.is_empty());
        // The preferred replica fenced: the current leader stays, nothing changes.
        fence(&mut image, 1);
        let (next, records) = run(
            &image,
            &current,
            Target::of(&current, None),
            Election::Preferred,
        );
        assert_eq!((next.leader, records.len()), (2, 0));
        // Not in the ISR: same.
        let image = cluster(&[1, 2, 3]);
        let out = p(&[1, 2, 3], &[2, 3], 2);
        let (_, records) = run(&image, &out, Target::of(&out, None), Election::Preferred);
        assert!(records.is_empty());
    }

    #[test]
    fn unclean_election_picks_any_active_replica_with_an_isr_of_itself() {
        let mut image = cluster(&[1, 2]);
        fence(&mut image, 1);
        let leaderless = p(&[1, 2], &[1], NO_LEADER);
        let (next, _) = run(
            &image,
            &leaderless,
            Target::of(&leaderless, None),
            Election::Online,
        );
        assert_eq!(next.leader, NO_LEADER);
        let (next, records) = run(
            &image,
            &leaderless,
            Target::of(&leaderless, None),
            Election::Unclean,
        );
        assert_eq!((next.leader, next.isr, next.leader_epoch), (2, vec![2], 3));
        assert_eq!(records.len(), 1);
    }

    #[test]
    fn a_reassignment_completes_when_every_target_replica_is_in_sync() {
        let image = cluster(&[1, 2, 3, 4]);
        let current = p(&[4, 2, 1], &[2, 1], 1);
        let moving = Reassignment {
            adding: vec![4],
            removing: vec![1],
        };
        let target = Target::of(&current, Some(&moving));
        let (next, records) = build(
            &image,
            Uuid::nil(),
            0,
            &current,
            Some(&moving),
            target,
            Election::Online,
        );
        assert!(records.is_empty(), "4 is not in sync yet");
        assert_eq!(next, current);
        // 4 joins the ISR: 1 leaves, leadership moves, epochs bump.
        let target = Target {
            isr: vec![2, 1, 4],
            ..Target::of(&current, Some(&moving))
        };
        let (next, records) = build(
            &image,
            Uuid::nil(),
            0,
            &current,
            Some(&moving),
            target,
            Election::Online,
        );
        assert_eq!(next.replicas, vec![4, 2]);
        assert_eq!(next.isr, vec![2, 4]);
        assert_eq!(
            (next.leader, next.leader_epoch, next.partition_epoch),
            (4, 3, 6)
        );
        assert_eq!(records.len(), 2);
        assert!(matches!(
            &records[1],
            MetadataRecord::PartitionReassignment { adding, removing, .. }
                if adding.is_empty() && removing.is_empty()
        ));
    }

    #[test]
    fn removing_a_follower_bumps_the_leader_epoch() {
        let image = cluster(&[1, 2, 3]);
        let current = p(&[1, 2, 3], &[1, 2, 3], 1);
        let target = Target {
            reassignment: Reassignment {
                adding: vec![],
                removing: vec![3],
            },
            ..Target::of(&current, None)
        };
        let (next, records) = run(&image, &current, target, Election::Online);
        assert_eq!((next.replicas, next.isr), (vec![1, 2], vec![1, 2]));
        assert_eq!((next.leader, next.leader_epoch), (1, 3));
        // Completed at once: only the partition record (no reassignment was recorded).
        assert_eq!(records.len(), 1);
    }
}
