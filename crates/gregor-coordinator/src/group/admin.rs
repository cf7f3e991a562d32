//! Group administration: DescribeGroups, ListGroups, DeleteGroups.

use super::committed;
use super::records::Record;
use super::responses::s;
use super::state::GroupState;
use super::GroupCoordinator;
use bytes::Bytes;
use gregor_protocol::error_codes::{GROUP_ID_NOT_FOUND, NONE, NON_EMPTY_GROUP};
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{
    DeleteGroupsRequest, DeleteGroupsResponse, DescribeGroupsRequest, DescribeGroupsResponse,
    GroupId, ListGroupsRequest, ListGroupsResponse,
};

/// DescribeGroups v6 reports unknown groups as GROUP_ID_NOT_FOUND; older
/// versions describe them as Dead without an error.
const GROUP_ID_NOT_FOUND_DESCRIBE_VERSION: i16 = 6;
/// What ListGroups v5 calls every group here (KIP-848 adds "consumer").
const CLASSIC_GROUP_TYPE: &str = "classic";

impl GroupCoordinator {
    /// Handles a DescribeGroups. Member metadata and assignments are only
    /// shown for Stable groups, as Kafka does; authorised operations are
    /// the edge's to fill in.
    pub fn describe_groups(
        &self,
        req: &DescribeGroupsRequest,
        api_version: i16,
    ) -> DescribeGroupsResponse {
        let groups = req
            .groups
            .iter()
            .map(|id| {
                let group = self
                    .groups
                    .get(id.as_str())
                    .filter(|g| !self.exists_only_uncommitted(g));
                (id, group)
            })
            .map(|(id, group)| match group {
                // Kafka describes only classic (and consumer) groups here.
                None if self.is_share_group(id) => {
                    let described = DescribedGroup::default()
                        .with_group_id(id.clone())
                        .with_group_state(s(GroupState::Dead.name()));
                    if api_version >= GROUP_ID_NOT_FOUND_DESCRIBE_VERSION {
                        described
                            .with_error_code(GROUP_ID_NOT_FOUND)
                            .with_error_message(Some(s(&format!(
                                "Group {} is not a classic group.",
                                id.as_str()
                            ))))
                    } else {
                        described
                    }
                }
                _ if self.is_consumer_group(id) => self
                    .describe_consumer_group_as_classic(id, api_version)
                    .unwrap_or_default(),
                // Removed by a write not yet committed: Empty until then.
                None if self.removed_uncommitted_group(id).is_some() => {
                    let removed = self.removed_uncommitted_group(id);
                    let protocol_type = removed.and_then(|r| r.protocol_type.as_deref());
                    DescribedGroup::default()
                        .with_group_id(id.clone())
                        .with_group_state(s(GroupState::Empty.name()))
                        .with_protocol_type(s(protocol_type.unwrap_or_default()))
                }
                None if api_version >= GROUP_ID_NOT_FOUND_DESCRIBE_VERSION => {
                    DescribedGroup::default()
                        .with_group_id(id.clone())
                        .with_group_state(s(GroupState::Dead.name()))
                        .with_error_code(GROUP_ID_NOT_FOUND)
                        .with_error_message(Some(s(&format!("Group {} not found.", id.as_str()))))
                }
                None => DescribedGroup::default()
                    .with_group_id(id.clone())
                    .with_group_state(s(GroupState::Dead.name())),
                Some(group) => {
                    let stable = group.state == GroupState::Stable;
                    let protocol = group.protocol_name.as_deref();
                    let members = group
                        .members_in_order()
                        .into_iter()
                        .map(|m| {
                            let (metadata, assignment) = if stable {
                                (m.metadata(protocol), m.assignment.clone())
                            } else {
                                (Bytes::new(), Bytes::new())
                            };
                            DescribedGroupMember::default()
                                .with_member_id(s(&m.id))
                                .with_group_instance_id(m.instance_id.as_deref().map(s))
                                .with_client_id(s(&m.client_id))
                                .with_client_host(s(&m.client_host))
                                .with_member_metadata(metadata)
                                .with_member_assignment(assignment)
                        })
                        .collect();
                    DescribedGroup::default()
                        .with_group_id(id.clone())
                        .with_group_state(s(group.state.name()))
                        .with_protocol_type(s(group.protocol_type.as_deref().unwrap_or_default()))
                        .with_protocol_data(s(if stable {
                            protocol.unwrap_or_default()
                        } else {
                            ""
                        }))
                        .with_members(members)
                }
            })
            .collect();
        DescribeGroupsResponse::default().with_groups(groups)
    }

