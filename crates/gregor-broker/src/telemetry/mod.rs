//! KIP-714 client telemetry: GetTelemetrySubscriptions tells clients which
//! metrics to push and how often; PushTelemetry brings OTLP payloads, whose
//! latest values are kept per client instance and shown on `/metrics`
//! (see [`crate::metrics::client_telemetry`]).
//!
//! The request rules (throttling, subscription ids, terminating pushes,
//! error codes) are Kafka's `ClientMetricsManager`'s. A client's
//! subscription is the union of the CLIENT_METRICS config resources that
//! match it (see [`subscriptions`]) and the static one from broker settings
//! (`gregor.client.telemetry.*`), which matches every client.

pub mod config;
mod instance;
pub mod otlp;
pub mod subscriptions;

use config::TelemetryConfig;
use gregor_protocol::compression::{Compression, OverLimit};
use gregor_protocol::error_codes;
use instance::Instance;
use kafka_protocol::messages::{
    GetTelemetrySubscriptionsRequest, GetTelemetrySubscriptionsResponse, PushTelemetryRequest,
    PushTelemetryResponse,
};
use kafka_protocol::protocol::StrBytes;
use otlp::Point;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Instant;
use uuid::Uuid;

/// What the broker accepts, in its order of preference (Kafka's list).
const ACCEPTED_COMPRESSION: [Compression; 4] = [
    Compression::Zstd,
    Compression::Lz4,
    Compression::Gzip,
    Compression::Snappy,
];

/// Kafka's reserved ids: the zero uuid and the metadata topic's id.
const ONE_UUID: Uuid = Uuid::from_u64_pair(0, 1);

/// The metrics one client instance pushed last.
pub struct ClientPoints {
    pub client_instance_id: Uuid,
    pub client_id: String,
    pub points: Vec<Point>,
}

pub struct ClientTelemetry {
    config: TelemetryConfig,
    instances: Mutex<HashMap<Uuid, Instance>>,
    /// Client software name and version by connection, from ApiVersions
    /// (Kafka keeps them on the connection), for `match` selectors.
    software: Mutex<HashMap<SocketAddr, (String, String)>>,
}

/// Who is asking, as the connection knows it.
pub struct Caller<'a> {
    pub client_id: &'a str,
    pub peer: SocketAddr,
    /// The CLIENT_METRICS resources of the metadata image.
    pub resources: &'a BTreeMap<String, BTreeMap<String, String>>,
}

/// What one client instance is asked to push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub metrics: Vec<String>,
    pub interval_ms: i32,
}

impl ClientTelemetry {
    pub fn new(config: TelemetryConfig) -> ClientTelemetry {
        ClientTelemetry {
            config,
            instances: Mutex::new(HashMap::new()),
            software: Mutex::new(HashMap::new()),
        }
    }

    /// On when the broker has a static subscription or any CLIENT_METRICS
    /// resource exists (`has_resources`), and somewhere to show metrics.
    pub fn enabled(&self, has_resources: bool) -> bool {
        self.config.enabled(has_resources)
    }

    /// Remembers what an ApiVersions request said the client software is.
    pub fn note_software(&self, peer: SocketAddr, name: &str, version: &str) {
        let mut software = self
            .software
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Bounded like the instances: connections come and go unannounced.
        if software.len() >= self.config.max_clients.max(1) * 4 && !software.contains_key(&peer) {
            software.clear();
        }
        software.insert(peer, (name.to_string(), version.to_string()));
    }

