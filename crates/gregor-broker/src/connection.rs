//! One client connection: read a frame, decode it, answer it, in order.
//!
//! Like the Java broker, a connection handles one request at a time, so
//! responses leave in the order requests arrived even for pipelining clients.

use crate::config::SecurityProtocol;
use crate::frame_reader::{FrameRead, FrameReader};
use crate::handlers::{self, Reply};
use crate::metrics::error_counts;
use crate::metrics::requests::{RequestMetrics, Timing};
use crate::quota::{self, enforce::Measured};
use crate::security::sasl::{self, Admit, SaslGate, SaslSettings};
use crate::security::Session;
use crate::send_file::FetchSink;
use crate::server::{Broker, NodeContext};
use gregor_protocol::fetch_response::encode_fetch_response;
use gregor_protocol::request::{
    decode_request, encode_raw_response, encode_response, RequestError,
};
use kafka_protocol::messages::RequestKind;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWriteExt};
use tokio::sync::watch;

/// The listener a connection came in on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionListener {
    /// The listener name, upper-cased (`PLAINTEXT`, `CONTROLLER`, ...).
    pub name: String,
    /// Named in `controller.listener.names`: serves only the controller APIs.
    pub is_controller: bool,
    /// From `listener.security.protocol.map`.
    pub protocol: SecurityProtocol,
    /// SASL_PLAINTEXT and SASL_SSL listeners: how clients authenticate.
    pub sasl: Option<Arc<SaslSettings>>,
    /// `connection.failed.authentication.delay.ms`, for failed TLS handshakes
    /// (SASL failures use the copy in `sasl`).
    pub failed_auth_delay: std::time::Duration,
}

