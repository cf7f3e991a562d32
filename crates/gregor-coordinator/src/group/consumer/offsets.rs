//! Where consumer groups meet the APIs they share with classic groups:
//! offsets (OffsetCommit/OffsetFetch with the member epoch as generation,
//! OffsetDelete), DeleteGroups, and a classic JoinGroup for the same id.
//!
//! A consumer group's committed offsets live with everyone else's, in the
//! classic group table, under an entry that never has members or a
//! generation (what Kafka calls a simple group). So commit, fetch,
//! delete, transactional commits and their replay have one store; the
//! consumer group only decides who may commit.

use super::member::ConsumerMember;
use super::removal;
use super::topics::Topics;
use super::ConsumerGroupState;
use crate::group::committed;
use crate::group::records::Record;
use crate::group::state::Group;
use crate::group::GroupCoordinator;
use gregor_protocol::error_codes::{
    ILLEGAL_GENERATION, INCONSISTENT_GROUP_PROTOCOL, NON_EMPTY_GROUP, STALE_MEMBER_EPOCH,
    UNKNOWN_MEMBER_ID, UNSUPPORTED_VERSION,
};
use kafka_protocol::messages::{OffsetCommitRequest, TxnOffsetCommitRequest};
use std::collections::BTreeSet;

/// Members of the consumer protocol must commit with OffsetCommit v9+.
const MEMBER_EPOCH_COMMIT_VERSION: i16 = 9;

impl GroupCoordinator {
    /// Who may commit to a consumer group (Kafka's
    /// `ConsumerGroup.validateOffsetCommit`): anyone with epoch -1 while it
    /// has no members (admin tools, `assign()` consumers), otherwise a
    /// member at its current epoch, or at an older one for partitions it
    /// has held since (KIP-1251, see [`older_epoch_may_commit`]); refused
    /// as a whole with STALE_MEMBER_EPOCH. `None` when no consumer group
    /// has the id. On success the group's offsets entry exists.
    pub(crate) fn consumer_commit_verdict(
        &mut self,
        req: &OffsetCommitRequest,
        api_version: i16,
        topics: &dyn Topics,
        now_ms: i64,
    ) -> Option<Result<(), i16>> {
        let group = self.consumer_groups.get(req.group_id.as_str())?;
        let epoch = req.generation_id_or_member_epoch;
        let verdict = if epoch < 0 && group.members.is_empty() {
            Ok(())
        } else {
            match group.members.get(req.member_id.as_str()) {
                None => Err(UNKNOWN_MEMBER_ID),
                Some(_) if api_version < MEMBER_EPOCH_COMMIT_VERSION => Err(UNSUPPORTED_VERSION),
                Some(m) => {
                    let max_metadata = self.config.offset_metadata_max_bytes;
                    let validated = req.topics.iter().flat_map(|t| {
                        t.partitions
                            .iter()
                            // Kafka validates only the partitions it would
                            // write: one with oversized metadata is refused
                            // on its own.
                            .filter(move |p| {
                                p.committed_metadata.as_deref().unwrap_or_default().len()
                                    <= max_metadata
                            })
                            .map(move |p| (t.name.as_str(), p.partition_index))
                    });
                    if older_epoch_may_commit(m, epoch, validated, topics) {
                        Ok(())
                    } else {
                        Err(STALE_MEMBER_EPOCH)
                    }
                }
            }
        };
        if verdict.is_ok() {
            self.offsets_entry(req.group_id.as_str(), now_ms);
        }
        Some(verdict)
    }

    /// Who may commit transactionally to a consumer group (TxnOffsetCommit,
    /// the producer's `sendOffsetsToTransaction`): the same rules, except
    /// that a commit naming no member at all is allowed and a refused
    /// epoch is ILLEGAL_GENERATION, the error that API has always had
    /// (Kafka's `OffsetMetadataManager` turns the STALE_MEMBER_EPOCH of
    /// the shared validation into it; v6, where Kafka 4.4 keeps it, is not
    /// served). Only partitions whose metadata fits are checked, as only
    /// they would be written. `None` when no consumer group has the id.
    pub(crate) fn consumer_txn_commit_verdict(
        &mut self,
        req: &TxnOffsetCommitRequest,
        topics: &dyn Topics,
        now_ms: i64,
    ) -> Option<Result<(), i16>> {
        let group_id = req.group_id.as_str();
        let member_id = req.member_id.as_str();
        let instance_id = req.group_instance_id.as_ref().map(|s| s.as_str());
        let generation = req.generation_id;
        let group = self.consumer_groups.get(group_id)?;
        let max_metadata = self.config.offset_metadata_max_bytes;
        let partitions = req.topics.iter().flat_map(|t| {
            t.partitions
                .iter()
                .filter(move |p| {
                    p.committed_metadata.as_deref().unwrap_or_default().len() <= max_metadata
                })
                .map(move |p| (t.name.as_str(), p.partition_index))
        });
        let anonymous = generation < 0 && member_id.is_empty() && instance_id.is_none();
        let verdict = if anonymous || (generation < 0 && group.members.is_empty()) {
            Ok(())
        } else {
            match group.members.get(member_id) {
                None => Err(UNKNOWN_MEMBER_ID),
                Some(m) if older_epoch_may_commit(m, generation, partitions, topics) => Ok(()),
                Some(_) => Err(ILLEGAL_GENERATION),
            }
        };
        if verdict.is_ok() {
            self.offsets_entry(group_id, now_ms);
        }
        Some(verdict)
    }

