//! Replication, the leader's side, over the wire: one real gregor node
//! (broker + controller) leads partitions whose other replicas are brokers
//! this test plays by hand. They register with BrokerRegistration on the
//! controller listener, stay unfenced by heartbeating, and fetch as
//! followers (Fetch v17 with ReplicaState), so the test decides exactly
//! when each follower has which records.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use bytes::Bytes;
use gregor_protocol::compression::Compression;
use gregor_protocol::error_codes::*;
use gregor_protocol::records::BatchBuilder;
use kafka_protocol::messages::alter_partition_request::{BrokerState, PartitionData, TopicData};
use kafka_protocol::messages::broker_registration_request::Listener;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic, ReplicaState};
use kafka_protocol::messages::fetch_response::PartitionData as FetchedPartition;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    AlterPartitionRequest, AlterPartitionResponse, ApiKey, BrokerHeartbeatRequest, BrokerId,
    BrokerRegistrationRequest, FetchRequest, FetchResponse, ListOffsetsRequest, ProduceRequest,
    ProduceResponse, RequestKind, ResponseKind,
};
use kafka_protocol::protocol::{Decodable, StrBytes};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use support::cluster::{
    broker_ids, create_placed_topic, eventually, metadata, NodeSpec, ProcessCluster,
};
use support::{free_port, list_offsets, topic_name, Connection};
use uuid::Uuid;

/// One combined broker+controller node, id 1, and where its controller
/// listener is.
struct Node {
    cluster: ProcessCluster,
    controller_port: u16,
    cluster_id: String,
}

fn start_node(extra: &[&str]) -> Node {
    let (client, controller) = (free_port(), free_port());
    let spec = NodeSpec {
        port: client,
        properties: format!(
            "process.roles=broker,controller\ncontroller.quorum.voters=1@127.0.0.1:{controller}\n\
             listeners=PLAINTEXT://127.0.0.1:{client},CONTROLLER://127.0.0.1:{controller}\n\
             advertised.listeners=PLAINTEXT://127.0.0.1:{client}\n\
             controller.listener.names=CONTROLLER\ninter.broker.listener.name=PLAINTEXT\n\
             listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n"
        ),
        is_controller_only: false,
    };
    let cluster = ProcessCluster::start(vec![spec], extra);
    let meta = std::fs::read_to_string(cluster.nodes[0].dir.join("data/meta.properties")).unwrap();
    let cluster_id = meta
        .lines()
        .find_map(|l| l.strip_prefix("cluster.id="))
        .unwrap()
        .to_string();
    Node {
        cluster,
        controller_port: controller,
        cluster_id,
    }
}

impl Node {
    fn client(&self) -> Connection {
        self.cluster.connect(0)
    }

    fn controller(&self) -> Connection {
        Connection::new(TcpStream::connect(("127.0.0.1", self.controller_port)).unwrap())
    }
}

/// A broker played by the test: registered, heartbeating in a thread.
struct FakeBroker {
    id: i32,
    epoch: i64,
    want_fence: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    heartbeats: Option<JoinHandle<()>>,
}

fn heartbeat(conn: &mut Connection, id: i32, epoch: i64, want_fence: bool) -> (i16, bool) {
    let request = BrokerHeartbeatRequest::default()
        .with_broker_id(BrokerId(id))
        .with_broker_epoch(epoch)
        .with_current_metadata_offset(i64::MAX / 2)
        .with_want_fence(want_fence);
    let ResponseKind::BrokerHeartbeat(response) = conn.request(
        ApiKey::BrokerHeartbeat,
        1,
        RequestKind::BrokerHeartbeat(request),
    ) else {
        panic!("wrong response type")
    };
    (response.error_code, response.is_fenced)
}

