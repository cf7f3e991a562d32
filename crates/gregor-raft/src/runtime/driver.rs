//! The task that owns the node: every input (tick, peer request, peer
//! answer, append, read) is one step whose outputs are carried out in the
//! order the node requires: disk (fsynced) first, then the messages, then
//! commits are reported and the status published.

use super::committed::Committed;
use super::peer;
use super::{
    is_request, AppendError, Clock, QuorumStatus, ReplicaStatus, RuntimeConfig, SnapshotError,
};
use crate::kraft::records;
use crate::kraft::store::{Store, StoreError};
use crate::kraft::wire::NodeView;
use crate::kraft::{FetchResponse, Message, Node, NodeId, Output, Payload, ReplicaProgress, Role};
use bytes::Bytes;
use gregor_protocol::error_codes as ec;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

/// Most entries one read hands a subscriber.
const READ_MAX: u64 = 1024;
/// Messages queued for one peer before new ones are dropped (the node
/// retries on its own timers).
const PEER_QUEUE: usize = 64;

pub(super) type RequestReply = (Option<Message>, NodeView, i16);

/// Which of a step's messages answers the request being handled: the one to
/// this node that the predicate accepts.
type Capture = (NodeId, fn(&Message) -> bool);

pub(super) enum Command {
    /// A peer's request; the answer is the node's message back to `from`.
    /// A Fetch with nothing new may be held up to `max_wait_ms`.
    Request {
        from: NodeId,
        message: Message,
        max_wait_ms: u64,
        /// What a Fetch says its sender knows (see `wire::Inbound`).
        fetcher_high_watermark: Option<Option<u64>>,
        reply: oneshot::Sender<RequestReply>,
    },
    /// A peer's answer to one of our requests.
    Response {
        from: NodeId,
        message: Message,
    },
    /// A peer refused our connection: its process is gone.
    Unreachable {
        peer: NodeId,
    },
    Append {
        data: Bytes,
        reply: oneshot::Sender<Result<u64, AppendError>>,
    },
    /// Committed Data entries from `from` on.
    Read {
        from: u64,
        reply: oneshot::Sender<ReadBatch>,
    },
    /// The caller's state as of `end_offset`, to store as a snapshot.
    Snapshot {
        end_offset: u64,
        data: Bytes,
        reply: oneshot::Sender<Result<(), SnapshotError>>,
    },
    Resign {
        reply: oneshot::Sender<()>,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
}

pub(super) struct ReadBatch {
    /// Where the next read starts.
    pub(super) next: u64,
    pub(super) items: Vec<Committed>,
    /// The read started below the log start: the snapshot's end offset and
    /// the caller's data in it (`next` is then its end offset).
    pub(super) snapshot: Option<Result<(u64, Bytes), String>>,
}

/// A Fetch held by the leader until there is something new for the
/// fetcher (entries, a new high watermark, a new epoch) or its max wait is
/// over; it is then run through the node again.
struct Parked {
    from: NodeId,
    message: Message,
    reply: oneshot::Sender<RequestReply>,
    deadline_ms: u64,
    fetch_offset: u64,
    epoch: u32,
    high_watermark: Option<u64>,
}

/// The two queues to one peer (see `peer`).
struct Lanes {
    fetch: mpsc::Sender<peer::Outgoing>,
    control: mpsc::Sender<peer::Outgoing>,
}

struct Pending {
    offset: u64,
    epoch: u32,
    reply: oneshot::Sender<Result<u64, AppendError>>,
}

pub(super) struct Driver {
    node: Node,
    store: Option<Store>,
    clock: Clock,
    peers: BTreeMap<NodeId, Lanes>,
    peer_tasks: Vec<JoinHandle<()>>,
    status: watch::Sender<QuorumStatus>,
    pending: Vec<Pending>,
    parked: Vec<Parked>,
    /// The high watermark last sent to each fetcher: a Fetch answer that
    /// would tell it nothing new is held instead.
    hw_sent: BTreeMap<NodeId, Option<u64>>,
    /// The voters' raft listener addresses.
    addresses: BTreeMap<NodeId, SocketAddr>,
    /// For tasks that report back (leader probes).
    commands: mpsc::WeakSender<Command>,
    local_ip: Option<std::net::IpAddr>,
    /// When the leader was last probed for being gone.
    last_probe_ms: Option<u64>,
    request_timeout: Duration,
}

/// At most one leader probe per this many ms.
const PROBE_INTERVAL_MS: u64 = 200;

impl Driver {
    pub(super) fn new(
        node: Node,
        store: Store,
        config: &RuntimeConfig,
        clock: Clock,
        commands: mpsc::WeakSender<Command>,
        status: watch::Sender<QuorumStatus>,
        cluster_id_refused: Arc<AtomicBool>,
    ) -> Self {
        let request_timeout = Duration::from_millis(config.request_timeout_ms.max(1));
        let mut peers = BTreeMap::new();
        let mut peer_tasks = Vec::new();
        for (id, address) in &config.voters {
            if *id == config.node_id {
                continue;
            }
            let mut lane = || {
                let (tx, rx) = mpsc::channel(PEER_QUEUE);
                let target = peer::Peer {
                    local_id: config.node_id,
                    endpoint: config
                        .voters
                        .iter()
                        .find(|(v, _)| *v == config.node_id)
                        .map(|(_, address)| (config.listener_name.clone(), *address)),
                    id: *id,
                    address: *address,
                    cluster_id: config.cluster_id.clone(),
                    local_ip: config.local_ip,
                    request_timeout,
                    fetch_max_wait_ms: config.wire_fetch_max_wait_ms(),
                    cluster_id_refused: cluster_id_refused.clone(),
                    connector: config.connector.clone(),
                    host: config.voter_hosts.get(id).cloned(),
                };
                peer_tasks.push(tokio::spawn(peer::run(target, rx, commands.clone())));
                tx
            };
            let lanes = Lanes {
                fetch: lane(),
                control: lane(),
            };
            peers.insert(*id, lanes);
        }
        Driver {
            node,
            store: Some(store),
            clock,
            peers,
            peer_tasks,
            status,
            pending: Vec::new(),
            parked: Vec::new(),
            hw_sent: BTreeMap::new(),
            addresses: config.voters.iter().copied().collect(),
            commands: commands.clone(),
            local_ip: config.local_ip,
            last_probe_ms: None,
            request_timeout,
        }
    }

