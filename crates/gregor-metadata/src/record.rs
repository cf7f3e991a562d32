//! Metadata records and their on-disk encoding: a type byte, a version byte,
//! then the fields big-endian (strings as u16 length + UTF-8, optional
//! strings behind a presence byte, UUIDs as 16 bytes, lists as u32 count +
//! items). Stable across releases, since the metadata log outlives the binary.
//!
//! One metadata change is one raft entry ([`encode_batch`]): its records
//! commit together or not at all, and the entry's offset is what a broker
//! registration's epoch is (as in Kafka).

use crate::acl::{AclBinding, AclOperation, AclPermission, PatternType, ResourceType};
use bytes::{BufMut, Bytes, BytesMut};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConfigResource {
    Broker(i32),
    Topic(String),
    /// The cluster-wide broker defaults (Kafka's BROKER resource with an
    /// empty name).
    BrokerDefault,
    /// One group's dynamic configs (Kafka's GROUP resource, type 32).
    Group(String),
    /// One client metrics subscription (Kafka's CLIENT_METRICS resource,
    /// type 16, KIP-714).
    ClientMetrics(String),
}

/// One listener of a broker or controller, as Kafka's `BrokerEndpoint`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub name: String,
    pub host: String,
    pub port: i32,
    /// Kafka's `SecurityProtocol` id (0 PLAINTEXT, 1 SSL, 2 SASL_PLAINTEXT,
    /// 3 SASL_SSL).
    pub security_protocol: i16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataRecord {
    /// A broker (incarnation) registered; it starts fenced, and its epoch is
    /// the offset of the entry holding this record.
    RegisterBroker {
        id: i32,
        incarnation_id: Uuid,
        listeners: Vec<Endpoint>,
        rack: Option<String>,
    },
    /// Kafka's BrokerRegistrationChangeRecord: fence (`Some(true)`), unfence
    /// (`Some(false)`) and/or enter controlled shutdown. Applies only to the
    /// registration with this epoch.
    BrokerRegistrationChange {
        id: i32,
        epoch: i64,
        fenced: Option<bool>,
        in_controlled_shutdown: bool,
    },
    /// The registration with this epoch is gone.
    UnregisterBroker { id: i32, epoch: i64 },
    /// A controller announced its listeners (DescribeCluster lists them).
    RegisterController {
        id: i32,
        incarnation_id: Uuid,
        listeners: Vec<Endpoint>,
    },
    /// A topic was created with this id.
    Topic { name: String, id: Uuid },
    /// A partition's assignment and leadership: written whole on creation and
    /// on every leader/ISR change (leader epoch bumps on a leader change,
    /// partition epoch on every change).
    Partition {
        topic_id: Uuid,
        partition: i32,
        replicas: Vec<i32>,
        isr: Vec<i32>,
        leader: i32,
        leader_epoch: i32,
        partition_epoch: i32,
        /// Eligible leader replicas (KIP-966): former ISR members that were
        /// in sync when the ISR fell below min.insync.replicas; one may lead
        /// once the ISR is empty. Empty in records written before v1.
        elr: Vec<i32>,
        /// Former ISR members that are neither in the ISR nor the ELR any
        /// more (e.g. removed from the ELR by an unclean shutdown).
        last_known_elr: Vec<i32>,
    },
    /// A partition's reassignment in progress (Kafka keeps these in its
    /// PartitionRecord): replicas being added and being removed; both empty
    /// once it is over. Written in the same entry as the Partition record
    /// that changes the replica set, so the two never disagree.
    PartitionReassignment {
        topic_id: Uuid,
        partition: i32,
        adding: Vec<i32>,
        removing: Vec<i32>,
    },
    /// A dynamic config was set (`Some`) or removed (`None`).
    Config {
        resource: ConfigResource,
        name: String,
        value: Option<String>,
    },
    /// The topic and all its partitions and configs are gone.
    RemoveTopic { id: Uuid },
    /// A block of producer ids was handed to `broker`: every id below
    /// `next_producer_id` is taken, across restarts.
    ProducerIds { broker: i32, next_producer_id: i64 },
    /// A feature's finalized level (Kafka's FeatureLevelRecord); level 0
    /// removes it.
    FeatureLevel { name: String, level: i16 },
    /// An ACL was created (Kafka's AccessControlEntryRecord); `id` names it
    /// for removal.
    AccessControlEntry { id: Uuid, acl: AclBinding },
    /// The ACL with this id is gone (Kafka's RemoveAccessControlEntryRecord).
    RemoveAccessControlEntry { id: Uuid },
    /// A user's SCRAM credential for one mechanism (Kafka's
    /// UserScramCredentialRecord): never the password, only what a SCRAM
    /// server needs (RFC 5802's StoredKey and ServerKey with the salt and
    /// iteration count). Mechanism as on the wire: 1 SHA-256, 2 SHA-512.
    UserScramCredential {
        name: String,
        mechanism: i8,
        salt: Vec<u8>,
        stored_key: Vec<u8>,
        server_key: Vec<u8>,
        iterations: i32,
    },
    /// Kafka's RemoveUserScramCredentialRecord.
    RemoveUserScramCredential { name: String, mechanism: i8 },
    /// A client quota of one entity (Kafka's ClientQuotaRecord): entity
    /// type (`user`, `client-id`, `ip`) to name, `None` the `<default>`;
    /// `value` `None` removes the key.
    ClientQuota {
        entity: crate::client_quota::QuotaEntity,
        key: String,
        value: Option<crate::client_quota::QuotaValue>,
    },
}

