//! ConsumerGroupHeartbeat (API 68): joining (epoch 0), heartbeating at the
//! member's epoch, and leaving (-1, or -2 for a static member that will be
//! back). Each call plans from the current state — the records it implies
//! and the answer — then applies the records; validation and error
//! messages follow Kafka 4's `GroupCoordinatorService` and
//! `GroupMetadataManager`.

use super::assignment::{self, Assignment};
use super::group::ConsumerGroup;
use super::member::ConsumerMember;
use super::reconcile::{reconcile, Target};
use super::records::ConsumerRecord;
use super::refusal::Refusal;
use super::regex::TopicRegex;
use super::removal;
use super::roster::Roster;
use super::target;
use super::topics::Topics;
use super::ConsumerGroupConfig;
use crate::group::records::Record;
use crate::group::state::GroupState;
use crate::group::GroupCoordinator;
use gregor_protocol::error_codes::{
    FENCED_INSTANCE_ID, GROUP_ID_NOT_FOUND, GROUP_MAX_SIZE_REACHED, INVALID_REGULAR_EXPRESSION,
    UNKNOWN_MEMBER_ID, UNRELEASED_INSTANCE_ID, UNSUPPORTED_ASSIGNOR,
};
use kafka_protocol::messages::consumer_group_heartbeat_response::Assignment as WireAssignment;
use kafka_protocol::messages::{ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse};
use kafka_protocol::protocol::StrBytes;

/// From this version the client generates its member id (KIP-1082).
const CLIENT_MEMBER_ID_VERSION: i16 = 1;
const JOIN_EPOCH: i32 = 0;
const LEAVE_EPOCH: i32 = -1;
const STATIC_LEAVE_EPOCH: i32 = -2;

/// Who sent the heartbeat.
#[derive(Clone, Debug)]
pub struct HeartbeatContext {
    pub client_id: String,
    pub client_host: String,
    pub api_version: i16,
    /// With an authorizer: whether the sender may Describe a topic. A regex
    /// subscription then resolves to describable topics only (Kafka 4.4).
    pub describable: Option<TopicFilter>,
    /// This group's settings when its GROUP config resource overrides the
    /// broker's (`consumer.session.timeout.ms`,
    /// `consumer.heartbeat.interval.ms`); `None`: the coordinator's own.
    pub group_config: Option<ConsumerGroupConfig>,
}

/// A topic-name predicate from the broker (the authorizer, for one principal).
#[derive(Clone)]
pub struct TopicFilter(pub std::sync::Arc<dyn Fn(&str) -> bool + Send + Sync>);

impl std::fmt::Debug for TopicFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TopicFilter")
    }
}

/// What a request decided.
struct Plan {
    records: Vec<Record>,
    response: ConsumerGroupHeartbeatResponse,
    /// The member whose session restarts.
    alive: Option<String>,
}

impl GroupCoordinator {
    /// Handles a ConsumerGroupHeartbeat; returns the answer and the records
    /// to persist before sending it (already applied here).
    pub fn consumer_group_heartbeat(
        &mut self,
        req: &ConsumerGroupHeartbeatRequest,
        ctx: &HeartbeatContext,
        topics: &dyn Topics,
        now_ms: i64,
    ) -> (ConsumerGroupHeartbeatResponse, Vec<Record>) {
        let plan = validate(req, ctx.api_version, &self.config.consumer).and_then(|()| {
            if req.member_epoch < JOIN_EPOCH {
                self.plan_leave(req).map(|plan| (plan, None))
            } else {
                // v0 members join without an id and get one from us.
                let member_id = if req.member_id.is_empty() {
                    (self.new_uuid)()
                } else {
                    req.member_id.to_string()
                };
                let resolved = ctx
                    .describable
                    .as_ref()
                    .and_then(|filter| self.resolve_regex(req, &member_id, filter, topics));
                self.plan_heartbeat(req, &member_id, ctx, topics, resolved.as_ref())
                    .map(|plan| (plan, resolved))
            }
        });
        match plan {
            Ok((plan, resolved)) => {
                for record in &plan.records {
                    self.replay(record.clone(), now_ms);
                }
                // The resolution serves the other members with this pattern
                // too, until the next heartbeat that resolves it again.
                if let Some((pattern, regex)) = resolved {
                    if let Some(group) = self.consumer_groups.get_mut(req.group_id.as_str()) {
                        if group.regex(&pattern).is_some() {
                            group.set_regex(&pattern, regex);
                        }
                    }
                }
                let session = i64::from(
                    ctx.group_config
                        .as_ref()
                        .unwrap_or(&self.config.consumer)
                        .session_timeout_ms,
                );
                if let Some(member) = plan.alive.and_then(|id| {
                    self.consumer_groups
                        .get_mut(req.group_id.as_str())
                        .and_then(|g| g.members.get_mut(&id))
                }) {
                    member.session_deadline = Some(now_ms + session);
                }
                (plan.response, plan.records)
            }
            Err(refusal) => (
                ConsumerGroupHeartbeatResponse::default()
                    .with_error_code(refusal.code)
                    .with_error_message(Some(StrBytes::from_string(refusal.message))),
                Vec::new(),
            ),
        }
    }

