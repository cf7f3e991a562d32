//! The metadata image: the state that results from applying records in order.

use crate::{ConfigResource, MetadataRecord};
use std::collections::BTreeMap;
use std::sync::Arc;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerImage {
    pub id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionImage {
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub leader: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicImage {
    pub id: Uuid,
    pub name: String,
    pub partitions: BTreeMap<i32, PartitionImage>,
    /// Dynamic topic configs (only the ones set on this topic).
    pub configs: BTreeMap<String, String>,
}

/// Cheap to clone: topics are shared behind `Arc`s, so readers hold a
/// consistent snapshot while the controller builds the next image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetadataImage {
    pub brokers: BTreeMap<i32, BrokerImage>,
    pub topics: BTreeMap<String, Arc<TopicImage>>,
    pub topic_names_by_id: BTreeMap<Uuid, String>,
    /// Dynamic broker configs, by broker id.
    pub broker_configs: BTreeMap<i32, BTreeMap<String, String>>,
    /// The first producer id no block has handed out yet.
    pub next_producer_id: i64,
}

impl MetadataImage {
    /// Applies one record. Records that refer to unknown topics are ignored
    /// (they can only come from a log written by a buggy controller).
    pub fn apply(&mut self, record: &MetadataRecord) {
        match record {
            MetadataRecord::RegisterBroker {
                id,
                host,
                port,
                rack,
            } => {
                self.brokers.insert(
                    *id,
                    BrokerImage {
                        id: *id,
                        host: host.clone(),
                        port: *port,
                        rack: rack.clone(),
                    },
                );
            }
            MetadataRecord::Topic { name, id } => {
                self.topic_names_by_id.insert(*id, name.clone());
                self.topics.insert(
                    name.clone(),
                    Arc::new(TopicImage {
                        id: *id,
                        name: name.clone(),
                        partitions: BTreeMap::new(),
                        configs: BTreeMap::new(),
                    }),
                );
            }
            MetadataRecord::Partition {
                topic_id,
                partition,
                replicas,
                isr,
                leader,
                leader_epoch,
                partition_epoch,
            } => {
                if let Some(topic) = self.topic_mut_by_id(topic_id) {
                    topic.partitions.insert(
                        *partition,
                        PartitionImage {
                            replicas: replicas.clone(),
                            isr: isr.clone(),
                            leader: *leader,
                            leader_epoch: *leader_epoch,
                            partition_epoch: *partition_epoch,
                        },
                    );
                }
            }
            MetadataRecord::Config {
                resource: ConfigResource::Topic(name),
                name: key,
                value,
            } => {
                if let Some(topic) = self.topics.get_mut(name) {
                    let configs = &mut Arc::make_mut(topic).configs;
                    match value {
                        Some(v) => configs.insert(key.clone(), v.clone()),
                        None => configs.remove(key),
                    };
                }
            }
            MetadataRecord::Config {
                resource: ConfigResource::Broker(id),
                name: key,
                value,
            } => {
                let configs = self.broker_configs.entry(*id).or_default();
                match value {
                    Some(v) => configs.insert(key.clone(), v.clone()),
                    None => configs.remove(key),
                };
            }
            MetadataRecord::ProducerIds {
                next_producer_id, ..
            } => {
                self.next_producer_id = self.next_producer_id.max(*next_producer_id);
            }
            MetadataRecord::RemoveTopic { id } => {
                if let Some(name) = self.topic_names_by_id.remove(id) {
                    self.topics.remove(&name);
                }
            }
        }
    }

    fn topic_mut_by_id(&mut self, id: &Uuid) -> Option<&mut TopicImage> {
        let name = self.topic_names_by_id.get(id)?;
        self.topics.get_mut(name).map(Arc::make_mut)
    }

    pub fn topic(&self, name: &str) -> Option<&Arc<TopicImage>> {
        self.topics.get(name)
    }

    pub fn topic_by_id(&self, id: &Uuid) -> Option<&Arc<TopicImage>> {
        self.topic_names_by_id
            .get(id)
            .and_then(|name| self.topics.get(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_build_and_tear_down_topics() {
        let id = Uuid::from_u128(7);
        let mut image = MetadataImage::default();
        image.apply(&MetadataRecord::Topic {
            name: "t".into(),
            id,
        });
        image.apply(&MetadataRecord::Partition {
            topic_id: id,
            partition: 0,
            replicas: vec![1],
            isr: vec![1],
            leader: 1,
            leader_epoch: 0,
            partition_epoch: 0,
        });
        image.apply(&MetadataRecord::Config {
            resource: ConfigResource::Topic("t".into()),
            name: "retention.ms".into(),
            value: Some("5".into()),
        });
        let snapshot = image.clone();
        assert_eq!(image.topic("t").unwrap().partitions.len(), 1);
        assert_eq!(image.topic_by_id(&id).unwrap().configs["retention.ms"], "5");
        image.apply(&MetadataRecord::Config {
            resource: ConfigResource::Topic("t".into()),
            name: "retention.ms".into(),
            value: None,
        });
        assert!(image.topic("t").unwrap().configs.is_empty());
        // Copy-on-write: the earlier snapshot still sees its own state.
        assert_eq!(snapshot.topic("t").unwrap().configs.len(), 1);
        image.apply(&MetadataRecord::RemoveTopic { id });
        assert!(image.topic("t").is_none());
        assert!(image.topic_by_id(&id).is_none());
    }
}
