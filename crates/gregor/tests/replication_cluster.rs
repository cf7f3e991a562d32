//! Partition replication between real `gregor server` processes: three
//! combined broker+controller nodes, an RF=3 topic, followers fetching from
//! the leader. The followers' segment files must end up byte-identical to
//! the leader's (batches are copied as they are: offsets, epochs, CRCs),
//! a new leader after kill -9 must serve every record, and a follower that
//! diverged must truncate and re-sync.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use gregor_protocol::error_codes::{
    FENCED_LEADER_EPOCH, NONE, NOT_LEADER_OR_FOLLOWER, UNKNOWN_LEADER_EPOCH,
};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::metadata_response::MetadataResponsePartition;
use kafka_protocol::messages::{ApiKey, FetchRequest, RequestKind, ResponseKind};
use std::collections::BTreeMap;
use std::path::PathBuf;
use support::cluster::{
    broker_ids, combined_specs, create_topic, eventually, metadata, ProcessCluster,
};
use support::{list_offsets, produce_values, topic_name};

use gregor_protocol::compression::Compression;
use gregor_protocol::records::{decode_batches, BatchBuilder};
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{CreateTopicsRequest, ListOffsetsRequest};
use kafka_protocol::protocol::StrBytes;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

const TOPIC: &str = "replicated";

/// Fast failure detection and checkpoints, so the tests run in seconds.
const SETTINGS: &[&str] = &[
    "broker.session.timeout.ms=3000",
    "broker.heartbeat.interval.ms=300",
    "replica.high.watermark.checkpoint.interval.ms=200",
    "replica.fetch.backoff.ms=200",
];

fn start_combined(size: usize) -> ProcessCluster {
    let specs = combined_specs(size, |_| String::new());
    let cluster = ProcessCluster::start(specs, SETTINGS);
    for i in 0..size {
        eventually(20, "every broker registered", || {
            (broker_ids(&metadata(&mut cluster.connect(i), None)).len() == size).then_some(())
        });
    }
    cluster
}

/// The partition as node `via` sees it, once it has a leader.
fn partition(cluster: &ProcessCluster, via: usize) -> MetadataResponsePartition {
    eventually(20, "the partition to have a leader", || {
        let response = metadata(&mut cluster.connect(via), Some(&[TOPIC]));
        let topic = response.topics.first()?;
        let p = topic.partitions.first()?;
        (topic.error_code == NONE && p.leader_id.0 > 0).then(|| p.clone())
    })
}

/// The partition's batches on node `i`: its segment files concatenated in
/// offset order (replicas may roll segments at different points).
fn log_bytes(cluster: &ProcessCluster, i: usize) -> Vec<u8> {
    let dir = cluster.nodes[i].dir.join("data").join(format!("{TOPIC}-0"));
    let mut segments: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "log"))
                .collect()
        })
        .unwrap_or_default();
    segments.sort();
    segments
        .iter()
        .flat_map(|p| std::fs::read(p).unwrap_or_default())
        .collect()
}

/// The high watermark node `i` checkpointed for the partition.
fn checkpointed(cluster: &ProcessCluster, i: usize) -> Option<i64> {
    let path = cluster.nodes[i]
        .dir
        .join("data")
        .join("replication-offset-checkpoint");
    let text = std::fs::read_to_string(path).ok()?;
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("0"), "checkpoint version");
    let count: usize = lines.next()?.parse().unwrap();
    let entries: Vec<&str> = lines.collect();
    assert_eq!(entries.len(), count, "checkpoint entry count");
    entries.iter().find_map(|line| {
        let fields: Vec<&str> = line.split(' ').collect();
        (fields[0] == TOPIC && fields[1] == "0").then(|| fields[2].parse().unwrap())
    })
}

/// Every byte of the partition a consumer can read from node `i`, from offset 0.
fn fetch_all(cluster: &ProcessCluster, i: usize) -> Vec<u8> {
    let request = FetchRequest::default()
        .with_replica_id((-1).into())
        .with_max_wait_ms(0)
        .with_min_bytes(0)
        .with_max_bytes(64 << 20)
        .with_topics(vec![FetchTopic::default()
            .with_topic(topic_name(TOPIC))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_partition_max_bytes(64 << 20)])]);
    let ResponseKind::Fetch(response) =
        cluster
            .connect(i)
            .request(ApiKey::Fetch, 11, RequestKind::Fetch(request))
    else {
        panic!("wrong response type to Fetch")
    };
    let p = &response.responses[0].partitions[0];
    assert_eq!(p.error_code, NONE, "fetch from node {}", i + 1);
    p.records.clone().unwrap_or_default().to_vec()
}

