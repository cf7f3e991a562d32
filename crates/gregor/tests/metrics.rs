//! `/metrics` and `/ready` on the admin endpoint of real broker processes:
//! real produce, fetch and admin requests over TCP, then the scraped
//! counters checked against what was sent.

// An integration test: unwrapping is how a failed step fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use bytes::Bytes;
use gregor_protocol::compression::Compression;
use gregor_protocol::error_codes::{MESSAGE_TOO_LARGE, NONE, UNKNOWN_TOPIC_OR_PARTITION};
use gregor_protocol::records::BatchBuilder;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use std::time::{Duration, Instant};
use support::cluster::{
    combined_specs, controller_and_brokers_specs, eventually, metadata, ProcessCluster,
};
use support::{create_topic, free_port, topic_name, Connection, TestBroker};

/// `(status, body)` of `method path` on the admin endpoint.
fn http(port: u16, method: &str, path: &str) -> (u16, String) {
    let answer = support::http::request(port, method, path, &[], "");
    (answer.status, answer.body)
}

fn scrape(port: u16) -> String {
    let (status, body) = http(port, "GET", "/metrics");
    assert_eq!(status, 200, "{body}");
    assert!(body.ends_with("# EOF\n"), "{body}");
    body
}

/// The value of the sample named exactly `series` (name and labels).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.trim().parse().unwrap())
}

fn get(text: &str, series: &str) -> f64 {
    value(text, series).unwrap_or_else(|| panic!("{series} missing from\n{text}"))
}

/// One uncompressed batch of `values`.
fn batch(values: &[&str]) -> Bytes {
    let mut builder = BatchBuilder::new(Compression::None);
    for v in values {
        builder.push(
            1_700_000_000_000,
            None,
            Some(Bytes::from(v.to_string())),
            vec![],
        );
    }
    builder.build().unwrap().freeze()
}

/// Produce v9 with acks=1; the partition's error code.
fn produce(conn: &mut Connection, topic: &str, records: Bytes) -> i16 {
    produce_acks(conn, topic, records, 1)
}

fn produce_acks(conn: &mut Connection, topic: &str, records: Bytes, acks: i16) -> i16 {
    let request = ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(topic_name(topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(records))])]);
    let ResponseKind::Produce(response) =
        conn.request(ApiKey::Produce, 9, RequestKind::Produce(request))
    else {
        panic!("wrong response type to Produce")
    };
    response.responses[0].partition_responses[0].error_code
}

/// Fetch v12 of partition 0 from offset 0 as a consumer: the records' bytes.
fn fetch(conn: &mut Connection, topic: &str) -> usize {
    let request = FetchRequest::default()
        .with_replica_id((-1).into())
        .with_max_wait_ms(0)
        .with_min_bytes(1)
        .with_max_bytes(50 * 1024 * 1024)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(topic_name(topic))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_partition_max_bytes(1024 * 1024)])]);
    let ResponseKind::Fetch(response) =
        conn.request(ApiKey::Fetch, 12, RequestKind::Fetch(request))
    else {
        panic!("wrong response type to Fetch")
    };
    let partition = &response.responses[0].partitions[0];
    assert_eq!(partition.error_code, NONE);
    partition.records.as_ref().map_or(0, |r| r.len())
}

fn delete_topic(conn: &mut Connection, topic: &str) {
    let request = DeleteTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topic_names(vec![topic_name(topic)]);
    let ResponseKind::DeleteTopics(response) =
        conn.request(ApiKey::DeleteTopics, 5, RequestKind::DeleteTopics(request))
    else {
        panic!("wrong response type to DeleteTopics")
    };
    assert_eq!(response.responses[0].error_code, NONE);
}

