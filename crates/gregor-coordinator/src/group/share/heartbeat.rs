//! ShareGroupHeartbeat (API 76, v1): joining (epoch 0, with the member id
//! the client chose), heartbeating at the member's epoch, and leaving (-1).
//! Validation, errors and messages follow Kafka 4.4's
//! `GroupCoordinatorService` / `GroupMetadataManager.shareGroupHeartbeat`.
//!
//! Like the consumer protocol next door, a heartbeat plans the records it
//! implies from the current state, then applies them through replay. Share
//! members never revoke (a partition may have several members), so a member
//! moves to its target at once.
//!
//! A partition is only assigned once its share-partition state exists in
//! the persister: a heartbeat that sees subscribed partitions without state
//! marks them "initializing" and hands them to the broker
//! ([`ShareEffects::to_initialize`]), which initializes them and reports
//! back through [`GroupCoordinator::share_partitions_initialized`]; that
//! bumps the group epoch, and the next heartbeats assign them.

use super::assign::{assign, TopicToAssign};
use super::group::{Partitions, ShareGroup, ShareMember};
use super::records::{CurrentAssignment, ShareRecord, StatePartitions};
use crate::group::consumer::Topics;
use crate::group::records::Record;
use crate::group::GroupCoordinator;
use gregor_protocol::error_codes::{
    FENCED_MEMBER_EPOCH, GROUP_ID_NOT_FOUND, GROUP_MAX_SIZE_REACHED, INVALID_REQUEST,
    UNKNOWN_MEMBER_ID,
};
use kafka_protocol::messages::share_group_heartbeat_response::{Assignment, TopicPartitions};
use kafka_protocol::messages::{ShareGroupHeartbeatRequest, ShareGroupHeartbeatResponse};
use kafka_protocol::protocol::StrBytes;
use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};
use uuid::Uuid;

const JOIN_EPOCH: i32 = 0;
const LEAVE_EPOCH: i32 = -1;
/// Kafka's `group.share.initialize.retry.interval.ms` default: how long an
/// initialization may stay unanswered before it is asked for again.
const INITIALIZE_RETRY_MS: i64 = 30_000;

/// Who sent the heartbeat, and the group's effective settings (broker
/// `group.share.*` overridden by the group's `share.*` configs).
#[derive(Clone, Debug)]
pub struct ShareContext {
    pub client_id: String,
    pub client_host: String,
    pub heartbeat_interval_ms: i32,
    pub session_timeout_ms: i32,
}

/// A share-partition run to initialize: topic id, name, partitions.
pub type TopicPartitionsToInit = (Uuid, String, BTreeSet<i32>);

/// What a heartbeat produced besides its answer.
#[derive(Clone, Debug, Default)]
pub struct ShareEffects {
    /// For `__consumer_offsets`, already applied.
    pub records: Vec<Record>,
    /// Share-partitions whose state the broker must initialize (state
    /// epoch 0, start offset -1), then report.
    pub to_initialize: Vec<TopicPartitionsToInit>,
}

struct Refusal {
    code: i16,
    message: String,
}

fn refusal(code: i16, message: impl Into<String>) -> Refusal {
    Refusal {
        code,
        message: message.into(),
    }
}

fn validate(req: &ShareGroupHeartbeatRequest) -> Result<(), Refusal> {
    let blank = |s: &str| s.trim().is_empty();
    if blank(&req.member_id) {
        return Err(refusal(INVALID_REQUEST, "MemberId can't be empty."));
    }
    if blank(&req.group_id) {
        return Err(refusal(INVALID_REQUEST, "GroupId can't be empty."));
    }
    if req.rack_id.as_deref().is_some_and(blank) {
        return Err(refusal(INVALID_REQUEST, "RackId can't be empty."));
    }
    if req.member_epoch == JOIN_EPOCH {
        if req
            .subscribed_topic_names
            .as_ref()
            .is_none_or(Vec::is_empty)
        {
            return Err(refusal(
                INVALID_REQUEST,
                "SubscribedTopicNames must be set in first request.",
            ));
        }
    } else if req.member_epoch < LEAVE_EPOCH {
        return Err(refusal(INVALID_REQUEST, "MemberEpoch is invalid."));
    }
    Ok(())
}

