//! Transactions across brokers on a 3-node cluster of real processes: the
//! transaction coordinator (leader of `__transaction_state-0`) is never the
//! leader of the data partitions, so its markers travel as
//! WriteTxnMarkers and the leaders verify transactional produce with it
//! (KIP-890, AddPartitionsToTxn v5 between brokers). A kill -9 of the
//! coordinator while a transaction is prepared (its markers held back by a
//! paused leader) or still open leaves the new coordinator to complete or
//! abort it; a marker from a stale coordinator epoch is refused.

// An integration test: unwrapping is how a failed step fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use bytes::Bytes;
use gregor_protocol::compression::Compression;
use gregor_protocol::error_codes::{
    CONCURRENT_TRANSACTIONS, COORDINATOR_LOAD_IN_PROGRESS, NONE, NOT_COORDINATOR,
    NOT_ENOUGH_REPLICAS, NOT_LEADER_OR_FOLLOWER, TRANSACTION_ABORTABLE,
    TRANSACTION_COORDINATOR_FENCED,
};
use gregor_protocol::records::{decode_batches, BatchBuilder};
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::create_topics_request::{CreatableReplicaAssignment, CreatableTopic};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::write_txn_markers_request::{
    WritableTxnMarker, WritableTxnMarkerTopic,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use std::time::{Duration, Instant};
use support::cluster::{
    combined_specs, eventually, known_coordinator, metadata, ProcessCluster, GROUP_KEY,
    TRANSACTION_KEY,
};
use support::Connection;

const TXN_TOPIC: &str = "__transaction_state";

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_string())
}

/// One `__transaction_state` partition on two of the three nodes, so the
/// third can be paused without holding back the coordinator's writes;
/// fast timeout aborts.
fn start_cluster() -> ProcessCluster {
    ProcessCluster::start(
        combined_specs(3, |_| String::new()),
        &[
            "transaction.state.log.num.partitions=1",
            "transaction.state.log.replication.factor=2",
            "transaction.state.log.min.isr=1",
            "transaction.abort.timed.out.transaction.cleanup.interval.ms=200",
            "offsets.topic.num.partitions=3",
            "offsets.topic.replication.factor=3",
        ],
    )
}

/// The node index (0-based) of node id `id`.
fn index_of(id: i32) -> usize {
    (id - 1) as usize
}

/// The transaction coordinator of `id`, asked through node `via`.
fn find_txn_coordinator(cluster: &ProcessCluster, via: usize, id: &str) -> i32 {
    known_coordinator(cluster, via, TRANSACTION_KEY, id)
}

/// The replicas and leader of `__transaction_state-0`.
fn txn_partition(cluster: &ProcessCluster, via: usize) -> Option<(Vec<i32>, i32, i32)> {
    let m = metadata(&mut cluster.connect(via), Some(&[TXN_TOPIC]));
    let t = m.topics.first()?;
    let p = t.partitions.iter().find(|p| p.partition_index == 0)?;
    (p.leader_id.0 >= 0).then(|| {
        (
            p.replica_nodes.iter().map(|b| b.0).collect(),
            p.leader_id.0,
            p.leader_epoch,
        )
    })
}

/// Creates `topic` with one partition per entry of `replicas`, placed there.
fn create_placed(conn: &mut Connection, topic: &str, replicas: &[Vec<i32>]) {
    let assignments = replicas
        .iter()
        .enumerate()
        .map(|(i, nodes)| {
            CreatableReplicaAssignment::default()
                .with_partition_index(i as i32)
                .with_broker_ids(nodes.iter().map(|&n| BrokerId(n)).collect())
        })
        .collect();
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(15_000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(TopicName(s(topic)))
            .with_num_partitions(-1)
            .with_replication_factor(-1)
            .with_assignments(assignments)]);
    let ResponseKind::CreateTopics(r) =
        conn.request(ApiKey::CreateTopics, 7, RequestKind::CreateTopics(request))
    else {
        panic!()
    };
    assert_eq!(r.topics[0].error_code, NONE, "creating {topic}");
}

