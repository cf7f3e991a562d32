//! The target assignment (a sticky, balanced assignor in the spirit of
//! Kafka's streams `StickyTaskAssignor`: active tasks first, then standby
//! replicas of the stateful tasks on other processes) and moving a member
//! towards its target with revoke-before-assign: a task reaches its new
//! owner only once the previous one has heartbeated without it.

use super::group::{Assignment, StreamsGroup, TaskId};
use std::collections::{BTreeMap, BTreeSet};

/// Computes the target for every member: active tasks (each keeps up to
/// its fair share of what it ran, then what it kept as a standby, the rest
/// go to the least loaded), then `num_standby` standby replicas per
/// stateful task.
pub fn compute_target(group: &StreamsGroup, num_standby: usize) -> BTreeMap<String, Assignment> {
    let active = compute_active(group);
    let standby = compute_standby(group, &active, num_standby);
    active
        .into_iter()
        .map(|(id, active)| {
            let standby = standby.get(&id).cloned().unwrap_or_default();
            (id, Assignment { active, standby })
        })
        .collect()
}

fn compute_active(group: &StreamsGroup) -> BTreeMap<String, BTreeSet<TaskId>> {
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
        // Stickiness: the member that runs it (or is about to) keeps it;
        // failing that, one with a warm standby copy of its state takes it.
        let owner = group
            .members
            .values()
            .find(|m| m.assigned.contains(task))
            .map(|m| m.id.clone())
            .or_else(|| {
                group
                    .target
                    .iter()
                    .find(|(id, t)| t.active.contains(task) && target.contains_key(*id))
                    .map(|(id, _)| id.clone())
            });
        let warm = || {
            group
                .members
                .values()
                .filter(|m| m.standby.contains(task))
                .map(|m| m.id.clone())
                .find(|id| target.get(id).is_some_and(|s| s.len() < quota))
        };
        match owner
            .filter(|id| target.get(id).is_some_and(|s| s.len() < quota))
            .or_else(warm)
            .and_then(|id| target.get_mut(&id))
        {
            Some(set) => {
                set.insert(task.clone());
            }
            None => free.push(task.clone()),
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

/// Standby replicas: each on a process that has no copy of the task yet
/// (neither its active nor another standby), preferring the member that
/// ran it (its state is warm), then one that had it as a standby, then the
/// least loaded. Fewer replicas than asked when processes run out, as
/// Kafka does.
fn compute_standby(
    group: &StreamsGroup,
    active: &BTreeMap<String, BTreeSet<TaskId>>,
    num_standby: usize,
) -> BTreeMap<String, BTreeSet<TaskId>> {
    let mut standby: BTreeMap<String, BTreeSet<TaskId>> = BTreeMap::new();
    if num_standby == 0 {
        return standby;
    }
    let process = |id: &str| group.members.get(id).map(|m| m.process_id.as_str());
    let load = |id: &str, standby: &BTreeMap<String, BTreeSet<TaskId>>| {
        active.get(id).map_or(0, BTreeSet::len) + standby.get(id).map_or(0, BTreeSet::len)
    };
    for task in group.stateful_tasks() {
        for _ in 0..num_standby {
            let taken: BTreeSet<&str> = active
                .iter()
                .filter(|(_, t)| t.contains(&task))
                .chain(standby.iter().filter(|(_, t)| t.contains(&task)))
                .filter_map(|(id, _)| process(id))
                .collect();
            let candidates: Vec<&str> = group
                .members
                .values()
                .filter(|m| !taken.contains(m.process_id.as_str()))
                .map(|m| m.id.as_str())
                .collect();
            if candidates.is_empty() {
                break;
            }
            let min_load = candidates
                .iter()
                .map(|id| load(id, &standby))
                .min()
                .unwrap_or(0);
            // A previous holder only while it is not overloaded by it.
            let balanced = |id: &&&str| load(id, &standby) <= min_load + 1;
            let was_active = candidates.iter().find(|id| {
                group
                    .members
                    .get(**id)
                    .is_some_and(|m| m.assigned.contains(&task))
            });
            let was_standby = candidates.iter().find(|id| {
                group
                    .members
                    .get(**id)
                    .is_some_and(|m| m.standby.contains(&task))
            });
            let least = candidates
                .iter()
                .min_by_key(|id| (load(id, &standby), **id));
            let Some(chosen) = was_active
                .filter(balanced)
                .or(was_standby.filter(balanced))
                .or(least)
            else {
                break;
            };
            standby
                .entry(chosen.to_string())
                .or_default()
                .insert(task.clone());
        }
    }
    standby
}

/// The most and the least loaded members, if they are more than one task
/// apart and the most loaded is above the fair floor.
fn uneven(target: &BTreeMap<String, BTreeSet<TaskId>>, floor: usize) -> Option<(String, String)> {
    let (max_id, max) = target.iter().max_by_key(|(_, s)| s.len())?;
    let (min_id, min) = target.iter().min_by_key(|(_, s)| s.len())?;
    (max.len() > min.len() + 1 && max.len() > floor).then(|| (max_id.clone(), min_id.clone()))
}

/// What a member said it runs (None: unchanged since its last heartbeat).
pub struct Owned {
    pub active: BTreeSet<TaskId>,
    pub standby: BTreeSet<TaskId>,
}

/// Moves one member towards its target with Kafka's rules: what it must
/// give up is revoked first (it keeps its epoch until it confirms); then
/// it gets the tasks nobody else still holds. An active task also waits
/// for a standby copy on the member's own process to be released, and a
/// standby never lands on a process that runs the task (either way two
/// copies of one state store would share a state directory). Returns
/// whether its assignment changed.
pub fn reconcile(
    group: &mut StreamsGroup,
    member_id: &str,
    owned: Option<&Owned>,
    now_ms: i64,
) -> bool {
    let target = group.target.get(member_id).cloned().unwrap_or_default();
    let assignment_epoch = group.assignment_epoch;
    let Some(process) = group.members.get(member_id).map(|m| m.process_id.clone()) else {
        return false;
    };
    let others = || group.members.values().filter(|m| m.id != member_id);
    let active_elsewhere: BTreeSet<TaskId> = others()
        .flat_map(|m| m.assigned.iter().chain(m.revoking.iter()).cloned())
        .collect();
    let same_process = || others().filter(|m| m.process_id == process);
    let standby_here: BTreeSet<TaskId> = same_process()
        .flat_map(|m| m.standby.iter().chain(m.revoking_standby.iter()).cloned())
        .collect();
    let active_here: BTreeSet<TaskId> = same_process()
        .flat_map(|m| m.assigned.iter().chain(m.revoking.iter()).cloned())
        .collect();
    let Some(member) = group.members.get_mut(member_id) else {
        return false;
    };
    let before = (member.assigned.clone(), member.standby.clone());
    if !member.revoking.is_empty() || !member.revoking_standby.is_empty() {
        match owned {
            Some(owned)
                if owned.active.is_disjoint(&member.revoking)
                    && owned.standby.is_disjoint(&member.revoking_standby) =>
            {
                member.revoking.clear();
                member.revoking_standby.clear();
                member.rebalance_deadline = None;
            }
            // Still running some: wait.
            _ => return false,
        }
    }
    let to_revoke: BTreeSet<TaskId> = member
        .assigned
        .difference(&target.active)
        .cloned()
        .collect();
    let to_revoke_standby: BTreeSet<TaskId> = member
        .standby
        .difference(&target.standby)
        .cloned()
        .collect();
    if !to_revoke.is_empty() || !to_revoke_standby.is_empty() {
        for task in &to_revoke {
            member.assigned.remove(task);
        }
        for task in &to_revoke_standby {
            member.standby.remove(task);
        }
        member.revoking = to_revoke;
        member.revoking_standby = to_revoke_standby;
        let timeout = i64::from(member.rebalance_timeout_ms.max(0));
        member.rebalance_deadline = Some((now_ms + timeout, member.epoch));
        return true;
    }
    for task in target.active.difference(&active_elsewhere) {
        if !standby_here.contains(task) {
            member.assigned.insert(task.clone());
        }
    }
    for task in &target.standby {
        if !active_here.contains(task)
            && !standby_here.contains(task)
            && !member.assigned.contains(task)
        {
            member.standby.insert(task.clone());
        }
    }
    if member.epoch != assignment_epoch {
        member.previous_epoch = member.epoch;
        member.epoch = assignment_epoch;
    }
    (member.assigned.clone(), member.standby.clone()) != before
}
