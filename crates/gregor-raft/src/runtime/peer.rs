//! Sending the node's requests to one peer voter over one connection, in
//! order, and handing the answers back to the node. Each peer gets two such
//! lanes: Fetches, which the leader may hold for a while, and the rest, so
//! an election is never stuck behind a held fetch.
//!
//! The node's Fetch correlation id never goes on the wire: the lane keeps
//! the request it sent and puts the id back into the answer.

use super::driver::Command;
use crate::kraft::wire;
use crate::kraft::{Message, NodeId};
use gregor_client::{ConnectOptions, Connection};
use gregor_protocol::error_codes;
use kafka_protocol::messages::ResponseKind;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// After a failed connect, messages are dropped for this long rather than
/// each waiting on a connect of its own (the node resends on its timers).
const RECONNECT_BACKOFF: Duration = Duration::from_millis(100);

/// A request for the peer, with the high watermark this node knew when it
/// was sent (a Fetch tells the leader, so it answers when that is stale).
pub(super) struct Outgoing {
    pub(super) message: Message,
    pub(super) high_watermark: Option<u64>,
}

pub(super) struct Peer {
    pub(super) local_id: NodeId,
    /// This node's own raft listener, if it is a voter.
    pub(super) endpoint: Option<(String, SocketAddr)>,
    pub(super) id: NodeId,
    pub(super) address: SocketAddr,
    pub(super) cluster_id: String,
    pub(super) local_ip: Option<IpAddr>,
    pub(super) request_timeout: Duration,
    pub(super) fetch_max_wait_ms: i32,
    /// Set when a peer refused this node's cluster id: the operator
    /// formatted it for another cluster, and start-up says so.
    pub(super) cluster_id_refused: Arc<AtomicBool>,
    /// TLS and SASL as the controller listener wants them.
    pub(super) connector: gregor_client::Connector,
    /// The voter's configured host name, for its certificate check.
    pub(super) host: Option<String>,
}

/// The top-level error code of a raft answer.
fn top_level_error(response: &ResponseKind) -> i16 {
    match response {
        ResponseKind::Vote(r) => r.error_code,
        ResponseKind::BeginQuorumEpoch(r) => r.error_code,
        ResponseKind::EndQuorumEpoch(r) => r.error_code,
        ResponseKind::Fetch(r) => r.error_code,
        _ => error_codes::NONE,
    }
}

pub(super) async fn run(
    peer: Peer,
    mut queue: mpsc::Receiver<Outgoing>,
    node: mpsc::WeakSender<Command>,
) {
    let options = ConnectOptions {
        request_timeout: peer.request_timeout,
        connect_timeout: peer.request_timeout,
        local_ip: peer.local_ip,
        // As Kafka's raft client names itself.
        client_id: format!("raft-client-{}", peer.local_id),
        connector: peer.connector.clone(),
        tls_server_name: peer.host.clone(),
    };
    let address = peer.address.to_string();
    let mut connection: Option<Connection> = None;
    let mut retry_at: Option<Instant> = None;
    while let Some(outgoing) = queue.recv().await {
        if retry_at.is_some_and(|t| Instant::now() < t) {
            continue;
        }
        let usable = connection.as_ref().is_some_and(Connection::is_usable);
        if !usable {
            connection = None;
            match Connection::connect_with(&address, &options).await {
                Ok(c) => connection = Some(c),
                Err(err) => {
                    tracing::debug!(peer = peer.id, %err, "cannot reach quorum peer");
                    retry_at = Some(Instant::now() + RECONNECT_BACKOFF);
                    // A refused connection means the peer's process is
                    // gone: the node need not wait out its timeouts.
                    if is_refused(&err) {
                        let Some(node) = node.upgrade() else {
                            return;
                        };
                        let _ = node.try_send(Command::Unreachable { peer: peer.id });
                    }
                    continue;
                }
            }
        }
        let Some(conn) = connection.as_mut() else {
            continue;
        };
        let Some(answer) = exchange(&peer, conn, &outgoing).await else {
            if !conn.is_usable() {
                // The connection broke mid-request (a held Fetch cut by a
                // dying leader): find out at once whether the peer is gone
                // rather than when the node next has something to send.
                connection = None;
                match Connection::connect_with(&address, &options).await {
                    Ok(c) => connection = Some(c),
                    Err(err) if is_refused(&err) => {
                        tracing::info!(peer = peer.id, "quorum peer refuses connections");
                        retry_at = Some(Instant::now() + RECONNECT_BACKOFF);
                        let Some(node) = node.upgrade() else {
                            return;
                        };
                        let _ = node.try_send(Command::Unreachable { peer: peer.id });
                    }
                    Err(_) => retry_at = Some(Instant::now() + RECONNECT_BACKOFF),
                }
            }
            continue;
        };
        let Some(node) = node.upgrade() else {
            return;
        };
        let command = Command::Response {
            from: peer.id,
            message: answer,
        };
        if node.send(command).await.is_err() {
            return;
        }
    }
}

/// Whether `address` refuses a connection now (nothing listens there any
/// more); a connection made, or one that times out, says no.
pub(super) async fn refuses(address: SocketAddr, local_ip: Option<IpAddr>) -> bool {
    let socket = match address {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
    };
    let Ok(socket) = socket else {
        return false;
    };
    if let Some(ip) = local_ip {
        if socket.bind(SocketAddr::new(ip, 0)).is_err() {
            return false;
        }
    }
    matches!(
        tokio::time::timeout(Duration::from_millis(500), socket.connect(address)).await,
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused
    )
}

/// Whether connecting failed because nothing listens there any more.
fn is_refused(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::ConnectionRefused)
    })
}

/// Sends one request at the best version both sides speak; the node's
/// message for the answer, if there is one for it.
async fn exchange(peer: &Peer, conn: &mut Connection, outgoing: &Outgoing) -> Option<Message> {
    let message = &outgoing.message;
    let key = wire::request_key(message)?;
    let version = match conn.version_for(key, wire::preferred_version(key)) {
        Ok(v) => v,
        Err(err) => {
            tracing::warn!(peer = peer.id, %err, "peer does not speak the raft RPC");
            return None;
        }
    };
    let (key, body) = wire::encode_request(
        &peer.cluster_id,
        peer.id,
        version,
        message,
        &wire::RequestOptions {
            fetch_max_wait_ms: peer.fetch_max_wait_ms,
            high_watermark: outgoing.high_watermark,
            endpoint: peer.endpoint.clone(),
        },
    )?;
    match conn.send(key, version, body).await {
        Ok((response, _)) => {
            if top_level_error(&response) == error_codes::INCONSISTENT_CLUSTER_ID {
                peer.cluster_id_refused.store(true, Ordering::Relaxed);
            }
            match wire::decode_response(message, response) {
                Ok(answer) => answer,
                Err(err) => {
                    // A refusal (another cluster id, a malformed answer) is a
                    // misconfiguration worth seeing; the node retries anyway.
                    tracing::warn!(peer = peer.id, %err, "raft answer ignored");
                    None
                }
            }
        }
        Err(err) => {
            tracing::debug!(peer = peer.id, %err, "raft request failed");
            None
        }
    }
}
