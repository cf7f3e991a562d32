//! DescribeShareGroupOffsets v1 (KIP-1226) over the wire: each partition's
//! lag is the high watermark minus the share-partition start offset minus
//! the records past it already delivered for good; -1 while the partition
//! has no start offset yet, and absent from v0 answers. In a cluster the
//! count reaches the share coordinator from a share-partition leader on
//! another broker (WriteShareGroupState v1) and comes back to the group
//! coordinator (ReadShareGroupStateSummary v1).

// An integration test: unwrapping is how a failed step fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use bytes::{BufMut, Bytes, BytesMut};
use gregor_protocol::error_codes::NONE;
use gregor_protocol::generated::describe_share_group_offsets_request::{
    DescribeShareGroupOffsetsRequest, DescribeShareGroupOffsetsRequestGroup,
    DescribeShareGroupOffsetsRequestTopic,
};
use gregor_protocol::generated::describe_share_group_offsets_response::{
    DescribeShareGroupOffsetsResponse, DescribeShareGroupOffsetsResponsePartition,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use support::cluster::{
    controller_and_brokers_specs, create_topic_on, eventually, metadata, ProcessCluster,
};
use support::share::{self, ACCEPT, RELEASE};
use support::{create_topic, produce_values, wait_for_group_coordinator, Connection, TestBroker};

const GROUP: &str = "lagging";
const TOPIC: &str = "backlog";
const KEY: i16 = ApiKey::DescribeShareGroupOffsets as i16;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn frame(version: i16) -> BytesMut {
    let request = DescribeShareGroupOffsetsRequest {
        groups: vec![DescribeShareGroupOffsetsRequestGroup {
            group_id: GROUP.to_string(),
            topics: Some(vec![DescribeShareGroupOffsetsRequestTopic {
                topic_name: TOPIC.to_string(),
                partitions: vec![0],
                ..Default::default()
            }]),
            ..Default::default()
        }],
        ..Default::default()
    };
    let mut buf = BytesMut::new();
    buf.put_i32(0);
    RequestHeader::default()
        .with_request_api_key(KEY)
        .with_request_api_version(version)
        .with_correlation_id(90)
        .with_client_id(Some(s("lag-test")))
        .encode(&mut buf, 2)
        .unwrap();
    // v2 is not a version Kafka 4.4 knows: encoded as v1, refused by its key.
    request.encode(&mut buf, version.min(1)).unwrap();
    let size = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    buf
}

/// Partition 0 of the topic, as DescribeShareGroupOffsets `version` says.
fn described(conn: &mut Connection, version: i16) -> DescribeShareGroupOffsetsResponsePartition {
    conn.send_raw(&frame(version));
    let mut frame: Bytes = conn.read_frame().expect("broker closed the connection");
    let header = ResponseHeader::decode(&mut frame, 1).unwrap();
    assert_eq!(header.correlation_id, 90);
    let r = DescribeShareGroupOffsetsResponse::decode(&mut frame, version).unwrap();
    assert!(frame.is_empty(), "trailing bytes");
    let group = r.groups.into_iter().next().unwrap();
    assert_eq!(group.error_code, NONE, "{:?}", group.error_message);
    let topic = group.topics.into_iter().next().unwrap();
    assert_eq!(topic.topic_name, TOPIC);
    topic.partitions.into_iter().next().unwrap()
}

fn heartbeat(conn: &mut Connection, epoch: i32, topics: Option<&[&str]>) -> i16 {
    let request = ShareGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s(GROUP)))
        .with_member_id(s("member-a"))
        .with_member_epoch(epoch)
        .with_subscribed_topic_names(topics.map(|t| t.iter().map(|n| TopicName(s(n))).collect()));
    support::share::heartbeat(conn, request).error_code
}

fn alter_start(conn: &mut Connection, start: i64) -> i16 {
    use alter_share_group_offsets_request::*;
    let request = AlterShareGroupOffsetsRequest::default()
        .with_group_id(GroupId(s(GROUP)))
        .with_topics(vec![AlterShareGroupOffsetsRequestTopic::default()
            .with_topic_name(TopicName(s(TOPIC)))
            .with_partitions(vec![
                AlterShareGroupOffsetsRequestPartition::default()
                    .with_partition_index(0)
                    .with_start_offset(start),
            ])]);
    let ResponseKind::AlterShareGroupOffsets(r) = conn.request(
        ApiKey::AlterShareGroupOffsets,
        0,
        RequestKind::AlterShareGroupOffsets(request),
    ) else {
        panic!()
    };
    assert_eq!(r.error_code, NONE);
    r.responses[0].partitions[0].error_code
}

