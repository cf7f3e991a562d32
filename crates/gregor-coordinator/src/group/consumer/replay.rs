//! Applying consumer-group records: the only way consumer group state
//! changes, whether the records were just produced by a request or read
//! back from `__consumer_offsets` at start-up.

use super::group::ConsumerGroup;
use super::records::{ConsumerRecord, MemberAssignment, MemberState};
use crate::group::state::Group;
use crate::group::GroupCoordinator;

impl GroupCoordinator {
    /// Applies one record. Timers of the members it touches restart from
    /// `now_ms`, as Kafka's do when it loads a group.
    pub(crate) fn replay_consumer(&mut self, record: ConsumerRecord, now_ms: i64) {
        let session = i64::from(self.config.consumer.session_timeout_ms);
        match record {
            ConsumerRecord::GroupEpoch {
                group,
                epoch: Some(epoch),
            } => self.consumer_group_for_replay(&group, now_ms).epoch = epoch,
            ConsumerRecord::GroupEpoch { group, epoch: None } => {
                self.consumer_groups.remove(&group);
            }
            ConsumerRecord::SubscriptionMetadata { group, topics } => {
                let topics = topics.unwrap_or_default();
                if let Some(g) = self.existing_or_created(&group, !topics.is_empty(), now_ms) {
                    g.subscription = topics.into_iter().map(|t| (t.name.clone(), t)).collect();
                }
            }
            ConsumerRecord::Member {
                group,
                member,
                value: Some(meta),
            } => {
                let g = self.consumer_group_for_replay(&group, now_ms);
                g.set_metadata(&member, meta);
                if let Some(m) = g.members.get_mut(&member) {
                    m.session_deadline.get_or_insert(now_ms + session);
                }
            }
            ConsumerRecord::Member {
                group,
                member,
                value: None,
            } => {
                if let Some(g) = self.consumer_groups.get_mut(&group) {
                    g.remove_member(&member);
                }
            }
            ConsumerRecord::TargetEpoch { group, epoch } => {
                if let Some(g) = self.existing_or_created(&group, epoch.is_some(), now_ms) {
                    // Kafka's marker for "deleted" is -1.
                    g.assignment_epoch = epoch.unwrap_or(-1);
                }
            }
            ConsumerRecord::TargetMember {
                group,
                member,
                partitions,
            } => {
                if let Some(g) = self.existing_or_created(&group, partitions.is_some(), now_ms) {
                    match partitions {
                        Some(p) => {
                            g.target.insert(member, p);
                        }
                        None => {
                            g.target.remove(&member);
                        }
                    }
                }
            }
            ConsumerRecord::CurrentAssignment {
                group,
                member,
                value,
            } => {
                let create = value.is_some();
                let Some(g) = self.existing_or_created(&group, create, now_ms) else {
                    return;
                };
                if !create && !g.members.contains_key(&member) {
                    return;
                }
                // A tombstone leaves the member at epoch -1 with nothing,
                // until its metadata tombstone removes it.
                let current = value.unwrap_or(MemberAssignment {
                    epoch: -1,
                    previous_epoch: -1,
                    ..MemberAssignment::default()
                });
                g.set_assignment(&member, current);
                if let Some(m) = g.members.get_mut(&member) {
                    m.session_deadline.get_or_insert(now_ms + session);
                    m.rebalance_deadline = (m.current.state == MemberState::UnrevokedPartitions)
                        .then(|| {
                            let timeout = i64::from(m.meta.rebalance_timeout_ms.max(0));
                            (now_ms + timeout, m.current.epoch)
                        });
                }
            }
        }
    }

    fn existing_or_created(
        &mut self,
        group: &str,
        create: bool,
        now_ms: i64,
    ) -> Option<&mut ConsumerGroup> {
        if create {
            Some(self.consumer_group_for_replay(group, now_ms))
        } else {
            self.consumer_groups.get_mut(group)
        }
    }

    fn consumer_group_for_replay(&mut self, group: &str, now_ms: i64) -> &mut ConsumerGroup {
        if !self.consumer_groups.contains_key(group) {
            self.make_offsets_holder(group, now_ms);
        }
        self.consumer_groups
            .entry(group.to_string())
            .or_insert_with(|| ConsumerGroup::new(group))
    }

    /// One group id, one group: once a consumer group has the id, its
    /// classic entry only keeps the committed offsets (as an Empty group
    /// with no generation, like a simple consumer's). Normally the classic
    /// group was already deleted by a tombstone before the conversion; this
    /// keeps a log that says otherwise from leaving two groups behind.
    pub(crate) fn make_offsets_holder(&mut self, group: &str, now_ms: i64) {
        if let Some(classic) = self.groups.get_mut(group) {
            let bare = classic.members.is_empty()
                && classic.generation == 0
                && classic.protocol_type.is_none()
                && classic.pending_members.is_empty();
            if !bare {
                let offsets = std::mem::take(&mut classic.offsets);
                *classic = Group::new(group, now_ms);
                classic.offsets = offsets;
            }
        }
    }
}
