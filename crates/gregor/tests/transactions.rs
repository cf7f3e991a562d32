//! Transactions over the wire against the real binary: the coordinator's
//! lifecycle (InitProducerId, AddPartitionsToTxn, EndTxn), verification of
//! transactional produce, zombie fencing, timeouts, transactional offset
//! commits, state across restarts and kill -9, Kafka's error codes for bad
//! requests, and every advertised version of the transaction APIs.

// An integration test: unwrapping is how a failed step fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use bytes::Bytes;
use gregor_protocol::compression::Compression;
use gregor_protocol::error_codes::{
    CONCURRENT_TRANSACTIONS, COORDINATOR_LOAD_IN_PROGRESS, INVALID_PRODUCER_EPOCH,
    INVALID_PRODUCER_ID_MAPPING, INVALID_REQUEST, INVALID_TRANSACTION_TIMEOUT, INVALID_TXN_STATE,
    NONE, NOT_COORDINATOR, PRODUCER_FENCED, TRANSACTIONAL_ID_NOT_FOUND, TRANSACTION_ABORTABLE,
    UNKNOWN_TOPIC_OR_PARTITION, UNSTABLE_OFFSET_COMMIT,
};
use gregor_protocol::records::{decode_batches, BatchBuilder};
use kafka_protocol::messages::add_partitions_to_txn_request::{
    AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction,
};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestGroup;
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
use support::{create_topic, wait_for_group_coordinator, Connection, TestBroker};

const TOPIC: &str = "txn-data";

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_string())
}

fn init(conn: &mut Connection, id: &str, timeout_ms: i32) -> (i16, i64, i16) {
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
    (r.error_code, r.producer_id.0, r.producer_epoch)
}

/// FindCoordinator for a transactional id (creates `__transaction_state`).
fn find_txn_coordinator(conn: &mut Connection, id: &str) -> i16 {
    let request = FindCoordinatorRequest::default()
        .with_key_type(1)
        .with_coordinator_keys(vec![s(id)]);
    let ResponseKind::FindCoordinator(r) = conn.request(
        ApiKey::FindCoordinator,
        4,
        RequestKind::FindCoordinator(request),
    ) else {
        panic!()
    };
    r.coordinators[0].error_code
}

/// InitProducerId retried as clients retry it: while the broker aborts an
/// open transaction, and while the coordinator is being found (the first
/// FindCoordinator creates `__transaction_state`) or loads its shard.
fn init_ok(conn: &mut Connection, id: &str, timeout_ms: i32) -> (i64, i16) {
    for _ in 0..250 {
        let (code, pid, epoch) = init(conn, id, timeout_ms);
        match code {
            NONE => return (pid, epoch),
            CONCURRENT_TRANSACTIONS | COORDINATOR_LOAD_IN_PROGRESS => {}
            NOT_COORDINATOR => {
                find_txn_coordinator(conn, id);
            }
            other => panic!("InitProducerId for {id}: error {other}"),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("InitProducerId for {id} never succeeded")
}

fn add_partitions(
    conn: &mut Connection,
    id: &str,
    pid: i64,
    epoch: i16,
    topic: &str,
    parts: &[i32],
) -> Vec<i16> {
    let request = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(TransactionalId(s(id)))
        .with_v3_and_below_producer_id(pid.into())
        .with_v3_and_below_producer_epoch(epoch)
        .with_v3_and_below_topics(vec![AddPartitionsToTxnTopic::default()
            .with_name(TopicName(s(topic)))
            .with_partitions(parts.to_vec())]);
    let ResponseKind::AddPartitionsToTxn(r) = conn.request(
        ApiKey::AddPartitionsToTxn,
        3,
        RequestKind::AddPartitionsToTxn(request),
    ) else {
        panic!()
    };
    r.results_by_topic_v3_and_below[0]
        .results_by_partition
        .iter()
        .map(|p| p.partition_error_code)
        .collect()
}

fn end(conn: &mut Connection, id: &str, pid: i64, epoch: i16, commit: bool) -> i16 {
    let request = EndTxnRequest::default()
        .with_transactional_id(TransactionalId(s(id)))
        .with_producer_id(pid.into())
        .with_producer_epoch(epoch)
        .with_committed(commit);
    let ResponseKind::EndTxn(r) = conn.request(ApiKey::EndTxn, 4, RequestKind::EndTxn(request))
    else {
        panic!()
    };
    if r.error_code == NONE {
        settle(conn, id);
    }
    r.error_code
}

/// Waits until the transaction's markers are written: EndTxn is answered
/// once the prepare record is committed, and the markers follow (Kafka).
fn settle(conn: &mut Connection, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while describe(conn, id).transaction_state.starts_with("Prepare") {
        assert!(
            Instant::now() < deadline,
            "the markers of {id} were never written"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Produces one transactional batch; returns (error code, base offset).
fn produce_txn(
    conn: &mut Connection,
    id: &str,
    pid: i64,
    epoch: i16,
    seq: i32,
    partition: i32,
    values: &[&str],
) -> (i16, i64) {
    produce_txn_at(9, conn, id, (pid, epoch, seq), partition, values)
}

/// The same at Produce `version` (v12+: the partition is added to the
/// transaction implicitly, transaction version 2).
fn produce_txn_at(
    version: i16,
    conn: &mut Connection,
    id: &str,
    (pid, epoch, seq): (i64, i16, i32),
    partition: i32,
    values: &[&str],
) -> (i16, i64) {
    let mut batch = BatchBuilder::new(Compression::None)
        .producer(pid, epoch, seq)
        .transactional(true);
    for value in values {
        batch.push(0, None, Some(Bytes::from(value.to_string())), Vec::new());
    }
    let request = ProduceRequest::default()
        .with_transactional_id(Some(TransactionalId(s(id))))
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(s(TOPIC)))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(batch.build().unwrap().freeze()))])]);
    let ResponseKind::Produce(r) =
        conn.request(ApiKey::Produce, version, RequestKind::Produce(request))
    else {
        panic!()
    };
    let p = &r.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

