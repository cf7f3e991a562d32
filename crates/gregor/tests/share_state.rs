//! The share coordinator (KIP-932) over TCP: the share-partition state
//! RPCs (Initialize/Read/Write/Delete/ReadSummary ShareGroupState, 83-87)
//! and FindCoordinator key type SHARE, against real gregor processes. The
//! state lives in `__share_group_state` and survives kill -9; older leader
//! and state epochs are fenced with Kafka's codes; a broker that does not
//! coordinate a key answers NOT_COORDINATOR.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use base64::Engine;
use gregor_protocol::error_codes::{
    CLUSTER_AUTHORIZATION_FAILED, COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE,
    FENCED_LEADER_EPOCH, FENCED_STATE_EPOCH, INVALID_REQUEST, NONE, NOT_COORDINATOR,
    UNKNOWN_TOPIC_OR_PARTITION,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use std::time::{Duration, Instant};
use support::cluster::{
    combined_specs, create_topic as create_topic_rf, eventually, ProcessCluster,
};
use support::{Connection, TestBroker};
use uuid::Uuid;

const SHARE_KEY: i8 = 2;

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_string())
}

/// Kafka's share-partition coordinator key.
fn share_key(group: &str, topic: Uuid, partition: i32) -> String {
    let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(topic.as_bytes());
    format!("{group}:{id}:{partition}")
}

/// FindCoordinator v6 for one SHARE key: (error, node id).
fn find_share_coordinator(conn: &mut Connection, key: &str, version: i16) -> (i16, i32) {
    let request = FindCoordinatorRequest::default()
        .with_key_type(SHARE_KEY)
        .with_coordinator_keys(vec![s(key)]);
    let ResponseKind::FindCoordinator(r) = conn.request(
        ApiKey::FindCoordinator,
        version,
        RequestKind::FindCoordinator(request),
    ) else {
        panic!("not a FindCoordinator response")
    };
    let c = &r.coordinators[0];
    (c.error_code, c.node_id.0)
}

fn initialize(
    conn: &mut Connection,
    group: &str,
    topic: Uuid,
    p: i32,
    state_epoch: i32,
    start: i64,
) -> i16 {
    use initialize_share_group_state_request::*;
    let req = InitializeShareGroupStateRequest::default()
        .with_group_id(s(group))
        .with_topics(vec![InitializeStateData::default()
            .with_topic_id(topic)
            .with_partitions(vec![PartitionData::default()
                .with_partition(p)
                .with_state_epoch(state_epoch)
                .with_start_offset(start)])]);
    let ResponseKind::InitializeShareGroupState(r) = conn.request(
        ApiKey::InitializeShareGroupState,
        0,
        RequestKind::InitializeShareGroupState(req),
    ) else {
        panic!("not an InitializeShareGroupState response")
    };
    r.results[0].partitions[0].error_code
}

/// (error, state epoch, start offset, batches as (first, last, state, count)).
type ReadResult = (i16, i32, i64, Vec<(i64, i64, i8, i16)>);

fn read(conn: &mut Connection, group: &str, topic: Uuid, p: i32, leader_epoch: i32) -> ReadResult {
    use read_share_group_state_request::*;
    let req = ReadShareGroupStateRequest::default()
        .with_group_id(s(group))
        .with_topics(vec![ReadStateData::default()
            .with_topic_id(topic)
            .with_partitions(vec![PartitionData::default()
                .with_partition(p)
                .with_leader_epoch(leader_epoch)])]);
    let ResponseKind::ReadShareGroupState(r) = conn.request(
        ApiKey::ReadShareGroupState,
        0,
        RequestKind::ReadShareGroupState(req),
    ) else {
        panic!("not a ReadShareGroupState response")
    };
    let p = &r.results[0].partitions[0];
    (
        p.error_code,
        p.state_epoch,
        p.start_offset,
        p.state_batches
            .iter()
            .map(|b| {
                (
                    b.first_offset,
                    b.last_offset,
                    b.delivery_state,
                    b.delivery_count,
                )
            })
            .collect(),
    )
}

