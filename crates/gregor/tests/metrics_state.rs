//! The metrics read from broker and controller state, scraped from real
//! `gregor server` processes: consumer lag (offsets and seconds) after real
//! commits, series of deleted groups and topics gone, under-replicated
//! partitions in a 3-node cluster with one node paused and resumed, the
//! controller counts summing to one active controller (dedicated
//! controllers serve /metrics too).

// An integration test: unwrapping is how a failed step fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use gregor_protocol::error_codes::NONE;
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::{
    ApiKey, DeleteGroupsRequest, DeleteTopicsRequest, GroupId, OffsetCommitRequest, RequestKind,
    ResponseKind,
};
use kafka_protocol::protocol::StrBytes;
use support::cluster::{
    broker_ids, combined_specs_with_admin, controller_and_brokers_specs, create_topic as create_rf,
    eventually, metadata, ProcessCluster,
};
use support::scrape::{any_with_label, sample, samples, scrape};
use support::{
    create_topic, free_port, produce_values, topic_name, wait_for_group_coordinator, Connection,
    TestBroker,
};

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_string())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A commit outside any generation, as an admin tool or a consumer using
/// `assign` makes.
fn commit(conn: &mut Connection, group: &str, topic: &str, offset: i64) {
    let request = OffsetCommitRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_member_id(s(""))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(vec![OffsetCommitRequestPartition::default()
                .with_partition_index(0)
                .with_committed_offset(offset)])]);
    let ResponseKind::OffsetCommit(r) =
        conn.request(ApiKey::OffsetCommit, 8, RequestKind::OffsetCommit(request))
    else {
        panic!("wrong response type to OffsetCommit")
    };
    assert_eq!(r.topics[0].partitions[0].error_code, NONE);
}

/// The sample's value, failing the test when it is missing.
fn value(body: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    sample(body, name, labels).unwrap_or_else(|| panic!("no {name}{labels:?} in\n{body}"))
}

/// The sum of one unlabelled metric over every node that answers.
fn cluster_sum(ports: &[u16], name: &str) -> f64 {
    ports
        .iter()
        .filter_map(|port| scrape(*port))
        .map(|body| sample(&body, name, &[]).unwrap_or(0.0))
        .sum()
}