/// DescribeTransactions, retried as admin clients retry it while the
/// coordinator's shard loads (after a restart).
fn describe(conn: &mut Connection, id: &str) -> describe_transactions_response::TransactionState {
    let request =
        DescribeTransactionsRequest::default().with_transactional_ids(vec![TransactionalId(s(id))]);
    for _ in 0..500 {
        let ResponseKind::DescribeTransactions(r) = conn.request(
            ApiKey::DescribeTransactions,
            0,
            RequestKind::DescribeTransactions(request.clone()),
        ) else {
            panic!()
        };
        let state = r.transaction_states.into_iter().next().unwrap();
        if state.error_code != NOT_COORDINATOR && state.error_code != COORDINATOR_LOAD_IN_PROGRESS {
            return state;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("the coordinator of {id} never loaded")
}

/// (is_control, producer epoch, values or marker type) of every batch,
/// fetching until the end (a fetch returns one segment's data at most).
fn read_batches(conn: &mut Connection, partition: i32) -> Vec<(bool, i16, Vec<String>)> {
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let request = FetchRequest::default()
            .with_replica_id((-1).into())
            .with_max_wait_ms(0)
            .with_max_bytes(1 << 20)
            .with_topics(vec![FetchTopic::default()
                .with_topic(TopicName(s(TOPIC)))
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(partition)
                    .with_fetch_offset(offset)
                    .with_partition_max_bytes(1 << 20)])]);
        let ResponseKind::Fetch(r) = conn.request(ApiKey::Fetch, 11, RequestKind::Fetch(request))
        else {
            panic!()
        };
        let records = r.responses[0].partitions[0]
            .records
            .clone()
            .unwrap_or_default();
        let batches = decode_batches(&records).unwrap();
        if batches.is_empty() {
            return out;
        }
        for b in batches {
            offset = b.header.last_offset() + 1;
            let control = b.header.is_control();
            let texts = b
                .records
                .iter()
                .map(|r| {
                    if control {
                        let key = r.key.clone().unwrap_or_default();
                        if key.get(3) == Some(&1) {
                            "COMMIT"
                        } else {
                            "ABORT"
                        }
                        .to_string()
                    } else {
                        String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned()
                    }
                })
                .collect();
            out.push((control, b.header.producer_epoch, texts));
        }
    }
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_transaction_commits_with_markers_and_its_state_is_described() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    create_topic(&mut conn, TOPIC, 2);

    let request = FindCoordinatorRequest::default()
        .with_key_type(1)
        .with_coordinator_keys(vec![s("tx-a")]);
    let ResponseKind::FindCoordinator(r) = conn.request(
        ApiKey::FindCoordinator,
        4,
        RequestKind::FindCoordinator(request),
    ) else {
        panic!()
    };
    assert_eq!(r.coordinators[0].error_code, NONE);
    assert_eq!(r.coordinators[0].port, broker.addr.port() as i32);

    let (pid, epoch) = init_ok(&mut conn, "tx-a", 60_000);
    assert_eq!(epoch, 0);
    // A transactional write to a partition not in the transaction is refused
    // (KIP-890 verification): nothing is written.
    assert_eq!(
        produce_txn(&mut conn, "tx-a", pid, epoch, 0, 0, &["early"]).0,
        INVALID_TXN_STATE
    );
    assert!(read_batches(&mut conn, 0).is_empty());

    assert_eq!(
        add_partitions(&mut conn, "tx-a", pid, epoch, TOPIC, &[0, 1]),
        vec![NONE, NONE]
    );
    assert_eq!(
        produce_txn(&mut conn, "tx-a", pid, epoch, 0, 0, &["a", "b"]),
        (NONE, 0)
    );
    assert_eq!(
        produce_txn(&mut conn, "tx-a", pid, epoch, 0, 1, &["c"]),
        (NONE, 0)
    );

    let state = describe(&mut conn, "tx-a");
    assert_eq!(state.error_code, NONE);
    assert_eq!(state.transaction_state.as_str(), "Ongoing");
    assert_eq!((state.producer_id.0, state.producer_epoch), (pid, epoch));
    assert_eq!(state.topics[0].partitions, vec![0, 1]);
    assert!(state.transaction_start_time_ms > 0);

    let request =
        ListTransactionsRequest::default().with_state_filters(vec![s("Ongoing"), s("Bogus")]);
    let ResponseKind::ListTransactions(r) = conn.request(
        ApiKey::ListTransactions,
        1,
        RequestKind::ListTransactions(request),
    ) else {
        panic!()
    };
    assert_eq!(r.unknown_state_filters, vec![s("Bogus")]);
    assert_eq!(r.transaction_states.len(), 1);
    assert_eq!(r.transaction_states[0].transactional_id.as_str(), "tx-a");

    assert_eq!(end(&mut conn, "tx-a", pid, epoch, true), NONE);
    assert_eq!(
        describe(&mut conn, "tx-a").transaction_state.as_str(),
        "CompleteCommit"
    );
    // Each partition got its data and then a COMMIT marker.
    assert_eq!(
        read_batches(&mut conn, 0),
        vec![
            (false, epoch, vec!["a".to_string(), "b".to_string()]),
            (true, epoch, vec!["COMMIT".to_string()]),
        ]
    );
    assert_eq!(
        read_batches(&mut conn, 1)[1],
        (true, epoch, vec!["COMMIT".to_string()])
    );
    // A retried commit is fine, an abort of a committed transaction is not.
    assert_eq!(end(&mut conn, "tx-a", pid, epoch, true), NONE);
    assert_eq!(end(&mut conn, "tx-a", pid, epoch, false), INVALID_TXN_STATE);
    // After the commit the partitions left the transaction again.
    assert_eq!(
        produce_txn(&mut conn, "tx-a", pid, epoch, 1, 1, &["late"]).0,
        INVALID_TXN_STATE
    );
}

