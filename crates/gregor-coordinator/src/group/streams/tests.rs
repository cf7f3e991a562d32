//! Streams group rules, one at a time, with explicit time.

use super::topology::{
    INCORRECTLY_PARTITIONED_TOPICS, MISSING_INTERNAL_TOPICS, MISSING_SOURCE_TOPICS,
};
use super::StreamsContext;
use crate::group::consumer::TopicTable;
use crate::group::{GroupConfig, GroupCoordinator};
use gregor_protocol::error_codes::{
    FENCED_MEMBER_EPOCH, GROUP_ID_NOT_FOUND, INVALID_REQUEST, UNKNOWN_MEMBER_ID,
    UNSUPPORTED_VERSION,
};
use gregor_protocol::generated::streams_group_heartbeat_request as rq;
use gregor_protocol::generated::streams_group_heartbeat_response::{
    self as resp, StreamsGroupHeartbeatResponse,
};
use gregor_protocol::generated::streams_group_topology_description_update_request as up;
use std::collections::BTreeSet;
use uuid::Uuid;

pub(super) fn ctx() -> StreamsContext {
    StreamsContext {
        client_id: "app".into(),
        client_host: "/127.0.0.1".into(),
        api_version: 1,
        group_config: None,
    }
}

/// WordCount's shape: subtopology 0 reads `input` and writes the
/// repartition topic subtopology 1 reads; 1 has a changelog.
pub(super) fn wordcount() -> rq::Topology {
    let info = |name: &str| rq::TopicInfo {
        name: name.into(),
        ..Default::default()
    };
    rq::Topology {
        epoch: 0,
        subtopologies: vec![
            rq::Subtopology {
                subtopology_id: "0".into(),
                source_topics: vec!["input".into()],
                repartition_sink_topics: vec!["app-counts-repartition".into()],
                ..Default::default()
            },
            rq::Subtopology {
                subtopology_id: "1".into(),
                repartition_source_topics: vec![info("app-counts-repartition")],
                state_changelog_topics: vec![info("app-counts-changelog")],
                ..Default::default()
            },
        ],
        ..Default::default()
    }
}

pub(super) fn join(member: &str) -> rq::StreamsGroupHeartbeatRequest {
    rq::StreamsGroupHeartbeatRequest {
        group_id: "app".into(),
        member_id: member.into(),
        member_epoch: 0,
        rebalance_timeout_ms: 30_000,
        topology: Some(wordcount()),
        process_id: Some(format!("process-{member}")),
        active_tasks: Some(vec![]),
        ..Default::default()
    }
}

pub(super) fn beat(
    member: &str,
    epoch: i32,
    owned: &[(&str, i32)],
) -> rq::StreamsGroupHeartbeatRequest {
    let mut tasks: Vec<rq::TaskIds> = Vec::new();
    for (sub, p) in owned {
        match tasks.iter_mut().find(|t| t.subtopology_id == *sub) {
            Some(t) => t.partitions.push(*p),
            None => tasks.push(rq::TaskIds {
                subtopology_id: sub.to_string(),
                partitions: vec![*p],
                ..Default::default()
            }),
        }
    }
    rq::StreamsGroupHeartbeatRequest {
        group_id: "app".into(),
        member_id: member.into(),
        member_epoch: epoch,
        active_tasks: Some(tasks),
        ..Default::default()
    }
}

pub(super) fn all_topics(partitions: i32) -> TopicTable {
    TopicTable::default()
        .with("input", Uuid::new_v4(), partitions)
        .with("app-counts-repartition", Uuid::new_v4(), partitions)
        .with("app-counts-changelog", Uuid::new_v4(), partitions)
}

pub(super) fn tasks(r: &StreamsGroupHeartbeatResponse) -> BTreeSet<(String, i32)> {
    r.active_tasks
        .iter()
        .flatten()
        .flat_map(|t| t.partitions.iter().map(|p| (t.subtopology_id.clone(), *p)))
        .collect()
}