    /// The member's regex (sent now, or kept from before) resolved over the
    /// current topics through `filter`, as Kafka resolves a pattern with
    /// the context of the heartbeat that triggers it.
    fn resolve_regex(
        &self,
        req: &ConsumerGroupHeartbeatRequest,
        member_id: &str,
        filter: &TopicFilter,
        topics: &dyn Topics,
    ) -> Option<(String, TopicRegex)> {
        let group = self.consumer_groups.get(req.group_id.as_str());
        let pattern = match req.subscribed_topic_regex.as_deref() {
            Some("") => return None,
            Some(pattern) => pattern.to_string(),
            None => group?
                .members
                .get(member_id)?
                .meta
                .subscribed_topic_regex
                .clone()?,
        };
        // A malformed pattern is refused by the plan.
        let mut regex = match group.and_then(|g| g.regex(&pattern)) {
            Some(known) => known.clone(),
            None => TopicRegex::compile(&pattern).ok()?,
        };
        regex.resolve(topics.names(), &*filter.0);
        Some((pattern, regex))
    }

    fn plan_heartbeat(
        &self,
        req: &ConsumerGroupHeartbeatRequest,
        member_id: &str,
        ctx: &HeartbeatContext,
        topics: &dyn Topics,
        resolved: Option<&(String, TopicRegex)>,
    ) -> Result<Plan, Refusal> {
        let cfg = ctx.group_config.as_ref().unwrap_or(&self.config.consumer);
        let group_id = req.group_id.as_str();
        let joining = req.member_epoch == JOIN_EPOCH;
        let mut records: Vec<Record> = Vec::new();

        // 1. The group, created by a join (taking over the id of an empty
        // classic group, whose offsets stay).
        let fresh;
        let group = match self.consumer_groups.get(group_id) {
            Some(group) => group,
            None if self.is_share_group(group_id) => return Err(not_a_consumer_group(group_id)),
            None => {
                match self.groups.get(group_id) {
                    Some(classic) if !joining || classic.state != GroupState::Empty => {
                        return Err(not_a_consumer_group(group_id))
                    }
                    // Its persisted metadata goes; a bare offsets entry has none.
                    Some(classic) if classic.generation > 0 || classic.protocol_type.is_some() => {
                        records.push(Record::Group {
                            group: group_id.to_string(),
                            value: None,
                        });
                    }
                    Some(_) => {}
                    None if !joining => {
                        return Err(Refusal::new(
                            GROUP_ID_NOT_FOUND,
                            format!("Consumer group {group_id} not found."),
                        ))
                    }
                    None => {}
                }
                fresh = ConsumerGroup::new(group_id);
                &fresh
            }
        };
        if group.members.len() >= cfg.max_size && !group.members.contains_key(member_id) {
            return Err(Refusal::new(
                GROUP_MAX_SIZE_REACHED,
                format!(
                    "The consumer group has reached its maximum capacity of {} members.",
                    cfg.max_size
                ),
            ));
        }

        // 2. The member: found, created, or a static member's new
        // incarnation replacing the previous one.
        let owned = req.topic_partitions.as_deref().map(assignment::from_owned);
        let mut consumer_records = Vec::new();
        let (member, replaced) = find_member(group, req, member_id, owned.as_ref())?;
        if let Some(old) = replaced {
            consumer_records.extend(removal::replace(group, old, &member));
        }
        let is_new = !group.members.contains_key(&member.id);

        // 3. The member updated with what the request carries.
        let mut updated = member.clone();
        apply_request(&mut updated, req, ctx);
        let names_changed =
            updated.meta.subscribed_topic_names != member.meta.subscribed_topic_names;
        let regex_changed =
            updated.meta.subscribed_topic_regex != member.meta.subscribed_topic_regex;
        let new_regex = match (&updated.meta.subscribed_topic_regex, regex_changed) {
            (Some(pattern), true) => Some(TopicRegex::compile(pattern).map_err(|err| {
                Refusal::new(
                    INVALID_REGULAR_EXPRESSION,
                    format!("SubscribedTopicRegex `{pattern}` is not a valid regular expression: {err}."),
                )
            })?),
            _ => None,
        };
        // The member's own regex as resolved for it now, if it was.
        let member_regex = match resolved {
            Some((pattern, regex))
                if updated.meta.subscribed_topic_regex.as_ref() == Some(pattern) =>
            {
                Some(regex)
            }
            _ => new_regex.as_ref(),
        };
        if is_new || updated.meta != member.meta {
            consumer_records.push(ConsumerRecord::Member {
                group: group_id.to_string(),
                member: updated.id.clone(),
                value: Some(updated.meta.clone()),
            });
        }

        // 4. The group epoch moves when a subscription or the metadata of a
        // subscribed topic (a partition count, a topic appearing) changed.
        let roster = Roster {
            group,
            updated: Some((&updated, member_regex)),
            removed: replaced
                .map(|old| vec![old.id.as_str()])
                .unwrap_or_default(),
        };
        let metadata = roster.subscription_metadata(topics);
        let mut bump = group.epoch == 0 || names_changed || regex_changed;
        if metadata != group.subscription {
            consumer_records.push(ConsumerRecord::SubscriptionMetadata {
                group: group_id.to_string(),
                topics: Some(metadata.values().cloned().collect()),
            });
            bump = true;
        }
        let group_epoch = if bump { group.epoch + 1 } else { group.epoch };
        if bump {
            consumer_records.push(ConsumerRecord::GroupEpoch {
                group: group_id.to_string(),
                epoch: Some(group_epoch),
            });
        }

        // 5. The target assignment, recomputed for a new group epoch.
        let (target_epoch, target): (i32, Assignment) = if group_epoch > group.assignment_epoch {
            let assignor = group.preferred_assignor(&roster.removed, Some(&updated), cfg);
            let (mut all, target_records) =
                target::recompute(&roster, &metadata, assignor, group_epoch);
            consumer_records.extend(target_records);
            (group_epoch, all.remove(&updated.id).unwrap_or_default())
        } else {
            (
                group.assignment_epoch,
                group.target_of(&updated.id, updated.instance_id()),
            )
        };

        // 6. The member moves towards it.
        let mut next = updated.current.clone();
        if !updated.is_reconciled_to(target_epoch) {
            let owner_epoch = |topic, partition| group.partition_epoch(topic, partition);
            let topic_exists = |topic| topics.name_of(topic).is_some();
            next = reconcile(
                &updated.current,
                &Target {
                    epoch: target_epoch,
                    partitions: &target,
                    owner_epoch: &owner_epoch,
                    topic_exists: &topic_exists,
                },
                owned.as_ref(),
            )?;
            if next != updated.current {
                consumer_records.push(ConsumerRecord::CurrentAssignment {
                    group: group_id.to_string(),
                    member: updated.id.clone(),
                    value: Some(next.clone()),
                });
            }
        }

        // 7. The answer: the assignment goes out on a join, on a full
        // request (a client recovering from an error) and when it changed.
        let full = req.rebalance_timeout_ms != -1
            && (req.subscribed_topic_names.is_some() || req.subscribed_topic_regex.is_some())
            && req.topic_partitions.is_some();
        let mut response = ConsumerGroupHeartbeatResponse::default()
            .with_member_id(Some(StrBytes::from_string(updated.id.clone())))
            .with_member_epoch(next.epoch)
            .with_heartbeat_interval_ms(cfg.heartbeat_interval_ms);
        if joining || full || next.assigned != member.current.assigned {
            response.assignment = Some(
                WireAssignment::default()
                    .with_topic_partitions(assignment::to_response(&next.assigned)),
            );
        }
        records.extend(consumer_records.into_iter().map(Record::Consumer));
        Ok(Plan {
            records,
            response,
            alive: Some(updated.id),
        })
    }

