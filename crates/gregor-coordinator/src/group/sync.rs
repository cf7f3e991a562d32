//! SyncGroup: the leader hands in the assignment; followers wait for it.

use super::member::Parked;
use super::responses::{sync_error, sync_response};
use super::state::{Group, GroupState};
use super::{GroupCoordinator, Outcome};
use gregor_protocol::error_codes::{
    COORDINATOR_NOT_AVAILABLE, ILLEGAL_GENERATION, INCONSISTENT_GROUP_PROTOCOL,
    REBALANCE_IN_PROGRESS, UNKNOWN_MEMBER_ID,
};
use kafka_protocol::messages::SyncGroupRequest;

impl GroupCoordinator {
    /// Handles a SyncGroup. A follower's answer waits for the leader's sync;
    /// the leader's sync answers everyone parked.
    pub fn sync(
        &mut self,
        req: &SyncGroupRequest,
        api_version: i16,
        request_id: u64,
        now_ms: i64,
    ) -> Outcome {
        let mut out = Outcome::default();
        let parked = Parked {
            request_id,
            api_version,
        };
        let Some(group) = self.groups.get_mut(req.group_id.as_str()) else {
            out.sync(parked, sync_error(UNKNOWN_MEMBER_ID));
            return out;
        };
        if let Err(code) = validate(group, req) {
            out.sync(parked, sync_error(code));
            return out;
        }
        let member_id = req.member_id.as_str();
        match group.state {
            GroupState::Empty | GroupState::Dead => out.sync(parked, sync_error(UNKNOWN_MEMBER_ID)),
            GroupState::PreparingRebalance => out.sync(parked, sync_error(REBALANCE_IN_PROGRESS)),
            GroupState::CompletingRebalance => {
                if let Some(member) = group.members.get_mut(member_id) {
                    // A retried sync supersedes the parked one; the old one
                    // gets an answer that makes a listening client rejoin.
                    if let Some(old) = member.awaiting_sync.replace(parked) {
                        out.sync(old, sync_error(REBALANCE_IN_PROGRESS));
                    }
                }
                group.remove_pending_sync(member_id);
                if group.is_leader(member_id) {
                    let assignments = req
                        .assignments
                        .iter()
                        .map(|a| (a.member_id.to_string(), a.assignment.clone()))
                        .collect();
                    group.apply_assignment(assignments, now_ms, &mut out);
                }
            }
            GroupState::Stable => {
                group.remove_pending_sync(member_id);
                let assignment = group
                    .members
                    .get(member_id)
                    .map(|m| m.assignment.clone())
                    .unwrap_or_default();
                out.sync(parked, sync_response(group, 0, assignment));
            }
        }
        out
    }
}

fn validate(group: &Group, req: &SyncGroupRequest) -> Result<(), i16> {
    if group.state == GroupState::Dead {
        return Err(COORDINATOR_NOT_AVAILABLE);
    }
    group.validate_member(
        req.member_id.as_str(),
        req.group_instance_id.as_ref().map(|s| s.as_str()),
    )?;
    if req.generation_id != group.generation {
        return Err(ILLEGAL_GENERATION);
    }
    // v5 clients name the protocol they expect; any other is a mismatch.
    let inconsistent = |sent: Option<&str>, ours: Option<&str>| matches!((sent, ours), (Some(sent), Some(ours)) if sent != ours);
    if inconsistent(
        req.protocol_type.as_ref().map(|s| s.as_str()),
        group.protocol_type.as_deref(),
    ) || inconsistent(
        req.protocol_name.as_ref().map(|s| s.as_str()),
        group.protocol_name.as_deref(),
    ) {
        return Err(INCONSISTENT_GROUP_PROTOCOL);
    }
    Ok(())
}
