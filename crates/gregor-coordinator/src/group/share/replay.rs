//! Applying share-group records: the only way share-group state changes,
//! on the live path and when a partition of `__consumer_offsets` loads.

use super::group::{ShareGroup, ShareMember};
use super::records::ShareRecord;
use crate::group::GroupCoordinator;

impl GroupCoordinator {
    pub(crate) fn replay_share(&mut self, record: ShareRecord, now_ms: i64) {
        let groups = &mut self.share_groups;
        match record {
            ShareRecord::GroupEpoch {
                group,
                value: Some((epoch, hash)),
            } => {
                let g = groups
                    .entry(group.clone())
                    .or_insert_with(|| ShareGroup::new(&group));
                g.epoch = epoch;
                g.metadata_hash = hash;
            }
            ShareRecord::GroupEpoch { group, value: None } => {
                groups.remove(&group);
            }
            ShareRecord::Member {
                group,
                member,
                value: Some(meta),
            } => {
                let g = groups
                    .entry(group.clone())
                    .or_insert_with(|| ShareGroup::new(&group));
                let m = g
                    .members
                    .entry(member.clone())
                    .or_insert_with(|| ShareMember {
                        id: member,
                        // A reloaded member's session restarts at the load.
                        session_deadline: Some(
                            now_ms + i64::from(self.config.share.session_timeout_ms),
                        ),
                        ..Default::default()
                    });
                m.meta = meta;
            }
            ShareRecord::Member {
                group,
                member,
                value: None,
            } => {
                if let Some(g) = groups.get_mut(&group) {
                    g.members.remove(&member);
                }
            }
            ShareRecord::TargetEpoch { group, epoch } => {
                if let Some(g) = groups.get_mut(&group) {
                    g.assignment_epoch = epoch.unwrap_or(0);
                }
            }
            ShareRecord::TargetMember {
                group,
                member,
                partitions,
            } => {
                if let Some(g) = groups.get_mut(&group) {
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
            ShareRecord::Current {
                group,
                member,
                value,
            } => {
                if let (Some(g), Some(c)) = (groups.get_mut(&group), value) {
                    if let Some(m) = g.members.get_mut(&member) {
                        m.epoch = c.epoch;
                        m.previous_epoch = c.previous_epoch;
                        m.assigned = c.assigned;
                    }
                }
            }
            ShareRecord::StatePartitions { group, value } => {
                if let Some(g) = groups.get_mut(&group) {
                    g.state_partitions = value.unwrap_or_default();
                }
            }
        }
    }
}
