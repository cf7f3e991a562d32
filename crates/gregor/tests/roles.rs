//! Kafka's other deployment shape, with real processes: three dedicated
//! controllers (`process.roles=controller`, the quorum's voters) and two
//! dedicated brokers (`process.roles=broker`, observers of the quorum that
//! register with the active controller and serve clients). Every process is
//! killed when the test ends, even on panic.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use gregor_protocol::error_codes::{INVALID_REPLICA_ASSIGNMENT, NONE, NOT_CONTROLLER};
use kafka_protocol::messages::create_topics_request::{CreatableReplicaAssignment, CreatableTopic};
use kafka_protocol::messages::{
    ApiKey, BrokerId, CreateTopicsRequest, DescribeClusterRequest, DescribeClusterResponse,
    InitProducerIdRequest, ProducerId, RequestKind, ResponseKind,
};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::cluster::{
    broker_ids, consecutive_free_ports, create_topic, eventually, eventually_or_logs, metadata,
    random_cluster_id, NodeSpec, ProcessCluster,
};
use support::{free_port, gregor_bin, topic_name, Connection};

const CONTROLLERS: usize = 3;
const BROKERS: usize = 2;

type Cluster = ProcessCluster;

/// Nodes 1..=3 are controllers, 4 and 5 brokers.
fn start_split(extra: &[&str]) -> Cluster {
    let ports: Vec<u16> = (0..CONTROLLERS + BROKERS).map(|_| free_port()).collect();
    let voters = ports[..CONTROLLERS]
        .iter()
        .enumerate()
        .map(|(i, port)| format!("{}@127.0.0.1:{port}", i + 1))
        .collect::<Vec<_>>()
        .join(",");
    let specs = ports
        .iter()
        .enumerate()
        .map(|(i, port)| {
            let is_controller = i < CONTROLLERS;
            let role = if is_controller {
                // Advertised under another name than the voters list it,
                // so a test can tell a registered endpoint from a voter's.
                format!(
                    "process.roles=controller\nlisteners=CONTROLLER://127.0.0.1:{port}\n\
                     advertised.listeners=CONTROLLER://localhost:{port}\n\
                     listener.security.protocol.map=CONTROLLER:PLAINTEXT\n"
                )
            } else {
                format!(
                    "process.roles=broker\nlisteners=PLAINTEXT://127.0.0.1:{port}\n\
                     advertised.listeners=PLAINTEXT://127.0.0.1:{port}\n\
                     inter.broker.listener.name=PLAINTEXT\n\
                     listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n"
                )
            };
            NodeSpec {
                port: *port,
                properties: format!(
                    "{role}controller.quorum.voters={voters}\ncontroller.listener.names=CONTROLLER\n"
                ),
                is_controller_only: is_controller,
            }
        })
        .collect();
    ProcessCluster::start(specs, extra)
}

/// The index of broker `n` (0 or 1).
fn broker(n: usize) -> usize {
    CONTROLLERS + n
}

fn describe_controllers(conn: &mut Connection) -> DescribeClusterResponse {
    let request = DescribeClusterRequest::default().with_endpoint_type(2);
    let ResponseKind::DescribeCluster(response) = conn.request(
        ApiKey::DescribeCluster,
        1,
        RequestKind::DescribeCluster(request),
    ) else {
        panic!("wrong response type")
    };
    response
}

fn sorted(mut ids: Vec<i32>) -> Vec<i32> {
    ids.sort();
    ids
}