/// OffsetForLeaderEpoch v4 of the partition through node `i`, as a
/// consumer asks it: (error, epoch, end offset).
fn end_offset_for_epoch(
    cluster: &ProcessCluster,
    i: usize,
    current_leader_epoch: i32,
    leader_epoch: i32,
) -> (i16, i32, i64) {
    support::end_offset_for_epoch(
        &mut cluster.connect(i),
        TOPIC,
        current_leader_epoch,
        leader_epoch,
    )
}

/// The error of ListOffsets "latest" sent with `current_leader_epoch`.
fn list_offsets_at_epoch(cluster: &ProcessCluster, i: usize, current_leader_epoch: i32) -> i16 {
    let request = ListOffsetsRequest::default()
        .with_replica_id((-1).into())
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(topic_name(TOPIC))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(0)
                .with_current_leader_epoch(current_leader_epoch)
                .with_timestamp(-1)])]);
    let ResponseKind::ListOffsets(response) =
        cluster
            .connect(i)
            .request(ApiKey::ListOffsets, 9, RequestKind::ListOffsets(request))
    else {
        panic!("wrong response type to ListOffsets")
    };
    response.topics[0].partitions[0].error_code
}

fn produce(cluster: &ProcessCluster, leader: usize, from: usize, count: usize, tag: &str) {
    let mut conn = cluster.connect(leader);
    for n in from..from + count {
        produce_values(
            &mut conn,
            TOPIC,
            0,
            1_700_000_000_000,
            [format!("{tag}-{n}").into_bytes()],
        );
    }
}

