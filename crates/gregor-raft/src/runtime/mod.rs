//! A KRaft node running for real: one tokio task owns a [`Node`] and its
//! [`Store`], ticks it with a real clock, carries out its outputs (disk
//! first, then the network) and talks to the other voters over TCP with
//! Kafka's raft RPCs. Callers hold a [`QuorumHandle`].
//!
//! Server side, the node answers the requests the listener hands to
//! [`QuorumHandle::handle_request`]: the message the node sends back to the
//! requester in that step becomes the response. Client side, one task per
//! peer voter sends the node's requests over a `gregor_client::Connection`
//! (bound to `local_ip` when given) and feeds the answers back.

mod committed;
mod driver;
mod peer;

pub use committed::{Committed, CommittedEvent, CommittedStream};

use crate::kraft::store::{Store, StoreError};
use crate::kraft::wire::{self, Inbound, NodeView, QuorumDescription, ReplicaDescription};
use crate::kraft::{EpochEndOffset, Message, Node, NodeId, QuorumConfig, Role, SnapshotRefused};
use bytes::Bytes;
use driver::{Command, Driver};
use gregor_protocol::error_codes as ec;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use thiserror::Error;
use tokio::sync::{mpsc, oneshot, watch};

/// How a node runs. Timeouts are named and defaulted as Kafka's
/// `controller.quorum.*` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeConfig {
    pub node_id: NodeId,
    pub cluster_id: String,
    /// `controller.quorum.voters`: every voter and the address its
    /// controller listener serves the raft RPCs on. A node whose id is not
    /// here is an observer.
    pub voters: Vec<(NodeId, SocketAddr)>,
    /// Outgoing connections bind to this address (so firewall rules can
    /// tell nodes apart).
    pub local_ip: Option<IpAddr>,
    /// The metadata log dir; the node keeps `__cluster_metadata-0` in it.
    pub metadata_dir: PathBuf,
    pub election_timeout_ms: u64,
    pub fetch_timeout_ms: u64,
    pub election_backoff_max_ms: u64,
    pub request_timeout_ms: u64,
    /// How long a leader may hold a follower's Fetch waiting for new data
    /// (long polling, as Kafka's 500 ms raft fetch max wait). Capped at
    /// half the request timeout so a held fetch never times out.
    pub fetch_max_wait_ms: u64,
    /// How often the node is ticked.
    pub tick_ms: u64,
    /// Most snapshot bytes a FetchSnapshot asks for (KafkaRaftClient's
    /// 8 MiB).
    pub fetch_snapshot_max_bytes: u32,
    /// The raft listener's name (`controller.listener.names`' first), as
    /// announced with this node's address in BeginQuorumEpoch/EndQuorumEpoch
    /// and DescribeQuorum.
    pub listener_name: String,
    /// TLS and SASL towards the other voters (an SSL or SASL_* controller
    /// listener).
    pub connector: gregor_client::Connector,
    /// Voter host names as configured (the addresses above are resolved):
    /// a peer's certificate is checked against these.
    pub voter_hosts: BTreeMap<NodeId, String>,
}

impl RuntimeConfig {
    /// Kafka's defaults for everything else.
    pub fn new(
        node_id: NodeId,
        cluster_id: impl Into<String>,
        voters: Vec<(NodeId, SocketAddr)>,
        metadata_dir: impl Into<PathBuf>,
    ) -> Self {
        RuntimeConfig {
            node_id,
            cluster_id: cluster_id.into(),
            voters,
            local_ip: None,
            metadata_dir: metadata_dir.into(),
            election_timeout_ms: 1000,
            fetch_timeout_ms: 2000,
            election_backoff_max_ms: 1000,
            request_timeout_ms: 2000,
            fetch_max_wait_ms: 500,
            tick_ms: 50,
            fetch_snapshot_max_bytes: 8 * 1024 * 1024,
            listener_name: "CONTROLLER".into(),
            connector: gregor_client::Connector::default(),
            voter_hosts: BTreeMap::new(),
        }
    }

