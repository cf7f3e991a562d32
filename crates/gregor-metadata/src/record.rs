//! Metadata records and their on-disk encoding (a version byte then fields;
//! stable across releases, since the metadata log outlives the binary).

use bytes::Bytes;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConfigResource {
    Broker(i32),
    Topic(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataRecord {
    /// A broker announced itself (id, listener host and port, rack).
    RegisterBroker { id: i32, host: String, port: i32, rack: Option<String> },
    /// A topic was created with this id.
    Topic { name: String, id: Uuid },
    /// A partition's assignment and leadership.
    Partition {
        topic_id: Uuid,
        partition: i32,
        replicas: Vec<i32>,
        isr: Vec<i32>,
        leader: i32,
        leader_epoch: i32,
        partition_epoch: i32,
    },
    /// A dynamic config was set (`Some`) or removed (`None`).
    Config { resource: ConfigResource, name: String, value: Option<String> },
    /// The topic and all its partitions and configs are gone.
    RemoveTopic { id: Uuid },
}

impl MetadataRecord {
    pub fn encode(&self) -> Bytes {
        todo!("gregor-metadata: encode record")
    }

    pub fn decode(buf: &[u8]) -> Result<MetadataRecord, String> {
        let _ = buf;
        todo!("gregor-metadata: decode record")
    }
}