/// Serves one connection over any stream: plain TCP, or TLS once the
/// handshake is done (the session then carries the certificate's principal).
pub async fn serve<S: AsyncRead + FetchSink>(
    mut stream: S,
    mut session: Session,
    node: Arc<NodeContext>,
    mut shutdown: watch::Receiver<bool>,
) {
    let peer = session.peer;
    let is_controller = session.listener.is_controller;
    // SASL_* listeners: the gate admits requests once the client logged in,
    // and its principal replaces the transport's (a TLS certificate's).
    let mut sasl_gate = session.listener.sasl.clone().map(SaslGate::new);
    // Fetch responses over TLS copy records through this one buffer.
    let mut copy_buf = Vec::new();
    let mut frames =
        FrameReader::new(node.socket_request_max_bytes).with_memory(node.request_memory.clone());
    let mut muted_until: Option<tokio::time::Instant> = None;
    // Closes this connection's share sessions when it goes (KIP-932).
    let _shares = crate::share::ConnectionShares {
        node: node.clone(),
        peer,
    };
    let mut heartbeats = HeartbeatWatch {
        node: node.clone(),
        broker: None,
    };
    loop {
        // Kafka mutes a throttled client's channel: nothing is read from it
        // until the throttle time is over.
        if let Some(until) = muted_until.take() {
            tokio::select! {
                _ = shutdown.changed() => {
                    heartbeats.broker = None;
                    return;
                }
                _ = tokio::time::sleep_until(until) => {}
            }
        }
        let read = tokio::select! {
            _ = shutdown.changed() => {
                // This node is stopping, not the broker.
                heartbeats.broker = None;
                return;
            }
            read = next_frame(&mut frames, &mut stream, node.connections_max_idle) => read,
        };
        let frame = match read {
            None => {
                // Kafka closes these quietly (its Selector logs at debug).
                tracing::debug!(%peer, "idle longer than connections.max.idle.ms; closing");
                return;
            }
            Some(FrameRead::Frame(frame)) => frame,
            Some(FrameRead::Closed) => return,
            Some(FrameRead::Refused(err)) => {
                tracing::warn!(%peer, %err, "closing connection");
                return;
            }
        };
        // The request's share of `queued.max.request.bytes`, given back at
        // the end of this turn, once the request is answered.
        let _request_memory = frames.take_lease();
        // Kafka's request start: the request fully read.
        let received = Instant::now();
        let image = || node.controller.image();
        let frame = match Box::pin(sasl::admit(
            sasl_gate.as_mut(),
            frame,
            image,
            &mut session,
            &mut stream,
        ))
        .await
        {
            Admit::Serve(frame) => frame,
            Admit::Handled => continue,
            Admit::Close => return,
        };
        // APIs (or versions) kafka-protocol 0.18 lacks: decoded and
        // answered by their own handlers (see handlers::own_frames).
        if !is_controller && handlers::own_frames::is_own_frame(&frame) {
            let Some(broker) = node.broker() else {
                return;
            };
            // Counted in the request metrics and measured against the
            // request quota like any other request.
            let header_i16 = |at: usize| {
                frame
                    .get(at..at + 2)
                    .map_or(-1, |v| i16::from_be_bytes([v[0], v[1]]))
            };
            let (key, version) = (header_i16(0), header_i16(2));
            let client_id = quota::enforce::frame_client_id(&frame);
            let dispatched = Instant::now();
            // Only the handler's polls count as busy time (a ShareFetch's
            // long poll is a wait), as for the other requests below.
            // Boxed, as every handler future below: inlined, the largest
            // handler would size every connection's task, idle or not.
            let mut handling = Box::pin(handlers::own_frames::handle(&broker, frame, &session));
            let mut busy = Duration::ZERO;
            let reply = std::future::poll_fn(|cx| {
                let start = std::time::Instant::now();
                let polled = handling.as_mut().poll(cx);
                busy += start.elapsed();
                polled
            })
            .await;
            let Some(mut bytes) = reply else {
                return;
            };
            let handled = Instant::now();
            let throttle = quota::enforce::throttle_framed(
                &broker,
                &session.principal.name,
                &client_id,
                key,
                busy,
                &mut bytes,
            );
            if throttle > 0 {
                muted_until = Some(tokio::time::Instant::now() + Duration::from_millis(throttle));
            }
            if stream.write_all(&bytes).await.is_err() || stream.flush().await.is_err() {
                return;
            }
            let counted = Counted {
                received,
                dispatched,
                handled,
                busy,
                fetch_from_follower: None,
            };
            counted.record(&broker, key, version, Some(Instant::now()));
            continue;
        }
        let supported = |key| handlers::api_versions::supported_on(is_controller, key);
        let request_bytes = frame.len();
        let request = match decode_request(frame, supported) {
            Ok(request) => request,
            Err(RequestError::UnsupportedVersion {
                api_key,
                version,
                correlation_id,
            }) if api_key == kafka_protocol::messages::ApiKey::ApiVersions => {
                // KIP-511: answer in v0 with the versions we do serve.
                let response = handlers::api_versions::unsupported_version_response(is_controller);
                let Ok(bytes) = encode_response(api_key, 0, correlation_id, &response) else {
                    return;
                };
                tracing::debug!(%peer, version, "ApiVersions at unsupported version");
                if stream.write_all(&bytes).await.is_err() || stream.flush().await.is_err() {
                    return;
                }
                continue;
            }
            Err(err) => {
                tracing::warn!(%peer, %err, "closing connection");
                return;
            }
        };
        let api_key = request.api_key;
        let version = request.version();
        let correlation_id = request.correlation_id();
        if let kafka_protocol::messages::RequestKind::BrokerHeartbeat(beat) = &request.body {
            heartbeats.broker = Some((beat.broker_id.0, beat.broker_epoch));
        }
        // Requests on client listeners are counted (RequestMetrics); the
        // controller listener's quorum traffic is not.
        let mut counted: Option<(Arc<Broker>, Counted)> = None;
        let reply = if is_controller {
            Box::pin(handlers::controller_listener::handle(
                &node, request, &session,
            ))
            .await
        } else {
            // Client listeners accept only once the broker is up.
            let Some(broker) = node.broker() else {
                return;
            };
            let mut request = request;
            // Without any quota, nothing is measured (no per-request copies).
            let measured = (!broker.controller.image().client_quotas.is_empty())
                .then(|| Measured::of(&request, &session.principal.name, request_bytes));
            if let Some(measured) = &measured {
                quota::enforce::shrink_fetch(&broker, measured, &mut request);
            }
            let fetch_from_follower = match &request.body {
                RequestKind::Fetch(fetch) => {
                    Some(fetch.replica_id.0 >= 0 || fetch.replica_state.replica_id.0 >= 0)
                }
                _ => None,
            };
            let dispatched = Instant::now();
            // Only the time spent inside the handler's polls counts (Kafka's
            // request-thread time), not its waits for replication or data.
            let mut handling = Box::pin(handlers::handle(&broker, request, &session));
            let mut busy = Duration::ZERO;
            let mut reply = std::future::poll_fn(|cx| {
                let start = std::time::Instant::now();
                let polled = handling.as_mut().poll(cx);
                busy += start.elapsed();
                polled
            })
            .await;
            let handled = Instant::now();
            let throttle = measured.as_ref().map_or(0, |measured| {
                quota::enforce::throttle(&broker, measured, busy, &mut reply)
            });
            if throttle > 0 {
                muted_until = Some(tokio::time::Instant::now() + Duration::from_millis(throttle));
            }
            count_errors(&broker.metrics.requests, api_key as i16, reply.as_ref());
            counted = Some((
                broker.clone(),
                Counted {
                    received,
                    dispatched,
                    handled,
                    busy,
                    fetch_from_follower,
                },
            ));
            reply
        };
        let Some(reply) = reply else {
            // acks=0 produce: no response, its time ends with the handler.
            if let Some((broker, counted)) = counted {
                counted.record(&broker, api_key as i16, version, None);
            }
            continue;
        };
        let written = match reply {
            Reply::Message(response) => {
                match encode_response(api_key, version, correlation_id, &response) {
                    Ok(bytes) => stream.write_all(&bytes).await,
                    Err(err) => {
                        tracing::error!(%peer, ?api_key, version, %err, "cannot encode response; closing connection");
                        return;
                    }
                }
            }
            Reply::Raw(body) => {
                match encode_raw_response(api_key, version, correlation_id, &body) {
                    Ok(bytes) => stream.write_all(&bytes).await,
                    Err(err) => {
                        tracing::error!(%peer, ?api_key, version, %err, "cannot frame response; closing connection");
                        return;
                    }
                }
            }
            Reply::Fetch(response) => {
                match encode_fetch_response(version, correlation_id, response) {
                    Ok(encoded) => stream.write_fetch(encoded, &mut copy_buf).await,
                    Err(err) => {
                        tracing::error!(%peer, version, %err, "cannot encode fetch response; closing connection");
                        return;
                    }
                }
            }
        };
        // TLS holds written bytes until flushed; plain TCP has nothing to do.
        let written = match written {
            Ok(()) => stream.flush().await,
            err => err,
        };
        if let Err(err) = written {
            // A peer that went away is routine; anything else is worth a line.
            if !matches!(
                err.kind(),
                std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
            ) {
                tracing::warn!(%peer, ?api_key, %err, "cannot write response; closing connection");
            }
            return;
        }
        if let Some((broker, counted)) = counted {
            counted.record(&broker, api_key as i16, version, Some(Instant::now()));
        }
    }
}