#[test]
fn consumer_lag_in_offsets_and_seconds_and_deleted_series_vanish() {
    let admin = free_port();
    let broker = TestBroker::start(&[&format!("gregor.admin.listener=127.0.0.1:{admin}")]);
    let mut conn = broker.connect();
    create_topic(&mut conn, "lagged", 1);
    // Offsets 0-4 seven seconds older than 5-9.
    let older = now_ms() - 60_000;
    produce_values(
        &mut conn,
        "lagged",
        0,
        older,
        (0..5).map(|i| format!("a{i}")),
    );
    produce_values(
        &mut conn,
        "lagged",
        0,
        older + 7_000,
        (0..5).map(|i| format!("b{i}")),
    );
    wait_for_group_coordinator(&mut conn, "g1");
    commit(&mut conn, "g1", "lagged", 3);

    let body = scrape(admin).unwrap();
    let group = [
        ("consumergroup", "g1"),
        ("topic", "lagged"),
        ("partition", "0"),
    ];
    let partition = [("topic", "lagged"), ("partition", "0")];
    assert_eq!(
        value(&body, "kafka_consumergroup_current_offset", &group),
        3.0
    );
    assert_eq!(value(&body, "kafka_consumergroup_lag", &group), 7.0);
    assert_eq!(
        value(&body, "gregor_consumergroup_lag_seconds", &group),
        7.0
    );
    let per_topic = [("consumergroup", "g1"), ("topic", "lagged")];
    assert_eq!(value(&body, "kafka_consumergroup_lag_sum", &per_topic), 7.0);
    assert_eq!(
        value(&body, "kafka_consumergroup_current_offset_sum", &per_topic),
        3.0
    );
    assert_eq!(
        value(
            &body,
            "kafka_consumergroup_members",
            &[("consumergroup", "g1")]
        ),
        0.0
    );
    assert_eq!(
        value(&body, "kafka_topic_partition_current_offset", &partition),
        10.0
    );
    assert_eq!(
        value(&body, "kafka_topic_partition_oldest_offset", &partition),
        0.0
    );
    assert_eq!(
        value(&body, "kafka_topic_partition_leader", &partition),
        1.0
    );
    assert_eq!(
        value(&body, "kafka_topic_partition_replicas", &partition),
        1.0
    );
    assert_eq!(
        value(&body, "kafka_topic_partition_in_sync_replica", &partition),
        1.0
    );
    assert_eq!(
        value(
            &body,
            "kafka_topic_partition_under_replicated_partition",
            &partition
        ),
        0.0
    );
    assert_eq!(
        value(&body, "kafka_topic_partitions", &[("topic", "lagged")]),
        1.0
    );
    assert_eq!(value(&body, "kafka_brokers", &[]), 1.0);
    let address = broker.addr.to_string();
    let info = [("id", "1"), ("address", address.as_str())];
    assert_eq!(value(&body, "kafka_broker_info", &info), 1.0);
    assert_eq!(value(&body, "kafka_log_log_logendoffset", &partition), 10.0);
    assert_eq!(
        value(&body, "kafka_log_log_logstartoffset", &partition),
        0.0
    );
    assert_eq!(
        value(&body, "kafka_log_log_numlogsegments", &partition),
        1.0
    );
    assert!(value(&body, "kafka_log_log_size", &partition) > 0.0);
    assert_eq!(
        value(&body, "kafka_cluster_partition_underreplicated", &partition),
        0.0
    );
    assert_eq!(
        value(
            &body,
            "kafka_cluster_partition_insyncreplicascount",
            &partition
        ),
        1.0
    );
    // The topic and __consumer_offsets, all led here and in sync.
    let hosted = value(&body, "kafka_server_replicamanager_partitioncount", &[]);
    assert!(hosted >= 2.0, "{body}");
    assert_eq!(
        value(&body, "kafka_server_replicamanager_leadercount", &[]),
        hosted
    );
    assert_eq!(
        value(
            &body,
            "kafka_server_replicamanager_underreplicatedpartitions",
            &[]
        ),
        0.0
    );
    assert_eq!(
        value(
            &body,
            "kafka_server_replicamanager_underminisrpartitioncount",
            &[]
        ),
        0.0
    );
    assert_eq!(
        value(
            &body,
            "kafka_server_replicamanager_atminisrpartitioncount",
            &[]
        ),
        hosted
    );
    assert_eq!(
        value(&body, "kafka_server_replicamanager_isrshrinks_total", &[]),
        0.0
    );
    assert_eq!(
        value(&body, "kafka_log_logmanager_offlinelogdirectorycount", &[]),
        0.0
    );
    assert_eq!(
        value(
            &body,
            "kafka_controller_kafkacontroller_activecontrollercount",
            &[]
        ),
        1.0
    );
    assert_eq!(
        value(
            &body,
            "kafka_controller_kafkacontroller_globaltopiccount",
            &[]
        ),
        2.0
    );
    assert_eq!(
        value(
            &body,
            "kafka_controller_kafkacontroller_globalpartitioncount",
            &[]
        ),
        hosted
    );
    assert_eq!(
        value(
            &body,
            "kafka_controller_kafkacontroller_offlinepartitionscount",
            &[]
        ),
        0.0
    );
    assert_eq!(
        value(
            &body,
            "kafka_controller_kafkacontroller_activebrokercount",
            &[]
        ),
        1.0
    );
    assert_eq!(
        value(
            &body,
            "kafka_controller_kafkacontroller_fencedbrokercount",
            &[]
        ),
        0.0
    );
    assert_dashboard_names_scraped(&body);

    // More records: the lag grows with the high watermark.
    produce_values(&mut conn, "lagged", 0, older + 9_000, ["c0", "c1"]);
    let body = scrape(admin).unwrap();
    assert_eq!(value(&body, "kafka_consumergroup_lag", &group), 9.0);
    assert_eq!(
        value(&body, "gregor_consumergroup_lag_seconds", &group),
        9.0
    );

    // Caught up: no lag either way.
    commit(&mut conn, "g1", "lagged", 12);
    let body = scrape(admin).unwrap();
    assert_eq!(value(&body, "kafka_consumergroup_lag", &group), 0.0);
    assert_eq!(
        value(&body, "gregor_consumergroup_lag_seconds", &group),
        0.0
    );

    let request = DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s("g1"))]);
    let ResponseKind::DeleteGroups(r) =
        conn.request(ApiKey::DeleteGroups, 2, RequestKind::DeleteGroups(request))
    else {
        panic!("wrong response type to DeleteGroups")
    };
    assert_eq!(r.results[0].error_code, NONE);
    let body = scrape(admin).unwrap();
    assert!(!any_with_label(&body, "consumergroup", "g1"), "{body}");
    assert!(any_with_label(&body, "topic", "lagged"));

    let request = DeleteTopicsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(vec![
            DeleteTopicState::default().with_name(Some(topic_name("lagged")))
        ]);
    let ResponseKind::DeleteTopics(r) =
        conn.request(ApiKey::DeleteTopics, 6, RequestKind::DeleteTopics(request))
    else {
        panic!("wrong response type to DeleteTopics")
    };
    assert_eq!(r.responses[0].error_code, NONE);
    eventually(10, "the deleted topic's series gone", || {
        let body = scrape(admin).unwrap();
        (!any_with_label(&body, "topic", "lagged")).then_some(())
    });
    let body = scrape(admin).unwrap();
    assert_eq!(
        value(
            &body,
            "kafka_controller_kafkacontroller_globaltopiccount",
            &[]
        ),
        1.0
    );
}

