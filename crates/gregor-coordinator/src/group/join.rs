//! JoinGroup: new members (dynamic, with MEMBER_ID_REQUIRED from v4, or
//! static by group.instance.id) and rejoins of known ones.

use super::member::{Member, Parked, Protocol};
use super::responses::{join_error, join_success};
use super::state::{Group, GroupState};
use super::{GroupConfig, GroupCoordinator, JoinContext, Outcome};
use bytes::Bytes;
use gregor_protocol::error_codes::{
    COORDINATOR_NOT_AVAILABLE, GROUP_MAX_SIZE_REACHED, INCONSISTENT_GROUP_PROTOCOL,
    INVALID_GROUP_ID, INVALID_SESSION_TIMEOUT, MEMBER_ID_REQUIRED, UNKNOWN_MEMBER_ID,
};
use kafka_protocol::messages::JoinGroupRequest;

/// JoinGroup v4+ makes new dynamic members come back with an assigned id.
const MEMBER_ID_REQUIRED_VERSION: i16 = 4;
/// JoinGroup v9+ can tell a static leader to skip the assignment.
const SKIP_ASSIGNMENT_VERSION: i16 = 9;

/// The parts of a JoinGroup the group keeps, owned.
struct Join<'a> {
    ctx: &'a JoinContext,
    parked: Parked,
    instance_id: Option<String>,
    protocol_type: String,
    protocols: Vec<Protocol>,
    session_timeout_ms: i32,
    rebalance_timeout_ms: i32,
}

impl GroupCoordinator {
    /// Handles a JoinGroup. The answer usually comes later, when the join
    /// phase completes (from a later input or `tick`).
    pub fn join(
        &mut self,
        req: &JoinGroupRequest,
        ctx: &JoinContext,
        request_id: u64,
        now_ms: i64,
    ) -> Outcome {
        let mut out = Outcome::default();
        let parked = Parked {
            request_id,
            api_version: ctx.api_version,
        };
        let group_id = req.group_id.as_str();
        let member_id = req.member_id.as_str();
        if group_id.is_empty() {
            out.join(parked, join_error(member_id, INVALID_GROUP_ID));
            return out;
        }
        // One id, one group: an empty consumer group gives way.
        match self.make_way_for_classic_join(group_id) {
            Ok(records) => out.records.extend(records),
            Err(code) => {
                out.join(parked, join_error("", code));
                return out;
            }
        }
        let cfg = &self.config;
        if req.session_timeout_ms < cfg.min_session_timeout_ms
            || req.session_timeout_ms > cfg.max_session_timeout_ms
        {
            out.join(parked, join_error(member_id, INVALID_SESSION_TIMEOUT));
            return out;
        }
        let join = Join {
            ctx,
            parked,
            instance_id: req.group_instance_id.as_ref().map(|s| s.to_string()),
            protocol_type: req.protocol_type.to_string(),
            protocols: req
                .protocols
                .iter()
                .map(|p| Protocol {
                    name: p.name.to_string(),
                    metadata: p.metadata.clone(),
                })
                .collect(),
            session_timeout_ms: req.session_timeout_ms,
            // v0 had no rebalance timeout; the session timeout stood in.
            rebalance_timeout_ms: if ctx.api_version == 0 {
                req.session_timeout_ms
            } else {
                req.rebalance_timeout_ms
            },
        };

        // Only a member without an id may create the group.
        if !self.groups.contains_key(group_id) {
            if !member_id.is_empty() {
                out.join(parked, join_error(member_id, UNKNOWN_MEMBER_ID));
                return out;
            }
            self.groups
                .insert(group_id.to_string(), Group::new(group_id, now_ms));
        }
        let new_id = member_id
            .is_empty()
            .then(|| self.new_member_id(join.instance_id.as_deref().unwrap_or(&ctx.client_id)));
        let cfg = &self.config;
        let Some(group) = self.groups.get_mut(group_id) else {
            return out;
        };
        if !accepts_joining_member(group, member_id, cfg.max_size) {
            group.remove_member(member_id, &mut out);
            out.join(parked, join_error("", GROUP_MAX_SIZE_REACHED));
        } else if let Some(new_id) = new_id {
            join_new_member(group, cfg, join, new_id, now_ms, &mut out);
        } else {
            join_existing_member(group, cfg, join, member_id, now_ms, &mut out);
        }
        if group.is_unused() {
            self.groups.remove(group_id);
        }
        out
    }
}

