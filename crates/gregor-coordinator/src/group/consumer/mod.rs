//! The KIP-848 consumer group protocol (`group.protocol=consumer`): groups
//! whose members send ConsumerGroupHeartbeat and get their partitions from
//! an assignor that runs here, on the coordinator.
//!
//! Same stance as the classic coordinator next door: a pure state machine
//! driven by decoded requests and the time, no sockets or clocks. What is
//! particular here is that every change of hard state is a [`Record`] of
//! Kafka's `__consumer_offsets` format (key types 3 to 8), and the state is
//! only ever changed by replaying records — the live path computes the
//! records a request implies from the current state, then applies them with
//! the same code the start-up replay uses. So what is persisted is, by
//! construction, exactly what is served, and a restart brings back every
//! member with its epoch and assignment.
//!
//! The steps of a heartbeat follow Kafka's `GroupMetadataManager`: update
//! the member (bumping the group epoch when a subscription or the metadata
//! of a subscribed topic changed), recompute the target assignment when the
//! group epoch moved past it ([`target`]), then move the member towards its
//! target ([`reconcile`]) with the revoke-before-reassign rule: a partition
//! goes to its new owner only once the previous owner has said, by
//! heartbeating without it, that it let go.
//!
//! Soft state (session and rebalance deadlines, compiled regexes) is not in
//! the records: deadlines restart from the load time after a restart, as
//! Kafka's do.

pub(crate) mod assignment;
pub mod assignor;
mod describe;
mod group;
mod heartbeat;
mod member;
mod offsets;
mod reconcile;
pub mod records;
mod refusal;
mod regex;
mod removal;
mod replay;
mod roster;
mod target;
mod timers;
mod topics;

#[cfg(test)]
mod tests;

pub use assignor::Assignor;
pub(crate) use group::ConsumerGroup;
pub use group::ConsumerGroupState;
pub use heartbeat::{HeartbeatContext, TopicFilter};
pub use records::ConsumerRecord;
pub use topics::{TopicTable, Topics};

/// Kafka's `group.consumer.*` settings the coordinator decides with. The
/// min/max bounds Kafka also has only bound per-group overrides, which
/// Gregor does not support; the broker config checks them at start-up.
#[derive(Clone, Debug)]
pub struct ConsumerGroupConfig {
    /// `group.consumer.session.timeout.ms`
    pub session_timeout_ms: i32,
    /// `group.consumer.heartbeat.interval.ms`
    pub heartbeat_interval_ms: i32,
    /// `group.consumer.max.size`
    pub max_size: usize,
    /// `group.consumer.assignors`; the first is used when members ask for
    /// none.
    pub assignors: Vec<Assignor>,
}

impl Default for ConsumerGroupConfig {
    fn default() -> Self {
        ConsumerGroupConfig {
            session_timeout_ms: 45_000,
            heartbeat_interval_ms: 5_000,
            max_size: i32::MAX as usize,
            assignors: vec![Assignor::Uniform, Assignor::Range],
        }
    }
}

impl ConsumerGroupConfig {
    pub fn default_assignor(&self) -> Assignor {
        self.assignors.first().copied().unwrap_or(Assignor::Uniform)
    }

    pub fn assignor(&self, name: &str) -> Option<Assignor> {
        self.assignors.iter().copied().find(|a| a.name() == name)
    }
}
