//! Moving one member from what it has towards its target, as Kafka's
//! `CurrentAssignmentBuilder`. The rule that keeps a partition from being
//! consumed twice: a member first gives up what it must (staying in its
//! epoch, `UnrevokedPartitions`, until a heartbeat no longer lists those
//! partitions), and only then moves to the target epoch; there it gets the
//! target's partitions that nobody else still holds, waiting
//! (`UnreleasedPartitions`) for the rest.

use super::assignment::{self, Assignment};
use super::records::{MemberAssignment, MemberState};
use super::refusal::Refusal;
use gregor_protocol::error_codes::FENCED_MEMBER_EPOCH;
use uuid::Uuid;

/// What the member is reconciled against.
pub(crate) struct Target<'a> {
    pub epoch: i32,
    pub partitions: &'a Assignment,
    /// The epoch of a partition's current owner, if it has one.
    pub owner_epoch: &'a dyn Fn(Uuid, i32) -> Option<i32>,
    /// Partitions of topics that no longer exist are dropped outright.
    pub topic_exists: &'a dyn Fn(Uuid) -> bool,
}

/// The member's next assignment state given what it says it owns
/// (`None`: it did not say).
pub(crate) fn reconcile(
    current: &MemberAssignment,
    target: &Target<'_>,
    owned: Option<&Assignment>,
) -> Result<MemberAssignment, Refusal> {
    match current.state {
        MemberState::Stable if current.epoch != target.epoch => {
            Ok(next(current, current.epoch, target, owned))
        }
        MemberState::Stable => Ok(current.clone()),
        MemberState::UnrevokedPartitions => {
            if assignment::still_owns_any(owned, &current.pending_revocation) {
                Ok(current.clone())
            } else {
                Ok(next(current, current.epoch + 1, target, owned))
            }
        }
        MemberState::UnreleasedPartitions => Ok(next(current, current.epoch, target, owned)),
        MemberState::Unknown => {
            // Only a newer Kafka writes states we do not know: start the
            // member over from nothing.
            if owned.is_none_or(|owned| !owned.is_empty()) {
                return Err(Refusal::new(
                    FENCED_MEMBER_EPOCH,
                    "The consumer group member is in a unknown state. The member must abandon \
                     all its partitions and rejoin.",
                ));
            }
            Ok(next(current, target.epoch, target, owned))
        }
    }
}