#[allow(clippy::too_many_arguments)]
fn write(
    conn: &mut Connection,
    group: &str,
    topic: Uuid,
    p: i32,
    state_epoch: i32,
    leader_epoch: i32,
    start: i64,
    batches: &[(i64, i64, i8, i16)],
) -> i16 {
    use write_share_group_state_request::*;
    let req = WriteShareGroupStateRequest::default()
        .with_group_id(s(group))
        .with_topics(vec![WriteStateData::default()
            .with_topic_id(topic)
            .with_partitions(vec![PartitionData::default()
                .with_partition(p)
                .with_state_epoch(state_epoch)
                .with_leader_epoch(leader_epoch)
                .with_start_offset(start)
                .with_state_batches(
                    batches
                        .iter()
                        .map(|&(f, l, st, c)| {
                            StateBatch::default()
                                .with_first_offset(f)
                                .with_last_offset(l)
                                .with_delivery_state(st)
                                .with_delivery_count(c)
                        })
                        .collect(),
                )])]);
    let ResponseKind::WriteShareGroupState(r) = conn.request(
        ApiKey::WriteShareGroupState,
        0,
        RequestKind::WriteShareGroupState(req),
    ) else {
        panic!("not a WriteShareGroupState response")
    };
    r.results[0].partitions[0].error_code
}

/// (error, state epoch, leader epoch, start offset).
fn summary(conn: &mut Connection, group: &str, topic: Uuid, p: i32) -> (i16, i32, i32, i64) {
    use read_share_group_state_summary_request::*;
    let req = ReadShareGroupStateSummaryRequest::default()
        .with_group_id(s(group))
        .with_topics(vec![ReadStateSummaryData::default()
            .with_topic_id(topic)
            .with_partitions(vec![PartitionData::default().with_partition(p)])]);
    let ResponseKind::ReadShareGroupStateSummary(r) = conn.request(
        ApiKey::ReadShareGroupStateSummary,
        0,
        RequestKind::ReadShareGroupStateSummary(req),
    ) else {
        panic!("not a ReadShareGroupStateSummary response")
    };
    let p = &r.results[0].partitions[0];
    (p.error_code, p.state_epoch, p.leader_epoch, p.start_offset)
}

fn delete(conn: &mut Connection, group: &str, topic: Uuid, p: i32) -> i16 {
    use delete_share_group_state_request::*;
    let req = DeleteShareGroupStateRequest::default()
        .with_group_id(s(group))
        .with_topics(vec![DeleteStateData::default()
            .with_topic_id(topic)
            .with_partitions(vec![PartitionData::default().with_partition(p)])]);
    let ResponseKind::DeleteShareGroupState(r) = conn.request(
        ApiKey::DeleteShareGroupState,
        0,
        RequestKind::DeleteShareGroupState(req),
    ) else {
        panic!("not a DeleteShareGroupState response")
    };
    r.results[0].partitions[0].error_code
}

