//! A metadata image as a snapshot: the records that rebuild it when applied
//! to an empty image, and their encoding as the data of a KRaft snapshot.
//!
//! Records are applied at an offset (a broker's epoch is the offset of its
//! registration), so [`MetadataImage::to_records`] pairs each record with
//! the offset to apply it at. The encoding is the image's `next_offset`
//! (8 bytes, big-endian) followed by one frame per offset: the offset
//! (8 bytes), the length (4 bytes) and an [`encode_batch`] of its records,
//! the same form a log entry takes.

use crate::record::{decode_batch, encode_batch, ConfigResource, MetadataRecord};
use crate::MetadataImage;
use bytes::{Buf, BufMut, Bytes, BytesMut};

impl MetadataImage {
    /// Records, each with the offset to apply it at, that rebuild this
    /// image (but for `next_offset`) when applied in order to an empty one.
    pub fn to_records(&self) -> Vec<(i64, MetadataRecord)> {
        let mut out = Vec::new();
        for c in self.controllers.values() {
            out.push((
                0,
                MetadataRecord::RegisterController {
                    id: c.id,
                    incarnation_id: c.incarnation_id,
                    listeners: c.listeners.clone(),
                },
            ));
        }
        for b in self.brokers.values() {
            out.push((
                b.epoch,
                MetadataRecord::RegisterBroker {
                    id: b.id,
                    incarnation_id: b.incarnation_id,
                    listeners: b.listeners.clone(),
                    rack: b.rack.clone(),
                },
            ));
            // A registration starts fenced and not shutting down.
            if !b.fenced || b.in_controlled_shutdown {
                out.push((
                    b.epoch,
                    MetadataRecord::BrokerRegistrationChange {
                        id: b.id,
                        epoch: b.epoch,
                        fenced: Some(b.fenced),
                        in_controlled_shutdown: b.in_controlled_shutdown,
                    },
                ));
            }
        }
        for topic in self.topics.values() {
            out.push((
                0,
                MetadataRecord::Topic {
                    name: topic.name.clone(),
                    id: topic.id,
                },
            ));
            for (partition, p) in &topic.partitions {
                out.push((
                    0,
                    MetadataRecord::Partition {
                        topic_id: topic.id,
                        partition: *partition,
                        replicas: p.replicas.clone(),
                        isr: p.isr.clone(),
                        leader: p.leader,
                        leader_epoch: p.leader_epoch,
                        partition_epoch: p.partition_epoch,
                        elr: p.elr.clone(),
                        last_known_elr: p.last_known_elr.clone(),
                    },
                ));
            }
            for (partition, r) in &topic.reassignments {
                out.push((
                    0,
                    MetadataRecord::PartitionReassignment {
                        topic_id: topic.id,
                        partition: *partition,
                        adding: r.adding.clone(),
                        removing: r.removing.clone(),
                    },
                ));
            }
            for (name, value) in &topic.configs {
                out.push((
                    0,
                    config(ConfigResource::Topic(topic.name.clone()), name, value),
                ));
            }
        }
        for (broker, configs) in &self.broker_configs {
            for (name, value) in configs {
                out.push((0, config(ConfigResource::Broker(*broker), name, value)));
            }
        }
        for (name, value) in &self.broker_default_configs {
            out.push((0, config(ConfigResource::BrokerDefault, name, value)));
        }
        for (group, configs) in &self.group_configs {
            for (name, value) in configs {
                out.push((0, config(ConfigResource::Group(group.clone()), name, value)));
            }
        }
        for (subscription, configs) in &self.client_metrics_configs {
            for (name, value) in configs {
                out.push((
                    0,
                    config(
                        ConfigResource::ClientMetrics(subscription.clone()),
                        name,
                        value,
                    ),
                ));
            }
        }
        for (name, level) in &self.features {
            out.push((
                0,
                MetadataRecord::FeatureLevel {
                    name: name.clone(),
                    level: *level,
                },
            ));
        }
        for (id, acl) in self.acls.iter() {
            out.push((
                0,
                MetadataRecord::AccessControlEntry {
                    id: *id,
                    acl: acl.clone(),
                },
            ));
        }
        for (name, credentials) in &self.scram_credentials {
            for (mechanism, c) in credentials {
                out.push((
                    0,
                    MetadataRecord::UserScramCredential {
                        name: name.clone(),
                        mechanism: *mechanism,
                        salt: c.salt.clone(),
                        stored_key: c.stored_key.clone(),
                        server_key: c.server_key.clone(),
                        iterations: c.iterations,
                    },
                ));
            }
        }
        for (entity, quotas) in &self.client_quotas {
            for (key, value) in quotas {
                out.push((
                    0,
                    MetadataRecord::ClientQuota {
                        entity: entity.clone(),
                        key: key.clone(),
                        value: Some(*value),
                    },
                ));
            }
        }
        if self.next_producer_id != 0 {
            out.push((
                0,
                MetadataRecord::ProducerIds {
                    broker: -1,
                    next_producer_id: self.next_producer_id,
                },
            ));
        }
        out
    }

