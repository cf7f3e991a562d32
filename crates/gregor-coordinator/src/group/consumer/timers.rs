//! The passage of time for consumer groups: a member that stops
//! heartbeating for `group.consumer.session.timeout.ms` is fenced, and so is
//! one that does not finish revoking partitions within its rebalance
//! timeout (while still in the epoch it was revoking in).

use super::removal;
use crate::group::records::Record;
use crate::group::GroupCoordinator;

impl GroupCoordinator {
    /// Fires every consumer-group timer due at `now_ms`; returns the records
    /// of the members fenced (already applied).
    pub(crate) fn tick_consumer_groups(&mut self, now_ms: i64) -> Vec<Record> {
        let mut due: Vec<(String, String)> = Vec::new();
        let mut stale_rebalance: Vec<(String, String)> = Vec::new();
        for group in self.consumer_groups.values() {
            for member in group.members.values() {
                let session_over = member.session_deadline.is_some_and(|at| at <= now_ms);
                match member.rebalance_deadline {
                    _ if session_over => due.push((group.id.clone(), member.id.clone())),
                    Some((at, epoch)) if at <= now_ms => {
                        if member.epoch() == epoch {
                            due.push((group.id.clone(), member.id.clone()));
                        } else {
                            stale_rebalance.push((group.id.clone(), member.id.clone()));
                        }
                    }
                    _ => {}
                }
            }
        }
        for (group, member) in stale_rebalance {
            if let Some(m) = self
                .consumer_groups
                .get_mut(&group)
                .and_then(|g| g.members.get_mut(&member))
            {
                m.rebalance_deadline = None;
            }
        }
        let mut out = Vec::new();
        for (group, member) in due {
            let Some(g) = self.consumer_groups.get(&group) else {
                continue;
            };
            if !g.members.contains_key(&member) {
                continue;
            }
            tracing::info!(group = %group, member = %member, "consumer group member fenced: session or rebalance timeout");
            let records: Vec<Record> = removal::fence(g, &member)
                .into_iter()
                .map(Record::Consumer)
                .collect();
            for record in &records {
                self.replay(record.clone(), now_ms);
            }
            out.extend(records);
        }
        out
    }

    /// When [`Self::tick_consumer_groups`] next has something to do.
    pub(crate) fn next_consumer_deadline(&self) -> Option<i64> {
        self.consumer_groups
            .values()
            .flat_map(|g| g.members.values())
            .flat_map(|m| {
                m.session_deadline
                    .into_iter()
                    .chain(m.rebalance_deadline.map(|(at, _)| at))
            })
            .min()
    }
}
