//! StreamsGroupHeartbeat (API 88): joining (epoch 0, with the topology),
//! heartbeating at the member's epoch (reporting the tasks it runs), and
//! leaving (-1, or -2 for a static member). Validation and errors follow
//! Kafka 4.4's `GroupMetadataManager.streamsGroupHeartbeat`.

use super::assign::{compute_target, reconcile, Owned};
use super::description::ask_for_description;
use super::endpoints::{partitions_by_endpoint, refresh_endpoints};
use super::group::{StreamsGroup, StreamsMember, TaskId};
use super::persist::{diff, tasks_hash};
use super::topology::{self, CopartitionGroup, MissingTopic, Subtopology, TopicInfo, Topology};
use super::StreamsGroupConfig;
use crate::group::consumer::Topics;
use crate::group::records::Record;
use crate::group::GroupCoordinator;
use gregor_protocol::error_codes::{
    FENCED_MEMBER_EPOCH, GROUP_ID_NOT_FOUND, GROUP_MAX_SIZE_REACHED, INVALID_REQUEST,
    UNKNOWN_MEMBER_ID,
};
use gregor_protocol::generated::streams_group_heartbeat_request as req_t;
use gregor_protocol::generated::streams_group_heartbeat_response as resp_t;
use req_t::StreamsGroupHeartbeatRequest;
use resp_t::StreamsGroupHeartbeatResponse;
use std::collections::BTreeSet;

const JOIN_EPOCH: i32 = 0;
const STATIC_LEAVE_EPOCH: i32 = -2;
/// KIP-1071's error for a topology the coordinator cannot run.
pub const STREAMS_INVALID_TOPOLOGY: i16 = 130;

/// Who sent the heartbeat.
#[derive(Clone, Debug)]
pub struct StreamsContext {
    pub client_id: String,
    pub client_host: String,
    pub api_version: i16,
    /// This group's settings when its GROUP config resource overrides the
    /// broker's (`streams.session.timeout.ms`, `streams.num.standby.replicas`,
    /// ...); `None`: the coordinator's own.
    pub group_config: Option<StreamsGroupConfig>,
}

/// What a heartbeat produced besides its answer: internal topics the
/// broker must create (Kafka's coordinator creates them too).
#[derive(Clone, Debug, Default)]
pub struct StreamsEffects {
    pub missing_topics: Vec<MissingTopic>,
    /// What the heartbeat changed, for `__consumer_offsets`.
    pub records: Vec<Record>,
}

fn refuse(code: i16, message: &str) -> StreamsGroupHeartbeatResponse {
    StreamsGroupHeartbeatResponse {
        error_code: code,
        error_message: Some(message.to_string()),
        ..Default::default()
    }
}

fn validate(req: &StreamsGroupHeartbeatRequest) -> Result<(), String> {
    if req.member_id.is_empty() {
        return Err("MemberId can't be empty.".into());
    }
    if req.member_epoch == JOIN_EPOCH {
        if req.rebalance_timeout_ms == -1 {
            return Err("RebalanceTimeoutMs must be provided when joining.".into());
        }
        match &req.topology {
            None => return Err("Topology must be non-null when joining.".into()),
            Some(t) if t.subtopologies.is_empty() => {
                return Err("Topology must have at least one subtopology.".into())
            }
            Some(_) => {}
        }
        if req.process_id.as_deref().is_none_or(str::is_empty) {
            return Err("ProcessId can't be null or empty when joining.".into());
        }
        let owns_any = |t: &Option<Vec<req_t::TaskIds>>| {
            t.as_ref()
                .is_some_and(|t| t.iter().any(|t| !t.partitions.is_empty()))
        };
        if owns_any(&req.active_tasks)
            || owns_any(&req.standby_tasks)
            || owns_any(&req.warmup_tasks)
        {
            return Err(
                "ActiveTasks, StandbyTasks and WarmupTasks must be empty when (re-)joining.".into(),
            );
        }
    } else if req.member_epoch < STATIC_LEAVE_EPOCH {
        return Err(format!("MemberEpoch {} is invalid.", req.member_epoch));
    }
    Ok(())
}

