//! Kafka's RequestMetrics (`kafka.network:type=RequestMetrics`), named as
//! the Prometheus JMX exporter's Kafka rules render them:
//!
//! - `kafka_network_requestmetrics_requests_total{request,version}` (RequestsPerSec);
//! - `kafka_network_requestmetrics_errors_total{request,error}` (ErrorsPerSec:
//!   one per error code in a response, NONE included, as Kafka's
//!   `errorCounts`, see [`super::error_counts`]);
//! - `kafka_network_requestmetrics_<part>timems{request,quantile}` and
//!   `..._count{request}` for TotalTimeMs, RequestQueueTimeMs, LocalTimeMs,
//!   RemoteTimeMs and ResponseSendTimeMs (quantiles: [`super::window`]);
//!
//! plus `gregor_request_duration_seconds{api}`, a histogram of the total
//! time with fixed buckets, which sums and aggregates across brokers where
//! quantiles do not.
//!
//! Every API has a slot resolved once by its key, so a request costs a few
//! atomic increments and five short locks, with no map lookup and no
//! allocation once its series exist.

use super::window::{Window, QUANTILES};
use kafka_protocol::messages::ApiKey;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

type Labels = [(&'static str, Cow<'static, str>); 2];
type Label = [(&'static str, Cow<'static, str>); 1];
/// A time histogram: its series name, Kafka's name, its window.
type Part = (&'static str, &'static str, fn(&Times) -> &Window);

/// `gregor_request_duration_seconds` buckets: from sub-millisecond local
/// answers up to the longest fetch waits and produce timeouts.
const DURATION_BUCKETS: [f64; 16] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0,
];

/// Versions above this share the last slot's lazily created counter.
const VERSION_SLOTS: usize = 32;
/// Error codes -1..=ERROR_SLOTS-2 have a slot; others go through the family.
const ERROR_SLOTS: usize = 160;

/// When a request's stages ended, as the connection saw them.
pub struct Timing {
    /// The request's frame was fully read.
    pub received: Instant,
    /// It was decoded and handed to its handler.
    pub dispatched: Instant,
    /// The handler answered.
    pub handled: Instant,
    /// Time spent inside the handler's polls (its CPU time on this runtime).
    pub busy: Duration,
    /// The response was written and flushed (or `handled`: no response).
    pub sent: Instant,
}

/// Kafka's time histograms: the parts of a request's life.
#[derive(Default)]
struct Times {
    total: Window,
    queue: Window,
    local: Window,
    remote: Window,
    send: Window,
}

/// One RequestMetrics name (`Produce`, `FetchConsumer`, ...).
struct Slot {
    name: Cow<'static, str>,
    versions: [OnceLock<Counter>; VERSION_SLOTS],
    errors: [OnceLock<Counter>; ERROR_SLOTS],
    times: Times,
    duration: OnceLock<Histogram>,
}

impl Slot {
    fn new(name: String) -> Slot {
        Slot {
            name: Cow::Owned(name),
            versions: std::array::from_fn(|_| OnceLock::new()),
            errors: std::array::from_fn(|_| OnceLock::new()),
            times: Times::default(),
            duration: OnceLock::new(),
        }
    }
}

/// The request families and one slot per API key (plus Kafka's
/// `FetchConsumer`/`FetchFollower` split of Fetch).
pub struct RequestMetrics {
    requests: Family<Labels, Counter>,
    errors: Family<Labels, Counter>,
    duration: Family<Label, Histogram, fn() -> Histogram>,
    /// Indexed by API key.
    apis: Vec<Option<Slot>>,
    fetch_consumer: Slot,
    fetch_follower: Slot,
    /// Nanoseconds spent in handlers' polls, for the handler idle ratio.
    handler_busy_nanos: AtomicU64,
}

impl Default for RequestMetrics {
    fn default() -> Self {
        RequestMetrics::new()
    }
}

fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

/// Kafka's `ApiKeys.name`: the message name without `Request`, which is
/// kafka-protocol's variant name.
pub fn api_name(key: ApiKey) -> String {
    format!("{key:?}")
}