impl FakeBroker {
    /// Registers broker `id` and heartbeats until it is unfenced.
    fn join(node: &Node, id: i32) -> FakeBroker {
        let request = BrokerRegistrationRequest::default()
            .with_broker_id(BrokerId(id))
            .with_cluster_id(StrBytes::from_string(node.cluster_id.clone()))
            .with_incarnation_id(Uuid::new_v4())
            .with_listeners(vec![Listener::default()
                .with_name(StrBytes::from_static_str("PLAINTEXT"))
                .with_host(StrBytes::from_static_str("127.0.0.1"))
                .with_port(1)
                .with_security_protocol(0)]);
        let mut conn = node.controller();
        let response = eventually(20, "the registration of a hand-made broker", || {
            let ResponseKind::BrokerRegistration(response) = conn.request(
                ApiKey::BrokerRegistration,
                2,
                RequestKind::BrokerRegistration(request.clone()),
            ) else {
                panic!("wrong response type")
            };
            (response.error_code == NONE).then_some(response)
        });
        let epoch = response.broker_epoch;
        eventually(20, "the hand-made broker unfenced", || {
            let (code, fenced) = heartbeat(&mut conn, id, epoch, false);
            assert_eq!(code, NONE);
            (!fenced).then_some(())
        });
        let want_fence = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let (fence, halt) = (want_fence.clone(), stop.clone());
        let heartbeats = std::thread::spawn(move || {
            while !halt.load(Ordering::Relaxed) {
                let _ = heartbeat(&mut conn, id, epoch, fence.load(Ordering::Relaxed));
                std::thread::sleep(Duration::from_millis(300));
            }
        });
        FakeBroker {
            id,
            epoch,
            want_fence,
            stop,
            heartbeats: Some(heartbeats),
        }
    }

    /// Asks to be fenced (its leaderships move away).
    fn fence(&self) {
        self.want_fence.store(true, Ordering::Relaxed);
    }
}

impl Drop for FakeBroker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.heartbeats.take() {
            let _ = thread.join();
        }
    }
}

/// (leader, leader epoch, ISR) of partition 0 as Metadata says.
fn partition_state(conn: &mut Connection, name: &str) -> (i32, i32, Vec<i32>) {
    let response = metadata(conn, Some(&[name]));
    let p = &response.topics[0].partitions[0];
    let mut isr: Vec<i32> = p.isr_nodes.iter().map(|b| b.0).collect();
    isr.sort_unstable();
    (p.leader_id.0, p.leader_epoch, isr)
}

fn produce_request(name: &str, acks: i16, timeout_ms: i32, values: &[&'static str]) -> RequestKind {
    let mut builder = BatchBuilder::new(Compression::None);
    for value in values {
        builder.push(0, None, Some(Bytes::from_static(value.as_bytes())), vec![]);
    }
    RequestKind::Produce(
        ProduceRequest::default()
            .with_acks(acks)
            .with_timeout_ms(timeout_ms)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(topic_name(name))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(builder.build().unwrap().freeze()))])]),
    )
}

