//! What the consumer group coordinator needs to know about topics: ids,
//! names and partition counts. Passed into each step rather than kept, so
//! the state machine stays pure and always sees the current metadata (a
//! CreatePartitions is picked up by the next heartbeat).

use gregor_metadata::image::MetadataImage;
use std::collections::BTreeMap;
use uuid::Uuid;

pub trait Topics {
    /// The id and partition count of a topic, if it exists.
    fn by_name(&self, name: &str) -> Option<(Uuid, i32)>;
    /// The name of a topic id, if it exists.
    fn name_of(&self, id: Uuid) -> Option<&str>;
    /// Every topic name, for regex subscriptions.
    fn names(&self) -> Box<dyn Iterator<Item = &str> + '_>;
}

impl Topics for MetadataImage {
    fn by_name(&self, name: &str) -> Option<(Uuid, i32)> {
        self.topic(name)
            .map(|t| (t.id, i32::try_from(t.partitions.len()).unwrap_or(i32::MAX)))
    }

    fn name_of(&self, id: Uuid) -> Option<&str> {
        self.topic_by_id(&id).map(|t| t.name.as_str())
    }

    fn names(&self) -> Box<dyn Iterator<Item = &str> + '_> {
        Box::new(self.topics.keys().map(String::as_str))
    }
}

/// A fixed set of topics: tests, and callers without a metadata image.
#[derive(Clone, Debug, Default)]
pub struct TopicTable {
    by_name: BTreeMap<String, (Uuid, i32)>,
}

impl TopicTable {
    pub fn with(mut self, name: &str, id: Uuid, partitions: i32) -> Self {
        self.by_name.insert(name.to_string(), (id, partitions));
        self
    }

    pub fn set_partitions(&mut self, name: &str, partitions: i32) {
        if let Some(entry) = self.by_name.get_mut(name) {
            entry.1 = partitions;
        }
    }
}

impl Topics for TopicTable {
    fn by_name(&self, name: &str) -> Option<(Uuid, i32)> {
        self.by_name.get(name).copied()
    }

    fn name_of(&self, id: Uuid) -> Option<&str> {
        self.by_name
            .iter()
            .find(|(_, (tid, _))| *tid == id)
            .map(|(name, _)| name.as_str())
    }

    fn names(&self) -> Box<dyn Iterator<Item = &str> + '_> {
        Box::new(self.by_name.keys().map(String::as_str))
    }
}
