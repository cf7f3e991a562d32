//! Fetch from the closest replica (KIP-392) between real `gregor server`
//! processes: three nodes in racks r1..r3 with the rack-aware selector.
//! The leader sends a consumer of another rack to that rack's follower
//! (preferred read replica, no records), the follower serves it up to its
//! own high watermark, and fetches before v11 stay leader-only.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use gregor_protocol::error_codes::{NONE, NOT_LEADER_OR_FOLLOWER, OFFSET_OUT_OF_RANGE};
use gregor_protocol::records::decode_batches;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::{ApiKey, FetchRequest, RequestKind, ResponseKind};
use kafka_protocol::protocol::StrBytes;
use support::cluster::{
    broker_ids, combined_specs, create_topic, eventually, metadata, ProcessCluster,
};
use support::{free_port, produce_values, topic_name};

const TOPIC: &str = "racked";
const SELECTOR: &str = "org.apache.kafka.common.replica.RackAwareReplicaSelector";

fn start_racked(selector: &str) -> ProcessCluster {
    let specs = combined_specs(3, |i| {
        format!(
            "broker.rack=r{}\nreplica.selector.class={selector}\n",
            i + 1
        )
    });
    let cluster = ProcessCluster::start(specs, &["broker.heartbeat.interval.ms=300"]);
    for i in 0..3 {
        eventually(20, "every broker registered", || {
            (broker_ids(&metadata(&mut cluster.connect(i), None)).len() == 3).then_some(())
        });
    }
    cluster
}

/// A consumer's fetch of partition 0 from node `i` at `offset`.
fn fetch(
    cluster: &ProcessCluster,
    i: usize,
    version: i16,
    rack: &str,
    offset: i64,
) -> PartitionData {
    let request = FetchRequest::default()
        .with_replica_id((-1).into())
        .with_max_wait_ms(0)
        .with_min_bytes(0)
        .with_max_bytes(1 << 20)
        .with_rack_id(StrBytes::from_string(rack.to_string()))
        .with_topics(vec![FetchTopic::default()
            .with_topic(topic_name(TOPIC))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(1 << 20)])]);
    let ResponseKind::Fetch(response) =
        cluster
            .connect(i)
            .request(ApiKey::Fetch, version, RequestKind::Fetch(request))
    else {
        panic!("wrong response type to Fetch")
    };
    response.responses[0].partitions[0].clone()
}

/// The offset after the last record of an answer (its next fetch offset).
fn next_offset(p: &PartitionData) -> i64 {
    let records = p.records.clone().unwrap_or_default();
    let batches = decode_batches(&records).unwrap();
    batches
        .iter()
        .flat_map(|b| &b.records)
        .last()
        .map_or(-1, |r| r.offset + 1)
}

fn leader_of(cluster: &ProcessCluster) -> usize {
    eventually(20, "a leader", || {
        let response = metadata(&mut cluster.connect(0), Some(&[TOPIC]));
        let p = response.topics.first()?.partitions.first()?;
        (p.leader_id.0 > 0).then(|| p.leader_id.0 as usize - 1)
    })
}