/// (error code, base offset) of a one-partition produce.
fn produce(conn: &mut Connection, name: &str, acks: i16, values: &[&'static str]) -> (i16, i64) {
    let ResponseKind::Produce(response) = conn.request(
        ApiKey::Produce,
        9,
        produce_request(name, acks, 10_000, values),
    ) else {
        panic!("wrong response type")
    };
    let p = &response.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

/// `produce` once the node has applied its leadership (it does so just
/// after Metadata shows it).
fn produce_when_led(conn: &mut Connection, name: &str, values: &[&'static str]) -> (i16, i64) {
    eventually(20, "the node leading", || {
        let answer = produce(conn, name, 1, values);
        (answer.0 != NOT_LEADER_OR_FOLLOWER).then_some(answer)
    })
}

const PRODUCE_VERSION: i16 = 9;

/// Sends a produce without waiting for its answer.
fn send_produce(conn: &mut Connection, request: &RequestKind) {
    let frame = conn.encode(ApiKey::Produce, PRODUCE_VERSION, request);
    conn.send_raw(&frame);
}

/// The answer to a produce sent with `send_produce`, if one comes within
/// `wait`.
fn produce_answer(conn: &mut Connection, wait: Duration) -> Option<(i16, i64)> {
    conn.stream.set_read_timeout(Some(wait)).unwrap();
    let frame = conn.read_frame();
    conn.stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut frame = frame?;
    let header = kafka_protocol::messages::ResponseHeader::decode(
        &mut frame,
        ApiKey::Produce.response_header_version(PRODUCE_VERSION),
    )
    .unwrap();
    assert!(header.correlation_id > 0);
    let response = ProduceResponse::decode(&mut frame, PRODUCE_VERSION).unwrap();
    let p = &response.responses[0].partition_responses[0];
    Some((p.error_code, p.base_offset))
}

/// One partition's fetch parameters.
#[derive(Clone, Copy)]
struct Want {
    offset: i64,
    current_leader_epoch: i32,
    last_fetched_epoch: i32,
}

fn want(offset: i64) -> Want {
    Want {
        offset,
        current_leader_epoch: -1,
        last_fetched_epoch: -1,
    }
}

/// A fetch of partition 0 of `topic_id`, from replica `replica` (with
/// broker epoch `epoch`) or, with `replica` -1, from a consumer.
fn fetch_request(
    topic_id: Uuid,
    replica: i32,
    epoch: i64,
    w: Want,
    max_wait_ms: i32,
) -> RequestKind {
    RequestKind::Fetch(
        FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_replica_state(
                ReplicaState::default()
                    .with_replica_id(BrokerId(replica))
                    .with_replica_epoch(epoch),
            )
            .with_max_wait_ms(max_wait_ms)
            .with_min_bytes(if max_wait_ms > 0 { 1 } else { 0 })
            .with_max_bytes(1 << 20)
            .with_session_epoch(-1)
            .with_topics(vec![FetchTopic::default()
                .with_topic_id(topic_id)
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(0)
                    .with_fetch_offset(w.offset)
                    .with_current_leader_epoch(w.current_leader_epoch)
                    .with_last_fetched_epoch(w.last_fetched_epoch)
                    .with_partition_max_bytes(1 << 20)])]),
    )
}

/// A fetch of partition 0 of `topic_id`, from replica `replica` (with
/// broker epoch `epoch`) or, with `replica` -1, from a consumer; answered
/// at once.
fn fetch(
    conn: &mut Connection,
    topic_id: Uuid,
    replica: i32,
    epoch: i64,
    w: Want,
) -> FetchedPartition {
    let request = fetch_request(topic_id, replica, epoch, w, 0);
    let ResponseKind::Fetch(mut response) = conn.request(ApiKey::Fetch, FETCH_VERSION, request)
    else {
        panic!("wrong response type")
    };
    assert_eq!(response.error_code, NONE);
    response.responses.remove(0).partitions.remove(0)
}

const FETCH_VERSION: i16 = 17;

/// The answer to a fetch sent without waiting, if one comes within `wait`.
fn fetch_answer(conn: &mut Connection, wait: Duration) -> Option<FetchedPartition> {
    conn.stream.set_read_timeout(Some(wait)).unwrap();
    let frame = conn.read_frame();
    conn.stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut frame = frame?;
    kafka_protocol::messages::ResponseHeader::decode(
        &mut frame,
        ApiKey::Fetch.response_header_version(FETCH_VERSION),
    )
    .unwrap();
    let mut response = FetchResponse::decode(&mut frame, FETCH_VERSION).unwrap();
    Some(response.responses.remove(0).partitions.remove(0))
}

fn records_len(p: &FetchedPartition) -> usize {
    p.records.as_ref().map_or(0, |r| r.len())
}

#[test]
fn the_high_watermark_follows_the_followers_and_acks_all_waits_for_it() {
    let node = start_node(&[]);
    let (b2, b3) = (FakeBroker::join(&node, 2), FakeBroker::join(&node, 3));
    let mut client = node.client();
    let id = create_placed_topic(
        &mut client,
        "replicated",
        &[1, 2, 3],
        &[("min.insync.replicas", "2")],
    );
    eventually(20, "the topic led by node 1", || {
        (partition_state(&mut client, "replicated") == (1, 0, vec![1, 2, 3])).then_some(())
    });

    // acks=1 is answered after the local append; nothing is committed yet.
    assert_eq!(
        produce_when_led(&mut client, "replicated", &["a", "b", "c"]),
        (NONE, 0)
    );
    assert_eq!(list_offsets(&mut client, "replicated", 0, -1).offset, 0);
    let consumed = fetch(&mut client, id, -1, -1, want(0));
    assert_eq!((consumed.error_code, consumed.high_watermark), (NONE, 0));
    assert_eq!(
        records_len(&consumed),
        0,
        "consumers read below the HW only"
    );

    // A follower reads up to the log end.
    let read = fetch(&mut client, id, 2, b2.epoch, want(0));
    assert_eq!((read.error_code, read.high_watermark), (NONE, 0));
    assert!(records_len(&read) > 0);

    // acks=all waits: the HW must pass the batch.
    let mut producer = node.client();
    send_produce(
        &mut producer,
        &produce_request("replicated", -1, 15_000, &["d", "e"]),
    );
    assert_eq!(
        produce_answer(&mut producer, Duration::from_millis(500)),
        None
    );
    // Follower 2 has all 5 records, follower 3 only the first 3: HW 3.
    let read = fetch(&mut client, id, 2, b2.epoch, want(5));
    assert_eq!(read.high_watermark, 0, "3 has not fetched yet");
    let read = fetch(&mut client, id, 3, b3.epoch, want(3));
    assert_eq!(read.high_watermark, 3);
    assert_eq!(list_offsets(&mut client, "replicated", 0, -1).offset, 3);
    assert_eq!(
        produce_answer(&mut producer, Duration::from_millis(300)),
        None
    );
    let read = fetch(&mut client, id, 3, b3.epoch, want(5));
    assert_eq!(read.high_watermark, 5);
    assert_eq!(
        produce_answer(&mut producer, Duration::from_secs(10)),
        Some((NONE, 3))
    );
    let consumed = fetch(&mut client, id, -1, -1, want(0));
    assert_eq!(consumed.high_watermark, 5);
    assert!(records_len(&consumed) > 0);
    assert_eq!(list_offsets(&mut client, "replicated", 0, -1).offset, 5);

    // Without follower fetches, acks=all runs into its timeout.
    let ResponseKind::Produce(response) = producer.request(
        ApiKey::Produce,
        PRODUCE_VERSION,
        produce_request("replicated", -1, 300, &["f"]),
    ) else {
        panic!("wrong response type")
    };
    let answer = &response.responses[0].partition_responses[0];
    assert_eq!(
        (answer.error_code, answer.base_offset),
        (REQUEST_TIMED_OUT, 5)
    );
    // A follower fetching from further back never moves the HW back.
    let read = fetch(&mut client, id, 2, b2.epoch, want(1));
    assert_eq!(read.high_watermark, 5);
}

#[test]
fn parked_fetches_wake_when_the_high_watermark_moves() {
    let node = start_node(&[]);
    let (b2, b3) = (FakeBroker::join(&node, 2), FakeBroker::join(&node, 3));
    let mut client = node.client();
    let id = create_placed_topic(
        &mut client,
        "parked",
        &[1, 2, 3],
        &[("min.insync.replicas", "1")],
    );
    eventually(20, "the topic led by node 1", || {
        (partition_state(&mut client, "parked") == (1, 0, vec![1, 2, 3])).then_some(())
    });
    assert_eq!(
        produce_when_led(&mut client, "parked", &["a", "b"]),
        (NONE, 0)
    );
    fetch(&mut client, id, 2, b2.epoch, want(2));
    // A consumer waits for data below the HW; follower 2, at the log end,
    // waits for more data. Both wait up to 20 s.
    let mut consumer = node.client();
    let consumer_fetch = fetch_request(id, -1, -1, want(0), 20_000);
    let frame = consumer.encode(ApiKey::Fetch, FETCH_VERSION, &consumer_fetch);
    consumer.send_raw(&frame);
    let mut follower = node.client();
    let follower_fetch = fetch_request(id, 2, b2.epoch, want(2), 20_000);
    let frame = follower.encode(ApiKey::Fetch, FETCH_VERSION, &follower_fetch);
    follower.send_raw(&frame);
    assert!(fetch_answer(&mut consumer, Duration::from_millis(500)).is_none());
    assert!(fetch_answer(&mut follower, Duration::from_millis(100)).is_none());
    // Follower 3 catches up: the HW moves to 2 and both wake at once.
    let started = Instant::now();
    assert_eq!(
        fetch(&mut client, id, 3, b3.epoch, want(2)).high_watermark,
        2
    );
    let consumed = fetch_answer(&mut consumer, Duration::from_secs(5)).expect("consumer woken");
    assert_eq!((consumed.error_code, consumed.high_watermark), (NONE, 2));
    assert!(records_len(&consumed) > 0);
    let told = fetch_answer(&mut follower, Duration::from_secs(5)).expect("follower woken");
    assert_eq!((told.high_watermark, records_len(&told)), (2, 0));
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn lagging_followers_leave_the_isr_and_caught_up_ones_rejoin() {
    let node = start_node(&["replica.lag.time.max.ms=1000"]);
    let b2 = FakeBroker::join(&node, 2);
    let mut client = node.client();
    let id = create_placed_topic(
        &mut client,
        "lagging",
        &[1, 2],
        &[("min.insync.replicas", "2")],
    );
    eventually(20, "the topic led by node 1", || {
        (partition_state(&mut client, "lagging") == (1, 0, vec![1, 2])).then_some(())
    });
    assert_eq!(
        produce_when_led(&mut client, "lagging", &["a", "b"]),
        (NONE, 0)
    );
    // Follower 2 never fetches: after the lag time the leader shrinks the
    // ISR through AlterPartition, and Metadata shows it.
    eventually(20, "the ISR shrunk to the leader", || {
        let (_, _, isr) = partition_state(&mut client, "lagging");
        (isr == [1]).then_some(())
    });
    // The ISR is below min.insync.replicas=2: acks=all is refused before
    // the append, the HW no longer moves, acks=1 still appends. (The
    // leader applies the image just after Metadata shows it: a first
    // acks=all may still be appended, and time out.)
    eventually(20, "acks=all refused below min ISR", || {
        let ResponseKind::Produce(response) = client.request(
            ApiKey::Produce,
            PRODUCE_VERSION,
            produce_request("lagging", -1, 200, &["x"]),
        ) else {
            panic!("wrong response type")
        };
        let code = response.responses[0].partition_responses[0].error_code;
        assert!(
            code == NOT_ENOUGH_REPLICAS || code == REQUEST_TIMED_OUT,
            "{code}"
        );
        (code == NOT_ENOUGH_REPLICAS).then_some(())
    });
    let (code, base) = produce(&mut client, "lagging", 1, &["c"]);
    assert_eq!(code, NONE);
    let end = base + 1;
    assert_eq!(list_offsets(&mut client, "lagging", 0, -1).offset, 0);
    // Follower 2 catches up to the log end and joins again; then the HW
    // moves.
    let read = fetch(&mut client, id, 2, b2.epoch, want(end));
    assert_eq!(read.error_code, NONE);
    eventually(20, "the ISR grown back", || {
        let (_, _, isr) = partition_state(&mut client, "lagging");
        (isr == [1, 2]).then_some(())
    });
    eventually(20, "the HW at the log end", || {
        let read = fetch(&mut client, id, 2, b2.epoch, want(end));
        (read.high_watermark == end).then_some(())
    });
    assert_eq!(list_offsets(&mut client, "lagging", 0, -1).offset, end);
}

#[test]
fn fetches_with_wrong_epochs_or_from_non_replicas_are_refused() {
    let node = start_node(&[]);
    let (b2, b3) = (FakeBroker::join(&node, 2), FakeBroker::join(&node, 3));
    let mut client = node.client();
    // Broker 2 leads at epoch 0; once it is fenced node 1 leads at epoch 1.
    let id = create_placed_topic(
        &mut client,
        "epochs",
        &[2, 1],
        &[("min.insync.replicas", "1")],
    );
    eventually(20, "the topic led by broker 2", || {
        (partition_state(&mut client, "epochs").0 == 2).then_some(())
    });
    b2.fence();
    eventually(20, "node 1 leading at epoch 1", || {
        let (leader, epoch, _) = partition_state(&mut client, "epochs");
        (leader == 1 && epoch == 1).then_some(())
    });
    assert_eq!(
        produce_when_led(&mut client, "epochs", &["a", "b", "c"]),
        (NONE, 0)
    );
    let at = |epoch: i32| Want {
        current_leader_epoch: epoch,
        ..want(0)
    };
    // Consumers and followers alike: stale epoch fenced, future unknown.
    assert_eq!(
        fetch(&mut client, id, -1, -1, at(0)).error_code,
        FENCED_LEADER_EPOCH
    );
    assert_eq!(
        fetch(&mut client, id, -1, -1, at(2)).error_code,
        UNKNOWN_LEADER_EPOCH
    );
    assert_eq!(fetch(&mut client, id, -1, -1, at(1)).error_code, NONE);
    assert_eq!(
        fetch(&mut client, id, 2, b2.epoch, at(0)).error_code,
        FENCED_LEADER_EPOCH
    );
    // ListOffsets checks the epoch the same way.
    assert_eq!(
        list_offsets_at(&mut client, "epochs", 0),
        FENCED_LEADER_EPOCH
    );
    assert_eq!(
        list_offsets_at(&mut client, "epochs", 2),
        UNKNOWN_LEADER_EPOCH
    );
    assert_eq!(list_offsets_at(&mut client, "epochs", 1), NONE);
    // Broker 3 is no replica: with an epoch the pair is unknown, without
    // one the answer is NOT_LEADER_OR_FOLLOWER (Kafka's followerReplicaOrThrow).
    assert_eq!(
        fetch(&mut client, id, 3, b3.epoch, at(1)).error_code,
        UNKNOWN_LEADER_EPOCH
    );
    assert_eq!(
        fetch(&mut client, id, 3, b3.epoch, at(-1)).error_code,
        NOT_LEADER_OR_FOLLOWER
    );
    // A follower that fetched epoch 0 up to offset 2 diverged: the leader
    // has nothing of epoch 0, so epoch 0 ends at 0 here.
    let diverged = fetch(
        &mut client,
        id,
        2,
        b2.epoch,
        Want {
            offset: 2,
            current_leader_epoch: 1,
            last_fetched_epoch: 0,
        },
    );
    assert_eq!(diverged.error_code, NONE);
    assert_eq!(
        (
            diverged.diverging_epoch.epoch,
            diverged.diverging_epoch.end_offset
        ),
        (0, 0)
    );
    assert_eq!(records_len(&diverged), 0);
    // In step with the leader's epoch: read normally.
    let read = fetch(
        &mut client,
        id,
        2,
        b2.epoch,
        Want {
            offset: 1,
            current_leader_epoch: 1,
            last_fetched_epoch: 1,
        },
    );
    assert_eq!((read.error_code, read.diverging_epoch.epoch), (NONE, -1));
    assert!(records_len(&read) > 0);
    // An epoch the leader cannot place.
    let unknown = fetch(
        &mut client,
        id,
        2,
        b2.epoch,
        Want {
            offset: 1,
            current_leader_epoch: 1,
            last_fetched_epoch: 7,
        },
    );
    assert_eq!(unknown.error_code, OFFSET_OUT_OF_RANGE);
}

/// The error of ListOffsets "latest" naming `current_leader_epoch`.
fn list_offsets_at(conn: &mut Connection, name: &str, current_leader_epoch: i32) -> i16 {
    let request = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(topic_name(name))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(0)
                .with_current_leader_epoch(current_leader_epoch)
                .with_timestamp(-1)])]);
    let ResponseKind::ListOffsets(response) =
        conn.request(ApiKey::ListOffsets, 9, RequestKind::ListOffsets(request))
    else {
        panic!("wrong response type")
    };
    response.topics[0].partitions[0].error_code
}