    /// The first tick, before `start` returns: a single voter is then
    /// already leader when its caller first appends.
    pub(super) fn first_tick(&mut self) -> Result<(), StoreError> {
        let outputs = self.node.tick(self.clock.now_ms());
        self.carry_out(outputs, None).map(|_| ())
    }

    pub(super) async fn run(mut self, mut commands: mpsc::Receiver<Command>, tick: Duration) {
        let mut interval = tokio::time::interval(tick);
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            let step = tokio::select! {
                _ = interval.tick() => {
                    let outputs = self.node.tick(self.clock.now_ms());
                    self.carry_out(outputs, None).map(|_| ())
                }
                command = commands.recv() => match command {
                    // Every handle is gone.
                    None => break,
                    Some(Command::Shutdown { reply }) => {
                        self.shutdown().await;
                        let _ = reply.send(());
                        return;
                    }
                    Some(command) => self.command(command),
                },
            };
            let step = step.and_then(|()| self.release_parked());
            if let Err(err) = step {
                // As in Kafka, a node that cannot write its log stops.
                tracing::error!(node = self.node.id(), %err, "metadata quorum storage failed; the node stops");
                break;
            }
        }
        self.stop();
    }

    fn command(&mut self, command: Command) -> Result<(), StoreError> {
        let now = self.clock.now_ms();
        match command {
            Command::Request {
                from,
                message,
                max_wait_ms,
                fetcher_high_watermark,
                reply,
            } => {
                if let Some(known) = fetcher_high_watermark {
                    // The fetcher says what it knows: better than what we
                    // remember sending (it may have restarted since).
                    self.hw_sent.insert(from, known);
                }
                let voter_only = matches!(
                    message,
                    Message::VoteRequest { .. }
                        | Message::BeginQuorumEpoch { .. }
                        | Message::EndQuorumEpoch { .. }
                );
                // KafkaRaftClient.validateVoterOnlyRequest.
                if voter_only && message.epoch() < self.node.epoch() {
                    let _ = reply.send((None, self.view(), ec::FENCED_LEADER_EPOCH));
                    return Ok(());
                }
                let wanted: fn(&Message) -> bool = match message {
                    Message::VoteRequest { .. } => |m| matches!(m, Message::VoteResponse { .. }),
                    Message::BeginQuorumEpoch { .. } => {
                        |m| matches!(m, Message::BeginQuorumEpochResponse { .. })
                    }
                    Message::Fetch { .. } => |m| matches!(m, Message::FetchResponse(_)),
                    Message::FetchSnapshot { .. } => {
                        |m| matches!(m, Message::FetchSnapshotResponse(_))
                    }
                    _ => |_| false,
                };
                if let Message::VoteRequest { pre_vote: true, .. } = &message {
                    // Another voter lost our leader: check whether we did too,
                    // so that we can grant it (or stand) without waiting out
                    // our own fetch timeout.
                    self.probe_leader(now);
                }
                let held = match &message {
                    Message::Fetch { fetch_offset, .. } if max_wait_ms > 0 => {
                        Some((message.clone(), *fetch_offset))
                    }
                    _ => None,
                };
                let outputs = self.node.handle(from, message, now);
                let answer = self.carry_out(outputs, Some((from, wanted)))?;
                match (held, &answer) {
                    (Some((fetch, fetch_offset)), Some(Message::FetchResponse(f)))
                        if self.nothing_new(from, f) =>
                    {
                        self.parked.push(Parked {
                            from,
                            message: fetch,
                            reply,
                            deadline_ms: now + max_wait_ms,
                            fetch_offset,
                            epoch: f.epoch,
                            high_watermark: f.high_watermark,
                        });
                    }
                    _ => self.answer(from, answer, reply),
                }
            }
            Command::Response { from, message } => {
                let outputs = self.node.handle(from, message, now);
                for output in &outputs {
                    if let Output::InstallSnapshot { snapshot, .. } = output {
                        tracing::info!(
                            leader = from,
                            end_offset = snapshot.id.end_offset,
                            epoch = snapshot.id.epoch,
                            "installed the snapshot fetched from the leader"
                        );
                    }
                }
                self.carry_out(outputs, None)?;
            }
            Command::Unreachable { peer } => {
                let outputs = self.node.peer_unreachable(peer, now);
                self.carry_out(outputs, None)?;
            }
            Command::Append { data, reply } => match self.node.client_append(data) {
                None => {
                    let leader = self.node.leader();
                    let _ = reply.send(Err(AppendError::NotLeader { leader }));
                }
                Some((offset, outputs)) => {
                    self.pending.push(Pending {
                        offset,
                        epoch: self.node.epoch(),
                        reply,
                    });
                    self.carry_out(outputs, None)?;
                }
            },
            Command::Read { from, reply } => {
                let _ = reply.send(self.read(from));
            }
            Command::Snapshot {
                end_offset,
                data,
                reply,
            } => {
                let answer = self.snapshot(end_offset, data);
                let outputs = match answer {
                    Ok(outputs) => {
                        self.carry_out(outputs, None)?;
                        Ok(())
                    }
                    Err(err) => Err(err),
                };
                let _ = reply.send(outputs);
            }
            Command::Resign { reply } => {
                let outputs = self.node.resign(now);
                self.carry_out(outputs, None)?;
                let _ = reply.send(());
            }
            // Handled by the loop, which owns the shutdown sequence.
            Command::Shutdown { reply } => {
                let _ = reply.send(());
            }
        }
        Ok(())
    }

