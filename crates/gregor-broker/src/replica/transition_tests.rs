//! The replica manager's leader/follower transitions against a real log
//! dir: what the fetch plan says, where the high watermark starts, and the
//! leader epoch a new leader records.

use crate::config::BrokerConfig;
use crate::replica::hw_checkpoint;
use crate::replica_manager::{LeaderLookup, ReplicaManager};
use gregor_log::{LogConfig, PartitionLog};
use gregor_metadata::record::Endpoint;
use gregor_metadata::{BrokerImage, MetadataImage, PartitionImage, TopicImage};
use gregor_protocol::compression::Compression;
use gregor_protocol::records::BatchBuilder;
use std::collections::BTreeMap;
use std::sync::Arc;
use uuid::Uuid;

const TOPIC: &str = "t";

fn config(dir: &std::path::Path) -> BrokerConfig {
    let settings = [("node.id", "2"), ("log.dirs", dir.to_str().unwrap())]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    BrokerConfig::from_settings(settings).unwrap()
}

fn broker(id: i32, epoch: i64) -> BrokerImage {
    BrokerImage {
        id,
        incarnation_id: Uuid::new_v4(),
        epoch,
        listeners: vec![Endpoint {
            name: "PLAINTEXT".to_string(),
            host: "127.0.0.1".to_string(),
            port: 9090 + id,
            security_protocol: 0,
        }],
        rack: None,
        fenced: false,
        in_controlled_shutdown: false,
    }
}

fn image(topic_id: Uuid, leader: i32, leader_epoch: i32) -> MetadataImage {
    let mut image = MetadataImage::default();
    image.brokers.insert(1, broker(1, 10));
    image.brokers.insert(2, broker(2, 20));
    let partition = PartitionImage {
        replicas: vec![1, 2],
        isr: vec![1, 2],
        leader,
        leader_epoch,
        partition_epoch: leader_epoch,
        elr: Vec::new(),
        last_known_elr: Vec::new(),
    };
    let topic = TopicImage {
        id: topic_id,
        name: TOPIC.to_string(),
        partitions: BTreeMap::from([(0, partition)]),
        configs: BTreeMap::new(),
        reassignments: BTreeMap::new(),
    };
    image.topics.insert(TOPIC.to_string(), Arc::new(topic));
    image.topic_names_by_id.insert(topic_id, TOPIC.to_string());
    image
}

#[test]
fn follower_and_leader_transitions() {
    let dir = tempfile::tempdir().unwrap();
    // A log with five records written at epoch 0, and a checkpointed high
    // watermark of 3 from the previous run.
    {
        let mut log = PartitionLog::open(
            &dir.path().join(gregor_log::partition_dir_name(TOPIC, 0)),
            LogConfig::default(),
            false,
        )
        .unwrap();
        let mut batch = BatchBuilder::new(Compression::None);
        for n in 0..5 {
            batch.push(1_000, None, Some(format!("v{n}").into()), vec![]);
        }
        log.append(&batch.build().unwrap(), 0, 1_000).unwrap();
        log.close().unwrap();
    }
    let mut checkpoint = hw_checkpoint::HighWatermarks::new();
    checkpoint.insert((TOPIC.to_string(), 0), 3);
    hw_checkpoint::write(dir.path(), &checkpoint).unwrap();

    let manager = ReplicaManager::new(config(dir.path()), false);
    let plan = manager.fetch_plan();
    let topic_id = Uuid::new_v4();

    // Node 2 follows node 1: the partition is in node 1's fetcher, at the
    // image's epoch, with node 2's broker epoch; the high watermark starts
    // from the checkpoint.
    manager.reconcile(&image(topic_id, 1, 0)).unwrap();
    let partition = manager.partition(TOPIC, 0).unwrap();
    assert_eq!(partition.high_watermark(), 3);
    {
        let plan = plan.borrow();
        assert_eq!(plan.broker_epoch, 20);
        let source = &plan.sources[&1];
        assert_eq!(source.address.as_deref(), Some("127.0.0.1:9091"));
        assert_eq!(source.partitions.len(), 1);
        assert_eq!(source.partitions[0].leader_epoch, 0);
    }
    assert!(matches!(
        manager.lookup_leader(&image(topic_id, 1, 0), TOPIC, 0),
        LeaderLookup::NotLeader { .. }
    ));

    // Node 2 becomes leader at epoch 1: no fetcher for it any more, and
    // epoch 1 starts at its log end (5) in the epoch cache.
    manager.reconcile(&image(topic_id, 2, 1)).unwrap();
    assert!(plan.borrow().sources.is_empty());
    assert_eq!(partition.end_offset_for_epoch(1).unwrap(), (1, 5));
    assert_eq!(partition.end_offset_for_epoch(0).unwrap(), (0, 5));
    assert!(matches!(
        manager.lookup_leader(&image(topic_id, 2, 1), TOPIC, 0),
        LeaderLookup::Leader(_)
    ));
    // A fetch answer from the old leader that raced the change is dropped.
    let stale = partition.append_fetched(1, 0, &[], 5, 0, 1_000).unwrap();
    assert_eq!(stale, crate::replica_manager::Applied::Stale);

    // Back to follower of node 1 at epoch 2: fetched again, not truncated.
    manager.reconcile(&image(topic_id, 1, 2)).unwrap();
    assert_eq!(plan.borrow().sources[&1].partitions[0].leader_epoch, 2);
    assert_eq!(partition.fetch_position().unwrap().fetch_offset, 5);
    assert_eq!(partition.fetch_position().unwrap().last_fetched_epoch, 1);

    // The checkpoint holds every hosted partition's high watermark.
    manager.checkpoint_high_watermarks().unwrap();
    let written = hw_checkpoint::read(dir.path()).unwrap();
    assert_eq!(
        written.get(&(TOPIC.to_string(), 0)),
        Some(&partition.high_watermark())
    );

    // The topic is deleted: nothing left to fetch.
    manager.reconcile(&MetadataImage::default()).unwrap();
    assert!(plan.borrow().sources.is_empty());
    assert!(manager.partition(TOPIC, 0).is_none());
}
