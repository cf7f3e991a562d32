//! One share group: its epochs, members, their target and current
//! partitions, and which share-partitions have persisted state. Changed
//! only by replaying [`super::records::ShareRecord`]s.

use super::records::{MemberMeta, StatePartitions};
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

/// Topic id -> partitions.
pub type Partitions = BTreeMap<Uuid, BTreeSet<i32>>;

/// The states Kafka shows for a share group (`ShareGroup.ShareGroupState`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShareGroupState {
    Empty,
    Stable,
}

impl ShareGroupState {
    pub fn name(self) -> &'static str {
        match self {
            ShareGroupState::Empty => "Empty",
            ShareGroupState::Stable => "Stable",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShareMember {
    pub id: String,
    pub meta: MemberMeta,
    pub epoch: i32,
    pub previous_epoch: i32,
    /// The partitions it may fetch from (shared with other members).
    pub assigned: Partitions,
    /// Soft state: fenced when a heartbeat has not come by then.
    pub session_deadline: Option<i64>,
}

#[derive(Clone, Debug, Default)]
pub struct ShareGroup {
    pub id: String,
    /// Bumped when the target assignment must be recomputed.
    pub epoch: i32,
    /// A hash of the subscribed topics' ids and partition counts as of the
    /// last epoch bump: a change (new partitions, a re-created topic)
    /// bumps the epoch.
    pub metadata_hash: i64,
    /// The group epoch the target assignment was computed at.
    pub assignment_epoch: i32,
    pub members: BTreeMap<String, ShareMember>,
    /// Member id -> the partitions it should have.
    pub target: BTreeMap<String, Partitions>,
    /// Share-partitions being initialized / initialized in the persister.
    pub state_partitions: StatePartitions,
    /// Soft state: when this coordinator last asked the broker to
    /// initialize a topic's share-partitions. Partitions still initializing
    /// with no ask (a reloaded group: the broker that was asked may have
    /// died) or an old one are asked again.
    pub init_asked_at: BTreeMap<Uuid, i64>,
}

impl ShareGroup {
    pub fn new(id: &str) -> Self {
        ShareGroup {
            id: id.to_string(),
            ..Default::default()
        }
    }

    pub fn state(&self) -> ShareGroupState {
        if self.members.is_empty() {
            ShareGroupState::Empty
        } else {
            ShareGroupState::Stable
        }
    }

    /// Every topic some member subscribes to.
    pub fn subscribed_topics(&self) -> BTreeSet<String> {
        self.members
            .values()
            .flat_map(|m| m.meta.subscribed_topic_names.iter().cloned())
            .collect()
    }
}
