//! Transactional offset commits (TxnOffsetCommit, KIP-98): offsets a
//! transactional producer commits for a group stay pending, invisible to
//! OffsetFetch, until the transaction's marker reaches the group's
//! `__consumer_offsets` partition; a commit marker makes them the group's
//! committed offsets, an abort marker drops them. An offset tombstone
//! (DeleteGroups, OffsetDelete) drops them too, as in Kafka, and an offset
//! with one pending does not expire.
//!
//! Kafka also orders a pending offset against a plain OffsetCommit of the
//! same partition written after it (by log position); Gregor lets the
//! transaction's offsets win, which only differs when one group mixes
//! transactional and plain commits for the same partition.

use super::committed;
use super::consumer::Topics;
use super::records::{OffsetValue, Record};
use super::state::{Group, GroupState};
use super::GroupCoordinator;
use gregor_protocol::error_codes::{
    COORDINATOR_NOT_AVAILABLE, ILLEGAL_GENERATION, INVALID_GROUP_ID, NONE,
    OFFSET_METADATA_TOO_LARGE,
};
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};
use std::collections::BTreeMap;

/// Pending offsets of one producer: group -> (topic, partition) -> offset.
pub(crate) type PendingOffsets = BTreeMap<String, BTreeMap<(String, i32), OffsetValue>>;