/// Waits until every partition of `topic` has a leader; their leaders.
fn leaders(cluster: &ProcessCluster, via: usize, topic: &str, count: usize) -> Vec<i32> {
    eventually(30, "leaders for the data partitions", || {
        let m = metadata(&mut cluster.connect(via), Some(&[topic]));
        let t = m.topics.first()?;
        let mut out = vec![-1; count];
        for p in &t.partitions {
            *out.get_mut(p.partition_index as usize)? = p.leader_id.0;
        }
        out.iter().all(|&l| l >= 0).then_some(out)
    })
}

/// InitProducerId at the coordinator, retried as clients retry it.
fn init(conn: &mut Connection, id: &str, timeout_ms: i32) -> (i64, i16) {
    eventually(30, "InitProducerId", || {
        let request = InitProducerIdRequest::default()
            .with_transactional_id(Some(TransactionalId(s(id))))
            .with_transaction_timeout_ms(timeout_ms)
            .with_producer_id((-1).into())
            .with_producer_epoch(-1);
        let ResponseKind::InitProducerId(r) = conn.request(
            ApiKey::InitProducerId,
            4,
            RequestKind::InitProducerId(request),
        ) else {
            panic!()
        };
        match r.error_code {
            NONE => Some((r.producer_id.0, r.producer_epoch)),
            CONCURRENT_TRANSACTIONS | COORDINATOR_LOAD_IN_PROGRESS | NOT_COORDINATOR => None,
            other => panic!("InitProducerId: error {other}"),
        }
    })
}

fn add_partitions(
    conn: &mut Connection,
    id: &str,
    pid: i64,
    epoch: i16,
    topic: &str,
    partitions: &[i32],
) -> i16 {
    let request = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(TransactionalId(s(id)))
        .with_v3_and_below_producer_id(pid.into())
        .with_v3_and_below_producer_epoch(epoch)
        .with_v3_and_below_topics(vec![AddPartitionsToTxnTopic::default()
            .with_name(TopicName(s(topic)))
            .with_partitions(partitions.to_vec())]);
    let ResponseKind::AddPartitionsToTxn(r) = conn.request(
        ApiKey::AddPartitionsToTxn,
        3,
        RequestKind::AddPartitionsToTxn(request),
    ) else {
        panic!()
    };
    r.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code
}