    /// This image as snapshot data (see the module docs).
    pub fn encode_snapshot(&self) -> Bytes {
        let mut out = BytesMut::new();
        out.put_i64(self.next_offset);
        let records = self.to_records();
        let mut i = 0;
        while i < records.len() {
            let offset = records[i].0;
            let run = records[i..]
                .iter()
                .take_while(|(o, _)| *o == offset)
                .count();
            let batch: Vec<MetadataRecord> =
                records[i..i + run].iter().map(|(_, r)| r.clone()).collect();
            let encoded = encode_batch(&batch);
            out.put_i64(offset);
            out.put_u32(encoded.len() as u32);
            out.extend_from_slice(&encoded);
            i += run;
        }
        out.freeze()
    }

    /// The image snapshot data stands for.
    pub fn decode_snapshot(data: &[u8]) -> Result<MetadataImage, String> {
        let mut buf = data;
        if buf.remaining() < 8 {
            return Err("metadata snapshot shorter than its header".into());
        }
        let next_offset = buf.get_i64();
        let mut image = MetadataImage::default();
        while buf.has_remaining() {
            if buf.remaining() < 12 {
                return Err("truncated metadata snapshot frame".into());
            }
            let offset = buf.get_i64();
            let len = buf.get_u32() as usize;
            if buf.remaining() < len {
                return Err("truncated metadata snapshot frame".into());
            }
            let records = decode_batch(&buf[..len])?;
            buf.advance(len);
            image.apply_entry(offset, &records);
        }
        image.next_offset = next_offset;
        Ok(image)
    }
}