#[test]
fn dedicated_controllers_and_brokers_form_one_cluster() {
    let cluster = start_split(&[]);
    let (b4, b5) = (broker(0), broker(1));
    // Only the brokers are brokers: controllers never register as one.
    for b in [b4, b5] {
        let ids = eventually(20, "both brokers listed", || {
            let ids = broker_ids(&metadata(&mut cluster.connect(b), None));
            (ids == [4, 5]).then_some(ids)
        });
        assert_eq!(ids, [4, 5]);
    }
    // The quorum: the controllers vote, the brokers observe.
    let quorum = eventually(20, "both brokers observing", || {
        let quorum = cluster.quorum(b4)?;
        let observers = sorted(quorum.observers.iter().map(|r| r.replica_id.0).collect());
        (observers == [4, 5]).then_some(quorum)
    });
    let voters = sorted(
        quorum
            .current_voters
            .iter()
            .map(|r| r.replica_id.0)
            .collect(),
    );
    assert_eq!(voters, [1, 2, 3]);
    assert!((1..=3).contains(&quorum.leader_id.0), "{quorum:?}");

    // Created through a broker, which forwards it to the active controller.
    let (code, id) = create_topic(&mut cluster.connect(b4), "dedicated", 4, 2);
    assert_eq!(code, NONE);
    for b in [b4, b5] {
        let response = eventually(20, "the topic on both brokers", || {
            let response = metadata(&mut cluster.connect(b), Some(&["dedicated"]));
            let topic = &response.topics[0];
            (topic.error_code == NONE
                && topic.partitions.len() == 4
                && topic.partitions.iter().all(|p| p.leader_id.0 >= 0))
            .then_some(response)
        });
        let topic = &response.topics[0];
        assert_eq!(topic.topic_id, id, "same topic id on node {}", b + 1);
        for p in &topic.partitions {
            // Partitions live on brokers only.
            assert_eq!(
                sorted(p.replica_nodes.iter().map(|r| r.0).collect()),
                [4, 5]
            );
            assert!([4, 5].contains(&p.leader_id.0), "{p:?}");
        }
    }

    // A controller is no broker: a partition cannot be placed on it.
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(15000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(topic_name("on-a-controller"))
            .with_num_partitions(-1)
            .with_replication_factor(-1)
            .with_assignments(vec![CreatableReplicaAssignment::default()
                .with_partition_index(0)
                .with_broker_ids(vec![BrokerId(1)])])]);
    let ResponseKind::CreateTopics(response) =
        cluster
            .connect(b4)
            .request(ApiKey::CreateTopics, 7, RequestKind::CreateTopics(request))
    else {
        panic!("wrong response type")
    };
    assert_eq!(response.topics[0].error_code, INVALID_REPLICA_ASSIGNMENT);

    // A controller's listener serves admin requests too (Kafka's
    // controller scope), also from a controller that is not active.
    let leader = quorum.leader_id.0;
    let follower = (0..CONTROLLERS).find(|i| *i as i32 + 1 != leader).unwrap();
    let (code, _) = create_topic(&mut cluster.connect(follower), "via-controller", 2, 1);
    assert_eq!(code, NONE);
    eventually(20, "the topic created on a controller", || {
        let response = metadata(&mut cluster.connect(b5), Some(&["via-controller"]));
        (response.topics[0].error_code == NONE).then_some(())
    });

    // DescribeCluster on a controller listener lists the controllers at
    // the endpoints they registered (ControllerRegistration), not at the
    // addresses controller.quorum.voters gives.
    let expected: Vec<(i32, String, i32)> = cluster.nodes[..CONTROLLERS]
        .iter()
        .map(|n| (n.id, "localhost".to_string(), i32::from(n.port)))
        .collect();
    for c in 0..CONTROLLERS {
        assert!(cluster.nodes[c].is_controller_only);
        let response = eventually(20, "every controller registered", || {
            let response = describe_controllers(&mut cluster.connect(c));
            assert_eq!(response.error_code, NONE);
            let mut listed: Vec<(i32, String, i32)> = response
                .brokers
                .iter()
                .map(|b| (b.broker_id.0, b.host.to_string(), b.port))
                .collect();
            listed.sort();
            (listed == expected).then_some(response)
        });
        assert_eq!(response.controller_id.0, leader);
        // It started as a controller and never registered as a broker.
        let log = cluster.log(c);
        assert!(log.contains("gregor controller started"), "{log}");
        assert!(!log.contains("registered with the controller"), "{log}");
    }

    // A producer id comes from a block the active controller hands out.
    let request = InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    let ResponseKind::InitProducerId(response) = cluster.connect(b5).request(
        ApiKey::InitProducerId,
        4,
        RequestKind::InitProducerId(request),
    ) else {
        panic!("wrong response type")
    };
    assert_eq!(response.error_code, NONE, "{}", cluster.log(b5));
    assert!(response.producer_id.0 >= 0);
}

