//! One KRaft replica as a sans-IO state machine.

use super::config::QuorumConfig;
use super::log::{EpochEndOffset, LogEntry, MemLog, Payload};
use super::messages::{FetchError, Message};
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
struct Progress {
    /// The follower's log end, as confirmed by its last valid fetch offset.
    end_offset: u64,
    last_fetch_ms: Option<u64>,
}

#[derive(Debug)]
enum RoleState {
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
        /// When BeginQuorumEpoch was last sent to each voter that has not
        /// fetched yet in this epoch.
        begin_sent_ms: BTreeMap<NodeId, u64>,
        started_ms: u64,
    },
    Follower {
        leader: NodeId,
        fetch_deadline_ms: u64,
        fetch: FetchTimer,
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
struct FetchTimer {
    /// When the outstanding fetch was sent, and its correlation id.
    in_flight: Option<(u64, u64)>,
    next_at_ms: u64,
}

impl FetchTimer {
    fn now(now_ms: u64) -> Self {
        FetchTimer {
            in_flight: None,
            next_at_ms: now_ms,
        }
    }
}

pub struct Node {
    id: NodeId,
    config: QuorumConfig,
    quorum: QuorumState,
    log: MemLog,
    high_watermark: u64,
    role: RoleState,
    rng: Rng,
    next_correlation_id: u64,
    out: Vec<Output>,
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
        node.role = if node.is_voter() {
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

    fn is_voter(&self) -> bool {
        self.config.is_voter(self.id)
    }

    fn take(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.out)
    }

    fn send(&mut self, to: NodeId, message: Message) {
        self.out.push(Output::Send { to, message });
    }

    fn persist(&mut self, quorum: QuorumState) {
        self.quorum = quorum;
        self.out.push(Output::Persist(quorum));
    }

    fn append(&mut self, entry: LogEntry) -> u64 {
        let offset = self.log.append(entry.clone());
        self.out.push(Output::Append { offset, entry });
        offset
    }

    fn other_voters(&self) -> Vec<NodeId> {
        self.config
            .voters
            .iter()
            .copied()
            .filter(|v| *v != self.id)
            .collect()
    }

    /// Kafka randomises the election timeout between 1x and 2x.
    fn election_deadline(&mut self, now_ms: u64) -> u64 {
        let t = self.config.election_timeout_ms;
        now_ms + t + self.rng.below(t)
    }

    fn backoff_deadline(&mut self, now_ms: u64) -> u64 {
        now_ms + 1 + self.rng.below(self.config.election_backoff_max_ms)
    }

    fn observer_state(&mut self, leader: Option<NodeId>, now_ms: u64) -> RoleState {
        RoleState::Observer {
            leader,
            fetch_deadline_ms: now_ms + self.config.fetch_timeout_ms,
            fetch: FetchTimer::now(now_ms),
        }
    }

    // ---- transitions -------------------------------------------------

    /// Moves to a higher epoch with no vote cast and no leader known.
    fn become_unattached(&mut self, epoch: u32, now_ms: u64) {
        if epoch > self.quorum.epoch {
            self.persist(QuorumState {
                epoch,
                voted_for: None,
            });
        }
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
    fn become_follower(&mut self, epoch: u32, leader: NodeId, now_ms: u64) {
        if epoch > self.quorum.epoch {
            self.persist(QuorumState {
                epoch,
                voted_for: None,
            });
        }
        self.role = if self.is_voter() {
            RoleState::Follower {
                leader,
                fetch_deadline_ms: now_ms + self.config.fetch_timeout_ms,
                fetch: FetchTimer::now(now_ms),
            }
        } else {
            self.observer_state(Some(leader), now_ms)
        };
        self.maybe_fetch(now_ms);
    }

    fn become_prospective(&mut self, now_ms: u64) {
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

    fn become_candidate(&mut self, now_ms: u64) {
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

    fn become_leader(&mut self, now_ms: u64) {
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
            },
        );
        self.role = RoleState::Leader {
            epoch_start_offset,
            progress,
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

    fn leader_tick(&mut self, now_ms: u64) {
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
                Message::FetchResponse {
                    leader: Some(leader),
                    ..
                } => self.become_follower(epoch, *leader, now_ms),
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
            Message::FetchResponse {
                epoch,
                correlation_id,
                leader,
                error,
                diverging,
                base_offset,
                entries,
                high_watermark,
            } => self.on_fetch_response(
                from,
                epoch,
                correlation_id,
                leader,
                error,
                diverging,
                base_offset,
                entries,
                high_watermark,
                now_ms,
            ),
        }
        self.take()
    }

    fn log_is_up_to_date(&self, last_epoch: u32, end_offset: u64) -> bool {
        (last_epoch, end_offset) >= (self.log.last_epoch(), self.log.end_offset())
    }

    fn on_vote_request(
        &mut self,
        candidate: NodeId,
        epoch: u32,
        last_epoch: u32,
        end_offset: u64,
        pre_vote: bool,
        now_ms: u64,
    ) {
        let my_epoch = self.quorum.epoch;
        let granted = if !self.is_voter() || epoch < my_epoch {
            false
        } else if pre_vote {
            // KIP-996: refuse while we still hear from a leader, so a node
            // that was merely cut off cannot disturb a working quorum.
            let has_live_leader = match &self.role {
                RoleState::Leader { .. } => true,
                RoleState::Follower {
                    fetch_deadline_ms, ..
                } => now_ms < *fetch_deadline_ms,
                _ => false,
            };
            !has_live_leader && self.log_is_up_to_date(last_epoch, end_offset)
        } else {
            // epoch == my_epoch here (a higher one was adopted in `handle`).
            let free = match self.quorum.voted_for {
                None => matches!(
                    self.role,
                    RoleState::Unattached { .. } | RoleState::Prospective { .. }
                ),
                Some(v) => v == candidate,
            };
            free && self.log_is_up_to_date(last_epoch, end_offset)
        };
        if granted && !pre_vote && self.quorum.voted_for.is_none() {
            // Durable before the grant leaves this node.
            self.persist(QuorumState {
                epoch: my_epoch,
                voted_for: Some(candidate),
            });
            let deadline_ms = self.election_deadline(now_ms);
            self.role = RoleState::Unattached { deadline_ms };
        }
        let reply = Message::VoteResponse {
            epoch: self.quorum.epoch,
            granted,
            pre_vote,
            leader: self.leader(),
        };
        self.send(candidate, reply);
    }

    fn on_vote_response(
        &mut self,
        from: NodeId,
        epoch: u32,
        granted: bool,
        pre_vote: bool,
        leader: Option<NodeId>,
        now_ms: u64,
    ) {
        if epoch != self.quorum.epoch {
            return;
        }
        // A voter that knows the leader of our epoch points us at it.
        if let (Some(l), RoleState::Prospective { lost_leader, .. }) = (leader, &self.role) {
            if l != self.id && Some(l) != *lost_leader {
                self.become_follower(epoch, l, now_ms);
                return;
            }
        }
        match &mut self.role {
            RoleState::Prospective {
                granted: g,
                rejected: r,
                ..
            } if pre_vote => {
                if granted {
                    g.insert(from)
                } else {
                    r.insert(from)
                };
            }
            RoleState::Candidate {
                granted: g,
                rejected: r,
                ..
            } if !pre_vote => {
                if granted {
                    g.insert(from)
                } else {
                    r.insert(from)
                };
            }
            _ => return,
        }
        self.check_votes(now_ms);
    }

    fn check_votes(&mut self, now_ms: u64) {
        let majority = self.config.majority();
        let voters = self.config.voters.len();
        match &self.role {
            RoleState::Prospective {
                granted, rejected, ..
            } => {
                if granted.len() >= majority {
                    self.become_candidate(now_ms);
                } else if rejected.len() > voters - majority {
                    let deadline_ms = self.backoff_deadline(now_ms);
                    self.role = RoleState::Unattached { deadline_ms };
                }
            }
            RoleState::Candidate {
                granted, rejected, ..
            } => {
                if granted.len() >= majority {
                    self.become_leader(now_ms);
                } else if rejected.len() > voters - majority {
                    let deadline_ms = self.backoff_deadline(now_ms);
                    self.role = RoleState::Unattached { deadline_ms };
                }
            }
            _ => {}
        }
    }

    fn on_fetch(
        &mut self,
        from: NodeId,
        epoch: u32,
        replica: NodeId,
        (fetch_offset, last_fetched_epoch): (u64, u32),
        correlation_id: u64,
        now_ms: u64,
    ) {
        let my_epoch = self.quorum.epoch;
        let is_leader = matches!(self.role, RoleState::Leader { .. });
        // Kafka's validateLeaderOnlyRequest order.
        let error = if epoch < my_epoch {
            Some(FetchError::FencedLeaderEpoch)
        } else if epoch > my_epoch {
            Some(FetchError::UnknownLeaderEpoch)
        } else if !is_leader {
            Some(FetchError::NotLeader)
        } else {
            None
        };
        let mut reply = Message::FetchResponse {
            epoch: my_epoch,
            correlation_id,
            leader: self.leader(),
            error,
            diverging: None,
            base_offset: fetch_offset,
            entries: Vec::new(),
            high_watermark: None,
        };
        if error.is_none() {
            let end = self.log.epoch_end(last_fetched_epoch);
            let diverged = end.epoch != last_fetched_epoch || end.end_offset < fetch_offset;
            if diverged || fetch_offset > self.log.end_offset() {
                if let Message::FetchResponse { diverging, .. } = &mut reply {
                    *diverging = Some(end);
                }
            } else {
                if let RoleState::Leader {
                    progress,
                    begin_sent_ms,
                    ..
                } = &mut self.role
                {
                    if let Some(p) = progress.get_mut(&replica) {
                        // Offsets only grow within an epoch; a reordered old
                        // fetch must not lower what we know.
                        p.end_offset = p.end_offset.max(fetch_offset);
                        p.last_fetch_ms = Some(now_ms);
                    }
                    begin_sent_ms.remove(&replica);
                }
                self.update_leader_high_watermark();
                let entries = self.log.read(fetch_offset, self.config.fetch_max_entries);
                let hw = self.leader_high_watermark();
                if let Message::FetchResponse {
                    entries: e,
                    high_watermark,
                    ..
                } = &mut reply
                {
                    *e = entries;
                    *high_watermark = hw;
                }
            }
        }
        self.send(from, reply);
    }

    /// None until an entry of this leader's epoch is committed.
    fn leader_high_watermark(&self) -> Option<u64> {
        match &self.role {
            RoleState::Leader {
                epoch_start_offset, ..
            } if self.high_watermark > *epoch_start_offset => Some(self.high_watermark),
            _ => None,
        }
    }

    /// Kafka's LeaderState.maybeUpdateHighWatermark: the offset a majority
    /// of voters has reached, once it covers the leader's own epoch start.
    fn update_leader_high_watermark(&mut self) {
        let majority = self.config.majority();
        if let RoleState::Leader {
            epoch_start_offset,
            progress,
            ..
        } = &self.role
        {
            let mut ends: Vec<u64> = progress.values().map(|p| p.end_offset).collect();
            ends.sort_unstable_by(|a, b| b.cmp(a));
            if let Some(&candidate) = ends.get(majority - 1) {
                if candidate > *epoch_start_offset && candidate > self.high_watermark {
                    self.high_watermark = candidate;
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_fetch_response(
        &mut self,
        from: NodeId,
        epoch: u32,
        correlation_id: u64,
        leader: Option<NodeId>,
        error: Option<FetchError>,
        diverging: Option<EpochEndOffset>,
        base_offset: u64,
        entries: Vec<LogEntry>,
        high_watermark: Option<u64>,
        now_ms: u64,
    ) {
        let my_epoch = self.quorum.epoch;
        // An observer still looking for the leader takes the hint.
        if let RoleState::Observer { leader: None, .. } = self.role {
            if let (Some(l), true) = (leader, epoch == my_epoch) {
                self.become_follower(epoch, l, now_ms);
                return;
            }
        }
        let (current_leader, fetch) = match &mut self.role {
            RoleState::Follower { leader, fetch, .. } => (Some(*leader), fetch),
            RoleState::Observer { leader, fetch, .. } => (*leader, fetch),
            _ => return,
        };
        if fetch.in_flight.map(|(_, id)| id) != Some(correlation_id) {
            // A late or duplicated answer to a fetch we no longer wait for:
            // acting on it could truncate entries fetched since.
            return;
        }
        fetch.in_flight = None;
        if epoch != my_epoch || current_leader != Some(from) || error.is_some() {
            fetch.next_at_ms = now_ms
                + self
                    .config
                    .fetch_max_wait_ms
                    .min(self.config.request_timeout_ms);
            return;
        }
        let fetch_timeout = self.config.fetch_timeout_ms;
        match &mut self.role {
            RoleState::Follower {
                fetch_deadline_ms, ..
            }
            | RoleState::Observer {
                fetch_deadline_ms, ..
            } => {
                *fetch_deadline_ms = now_ms + fetch_timeout;
            }
            _ => {}
        }
        let mut progressed = false;
        if let Some(div) = diverging {
            let local = self.log.epoch_end(div.epoch);
            let to = div.end_offset.min(local.end_offset);
            if to < self.log.end_offset() {
                self.log.truncate_to(to);
                self.out.push(Output::Truncate { end_offset: to });
            }
            progressed = true;
        } else if base_offset == self.log.end_offset() {
            progressed = !entries.is_empty();
            for entry in entries {
                self.append(entry);
            }
        }
        if let Some(hw) = high_watermark {
            let hw = hw.min(self.log.end_offset());
            if hw > self.high_watermark {
                self.high_watermark = hw;
            }
        }
        let wait = if progressed {
            0
        } else {
            self.config.fetch_max_wait_ms
        };
        if let RoleState::Follower { fetch, .. } | RoleState::Observer { fetch, .. } =
            &mut self.role
        {
            fetch.next_at_ms = now_ms + wait;
        }
        self.maybe_fetch(now_ms);
    }

    /// Sends a Fetch when none is in flight (or the last one timed out) and
    /// the wait after an empty answer is over.
    fn maybe_fetch(&mut self, now_ms: u64) {
        let timeout = self.config.request_timeout_ms;
        let voters = self.config.voters.clone();
        let pick = self.rng.below(voters.len() as u64) as usize;
        let (target, fetch) = match &mut self.role {
            RoleState::Follower { leader, fetch, .. } => (Some(*leader), fetch),
            // Without a leader, ask a random voter who it is.
            RoleState::Observer { leader, fetch, .. } => {
                (leader.or(voters.get(pick).copied()), fetch)
            }
            _ => return,
        };
        let Some(to) = target else { return };
        let due = match fetch.in_flight {
            Some((since, _)) => now_ms >= since + timeout,
            None => now_ms >= fetch.next_at_ms,
        };
        if !due {
            return;
        }
        self.next_correlation_id += 1;
        let correlation_id = self.next_correlation_id;
        fetch.in_flight = Some((now_ms, correlation_id));
        let message = Message::Fetch {
            epoch: self.quorum.epoch,
            replica: self.id,
            fetch_offset: self.log.end_offset(),
            last_fetched_epoch: self.log.last_epoch(),
            correlation_id,
        };
        self.send(to, message);
    }
}