#[test]
fn a_new_instance_fences_the_zombie_and_aborts_its_transaction() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    create_topic(&mut conn, TOPIC, 1);
    let (pid, zombie) = init_ok(&mut conn, "tx-z", 60_000);
    assert_eq!(
        add_partitions(&mut conn, "tx-z", pid, zombie, TOPIC, &[0]),
        vec![NONE]
    );
    assert_eq!(
        produce_txn(&mut conn, "tx-z", pid, zombie, 0, 0, &["zombie"]).0,
        NONE
    );

    // The first InitProducerId of the new instance aborts, then it retries.
    assert_eq!(init(&mut conn, "tx-z", 60_000).0, CONCURRENT_TRANSACTIONS);
    let (pid2, epoch) = init_ok(&mut conn, "tx-z", 60_000);
    assert_eq!(pid2, pid);
    assert!(
        epoch > zombie + 1,
        "fencing bumps the epoch, and so does the retry"
    );

    // The zombie can do nothing any more.
    assert_eq!(
        add_partitions(&mut conn, "tx-z", pid, zombie, TOPIC, &[0]),
        vec![PRODUCER_FENCED]
    );
    assert_eq!(
        produce_txn(&mut conn, "tx-z", pid, zombie, 1, 0, &["more"]).0,
        INVALID_PRODUCER_EPOCH
    );
    assert_eq!(end(&mut conn, "tx-z", pid, zombie, true), PRODUCER_FENCED);
    let batches = read_batches(&mut conn, 0);
    assert_eq!(batches.len(), 2, "{batches:?}");
    assert!(batches[1].0, "a control batch follows");
    assert_eq!(batches[1].2, vec!["ABORT".to_string()]);
    assert!(
        batches[1].1 > zombie,
        "the abort marker carries the fenced epoch"
    );

    // The new instance works.
    assert_eq!(
        add_partitions(&mut conn, "tx-z", pid, epoch, TOPIC, &[0]),
        vec![NONE]
    );
    assert_eq!(
        produce_txn(&mut conn, "tx-z", pid, epoch, 0, 0, &["fresh"]).0,
        NONE
    );
    assert_eq!(end(&mut conn, "tx-z", pid, epoch, false), NONE);
    assert_eq!(
        describe(&mut conn, "tx-z").transaction_state.as_str(),
        "CompleteAbort"
    );
}

#[test]
fn produce_v11_hears_transaction_abortable_and_v12_adds_the_partition() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    create_topic(&mut conn, TOPIC, 1);
    let (pid, epoch) = init_ok(&mut conn, "tx-v", 60_000);
    for (version, expected) in [(11, TRANSACTION_ABORTABLE), (12, NONE)] {
        let batch = BatchBuilder::new(Compression::None)
            .producer(pid, epoch, 0)
            .transactional(true);
        let mut batch = batch;
        batch.push(0, None, Some(Bytes::from_static(b"v")), Vec::new());
        let request = ProduceRequest::default()
            .with_transactional_id(Some(TransactionalId(s("tx-v"))))
            .with_acks(1)
            .with_timeout_ms(5000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(TopicName(s(TOPIC)))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(batch.build().unwrap().freeze()))])]);
        let ResponseKind::Produce(r) =
            conn.request(ApiKey::Produce, version, RequestKind::Produce(request))
        else {
            panic!()
        };
        assert_eq!(
            r.responses[0].partition_responses[0].error_code, expected,
            "Produce v{version}"
        );
    }
    let state = describe(&mut conn, "tx-v");
    assert_eq!(state.transaction_state.as_str(), "Ongoing");
    assert_eq!(state.topics[0].partitions, vec![0]);
}

#[test]
fn timed_out_transactions_are_aborted_by_the_broker() {
    let broker =
        TestBroker::start(&["transaction.abort.timed.out.transaction.cleanup.interval.ms=100"]);
    let mut conn = broker.connect();
    create_topic(&mut conn, TOPIC, 1);
    let (pid, epoch) = init_ok(&mut conn, "tx-t", 1_000);
    assert_eq!(
        add_partitions(&mut conn, "tx-t", pid, epoch, TOPIC, &[0]),
        vec![NONE]
    );
    assert_eq!(
        produce_txn(&mut conn, "tx-t", pid, epoch, 0, 0, &["slow"]).0,
        NONE
    );
    wait_for("the timed-out transaction to be aborted", || {
        describe(&mut conn, "tx-t").transaction_state.as_str() == "CompleteAbort"
    });
    assert_eq!(end(&mut conn, "tx-t", pid, epoch, true), PRODUCER_FENCED);
    let batches = read_batches(&mut conn, 0);
    assert_eq!(batches.last().unwrap().2, vec!["ABORT".to_string()]);
}