#[test]
fn a_consumer_is_sent_to_the_follower_in_its_rack_which_serves_up_to_its_high_watermark() {
    let cluster = start_racked(SELECTOR);
    assert_eq!(create_topic(&mut cluster.connect(0), TOPIC, 1, 3).0, NONE);
    let leader = leader_of(&cluster);
    let follower = (leader + 1) % 3;
    let follower_rack = format!("r{}", follower + 1);
    let mut conn = cluster.connect(leader);
    for n in 0..40 {
        produce_values(
            &mut conn,
            TOPIC,
            0,
            1_700_000_000_000,
            [format!("v{n}").into_bytes()],
        );
    }

    // The leader names the in-rack follower once it is in sync and holds
    // the offset, with no records.
    let redirect = eventually(20, "the leader to prefer the in-rack follower", || {
        let p = fetch(&cluster, leader, 12, &follower_rack, 0);
        (p.preferred_read_replica.0 == follower as i32 + 1 && p.high_watermark == 40).then_some(p)
    });
    assert_eq!(redirect.error_code, NONE);
    assert!(redirect.records.as_ref().is_none_or(|r| r.is_empty()));
    assert_eq!(redirect.high_watermark, 40);

    // The follower serves the consumer, up to its own high watermark.
    let served = eventually(20, "the follower to serve every record", || {
        let p = fetch(&cluster, follower, 12, &follower_rack, 0);
        (p.error_code == NONE && next_offset(&p) == 40).then_some(p)
    });
    assert_eq!(served.preferred_read_replica.0, -1);
    assert_eq!(served.high_watermark, 40);
    // Beyond the follower's log end: OFFSET_OUT_OF_RANGE, which sends a
    // Java consumer back to the leader.
    assert_eq!(
        fetch(&cluster, follower, 12, &follower_rack, 1000).error_code,
        OFFSET_OUT_OF_RANGE
    );

    // A consumer in the leader's rack, or with no rack, reads from the leader.
    let leader_rack = format!("r{}", leader + 1);
    let local = fetch(&cluster, leader, 12, &leader_rack, 0);
    assert_eq!(
        (local.preferred_read_replica.0, next_offset(&local)),
        (-1, 40)
    );
    let rackless = fetch(&cluster, leader, 12, "", 0);
    assert_eq!(
        (rackless.preferred_read_replica.0, next_offset(&rackless)),
        (-1, 40)
    );
    // A rack with no replica: the leader.
    assert_eq!(
        fetch(&cluster, leader, 12, "elsewhere", 0)
            .preferred_read_replica
            .0,
        -1
    );

    // Before v11 there is no client metadata: only the leader serves.
    assert_eq!(
        fetch(&cluster, follower, 10, "", 0).error_code,
        NOT_LEADER_OR_FOLLOWER
    );

    // With the third replica paused the high watermark stays at 40 while
    // the follower copies 10 more records: it serves none of them.
    let paused = (leader + 2) % 3;
    cluster.signal(paused, "STOP");
    wait_stopped(&cluster, paused);
    for n in 40..50 {
        produce_values(
            &mut conn,
            TOPIC,
            0,
            1_700_000_000_000,
            [format!("v{n}").into_bytes()],
        );
    }
    eventually(
        20,
        "the follower to copy records past the high watermark",
        || holds(&cluster, follower, "v49").then_some(()),
    );
    let capped = fetch(&cluster, follower, 12, &follower_rack, 0);
    assert_eq!(
        (capped.high_watermark, next_offset(&capped)),
        (40, 40),
        "leader {leader}, follower {follower}, paused {paused}"
    );
    let at_hw = fetch(&cluster, follower, 12, &follower_rack, 40);
    assert_eq!((at_hw.error_code, next_offset(&at_hw)), (NONE, -1));
    cluster.signal(paused, "CONT");
    eventually(20, "the follower to serve the rest once committed", || {
        let p = fetch(&cluster, follower, 12, &follower_rack, 40);
        (next_offset(&p) == 50).then_some(())
    });
}

/// Waits until every thread of node `i` is stopped: SIGSTOP takes effect
/// asynchronously, and a fetch still on its way would move the HW.
fn wait_stopped(cluster: &ProcessCluster, i: usize) {
    let pid = cluster.nodes[i].child.as_ref().unwrap().id();
    eventually(10, "the paused node to stop", || {
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
        let all_stopped = tasks.filter_map(Result::ok).all(|t| {
            let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
            // The state follows the parenthesised command name.
            stat.rsplit(')')
                .next()
                .is_some_and(|rest| rest.trim_start().starts_with('T'))
        });
        all_stopped.then_some(())
    });
}

/// Whether node `i`'s copy of the partition holds `value`.
fn holds(cluster: &ProcessCluster, i: usize, value: &str) -> bool {
    let dir = cluster.nodes[i].dir.join("data").join(format!("{TOPIC}-0"));
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.filter_map(Result::ok).any(|e| {
        let bytes = std::fs::read(e.path()).unwrap_or_default();
        e.path().extension().is_some_and(|x| x == "log")
            && bytes.windows(value.len()).any(|w| w == value.as_bytes())
    })
}

#[test]
fn an_unknown_replica_selector_class_stops_start_up_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let output = std::process::Command::new(support::gregor_bin())
        .arg("server")
        .args(["--set", &format!("listeners=PLAINTEXT://127.0.0.1:{port}")])
        .args(["--set", &format!("log.dirs={}", dir.path().display())])
        .args([
            "--set",
            "replica.selector.class=com.example.NearestSelector",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("replica.selector.class"), "{stderr}");
    assert!(stderr.contains("com.example.NearestSelector"), "{stderr}");
}