/// `group.max.size`: members already in (or already waiting) always get in;
/// new ones only while there is room.
fn accepts_joining_member(group: &Group, member_id: &str, max_size: usize) -> bool {
    match group.state {
        GroupState::Empty | GroupState::Dead => true,
        // Counting parked joins rather than members: members of the previous
        // generation may never come back, while pending members will.
        GroupState::PreparingRebalance => {
            group
                .members
                .get(member_id)
                .is_some_and(|m| m.awaiting_join.is_some())
                || group.awaiting_join_count() + group.pending_members.len() < max_size
        }
        GroupState::CompletingRebalance | GroupState::Stable => {
            group.members.contains_key(member_id) || group.members.len() < max_size
        }
    }
}

fn join_new_member(
    group: &mut Group,
    cfg: &GroupConfig,
    join: Join<'_>,
    new_id: String,
    now_ms: i64,
    out: &mut Outcome,
) {
    if group.state == GroupState::Dead {
        out.join(join.parked, join_error("", COORDINATOR_NOT_AVAILABLE));
    } else if !group.supports_protocols(&join.protocol_type, &join.protocols) {
        out.join(join.parked, join_error("", INCONSISTENT_GROUP_PROTOCOL));
    } else if let Some(instance) = join.instance_id.clone() {
        match group.static_members.get(&instance).cloned() {
            Some(old_id) => rejoin_static_member(group, cfg, join, &old_id, &new_id, now_ms, out),
            None => add_member_and_rebalance(group, cfg, join, new_id, now_ms, out),
        }
    } else if join.ctx.api_version >= MEMBER_ID_REQUIRED_VERSION {
        // KIP-394: the member must come back with this id, so that a client
        // whose JoinGroup times out does not leave a ghost member behind.
        group
            .pending_members
            .insert(new_id.clone(), now_ms + i64::from(join.session_timeout_ms));
        out.join(join.parked, join_error(&new_id, MEMBER_ID_REQUIRED));
    } else {
        add_member_and_rebalance(group, cfg, join, new_id, now_ms, out);
    }
}

fn join_existing_member(
    group: &mut Group,
    cfg: &GroupConfig,
    join: Join<'_>,
    member_id: &str,
    now_ms: i64,
    out: &mut Outcome,
) {
    if group.state == GroupState::Dead {
        out.join(
            join.parked,
            join_error(member_id, COORDINATOR_NOT_AVAILABLE),
        );
        return;
    }
    if !group.supports_protocols(&join.protocol_type, &join.protocols) {
        out.join(
            join.parked,
            join_error(member_id, INCONSISTENT_GROUP_PROTOCOL),
        );
        return;
    }
    if group.pending_members.contains_key(member_id) {
        add_member_and_rebalance(group, cfg, join, member_id.to_string(), now_ms, out);
        return;
    }
    if let Err(code) = group.validate_member(member_id, join.instance_id.as_deref()) {
        out.join(join.parked, join_error(member_id, code));
        return;
    }
    let Some(member) = group.members.get(member_id) else {
        return;
    };
    let unchanged = member.matches(&join.protocols);
    match group.state {
        GroupState::PreparingRebalance => {
            update_member_and_rebalance(group, cfg, join, member_id, now_ms, out)
        }
        // Same metadata: the member most likely missed its JoinGroup answer;
        // give it the current generation again.
        GroupState::CompletingRebalance if unchanged => {
            let is_leader = group.is_leader(member_id);
            let response = join_success(group, member_id, is_leader, group.leader.as_deref());
            out.join(join.parked, response);
        }
        // The leader rejoining forces a rebalance: that is how it asks for
        // one when something outside member metadata (topic partitions)
        // changed.
        GroupState::CompletingRebalance | GroupState::Stable
            if !unchanged || group.is_leader(member_id) =>
        {
            update_member_and_rebalance(group, cfg, join, member_id, now_ms, out)
        }
        GroupState::Stable => {
            let response = join_success(group, member_id, false, group.leader.as_deref());
            out.join(join.parked, response);
        }
        GroupState::CompletingRebalance | GroupState::Empty | GroupState::Dead => {
            out.join(join.parked, join_error(member_id, UNKNOWN_MEMBER_ID));
        }
    }
}

