//! The controller's view when scraped, under the JMX exporter's names for
//! `kafka.controller:type=KafkaController`. Every node reports
//! `activecontrollercount` (1 on the active controller), so its sum over a
//! cluster is 1; the cluster-wide counts are reported by the active
//! controller and are 0 elsewhere, as Kafka's are, so sums stay right.

use super::gauges::gauge;
use crate::controller::Controller;
use gregor_metadata::MetadataImage;
use prometheus_client::registry::Registry;

/// The cluster-wide counts of one metadata image.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ClusterCounts {
    pub topics: i64,
    pub partitions: i64,
    /// Partitions without a leader.
    pub offline_partitions: i64,
    /// Partitions whose leader is not their first (preferred) replica.
    pub preferred_imbalance: i64,
    pub active_brokers: i64,
    pub fenced_brokers: i64,
}

impl ClusterCounts {
    pub fn of(image: &MetadataImage) -> ClusterCounts {
        let mut counts = ClusterCounts {
            topics: image.topics.len() as i64,
            ..ClusterCounts::default()
        };
        for partition in image.topics.values().flat_map(|t| t.partitions.values()) {
            counts.partitions += 1;
            counts.offline_partitions += i64::from(partition.leader < 0);
            counts.preferred_imbalance +=
                i64::from(partition.replicas.first() != Some(&partition.leader));
        }
        for broker in image.brokers.values() {
            if broker.fenced {
                counts.fenced_brokers += 1;
            } else {
                counts.active_brokers += 1;
            }
        }
        counts
    }
}

pub fn registry(controller: &Controller) -> Registry {
    let mut registry = Registry::default();
    let active = controller.is_active();
    let counts = match active {
        true => ClusterCounts::of(&controller.image()),
        false => ClusterCounts::default(),
    };
    let name = |n: &str| format!("kafka_controller_kafkacontroller_{n}");
    let r = &mut registry;
    gauge(
        r,
        &name("activecontrollercount"),
        "1 on the active controller, else 0",
        i64::from(active),
    );
    gauge(
        r,
        &name("globaltopiccount"),
        "Topics in the cluster (active controller only)",
        counts.topics,
    );
    gauge(
        r,
        &name("globalpartitioncount"),
        "Partitions in the cluster (active controller only)",
        counts.partitions,
    );
    gauge(
        r,
        &name("offlinepartitionscount"),
        "Partitions without a leader (active controller only)",
        counts.offline_partitions,
    );
    gauge(
        r,
        &name("preferredreplicaimbalancecount"),
        "Partitions not led by their preferred replica (active controller only)",
        counts.preferred_imbalance,
    );
    gauge(
        r,
        &name("activebrokercount"),
        "Registered unfenced brokers (active controller only)",
        counts.active_brokers,
    );
    gauge(
        r,
        &name("fencedbrokercount"),
        "Registered fenced brokers (active controller only)",
        counts.fenced_brokers,
    );
    registry
}

#[cfg(test)]
mod tests {
    use super::*;
    use gregor_metadata::{BrokerImage, PartitionImage, TopicImage};
    use std::sync::Arc;

    fn partition(replicas: &[i32], leader: i32) -> PartitionImage {
        PartitionImage {
            replicas: replicas.to_vec(),
            isr: replicas.to_vec(),
            leader,
            leader_epoch: 0,
            partition_epoch: 0,
            elr: vec![],
            last_known_elr: vec![],
        }
    }

    fn broker(id: i32, fenced: bool) -> BrokerImage {
        BrokerImage {
            id,
            incarnation_id: uuid::Uuid::from_u128(id as u128),
            epoch: 0,
            listeners: vec![],
            rack: None,
            fenced,
            in_controlled_shutdown: false,
        }
    }

    #[test]
    fn counts_offline_imbalanced_and_fenced() {
        let mut image = MetadataImage::default();
        image.brokers.insert(1, broker(1, false));
        image.brokers.insert(2, broker(2, false));
        image.brokers.insert(3, broker(3, true));
        let partitions = [
            (0, partition(&[1, 2], 1)), // preferred leader
            (1, partition(&[2, 1], 1)), // not on its preferred replica
            (2, partition(&[3], -1)),   // offline (and so not preferred)
        ];
        image.topics.insert(
            "t".into(),
            Arc::new(TopicImage {
                id: uuid::Uuid::from_u128(7),
                name: "t".into(),
                partitions: partitions.into_iter().collect(),
                configs: Default::default(),
                reassignments: Default::default(),
            }),
        );
        assert_eq!(
            ClusterCounts::of(&image),
            ClusterCounts {
                topics: 1,
                partitions: 3,
                offline_partitions: 1,
                preferred_imbalance: 2,
                active_brokers: 2,
                fenced_brokers: 1,
            }
        );
    }
}