    /// The subscription of one client: the static one plus every matching
    /// resource; no metrics when nothing matches (the client then pushes
    /// nothing), at Kafka's default interval.
    fn resolve(&self, caller: &Caller<'_>, id: Uuid) -> Resolved {
        let (software_name, software_version) = self
            .software
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&caller.peer)
            .cloned()
            .unwrap_or_default();
        let identity = subscriptions::ClientIdentity {
            client_instance_id: id.to_string(),
            client_id: caller.client_id.to_string(),
            software_name,
            software_version,
            source_address: caller.peer.ip().to_string(),
            source_port: caller.peer.port().to_string(),
        };
        // The static subscription first: its metrics lead the list.
        let mut all = Vec::new();
        if !self.config.metrics.is_empty() {
            all.push(subscriptions::Subscription::everyone(
                self.config.metrics.clone(),
                self.config.push_interval_ms,
            ));
        }
        all.extend(subscriptions::all(caller.resources));
        match subscriptions::for_client(&all, &identity) {
            Some((metrics, interval_ms)) => Resolved {
                metrics,
                interval_ms,
            },
            None => Resolved {
                metrics: Vec::new(),
                interval_ms: subscriptions::DEFAULT_INTERVAL_MS,
            },
        }
    }

    pub fn get_subscriptions(
        &self,
        request: &GetTelemetrySubscriptionsRequest,
        caller: &Caller<'_>,
    ) -> GetTelemetrySubscriptionsResponse {
        let response = GetTelemetrySubscriptionsResponse::default();
        if !self.enabled(!caller.resources.is_empty()) {
            return response.with_error_code(error_codes::UNSUPPORTED_VERSION);
        }
        let now = Instant::now();
        let id = if request.client_instance_id.is_nil() {
            Uuid::new_v4()
        } else {
            request.client_instance_id
        };
        let resolved = self.resolve(caller, id);
        let mut instances = self.lock();
        let instance = self.instance(&mut instances, id, caller.client_id, &resolved, now);
        tracing::debug!(client_instance_id = %id, client_id = caller.client_id, "GetTelemetrySubscriptions");
        if !instance.accept_get(now, interval(&resolved)) {
            return response.with_error_code(error_codes::THROTTLING_QUOTA_EXCEEDED);
        }
        instance.last_error = error_codes::NONE;
        response
            .with_client_instance_id(id)
            .with_subscription_id(instance.subscription_id)
            .with_accepted_compression_types(
                ACCEPTED_COMPRESSION.iter().map(|c| c.id() as i8).collect(),
            )
            .with_push_interval_ms(resolved.interval_ms)
            .with_telemetry_max_bytes(self.config.max_bytes)
            // Cumulative sums are Prometheus counters as they come; deltas
            // would have to be added up here (Kafka asks for deltas).
            .with_delta_temporality(false)
            .with_requested_metrics(
                resolved
                    .metrics
                    .iter()
                    .map(|m| StrBytes::from_string(m.clone()))
                    .collect(),
            )
    }

    pub fn push(
        &self,
        request: &PushTelemetryRequest,
        caller: &Caller<'_>,
    ) -> PushTelemetryResponse {
        let client_id = caller.client_id;
        let error = self.push_error(request, caller);
        tracing::debug!(
            client_instance_id = %request.client_instance_id,
            client_id,
            bytes = request.metrics.len(),
            terminating = request.terminating,
            error,
            "PushTelemetry"
        );
        PushTelemetryResponse::default().with_error_code(error)
    }

    fn push_error(&self, request: &PushTelemetryRequest, caller: &Caller<'_>) -> i16 {
        if !self.enabled(!caller.resources.is_empty()) {
            return error_codes::UNSUPPORTED_VERSION;
        }
        let client_id = caller.client_id;
        let id = request.client_instance_id;
        if id.is_nil() || id == ONE_UUID {
            return error_codes::INVALID_REQUEST;
        }
        let now = Instant::now();
        let resolved = self.resolve(caller, id);
        let compression = {
            let mut instances = self.lock();
            let instance = self.instance(&mut instances, id, client_id, &resolved, now);
            let checked = self.check_push(instance, request, interval(&resolved), now);
            // Whatever the outcome, the flag is the last push's, as in
            // Kafka: after a terminating push the next one is refused.
            instance.terminating = request.terminating;
            match checked {
                Ok(compression) => compression,
                Err(error) => {
                    instance.last_error = error;
                    return error;
                }
            }
        };
        // Decompressed and decoded outside the lock: a payload can be large.
        let decoded = if request.metrics.is_empty() {
            Ok(None)
        } else {
            self.decode(compression, &request.metrics).map(Some)
        };
        let mut instances = self.lock();
        let instance = self.instance(&mut instances, id, client_id, &resolved, now);
        match decoded {
            Ok(points) => {
                if let Some(points) = points {
                    instance.points = points;
                }
                instance.last_error = error_codes::NONE;
                error_codes::NONE
            }
            Err(error) => {
                instance.last_error = error;
                error
            }
        }
    }

    /// Kafka's checks, in its order.
    fn check_push(
        &self,
        instance: &mut Instance,
        request: &PushTelemetryRequest,
        interval: std::time::Duration,
        now: Instant,
    ) -> Result<Compression, i16> {
        if instance.terminating {
            return Err(error_codes::INVALID_REQUEST);
        }
        if !instance.accept_push(now, interval) && !request.terminating {
            return Err(error_codes::THROTTLING_QUOTA_EXCEEDED);
        }
        if request.subscription_id != instance.subscription_id {
            return Err(error_codes::UNKNOWN_SUBSCRIPTION_ID);
        }
        let compression = Compression::from_id(request.compression_type.into())
            .ok_or(error_codes::UNSUPPORTED_COMPRESSION_TYPE)?;
        if request.metrics.len() > self.config.max_bytes.max(0) as usize {
            return Err(error_codes::TELEMETRY_TOO_LARGE);
        }
        Ok(compression)
    }

    /// The payload's points; a payload that expands past
    /// `telemetry.max.bytes` is TELEMETRY_TOO_LARGE, an unreadable one
    /// INVALID_RECORD (which makes clients stop pushing), as in Kafka.
    fn decode(&self, compression: Compression, payload: &[u8]) -> Result<Vec<Point>, i16> {
        let max = self.config.max_bytes.max(0) as usize;
        let raw = compression
            .decompress_limited(payload, max)
            .map_err(|err| {
                if err.downcast_ref::<OverLimit>().is_some() {
                    error_codes::TELEMETRY_TOO_LARGE
                } else {
                    error_codes::INVALID_RECORD
                }
            })?;
        // What one instance keeps is bounded by the payload size limit too.
        let limits = otlp::Limits {
            max_points: self.config.max_series_per_client,
            max_bytes: max,
        };
        otlp::decode(&raw, limits).map_err(|_| error_codes::INVALID_RECORD)
    }

    /// The instance `id`, made if new. Expired instances go first; when
    /// `max_clients` are still tracked, the one silent longest makes room.
    /// An instance whose subscription changed starts over with the new one
    /// (and its id), as Kafka's does: the client's next push with the old
    /// id is UNKNOWN_SUBSCRIPTION_ID and it asks again.
    fn instance<'a>(
        &self,
        instances: &'a mut HashMap<Uuid, Instance>,
        id: Uuid,
        client_id: &str,
        resolved: &Resolved,
        now: Instant,
    ) -> &'a mut Instance {
        if !instances.contains_key(&id) {
            let expiry = self.config.expiry();
            instances.retain(|_, i| now.duration_since(i.last_seen) < expiry);
            if instances.len() >= self.config.max_clients {
                let oldest = instances
                    .iter()
                    .min_by_key(|(_, i)| i.last_seen)
                    .map(|(id, _)| *id);
                if let Some(oldest) = oldest {
                    instances.remove(&oldest);
                }
            }
        }
        let subscription_id = subscription_id(resolved, id);
        if instances
            .get(&id)
            .is_some_and(|i| i.subscription_id != subscription_id)
        {
            instances.remove(&id);
        }
        let instance = instances
            .entry(id)
            .or_insert_with(|| Instance::new(client_id, subscription_id, now));
        instance.last_seen = now;
        instance
    }

    /// What every live client instance pushed last.
    pub fn snapshot(&self) -> Vec<ClientPoints> {
        // Instances exist only while telemetry is on; none means nothing to show.
        if !self.enabled(true) {
            return Vec::new();
        }
        let now = Instant::now();
        let expiry = self.config.expiry();
        let mut instances = self.lock();
        instances.retain(|_, i| now.duration_since(i.last_seen) < expiry);
        instances
            .iter()
            .filter(|(_, i)| !i.points.is_empty())
            .map(|(id, i)| ClientPoints {
                client_instance_id: *id,
                client_id: i.client_id.clone(),
                points: i.points.clone(),
            })
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Instance>> {
        // The map stays consistent if a holder panicked: every change to
        // it is a single insert, remove or field write.
        self.instances
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn interval(resolved: &Resolved) -> std::time::Duration {
    std::time::Duration::from_millis(resolved.interval_ms.max(0) as u64)
}

/// Kafka's recipe: the CRC32C of the subscription (metrics and interval)
/// XOR the instance id's Java hash code, so the id a client holds survives
/// a broker restart while its subscription is the same, and changes with it.
fn subscription_id(resolved: &Resolved, id: Uuid) -> i32 {
    let text = format!("[{}]{}", resolved.metrics.join(", "), resolved.interval_ms);
    let crc = crc32c::crc32c(text.as_bytes()) as i32;
    let (msb, lsb) = id.as_u64_pair();
    let bits = msb ^ lsb;
    crc ^ ((bits >> 32) as i32 ^ bits as i32)
}
