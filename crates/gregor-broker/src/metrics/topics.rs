//! Kafka's BrokerTopicMetrics (`kafka.server:type=BrokerTopicMetrics`), as
//! the JMX exporter renders them: `kafka_server_brokertopicmetrics_<name>_total`
//! with a `topic` label per topic, and the same family without the label for
//! all topics together (Kafka's MBean without a `topic` key).
//!
//! The replication rates exist only for all topics, as in Kafka. Follower
//! fetches count as `replicationbytesout`, not `bytesout`.
//!
//! A topic's counters are resolved once per request and topic (a read lock
//! and a lookup by `&str`, no allocation); a deleted topic's series are
//! removed when the image without it is applied ([`TopicMetrics::retain`]).

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

type Labels = Vec<(&'static str, String)>;

/// The families, each holding the per-topic series and the all-topics one.
#[derive(Default, Clone)]
struct Families {
    bytes_in: Family<Labels, Counter>,
    bytes_out: Family<Labels, Counter>,
    messages_in: Family<Labels, Counter>,
    bytes_rejected: Family<Labels, Counter>,
    failed_produce: Family<Labels, Counter>,
    failed_fetch: Family<Labels, Counter>,
    total_produce: Family<Labels, Counter>,
    total_fetch: Family<Labels, Counter>,
}

impl Families {
    fn each(&self) -> [(&'static str, &'static str, &Family<Labels, Counter>); 8] {
        [
            ("bytesin", "BytesInPerSec: bytes of record batches appended by producers", &self.bytes_in),
            ("bytesout", "BytesOutPerSec: bytes of records sent to consumers", &self.bytes_out),
            ("messagesin", "MessagesInPerSec: records appended by producers", &self.messages_in),
            ("bytesrejected", "BytesRejectedPerSec: bytes of batches refused as too large", &self.bytes_rejected),
            ("failedproducerequests", "FailedProduceRequestsPerSec: partition appends that failed (not counting NOT_LEADER_OR_FOLLOWER, unknown partitions, too large or corrupt batches)", &self.failed_produce),
            ("failedfetchrequests", "FailedFetchRequestsPerSec: partition reads that failed unexpectedly", &self.failed_fetch),
            ("totalproducerequests", "TotalProduceRequestsPerSec: partitions in produce requests", &self.total_produce),
            ("totalfetchrequests", "TotalFetchRequestsPerSec: partitions in fetch responses", &self.total_fetch),
        ]
    }
}

/// One topic's series (or the all-topics ones).
pub struct TopicCounters {
    bytes_in: Counter,
    bytes_out: Counter,
    messages_in: Counter,
    bytes_rejected: Counter,
    failed_produce: Counter,
    failed_fetch: Counter,
    total_produce: Counter,
    total_fetch: Counter,
}

impl TopicCounters {
    fn new(families: &Families, labels: &Labels) -> TopicCounters {
        TopicCounters {
            bytes_in: families.bytes_in.get_or_create_owned(labels),
            bytes_out: families.bytes_out.get_or_create_owned(labels),
            messages_in: families.messages_in.get_or_create_owned(labels),
            bytes_rejected: families.bytes_rejected.get_or_create_owned(labels),
            failed_produce: families.failed_produce.get_or_create_owned(labels),
            failed_fetch: families.failed_fetch.get_or_create_owned(labels),
            total_produce: families.total_produce.get_or_create_owned(labels),
            total_fetch: families.total_fetch.get_or_create_owned(labels),
        }
    }
}

/// How one partition of a produce request ended, for the topic counters.
pub enum ProduceOutcome {
    /// Appended: the batch's bytes and its records (0 for a duplicate).
    Appended { bytes: u64, records: u64 },
    /// Refused as too large (`MESSAGE_TOO_LARGE`): the batch's bytes.
    Rejected { bytes: u64 },
    /// Failed in a way Kafka counts as a failed produce request.
    Failed,
    /// Failed in a way Kafka does not count as failed (not the leader, ...).
    NotCounted,
}

pub struct TopicMetrics {
    families: Families,
    replication_bytes_in: Family<Labels, Counter>,
    replication_bytes_out: Family<Labels, Counter>,
    all: TopicCounters,
    replicated_in: Counter,
    replicated_out: Counter,
    topics: RwLock<HashMap<String, Arc<TopicCounters>>>,
}

impl Default for TopicMetrics {
    fn default() -> Self {
        TopicMetrics::new()
    }
}

impl TopicMetrics {
    pub fn new() -> TopicMetrics {
        let families = Families::default();
        let all = TopicCounters::new(&families, &Vec::new());
        let replication_bytes_in = Family::default();
        let replication_bytes_out = Family::default();
        // The all-topics series exist from the start, as Kafka's do.
        let replicated_in = replication_bytes_in.get_or_create_owned(&Vec::new());
        let replicated_out = replication_bytes_out.get_or_create_owned(&Vec::new());
        TopicMetrics {
            replicated_in,
            replicated_out,
            families,
            replication_bytes_in,
            replication_bytes_out,
            all,
            topics: RwLock::new(HashMap::new()),
        }
    }

    pub fn register(&self, registry: &mut Registry) {
        for (name, help, family) in self.families.each() {
            registry.register(
                format!("kafka_server_brokertopicmetrics_{name}"),
                help,
                family.clone(),
            );
        }
        registry.register(
            "kafka_server_brokertopicmetrics_replicationbytesin",
            "ReplicationBytesInPerSec: bytes appended by this broker's followers",
            self.replication_bytes_in.clone(),
        );
        registry.register(
            "kafka_server_brokertopicmetrics_replicationbytesout",
            "ReplicationBytesOutPerSec: bytes of records sent to followers",
            self.replication_bytes_out.clone(),
        );
    }

    /// The counters of `topic`, created on first use. Callers look a topic
    /// up once per request, and only for topics that exist.
    pub fn topic(&self, topic: &str) -> Arc<TopicCounters> {
        if let Ok(topics) = self.topics.read() {
            if let Some(counters) = topics.get(topic) {
                return counters.clone();
            }
        }
        let labels: Labels = vec![("topic", topic.to_string())];
        let created = Arc::new(TopicCounters::new(&self.families, &labels));
        match self.topics.write() {
            Ok(mut topics) => topics.entry(topic.to_string()).or_insert(created).clone(),
            Err(_) => created,
        }
    }

    /// One partition of a produce request to an existing topic.
    pub fn produced(&self, topic: &TopicCounters, outcome: ProduceOutcome) {
        for c in [topic, &self.all] {
            c.total_produce.inc();
            match outcome {
                ProduceOutcome::Appended { bytes, records } => {
                    c.bytes_in.inc_by(bytes);
                    c.messages_in.inc_by(records);
                }
                ProduceOutcome::Rejected { bytes } => {
                    c.bytes_rejected.inc_by(bytes);
                }
                ProduceOutcome::Failed => {
                    c.failed_produce.inc();
                }
                ProduceOutcome::NotCounted => {}
            }
        }
    }

    /// One partition of a fetch response: its records' bytes and whether
    /// the read failed in a way Kafka counts.
    pub fn fetched(&self, topic: &TopicCounters, follower: bool, bytes: u64, failed: bool) {
        for c in [topic, &self.all] {
            c.total_fetch.inc();
            if failed {
                c.failed_fetch.inc();
            }
            if !follower {
                c.bytes_out.inc_by(bytes);
            }
        }
        if follower {
            self.replicated_out.inc_by(bytes);
        }
    }

    /// The counter of bytes this broker's followers append from leaders
    /// (the fetcher holds it: it starts before the broker).
    pub fn replicated_in(&self) -> Counter {
        self.replicated_in.clone()
    }

    /// Drops the series of every topic `exists` says is gone.
    pub fn retain(&self, exists: impl Fn(&str) -> bool) {
        let gone: Vec<String> = match self.topics.read() {
            Ok(topics) => topics.keys().filter(|t| !exists(t)).cloned().collect(),
            Err(_) => return,
        };
        if gone.is_empty() {
            return;
        }
        if let Ok(mut topics) = self.topics.write() {
            for topic in gone {
                topics.remove(&topic);
                let labels: Labels = vec![("topic", topic)];
                for (_, _, family) in self.families.each() {
                    family.remove(&labels);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(metrics: &TopicMetrics) -> String {
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
        out
    }

    #[test]
    fn topic_and_all_topics_series_and_removal() {
        let metrics = TopicMetrics::new();
        let orders = metrics.topic("orders");
        metrics.produced(
            &orders,
            ProduceOutcome::Appended {
                bytes: 100,
                records: 3,
            },
        );
        metrics.produced(
            &metrics.topic("other"),
            ProduceOutcome::Rejected { bytes: 7 },
        );
        metrics.fetched(&orders, false, 40, false);
        metrics.fetched(&orders, true, 60, false);
        let text = render(&metrics);
        for line in [
            r#"kafka_server_brokertopicmetrics_bytesin_total{topic="orders"} 100"#,
            "kafka_server_brokertopicmetrics_bytesin_total 100",
            r#"kafka_server_brokertopicmetrics_messagesin_total{topic="orders"} 3"#,
            "kafka_server_brokertopicmetrics_bytesrejected_total 7",
            "kafka_server_brokertopicmetrics_totalproducerequests_total 2",
            r#"kafka_server_brokertopicmetrics_bytesout_total{topic="orders"} 40"#,
            "kafka_server_brokertopicmetrics_replicationbytesout_total 60",
            r#"kafka_server_brokertopicmetrics_totalfetchrequests_total{topic="orders"} 2"#,
        ] {
            assert!(
                text.contains(&format!("{line}\n")),
                "{line} missing from\n{text}"
            );
        }
        metrics.retain(|t| t == "other");
        let text = render(&metrics);
        assert!(!text.contains("orders"), "{text}");
        assert!(text.contains(r#"{topic="other"}"#), "{text}");
        assert!(
            text.contains("kafka_server_brokertopicmetrics_bytesin_total 100\n"),
            "{text}"
        );
    }
}
