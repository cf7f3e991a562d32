//! Building the wire responses and collecting them, with the per-version
//! touches Kafka applies when it serialises them.

use super::member::Parked;
use super::state::Group;
use super::{Outcome, Response};
use bytes::Bytes;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupResponse, SyncGroupResponse};
use kafka_protocol::protocol::StrBytes;

pub(crate) fn s(value: &str) -> StrBytes {
    StrBytes::from_string(value.to_string())
}

fn opt(value: Option<&str>) -> Option<StrBytes> {
    value.map(s)
}

/// A JoinGroup failure: no generation, no protocol, no leader.
pub(crate) fn join_error(member_id: &str, code: i16) -> JoinGroupResponse {
    JoinGroupResponse::default()
        .with_error_code(code)
        .with_generation_id(-1)
        .with_protocol_name(None)
        .with_member_id(s(member_id))
}

/// The current generation as `member_id` sees it; `members` only for the
/// member that is to compute the assignment.
pub(crate) fn join_success(
    group: &Group,
    member_id: &str,
    with_members: bool,
    leader: Option<&str>,
) -> JoinGroupResponse {
    let members = if with_members {
        group
            .members_in_order()
            .into_iter()
            .map(|m| {
                JoinGroupResponseMember::default()
                    .with_member_id(s(&m.id))
                    .with_group_instance_id(opt(m.instance_id.as_deref()))
                    .with_metadata(m.metadata(group.protocol_name.as_deref()))
            })
            .collect()
    } else {
        Vec::new()
    };
    JoinGroupResponse::default()
        .with_generation_id(group.generation)
        .with_protocol_type(opt(group.protocol_type.as_deref()))
        .with_protocol_name(opt(group.protocol_name.as_deref()))
        .with_leader(s(leader.unwrap_or_default()))
        .with_member_id(s(member_id))
        .with_members(members)
}

pub(crate) fn sync_response(group: &Group, code: i16, assignment: Bytes) -> SyncGroupResponse {
    SyncGroupResponse::default()
        .with_error_code(code)
        .with_protocol_type(opt(group.protocol_type.as_deref()))
        .with_protocol_name(opt(group.protocol_name.as_deref()))
        .with_assignment(assignment)
}

pub(crate) fn sync_error(code: i16) -> SyncGroupResponse {
    SyncGroupResponse::default()
        .with_error_code(code)
        .with_protocol_name(None)
        .with_assignment(Bytes::new())
}

impl Outcome {
    pub(crate) fn respond(&mut self, request_id: u64, response: Response) {
        self.responses.push((request_id, response));
    }

    /// Before v7 the protocol name is not nullable on the wire; Kafka sends
    /// "" there instead of null.
    pub(crate) fn join(&mut self, parked: Parked, mut response: JoinGroupResponse) {
        if parked.api_version < 7 && response.protocol_name.is_none() {
            response.protocol_name = Some(StrBytes::default());
        }
        self.respond(parked.request_id, Response::Join(response));
    }

    pub(crate) fn sync(&mut self, parked: Parked, response: SyncGroupResponse) {
        self.respond(parked.request_id, Response::Sync(response));
    }
}
