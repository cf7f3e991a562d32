//! The KRaft RPCs as Rust values, modelled on Kafka's Vote, BeginQuorumEpoch,
//! EndQuorumEpoch and Fetch (the wire encoding comes later). Every message
//! carries the sender's epoch so the receiver can notice a newer one.

use super::log::{EpochEndOffset, LogEntry};
use super::NodeId;
use gregor_protocol::error_codes;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchError {
    /// The fetcher's epoch is older than the leader's (FENCED_LEADER_EPOCH).
    FencedLeaderEpoch,
    /// The fetcher's epoch is newer than the receiver's
    /// (UNKNOWN_LEADER_EPOCH): as in Kafka, a Fetch never moves the receiver
    /// to a new epoch.
    UnknownLeaderEpoch,
    /// The receiver is not the leader of that epoch (NOT_LEADER_OR_FOLLOWER);
    /// `leader` in the response says who is, if known.
    NotLeader,
    /// FetchSnapshot named a snapshot the leader does not have (any more).
    SnapshotNotFound,
    /// FetchSnapshot asked for a position past the snapshot's size.
    PositionOutOfRange,
}

impl FetchError {
    /// The Kafka error code this stands for on the wire.
    pub fn code(self) -> i16 {
        match self {
            FetchError::FencedLeaderEpoch => error_codes::FENCED_LEADER_EPOCH,
            FetchError::UnknownLeaderEpoch => error_codes::UNKNOWN_LEADER_EPOCH,
            FetchError::NotLeader => error_codes::NOT_LEADER_OR_FOLLOWER,
            FetchError::SnapshotNotFound => error_codes::SNAPSHOT_NOT_FOUND,
            FetchError::PositionOutOfRange => error_codes::POSITION_OUT_OF_RANGE,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    VoteRequest {
        /// For a real vote, the epoch the candidate runs in; for a pre-vote,
        /// the candidate's current epoch (a pre-vote never bumps epochs).
        epoch: u32,
        candidate: NodeId,
        last_epoch: u32,
        end_offset: u64,
        pre_vote: bool,
    },
    VoteResponse {
        epoch: u32,
        granted: bool,
        pre_vote: bool,
        /// The leader the voter follows in `epoch`, so a stale candidate can
        /// find it.
        leader: Option<NodeId>,
    },
    BeginQuorumEpoch {
        epoch: u32,
        leader: NodeId,
    },
    BeginQuorumEpochResponse {
        epoch: u32,
    },
    EndQuorumEpoch {
        epoch: u32,
        leader: NodeId,
        /// Voters ordered by how far their logs are; earlier ones back off
        /// less before their election.
        preferred_successors: Vec<NodeId>,
    },
    Fetch {
        epoch: u32,
        replica: NodeId,
        fetch_offset: u64,
        last_fetched_epoch: u32,
        /// Echoed in the response (the request header's correlation id in
        /// Kafka) so a late answer to an abandoned fetch is ignored.
        correlation_id: u64,
    },
    FetchResponse(FetchResponse),
    /// KIP-630: a chunk of the leader's snapshot `snapshot` from byte
    /// `position` on, at most `max_bytes` of it.
    FetchSnapshot {
        epoch: u32,
        replica: NodeId,
        snapshot: EpochEndOffset,
        position: u64,
        max_bytes: u32,
        correlation_id: u64,
    },
    FetchSnapshotResponse(FetchSnapshotResponse),
}

impl Message {
    pub fn epoch(&self) -> u32 {
        match self {
            Message::VoteRequest { epoch, .. }
            | Message::VoteResponse { epoch, .. }
            | Message::BeginQuorumEpoch { epoch, .. }
            | Message::BeginQuorumEpochResponse { epoch }
            | Message::EndQuorumEpoch { epoch, .. }
            | Message::Fetch { epoch, .. }
            | Message::FetchResponse(FetchResponse { epoch, .. })
            | Message::FetchSnapshot { epoch, .. }
            | Message::FetchSnapshotResponse(FetchSnapshotResponse { epoch, .. }) => *epoch,
        }
    }
}

/// The leader's answer to a Fetch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchResponse {
    pub epoch: u32,
    pub correlation_id: u64,
    pub leader: Option<NodeId>,
    pub error: Option<FetchError>,
    /// Set when the fetcher's log diverged: truncate to this epoch's end.
    pub diverging: Option<EpochEndOffset>,
    /// Set when the fetch offset is below the leader's log start (or its
    /// epoch older than the snapshot's): fetch this snapshot first.
    pub snapshot: Option<EpochEndOffset>,
    pub base_offset: u64,
    pub entries: Vec<LogEntry>,
    /// None until the leader of this epoch has committed an entry of it.
    pub high_watermark: Option<u64>,
}

/// The leader's answer to a FetchSnapshot: `bytes` start at `position` of
/// a snapshot `size` bytes long.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchSnapshotResponse {
    pub epoch: u32,
    pub correlation_id: u64,
    pub leader: Option<NodeId>,
    pub error: Option<FetchError>,
    pub snapshot: EpochEndOffset,
    pub size: u64,
    pub position: u64,
    pub bytes: bytes::Bytes,
}
