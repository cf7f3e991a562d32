//! Who may commit offsets to a streams group (Kafka's
//! `StreamsGroup.validateOffsetCommit`): anyone at epoch -1 while it has no
//! members (admin tools), otherwise a member at its epoch. The offsets go
//! to the shared store, under the group's bare entry, as consumer groups'.

use crate::group::GroupCoordinator;
use gregor_protocol::error_codes::{ILLEGAL_GENERATION, STALE_MEMBER_EPOCH, UNKNOWN_MEMBER_ID};
use kafka_protocol::messages::{OffsetCommitRequest, TxnOffsetCommitRequest};

impl GroupCoordinator {
    fn streams_verdict(
        &self,
        group_id: &str,
        member_id: &str,
        epoch: i32,
        stale: i16,
    ) -> Option<Result<(), i16>> {
        let group = self.streams_groups.get(group_id)?;
        if epoch < 0 && group.members.is_empty() {
            return Some(Ok(()));
        }
        Some(match group.members.get(member_id) {
            None => Err(UNKNOWN_MEMBER_ID),
            // The previous epoch too: a commit may cross the heartbeat
            // that moved the member on.
            Some(m) if epoch == m.epoch || epoch == m.previous_epoch => Ok(()),
            Some(_) => Err(stale),
        })
    }

    /// `None` when no streams group has the id.
    pub(crate) fn streams_commit_verdict(
        &mut self,
        req: &OffsetCommitRequest,
        now_ms: i64,
    ) -> Option<Result<(), i16>> {
        let verdict = self.streams_verdict(
            req.group_id.as_str(),
            req.member_id.as_str(),
            req.generation_id_or_member_epoch,
            STALE_MEMBER_EPOCH,
        )?;
        if verdict.is_ok() {
            self.offsets_entry(req.group_id.as_str(), now_ms);
        }
        Some(verdict)
    }

    /// TxnOffsetCommit: as above, a commit naming no member is allowed and
    /// a refused epoch is ILLEGAL_GENERATION.
    pub(crate) fn streams_txn_commit_verdict(
        &mut self,
        req: &TxnOffsetCommitRequest,
        now_ms: i64,
    ) -> Option<Result<(), i16>> {
        let anonymous = req.generation_id < 0 && req.member_id.is_empty();
        let verdict = if anonymous && self.streams_groups.contains_key(req.group_id.as_str()) {
            Ok(())
        } else {
            self.streams_verdict(
                req.group_id.as_str(),
                req.member_id.as_str(),
                req.generation_id,
                ILLEGAL_GENERATION,
            )?
        };
        if verdict.is_ok() {
            self.offsets_entry(req.group_id.as_str(), now_ms);
        }
        Some(verdict)
    }
}