    /// OffsetFetch v9 from a consumer-protocol member (Kafka's
    /// `validateOffsetFetch`): with a member id or an epoch, they must be
    /// current. Classic groups take any.
    pub fn validate_offset_fetch(
        &self,
        group_id: &str,
        member_id: Option<&str>,
        member_epoch: i32,
    ) -> Result<(), i16> {
        // Kafka's ShareGroup.validateOffsetFetch: not a consumer group.
        if self.is_share_group(group_id) {
            return Err(gregor_protocol::error_codes::GROUP_ID_NOT_FOUND);
        }
        let Some(group) = self.consumer_groups.get(group_id) else {
            return Ok(());
        };
        if member_id.is_none() && member_epoch < 0 {
            return Ok(());
        }
        match member_id.and_then(|id| group.members.get(id)) {
            None => Err(UNKNOWN_MEMBER_ID),
            Some(m) if m.epoch() != member_epoch => Err(STALE_MEMBER_EPOCH),
            Some(_) => Ok(()),
        }
    }

    /// The topics a consumer group's members subscribe to (OffsetDelete
    /// keeps their offsets); `None` when no consumer group has the id.
    pub(crate) fn consumer_subscribed_topics(&self, group_id: &str) -> Option<BTreeSet<String>> {
        self.consumer_groups
            .get(group_id)
            .map(|g| g.subscribed_topic_names())
    }

    /// DeleteGroups of a consumer group: only an empty one, with all its
    /// records and offsets. `None` when no consumer group has the id.
    pub(crate) fn delete_consumer_group(&mut self, group_id: &str) -> Option<(i16, Vec<Record>)> {
        let group = self.consumer_groups.get(group_id)?;
        if group.state() != ConsumerGroupState::Empty {
            return Some((NON_EMPTY_GROUP, Vec::new()));
        }
        let mut records: Vec<Record> = removal::group_tombstones(group)
            .into_iter()
            .map(Record::Consumer)
            .collect();
        let pending_only = self.pending_only_tombstones(group_id);
        if let Some(holder) = self.groups.remove(group_id) {
            for ((topic, partition), prior) in holder.offsets {
                committed::note(&mut self.journal, group_id, &topic, partition, Some(prior));
                records.push(Record::Offset {
                    group: group_id.to_string(),
                    topic,
                    partition,
                    value: None,
                });
            }
        }
        records.extend(pending_only);
        self.drop_pending_of_tombstones(&records);
        self.consumer_groups.remove(group_id);
        Some((0, records))
    }

    /// A classic JoinGroup for a consumer group's id. An empty consumer
    /// group gives way (tombstoned, offsets kept), as Kafka does; a live
    /// one answers INCONSISTENT_GROUP_PROTOCOL (Kafka would let the classic
    /// member into the consumer group, which Gregor does not support).
    pub(crate) fn make_way_for_classic_join(&mut self, group_id: &str) -> Result<Vec<Record>, i16> {
        // A share group keeps its id (no conversion between the two).
        if self.is_share_group(group_id) {
            return Err(INCONSISTENT_GROUP_PROTOCOL);
        }
        let Some(group) = self.consumer_groups.get(group_id) else {
            return Ok(Vec::new());
        };
        if group.state() != ConsumerGroupState::Empty {
            return Err(INCONSISTENT_GROUP_PROTOCOL);
        }
        let records: Vec<Record> = removal::group_tombstones(group)
            .into_iter()
            .map(Record::Consumer)
            .collect();
        self.consumer_groups.remove(group_id);
        Ok(records)
    }

    /// The classic-table entry holding a consumer group's offsets.
    pub(crate) fn offsets_entry(&mut self, group_id: &str, now_ms: i64) {
        self.groups
            .entry(group_id.to_string())
            .or_insert_with(|| Group::new(group_id, now_ms));
    }
}

/// KIP-1251 (Kafka 4.3+, `ConsumerGroup.validateOffsetCommit` and its
/// `createAssignmentEpochValidator`): the member's current epoch commits
/// every partition and a newer one none. An older epoch commits a
/// partition only while the member holds it (assigned or pending
/// revocation) and only if the epoch is no older than the one the
/// partition was assigned at: a commit racing an epoch bump still lands,
/// one for a partition the member got after that epoch, or has given up,
/// does not. A commit with no partitions to check passes, as in Kafka,
/// where the check runs per partition.
///
/// Topic names are resolved to ids through the current metadata, as
/// Kafka's `KafkaApis` fills in the topic id of a request by name: a name
/// now naming a recreated topic does not match partitions of the old one.
pub(crate) fn older_epoch_may_commit<'a>(
    member: &ConsumerMember,
    epoch: i32,
    partitions: impl IntoIterator<Item = (&'a str, i32)>,
    topics: &dyn Topics,
) -> bool {
    if epoch == member.epoch() {
        return true;
    }
    if epoch > member.epoch() {
        return false;
    }
    partitions.into_iter().all(|(topic, partition)| {
        topics
            .by_name(topic)
            .and_then(|(id, _)| member.current.assignment_epoch(id, partition))
            .is_some_and(|assigned_at| epoch >= assigned_at)
    })
}
