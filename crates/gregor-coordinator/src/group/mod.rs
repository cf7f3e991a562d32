//! The classic group coordinator (consumer groups as Kafka ran them before
//! KIP-848) as a pure state machine. Groups of the KIP-848 consumer protocol
//! are in [`consumer`]; both share one group-id namespace and the offsets
//! store here.
//!
//! Inputs are decoded requests plus the time (`now_ms`), or the passage of
//! time itself ([`GroupCoordinator::tick`]); outputs are values. There are no
//! sockets, clocks or tasks in here, so every rule is testable without sleeps.
//!
//! JoinGroup and SyncGroup answers can be delayed (a join waits for the rest
//! of the group, a follower's sync waits for the leader's assignment). The
//! caller gives each such request an id; every input returns an [`Outcome`]
//! listing the responses that became ready, by id — its own or earlier,
//! parked ones — plus the [`Record`]s to persist to `__consumer_offsets`.
//!
//! The edge's duties (not done here): map request ids to the connections
//! waiting on them; call `tick` when [`GroupCoordinator::next_deadline`] is
//! due; append `Outcome::records` to the group's `__consumer_offsets`
//! partition before sending the responses; feed those records back through
//! [`GroupCoordinator::replay`] on load; route groups to this broker only if
//! it coordinates their partition (else NOT_COORDINATOR /
//! COORDINATOR_NOT_AVAILABLE / COORDINATOR_LOAD_IN_PROGRESS); authorise;
//! check topics exist for offset commits; resolve topic ids (OffsetCommit
//! v10) to names.

mod admin;
pub mod committed;
pub mod consumer;
mod expiry;
mod join;
mod liveness;
mod member;
mod offsets;
mod rebalance;
pub mod records;
mod replay;
mod responses;
pub mod share;
mod state;
pub mod streams;
mod subscription;
mod sync;
mod timers;
mod txn_offsets;

#[cfg(test)]
mod committed_tests;
#[cfg(test)]
mod sim_tests;
#[cfg(test)]
mod tests;

pub use committed::ReadAt;
pub use offsets::{FetchedPartition, FetchedTopic};
pub use records::{GroupValue, MemberValue, OffsetValue, Record, RecordError};
pub use state::GroupState;

use kafka_protocol::messages::{
    HeartbeatResponse, JoinGroupResponse, LeaveGroupResponse, SyncGroupResponse,
};
use state::Group;
use std::collections::BTreeMap;