const VERSION: u8 = 0;
/// RegisterBroker v1 carries an incarnation id and listeners; v0 (one
/// host/port) is still read so older metadata logs replay.
const REGISTER_BROKER_VERSION: u8 = 1;
/// Partition v1 appends the ELR and last known ELR; v0 reads as empty ones.
const PARTITION_VERSION: u8 = 1;
/// First byte of a batch; record type tags stay below it, so a log entry
/// holding one bare record (the format before batches) is told apart.
const BATCH_MAGIC: u8 = 0x80;

/// The longest string a record can hold (its length is a u16); encoding
/// truncates longer ones, so callers must refuse them first.
pub const MAX_STRING_BYTES: usize = u16::MAX as usize;

mod tag {
    pub const REGISTER_BROKER: u8 = 1;
    pub const TOPIC: u8 = 2;
    pub const PARTITION: u8 = 3;
    pub const CONFIG: u8 = 4;
    pub const REMOVE_TOPIC: u8 = 5;
    pub const PRODUCER_IDS: u8 = 6;
    pub const BROKER_REGISTRATION_CHANGE: u8 = 7;
    pub const UNREGISTER_BROKER: u8 = 8;
    pub const REGISTER_CONTROLLER: u8 = 9;
    pub const PARTITION_REASSIGNMENT: u8 = 10;
    pub const FEATURE_LEVEL: u8 = 11;
    // ACLs are numbered apart from the rest, leaving room below for other
    // record types.
    pub const ACCESS_CONTROL_ENTRY: u8 = 20;
    pub const REMOVE_ACCESS_CONTROL_ENTRY: u8 = 21;
    pub const USER_SCRAM_CREDENTIAL: u8 = 12;
    pub const REMOVE_USER_SCRAM_CREDENTIAL: u8 = 13;
    pub const CLIENT_QUOTA: u8 = 14;
    pub const BROKER_RESOURCE: u8 = 0;
    pub const TOPIC_RESOURCE: u8 = 1;
    pub const BROKER_DEFAULT_RESOURCE: u8 = 2;
    pub const GROUP_RESOURCE: u8 = 3;
    pub const CLIENT_METRICS_RESOURCE: u8 = 4;
}