/// Kafka's `computeNextAssignment`; `epoch` is where the member stays if it
/// has something to revoke.
fn next(
    current: &MemberAssignment,
    epoch: i32,
    target: &Target<'_>,
    owned: Option<&Assignment>,
) -> MemberAssignment {
    let mut kept = Assignment::new();
    let mut revoking = Assignment::new();
    let mut incoming = Assignment::new();
    let mut unreleased = false;
    for (topic, partition) in assignment::pairs(&current.assigned) {
        if !(target.topic_exists)(topic) {
            continue;
        }
        if assignment::contains(target.partitions, topic, partition) {
            assignment::insert(&mut kept, topic, partition);
        } else {
            assignment::insert(&mut revoking, topic, partition);
        }
    }
    for (topic, partition) in assignment::pairs(target.partitions) {
        if assignment::contains(&kept, topic, partition) {
            continue;
        }
        if (target.owner_epoch)(topic, partition).is_some() {
            unreleased = true;
        } else {
            assignment::insert(&mut incoming, topic, partition);
        }
    }
    // KIP-1251: what the member keeps or revokes keeps the epoch it was
    // assigned at; what it gets now is assigned at the target epoch.
    let held_since = |topic, partition| {
        current
            .assignment_epoch(topic, partition)
            .unwrap_or(target.epoch)
    };
    let with = |state, epoch, assigned: Assignment, pending_revocation: Assignment| {
        let assignment_epochs = assignment::pairs(&assigned)
            .chain(assignment::pairs(&pending_revocation))
            .map(|(topic, partition)| ((topic, partition), held_since(topic, partition)))
            .collect();
        MemberAssignment {
            epoch,
            // The epoch moved: the old one stays acceptable for one heartbeat
            // whose answer may have been lost.
            previous_epoch: if epoch != current.epoch {
                current.epoch
            } else {
                current.previous_epoch
            },
            state,
            assigned,
            pending_revocation,
            assignment_epochs,
        }
    };
    if !revoking.is_empty() && assignment::still_owns_any(owned, &revoking) {
        with(MemberState::UnrevokedPartitions, epoch, kept, revoking)
    } else {
        for (topic, partition) in assignment::pairs(&incoming) {
            assignment::insert(&mut kept, topic, partition);
        }
        let state = if unreleased {
            MemberState::UnreleasedPartitions
        } else {
            MemberState::Stable
        };
        with(state, target.epoch, kept, Assignment::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gregor_protocol::error_codes::FENCED_MEMBER_EPOCH;

    fn t() -> Uuid {
        Uuid::from_bytes([1; 16])
    }

    fn parts(ps: &[i32]) -> Assignment {
        let mut a = Assignment::new();
        for p in ps {
            assignment::insert(&mut a, t(), *p);
        }
        a
    }

    fn member(
        epoch: i32,
        state: MemberState,
        assigned: &[i32],
        revoking: &[i32],
    ) -> MemberAssignment {
        // Every partition held since this epoch.
        let assignment_epochs = assigned
            .iter()
            .chain(revoking)
            .map(|p| ((t(), *p), epoch))
            .collect();
        MemberAssignment {
            epoch,
            previous_epoch: epoch - 1,
            state,
            assigned: parts(assigned),
            pending_revocation: parts(revoking),
            assignment_epochs,
        }
    }

    fn run(
        current: &MemberAssignment,
        epoch: i32,
        target: &[i32],
        taken: &[i32],
        owned: Option<&[i32]>,
    ) -> MemberAssignment {
        let target = parts(target);
        let taken = parts(taken);
        let owner = |topic, p| assignment::contains(&taken, topic, p).then_some(1);
        let exists = |_| true;
        let owned = owned.map(parts);
        reconcile(
            current,
            &Target {
                epoch,
                partitions: &target,
                owner_epoch: &owner,
                topic_exists: &exists,
            },
            owned.as_ref(),
        )
        .unwrap()
    }

    #[test]
    fn revokes_before_moving_on() {
        let m = member(3, MemberState::Stable, &[0, 1, 2], &[]);
        // New target keeps 0 only: 1 and 2 must go first, epoch stays 3.
        let step = run(&m, 4, &[0, 3], &[], Some(&[0, 1, 2]));
        assert_eq!(
            step,
            member(3, MemberState::UnrevokedPartitions, &[0], &[1, 2])
        );
        // Still holding 2: nothing moves.
        assert_eq!(run(&step, 4, &[0, 3], &[], Some(&[0, 2])), step);
        // Let go of both: epoch 4 with 0 and the free 3.
        let done = run(&step, 4, &[0, 3], &[], Some(&[0]));
        assert_eq!((done.epoch, done.previous_epoch), (4, 3));
        assert_eq!(done.state, MemberState::Stable);
        assert_eq!(done.assigned, parts(&[0, 3]));
    }

    #[test]
    fn waits_for_partitions_others_still_hold() {
        let m = member(0, MemberState::Stable, &[], &[]);
        let step = run(&m, 2, &[4, 5], &[5], Some(&[]));
        assert_eq!(step.state, MemberState::UnreleasedPartitions);
        assert_eq!((step.epoch, step.assigned.clone()), (2, parts(&[4])));
        let done = run(&step, 2, &[4, 5], &[], Some(&[4]));
        assert_eq!(
            done,
            MemberAssignment {
                previous_epoch: 0,
                ..member(2, MemberState::Stable, &[4, 5], &[])
            }
        );
    }

    #[test]
    fn a_member_that_already_dropped_them_skips_the_revocation() {
        let m = member(3, MemberState::Stable, &[0, 1], &[]);
        let step = run(&m, 4, &[0], &[], Some(&[0]));
        assert_eq!(step.state, MemberState::Stable);
        assert_eq!(step.epoch, 4);
        // Not saying what it owns means it may still own them.
        let step = run(&m, 4, &[0], &[], None);
        assert_eq!(step.state, MemberState::UnrevokedPartitions);
    }

    #[test]
    fn unknown_states_are_fenced_unless_the_member_owns_nothing() {
        let m = member(3, MemberState::Unknown, &[0], &[]);
        let target = parts(&[0]);
        let owner = |_, _| None;
        let exists = |_| true;
        let tgt = Target {
            epoch: 5,
            partitions: &target,
            owner_epoch: &owner,
            topic_exists: &exists,
        };
        assert_eq!(
            reconcile(&m, &tgt, None).unwrap_err().code,
            FENCED_MEMBER_EPOCH
        );
        let empty = Assignment::new();
        assert_eq!(reconcile(&m, &tgt, Some(&empty)).unwrap().epoch, 5);
    }
}