/// Kafka's `group.*` settings that the coordinator decides with.
#[derive(Clone, Debug)]
pub struct GroupConfig {
    /// `group.min.session.timeout.ms`
    pub min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms`
    pub max_session_timeout_ms: i32,
    /// `group.initial.rebalance.delay.ms`
    pub initial_rebalance_delay_ms: i32,
    /// `group.max.size`
    pub max_size: usize,
    /// How long a new member's first JoinGroup may stay parked (Kafka's
    /// fixed 5 minutes): it has no member id to heartbeat with yet.
    pub new_member_join_timeout_ms: i32,
    /// `offset.metadata.max.bytes`
    pub offset_metadata_max_bytes: usize,
    /// `offsets.retention.minutes`, in ms.
    pub offsets_retention_ms: i64,
    /// `group.consumer.*`: groups of the KIP-848 consumer protocol.
    pub consumer: consumer::ConsumerGroupConfig,
    /// `group.streams.*`: streams groups (KIP-1071).
    pub streams: streams::StreamsGroupConfig,
    /// `group.share.*`: share groups (KIP-932).
    pub share: crate::share::ShareGroupConfig,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            min_session_timeout_ms: 6_000,
            max_session_timeout_ms: 1_800_000,
            initial_rebalance_delay_ms: 3_000,
            max_size: i32::MAX as usize,
            new_member_join_timeout_ms: 300_000,
            offset_metadata_max_bytes: 4_096,
            offsets_retention_ms: 7 * 24 * 60 * 60 * 1000,
            consumer: consumer::ConsumerGroupConfig::default(),
            streams: streams::StreamsGroupConfig::default(),
            share: crate::share::ShareGroupConfig::default(),
        }
    }
}

/// A response that is ready to send, for the request id it answers.
#[derive(Clone, Debug, PartialEq)]
pub enum Response {
    Join(JoinGroupResponse),
    Sync(SyncGroupResponse),
    Heartbeat(HeartbeatResponse),
    Leave(LeaveGroupResponse),
}

/// What one input produced.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    pub responses: Vec<(u64, Response)>,
    /// To append to `__consumer_offsets` (partition of the group id) before
    /// the responses go out.
    pub records: Vec<Record>,
}

/// Who sent a JoinGroup: the request header and connection facts Kafka
/// keeps per member, and the version (MEMBER_ID_REQUIRED needs v4+).
#[derive(Clone, Debug)]
pub struct JoinContext {
    pub client_id: String,
    pub client_host: String,
    pub api_version: i16,
}

/// All classic groups this broker coordinates.
pub struct GroupCoordinator {
    config: GroupConfig,
    groups: BTreeMap<String, Group>,
    /// Groups of the consumer protocol (KIP-848). A group id is in at most
    /// one of the two maps, except that a consumer group's committed
    /// offsets stay in `groups`, in a bare Empty entry (see
    /// `consumer::offsets`), so every offset path has one store.
    consumer_groups: BTreeMap<String, consumer::ConsumerGroup>,
    /// Streams groups (KIP-1071); their offsets, like consumer groups', live
    /// in a bare entry of `groups`.
    streams_groups: BTreeMap<String, streams::StreamsGroup>,
    /// Share groups (KIP-932); they have no committed offsets.
    share_groups: BTreeMap<String, share::ShareGroup>,
    /// Offsets committed inside open transactions, by producer id.
    pending_txn_offsets: BTreeMap<i64, txn_offsets::PendingOffsets>,
    /// The random part of new member ids; replaceable for deterministic runs.
    new_uuid: Box<dyn FnMut() -> String + Send>,
    /// What the current input changed in committed offsets (see
    /// [`committed`]); `None` while not tracked.
    journal: committed::Journal,
    /// Committed-offset changes whose records are not committed yet.
    undo: committed::UndoLog,
    /// Classic groups removed by records not committed yet.
    removed_groups: committed::UndoLog<String, committed::RemovedGroup>,
    /// Groups made by offset commits whose records are not committed yet.
    created_groups: committed::UndoLog<String, ()>,
}

impl GroupCoordinator {
    pub fn new(config: GroupConfig) -> Self {
        GroupCoordinator {
            config,
            groups: BTreeMap::new(),
            consumer_groups: BTreeMap::new(),
            streams_groups: BTreeMap::new(),
            share_groups: BTreeMap::new(),
            pending_txn_offsets: BTreeMap::new(),
            new_uuid: Box::new(|| uuid::Uuid::new_v4().to_string()),
            journal: None,
            undo: committed::UndoLog::default(),
            removed_groups: committed::UndoLog::default(),
            created_groups: committed::UndoLog::default(),
        }
    }

    /// Replaces the uuid source of member ids (simulation, tests).
    pub fn with_member_id_source(
        mut self,
        source: impl FnMut() -> String + Send + 'static,
    ) -> Self {
        self.new_uuid = Box::new(source);
        self
    }

    pub fn config(&self) -> &GroupConfig {
        &self.config
    }

    pub fn group_state(&self, group_id: &str) -> Option<GroupState> {
        self.groups.get(group_id).map(|g| g.state)
    }

    /// Kafka's member id: `<group.instance.id or client.id>-<uuid>`.
    fn new_member_id(&mut self, prefix: &str) -> String {
        format!("{prefix}-{}", (self.new_uuid)())
    }
}
