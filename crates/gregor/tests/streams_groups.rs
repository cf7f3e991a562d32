//! Streams groups (KIP-1071) over TCP against a real gregor process:
//! StreamsGroupHeartbeat and StreamsGroupDescribe, encoded with the types
//! generated from Kafka's schemas, as a Kafka Streams client sends them.

// Tests fail by panicking: unwrap and expect are how they say so.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use bytes::{BufMut, Bytes, BytesMut};
use gregor_protocol::generated::streams_group_describe_request::StreamsGroupDescribeRequest;
use gregor_protocol::generated::streams_group_describe_response::StreamsGroupDescribeResponse;
use gregor_protocol::generated::streams_group_heartbeat_request as rq;
use gregor_protocol::generated::streams_group_heartbeat_response::StreamsGroupHeartbeatResponse;
use gregor_protocol::generated::streams_group_topology_description_update_request as up;
use gregor_protocol::generated::streams_group_topology_description_update_response::StreamsGroupTopologyDescriptionUpdateResponse;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use std::time::{Duration, Instant};
use support::{create_topic, wait_for_group_coordinator, Connection, TestBroker};

const MISSING_INTERNAL_TOPICS: i8 = 3;

fn call<Req: Encodable, Resp: Decodable>(
    conn: &mut Connection,
    key: i16,
    version: i16,
    body: &Req,
) -> Resp {
    let mut buf = BytesMut::new();
    buf.put_i32(0);
    RequestHeader::default()
        .with_request_api_key(key)
        .with_request_api_version(version)
        .with_correlation_id(77)
        .with_client_id(Some(StrBytes::from_static_str("streams-test")))
        .encode(&mut buf, 2)
        .unwrap();
    body.encode(&mut buf, version).unwrap();
    let size = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    conn.send_raw(&buf);
    let mut frame: Bytes = conn.read_frame().expect("broker closed the connection");
    let header = ResponseHeader::decode(&mut frame, 1).unwrap();
    assert_eq!(header.correlation_id, 77);
    let resp = Resp::decode(&mut frame, version).unwrap();
    assert!(frame.is_empty(), "trailing bytes");
    resp
}

fn heartbeat(
    conn: &mut Connection,
    req: &rq::StreamsGroupHeartbeatRequest,
) -> StreamsGroupHeartbeatResponse {
    call(conn, 88, 1, req)
}