#[test]
fn transactional_offsets_count_only_after_commit_and_survive_restarts() {
    let mut broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    wait_for_group_coordinator(&mut conn, "copier");
    create_topic(&mut conn, TOPIC, 1);
    let fetch = |conn: &mut Connection, stable: bool| -> (i16, i64) {
        let request = OffsetFetchRequest::default()
            .with_require_stable(stable)
            .with_groups(vec![OffsetFetchRequestGroup::default()
                .with_group_id(GroupId(s("copier")))
                .with_topics(Some(vec![
                    offset_fetch_request::OffsetFetchRequestTopics::default()
                        .with_name(TopicName(s(TOPIC)))
                        .with_partition_indexes(vec![0]),
                ]))]);
        let ResponseKind::OffsetFetch(r) =
            conn.request(ApiKey::OffsetFetch, 8, RequestKind::OffsetFetch(request))
        else {
            panic!()
        };
        match r.groups[0].topics.first() {
            Some(t) => (t.partitions[0].error_code, t.partitions[0].committed_offset),
            None => (NONE, -1),
        }
    };
    let commit_offset = |conn: &mut Connection, pid: i64, epoch: i16, offset: i64| -> i16 {
        let request = AddOffsetsToTxnRequest::default()
            .with_transactional_id(TransactionalId(s("tx-o")))
            .with_producer_id(pid.into())
            .with_producer_epoch(epoch)
            .with_group_id(GroupId(s("copier")));
        let ResponseKind::AddOffsetsToTxn(r) = conn.request(
            ApiKey::AddOffsetsToTxn,
            3,
            RequestKind::AddOffsetsToTxn(request),
        ) else {
            panic!()
        };
        assert_eq!(r.error_code, NONE);
        let request = TxnOffsetCommitRequest::default()
            .with_transactional_id(TransactionalId(s("tx-o")))
            .with_group_id(GroupId(s("copier")))
            .with_producer_id(pid.into())
            .with_producer_epoch(epoch)
            .with_generation_id(-1)
            .with_topics(vec![TxnOffsetCommitRequestTopic::default()
                .with_name(TopicName(s(TOPIC)))
                .with_partitions(vec![TxnOffsetCommitRequestPartition::default()
                    .with_partition_index(0)
                    .with_committed_offset(offset)])]);
        let ResponseKind::TxnOffsetCommit(r) = conn.request(
            ApiKey::TxnOffsetCommit,
            3,
            RequestKind::TxnOffsetCommit(request),
        ) else {
            panic!()
        };
        r.topics[0].partitions[0].error_code
    };

    let (pid, epoch) = init_ok(&mut conn, "tx-o", 60_000);
    assert_eq!(commit_offset(&mut conn, pid, epoch, 7), NONE);
    assert_eq!(
        fetch(&mut conn, false),
        (NONE, -1),
        "pending offsets are invisible"
    );
    assert_eq!(fetch(&mut conn, true).0, UNSTABLE_OFFSET_COMMIT);
    assert_eq!(end(&mut conn, "tx-o", pid, epoch, true), NONE);
    assert_eq!(fetch(&mut conn, true), (NONE, 7));

    // An aborted transaction's offsets never count.
    assert_eq!(commit_offset(&mut conn, pid, epoch, 99), NONE);
    assert_eq!(end(&mut conn, "tx-o", pid, epoch, false), NONE);
    assert_eq!(fetch(&mut conn, true), (NONE, 7));

    // An open one across a restart: still pending, then committed.
    assert_eq!(commit_offset(&mut conn, pid, epoch, 11), NONE);
    broker.restart();
    let mut conn = broker.connect();
    wait_for_group_coordinator(&mut conn, "copier");
    assert_eq!(fetch(&mut conn, true).0, UNSTABLE_OFFSET_COMMIT);
    assert_eq!(
        describe(&mut conn, "tx-o").transaction_state.as_str(),
        "Ongoing"
    );
    assert_eq!(end(&mut conn, "tx-o", pid, epoch, true), NONE);
    assert_eq!(fetch(&mut conn, true), (NONE, 11));
    broker.kill();
    broker.restart();
    let mut conn = broker.connect();
    wait_for_group_coordinator(&mut conn, "copier");
    assert_eq!(
        fetch(&mut conn, true),
        (NONE, 11),
        "committed offsets survive kill -9"
    );
}

#[test]
fn open_transactions_survive_kill_9_and_finish_afterwards() {
    let mut broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    create_topic(&mut conn, TOPIC, 1);
    let (pid, epoch) = init_ok(&mut conn, "tx-k", 60_000);
    assert_eq!(
        add_partitions(&mut conn, "tx-k", pid, epoch, TOPIC, &[0]),
        vec![NONE]
    );
    assert_eq!(
        produce_txn(&mut conn, "tx-k", pid, epoch, 0, 0, &["before"]).0,
        NONE
    );
    broker.kill();
    broker.restart();
    let mut conn = broker.connect();
    let state = describe(&mut conn, "tx-k");
    assert_eq!(
        (state.transaction_state.as_str(), state.producer_epoch),
        ("Ongoing", epoch)
    );
    assert_eq!(
        produce_txn(&mut conn, "tx-k", pid, epoch, 1, 0, &["after"]).0,
        NONE
    );
    assert_eq!(end(&mut conn, "tx-k", pid, epoch, true), NONE);
    let batches = read_batches(&mut conn, 0);
    assert_eq!(batches.len(), 3, "{batches:?}");
    assert_eq!(batches[2].2, vec!["COMMIT".to_string()]);
}

#[test]
fn bad_transactional_requests_get_kafkas_errors() {
    let broker = TestBroker::start(&["transaction.max.timeout.ms=60000"]);
    let mut conn = broker.connect();
    create_topic(&mut conn, TOPIC, 1);
    assert_eq!(
        init(&mut conn, "tx-b", 60_001).0,
        INVALID_TRANSACTION_TIMEOUT
    );
    assert_eq!(init(&mut conn, "tx-b", 0).0, INVALID_TRANSACTION_TIMEOUT);
    assert_eq!(init(&mut conn, "", 1_000).0, INVALID_REQUEST);
    let (pid, epoch) = init_ok(&mut conn, "tx-b", 1_000);
    assert_eq!(
        end(&mut conn, "never-seen", 1, 0, true),
        INVALID_PRODUCER_ID_MAPPING
    );
    assert_eq!(
        end(&mut conn, "tx-b", pid, epoch, true),
        INVALID_TXN_STATE,
        "nothing open"
    );
    assert_eq!(
        end(&mut conn, "tx-b", pid + 1, epoch, true),
        INVALID_PRODUCER_ID_MAPPING
    );
    assert_eq!(
        add_partitions(&mut conn, "tx-b", pid, epoch, "no-such-topic", &[0]),
        vec![UNKNOWN_TOPIC_OR_PARTITION]
    );
    assert_eq!(
        add_partitions(&mut conn, "tx-b", pid, epoch + 3, TOPIC, &[0]),
        vec![PRODUCER_FENCED]
    );
    assert_eq!(
        describe(&mut conn, "nope").error_code,
        TRANSACTIONAL_ID_NOT_FOUND
    );
    assert_eq!(
        describe(&mut conn, "tx-b").transaction_state.as_str(),
        "Empty"
    );
}