#[test]
fn under_replicated_partitions_rise_with_a_node_paused_and_fall_back() {
    let (specs, admin) = combined_specs_with_admin(3);
    let cluster = ProcessCluster::start(
        specs,
        &[
            "broker.session.timeout.ms=3000",
            "broker.heartbeat.interval.ms=300",
            "replica.lag.time.max.ms=1500",
            "replica.fetch.backoff.ms=200",
        ],
    );
    for i in 0..3 {
        eventually(20, "every broker registered", || {
            (broker_ids(&metadata(&mut cluster.connect(i), None)).len() == 3).then_some(())
        });
    }
    let (error, _) = create_rf(&mut cluster.connect(0), "urp", 1, 3);
    assert_eq!(error, NONE);
    let partition = [("topic", "urp"), ("partition", "0")];
    let leader = eventually(20, "a leader with every replica in sync", || {
        let body = scrape(admin[0])?;
        let leader = sample(&body, "kafka_topic_partition_leader", &partition).or_else(|| {
            admin[1..]
                .iter()
                .filter_map(|p| scrape(*p))
                .find_map(|b| sample(&b, "kafka_topic_partition_leader", &partition))
        })?;
        (cluster_sum(
            &admin,
            "kafka_server_replicamanager_underreplicatedpartitions",
        ) == 0.0)
            .then_some(leader as usize - 1)
    });
    assert_eq!(
        cluster_sum(
            &admin,
            "kafka_controller_kafkacontroller_activecontrollercount"
        ),
        1.0
    );
    // Only the active controller reports the cluster's counts.
    assert_eq!(
        cluster_sum(&admin, "kafka_controller_kafkacontroller_globaltopiccount"),
        1.0
    );
    assert_eq!(
        cluster_sum(&admin, "kafka_controller_kafkacontroller_activebrokercount"),
        3.0
    );

    // Pause a node that neither leads the partition nor the quorum: its
    // connections stay open, so the leader shrinks the ISR once the
    // follower lags (replica.lag.time.max.ms), before the controller
    // fences it (a closed connection would have it fenced and dropped from
    // the ISR by the controller at once, which is no leader's shrink).
    let controller = cluster.leader(leader).unwrap() as usize - 1;
    let down = (0..3).find(|i| *i != leader && *i != controller).unwrap();
    cluster.signal(down, "STOP");
    // A follower at the leader's log end stays in sync however long it is
    // silent (as in Kafka): the leader's log must move on without it.
    produce_values(&mut cluster.connect(leader), "urp", 0, now_ms(), ["x", "y"]);
    eventually(30, "the partition under-replicated", || {
        let body = scrape(admin[leader])?;
        (value(
            &body,
            "kafka_server_replicamanager_underreplicatedpartitions",
            &[],
        ) == 1.0
            && value(
                &body,
                "kafka_topic_partition_under_replicated_partition",
                &partition,
            ) == 1.0
            && value(&body, "kafka_topic_partition_in_sync_replica", &partition) == 2.0
            && value(&body, "kafka_cluster_partition_underreplicated", &partition) == 1.0)
            .then_some(())
    });
    eventually(30, "the stopped broker fenced", || {
        (cluster_sum(&admin, "kafka_controller_kafkacontroller_fencedbrokercount") == 1.0)
            .then_some(())
    });
    assert_eq!(
        cluster_sum(
            &admin,
            "kafka_server_replicamanager_underreplicatedpartitions"
        ),
        1.0
    );
    let body = scrape(admin[leader]).unwrap();
    assert!(
        value(&body, "kafka_server_replicamanager_isrshrinks_total", &[]) >= 1.0,
        "{body}"
    );

    cluster.signal(down, "CONT");
    eventually(30, "the partition in sync again", || {
        (cluster_sum(
            &admin,
            "kafka_server_replicamanager_underreplicatedpartitions",
        ) == 0.0
            && cluster_sum(&admin, "kafka_controller_kafkacontroller_fencedbrokercount") == 0.0)
            .then_some(())
    });
    let body = scrape(admin[leader]).unwrap();
    assert!(
        value(&body, "kafka_server_replicamanager_isrexpands_total", &[]) >= 1.0,
        "{body}"
    );
    assert_eq!(
        cluster_sum(
            &admin,
            "kafka_controller_kafkacontroller_activecontrollercount"
        ),
        1.0
    );
}

