//! A real three-node cluster: three `gregor server` processes, each a
//! combined broker+controller configured as Kafka's would be
//! (`process.roles`, `controller.quorum.voters`, two listeners), formatted
//! with one cluster id. Killed when the test ends, even on panic.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use gregor_protocol::error_codes::{NONE, NOT_LEADER_OR_FOLLOWER};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, InitProducerIdRequest, ProduceRequest, ProducerId, RequestKind, ResponseKind,
};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::cluster::{
    broker_ids, combined_specs, consecutive_free_ports, create_topic, eventually,
    eventually_or_logs, metadata, random_cluster_id, ProcessCluster,
};
use support::{gregor_bin, topic_name, Connection};

type Cluster = ProcessCluster;

/// `size` combined broker+controller nodes, all voters, each with a client
/// and a controller listener on free ports of 127.0.0.1.
fn start_combined(size: usize, extra: &[&str]) -> Cluster {
    let specs = combined_specs(size, |_| String::new());
    ProcessCluster::start(specs, extra)
}

#[test]
fn three_nodes_share_brokers_topics_and_leaders() {
    let cluster = start_combined(3, &[]);
    for i in 0..3 {
        let ids = eventually(20, "every broker listed", || {
            let ids = broker_ids(&metadata(&mut cluster.connect(i), None));
            (ids == [1, 2, 3]).then_some(ids)
        });
        assert_eq!(ids, [1, 2, 3]);
    }
    // Created through a node that may not be the active controller: the
    // request is forwarded.
    let leader = cluster.leader(0).expect("a quorum leader");
    let via = (0..3).find(|i| *i as i32 + 1 != leader).unwrap();
    let (code, id) = create_topic(&mut cluster.connect(via), "spread", 6, 3);
    assert_eq!(code, NONE);
    let mut leaders_seen = std::collections::BTreeSet::new();
    for i in 0..3 {
        let response = eventually(20, "the topic on every node", || {
            let response = metadata(&mut cluster.connect(i), Some(&["spread"]));
            (response.topics[0].error_code == NONE && response.topics[0].partitions.len() == 6)
                .then_some(response)
        });
        let topic = &response.topics[0];
        assert_eq!(topic.topic_id, id, "same topic id on node {}", i + 1);
        for p in &topic.partitions {
            assert_eq!(p.replica_nodes.len(), 3);
            assert!(p.isr_nodes.contains(&p.leader_id));
            leaders_seen.insert(p.leader_id.0);
        }
    }
    assert!(
        leaders_seen.len() > 1,
        "leaders are spread: {leaders_seen:?}"
    );
    // A node that is not the active controller gets its producer-id block
    // from it, synchronously, over the channel its heartbeats also use.
    let request = InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    let ResponseKind::InitProducerId(response) = cluster.connect(via).request(
        ApiKey::InitProducerId,
        4,
        RequestKind::InitProducerId(request),
    ) else {
        panic!("wrong response type")
    };
    assert_eq!(response.error_code, NONE);
    assert!(response.producer_id.0 >= 0);

    // A node that does not lead a partition sends the producer to the one
    // that does (KIP-951).
    let response = metadata(&mut cluster.connect(0), Some(&["spread"]));
    let partition = response.topics[0]
        .partitions
        .iter()
        .find(|p| p.leader_id.0 != 1)
        .unwrap();
    let request = ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(topic_name("spread"))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition.partition_index)
                .with_records(Some(bytes::Bytes::new()))])]);
    let ResponseKind::Produce(produced) =
        cluster
            .connect(0)
            .request(ApiKey::Produce, 10, RequestKind::Produce(request))
    else {
        panic!("wrong response type")
    };
    let answer = &produced.responses[0].partition_responses[0];
    assert_eq!(answer.error_code, NOT_LEADER_OR_FOLLOWER);
    assert_eq!(answer.current_leader.leader_id, partition.leader_id);
    let endpoint = produced
        .node_endpoints
        .iter()
        .find(|e| e.node_id == partition.leader_id)
        .expect("the leader's endpoint");
    assert_eq!(
        endpoint.port,
        i32::from(cluster.nodes[partition.leader_id.0 as usize - 1].port)
    );
}

