//! Eligible leader replicas (KIP-966) on a real cluster: one dedicated
//! controller (node 1) and three brokers (nodes 2-4), a new cluster (so ELR
//! is on, as in Kafka 4.4), an RF=3 topic with min.insync.replicas=2.
//! Brokers stop cleanly (SIGTERM: controlled shutdown, clean shutdown
//! marker) or are killed (-9); DescribeTopicPartitions shows the ELR and
//! last known ELR as the controller changes them, and only a returning ELR
//! member that shut down cleanly leads the partition again.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use gregor_protocol::error_codes::NONE;
use kafka_protocol::messages::create_topics_request::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig,
};
use kafka_protocol::messages::describe_topic_partitions_request::TopicRequest;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, BrokerId, CreateTopicsRequest, DescribeTopicPartitionsRequest,
    RequestKind, ResponseKind,
};
use kafka_protocol::protocol::StrBytes;
use support::cluster::{controller_and_brokers_specs, eventually, metadata, ProcessCluster};
use support::{topic_name, Connection};

/// A controller (1), the partition's three replicas (2, 3, 4) and broker 5,
/// which holds no replica and stays up to be asked while the others come and go.
fn start() -> ProcessCluster {
    let specs = controller_and_brokers_specs(4);
    let cluster = ProcessCluster::start(
        specs,
        &[
            "broker.session.timeout.ms=2000",
            "broker.heartbeat.interval.ms=200",
        ],
    );
    eventually(30, "every broker registered", || {
        let response = metadata(&mut cluster.connect(1), None);
        (response.brokers.len() == 4).then_some(())
    });
    cluster
}

/// The index of broker `id` in the cluster.
fn index(id: i32) -> usize {
    id as usize - 1
}

fn create(conn: &mut Connection, topic: &str) {
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(15000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(topic_name(topic))
            .with_num_partitions(-1)
            .with_replication_factor(-1)
            .with_assignments(vec![CreatableReplicaAssignment::default()
                .with_partition_index(0)
                .with_broker_ids(vec![BrokerId(2), BrokerId(3), BrokerId(4)])])
            .with_configs(vec![CreatableTopicConfig::default()
                .with_name(StrBytes::from_static_str("min.insync.replicas"))
                .with_value(Some(StrBytes::from_static_str("2")))])]);
    let ResponseKind::CreateTopics(response) =
        conn.request(ApiKey::CreateTopics, 7, RequestKind::CreateTopics(request))
    else {
        panic!("wrong response type")
    };
    assert_eq!(response.topics[0].error_code, NONE, "{response:?}");
}

/// (leader, ISR, ELR, last known ELR) of partition 0, as DescribeTopicPartitions
/// through broker `via` shows it.
type State = (i32, Vec<i32>, Vec<i32>, Vec<i32>);

fn describe(cluster: &ProcessCluster, via: usize, topic: &str) -> Option<State> {
    let request = DescribeTopicPartitionsRequest::default()
        .with_topics(vec![TopicRequest::default().with_name(topic_name(topic))])
        .with_response_partition_limit(10);
    let ResponseKind::DescribeTopicPartitions(response) = cluster.connect(via).request(
        ApiKey::DescribeTopicPartitions,
        0,
        RequestKind::DescribeTopicPartitions(request),
    ) else {
        panic!("wrong response type")
    };
    let p = response.topics.first()?.partitions.first()?;
    let ids = |v: &Option<Vec<BrokerId>>| -> Vec<i32> { v.iter().flatten().map(|b| b.0).collect() };
    let mut isr: Vec<i32> = p.isr_nodes.iter().map(|b| b.0).collect();
    // Members rejoin in whatever order they catch up.
    isr.sort_unstable();
    Some((
        p.leader_id.0,
        isr,
        ids(&p.eligible_leader_replicas),
        ids(&p.last_known_elr),
    ))
}

fn wait_state(cluster: &ProcessCluster, via: usize, topic: &str, want: State) {
    let mut last = None;
    let found = (0..200).any(|_| {
        last = describe(cluster, via, topic);
        let done = last.as_ref() == Some(&want);
        if !done {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        done
    });
    let logs: Vec<String> = (0..cluster.nodes.len())
        .map(|i| {
            cluster
                .log(i)
                .lines()
                .filter(|l| l.contains("regist") || l.contains("shutdown"))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect();
    assert!(
        found,
        "waited for {want:?}, last saw {last:?}\n{}",
        logs.join("\n---\n")
    );
}

/// SIGTERM: the broker's controlled shutdown, then its exit.
fn stop_cleanly(cluster: &mut ProcessCluster, i: usize) {
    cluster.signal(i, "TERM");
    let child = cluster.nodes[i].child.as_mut().unwrap();
    let status = eventually(30, "the broker to exit", || child.try_wait().unwrap());
    assert!(status.success(), "{status}");
    cluster.nodes[i].child = None;
    assert!(
        cluster.nodes[i]
            .dir
            .join("data/.kafka_cleanshutdown")
            .exists(),
        "no clean shutdown marker"
    );
}

fn restart(cluster: &mut ProcessCluster, i: usize) {
    cluster.spawn(i);
    cluster.wait_listening(i);
}

#[test]
fn a_returning_elr_member_leads_once_the_isr_is_gone() {
    let mut cluster = start();
    let conn = &mut cluster.connect(index(2));
    // A new cluster finalizes eligible.leader.replicas.version=1.
    let ResponseKind::ApiVersions(versions) = conn.request(
        ApiKey::ApiVersions,
        3,
        RequestKind::ApiVersions(ApiVersionsRequest::default()),
    ) else {
        panic!("wrong response type")
    };
    assert!(
        versions
            .finalized_features
            .iter()
            .any(|f| f.name.as_str() == "eligible.leader.replicas.version"
                && f.max_version_level == 1),
        "{versions:?}"
    );
    create(conn, "elr");
    wait_state(
        &cluster,
        index(2),
        "elr",
        (2, vec![2, 3, 4], vec![], vec![]),
    );

    // 4 leaves: the ISR still holds min.insync.replicas, so no ELR.
    let observer = index(5);
    stop_cleanly(&mut cluster, index(4));
    wait_state(&cluster, observer, "elr", (2, vec![2, 3], vec![], vec![]));
    // 3 leaves: the ISR drops below 2, 3 stays eligible.
    stop_cleanly(&mut cluster, index(3));
    wait_state(&cluster, observer, "elr", (2, vec![2], vec![3], vec![]));
    // The leader dies: the ISR empties, both former members are eligible,
    // nobody eligible is alive, so the partition has no leader.
    cluster.kill(index(2));
    wait_state(&cluster, observer, "elr", (-1, vec![], vec![3, 2], vec![]));
    // 4 is back, cleanly, but was never eligible (it left while the ISR
    // still held min.insync.replicas): it may not lead.
    restart(&mut cluster, index(4));
    std::thread::sleep(std::time::Duration::from_secs(1));
    wait_state(&cluster, observer, "elr", (-1, vec![], vec![3, 2], vec![]));
    // 3 returns after its clean shutdown: an ELR member, it leads; 4 then
    // catches up from it and joins, and with the ISR back at
    // min.insync.replicas the ELR lists are cleared.
    restart(&mut cluster, index(3));
    wait_state(&cluster, observer, "elr", (3, vec![3, 4], vec![], vec![]));
    // 2 returns after a crash and rejoins once caught up.
    restart(&mut cluster, index(2));
    wait_state(
        &cluster,
        observer,
        "elr",
        (3, vec![2, 3, 4], vec![], vec![]),
    );
}