    fn plan_leave(&self, req: &ConsumerGroupHeartbeatRequest) -> Result<Plan, Refusal> {
        let group_id = req.group_id.as_str();
        let member_id = req.member_id.as_str();
        let group = self.consumer_group_or_refusal(group_id)?;
        let mut response = ConsumerGroupHeartbeatResponse::default()
            .with_member_id(Some(req.member_id.clone()))
            .with_member_epoch(req.member_epoch);
        let records = match req.instance_id.as_deref() {
            None => {
                if !group.members.contains_key(member_id) {
                    return Err(Refusal::unknown_member(member_id, group_id));
                }
                removal::fence(group, member_id)
            }
            Some(instance) => {
                let member = static_member(group, instance, member_id)?;
                if req.member_epoch == STATIC_LEAVE_EPOCH {
                    // Not gone: the instance keeps its partitions for its
                    // session timeout, waiting for its next incarnation.
                    let mut current = member.current.clone();
                    current.epoch = STATIC_LEAVE_EPOCH;
                    current.pending_revocation.clear();
                    current.retain_held_epochs();
                    response =
                        response.with_member_id(Some(StrBytes::from_string(member.id.clone())));
                    vec![ConsumerRecord::CurrentAssignment {
                        group: group_id.to_string(),
                        member: member.id.clone(),
                        value: Some(current),
                    }]
                } else {
                    removal::fence(group, &member.id)
                }
            }
        };
        Ok(Plan {
            records: records.into_iter().map(Record::Consumer).collect(),
            response,
            alive: None,
        })
    }