#[test]
fn a_dedicated_controller_serves_the_controller_metrics() {
    let mut specs = controller_and_brokers_specs(1);
    let admin: Vec<u16> = specs.iter().map(|_| free_port()).collect();
    for (spec, port) in specs.iter_mut().zip(&admin) {
        spec.properties
            .push_str(&format!("gregor.admin.listener=127.0.0.1:{port}\n"));
    }
    let cluster = ProcessCluster::start(specs, &[]);
    let (error, _) = create_rf(&mut cluster.connect(1), "on-broker", 2, 1);
    assert_eq!(error, NONE);
    let controller = scrape(admin[0]).unwrap();
    assert_eq!(
        value(
            &controller,
            "kafka_controller_kafkacontroller_activecontrollercount",
            &[]
        ),
        1.0
    );
    assert_eq!(
        value(
            &controller,
            "kafka_controller_kafkacontroller_globalpartitioncount",
            &[]
        ),
        2.0
    );
    assert_eq!(
        value(
            &controller,
            "kafka_controller_kafkacontroller_activebrokercount",
            &[]
        ),
        1.0
    );
    // It hosts no partitions: no broker families.
    assert!(samples(&controller, "kafka_server_replicamanager_partitioncount").is_empty());
    let broker = scrape(admin[1]).unwrap();
    assert_eq!(
        value(
            &broker,
            "kafka_controller_kafkacontroller_activecontrollercount",
            &[]
        ),
        0.0
    );
    assert_eq!(
        value(
            &broker,
            "kafka_controller_kafkacontroller_globalpartitioncount",
            &[]
        ),
        0.0
    );
    assert_eq!(
        value(&broker, "kafka_server_replicamanager_leadercount", &[]),
        2.0
    );
}

/// A file of the repository.
fn repo_file(path: &str) -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::fs::read_to_string(root.join(path)).unwrap()
}

/// Every metric name the dashboard's queries use (the identifiers starting
/// with `kafka_` or `gregor_`).
fn dashboard_metric_names() -> Vec<String> {
    let dashboard: serde_json::Value =
        serde_json::from_str(&repo_file("deploy/grafana/gregor-overview.json")).unwrap();
    let mut names = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            let identifiers =
                expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'));
            names.extend(
                identifiers
                    .filter(|t| t.starts_with("kafka_") || t.starts_with("gregor_"))
                    .map(str::to_string),
            );
        }
    }
    names.sort();
    names.dedup();
    names
}

/// The request and topic families another part of the work documents
/// (docs/metrics.md "## Request and topic metrics").
fn is_request_or_topic_family(name: &str) -> bool {
    name.starts_with("kafka_network_requestmetrics_")
        || name.starts_with("kafka_server_brokertopicmetrics_")
}

/// Whether docs/metrics.md names `name`: literally, or as one `<name>` of
/// its BrokerTopicMetrics table (`kafka_server_brokertopicmetrics_<name>_total`).
fn documented(docs: &str, name: &str) -> bool {
    if docs.contains(&format!("`{name}")) {
        return true;
    }
    let template = "kafka_server_brokertopicmetrics_<name>_total";
    name.strip_prefix("kafka_server_brokertopicmetrics_")
        .and_then(|rest| rest.strip_suffix("_total"))
        .is_some_and(|part| docs.contains(template) && docs.contains(&format!("| `{part}` |")))
}

#[test]
fn every_metric_the_dashboard_uses_is_documented() {
    let docs = repo_file("docs/metrics.md");
    let names = dashboard_metric_names();
    assert!(names.len() > 20, "{names:?}");
    // The request and topic section comes with the hot-path counters; until
    // it is there, their names are checked against this list instead.
    let request_section = docs.contains("## Request and topic metrics");
    let expected_request_names = [
        "kafka_network_requestmetrics_requests_total",
        "kafka_network_requestmetrics_totaltimems",
        "kafka_server_brokertopicmetrics_bytesin_total",
        "kafka_server_brokertopicmetrics_bytesout_total",
        "kafka_server_brokertopicmetrics_messagesin_total",
    ];
    for name in &names {
        if is_request_or_topic_family(name) && !request_section {
            assert!(expected_request_names.contains(&name.as_str()), "{name}");
            continue;
        }
        assert!(documented(&docs, name), "{name} is not in docs/metrics.md");
    }
}

/// The dashboard's names of the families read from state are all in
/// `body` (a scrape of a broker that has a group with committed offsets).
fn assert_dashboard_names_scraped(body: &str) {
    for name in dashboard_metric_names() {
        if is_request_or_topic_family(&name) {
            continue;
        }
        assert!(
            !samples(body, &name).is_empty(),
            "{name} not scraped:\n{body}"
        );
    }
}