#[test]
fn dedicated_nodes_stop_cleanly() {
    let mut cluster = start_split(&[]);
    let b4 = broker(0);
    let leader = eventually(10, "a leader", || cluster.leader(b4));
    let follower = (0..CONTROLLERS).find(|i| *i as i32 + 1 != leader).unwrap();
    for i in [follower, broker(1)] {
        cluster.signal(i, "TERM");
        let status = eventually(20, "a clean stop", || {
            cluster.nodes[i].child.as_mut().unwrap().try_wait().unwrap()
        });
        assert!(status.success(), "node {}: {}", i + 1, cluster.log(i));
        assert!(
            cluster.log(i).contains("shutdown complete"),
            "{}",
            cluster.log(i)
        );
    }
    // The rest of the cluster carries on: broker 5 left, 4 still serves.
    eventually(20, "the stopped broker to leave", || {
        let response = metadata(&mut cluster.connect(b4), None);
        (broker_ids(&response) == [4]).then_some(())
    });
    let (code, _) = create_topic(&mut cluster.connect(b4), "after-stop", 1, 1);
    assert_eq!(code, NONE);
}

#[test]
fn brokers_follow_a_new_active_controller() {
    let mut cluster = start_split(&[]);
    let b4 = broker(0);
    let (code, before) = create_topic(&mut cluster.connect(b4), "before", 2, 2);
    assert_eq!(code, NONE);
    let old = eventually(10, "a leader", || cluster.leader(b4));
    cluster.kill(old as usize - 1);
    let new = eventually(30, "a new leader", || {
        cluster.leader(b4).filter(|l| *l != old)
    });
    assert!((1..=3).contains(&new) && new != old);
    // Forwarded to the new active controller, and seen by both brokers.
    let after = eventually(30, "a topic created after the failover", || {
        let (code, id) = create_topic(&mut cluster.connect(b4), "after", 2, 2);
        (code == NONE).then_some(id)
    });
    // Both brokers heartbeat the new controller: neither stays fenced. (A
    // broker the new controller did not hear from within its session would
    // be fenced, as in Kafka, and unfenced by its next heartbeat.)
    for b in [broker(0), broker(1)] {
        let response = eventually_or_logs(&cluster, 30, "both topics and brokers", || {
            let response = metadata(&mut cluster.connect(b), Some(&["before", "after"]));
            (response.topics.iter().all(|t| t.error_code == NONE)
                && broker_ids(&response) == [4, 5])
            .then_some(response)
        });
        assert_eq!(response.topics[0].topic_id, before);
        assert_eq!(response.topics[1].topic_id, after);
    }
    // The old controller comes back as a follower; a broker killed and
    // restarted recovers its metadata log and observes the quorum again.
    let old_index = old as usize - 1;
    cluster.spawn(old_index);
    cluster.wait_listening(old_index);
    let b5 = broker(1);
    cluster.kill(b5);
    cluster.spawn(b5);
    cluster.wait_listening(b5);
    let response = eventually(20, "the restarted broker to know both topics", || {
        let response = metadata(&mut cluster.connect(b5), Some(&["before", "after"]));
        response
            .topics
            .iter()
            .all(|t| t.error_code == NONE)
            .then_some(response)
    });
    assert_eq!(response.topics[0].topic_id, before);
    assert_eq!(response.topics[1].topic_id, after);
    eventually(20, "every voter and observer back", || {
        let quorum = cluster.quorum(b4)?;
        let voters = sorted(
            quorum
                .current_voters
                .iter()
                .map(|r| r.replica_id.0)
                .collect(),
        );
        let observers = sorted(quorum.observers.iter().map(|r| r.replica_id.0).collect());
        let old_caught_up = quorum
            .current_voters
            .iter()
            .any(|r| r.replica_id.0 == old && r.log_end_offset == quorum.high_watermark);
        (voters == [1, 2, 3] && observers == [4, 5] && old_caught_up).then_some(())
    });
}