/// A hash of the subscribed topics as they exist now (id, partitions):
/// when it moves, the target is recomputed.
fn metadata_hash(subscribed: &BTreeSet<String>, topics: &dyn Topics) -> i64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for name in subscribed {
        if let Some((id, parts)) = topics.by_name(name) {
            (name, id, parts).hash(&mut h);
        }
    }
    h.finish() as i64
}

pub(crate) fn wire_assignment(assigned: &Partitions) -> Assignment {
    Assignment::default().with_topic_partitions(
        assigned
            .iter()
            .map(|(id, p)| {
                TopicPartitions::default()
                    .with_topic_id(*id)
                    .with_partitions(p.iter().copied().collect())
            })
            .collect(),
    )
}

impl GroupCoordinator {
    /// Handles a ShareGroupHeartbeat: the answer, the records (already
    /// applied) and the share-partitions to initialize.
    pub fn share_group_heartbeat(
        &mut self,
        req: &ShareGroupHeartbeatRequest,
        ctx: &ShareContext,
        topics: &dyn Topics,
        now_ms: i64,
    ) -> (ShareGroupHeartbeatResponse, ShareEffects) {
        let planned = validate(req).and_then(|()| {
            if req.member_epoch == LEAVE_EPOCH {
                self.plan_share_leave(req)
            } else {
                self.plan_share_heartbeat(req, ctx, topics, now_ms)
            }
        });
        match planned {
            Ok((response, effects)) => {
                for record in &effects.records {
                    self.replay(record.clone(), now_ms);
                }
                if let Some(g) = self.share_groups.get_mut(req.group_id.as_str()) {
                    for (id, _, _) in &effects.to_initialize {
                        g.init_asked_at.insert(*id, now_ms);
                    }
                }
                if req.member_epoch != LEAVE_EPOCH {
                    if let Some(m) = self
                        .share_groups
                        .get_mut(req.group_id.as_str())
                        .and_then(|g| g.members.get_mut(req.member_id.as_str()))
                    {
                        m.session_deadline = Some(now_ms + i64::from(ctx.session_timeout_ms));
                    }
                }
                (response, effects)
            }
            Err(r) => (
                ShareGroupHeartbeatResponse::default()
                    .with_error_code(r.code)
                    .with_error_message(Some(StrBytes::from_string(r.message))),
                ShareEffects::default(),
            ),
        }
    }

    /// The share group, or Kafka's GROUP_ID_NOT_FOUND (absent, or a group
    /// of another type).
    fn share_group_or_refusal(&self, group_id: &str) -> Result<&ShareGroup, Refusal> {
        match self.share_groups.get(group_id) {
            Some(g) => Ok(g),
            None if self.is_other_type_group(group_id) => Err(refusal(
                GROUP_ID_NOT_FOUND,
                format!("Group {group_id} is not a share group."),
            )),
            None => Err(refusal(
                GROUP_ID_NOT_FOUND,
                format!("Group {group_id} not found."),
            )),
        }
    }

    /// Whether the id is taken by a classic, consumer or streams group.
    pub(crate) fn is_other_type_group(&self, group_id: &str) -> bool {
        self.groups.contains_key(group_id)
            || self.consumer_groups.contains_key(group_id)
            || self.streams_groups.contains_key(group_id)
    }

    fn plan_share_leave(
        &self,
        req: &ShareGroupHeartbeatRequest,
    ) -> Result<(ShareGroupHeartbeatResponse, ShareEffects), Refusal> {
        let group = self.share_group_or_refusal(&req.group_id)?;
        let member_id = req.member_id.as_str();
        if !group.members.contains_key(member_id) {
            return Err(refusal(
                UNKNOWN_MEMBER_ID,
                format!("Member {member_id} is not a member of group {}.", group.id),
            ));
        }
        let records = fence_records(group, member_id);
        Ok((
            ShareGroupHeartbeatResponse::default()
                .with_member_id(Some(req.member_id.clone()))
                .with_member_epoch(LEAVE_EPOCH),
            ShareEffects {
                records: records.into_iter().map(Record::Share).collect(),
                to_initialize: Vec::new(),
            },
        ))
    }

