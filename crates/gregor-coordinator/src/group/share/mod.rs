//! Share groups (KIP-932, `group.type=share`): the membership side. Members
//! send ShareGroupHeartbeat with the topics they subscribe to; the
//! coordinator assigns partitions with Kafka's SimpleAssignor, where
//! several members may share a partition (records of a share-partition are
//! acquired per record, by whoever fetches). Share-partition state itself
//! (what was delivered and acknowledged) is the persister's; the group
//! only tracks which share-partitions have state ([`records::StatePartitions`]).
//!
//! Pure state machine like its neighbours; every change is one of Kafka's
//! ShareGroup* records in `__consumer_offsets` ([`records`]) and is applied
//! by [`replay`], live and on load.

mod assign;
mod describe;
mod group;
mod heartbeat;
mod offsets;
pub mod records;
mod replay;

#[cfg(test)]
mod tests;

pub use describe::SIMPLE_ASSIGNOR;
pub use group::{Partitions, ShareGroup, ShareGroupState, ShareMember};
pub use heartbeat::{ShareContext, ShareEffects, TopicPartitionsToInit};
pub use offsets::AdminRefusal;
pub use records::ShareRecord;
pub use records::StatePartitions;

use crate::group::GroupCoordinator;

/// ListGroups' type (and protocol type) of a share group.
pub const SHARE_TYPE: &str = "share";

impl GroupCoordinator {
    /// Fences every share member whose session ran out.
    pub(crate) fn tick_share_groups(&mut self, now_ms: i64) -> Vec<crate::group::Record> {
        let due: Vec<(String, String)> = self
            .share_groups
            .values()
            .flat_map(|g| {
                g.members
                    .values()
                    .filter(|m| m.session_deadline.is_some_and(|at| at <= now_ms))
                    .map(|m| (g.id.clone(), m.id.clone()))
            })
            .collect();
        let mut records = Vec::new();
        for (group, member) in due {
            let Some(g) = self.share_groups.get(&group) else {
                continue;
            };
            if !g.members.contains_key(&member) {
                continue;
            }
            let fenced: Vec<crate::group::Record> = heartbeat::fence_records(g, &member)
                .into_iter()
                .map(crate::group::Record::Share)
                .collect();
            for r in &fenced {
                self.replay(r.clone(), now_ms);
            }
            records.extend(fenced);
        }
        records
    }

    pub(crate) fn next_share_deadline(&self) -> Option<i64> {
        self.share_groups
            .values()
            .flat_map(|g| g.members.values())
            .filter_map(|m| m.session_deadline)
            .min()
    }
}
