//! Topology descriptions (KIP-1331): StreamsGroupTopologyDescriptionUpdate
//! (API 93) and what StreamsGroupDescribe v1 shows of them.
//!
//! Kafka 4.4 keeps descriptions in a broker plugin
//! (`group.streams.topology.description.plugin.class`); it ships one that
//! holds them in memory. Without a plugin it refuses the API with
//! UNSUPPORTED_VERSION and never asks members for a description. With the
//! in-memory one, Gregor does what that plugin does: a heartbeat (v1+) of a
//! group whose current topology has no stored description asks the member
//! for it (`TopologyDescriptionRequired`), at most once per back-off
//! window; the member pushes it with API 93; StreamsGroupDescribe v1 with
//! `IncludeTopologyDescription` returns it while it describes the group's
//! current topology epoch.

use super::group::StreamsGroup;
use crate::group::GroupCoordinator;
use gregor_protocol::error_codes::{
    GROUP_ID_NOT_FOUND, INVALID_REQUEST, UNKNOWN_MEMBER_ID, UNSUPPORTED_VERSION,
};
use gregor_protocol::generated::streams_group_describe_response as d;
use gregor_protocol::generated::streams_group_topology_description_update_request as up;
use gregor_protocol::generated::streams_group_topology_description_update_response::StreamsGroupTopologyDescriptionUpdateResponse;

/// Kafka 4.4's in-memory plugin, the one `group.streams.topology.description.plugin.class`
/// may name.
pub const IN_MEMORY_PLUGIN: &str =
    "org.apache.kafka.server.streams.InMemoryTopologyDescriptionPlugin";

/// After asking for a topology's description, how long before asking again
/// (the member may fail to push, or its push may be lost).
pub const ASK_AGAIN_MS: i64 = 10_000;

/// StreamsGroupDescribe's `TopologyDescriptionStatus` (Kafka's admin
/// `StreamsGroupTopologyDescriptionStatus`: 0 not requested, 1 not stored,
/// 2 error, 3 available).
pub const DESCRIPTION_NOT_STORED: i8 = 1;
pub const DESCRIPTION_AVAILABLE: i8 = 3;

const NO_PLUGIN: &str = "The broker has no streams group topology description plugin configured.";

fn refuse(code: i16, message: String) -> StreamsGroupTopologyDescriptionUpdateResponse {
    StreamsGroupTopologyDescriptionUpdateResponse {
        error_code: code,
        error_message: Some(message),
        ..Default::default()
    }
}

/// Whether this heartbeat should ask for the current topology's
/// description; arms the back-off when it does.
pub(super) fn ask_for_description(group: &mut StreamsGroup, now_ms: i64) -> bool {
    let Some(epoch) = group.topology.as_ref().map(|t| t.epoch) else {
        return false;
    };
    if group.description.as_ref().is_some_and(|(e, _)| *e == epoch) {
        return false;
    }
    if group
        .description_asked
        .is_some_and(|(e, until)| e == epoch && now_ms < until)
    {
        return false;
    }
    group.description_asked = Some((epoch, now_ms + ASK_AGAIN_MS));
    true
}

fn node(n: &up::TopologyDescriptionNode) -> d::Node {
    d::Node {
        name: n.name.clone(),
        node_type: n.node_type,
        source_topics: n.source_topics.clone(),
        sink_topic: n.sink_topic.clone(),
        stores: n.stores.clone(),
        successors: n.successors.clone(),
        ..Default::default()
    }
}

/// The stored description as StreamsGroupDescribe carries it.
fn described(t: &up::TopologyDescription) -> d::TopologyDescription {
    d::TopologyDescription {
        subtopologies: t
            .subtopologies
            .iter()
            .map(|s| d::SubtopologyDescription {
                subtopology_id: s.subtopology_id.clone(),
                nodes: s.nodes.iter().map(node).collect(),
                ..Default::default()
            })
            .collect(),
        global_stores: t
            .global_stores
            .iter()
            .map(|g| d::GlobalStore {
                source: node(&g.source),
                processor: node(&g.processor),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

/// Fills a described group's description and its status (asked for).
pub(super) fn attach_description(group: &StreamsGroup, plugin: bool, out: &mut d::DescribedGroup) {
    let current = group.topology.as_ref().map(|t| t.epoch);
    match &group.description {
        Some((epoch, t)) if plugin && Some(*epoch) == current => {
            out.topology_description = Some(described(t));
            out.topology_description_status = DESCRIPTION_AVAILABLE;
        }
        _ => out.topology_description_status = DESCRIPTION_NOT_STORED,
    }
}

impl GroupCoordinator {
    /// StreamsGroupTopologyDescriptionUpdate: a member pushes the
    /// description of the topology at `topology_epoch`.
    pub fn streams_topology_description_update(
        &mut self,
        req: &up::StreamsGroupTopologyDescriptionUpdateRequest,
    ) -> StreamsGroupTopologyDescriptionUpdateResponse {
        if !self.config.streams.topology_descriptions {
            return refuse(UNSUPPORTED_VERSION, NO_PLUGIN.to_string());
        }
        if req.member_id.is_empty() {
            return refuse(INVALID_REQUEST, "MemberId can't be empty.".to_string());
        }
        if req.group_id.is_empty() {
            return refuse(INVALID_REQUEST, "GroupId can't be empty.".to_string());
        }
        let Some(group) = self.streams_groups.get_mut(&req.group_id) else {
            return refuse(
                GROUP_ID_NOT_FOUND,
                format!("Group {} not found.", req.group_id),
            );
        };
        if !group.members.contains_key(&req.member_id) {
            return refuse(
                UNKNOWN_MEMBER_ID,
                format!(
                    "Member {} is not a member of group {}.",
                    req.member_id, req.group_id
                ),
            );
        }
        // A description of an older topology is kept too; Describe shows
        // it only while it matches the group's topology epoch.
        group.description = Some((req.topology_epoch, req.topology_description.clone()));
        group.description_asked = None;
        tracing::info!(group = %req.group_id, epoch = req.topology_epoch, "stored streams topology description");
        StreamsGroupTopologyDescriptionUpdateResponse::default()
    }
}