fn topology_of(t: &req_t::Topology) -> Topology {
    let info = |i: &req_t::TopicInfo| TopicInfo {
        name: i.name.clone(),
        partitions: i.partitions,
        replication_factor: i.replication_factor,
        configs: i
            .topic_configs
            .iter()
            .map(|kv| (kv.key.clone(), kv.value.clone()))
            .collect(),
    };
    Topology {
        epoch: t.epoch,
        subtopologies: t
            .subtopologies
            .iter()
            .map(|s| Subtopology {
                id: s.subtopology_id.clone(),
                source_topics: s.source_topics.clone(),
                source_topic_regex: s.source_topic_regex.clone(),
                repartition_sinks: s.repartition_sink_topics.clone(),
                repartition_sources: s.repartition_source_topics.iter().map(info).collect(),
                changelogs: s.state_changelog_topics.iter().map(info).collect(),
                copartition_groups: s
                    .copartition_groups
                    .iter()
                    .map(|g| CopartitionGroup {
                        source_topics: g.source_topics.clone(),
                        source_topic_regex: g.source_topic_regex.clone(),
                        repartition_sources: g.repartition_source_topics.clone(),
                    })
                    .collect(),
            })
            .collect(),
    }
}

pub(crate) fn task_set(tasks: &[req_t::TaskIds]) -> BTreeSet<TaskId> {
    tasks
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| (t.subtopology_id.clone(), *p)))
        .collect()
}

pub(crate) fn wire_tasks(tasks: &BTreeSet<TaskId>) -> Vec<resp_t::TaskIds> {
    let mut out: Vec<resp_t::TaskIds> = Vec::new();
    for (sub, p) in tasks {
        match out.last_mut() {
            Some(last) if last.subtopology_id == *sub => last.partitions.push(*p),
            _ => out.push(resp_t::TaskIds {
                subtopology_id: sub.clone(),
                partitions: vec![*p],
                ..Default::default()
            }),
        }
    }
    out
}

impl GroupCoordinator {
    /// Handles a StreamsGroupHeartbeat at `now_ms`; the effects carry the
    /// records of what it changed.
    pub fn streams_group_heartbeat(
        &mut self,
        req: &StreamsGroupHeartbeatRequest,
        ctx: &StreamsContext,
        topics: &dyn Topics,
        now_ms: i64,
    ) -> (StreamsGroupHeartbeatResponse, StreamsEffects) {
        let group_id = req.group_id.as_str();
        let before = self.streams_groups.get(group_id).cloned();
        let (response, mut effects) = self.streams_heartbeat_in_memory(req, ctx, topics, now_ms);
        effects.records = diff(group_id, before.as_ref(), self.streams_groups.get(group_id))
            .into_iter()
            .map(Record::Streams)
            .collect();
        (response, effects)
    }