fn config(resource: ConfigResource, name: &str, value: &str) -> MetadataRecord {
    MetadataRecord::Config {
        resource,
        name: name.to_string(),
        value: Some(value.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Endpoint;
    use crate::testing;
    use proptest::prelude::*;
    use uuid::Uuid;

    fn topic_id(name_index: u8, n: u128) -> Uuid {
        Uuid::from_u128(1000 + n * 4 + u128::from(name_index))
    }

    /// One random change, as a controller could write it: ids from small
    /// ranges so changes hit the same brokers, topics and configs.
    fn change() -> impl Strategy<Value = MetadataRecord> {
        let name = (0..3u8).prop_map(|i| ["a", "b", "c"][i as usize].to_string());
        let key = prop_oneof![Just("retention.ms"), Just("segment.bytes")].prop_map(String::from);
        let value = proptest::option::of("[0-9]{1,3}");
        prop_oneof![
            (0..4i32, proptest::option::of("r[12]")).prop_map(|(id, rack)| {
                MetadataRecord::RegisterBroker {
                    id,
                    incarnation_id: Uuid::from_u128(id as u128 + 1),
                    listeners: vec![Endpoint {
                        name: "PLAINTEXT".into(),
                        host: format!("h{id}"),
                        port: 9092,
                        security_protocol: 0,
                    }],
                    rack,
                }
            }),
            (
                0..4i32,
                0..40i64,
                proptest::option::of(any::<bool>()),
                any::<bool>()
            )
                .prop_map(|(id, epoch, fenced, in_controlled_shutdown)| {
                    MetadataRecord::BrokerRegistrationChange {
                        id,
                        epoch,
                        fenced,
                        in_controlled_shutdown,
                    }
                }),
            (0..4i32, 0..40i64)
                .prop_map(|(id, epoch)| MetadataRecord::UnregisterBroker { id, epoch }),
            (0..3i32).prop_map(|id| MetadataRecord::RegisterController {
                id,
                incarnation_id: Uuid::from_u128(100 + id as u128),
                listeners: Vec::new(),
            }),
            // An id belongs to one name, as the controller's random ids do.
            (0..3u8, 0..8u128).prop_map(|(i, n)| MetadataRecord::Topic {
                id: topic_id(i, n),
                name: ["a", "b", "c"][i as usize].to_string(),
            }),
            (0..3u8, 0..8u128, 0..3i32, 0..5i32).prop_map(|(i, n, partition, epoch)| {
                MetadataRecord::Partition {
                    topic_id: topic_id(i, n),
                    partition,
                    replicas: vec![1, 2],
                    isr: vec![1],
                    leader: 1,
                    leader_epoch: epoch,
                    partition_epoch: epoch,
                    elr: if epoch % 2 == 0 { vec![2] } else { vec![] },
                    last_known_elr: if epoch == 3 { vec![2] } else { vec![] },
                }
            }),
            (0..3u8, 0..8u128, 0..3i32, any::<bool>()).prop_map(|(i, n, partition, done)| {
                MetadataRecord::PartitionReassignment {
                    topic_id: topic_id(i, n),
                    partition,
                    adding: if done { vec![] } else { vec![3] },
                    removing: if done { vec![] } else { vec![1] },
                }
            }),
            (name, key.clone(), value.clone()).prop_map(|(name, key, value)| {
                MetadataRecord::Config {
                    resource: ConfigResource::Topic(name),
                    name: key,
                    value,
                }
            }),
            (0..3i32, key.clone(), value.clone()).prop_map(|(id, key, value)| {
                MetadataRecord::Config {
                    resource: ConfigResource::Broker(id),
                    name: key,
                    value,
                }
            }),
            (0..3u8, key.clone(), value.clone()).prop_map(|(group, key, value)| {
                MetadataRecord::Config {
                    resource: ConfigResource::Group(format!("g{group}")),
                    name: key,
                    value,
                }
            }),
            (0..3u8, key.clone(), value.clone()).prop_map(|(sub, key, value)| {
                MetadataRecord::Config {
                    resource: ConfigResource::ClientMetrics(format!("s{sub}")),
                    name: key,
                    value,
                }
            }),
            (key, value).prop_map(|(key, value)| MetadataRecord::Config {
                resource: ConfigResource::BrokerDefault,
                name: key,
                value,
            }),
            (0..3u8, 0..8u128)
                .prop_map(|(i, n)| MetadataRecord::RemoveTopic { id: topic_id(i, n) }),
            (0..3i32, 0..5000i64).prop_map(|(broker, next_producer_id)| {
                MetadataRecord::ProducerIds {
                    broker,
                    next_producer_id,
                }
            }),
            (0..2i16).prop_map(|level| MetadataRecord::FeatureLevel {
                name: crate::elr::FEATURE.to_string(),
                level,
            }),
            (0..4u128, 0..3u8).prop_map(|(n, op)| MetadataRecord::AccessControlEntry {
                id: Uuid::from_u128(n),
                acl: crate::acl::AclBinding {
                    resource_type: crate::acl::ResourceType::Topic,
                    resource_name: format!("t{n}"),
                    pattern_type: crate::acl::PatternType::Literal,
                    principal: "User:alice".into(),
                    host: "*".into(),
                    operation: crate::acl::AclOperation::from_code(op as i8 + 2),
                    permission: crate::acl::AclPermission::Allow,
                },
            }),
            (0..4u128).prop_map(|n| MetadataRecord::RemoveAccessControlEntry {
                id: Uuid::from_u128(n)
            }),
            (0..3u8, 1..3i8, 4096..4100i32).prop_map(|(user, mechanism, iterations)| {
                MetadataRecord::UserScramCredential {
                    name: format!("user{user}"),
                    mechanism,
                    salt: vec![user; 4],
                    stored_key: vec![mechanism as u8; 32],
                    server_key: vec![iterations as u8; 32],
                    iterations,
                }
            }),
            (0..3u8, 1..3i8).prop_map(|(user, mechanism)| {
                MetadataRecord::RemoveUserScramCredential {
                    name: format!("user{user}"),
                    mechanism,
                }
            }),
            (0..3u8, proptest::option::of(0..3u32)).prop_map(|(user, value)| {
                MetadataRecord::ClientQuota {
                    entity: [("user".to_string(), (user > 0).then(|| format!("u{user}")))]
                        .into_iter()
                        .collect(),
                    key: "producer_byte_rate".into(),
                    value: value.map(|v| crate::client_quota::QuotaValue(f64::from(v))),
                }
            }),
        ]
    }

    /// Entries of one to three changes at consecutive offsets; topic and
    /// partition records refer to topics the earlier entries created.
    fn history() -> impl Strategy<Value = Vec<Vec<MetadataRecord>>> {
        proptest::collection::vec(proptest::collection::vec(change(), 1..4), 0..60)
    }

    fn replay(entries: &[Vec<MetadataRecord>]) -> MetadataImage {
        let mut image = MetadataImage::default();
        for (offset, records) in entries.iter().enumerate() {
            image.apply_entry(offset as i64, records);
        }
        image
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn an_image_round_trips_through_its_snapshot(entries in history()) {
            let image = replay(&entries);
            let decoded = MetadataImage::decode_snapshot(&image.encode_snapshot()).unwrap();
            prop_assert_eq!(&decoded, &image);
            // And the records alone rebuild it, next_offset aside.
            let mut rebuilt = MetadataImage::default();
            for (offset, record) in image.to_records() {
                rebuilt.apply(offset, &record);
            }
            rebuilt.next_offset = image.next_offset;
            prop_assert_eq!(rebuilt, image);
        }
    }

    #[test]
    fn a_cluster_image_round_trips_and_garbage_is_an_error() {
        let mut image = testing::racked_cluster(&[(1, "r1"), (2, "r2"), (3, "")]);
        image.apply(
            9,
            &MetadataRecord::BrokerRegistrationChange {
                id: 2,
                epoch: 2,
                fenced: None,
                in_controlled_shutdown: true,
            },
        );
        let data = image.encode_snapshot();
        assert_eq!(MetadataImage::decode_snapshot(&data).unwrap(), image);
        assert!(MetadataImage::decode_snapshot(&data[..data.len() - 1]).is_err());
        assert!(MetadataImage::decode_snapshot(b"short").is_err());
        let empty = MetadataImage::default();
        assert_eq!(
            MetadataImage::decode_snapshot(&empty.encode_snapshot()).unwrap(),
            empty
        );
    }
}
