//! Client quotas applied to one request on a client listener, as Kafka's
//! KafkaApis does: a fetch is shrunk to what the consumer's quota allows
//! over the window before it runs; after the handler, the produce bytes,
//! the fetch bytes and the handler's time are recorded, the throttle time
//! goes into the response, and the caller mutes the connection for it.

use super::Kind;
use crate::handlers::Reply;
use crate::server::Broker;
use gregor_protocol::request::Request;
use kafka_protocol::messages::{ApiKey, RequestKind};
use std::time::Duration;

/// What the quotas need to know of a request, taken before it is handled.
pub struct Measured {
    pub api_key: ApiKey,
    pub user: String,
    pub client_id: String,
    /// The request's size on the wire (Kafka's `request.sizeInBytes`).
    pub request_bytes: usize,
    /// A follower's fetch: replication quotas apply, not client quotas.
    pub from_follower: bool,
    /// The fetch's session id (0 for a full or sessionless fetch).
    pub fetch_session_id: i32,
}

impl Measured {
    pub fn of(request: &Request, user: &str, request_bytes: usize) -> Measured {
        let (from_follower, fetch_session_id) = match &request.body {
            RequestKind::Fetch(f) => (
                f.replica_id.0 >= 0 || f.replica_state.replica_id.0 >= 0,
                f.session_id,
            ),
            _ => (false, 0),
        };
        Measured {
            api_key: request.api_key,
            user: user.to_string(),
            client_id: request.client_id().to_string(),
            request_bytes,
            from_follower,
            fetch_session_id,
        }
    }
}

/// Kafka's fetch shrink: `max_bytes` at most the quota over
/// `quota.window.num - 1` windows.
pub fn shrink_fetch(broker: &Broker, measured: &Measured, request: &mut Request) {
    let RequestKind::Fetch(fetch) = &mut request.body else {
        return;
    };
    if measured.from_follower {
        return;
    }
    let image = broker.controller.image();
    let Some(max) = broker.client_quotas.max_value_in_window(
        &image.client_quotas,
        Kind::Fetch,
        &measured.user,
        &measured.client_id,
    ) else {
        return;
    };
    let cap = max.clamp(1.0, i32::MAX as f64) as i32;
    fetch.max_bytes = fetch.max_bytes.min(cap);
}

/// APIs outside the request quota: version negotiation and login.
fn exempt(key: ApiKey) -> bool {
    matches!(
        key,
        ApiKey::ApiVersions | ApiKey::SaslHandshake | ApiKey::SaslAuthenticate
    )
}

fn fetch_bytes(reply: &Reply) -> usize {
    match reply {
        Reply::Fetch(f) => f
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter())
            .filter_map(|p| p.records.as_ref().map(|r| r.len()))
            .sum(),
        _ => 0,
    }
}

/// Records the request against the quotas and returns the throttle time
/// in ms (0: none), written into the response (any that has the field). A throttled
/// fetch answers with no records, and its bytes are taken back (Kafka 4).
pub fn throttle(
    broker: &Broker,
    measured: &Measured,
    handler_time: Duration,
    reply: &mut Option<Reply>,
) -> u64 {
    let image = broker.controller.image();
    let quotas = &image.client_quotas;
    if quotas.is_empty() || measured.from_follower {
        return 0;
    }
    let now = crate::clock::now_ms();
    let record = |kind, value| {
        broker.client_quotas.record(
            quotas,
            kind,
            &measured.user,
            &measured.client_id,
            value,
            now,
        )
    };
    let fetched = reply.as_ref().map_or(0, fetch_bytes) as f64;
    let bandwidth = match measured.api_key {
        ApiKey::Produce => record(Kind::Produce, measured.request_bytes as f64),
        ApiKey::Fetch => record(Kind::Fetch, fetched),
        _ => 0,
    };
    // acks=0 produce (no reply) is outside the request quota, as Kafka.
    let request = if exempt(measured.api_key) || reply.is_none() {
        0
    } else {
        // Kafka counts request-thread time as a percentage of one thread.
        record(Kind::Request, handler_time.as_nanos() as f64 * 100.0 / 1e9)
    };
    // A controller mutation quota's throttle is already in the response.
    let mutation = match reply {
        Some(Reply::Message(response)) => super::throttle_field::get(response).max(0) as u64,
        _ => 0,
    };
    let throttle = bandwidth.max(request).max(mutation);
    if throttle == 0 {
        return 0;
    }
    let ms = throttle.min(i32::MAX as u64) as i32;
    match reply {
        Some(Reply::Message(response)) => super::throttle_field::set(response, ms),
        Some(Reply::Fetch(f)) => {
            broker.client_quotas.unrecord(
                quotas,
                Kind::Fetch,
                &measured.user,
                &measured.client_id,
                fetched,
                now,
            );
            f.throttle_time_ms = ms;
            f.topics.clear();
            f.node_endpoints.clear();
            if measured.fetch_session_id == 0 {
                f.session_id = 0;
            }
        }
        // Raw (already encoded) replies and acks=0: nothing to write into.
        Some(Reply::Raw(_)) | None => {}
    }
    throttle
}

/// The APIs answered from their own frames (handlers::own_frames) whose
/// response body starts with `throttle_time_ms`, right after a flexible
/// response header: ShareFetch, ShareAcknowledge, StreamsGroupHeartbeat,
/// StreamsGroupDescribe and DescribeShareGroupOffsets. The share-state RPCs
/// (83–87) are inter-broker ClusterAction requests, exempt as in Kafka.
const FRAMED_CLIENT_APIS: [i16; 5] = [78, 79, 88, 89, 90];

/// The client id of a request frame (header v1+: key, version, correlation
/// id, then the nullable client id), empty when it has none.
pub fn frame_client_id(frame: &[u8]) -> String {
    let Some(len) = frame.get(8..10).map(|b| i16::from_be_bytes([b[0], b[1]])) else {
        return String::new();
    };
    usize::try_from(len)
        .ok()
        .and_then(|len| frame.get(10..10 + len))
        .map(|id| String::from_utf8_lossy(id).into_owned())
        .unwrap_or_default()
}

/// The request quota for a request answered from its own frame: its
/// handler time is recorded as for any request, and a throttle is written
/// into the framed response (size, correlation id, empty tagged fields,
/// then `throttle_time_ms`). Returns the throttle in ms (0: none), for the
/// caller to mute the connection.
pub fn throttle_framed(
    broker: &Broker,
    user: &str,
    client_id: &str,
    api_key: i16,
    handler_time: Duration,
    response: &mut bytes::Bytes,
) -> u64 {
    let image = broker.controller.image();
    let quotas = &image.client_quotas;
    if quotas.is_empty() || !FRAMED_CLIENT_APIS.contains(&api_key) {
        return 0;
    }
    let throttle = broker.client_quotas.record(
        quotas,
        Kind::Request,
        user,
        client_id,
        handler_time.as_nanos() as f64 * 100.0 / 1e9,
        crate::clock::now_ms(),
    );
    if throttle == 0 {
        return 0;
    }
    // Byte 8 is the header's tagged-field count: only an empty one puts
    // the throttle field at 9..13.
    if response.len() >= 13 && response[8] == 0 {
        let ms = throttle.min(i32::MAX as u64) as i32;
        let mut patched = bytes::BytesMut::from(&response[..]);
        patched[9..13].copy_from_slice(&ms.to_be_bytes());
        *response = patched.freeze();
    }
    throttle
}
