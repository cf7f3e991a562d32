//! The metadata image: the state that results from applying records in order.

use crate::acl::AclBinding;
use crate::record::Endpoint;
use crate::{ConfigResource, MetadataRecord};
use std::collections::BTreeMap;
use std::sync::Arc;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerImage {
    pub id: i32,
    /// Which process registered: a restarted broker has a new one.
    pub incarnation_id: Uuid,
    /// The offset of the entry holding the registration.
    pub epoch: i64,
    pub listeners: Vec<Endpoint>,
    pub rack: Option<String>,
    /// Fenced brokers lead nothing and are not listed to clients.
    pub fenced: bool,
    pub in_controlled_shutdown: bool,
}

impl BrokerImage {
    /// The endpoint of the listener called `name`.
    pub fn endpoint(&self, name: &str) -> Option<&Endpoint> {
        self.listeners.iter().find(|e| e.name == name)
    }

    /// Unfenced and not shutting down: may lead and get new replicas.
    pub fn is_active(&self) -> bool {
        !self.fenced && !self.in_controlled_shutdown
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerImage {
    pub id: i32,
    pub incarnation_id: Uuid,
    pub listeners: Vec<Endpoint>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionImage {
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub leader: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    /// Eligible leader replicas (KIP-966); empty while ELR is off.
    pub elr: Vec<i32>,
    pub last_known_elr: Vec<i32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicImage {
    pub id: Uuid,
    pub name: String,
    pub partitions: BTreeMap<i32, PartitionImage>,
    /// Dynamic topic configs (only the ones set on this topic).
    pub configs: BTreeMap<String, String>,
    /// Reassignments in progress, by partition.
    pub reassignments: BTreeMap<i32, Reassignment>,
}

/// A partition reassignment in progress: the partition's replicas are the
/// target followed by the `removing` ones; `adding` are target replicas not
/// in the original set (Kafka's PartitionReassignmentReplicas).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reassignment {
    pub adding: Vec<i32>,
    pub removing: Vec<i32>,
}

impl Reassignment {
    /// The replicas the partition will have once it is over.
    pub fn target(&self, replicas: &[i32]) -> Vec<i32> {
        replicas
            .iter()
            .copied()
            .filter(|r| !self.removing.contains(r))
            .collect()
    }
}

/// Cheap to clone: topics are shared behind `Arc`s, so readers hold a
/// consistent snapshot while the controller builds the next image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetadataImage {
    /// The offset after the last applied entry.
    pub next_offset: i64,
    pub brokers: BTreeMap<i32, BrokerImage>,
    pub controllers: BTreeMap<i32, ControllerImage>,
    pub topics: BTreeMap<String, Arc<TopicImage>>,
    pub topic_names_by_id: BTreeMap<Uuid, String>,
    /// Dynamic broker configs, by broker id.
    pub broker_configs: BTreeMap<i32, BTreeMap<String, String>>,
    /// Dynamic cluster-wide broker defaults (below a broker's own).
    pub broker_default_configs: BTreeMap<String, String>,
    /// Dynamic group configs (Kafka's GROUP config resource, e.g.
    /// `share.auto.offset.reset`), by group id: only the ones set.
    pub group_configs: BTreeMap<String, BTreeMap<String, String>>,
    /// Client metrics subscriptions (Kafka's CLIENT_METRICS config
    /// resource, KIP-714), by subscription name: `metrics`, `interval.ms`,
    /// `match` as set.
    pub client_metrics_configs: BTreeMap<String, BTreeMap<String, String>>,
    /// The first producer id no block has handed out yet.
    pub next_producer_id: i64,
    /// Finalized feature levels (Kafka's FeatureLevelRecord), by name; a
    /// feature absent here is at level 0.
    pub features: BTreeMap<String, i16>,
    /// Every ACL, by id; shared so an image clone does not copy them.
    pub acls: Arc<BTreeMap<Uuid, AclBinding>>,
    /// SCRAM credentials, by user name and then mechanism (1 SHA-256,
    /// 2 SHA-512).
    pub scram_credentials: BTreeMap<String, BTreeMap<i8, ScramCredential>>,
    /// Client quotas by entity (Kafka's ClientQuotasImage), then key.
    pub client_quotas: BTreeMap<
        crate::client_quota::QuotaEntity,
        BTreeMap<String, crate::client_quota::QuotaValue>,
    >,
}

/// What a SCRAM server keeps of a user's password (RFC 5802 §3).
#[derive(Clone, PartialEq, Eq)]
pub struct ScramCredential {
    pub salt: Vec<u8>,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
    pub iterations: i32,
}

// Keys stay out of logs and panics.
impl std::fmt::Debug for ScramCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramCredential")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

impl MetadataImage {
    /// Applies one entry (one metadata change) committed at `offset`.
    pub fn apply_entry(&mut self, offset: i64, records: &[MetadataRecord]) {
        for record in records {
            self.apply(offset, record);
        }
    }

    /// Applies one record of the entry at `offset`. Records that refer to
    /// unknown topics or to another broker epoch are ignored (they can only
    /// come from a log written by a buggy controller).
    pub fn apply(&mut self, offset: i64, record: &MetadataRecord) {
        self.next_offset = self.next_offset.max(offset.saturating_add(1));
        match record {
            MetadataRecord::RegisterBroker {
                id,
                incarnation_id,
                listeners,
                rack,
            } => {
                self.brokers.insert(
                    *id,
                    BrokerImage {
                        id: *id,
                        incarnation_id: *incarnation_id,
                        epoch: offset,
                        listeners: listeners.clone(),
                        rack: rack.clone(),
                        fenced: true,
                        in_controlled_shutdown: false,
                    },
                );
            }
            MetadataRecord::BrokerRegistrationChange {
                id,
                epoch,
                fenced,
                in_controlled_shutdown,
            } => {
                if let Some(broker) = self.brokers.get_mut(id).filter(|b| b.epoch == *epoch) {
                    if let Some(fenced) = fenced {
                        broker.fenced = *fenced;
                        // Unfenced again, a broker is no longer on its way
                        // out (Kafka keeps the flag, leaving it unable to lead).
                        if !fenced {
                            broker.in_controlled_shutdown = false;
                        }
                    }
                    if *in_controlled_shutdown {
                        broker.in_controlled_shutdown = true;
                    }
                }
            }
            MetadataRecord::UnregisterBroker { id, epoch } => {
                if self.brokers.get(id).is_some_and(|b| b.epoch == *epoch) {
                    self.brokers.remove(id);
                }
            }
            MetadataRecord::RegisterController {
                id,
                incarnation_id,
                listeners,
            } => {
                self.controllers.insert(
                    *id,
                    ControllerImage {
                        id: *id,
                        incarnation_id: *incarnation_id,
                        listeners: listeners.clone(),
                    },
                );
            }
            MetadataRecord::Topic { name, id } => {
                // A name re-used under a new id replaces the old topic whole;
                // its old id must no longer resolve (or remove) anything.
                if let Some(old) = self.topics.get(name) {
                    self.topic_names_by_id.remove(&old.id);
                }
                self.topic_names_by_id.insert(*id, name.clone());
                self.topics.insert(
                    name.clone(),
                    Arc::new(TopicImage {
                        id: *id,
                        name: name.clone(),
                        partitions: BTreeMap::new(),
                        configs: BTreeMap::new(),
                        reassignments: BTreeMap::new(),
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
                elr,
                last_known_elr,
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
                            elr: elr.clone(),
                            last_known_elr: last_known_elr.clone(),
                        },
                    );
                }
            }
            MetadataRecord::UserScramCredential {
                name,
                mechanism,
                salt,
                stored_key,
                server_key,
                iterations,
            } => {
                self.scram_credentials
                    .entry(name.clone())
                    .or_default()
                    .insert(
                        *mechanism,
                        ScramCredential {
                            salt: salt.clone(),
                            stored_key: stored_key.clone(),
                            server_key: server_key.clone(),
                            iterations: *iterations,
                        },
                    );
            }
            MetadataRecord::RemoveUserScramCredential { name, mechanism } => {
                if let Some(user) = self.scram_credentials.get_mut(name) {
                    user.remove(mechanism);
                    if user.is_empty() {
                        self.scram_credentials.remove(name);
                    }
                }
            }
            MetadataRecord::ClientQuota { entity, key, value } => match value {
                Some(v) => {
                    self.client_quotas
                        .entry(entity.clone())
                        .or_default()
                        .insert(key.clone(), *v);
                }
                None => {
                    if let Some(quotas) = self.client_quotas.get_mut(entity) {
                        quotas.remove(key);
                        if quotas.is_empty() {
                            self.client_quotas.remove(entity);
                        }
                    }
                }
            },
            MetadataRecord::FeatureLevel { name, level } => {
                if *level == 0 {
                    self.features.remove(name);
                } else {
                    self.features.insert(name.clone(), *level);
                }
            }
            MetadataRecord::PartitionReassignment {
                topic_id,
                partition,
                adding,
                removing,
            } => {
                if let Some(topic) = self.topic_mut_by_id(topic_id) {
                    if adding.is_empty() && removing.is_empty() {
                        topic.reassignments.remove(partition);
                    } else if topic.partitions.contains_key(partition) {
                        topic.reassignments.insert(
                            *partition,
                            Reassignment {
                                adding: adding.clone(),
                                removing: removing.clone(),
                            },
                        );
                    }
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
                // No empty maps: an image is the same however it was built
                // (from the log or from a snapshot).
                if configs.is_empty() {
                    self.broker_configs.remove(id);
                }
            }
            MetadataRecord::Config {
                resource: ConfigResource::BrokerDefault,
                name: key,
                value,
            } => {
                let configs = &mut self.broker_default_configs;
                match value {
                    Some(v) => configs.insert(key.clone(), v.clone()),
                    None => configs.remove(key),
                };
            }
            MetadataRecord::Config {
                resource: ConfigResource::Group(group),
                name: key,
                value,
            } => set_keyed_config(&mut self.group_configs, group, key, value.as_deref()),
            MetadataRecord::Config {
                resource: ConfigResource::ClientMetrics(subscription),
                name: key,
                value,
            } => set_keyed_config(
                &mut self.client_metrics_configs,
                subscription,
                key,
                value.as_deref(),
            ),
            MetadataRecord::ProducerIds {
                next_producer_id, ..
            } => {
                self.next_producer_id = self.next_producer_id.max(*next_producer_id);
            }
            MetadataRecord::AccessControlEntry { id, acl } => {
                Arc::make_mut(&mut self.acls).insert(*id, acl.clone());
            }
            MetadataRecord::RemoveAccessControlEntry { id } => {
                Arc::make_mut(&mut self.acls).remove(id);
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

    /// Registered, unfenced brokers: the ones clients are told about.
    pub fn unfenced_brokers(&self) -> impl Iterator<Item = &BrokerImage> {
        self.brokers.values().filter(|b| !b.fenced)
    }

    /// Registered, unfenced and not shutting down.
    pub fn is_active(&self, broker: i32) -> bool {
        self.brokers
            .get(&broker)
            .is_some_and(BrokerImage::is_active)
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

/// Sets (`Some`) or removes (`None`) one key of a named resource's
/// dynamic configs, dropping the resource when its last key goes: an
/// image is the same however it was built (from the log or a snapshot).
fn set_keyed_config(
    resources: &mut BTreeMap<String, BTreeMap<String, String>>,
    resource: &str,
    key: &str,
    value: Option<&str>,
) {
    match value {
        Some(v) => {
            resources
                .entry(resource.to_string())
                .or_default()
                .insert(key.to_string(), v.to_string());
        }
        None => {
            if let Some(configs) = resources.get_mut(resource) {
                configs.remove(key);
                if configs.is_empty() {
                    resources.remove(resource);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_and_client_metrics_configs_are_kept_by_name() {
        let mut image = MetadataImage::default();
        let set =
            |resource: ConfigResource, key: &str, value: Option<&str>| MetadataRecord::Config {
                resource,
                name: key.into(),
                value: value.map(String::from),
            };
        image.apply(
            1,
            &set(
                ConfigResource::Group("g".into()),
                "share.auto.offset.reset",
                Some("earliest"),
            ),
        );
        image.apply(
            2,
            &set(
                ConfigResource::ClientMetrics("s".into()),
                "interval.ms",
                Some("1000"),
            ),
        );
        assert_eq!(
            image.group_configs["g"]["share.auto.offset.reset"],
            "earliest"
        );
        assert_eq!(image.client_metrics_configs["s"]["interval.ms"], "1000");
        image.apply(
            3,
            &set(
                ConfigResource::Group("g".into()),
                "share.auto.offset.reset",
                None,
            ),
        );
        image.apply(
            4,
            &set(
                ConfigResource::ClientMetrics("s".into()),
                "interval.ms",
                None,
            ),
        );
        assert!(image.group_configs.is_empty());
        assert!(image.client_metrics_configs.is_empty());
    }

    #[test]
    fn records_build_and_tear_down_topics() {
        let id = Uuid::from_u128(7);
        let mut image = MetadataImage::default();
        image.apply(
            0,
            &MetadataRecord::Topic {
                name: "t".into(),
                id,
            },
        );
        image.apply(
            0,
            &MetadataRecord::Partition {
                topic_id: id,
                partition: 0,
                replicas: vec![1],
                isr: vec![1],
                leader: 1,
                leader_epoch: 0,
                partition_epoch: 0,
                elr: Vec::new(),
                last_known_elr: Vec::new(),
            },
        );
        image.apply(
            0,
            &MetadataRecord::Config {
                resource: ConfigResource::Topic("t".into()),
                name: "retention.ms".into(),
                value: Some("5".into()),
            },
        );
        let snapshot = image.clone();
        assert_eq!(image.topic("t").unwrap().partitions.len(), 1);
        assert_eq!(image.topic_by_id(&id).unwrap().configs["retention.ms"], "5");
        image.apply(
            0,
            &MetadataRecord::Config {
                resource: ConfigResource::Topic("t".into()),
                name: "retention.ms".into(),
                value: None,
            },
        );
        assert!(image.topic("t").unwrap().configs.is_empty());
        // Copy-on-write: the earlier snapshot still sees its own state.
        assert_eq!(snapshot.topic("t").unwrap().configs.len(), 1);
        image.apply(0, &MetadataRecord::RemoveTopic { id });
        assert!(image.topic("t").is_none());
        assert!(image.topic_by_id(&id).is_none());
    }

    #[test]
    fn brokers_configs_partitions_and_producer_ids() {
        let mut image = MetadataImage::default();
        let broker = |port| MetadataRecord::RegisterBroker {
            id: 1,
            incarnation_id: Uuid::from_u128(port as u128),
            listeners: vec![Endpoint {
                name: "PLAINTEXT".into(),
                host: "h".into(),
                port,
                security_protocol: 0,
            }],
            rack: None,
        };
        image.apply(0, &broker(1));
        image.apply(1, &broker(2));
        assert_eq!(image.brokers.len(), 1);
        assert_eq!(image.brokers[&1].endpoint("PLAINTEXT").unwrap().port, 2);
        assert_eq!(image.brokers[&1].epoch, 1);
        assert!(image.brokers[&1].fenced, "brokers register fenced");

        let set = |value: Option<&str>| MetadataRecord::Config {
            resource: ConfigResource::Broker(1),
            name: "log.retention.ms".into(),
            value: value.map(String::from),
        };
        image.apply(0, &set(Some("5")));
        assert_eq!(image.broker_configs[&1]["log.retention.ms"], "5");
        image.apply(0, &set(None));
        // No empty map is left behind (a snapshot would not rebuild it).
        assert!(!image.broker_configs.contains_key(&1));

        let id = Uuid::from_u128(1);
        image.apply(
            0,
            &MetadataRecord::Topic {
                name: "t".into(),
                id,
            },
        );
        let partition = |leader| MetadataRecord::Partition {
            topic_id: id,
            partition: 0,
            replicas: vec![1, 2],
            isr: vec![1, 2],
            leader,
            leader_epoch: leader,
            partition_epoch: 0,
            elr: Vec::new(),
            last_known_elr: Vec::new(),
        };
        image.apply(0, &partition(1));
        image.apply(0, &partition(2));
        let t = image.topic("t").unwrap();
        assert_eq!(t.partitions.len(), 1);
        assert_eq!(t.partitions[&0].leader, 2);

        // Records about unknown topics change nothing.
        let before = image.clone();
        image.apply(
            0,
            &MetadataRecord::Partition {
                topic_id: Uuid::from_u128(99),
                partition: 0,
                replicas: vec![],
                isr: vec![],
                leader: -1,
                leader_epoch: 0,
                partition_epoch: 0,
                elr: Vec::new(),
                last_known_elr: Vec::new(),
            },
        );
        image.apply(
            0,
            &MetadataRecord::Config {
                resource: ConfigResource::Topic("nope".into()),
                name: "retention.ms".into(),
                value: Some("1".into()),
            },
        );
        image.apply(
            0,
            &MetadataRecord::RemoveTopic {
                id: Uuid::from_u128(99),
            },
        );
        assert_eq!(image, before);

        image.apply(
            0,
            &MetadataRecord::ProducerIds {
                broker: 1,
                next_producer_id: 2000,
            },
        );
        image.apply(
            0,
            &MetadataRecord::ProducerIds {
                broker: 1,
                next_producer_id: 1000,
            },
        );
        assert_eq!(image.next_producer_id, 2000, "never moves backwards");
    }

    #[test]
    fn a_recreated_name_forgets_the_old_id() {
        let mut image = MetadataImage::default();
        let (old, new) = (Uuid::from_u128(1), Uuid::from_u128(2));
        image.apply(
            0,
            &MetadataRecord::Topic {
                name: "t".into(),
                id: old,
            },
        );
        image.apply(
            0,
            &MetadataRecord::Topic {
                name: "t".into(),
                id: new,
            },
        );
        assert!(image.topic_by_id(&old).is_none());
        image.apply(0, &MetadataRecord::RemoveTopic { id: old });
        assert_eq!(image.topic("t").unwrap().id, new);
    }
}