    fn plan_share_heartbeat(
        &self,
        req: &ShareGroupHeartbeatRequest,
        ctx: &ShareContext,
        topics: &dyn Topics,
        now_ms: i64,
    ) -> Result<(ShareGroupHeartbeatResponse, ShareEffects), Refusal> {
        let group_id = req.group_id.as_str();
        let member_id = req.member_id.as_str();
        let joining = req.member_epoch == JOIN_EPOCH;
        let fresh;
        let group = match self.share_groups.get(group_id) {
            Some(g) => g,
            None if self.is_other_type_group(group_id) => {
                return Err(refusal(
                    GROUP_ID_NOT_FOUND,
                    format!("Group {group_id} is not a share group."),
                ))
            }
            None if !joining => {
                return Err(refusal(
                    GROUP_ID_NOT_FOUND,
                    format!("Share group {group_id} not found."),
                ))
            }
            None => {
                fresh = ShareGroup::new(group_id);
                &fresh
            }
        };
        let max_size = usize::try_from(self.config.share.max_size).unwrap_or(usize::MAX);
        if group.members.len() >= max_size && !group.members.contains_key(member_id) {
            return Err(refusal(
                GROUP_MAX_SIZE_REACHED,
                format!(
                    "The share group has reached its maximum capacity of {} members.",
                    self.config.share.max_size
                ),
            ));
        }

        // 1. The member, checked against its epoch.
        let member = match group.members.get(member_id) {
            Some(m) => {
                check_epoch(m, req.member_epoch)?;
                m.clone()
            }
            None if joining => ShareMember {
                id: member_id.to_string(),
                ..Default::default()
            },
            None => {
                return Err(refusal(
                    UNKNOWN_MEMBER_ID,
                    format!("Member {member_id} is not a member of group {group_id}."),
                ))
            }
        };
        let is_new = !group.members.contains_key(member_id);
        let mut updated = member.clone();
        if let Some(rack) = &req.rack_id {
            updated.meta.rack_id = Some(rack.to_string());
        }
        if let Some(names) = &req.subscribed_topic_names {
            let names: BTreeSet<String> = names.iter().map(|n| n.to_string()).collect();
            updated.meta.subscribed_topic_names = names.into_iter().collect();
        }
        updated.meta.client_id = ctx.client_id.clone();
        updated.meta.client_host = ctx.client_host.clone();

        let mut records = Vec::new();
        if is_new || updated.meta != member.meta {
            records.push(ShareRecord::Member {
                group: group_id.to_string(),
                member: member_id.to_string(),
                value: Some(updated.meta.clone()),
            });
        }
        let mut bump = group.epoch == 0
            || updated.meta.subscribed_topic_names != member.meta.subscribed_topic_names;

        // 2. The subscribed topics as they are now.
        let mut subscribed: BTreeSet<String> = group
            .members
            .values()
            .filter(|m| m.id != member_id)
            .flat_map(|m| m.meta.subscribed_topic_names.iter().cloned())
            .collect();
        subscribed.extend(updated.meta.subscribed_topic_names.iter().cloned());
        let hash = metadata_hash(&subscribed, topics);
        if hash != group.metadata_hash {
            bump = true;
        }

        // 3. Share-partitions without state yet: to initialize. Topics that
        // are gone (or re-created under a new id) are forgotten.
        let (state, to_initialize) = plan_initialization(group, &subscribed, topics, now_ms);
        if state != group.state_partitions {
            records.push(ShareRecord::StatePartitions {
                group: group_id.to_string(),
                value: Some(state.clone()),
            });
        }
        let group_epoch = if bump { group.epoch + 1 } else { group.epoch };
        if bump {
            records.push(ShareRecord::GroupEpoch {
                group: group_id.to_string(),
                value: Some((group_epoch, hash)),
            });
        }

        // 4. The target, recomputed for a new group epoch.
        let target = if group_epoch > group.assignment_epoch {
            let mut members: BTreeMap<&str, &[String]> = group
                .members
                .values()
                .map(|m| (m.id.as_str(), m.meta.subscribed_topic_names.as_slice()))
                .collect();
            members.insert(member_id, updated.meta.subscribed_topic_names.as_slice());
            let all = compute_target(&members, &state, topics, &group.target);
            for (id, parts) in &all {
                if group.target.get(id) != Some(parts) {
                    records.push(ShareRecord::TargetMember {
                        group: group_id.to_string(),
                        member: id.clone(),
                        partitions: Some(parts.clone()),
                    });
                }
            }
            records.push(ShareRecord::TargetEpoch {
                group: group_id.to_string(),
                epoch: Some(group_epoch),
            });
            (group_epoch, all.get(member_id).cloned().unwrap_or_default())
        } else {
            (
                group.assignment_epoch,
                group.target.get(member_id).cloned().unwrap_or_default(),
            )
        };

        // 5. The member takes its target at once (nothing to revoke).
        let (target_epoch, target_parts) = target;
        if updated.epoch != target_epoch || updated.assigned != target_parts || is_new {
            records.push(ShareRecord::Current {
                group: group_id.to_string(),
                member: member_id.to_string(),
                value: Some(CurrentAssignment {
                    epoch: target_epoch,
                    previous_epoch: updated.epoch,
                    state: 0,
                    assigned: target_parts.clone(),
                }),
            });
        }
        let mut response = ShareGroupHeartbeatResponse::default()
            .with_member_id(Some(req.member_id.clone()))
            .with_member_epoch(target_epoch)
            .with_heartbeat_interval_ms(ctx.heartbeat_interval_ms);
        if joining || target_parts != member.assigned {
            response.assignment = Some(wire_assignment(&target_parts));
        }
        Ok((
            response,
            ShareEffects {
                records: records.into_iter().map(Record::Share).collect(),
                to_initialize,
            },
        ))
    }