fn wait_identical(cluster: &ProcessCluster, nodes: &[usize], what: &str) -> Vec<u8> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let first = log_bytes(cluster, nodes[0]);
        if !first.is_empty() && nodes.iter().all(|&i| log_bytes(cluster, i) == first) {
            return first;
        }
        if std::time::Instant::now() > deadline {
            for &i in nodes {
                eprintln!(
                    "node {}: {} bytes\n{}",
                    i + 1,
                    log_bytes(cluster, i).len(),
                    cluster.log(i)
                );
            }
            panic!("timed out waiting for {what}");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn followers_copy_the_log_and_a_new_leader_after_kill_serves_every_record() {
    let mut cluster = start_combined(3);
    let (code, _) = create_topic(&mut cluster.connect(0), TOPIC, 1, 3);
    assert_eq!(code, NONE);
    let before = partition(&cluster, 0);
    let leader = before.leader_id.0 as usize - 1;
    produce(&cluster, leader, 0, 50, "a");

    // Every replica holds the leader's batches, byte for byte.
    let copied = wait_identical(&cluster, &[0, 1, 2], "followers to copy the leader's log");
    assert_eq!(copied, log_bytes(&cluster, leader));
    // And checkpointed the high watermark.
    for i in 0..3 {
        eventually(10, "the high watermark checkpointed", || {
            (checkpointed(&cluster, i) == Some(50)).then_some(())
        });
    }

    cluster.kill(leader);
    let survivor = (0..3).find(|&i| i != leader).unwrap();
    let after = eventually(30, "a new leader", || {
        let p = partition(&cluster, survivor);
        (p.leader_id.0 as usize - 1 != leader).then_some(p)
    });
    assert!(after.leader_epoch > before.leader_epoch);
    let new_leader = after.leader_id.0 as usize - 1;
    let old_id = leader as i32 + 1;
    eventually(30, "the dead node out of the ISR", || {
        (!partition(&cluster, new_leader)
            .isr_nodes
            .iter()
            .any(|b| b.0 == old_id))
        .then_some(())
    });
    // Every record the old leader had is served by the new one.
    // (OFFSET_NOT_AVAILABLE while its high watermark lags its epoch start.)
    eventually(20, "the new leader's high watermark", || {
        (list_offsets_at_epoch(&cluster, new_leader, -1) == NONE
            && list_offsets(&mut cluster.connect(new_leader), TOPIC, 0, -1).offset == 50)
            .then_some(())
    });
    assert_eq!(fetch_all(&cluster, new_leader), copied);

    // KIP-320: the old epoch ends at 50 on the new leader; a stale current
    // epoch is fenced, a future one unknown, and only the leader answers.
    let (old, new) = (before.leader_epoch, after.leader_epoch);
    assert_eq!(
        end_offset_for_epoch(&cluster, new_leader, new, old),
        (NONE, old, 50)
    );
    assert_eq!(
        end_offset_for_epoch(&cluster, new_leader, new, new),
        (NONE, new, 50)
    );
    assert_eq!(
        end_offset_for_epoch(&cluster, new_leader, old, old).0,
        FENCED_LEADER_EPOCH
    );
    assert_eq!(
        end_offset_for_epoch(&cluster, new_leader, new + 1, old).0,
        UNKNOWN_LEADER_EPOCH
    );
    // ListOffsets carries the epochs too: "latest" the current one,
    // "earliest" the one of the first batch; a stale client is fenced.
    let latest = list_offsets(&mut cluster.connect(new_leader), TOPIC, 0, -1);
    assert_eq!((latest.offset, latest.leader_epoch), (50, new));
    let earliest = list_offsets(&mut cluster.connect(new_leader), TOPIC, 0, -2);
    assert_eq!((earliest.offset, earliest.leader_epoch), (0, old));
    assert_eq!(
        list_offsets_at_epoch(&cluster, new_leader, old),
        FENCED_LEADER_EPOCH
    );
    assert_eq!(
        list_offsets_at_epoch(&cluster, new_leader, new + 1),
        UNKNOWN_LEADER_EPOCH
    );
    assert_eq!(list_offsets_at_epoch(&cluster, new_leader, new), NONE);
    let follower = (0..3).find(|&i| i != leader && i != new_leader).unwrap();
    assert_eq!(
        end_offset_for_epoch(&cluster, follower, new, old).0,
        NOT_LEADER_OR_FOLLOWER
    );

    // It takes writes at its epoch, and the remaining follower copies them.
    produce(&cluster, new_leader, 50, 10, "b");
    let live: Vec<usize> = (0..3).filter(|&i| i != leader).collect();
    let grown = wait_identical(&cluster, &live, "the follower to copy the new leader");
    assert!(grown.starts_with(&copied));
    assert!(grown.len() > copied.len());

    // The old leader comes back as a follower and catches up.
    cluster.spawn(leader);
    cluster.wait_listening(leader);
    wait_identical(&cluster, &[0, 1, 2], "the restarted node to catch up");
    // Fetching with its new broker epoch, it rejoins the ISR.
    eventually(30, "the ISR back to three replicas", || {
        (partition(&cluster, new_leader).isr_nodes.len() == 3).then_some(())
    });
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn a_diverged_old_leader_truncates_to_the_new_leaders_log() {
    let mut cluster = start_combined(3);
    let (code, _) = create_topic(&mut cluster.connect(0), TOPIC, 1, 3);
    assert_eq!(code, NONE);
    let before = partition(&cluster, 0);
    let leader = before.leader_id.0 as usize - 1;
    let followers: Vec<usize> = (0..3).filter(|&i| i != leader).collect();
    produce(&cluster, leader, 0, 20, "kept");
    wait_identical(&cluster, &[0, 1, 2], "followers to copy the first records");

    // The followers stop; the leader takes acks=1 writes only it holds,
    // then dies (its page cache keeps them, as after kill -9 of Kafka).
    for &f in &followers {
        cluster.signal(f, "STOP");
    }
    // Fetches they had parked at the leader answer (empty) within
    // replica.fetch.wait.max.ms; after that none is outstanding.
    std::thread::sleep(std::time::Duration::from_millis(1_500));
    produce(&cluster, leader, 0, 10, "lost");
    cluster.kill(leader);
    for &f in &followers {
        cluster.signal(f, "CONT");
    }
    let diverged = log_bytes(&cluster, leader);
    assert!(contains(&diverged, "lost-9"));

    // A follower becomes leader at a new epoch and takes other writes at
    // the same offsets.
    let after = eventually(40, "a new leader", || {
        let p = partition(&cluster, followers[0]);
        (p.leader_id.0 as usize - 1 != leader).then_some(p)
    });
    assert!(after.leader_epoch > before.leader_epoch);
    let new_leader = after.leader_id.0 as usize - 1;
    produce(&cluster, new_leader, 0, 5, "new");

    // The old leader comes back as a follower: the diverging epoch makes it
    // cut its own records and take the new leader's, so every offset holds
    // one value on every replica.
    cluster.spawn(leader);
    cluster.wait_listening(leader);
    let converged = wait_identical(&cluster, &[0, 1, 2], "the old leader to re-sync");
    assert!(!contains(&converged, "lost-"), "diverged records removed");
    assert!(
        cluster.log(leader).contains("truncating a diverged log"),
        "the fetch's diverging epoch drove the truncation"
    );
    for n in 0..20 {
        assert!(contains(&converged, &format!("kept-{n}")));
    }
    for n in 0..5 {
        assert!(contains(&converged, &format!("new-{n}")));
    }
    assert_eq!(
        list_offsets(&mut cluster.connect(new_leader), TOPIC, 0, -1).offset,
        25
    );
}

/// An RF=3 topic with `min.insync.replicas=2`.
fn create_min_isr_topic(cluster: &ProcessCluster) {
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(15_000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(topic_name(TOPIC))
            .with_num_partitions(1)
            .with_replication_factor(3)
            .with_configs(vec![CreatableTopicConfig::default()
                .with_name(StrBytes::from_static_str("min.insync.replicas"))
                .with_value(Some(StrBytes::from_static_str("2")))])]);
    let ResponseKind::CreateTopics(response) =
        cluster
            .connect(0)
            .request(ApiKey::CreateTopics, 7, RequestKind::CreateTopics(request))
    else {
        panic!("wrong response type to CreateTopics")
    };
    assert_eq!(response.topics[0].error_code, NONE);
}

/// Every record of the partition on its current leader: offset -> value.
fn read_all(bootstrap: &str) -> BTreeMap<i64, Vec<u8>> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut client = gregor_client::Client::connect(bootstrap).await.unwrap();
        let mut records = BTreeMap::new();
        let mut offset = 0;
        loop {
            let (bytes, high_watermark) = client.fetch(TOPIC, 0, offset, 100).await.unwrap();
            for batch in decode_batches(&bytes).unwrap() {
                for record in batch.records {
                    offset = record.offset + 1;
                    records.insert(record.offset, record.value.unwrap().to_vec());
                }
            }
            if offset >= high_watermark {
                return records;
            }
        }
    })
}

