//! One KRaft replica as a sans-IO state machine.

use super::config::QuorumConfig;
use super::log::{LogEntry, MemLog, Payload};
use super::messages::{FetchResponse, Message};
use super::rng::Rng;
use super::state::{QuorumState, Role};
use super::NodeId;
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet};

/// What the driver must do, in order. A `Persist` must be durable before
/// any later output is carried out; appends and truncations mirror the
/// node's own in-memory log so the driver can make them durable too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Persist(QuorumState),
    Append { offset: u64, entry: LogEntry },
    Truncate { end_offset: u64 },
    Send { to: NodeId, message: Message },
}

/// Per-voter progress the leader tracks from fetches.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Progress {
    /// The follower's log end, as confirmed by its last valid fetch offset.
    pub(super) end_offset: u64,
    pub(super) last_fetch_ms: Option<u64>,
    /// When the replica last had everything the leader had (Kafka's
    /// lastCaughtUpTimestamp), for DescribeQuorum.
    pub(super) last_caught_up_ms: Option<u64>,
    /// The leader's log end at the replica's previous fetch.
    pub(super) last_fetch_leader_end: u64,
}

/// How far a replica is, as the leader sees it (DescribeQuorum's
/// ReplicaState). Times are the node's `now_ms` clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaProgress {
    pub id: NodeId,
    pub end_offset: u64,
    pub last_fetch_ms: Option<u64>,
    pub last_caught_up_ms: Option<u64>,
}

/// The leader's view of replication: voters (itself included) and the
/// observers that fetched recently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderProgress {
    pub voters: Vec<ReplicaProgress>,
    pub observers: Vec<ReplicaProgress>,
}

#[derive(Debug)]
pub(super) enum RoleState {
    Unattached {
        deadline_ms: u64,
    },
    Prospective {
        granted: BTreeSet<NodeId>,
        rejected: BTreeSet<NodeId>,
        deadline_ms: u64,
        /// The leader we followed until its fetches timed out: a voter that
        /// still names it must not send us back to it (KIP-996).
        lost_leader: Option<NodeId>,
    },
    Candidate {
        granted: BTreeSet<NodeId>,
        rejected: BTreeSet<NodeId>,
        deadline_ms: u64,
    },
    Leader {
        epoch_start_offset: u64,
        progress: BTreeMap<NodeId, Progress>,
        /// Non-voters that fetch (brokers), dropped after a quiet spell.
        observers: BTreeMap<NodeId, Progress>,
        /// When BeginQuorumEpoch was last sent to each voter that has not
        /// fetched yet in this epoch.
        begin_sent_ms: BTreeMap<NodeId, u64>,
        started_ms: u64,
    },
    Follower {
        leader: NodeId,
        fetch_deadline_ms: u64,
        fetch: FetchTimer,
        /// A fetch from the leader succeeded in this epoch (Kafka's
        /// `hasFetchedFromLeader`): from then on pre-votes are refused.
        has_fetched: bool,
    },
    Resigned {
        deadline_ms: u64,
    },
    /// A non-voter: `leader` is None while it is still looking for one.
    Observer {
        leader: Option<NodeId>,
        fetch_deadline_ms: u64,
        fetch: FetchTimer,
    },
}

/// When the next Fetch may go out and whether one is in flight.
#[derive(Debug, Clone, Copy)]
pub(super) struct FetchTimer {
    /// When the outstanding fetch was sent, and its correlation id.
    pub(super) in_flight: Option<(u64, u64)>,
    pub(super) next_at_ms: u64,
}

impl FetchTimer {
    pub(super) fn now(now_ms: u64) -> Self {
        FetchTimer {
            in_flight: None,
            next_at_ms: now_ms,
        }
    }
}

pub struct Node {
    pub(super) id: NodeId,
    pub(super) config: QuorumConfig,
    pub(super) quorum: QuorumState,
    pub(super) log: MemLog,
    pub(super) high_watermark: u64,
    pub(super) role: RoleState,
    pub(super) rng: Rng,
    pub(super) next_correlation_id: u64,
    pub(super) out: Vec<Output>,
}