impl MetadataRecord {
    pub fn encode(&self) -> Bytes {
        let mut out = Writer(BytesMut::with_capacity(64));
        match self {
            MetadataRecord::RegisterBroker {
                id,
                incarnation_id,
                listeners,
                rack,
            } => {
                out.0.put_u8(tag::REGISTER_BROKER);
                out.0.put_u8(REGISTER_BROKER_VERSION);
                out.0.put_i32(*id);
                out.0.put_slice(incarnation_id.as_bytes());
                out.endpoints(listeners);
                out.optional_string(rack.as_deref());
            }
            MetadataRecord::BrokerRegistrationChange {
                id,
                epoch,
                fenced,
                in_controlled_shutdown,
            } => {
                out.header(tag::BROKER_REGISTRATION_CHANGE);
                out.0.put_i32(*id);
                out.0.put_i64(*epoch);
                out.0.put_u8(match fenced {
                    None => 0,
                    Some(true) => 1,
                    Some(false) => 2,
                });
                out.0.put_u8(u8::from(*in_controlled_shutdown));
            }
            MetadataRecord::UnregisterBroker { id, epoch } => {
                out.header(tag::UNREGISTER_BROKER);
                out.0.put_i32(*id);
                out.0.put_i64(*epoch);
            }
            MetadataRecord::RegisterController {
                id,
                incarnation_id,
                listeners,
            } => {
                out.header(tag::REGISTER_CONTROLLER);
                out.0.put_i32(*id);
                out.0.put_slice(incarnation_id.as_bytes());
                out.endpoints(listeners);
            }
            MetadataRecord::Topic { name, id } => {
                out.header(tag::TOPIC);
                out.string(name);
                out.0.put_slice(id.as_bytes());
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
                out.0.put_u8(tag::PARTITION);
                out.0.put_u8(PARTITION_VERSION);
                out.0.put_slice(topic_id.as_bytes());
                out.0.put_i32(*partition);
                out.ints(replicas);
                out.ints(isr);
                out.0.put_i32(*leader);
                out.0.put_i32(*leader_epoch);
                out.0.put_i32(*partition_epoch);
                out.ints(elr);
                out.ints(last_known_elr);
            }
            MetadataRecord::PartitionReassignment {
                topic_id,
                partition,
                adding,
                removing,
            } => {
                out.header(tag::PARTITION_REASSIGNMENT);
                out.0.put_slice(topic_id.as_bytes());
                out.0.put_i32(*partition);
                out.ints(adding);
                out.ints(removing);
            }
            MetadataRecord::Config {
                resource,
                name,
                value,
            } => {
                out.header(tag::CONFIG);
                match resource {
                    ConfigResource::Broker(id) => {
                        out.0.put_u8(tag::BROKER_RESOURCE);
                        out.0.put_i32(*id);
                    }
                    ConfigResource::Topic(topic) => {
                        out.0.put_u8(tag::TOPIC_RESOURCE);
                        out.string(topic);
                    }
                    ConfigResource::BrokerDefault => {
                        out.0.put_u8(tag::BROKER_DEFAULT_RESOURCE);
                    }
                    ConfigResource::Group(group) => {
                        out.0.put_u8(tag::GROUP_RESOURCE);
                        out.string(group);
                    }
                    ConfigResource::ClientMetrics(subscription) => {
                        out.0.put_u8(tag::CLIENT_METRICS_RESOURCE);
                        out.string(subscription);
                    }
                }
                out.string(name);
                out.optional_string(value.as_deref());
            }
            MetadataRecord::RemoveTopic { id } => {
                out.header(tag::REMOVE_TOPIC);
                out.0.put_slice(id.as_bytes());
            }
            MetadataRecord::ProducerIds {
                broker,
                next_producer_id,
            } => {
                out.header(tag::PRODUCER_IDS);
                out.0.put_i32(*broker);
                out.0.put_i64(*next_producer_id);
            }
            MetadataRecord::FeatureLevel { name, level } => {
                out.header(tag::FEATURE_LEVEL);
                out.string(name);
                out.0.put_i16(*level);
            }
            MetadataRecord::AccessControlEntry { id, acl } => {
                out.header(tag::ACCESS_CONTROL_ENTRY);
                out.0.put_slice(id.as_bytes());
                out.0.put_i8(acl.resource_type.code());
                out.string(&acl.resource_name);
                out.0.put_i8(acl.pattern_type.code());
                out.string(&acl.principal);
                out.string(&acl.host);
                out.0.put_i8(acl.operation.code());
                out.0.put_i8(acl.permission.code());
            }
            MetadataRecord::RemoveAccessControlEntry { id } => {
                out.header(tag::REMOVE_ACCESS_CONTROL_ENTRY);
                out.0.put_slice(id.as_bytes());
            }
            MetadataRecord::UserScramCredential {
                name,
                mechanism,
                salt,
                stored_key,
                server_key,
                iterations,
            } => {
                out.header(tag::USER_SCRAM_CREDENTIAL);
                out.string(name);
                out.0.put_i8(*mechanism);
                out.bytes(salt);
                out.bytes(stored_key);
                out.bytes(server_key);
                out.0.put_i32(*iterations);
            }
            MetadataRecord::RemoveUserScramCredential { name, mechanism } => {
                out.header(tag::REMOVE_USER_SCRAM_CREDENTIAL);
                out.string(name);
                out.0.put_i8(*mechanism);
            }
            MetadataRecord::ClientQuota { entity, key, value } => {
                out.header(tag::CLIENT_QUOTA);
                // At most three entity types exist; the controller refuses others.
                out.0.put_u8(entity.len().min(u8::MAX as usize) as u8);
                for (kind, name) in entity.iter().take(u8::MAX as usize) {
                    out.string(kind);
                    out.optional_string(name.as_deref());
                }
                out.string(key);
                match value {
                    Some(v) => {
                        out.0.put_u8(1);
                        out.0.put_f64(v.0);
                    }
                    None => out.0.put_u8(0),
                }
            }
        }
        out.0.freeze()
    }