/// Produces one transactional batch at `version` (v12+: the partition
/// joins the transaction with it); the partition's error code, retrying
/// the codes producers retry (the leader could not verify yet).
#[allow(clippy::too_many_arguments)]
fn produce_txn(
    conn: &mut Connection,
    id: &str,
    pid: i64,
    epoch: i16,
    seq: i32,
    topic: &str,
    partition: i32,
    values: &[&str],
    version: i16,
) -> i16 {
    let mut batch = BatchBuilder::new(Compression::None)
        .producer(pid, epoch, seq)
        .transactional(true);
    for value in values {
        batch.push(0, None, Some(Bytes::from(value.to_string())), Vec::new());
    }
    let records = batch.build().unwrap().freeze();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let request = ProduceRequest::default()
            .with_transactional_id(Some(TransactionalId(s(id))))
            .with_acks(-1)
            .with_timeout_ms(5000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(TopicName(s(topic)))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(partition)
                    .with_records(Some(records.clone()))])]);
        let ResponseKind::Produce(r) =
            conn.request(ApiKey::Produce, version, RequestKind::Produce(request))
        else {
            panic!()
        };
        let code = r.responses[0].partition_responses[0].error_code;
        if code != NOT_ENOUGH_REPLICAS || Instant::now() > deadline {
            return code;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// EndTxn at `version`, retried while the coordinator is busy.
fn end(conn: &mut Connection, id: &str, pid: i64, epoch: i16, commit: bool, version: i16) -> i16 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let request = EndTxnRequest::default()
            .with_transactional_id(TransactionalId(s(id)))
            .with_producer_id(pid.into())
            .with_producer_epoch(epoch)
            .with_committed(commit);
        let ResponseKind::EndTxn(r) =
            conn.request(ApiKey::EndTxn, version, RequestKind::EndTxn(request))
        else {
            panic!()
        };
        if r.error_code != COORDINATOR_LOAD_IN_PROGRESS || Instant::now() > deadline {
            return r.error_code;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The transaction's state as its coordinator (node `at`) describes it,
/// None while that node does not answer for it.
fn state(cluster: &ProcessCluster, at: usize, id: &str) -> Option<String> {
    let request =
        DescribeTransactionsRequest::default().with_transactional_ids(vec![TransactionalId(s(id))]);
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", cluster.nodes[at].port))
        .ok()
        .map(Connection::new)?;
    let ResponseKind::DescribeTransactions(r) = conn.request(
        ApiKey::DescribeTransactions,
        0,
        RequestKind::DescribeTransactions(request),
    ) else {
        panic!()
    };
    let t = r.transaction_states.into_iter().next()?;
    (t.error_code == NONE).then(|| t.transaction_state.to_string())
}

/// What a read_committed consumer sees of a partition at its leader: the
/// last stable offset, the high watermark, the aborted transactions'
/// producer ids and the values of the data batches below the LSO that
/// are not aborted.
struct Committed {
    lso: i64,
    high_watermark: i64,
    values: Vec<String>,
    aborted_producers: Vec<i64>,
}

fn read_committed(conn: &mut Connection, topic: &str, partition: i32) -> Option<Committed> {
    let request = FetchRequest::default()
        .with_replica_id((-1).into())
        .with_max_wait_ms(0)
        .with_max_bytes(1 << 20)
        .with_isolation_level(1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(s(topic)))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(partition)
                .with_fetch_offset(0)
                .with_partition_max_bytes(1 << 20)])]);
    let ResponseKind::Fetch(r) = conn.request(ApiKey::Fetch, 11, RequestKind::Fetch(request))
    else {
        panic!()
    };
    let p = &r.responses[0].partitions[0];
    if p.error_code != NONE {
        return None;
    }
    let aborted: Vec<(i64, i64)> = p
        .aborted_transactions
        .iter()
        .flatten()
        .map(|a| (a.producer_id.0, a.first_offset))
        .collect();
    let mut values = Vec::new();
    for batch in decode_batches(&p.records.clone().unwrap_or_default()).unwrap() {
        let h = &batch.header;
        let is_aborted = aborted
            .iter()
            .any(|&(pid, first)| pid == h.producer_id && first <= h.base_offset);
        if h.is_control() || (h.is_transactional() && is_aborted) {
            continue;
        }
        for record in batch.records {
            values.push(String::from_utf8_lossy(&record.value.unwrap_or_default()).to_string());
        }
    }
    Some(Committed {
        lso: p.last_stable_offset,
        high_watermark: p.high_watermark,
        values,
        aborted_producers: aborted.iter().map(|a| a.0).collect(),
    })
}

/// Waits until the partition's LSO reaches its high watermark (no
/// transaction left open there) and returns what read_committed sees.
fn settled(cluster: &ProcessCluster, leader: i32, topic: &str, partition: i32) -> Committed {
    eventually(
        30,
        "the last stable offset to reach the high watermark",
        || {
            let mut conn = cluster.connect(index_of(leader));
            let c = read_committed(&mut conn, topic, partition)?;
            (c.lso == c.high_watermark).then_some(c)
        },
    )
}

/// A WriteTxnMarkers request for one partition.
fn write_marker(
    conn: &mut Connection,
    pid: i64,
    epoch: i16,
    coordinator_epoch: i32,
    topic: &str,
    partition: i32,
) -> i16 {
    let request =
        WriteTxnMarkersRequest::default().with_markers(vec![WritableTxnMarker::default()
            .with_producer_id(pid.into())
            .with_producer_epoch(epoch)
            .with_transaction_result(true)
            .with_coordinator_epoch(coordinator_epoch)
            .with_topics(vec![WritableTxnMarkerTopic::default()
                .with_name(TopicName(s(topic)))
                .with_partition_indexes(vec![partition])])]);
    let ResponseKind::WriteTxnMarkers(r) = conn.request(
        ApiKey::WriteTxnMarkers,
        1,
        RequestKind::WriteTxnMarkers(request),
    ) else {
        panic!()
    };
    r.markers[0].topics[0].partitions[0].error_code
}