fn topology(input: &str, app: &str) -> rq::Topology {
    let info = |name: String| rq::TopicInfo {
        name,
        ..Default::default()
    };
    rq::Topology {
        epoch: 0,
        subtopologies: vec![rq::Subtopology {
            subtopology_id: "0".into(),
            source_topics: vec![input.into()],
            state_changelog_topics: vec![rq::TopicInfo {
                topic_configs: vec![rq::KeyValue {
                    key: "cleanup.policy".into(),
                    value: "compact".into(),
                    ..Default::default()
                }],
                ..info(format!("{app}-store-changelog"))
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

#[test]
fn api_versions_advertises_streams_group_apis() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    let ResponseKind::ApiVersions(r) = conn.request(
        ApiKey::ApiVersions,
        3,
        RequestKind::ApiVersions(ApiVersionsRequest::default()),
    ) else {
        panic!()
    };
    let range = |key: i16| {
        r.api_keys
            .iter()
            .find(|k| k.api_key == key)
            .map(|k| (k.min_version, k.max_version))
    };
    assert_eq!(range(88), Some((0, 1)));
    assert_eq!(range(89), Some((0, 1)));
    // Advertised with or without a description store, as Kafka 4.4 does.
    assert_eq!(range(93), Some((0, 0)));
    let streams = r
        .finalized_features
        .iter()
        .find(|f| f.name.as_str() == "streams.version");
    assert_eq!(streams.map(|f| f.max_version_level), Some(1));
}

#[test]
fn a_streams_member_joins_gets_its_changelog_created_and_its_tasks() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    create_topic(&mut conn, "words", 3);
    wait_for_group_coordinator(&mut conn, "app");
    let join = rq::StreamsGroupHeartbeatRequest {
        group_id: "app".into(),
        member_id: "member-1".into(),
        member_epoch: 0,
        rebalance_timeout_ms: 30_000,
        topology: Some(topology("words", "app")),
        process_id: Some("process-1".into()),
        active_tasks: Some(vec![]),
        standby_tasks: Some(vec![]),
        warmup_tasks: Some(vec![]),
        ..Default::default()
    };
    let r = heartbeat(&mut conn, &join);
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    assert_eq!(r.member_id, "member-1");
    assert_eq!(r.acceptable_recovery_lag, 10_000);
    let status = r.status.clone().unwrap_or_default();
    assert_eq!(
        status.first().map(|s| s.status_code),
        Some(MISSING_INTERNAL_TOPICS),
        "{status:?}"
    );
    // The broker creates the changelog; the next heartbeat gets all three tasks.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut epoch = r.member_epoch;
    let tasks = loop {
        let beat = rq::StreamsGroupHeartbeatRequest {
            group_id: "app".into(),
            member_id: "member-1".into(),
            member_epoch: epoch,
            active_tasks: Some(vec![]),
            ..Default::default()
        };
        let r = heartbeat(&mut conn, &beat);
        assert_eq!(r.error_code, 0, "{:?}", r.error_message);
        epoch = r.member_epoch;
        let tasks: Vec<i32> = r
            .active_tasks
            .unwrap_or_default()
            .iter()
            .flat_map(|t| t.partitions.clone())
            .collect();
        if !tasks.is_empty() {
            break tasks;
        }
        assert!(Instant::now() < deadline, "no tasks: {:?}", r.status);
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(tasks, vec![0, 1, 2]);
    let ResponseKind::Metadata(meta) = conn.request(
        ApiKey::Metadata,
        12,
        RequestKind::Metadata(MetadataRequest::default().with_topics(Some(
            vec![metadata_request::MetadataRequestTopic::default(
                )
                .with_name(Some(support::topic_name("app-store-changelog")))],
        ))),
    ) else {
        panic!()
    };
    assert_eq!(meta.topics[0].error_code, 0);
    assert_eq!(
        meta.topics[0].partitions.len(),
        3,
        "changelog partitions = tasks"
    );

    let describe = StreamsGroupDescribeRequest {
        group_ids: vec!["app".into(), "nope".into()],
        ..Default::default()
    };
    let d: StreamsGroupDescribeResponse = call(&mut conn, 89, 1, &describe);
    let g = &d.groups[0];
    assert_eq!((g.error_code, g.group_state.as_str()), (0, "Stable"));
    assert_eq!(g.members[0].process_id, "process-1");
    assert_eq!(
        g.members[0].assignment.active_tasks[0].partitions,
        vec![0, 1, 2]
    );
    assert_eq!(d.groups[1].error_code, 69, "GROUP_ID_NOT_FOUND");

    // Listed with type "streams".
    let ResponseKind::ListGroups(list) = conn.request(
        ApiKey::ListGroups,
        5,
        RequestKind::ListGroups(ListGroupsRequest::default()),
    ) else {
        panic!()
    };
    let listed = list
        .groups
        .iter()
        .find(|g| g.group_id.as_str() == "app")
        .expect("listed");
    assert_eq!(listed.group_type.as_str(), "streams");

    // An unknown epoch is fenced; leaving works.
    let stale = rq::StreamsGroupHeartbeatRequest {
        group_id: "app".into(),
        member_id: "member-1".into(),
        member_epoch: epoch + 10,
        ..Default::default()
    };
    assert_eq!(
        heartbeat(&mut conn, &stale).error_code,
        110,
        "FENCED_MEMBER_EPOCH"
    );
    let leave = rq::StreamsGroupHeartbeatRequest {
        member_epoch: -1,
        ..stale
    };
    let r = heartbeat(&mut conn, &leave);
    assert_eq!((r.error_code, r.member_epoch), (0, -1));
}

#[test]
fn an_unserved_version_closes_the_connection_as_kafka_does() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    let mut buf = BytesMut::new();
    buf.put_i32(0);
    RequestHeader::default()
        .with_request_api_key(88)
        .with_request_api_version(2)
        .encode(&mut buf, 2)
        .unwrap();
    let size = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    conn.send_raw(&buf);
    assert!(conn.read_frame().is_none());
}

#[test]
fn a_malformed_heartbeat_closes_the_connection_and_the_broker_lives_on() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    let mut buf = BytesMut::new();
    buf.put_i32(0);
    RequestHeader::default()
        .with_request_api_key(88)
        .with_request_api_version(1)
        .encode(&mut buf, 2)
        .unwrap();
    // A group id claiming 100 bytes, then nothing.
    buf.put_u8(101);
    let size = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    conn.send_raw(&buf);
    assert!(conn.read_frame().is_none());
    let mut again = broker.connect();
    let ResponseKind::ApiVersions(r) = again.request(
        ApiKey::ApiVersions,
        3,
        RequestKind::ApiVersions(ApiVersionsRequest::default()),
    ) else {
        panic!()
    };
    assert_eq!(r.error_code, 0);
}

/// A member's view after one heartbeat: (epoch, active partitions).
fn beat_at(
    conn: &mut Connection,
    member: &str,
    epoch: i32,
    owned: &[i32],
) -> StreamsGroupHeartbeatResponse {
    let owned = if owned.is_empty() {
        vec![]
    } else {
        vec![rq::TaskIds {
            subtopology_id: "0".into(),
            partitions: owned.to_vec(),
            ..Default::default()
        }]
    };
    let beat = rq::StreamsGroupHeartbeatRequest {
        group_id: "app".into(),
        member_id: member.into(),
        member_epoch: epoch,
        active_tasks: Some(owned),
        ..Default::default()
    };
    heartbeat(conn, &beat)
}

fn partitions(r: &StreamsGroupHeartbeatResponse) -> Vec<i32> {
    let mut p: Vec<i32> = r
        .active_tasks
        .iter()
        .flatten()
        .flat_map(|t| t.partitions.clone())
        .collect();
    p.sort();
    p
}

fn describe_app(conn: &mut Connection) -> StreamsGroupDescribeResponse {
    let describe = StreamsGroupDescribeRequest {
        group_ids: vec!["app".into()],
        ..Default::default()
    };
    call(conn, 89, 1, &describe)
}

#[test]
fn a_stable_streams_group_survives_a_broker_restart() {
    let mut broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    create_topic(&mut conn, "words", 4);
    wait_for_group_coordinator(&mut conn, "app");
    let mut state: Vec<(String, i32, Vec<i32>)> = Vec::new();
    for member in ["m1", "m2"] {
        let join = rq::StreamsGroupHeartbeatRequest {
            group_id: "app".into(),
            member_id: member.into(),
            member_epoch: 0,
            rebalance_timeout_ms: 30_000,
            topology: Some(topology("words", "app")),
            process_id: Some(format!("process-{member}")),
            active_tasks: Some(vec![]),
            standby_tasks: Some(vec![]),
            warmup_tasks: Some(vec![]),
            ..Default::default()
        };
        let r = heartbeat(&mut conn, &join);
        assert_eq!(r.error_code, 0, "{:?}", r.error_message);
        state.push((member.into(), r.member_epoch, vec![]));
    }
    // Heartbeat both (reporting what they run) until the group is Stable.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        for (member, epoch, owned) in state.iter_mut() {
            let r = beat_at(&mut conn, member, *epoch, owned);
            assert_eq!(r.error_code, 0, "{:?}", r.error_message);
            *epoch = r.member_epoch;
            *owned = partitions(&r);
        }
        let d = describe_app(&mut conn);
        if d.groups[0].group_state == "Stable" {
            break;
        }
        assert!(Instant::now() < deadline, "not Stable: {:?}", d.groups[0]);
        std::thread::sleep(Duration::from_millis(100));
    }
    let before = describe_app(&mut conn).groups.remove(0);
    assert_eq!(state[0].2.len() + state[1].2.len(), 4, "{state:?}");
    assert_eq!(state[0].2.len(), 2, "{state:?}");

    broker.restart();
    let mut conn = broker.connect();
    wait_for_group_coordinator(&mut conn, "app");
    // The reloaded group has both members at their epochs with their tasks.
    let after = describe_app(&mut conn).groups.remove(0);
    assert_eq!(after.error_code, 0);
    assert_eq!(
        (after.group_epoch, after.assignment_epoch),
        (before.group_epoch, before.assignment_epoch)
    );
    let view = |g: &gregor_protocol::generated::streams_group_describe_response::DescribedGroup| {
        let mut v: Vec<(String, i32, String, Vec<i32>)> = g
            .members
            .iter()
            .map(|m| {
                (
                    m.member_id.clone(),
                    m.member_epoch,
                    m.process_id.clone(),
                    m.assignment
                        .active_tasks
                        .iter()
                        .flat_map(|t| t.partitions.clone())
                        .collect(),
                )
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(view(&after), view(&before));
    // Their heartbeats are answered at the same epochs with the same tasks:
    // no UNKNOWN_MEMBER_ID, no rebalance.
    for (member, epoch, owned) in &state {
        let r = beat_at(&mut conn, member, *epoch, owned);
        assert_eq!(r.error_code, 0, "{:?}", r.error_message);
        assert_eq!(r.member_epoch, *epoch);
        assert_eq!(&partitions(&r), owned);
    }
    let d = describe_app(&mut conn).groups.remove(0);
    assert_eq!(d.group_state, "Stable");
    assert_eq!(d.group_epoch, before.group_epoch);
}

fn description_push(member: &str) -> up::StreamsGroupTopologyDescriptionUpdateRequest {
    up::StreamsGroupTopologyDescriptionUpdateRequest {
        group_id: "app".into(),
        member_id: member.into(),
        topology_epoch: 0,
        topology_description: up::TopologyDescription {
            subtopologies: vec![up::TopologyDescriptionSubtopology {
                subtopology_id: "0".into(),
                nodes: vec![up::TopologyDescriptionNode {
                    name: "KSTREAM-SOURCE-0000000000".into(),
                    node_type: 1,
                    source_topics: vec!["words".into()],
                    successors: vec!["KSTREAM-AGGREGATE-0000000001".into()],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        },
        ..Default::default()
    }
}

fn join_app(conn: &mut Connection, member: &str) -> StreamsGroupHeartbeatResponse {
    let join = rq::StreamsGroupHeartbeatRequest {
        group_id: "app".into(),
        member_id: member.into(),
        member_epoch: 0,
        rebalance_timeout_ms: 30_000,
        topology: Some(topology("words", "app")),
        process_id: Some("process-1".into()),
        active_tasks: Some(vec![]),
        standby_tasks: Some(vec![]),
        warmup_tasks: Some(vec![]),
        ..Default::default()
    };
    let r = heartbeat(conn, &join);
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    r
}

#[test]
fn topology_description_update_without_a_plugin_is_unsupported_version() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    create_topic(&mut conn, "words", 1);
    wait_for_group_coordinator(&mut conn, "app");
    let r = join_app(&mut conn, "m1");
    assert!(!r.topology_description_required);
    let resp: StreamsGroupTopologyDescriptionUpdateResponse =
        call(&mut conn, 93, 0, &description_push("m1"));
    assert_eq!(resp.error_code, 35, "UNSUPPORTED_VERSION");
    assert_eq!(
        resp.error_message.as_deref(),
        Some("The broker has no streams group topology description plugin configured.")
    );
}

#[test]
fn with_the_in_memory_plugin_a_pushed_description_is_described() {
    let broker = TestBroker::start(&[
        "group.streams.topology.description.plugin.class=org.apache.kafka.server.streams.InMemoryTopologyDescriptionPlugin",
    ]);
    let mut conn = broker.connect();
    create_topic(&mut conn, "words", 1);
    wait_for_group_coordinator(&mut conn, "app");
    let r = join_app(&mut conn, "m1");
    assert!(
        r.topology_description_required,
        "the member is asked for it"
    );
    let unknown: StreamsGroupTopologyDescriptionUpdateResponse =
        call(&mut conn, 93, 0, &description_push("ghost"));
    assert_eq!(unknown.error_code, 25, "UNKNOWN_MEMBER_ID");
    let ok: StreamsGroupTopologyDescriptionUpdateResponse =
        call(&mut conn, 93, 0, &description_push("m1"));
    assert_eq!(ok.error_code, 0, "{:?}", ok.error_message);
    let describe = StreamsGroupDescribeRequest {
        group_ids: vec!["app".into()],
        include_topology_description: true,
        ..Default::default()
    };
    let d: StreamsGroupDescribeResponse = call(&mut conn, 89, 1, &describe);
    let group = &d.groups[0];
    assert_eq!(group.topology_description_status, 3, "AVAILABLE");
    let description = group.topology_description.as_ref().expect("a description");
    let node = &description.subtopologies[0].nodes[0];
    assert_eq!(node.name, "KSTREAM-SOURCE-0000000000");
    assert_eq!(
        node.successors,
        vec!["KSTREAM-AGGREGATE-0000000001".to_string()]
    );
}