    pub fn decode(buf: &[u8]) -> Result<MetadataRecord, String> {
        let mut r = Reader { buf, pos: 0 };
        let kind = r.u8()?;
        let version = r.u8()?;
        let known = match kind {
            tag::REGISTER_BROKER => version <= REGISTER_BROKER_VERSION,
            tag::PARTITION => version <= PARTITION_VERSION,
            _ => version == VERSION,
        };
        if !known {
            return Err(format!("unknown metadata record version {version}"));
        }
        let record = match kind {
            tag::REGISTER_BROKER if version == 0 => {
                let id = r.i32()?;
                let host = r.string()?;
                let port = r.i32()?;
                MetadataRecord::RegisterBroker {
                    id,
                    incarnation_id: Uuid::nil(),
                    listeners: vec![Endpoint {
                        name: "PLAINTEXT".into(),
                        host,
                        port,
                        security_protocol: 0,
                    }],
                    rack: r.optional_string()?,
                }
            }
            tag::REGISTER_BROKER => MetadataRecord::RegisterBroker {
                id: r.i32()?,
                incarnation_id: r.uuid()?,
                listeners: r.endpoints()?,
                rack: r.optional_string()?,
            },
            tag::BROKER_REGISTRATION_CHANGE => MetadataRecord::BrokerRegistrationChange {
                id: r.i32()?,
                epoch: r.i64()?,
                fenced: match r.u8()? {
                    0 => None,
                    1 => Some(true),
                    2 => Some(false),
                    other => return Err(format!("bad fencing change {other}")),
                },
                in_controlled_shutdown: match r.u8()? {
                    0 => false,
                    1 => true,
                    other => return Err(format!("bad controlled shutdown change {other}")),
                },
            },
            tag::UNREGISTER_BROKER => MetadataRecord::UnregisterBroker {
                id: r.i32()?,
                epoch: r.i64()?,
            },
            tag::REGISTER_CONTROLLER => MetadataRecord::RegisterController {
                id: r.i32()?,
                incarnation_id: r.uuid()?,
                listeners: r.endpoints()?,
            },
            tag::TOPIC => MetadataRecord::Topic {
                name: r.string()?,
                id: r.uuid()?,
            },
            tag::PARTITION => MetadataRecord::Partition {
                topic_id: r.uuid()?,
                partition: r.i32()?,
                replicas: r.ints()?,
                isr: r.ints()?,
                leader: r.i32()?,
                leader_epoch: r.i32()?,
                partition_epoch: r.i32()?,
                elr: if version >= 1 { r.ints()? } else { Vec::new() },
                last_known_elr: if version >= 1 { r.ints()? } else { Vec::new() },
            },
            tag::PARTITION_REASSIGNMENT => MetadataRecord::PartitionReassignment {
                topic_id: r.uuid()?,
                partition: r.i32()?,
                adding: r.ints()?,
                removing: r.ints()?,
            },
            tag::CONFIG => {
                let resource = match r.u8()? {
                    tag::BROKER_RESOURCE => ConfigResource::Broker(r.i32()?),
                    tag::TOPIC_RESOURCE => ConfigResource::Topic(r.string()?),
                    tag::BROKER_DEFAULT_RESOURCE => ConfigResource::BrokerDefault,
                    tag::GROUP_RESOURCE => ConfigResource::Group(r.string()?),
                    tag::CLIENT_METRICS_RESOURCE => ConfigResource::ClientMetrics(r.string()?),
                    other => return Err(format!("unknown config resource type {other}")),
                };
                MetadataRecord::Config {
                    resource,
                    name: r.string()?,
                    value: r.optional_string()?,
                }
            }
            tag::REMOVE_TOPIC => MetadataRecord::RemoveTopic { id: r.uuid()? },
            tag::FEATURE_LEVEL => MetadataRecord::FeatureLevel {
                name: r.string()?,
                level: r.i16()?,
            },
            tag::USER_SCRAM_CREDENTIAL => MetadataRecord::UserScramCredential {
                name: r.string()?,
                mechanism: r.u8()? as i8,
                salt: r.bytes()?,
                stored_key: r.bytes()?,
                server_key: r.bytes()?,
                iterations: r.i32()?,
            },
            tag::REMOVE_USER_SCRAM_CREDENTIAL => MetadataRecord::RemoveUserScramCredential {
                name: r.string()?,
                mechanism: r.u8()? as i8,
            },
            tag::CLIENT_QUOTA => {
                let count = r.u8()?;
                let mut entity = crate::client_quota::QuotaEntity::new();
                for _ in 0..count {
                    let kind = r.string()?;
                    entity.insert(kind, r.optional_string()?);
                }
                let key = r.string()?;
                let value = match r.u8()? {
                    0 => None,
                    1 => Some(crate::client_quota::QuotaValue(f64::from_bits(
                        r.i64()? as u64
                    ))),
                    other => return Err(format!("bad quota value flag {other}")),
                };
                MetadataRecord::ClientQuota { entity, key, value }
            }
            tag::PRODUCER_IDS => MetadataRecord::ProducerIds {
                broker: r.i32()?,
                next_producer_id: r.i64()?,
            },
            tag::ACCESS_CONTROL_ENTRY => MetadataRecord::AccessControlEntry {
                id: r.uuid()?,
                acl: AclBinding {
                    resource_type: ResourceType::from_code(r.u8()? as i8),
                    resource_name: r.string()?,
                    pattern_type: PatternType::from_code(r.u8()? as i8),
                    principal: r.string()?,
                    host: r.string()?,
                    operation: AclOperation::from_code(r.u8()? as i8),
                    permission: AclPermission::from_code(r.u8()? as i8),
                },
            },
            tag::REMOVE_ACCESS_CONTROL_ENTRY => {
                MetadataRecord::RemoveAccessControlEntry { id: r.uuid()? }
            }
            other => return Err(format!("unknown metadata record type {other}")),
        };
        if r.pos != buf.len() {
            return Err(format!(
                "{} trailing bytes after metadata record",
                buf.len() - r.pos
            ));
        }
        Ok(record)
    }
}