/// The layout every test starts from: the coordinator, the other replica
/// of `__transaction_state-0`, and the node outside it, which alone holds
/// the data topic's two partitions.
struct Layout {
    coordinator: i32,
    partner: i32,
    outsider: i32,
    coordinator_epoch: i32,
}

fn layout(cluster: &ProcessCluster, id: &str, topic: &str) -> Layout {
    let coordinator = find_txn_coordinator(cluster, 0, id);
    let (replicas, leader, coordinator_epoch) = eventually(30, "__transaction_state-0 led", || {
        txn_partition(cluster, 0)
    });
    assert_eq!(leader, coordinator);
    assert_eq!(
        replicas.len(),
        2,
        "transaction.state.log.replication.factor"
    );
    let partner = *replicas.iter().find(|&&r| r != coordinator).unwrap();
    let outsider = (1..=3).find(|n| !replicas.contains(n)).unwrap();
    create_placed(
        &mut cluster.connect(0),
        topic,
        &[vec![outsider], vec![outsider]],
    );
    assert_eq!(leaders(cluster, 0, topic, 2), vec![outsider, outsider]);
    Layout {
        coordinator,
        partner,
        outsider,
        coordinator_epoch,
    }
}

#[test]
fn commits_and_aborts_reach_partitions_led_by_other_brokers() {
    let cluster = start_cluster();
    let id = "tx-span";
    let topic = "data";
    let l = layout(&cluster, id, topic);
    assert_ne!(l.coordinator, l.outsider);
    let mut coordinator = cluster.connect(index_of(l.coordinator));
    let mut leader = cluster.connect(index_of(l.outsider));

    // Transaction version 1: AddPartitionsToTxn, then the leader verifies
    // the produce with the coordinator (verify_only) before appending.
    let (pid, epoch) = init(&mut coordinator, id, 60_000);
    assert_eq!(
        produce_txn(&mut leader, id, pid, epoch, 0, topic, 0, &["early"], 11),
        TRANSACTION_ABORTABLE,
        "a partition not in the transaction is refused after the remote check"
    );
    assert_eq!(
        add_partitions(&mut coordinator, id, pid, epoch, topic, &[0, 1]),
        NONE
    );
    assert_eq!(
        produce_txn(&mut leader, id, pid, epoch, 0, topic, 0, &["a1", "a2"], 11),
        NONE
    );
    assert_eq!(
        produce_txn(&mut leader, id, pid, epoch, 0, topic, 1, &["b1"], 11),
        NONE
    );
    let open = read_committed(&mut leader, topic, 0).unwrap();
    assert_eq!(
        (open.lso, open.values.len()),
        (0, 0),
        "held back while open"
    );
    // The CLI bootstrapped from a broker that does not coordinate the
    // transaction still lists it (every broker is asked) and describes it
    // (at its coordinator).
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(support::gregor_bin())
            .arg("txn")
            .args(args)
            .arg("--bootstrap-server")
            .arg(format!(
                "127.0.0.1:{}",
                cluster.nodes[index_of(l.outsider)].port
            ))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let listed = cli(&["list"]);
    assert!(
        listed.contains(&format!("{id}\t{pid}\tOngoing")),
        "{listed}"
    );
    let described = cli(&["describe", "--transactional-id", id]);
    assert!(described.contains("Ongoing"), "{described}");
    assert_eq!(end(&mut coordinator, id, pid, epoch, true, 4), NONE);
    let data0 = settled(&cluster, l.outsider, topic, 0);
    assert_eq!(data0.values, vec!["a1", "a2"]);
    assert_eq!(data0.high_watermark, 3, "two records and the COMMIT marker");
    assert_eq!(settled(&cluster, l.outsider, topic, 1).values, vec!["b1"]);
    eventually(10, "CompleteCommit", || {
        (state(&cluster, index_of(l.coordinator), id)? == "CompleteCommit").then_some(())
    });

    // An abort: the records stay invisible to read_committed.
    assert_eq!(
        add_partitions(&mut coordinator, id, pid, epoch, topic, &[0]),
        NONE
    );
    assert_eq!(
        produce_txn(&mut leader, id, pid, epoch, 2, topic, 0, &["x"], 11),
        NONE
    );
    assert_eq!(end(&mut coordinator, id, pid, epoch, false, 4), NONE);
    let data0 = settled(&cluster, l.outsider, topic, 0);
    assert_eq!(data0.values, vec!["a1", "a2"]);
    assert_eq!(data0.aborted_producers, vec![pid]);

    // Transaction version 2: Produce v12 adds the partition through the
    // leader (AddPartitionsToTxn v5 between brokers), EndTxn v5 bumps the
    // epoch.
    let (pid2, epoch2) = init(&mut coordinator, "tx-v2", 60_000);
    assert_eq!(
        produce_txn(&mut leader, "tx-v2", pid2, epoch2, 0, topic, 1, &["v2"], 12),
        NONE
    );
    assert_eq!(end(&mut coordinator, "tx-v2", pid2, epoch2, true, 5), NONE);
    assert_eq!(
        settled(&cluster, l.outsider, topic, 1).values,
        vec!["b1", "v2"]
    );

    // A marker carrying an older coordinator epoch than the producer's
    // last one on the partition comes from a zombie coordinator.
    assert_eq!(
        write_marker(&mut leader, pid, epoch, l.coordinator_epoch - 1, topic, 0),
        TRANSACTION_COORDINATOR_FENCED
    );
    // A broker that does not lead the partition refuses the marker.
    let mut other = cluster.connect(index_of(l.coordinator));
    assert_eq!(
        write_marker(&mut other, pid, epoch, l.coordinator_epoch, topic, 0),
        NOT_LEADER_OR_FOLLOWER
    );
}