    /// Kafka's `consumerGroup(groupId)`: the group, or GROUP_ID_NOT_FOUND.
    pub(crate) fn consumer_group_or_refusal(
        &self,
        group_id: &str,
    ) -> Result<&ConsumerGroup, Refusal> {
        match self.consumer_groups.get(group_id) {
            Some(group) => Ok(group),
            None if self.groups.contains_key(group_id) || self.is_share_group(group_id) => {
                Err(not_a_consumer_group(group_id))
            }
            None => Err(Refusal::new(
                GROUP_ID_NOT_FOUND,
                format!("Group {group_id} not found."),
            )),
        }
    }
}

fn not_a_consumer_group(group_id: &str) -> Refusal {
    Refusal::new(
        GROUP_ID_NOT_FOUND,
        format!("Group {group_id} is not a consumer group."),
    )
}

/// Kafka's `throwIfConsumerGroupHeartbeatRequestIsInvalid`.
fn validate(
    req: &ConsumerGroupHeartbeatRequest,
    version: i16,
    cfg: &ConsumerGroupConfig,
) -> Result<(), Refusal> {
    let blank = |s: &str| s.trim().is_empty();
    let epoch = req.member_epoch;
    if (version >= CLIENT_MEMBER_ID_VERSION || epoch > 0 || epoch == LEAVE_EPOCH)
        && blank(&req.member_id)
    {
        return Err(Refusal::invalid("MemberId can't be empty."));
    }
    if blank(&req.group_id) {
        return Err(Refusal::invalid("GroupId can't be empty."));
    }
    if req.instance_id.as_deref().is_some_and(blank) {
        return Err(Refusal::invalid("InstanceId can't be empty."));
    }
    if req.rack_id.as_deref().is_some_and(blank) {
        return Err(Refusal::invalid("RackId can't be empty."));
    }
    match epoch {
        JOIN_EPOCH => {
            if req.rebalance_timeout_ms == -1 {
                return Err(Refusal::invalid(
                    "RebalanceTimeoutMs must be provided in first request.",
                ));
            }
            if req
                .topic_partitions
                .as_ref()
                .is_none_or(|tp| !tp.is_empty())
            {
                return Err(Refusal::invalid(
                    "TopicPartitions must be empty when (re-)joining.",
                ));
            }
            if req.subscribed_topic_names.is_none() && req.subscribed_topic_regex.is_none() {
                return Err(Refusal::invalid(
                    "Either SubscribedTopicNames or SubscribedTopicRegex must be non-null when (re-)joining.",
                ));
            }
        }
        STATIC_LEAVE_EPOCH if req.instance_id.is_none() => {
            return Err(Refusal::invalid("InstanceId can't be null."));
        }
        e if e < STATIC_LEAVE_EPOCH => return Err(Refusal::invalid("MemberEpoch is invalid.")),
        _ => {}
    }
    if let Some(name) = req.server_assignor.as_deref() {
        if cfg.assignor(name).is_none() {
            let supported: Vec<&str> = cfg.assignors.iter().map(|a| a.name()).collect();
            return Err(Refusal::new(
                UNSUPPORTED_ASSIGNOR,
                format!(
                    "ServerAssignor {name} is not supported. Supported assignors: {}.",
                    supported.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// The member a heartbeat is for (a copy, to be updated), and the static
/// member it replaces, if any.
fn find_member<'g>(
    group: &'g ConsumerGroup,
    req: &ConsumerGroupHeartbeatRequest,
    member_id: &str,
    owned: Option<&Assignment>,
) -> Result<(ConsumerMember, Option<&'g ConsumerMember>), Refusal> {
    let joining = req.member_epoch == JOIN_EPOCH;
    let existing = group.members.get(member_id);
    let Some(instance) = req.instance_id.as_deref() else {
        let member = match existing {
            Some(member) => member.clone(),
            None if joining => ConsumerMember::new(member_id),
            None => return Err(Refusal::unknown_member(member_id, &group.id)),
        };
        check_epoch(&member, req.member_epoch, owned)?;
        return Ok((member, None));
    };
    match group.static_member(instance) {
        None if joining => Ok((
            existing
                .cloned()
                .unwrap_or_else(|| ConsumerMember::new(member_id)),
            None,
        )),
        Some(old) if joining => {
            // A new incarnation may only take over an instance that said it
            // was leaving (epoch -2).
            if old.epoch() != STATIC_LEAVE_EPOCH {
                return Err(Refusal::new(
                    UNRELEASED_INSTANCE_ID,
                    format!(
                        "Static member {member_id} with instance id {instance} cannot join the group \
                         because the instance id is owned by {} member.",
                        old.id
                    ),
                ));
            }
            let mut new = old.clone();
            new.id = member_id.to_string();
            new.current.epoch = 0;
            new.current.previous_epoch = 0;
            new.session_deadline = None;
            new.rebalance_deadline = None;
            Ok((new, Some(old)))
        }
        _ => {
            let member = static_member(group, instance, member_id)?;
            check_epoch(member, req.member_epoch, owned)?;
            Ok((member.clone(), None))
        }
    }
}

/// The static member of `instance`, which must be `member_id`.
fn static_member<'g>(
    group: &'g ConsumerGroup,
    instance: &str,
    member_id: &str,
) -> Result<&'g ConsumerMember, Refusal> {
    let member = group.static_member(instance).ok_or_else(|| {
        Refusal::new(
            UNKNOWN_MEMBER_ID,
            format!("Instance id {instance} is unknown."),
        )
    })?;
    if member.id != member_id {
        return Err(Refusal::new(
            FENCED_INSTANCE_ID,
            format!(
                "Static member {member_id} with instance id {instance} was fenced by member {}.",
                member.id
            ),
        ));
    }
    Ok(member)
}

/// Kafka's `throwIfConsumerGroupMemberEpochIsInvalid`: the member must be
/// at its epoch, or at the previous one if it owns nothing beyond its
/// assignment (the answer that bumped it got lost).
fn check_epoch(
    member: &ConsumerMember,
    received: i32,
    owned: Option<&Assignment>,
) -> Result<(), Refusal> {
    let known = member.epoch();
    if received > known {
        return Err(Refusal::fenced_epoch("greater", received, known));
    }
    if received < known
        && (received != member.current.previous_epoch
            || !assignment::owned_within(owned, &member.current.assigned))
    {
        return Err(Refusal::fenced_epoch("smaller", received, known));
    }
    Ok(())
}

/// The request's fields onto the member; absent fields keep their value.
fn apply_request(
    member: &mut ConsumerMember,
    req: &ConsumerGroupHeartbeatRequest,
    ctx: &HeartbeatContext,
) {
    let meta = &mut member.meta;
    if let Some(instance) = &req.instance_id {
        meta.instance_id = Some(instance.to_string());
    }
    if let Some(rack) = &req.rack_id {
        meta.rack_id = Some(rack.to_string());
    }
    if req.rebalance_timeout_ms != -1 {
        meta.rebalance_timeout_ms = req.rebalance_timeout_ms;
    }
    if let Some(assignor) = &req.server_assignor {
        meta.server_assignor = Some(assignor.to_string());
    }
    if let Some(names) = &req.subscribed_topic_names {
        let mut names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        names.sort();
        names.dedup();
        meta.subscribed_topic_names = names;
    }
    if let Some(regex) = &req.subscribed_topic_regex {
        meta.subscribed_topic_regex = (!regex.is_empty()).then(|| regex.to_string());
    }
    meta.client_id = ctx.client_id.clone();
    meta.client_host = ctx.client_host.clone();
}