    /// Handles a ListGroups; state and type filters match case-insensitively
    /// and an empty filter matches everything.
    pub fn list_groups(&self, req: &ListGroupsRequest) -> ListGroupsResponse {
        let wanted = list_filter_accepts;
        let mut groups: Vec<ListedGroup> = self
            .groups
            .values()
            .filter(|g| {
                // A consumer group's classic entry only holds its offsets.
                !self.is_consumer_group(&g.id)
                    && !self.exists_only_uncommitted(g)
                    && wanted(&req.states_filter, g.state.name())
                    && wanted(&req.types_filter, CLASSIC_GROUP_TYPE)
            })
            .map(|g| {
                ListedGroup::default()
                    .with_group_id(GroupId(s(&g.id)))
                    .with_protocol_type(s(g.protocol_type.as_deref().unwrap_or_default()))
                    .with_group_state(s(g.state.name()))
                    .with_group_type(s(CLASSIC_GROUP_TYPE))
            })
            .collect();
        if wanted(&req.states_filter, GroupState::Empty.name())
            && wanted(&req.types_filter, CLASSIC_GROUP_TYPE)
        {
            // Removed by writes not yet committed: still there, Empty.
            groups.extend(self.removed_uncommitted().map(|(id, removed)| {
                ListedGroup::default()
                    .with_group_id(GroupId(s(id)))
                    .with_protocol_type(s(removed.protocol_type.as_deref().unwrap_or_default()))
                    .with_group_state(s(GroupState::Empty.name()))
                    .with_group_type(s(CLASSIC_GROUP_TYPE))
            }));
        }
        groups.extend(self.listed_consumer_groups(&req.states_filter, &req.types_filter));
        groups.extend(self.listed_streams_groups(&req.states_filter, &req.types_filter));
        groups.extend(self.listed_share_groups(&req.states_filter, &req.types_filter));
        groups.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        ListGroupsResponse::default().with_groups(groups)
    }

    /// Every group ListGroups lists, with how many members it has (the
    /// broker's consumer lag metrics).
    pub fn group_member_counts(&self) -> Vec<(String, usize)> {
        self.list_groups(&ListGroupsRequest::default())
            .groups
            .iter()
            .map(|listed| {
                let id = listed.group_id.0.as_str();
                let members = self
                    .consumer_groups
                    .get(id)
                    .map(|g| g.members.len())
                    .or_else(|| self.streams_groups.get(id).map(|g| g.members.len()))
                    .or_else(|| self.share_groups.get(id).map(|g| g.members.len()))
                    .or_else(|| self.groups.get(id).map(|g| g.members.len()))
                    .unwrap_or(0);
                (id.to_string(), members)
            })
            .collect()
    }

    /// Handles a DeleteGroups: only groups without members go, with all
    /// their offsets (tombstones for each, then for the group).
    pub fn delete_groups(
        &mut self,
        req: &DeleteGroupsRequest,
    ) -> (DeleteGroupsResponse, Vec<Record>) {
        let mut records = Vec::new();
        let mut results = Vec::with_capacity(req.groups_names.len());
        for id in &req.groups_names {
            // A share group, else a consumer group: each is `None` for an
            // id that is not of its kind.
            if let Some((code, mut deleted)) = self
                .delete_share_group(id)
                .or_else(|| self.delete_consumer_group(id))
            {
                records.append(&mut deleted);
                results.push(
                    DeletableGroupResult::default()
                        .with_group_id(id.clone())
                        .with_error_code(code),
                );
                continue;
            }
            // A streams group goes only when it has no members; its offsets
            // are in the shared entry below, which goes with it.
            if let Some(streams) = self.streams_groups.get(id.as_str()) {
                if !streams.members.is_empty() {
                    results.push(
                        DeletableGroupResult::default()
                            .with_group_id(id.clone())
                            .with_error_code(NON_EMPTY_GROUP),
                    );
                    continue;
                }
                if let Some(gone) = self.streams_groups.remove(id.as_str()) {
                    records.extend(
                        super::streams::persist::group_tombstones(&gone)
                            .into_iter()
                            .map(Record::Streams),
                    );
                }
                if !self.groups.contains_key(id.as_str()) {
                    results.push(DeletableGroupResult::default().with_group_id(id.clone()));
                    continue;
                }
            }
            let code = match self.groups.get(id.as_str()) {
                None => GROUP_ID_NOT_FOUND,
                Some(g) if g.state == GroupState::Dead => GROUP_ID_NOT_FOUND,
                Some(g) if g.state != GroupState::Empty => NON_EMPTY_GROUP,
                Some(_) => {
                    let pending_only = self.pending_only_tombstones(id.as_str());
                    if let Some(group) = self.groups.remove(id.as_str()) {
                        self.note_group_removal(&group);
                        for ((topic, partition), prior) in group.offsets {
                            committed::note(
                                &mut self.journal,
                                &group.id,
                                &topic,
                                partition,
                                Some(prior),
                            );
                            records.push(Record::Offset {
                                group: group.id.clone(),
                                topic,
                                partition,
                                value: None,
                            });
                        }
                        records.extend(pending_only);
                        records.push(Record::Group {
                            group: group.id,
                            value: None,
                        });
                    }
                    self.drop_pending_of_tombstones(&records);
                    NONE
                }
            };
            results.push(
                DeletableGroupResult::default()
                    .with_group_id(id.clone())
                    .with_error_code(code),
            );
        }
        (
            DeleteGroupsResponse::default().with_results(results),
            records,
        )
    }
}

/// A ListGroups states/types filter: empty passes everything, otherwise
/// one entry must match (case-insensitively, surrounding spaces ignored).
pub(crate) fn list_filter_accepts(
    filter: &[kafka_protocol::protocol::StrBytes],
    value: &str,
) -> bool {
    filter.is_empty() || filter.iter().any(|f| f.trim().eq_ignore_ascii_case(value))
}