#[test]
fn join_validates_like_kafka() {
    let mut c = GroupCoordinator::new(GroupConfig::default());
    let topics = all_topics(2);
    let mut no_topology = join("a");
    no_topology.topology = None;
    let (r, _) = c.streams_group_heartbeat(&no_topology, &ctx(), &topics, 0);
    assert_eq!(r.error_code, INVALID_REQUEST);
    let (r, _) = c.streams_group_heartbeat(&beat("", 0, &[]), &ctx(), &topics, 0);
    assert_eq!(r.error_code, INVALID_REQUEST);
    let (r, _) = c.streams_group_heartbeat(&beat("ghost", 3, &[]), &ctx(), &topics, 0);
    assert_eq!(r.error_code, UNKNOWN_MEMBER_ID);
}

#[test]
fn missing_source_topic_is_a_status_and_no_tasks() {
    let mut c = GroupCoordinator::new(GroupConfig::default());
    let (r, fx) = c.streams_group_heartbeat(&join("a"), &ctx(), &TopicTable::default(), 0);
    assert_eq!(r.error_code, 0);
    let status = r.status.clone().unwrap_or_default();
    assert_eq!(status[0].status_code, MISSING_SOURCE_TOPICS);
    assert!(tasks(&r).is_empty());
    assert!(fx.missing_topics.is_empty());
    assert_eq!(c.streams_group("app").unwrap().state().name(), "NotReady");
}

#[test]
fn missing_internal_topics_are_reported_with_derived_partitions() {
    let mut c = GroupCoordinator::new(GroupConfig::default());
    let topics = TopicTable::default().with("input", Uuid::new_v4(), 3);
    let (r, fx) = c.streams_group_heartbeat(&join("a"), &ctx(), &topics, 0);
    let status = r.status.clone().unwrap_or_default();
    assert_eq!(status[0].status_code, MISSING_INTERNAL_TOPICS);
    let mut missing: Vec<(String, i32)> = fx
        .missing_topics
        .iter()
        .map(|t| (t.name.clone(), t.partitions))
        .collect();
    missing.sort();
    assert_eq!(
        missing,
        vec![
            ("app-counts-changelog".into(), 3),
            ("app-counts-repartition".into(), 3)
        ]
    );
    // Once the broker made them, the next heartbeat gets tasks.
    let (r, fx) =
        c.streams_group_heartbeat(&beat("a", r.member_epoch, &[]), &ctx(), &all_topics(3), 1);
    assert!(fx.missing_topics.is_empty());
    assert_eq!(tasks(&r).len(), 6);
    assert_eq!(r.status, Some(vec![]));
}

fn owned(v: &[(String, i32)]) -> Vec<(&str, i32)> {
    v.iter().map(|(s, p)| (s.as_str(), *p)).collect()
}

#[test]
fn a_second_member_gets_tasks_only_after_the_first_revoked_them() {
    let mut c = GroupCoordinator::new(GroupConfig::default());
    let topics = all_topics(2);
    let (a, _) = c.streams_group_heartbeat(&join("a"), &ctx(), &topics, 0);
    assert_eq!(tasks(&a).len(), 4);
    let a_epoch = a.member_epoch;
    let owned_a: Vec<(String, i32)> = tasks(&a).into_iter().collect();
    let (b, _) = c.streams_group_heartbeat(&join("b"), &ctx(), &topics, 1);
    // a still runs all four: b waits.
    assert!(tasks(&b).is_empty());
    let (a2, _) =
        c.streams_group_heartbeat(&beat("a", a_epoch, &owned(&owned_a)), &ctx(), &topics, 2);
    assert_eq!(tasks(&a2).len(), 2, "a is told to give up two");
    assert_eq!(
        a2.member_epoch, a_epoch,
        "epoch moves once revocation is done"
    );
    let kept: Vec<(String, i32)> = tasks(&a2).into_iter().collect();
    let (a3, _) = c.streams_group_heartbeat(&beat("a", a_epoch, &owned(&kept)), &ctx(), &topics, 3);
    assert!(a3.member_epoch > a_epoch);
    let (b2, _) = c.streams_group_heartbeat(&beat("b", b.member_epoch, &[]), &ctx(), &topics, 4);
    assert_eq!(tasks(&b2).len(), 2);
    assert!(tasks(&b2).is_disjoint(&tasks(&a3)));
    assert_eq!(c.streams_group("app").unwrap().state().name(), "Stable");
}