/// Retries `f` while the coordinator is moving, loading or being created.
fn settled(what: &str, mut f: impl FnMut() -> i16) -> i16 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let code = f();
        if ![
            NOT_COORDINATOR,
            COORDINATOR_LOAD_IN_PROGRESS,
            COORDINATOR_NOT_AVAILABLE,
        ]
        .contains(&code)
        {
            return code;
        }
        assert!(Instant::now() < deadline, "{what}: still {code}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

const ACKED: i8 = 2;
const AVAILABLE: i8 = 0;
const ARCHIVED: i8 = 4;

#[test]
fn share_state_is_fenced_and_survives_kill_9() {
    let mut broker = TestBroker::start(&["share.coordinator.state.topic.num.partitions=3"]);
    let mut conn = broker.connect();
    let topic = support::create_topic(&mut conn, "queue", 2);
    let g = "workers";

    // FindCoordinator SHARE creates __share_group_state and names this node.
    let (code, node) = eventually(30, "the share coordinator", || {
        let found = find_share_coordinator(&mut conn, &share_key(g, topic, 0), 6);
        (found.0 == NONE).then_some(found)
    });
    assert_eq!((code, node), (NONE, 1));
    // Malformed keys and pre-v6 SHARE lookups are invalid.
    assert_eq!(
        find_share_coordinator(&mut conn, "no-colons", 6).0,
        INVALID_REQUEST
    );
    assert_eq!(
        find_share_coordinator(&mut conn, "g:not-a-uuid:0", 6).0,
        INVALID_REQUEST
    );
    assert_eq!(
        find_share_coordinator(&mut conn, &share_key(g, topic, 0), 5).0,
        INVALID_REQUEST
    );

    // Writing or reading a key never initialized is invalid.
    let code = settled("write uninitialized", || {
        write(&mut conn, g, topic, 0, 0, 0, 0, &[])
    });
    assert_eq!(code, INVALID_REQUEST);
    assert_eq!(read(&mut conn, g, topic, 0, 0).0, INVALID_REQUEST);
    // A partition the topic does not have, an empty group id.
    assert_eq!(
        settled("init p9", || initialize(&mut conn, g, topic, 9, 0, 0)),
        UNKNOWN_TOPIC_OR_PARTITION
    );
    assert_eq!(initialize(&mut conn, "", topic, 0, 0, 0), INVALID_REQUEST);
    // The summary of an unknown key: start -1, epochs 0.
    assert_eq!(summary(&mut conn, g, topic, 0), (NONE, 0, 0, -1));

    assert_eq!(
        settled("init", || initialize(&mut conn, g, topic, 0, 1, 0)),
        NONE
    );
    // The leader at epoch 3 loads the partition, then writes twice.
    assert_eq!(read(&mut conn, g, topic, 0, 3), (NONE, 1, 0, vec![]));
    let first = [(0, 9, ACKED, 1), (10, 19, AVAILABLE, 1)];
    assert_eq!(write(&mut conn, g, topic, 0, 1, 3, 0, &first), NONE);
    assert_eq!(
        write(&mut conn, g, topic, 0, 1, 3, 5, &[(12, 14, ARCHIVED, 2)]),
        NONE
    );
    let expected = vec![
        (5, 9, ACKED, 1),
        (10, 11, AVAILABLE, 1),
        (12, 14, ARCHIVED, 2),
        (15, 19, AVAILABLE, 1),
    ];
    assert_eq!(
        read(&mut conn, g, topic, 0, 3),
        (NONE, 1, 5, expected.clone())
    );

    // kill -9: the state is in __share_group_state and comes back.
    broker.kill();
    broker.restart();
    let mut conn = broker.connect();
    let mut after = (0, 0, 0, vec![]);
    settled("read after restart", || {
        after = read(&mut conn, g, topic, 0, 3);
        after.0
    });
    assert_eq!(after, (NONE, 1, 5, expected));
    assert_eq!(summary(&mut conn, g, topic, 0), (NONE, 1, 3, 5));

    // A newer leader reads: the old one is fenced from then on.
    assert_eq!(read(&mut conn, g, topic, 0, 4).0, NONE);
    assert_eq!(
        write(&mut conn, g, topic, 0, 1, 3, 5, &[]),
        FENCED_LEADER_EPOCH
    );
    assert_eq!(read(&mut conn, g, topic, 0, 3).0, FENCED_LEADER_EPOCH);
    // An older state epoch is fenced for writes and initializations.
    assert_eq!(
        write(&mut conn, g, topic, 0, 0, 4, 5, &[]),
        FENCED_STATE_EPOCH
    );
    assert_eq!(initialize(&mut conn, g, topic, 0, 0, 0), FENCED_STATE_EPOCH);
    // An admin reset (new state epoch) starts over.
    assert_eq!(initialize(&mut conn, g, topic, 0, 2, 100), NONE);
    assert_eq!(read(&mut conn, g, topic, 0, 4), (NONE, 2, 100, vec![]));

    // Delete, then the key is gone (and stays gone across a restart).
    assert_eq!(delete(&mut conn, g, topic, 0), NONE);
    assert_eq!(read(&mut conn, g, topic, 0, 4).0, INVALID_REQUEST);
    broker.kill();
    broker.restart();
    let mut conn = broker.connect();
    let code = settled("read deleted", || read(&mut conn, g, topic, 0, 4).0);
    assert_eq!(code, INVALID_REQUEST);
    assert_eq!(summary(&mut conn, g, topic, 0), (NONE, 0, 0, -1));
}

/// A three-node cluster whose `__share_group_state` is replicated on all
/// three nodes, with a topic "queue" of `partitions` (replication factor
/// 3): the cluster, the topic's id, and the node that coordinates group
/// "g"'s share-partition `partition` (the lookup creates
/// `__share_group_state`).
fn replicated_share_cluster(partitions: i32, partition: i32) -> (ProcessCluster, Uuid, i32) {
    let cluster = ProcessCluster::start(
        combined_specs(3, |_| String::new()),
        &[
            "share.coordinator.state.topic.num.partitions=3",
            "share.coordinator.state.topic.replication.factor=3",
            "share.coordinator.state.topic.min.isr=2",
        ],
    );
    let mut conn = cluster.connect(0);
    let (code, topic) = create_topic_rf(&mut conn, "queue", partitions, 3);
    assert_eq!(code, NONE);
    let key = share_key("g", topic, partition);
    let coordinator = eventually(30, "the share coordinator", || {
        let (code, node) = find_share_coordinator(&mut conn, &key, 6);
        (code == NONE).then_some(node)
    });
    (cluster, topic, coordinator)
}

#[test]
fn a_broker_that_does_not_coordinate_the_key_says_not_coordinator() {
    let (cluster, topic, coordinator) = replicated_share_cluster(1, 0);
    let key = share_key("g", topic, 0);
    // Every node names the same coordinator.
    for via in 0..3 {
        let found = eventually(30, "agreement", || {
            let f = find_share_coordinator(&mut cluster.connect(via), &key, 6);
            (f.0 == NONE).then_some(f.1)
        });
        assert_eq!(found, coordinator);
    }
    let other = (0..3).find(|&i| i as i32 + 1 != coordinator).unwrap();
    let mut at_other = cluster.connect(other);
    assert_eq!(
        initialize(&mut at_other, "g", topic, 0, 0, 0),
        NOT_COORDINATOR
    );
    let mut at_coordinator = cluster.connect(coordinator as usize - 1);
    let code = settled("init at coordinator", || {
        initialize(&mut at_coordinator, "g", topic, 0, 0, 7)
    });
    assert_eq!(code, NONE);
    assert_eq!(read(&mut at_other, "g", topic, 0, 1).0, NOT_COORDINATOR);
    assert_eq!(
        read(&mut at_coordinator, "g", topic, 0, 1),
        (NONE, 0, 7, vec![])
    );
}

/// A setting of a cluster node's server.properties.
fn property(cluster: &ProcessCluster, node: usize, key: &str) -> String {
    let text = std::fs::read_to_string(cluster.nodes[node].dir.join("server.properties")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap()
        .to_string()
}

/// The persister of a broker that does not coordinate a key sends the
/// RPCs to the broker that does: a fourth, in-process broker joins a
/// three-node cluster whose `__share_group_state` lives on the other
/// three, and its persister's writes land at the coordinator.
#[test]
fn the_persister_forwards_to_the_coordinator() {
    // Created (on nodes 1-3) before node 4 exists.
    let (cluster, topic, coordinator) = replicated_share_cluster(2, 1);

    // Node 4, in this process, formatted for the same cluster.
    let dir = tempfile::tempdir().unwrap();
    let port = support::free_port();
    let meta = std::fs::read_to_string(cluster.nodes[0].dir.join("data/meta.properties")).unwrap();
    let cluster_id = meta
        .lines()
        .find_map(|l| l.strip_prefix("cluster.id="))
        .unwrap()
        .to_string();
    let settings: Vec<(String, String)> = vec![
        ("process.roles".into(), "broker".into()),
        ("node.id".into(), "4".into()),
        ("listeners".into(), format!("PLAINTEXT://127.0.0.1:{port}")),
        (
            "advertised.listeners".into(),
            format!("PLAINTEXT://127.0.0.1:{port}"),
        ),
        (
            "controller.quorum.voters".into(),
            property(&cluster, 0, "controller.quorum.voters"),
        ),
        ("controller.listener.names".into(), "CONTROLLER".into()),
        ("inter.broker.listener.name".into(), "PLAINTEXT".into()),
        (
            "listener.security.protocol.map".into(),
            "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT".into(),
        ),
        (
            "log.dirs".into(),
            dir.path().join("data").display().to_string(),
        ),
    ];
    let properties: String = settings.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    std::fs::write(dir.path().join("server.properties"), properties).unwrap();
    support::cluster::format(&dir.path().join("server.properties"), &cluster_id);
    let config =
        gregor_broker::BrokerConfig::from_settings(settings.into_iter().collect()).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let running = runtime
        .block_on(gregor_broker::Broker::start(config))
        .unwrap();
    let persister = running.broker().share_persister.clone();
    assert_ne!(coordinator, 4);

    let share_key = gregor_coordinator_key("g", topic, 1);
    runtime.block_on(async {
        // Node 4 must know the topic before it can name the coordinator.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match persister.initialize(&share_key, 1, 20).await {
                Ok(()) => break,
                Err(code) if Instant::now() < deadline => {
                    let _ = code;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(code) => panic!("initialize through node 4: {code}"),
            }
        }
        let read = persister.read(&share_key, 2).await.unwrap().unwrap();
        assert_eq!((read.state_epoch, read.start_offset), (1, 20));
        let write = gregor_coordinator::share::PersistedShareState {
            state_epoch: 1,
            leader_epoch: 2,
            start_offset: 20,
            // Carried by WriteShareGroupState v1 (KIP-1226).
            delivery_complete_count: 5,
            batches: vec![gregor_coordinator::share::PersistedBatch {
                first_offset: 20,
                last_offset: 24,
                delivery_state: gregor_coordinator::share::DeliveryState::Acknowledged,
                delivery_count: 1,
            }],
        };
        persister.write(&share_key, write.clone()).await.unwrap();
        // Fencing travels back as Kafka's code.
        let stale = gregor_coordinator::share::PersistedShareState {
            leader_epoch: 1,
            ..write
        };
        assert_eq!(
            persister.write(&share_key, stale).await,
            Err(FENCED_LEADER_EPOCH)
        );
        let summary = persister.read_summary(&share_key).await.unwrap().unwrap();
        assert_eq!(
            (
                summary.state_epoch,
                summary.leader_epoch,
                summary.start_offset,
                summary.delivery_complete_count
            ),
            (1, 2, 20, 5)
        );
        // A key never initialized reads as None.
        let unknown = gregor_coordinator_key("other", topic, 0);
        assert_eq!(persister.read(&unknown, 0).await, Ok(None));
    });
    // The state is at the coordinator, read over its own RPC.
    let mut at_coordinator = cluster.connect(coordinator as usize - 1);
    assert_eq!(
        read(&mut at_coordinator, "g", topic, 1, 2),
        (NONE, 1, 20, vec![(20, 24, ACKED, 1)])
    );
    runtime.block_on(running.shutdown()).unwrap();
}

fn gregor_coordinator_key(
    group: &str,
    topic: Uuid,
    partition: i32,
) -> gregor_coordinator::share::ShareKey {
    gregor_coordinator::share::ShareKey {
        group_id: group.to_string(),
        topic_id: topic,
        partition,
    }
}

/// Without ClusterAction every share state RPC partition, and a SHARE
/// FindCoordinator key, is CLUSTER_AUTHORIZATION_FAILED (Kafka's answer;
/// the connection stays open).
#[test]
fn share_state_rpcs_need_cluster_action() {
    use support::security::{plain_login, SecureBroker};
    let settings = vec![
        "sasl.bootstrap.scram=SCRAM-SHA-256=[name=alice,password=alice-pw]".to_string(),
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer".to_string(),
        "super.users=User:ANONYMOUS".to_string(),
    ];
    let node = SecureBroker::start("SASL", "SASL_PLAINTEXT", &settings, None);
    let mut conn = node.connect();
    assert_eq!(plain_login(&mut conn, "alice", "alice-pw").error_code, NONE);
    let topic = Uuid::from_u128(42);
    let denied = CLUSTER_AUTHORIZATION_FAILED;
    assert_eq!(initialize(&mut conn, "g", topic, 0, 0, 0), denied);
    assert_eq!(read(&mut conn, "g", topic, 0, 0).0, denied);
    assert_eq!(write(&mut conn, "g", topic, 0, 0, 0, 0, &[]), denied);
    assert_eq!(summary(&mut conn, "g", topic, 0).0, denied);
    assert_eq!(delete(&mut conn, "g", topic, 0), denied);
    assert_eq!(
        find_share_coordinator(&mut conn, &share_key("g", topic, 0), 6).0,
        denied
    );
}

/// One request of ours framed by hand (request header v2), for the APIs
/// kafka-protocol knows only at v0; the response body after header v1.
fn raw_request(conn: &mut Connection, key: i16, version: i16, body: &[u8]) -> bytes::Bytes {
    use bytes::{Buf, BufMut, BytesMut};
    let mut frame = BytesMut::new();
    frame.put_i32(0);
    frame.put_i16(key);
    frame.put_i16(version);
    frame.put_i32(77);
    frame.put_i16(-1); // client id
    frame.put_u8(0); // tagged fields
    frame.put_slice(body);
    let size = (frame.len() - 4) as i32;
    frame[..4].copy_from_slice(&size.to_be_bytes());
    conn.send_raw(&frame);
    let mut response = conn.read_frame().expect("broker closed the connection");
    assert_eq!(response.get_i32(), 77);
    assert_eq!(response.get_u8(), 0); // tagged fields
    response
}

/// WriteShareGroupState and ReadShareGroupStateSummary v1 (KIP-1226) carry
/// the delivery-complete count, as Kafka 4.4 serves them.
#[test]
fn v1_carries_the_delivery_complete_count() {
    use gregor_protocol::generated::read_share_group_state_summary_request as sum_rq;
    use gregor_protocol::generated::read_share_group_state_summary_response as sum_rs;
    use gregor_protocol::generated::write_share_group_state_request as write_rq;
    use gregor_protocol::generated::write_share_group_state_response as write_rs;
    use kafka_protocol::protocol::{Decodable, Encodable};
    let broker = TestBroker::start(&["share.coordinator.state.topic.num.partitions=1"]);
    let mut conn = broker.connect();
    let topic = support::create_topic(&mut conn, "queue", 1);
    // The lookup creates __share_group_state.
    eventually(30, "the share coordinator", || {
        (find_share_coordinator(&mut conn, &share_key("g", topic, 0), 6).0 == NONE).then_some(())
    });
    assert_eq!(
        settled("init", || initialize(&mut conn, "g", topic, 0, 0, 10)),
        NONE
    );
    assert_eq!(read(&mut conn, "g", topic, 0, 1).0, NONE);
    let request = write_rq::WriteShareGroupStateRequest {
        group_id: "g".into(),
        topics: vec![write_rq::WriteStateData {
            topic_id: topic,
            partitions: vec![write_rq::PartitionData {
                partition: 0,
                state_epoch: 0,
                leader_epoch: 1,
                start_offset: 10,
                delivery_complete_count: 4,
                state_batches: vec![write_rq::StateBatch {
                    first_offset: 10,
                    last_offset: 13,
                    delivery_state: 2,
                    delivery_count: 1,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let mut body = bytes::BytesMut::new();
    request.encode(&mut body, 1).unwrap();
    let mut answer = raw_request(&mut conn, 85, 1, &body);
    let written = write_rs::WriteShareGroupStateResponse::decode(&mut answer, 1).unwrap();
    assert_eq!(written.results[0].partitions[0].error_code, NONE);

    let request = sum_rq::ReadShareGroupStateSummaryRequest {
        group_id: "g".into(),
        topics: vec![sum_rq::ReadStateSummaryData {
            topic_id: topic,
            partitions: vec![sum_rq::PartitionData {
                partition: 0,
                leader_epoch: 1,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let mut body = bytes::BytesMut::new();
    request.encode(&mut body, 1).unwrap();
    let mut answer = raw_request(&mut conn, 87, 1, &body);
    let summary = sum_rs::ReadShareGroupStateSummaryResponse::decode(&mut answer, 1).unwrap();
    let p = &summary.results[0].partitions[0];
    assert_eq!(
        (
            p.error_code,
            p.state_epoch,
            p.leader_epoch,
            p.start_offset,
            p.delivery_complete_count
        ),
        (NONE, 0, 1, 10, 4)
    );
    // v0 (kafka-protocol's) still works on the same connection.
    assert_eq!(summary_v0(&mut conn, topic), (NONE, 0, 1, 10));
}

fn summary_v0(conn: &mut Connection, topic: Uuid) -> (i16, i32, i32, i64) {
    summary(conn, "g", topic, 0)
}