#[test]
fn every_advertised_version_of_the_transaction_apis_answers() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    create_topic(&mut conn, TOPIC, 1);
    wait_for_group_coordinator(&mut conn, "sweep-group");
    let ResponseKind::ApiVersions(versions) = conn.request(
        ApiKey::ApiVersions,
        3,
        RequestKind::ApiVersions(ApiVersionsRequest::default()),
    ) else {
        panic!()
    };
    let range = |key: ApiKey| {
        let v = versions
            .api_keys
            .iter()
            .find(|k| k.api_key == key as i16)
            .unwrap_or_else(|| panic!("{key:?} is not advertised"));
        v.min_version..=v.max_version
    };

    for v in range(ApiKey::InitProducerId) {
        let id = format!("sweep-{v}");
        let request = InitProducerIdRequest::default()
            .with_transactional_id(Some(TransactionalId(s(&id))))
            .with_transaction_timeout_ms(60_000)
            .with_producer_id((-1).into())
            .with_producer_epoch(-1);
        // Retried while the coordinator is found and its shards load.
        let mut code = NOT_COORDINATOR;
        for _ in 0..250 {
            let ResponseKind::InitProducerId(r) = conn.request(
                ApiKey::InitProducerId,
                v,
                RequestKind::InitProducerId(request.clone()),
            ) else {
                panic!()
            };
            code = r.error_code;
            if code != NOT_COORDINATOR && code != COORDINATOR_LOAD_IN_PROGRESS {
                break;
            }
            find_txn_coordinator(&mut conn, &id);
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(code, NONE, "InitProducerId v{v}");
    }
    let (pid, epoch) = init_ok(&mut conn, "sweep", 60_000);
    for v in range(ApiKey::AddPartitionsToTxn) {
        let request = if v < 4 {
            AddPartitionsToTxnRequest::default()
                .with_v3_and_below_transactional_id(TransactionalId(s("sweep")))
                .with_v3_and_below_producer_id(pid.into())
                .with_v3_and_below_producer_epoch(epoch)
                .with_v3_and_below_topics(vec![AddPartitionsToTxnTopic::default()
                    .with_name(TopicName(s(TOPIC)))
                    .with_partitions(vec![0])])
        } else {
            AddPartitionsToTxnRequest::default().with_transactions(vec![
                AddPartitionsToTxnTransaction::default()
                    .with_transactional_id(TransactionalId(s("sweep")))
                    .with_producer_id(pid.into())
                    .with_producer_epoch(epoch)
                    .with_verify_only(true)
                    .with_topics(vec![AddPartitionsToTxnTopic::default()
                        .with_name(TopicName(s(TOPIC)))
                        .with_partitions(vec![0])]),
            ])
        };
        let ResponseKind::AddPartitionsToTxn(r) = conn.request(
            ApiKey::AddPartitionsToTxn,
            v,
            RequestKind::AddPartitionsToTxn(request),
        ) else {
            panic!()
        };
        let code = if v < 4 {
            r.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code
        } else {
            r.results_by_transaction[0].topic_results[0].results_by_partition[0]
                .partition_error_code
        };
        assert_eq!(code, NONE, "AddPartitionsToTxn v{v}");
    }
    for v in range(ApiKey::AddOffsetsToTxn) {
        let request = AddOffsetsToTxnRequest::default()
            .with_transactional_id(TransactionalId(s("sweep")))
            .with_producer_id(pid.into())
            .with_producer_epoch(epoch)
            .with_group_id(GroupId(s("sweep-group")));
        let ResponseKind::AddOffsetsToTxn(r) = conn.request(
            ApiKey::AddOffsetsToTxn,
            v,
            RequestKind::AddOffsetsToTxn(request),
        ) else {
            panic!()
        };
        assert_eq!(r.error_code, NONE, "AddOffsetsToTxn v{v}");
    }
    for v in range(ApiKey::TxnOffsetCommit) {
        let request = TxnOffsetCommitRequest::default()
            .with_transactional_id(TransactionalId(s("sweep")))
            .with_group_id(GroupId(s("sweep-group")))
            .with_producer_id(pid.into())
            .with_producer_epoch(epoch)
            .with_generation_id(-1)
            .with_topics(vec![TxnOffsetCommitRequestTopic::default()
                .with_name(TopicName(s(TOPIC)))
                .with_partitions(vec![TxnOffsetCommitRequestPartition::default()
                    .with_partition_index(0)
                    .with_committed_offset(i64::from(v))])]);
        let ResponseKind::TxnOffsetCommit(r) = conn.request(
            ApiKey::TxnOffsetCommit,
            v,
            RequestKind::TxnOffsetCommit(request),
        ) else {
            panic!()
        };
        assert_eq!(
            r.topics[0].partitions[0].error_code, NONE,
            "TxnOffsetCommit v{v}"
        );
    }
    for v in range(ApiKey::DescribeTransactions) {
        let request = DescribeTransactionsRequest::default()
            .with_transactional_ids(vec![TransactionalId(s("sweep"))]);
        let ResponseKind::DescribeTransactions(r) = conn.request(
            ApiKey::DescribeTransactions,
            v,
            RequestKind::DescribeTransactions(request),
        ) else {
            panic!()
        };
        assert_eq!(
            r.transaction_states[0].transaction_state.as_str(),
            "Ongoing"
        );
    }
    for v in range(ApiKey::ListTransactions) {
        let ResponseKind::ListTransactions(r) = conn.request(
            ApiKey::ListTransactions,
            v,
            RequestKind::ListTransactions(
                ListTransactionsRequest::default().with_duration_filter(-1),
            ),
        ) else {
            panic!()
        };
        assert_eq!(r.error_code, NONE, "ListTransactions v{v}");
        assert!(r.transaction_states.len() >= 2);
    }
    for v in range(ApiKey::WriteTxnMarkers) {
        let request =
            WriteTxnMarkersRequest::default().with_markers(vec![WritableTxnMarker::default()
                .with_producer_id(123_456.into())
                .with_producer_epoch(0)
                .with_transaction_result(false)
                .with_coordinator_epoch(0)
                .with_topics(vec![
                    WritableTxnMarkerTopic::default()
                        .with_name(TopicName(s(TOPIC)))
                        .with_partition_indexes(vec![0]),
                    WritableTxnMarkerTopic::default()
                        .with_name(TopicName(s("missing")))
                        .with_partition_indexes(vec![0]),
                ])]);
        let r = if v == 2 {
            // kafka-protocol cannot encode v2 (KIP-1228): by hand, legacy TV.
            send_markers_v2(&mut conn, request, vec![0])
        } else {
            let ResponseKind::WriteTxnMarkers(r) = conn.request(
                ApiKey::WriteTxnMarkers,
                v,
                RequestKind::WriteTxnMarkers(request),
            ) else {
                panic!()
            };
            r
        };
        let topics = &r.markers[0].topics;
        assert_eq!(
            topics[0].partitions[0].error_code, NONE,
            "WriteTxnMarkers v{v}"
        );
        assert_eq!(
            topics[1].partitions[0].error_code,
            UNKNOWN_TOPIC_OR_PARTITION
        );
    }
    let mut end_versions = range(ApiKey::EndTxn).rev();
    let last = end_versions.next().unwrap();
    let request = EndTxnRequest::default()
        .with_transactional_id(TransactionalId(s("sweep")))
        .with_producer_id(pid.into())
        .with_producer_epoch(epoch)
        .with_committed(true);
    let ResponseKind::EndTxn(r) = conn.request(ApiKey::EndTxn, last, RequestKind::EndTxn(request))
    else {
        panic!()
    };
    assert_eq!(r.error_code, NONE, "EndTxn v{last}");
    if last >= 5 {
        assert_eq!(
            (r.producer_id.0, r.producer_epoch),
            (pid, epoch + 1),
            "v5 bumps the epoch"
        );
    }
    // Older versions: each on a fresh transactional id's empty transaction.
    for v in end_versions {
        let id = format!("sweep-{v}");
        let (pid, epoch) = init_ok(&mut conn, &id, 60_000);
        assert_eq!(
            add_partitions(&mut conn, &id, pid, epoch, TOPIC, &[0]),
            vec![NONE]
        );
        let request = EndTxnRequest::default()
            .with_transactional_id(TransactionalId(s(&id)))
            .with_producer_id(pid.into())
            .with_producer_epoch(epoch)
            .with_committed(false);
        let ResponseKind::EndTxn(r) = conn.request(ApiKey::EndTxn, v, RequestKind::EndTxn(request))
        else {
            panic!()
        };
        assert_eq!(r.error_code, NONE, "EndTxn v{v}");
    }
}

