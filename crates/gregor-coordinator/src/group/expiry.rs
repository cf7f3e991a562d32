//! Committed-offset expiry (`offsets.retention.minutes`, KIP-211), run
//! every `offsets.retention.check.interval.ms`:
//! * an offset committed with an explicit retention (OffsetCommit v2-v4)
//!   expires at its expire timestamp;
//! * a group that uses a protocol loses its offsets once it has been Empty
//!   for the retention period, counted from when it became empty;
//! * a "simple" group (offsets only, never joined) loses each offset the
//!   retention period after it was committed;
//! * a classic consumer group with members loses offsets of topics it no
//!   longer subscribes to, the retention period after their commit;
//! * a KIP-848 group keeps its offsets while it has members.
//!
//! Expired offsets become tombstones in `__consumer_offsets`; an Empty
//! group left without offsets is deleted, as Kafka does.

use super::committed;
use super::records::Record;
use super::state::{Group, GroupState};
use super::GroupCoordinator;

impl GroupCoordinator {
    /// Drops what has expired at `now_ms`; returns the records to persist.
    pub fn expire_offsets(&mut self, now_ms: i64, retention_ms: i64) -> Vec<Record> {
        let mut records = Vec::new();
        let mut emptied = Vec::new();
        let pending_keys: std::collections::BTreeSet<(&str, &str, i32)> = self
            .pending_txn_offsets
            .values()
            .flat_map(|groups| groups.iter())
            .flat_map(|(group, offsets)| {
                offsets
                    .keys()
                    .map(move |(topic, partition)| (group.as_str(), topic.as_str(), *partition))
            })
            .collect();
        for (id, group) in self.groups.iter_mut() {
            let consumer_members = self
                .consumer_groups
                .get(id)
                .is_some_and(|g| !g.members.is_empty());
            let expired: Vec<(String, i32)> = group
                .offsets
                .iter()
                // An offset an open transaction will replace does not
                // expire yet (Kafka's `cleanupExpiredOffsets`): its
                // tombstone would drop the transaction's offset too.
                .filter(|(tp, _)| !pending_keys.contains(&(id.as_str(), tp.0.as_str(), tp.1)))
                .filter(|(tp, value)| match value.expire_timestamp {
                    Some(at) => now_ms >= at,
                    None if consumer_members => false,
                    None => expires_from(group, &tp.0, value.commit_timestamp)
                        .is_some_and(|from| from.saturating_add(retention_ms) <= now_ms),
                })
                .map(|(tp, _)| tp.clone())
                .collect();
            for (topic, partition) in expired {
                let prior = group.offsets.remove(&(topic.clone(), partition));
                committed::note(&mut self.journal, id, &topic, partition, prior);
                records.push(Record::Offset {
                    group: id.clone(),
                    topic,
                    partition,
                    value: None,
                });
            }
            if group.state == GroupState::Empty
                && group.offsets.is_empty()
                && group.members.is_empty()
                && !consumer_members
                && !self.consumer_groups.contains_key(id)
            {
                emptied.push(id.clone());
            }
        }
        for id in emptied {
            let had_metadata = self
                .groups
                .get(&id)
                .is_some_and(|g| g.protocol_type.is_some() || g.generation > 0);
            if self.has_pending_group_offsets(&id) {
                continue;
            }
            if let Some(group) = self.groups.remove(&id) {
                self.note_group_removal(&group);
            }
            if had_metadata {
                records.push(Record::Group {
                    group: id,
                    value: None,
                });
            }
        }
        records
    }

    pub(crate) fn has_pending_group_offsets(&self, group_id: &str) -> bool {
        self.pending_txn_offsets
            .values()
            .any(|groups| groups.contains_key(group_id))
    }
}