    fn streams_heartbeat_in_memory(
        &mut self,
        req: &StreamsGroupHeartbeatRequest,
        ctx: &StreamsContext,
        topics: &dyn Topics,
        now_ms: i64,
    ) -> (StreamsGroupHeartbeatResponse, StreamsEffects) {
        if let Err(message) = validate(req) {
            return (refuse(INVALID_REQUEST, &message), StreamsEffects::default());
        }
        let group_id = req.group_id.as_str();
        // One namespace: a classic or consumer group keeps its id.
        let taken = self.consumer_groups.contains_key(group_id)
            || self.is_share_group(group_id)
            || self
                .groups
                .get(group_id)
                .is_some_and(|g| !g.members.is_empty());
        if taken {
            return (
                refuse(
                    GROUP_ID_NOT_FOUND,
                    &format!("Group {group_id} is not a streams group."),
                ),
                StreamsEffects::default(),
            );
        }
        if req.member_epoch < JOIN_EPOCH {
            return (self.streams_leave(req, now_ms), StreamsEffects::default());
        }
        let config = ctx
            .group_config
            .clone()
            .unwrap_or_else(|| self.config.streams.clone());
        let exists = self
            .streams_groups
            .get(group_id)
            .and_then(|g| g.members.get(&req.member_id))
            .map(|m| (m.epoch, m.previous_epoch, m.assigned.clone()));
        match (&exists, req.member_epoch) {
            (None, JOIN_EPOCH) => {
                let size = self
                    .streams_groups
                    .get(group_id)
                    .map_or(0, |g| g.members.len());
                if size >= config.max_size {
                    return (
                        refuse(
                            GROUP_MAX_SIZE_REACHED,
                            &format!(
                                "The streams group has reached its maximum capacity of {} members.",
                                config.max_size
                            ),
                        ),
                        StreamsEffects::default(),
                    );
                }
            }
            (None, _) => {
                return (
                    refuse(
                        UNKNOWN_MEMBER_ID,
                        &format!(
                            "Member {} is not a member of group {group_id}.",
                            req.member_id
                        ),
                    ),
                    StreamsEffects::default(),
                )
            }
            (Some(_), JOIN_EPOCH) => {}
            (Some((epoch, previous, assigned)), e) => {
                // The previous epoch is still fine for a member whose last
                // answer got lost, as long as it runs nothing it should not.
                let owned_ok = req
                    .active_tasks
                    .as_deref()
                    .is_some_and(|t| task_set(t).is_subset(assigned));
                if e != *epoch && !(e == *previous && owned_ok) {
                    return (
                        refuse(FENCED_MEMBER_EPOCH, &format!("The streams group member has a greater member epoch ({epoch}) than the one known by the member ({e}).")),
                        StreamsEffects::default(),
                    );
                }
            }
        }
        if let Some(t) = &req.topology {
            let topology = topology_of(t);
            if let Err(message) = topology::validate(&topology) {
                return (
                    refuse(STREAMS_INVALID_TOPOLOGY, &message),
                    StreamsEffects::default(),
                );
            }
        }
        let group = self
            .streams_groups
            .entry(group_id.to_string())
            .or_insert_with(|| StreamsGroup::new(group_id));
        let mut bump = false;
        let joining = req.member_epoch == JOIN_EPOCH;
        if joining {
            if let Some(t) = &req.topology {
                let newer = group.topology.as_ref().is_none_or(|g| t.epoch > g.epoch);
                // The group epoch moves below, for the join itself.
                if newer {
                    group.topology = Some(topology_of(t));
                }
            }
            let old = group.members.remove(&req.member_id);
            if let Some(old) = &old {
                tracing::info!(group = %group_id, member = %old.id, "streams group member rejoins");
            }
            bump = true;
            group.members.insert(
                req.member_id.clone(),
                StreamsMember {
                    id: req.member_id.clone(),
                    client_id: ctx.client_id.clone(),
                    client_host: ctx.client_host.clone(),
                    ..Default::default()
                },
            );
        }
        let Some(member) = group.members.get_mut(&req.member_id) else {
            return (
                refuse(UNKNOWN_MEMBER_ID, "unknown member"),
                StreamsEffects::default(),
            );
        };
        if let Some(v) = &req.instance_id {
            member.instance_id = Some(v.clone());
        }
        if let Some(v) = &req.rack_id {
            member.rack_id = Some(v.clone());
        }
        if req.rebalance_timeout_ms != -1 {
            member.rebalance_timeout_ms = req.rebalance_timeout_ms;
        }
        if let Some(v) = &req.process_id {
            member.process_id = v.clone();
        }
        if let Some(t) = &req.topology {
            member.topology_epoch = t.epoch;
        }
        if let Some(e) = &req.user_endpoint {
            member.user_endpoint = Some((e.host.clone(), e.port));
        }
        if let Some(tags) = &req.client_tags {
            member.client_tags = tags
                .iter()
                .map(|kv| (kv.key.clone(), kv.value.clone()))
                .collect();
        }
        member.session_deadline = Some(now_ms + i64::from(config.session_timeout_ms));
        let member_topology_epoch = member.topology_epoch;
        if req.shutdown_application {
            group.shutdown_requested = true;
        }
        // The topology against the current topics; a change (a topic made,
        // partitions added) moves the group epoch like a member change.
        let configured = group
            .topology
            .as_ref()
            .map(|t| topology::configure(t, topics))
            .unwrap_or_default();
        let effects = StreamsEffects {
            missing_topics: configured.missing_internal.clone(),
            records: Vec::new(),
        };
        // By hash rather than against `group.configured`: a reloaded group
        // is unconfigured until now, yet its target is still current.
        let hash = tasks_hash(&configured.tasks);
        if hash != group.metadata_hash {
            bump = true;
            group.metadata_hash = hash;
        }
        group.configured = configured;
        if bump {
            group.epoch += 1;
        }
        if group.epoch > group.assignment_epoch {
            group.target = compute_target(group, config.num_standby_replicas);
            group.assignment_epoch = group.epoch;
        }
        // Kafka clients send their three task lists together, or none.
        let owned = (req.active_tasks.is_some() || req.standby_tasks.is_some()).then(|| Owned {
            active: req
                .active_tasks
                .as_deref()
                .map(task_set)
                .unwrap_or_default(),
            standby: req
                .standby_tasks
                .as_deref()
                .map(task_set)
                .unwrap_or_default(),
        });
        reconcile(group, &req.member_id, owned.as_ref(), now_ms);
        refresh_endpoints(group);
        // KIP-1331: ask for the topology's description (v1+, a description
        // store configured, the member not behind on the topology).
        let stale = group
            .topology
            .as_ref()
            .is_some_and(|t| member_topology_epoch < t.epoch);
        let ask_description = ctx.api_version >= 1
            && config.topology_descriptions
            && !stale
            && ask_for_description(group, now_ms);
        let Some(member) = group.members.get(&req.member_id) else {
            return (
                refuse(UNKNOWN_MEMBER_ID, "unknown member"),
                StreamsEffects::default(),
            );
        };
        let mut status: Vec<resp_t::Status> = group
            .configured
            .status
            .iter()
            .map(|(code, detail)| resp_t::Status {
                status_code: *code,
                status_detail: detail.clone(),
                ..Default::default()
            })
            .collect();
        if let Some(t) = &group.topology {
            if member_topology_epoch < t.epoch {
                status.push(resp_t::Status {
                    status_code: topology::STALE_TOPOLOGY,
                    status_detail: format!("The member's topology epoch {member_topology_epoch} is behind the group's {}.", t.epoch),
                    ..Default::default()
                });
            }
        }
        if group.shutdown_requested {
            status.push(resp_t::Status {
                status_code: topology::SHUTDOWN_APPLICATION,
                status_detail: "A KafkaStreams instance encountered a fatal error and requested a shutdown for the entire application.".into(),
                ..Default::default()
            });
        }
        let response = StreamsGroupHeartbeatResponse {
            member_id: member.id.clone(),
            member_epoch: member.epoch,
            heartbeat_interval_ms: config.heartbeat_interval_ms,
            acceptable_recovery_lag_legacy: if ctx.api_version == 0 {
                i32::try_from(config.acceptable_recovery_lag).unwrap_or(i32::MAX)
            } else {
                0
            },
            acceptable_recovery_lag: config.acceptable_recovery_lag,
            task_offset_interval_ms: config.task_offset_interval_ms,
            status: Some(status),
            // The whole assignment every time: a client treats an
            // unchanged one as a no-op.
            active_tasks: Some(wire_tasks(&member.assigned)),
            standby_tasks: Some(wire_tasks(&member.standby)),
            // Kafka's sticky assignor assigns no warm-up tasks either.
            warmup_tasks: Some(Vec::new()),
            endpoint_information_epoch: group.endpoint_epoch,
            topology_description_required: ask_description,
            // Only when the member's copy is stale (null: unchanged).
            partitions_by_user_endpoint: (req.endpoint_information_epoch != group.endpoint_epoch)
                .then(|| partitions_by_endpoint(group)),
            ..Default::default()
        };
        (response, effects)
    }