impl RequestMetrics {
    pub fn new() -> RequestMetrics {
        let mut apis: Vec<Option<Slot>> = Vec::new();
        for key in ApiKey::iter() {
            let index = key as i16 as usize;
            if apis.len() <= index {
                apis.resize_with(index + 1, || None);
            }
            apis[index] = Some(Slot::new(api_name(key)));
        }
        RequestMetrics {
            requests: Family::default(),
            errors: Family::default(),
            duration: Family::new_with_constructor(duration_histogram),
            apis,
            fetch_consumer: Slot::new("FetchConsumer".to_string()),
            fetch_follower: Slot::new("FetchFollower".to_string()),
            handler_busy_nanos: AtomicU64::new(0),
        }
    }

    /// Registers the counted families (the time quantiles are built per
    /// scrape by [`RequestMetrics::snapshot`]).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "kafka_network_requestmetrics_requests",
            "Requests handled, by API name and version (Kafka's RequestsPerSec count)",
            self.requests.clone(),
        );
        registry.register(
            "kafka_network_requestmetrics_errors",
            "Error codes in responses, NONE included (Kafka's ErrorsPerSec count)",
            self.errors.clone(),
        );
        registry.register(
            "gregor_request_duration_seconds",
            "Time from a request fully read to its response written, by API",
            self.duration.clone(),
        );
    }

    fn slot(&self, api_key: i16) -> Option<&Slot> {
        usize::try_from(api_key)
            .ok()
            .and_then(|i| self.apis.get(i))
            .and_then(Option::as_ref)
    }

    /// One handled request. `fetch_from_follower` is `Some` for Fetch:
    /// Kafka counts a fetch under `Fetch` and under `FetchFollower` or
    /// `FetchConsumer`.
    pub fn record(
        &self,
        api_key: i16,
        version: i16,
        fetch_from_follower: Option<bool>,
        timing: &Timing,
    ) {
        let Some(slot) = self.slot(api_key) else {
            return;
        };
        self.handler_busy_nanos.fetch_add(
            u64::try_from(timing.busy.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        let total = timing.sent.saturating_duration_since(timing.received);
        slot.duration
            .get_or_init(|| {
                self.duration
                    .get_or_create_owned(&[("api", slot.name.clone())])
            })
            .observe(total.as_secs_f64());
        self.record_in(slot, version, timing);
        match fetch_from_follower {
            Some(true) => self.record_in(&self.fetch_follower, version, timing),
            Some(false) => self.record_in(&self.fetch_consumer, version, timing),
            None => {}
        }
    }

    fn record_in(&self, slot: &Slot, version: i16, timing: &Timing) {
        let index = usize::try_from(version).unwrap_or(0).min(VERSION_SLOTS - 1);
        match slot.versions.get(index) {
            Some(cell) if index < VERSION_SLOTS - 1 => {
                cell.get_or_init(|| {
                    self.requests
                        .get_or_create_owned(&version_labels(slot, version))
                })
                .inc();
            }
            // A version past the slots: rare enough for a family lookup.
            _ => {
                self.requests
                    .get_or_create(&version_labels(slot, version))
                    .inc();
            }
        }
        let handling = timing.handled.saturating_duration_since(timing.dispatched);
        let times = &slot.times;
        times
            .total
            .record(ms(timing.sent.saturating_duration_since(timing.received)));
        times.queue.record(ms(timing
            .dispatched
            .saturating_duration_since(timing.received)));
        times.local.record(ms(timing.busy.min(handling)));
        times
            .remote
            .record(ms(handling.saturating_sub(timing.busy)));
        times
            .send
            .record(ms(timing.sent.saturating_duration_since(timing.handled)));
    }

    /// `count` responses of `api_key` carried error `code` (Kafka counts
    /// errors under the API name only, not the fetch split).
    pub fn error(&self, api_key: i16, code: i16, count: u64) {
        let Some(slot) = self.slot(api_key) else {
            return;
        };
        let labels = || {
            [
                ("request", slot.name.clone()),
                ("error", Cow::Owned(gregor_client::error_name(code))),
            ]
        };
        match usize::try_from(i32::from(code) + 1)
            .ok()
            .and_then(|i| slot.errors.get(i))
        {
            Some(cell) => {
                cell.get_or_init(|| self.errors.get_or_create_owned(&labels()))
                    .inc_by(count);
            }
            None => {
                self.errors.get_or_create(&labels()).inc_by(count);
            }
        }
    }

    /// Nanoseconds handlers have spent in their polls since start.
    pub fn handler_busy_nanos(&self) -> u64 {
        self.handler_busy_nanos.load(Ordering::Relaxed)
    }

    /// The time quantiles and counts of every name that handled a request.
    pub fn snapshot(&self, registry: &mut Registry) {
        let parts: [Part; 5] = [
            ("totaltimems", "TotalTimeMs", |t| &t.total),
            ("requestqueuetimems", "RequestQueueTimeMs", |t| &t.queue),
            ("localtimems", "LocalTimeMs", |t| &t.local),
            ("remotetimems", "RemoteTimeMs", |t| &t.remote),
            ("responsesendtimems", "ResponseSendTimeMs", |t| &t.send),
        ];
        let slots = self
            .apis
            .iter()
            .flatten()
            .chain([&self.fetch_consumer, &self.fetch_follower]);
        let families: Vec<_> = parts
            .iter()
            .map(|_| {
                (
                    Family::<Labels, Gauge<f64, AtomicU64>>::default(),
                    Family::<Label, Gauge<i64>>::default(),
                )
            })
            .collect();
        for slot in slots {
            for ((_, _, window), (quantiles, counts)) in parts.iter().zip(&families) {
                let (count, values) = window(&slot.times).snapshot();
                if count == 0 {
                    continue;
                }
                counts
                    .get_or_create(&[("request", slot.name.clone())])
                    .set(i64::try_from(count).unwrap_or(i64::MAX));
                for ((_, label), value) in QUANTILES.iter().zip(values) {
                    quantiles
                        .get_or_create(&[
                            ("request", slot.name.clone()),
                            ("quantile", Cow::Borrowed(*label)),
                        ])
                        .set(value);
                }
            }
        }
        for ((name, kafka, _), (quantiles, counts)) in parts.iter().zip(families) {
            registry.register(
                format!("kafka_network_requestmetrics_{name}"),
                format!("Kafka's {kafka} quantiles over the last 1028 requests, in ms"),
                quantiles,
            );
            registry.register(
                format!("kafka_network_requestmetrics_{name}_count"),
                format!("Requests timed in {kafka} since start (a counter, typed gauge so its name keeps Kafka's _count)"),
                counts,
            );
        }
    }
}

fn version_labels(slot: &Slot, version: i16) -> Labels {
    [
        ("request", slot.name.clone()),
        ("version", Cow::Owned(version.to_string())),
    ]
}

/// Kafka's `nanosToMs`: milliseconds with microsecond precision.
fn ms(d: Duration) -> f64 {
    d.as_micros() as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(metrics: &RequestMetrics) -> String {
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        metrics.snapshot(&mut registry);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
        out
    }

    #[test]
    fn fetch_counts_under_fetch_and_its_split() {
        let metrics = RequestMetrics::new();
        let now = Instant::now();
        let timing = Timing {
            received: now,
            dispatched: now,
            handled: now + Duration::from_millis(4),
            busy: Duration::from_millis(1),
            sent: now + Duration::from_millis(5),
        };
        metrics.record(ApiKey::Fetch as i16, 17, Some(true), &timing);
        metrics.record(ApiKey::Produce as i16, 11, None, &timing);
        metrics.error(ApiKey::Produce as i16, 0, 3);
        metrics.error(ApiKey::Produce as i16, 3, 1);
        let text = render(&metrics);
        for line in [
            r#"kafka_network_requestmetrics_requests_total{request="Fetch",version="17"} 1"#,
            r#"kafka_network_requestmetrics_requests_total{request="FetchFollower",version="17"} 1"#,
            r#"kafka_network_requestmetrics_requests_total{request="Produce",version="11"} 1"#,
            r#"kafka_network_requestmetrics_errors_total{request="Produce",error="NONE"} 3"#,
            r#"kafka_network_requestmetrics_errors_total{request="Produce",error="UNKNOWN_TOPIC_OR_PARTITION"} 1"#,
            r#"kafka_network_requestmetrics_totaltimems{request="Produce",quantile="0.99"} 5.0"#,
            r#"kafka_network_requestmetrics_remotetimems{request="Fetch",quantile="0.50"} 3.0"#,
            r#"kafka_network_requestmetrics_totaltimems_count{request="FetchFollower"} 1"#,
            r#"gregor_request_duration_seconds_count{api="Produce"} 1"#,
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
        assert!(!text.contains("FetchConsumer"), "{text}");
    }
}