    /// The broker initialized (or failed to initialize) share-partitions a
    /// heartbeat asked for: they become assignable (the group epoch moves,
    /// so the next heartbeat recomputes the target), or are forgotten so a
    /// later heartbeat asks again.
    pub fn share_partitions_initialized(
        &mut self,
        group_id: &str,
        done: &[TopicPartitionsToInit],
        succeeded: bool,
        now_ms: i64,
    ) -> Vec<Record> {
        let Some(group) = self.share_groups.get(group_id) else {
            return Vec::new();
        };
        let mut state = group.state_partitions.clone();
        if let Some(g) = self.share_groups.get_mut(group_id) {
            for (id, _, _) in done {
                g.init_asked_at.remove(id);
            }
        }
        let Some(group) = self.share_groups.get(group_id) else {
            return Vec::new();
        };
        for (id, name, parts) in done {
            if let Some((_, initializing)) = state.initializing.get_mut(id) {
                initializing.retain(|p| !parts.contains(p));
                if initializing.is_empty() {
                    state.initializing.remove(id);
                }
            }
            if succeeded {
                state
                    .initialized
                    .entry(*id)
                    .or_insert_with(|| (name.clone(), BTreeSet::new()))
                    .1
                    .extend(parts.iter().copied());
            }
        }
        if state == group.state_partitions {
            return Vec::new();
        }
        let mut records = vec![ShareRecord::StatePartitions {
            group: group_id.to_string(),
            value: Some(state),
        }];
        if succeeded {
            records.push(ShareRecord::GroupEpoch {
                group: group_id.to_string(),
                value: Some((group.epoch + 1, group.metadata_hash)),
            });
        }
        let records: Vec<Record> = records.into_iter().map(Record::Share).collect();
        for r in &records {
            self.replay(r.clone(), now_ms);
        }
        records
    }
}

/// Kafka's `throwIfShareGroupMemberEpochIsInvalid`.
/// A join (epoch 0) of a known member is a rejoin: not checked.
fn check_epoch(member: &ShareMember, received: i32) -> Result<(), Refusal> {
    if received == JOIN_EPOCH {
        return Ok(());
    }
    let known = member.epoch;
    if received > known {
        return Err(refusal(
            FENCED_MEMBER_EPOCH,
            format!("The share group member has a greater member epoch ({received}) than the one known by the group coordinator ({known}). The member must abandon all its partitions and rejoin."),
        ));
    }
    if received < known && received != member.previous_epoch {
        return Err(refusal(
            FENCED_MEMBER_EPOCH,
            format!(
                "The share group member has a smaller member epoch ({received}) than the one known by the group coordinator ({known}), and it does not match the previous member epoch ({}). The member must abandon all its partitions and rejoin.",
                member.previous_epoch
            ),
        ));
    }
    Ok(())
}

