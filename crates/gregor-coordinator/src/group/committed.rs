//! Reading committed offsets at the committed state of the log, as Kafka's
//! coordinator runtime does (it reads at the last committed offset through
//! timeline snapshots).
//!
//! The coordinator's memory runs ahead of its partition's high watermark:
//! a write is applied before its record is replicated, and a write whose
//! commit failed stays in the local log (and so in memory after a reload)
//! until a new leader truncates it. Such a value must not be served: a
//! reader shown it could see the group's offset go back after a failover.
//!
//! So, when tracking is on, every change of a committed offset notes the
//! value it replaced; the edge then files those notes under the log offset
//! of the batch that carries the change ([`UndoLog`]). A read of a key with
//! notes still at or past the high watermark gets the oldest note's value —
//! what the key held before its first uncommitted change; notes below the
//! high watermark are dropped as it advances.
//!
//! Classic groups are treated the same way for DescribeGroups and
//! ListGroups: a group removed by an uncommitted write (DeleteGroups,
//! expiry) is still shown, Empty, and one that only exists through
//! uncommitted first commits is not shown yet. A group's members and state
//! are its current ones, as in Kafka's classic groups.

use super::records::OffsetValue;
use super::state::{Group, GroupState};
use super::GroupCoordinator;
use std::collections::{BTreeMap, VecDeque};

/// Which state a read of committed offsets sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadAt {
    /// The state at the high watermark (a plain OffsetFetch): Kafka's read
    /// operations, at the last committed offset.
    Committed,
    /// Everything applied, committed or not (a `require_stable` fetch,
    /// which Kafka runs as a write operation: its answer then waits for
    /// the shard's last written offset to be committed).
    Latest,
}

/// A committed offset's key: group, topic, partition.
pub type OffsetKey = (String, String, i32);

/// A classic group as it was before an uncommitted write removed it
/// (DeleteGroups, expiry: it was Empty then).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemovedGroup {
    pub protocol_type: Option<String>,
    /// Only offset commits made it (nobody ever joined): it existed at the
    /// committed state only if one of its offsets did then. Decided at
    /// read time, since the high watermark may pass the commits that made
    /// the group but not yet the write that removed it.
    pub offsets_only: bool,
}

/// The values uncommitted writes replaced, by the log offset of the record
/// (batch) that wrote them: committed offsets by default, or removed
/// groups by group id.
#[derive(Debug)]
pub struct UndoLog<K = OffsetKey, V = OffsetValue> {
    /// Log offset -> keys written there, in log order.
    by_offset: BTreeMap<i64, Vec<K>>,
    /// Key -> the values its uncommitted writes replaced, oldest first.
    by_key: BTreeMap<K, VecDeque<Option<V>>>,
}

impl<K, V> Default for UndoLog<K, V> {
    fn default() -> Self {
        UndoLog {
            by_offset: BTreeMap::new(),
            by_key: BTreeMap::new(),
        }
    }
}

impl<K: Ord + Clone, V> UndoLog<K, V> {
    /// A write of `key` at `log_offset` replaced `prior` (`None`: the key
    /// had no value). Offsets come in log order.
    pub fn insert(&mut self, log_offset: i64, key: K, prior: Option<V>) {
        self.by_offset
            .entry(log_offset)
            .or_default()
            .push(key.clone());
        self.by_key.entry(key).or_default().push_back(prior);
    }

    /// The high watermark reached `high_watermark`: writes below it are
    /// committed and no longer hidden.
    pub fn trim(&mut self, high_watermark: i64) {
        while let Some(entry) = self.by_offset.first_entry() {
            if *entry.key() >= high_watermark {
                break;
            }
            for key in entry.remove() {
                if let Some(priors) = self.by_key.get_mut(&key) {
                    priors.pop_front();
                    if priors.is_empty() {
                        self.by_key.remove(&key);
                    }
                }
            }
        }
    }