#[test]
fn a_paused_dedicated_broker_is_fenced() {
    let cluster = start_split(&[
        "broker.session.timeout.ms=2000",
        "broker.heartbeat.interval.ms=200",
    ]);
    let (b4, b5) = (broker(0), broker(1));
    let (code, _) = create_topic(&mut cluster.connect(b4), "fenced", 4, 2);
    assert_eq!(code, NONE);
    eventually(20, "broker 5 to lead a partition", || {
        let response = metadata(&mut cluster.connect(b4), Some(&["fenced"]));
        response.topics[0]
            .partitions
            .iter()
            .any(|p| p.leader_id.0 == 5)
            .then_some(())
    });
    cluster.signal(b5, "STOP");
    eventually(20, "the paused broker to be fenced", || {
        let response = metadata(&mut cluster.connect(b4), Some(&["fenced"]));
        let listed = response.brokers.iter().any(|b| b.node_id.0 == 5);
        let leads = response.topics[0]
            .partitions
            .iter()
            .any(|p| p.leader_id.0 == 5);
        (!listed && !leads).then_some(())
    });
    cluster.signal(b5, "CONT");
    eventually(20, "the resumed broker to be listed again", || {
        let response = metadata(&mut cluster.connect(b4), None);
        (broker_ids(&response) == [4, 5]).then_some(())
    });
}

/// Stops a `gregor dev-cluster` (SIGTERM stops its nodes too) on panic.
struct StopOnDrop(u32);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.0.to_string())
            .status();
    }
}

#[test]
fn dev_cluster_runs_dedicated_controllers_and_brokers() {
    let root = tempfile::tempdir().unwrap();
    // Ten consecutive free ports: nodes 1-3 (controllers) use the
    // controller port of their pair, nodes 4-5 (brokers) the client one.
    let base = consecutive_free_ports(10);
    let mut child = Command::new(gregor_bin())
        .args(["dev-cluster", "--controllers", "3", "--brokers", "2"])
        .arg("--base-port")
        .arg(base.to_string())
        .arg("--dir")
        .arg(root.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let guard = StopOnDrop(child.id());
    let brokers = [base + 6, base + 8];
    for port in brokers {
        eventually(30, "a dev-cluster broker to serve", || {
            TcpStream::connect(("127.0.0.1", port)).ok()
        });
    }
    let mut first = Connection::new(TcpStream::connect(("127.0.0.1", brokers[0])).unwrap());
    // Listening is not serving: wait until both brokers are registered.
    eventually(30, "both brokers registered", || {
        (broker_ids(&metadata(&mut first, None)) == [4, 5]).then_some(())
    });
    let (code, id) = create_topic(&mut first, "dev", 2, 2);
    assert_eq!(code, NONE);
    let mut last = Connection::new(TcpStream::connect(("127.0.0.1", brokers[1])).unwrap());
    let response = eventually(20, "the topic on the other broker", || {
        let response = metadata(&mut last, Some(&["dev"]));
        (response.topics[0].error_code == NONE).then_some(response)
    });
    assert_eq!(response.topics[0].topic_id, id);
    assert_eq!(broker_ids(&response), [4, 5]);
    // The controllers serve no clients.
    for port in [base, base + 2, base + 4] {
        assert!(TcpStream::connect(("127.0.0.1", port)).is_err(), "{port}");
    }
    Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "dev-cluster did not stop");
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(guard);
    let mut out = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut out).unwrap();
    assert!(out.contains("3 controllers, 2 brokers"), "{out}");
    assert!(
        out.contains(&format!(
            "bootstrap.servers=127.0.0.1:{},127.0.0.1:{}",
            brokers[0], brokers[1]
        )),
        "{out}"
    );
    let controller = std::fs::read_to_string(root.path().join("node-1/server.properties")).unwrap();
    assert!(
        controller.contains("process.roles=controller\n"),
        "{controller}"
    );
    for port in brokers {
        assert!(TcpStream::connect(("127.0.0.1", port)).is_err(), "{port}");
    }
}

#[test]
fn dedicated_nodes_formatted_for_another_cluster_stop_with_one_line() {
    let mut cluster = start_split(&[]);
    let other = random_cluster_id();
    // A controller (node 3) and a broker (node 5), wiped and formatted with
    // another cluster id.
    for i in [2, broker(1)] {
        let last = cluster.restart_formatted_for(i, &other);
        assert!(last.starts_with("gregor: "), "{last}");
        assert!(last.contains("INCONSISTENT_CLUSTER_ID"), "{last}");
    }
    // The rest carries on. When the stopped controller was the leader, the
    // others elect a new one first: meanwhile the broker answers
    // NOT_CONTROLLER, which clients retry.
    let code = eventually(20, "a topic created after the election", || {
        let (code, _) = create_topic(&mut cluster.connect(broker(0)), "still-here", 1, 1);
        (code != NOT_CONTROLLER).then_some(code)
    });
    assert_eq!(code, NONE);
}
