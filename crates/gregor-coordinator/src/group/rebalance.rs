//! The rebalance protocol of one group: adding and removing members,
//! starting a join phase, completing it into a new generation, and handing
//! out the leader's assignment. Every request handler and timer funnels
//! into these, as Kafka's GroupMetadataManager does.

use super::member::{Member, Parked, Protocol};
use super::responses::{join_error, join_success, sync_error, sync_response};
use super::state::{Group, GroupState, JoinTimer};
use super::{GroupConfig, Outcome};
use bytes::Bytes;
use gregor_protocol::error_codes::{
    FENCED_INSTANCE_ID, NONE, REBALANCE_IN_PROGRESS, UNKNOWN_MEMBER_ID,
};

impl Group {
    /// Adds a member; the first member fixes the protocol type and becomes
    /// leader.
    pub(crate) fn add_member(&mut self, mut member: Member) {
        if self.members.is_empty() {
            self.protocol_type = Some(member.protocol_type.clone());
        }
        if self.leader.is_none() {
            self.leader = Some(member.id.clone());
        }
        if let Some(instance) = &member.instance_id {
            self.static_members
                .insert(instance.clone(), member.id.clone());
        }
        self.pending_members.remove(&member.id);
        member.seq = self.next_seq();
        self.members.insert(member.id.clone(), member);
    }

    /// Drops a member, answering whatever it has parked so no caller waits
    /// forever: a join with UNKNOWN_MEMBER_ID (so a live client rejoins, as
    /// Kafka answers), a sync likewise.
    pub(crate) fn remove_member(&mut self, member_id: &str, out: &mut Outcome) {
        if let Some(mut member) = self.members.remove(member_id) {
            if let Some(parked) = member.awaiting_join.take() {
                out.join(parked, join_error("", UNKNOWN_MEMBER_ID));
            }
            if let Some(parked) = member.awaiting_sync.take() {
                out.sync(parked, sync_error(UNKNOWN_MEMBER_ID));
            }
            if let Some(instance) = &member.instance_id {
                if self.static_members.get(instance).map(String::as_str) == Some(member_id) {
                    self.static_members.remove(instance);
                }
            }
        }
        if self.is_leader(member_id) {
            self.leader = self.members_in_order().first().map(|m| m.id.clone());
        }
        self.pending_members.remove(member_id);
        self.remove_pending_sync(member_id);
    }