    /// An answer that brings the fetcher no entries, no error, no
    /// divergence and no high watermark it has not already been sent.
    fn nothing_new(&self, from: NodeId, f: &FetchResponse) -> bool {
        f.error.is_none()
            && f.diverging.is_none()
            && f.snapshot.is_none()
            && f.entries.is_empty()
            && self.hw_sent.get(&from) == Some(&f.high_watermark)
    }

    fn answer(
        &mut self,
        from: NodeId,
        answer: Option<Message>,
        reply: oneshot::Sender<RequestReply>,
    ) {
        if let Some(Message::FetchResponse(f)) = &answer {
            self.hw_sent.insert(from, f.high_watermark);
        }
        let _ = reply.send((answer, self.view(), ec::NONE));
    }

    /// Runs the held fetches that now have news (or waited long enough)
    /// through the node again and answers them.
    fn release_parked(&mut self) -> Result<(), StoreError> {
        if self.parked.is_empty() {
            return Ok(());
        }
        let now = self.clock.now_ms();
        let end = self.node.log().end_offset();
        let epoch = self.node.epoch();
        let hw = self.node.leader_high_watermark();
        let leading = self.node.role() == Role::Leader;
        let (ready, waiting): (Vec<Parked>, Vec<Parked>) =
            std::mem::take(&mut self.parked).into_iter().partition(|p| {
                now >= p.deadline_ms
                    || !leading
                    || p.epoch != epoch
                    || end > p.fetch_offset
                    || p.high_watermark != hw
            });
        self.parked = waiting;
        for p in ready {
            let outputs = self.node.handle(p.from, p.message, now);
            let capture: Capture = (p.from, |m| matches!(m, Message::FetchResponse(_)));
            let answer = self.carry_out(outputs, Some(capture))?;
            self.answer(p.from, answer, p.reply);
        }
        Ok(())
    }

