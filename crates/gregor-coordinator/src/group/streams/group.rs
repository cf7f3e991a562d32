//! One streams group: its epochs, topology, members and their tasks.

use super::topology::{Configured, Topology};
use std::collections::{BTreeMap, BTreeSet};

/// A task: (subtopology id, partition).
pub type TaskId = (String, i32);

/// What the assignor wants a member to run: active tasks, and standby
/// replicas of stateful tasks whose active runs on another process (they
/// keep a warm copy of the state store by reading its changelog).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Assignment {
    pub active: BTreeSet<TaskId>,
    pub standby: BTreeSet<TaskId>,
}

/// The states Kafka shows for a streams group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamsGroupState {
    Empty,
    /// The topology cannot run yet (missing or mispartitioned topics).
    NotReady,
    Assigning,
    Reconciling,
    Stable,
}

impl StreamsGroupState {
    pub fn name(self) -> &'static str {
        match self {
            StreamsGroupState::Empty => "Empty",
            StreamsGroupState::NotReady => "NotReady",
            StreamsGroupState::Assigning => "Assigning",
            StreamsGroupState::Reconciling => "Reconciling",
            StreamsGroupState::Stable => "Stable",
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct StreamsMember {
    pub id: String,
    pub epoch: i32,
    pub previous_epoch: i32,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub process_id: String,
    pub topology_epoch: i32,
    pub rebalance_timeout_ms: i32,
    pub user_endpoint: Option<(String, u16)>,
    pub client_tags: Vec<(String, String)>,
    /// Active tasks the member has been given and may run.
    pub assigned: BTreeSet<TaskId>,
    /// Tasks taken from it that it has not confirmed giving up; nobody
    /// else gets them until it does (revoke before assign).
    pub revoking: BTreeSet<TaskId>,
    /// Standby tasks it has been given.
    pub standby: BTreeSet<TaskId>,
    /// Standby tasks taken from it and not yet confirmed given up.
    pub revoking_standby: BTreeSet<TaskId>,
    pub session_deadline: Option<i64>,
    /// (deadline, epoch): fenced if still revoking at that epoch then.
    pub rebalance_deadline: Option<(i64, i32)>,
}

impl StreamsMember {
    /// Whether it still has tasks to give up.
    pub fn is_revoking(&self) -> bool {
        !self.revoking.is_empty() || !self.revoking_standby.is_empty()
    }
}

#[derive(Clone, Debug, Default)]
pub struct StreamsGroup {
    pub id: String,
    /// Bumped when the target assignment must be recomputed.
    pub epoch: i32,
    /// The group epoch the target was computed at.
    pub assignment_epoch: i32,
    pub topology: Option<Topology>,
    /// The topology against the topics, as of the last heartbeat.
    pub configured: Configured,
    /// [`super::persist::tasks_hash`] of `configured.tasks`: what the target
    /// was computed for. Persisted, so a reloaded group (not configured
    /// until its next heartbeat) does not take that heartbeat for a change.
    pub metadata_hash: i64,
    pub members: BTreeMap<String, StreamsMember>,
    /// Member id -> the tasks it should end up with.
    pub target: BTreeMap<String, Assignment>,
    /// Bumped whenever the endpoint -> partitions map below changes, so a
    /// member is sent the map only when its copy is stale.
    pub endpoint_epoch: i32,
    /// Each user endpoint (Interactive Queries) -> the partitions its
    /// members' active and standby tasks read, as of the last change.
    pub endpoints: BTreeMap<(String, u16), (BTreeSet<TaskId>, BTreeSet<TaskId>)>,
    /// The last topology description a member pushed, with its topology
    /// epoch (KIP-1331; in memory, as Kafka's in-memory plugin keeps it).
    pub description: Option<(
        i32,
        gregor_protocol::generated::streams_group_topology_description_update_request::TopologyDescription,
    )>,
    /// (topology epoch, until): members were asked for that epoch's
    /// description and are not asked again before `until`.
    pub description_asked: Option<(i32, i64)>,
    /// A member asked every instance to shut down (SHUTDOWN_APPLICATION).
    pub shutdown_requested: bool,
}

impl StreamsGroup {
    pub fn new(id: &str) -> Self {
        StreamsGroup {
            id: id.to_string(),
            ..Default::default()
        }
    }

    pub fn state(&self) -> StreamsGroupState {
        if self.members.is_empty() {
            StreamsGroupState::Empty
        } else if !self.configured.is_ready() {
            StreamsGroupState::NotReady
        } else if self.epoch > self.assignment_epoch {
            StreamsGroupState::Assigning
        } else if self.members.values().any(|m| {
            m.epoch != self.assignment_epoch
                || !m.revoking.is_empty()
                || !m.revoking_standby.is_empty()
                || self
                    .target
                    .get(&m.id)
                    .is_some_and(|t| t.active != m.assigned || t.standby != m.standby)
        }) {
            StreamsGroupState::Reconciling
        } else {
            StreamsGroupState::Stable
        }
    }

    /// Who holds a task (assigned or still revoking), if anyone.
    pub fn holder(&self, task: &TaskId) -> Option<&str> {
        self.members
            .values()
            .find(|m| m.assigned.contains(task) || m.revoking.contains(task))
            .map(|m| m.id.as_str())
    }

    /// The tasks a member currently has, as an [`Assignment`].
    pub fn current(m: &StreamsMember) -> Assignment {
        Assignment {
            active: m.assigned.clone(),
            standby: m.standby.clone(),
        }
    }

    /// Tasks of the subtopologies with state stores: the ones with standbys.
    pub fn stateful_tasks(&self) -> BTreeSet<TaskId> {
        let stateful: BTreeSet<&str> = self
            .topology
            .iter()
            .flat_map(|t| t.subtopologies.iter())
            .filter(|s| !s.changelogs.is_empty())
            .map(|s| s.id.as_str())
            .collect();
        self.all_tasks()
            .into_iter()
            .filter(|(sub, _)| stateful.contains(sub.as_str()))
            .collect()
    }

    /// Every task of the configured topology.
    pub fn all_tasks(&self) -> BTreeSet<TaskId> {
        self.configured
            .tasks
            .iter()
            .flat_map(|(sub, n)| (0..*n).map(move |p| (sub.clone(), p)))
            .collect()
    }
}
