//! Produce, fetch and metadata against a scripted fake broker: retries after
//! a leader change, errors that must not be retried, readable messages.

use crate::fake_broker::{self, api_versions, every_version, Reply};
use crate::Client;
use bytes::Bytes;
use gregor_protocol::error_codes::{
    MESSAGE_TOO_LARGE, NONE, NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION,
};
use gregor_protocol::request::Request;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::Arc;

/// Broker id 1 on the fake's own port; topics "moving" (its first produce
/// and fetch say NOT_LEADER_OR_FOLLOWER), "big" (MESSAGE_TOO_LARGE), and no
/// other.
struct Cluster {
    port: AtomicU16,
    produces: AtomicUsize,
    fetches: AtomicUsize,
}

impl Cluster {
    fn answer(&self, request: &Request) -> Reply {
        Reply::Body(match &request.body {
            RequestKind::ApiVersions(_) => api_versions(
                0,
                &[
                    (ApiKey::ApiVersions, 0, 3),
                    (ApiKey::Metadata, 0, 12),
                    (ApiKey::Produce, 3, 11),
                    (ApiKey::Fetch, 4, 17),
                ],
            ),
            RequestKind::Metadata(m) => self.metadata(m),
            RequestKind::Produce(p) => self.produce(p),
            RequestKind::Fetch(_) => self.fetch(),
            other => panic!("unexpected request {other:?}"),
        })
    }

    fn metadata(&self, request: &MetadataRequest) -> ResponseKind {
        let topics = request
            .topics
            .iter()
            .flatten()
            .map(|t| {
                let name = t.name.clone().unwrap_or_default();
                let known = ["moving", "big"].contains(&name.as_str());
                MetadataResponseTopic::default()
                    .with_name(Some(name))
                    .with_error_code(if known {
                        NONE
                    } else {
                        UNKNOWN_TOPIC_OR_PARTITION
                    })
                    .with_partitions(if known {
                        vec![MetadataResponsePartition::default()
                            .with_partition_index(0)
                            .with_leader_id(BrokerId(1))
                            .with_replica_nodes(vec![BrokerId(1)])
                            .with_isr_nodes(vec![BrokerId(1)])]
                    } else {
                        vec![]
                    })
            })
            .collect();
        ResponseKind::Metadata(
            MetadataResponse::default()
                .with_brokers(vec![MetadataResponseBroker::default()
                    .with_node_id(BrokerId(1))
                    .with_host(StrBytes::from_static_str("127.0.0.1"))
                    .with_port(i32::from(self.port.load(Ordering::SeqCst)))])
                .with_topics(topics),
        )
    }

    fn produce(&self, request: &ProduceRequest) -> ResponseKind {
        let topic = request.topic_data[0].name.clone();
        let first = self.produces.fetch_add(1, Ordering::SeqCst) == 0;
        let partition = match topic.as_str() {
            "big" => PartitionProduceResponse::default()
                .with_error_code(MESSAGE_TOO_LARGE)
                .with_error_message(Some(StrBytes::from_static_str("batch too big"))),
            _ if first => {
                PartitionProduceResponse::default().with_error_code(NOT_LEADER_OR_FOLLOWER)
            }
            _ => PartitionProduceResponse::default().with_base_offset(42),
        };
        ResponseKind::Produce(ProduceResponse::default().with_responses(vec![
            TopicProduceResponse::default()
                .with_name(topic)
                .with_partition_responses(vec![partition]),
        ]))
    }

    fn fetch(&self) -> ResponseKind {
        let first = self.fetches.fetch_add(1, Ordering::SeqCst) == 0;
        let partition = PartitionData::default()
            .with_error_code(if first { NOT_LEADER_OR_FOLLOWER } else { NONE })
            .with_high_watermark(if first { -1 } else { 5 })
            .with_records(Some(Bytes::new()));
        ResponseKind::Fetch(FetchResponse::default().with_responses(vec![
            FetchableTopicResponse::default()
                .with_topic(TopicName(StrBytes::from_static_str("moving")))
                .with_partitions(vec![partition]),
        ]))
    }
}

async fn cluster() -> (Client, Arc<Cluster>, fake_broker::Seen) {
    let cluster = Arc::new(Cluster {
        port: AtomicU16::new(0),
        produces: AtomicUsize::new(0),
        fetches: AtomicUsize::new(0),
    });
    let script = cluster.clone();
    let (address, seen) =
        fake_broker::start(every_version, Arc::new(move |r| script.answer(r))).await;
    let port = address.rsplit(':').next().unwrap().parse().unwrap();
    cluster.port.store(port, Ordering::SeqCst);
    let client = Client::connect(&address).await.unwrap();
    (client, cluster, seen)
}

fn count(seen: &fake_broker::Seen, key: ApiKey) -> usize {
    seen.lock()
        .unwrap()
        .iter()
        .filter(|(k, _)| *k == key)
        .count()
}

#[tokio::test]
async fn produce_asks_metadata_again_and_retries_after_a_leader_change() {
    let (mut client, cluster, seen) = cluster().await;
    let offset = client
        .produce("moving", 0, Bytes::from_static(b"batch"), -1)
        .await
        .unwrap();
    assert_eq!(offset, 42);
    assert_eq!(cluster.produces.load(Ordering::SeqCst), 2);
    assert_eq!(count(&seen, ApiKey::Metadata), 2);
}

#[tokio::test]
async fn message_too_large_is_not_retried_and_reads_well() {
    let (mut client, cluster, _) = cluster().await;
    let err = client
        .produce("big", 0, Bytes::from_static(b"batch"), 1)
        .await
        .unwrap_err();
    assert_eq!(
        format!("{err:#}"),
        "cannot produce to big-0: batch too big (MESSAGE_TOO_LARGE)"
    );
    assert_eq!(cluster.produces.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_unknown_topic_is_named() {
    let (mut client, _, _) = cluster().await;
    let err = client.topic("nope").await.unwrap_err();
    assert_eq!(
        format!("{err:#}"),
        "topic 'nope' does not exist (UNKNOWN_TOPIC_OR_PARTITION)"
    );
    let err = client
        .produce("nope", 0, Bytes::new(), 1)
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("UNKNOWN_TOPIC_OR_PARTITION"));
}

#[tokio::test]
async fn a_fetch_from_a_former_leader_comes_back_empty_then_succeeds() {
    let (mut client, _, seen) = cluster().await;
    let first = client
        .fetch_partitions("moving", &[(0, 0)], 10)
        .await
        .unwrap();
    assert!(first[0].records.is_empty());
    let second = client
        .fetch_partitions("moving", &[(0, 0)], 10)
        .await
        .unwrap();
    assert_eq!(second[0].high_watermark, 5);
    assert_eq!(count(&seen, ApiKey::Metadata), 2);
}