/// Encodes one metadata change as one raft entry: a magic byte, a version
/// byte, a u32 record count, then each record as u32 length + bytes.
pub fn encode_batch(records: &[MetadataRecord]) -> Bytes {
    let mut out = BytesMut::with_capacity(6 + 64 * records.len());
    out.put_u8(BATCH_MAGIC);
    out.put_u8(VERSION);
    out.put_u32(records.len() as u32);
    for record in records {
        let bytes = record.encode();
        out.put_u32(bytes.len() as u32);
        out.put_slice(&bytes);
    }
    out.freeze()
}

/// Decodes a raft entry written by [`encode_batch`]. An entry holding one
/// bare record (how logs were written before batches) decodes as a batch
/// of one. Bad bytes are an error, never a panic.
pub fn decode_batch(buf: &[u8]) -> Result<Vec<MetadataRecord>, String> {
    if buf.first() != Some(&BATCH_MAGIC) {
        return Ok(vec![MetadataRecord::decode(buf)?]);
    }
    let mut r = Reader { buf, pos: 1 };
    let version = r.u8()?;
    if version != VERSION {
        return Err(format!("unknown metadata batch version {version}"));
    }
    let count = r.u32()? as usize;
    // Every record takes at least its 4-byte length: check before allocating.
    if count > (buf.len() - r.pos) / 4 {
        return Err("truncated metadata batch".to_string());
    }
    let mut records = Vec::with_capacity(count);
    for _ in 0..count {
        let len = r.u32()? as usize;
        records.push(MetadataRecord::decode(r.take(len)?)?);
    }
    if r.pos != buf.len() {
        return Err(format!(
            "{} trailing bytes after metadata batch",
            buf.len() - r.pos
        ));
    }
    Ok(records)
}

struct Writer(BytesMut);

impl Writer {
    fn header(&mut self, kind: u8) {
        self.0.put_u8(kind);
        self.0.put_u8(VERSION);
    }

    fn string(&mut self, s: &str) {
        // Names and validated config values are far below 64 KiB. Should a
        // longer one ever arrive, cut it at a character boundary: a cut
        // inside a character would write a record that can never be
        // replayed, and the metadata log would no longer open.
        let mut end = s.len().min(MAX_STRING_BYTES);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        self.0.put_u16(end as u16);
        self.0.put_slice(&s.as_bytes()[..end]);
    }

    fn optional_string(&mut self, s: Option<&str>) {
        match s {
            Some(s) => {
                self.0.put_u8(1);
                self.string(s);
            }
            None => self.0.put_u8(0),
        }
    }

    fn bytes(&mut self, data: &[u8]) {
        self.0.put_u32(data.len() as u32);
        self.0.put_slice(data);
    }

    fn ints(&mut self, values: &[i32]) {
        self.0.put_u32(values.len() as u32);
        for v in values {
            self.0.put_i32(*v);
        }
    }

