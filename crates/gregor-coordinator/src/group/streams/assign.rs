//! The target assignment (a sticky, balanced active-task assignor, in the
//! spirit of Kafka's `StickyTaskAssignor` without standbys) and moving a
//! member towards its target with revoke-before-assign: a task reaches its
//! new owner only once the previous one has heartbeated without it.

use super::group::{StreamsGroup, TaskId};
use std::collections::{BTreeMap, BTreeSet};

/// Computes the target for every member: each keeps up to its fair share
/// of the tasks it had, the rest go to the least loaded members.
pub fn compute_target(group: &StreamsGroup) -> BTreeMap<String, BTreeSet<TaskId>> {
    let mut target: BTreeMap<String, BTreeSet<TaskId>> = group
        .members
        .keys()
        .map(|id| (id.clone(), BTreeSet::new()))
        .collect();
    if target.is_empty() {
        return target;
    }
    let tasks = group.all_tasks();
    let members = target.len();
    let quota = tasks.len().div_ceil(members);
    let mut free = Vec::new();
    for task in &tasks {
        // Stickiness: the member that runs it (or is about to) keeps it.
        let owner = group
            .members
            .values()
            .find(|m| m.assigned.contains(task))
            .map(|m| m.id.clone())
            .or_else(|| {
                group
                    .target
                    .iter()
                    .find(|(id, t)| t.contains(task) && target.contains_key(*id))
                    .map(|(id, _)| id.clone())
            });
        match owner.and_then(|id| target.get_mut(&id)) {
            Some(set) if set.len() < quota => {
                set.insert(task.clone());
            }
            _ => free.push(task.clone()),
        }
    }
    // Fewest tasks first; ties by member id, so the result is deterministic.
    let floor = tasks.len() / members;
    for task in free {
        let Some((_, set)) = target
            .iter_mut()
            .min_by_key(|(id, set)| (set.len(), (*id).clone()))
        else {
            break;
        };
        set.insert(task);
    }
    // Balance what stickiness left uneven (at most one apart).
    while let Some((from, to)) = uneven(&target, floor) {
        let Some(task) = target.get_mut(&from).and_then(|s| s.pop_last()) else {
            break;
        };
        if let Some(s) = target.get_mut(&to) {
            s.insert(task);
        }
    }
    target
}

/// The most and the least loaded members, if they are more than one task
/// apart and the most loaded is above the fair floor.
fn uneven(target: &BTreeMap<String, BTreeSet<TaskId>>, floor: usize) -> Option<(String, String)> {
    let (max_id, max) = target.iter().max_by_key(|(_, s)| s.len())?;
    let (min_id, min) = target.iter().min_by_key(|(_, s)| s.len())?;
    (max.len() > min.len() + 1 && max.len() > floor).then(|| (max_id.clone(), min_id.clone()))
}

/// Moves one member towards its target. `owned` is what the member said it
/// runs (None: unchanged since its last heartbeat). Returns whether its
/// assignment changed.
pub fn reconcile(
    group: &mut StreamsGroup,
    member_id: &str,
    owned: Option<&BTreeSet<TaskId>>,
    now_ms: i64,
) -> bool {
    let target = group.target.get(member_id).cloned().unwrap_or_default();
    let assignment_epoch = group.assignment_epoch;
    let held_by_others: BTreeSet<TaskId> = group
        .members
        .values()
        .filter(|m| m.id != member_id)
        .flat_map(|m| m.assigned.iter().chain(m.revoking.iter()).cloned())
        .collect();
    let Some(member) = group.members.get_mut(member_id) else {
        return false;
    };
    let before = member.assigned.clone();
    if !member.revoking.is_empty() {
        match owned {
            Some(owned) if owned.is_disjoint(&member.revoking) => {
                member.revoking.clear();
                member.rebalance_deadline = None;
            }
            // Still running some: wait.
            _ => return false,
        }
    }
    let to_revoke: BTreeSet<TaskId> = member.assigned.difference(&target).cloned().collect();
    if !to_revoke.is_empty() {
        for task in &to_revoke {
            member.assigned.remove(task);
        }
        member.revoking = to_revoke;
        let timeout = i64::from(member.rebalance_timeout_ms.max(0));
        member.rebalance_deadline = Some((now_ms + timeout, member.epoch));
        return true;
    }
    for task in target.difference(&held_by_others) {
        member.assigned.insert(task.clone());
    }
    if member.epoch != assignment_epoch {
        member.previous_epoch = member.epoch;
        member.epoch = assignment_epoch;
    }
    member.assigned != before
}
