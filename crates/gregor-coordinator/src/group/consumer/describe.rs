//! Looking at consumer groups: ConsumerGroupDescribe (API 69), their
//! entries in ListGroups, and the answer DescribeGroups (the classic API)
//! gives for them.

use super::assignment::Assignment;
use super::group::ConsumerGroup;
use super::member::ConsumerMember;
use super::topics::Topics;
use crate::group::GroupCoordinator;
use gregor_protocol::error_codes::GROUP_ID_NOT_FOUND;
use kafka_protocol::messages::consumer_group_describe_response::{
    Assignment as DescribedAssignment, DescribedGroup, Member, TopicPartitions,
};
use kafka_protocol::messages::describe_groups_response::DescribedGroup as ClassicDescribedGroup;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{
    ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, GroupId, TopicName,
};
use kafka_protocol::protocol::StrBytes;

/// ConsumerGroupDescribe v1 tells consumer-protocol members (1) from
/// classic ones (0); all of Gregor's are the former.
const MEMBER_TYPE_VERSION: i16 = 1;
const CONSUMER_MEMBER: i8 = 1;
/// DescribeGroups v6 reports a missing classic group as an error.
const DESCRIBE_GROUPS_ERROR_VERSION: i16 = 6;
/// The group type and protocol type Kafka lists consumer groups with.
pub(crate) const CONSUMER_TYPE: &str = "consumer";

fn s(value: &str) -> StrBytes {
    StrBytes::from_string(value.to_string())
}

impl GroupCoordinator {
    /// Handles a ConsumerGroupDescribe; authorised operations are the
    /// edge's to fill in.
    pub fn consumer_group_describe(
        &self,
        req: &ConsumerGroupDescribeRequest,
        api_version: i16,
        topics: &dyn Topics,
    ) -> ConsumerGroupDescribeResponse {
        let groups = req
            .group_ids
            .iter()
            .map(|id| match self.consumer_group_or_refusal(id) {
                Ok(group) => self.describe(group, api_version, topics),
                Err(refusal) => DescribedGroup::default()
                    .with_group_id(id.clone())
                    .with_error_code(refusal.code)
                    .with_error_message(Some(s(&refusal.message))),
            })
            .collect();
        ConsumerGroupDescribeResponse::default().with_groups(groups)
    }

    fn describe(
        &self,
        group: &ConsumerGroup,
        api_version: i16,
        topics: &dyn Topics,
    ) -> DescribedGroup {
        let assignor = group.preferred_assignor(&[], None, &self.config.consumer);
        let members = group
            .members
            .values()
            .map(|m| describe_member(m, group.target.get(&m.id), api_version, topics))
            .collect();
        DescribedGroup::default()
            .with_group_id(GroupId(s(&group.id)))
            .with_group_state(s(group.state().name()))
            .with_group_epoch(group.epoch)
            .with_assignment_epoch(group.assignment_epoch)
            .with_assignor_name(s(assignor.name()))
            .with_members(members)
    }

    /// ListGroups entries of the consumer groups that pass the filters
    /// (empty filters pass everything; matched case-insensitively).
    pub(crate) fn listed_consumer_groups(
        &self,
        states: &[StrBytes],
        types: &[StrBytes],
    ) -> Vec<ListedGroup> {
        let wanted = crate::group::admin::list_filter_accepts;
        self.consumer_groups
            .values()
            .filter(|g| wanted(states, g.state().name()) && wanted(types, CONSUMER_TYPE))
            .map(|g| {
                ListedGroup::default()
                    .with_group_id(GroupId(s(&g.id)))
                    .with_protocol_type(s(CONSUMER_TYPE))
                    .with_group_state(s(g.state().name()))
                    .with_group_type(s(CONSUMER_TYPE))
            })
            .collect()
    }

    /// Whether a consumer group has this id (its classic entry, if any,
    /// only holds offsets and must not be listed or described).
    pub(crate) fn is_consumer_group(&self, group_id: &str) -> bool {
        self.consumer_groups.contains_key(group_id) || self.is_streams_group(group_id)
    }

    /// DescribeGroups of a consumer group: Kafka describes only classic
    /// groups, so the group is Dead to this API, with GROUP_ID_NOT_FOUND
    /// from v6 on.
    pub(crate) fn describe_consumer_group_as_classic(
        &self,
        group_id: &GroupId,
        api_version: i16,
    ) -> Option<ClassicDescribedGroup> {
        if !self.is_consumer_group(group_id) {
            return None;
        }
        let dead = ClassicDescribedGroup::default()
            .with_group_id(group_id.clone())
            .with_group_state(s("Dead"));
        Some(if api_version >= DESCRIBE_GROUPS_ERROR_VERSION {
            dead.with_error_code(GROUP_ID_NOT_FOUND)
                .with_error_message(Some(s(&format!(
                    "Group {} is not a classic group.",
                    group_id.as_str()
                ))))
        } else {
            dead
        })
    }
}

fn describe_member(
    m: &ConsumerMember,
    target: Option<&Assignment>,
    api_version: i16,
    topics: &dyn Topics,
) -> Member {
    let mut member = Member::default()
        .with_member_id(s(&m.id))
        .with_instance_id(m.meta.instance_id.as_deref().map(s))
        .with_rack_id(m.meta.rack_id.as_deref().map(s))
        .with_member_epoch(m.epoch())
        .with_client_id(s(&m.meta.client_id))
        .with_client_host(s(&m.meta.client_host))
        .with_subscribed_topic_names(
            m.meta
                .subscribed_topic_names
                .iter()
                .map(|n| TopicName(s(n)))
                .collect(),
        )
        // Kafka shows "" for a member without a regex.
        .with_subscribed_topic_regex(Some(s(m
            .meta
            .subscribed_topic_regex
            .as_deref()
            .unwrap_or_default())))
        .with_assignment(described(&m.current.assigned, topics))
        .with_target_assignment(described(target.unwrap_or(&Assignment::new()), topics));
    if api_version >= MEMBER_TYPE_VERSION {
        member = member.with_member_type(CONSUMER_MEMBER);
    }
    member
}

/// With topic names; topics deleted since are left out, as Kafka does.
fn described(assignment: &Assignment, topics: &dyn Topics) -> DescribedAssignment {
    let partitions = assignment
        .iter()
        .filter_map(|(id, parts)| {
            topics.name_of(*id).map(|name| {
                TopicPartitions::default()
                    .with_topic_id(*id)
                    .with_topic_name(TopicName(s(name)))
                    .with_partitions(parts.iter().copied().collect())
            })
        })
        .collect();
    DescribedAssignment::default().with_topic_partitions(partitions)
}