fn add_member_and_rebalance(
    group: &mut Group,
    cfg: &GroupConfig,
    join: Join<'_>,
    member_id: String,
    now_ms: i64,
    out: &mut Outcome,
) {
    let member = Member {
        id: member_id,
        instance_id: join.instance_id,
        client_id: join.ctx.client_id.clone(),
        client_host: join.ctx.client_host.clone(),
        rebalance_timeout_ms: join.rebalance_timeout_ms,
        session_timeout_ms: join.session_timeout_ms,
        protocol_type: join.protocol_type,
        protocols: join.protocols,
        assignment: Bytes::new(),
        awaiting_join: Some(join.parked),
        awaiting_sync: None,
        is_new: true,
        // A new member cannot heartbeat (it has no generation yet) and a
        // client that gave up would leave its parked join behind forever,
        // so the join itself expires.
        heartbeat_deadline: Some(now_ms + i64::from(cfg.new_member_join_timeout_ms)),
        seq: 0,
    };
    if group.state == GroupState::PreparingRebalance && group.previous_state == GroupState::Empty {
        group.new_member_added = true;
    }
    group.add_member(member);
    group.maybe_prepare_rebalance_or_complete_join(cfg, now_ms, out);
}

fn update_member_and_rebalance(
    group: &mut Group,
    cfg: &GroupConfig,
    join: Join<'_>,
    member_id: &str,
    now_ms: i64,
    out: &mut Outcome,
) {
    group.update_member(
        member_id,
        join.protocols,
        join.rebalance_timeout_ms,
        join.session_timeout_ms,
        join.parked,
        out,
    );
    group.maybe_prepare_rebalance_or_complete_join(cfg, now_ms, out);
}

/// KIP-345: a known group.instance.id joining without a member id is the
/// same consumer restarted. It takes over the old member (fencing the old
/// id); in a Stable group whose protocol choice it does not change there is
/// no rebalance at all — it gets the current generation and assignment.
fn rejoin_static_member(
    group: &mut Group,
    cfg: &GroupConfig,
    join: Join<'_>,
    old_id: &str,
    new_id: &str,
    now_ms: i64,
    out: &mut Outcome,
) {
    let Some(instance) = join.instance_id.as_deref() else {
        return;
    };
    let previous_leader = group.leader.clone();
    group.replace_static_member(instance, old_id, new_id, out);
    if let Some(member) = group.members.get_mut(new_id) {
        member.reschedule_heartbeat(now_ms);
    }
    let parked = join.parked;
    group.update_member(
        new_id,
        join.protocols,
        join.rebalance_timeout_ms,
        join.session_timeout_ms,
        parked,
        out,
    );
    match group.state {
        GroupState::Stable if group.select_protocol() == group.protocol_name => {
            // Persist the new member id so a reload fences the old one too.
            out.records.push(group.metadata_record());
            let response = if parked.api_version >= SKIP_ASSIGNMENT_VERSION {
                let is_leader = group.is_leader(new_id);
                join_success(group, new_id, is_leader, group.leader.as_deref())
                    .with_skip_assignment(is_leader)
            } else {
                // Older clients would compute (and lose) an assignment if
                // told they lead a Stable group; the old leader id stops that.
                join_success(group, new_id, false, previous_leader.as_deref())
            };
            if let Some(member) = group.members.get_mut(new_id) {
                member.awaiting_join = None;
            }
            out.join(parked, response);
        }
        GroupState::Stable => group.maybe_prepare_rebalance_or_complete_join(cfg, now_ms, out),
        // The leader may already be assigning to the old id: start over.
        GroupState::CompletingRebalance => group.prepare_rebalance(cfg, now_ms, out),
        GroupState::PreparingRebalance => group.maybe_complete_join(now_ms, out),
        GroupState::Empty | GroupState::Dead => {
            group.maybe_prepare_rebalance_or_complete_join(cfg, now_ms, out)
        }
    }
}