    /// Disk first (fsynced), then messages; returns the message to `from`
    /// that `capture` wants, which the caller sends as the response.
    fn carry_out(
        &mut self,
        outputs: Vec<Output>,
        capture: Option<Capture>,
    ) -> Result<Option<Message>, StoreError> {
        let touches_disk = outputs.iter().any(|o| !matches!(o, Output::Send { .. }));
        if let (Some(store), true) = (self.store.as_mut(), touches_disk) {
            // fsync blocks; on a multi-threaded runtime other tasks move to
            // another worker meanwhile.
            let flavor = tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor());
            if matches!(flavor, Ok(tokio::runtime::RuntimeFlavor::MultiThread)) {
                tokio::task::block_in_place(|| store.apply(&outputs))?;
            } else {
                store.apply(&outputs)?;
            }
        }
        // After the step's Persists, so the leader goes with its epoch.
        let leader = self.node.leader();
        if let Some(store) = self.store.as_mut() {
            store.note_leader(leader)?;
        }
        let mut captured = None;
        for output in outputs {
            let Output::Send { to, message } = output else {
                continue;
            };
            if let Some((from, wanted)) = capture {
                if captured.is_none() && to == from && wanted(&message) {
                    captured = Some(message);
                    continue;
                }
            }
            if is_request(&message) {
                self.dispatch(to, message);
            } else {
                tracing::debug!(to, ?message, "dropping an answer nobody asked for");
            }
        }
        if self.node.role() != Role::Leader {
            // What fetchers were told belongs to that leadership.
            self.hw_sent.clear();
        }
        self.resolve_pending();
        self.publish();
        Ok(captured)
    }

    fn dispatch(&mut self, to: NodeId, message: Message) {
        match self.peers.get(&to) {
            Some(lanes) => {
                let queue = match message {
                    Message::Fetch { .. } | Message::FetchSnapshot { .. } => &lanes.fetch,
                    _ => &lanes.control,
                };
                // A follower that has not learnt any yet says so (-1).
                let hw = self.node.high_watermark();
                let outgoing = peer::Outgoing {
                    message,
                    high_watermark: (hw > 0).then_some(hw),
                };
                if queue.try_send(outgoing).is_err() {
                    tracing::debug!(to, "peer queue full; message dropped");
                }
            }
            None => tracing::debug!(to, "no address for node; message dropped"),
        }
    }

    /// Answers the appends that committed, and fails those this node can no
    /// longer commit as leader.
    fn resolve_pending(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let hw = self.node.high_watermark();
        let epoch = self.node.epoch();
        let leading = self.node.role() == Role::Leader;
        let leader = self.node.leader();
        let mut keep = Vec::new();
        for p in self.pending.drain(..) {
            let entry_epoch = self.node.log().get(p.offset).map(|e| e.epoch);
            if hw > p.offset && entry_epoch == Some(p.epoch) {
                let _ = p.reply.send(Ok(p.offset));
            } else if !leading || epoch != p.epoch || entry_epoch != Some(p.epoch) {
                let _ = p.reply.send(Err(AppendError::NotLeader { leader }));
            } else {
                keep.push(p);
            }
        }
        self.pending = keep;
    }

    /// The node's outputs for taking the caller's snapshot: the checkpoint
    /// file's content is built here, the node keeps it opaque.
    fn snapshot(&mut self, end_offset: u64, data: Bytes) -> Result<Vec<Output>, SnapshotError> {
        let high_watermark = self.node.high_watermark();
        let log = self.node.log();
        let epoch = match end_offset.checked_sub(1).and_then(|o| log.get(o)) {
            Some(entry) => entry.epoch,
            None if end_offset <= log.start_offset() => {
                return Err(crate::kraft::SnapshotRefused::NotNewer {
                    end_offset,
                    log_start: log.start_offset(),
                }
                .into())
            }
            None => {
                return Err(crate::kraft::SnapshotRefused::NotCommitted {
                    end_offset,
                    high_watermark,
                }
                .into())
            }
        };
        let file = records::encode_snapshot(epoch, &data, self.clock.wall_ms(self.clock.now_ms()))
            .map_err(SnapshotError::Encode)?;
        Ok(self.node.snapshot(end_offset, file)?)
    }

    fn read(&self, from: u64) -> ReadBatch {
        let log = self.node.log();
        if from < log.start_offset() {
            if let Some(s) = self.node.latest_snapshot() {
                return ReadBatch {
                    next: s.id.end_offset,
                    items: Vec::new(),
                    snapshot: Some(
                        records::decode_snapshot(&s.data).map(|data| (s.id.end_offset, data)),
                    ),
                };
            }
        }
        let end = self
            .node
            .high_watermark()
            .min(from.saturating_add(READ_MAX));
        let items = (from..end)
            .filter_map(|offset| match self.node.log().get(offset) {
                Some(entry) => match &entry.payload {
                    Payload::Data(data) => Some(Committed {
                        offset,
                        data: data.clone(),
                    }),
                    Payload::LeaderChange { .. } => None,
                },
                None => None,
            })
            .collect();
        ReadBatch {
            next: end.max(from),
            items,
            snapshot: None,
        }
    }

    fn view(&self) -> NodeView {
        let leader = self.node.leader();
        NodeView {
            epoch: self.node.epoch(),
            leader,
            leader_address: leader.and_then(|l| self.addresses.get(&l).copied()),
            voters: self.node.voters().to_vec(),
            now_ms: self.clock.wall_ms(self.clock.now_ms()),
        }
    }

    /// Checks in the background whether the leader this node follows still
    /// accepts connections; a refusal comes back as `Unreachable`.
    fn probe_leader(&mut self, now: u64) {
        if self.node.role() != Role::Follower {
            return;
        }
        if self
            .last_probe_ms
            .is_some_and(|t| now < t + PROBE_INTERVAL_MS)
        {
            return;
        }
        let Some(leader) = self.node.leader() else {
            return;
        };
        let Some(address) = self.addresses.get(&leader).copied() else {
            return;
        };
        self.last_probe_ms = Some(now);
        let commands = self.commands.clone();
        let local_ip = self.local_ip;
        tokio::spawn(async move {
            if peer::refuses(address, local_ip).await {
                if let Some(node) = commands.upgrade() {
                    let _ = node.send(Command::Unreachable { peer: leader }).await;
                }
            }
        });
    }

    fn publish(&self) {
        let status = status_of(&self.node, &self.clock);
        self.status.send_if_modified(|current| {
            if *current == status {
                return false;
            }
            // Operators follow elections in the log.
            if (current.role, current.epoch, current.leader)
                != (status.role, status.epoch, status.leader)
            {
                tracing::info!(
                    role = ?status.role,
                    epoch = status.epoch,
                    leader = ?status.leader,
                    "metadata quorum state"
                );
            }
            *current = status;
            true
        });
    }

    async fn shutdown(&mut self) {
        if self.node.role() == Role::Leader {
            let outputs = self.node.resign(self.clock.now_ms());
            if let Err(err) = self.carry_out(outputs, None) {
                tracing::warn!(%err, "cannot resign cleanly");
            }
        }
        // Closing the queues lets each peer task send what is queued (the
        // EndQuorumEpoch above) and end; a peer that does not answer in time
        // is not waited for.
        self.peers.clear();
        let deadline =
            tokio::time::Instant::now() + self.request_timeout.min(Duration::from_secs(1));
        for task in std::mem::take(&mut self.peer_tasks) {
            let abort = task.abort_handle();
            if tokio::time::timeout_at(deadline, task).await.is_err() {
                abort.abort();
            }
        }
        if let Some(store) = self.store.take() {
            if let Err(err) = store.close() {
                tracing::warn!(%err, "metadata log did not close cleanly");
            }
        }
        self.stop();
    }

    fn stop(&mut self) {
        for task in &self.peer_tasks {
            task.abort();
        }
        for p in self.pending.drain(..) {
            let _ = p.reply.send(Err(AppendError::Stopped));
        }
        self.status.send_modify(|s| s.running = false);
    }
}

