//! Client quotas on the broker (Kafka's ClientQuotaManager and
//! ClientRequestQuotaManager): produce and fetch byte rates and request
//! time per (user, client id), as the metadata image's quotas say.
//! `rate` and `resolve` are the pure parts; `enforce` applies them to a
//! request and its reply.

pub mod connection_limits;
pub mod connection_rate;
pub mod enforce;
pub mod mutation;
pub mod rate;
pub mod resolve;
pub mod throttle_field;
pub mod token_bucket;

use rate::SampledRate;
use resolve::{resolve, Quotas};
use std::collections::HashMap;
use std::sync::Mutex;
use token_bucket::TokenBucket;

/// What a quota limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Produce,
    Fetch,
    Request,
}

impl Kind {
    fn key(self) -> &'static str {
        use gregor_metadata::client_quota as q;
        match self {
            Kind::Produce => q::PRODUCER_BYTE_RATE,
            Kind::Fetch => q::CONSUMER_BYTE_RATE,
            Kind::Request => q::REQUEST_PERCENTAGE,
        }
    }
}

/// Above this many rates, idle ones are dropped (Kafka expires quota
/// sensors after an hour of inactivity).
const SWEEP_ABOVE: usize = 4096;

/// The rates of every (kind, user tag, client tag) with a quota.
pub struct ClientQuotas {
    samples: usize,
    window_ms: i64,
    rates: Mutex<HashMap<(Kind, String, String), SampledRate>>,
    /// Controller mutation quotas, per (user tag, client tag).
    mutations: Mutex<HashMap<(String, String), TokenBucket>>,
    /// New connections per address with a `connection_creation_rate`.
    connections: Mutex<HashMap<std::net::IpAddr, SampledRate>>,
    /// `controller.quota.window.num × controller.quota.window.size.seconds`:
    /// a mutation bucket holds that many seconds of its rate.
    mutation_burst_seconds: f64,
}

impl ClientQuotas {
    /// `quota.window.num` windows of `quota.window.size.seconds`.
    pub fn new(samples: usize, window_ms: i64) -> ClientQuotas {
        ClientQuotas {
            samples: samples.max(1),
            window_ms: window_ms.max(1),
            rates: Mutex::new(HashMap::new()),
            mutations: Mutex::new(HashMap::new()),
            connections: Mutex::new(HashMap::new()),
            mutation_burst_seconds: 11.0,
        }
    }

    pub fn from_config(config: &crate::config::BrokerConfig) -> ClientQuotas {
        let samples = config
            .value("quota.window.num")
            .parse::<usize>()
            .unwrap_or(11);
        let seconds = config
            .value("quota.window.size.seconds")
            .parse::<i64>()
            .unwrap_or(1);
        let mutation_samples = config
            .value("controller.quota.window.num")
            .parse::<f64>()
            .unwrap_or(11.0);
        let mutation_seconds = config
            .value("controller.quota.window.size.seconds")
            .parse::<f64>()
            .unwrap_or(1.0);
        ClientQuotas {
            mutation_burst_seconds: mutation_samples * mutation_seconds,
            ..ClientQuotas::new(samples, seconds.saturating_mul(1000))
        }
    }

    /// Records `value` against the quota of `kind` that applies to
    /// (user, client id) and returns the throttle time in ms; 0 when no
    /// quota applies or the rate is within it. The request quota's
    /// throttle is capped at one window, as Kafka's.
    pub fn record(
        &self,
        quotas: &Quotas,
        kind: Kind,
        user: &str,
        client_id: &str,
        value: f64,
        now_ms: i64,
    ) -> u64 {
        let Some(resolved) = resolve(quotas, user, client_id, kind.key()) else {
            return 0;
        };
        let mut rates = self.rates.lock().unwrap_or_else(|p| p.into_inner());
        if rates.len() > SWEEP_ABOVE {
            rates.retain(|_, rate| !rate.is_idle(now_ms));
        }
        let rate = rates
            .entry((kind, resolved.user_tag, resolved.client_tag))
            .or_insert_with(|| SampledRate::new(self.samples, self.window_ms));
        rate.record(value, now_ms);
        let throttle = rate.throttle_ms(resolved.bound, now_ms);
        match kind {
            Kind::Request => throttle.min(self.window_ms as u64),
            _ => throttle,
        }
    }