#[test]
fn old_epochs_are_fenced_and_sessions_expire() {
    let mut c = GroupCoordinator::new(GroupConfig::default());
    let topics = all_topics(1);
    let (a, _) = c.streams_group_heartbeat(&join("a"), &ctx(), &topics, 0);
    let (r, _) = c.streams_group_heartbeat(&beat("a", a.member_epoch + 5, &[]), &ctx(), &topics, 1);
    assert_eq!(r.error_code, FENCED_MEMBER_EPOCH);
    let session = i64::from(c.config().streams.session_timeout_ms);
    assert_eq!(c.next_deadline(), Some(session));
    c.tick(session);
    assert!(c.streams_group("app").unwrap().members.is_empty());
    let (r, _) = c.streams_group_heartbeat(
        &beat("a", a.member_epoch, &[]),
        &ctx(),
        &topics,
        session + 1,
    );
    assert_eq!(r.error_code, UNKNOWN_MEMBER_ID);
}

#[test]
fn leaving_frees_tasks_for_the_others() {
    let mut c = GroupCoordinator::new(GroupConfig::default());
    let topics = all_topics(1);
    let (a, _) = c.streams_group_heartbeat(&join("a"), &ctx(), &topics, 0);
    let (b, _) = c.streams_group_heartbeat(&join("b"), &ctx(), &topics, 0);
    let mut leave = beat("a", -1, &[]);
    leave.active_tasks = None;
    let (r, _) = c.streams_group_heartbeat(&leave, &ctx(), &topics, 1);
    assert_eq!((r.error_code, r.member_epoch), (0, -1));
    let _ = a;
    let (b2, _) = c.streams_group_heartbeat(&beat("b", b.member_epoch, &[]), &ctx(), &topics, 2);
    assert_eq!(tasks(&b2).len(), 2);
}

#[test]
fn listed_and_described_as_streams() {
    let mut c = GroupCoordinator::new(GroupConfig::default());
    c.streams_group_heartbeat(&join("a"), &ctx(), &all_topics(1), 0);
    let listed = c.list_groups(&Default::default());
    let g = listed
        .groups
        .iter()
        .find(|g| g.group_id.as_str() == "app")
        .unwrap();
    assert_eq!(g.group_type.as_str(), "streams");
    let d = c.streams_group_describe("app", false);
    assert_eq!(d.members.len(), 1);
    assert_eq!(d.members[0].assignment.active_tasks.len(), 2);
    assert_eq!(d.topology.unwrap().subtopologies.unwrap().len(), 2);
    assert_eq!(
        c.streams_group_describe("nope", false).error_code,
        gregor_protocol::error_codes::GROUP_ID_NOT_FOUND
    );
}

#[test]
fn delete_groups_refuses_a_live_streams_group_and_removes_an_empty_one() {
    use kafka_protocol::messages::{DeleteGroupsRequest, GroupId};
    use kafka_protocol::protocol::StrBytes;
    let mut c = GroupCoordinator::new(GroupConfig::default());
    let (a, _) = c.streams_group_heartbeat(&join("a"), &ctx(), &all_topics(1), 0);
    let req = DeleteGroupsRequest::default()
        .with_groups_names(vec![GroupId(StrBytes::from_static_str("app"))]);
    let (r, _) = c.delete_groups(&req);
    assert_eq!(
        r.results[0].error_code,
        gregor_protocol::error_codes::NON_EMPTY_GROUP
    );
    let mut leave = beat("a", -1, &[]);
    leave.member_epoch = -1;
    let _ = a;
    c.streams_group_heartbeat(&leave, &ctx(), &all_topics(1), 1);
    let (r, _) = c.delete_groups(&req);
    assert_eq!(r.results[0].error_code, 0);
    assert!(c.streams_group("app").is_none());
}

fn standby(r: &StreamsGroupHeartbeatResponse) -> BTreeSet<(String, i32)> {
    r.standby_tasks
        .iter()
        .flatten()
        .flat_map(|t| t.partitions.iter().map(|p| (t.subtopology_id.clone(), *p)))
        .collect()
}

fn with_standby(
    member: &str,
    epoch: i32,
    active: &BTreeSet<(String, i32)>,
    standbys: &BTreeSet<(String, i32)>,
) -> rq::StreamsGroupHeartbeatRequest {
    let owned: Vec<(&str, i32)> = active.iter().map(|(s, p)| (s.as_str(), *p)).collect();
    let mut req = beat(member, epoch, &owned);
    req.standby_tasks = Some(
        standbys
            .iter()
            .map(|(s, p)| rq::TaskIds {
                subtopology_id: s.clone(),
                partitions: vec![*p],
                ..Default::default()
            })
            .collect(),
    );
    req
}