impl GroupCoordinator {
    /// TxnOffsetCommit: validates like Kafka's `validateOffsetCommit` for
    /// transactional commits and keeps the offsets pending for the
    /// producer. The records must be written as a transactional batch of
    /// that producer; the caller calls [`Self::abort_pending_append`] if
    /// writing them fails.
    pub fn txn_commit_offsets(
        &mut self,
        req: &TxnOffsetCommitRequest,
        topics: &dyn Topics,
        now_ms: i64,
    ) -> (TxnOffsetCommitResponse, Vec<Record>) {
        let group_id = req.group_id.as_str();
        let verdict = self.validate_txn_commit(req, topics, now_ms);
        let max_metadata = self.config.offset_metadata_max_bytes;
        let mut records = Vec::new();
        let mut topics = Vec::with_capacity(req.topics.len());
        for topic in &req.topics {
            let mut partitions = Vec::with_capacity(topic.partitions.len());
            for p in &topic.partitions {
                let metadata = p.committed_metadata.as_deref().unwrap_or_default();
                let code = match verdict {
                    Err(code) => code,
                    Ok(()) if metadata.len() > max_metadata => OFFSET_METADATA_TOO_LARGE,
                    Ok(()) => {
                        let value = OffsetValue {
                            offset: p.committed_offset,
                            leader_epoch: p.committed_leader_epoch,
                            metadata: metadata.to_string(),
                            commit_timestamp: now_ms,
                            expire_timestamp: None,
                        };
                        self.pending_txn_offsets
                            .entry(req.producer_id.0)
                            .or_default()
                            .entry(group_id.to_string())
                            .or_default()
                            .insert((topic.name.to_string(), p.partition_index), value.clone());
                        records.push(Record::Offset {
                            group: group_id.to_string(),
                            topic: topic.name.to_string(),
                            partition: p.partition_index,
                            value: Some(value),
                        });
                        NONE
                    }
                };
                partitions.push(
                    TxnOffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code),
                );
            }
            topics.push(
                TxnOffsetCommitResponseTopic::default()
                    .with_name(topic.name.clone())
                    .with_partitions(partitions),
            );
        }
        (
            TxnOffsetCommitResponse::default().with_topics(topics),
            records,
        )
    }

    fn validate_txn_commit(
        &mut self,
        req: &TxnOffsetCommitRequest,
        topics: &dyn Topics,
        now_ms: i64,
    ) -> Result<(), i16> {
        let group_id = req.group_id.as_str();
        if group_id.is_empty() {
            return Err(INVALID_GROUP_ID);
        }
        if let Some(verdict) = self.consumer_txn_commit_verdict(req, topics, now_ms) {
            return verdict;
        }
        if let Some(verdict) = self.streams_txn_commit_verdict(req, now_ms) {
            return verdict;
        }
        let member_id = req.member_id.as_str();
        let instance_id = req.group_instance_id.as_ref().map(|s| s.as_str());
        // A transactional producer may commit for a group nobody joined.
        if !self.groups.contains_key(group_id) {
            self.note_group_creation(group_id);
        }
        let group = self
            .groups
            .entry(group_id.to_string())
            .or_insert_with(|| Group::new(group_id, now_ms));
        if group.state == GroupState::Dead {
            return Err(COORDINATOR_NOT_AVAILABLE);
        }
        if req.generation_id >= 0 || !member_id.is_empty() || instance_id.is_some() {
            group.validate_member(member_id, instance_id)?;
            if req.generation_id >= 0 && req.generation_id != group.generation {
                return Err(ILLEGAL_GENERATION);
            }
        }
        Ok(())
    }

    /// Writing a TxnOffsetCommit's records failed: forget its offsets.
    pub fn abort_pending_append(&mut self, producer_id: i64, records: &[Record]) {
        let Some(groups) = self.pending_txn_offsets.get_mut(&producer_id) else {
            return;
        };
        for record in records {
            if let Record::Offset {
                group,
                topic,
                partition,
                ..
            } = record
            {
                if let Some(offsets) = groups.get_mut(group) {
                    offsets.remove(&(topic.clone(), *partition));
                }
            }
        }
        groups.retain(|_, offsets| !offsets.is_empty());
        if groups.is_empty() {
            self.pending_txn_offsets.remove(&producer_id);
        }
    }

    /// A transaction marker of `producer_id` reached the `__consumer_offsets`
    /// partition whose groups `in_partition` selects: its pending offsets
    /// there become committed (commit) or are dropped (abort).
    pub fn complete_txn_offsets(
        &mut self,
        producer_id: i64,
        commit: bool,
        in_partition: impl Fn(&str) -> bool,
        now_ms: i64,
    ) {
        let Some(groups) = self.pending_txn_offsets.get_mut(&producer_id) else {
            return;
        };
        let done: Vec<String> = groups.keys().filter(|g| in_partition(g)).cloned().collect();
        for group_id in done {
            let Some(offsets) = groups.remove(&group_id) else {
                continue;
            };
            if !commit {
                continue;
            }
            // The group may have been dropped as unused while only pending
            // offsets kept it meaningful (nobody joined it): bring it back.
            if !self.groups.contains_key(&group_id) {
                committed::note_creation(&mut self.journal, &group_id);
            }
            let group = self
                .groups
                .entry(group_id.clone())
                .or_insert_with(|| Group::new(&group_id, now_ms));
            for (key, value) in offsets {
                let prior = group.offsets.insert(key.clone(), value);
                committed::note(&mut self.journal, &group_id, &key.0, key.1, prior);
            }
        }
        if groups.is_empty() {
            self.pending_txn_offsets.remove(&producer_id);
        }
    }

    /// Replay: a transactional offset commit record of `producer_id`.
    pub fn replay_pending_offset(&mut self, producer_id: i64, record: Record, now_ms: i64) {
        if let Record::Offset {
            group,
            topic,
            partition,
            value: Some(value),
        } = record
        {
            if !self.groups.contains_key(&group) {
                self.note_group_creation(&group);
            }
            self.groups
                .entry(group.clone())
                .or_insert_with(|| Group::new(&group, now_ms));
            self.pending_txn_offsets
                .entry(producer_id)
                .or_default()
                .entry(group)
                .or_default()
                .insert((topic, partition), value);
        }
    }

    /// Offset tombstones also drop the pending transactional offsets of
    /// their keys, as Kafka's replay does: a group deleted (or an offset
    /// deleted) while a transaction is open does not get the offset back
    /// from that transaction's commit marker.
    pub(crate) fn drop_pending_of_tombstones(&mut self, records: &[Record]) {
        for record in records {
            if let Record::Offset {
                group,
                topic,
                partition,
                value: None,
            } = record
            {
                self.drop_pending_key(group, topic, *partition);
            }
        }
    }

    /// Drops every open transaction's pending offset of one key.
    pub(crate) fn drop_pending_key(&mut self, group: &str, topic: &str, partition: i32) {
        let key = (topic.to_string(), partition);
        for groups in self.pending_txn_offsets.values_mut() {
            if let Some(offsets) = groups.get_mut(group) {
                offsets.remove(&key);
                if offsets.is_empty() {
                    groups.remove(group);
                }
            }
        }
        self.pending_txn_offsets
            .retain(|_, groups| !groups.is_empty());
    }

    /// Tombstones for the keys of `group_id` that only open transactions
    /// hold, for a group being deleted (Kafka's `deleteAllOffsets`: keys
    /// with a committed offset have theirs already).
    pub(crate) fn pending_only_tombstones(&self, group_id: &str) -> Vec<Record> {
        let committed = self.groups.get(group_id).map(|g| &g.offsets);
        let keys: std::collections::BTreeSet<&(String, i32)> = self
            .pending_txn_offsets
            .values()
            .filter_map(|groups| groups.get(group_id))
            .flat_map(|offsets| offsets.keys())
            .filter(|key| !committed.is_some_and(|c| c.contains_key(*key)))
            .collect();
        keys.into_iter()
            .map(|(topic, partition)| Record::Offset {
                group: group_id.to_string(),
                topic: topic.clone(),
                partition: *partition,
                value: None,
            })
            .collect()
    }

    /// OffsetFetch with `require_stable`: a partition with a pending
    /// transactional offset answers UNSTABLE_OFFSET_COMMIT until the
    /// transaction ends.
    pub fn has_pending_offset(&self, group_id: &str, topic: &str, partition: i32) -> bool {
        let key = (topic.to_string(), partition);
        self.pending_txn_offsets
            .values()
            .any(|groups| groups.get(group_id).is_some_and(|o| o.contains_key(&key)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::consumer::TopicTable;
    use crate::group::GroupConfig;
    use kafka_protocol::messages::txn_offset_commit_request::{
        TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
    };
    use kafka_protocol::messages::{GroupId, TopicName, TransactionalId};
    use kafka_protocol::protocol::StrBytes;

    fn commit_request(group: &str, producer_id: i64, offset: i64) -> TxnOffsetCommitRequest {
        TxnOffsetCommitRequest::default()
            .with_transactional_id(TransactionalId(StrBytes::from_static_str("tx")))
            .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
            .with_producer_id(producer_id.into())
            .with_generation_id(-1)
            .with_topics(vec![TxnOffsetCommitRequestTopic::default()
                .with_name(TopicName(StrBytes::from_static_str("t")))
                .with_partitions(vec![TxnOffsetCommitRequestPartition::default()
                    .with_partition_index(0)
                    .with_committed_offset(offset)])])
    }

    fn committed(c: &GroupCoordinator, group: &str) -> Option<i64> {
        c.groups
            .get(group)
            .and_then(|g| g.offsets.get(&("t".to_string(), 0)))
            .map(|v| v.offset)
    }

    #[test]
    fn offsets_wait_for_the_commit_marker_even_if_the_group_was_dropped_meanwhile() {
        let mut c = GroupCoordinator::new(GroupConfig::default());
        let (response, records) = c.txn_commit_offsets(
            &commit_request("fresh", 7, 42),
            &TopicTable::default(),
            1_000,
        );
        assert_eq!(response.topics[0].partitions[0].error_code, NONE);
        assert_eq!(records.len(), 1);
        assert!(c.has_pending_offset("fresh", "t", 0));
        assert_eq!(
            committed(&c, "fresh"),
            None,
            "pending offsets are not committed"
        );
        // Nobody joined the group: the timer drops it as unused.
        c.tick(2_000);
        c.complete_txn_offsets(7, true, |_| true, 3_000);
        assert!(!c.has_pending_offset("fresh", "t", 0));
        assert_eq!(committed(&c, "fresh"), Some(42));
    }

    #[test]
    fn aborted_and_failed_appends_leave_nothing_behind() {
        let mut c = GroupCoordinator::new(GroupConfig::default());
        c.txn_commit_offsets(&commit_request("g", 7, 42), &TopicTable::default(), 1_000);
        c.complete_txn_offsets(7, false, |_| true, 2_000);
        assert_eq!(committed(&c, "g"), None);
        assert!(!c.has_pending_offset("g", "t", 0));

        let (_, records) =
            c.txn_commit_offsets(&commit_request("g", 8, 50), &TopicTable::default(), 3_000);
        c.abort_pending_append(8, &records);
        assert!(!c.has_pending_offset("g", "t", 0));
        // A marker of another partition's groups settles nothing here.
        c.txn_commit_offsets(&commit_request("g", 9, 60), &TopicTable::default(), 4_000);
        c.complete_txn_offsets(9, true, |group| group != "g", 5_000);
        assert!(c.has_pending_offset("g", "t", 0));
        assert_eq!(committed(&c, "g"), None);
    }
}
