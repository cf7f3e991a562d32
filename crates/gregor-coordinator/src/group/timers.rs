//! The passage of time: session expiry, the end of join phases (initial
//! delay, rebalance timeout), SyncGroup deadlines and unused member ids.

use super::state::{Group, GroupState, JoinTimer};
use super::{GroupConfig, GroupCoordinator, Outcome};

/// Guards against a timer that keeps re-arming at `now` (a zero timeout).
const MAX_FIRINGS_PER_TICK: usize = 10_000;

/// The kinds of timer a group has, to fire the earliest one first.
enum Due {
    Join,
    Sync,
    Session(String),
    Pending(String),
}

impl GroupCoordinator {
    /// Fires every timer due at `now_ms`, earliest first.
    pub fn tick(&mut self, now_ms: i64) -> Outcome {
        let mut out = Outcome::default();
        let cfg = self.config.clone();
        for group in self.groups.values_mut() {
            for _ in 0..MAX_FIRINGS_PER_TICK {
                let Some(due) = earliest_due(group, now_ms) else {
                    break;
                };
                fire(group, due, &cfg, now_ms, &mut out);
            }
        }
        self.groups.retain(|_, g| !g.is_unused());
        let fenced = self.tick_consumer_groups(now_ms);
        out.records.extend(fenced);
        let fenced = self.tick_streams_groups(now_ms);
        out.records.extend(fenced);
        let fenced = self.tick_share_groups(now_ms);
        out.records.extend(fenced);
        out
    }

    /// When `tick` next has something to do, if ever.
    pub fn next_deadline(&self) -> Option<i64> {
        self.groups
            .values()
            .filter_map(|g| deadlines(g).map(|(at, _)| at).min())
            .chain(self.next_consumer_deadline())
            .chain(self.next_streams_deadline())
            .chain(self.next_share_deadline())
            .min()
    }
}

fn deadlines(group: &Group) -> impl Iterator<Item = (i64, Due)> + '_ {
    let join = group.join_timer.map(|t| (t.at(), Due::Join));
    let sync = group.sync_deadline.map(|at| (at, Due::Sync));
    let sessions = group.members.values().filter_map(|m| {
        m.heartbeat_deadline
            .map(|at| (at, Due::Session(m.id.clone())))
    });
    let pending = group
        .pending_members
        .iter()
        .map(|(id, at)| (*at, Due::Pending(id.clone())));
    join.into_iter().chain(sync).chain(sessions).chain(pending)
}

fn earliest_due(group: &Group, now_ms: i64) -> Option<Due> {
    deadlines(group)
        .filter(|(at, _)| *at <= now_ms)
        .min_by_key(|(at, _)| *at)
        .map(|(_, due)| due)
}

fn fire(group: &mut Group, due: Due, cfg: &GroupConfig, now_ms: i64, out: &mut Outcome) {
    match due {
        Due::Join => on_join_timer(group, cfg, now_ms, out),
        Due::Sync => on_sync_deadline(group, cfg, now_ms, out),
        Due::Session(member_id) => on_session_expired(group, &member_id, cfg, now_ms, out),
        Due::Pending(member_id) => group.remove_pending_member(&member_id, now_ms, out),
    }
}

fn on_join_timer(group: &mut Group, cfg: &GroupConfig, now_ms: i64, out: &mut Outcome) {
    match group.join_timer.take() {
        Some(JoinTimer::Initial {
            at,
            delay,
            remaining,
        }) if group.new_member_added && remaining > 0 => {
            // Someone joined during the delay: more may be on their way.
            // Counted from when the delay ended, not from a late tick.
            group.new_member_added = false;
            let next_delay = i64::from(cfg.initial_rebalance_delay_ms).min(remaining);
            group.join_timer = Some(JoinTimer::Initial {
                at: at + next_delay,
                delay: next_delay,
                remaining: (remaining - delay).max(0),
            });
        }
        Some(_) => group.complete_join(now_ms, out),
        None => {}
    }
}

/// Members that got their JoinGroup answer but never sent SyncGroup are out.
fn on_sync_deadline(group: &mut Group, cfg: &GroupConfig, now_ms: i64, out: &mut Outcome) {
    group.sync_deadline = None;
    let in_sync_phase = matches!(
        group.state,
        GroupState::CompletingRebalance | GroupState::Stable
    );
    if !in_sync_phase || group.pending_sync.is_empty() {
        return;
    }
    let laggards: Vec<String> = group.pending_sync.iter().cloned().collect();
    for id in &laggards {
        group.remove_member(id, out);
    }
    group.prepare_rebalance(cfg, now_ms, out);
}

/// A session timer ran out. Members parked in a rebalance are excused (they
/// cannot heartbeat); their timer restarts when the rebalance answers them.
fn on_session_expired(
    group: &mut Group,
    member_id: &str,
    cfg: &GroupConfig,
    now_ms: i64,
    out: &mut Outcome,
) {
    let Some(member) = group.members.get_mut(member_id) else {
        return;
    };
    member.heartbeat_deadline = None;
    if !member.has_satisfied_heartbeat() {
        group.remove_member_and_update(member_id, cfg, now_ms, out);
    }
}