#[test]
fn standby_replicas_of_stateful_tasks_go_to_the_other_process() {
    let mut config = GroupConfig::default();
    config.streams.num_standby_replicas = 1;
    let mut c = GroupCoordinator::new(config);
    let topics = all_topics(2);
    let (a, _) = c.streams_group_heartbeat(&join("a"), &ctx(), &topics, 0);
    // Alone: nowhere to put a standby.
    assert_eq!(tasks(&a).len(), 4);
    assert!(standby(&a).is_empty());
    let (b, _) = c.streams_group_heartbeat(&join("b"), &ctx(), &topics, 1);
    let (a, _) = c.streams_group_heartbeat(
        &with_standby("a", a.member_epoch, &tasks(&a), &BTreeSet::new()),
        &ctx(),
        &topics,
        2,
    );
    let (a, _) = c.streams_group_heartbeat(
        &with_standby("a", a.member_epoch, &tasks(&a), &standby(&a)),
        &ctx(),
        &topics,
        3,
    );
    let (b, _) = c.streams_group_heartbeat(
        &with_standby("b", b.member_epoch, &tasks(&b), &standby(&b)),
        &ctx(),
        &topics,
        4,
    );
    let (a, _) = c.streams_group_heartbeat(
        &with_standby("a", a.member_epoch, &tasks(&a), &standby(&a)),
        &ctx(),
        &topics,
        5,
    );
    // Only subtopology 1 has a state store: its two tasks each get one
    // standby, never on the member running it.
    let stateful: BTreeSet<(String, i32)> = [("1".to_string(), 0), ("1".to_string(), 1)].into();
    let all_standby: BTreeSet<_> = standby(&a).union(&standby(&b)).cloned().collect();
    assert_eq!(all_standby, stateful);
    assert!(tasks(&a).is_disjoint(&standby(&a)));
    assert!(tasks(&b).is_disjoint(&standby(&b)));
    assert_eq!(tasks(&a).len() + tasks(&b).len(), 4);
    let d = c.streams_group_describe("app", false);
    let described: usize = d
        .members
        .iter()
        .flat_map(|m| m.assignment.standby_tasks.iter())
        .map(|t| t.partitions.len())
        .sum();
    assert_eq!(described, 2);
}

#[test]
fn members_get_the_endpoint_map_when_theirs_is_stale() {
    let mut c = GroupCoordinator::new(GroupConfig::default());
    let topics = all_topics(2);
    let endpoint = |port| {
        Some(rq::Endpoint {
            host: "localhost".into(),
            port,
            ..Default::default()
        })
    };
    let mut ja = join("a");
    ja.user_endpoint = endpoint(7001);
    let (a, _) = c.streams_group_heartbeat(&ja, &ctx(), &topics, 0);
    let map = a.partitions_by_user_endpoint.clone().unwrap_or_default();
    assert_eq!(map.len(), 1);
    assert_eq!(map[0].user_endpoint.port, 7001);
    let topics_of = |e: &resp::EndpointToPartitions| -> BTreeSet<(String, i32)> {
        e.active_partitions
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| (t.topic.clone(), *p)))
            .collect()
    };
    // Source and repartition-source partitions of its active tasks.
    assert_eq!(
        topics_of(&map[0]),
        [
            ("input", 0),
            ("input", 1),
            ("app-counts-repartition", 0),
            ("app-counts-repartition", 1)
        ]
        .iter()
        .map(|(t, p)| (t.to_string(), *p))
        .collect()
    );
    // Up to date: no map.
    let mut again = with_standby("a", a.member_epoch, &tasks(&a), &BTreeSet::new());
    again.endpoint_information_epoch = a.endpoint_information_epoch;
    let (a2, _) = c.streams_group_heartbeat(&again, &ctx(), &topics, 1);
    assert!(a2.partitions_by_user_endpoint.is_none());
    // A second instance joins: the map changes, a's copy is stale.
    let mut jb = join("b");
    jb.user_endpoint = endpoint(7002);
    c.streams_group_heartbeat(&jb, &ctx(), &topics, 2);
    let (a3, _) = c.streams_group_heartbeat(&again, &ctx(), &topics, 3);
    assert!(a3.endpoint_information_epoch > a.endpoint_information_epoch);
    let map = a3.partitions_by_user_endpoint.unwrap_or_default();
    assert_eq!(map.len(), 2);
}