fn gregor_txn(broker: &TestBroker, args: &[&str]) -> std::process::Output {
    std::process::Command::new(support::gregor_bin())
        .arg("txn")
        .args(args)
        .arg("--bootstrap-server")
        .arg(broker.addr.to_string())
        .output()
        .unwrap()
}

#[test]
fn the_cli_lists_and_describes_transactions() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    create_topic(&mut conn, TOPIC, 2);
    let (pid, epoch) = init_ok(&mut conn, "cli-open", 60_000);
    assert_eq!(
        add_partitions(&mut conn, "cli-open", pid, epoch, TOPIC, &[1]),
        vec![NONE]
    );
    let (idle_pid, _) = init_ok(&mut conn, "cli-idle", 60_000);

    let out = gregor_txn(&broker, &["list"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("cli-open\t{pid}\tOngoing")),
        "{text}"
    );
    assert!(
        text.contains(&format!("cli-idle\t{idle_pid}\tEmpty")),
        "{text}"
    );

    let out = gregor_txn(&broker, &["list", "--state", "Ongoing"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("cli-open") && !text.contains("cli-idle"),
        "{text}"
    );

    let out = gregor_txn(&broker, &["describe", "--transactional-id", "cli-open"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let row: Vec<&str> = text.lines().nth(1).unwrap().split('\t').collect();
    assert_eq!(
        row[1..6],
        [
            "cli-open",
            &pid.to_string(),
            &epoch.to_string(),
            "Ongoing",
            "60000"
        ]
    );
    assert_eq!(row[8], format!("{TOPIC}-1"));

    // Bad input: one line on stderr, failure status.
    let out = gregor_txn(&broker, &["describe", "--transactional-id", "nope"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    let out = gregor_txn(&broker, &["list", "--state", "Sideways"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Sideways"));
}

/// Aborted transactions as (producer id, first offset).
type Aborted = Option<Vec<(i64, i64)>>;

/// (last stable offset, aborted transactions if any, offsets of the data
/// records returned) for one fetch from offset 0.
fn fetch_isolated(conn: &mut Connection, isolation: i8) -> (i64, Aborted, Vec<i64>) {
    let request = FetchRequest::default()
        .with_replica_id((-1).into())
        .with_max_wait_ms(0)
        .with_max_bytes(1 << 20)
        .with_isolation_level(isolation)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(s(TOPIC)))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_partition_max_bytes(1 << 20)])]);
    let ResponseKind::Fetch(r) = conn.request(ApiKey::Fetch, 11, RequestKind::Fetch(request))
    else {
        panic!()
    };
    let p = &r.responses[0].partitions[0];
    let aborted = p.aborted_transactions.as_ref().map(|list| {
        list.iter()
            .map(|a| (a.producer_id.0, a.first_offset))
            .collect()
    });
    let records = p.records.clone().unwrap_or_default();
    let offsets = decode_batches(&records)
        .unwrap()
        .into_iter()
        .filter(|b| !b.header.is_control())
        .flat_map(|b| b.records.into_iter().map(|r| r.offset))
        .collect();
    (p.last_stable_offset, aborted, offsets)
}

fn latest_offset(conn: &mut Connection, isolation: i8) -> i64 {
    use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
    let request = ListOffsetsRequest::default()
        .with_replica_id((-1).into())
        .with_isolation_level(isolation)
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(TopicName(s(TOPIC)))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(0)
                .with_timestamp(-1)])]);
    let ResponseKind::ListOffsets(r) =
        conn.request(ApiKey::ListOffsets, 5, RequestKind::ListOffsets(request))
    else {
        panic!()
    };
    r.topics[0].partitions[0].offset
}