#[test]
fn a_new_coordinator_completes_a_prepared_transaction_and_aborts_an_open_one() {
    let mut cluster = start_cluster();
    let id = "tx-prepared";
    let topic = "data";
    let l = layout(&cluster, id, topic);
    let mut coordinator = cluster.connect(index_of(l.coordinator));
    let mut leader = cluster.connect(index_of(l.outsider));

    // An open transaction of another producer, to be timed out by the new
    // coordinator.
    let (open_pid, open_epoch) = init(&mut coordinator, "tx-open", 5_000);
    assert_eq!(
        add_partitions(
            &mut coordinator,
            "tx-open",
            open_pid,
            open_epoch,
            topic,
            &[1]
        ),
        NONE
    );
    assert_eq!(
        produce_txn(
            &mut leader,
            "tx-open",
            open_pid,
            open_epoch,
            0,
            topic,
            1,
            &["orphan"],
            11
        ),
        NONE
    );

    let (pid, epoch) = init(&mut coordinator, id, 60_000);
    assert_eq!(
        add_partitions(&mut coordinator, id, pid, epoch, topic, &[0]),
        NONE
    );
    assert_eq!(
        produce_txn(&mut leader, id, pid, epoch, 0, topic, 0, &["kept"], 11),
        NONE
    );
    // The leader is paused: the COMMIT marker cannot be written, the
    // transaction stays prepared, and then its coordinator dies.
    let outsider = index_of(l.outsider);
    cluster.signal(outsider, "STOP");
    assert_eq!(end(&mut coordinator, id, pid, epoch, true, 4), NONE);
    assert_eq!(
        state(&cluster, index_of(l.coordinator), id).as_deref(),
        Some("PrepareCommit")
    );
    cluster.kill(index_of(l.coordinator));
    cluster.signal(outsider, "CONT");

    // The partner takes `__transaction_state-0` over at a new epoch and
    // finishes what the dead coordinator left.
    let (_, new_leader, new_epoch) = eventually(60, "a new transaction coordinator", || {
        txn_partition(&cluster, index_of(l.partner)).filter(|(_, leader, _)| *leader == l.partner)
    });
    assert_eq!(new_leader, l.partner);
    assert!(new_epoch > l.coordinator_epoch);
    eventually(60, "the prepared transaction completed", || {
        (state(&cluster, index_of(l.partner), id)? == "CompleteCommit").then_some(())
    });
    let data0 = settled(&cluster, l.outsider, topic, 0);
    assert_eq!(data0.values, vec!["kept"]);
    // The open transaction passes its timeout on the new coordinator and
    // is aborted: the LSO moves past it and its record is never read.
    eventually(60, "the open transaction aborted", || {
        (state(&cluster, index_of(l.partner), "tx-open")? == "CompleteAbort").then_some(())
    });
    let data1 = settled(&cluster, l.outsider, topic, 1);
    assert!(data1.values.is_empty(), "{:?}", data1.values);
    assert_eq!(data1.aborted_producers, vec![open_pid]);

    // The new coordinator's markers carry its epoch: one from the old
    // coordinator's epoch is now fenced on both partitions.
    let mut leader = cluster.connect(outsider);
    for partition in [0, 1] {
        let (p, e) = if partition == 0 {
            (pid, epoch)
        } else {
            (open_pid, open_epoch + 2)
        };
        assert_eq!(
            write_marker(&mut leader, p, e, l.coordinator_epoch, topic, partition),
            TRANSACTION_COORDINATOR_FENCED,
            "partition {partition}"
        );
    }
}