    /// The committed value of `key`, given the `current` one in memory.
    pub fn committed<'a>(&'a self, key: &K, current: Option<&'a V>) -> Option<&'a V> {
        match self.by_key.get(key).and_then(|priors| priors.front()) {
            Some(prior) => prior.as_ref(),
            None => current,
        }
    }

    /// Whether any uncommitted write is tracked (tests, diagnostics).
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Each key with uncommitted writes and its committed value.
    pub fn committed_values(&self) -> impl Iterator<Item = (&K, Option<&V>)> {
        self.by_key
            .iter()
            .filter_map(|(key, priors)| priors.front().map(|prior| (key, prior.as_ref())))
    }
}

impl UndoLog {
    /// The (topic, partition) keys of `group` with uncommitted writes.
    pub fn pending_of<'a>(&'a self, group: &'a str) -> impl Iterator<Item = (&'a str, i32)> + 'a {
        self.by_key
            .keys()
            .filter(move |(g, _, _)| g == group)
            .map(|(_, topic, partition)| (topic.as_str(), *partition))
    }
}

/// One change the current step made.
#[derive(Debug)]
pub(crate) enum Change {
    /// A committed offset, and the value it replaced.
    Offset(OffsetKey, Option<OffsetValue>),
    /// A classic group was removed.
    GroupRemoved(String, RemovedGroup),
    /// A group was made by an offset commit (a transactional one leaves
    /// no offsets of its own to tell that it is not committed yet).
    GroupCreated(String),
}

/// What the current step replaced, until the edge knows the log offset of
/// its records. `None` while tracking is off (plain unit tests, tools).
pub(crate) type Journal = Option<Vec<Change>>;

/// Notes that `group`'s offset of (`topic`, `partition`) was `prior`
/// before this step (a free function, so that callers holding a group
/// borrowed from the coordinator can still reach the journal).
pub(crate) fn note(
    journal: &mut Journal,
    group: &str,
    topic: &str,
    partition: i32,
    prior: Option<OffsetValue>,
) {
    if let Some(notes) = journal {
        let key = (group.to_string(), topic.to_string(), partition);
        notes.push(Change::Offset(key, prior));
    }
}

/// [`GroupCoordinator::note_group_creation`], for callers holding a
/// borrow of the coordinator's other fields.
pub(crate) fn note_creation(journal: &mut Journal, group_id: &str) {
    if let Some(notes) = journal {
        notes.push(Change::GroupCreated(group_id.to_string()));
    }
}

impl GroupCoordinator {
    /// Starts noting what each change of a committed offset replaced; the
    /// edge must then call [`Self::place_changes`] or
    /// [`Self::discard_changes`] after every input.
    pub fn track_uncommitted(&mut self) {
        self.journal.get_or_insert_with(Vec::new);
    }

    /// The last input's changes were written in the batch whose last
    /// offset is `log_offset`: they stay hidden until it is committed.
    pub fn place_changes(&mut self, log_offset: i64) {
        if let Some(notes) = &mut self.journal {
            for change in notes.drain(..) {
                match change {
                    Change::Offset(key, prior) => self.undo.insert(log_offset, key, prior),
                    Change::GroupRemoved(id, prior) => {
                        self.removed_groups.insert(log_offset, id, Some(prior))
                    }
                    Change::GroupCreated(id) => self.created_groups.insert(log_offset, id, None),
                }
            }
        }
    }

    /// Notes that `group` is being removed by this step. Call it with the
    /// group just removed, before taking its offsets apart (their notes
    /// tell whether an offsets-only group existed at the committed state).
    pub(crate) fn note_group_removal(&mut self, group: &Group) {
        if self.journal.is_none() {
            return;
        }
        let prior = RemovedGroup {
            protocol_type: group.protocol_type.clone(),
            offsets_only: is_offsets_only(group),
        };
        if let Some(notes) = &mut self.journal {
            notes.push(Change::GroupRemoved(group.id.clone(), prior));
        }
    }