#[test]
fn read_committed_stops_at_the_last_stable_offset_and_learns_aborted_transactions() {
    const UNCOMMITTED: i8 = 0;
    const COMMITTED: i8 = 1;
    let mut broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    create_topic(&mut conn, TOPIC, 1);
    let (pid, epoch) = init_ok(&mut conn, "tx-rc", 60_000);
    // A plain record, then an open transaction from offset 1.
    let (plain_pid, _) = init_ok(&mut conn, "tx-plain", 60_000);
    assert_eq!(
        add_partitions(&mut conn, "tx-plain", plain_pid, 0, TOPIC, &[0]),
        vec![NONE]
    );
    assert_eq!(
        produce_txn(&mut conn, "tx-plain", plain_pid, 0, 0, 0, &["p"]),
        (NONE, 0)
    );
    assert_eq!(end(&mut conn, "tx-plain", plain_pid, 0, true), NONE);
    assert_eq!(
        add_partitions(&mut conn, "tx-rc", pid, epoch, TOPIC, &[0]),
        vec![NONE]
    );
    assert_eq!(
        produce_txn(&mut conn, "tx-rc", pid, epoch, 0, 0, &["x", "y"]),
        (NONE, 2)
    );

    // Open: read_committed sees only what is before the transaction.
    let (lso, aborted, offsets) = fetch_isolated(&mut conn, COMMITTED);
    assert_eq!((lso, offsets), (2, vec![0]));
    assert_eq!(aborted, Some(vec![]));
    assert_eq!(latest_offset(&mut conn, COMMITTED), 2);
    let (lso, aborted, offsets) = fetch_isolated(&mut conn, UNCOMMITTED);
    assert_eq!((lso, aborted, offsets), (2, None, vec![0, 2, 3]));
    assert_eq!(latest_offset(&mut conn, UNCOMMITTED), 4);

    // Aborted: everything is stable again and the consumer learns which
    // producer's records from which offset to drop.
    assert_eq!(end(&mut conn, "tx-rc", pid, epoch, false), NONE);
    let (lso, aborted, offsets) = fetch_isolated(&mut conn, COMMITTED);
    assert_eq!(lso, 5, "past the abort marker");
    assert_eq!(aborted, Some(vec![(pid, 2)]));
    assert_eq!(
        offsets,
        vec![0, 2, 3],
        "the consumer drops them, the broker returns them"
    );
    assert_eq!(latest_offset(&mut conn, COMMITTED), 5);

    // The aborted-transaction index survives a crash.
    broker.kill();
    broker.restart();
    let mut conn = broker.connect();
    let (lso, aborted, _) = fetch_isolated(&mut conn, COMMITTED);
    assert_eq!((lso, aborted), (5, Some(vec![(pid, 2)])));
}

#[test]
fn idle_transactional_ids_expire_but_open_transactions_do_not() {
    let broker = TestBroker::start(&[
        "transactional.id.expiration.ms=500",
        "transaction.remove.expired.transaction.cleanup.interval.ms=100",
        "transaction.abort.timed.out.transaction.cleanup.interval.ms=100",
    ]);
    let mut conn = broker.connect();
    create_topic(&mut conn, TOPIC, 1);
    init_ok(&mut conn, "tx-idle", 60_000);
    let (pid, epoch) = init_ok(&mut conn, "tx-busy", 60_000);
    assert_eq!(
        add_partitions(&mut conn, "tx-busy", pid, epoch, TOPIC, &[0]),
        vec![NONE]
    );
    wait_for("the idle transactional id to expire", || {
        describe(&mut conn, "tx-idle").error_code == TRANSACTIONAL_ID_NOT_FOUND
    });
    let busy = describe(&mut conn, "tx-busy");
    assert_eq!(
        (busy.error_code, busy.transaction_state.as_str()),
        (NONE, "Ongoing")
    );
    // An expired id starts over: a fresh producer id at epoch 0.
    let (_, epoch) = init_ok(&mut conn, "tx-idle", 60_000);
    assert_eq!(epoch, 0);
}