/// The state-partition bookkeeping after this heartbeat, and what to
/// initialize: subscribed partitions neither initialized nor initializing,
/// and those initializing whose ask is lost or overdue.
fn plan_initialization(
    group: &ShareGroup,
    subscribed: &BTreeSet<String>,
    topics: &dyn Topics,
    now_ms: i64,
) -> (StatePartitions, Vec<TopicPartitionsToInit>) {
    let mut state = group.state_partitions.clone();
    // A topic id that no longer exists (deleted, or re-created) is dropped.
    let exists = |id: &Uuid, name: &str| topics.by_name(name).is_some_and(|(i, _)| i == *id);
    state.initialized.retain(|id, (name, _)| exists(id, name));
    state.initializing.retain(|id, (name, _)| exists(id, name));
    let mut to_init = Vec::new();
    for name in subscribed {
        let Some((id, count)) = topics.by_name(name) else {
            continue;
        };
        let overdue = group
            .init_asked_at
            .get(&id)
            .is_none_or(|at| now_ms - at >= INITIALIZE_RETRY_MS);
        let stalled: BTreeSet<i32> = match state.initializing.get(&id) {
            Some((_, parts)) if overdue => parts.clone(),
            _ => BTreeSet::new(),
        };
        let missing: BTreeSet<i32> = (0..count)
            .filter(|p| !state.knows(id, *p) || stalled.contains(p))
            .collect();
        if missing.is_empty() {
            continue;
        }
        state
            .initializing
            .entry(id)
            .or_insert_with(|| (name.clone(), BTreeSet::new()))
            .1
            .extend(missing.iter().copied());
        to_init.push((id, name.clone(), missing));
    }
    (state, to_init)
}

/// The SimpleAssignor over the initialized partitions of existing topics.
fn compute_target(
    members: &BTreeMap<&str, &[String]>,
    state: &StatePartitions,
    topics: &dyn Topics,
    previous: &BTreeMap<String, Partitions>,
) -> BTreeMap<String, Partitions> {
    let subscribed: BTreeSet<&String> = members.values().flat_map(|s| s.iter()).collect();
    let mut to_assign = Vec::new();
    for name in subscribed {
        let Some((id, count)) = topics.by_name(name) else {
            continue;
        };
        let partitions: Vec<i32> = (0..count)
            .filter(|p| state.is_initialized(id, *p))
            .collect();
        let subscribers: Vec<&str> = members
            .iter()
            .filter(|(_, subs)| subs.contains(name))
            .map(|(m, _)| *m)
            .collect();
        to_assign.push(TopicToAssign {
            id,
            partitions,
            members: subscribers,
        });
    }
    let ids: BTreeSet<String> = members.keys().map(|m| m.to_string()).collect();
    assign(&ids, &to_assign, previous)
}

/// The records that remove a member (leave, session expiry): its current
/// and target assignment and itself, then a group epoch bump so the others
/// get its partitions.
pub(crate) fn fence_records(group: &ShareGroup, member_id: &str) -> Vec<ShareRecord> {
    vec![
        ShareRecord::Current {
            group: group.id.clone(),
            member: member_id.to_string(),
            value: None,
        },
        ShareRecord::TargetMember {
            group: group.id.clone(),
            member: member_id.to_string(),
            partitions: None,
        },
        ShareRecord::Member {
            group: group.id.clone(),
            member: member_id.to_string(),
            value: None,
        },
        ShareRecord::GroupEpoch {
            group: group.id.clone(),
            value: Some((group.epoch + 1, group.metadata_hash)),
        },
    ]
}

/// Every record of a group as tombstones (DeleteGroups).
pub(crate) fn group_tombstones(group: &ShareGroup) -> Vec<ShareRecord> {
    let mut out = Vec::new();
    for id in group.members.keys() {
        out.push(ShareRecord::Current {
            group: group.id.clone(),
            member: id.clone(),
            value: None,
        });
    }
    for id in group.target.keys() {
        out.push(ShareRecord::TargetMember {
            group: group.id.clone(),
            member: id.clone(),
            partitions: None,
        });
    }
    for id in group.members.keys() {
        out.push(ShareRecord::Member {
            group: group.id.clone(),
            member: id.clone(),
            value: None,
        });
    }
    out.push(ShareRecord::TargetEpoch {
        group: group.id.clone(),
        epoch: None,
    });
    out.push(ShareRecord::StatePartitions {
        group: group.id.clone(),
        value: None,
    });
    out.push(ShareRecord::GroupEpoch {
        group: group.id.clone(),
        value: None,
    });
    out
}