/// A join: subtopology 0 repartitions `left` into `rep`; subtopology 1
/// joins `right` with `rep`, which must be copartitioned.
fn join_topology(rep_partitions: i32) -> rq::Topology {
    rq::Topology {
        epoch: 0,
        subtopologies: vec![
            rq::Subtopology {
                subtopology_id: "0".into(),
                source_topics: vec!["left".into()],
                repartition_sink_topics: vec!["rep".into()],
                ..Default::default()
            },
            rq::Subtopology {
                subtopology_id: "1".into(),
                source_topics: vec!["right".into()],
                repartition_source_topics: vec![rq::TopicInfo {
                    name: "rep".into(),
                    partitions: rep_partitions,
                    ..Default::default()
                }],
                copartition_groups: vec![rq::CopartitionGroup {
                    source_topics: vec![0],
                    repartition_source_topics: vec![0],
                    ..Default::default()
                }],
                ..Default::default()
            },
        ],
        ..Default::default()
    }
}

fn join_with(topology: rq::Topology) -> rq::StreamsGroupHeartbeatRequest {
    let mut req = join("a");
    req.topology = Some(topology);
    req
}

#[test]
fn copartitioned_repartition_topic_takes_the_source_topics_count() {
    let mut c = GroupCoordinator::new(GroupConfig::default());
    let topics =
        TopicTable::default()
            .with("left", Uuid::new_v4(), 2)
            .with("right", Uuid::new_v4(), 4);
    let (r, fx) = c.streams_group_heartbeat(&join_with(join_topology(0)), &ctx(), &topics, 0);
    // Derived from its writer it would have 2; copartitioned with `right`, 4.
    let missing: Vec<(String, i32)> = fx
        .missing_topics
        .iter()
        .map(|t| (t.name.clone(), t.partitions))
        .collect();
    assert_eq!(missing, vec![("rep".to_string(), 4)]);
    assert_eq!(
        r.status.unwrap_or_default()[0].status_code,
        MISSING_INTERNAL_TOPICS
    );
    let topics = topics.with("rep", Uuid::new_v4(), 4);
    let (r, _) = c.streams_group_heartbeat(&beat("a", r.member_epoch, &[]), &ctx(), &topics, 1);
    assert_eq!(r.status, Some(vec![]));
    assert_eq!(tasks(&r).len(), 2 + 4);
}

#[test]
fn copartition_groups_with_different_counts_are_incorrectly_partitioned() {
    let mut c = GroupCoordinator::new(GroupConfig::default());
    // Two external topics in one group, 2 and 3 partitions.
    let mut topology = join_topology(0);
    topology.subtopologies[1].source_topics = vec!["right".into(), "other".into()];
    topology.subtopologies[1].copartition_groups[0].source_topics = vec![0, 1];
    let topics = TopicTable::default()
        .with("left", Uuid::new_v4(), 2)
        .with("right", Uuid::new_v4(), 2)
        .with("other", Uuid::new_v4(), 3);
    let (r, fx) = c.streams_group_heartbeat(&join_with(topology), &ctx(), &topics, 0);
    let status = r.status.clone().unwrap_or_default();
    assert_eq!(status[0].status_code, INCORRECTLY_PARTITIONED_TOPICS);
    assert_eq!(
        status[0].status_detail,
        "Following topics do not have the same number of partitions: [{other=3, right=2}]"
    );
    assert!(fx.missing_topics.is_empty());
    assert!(tasks(&r).is_empty());
    assert_eq!(c.streams_group("app").unwrap().state().name(), "NotReady");

    // A repartition topic fixed at 3 against a 4-partition source.
    let mut c = GroupCoordinator::new(GroupConfig::default());
    let topics =
        TopicTable::default()
            .with("left", Uuid::new_v4(), 2)
            .with("right", Uuid::new_v4(), 4);
    let (r, _) = c.streams_group_heartbeat(&join_with(join_topology(3)), &ctx(), &topics, 0);
    let status = r.status.unwrap_or_default();
    assert_eq!(status[0].status_code, INCORRECTLY_PARTITIONED_TOPICS);
    assert_eq!(
        status[0].status_detail,
        "Number of partitions [3] of repartition topic [rep] doesn't match number of partitions [4] of the source topic."
    );
}