    /// Notes that this step made `group_id` for an offset commit.
    pub(crate) fn note_group_creation(&mut self, group_id: &str) {
        note_creation(&mut self.journal, group_id);
    }

    /// Classic groups removed by writes not yet committed (they are still
    /// there at the committed state, Empty), unless a group of that id
    /// exists again.
    pub(crate) fn removed_uncommitted(&self) -> impl Iterator<Item = (&str, &RemovedGroup)> + '_ {
        self.removed_groups
            .committed_values()
            .filter_map(|(id, prior)| prior.map(|p| (id.as_str(), p)))
            .filter(|(id, _)| !self.groups.contains_key(*id) && !self.is_consumer_group(id))
            .filter(|(id, removed)| self.existed_committed(id, removed))
    }

    /// Whether a group removed by an uncommitted write was there at the
    /// committed state: an offsets-only group only if one of its offsets
    /// was (every offset it held was noted when it was removed).
    fn existed_committed(&self, id: &str, removed: &RemovedGroup) -> bool {
        !removed.offsets_only || self.has_committed_offsets(id)
    }

    /// Whether a key of `group` with uncommitted writes had a value at the
    /// committed state.
    fn has_committed_offsets(&self, group: &str) -> bool {
        self.undo.pending_of(group).any(|(topic, partition)| {
            let key = (group.to_string(), topic.to_string(), partition);
            self.undo.committed(&key, None).is_some()
        })
    }

    /// [`Self::removed_uncommitted`] for one group id.
    pub(crate) fn removed_uncommitted_group(&self, id: &str) -> Option<&RemovedGroup> {
        if self.removed_groups.is_empty()
            || self.groups.contains_key(id)
            || self.is_consumer_group(id)
        {
            return None;
        }
        self.removed_groups
            .committed(&id.to_string(), None)
            .filter(|removed| self.existed_committed(id, removed))
    }

    /// The last input's changes are committed already (replayed below the
    /// high watermark), or were not written (the shard reloads).
    pub fn discard_changes(&mut self) {
        if let Some(notes) = &mut self.journal {
            notes.clear();
        }
    }

    /// The partition's high watermark is `high_watermark`.
    pub fn committed_up_to(&mut self, high_watermark: i64) {
        self.undo.trim(high_watermark);
        self.removed_groups.trim(high_watermark);
        self.created_groups.trim(high_watermark);
    }

    /// Diagnostics: the offsets of `group_id` a read hides now, as
    /// (topic, partition, shown, in memory).
    pub fn hidden_offsets(&self, group_id: &str) -> Vec<(String, i32, Option<i64>, Option<i64>)> {
        self.undo
            .pending_of(group_id)
            .map(|(topic, partition)| {
                let current = self
                    .groups
                    .get(group_id)
                    .and_then(|g| g.offsets.get(&(topic.to_string(), partition)));
                let key = (group_id.to_string(), topic.to_string(), partition);
                let shown = self.undo.committed(&key, current);
                (
                    topic.to_string(),
                    partition,
                    shown.map(|v| v.offset),
                    current.map(|v| v.offset),
                )
            })
            .collect()
    }

    /// The uncommitted writes this coordinator tracks.
    pub fn uncommitted(&self) -> &UndoLog {
        &self.undo
    }

    /// A classic group that exists only through offset commits not yet
    /// committed: nobody ever joined it, and each of its offsets is a first
    /// commit still past the high watermark (a simple consumer's or an
    /// admin's first commit to a new group). At the committed state there
    /// is no such group, so DescribeGroups and ListGroups do not show it.
    pub(crate) fn exists_only_uncommitted(&self, group: &Group) -> bool {
        (!self.undo.is_empty() || !self.created_groups.is_empty())
            && is_offsets_only(group)
            && (self.created_uncommitted(&group.id)
                || (!group.offsets.is_empty()
                    && !self.has_pending_group_offsets(&group.id)
                    && group.offsets.iter().all(|((topic, partition), current)| {
                        let key = (group.id.clone(), topic.clone(), *partition);
                        self.undo.committed(&key, Some(current)).is_none()
                    })))
            // Nor was it there before an uncommitted write removed it (a
            // DeleteGroups, then a first commit made it again): its
            // committed offsets are then keys it no longer holds, or it was
            // a group members had joined.
            && !self.has_committed_offsets(&group.id)
            && self
                .removed_groups
                .committed(&group.id, None)
                .is_none_or(|removed| removed.offsets_only)
    }
}

