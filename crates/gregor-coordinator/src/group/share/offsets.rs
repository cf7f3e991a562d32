//! The coordinator's part of the share-group offsets admin APIs
//! (DescribeShareGroupOffsets 90, AlterShareGroupOffsets 91,
//! DeleteShareGroupOffsets 92): the group checks and the bookkeeping of
//! which share-partitions have state. The state itself (start offsets) is
//! the persister's, reached by the broker edge.

use super::records::{ShareRecord, StatePartitions};
use crate::group::records::Record;
use crate::group::GroupCoordinator;
use gregor_protocol::error_codes::{GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP};
use uuid::Uuid;

/// A refusal of the whole request: (error code, message).
pub type AdminRefusal = (i16, String);

impl GroupCoordinator {
    /// The share-partitions of a share group with state, for the offsets
    /// APIs; `require_empty` (alter, delete): refused with NON_EMPTY_GROUP
    /// while it has members, as Kafka's `ShareGroup.validateEmptyGroup`.
    pub fn share_offsets_partitions(
        &self,
        group_id: &str,
        require_empty: bool,
    ) -> Result<StatePartitions, AdminRefusal> {
        let Some(group) = self.share_groups.get(group_id) else {
            let message = if self.is_other_type_group(group_id) {
                format!("Group {group_id} is not a share group.")
            } else {
                format!("Group {group_id} not found.")
            };
            return Err((GROUP_ID_NOT_FOUND, message));
        };
        if require_empty && !group.members.is_empty() {
            return Err((NON_EMPTY_GROUP, "The group is not empty.".to_string()));
        }
        Ok(group.state_partitions.clone())
    }

    /// DeleteShareGroupOffsets deleted these topics' share-partition state:
    /// the group forgets them (the next heartbeat of a member subscribed
    /// to one initializes it afresh).
    pub fn share_topics_forgotten(
        &mut self,
        group_id: &str,
        topics: &[Uuid],
        now_ms: i64,
    ) -> Vec<Record> {
        let Some(group) = self.share_groups.get(group_id) else {
            return Vec::new();
        };
        let mut state = group.state_partitions.clone();
        for id in topics {
            state.initialized.remove(id);
            state.initializing.remove(id);
            state.deleting.remove(id);
        }
        if state == group.state_partitions {
            return Vec::new();
        }
        let records = vec![Record::Share(ShareRecord::StatePartitions {
            group: group_id.to_string(),
            value: Some(state),
        })];
        for r in &records {
            self.replay(r.clone(), now_ms);
        }
        records
    }
}