/// The status a node publishes. The leader's own replica carries no fetch
/// times (they would change at every step); DescribeQuorum fills in now.
pub(super) fn status_of(node: &Node, clock: &Clock) -> QuorumStatus {
    let progress = node.leader_progress();
    let replica = |p: &ReplicaProgress| {
        let own = p.id == node.id();
        ReplicaStatus {
            id: p.id,
            log_end_offset: (own || p.last_fetch_ms.is_some()).then_some(p.end_offset),
            last_fetch_ms: p.last_fetch_ms.map(|t| clock.wall_ms(t)),
            last_caught_up_ms: p.last_caught_up_ms.map(|t| clock.wall_ms(t)),
        }
    };
    let (voters, observers) = match &progress {
        Some(p) => (
            p.voters.iter().map(replica).collect(),
            p.observers.iter().map(replica).collect(),
        ),
        None => (Vec::new(), Vec::new()),
    };
    QuorumStatus {
        node_id: node.id(),
        role: node.role(),
        epoch: node.epoch(),
        leader: node.leader(),
        high_watermark: node.high_watermark(),
        log_end_offset: node.log().end_offset(),
        log_start_offset: node.log().start_offset(),
        snapshot: node.log().snapshot_id(),
        leader_high_watermark: node.leader_high_watermark(),
        voters,
        observers,
        running: true,
    }
}
