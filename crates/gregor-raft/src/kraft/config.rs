//! The quorum settings, named and defaulted as Kafka's `QuorumConfig`.

use super::NodeId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumConfig {
    /// `controller.quorum.voters`: the static voter set (ids only here).
    pub voters: Vec<NodeId>,
    /// `controller.quorum.election.timeout.ms`: how long an unattached voter
    /// or a candidate waits before (re)starting an election; randomised
    /// between 1x and 2x.
    pub election_timeout_ms: u64,
    /// `controller.quorum.fetch.timeout.ms`: a follower that has not had a
    /// successful fetch from its leader for this long starts a pre-vote; a
    /// leader without fetches from a majority for 1.5x this long resigns.
    pub fetch_timeout_ms: u64,
    /// `controller.quorum.election.backoff.max.ms`: the ceiling of the random
    /// backoff before a failed election is retried.
    pub election_backoff_max_ms: u64,
    /// `controller.quorum.request.timeout.ms`: an unanswered request (a Fetch,
    /// a BeginQuorumEpoch) is sent again after this long.
    pub request_timeout_ms: u64,
    /// How long a leader would hold an empty fetch (Kafka's raft fetch max
    /// wait, 500 ms). Without long polling the follower waits this long
    /// before fetching again after an empty answer.
    pub fetch_max_wait_ms: u64,
    /// Most entries sent in one FetchResponse.
    pub fetch_max_entries: usize,
    /// Most snapshot bytes asked for (and sent) in one FetchSnapshot
    /// (KafkaRaftClient's 8 MiB fetch size).
    pub fetch_snapshot_max_bytes: u32,
}

impl QuorumConfig {
    /// Kafka's defaults for the given voters.
    pub fn new(voters: Vec<NodeId>) -> Self {
        QuorumConfig {
            voters,
            election_timeout_ms: 1000,
            fetch_timeout_ms: 2000,
            election_backoff_max_ms: 1000,
            request_timeout_ms: 2000,
            fetch_max_wait_ms: 500,
            fetch_max_entries: 64,
            fetch_snapshot_max_bytes: 8 * 1024 * 1024,
        }
    }

    pub fn is_voter(&self, id: NodeId) -> bool {
        self.voters.contains(&id)
    }

    /// Votes (or replicas) needed for a majority of the voters.
    pub fn majority(&self) -> usize {
        self.voters.len() / 2 + 1
    }
}
