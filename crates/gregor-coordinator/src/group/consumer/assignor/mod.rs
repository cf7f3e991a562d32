//! Server-side assignors (`group.consumer.assignors`, chosen per member with
//! `server_assignor` / the client's `group.remote.assignor`): pure functions
//! from the members' subscriptions and their previous target to the next
//! target. Every partition of a subscribed topic goes to exactly one member
//! subscribed to it.

mod range;
mod uniform;

use super::assignment::Assignment;
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Assignor {
    /// Kafka's default: balanced by partition count and sticky (members
    /// keep what they had as far as balance allows).
    Uniform,
    /// Contiguous ranges of each topic, co-partitioned across topics.
    Range,
}

/// What the assignor knows about one member.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemberSpec {
    pub instance_id: Option<String>,
    /// Subscribed topics that exist.
    pub topics: BTreeSet<Uuid>,
    /// The member's previous target.
    pub current: Assignment,
}

impl Assignor {
    pub fn name(self) -> &'static str {
        match self {
            Assignor::Uniform => "uniform",
            Assignor::Range => "range",
        }
    }

    /// Kafka's short names, and its class names for the same assignors.
    pub fn parse(name: &str) -> Option<Assignor> {
        match name.trim() {
            "uniform" | "org.apache.kafka.coordinator.group.assignor.UniformAssignor" => {
                Some(Assignor::Uniform)
            }
            "range" | "org.apache.kafka.coordinator.group.assignor.RangeAssignor" => {
                Some(Assignor::Range)
            }
            _ => None,
        }
    }

    /// The next target of every member; `partitions` has the partition
    /// count of every subscribed topic.
    pub fn assign(
        self,
        members: &BTreeMap<String, MemberSpec>,
        partitions: &BTreeMap<Uuid, i32>,
    ) -> BTreeMap<String, Assignment> {
        match self {
            Assignor::Uniform => uniform::assign(members, partitions),
            Assignor::Range => range::assign(members, partitions),
        }
    }
}

#[cfg(test)]
mod tests;
