//! One consumer group: epochs, members, the target assignment and the
//! subscribed topics' metadata, plus the bookkeeping derived from them
//! (static members by instance id, the epoch each owned partition is held
//! at). Changed only through [`super::replay`].

use super::assignment::{self, Assignment};
use super::member::ConsumerMember;
use super::records::{MemberAssignment, MemberMetadata, TopicMetadata};
use super::regex::TopicRegex;
use super::{Assignor, ConsumerGroupConfig};
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

/// The states Kafka shows for a consumer group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsumerGroupState {
    Empty,
    /// The group epoch moved; the target assignment is not recomputed yet.
    Assigning,
    /// Some member has not reached its target yet.
    Reconciling,
    Stable,
}

impl ConsumerGroupState {
    pub fn name(self) -> &'static str {
        match self {
            ConsumerGroupState::Empty => "Empty",
            ConsumerGroupState::Assigning => "Assigning",
            ConsumerGroupState::Reconciling => "Reconciling",
            ConsumerGroupState::Stable => "Stable",
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct ConsumerGroup {
    pub id: String,
    /// Bumped whenever the target assignment must be recomputed.
    pub epoch: i32,
    /// The group epoch the current target assignment was computed for.
    pub assignment_epoch: i32,
    pub members: BTreeMap<String, ConsumerMember>,
    /// group.instance.id -> member id.
    pub static_members: BTreeMap<String, String>,
    /// Member id -> the partitions it should end up with.
    pub target: BTreeMap<String, Assignment>,
    /// Subscribed topics (that exist), by name, as the target saw them.
    pub subscription: BTreeMap<String, TopicMetadata>,
    /// (topic, partition) -> epoch of the member that owns it (assigned or
    /// still revoking). A partition in here cannot be given to anyone else.
    partition_epochs: BTreeMap<(Uuid, i32), i32>,
    /// Members' regexes, compiled (soft state, rebuilt by replay).
    regexes: BTreeMap<String, TopicRegex>,
}

impl ConsumerGroup {
    pub fn new(id: &str) -> Self {
        ConsumerGroup {
            id: id.to_string(),
            epoch: 0,
            assignment_epoch: 0,
            members: BTreeMap::new(),
            static_members: BTreeMap::new(),
            target: BTreeMap::new(),
            subscription: BTreeMap::new(),
            partition_epochs: BTreeMap::new(),
            regexes: BTreeMap::new(),
        }
    }

    pub fn state(&self) -> ConsumerGroupState {
        if self.members.is_empty() {
            ConsumerGroupState::Empty
        } else if self.epoch > self.assignment_epoch {
            ConsumerGroupState::Assigning
        } else if self
            .members
            .values()
            .any(|m| !m.is_reconciled_to(self.assignment_epoch))
        {
            ConsumerGroupState::Reconciling
        } else {
            ConsumerGroupState::Stable
        }
    }

    /// The epoch at which someone owns the partition, if anyone does.
    pub fn partition_epoch(&self, topic: Uuid, partition: i32) -> Option<i32> {
        self.partition_epochs.get(&(topic, partition)).copied()
    }

    pub fn static_member(&self, instance_id: &str) -> Option<&ConsumerMember> {
        self.static_members
            .get(instance_id)
            .and_then(|id| self.members.get(id))
    }

    /// Kafka's `targetAssignment(memberId, instanceId)`: a static member's
    /// target is found through its instance id (a rejoining instance
    /// inherits its predecessor's).
    pub fn target_of(&self, member_id: &str, instance_id: Option<&str>) -> Assignment {
        let key = match instance_id {
            None => Some(member_id),
            Some(instance) => self.static_members.get(instance).map(String::as_str),
        };
        key.and_then(|k| self.target.get(k))
            .cloned()
            .unwrap_or_default()
    }

    pub fn regex(&self, pattern: &str) -> Option<&TopicRegex> {
        self.regexes.get(pattern)
    }

    /// Keeps a pattern's latest resolution (soft state, as the compiled form).
    pub(crate) fn set_regex(&mut self, pattern: &str, regex: TopicRegex) {
        self.regexes.insert(pattern.to_string(), regex);
    }

    /// Replaces a member's metadata (creating the member if needed).
    pub fn set_metadata(&mut self, member_id: &str, meta: MemberMetadata) {
        let member = self
            .members
            .entry(member_id.to_string())
            .or_insert_with(|| ConsumerMember::new(member_id));
        if let Some(old) = member.meta.instance_id.take() {
            if self.static_members.get(&old).map(String::as_str) == Some(member_id) {
                self.static_members.remove(&old);
            }
        }
        if let Some(instance) = &meta.instance_id {
            self.static_members
                .insert(instance.clone(), member_id.to_string());
        }
        if let Some(pattern) = &meta.subscribed_topic_regex {
            if !self.regexes.contains_key(pattern) {
                match TopicRegex::compile(pattern) {
                    Ok(re) => {
                        self.regexes.insert(pattern.clone(), re);
                    }
                    // Validated when the member sent it; a record from
                    // elsewhere with a pattern we cannot read matches nothing.
                    Err(err) => {
                        tracing::warn!(group = %self.id, %pattern, %err, "unusable topic regex")
                    }
                }
            }
        }
        member.meta = meta;
        self.prune_regexes();
    }

    /// Replaces a member's epochs and partitions (creating the member if
    /// needed), keeping the partition owners in step.
    pub fn set_assignment(&mut self, member_id: &str, current: MemberAssignment) {
        let member = self
            .members
            .entry(member_id.to_string())
            .or_insert_with(|| ConsumerMember::new(member_id));
        let old = std::mem::replace(&mut member.current, current);
        let new = member.current.clone();
        self.release(&old);
        self.claim(member_id, &new);
    }

    pub fn remove_member(&mut self, member_id: &str) -> Option<ConsumerMember> {
        let member = self.members.remove(member_id)?;
        self.release(&member.current);
        if let Some(instance) = member.instance_id() {
            if self.static_members.get(instance).map(String::as_str) == Some(member_id) {
                self.static_members.remove(instance);
            }
        }
        self.prune_regexes();
        Some(member)
    }

    fn release(&mut self, current: &MemberAssignment) {
        for (topic, partition) in assignment::pairs(&current.assigned)
            .chain(assignment::pairs(&current.pending_revocation))
        {
            if self.partition_epochs.get(&(topic, partition)) == Some(&current.epoch) {
                self.partition_epochs.remove(&(topic, partition));
            }
        }
    }

    fn claim(&mut self, member_id: &str, current: &MemberAssignment) {
        for (topic, partition) in assignment::pairs(&current.assigned)
            .chain(assignment::pairs(&current.pending_revocation))
        {
            let previous = self
                .partition_epochs
                .insert((topic, partition), current.epoch);
            if let Some(previous) = previous {
                // Revoke-before-assign makes this impossible; if a log says
                // otherwise, the latest owner wins rather than the broker.
                tracing::warn!(group = %self.id, member = member_id, %topic, partition, previous, "partition owned twice");
            }
        }
    }

    fn prune_regexes(&mut self) {
        let used: BTreeSet<&String> = self
            .members
            .values()
            .filter_map(|m| m.meta.subscribed_topic_regex.as_ref())
            .collect();
        self.regexes.retain(|pattern, _| used.contains(pattern));
    }

    /// Whether a member with `meta` subscribes to `topic`, by name or by its
    /// regex (`regex`, compiled; the group's cache when `None`).
    pub fn subscribes(
        &self,
        meta: &MemberMetadata,
        regex: Option<&TopicRegex>,
        topic: &str,
    ) -> bool {
        if meta
            .subscribed_topic_names
            .binary_search_by(|n| n.as_str().cmp(topic))
            .is_ok()
        {
            return true;
        }
        let regex = regex.or_else(|| {
            meta.subscribed_topic_regex
                .as_deref()
                .and_then(|p| self.regex(p))
        });
        regex.is_some_and(|re| re.matches(topic))
    }

    /// Topic names any member subscribes to: its names, and the existing
    /// topics its regex matched (OffsetDelete refuses to delete those).
    pub fn subscribed_topic_names(&self) -> BTreeSet<String> {
        let mut names: BTreeSet<String> = self
            .members
            .values()
            .flat_map(|m| m.meta.subscribed_topic_names.iter().cloned())
            .collect();
        names.extend(self.subscription.keys().cloned());
        names
    }

    /// Kafka's `computePreferredServerAssignor`: the assignor most members
    /// ask for, counting `updated` instead of the members it replaces; the
    /// default when nobody asks. Ties go to the one configured first.
    pub fn preferred_assignor(
        &self,
        replaced: &[&str],
        updated: Option<&ConsumerMember>,
        config: &ConsumerGroupConfig,
    ) -> Assignor {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        let others = self.members.values().filter(|m| {
            !replaced.contains(&m.id.as_str())
                && Some(m.id.as_str()) != updated.map(|u| u.id.as_str())
        });
        for member in others.chain(updated) {
            if let Some(name) = member.meta.server_assignor.as_deref() {
                *counts.entry(name).or_default() += 1;
            }
        }
        let mut best: Option<(Assignor, usize)> = None;
        for assignor in &config.assignors {
            let count = counts.get(assignor.name()).copied().unwrap_or(0);
            if count > 0 && best.is_none_or(|(_, top)| count > top) {
                best = Some((*assignor, count));
            }
        }
        best.map_or_else(|| config.default_assignor(), |(a, _)| a)
    }
}