/// The group coordinator of `group`, asked through node `via`.
fn find_group_coordinator(cluster: &ProcessCluster, via: usize, group: &str) -> i32 {
    known_coordinator(cluster, via, GROUP_KEY, group)
}

/// The group's committed offset of `topic`-0 with require_stable, at its
/// coordinator: None while pending (UNSTABLE_OFFSET_COMMIT) or loading.
fn stable_offset(conn: &mut Connection, group: &str, topic: &str) -> Option<i64> {
    let request = OffsetFetchRequest::default()
        .with_require_stable(true)
        .with_groups(vec![OffsetFetchRequestGroup::default()
            .with_group_id(GroupId(s(group)))
            .with_topics(Some(vec![OffsetFetchRequestTopics::default()
                .with_name(TopicName(s(topic)))
                .with_partition_indexes(vec![0])]))]);
    let ResponseKind::OffsetFetch(r) =
        conn.request(ApiKey::OffsetFetch, 8, RequestKind::OffsetFetch(request))
    else {
        panic!()
    };
    let g = &r.groups[0];
    let p = &g.topics.first()?.partitions[0];
    (g.error_code == NONE && p.error_code == NONE).then_some(p.committed_offset)
}

/// Transaction version 2: TxnOffsetCommit v5 goes to the group's
/// coordinator, which adds the group's `__consumer_offsets` partition to
/// the transaction at the transaction coordinator (another broker); the
/// COMMIT marker reaches that partition and the offset becomes stable.
#[test]
fn transactional_offsets_commit_through_a_remote_transaction_coordinator() {
    let cluster = start_cluster();
    let id = "tx-offsets";
    let topic = "data";
    let l = layout(&cluster, id, topic);
    // A group whose coordinator is not the transaction coordinator.
    let (group, group_coordinator) = (0..50)
        .map(|i| format!("grp-{i}"))
        .map(|g| {
            let at = find_group_coordinator(&cluster, 0, &g);
            (g, at)
        })
        .find(|(_, at)| *at != l.coordinator)
        .expect("no group coordinated away from the transaction coordinator");
    let mut coordinator = cluster.connect(index_of(l.coordinator));
    let mut groups = cluster.connect(index_of(group_coordinator));
    let (pid, epoch) = init(&mut coordinator, id, 60_000);
    let commit = |conn: &mut Connection, offset: i64| -> i16 {
        let request = TxnOffsetCommitRequest::default()
            .with_transactional_id(TransactionalId(s(id)))
            .with_group_id(GroupId(s(&group)))
            .with_producer_id(pid.into())
            .with_producer_epoch(epoch)
            .with_generation_id(-1)
            .with_topics(vec![TxnOffsetCommitRequestTopic::default()
                .with_name(TopicName(s(topic)))
                .with_partitions(vec![TxnOffsetCommitRequestPartition::default()
                    .with_partition_index(0)
                    .with_committed_offset(offset)])]);
        let ResponseKind::TxnOffsetCommit(r) = conn.request(
            ApiKey::TxnOffsetCommit,
            5,
            RequestKind::TxnOffsetCommit(request),
        ) else {
            panic!()
        };
        r.topics[0].partitions[0].error_code
    };
    let code = eventually(30, "TxnOffsetCommit v5", || {
        let code = commit(&mut groups, 42);
        // NOT_COORDINATOR too: the broker FindCoordinator named may not have
        // applied the just-created __consumer_offsets yet (clients retry it).
        (![
            COORDINATOR_LOAD_IN_PROGRESS,
            CONCURRENT_TRANSACTIONS,
            NOT_COORDINATOR,
        ]
        .contains(&code))
        .then_some(code)
    });
    assert_eq!(code, NONE);
    assert_eq!(stable_offset(&mut groups, &group, topic), None, "pending");
    assert_eq!(end(&mut coordinator, id, pid, epoch, true, 5), NONE);
    let offset = eventually(30, "the committed offset", || {
        stable_offset(&mut groups, &group, topic)
    });
    assert_eq!(offset, 42);
}

