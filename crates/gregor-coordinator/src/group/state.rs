//! A classic group's state: members, generation, selected protocol, leader,
//! committed offsets and its timers, with the small operations on them that
//! keep the bookkeeping consistent. The rebalance protocol built from these
//! lives in `rebalance`.

use super::member::{Member, Protocol};
use super::records::{GroupValue, MemberValue, OffsetValue, Record};
use super::subscription::{subscribed_topics, CONSUMER_PROTOCOL_TYPE};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl GroupState {
    /// The name Kafka shows in DescribeGroups and ListGroups.
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// The timer that ends the join phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum JoinTimer {
    /// `group.initial.rebalance.delay.ms` for a group rebalancing out of
    /// Empty: extended by another delay while new members keep arriving,
    /// until `remaining` (rebalance timeout minus the first delay) runs out.
    Initial { at: i64, delay: i64, remaining: i64 },
    /// The rebalance timeout: members that have not rejoined by then are out.
    Rebalance { at: i64 },
}

impl JoinTimer {
    pub fn at(self) -> i64 {
        match self {
            JoinTimer::Initial { at, .. } | JoinTimer::Rebalance { at } => at,
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Group {
    pub id: String,
    pub state: GroupState,
    pub previous_state: GroupState,
    pub state_timestamp: i64,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: Option<String>,
    pub members: BTreeMap<String, Member>,
    /// group.instance.id -> current member id.
    pub static_members: BTreeMap<String, String>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, with the deadline by
    /// which the member must rejoin with it.
    pub pending_members: BTreeMap<String, i64>,
    /// Members of the current generation that have not sent SyncGroup yet.
    pub pending_sync: BTreeSet<String>,
    /// A member joined during the initial delay (extends it once more).
    pub new_member_added: bool,
    pub join_timer: Option<JoinTimer>,
    /// Deadline for every member to send SyncGroup after a join phase.
    pub sync_deadline: Option<i64>,
    /// Topics of the current generation's consumer subscriptions; `None`
    /// when the group does not use the consumer protocol (or it won't parse).
    pub subscribed_topics: Option<BTreeSet<String>>,
    pub offsets: BTreeMap<(String, i32), OffsetValue>,
    next_seq: u64,
}

impl Group {
    pub fn new(id: &str, now_ms: i64) -> Self {
        Group {
            id: id.to_string(),
            state: GroupState::Empty,
            previous_state: GroupState::Empty,
            state_timestamp: now_ms,
            generation: 0,
            protocol_type: None,
            protocol_name: None,
            leader: None,
            members: BTreeMap::new(),
            static_members: BTreeMap::new(),
            pending_members: BTreeMap::new(),
            pending_sync: BTreeSet::new(),
            new_member_added: false,
            join_timer: None,
            sync_deadline: None,
            subscribed_topics: None,
            offsets: BTreeMap::new(),
            next_seq: 0,
        }
    }

    pub fn transition(&mut self, to: GroupState, now_ms: i64) {
        self.previous_state = self.state;
        self.state = to;
        self.state_timestamp = now_ms;
    }

    pub fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// Members in join order (the order Kafka's leader sees them in).
    pub fn members_in_order(&self) -> Vec<&Member> {
        let mut members: Vec<&Member> = self.members.values().collect();
        members.sort_by_key(|m| m.seq);
        members
    }

    pub fn is_leader(&self, member_id: &str) -> bool {
        self.leader.as_deref() == Some(member_id)
    }

    pub fn can_rebalance(&self) -> bool {
        matches!(
            self.state,
            GroupState::Stable | GroupState::CompletingRebalance | GroupState::Empty
        )
    }

    /// The longest rebalance timeout among members: how long a join phase waits.
    pub fn rebalance_timeout_ms(&self) -> i64 {
        self.members
            .values()
            .map(|m| i64::from(m.rebalance_timeout_ms))
            .max()
            .unwrap_or(0)
    }

    pub fn awaiting_join_count(&self) -> usize {
        self.members
            .values()
            .filter(|m| m.awaiting_join.is_some())
            .count()
    }

    pub fn has_all_members_joined(&self) -> bool {
        self.members.len() == self.awaiting_join_count() && self.pending_members.is_empty()
    }

    /// Protocols every current member supports, in the leader's preference
    /// order (any member's order would do; the leader's makes ties stable).
    fn candidate_protocols(&self) -> Vec<&str> {
        let Some(first) = self
            .leader
            .as_ref()
            .and_then(|id| self.members.get(id))
            .or_else(|| self.members.values().next())
        else {
            return Vec::new();
        };
        first
            .protocols
            .iter()
            .map(|p| p.name.as_str())
            .filter(|name| self.members.values().all(|m| m.supports(name)))
            .collect()
    }

    /// Whether a member with this protocol type and these protocols may join:
    /// an empty group takes anything non-empty; otherwise the type must match
    /// and at least one protocol must be supported by every current member.
    pub fn supports_protocols(&self, protocol_type: &str, protocols: &[Protocol]) -> bool {
        if self.state == GroupState::Empty {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        self.protocol_type.as_deref() == Some(protocol_type)
            && protocols
                .iter()
                .any(|p| self.members.values().all(|m| m.supports(&p.name)))
    }

    /// Kafka's choice: every member votes for its most preferred protocol
    /// among those all members support; most votes wins. Ties go to the
    /// leader's preference (Kafka leaves them to hash order).
    pub fn select_protocol(&self) -> Option<String> {
        let candidates = self.candidate_protocols();
        let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
        for member in self.members.values() {
            if let Some(vote) = member.vote(&candidates) {
                *votes.entry(vote).or_default() += 1;
            }
        }
        let mut best: Option<(&str, usize)> = None;
        for name in &candidates {
            let count = votes.get(name).copied().unwrap_or(0);
            match best {
                Some((_, top)) if top >= count => {}
                _ => best = Some((name, count)),
            }
        }
        best.map(|(name, _)| name.to_string())
    }

    /// UNKNOWN_MEMBER_ID / FENCED_INSTANCE_ID checks shared by every
    /// member-scoped request. A static member is known by its instance id;
    /// another member id for it is an older incarnation that was replaced.
    pub fn validate_member(&self, member_id: &str, instance_id: Option<&str>) -> Result<(), i16> {
        use gregor_protocol::error_codes::{FENCED_INSTANCE_ID, UNKNOWN_MEMBER_ID};
        match instance_id {
            Some(instance) => match self.static_members.get(instance) {
                None => Err(UNKNOWN_MEMBER_ID),
                Some(current) if current != member_id => Err(FENCED_INSTANCE_ID),
                Some(_) => Ok(()),
            },
            None if self.members.contains_key(member_id) => Ok(()),
            None => Err(UNKNOWN_MEMBER_ID),
        }
    }

    /// Consumer-protocol subscriptions of all members for the selected
    /// protocol; an empty consumer group subscribes to nothing.
    pub fn compute_subscribed_topics(&self) -> Option<BTreeSet<String>> {
        if self.protocol_type.as_deref() != Some(CONSUMER_PROTOCOL_TYPE) {
            return None;
        }
        if self.members.is_empty() {
            return Some(BTreeSet::new());
        }
        let protocol = self.protocol_name.as_deref()?;
        let mut all = BTreeSet::new();
        for member in self.members.values() {
            all.extend(subscribed_topics(&member.metadata(Some(protocol)))?);
        }
        Some(all)
    }

    pub fn uses_consumer_protocol(&self) -> bool {
        self.protocol_type.as_deref() == Some(CONSUMER_PROTOCOL_TYPE)
    }

    pub fn is_subscribed_to(&self, topic: &str) -> bool {
        self.subscribed_topics
            .as_ref()
            .is_some_and(|topics| topics.contains(topic))
    }

    /// The GroupMetadata record for the current generation and assignment.
    pub fn metadata_record(&self) -> Record {
        let members = self
            .members_in_order()
            .into_iter()
            .map(|m| MemberValue {
                member_id: m.id.clone(),
                group_instance_id: m.instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                rebalance_timeout: m.rebalance_timeout_ms,
                session_timeout: m.session_timeout_ms,
                subscription: m.metadata(self.protocol_name.as_deref()),
                assignment: m.assignment.clone(),
            })
            .collect();
        Record::Group {
            group: self.id.clone(),
            value: Some(GroupValue {
                protocol_type: self.protocol_type.clone().unwrap_or_default(),
                generation: self.generation,
                protocol: self.protocol_name.clone(),
                leader: self.leader.clone(),
                current_state_timestamp: self.state_timestamp,
                members,
            }),
        }
    }

    /// Nothing here that anyone could observe or that was ever persisted:
    /// a group created by a join that failed, or whose would-be member never
    /// came back with its id. Dropped rather than kept around as Empty.
    pub fn is_unused(&self) -> bool {
        self.state == GroupState::Empty
            && self.generation == 0
            && self.members.is_empty()
            && self.pending_members.is_empty()
            && self.offsets.is_empty()
    }
}
