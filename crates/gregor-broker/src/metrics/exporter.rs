//! The series kafka_exporter (danielqsj/kafka_exporter) publishes, so its
//! dashboards and alerts work without running it:
//! - topic partitions this broker leads (their offsets are exact here);
//!   over a cluster each partition comes from its leader once;
//! - the groups this broker coordinates, with their lag (see [`super::lag`]);
//! - the cluster view (`kafka_brokers`, `kafka_broker_info`,
//!   `kafka_topic_partitions`) from the
//!   metadata image, the same on every broker (take `max`, not `sum`).
//!
//! Also Gregor's own `gregor_consumergroup_lag_seconds`.

use super::gauges::{family, float_family, gauge, labels, set};
use super::lag::GroupLag;
use crate::replica_manager::ReplicaManager;
use gregor_metadata::MetadataImage;
use prometheus_client::registry::Registry;
use std::collections::BTreeMap;

/// The topic, partition and cluster families.
pub fn topics_registry(image: &MetadataImage, replicas: &ReplicaManager) -> Registry {
    let mut registry = Registry::default();
    let r = &mut registry;
    let active = image.brokers.values().filter(|b| !b.fenced).count() as i64;
    gauge(
        r,
        "kafka_brokers",
        "Number of brokers in the cluster (unfenced)",
        active,
    );
    let info = family(
        r,
        "kafka_broker_info",
        "Information about the broker (its first listener)",
    );
    for broker in image.brokers.values().filter(|b| !b.fenced) {
        let address = broker
            .listeners
            .first()
            .map(|e| format!("{}:{}", e.host, e.port))
            .unwrap_or_default();
        let id = broker.id.to_string();
        set(&info, labels([("id", &id), ("address", &address)]), 1);
    }
    let partitions = family(
        r,
        "kafka_topic_partitions",
        "Number of partitions of the topic",
    );
    for topic in image.topics.values() {
        let count = topic.partitions.len() as i64;
        set(&partitions, labels([("topic", &topic.name)]), count);
    }
    let p = |r: &mut Registry, name: &str, help: &str| {
        family(r, &format!("kafka_topic_partition_{name}"), help)
    };
    let current = p(
        r,
        "current_offset",
        "Current offset (high watermark) of a partition led here",
    );
    let oldest = p(
        r,
        "oldest_offset",
        "Oldest offset (log start) of a partition led here",
    );
    let leader = p(r, "leader", "Leader broker id of a partition led here");
    let replica_count = p(r, "replicas", "Number of replicas of a partition led here");
    let in_sync = p(
        r,
        "in_sync_replica",
        "Number of in-sync replicas of a partition led here",
    );
    let urp = p(
        r,
        "under_replicated_partition",
        "1 if a partition led here is under-replicated",
    );
    let preferred = p(
        r,
        "leader_is_preferred",
        "1 if a partition led here is led by its preferred replica",
    );
    let node_id = replicas.node_id();
    for partition in replicas.all_partitions() {
        let leadership = partition.leadership();
        if leadership.leader != node_id {
            continue;
        }
        let Ok((log_start, high_watermark)) = partition.offsets() else {
            continue;
        };
        let index = partition.index.to_string();
        let series = || labels([("topic", &partition.topic), ("partition", &index)]);
        let isr = partition.isr_size() as i64;
        let replicas = leadership.replicas.len() as i64;
        set(&current, series(), high_watermark);
        set(&oldest, series(), log_start);
        set(&leader, series(), i64::from(leadership.leader));
        set(&replica_count, series(), replicas);
        set(&in_sync, series(), isr);
        set(&urp, series(), i64::from(isr < replicas));
        let is_preferred = leadership.replicas.first() == Some(&leadership.leader);
        set(&preferred, series(), i64::from(is_preferred));
    }
    registry
}

/// The consumer group families of `lags`.
pub fn groups_registry(lags: &[GroupLag]) -> Registry {
    let mut registry = Registry::default();
    let r = &mut registry;
    let g = |r: &mut Registry, name: &str, help: &str| {
        family(r, &format!("kafka_consumergroup_{name}"), help)
    };
    let members = g(r, "members", "Number of members of the group");
    let current = g(
        r,
        "current_offset",
        "Committed offset of the group on a partition",
    );
    let current_sum = g(
        r,
        "current_offset_sum",
        "Sum of the group's committed offsets on a topic",
    );
    let lag = g(
        r,
        "lag",
        "High watermark minus the group's committed offset on a partition",
    );
    let lag_sum = g(r, "lag_sum", "Sum of the group's lag on a topic");
    let seconds = float_family(
        r,
        "gregor_consumergroup_lag_seconds",
        "Newest record's timestamp minus that of the record at the committed offset, in seconds (0 when caught up)",
    );
    for group in lags {
        let name = group.group.as_str();
        set(
            &members,
            labels([("consumergroup", name)]),
            group.members as i64,
        );
        let mut sums: BTreeMap<&str, (i64, Option<i64>)> = BTreeMap::new();
        for p in &group.partitions {
            let index = p.partition.to_string();
            let series = || {
                labels([
                    ("consumergroup", name),
                    ("topic", &p.topic),
                    ("partition", &index),
                ])
            };
            set(&current, series(), p.committed_offset);
            let sum = sums.entry(&p.topic).or_default();
            sum.0 += p.committed_offset;
            if let Some(value) = p.lag {
                set(&lag, series(), value);
                sum.1 = Some(sum.1.unwrap_or(0) + value);
            }
            if let Some(value) = p.lag_seconds {
                seconds.get_or_create(&series()).set(value);
            }
        }
        for (topic, (offsets, lags)) in sums {
            let series = || labels([("consumergroup", name), ("topic", topic)]);
            set(&current_sum, series(), offsets);
            if let Some(value) = lags {
                set(&lag_sum, series(), value);
            }
        }
    }
    registry
}