    fn quorum_config(&self) -> QuorumConfig {
        let mut config = QuorumConfig::new(self.voters.iter().map(|(id, _)| *id).collect());
        config.election_timeout_ms = self.election_timeout_ms;
        config.fetch_timeout_ms = self.fetch_timeout_ms;
        config.election_backoff_max_ms = self.election_backoff_max_ms;
        config.request_timeout_ms = self.request_timeout_ms;
        config.fetch_snapshot_max_bytes = self.fetch_snapshot_max_bytes.max(1);
        // The leader holds fetches until there is news (long polling), so
        // a follower fetches again as soon as an answer comes back.
        config.fetch_max_wait_ms = 0;
        config
    }

    /// The max wait sent in Fetch requests.
    fn wire_fetch_max_wait_ms(&self) -> i32 {
        let ms = self.fetch_max_wait_ms.min(self.request_timeout_ms / 2);
        i32::try_from(ms).unwrap_or(i32::MAX)
    }
}

#[derive(Debug, Error)]
pub enum StartError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("invalid quorum configuration: {0}")]
    Config(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AppendError {
    /// Only the leader appends. `leader` is the one this node knows of. An
    /// append accepted by a leader that then lost leadership also ends here:
    /// the next leader may still commit it (subscribers would see it).
    #[error("not the quorum leader (leader: {leader:?})")]
    NotLeader { leader: Option<NodeId> },
    /// The node stopped (shut down, or its storage failed).
    #[error("the quorum node is not running")]
    Stopped,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SnapshotError {
    #[error("{0}")]
    Refused(#[from] SnapshotRefused),
    #[error("cannot encode the snapshot: {0}")]
    Encode(String),
    /// The node stopped (shut down, or its storage failed).
    #[error("the quorum node is not running")]
    Stopped,
}

/// One replica's progress as the leader sees it. Times are wall-clock ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaStatus {
    pub id: NodeId,
    /// None until the replica fetched in this epoch.
    pub log_end_offset: Option<u64>,
    pub last_fetch_ms: Option<i64>,
    pub last_caught_up_ms: Option<i64>,
}

/// What the node is and knows, published after every step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumStatus {
    pub node_id: NodeId,
    pub role: Role,
    pub epoch: u32,
    pub leader: Option<NodeId>,
    /// Entries below this offset are committed (and durable here).
    pub high_watermark: u64,
    pub log_end_offset: u64,
    /// The log start offset: entries below it are only in the snapshot
    /// `snapshot` (None while the log starts at 0).
    pub log_start_offset: u64,
    pub snapshot: Option<EpochEndOffset>,
    /// On the leader: None until an entry of its epoch is committed (the
    /// high watermark Kafka reports in DescribeQuorum and Fetch).
    pub leader_high_watermark: Option<u64>,
    /// On the leader: every voter (itself included). Empty elsewhere.
    pub voters: Vec<ReplicaStatus>,
    /// On the leader: the observers that fetched recently.
    pub observers: Vec<ReplicaStatus>,
    /// False once the node stopped.
    pub running: bool,
}

/// The node's clock: monotonic for the state machine, with the wall-clock
/// time it corresponds to for timestamps shown to others.
#[derive(Debug, Clone, Copy)]
struct Clock {
    start: Instant,
    wall_at_start_ms: i64,
}

impl Clock {
    fn new() -> Self {
        Clock {
            start: Instant::now(),
            wall_at_start_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64),
        }
    }

    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    fn wall_ms(&self, node_ms: u64) -> i64 {
        self.wall_at_start_ms
            .saturating_add(i64::try_from(node_ms).unwrap_or(i64::MAX))
    }
}

struct Shared {
    node_id: NodeId,
    cluster_id: String,
    voters: Vec<(NodeId, SocketAddr)>,
    listener_name: String,
    clock: Clock,
    cluster_id_refused: Arc<AtomicBool>,
}