    fn streams_leave(
        &mut self,
        req: &StreamsGroupHeartbeatRequest,
        _now_ms: i64,
    ) -> StreamsGroupHeartbeatResponse {
        let group_id = req.group_id.as_str();
        let Some(group) = self.streams_groups.get_mut(group_id) else {
            return refuse(
                UNKNOWN_MEMBER_ID,
                &format!(
                    "Member {} is not a member of group {group_id}.",
                    req.member_id
                ),
            );
        };
        if group.members.remove(&req.member_id).is_none() {
            return refuse(
                UNKNOWN_MEMBER_ID,
                &format!(
                    "Member {} is not a member of group {group_id}.",
                    req.member_id
                ),
            );
        }
        tracing::info!(group = %group_id, member = %req.member_id, "streams group member left");
        group.epoch += 1;
        group.target.remove(&req.member_id);
        refresh_endpoints(group);
        StreamsGroupHeartbeatResponse {
            member_id: req.member_id.clone(),
            member_epoch: req.member_epoch,
            ..Default::default()
        }
    }

    /// Removes a member whose session or revocation ran out; returns the
    /// records of the removal.
    pub(crate) fn fence_streams_member(&mut self, group_id: &str, member_id: &str) -> Vec<Record> {
        let before = self.streams_groups.get(group_id).cloned();
        if let Some(group) = self.streams_groups.get_mut(group_id) {
            if group.members.remove(member_id).is_some() {
                tracing::info!(group = %group_id, member = %member_id, "streams group member fenced: session or rebalance timeout");
                group.epoch += 1;
                group.target.remove(member_id);
                refresh_endpoints(group);
            }
        }
        diff(group_id, before.as_ref(), self.streams_groups.get(group_id))
            .into_iter()
            .map(Record::Streams)
            .collect()
    }
}
