//! StreamsGroupDescribe (API 89) and the streams groups' ListGroups rows.

use super::group::{Assignment, StreamsGroup};
use super::heartbeat::wire_tasks;
use super::STREAMS_TYPE;
use crate::group::GroupCoordinator;
use gregor_protocol::error_codes::GROUP_ID_NOT_FOUND;
use gregor_protocol::generated::streams_group_describe_response as d;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::GroupId;
use kafka_protocol::protocol::StrBytes;

fn key_values(pairs: &[(String, String)]) -> Vec<d::KeyValue> {
    pairs
        .iter()
        .map(|(key, value)| d::KeyValue {
            key: key.clone(),
            value: value.clone(),
            ..Default::default()
        })
        .collect()
}

fn topic_info(t: &super::topology::TopicInfo, partitions: i32) -> d::TopicInfo {
    d::TopicInfo {
        name: t.name.clone(),
        partitions,
        replication_factor: t.replication_factor,
        topic_configs: key_values(&t.configs),
        ..Default::default()
    }
}

fn described(group: &StreamsGroup) -> d::DescribedGroup {
    let topology = group.topology.as_ref().map(|t| d::Topology {
        epoch: t.epoch,
        subtopologies: group.configured.is_ready().then(|| {
            t.subtopologies
                .iter()
                .map(|s| {
                    let n = group.configured.tasks.get(&s.id).copied().unwrap_or(0);
                    d::Subtopology {
                        subtopology_id: s.id.clone(),
                        source_topics: s
                            .source_topics
                            .iter()
                            .cloned()
                            .chain(s.repartition_sources.iter().map(|r| r.name.clone()))
                            .collect(),
                        repartition_sink_topics: s.repartition_sinks.clone(),
                        state_changelog_topics: s
                            .changelogs
                            .iter()
                            .map(|c| topic_info(c, n))
                            .collect(),
                        repartition_source_topics: s
                            .repartition_sources
                            .iter()
                            .map(|r| topic_info(r, if r.partitions > 0 { r.partitions } else { n }))
                            .collect(),
                        ..Default::default()
                    }
                })
                .collect()
        }),
        ..Default::default()
    });
    let members = group
        .members
        .values()
        .map(|m| {
            let ids = |tasks: &std::collections::BTreeSet<super::TaskId>| -> Vec<d::TaskIds> {
                wire_tasks(tasks)
                    .into_iter()
                    .map(|t| d::TaskIds {
                        subtopology_id: t.subtopology_id,
                        partitions: t.partitions,
                        ..Default::default()
                    })
                    .collect()
            };
            let assignment = |a: &Assignment| d::Assignment {
                active_tasks: ids(&a.active),
                standby_tasks: ids(&a.standby),
                ..Default::default()
            };
            let target = group.target.get(&m.id).cloned().unwrap_or_default();
            d::Member {
                member_id: m.id.clone(),
                member_epoch: m.epoch,
                instance_id: m.instance_id.clone(),
                rack_id: m.rack_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                topology_epoch: m.topology_epoch,
                process_id: m.process_id.clone(),
                user_endpoint: m.user_endpoint.as_ref().map(|(host, port)| d::Endpoint {
                    host: host.clone(),
                    port: *port,
                    ..Default::default()
                }),
                client_tags: key_values(&m.client_tags),
                assignment: assignment(&StreamsGroup::current(m)),
                target_assignment: assignment(&target),
                ..Default::default()
            }
        })
        .collect();
    d::DescribedGroup {
        group_id: group.id.clone(),
        group_state: group.state().name().to_string(),
        group_epoch: group.epoch,
        assignment_epoch: group.assignment_epoch,
        topology,
        members,
        assignor_name: Some("sticky".to_string()),
        ..Default::default()
    }
}

impl GroupCoordinator {
    /// One group's StreamsGroupDescribe entry; with its topology
    /// description (v1 `IncludeTopologyDescription`) when asked.
    pub fn streams_group_describe(
        &self,
        group_id: &str,
        include_description: bool,
    ) -> d::DescribedGroup {
        match self.streams_groups.get(group_id) {
            Some(group) => {
                let mut out = described(group);
                if include_description {
                    let plugin = self.config.streams.topology_descriptions;
                    super::description::attach_description(group, plugin, &mut out);
                }
                out
            }
            None => d::DescribedGroup {
                group_id: group_id.to_string(),
                error_code: GROUP_ID_NOT_FOUND,
                error_message: Some(format!("Group {group_id} not found.")),
                ..Default::default()
            },
        }
    }

    pub(crate) fn listed_streams_groups(
        &self,
        states: &[StrBytes],
        types: &[StrBytes],
    ) -> Vec<ListedGroup> {
        let wanted = crate::group::admin::list_filter_accepts;
        self.streams_groups
            .values()
            .filter(|g| wanted(states, g.state().name()) && wanted(types, STREAMS_TYPE))
            .map(|g| {
                ListedGroup::default()
                    .with_group_id(GroupId(StrBytes::from_string(g.id.clone())))
                    .with_protocol_type(StrBytes::from_static_str(STREAMS_TYPE))
                    .with_group_state(StrBytes::from_string(g.state().name().to_string()))
                    .with_group_type(StrBytes::from_static_str(STREAMS_TYPE))
            })
            .collect()
    }
}