/// A running node. Cheap to clone; every clone drives the same node.
#[derive(Clone)]
pub struct QuorumHandle {
    commands: mpsc::Sender<Command>,
    status: watch::Receiver<QuorumStatus>,
    shared: Arc<Shared>,
}

/// Opens the node's store under `config.metadata_dir`, restores its state
/// and starts its task. A single voter is leader when this returns (Kafka's
/// only voter elects itself at start-up too).
pub async fn start(config: RuntimeConfig) -> Result<QuorumHandle, StartError> {
    let quorum_config = config.quorum_config();
    if quorum_config.voters.is_empty() {
        return Err(StartError::Config("no voters".into()));
    }
    let mut ids = quorum_config.voters.clone();
    ids.sort_unstable();
    ids.dedup();
    if ids.len() != quorum_config.voters.len() {
        return Err(StartError::Config("a voter id is listed twice".into()));
    }
    let (store, restored) = Store::open(&config.metadata_dir, &quorum_config.voters)?;
    let clock = Clock::new();
    let seed = (clock.wall_at_start_ms as u64) ^ (u64::from(config.node_id as u32) << 32);
    let node = Node::restore(
        config.node_id,
        quorum_config,
        restored.quorum,
        restored.log,
        restored.snapshot,
        seed,
        clock.now_ms(),
    );
    let shared = Arc::new(Shared {
        node_id: config.node_id,
        cluster_id: config.cluster_id.clone(),
        voters: config.voters.clone(),
        listener_name: config.listener_name.clone(),
        clock,
        cluster_id_refused: Arc::new(AtomicBool::new(false)),
    });
    let (commands, receiver) = mpsc::channel(1024);
    let (status_tx, status) = watch::channel(driver::status_of(&node, &clock));
    let mut driver = Driver::new(
        node,
        store,
        &config,
        clock,
        commands.downgrade(),
        status_tx,
        shared.cluster_id_refused.clone(),
    );
    driver.first_tick()?;
    tokio::spawn(driver.run(receiver, Duration::from_millis(config.tick_ms.max(1))));
    Ok(QuorumHandle {
        commands,
        status,
        shared,
    })
}

impl QuorumHandle {
    pub fn node_id(&self) -> NodeId {
        self.shared.node_id
    }