    /// Takes back a recorded value (a throttled fetch returns no data).
    pub fn unrecord(
        &self,
        quotas: &Quotas,
        kind: Kind,
        user: &str,
        client_id: &str,
        value: f64,
        now_ms: i64,
    ) {
        let Some(resolved) = resolve(quotas, user, client_id, kind.key()) else {
            return;
        };
        let mut rates = self.rates.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(rate) = rates.get_mut(&(kind, resolved.user_tag, resolved.client_tag)) {
            rate.record(-value, now_ms);
        }
    }

    /// Kafka's `getMaxValueInQuotaWindow`: the most a fetch may return,
    /// the quota over `samples - 1` windows; `None` without a quota.
    pub fn max_value_in_window(
        &self,
        quotas: &Quotas,
        kind: Kind,
        user: &str,
        client_id: &str,
    ) -> Option<f64> {
        let resolved = resolve(quotas, user, client_id, kind.key())?;
        let seconds = self.window_ms as f64 / 1000.0;
        Some(resolved.bound * (self.samples as f64 - 1.0) * seconds)
    }

    /// Counts a new connection from `ip` against its
    /// `connection_creation_rate`; the throttle time (capped at one window)
    /// when it goes over, in which case the connection is not counted, as
    /// Kafka's ConnectionQuotas. 0 without a quota.
    pub fn record_connection(&self, quotas: &Quotas, ip: std::net::IpAddr, now_ms: i64) -> u64 {
        let Some(bound) = connection_rate::ip_quota(quotas, ip) else {
            return 0;
        };
        let mut connections = self.connections.lock().unwrap_or_else(|p| p.into_inner());
        if connections.len() > SWEEP_ABOVE {
            connections.retain(|_, rate| !rate.is_idle(now_ms));
        }
        let rate = connections
            .entry(ip)
            .or_insert_with(|| SampledRate::new(self.samples, self.window_ms));
        rate.record(1.0, now_ms);
        let throttle = rate.throttle_ms(bound, now_ms).min(self.window_ms as u64);
        if throttle > 0 {
            rate.record(-1.0, now_ms);
        }
        throttle
    }

    /// Kafka's controller mutation quota for `permits` partitions created
    /// or deleted by (user, client id). Strict (the request versions that
    /// can carry THROTTLING_QUOTA_EXCEEDED): refused, with the throttle
    /// time, while the bucket is already below zero. Permissive: always
    /// taken, with the throttle time once the bucket is below zero.
    pub fn record_mutation(
        &self,
        quotas: &Quotas,
        user: &str,
        client_id: &str,
        permits: f64,
        strict: bool,
        now_ms: i64,
    ) -> Mutation {
        let Some(resolved) = resolve(
            quotas,
            user,
            client_id,
            gregor_metadata::client_quota::CONTROLLER_MUTATION_RATE,
        ) else {
            return Mutation::Accepted { throttle_ms: 0 };
        };
        let quota = resolved.bound;
        let burst = self.mutation_burst_seconds * quota;
        let mut buckets = self.mutations.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = buckets
            .entry((resolved.user_tag, resolved.client_tag))
            .or_default();
        let tokens = bucket.tokens(quota, burst, now_ms);
        if strict && tokens < 0.0 {
            return Mutation::Refused {
                throttle_ms: token_bucket::throttle_ms(tokens, quota),
            };
        }
        bucket.take(permits, quota, burst, now_ms);
        let after = bucket.tokens(quota, burst, now_ms);
        Mutation::Accepted {
            throttle_ms: if strict {
                0
            } else {
                token_bucket::throttle_ms(after, quota)
            },
        }
    }
}

/// The outcome of a controller mutation against its quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutation {
    Accepted { throttle_ms: u64 },
    Refused { throttle_ms: u64 },
}
