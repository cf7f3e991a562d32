//! `append_committed` against a real log dir: answered once the high
//! watermark passes the records, with the coordinator's error codes
//! otherwise.

use super::*;
use crate::config::BrokerConfig;
use gregor_metadata::record::Endpoint;
use gregor_metadata::{BrokerImage, MetadataImage, PartitionImage, TopicImage};
use std::collections::BTreeMap;
use std::sync::Arc;
use uuid::Uuid;

const LOCAL: i32 = 2;

fn manager(dir: &std::path::Path) -> ReplicaManager {
    let settings = [("node.id", "2"), ("log.dirs", dir.to_str().unwrap())]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    ReplicaManager::new(BrokerConfig::from_settings(settings).unwrap(), false)
}

fn broker(id: i32) -> BrokerImage {
    BrokerImage {
        id,
        incarnation_id: Uuid::new_v4(),
        epoch: 10 + id as i64,
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

/// `__consumer_offsets-0` with these replicas / ISR / leader.
fn image(id: Uuid, replicas: &[i32], isr: &[i32], leader: i32, epoch: i32) -> MetadataImage {
    let mut image = MetadataImage::default();
    image.brokers.insert(1, broker(1));
    image.brokers.insert(2, broker(2));
    let partition = PartitionImage {
        replicas: replicas.to_vec(),
        isr: isr.to_vec(),
        leader,
        leader_epoch: epoch,
        partition_epoch: epoch,
        elr: Vec::new(),
        last_known_elr: Vec::new(),
    };
    let topic = TopicImage {
        id,
        name: OFFSETS_TOPIC.to_string(),
        partitions: BTreeMap::from([(0, partition)]),
        configs: BTreeMap::from([("min.insync.replicas".to_string(), "2".to_string())]),
        reassignments: BTreeMap::new(),
    };
    image
        .topics
        .insert(OFFSETS_TOPIC.to_string(), Arc::new(topic));
    image
        .topic_names_by_id
        .insert(id, OFFSETS_TOPIC.to_string());
    image
}

fn records() -> Vec<(Bytes, Option<Bytes>)> {
    vec![(Bytes::from_static(b"k"), Some(Bytes::from_static(b"v")))]
}

const SHORT: Duration = Duration::from_millis(200);

#[tokio::test]
async fn committed_when_the_only_replica_appended() {
    let dir = tempfile::tempdir().unwrap();
    let replicas = manager(dir.path());
    let id = Uuid::new_v4();
    replicas
        .reconcile(&image(id, &[LOCAL], &[LOCAL], LOCAL, 0))
        .unwrap();
    let last = append_committed(&replicas, OFFSETS_TOPIC, 0, &records(), None, SHORT).await;
    assert_eq!(last, Ok(0));
    let last = append_committed(&replicas, OFFSETS_TOPIC, 0, &records(), Some((7, 0)), SHORT).await;
    assert_eq!(last, Ok(1));
    // Not hosted here at all.
    let missing = append_committed(&replicas, OFFSETS_TOPIC, 3, &records(), None, SHORT).await;
    assert_eq!(missing, Err(COORDINATOR_NOT_AVAILABLE));
    // The shard was loaded at another leader epoch.
    let stale = append_local(&replicas, OFFSETS_TOPIC, 0, Some(5), &records(), None);
    assert_eq!(stale.err(), Some(NOT_COORDINATOR));
}

#[tokio::test]
async fn refused_or_timed_out_without_the_replicas() {
    let dir = tempfile::tempdir().unwrap();
    let replicas = manager(dir.path());
    let id = Uuid::new_v4();
    // A follower is no coordinator.
    replicas
        .reconcile(&image(id, &[1, LOCAL], &[1, LOCAL], 1, 0))
        .unwrap();
    let follower = append_committed(&replicas, OFFSETS_TOPIC, 0, &records(), None, SHORT).await;
    assert_eq!(follower, Err(NOT_COORDINATOR));
    // Leader with the ISR below min.insync.replicas (2): refused before
    // anything is written.
    replicas
        .reconcile(&image(id, &[1, LOCAL], &[LOCAL], LOCAL, 1))
        .unwrap();
    let under = append_committed(&replicas, OFFSETS_TOPIC, 0, &records(), None, SHORT).await;
    assert_eq!(under, Err(COORDINATOR_NOT_AVAILABLE));
    let partition = replicas.partition(OFFSETS_TOPIC, 0).unwrap();
    let end_before = partition.log_end_offset().unwrap();
    // Leader with a follower that never fetches: appended, never committed.
    replicas
        .reconcile(&image(id, &[1, LOCAL], &[1, LOCAL], LOCAL, 2))
        .unwrap();
    let timed_out = append_committed(&replicas, OFFSETS_TOPIC, 0, &records(), None, SHORT).await;
    assert_eq!(timed_out, Err(COORDINATOR_NOT_AVAILABLE));
    assert_eq!(partition.log_end_offset().unwrap(), end_before + 1);
    // Leadership lost while waiting: NOT_COORDINATOR, not a timeout.
    let pending = append_local(&replicas, OFFSETS_TOPIC, 0, Some(2), &records(), None).unwrap();
    let waiting = tokio::spawn(pending.wait(Duration::from_secs(30)));
    tokio::task::yield_now().await;
    replicas
        .reconcile(&image(id, &[1, LOCAL], &[1, LOCAL], 1, 3))
        .unwrap();
    let lost = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("woken by the leadership change")
        .unwrap();
    assert_eq!(lost, Err(NOT_COORDINATOR));
}

#[test]
fn write_errors_map_as_kafkas_coordinators() {
    use error_codes::*;
    for code in [NOT_LEADER_OR_FOLLOWER, KAFKA_STORAGE_ERROR] {
        assert_eq!(coordinator_error(code), NOT_COORDINATOR);
    }
    for code in [
        NOT_ENOUGH_REPLICAS,
        NOT_ENOUGH_REPLICAS_AFTER_APPEND,
        REQUEST_TIMED_OUT,
        UNKNOWN_TOPIC_OR_PARTITION,
    ] {
        assert_eq!(coordinator_error(code), COORDINATOR_NOT_AVAILABLE);
    }
    assert_eq!(
        coordinator_error(RECORD_LIST_TOO_LARGE),
        UNKNOWN_SERVER_ERROR
    );
    assert_eq!(
        coordinator_error(INVALID_PRODUCER_EPOCH),
        INVALID_PRODUCER_EPOCH
    );
}