fn alter_partition(
    conn: &mut Connection,
    broker: &FakeBroker,
    broker_epoch: i64,
    topic_id: Uuid,
    leader_epoch: i32,
    partition_epoch: i32,
    isr: &[(i32, i64)],
) -> AlterPartitionResponse {
    let request = AlterPartitionRequest::default()
        .with_broker_id(BrokerId(broker.id))
        .with_broker_epoch(broker_epoch)
        .with_topics(vec![TopicData::default()
            .with_topic_id(topic_id)
            .with_partitions(vec![PartitionData::default()
                .with_partition_index(0)
                .with_leader_epoch(leader_epoch)
                .with_partition_epoch(partition_epoch)
                .with_new_isr_with_epochs(
                    isr.iter()
                        .map(|&(id, epoch)| {
                            BrokerState::default()
                                .with_broker_id(BrokerId(id))
                                .with_broker_epoch(epoch)
                        })
                        .collect(),
                )])]);
    let ResponseKind::AlterPartition(response) = conn.request(
        ApiKey::AlterPartition,
        3,
        RequestKind::AlterPartition(request),
    ) else {
        panic!("wrong response type")
    };
    response
}

fn partition_error(response: &AlterPartitionResponse) -> i16 {
    assert_eq!(response.error_code, NONE);
    response.topics[0].partitions[0].error_code
}