impl Node {
    /// Starts (or restarts) a node from what it had persisted. A restarted
    /// node never resumes leadership: it comes back unattached in its
    /// persisted epoch, still bound by its persisted vote, with a high
    /// watermark of 0 that it learns again from the leader.
    pub fn new(
        id: NodeId,
        config: QuorumConfig,
        quorum: QuorumState,
        log: MemLog,
        seed: u64,
        now_ms: u64,
    ) -> Self {
        let mut node = Node {
            id,
            config,
            quorum,
            log,
            high_watermark: 0,
            role: RoleState::Unattached { deadline_ms: 0 },
            rng: Rng::new(seed),
            next_correlation_id: 0,
            out: Vec::new(),
        };
        node.role = if node.config.voters == [id] {
            // The only voter elects itself at its first tick, as Kafka's
            // KafkaRaftClient does at start-up, instead of waiting out an
            // election timeout nobody else can cut short.
            RoleState::Unattached {
                deadline_ms: now_ms,
            }
        } else if node.is_voter() {
            RoleState::Unattached {
                deadline_ms: node.election_deadline(now_ms),
            }
        } else {
            node.observer_state(None, now_ms)
        };
        node
    }

    pub fn id(&self) -> NodeId {
        self.id
    }
    pub fn epoch(&self) -> u32 {
        self.quorum.epoch
    }
    pub fn quorum_state(&self) -> QuorumState {
        self.quorum
    }
    pub fn log(&self) -> &MemLog {
        &self.log
    }
    pub fn high_watermark(&self) -> u64 {
        self.high_watermark
    }

    /// The voters, as configured.
    pub fn voters(&self) -> &[NodeId] {
        &self.config.voters
    }

    /// The high watermark a leader reports: None until an entry of its own
    /// epoch is committed (and always None on a non-leader).
    pub fn leader_high_watermark(&self) -> Option<u64> {
        self.leader_hw()
    }

    /// Replication progress, on the leader only. The leader's own entry has
    /// its log end and no fetch times (the caller knows the time).
    pub fn leader_progress(&self) -> Option<LeaderProgress> {
        let RoleState::Leader {
            progress,
            observers,
            ..
        } = &self.role
        else {
            return None;
        };
        let view = |(id, p): (&NodeId, &Progress)| {
            let own = *id == self.id;
            ReplicaProgress {
                id: *id,
                end_offset: if own {
                    self.log.end_offset()
                } else {
                    p.end_offset
                },
                last_fetch_ms: if own { None } else { p.last_fetch_ms },
                last_caught_up_ms: if own { None } else { p.last_caught_up_ms },
            }
        };
        Some(LeaderProgress {
            voters: progress.iter().map(view).collect(),
            observers: observers.iter().map(view).collect(),
        })
    }

    pub fn role(&self) -> Role {
        match self.role {
            RoleState::Unattached { .. } => Role::Unattached,
            RoleState::Prospective { .. } => Role::Prospective,
            RoleState::Candidate { .. } => Role::Candidate,
            RoleState::Leader { .. } => Role::Leader,
            RoleState::Follower { .. } => Role::Follower,
            RoleState::Resigned { .. } => Role::Resigned,
            RoleState::Observer { .. } => Role::Observer,
        }
    }

    /// The leader this node knows of in its epoch.
    pub fn leader(&self) -> Option<NodeId> {
        match self.role {
            RoleState::Leader { .. } | RoleState::Resigned { .. } => Some(self.id),
            RoleState::Follower { leader, .. } => Some(leader),
            RoleState::Observer { leader, .. } => leader,
            _ => None,
        }
    }

    pub(super) fn is_voter(&self) -> bool {
        self.config.is_voter(self.id)
    }

