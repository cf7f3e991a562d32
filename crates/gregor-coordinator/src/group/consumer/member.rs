//! One member of a consumer group: its metadata and assignment (both
//! durable, as records) plus its timers (soft, restarted after a load).

use super::records::{MemberAssignment, MemberMetadata, MemberState};

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ConsumerMember {
    pub id: String,
    pub meta: MemberMetadata,
    pub current: MemberAssignment,
    /// When the member is fenced for not heartbeating.
    pub session_deadline: Option<i64>,
    /// When a member still revoking partitions is fenced, and the epoch it
    /// was revoking in (a member that moved on is left alone).
    pub rebalance_deadline: Option<(i64, i32)>,
}

impl ConsumerMember {
    pub fn new(id: &str) -> Self {
        ConsumerMember {
            id: id.to_string(),
            meta: MemberMetadata::default(),
            current: MemberAssignment::default(),
            session_deadline: None,
            rebalance_deadline: None,
        }
    }

    pub fn epoch(&self) -> i32 {
        self.current.epoch
    }

    pub fn instance_id(&self) -> Option<&str> {
        self.meta.instance_id.as_deref()
    }

    /// Kafka's `isReconciledTo`: stable at the target epoch.
    pub fn is_reconciled_to(&self, target_epoch: i32) -> bool {
        self.current.state == MemberState::Stable && self.current.epoch == target_epoch
    }
}