#[test]
fn a_copartition_group_naming_no_topic_is_an_invalid_topology() {
    let mut c = GroupCoordinator::new(GroupConfig::default());
    let mut topology = join_topology(0);
    topology.subtopologies[1].copartition_groups[0].source_topics = vec![5];
    let (r, _) = c.streams_group_heartbeat(&join_with(topology), &ctx(), &all_topics(2), 0);
    assert_eq!(r.error_code, super::STREAMS_INVALID_TOPOLOGY);
}

fn push_description(member: &str, epoch: i32) -> up::StreamsGroupTopologyDescriptionUpdateRequest {
    up::StreamsGroupTopologyDescriptionUpdateRequest {
        group_id: "app".into(),
        member_id: member.into(),
        topology_epoch: epoch,
        topology_description: up::TopologyDescription {
            subtopologies: vec![up::TopologyDescriptionSubtopology {
                subtopology_id: "0".into(),
                nodes: vec![up::TopologyDescriptionNode {
                    name: "KSTREAM-SOURCE-0000000000".into(),
                    node_type: 1,
                    source_topics: vec!["input".into()],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        },
        ..Default::default()
    }
}

#[test]
fn without_a_description_store_api_93_is_unsupported_and_nobody_is_asked() {
    let mut c = GroupCoordinator::new(GroupConfig::default());
    let (r, _) = c.streams_group_heartbeat(&join("a"), &ctx(), &all_topics(2), 0);
    assert!(!r.topology_description_required);
    let resp = c.streams_topology_description_update(&push_description("a", 0));
    assert_eq!(resp.error_code, UNSUPPORTED_VERSION);
    assert_eq!(
        resp.error_message.as_deref(),
        Some("The broker has no streams group topology description plugin configured.")
    );
    let d = c.streams_group_describe("app", true);
    assert_eq!(d.topology_description_status, 1);
    assert!(d.topology_description.is_none());
}

#[test]
fn members_are_asked_for_the_description_once_and_describe_shows_it() {
    let mut config = GroupConfig::default();
    config.streams.topology_descriptions = true;
    let mut c = GroupCoordinator::new(config);
    let topics = all_topics(2);
    let (a, _) = c.streams_group_heartbeat(&join("a"), &ctx(), &topics, 0);
    assert!(
        a.topology_description_required,
        "asked on the first v1 heartbeat"
    );
    let again = beat(
        "a",
        a.member_epoch,
        &owned(&tasks(&a).into_iter().collect::<Vec<_>>()),
    );
    let (r, _) = c.streams_group_heartbeat(&again, &ctx(), &topics, 1_000);
    assert!(
        !r.topology_description_required,
        "not again within the back-off"
    );
    // v0 cannot carry the flag: never asked.
    let v0 = StreamsContext {
        api_version: 0,
        ..ctx()
    };
    let (r, _) = c.streams_group_heartbeat(&again, &v0, &topics, 60_000);
    assert!(!r.topology_description_required);
    assert_eq!(
        c.streams_group_describe("app", true)
            .topology_description_status,
        1
    );

    assert_eq!(
        c.streams_topology_description_update(&push_description("ghost", 0))
            .error_code,
        UNKNOWN_MEMBER_ID
    );
    let mut other = push_description("a", 0);
    other.group_id = "other".into();
    assert_eq!(
        c.streams_topology_description_update(&other).error_code,
        GROUP_ID_NOT_FOUND
    );
    assert_eq!(
        c.streams_topology_description_update(&push_description("", 0))
            .error_code,
        INVALID_REQUEST
    );
    assert_eq!(
        c.streams_topology_description_update(&push_description("a", 0))
            .error_code,
        0
    );
    let d = c.streams_group_describe("app", true);
    assert_eq!(d.topology_description_status, 3, "AVAILABLE");
    let described = d.topology_description.expect("described");
    assert_eq!(
        described.subtopologies[0].nodes[0].name,
        "KSTREAM-SOURCE-0000000000"
    );
    assert!(c
        .streams_group_describe("app", false)
        .topology_description
        .is_none());
    // Stored: no more asking, even after the back-off.
    let (r, _) = c.streams_group_heartbeat(&again, &ctx(), &topics, 120_000);
    assert!(!r.topology_description_required);
}