/// When an offset's retention starts counting, or `None` while it is in
/// use (Kafka's `OffsetExpirationCondition`).
fn expires_from(group: &Group, topic: &str, commit_timestamp: i64) -> Option<i64> {
    match (group.state, group.protocol_type.as_deref()) {
        // A simple group: each offset on its own.
        (GroupState::Empty, None) => Some(commit_timestamp),
        // A group that emptied: from the moment it did.
        (GroupState::Empty, Some(_)) => Some(group.state_timestamp),
        // A live consumer group: offsets of topics nobody subscribes to.
        (_, Some("consumer")) => match &group.subscribed_topics {
            Some(topics) if !topics.contains(topic) => Some(commit_timestamp),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::records::OffsetValue;
    use super::*;
    use crate::group::GroupConfig;

    const DAY: i64 = 86_400_000;
    const T0: i64 = 1_000_000_000;

    fn offset(commit: i64, expire: Option<i64>) -> OffsetValue {
        OffsetValue {
            offset: 5,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp: commit,
            expire_timestamp: expire,
        }
    }

    fn coordinator_with(groups: Vec<Group>) -> GroupCoordinator {
        let mut c = GroupCoordinator::new(GroupConfig::default());
        for g in groups {
            c.groups.insert(g.id.clone(), g);
        }
        c
    }

    fn tombstones(records: &[Record]) -> Vec<String> {
        records
            .iter()
            .map(|r| match r {
                Record::Offset {
                    group,
                    topic,
                    partition,
                    value: None,
                } => format!("{group}/{topic}-{partition}"),
                Record::Group { group, value: None } => group.clone(),
                other => panic!("not a tombstone: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn simple_group_offsets_expire_one_by_one_from_their_commit() {
        let mut g = Group::new("simple", T0);
        g.offsets.insert(("t".into(), 0), offset(T0, None));
        g.offsets.insert(("t".into(), 1), offset(T0 + DAY, None));
        let mut c = coordinator_with(vec![g]);
        assert!(c.expire_offsets(T0 + 7 * DAY - 1, 7 * DAY).is_empty());
        assert_eq!(
            tombstones(&c.expire_offsets(T0 + 7 * DAY, 7 * DAY)),
            vec!["simple/t-0"]
        );
        // The last one goes, and the group with it (it never had metadata,
        // so no group tombstone is needed).
        assert_eq!(
            tombstones(&c.expire_offsets(T0 + 8 * DAY, 7 * DAY)),
            vec!["simple/t-1"]
        );
        assert!(c.groups.is_empty());
    }

    #[test]
    fn an_empty_consumer_group_keeps_offsets_for_the_retention_after_emptying() {
        let mut g = Group::new("app", T0);
        g.protocol_type = Some("consumer".into());
        g.generation = 3;
        g.offsets.insert(("t".into(), 0), offset(T0, None));
        // It became empty a day after the commit.
        g.transition(GroupState::Empty, T0 + DAY);
        let mut c = coordinator_with(vec![g]);
        assert!(c.expire_offsets(T0 + 7 * DAY, 7 * DAY).is_empty());
        assert_eq!(
            tombstones(&c.expire_offsets(T0 + 8 * DAY, 7 * DAY)),
            vec!["app/t-0", "app"]
        );
    }

    #[test]
    fn a_live_group_loses_only_offsets_of_topics_it_left() {
        let mut g = Group::new("live", T0);
        g.protocol_type = Some("consumer".into());
        g.transition(GroupState::Stable, T0);
        g.subscribed_topics = Some(["kept".to_string()].into_iter().collect());
        g.offsets.insert(("kept".into(), 0), offset(T0, None));
        g.offsets.insert(("left".into(), 0), offset(T0, None));
        let mut c = coordinator_with(vec![g]);
        assert_eq!(
            tombstones(&c.expire_offsets(T0 + 8 * DAY, 7 * DAY)),
            vec!["live/left-0"]
        );
        assert!(c.groups["live"]
            .offsets
            .contains_key(&("kept".to_string(), 0)));
    }

    #[test]
    fn explicit_retention_wins_and_applies_to_any_group() {
        let mut g = Group::new("v2", T0);
        g.protocol_type = Some("consumer".into());
        g.transition(GroupState::Stable, T0);
        g.offsets
            .insert(("t".into(), 0), offset(T0, Some(T0 + 500)));
        let mut c = coordinator_with(vec![g]);
        assert!(c.expire_offsets(T0 + 499, 7 * DAY).is_empty());
        assert_eq!(
            tombstones(&c.expire_offsets(T0 + 500, 7 * DAY)),
            vec!["v2/t-0"]
        );
        assert!(c.groups.contains_key("v2"), "a live group stays");
    }
}
