//! What a node must persist (the quorum state) and the roles it moves through.

use super::NodeId;

/// The quorum state Kafka keeps in `quorum-state`: the node must have it on
/// disk before it acts on it (answers a vote, starts an election), or a
/// crash could let it vote twice in one epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QuorumState {
    pub epoch: u32,
    pub voted_for: Option<NodeId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// No leader known in this epoch (a fresh start, a higher epoch seen).
    Unattached,
    /// Asking for pre-votes: the epoch is not bumped until a majority agrees.
    Prospective,
    Candidate,
    Leader,
    Follower,
    /// A leader that gave up leadership (gracefully or by check-quorum) and
    /// waits for a successor in a higher epoch.
    Resigned,
    /// A non-voter that only fetches.
    Observer,
}