#[test]
fn a_new_controller_takes_over_and_the_old_one_catches_up() {
    let mut cluster = start_combined(3, &[]);
    let (code, before) = create_topic(&mut cluster.connect(0), "before", 3, 3);
    assert_eq!(code, NONE);
    let old = eventually(10, "a leader", || cluster.leader(0));
    let old_index = old as usize - 1;
    cluster.kill(old_index);
    let survivor = (0..3).find(|i| *i != old_index).unwrap();
    let new = eventually(20, "a new leader", || {
        cluster.leader(survivor).filter(|l| *l != old)
    });
    assert_ne!(new, old);
    let after = eventually_or_logs(&cluster, 30, "a topic created after the failover", || {
        let (code, id) = create_topic(&mut cluster.connect(survivor), "after", 3, 2);
        (code == NONE).then_some(id)
    });
    // The old controller comes back and catches up with what it missed.
    cluster.spawn(old_index);
    cluster.wait_listening(old_index);
    let response = eventually(20, "the restarted node to catch up", || {
        let response = metadata(&mut cluster.connect(old_index), Some(&["before", "after"]));
        response
            .topics
            .iter()
            .all(|t| t.error_code == NONE)
            .then_some(response)
    });
    assert_eq!(response.topics[0].topic_id, before);
    assert_eq!(response.topics[1].topic_id, after);
}

#[test]
fn a_paused_broker_is_fenced_and_loses_its_leaderships() {
    let cluster = start_combined(
        3,
        &[
            "broker.session.timeout.ms=2000",
            "broker.heartbeat.interval.ms=200",
        ],
    );
    let (code, _) = create_topic(&mut cluster.connect(0), "fenced", 6, 3);
    assert_eq!(code, NONE);
    // Pause a node that is not the active controller, so the quorum stays.
    let leader = eventually(10, "a leader", || cluster.leader(0));
    let paused = (0..3).find(|i| *i as i32 + 1 != leader).unwrap();
    let paused_id = paused as i32 + 1;
    eventually(10, "the paused node to lead a partition", || {
        let response = metadata(&mut cluster.connect(leader as usize - 1), Some(&["fenced"]));
        response.topics[0]
            .partitions
            .iter()
            .any(|p| p.leader_id.0 == paused_id)
            .then_some(())
    });
    cluster.signal(paused, "STOP");
    let observer = leader as usize - 1;
    eventually(20, "the paused broker to be fenced", || {
        let response = metadata(&mut cluster.connect(observer), Some(&["fenced"]));
        let listed = response.brokers.iter().any(|b| b.node_id.0 == paused_id);
        let leads = response.topics[0]
            .partitions
            .iter()
            .any(|p| p.leader_id.0 == paused_id);
        (!listed && !leads).then_some(())
    });
    cluster.signal(paused, "CONT");
    eventually(20, "the resumed broker to be listed again", || {
        let response = metadata(&mut cluster.connect(observer), None);
        response
            .brokers
            .iter()
            .any(|b| b.node_id.0 == paused_id)
            .then_some(())
    });
}

#[test]
fn a_node_formatted_for_another_cluster_stops_with_one_line() {
    let mut cluster = start_combined(3, &[]);
    // Node 3 is wiped and formatted with a different cluster id.
    let other = random_cluster_id();
    let last = cluster.restart_formatted_for(2, &other);
    assert!(last.starts_with("gregor: "), "{last}");
    assert!(last.contains("INCONSISTENT_CLUSTER_ID"), "{last}");
    assert!(last.contains(&other), "{last}");
    // The other two carry on as a cluster.
    let (code, _) = create_topic(&mut cluster.connect(0), "still-here", 1, 2);
    assert_eq!(code, NONE);
}

#[test]
fn dev_cluster_runs_three_nodes_until_stopped() {
    let root = tempfile::tempdir().unwrap();
    let base = consecutive_free_ports(6);
    let mut child = Command::new(gregor_bin())
        .args(["dev-cluster", "--nodes", "3", "--base-port"])
        .arg(base.to_string())
        .arg("--dir")
        .arg(root.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let guard = KillOnDrop(child.id());
    for port in [base, base + 2, base + 4] {
        eventually(30, "a dev-cluster node to serve", || {
            TcpStream::connect(("127.0.0.1", port)).ok()
        });
    }
    let mut first = Connection::new(TcpStream::connect(("127.0.0.1", base)).unwrap());
    // Listening is not serving: wait until every broker is registered.
    eventually(30, "every broker registered", || {
        (broker_ids(&metadata(&mut first, None)) == [1, 2, 3]).then_some(())
    });
    let (code, id) = create_topic(&mut first, "dev", 3, 3);
    assert_eq!(code, NONE);
    let mut last = Connection::new(TcpStream::connect(("127.0.0.1", base + 4)).unwrap());
    let response = eventually(20, "the topic on the last node", || {
        let response = metadata(&mut last, Some(&["dev"]));
        (response.topics[0].error_code == NONE).then_some(response)
    });
    assert_eq!(response.topics[0].topic_id, id);
    assert_eq!(broker_ids(&response), [1, 2, 3]);
    // SIGTERM stops every node.
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
    assert!(
        out.contains(&format!(
            "bootstrap.servers=127.0.0.1:{base},127.0.0.1:{},127.0.0.1:{}",
            base + 2,
            base + 4
        )),
        "{out}"
    );
    for port in [base, base + 2, base + 4] {
        assert!(TcpStream::connect(("127.0.0.1", port)).is_err(), "{port}");
    }
}

/// Kills a process (and so its nodes, via their own shutdown) if the test
/// fails before stopping it.
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.0.to_string())
            .status();
    }
}

