//! Heartbeat and LeaveGroup: a member says it is alive, or that it is gone.

use super::responses::s;
use super::state::GroupState;
use super::{GroupCoordinator, Outcome, Response};
use gregor_protocol::error_codes::{
    COORDINATOR_NOT_AVAILABLE, ILLEGAL_GENERATION, NONE, REBALANCE_IN_PROGRESS, UNKNOWN_MEMBER_ID,
};
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{
    HeartbeatRequest, HeartbeatResponse, LeaveGroupRequest, LeaveGroupResponse,
};

/// LeaveGroup v3 (KIP-345) carries a list of members; before, one member id.
const BATCHED_LEAVE_VERSION: i16 = 3;

impl GroupCoordinator {
    /// Handles a Heartbeat: restarts the session timer, and tells the member
    /// when it must rejoin (REBALANCE_IN_PROGRESS).
    pub fn heartbeat(&mut self, req: &HeartbeatRequest, request_id: u64, now_ms: i64) -> Outcome {
        let code = self.heartbeat_code(req, now_ms);
        let mut out = Outcome::default();
        out.respond(
            request_id,
            Response::Heartbeat(HeartbeatResponse::default().with_error_code(code)),
        );
        out
    }

    fn heartbeat_code(&mut self, req: &HeartbeatRequest, now_ms: i64) -> i16 {
        let Some(group) = self.groups.get_mut(req.group_id.as_str()) else {
            return UNKNOWN_MEMBER_ID;
        };
        if group.state == GroupState::Dead {
            return COORDINATOR_NOT_AVAILABLE;
        }
        let member_id = req.member_id.as_str();
        let instance_id = req.group_instance_id.as_ref().map(|s| s.as_str());
        if let Err(code) = group.validate_member(member_id, instance_id) {
            return code;
        }
        if req.generation_id != group.generation {
            return ILLEGAL_GENERATION;
        }
        let state = group.state;
        let Some(member) = group.members.get_mut(member_id) else {
            return UNKNOWN_MEMBER_ID;
        };
        match state {
            GroupState::Empty | GroupState::Dead => UNKNOWN_MEMBER_ID,
            GroupState::PreparingRebalance => {
                member.reschedule_heartbeat(now_ms);
                REBALANCE_IN_PROGRESS
            }
            // Heartbeats between the JoinGroup answer and the SyncGroup
            // answer are normal for clients that heartbeat in the background.
            GroupState::CompletingRebalance | GroupState::Stable => {
                member.reschedule_heartbeat(now_ms);
                NONE
            }
        }
    }

    /// Handles a LeaveGroup for one member (v0-v2) or a batch (v3+, where an
    /// admin may name static members by instance id alone). Each departure
    /// makes the rest of the group rebalance.
    pub fn leave(
        &mut self,
        req: &LeaveGroupRequest,
        api_version: i16,
        request_id: u64,
        now_ms: i64,
    ) -> Outcome {
        let mut out = Outcome::default();
        let leaving: Vec<(String, Option<String>)> = if api_version < BATCHED_LEAVE_VERSION {
            vec![(req.member_id.to_string(), None)]
        } else {
            req.members
                .iter()
                .map(|m| {
                    (
                        m.member_id.to_string(),
                        m.group_instance_id.as_ref().map(|s| s.to_string()),
                    )
                })
                .collect()
        };
        let cfg = self.config.clone();
        let mut top_level = NONE;
        let mut results = Vec::with_capacity(leaving.len());
        match self.groups.get_mut(req.group_id.as_str()) {
            None => {
                for (member_id, instance_id) in &leaving {
                    results.push(member_result(member_id, instance_id, UNKNOWN_MEMBER_ID));
                }
            }
            Some(group) if group.state == GroupState::Dead => top_level = COORDINATOR_NOT_AVAILABLE,
            Some(group) => {
                for (member_id, instance_id) in &leaving {
                    let code = if member_id.is_empty() {
                        // Removal by instance id only (admin client).
                        match instance_id
                            .as_ref()
                            .and_then(|i| group.static_members.get(i).cloned())
                        {
                            Some(current) => {
                                group.remove_member_and_update(&current, &cfg, now_ms, &mut out);
                                NONE
                            }
                            None => UNKNOWN_MEMBER_ID,
                        }
                    } else if group.pending_members.contains_key(member_id) {
                        group.remove_pending_member(member_id, now_ms, &mut out);
                        NONE
                    } else {
                        match group.validate_member(member_id, instance_id.as_deref()) {
                            Ok(()) => {
                                group.remove_member_and_update(member_id, &cfg, now_ms, &mut out);
                                NONE
                            }
                            Err(code) => code,
                        }
                    };
                    results.push(member_result(member_id, instance_id, code));
                }
            }
        }
        let mut response = LeaveGroupResponse::default().with_error_code(top_level);
        if api_version < BATCHED_LEAVE_VERSION {
            // Old versions have only the top-level code: the member's.
            if top_level == NONE {
                response.error_code = results.first().map_or(NONE, |m| m.error_code);
            }
        } else {
            response.members = results;
        }
        out.respond(request_id, Response::Leave(response));
        out
    }
}

fn member_result(member_id: &str, instance_id: &Option<String>, code: i16) -> MemberResponse {
    MemberResponse::default()
        .with_member_id(s(member_id))
        .with_group_instance_id(instance_id.as_deref().map(s))
        .with_error_code(code)
}