    pub(super) fn take(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.out)
    }

    pub(super) fn send(&mut self, to: NodeId, message: Message) {
        self.out.push(Output::Send { to, message });
    }

    pub(super) fn persist(&mut self, quorum: QuorumState) {
        self.quorum = quorum;
        self.out.push(Output::Persist(quorum));
    }

    pub(super) fn append(&mut self, entry: LogEntry) -> u64 {
        let offset = self.log.append(entry.clone());
        self.out.push(Output::Append { offset, entry });
        offset
    }

    pub(super) fn other_voters(&self) -> Vec<NodeId> {
        self.config
            .voters
            .iter()
            .copied()
            .filter(|v| *v != self.id)
            .collect()
    }

    /// Kafka randomises the election timeout between 1x and 2x.
    pub(super) fn election_deadline(&mut self, now_ms: u64) -> u64 {
        let t = self.config.election_timeout_ms;
        now_ms + t + self.rng.below(t)
    }

    pub(super) fn backoff_deadline(&mut self, now_ms: u64) -> u64 {
        now_ms + 1 + self.rng.below(self.config.election_backoff_max_ms)
    }

    pub(super) fn observer_state(&mut self, leader: Option<NodeId>, now_ms: u64) -> RoleState {
        RoleState::Observer {
            leader,
            fetch_deadline_ms: now_ms + self.config.fetch_timeout_ms,
            fetch: FetchTimer::now(now_ms),
        }
    }

    // ---- transitions -------------------------------------------------

    /// Persists a newer epoch, with no vote cast in it, before anything acts
    /// on it; the current or an older epoch changes nothing.
    fn enter_epoch(&mut self, epoch: u32) {
        if epoch > self.quorum.epoch {
            self.persist(QuorumState {
                epoch,
                voted_for: None,
            });
        }
    }

    /// Moves to a higher epoch with no vote cast and no leader known.
    pub(super) fn become_unattached(&mut self, epoch: u32, now_ms: u64) {
        self.enter_epoch(epoch);
        self.role = if self.is_voter() {
            RoleState::Unattached {
                deadline_ms: self.election_deadline(now_ms),
            }
        } else {
            self.observer_state(None, now_ms)
        };
    }

    /// Follows `leader` in `epoch` (>= the current one). The vote cast in the
    /// same epoch stays persisted.
    pub(super) fn become_follower(&mut self, epoch: u32, leader: NodeId, now_ms: u64) {
        self.enter_epoch(epoch);
        self.role = if self.is_voter() {
            RoleState::Follower {
                leader,
                fetch_deadline_ms: now_ms + self.config.fetch_timeout_ms,
                fetch: FetchTimer::now(now_ms),
                has_fetched: false,
            }
        } else {
            self.observer_state(Some(leader), now_ms)
        };
        self.maybe_fetch(now_ms);
    }

    pub(super) fn become_prospective(&mut self, now_ms: u64) {
        let lost_leader = self.leader();
        let deadline_ms = self.election_deadline(now_ms);
        let mut granted = BTreeSet::new();
        granted.insert(self.id);
        self.role = RoleState::Prospective {
            granted,
            rejected: BTreeSet::new(),
            deadline_ms,
            lost_leader,
        };
        for to in self.other_voters() {
            let message = Message::VoteRequest {
                epoch: self.quorum.epoch,
                candidate: self.id,
                last_epoch: self.log.last_epoch(),
                end_offset: self.log.end_offset(),
                pre_vote: true,
            };
            self.send(to, message);
        }
        self.check_votes(now_ms);
    }

    pub(super) fn become_candidate(&mut self, now_ms: u64) {
        let epoch = self.quorum.epoch + 1;
        // The vote for ourselves is durable before anyone is asked.
        self.persist(QuorumState {
            epoch,
            voted_for: Some(self.id),
        });
        let deadline_ms = self.election_deadline(now_ms);
        let mut granted = BTreeSet::new();
        granted.insert(self.id);
        self.role = RoleState::Candidate {
            granted,
            rejected: BTreeSet::new(),
            deadline_ms,
        };
        for to in self.other_voters() {
            let message = Message::VoteRequest {
                epoch,
                candidate: self.id,
                last_epoch: self.log.last_epoch(),
                end_offset: self.log.end_offset(),
                pre_vote: false,
            };
            self.send(to, message);
        }
        self.check_votes(now_ms);
    }

    pub(super) fn become_leader(&mut self, now_ms: u64) {
        let epoch = self.quorum.epoch;
        let epoch_start_offset = self.append(LogEntry {
            epoch,
            payload: Payload::LeaderChange { leader: self.id },
        });
        let mut progress = BTreeMap::new();
        let mut begin_sent_ms = BTreeMap::new();
        for v in self.config.voters.clone() {
            progress.insert(v, Progress::default());
            if v != self.id {
                begin_sent_ms.insert(v, now_ms);
                self.send(
                    v,
                    Message::BeginQuorumEpoch {
                        epoch,
                        leader: self.id,
                    },
                );
            }
        }
        progress.insert(
            self.id,
            Progress {
                end_offset: self.log.end_offset(),
                last_fetch_ms: Some(now_ms),
                last_caught_up_ms: Some(now_ms),
                last_fetch_leader_end: self.log.end_offset(),
            },
        );
        self.role = RoleState::Leader {
            epoch_start_offset,
            progress,
            observers: BTreeMap::new(),
            begin_sent_ms,
            started_ms: now_ms,
        };
        self.update_leader_high_watermark();
    }

    /// Gives up leadership: tells the other voters so they elect a successor
    /// without waiting for the fetch timeout.
    pub fn resign(&mut self, now_ms: u64) -> Vec<Output> {
        if let RoleState::Leader { progress, .. } = &self.role {
            let mut successors: Vec<(u64, NodeId)> = progress
                .iter()
                .filter(|(id, _)| **id != self.id)
                .map(|(id, p)| (p.end_offset, *id))
                .collect();
            successors.sort_by(|a, b| b.cmp(a));
            let preferred: Vec<NodeId> = successors.into_iter().map(|(_, id)| id).collect();
            for to in self.other_voters() {
                let message = Message::EndQuorumEpoch {
                    epoch: self.quorum.epoch,
                    leader: self.id,
                    preferred_successors: preferred.clone(),
                };
                self.send(to, message);
            }
            self.role = RoleState::Resigned {
                deadline_ms: self.election_deadline(now_ms),
            };
        }
        self.take()
    }

    // ---- inputs ------------------------------------------------------

    /// Appends client data if this node leads; `None` otherwise.
    pub fn client_append(&mut self, data: Bytes) -> Option<(u64, Vec<Output>)> {
        if !matches!(self.role, RoleState::Leader { .. }) {
            return None;
        }
        let epoch = self.quorum.epoch;
        let offset = self.append(LogEntry {
            epoch,
            payload: Payload::Data(data),
        });
        let end = self.log.end_offset();
        let id = self.id;
        if let RoleState::Leader { progress, .. } = &mut self.role {
            progress.entry(id).or_default().end_offset = end;
        }
        self.update_leader_high_watermark();
        Some((offset, self.take()))
    }

    /// The transport could not reach `peer` at all (its connection was
    /// refused: the process is gone). If it is the leader this node
    /// follows, stand for election now instead of waiting out the fetch
    /// timeout. That is the move the timeout would make, only earlier, so
    /// it is as safe; and pre-votes keep a live leader in place if the
    /// report was wrong, since voters that still reach it refuse them.
    pub fn peer_unreachable(&mut self, peer: NodeId, now_ms: u64) -> Vec<Output> {
        match self.role {
            RoleState::Follower { leader, .. } if leader == peer => {
                self.become_prospective(now_ms);
            }
            RoleState::Observer {
                leader: Some(leader),
                ..
            } if leader == peer => {
                self.role = self.observer_state(None, now_ms);
                self.maybe_fetch(now_ms);
            }
            _ => {}
        }
        self.take()
    }

    pub fn tick(&mut self, now_ms: u64) -> Vec<Output> {
        match &self.role {
            RoleState::Unattached { deadline_ms } | RoleState::Resigned { deadline_ms } => {
                if now_ms >= *deadline_ms {
                    self.become_prospective(now_ms);
                }
            }
            RoleState::Prospective { deadline_ms, .. }
            | RoleState::Candidate { deadline_ms, .. } => {
                if now_ms >= *deadline_ms {
                    // The election failed: back off (keeping any vote cast in
                    // this epoch) and try again with a pre-vote.
                    let deadline_ms = self.backoff_deadline(now_ms);
                    self.role = RoleState::Unattached { deadline_ms };
                }
            }
            RoleState::Follower {
                fetch_deadline_ms, ..
            } => {
                if now_ms >= *fetch_deadline_ms {
                    self.become_prospective(now_ms);
                } else {
                    self.maybe_fetch(now_ms);
                }
            }
            RoleState::Observer {
                leader,
                fetch_deadline_ms,
                ..
            } => {
                if now_ms >= *fetch_deadline_ms && leader.is_some() {
                    // Lost the leader: look for it again among the voters.
                    self.role = self.observer_state(None, now_ms);
                }
                self.maybe_fetch(now_ms);
            }
            RoleState::Leader { .. } => self.leader_tick(now_ms),
        }
        self.take()
    }

    pub(super) fn leader_tick(&mut self, now_ms: u64) {
        let epoch = self.quorum.epoch;
        let id = self.id;
        let timeout = self.config.request_timeout_ms;
        let check_quorum_ms = self.config.fetch_timeout_ms * 3 / 2;
        let majority = self.config.majority();
        let mut resend = Vec::new();
        let mut lost_quorum = false;
        if let RoleState::Leader {
            progress,
            begin_sent_ms,
            started_ms,
            ..
        } = &mut self.role
        {
            for (voter, sent) in begin_sent_ms.iter_mut() {
                if now_ms >= *sent + timeout {
                    *sent = now_ms;
                    resend.push(*voter);
                }
            }
            // Check quorum: a leader cut off from a majority resigns so the
            // rest can elect someone who can make progress.
            if now_ms >= *started_ms + check_quorum_ms {
                let heard = progress
                    .iter()
                    .filter(|(v, p)| {
                        **v == id
                            || p.last_fetch_ms
                                .is_some_and(|t| t + check_quorum_ms > now_ms)
                    })
                    .count();
                lost_quorum = heard < majority;
            }
        }
        for to in resend {
            self.send(to, Message::BeginQuorumEpoch { epoch, leader: id });
        }
        if lost_quorum {
            let outputs = self.resign(now_ms);
            self.out.extend(outputs);
        }
    }

    pub fn handle(&mut self, from: NodeId, message: Message, now_ms: u64) -> Vec<Output> {
        // A higher epoch moves us to it before the message is judged, except
        // that a pre-vote never changes anyone's epoch and a Fetch is only
        // answered (UNKNOWN_LEADER_EPOCH), as in Kafka.
        let epoch = message.epoch();
        let adopts_epoch = !matches!(
            message,
            Message::VoteRequest { pre_vote: true, .. } | Message::Fetch { .. }
        );
        if epoch > self.quorum.epoch && adopts_epoch {
            match &message {
                Message::BeginQuorumEpoch { leader, .. } => {
                    self.become_follower(epoch, *leader, now_ms)
                }
                Message::FetchResponse(FetchResponse {
                    leader: Some(leader),
                    ..
                }) => self.become_follower(epoch, *leader, now_ms),
                Message::VoteResponse {
                    leader: Some(leader),
                    ..
                } => self.become_follower(epoch, *leader, now_ms),
                _ => self.become_unattached(epoch, now_ms),
            }
        }
        match message {
            Message::VoteRequest {
                epoch,
                candidate,
                last_epoch,
                end_offset,
                pre_vote,
            } => self.on_vote_request(candidate, epoch, last_epoch, end_offset, pre_vote, now_ms),
            Message::VoteResponse {
                epoch,
                granted,
                pre_vote,
                leader,
            } => self.on_vote_response(from, epoch, granted, pre_vote, leader, now_ms),
            Message::BeginQuorumEpoch { epoch, leader } => {
                if epoch == self.quorum.epoch
                    && !matches!(self.role, RoleState::Leader { .. })
                    && self.leader() != Some(leader)
                {
                    self.become_follower(epoch, leader, now_ms);
                }
                let reply = Message::BeginQuorumEpochResponse {
                    epoch: self.quorum.epoch,
                };
                self.send(from, reply);
            }
            Message::BeginQuorumEpochResponse { .. } => {}
            Message::EndQuorumEpoch {
                epoch,
                leader,
                preferred_successors,
            } => {
                if epoch == self.quorum.epoch && self.leader() == Some(leader) && self.is_voter() {
                    if let RoleState::Follower { .. } = self.role {
                        // Earlier successors (longer logs) try first.
                        let rank = preferred_successors
                            .iter()
                            .position(|v| *v == self.id)
                            .unwrap_or(preferred_successors.len());
                        let step = self.config.election_backoff_max_ms
                            / (preferred_successors.len() as u64 + 1);
                        let deadline_ms =
                            now_ms + 1 + step * rank as u64 + self.rng.below(step.max(1));
                        self.role = RoleState::Unattached { deadline_ms };
                    }
                }
            }
            Message::Fetch {
                epoch,
                replica,
                fetch_offset,
                last_fetched_epoch,
                correlation_id,
            } => self.on_fetch(
                from,
                epoch,
                replica,
                (fetch_offset, last_fetched_epoch),
                correlation_id,
                now_ms,
            ),
            Message::FetchResponse(response) => self.on_fetch_response(from, response, now_ms),
        }
        self.take()
    }
}