    /// A member left or failed: the rest of the group must rebalance.
    pub(crate) fn remove_member_and_update(
        &mut self,
        member_id: &str,
        cfg: &GroupConfig,
        now_ms: i64,
        out: &mut Outcome,
    ) {
        self.remove_member(member_id, out);
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.prepare_rebalance(cfg, now_ms, out)
            }
            GroupState::PreparingRebalance => self.maybe_complete_join(now_ms, out),
            GroupState::Empty | GroupState::Dead => {}
        }
    }

    /// A member id handed out with MEMBER_ID_REQUIRED was not used in time,
    /// or its owner left: the join phase may no longer need to wait for it.
    pub(crate) fn remove_pending_member(
        &mut self,
        member_id: &str,
        now_ms: i64,
        out: &mut Outcome,
    ) {
        self.pending_members.remove(member_id);
        self.maybe_complete_join(now_ms, out);
    }

    /// Records a rejoin's protocols and timeouts and parks its request. A
    /// request already parked for the member was superseded (the client
    /// retried, typically on a new connection): it is answered with
    /// REBALANCE_IN_PROGRESS, which makes a client that still listens simply
    /// rejoin.
    pub(crate) fn update_member(
        &mut self,
        member_id: &str,
        protocols: Vec<Protocol>,
        rebalance_timeout_ms: i32,
        session_timeout_ms: i32,
        parked: Parked,
        out: &mut Outcome,
    ) {
        let Some(member) = self.members.get_mut(member_id) else {
            return;
        };
        member.protocols = protocols;
        member.rebalance_timeout_ms = rebalance_timeout_ms;
        member.session_timeout_ms = session_timeout_ms;
        if let Some(old) = member.awaiting_join.replace(parked) {
            out.join(old, join_error(member_id, REBALANCE_IN_PROGRESS));
        }
    }

    /// A static member came back with a new member id: it takes over the old
    /// member's place (assignment included). Requests still parked for the
    /// old id belong to a fenced incarnation.
    pub(crate) fn replace_static_member(
        &mut self,
        instance_id: &str,
        old_id: &str,
        new_id: &str,
        out: &mut Outcome,
    ) {
        let Some(mut member) = self.members.remove(old_id) else {
            return;
        };
        if let Some(parked) = member.awaiting_join.take() {
            out.join(parked, join_error(old_id, FENCED_INSTANCE_ID));
        }
        if let Some(parked) = member.awaiting_sync.take() {
            out.sync(parked, sync_error(FENCED_INSTANCE_ID));
        }
        member.id = new_id.to_string();
        member.is_new = false;
        self.members.insert(new_id.to_string(), member);
        if self.is_leader(old_id) {
            self.leader = Some(new_id.to_string());
        }
        self.static_members
            .insert(instance_id.to_string(), new_id.to_string());
        // The new incarnation owes the SyncGroup the old one did.
        if self.pending_sync.remove(old_id) {
            self.pending_sync.insert(new_id.to_string());
        }
    }

    pub(crate) fn maybe_prepare_rebalance_or_complete_join(
        &mut self,
        cfg: &GroupConfig,
        now_ms: i64,
        out: &mut Outcome,
    ) {
        if self.can_rebalance() {
            self.prepare_rebalance(cfg, now_ms, out);
        } else {
            self.maybe_complete_join(now_ms, out);
        }
    }

    /// Starts a join phase. Members waiting for an assignment are told to
    /// rejoin. A group coming out of Empty waits the initial delay so that
    /// members starting together land in one generation; otherwise the phase
    /// lasts until everyone rejoined or the rebalance timeout passes.
    pub(crate) fn prepare_rebalance(&mut self, cfg: &GroupConfig, now_ms: i64, out: &mut Outcome) {
        if self.state == GroupState::CompletingRebalance {
            self.reset_and_propagate_error(REBALANCE_IN_PROGRESS, now_ms, out);
        }
        self.sync_deadline = None;
        let initial = self.state == GroupState::Empty;
        if initial {
            let delay = i64::from(cfg.initial_rebalance_delay_ms);
            self.new_member_added = false;
            self.join_timer = Some(JoinTimer::Initial {
                at: now_ms + delay,
                delay,
                remaining: (self.rebalance_timeout_ms() - delay).max(0),
            });
        }
        self.transition(GroupState::PreparingRebalance, now_ms);
        if !initial {
            self.join_timer = Some(JoinTimer::Rebalance {
                at: now_ms + self.rebalance_timeout_ms(),
            });
            self.maybe_complete_join(now_ms, out);
        }
    }

    /// Ends the join phase early once every member rejoined — except the
    /// initial one, which always waits out its delay.
    pub(crate) fn maybe_complete_join(&mut self, now_ms: i64, out: &mut Outcome) {
        if self.state == GroupState::PreparingRebalance
            && self.previous_state != GroupState::Empty
            && self.has_all_members_joined()
        {
            self.complete_join(now_ms, out);
        }
    }

    /// Closes the join phase: dynamic members that did not rejoin are out
    /// (static ones keep their place), a new generation starts and every
    /// waiting member gets its JoinGroup answer — the leader with everyone's
    /// metadata. Then all members have the rebalance timeout to send SyncGroup.
    pub(crate) fn complete_join(&mut self, now_ms: i64, out: &mut Outcome) {
        self.join_timer = None;
        let gone: Vec<String> = self
            .members
            .values()
            .filter(|m| m.awaiting_join.is_none() && m.instance_id.is_none())
            .map(|m| m.id.clone())
            .collect();
        for id in &gone {
            self.remove_member(id, out);
        }
        if self.state == GroupState::Dead {
            return;
        }
        let leader_joined = self
            .leader
            .as_ref()
            .and_then(|id| self.members.get(id))
            .is_some_and(|m| m.awaiting_join.is_some());
        if !leader_joined {
            let first_joined = self
                .members_in_order()
                .into_iter()
                .find(|m| m.awaiting_join.is_some())
                .map(|m| m.id.clone());
            match first_joined {
                Some(id) => self.leader = Some(id),
                None if !self.members.is_empty() => {
                    // Only static members that did not rejoin are left: wait
                    // another round for them or for their sessions to expire.
                    self.join_timer = Some(JoinTimer::Rebalance {
                        at: now_ms + self.rebalance_timeout_ms().max(1),
                    });
                    return;
                }
                None => {}
            }
        }
        self.init_next_generation(now_ms);
        if self.state == GroupState::Empty {
            out.records.push(self.metadata_record());
            return;
        }
        let ids: Vec<String> = self
            .members_in_order()
            .iter()
            .map(|m| m.id.clone())
            .collect();
        for id in ids {
            let is_leader = self.is_leader(&id);
            let response = join_success(self, &id, is_leader, self.leader.as_deref());
            if let Some(member) = self.members.get_mut(&id) {
                if let Some(parked) = member.awaiting_join.take() {
                    out.join(parked, response);
                }
                member.reschedule_heartbeat(now_ms);
                member.is_new = false;
            }
            self.pending_sync.insert(id);
        }
        self.sync_deadline = Some(now_ms + self.rebalance_timeout_ms());
    }

    fn init_next_generation(&mut self, now_ms: i64) {
        self.generation += 1;
        if self.members.is_empty() {
            self.protocol_name = None;
            self.subscribed_topics = self.compute_subscribed_topics();
            self.transition(GroupState::Empty, now_ms);
        } else {
            self.protocol_name = self.select_protocol();
            self.subscribed_topics = self.compute_subscribed_topics();
            self.transition(GroupState::CompletingRebalance, now_ms);
        }
        self.pending_sync.clear();
    }

    /// The leader's SyncGroup: every member gets its assignment (empty if the
    /// leader gave it none) and the group is Stable.
    pub(crate) fn apply_assignment(
        &mut self,
        mut assignments: Vec<(String, Bytes)>,
        now_ms: i64,
        out: &mut Outcome,
    ) {
        for member in self.members.values_mut() {
            member.assignment = assignments
                .iter_mut()
                .find(|(id, _)| *id == member.id)
                .map(|(_, assignment)| std::mem::take(assignment))
                .unwrap_or_default();
        }
        out.records.push(self.metadata_record());
        self.propagate_assignment(NONE, now_ms, out);
        self.transition(GroupState::Stable, now_ms);
    }

    /// Answers every parked SyncGroup with the member's assignment and
    /// restarts its session timer (it may have run out while parked).
    fn propagate_assignment(&mut self, code: i16, now_ms: i64, out: &mut Outcome) {
        let ids: Vec<String> = self.members.keys().cloned().collect();
        for id in ids {
            let Some(member) = self.members.get(&id) else {
                continue;
            };
            let Some(parked) = member.awaiting_sync else {
                continue;
            };
            let response = sync_response(self, code, member.assignment.clone());
            out.sync(parked, response);
            if let Some(member) = self.members.get_mut(&id) {
                member.awaiting_sync = None;
                member.reschedule_heartbeat(now_ms);
            }
        }
    }

    fn reset_and_propagate_error(&mut self, code: i16, now_ms: i64, out: &mut Outcome) {
        for member in self.members.values_mut() {
            member.assignment = Bytes::new();
        }
        self.propagate_assignment(code, now_ms, out);
    }

    pub(crate) fn remove_pending_sync(&mut self, member_id: &str) {
        self.pending_sync.remove(member_id);
        if self.pending_sync.is_empty() {
            self.sync_deadline = None;
        }
    }
}