/// The snapshot files in node `i`'s metadata log dir.
fn checkpoints(cluster: &Cluster, i: usize) -> Vec<String> {
    let dir = cluster.nodes[i]
        .dir
        .join("data")
        .join("__cluster_metadata-0");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".checkpoint"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn nodes_snapshot_their_metadata_and_a_restarted_node_comes_back_with_every_topic() {
    // A snapshot after every applied change.
    let mut cluster = start_combined(3, &["metadata.log.max.record.bytes.between.snapshots=1"]);
    let leader = eventually(10, "a leader", || cluster.leader(0));
    // A node other than the active controller goes down...
    let down = (0..3).find(|i| *i as i32 + 1 != leader).unwrap();
    let up = (0..3).find(|i| *i != down).unwrap();
    for i in 0..4 {
        let (code, _) = create_topic(&mut cluster.connect(up), &format!("early-{i}"), 1, 1);
        assert_eq!(code, NONE);
    }
    cluster.kill(down);
    // ...and misses changes the others snapshot and drop from their logs.
    let mut ids = Vec::new();
    for i in 0..12 {
        let name = format!("late-{i}");
        let id = eventually(20, "a topic created without the downed node", || {
            let (code, id) = create_topic(&mut cluster.connect(up), &name, 1, 1);
            (code == NONE).then_some(id)
        });
        ids.push((name, id));
    }
    for i in (0..3).filter(|i| *i != down) {
        // One snapshot file: a newer one replaces the older (which may
        // linger for a moment while the next is written).
        eventually(10, "exactly one snapshot file", || {
            (checkpoints(&cluster, i).len() == 1).then_some(())
        });
    }
    let before = checkpoints(&cluster, down);
    cluster.spawn(down);
    cluster.wait_listening(down);
    let names: Vec<String> = (0..4)
        .map(|i| format!("early-{i}"))
        .chain(ids.iter().map(|(n, _)| n.clone()))
        .collect();
    let wanted: Vec<&str> = names.iter().map(String::as_str).collect();
    let response = eventually(20, "the restarted node to know every topic", || {
        let response = metadata(&mut cluster.connect(down), Some(&wanted));
        response
            .topics
            .iter()
            .all(|t| t.error_code == NONE)
            .then_some(response)
    });
    for (name, id) in &ids {
        let topic = response
            .topics
            .iter()
            .find(|t| t.name.as_ref().map(|n| n.as_str()) == Some(name.as_str()))
            .unwrap();
        assert_eq!(&topic.topic_id, id, "{name}");
    }
    // It caught up through the leader's snapshot (FetchSnapshot), which
    // replaced its older snapshot file.
    assert!(
        cluster
            .log(down)
            .contains("installed the snapshot fetched from the leader"),
        "{}",
        cluster.log(down)
    );
    // Right after installing it the node may also write a snapshot of its
    // own; the older file goes at the next clean-up, so wait for one file.
    eventually(
        10,
        "one snapshot file, not the one before the restart",
        || {
            let after = checkpoints(&cluster, down);
            (after != before && after.len() == 1).then_some(())
        },
    );

    // Restarted again, it loads its own snapshot and still knows them all.
    cluster.kill(down);
    cluster.spawn(down);
    cluster.wait_listening(down);
    let response = metadata(&mut cluster.connect(down), Some(&wanted));
    assert!(
        response.topics.iter().all(|t| t.error_code == NONE),
        "{response:?}"
    );
    assert!(cluster.log(down).contains("loaded the metadata snapshot"));
}
