//! ShareGroupDescribe (API 77), and share groups in ListGroups,
//! DescribeGroups and DeleteGroups.

use super::group::ShareGroup;
use super::heartbeat::group_tombstones;
use super::SHARE_TYPE;
use crate::group::consumer::Topics;
use crate::group::records::Record;
use crate::group::GroupCoordinator;
use crate::share::ShareKey;
use gregor_protocol::error_codes::{GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP};
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::share_group_describe_response::{
    Assignment, DescribedGroup, Member, TopicPartitions,
};
use kafka_protocol::messages::{GroupId, TopicName};
use kafka_protocol::protocol::StrBytes;

/// Kafka's only share assignor.
pub const SIMPLE_ASSIGNOR: &str = "simple";

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

impl GroupCoordinator {
    /// One group of a ShareGroupDescribe (the edge splits the request by
    /// coordinator). Authorized operations are the edge's to fill.
    pub fn share_group_describe(&self, group_id: &str, topics: &dyn Topics) -> DescribedGroup {
        let Some(group) = self.share_groups.get(group_id) else {
            let message = if self.is_other_type_group(group_id) {
                format!("Group {group_id} is not a share group.")
            } else {
                format!("Group {group_id} not found.")
            };
            return DescribedGroup::default()
                .with_group_id(GroupId(s(group_id)))
                .with_error_code(GROUP_ID_NOT_FOUND)
                .with_error_message(Some(s(&message)));
        };
        let members = group
            .members
            .values()
            .map(|m| {
                let assigned = m
                    .assigned
                    .iter()
                    .map(|(id, parts)| {
                        TopicPartitions::default()
                            .with_topic_id(*id)
                            .with_topic_name(TopicName(s(topics.name_of(*id).unwrap_or(""))))
                            .with_partitions(parts.iter().copied().collect())
                    })
                    .collect();
                Member::default()
                    .with_member_id(s(&m.id))
                    .with_rack_id(m.meta.rack_id.as_deref().map(s))
                    .with_member_epoch(m.epoch)
                    .with_client_id(s(&m.meta.client_id))
                    .with_client_host(s(&m.meta.client_host))
                    .with_subscribed_topic_names(
                        m.meta
                            .subscribed_topic_names
                            .iter()
                            .map(|n| TopicName(s(n)))
                            .collect(),
                    )
                    .with_assignment(Assignment::default().with_topic_partitions(assigned))
            })
            .collect();
        DescribedGroup::default()
            .with_group_id(GroupId(s(group_id)))
            .with_group_state(s(group.state().name()))
            .with_group_epoch(group.epoch)
            .with_assignment_epoch(group.assignment_epoch)
            .with_assignor_name(s(SIMPLE_ASSIGNOR))
            .with_members(members)
            .with_authorized_operations(i32::MIN)
    }

    pub fn share_group(&self, group_id: &str) -> Option<&ShareGroup> {
        self.share_groups.get(group_id)
    }

    pub(crate) fn is_share_group(&self, group_id: &str) -> bool {
        self.share_groups.contains_key(group_id)
    }

    /// The share-partitions of a group with persisted state (initialized
    /// or being initialized): what deleting the group must delete.
    pub fn share_state_keys(&self, group_id: &str) -> Vec<ShareKey> {
        let Some(group) = self.share_groups.get(group_id) else {
            return Vec::new();
        };
        let st = &group.state_partitions;
        let mut keys: Vec<ShareKey> = st
            .initialized
            .iter()
            .chain(st.initializing.iter())
            .flat_map(|(id, (_, parts))| {
                parts.iter().map(move |p| ShareKey {
                    group_id: group_id.to_string(),
                    topic_id: *id,
                    partition: *p,
                })
            })
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }

    pub(crate) fn listed_share_groups(
        &self,
        states: &[StrBytes],
        types: &[StrBytes],
    ) -> Vec<ListedGroup> {
        let wanted = crate::group::admin::list_filter_accepts;
        self.share_groups
            .values()
            .filter(|g| wanted(states, g.state().name()) && wanted(types, SHARE_TYPE))
            .map(|g| {
                ListedGroup::default()
                    .with_group_id(GroupId(s(&g.id)))
                    .with_protocol_type(s(SHARE_TYPE))
                    .with_group_state(s(g.state().name()))
                    .with_group_type(s(SHARE_TYPE))
            })
            .collect()
    }

    /// DeleteGroups of a share group: refused (NON_EMPTY_GROUP) while it has
    /// members; else its records are tombstoned. `None`: not a share group.
    pub(crate) fn delete_share_group(&mut self, group_id: &str) -> Option<(i16, Vec<Record>)> {
        let group = self.share_groups.get(group_id)?;
        if !group.members.is_empty() {
            return Some((NON_EMPTY_GROUP, Vec::new()));
        }
        let records: Vec<Record> = group_tombstones(group)
            .into_iter()
            .map(Record::Share)
            .collect();
        self.share_groups.remove(group_id);
        Some((0, records))
    }
}