    /// Appends `data` as one entry and resolves with its offset once it is
    /// committed (on a majority of voters, durably).
    pub async fn append(&self, data: Bytes) -> Result<u64, AppendError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Append { data, reply })
            .await
            .map_err(|_| AppendError::Stopped)?;
        answer.await.unwrap_or(Err(AppendError::Stopped))
    }

    /// Hands the node the caller's state as of `end_offset` (every
    /// committed entry below it applied), to store as a KIP-630 snapshot
    /// `<end_offset>-<epoch>.checkpoint`; the log then starts at
    /// `end_offset`. Resolves once the snapshot is durable. `end_offset`
    /// must be committed here and past the current log start.
    pub async fn snapshot(&self, end_offset: u64, data: Bytes) -> Result<(), SnapshotError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Snapshot {
                end_offset,
                data,
                reply,
            })
            .await
            .map_err(|_| SnapshotError::Stopped)?;
        answer.await.unwrap_or(Err(SnapshotError::Stopped))
    }

    /// The committed Data entries from offset `from` on, in order; the
    /// stream waits for more at the end. When `from` is below the log start
    /// the stream first gives the latest snapshot
    /// ([`CommittedEvent::Snapshot`]) and goes on after it.
    pub fn subscribe_committed(&self, from: u64) -> CommittedStream {
        CommittedStream::new(self.commands.clone(), self.status.clone(), from)
    }

    /// True once a peer refused this node's cluster id
    /// (INCONSISTENT_CLUSTER_ID): its storage belongs to another cluster.
    pub fn cluster_id_refused(&self) -> bool {
        self.shared.cluster_id_refused.load(Ordering::Relaxed)
    }

    pub fn status(&self) -> watch::Receiver<QuorumStatus> {
        self.status.clone()
    }

    /// Answers a raft request body (Vote, BeginQuorumEpoch, EndQuorumEpoch,
    /// Fetch, DescribeQuorum; see [`wire::is_raft_api`]) with the response
    /// body, encoded at `api_version`. Other api keys get an empty body.
    pub async fn handle_request(&self, api_key: i16, api_version: i16, body: Bytes) -> Bytes {
        let shared = &self.shared;
        let inbound = match wire::decode_request(
            &shared.cluster_id,
            shared.node_id,
            api_key,
            api_version,
            body,
        ) {
            Ok(inbound) => inbound,
            Err(response) => return response,
        };
        match inbound {
            Inbound::DescribeQuorum => {
                let status = self.status.borrow().clone();
                wire::encode_describe_quorum(api_version, self.describe(&status).as_ref())
            }
            Inbound::Refused { error } => {
                let view = self.view();
                wire::encode_reply(api_key, api_version, &view, None, error)
            }
            Inbound::Raft {
                from,
                message,
                max_wait_ms,
                fetcher_high_watermark,
            } => {
                let (reply, answer) = oneshot::channel();
                let command = Command::Request {
                    from,
                    message,
                    max_wait_ms,
                    fetcher_high_watermark,
                    reply,
                };
                let answered = match self.commands.send(command).await {
                    Ok(()) => answer.await.ok(),
                    Err(_) => None,
                };
                match answered {
                    Some((message, view, error)) => {
                        wire::encode_reply(api_key, api_version, &view, message.as_ref(), error)
                    }
                    None => wire::error_response(api_key, api_version, ec::BROKER_NOT_AVAILABLE),
                }
            }
        }
    }

    /// Leader only: gives up leadership gracefully (EndQuorumEpoch to the
    /// other voters). Returns once the node has resigned.
    pub async fn resign(&self) {
        let (reply, answer) = oneshot::channel();
        if self.commands.send(Command::Resign { reply }).await.is_ok() {
            let _ = answer.await;
        }
    }

    /// Stops the node: a leader resigns first, queued messages get a moment
    /// to leave, the store is closed cleanly. Every clone stops working.
    pub async fn shutdown(&self) {
        let (reply, answer) = oneshot::channel();
        if self
            .commands
            .send(Command::Shutdown { reply })
            .await
            .is_ok()
        {
            let _ = answer.await;
        }
    }

    fn view(&self) -> NodeView {
        let status = self.status.borrow();
        let leader_address = status.leader.and_then(|l| {
            self.shared
                .voters
                .iter()
                .find(|(id, _)| *id == l)
                .map(|(_, address)| *address)
        });
        NodeView {
            epoch: status.epoch,
            leader: status.leader,
            leader_address,
            voters: self.shared.voters.iter().map(|(id, _)| *id).collect(),
            now_ms: self.shared.clock.wall_ms(self.shared.clock.now_ms()),
        }
    }

    fn describe(&self, status: &QuorumStatus) -> Option<QuorumDescription> {
        if status.role != Role::Leader || !status.running {
            return None;
        }
        // The leader is always caught up with itself.
        let now = self.shared.clock.wall_ms(self.shared.clock.now_ms());
        let replica = |r: &ReplicaStatus| {
            let own = r.id == status.node_id;
            ReplicaDescription {
                id: r.id,
                log_end_offset: r.log_end_offset,
                last_fetch_ms: if own { Some(now) } else { r.last_fetch_ms },
                last_caught_up_ms: if own { Some(now) } else { r.last_caught_up_ms },
            }
        };
        Some(QuorumDescription {
            leader: status.node_id,
            epoch: status.epoch,
            high_watermark: status.leader_high_watermark,
            voters: status.voters.iter().map(replica).collect(),
            observers: status.observers.iter().map(replica).collect(),
            nodes: self.shared.voters.clone(),
            listener: self.shared.listener_name.clone(),
        })
    }
}

/// True for a message the node sends as a request (not an answer).
fn is_request(message: &Message) -> bool {
    wire::request_key(message).is_some()
}