impl GroupCoordinator {
    /// Whether an offset commit not committed yet made `group_id` (and
    /// nothing committed made it before).
    fn created_uncommitted(&self, group_id: &str) -> bool {
        !self.created_groups.is_empty()
            && self
                .created_groups
                .committed(&group_id.to_string(), Some(&()))
                .is_none()
    }
}

/// A classic group only offset commits made: nobody ever joined it.
fn is_offsets_only(group: &Group) -> bool {
    group.state == GroupState::Empty
        && group.generation == 0
        && group.protocol_type.is_none()
        && group.members.is_empty()
        && group.pending_members.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(offset: i64) -> OffsetValue {
        OffsetValue {
            offset,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp: 0,
            expire_timestamp: None,
        }
    }

    fn key(partition: i32) -> OffsetKey {
        ("g".into(), "t".into(), partition)
    }

    #[test]
    fn a_key_reads_its_oldest_prior_until_committed() {
        let mut undo = UndoLog::default();
        let now = value(30);
        // Nothing pending: the current value.
        assert_eq!(undo.committed(&key(0), Some(&now)), Some(&now));
        // 10 -> 20 at offset 5, 20 -> 30 at offset 7.
        undo.insert(5, key(0), Some(value(10)));
        undo.insert(7, key(0), Some(value(20)));
        assert_eq!(undo.committed(&key(0), Some(&now)), Some(&value(10)));
        // Another key is untouched.
        assert_eq!(undo.committed(&key(1), Some(&now)), Some(&now));
        // HW 5: offset 5 not yet committed.
        undo.trim(5);
        assert_eq!(undo.committed(&key(0), Some(&now)), Some(&value(10)));
        // HW 6: the write at 5 is committed, the one at 7 is not.
        undo.trim(6);
        assert_eq!(undo.committed(&key(0), Some(&now)), Some(&value(20)));
        undo.trim(8);
        assert_eq!(undo.committed(&key(0), Some(&now)), Some(&now));
        assert!(undo.is_empty());
    }

    #[test]
    fn a_new_key_is_absent_and_a_deleted_one_present_until_committed() {
        let mut undo = UndoLog::default();
        undo.insert(3, key(0), None);
        undo.insert(3, key(1), Some(value(9)));
        assert_eq!(undo.committed(&key(0), Some(&value(4))), None);
        assert_eq!(undo.committed(&key(1), None), Some(&value(9)));
        let mut pending: Vec<_> = undo.pending_of("g").collect();
        pending.sort();
        assert_eq!(pending, vec![("t", 0), ("t", 1)]);
        assert_eq!(undo.pending_of("other").count(), 0);
        undo.trim(4);
        assert_eq!(undo.committed(&key(0), Some(&value(4))), Some(&value(4)));
        assert_eq!(undo.committed(&key(1), None), None);
        assert_eq!(undo.pending_of("g").count(), 0);
    }

    #[test]
    fn two_writes_of_a_key_in_one_batch_go_together() {
        let mut undo = UndoLog::default();
        undo.insert(4, key(0), Some(value(1)));
        undo.insert(4, key(0), Some(value(2)));
        assert_eq!(undo.committed(&key(0), None), Some(&value(1)));
        undo.trim(5);
        assert!(undo.is_empty());
    }
}