#[test]
fn describe_share_group_offsets_v1_reports_the_lag() {
    let broker = TestBroker::start(&["offsets.topic.num.partitions=1"]);
    let mut conn = broker.connect();
    wait_for_group_coordinator(&mut conn, GROUP);
    create_topic(&mut conn, TOPIC, 1);

    let r = ApiVersionsRequest::default();
    let ResponseKind::ApiVersions(versions) =
        conn.request(ApiKey::ApiVersions, 3, RequestKind::ApiVersions(r))
    else {
        panic!()
    };
    let v = versions.api_keys.iter().find(|k| k.api_key == KEY).unwrap();
    assert_eq!((v.min_version, v.max_version), (0, 1));

    assert_eq!(heartbeat(&mut conn, 0, Some(&[TOPIC])), NONE);
    produce_values(&mut conn, TOPIC, 0, 1_000, (0..10).map(|i| format!("r{i}")));

    // Initialized, never fetched: no start offset, so no lag (Kafka: -1).
    let p = described(&mut conn, 1);
    assert_eq!((p.error_code, p.start_offset, p.lag), (NONE, -1, -1));

    // Start at 4 with nothing delivered past it: 10 - 4 - 0.
    assert_eq!(heartbeat(&mut conn, -1, None), NONE);
    assert_eq!(alter_start(&mut conn, 4), NONE);
    let p = described(&mut conn, 1);
    assert_eq!((p.error_code, p.start_offset, p.lag), (NONE, 4, 6));

    // More records raise it.
    produce_values(&mut conn, TOPIC, 0, 1_000, (0..5).map(|i| format!("s{i}")));
    assert_eq!(described(&mut conn, 1).lag, 11);

    // v0 has no lag field: the same answer without it.
    let p = described(&mut conn, 0);
    assert_eq!((p.start_offset, p.lag), (4, -1));

    // A version Kafka 4.4 does not serve closes the connection.
    conn.send_raw(&frame(2));
    assert!(conn.read_frame().is_none());
}

/// FindCoordinator v6 of one key of `key_type` (0 group, 2 share):
/// the coordinator's node id once known.
fn coordinator(conn: &mut Connection, key_type: i8, key: &str) -> Option<i32> {
    let request = FindCoordinatorRequest::default()
        .with_key_type(key_type)
        .with_coordinator_keys(vec![s(key)]);
    let ResponseKind::FindCoordinator(r) = conn.request(
        ApiKey::FindCoordinator,
        6,
        RequestKind::FindCoordinator(request),
    ) else {
        panic!()
    };
    let c = &r.coordinators[0];
    (c.error_code == NONE).then_some(c.node_id.0)
}

/// The share-partition leader is not the share coordinator: the
/// delivery-complete count it writes travels to the coordinator (v1) and
/// back to the group coordinator's DescribeShareGroupOffsets, so the lag
/// counts the records acknowledged past the start offset.
#[test]
fn the_lag_counts_acknowledgements_written_through_another_broker() {
    let cluster = ProcessCluster::start(
        controller_and_brokers_specs(2),
        &[
            "broker.session.timeout.ms=2000",
            "broker.heartbeat.interval.ms=200",
            "offsets.topic.num.partitions=1",
            "offsets.topic.replication.factor=1",
            "share.coordinator.state.topic.num.partitions=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
        ],
    );
    let mut any = cluster.connect(1);
    eventually(30, "both brokers registered", || {
        (metadata(&mut any, None).brokers.len() == 2).then_some(())
    });
    // One state partition: every key has the same share coordinator.
    let share_key = format!("{GROUP}:AAAAAAAAAAAAAAAAAAAAAQ:0");
    let share_coordinator = eventually(30, "the share coordinator", || {
        coordinator(&mut any, 2, &share_key)
    });
    let leader = if share_coordinator == 2 { 3 } else { 2 };
    let topic = create_topic_on(&mut any, TOPIC, leader);
    let group_coordinator = eventually(30, "the group coordinator", || {
        coordinator(&mut any, 0, GROUP)
    });
    let mut at_group = cluster.connect(group_coordinator as usize - 1);
    let mut at_leader = cluster.connect(leader as usize - 1);
    eventually(30, "the leader knows it leads", || {
        let m = metadata(&mut at_leader, Some(&[TOPIC]));
        (m.topics.first()?.partitions.first()?.leader_id.0 == leader).then_some(())
    });

    // Join (initializes the share-partition), leave, start at 0.
    eventually(30, "the group joined", || {
        (heartbeat(&mut at_group, 0, Some(&[TOPIC])) == NONE).then_some(())
    });
    assert_eq!(heartbeat(&mut at_group, -1, None), NONE);
    eventually(30, "the start offset set", || {
        (alter_start(&mut at_group, 0) == NONE).then_some(())
    });
    produce_values(
        &mut at_leader,
        TOPIC,
        0,
        1_000,
        (0..10).map(|i| format!("r{i}")),
    );

    let session = share::Session {
        group: GROUP,
        member: "member-b",
        epoch: 0,
    };
    let acquired = eventually(30, "records acquired", || {
        let r = share::fetch(&mut at_leader, &session, topic, &[], 500);
        assert_eq!(r.error_code, NONE);
        let p = &r.responses[0].partitions[0];
        assert_eq!(p.error_code, NONE);
        let ranges: Vec<(i64, i64)> = p
            .acquired_records
            .iter()
            .map(|a| (a.first_offset, a.last_offset))
            .collect();
        (!ranges.is_empty()).then_some(ranges)
    });
    assert_eq!(acquired, vec![(0, 9)]);
    // Accept 5-7, release the rest: the start stays at 0 with 3 records
    // past it delivered for good.
    let session = share::Session {
        epoch: 1,
        ..session
    };
    let acks = [(0, 4, RELEASE), (5, 7, ACCEPT), (8, 9, RELEASE)];
    let r = share::acknowledge(&mut at_leader, &session, topic, &acks);
    assert_eq!(r.error_code, NONE);
    assert_eq!(r.responses[0].partitions[0].error_code, NONE);

    let p = described(&mut at_group, 1);
    assert_eq!(
        (p.error_code, p.start_offset, p.lag),
        (NONE, 0, 10 - 3),
        "share coordinator {share_coordinator}, leader {leader}, group coordinator {group_coordinator}"
    );
}