#[test]
fn acks_all_records_survive_kill_of_the_leader() {
    let mut cluster = start_combined(3);
    create_min_isr_topic(&cluster);
    let before = partition(&cluster, 0);
    let leader = before.leader_id.0 as usize - 1;
    let bootstrap = cluster
        .nodes
        .iter()
        .map(|n| format!("127.0.0.1:{}", n.port))
        .collect::<Vec<_>>()
        .join(",");

    // A producer with acks=all writes one record per request and notes
    // the offset of every acknowledged one.
    let acked: Arc<Mutex<Vec<(i64, String)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let producer = {
        let (acked, stop, bootstrap) = (acked.clone(), stop.clone(), bootstrap.clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().unwrap();
            runtime.block_on(async move {
                let mut client = None;
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    if client.is_none() {
                        client = gregor_client::Client::connect_with_timeout(
                            &bootstrap,
                            std::time::Duration::from_secs(5),
                        )
                        .await
                        .ok();
                    }
                    let Some(c) = client.as_mut() else {
                        continue;
                    };
                    let value = format!("ack-{n}");
                    n += 1;
                    let mut batch = BatchBuilder::new(Compression::None);
                    batch.push(1_700_000_000_000, None, Some(value.clone().into()), vec![]);
                    let batch = batch.build().unwrap().freeze();
                    match c.produce(TOPIC, 0, batch, -1).await {
                        Ok(offset) => acked.lock().unwrap().push((offset, value)),
                        Err(_) => {
                            client = None;
                            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        }
                    }
                }
            })
        })
    };
    let acked_count = || acked.lock().unwrap().len();
    eventually(20, "acknowledged writes", || {
        (acked_count() >= 50).then_some(())
    });
    let before_kill = acked_count();
    cluster.kill(leader);
    eventually(40, "acknowledged writes after the failover", || {
        (acked_count() >= before_kill + 50).then_some(())
    });
    stop.store(true, Ordering::Relaxed);
    producer.join().unwrap();

    let survivor = (0..3).find(|&i| i != leader).unwrap();
    let after = partition(&cluster, survivor);
    assert_ne!(after.leader_id.0 as usize - 1, leader);
    let stored = read_all(&bootstrap);
    let acked = acked.lock().unwrap();
    for (offset, value) in acked.iter() {
        assert_eq!(
            stored.get(offset).map(Vec::as_slice),
            Some(value.as_bytes()),
            "acknowledged offset {offset} on the new leader"
        );
    }
    // One value per offset: no acknowledged value sits at two offsets.
    let mut seen = BTreeMap::new();
    for (offset, value) in acked.iter() {
        assert!(
            seen.insert(value.clone(), *offset).is_none(),
            "{value} twice"
        );
    }
}