/// EndTxn v5 (transaction version 2) on idle transactions, as Kafka's
/// coordinator answers it: an abort at the current epoch is an empty abort
/// that bumps the epoch, a commit of nothing is INVALID_TXN_STATE.
#[test]
fn end_txn_v5_accepts_an_empty_abort_and_bumps_the_epoch() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    create_topic(&mut conn, TOPIC, 1);
    let (pid, epoch) = init_ok(&mut conn, "tx-empty", 60_000);
    let mut end_v5 = |epoch: i16, commit: bool| {
        let request = EndTxnRequest::default()
            .with_transactional_id(TransactionalId(s("tx-empty")))
            .with_producer_id(pid.into())
            .with_producer_epoch(epoch)
            .with_committed(commit);
        // Retried while the previous abort's completion is being written
        // (CONCURRENT_TRANSACTIONS), as clients retry it.
        for _ in 0..250 {
            let ResponseKind::EndTxn(r) =
                conn.request(ApiKey::EndTxn, 5, RequestKind::EndTxn(request.clone()))
            else {
                panic!()
            };
            if r.error_code != CONCURRENT_TRANSACTIONS {
                return (r.error_code, r.producer_epoch);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("EndTxn never left CONCURRENT_TRANSACTIONS")
    };
    assert_eq!(end_v5(epoch, true).0, INVALID_TXN_STATE);
    assert_eq!(end_v5(epoch, false), (NONE, epoch + 1));
    // its retry is answered with the same epoch; a second empty abort bumps again
    assert_eq!(end_v5(epoch, false), (NONE, epoch + 1));
    assert_eq!(end_v5(epoch + 1, false), (NONE, epoch + 2));
    assert_eq!(end_v5(epoch + 5, false).0, PRODUCER_FENCED);
    let state = describe(&mut conn, "tx-empty");
    assert_eq!(state.transaction_state.as_str(), "CompleteAbort");
    assert_eq!(state.producer_epoch, epoch + 2);
}

/// EndTxn v5 (transaction version 2), retried while the previous
/// transaction completes; returns (error code, the producer's new epoch).
fn end_v5(conn: &mut Connection, id: &str, pid: i64, epoch: i16, commit: bool) -> (i16, i16) {
    let request = EndTxnRequest::default()
        .with_transactional_id(TransactionalId(s(id)))
        .with_producer_id(pid.into())
        .with_producer_epoch(epoch)
        .with_committed(commit);
    for _ in 0..250 {
        let ResponseKind::EndTxn(r) =
            conn.request(ApiKey::EndTxn, 5, RequestKind::EndTxn(request.clone()))
        else {
            panic!()
        };
        if r.error_code != CONCURRENT_TRANSACTIONS {
            if r.error_code == NONE {
                settle(conn, id);
            }
            return (r.error_code, r.producer_epoch);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("EndTxn never left CONCURRENT_TRANSACTIONS")
}

/// A WriteTxnMarkers v2 (KIP-1228) for partition 0 of TOPIC; returns the
/// partition's code.
fn write_marker_v2(
    conn: &mut Connection,
    marker: (i64, i16, bool),
    transaction_version: i8,
) -> i16 {
    let (pid, epoch, commit) = marker;
    let request =
        WriteTxnMarkersRequest::default().with_markers(vec![WritableTxnMarker::default()
            .with_producer_id(pid.into())
            .with_producer_epoch(epoch)
            .with_transaction_result(commit)
            .with_coordinator_epoch(0)
            .with_topics(vec![WritableTxnMarkerTopic::default()
                .with_name(TopicName(s(TOPIC)))
                .with_partition_indexes(vec![0])])]);
    let r = send_markers_v2(conn, request, vec![transaction_version]);
    r.markers[0].topics[0].partitions[0].error_code
}

/// Sends WriteTxnMarkers v2, built on the wire by hand (kafka-protocol
/// stops at v1), with each marker's transaction version.
fn send_markers_v2(
    conn: &mut Connection,
    request: WriteTxnMarkersRequest,
    transaction_versions: Vec<i8>,
) -> WriteTxnMarkersResponse {
    use gregor_protocol::write_txn_markers_v2::{encode, MarkersV2};
    use kafka_protocol::protocol::{Decodable, Encodable};
    let mut frame = bytes::BytesMut::new();
    bytes::BufMut::put_i32(&mut frame, 0);
    RequestHeader::default()
        .with_request_api_key(ApiKey::WriteTxnMarkers as i16)
        .with_request_api_version(2)
        .with_correlation_id(1 << 30)
        .with_client_id(Some(s("kip-1228")))
        .encode(
            &mut frame,
            ApiKey::WriteTxnMarkers.request_header_version(2),
        )
        .unwrap();
    let body = MarkersV2 {
        request,
        transaction_versions,
    };
    encode(&body, &mut frame).unwrap();
    let size = (frame.len() - 4) as i32;
    frame[..4].copy_from_slice(&size.to_be_bytes());
    conn.send_raw(&frame);
    let mut response = conn.read_frame().expect("broker closed the connection");
    let header = ResponseHeader::decode(
        &mut response,
        ApiKey::WriteTxnMarkers.response_header_version(2),
    )
    .unwrap();
    assert_eq!(header.correlation_id, 1 << 30);
    // The v2 response is the v1 response.
    let r = WriteTxnMarkersResponse::decode(&mut response, 1).unwrap();
    assert!(response.is_empty(), "trailing bytes in the v2 response");
    r
}

#[test]
fn a_stale_tv2_marker_cannot_end_a_later_transaction() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    create_topic(&mut conn, TOPIC, 1);
    let id = "tx-kip1228";
    let (pid, epoch) = init_ok(&mut conn, id, 60_000);
    // A transaction version 2 transaction: its markers carry the bumped epoch.
    let (code, first) = produce_txn_at(12, &mut conn, id, (pid, epoch, 0), 0, &["a"]);
    assert_eq!(code, NONE);
    let (code, next) = end_v5(&mut conn, id, pid, epoch, true);
    assert_eq!((code, next), (NONE, epoch + 1));
    // The next transaction runs at that epoch.
    let (code, second) = produce_txn_at(12, &mut conn, id, (pid, next, 0), 0, &["b"]);
    assert_eq!(code, NONE);
    // A late ABORT of the first transaction, at the epoch the second one
    // has, must not touch the second one.
    assert_eq!(
        write_marker_v2(&mut conn, (pid, next, false), 2),
        INVALID_PRODUCER_EPOCH
    );
    assert_eq!(
        describe(&mut conn, id).transaction_state.as_str(),
        "Ongoing"
    );
    assert_eq!(fetch_isolated(&mut conn, 1).0, second, "still open");
    // The second transaction still commits with its records.
    let (code, last) = end_v5(&mut conn, id, pid, next, true);
    assert_eq!((code, last), (NONE, next + 1));
    let (lso, aborted, offsets) = fetch_isolated(&mut conn, 1);
    assert!(lso > second);
    assert!(aborted.unwrap_or_default().is_empty());
    assert_eq!(offsets, vec![first, second]);
    // Its marker again (a lost answer): the transaction is over, so the
    // retry at the producer's epoch is accepted (KAFKA-19999)...
    assert_eq!(write_marker_v2(&mut conn, (pid, last, true), 2), NONE);
    // ...but an older epoch is not, at any transaction version.
    assert_eq!(
        write_marker_v2(&mut conn, (pid, next, true), 2),
        INVALID_PRODUCER_EPOCH
    );
    assert_eq!(
        write_marker_v2(&mut conn, (pid, next, true), 1),
        INVALID_PRODUCER_EPOCH
    );
}
