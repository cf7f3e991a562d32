//! Streams groups (KIP-1071, `group.protocol=streams`): Kafka Streams
//! instances send StreamsGroupHeartbeat with their topology; the
//! coordinator works out the tasks, asks the broker to create missing
//! internal topics, assigns active and standby tasks (sticky, balanced)
//! and moves each member to its target with revoke-before-assign. It also
//! keeps the Interactive Queries endpoint map (`endpoints`) and, when
//! configured, topology descriptions ([`description`], KIP-1331).
//!
//! Pure state machine like its neighbours: decoded requests and the time in,
//! values out. Every change is also written to `__consumer_offsets` as
//! Kafka's StreamsGroup* records ([`records`], [`persist`]) and replayed on
//! load, so members keep their epochs and tasks across a coordinator move
//! or restart. Committed offsets are stored as for every group.

mod assign;
mod describe;
pub mod description;
mod endpoints;
mod group;
mod heartbeat;
mod offsets;
pub mod persist;
pub mod records;
pub mod topology;

#[cfg(test)]
mod persist_tests;
#[cfg(test)]
mod sim_tests;
#[cfg(test)]
mod tests;

pub use group::{Assignment, StreamsGroup, StreamsGroupState, TaskId};
pub use heartbeat::{StreamsContext, StreamsEffects, STREAMS_INVALID_TOPOLOGY};
pub use records::StreamsRecord;
pub use topology::MissingTopic;

use crate::group::GroupCoordinator;

/// Kafka's `group.streams.*` settings.
#[derive(Clone, Debug)]
pub struct StreamsGroupConfig {
    /// `group.streams.session.timeout.ms`
    pub session_timeout_ms: i32,
    /// `group.streams.heartbeat.interval.ms`
    pub heartbeat_interval_ms: i32,
    /// `group.streams.max.size`
    pub max_size: usize,
    /// Kafka's fixed acceptable recovery lag for warm-up tasks.
    pub acceptable_recovery_lag: i64,
    /// How often members report task offsets.
    pub task_offset_interval_ms: i32,
    /// `group.streams.num.standby.replicas`: standby copies of each
    /// stateful task, on processes other than the one running it.
    pub num_standby_replicas: usize,
    /// Whether topology descriptions are kept (Kafka: a
    /// `group.streams.topology.description.plugin.class` is configured).
    pub topology_descriptions: bool,
}

impl Default for StreamsGroupConfig {
    fn default() -> Self {
        StreamsGroupConfig {
            session_timeout_ms: 45_000,
            heartbeat_interval_ms: 5_000,
            max_size: i32::MAX as usize,
            acceptable_recovery_lag: 10_000,
            task_offset_interval_ms: 60_000,
            num_standby_replicas: 0,
            topology_descriptions: false,
        }
    }
}

pub const STREAMS_TYPE: &str = "streams";

impl GroupCoordinator {
    /// Fences every streams member whose session ran out, or that still
    /// revokes at the epoch its rebalance timeout was set for.
    pub(crate) fn tick_streams_groups(&mut self, now_ms: i64) -> Vec<crate::group::Record> {
        let mut due = Vec::new();
        for group in self.streams_groups.values() {
            for m in group.members.values() {
                let session_over = m.session_deadline.is_some_and(|at| at <= now_ms);
                let revoke_over = m
                    .rebalance_deadline
                    .is_some_and(|(at, epoch)| at <= now_ms && m.epoch == epoch && m.is_revoking());
                if session_over || revoke_over {
                    due.push((group.id.clone(), m.id.clone()));
                }
            }
        }
        let mut records = Vec::new();
        for (group, member) in due {
            records.extend(self.fence_streams_member(&group, &member));
        }
        records
    }

    pub(crate) fn next_streams_deadline(&self) -> Option<i64> {
        self.streams_groups
            .values()
            .flat_map(|g| g.members.values())
            .flat_map(|m| {
                m.session_deadline.into_iter().chain(
                    m.rebalance_deadline
                        .filter(|_| m.is_revoking())
                        .map(|(at, _)| at),
                )
            })
            .min()
    }

    pub fn streams_group(&self, group_id: &str) -> Option<&StreamsGroup> {
        self.streams_groups.get(group_id)
    }

    pub(crate) fn is_streams_group(&self, group_id: &str) -> bool {
        self.streams_groups.contains_key(group_id)
    }
}