#[test]
fn request_and_topic_metrics_follow_real_traffic() {
    let admin = free_port();
    let broker = TestBroker::start(&[&format!("gregor.admin.listener=127.0.0.1:{admin}")]);
    let mut conn = broker.connect();
    create_topic(&mut conn, "orders", 1);
    create_topic(&mut conn, "other", 1);
    let before = scrape(admin);
    assert_eq!(
        value(
            &before,
            r#"kafka_server_brokertopicmetrics_bytesin_total{topic="orders"}"#
        ),
        None,
        "no series before the topic's first request"
    );

    let batches = [
        batch(&["a", "bb", "ccc"]),
        batch(&["dddd", "eeeee"]),
        batch(&["f"]),
    ];
    let produced: usize = batches.iter().map(Bytes::len).sum();
    for b in &batches {
        assert_eq!(produce(&mut conn, "orders", b.clone()), NONE);
    }
    assert_eq!(produce(&mut conn, "other", batch(&["x"])), NONE);
    // A request failing with a partition error is counted under its name.
    assert_eq!(
        produce(&mut conn, "missing", batch(&["y"])),
        UNKNOWN_TOPIC_OR_PARTITION
    );
    // Over max.message.bytes (1 MiB by default): rejected bytes.
    let big = "z".repeat(1_100_000);
    let too_large = batch(&[big.as_str()]);
    assert_eq!(
        produce(&mut conn, "other", too_large.clone()),
        MESSAGE_TOO_LARGE
    );
    let fetched = fetch(&mut conn, "orders");
    assert_eq!(fetched, produced, "the fetch returns the three batches");

    let text = scrape(admin);
    // BrokerTopicMetrics, per topic and for all topics.
    let orders = |name: &str| {
        get(
            &text,
            &format!(r#"kafka_server_brokertopicmetrics_{name}_total{{topic="orders"}}"#),
        )
    };
    let all = |name: &str| {
        get(
            &text,
            &format!("kafka_server_brokertopicmetrics_{name}_total"),
        )
    };
    assert_eq!(orders("messagesin"), 6.0);
    assert_eq!(orders("bytesin"), produced as f64);
    assert!(orders("bytesin") >= 15.0, "at least the values' bytes");
    assert_eq!(orders("totalproducerequests"), 3.0);
    assert_eq!(orders("bytesout"), fetched as f64);
    assert_eq!(orders("totalfetchrequests"), 1.0);
    assert_eq!(orders("failedproducerequests"), 0.0);
    assert_eq!(all("messagesin"), 7.0);
    assert_eq!(all("bytesrejected"), too_large.len() as f64);
    assert_eq!(
        get(
            &text,
            r#"kafka_server_brokertopicmetrics_bytesrejected_total{topic="other"}"#
        ),
        too_large.len() as f64
    );
    assert_eq!(
        all("totalproducerequests"),
        5.0,
        "the unknown topic's is not counted"
    );
    assert_eq!(all("replicationbytesout"), 0.0, "no follower fetched");
    assert_eq!(
        value(
            &text,
            r#"kafka_server_brokertopicmetrics_bytesin_total{topic="missing"}"#
        ),
        None
    );

    // RequestMetrics.
    assert_eq!(
        get(
            &text,
            r#"kafka_network_requestmetrics_requests_total{request="Produce",version="9"}"#
        ),
        6.0
    );
    assert_eq!(
        get(
            &text,
            r#"kafka_network_requestmetrics_requests_total{request="Fetch",version="12"}"#
        ),
        1.0
    );
    assert_eq!(
        get(
            &text,
            r#"kafka_network_requestmetrics_requests_total{request="FetchConsumer",version="12"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            r#"kafka_network_requestmetrics_requests_total{request="FetchFollower",version="12"}"#
        ),
        None
    );
    assert_eq!(
        get(
            &text,
            r#"kafka_network_requestmetrics_requests_total{request="CreateTopics",version="7"}"#
        ),
        2.0
    );
    assert_eq!(
        get(
            &text,
            r#"kafka_network_requestmetrics_errors_total{request="Produce",error="NONE"}"#
        ),
        4.0
    );
    assert_eq!(
        get(
            &text,
            r#"kafka_network_requestmetrics_errors_total{request="Produce",error="UNKNOWN_TOPIC_OR_PARTITION"}"#
        ),
        1.0
    );
    assert_eq!(
        get(
            &text,
            r#"kafka_network_requestmetrics_errors_total{request="Produce",error="MESSAGE_TOO_LARGE"}"#
        ),
        1.0
    );
    assert_eq!(
        get(
            &text,
            r#"kafka_network_requestmetrics_totaltimems_count{request="Produce"}"#
        ),
        6.0
    );
    for quantile in ["0.50", "0.75", "0.95", "0.98", "0.99", "0.999"] {
        for part in [
            "totaltimems",
            "requestqueuetimems",
            "localtimems",
            "remotetimems",
            "responsesendtimems",
        ] {
            let v = get(
                &text,
                &format!(
                    r#"kafka_network_requestmetrics_{part}{{request="Produce",quantile="{quantile}"}}"#
                ),
            );
            assert!((0.0..10_000.0).contains(&v), "{part} {quantile}: {v}");
        }
    }
    assert_eq!(
        get(
            &text,
            r#"gregor_request_duration_seconds_count{api="Produce"}"#
        ),
        6.0
    );
    assert_eq!(
        get(
            &text,
            r#"gregor_request_duration_seconds_bucket{le="60.0",api="Produce"}"#
        ),
        6.0
    );
    for idle in [
        "kafka_network_socketserver_networkprocessoravgidle_percent",
        "kafka_server_kafkarequesthandlerpool_requesthandleravgidle_percent",
    ] {
        let v = get(&text, idle);
        assert!((0.0..=1.0).contains(&v), "{idle}: {v}");
    }

    // Counters only grow.
    produce(&mut conn, "orders", batch(&["g"]));
    let later = scrape(admin);
    assert_eq!(
        get(
            &later,
            r#"kafka_server_brokertopicmetrics_messagesin_total{topic="orders"}"#
        ),
        7.0
    );

    // A deleted topic's series go; the all-topics ones stay.
    delete_topic(&mut conn, "orders");
    let gone = eventually(10, "orders' series removed", || {
        let text = scrape(admin);
        (!text.contains(r#"topic="orders""#)).then_some(text)
    });
    assert_eq!(
        get(&gone, "kafka_server_brokertopicmetrics_messagesin_total"),
        8.0
    );
    assert!(gone.contains(r#"topic="other""#));

    // /ready, /health, and bad input.
    assert_eq!(http(admin, "GET", "/ready"), (200, "ready\n".to_string()));
    assert_eq!(http(admin, "GET", "/health").0, 200);
    assert_eq!(http(admin, "GET", "/nope").0, 404);
    assert_eq!(http(admin, "GET", "/metrics/extra").0, 404);
    assert_eq!(http(admin, "POST", "/metrics").0, 405);
    assert_eq!(http(admin, "DELETE", "/ready").0, 405);
    assert_eq!(http(admin, "GET", "/metrics?x=%zz").0, 200);
    // Still serving after all that.
    assert_eq!(produce(&mut conn, "other", batch(&["h"])), NONE);
}

#[test]
fn health_answers_and_ready_says_recovering_during_log_recovery() {
    let admin = free_port();
    let listener = format!("gregor.admin.listener=127.0.0.1:{admin}");
    let mut broker = TestBroker::start(&[&listener]);
    let mut conn = broker.connect();
    create_topic(&mut conn, "kept", 1);
    assert_eq!(produce(&mut conn, "kept", batch(&["a", "b"])), NONE);
    // An unclean stop: the next start recovers the logs, stretched here
    // by the test hook as a large log would.
    broker.kill();
    broker.launch(&[("GREGOR_TEST_RECOVERY_DELAY_MS", "6000")]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", admin)).is_err() {
        assert!(
            Instant::now() < deadline,
            "admin endpoint not bound: {}",
            broker.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(http(admin, "GET", "/health"), (200, "ok\n".to_string()));
    assert_eq!(
        http(admin, "GET", "/ready"),
        (503, "recovering logs\n".to_string())
    );
    // Paths needing the broker say why they cannot answer yet.
    assert_eq!(
        http(admin, "GET", "/metrics"),
        (503, "recovering logs\n".to_string())
    );
    assert!(
        !broker.log().contains("gregor broker started"),
        "recovery was over before the checks: {}",
        broker.log()
    );
    broker.wait_started();
    eventually(20, "/ready 200 after recovery", || {
        (http(admin, "GET", "/ready") == (200, "ready\n".to_string())).then_some(())
    });
    assert_eq!(http(admin, "GET", "/health").0, 200);
    assert!(scrape(admin).contains(r#"topic="kept""#));
}

#[test]
fn ready_turns_503_when_the_controller_stops_answering() {
    let admin = free_port();
    let mut specs = controller_and_brokers_specs(1);
    specs[1]
        .properties
        .push_str(&format!("gregor.admin.listener=127.0.0.1:{admin}\n"));
    let mut cluster = ProcessCluster::start(
        specs,
        &[
            "broker.session.timeout.ms=2000",
            "broker.heartbeat.interval.ms=200",
        ],
    );
    eventually(20, "/ready 200", || {
        (http(admin, "GET", "/ready") == (200, "ready\n".to_string())).then_some(())
    });
    cluster.kill(0);
    let started = Instant::now();
    let (status, reason) = eventually(20, "/ready 503", || {
        let (status, body) = http(admin, "GET", "/ready");
        (status == 503).then_some((status, body))
    });
    assert_eq!(status, 503);
    assert!(
        reason.starts_with("no heartbeat answered by the controller for "),
        "{reason}"
    );
    assert_eq!(reason.lines().count(), 1, "{reason}");
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "not before the session timeout"
    );
    // /health still answers: the process is alive.
    assert_eq!(http(admin, "GET", "/health").0, 200);
    // The controller back: ready again.
    cluster.spawn(0);
    eventually(30, "/ready 200 again", || {
        (http(admin, "GET", "/ready").0 == 200).then_some(())
    });
}

#[test]
fn follower_fetches_count_as_replication_not_bytes_out() {
    let admin = [free_port(), free_port()];
    let specs = combined_specs(2, |i| {
        format!("gregor.admin.listener=127.0.0.1:{}\n", admin[i])
    });
    let cluster = ProcessCluster::start(specs, &[]);
    let mut conn = cluster.connect(0);
    let (code, _) = support::cluster::create_topic(&mut conn, "replicated", 1, 2);
    assert_eq!(code, NONE);
    let leader = eventually(20, "a leader with both replicas in sync", || {
        let response = metadata(&mut conn, Some(&["replicated"]));
        let partition = response.topics.first()?.partitions.first()?;
        (partition.leader_id.0 > 0 && partition.isr_nodes.len() == 2)
            .then_some(partition.leader_id.0 as usize - 1)
    });
    let follower = 1 - leader;
    let records = batch(&["one", "two", "three"]);
    let mut to_leader = cluster.connect(leader);
    assert_eq!(
        produce_acks(&mut to_leader, "replicated", records.clone(), -1),
        NONE
    );

    // acks=all answered: the follower has the batch.
    let on_leader = eventually(10, "replication bytes out on the leader", || {
        let text = scrape(admin[leader]);
        (get(
            &text,
            "kafka_server_brokertopicmetrics_replicationbytesout_total",
        ) >= records.len() as f64)
            .then_some(text)
    });
    assert_eq!(
        get(
            &on_leader,
            r#"kafka_server_brokertopicmetrics_bytesin_total{topic="replicated"}"#
        ),
        records.len() as f64
    );
    assert_eq!(
        get(
            &on_leader,
            r#"kafka_server_brokertopicmetrics_bytesout_total{topic="replicated"}"#
        ),
        0.0,
        "follower fetches are not BytesOut"
    );
    assert!(
        on_leader.lines().any(|l| l
            .starts_with(r#"kafka_network_requestmetrics_requests_total{request="FetchFollower""#)),
        "{on_leader}"
    );
    let on_follower = scrape(admin[follower]);
    assert!(
        get(
            &on_follower,
            "kafka_server_brokertopicmetrics_replicationbytesin_total"
        ) >= records.len() as f64,
        "{on_follower}"
    );
    assert_eq!(
        value(
            &on_follower,
            r#"kafka_server_brokertopicmetrics_bytesin_total{topic="replicated"}"#
        ),
        None,
        "replicated bytes are not BytesIn"
    );
}