#[test]
fn alter_partition_is_validated_as_kafka_does() {
    let node = start_node(&[]);
    let (b2, b3) = (FakeBroker::join(&node, 2), FakeBroker::join(&node, 3));
    let mut client = node.client();
    let id = create_placed_topic(
        &mut client,
        "led-by-2",
        &[2, 3],
        &[("min.insync.replicas", "1")],
    );
    eventually(20, "the topic led by broker 2", || {
        (partition_state(&mut client, "led-by-2") == (2, 0, vec![2, 3])).then_some(())
    });
    let mut controller = node.controller();
    let e2 = b2.epoch;
    // The sender's broker epoch is checked for the whole request.
    let stale = alter_partition(&mut controller, &b2, e2 + 1000, id, 0, 0, &[(2, e2)]);
    assert_eq!(stale.error_code, STALE_BROKER_EPOCH);
    let unknown = alter_partition(&mut controller, &b2, e2, Uuid::new_v4(), 0, 0, &[(2, e2)]);
    assert_eq!(partition_error(&unknown), UNKNOWN_TOPIC_ID);
    // A leader epoch from the future means this controller is behind.
    let ahead = alter_partition(&mut controller, &b2, e2, id, 1, 0, &[(2, e2)]);
    assert_eq!(partition_error(&ahead), NOT_CONTROLLER);
    // Not the leader.
    let b3_sends = alter_partition(&mut controller, &b3, b3.epoch, id, 0, 0, &[(3, b3.epoch)]);
    assert_eq!(partition_error(&b3_sends), INVALID_REQUEST);
    // A member with the wrong broker epoch is ineligible.
    let ineligible = alter_partition(&mut controller, &b2, e2, id, 0, 0, &[(2, e2), (3, 12345)]);
    assert_eq!(partition_error(&ineligible), INELIGIBLE_REPLICA);
    // A good shrink commits and answers the new state...
    let shrunk = alter_partition(&mut controller, &b2, e2, id, 0, 0, &[(2, e2)]);
    assert_eq!(partition_error(&shrunk), NONE);
    let answer = &shrunk.topics[0].partitions[0];
    assert_eq!(
        (
            answer.leader_id.0,
            answer.leader_epoch,
            answer.partition_epoch
        ),
        (2, 0, 1)
    );
    assert_eq!(answer.isr.iter().map(|b| b.0).collect::<Vec<_>>(), [2]);
    eventually(20, "Metadata showing the new ISR", || {
        (partition_state(&mut client, "led-by-2").2 == [2]).then_some(())
    });
    // ... and the same request again is stale.
    let again = alter_partition(&mut controller, &b2, e2, id, 0, 0, &[(2, e2)]);
    assert_eq!(partition_error(&again), INVALID_UPDATE_VERSION);
    // A fenced broker cannot join.
    b3.fence();
    eventually(20, "broker 3 fenced", || {
        let brokers = broker_ids(&metadata(&mut client, None));
        (!brokers.contains(&3)).then_some(())
    });
    let grow = alter_partition(
        &mut controller,
        &b2,
        e2,
        id,
        0,
        1,
        &[(2, e2), (3, b3.epoch)],
    );
    assert_eq!(partition_error(&grow), INELIGIBLE_REPLICA);
}