    fn endpoints(&mut self, endpoints: &[Endpoint]) {
        self.0.put_u32(endpoints.len() as u32);
        for e in endpoints {
            self.string(&e.name);
            self.string(&e.host);
            self.0.put_i32(e.port);
            self.0.put_i16(e.security_protocol);
        }
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or("truncated metadata record")?;
        let slice = &self.buf[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn i32(&mut self) -> Result<i32, String> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn i16(&mut self) -> Result<i16, String> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    fn i64(&mut self) -> Result<i64, String> {
        let b = self.take(8)?;
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(b);
        Ok(i64::from_be_bytes(bytes))
    }

    fn uuid(&mut self) -> Result<Uuid, String> {
        let b = self.take(16)?;
        Uuid::from_slice(b).map_err(|e| e.to_string())
    }

    fn string(&mut self) -> Result<String, String> {
        let len = self.take(2)?;
        let len = u16::from_be_bytes([len[0], len[1]]) as usize;
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| "metadata string is not UTF-8".to_string())
    }

    fn optional_string(&mut self) -> Result<Option<String>, String> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(self.string()?)),
            other => Err(format!("bad presence byte {other}")),
        }
    }

    fn bytes(&mut self) -> Result<Vec<u8>, String> {
        let len = self.u32()? as usize;
        Ok(self.take(len)?.to_vec())
    }

    fn ints(&mut self) -> Result<Vec<i32>, String> {
        let count = self.take(4)?;
        let count = u32::from_be_bytes([count[0], count[1], count[2], count[3]]) as usize;
        // Check the bytes exist before allocating for them.
        if count > (self.buf.len() - self.pos) / 4 {
            return Err("truncated metadata record".to_string());
        }
        (0..count).map(|_| self.i32()).collect()
    }

    fn endpoints(&mut self) -> Result<Vec<Endpoint>, String> {
        let count = self.u32()? as usize;
        // An endpoint takes at least 10 bytes (two empty strings, port, protocol).
        if count > (self.buf.len() - self.pos) / 10 {
            return Err("truncated metadata record".to_string());
        }
        (0..count)
            .map(|_| {
                Ok(Endpoint {
                    name: self.string()?,
                    host: self.string()?,
                    port: self.i32()?,
                    security_protocol: self.i16()?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn samples() -> Vec<MetadataRecord> {
        let id = Uuid::from_u128(0x1234_5678_9abc_def0_1234_5678_9abc_def0);
        let endpoint = |name: &str, port| Endpoint {
            name: name.into(),
            host: "127.0.0.1".into(),
            port,
            security_protocol: 0,
        };
        vec![
            MetadataRecord::ClientQuota {
                entity: [
                    ("user".to_string(), Some("alice".to_string())),
                    ("client-id".to_string(), None),
                ]
                .into_iter()
                .collect(),
                key: "producer_byte_rate".into(),
                value: Some(crate::client_quota::QuotaValue(1024.0)),
            },
            MetadataRecord::ClientQuota {
                entity: [("client-id".to_string(), Some("c".to_string()))]
                    .into_iter()
                    .collect(),
                key: "request_percentage".into(),
                value: None,
            },
            MetadataRecord::RegisterBroker {
                id: 1,
                incarnation_id: id,
                listeners: vec![endpoint("PLAINTEXT", 9092), endpoint("INTERNAL", 9093)],
                rack: None,
            },
            MetadataRecord::RegisterBroker {
                id: 2,
                incarnation_id: Uuid::nil(),
                listeners: vec![],
                rack: Some("r1".into()),
            },
            MetadataRecord::BrokerRegistrationChange {
                id: 2,
                epoch: 77,
                fenced: Some(false),
                in_controlled_shutdown: false,
            },
            MetadataRecord::BrokerRegistrationChange {
                id: 2,
                epoch: 78,
                fenced: None,
                in_controlled_shutdown: true,
            },
            MetadataRecord::BrokerRegistrationChange {
                id: 2,
                epoch: i64::MAX,
                fenced: Some(true),
                in_controlled_shutdown: false,
            },
            MetadataRecord::UnregisterBroker { id: 3, epoch: 5 },
            MetadataRecord::RegisterController {
                id: 3000,
                incarnation_id: id,
                listeners: vec![endpoint("CONTROLLER", 9094)],
            },
            MetadataRecord::Topic {
                name: "orders".into(),
                id,
            },
            MetadataRecord::Partition {
                topic_id: id,
                partition: 3,
                replicas: vec![1, 2, 3],
                isr: vec![1, 3],
                leader: 1,
                leader_epoch: 7,
                partition_epoch: 9,
                elr: Vec::new(),
                last_known_elr: Vec::new(),
            },
            MetadataRecord::PartitionReassignment {
                topic_id: id,
                partition: 3,
                adding: vec![4],
                removing: vec![2],
            },
            MetadataRecord::Config {
                resource: ConfigResource::Topic("orders".into()),
                name: "retention.ms".into(),
                value: Some("1".into()),
            },
            MetadataRecord::Config {
                resource: ConfigResource::Broker(1),
                name: "x".into(),
                value: None,
            },
            MetadataRecord::Config {
                resource: ConfigResource::BrokerDefault,
                name: "log.retention.ms".into(),
                value: Some("7".into()),
            },
            MetadataRecord::RemoveTopic { id },
            MetadataRecord::ProducerIds {
                broker: 1,
                next_producer_id: 5000,
            },
            MetadataRecord::AccessControlEntry {
                id,
                acl: AclBinding {
                    resource_type: ResourceType::Topic,
                    resource_name: "orders-".into(),
                    pattern_type: PatternType::Prefixed,
                    principal: "User:alice".into(),
                    host: "*".into(),
                    operation: AclOperation::Read,
                    permission: AclPermission::Deny,
                },
            },
            MetadataRecord::RemoveAccessControlEntry { id },
        ]
    }

    #[test]
    fn every_record_round_trips() {
        for record in samples() {
            assert_eq!(MetadataRecord::decode(&record.encode()), Ok(record));
        }
    }

    #[test]
    fn partition_records_before_elr_decode_with_empty_elrs() {
        let record = MetadataRecord::Partition {
            topic_id: Uuid::from_u128(3),
            partition: 1,
            replicas: vec![1, 2, 3],
            isr: vec![1],
            leader: 1,
            leader_epoch: 4,
            partition_epoch: 6,
            elr: vec![],
            last_known_elr: vec![],
        };
        // v0 is v1 without the two (here empty, 4-byte count) lists.
        let mut v0 = record.encode().to_vec();
        v0[1] = 0;
        v0.truncate(v0.len() - 8);
        assert_eq!(MetadataRecord::decode(&v0).unwrap(), record);
        let mut with_elr = record;
        if let MetadataRecord::Partition {
            elr,
            last_known_elr,
            ..
        } = &mut with_elr
        {
            *elr = vec![2];
            *last_known_elr = vec![3];
        }
        assert_eq!(
            MetadataRecord::decode(&with_elr.encode()).unwrap(),
            with_elr
        );
    }

    #[test]
    fn truncated_and_garbage_records_are_errors() {
        for record in samples() {
            let bytes = record.encode();
            for cut in 0..bytes.len() {
                assert!(MetadataRecord::decode(&bytes[..cut]).is_err());
            }
            let mut longer = bytes.to_vec();
            longer.push(0);
            assert!(MetadataRecord::decode(&longer).is_err());
        }
        assert!(MetadataRecord::decode(&[99, 0]).is_err());
        assert!(MetadataRecord::decode(&[2, 7]).is_err());
        // A partition claiming four billion replicas is refused without allocating.
        let mut huge = vec![3, 0];
        huge.extend_from_slice(&[0; 16]);
        huge.extend_from_slice(&[0, 0, 0, 0]);
        huge.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]);
        assert!(MetadataRecord::decode(&huge).is_err());
    }

    #[test]
    fn batches_round_trip_and_refuse_bad_bytes() {
        let records = samples();
        let bytes = encode_batch(&records);
        assert_eq!(decode_batch(&bytes), Ok(records));
        assert_eq!(decode_batch(&encode_batch(&[])), Ok(vec![]));
        for cut in 0..bytes.len() {
            assert!(decode_batch(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.to_vec();
        longer.push(0);
        assert!(decode_batch(&longer).is_err());
        // A batch claiming four billion records is refused without allocating.
        assert!(decode_batch(&[0x80, 0, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(decode_batch(&[0x80, 9, 0, 0, 0, 0]).is_err());
    }

    #[test]
    fn older_logs_still_replay() {
        // An entry holding one bare record decodes as a batch of one.
        let record = MetadataRecord::RemoveTopic {
            id: Uuid::from_u128(5),
        };
        assert_eq!(decode_batch(&record.encode()), Ok(vec![record]));
        // RegisterBroker v0: id, host, port, rack.
        let mut v0 = vec![1, 0, 0, 0, 0, 7, 0, 1, b'h', 0, 0, 0x23, 0x84, 0];
        assert_eq!(
            MetadataRecord::decode(&v0),
            Ok(MetadataRecord::RegisterBroker {
                id: 7,
                incarnation_id: Uuid::nil(),
                listeners: vec![Endpoint {
                    name: "PLAINTEXT".into(),
                    host: "h".into(),
                    port: 9092,
                    security_protocol: 0,
                }],
                rack: None,
            })
        );
        v0[1] = 2;
        assert!(MetadataRecord::decode(&v0).is_err());
    }

    #[test]
    fn overlong_strings_are_cut_at_a_character_boundary() {
        let record = MetadataRecord::Config {
            resource: ConfigResource::Broker(1),
            name: "x".into(),
            value: Some("é".repeat(40_000)),
        };
        match MetadataRecord::decode(&record.encode()) {
            Ok(MetadataRecord::Config {
                value: Some(value), ..
            }) => assert_eq!(value.len(), MAX_STRING_BYTES - 1),
            other => panic!("{other:?}"),
        }
    }

    fn any_string() -> impl Strategy<Value = String> {
        proptest::string::string_regex("[a-zA-Z0-9._é-]{0,40}").unwrap()
    }

    fn any_uuid() -> impl Strategy<Value = Uuid> {
        any::<u128>().prop_map(Uuid::from_u128)
    }

    fn any_endpoints() -> impl Strategy<Value = Vec<Endpoint>> {
        proptest::collection::vec(
            (any_string(), any_string(), any::<i32>(), any::<i16>()).prop_map(
                |(name, host, port, security_protocol)| Endpoint {
                    name,
                    host,
                    port,
                    security_protocol,
                },
            ),
            0..3,
        )
    }

    fn any_record() -> impl Strategy<Value = MetadataRecord> {
        let ints = || proptest::collection::vec(any::<i32>(), 0..8);
        prop_oneof![
            (
                any::<i32>(),
                any_uuid(),
                any_endpoints(),
                proptest::option::of(any_string())
            )
                .prop_map(|(id, incarnation_id, listeners, rack)| {
                    MetadataRecord::RegisterBroker {
                        id,
                        incarnation_id,
                        listeners,
                        rack,
                    }
                }),
            (
                any::<i32>(),
                any::<i64>(),
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
            (any::<i32>(), any::<i64>())
                .prop_map(|(id, epoch)| MetadataRecord::UnregisterBroker { id, epoch }),
            (any::<i32>(), any_uuid(), any_endpoints()).prop_map(
                |(id, incarnation_id, listeners)| MetadataRecord::RegisterController {
                    id,
                    incarnation_id,
                    listeners,
                }
            ),
            (any_string(), any_uuid()).prop_map(|(name, id)| MetadataRecord::Topic { name, id }),
            (any_uuid(), any::<i32>(), ints(), ints()).prop_map(
                |(topic_id, partition, adding, removing)| MetadataRecord::PartitionReassignment {
                    topic_id,
                    partition,
                    adding,
                    removing,
                }
            ),
            (
                any_uuid(),
                any::<i32>(),
                ints(),
                ints(),
                any::<(i32, i32, i32)>()
            )
                .prop_map(
                    |(
                        topic_id,
                        partition,
                        replicas,
                        isr,
                        (leader, leader_epoch, partition_epoch),
                    )| {
                        MetadataRecord::Partition {
                            topic_id,
                            partition,
                            replicas: replicas.clone(),
                            isr: isr.clone(),
                            leader,
                            leader_epoch,
                            partition_epoch,
                            elr: isr.clone(),
                            last_known_elr: replicas.clone(),
                        }
                    }
                ),
            (
                prop_oneof![
                    any::<i32>().prop_map(ConfigResource::Broker),
                    any_string().prop_map(ConfigResource::Topic),
                    any_string().prop_map(ConfigResource::Group),
                    any_string().prop_map(ConfigResource::ClientMetrics),
                    proptest::strategy::Just(ConfigResource::BrokerDefault)
                ],
                any_string(),
                proptest::option::of(any_string())
            )
                .prop_map(|(resource, name, value)| MetadataRecord::Config {
                    resource,
                    name,
                    value
                }),
            any_uuid().prop_map(|id| MetadataRecord::RemoveTopic { id }),
            (
                any_uuid(),
                any_string(),
                any_string(),
                any::<(i8, i8, i8, i8)>()
            )
                .prop_map(|(id, name, principal, (r, p, o, a))| {
                    MetadataRecord::AccessControlEntry {
                        id,
                        acl: AclBinding {
                            resource_type: ResourceType::from_code(r),
                            resource_name: name.clone(),
                            pattern_type: PatternType::from_code(p),
                            principal,
                            host: name,
                            operation: AclOperation::from_code(o),
                            permission: AclPermission::from_code(a),
                        },
                    }
                }),
            any_uuid().prop_map(|id| MetadataRecord::RemoveAccessControlEntry { id }),
            (any::<i32>(), any::<i64>()).prop_map(|(broker, next_producer_id)| {
                MetadataRecord::ProducerIds {
                    broker,
                    next_producer_id,
                }
            }),
        ]
    }

    proptest! {
        #[test]
        fn any_record_round_trips(record in any_record()) {
            prop_assert_eq!(MetadataRecord::decode(&record.encode()), Ok(record));
        }

        #[test]
        fn any_bytes_decode_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = MetadataRecord::decode(&bytes);
            let _ = decode_batch(&bytes);
        }

        #[test]
        fn any_batch_round_trips(records in proptest::collection::vec(any_record(), 0..5)) {
            prop_assert_eq!(decode_batch(&encode_batch(&records)), Ok(records));
        }

        #[test]
        fn corrupted_batches_never_panic(records in proptest::collection::vec(any_record(), 1..4), at in any::<usize>(), byte in any::<u8>()) {
            let mut bytes = encode_batch(&records).to_vec();
            let at = at % bytes.len();
            bytes[at] = byte;
            let _ = decode_batch(&bytes);
        }

        #[test]
        fn corrupted_records_never_panic(record in any_record(), at in any::<usize>(), byte in any::<u8>()) {
            let mut bytes = record.encode().to_vec();
            let at = at % bytes.len();
            bytes[at] = byte;
            let _ = MetadataRecord::decode(&bytes);
        }
    }
}
