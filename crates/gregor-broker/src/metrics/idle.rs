//! Kafka's idle ratios, for a broker without thread pools:
//!
//! - `kafka_network_socketserver_networkprocessoravgidle_percent`
//!   (NetworkProcessorAvgIdlePercent): the fraction of time the main tokio
//!   runtime's worker threads were parked, from tokio's stable
//!   `RuntimeMetrics::worker_total_busy_duration`. Those threads do the
//!   socket work Kafka's network processors do (and the rest).
//! - `kafka_server_kafkarequesthandlerpool_requesthandleravgidle_percent`
//!   (RequestHandlerAvgIdlePercent): one minus the time spent inside
//!   request handlers' polls (measured per request by the connection)
//!   over the workers' wall time; it says how much of the runtime request
//!   handling takes.
//!
//! Both are averaged over the time since the previous scrape (or start),
//! at least [`MIN_INTERVAL`]; a scrape sooner than that repeats the last
//! values. Like Kafka's, they are fractions between 0 and 1.

use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const MIN_INTERVAL: Duration = Duration::from_millis(500);

struct Mark {
    at: Instant,
    workers_busy: Duration,
    handler_busy_nanos: u64,
    network_idle: f64,
    handler_idle: f64,
}

pub struct IdleRatios {
    last: Mutex<Option<Mark>>,
}

impl Default for IdleRatios {
    fn default() -> Self {
        IdleRatios {
            last: Mutex::new(None),
        }
    }
}

/// The busy time of every worker of the runtime this runs on, and how many.
fn workers_busy() -> (Duration, usize) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return (Duration::ZERO, 0);
    };
    let metrics = runtime.metrics();
    let workers = metrics.num_workers();
    let busy = (0..workers)
        .map(|w| metrics.worker_total_busy_duration(w))
        .sum();
    (busy, workers)
}

impl IdleRatios {
    /// The two gauges, updated; `handler_busy_nanos` is the handlers' total.
    pub fn snapshot(&self, handler_busy_nanos: u64, started: Instant, registry: &mut Registry) {
        let (busy, workers) = workers_busy();
        let now = Instant::now();
        let (network_idle, handler_idle) = match self.last.lock() {
            Ok(mut last) => {
                let (from, from_busy, from_handler) = match last.as_ref() {
                    Some(m) => (m.at, m.workers_busy, m.handler_busy_nanos),
                    None => (started, Duration::ZERO, 0),
                };
                match last.as_ref() {
                    Some(m) if now.saturating_duration_since(m.at) < MIN_INTERVAL => {
                        (m.network_idle, m.handler_idle)
                    }
                    _ => {
                        let wall = now.saturating_duration_since(from).as_secs_f64()
                            * workers.max(1) as f64;
                        let idle = |spent: f64| {
                            if wall > 0.0 {
                                (1.0 - spent / wall).clamp(0.0, 1.0)
                            } else {
                                1.0
                            }
                        };
                        let network = idle(busy.saturating_sub(from_busy).as_secs_f64());
                        let handler =
                            idle(handler_busy_nanos.saturating_sub(from_handler) as f64 / 1e9);
                        *last = Some(Mark {
                            at: now,
                            workers_busy: busy,
                            handler_busy_nanos,
                            network_idle: network,
                            handler_idle: handler,
                        });
                        (network, handler)
                    }
                }
            }
            Err(_) => return,
        };
        let network = Gauge::<f64, AtomicU64>::default();
        network.set(network_idle);
        let handler = Gauge::<f64, AtomicU64>::default();
        handler.set(handler_idle);
        registry.register(
            "kafka_network_socketserver_networkprocessoravgidle_percent",
            "Fraction of time the runtime's worker threads were idle since the previous scrape",
            network,
        );
        registry.register(
            "kafka_server_kafkarequesthandlerpool_requesthandleravgidle_percent",
            "One minus the time spent handling requests over the workers' time since the previous scrape",
            handler,
        );
    }
}