/// A request's times, kept until its response is sent.
/// The next frame, or `None` once the peer has sent nothing for `idle`
/// (`connections.max.idle.ms`). Only the wait for a request counts: a request
/// being answered (a long-poll fetch, say) keeps its connection, and a frame
/// arriving slowly is activity, as a read is in Kafka's Selector.
async fn next_frame<S: AsyncRead + Unpin>(
    frames: &mut FrameReader,
    stream: &mut S,
    idle: Option<Duration>,
) -> Option<FrameRead> {
    let Some(idle) = idle else {
        return Some(frames.next(stream).await);
    };
    loop {
        let before = frames.buffered();
        // `FrameReader::next` is cancel-safe: bytes read stay buffered.
        match tokio::time::timeout(idle, frames.next(stream)).await {
            Ok(read) => return Some(read),
            Err(_) if frames.buffered() == before => return None,
            Err(_) => {}
        }
    }
}

struct Counted {
    received: Instant,
    dispatched: Instant,
    handled: Instant,
    busy: Duration,
    fetch_from_follower: Option<bool>,
}

impl Counted {
    /// `sent`: when the response was flushed (`None`: no response).
    fn record(self, broker: &Broker, api_key: i16, version: i16, sent: Option<Instant>) {
        let timing = Timing {
            received: self.received,
            dispatched: self.dispatched,
            handled: self.handled,
            busy: self.busy,
            sent: sent.unwrap_or(self.handled),
        };
        broker
            .metrics
            .requests
            .record(api_key, version, self.fetch_from_follower, &timing);
    }
}

/// ErrorsPerSec: the codes in the response, before it is encoded away.
fn count_errors(metrics: &RequestMetrics, api_key: i16, reply: Option<&Reply>) {
    let mut count = |code| metrics.error(api_key, code, 1);
    match reply {
        Some(Reply::Message(response)) => error_counts::visit(response, &mut count),
        Some(Reply::Fetch(fetch)) => error_counts::visit_fetch(fetch, &mut count),
        Some(Reply::Raw(_)) | None => {}
    }
}

/// Remembers which broker heartbeats over a controller connection, so that
/// when the connection goes away the controller can check at once whether
/// the broker's process is gone ([`crate::controller::Controller::broker_connection_closed`]).
struct HeartbeatWatch {
    node: Arc<NodeContext>,
    broker: Option<(i32, i64)>,
}

impl Drop for HeartbeatWatch {
    fn drop(&mut self) {
        let Some((id, epoch)) = self.broker.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let controller = self.node.controller.clone();
        // It probes sockets and may commit: blocking work.
        runtime.spawn_blocking(move || controller.broker_connection_closed(id, epoch));
    }
}