/// A prepared transaction whose partition leader dies before its marker
/// is written: the coordinator keeps retrying and writes the marker at
/// the partition's new leader.
#[test]
fn markers_follow_a_partition_to_its_new_leader() {
    let mut cluster = start_cluster();
    let id = "tx-moved";
    let topic = "moving";
    let l = layout(&cluster, id, "data");
    // One partition led by the outsider, replicated to the partner.
    create_placed(
        &mut cluster.connect(0),
        topic,
        &[vec![l.outsider, l.partner]],
    );
    assert_eq!(leaders(&cluster, 0, topic, 1), vec![l.outsider]);
    let mut coordinator = cluster.connect(index_of(l.coordinator));
    let mut leader = cluster.connect(index_of(l.outsider));
    let (pid, epoch) = init(&mut coordinator, id, 60_000);
    assert_eq!(
        add_partitions(&mut coordinator, id, pid, epoch, topic, &[0]),
        NONE
    );
    // acks=all: on both replicas once answered.
    let code = eventually(30, "a replicated transactional write", || {
        let code = produce_txn(&mut leader, id, pid, epoch, 0, topic, 0, &["moved"], 11);
        (code != NOT_LEADER_OR_FOLLOWER).then_some(code)
    });
    assert_eq!(code, NONE);
    // The leader stops before the COMMIT marker can reach it, then dies.
    let outsider = index_of(l.outsider);
    cluster.signal(outsider, "STOP");
    assert_eq!(end(&mut coordinator, id, pid, epoch, true, 4), NONE);
    assert_eq!(
        state(&cluster, index_of(l.coordinator), id).as_deref(),
        Some("PrepareCommit")
    );
    cluster.kill(outsider);
    eventually(60, "the partner leading the partition", || {
        let led = leaders(&cluster, index_of(l.coordinator), topic, 1);
        (led == vec![l.partner]).then_some(())
    });
    eventually(60, "the transaction completed", || {
        (state(&cluster, index_of(l.coordinator), id)? == "CompleteCommit").then_some(())
    });
    let moved = settled(&cluster, l.partner, topic, 0);
    assert_eq!(moved.values, vec!["moved"]);
}
