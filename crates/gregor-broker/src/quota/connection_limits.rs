//! Kafka's broker connection limits (`ConnectionQuotas`; KIP-308, KIP-402,
//! KIP-612), each broker-wide and per listener
//! (`listener.name.<listener>.<name>`), static or dynamic:
//!
//! - `max.connections`: while the broker (or the listener) holds that many
//!   connections, the listener accepts no more; waiting clients stay in the
//!   kernel's backlog until one closes;
//! - `max.connections.per.ip` and `max.connections.per.ip.overrides`
//!   (`address:count,...`): a connection beyond its address's limit is closed
//!   at once;
//! - `max.connection.creation.rate`: a connection that takes the broker (or
//!   the listener) over the rate is served only after the throttle time, as
//!   Kafka's acceptor waits that long before accepting the next one.
//!
//! As in Kafka, the controller listeners, and the inter-broker listener when
//! the broker has other client listeners, are not counted against the
//! broker-wide limits (their peers are the cluster's own); their
//! listener-level limits apply.

use super::rate::SampledRate;
use crate::config::{listener_key, BrokerConfig};
use crate::log_config::BrokerLayers;
use gregor_metadata::MetadataImage;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

pub const MAX_CONNECTIONS: &str = "max.connections";
pub const MAX_CONNECTIONS_PER_IP: &str = "max.connections.per.ip";
pub const MAX_CONNECTIONS_PER_IP_OVERRIDES: &str = "max.connections.per.ip.overrides";
pub const MAX_CONNECTION_CREATION_RATE: &str = "max.connection.creation.rate";

/// The limits in force for one listener (Kafka's defaults: no limit).
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Whether the broker-wide limits apply (not on the controller
    /// listeners, nor on the inter-broker one when there are others).
    pub broker_wide: bool,
    pub broker_max: u64,
    pub listener_max: u64,
    pub per_ip_max: u64,
    pub per_ip_overrides: HashMap<IpAddr, u64>,
    pub broker_rate: f64,
    pub listener_rate: f64,
}

impl Limits {
    /// None at all.
    pub fn unlimited() -> Limits {
        Limits {
            broker_wide: false,
            broker_max: u64::MAX,
            listener_max: u64::MAX,
            per_ip_max: u64::MAX,
            per_ip_overrides: HashMap::new(),
            broker_rate: f64::INFINITY,
            listener_rate: f64::INFINITY,
        }
    }

    /// The effective limits of `listener`: dynamic configs over static
    /// ones over Kafka's defaults.
    pub fn of(
        config: &BrokerConfig,
        image: &MetadataImage,
        listener: &str,
        broker_wide: bool,
    ) -> Limits {
        let layers = BrokerLayers::new(image, config);
        let value = |name: &str| layers.value(name);
        let count = |name: &str| {
            value(name)
                .and_then(|v| v.trim().parse::<i64>().ok())
                .map_or(u64::MAX, |n| n.max(0) as u64)
        };
        let rate = |name: &str| {
            value(name)
                .and_then(|v| v.trim().parse::<i64>().ok())
                .map_or(f64::INFINITY, |n| n.max(0) as f64)
        };
        Limits {
            broker_wide,
            broker_max: count(MAX_CONNECTIONS),
            listener_max: count(&listener_key(listener, MAX_CONNECTIONS)),
            per_ip_max: count(MAX_CONNECTIONS_PER_IP),
            per_ip_overrides: value(MAX_CONNECTIONS_PER_IP_OVERRIDES)
                .map(|v| parse_overrides(&v))
                .unwrap_or_default(),
            broker_rate: rate(MAX_CONNECTION_CREATION_RATE),
            listener_rate: rate(&listener_key(listener, MAX_CONNECTION_CREATION_RATE)),
        }
    }

    fn per_ip(&self, ip: IpAddr) -> u64 {
        self.per_ip_overrides
            .get(&ip)
            .copied()
            .unwrap_or(self.per_ip_max)
    }
}

/// `address:count,...`; entries that are not a literal address and a
/// count are skipped (Kafka also resolves host names).
pub fn parse_overrides(value: &str) -> HashMap<IpAddr, u64> {
    value
        .split(',')
        .filter_map(|entry| {
            let (host, count) = entry.trim().rsplit_once(':')?;
            let ip = host.trim().trim_matches(['[', ']']).parse().ok()?;
            Some((ip, count.trim().parse().ok()?))
        })
        .collect()
}

/// Checks `max.connections.per.ip.overrides`: Kafka refuses an entry that
/// is not `host:count`.
pub fn check_overrides(value: &str) -> Result<(), String> {
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let valid = entry
            .rsplit_once(':')
            .is_some_and(|(host, count)| !host.is_empty() && count.trim().parse::<u32>().is_ok());
        if !valid {
            return Err(format!(
                "Invalid value {value} for configuration {MAX_CONNECTIONS_PER_IP_OVERRIDES}: \
                 expected host:count entries"
            ));
        }
    }
    Ok(())
}

/// What to do with a connection just accepted.
#[derive(Debug, PartialEq)]
pub enum Admission {
    Serve,
    /// Over a creation rate: serve it after this long.
    ServeAfter(Duration),
    /// Over its address's `max.connections.per.ip` (`limit`): close it now.
    /// `first` for the first refusal since the address was last served, so
    /// a client retrying in a loop is logged once, not once per attempt.
    TooManyFromAddress {
        limit: u64,
        first: bool,
    },
}

#[derive(Default)]
struct Counts {
    /// Connections on listeners the broker-wide limit counts.
    broker: u64,
    listeners: HashMap<String, u64>,
    addresses: HashMap<IpAddr, u64>,
    /// Addresses refused since they were last served.
    refused: std::collections::HashSet<IpAddr>,
    broker_rate: Option<SampledRate>,
    listener_rates: HashMap<String, SampledRate>,
}

/// The open connections of every listener, and the creation rates.
pub struct ConnectionLimits {
    counts: Mutex<Counts>,
    freed: Notify,
    samples: usize,
    window_ms: i64,
}

/// A connection counted against the limits until it is dropped.
pub struct Slot {
    limits: Arc<ConnectionLimits>,
    listener: String,
    broker_wide: bool,
    address: Option<IpAddr>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.limits.lock();
        if self.broker_wide {
            counts.broker = counts.broker.saturating_sub(1);
        }
        decrement(&mut counts.listeners, &self.listener);
        if let Some(address) = self.address {
            decrement(&mut counts.addresses, &address);
        }
        drop(counts);
        self.limits.freed.notify_waiters();
    }
}

fn decrement<K: std::hash::Hash + Eq>(map: &mut HashMap<K, u64>, key: &K) {
    if let Some(n) = map.get_mut(key) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            map.remove(key);
        }
    }
}

/// How often a listener waiting for a free slot looks at the limits again
/// (a dynamic change may raise them).
const RECHECK: Duration = Duration::from_secs(1);

impl ConnectionLimits {
    /// Rates measured over `samples` windows of `window_ms` (the client
    /// quota windows, as Kafka).
    pub fn new(samples: usize, window_ms: i64) -> Arc<ConnectionLimits> {
        Arc::new(ConnectionLimits {
            counts: Mutex::new(Counts::default()),
            freed: Notify::new(),
            samples: samples.max(1),
            window_ms: window_ms.max(1),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A slot on `listener` as soon as the broker and the listener are
    /// below their `max.connections`; `limits` is read again at each try.
    /// Cancel-safe: nothing is counted until it returns.
    pub async fn wait_for_slot(
        self: &Arc<Self>,
        listener: &str,
        limits: impl Fn() -> Limits,
    ) -> Slot {
        loop {
            let freed = self.freed.notified();
            if let Some(slot) = self.try_slot(listener, &limits()) {
                return slot;
            }
            let _ = tokio::time::timeout(RECHECK, freed).await;
        }
    }

    /// A slot now, `None` when the broker or the listener is full.
    pub fn try_slot(self: &Arc<Self>, listener: &str, limits: &Limits) -> Option<Slot> {
        let mut counts = self.lock();
        let on_listener = counts.listeners.get(listener).copied().unwrap_or(0);
        if on_listener >= limits.listener_max
            || (limits.broker_wide && counts.broker >= limits.broker_max)
        {
            return None;
        }
        *counts.listeners.entry(listener.to_string()).or_default() += 1;
        if limits.broker_wide {
            counts.broker += 1;
        }
        Some(Slot {
            limits: self.clone(),
            listener: listener.to_string(),
            broker_wide: limits.broker_wide,
            address: None,
        })
    }

    /// Counts the accepted connection from `address` in its slot: closed at
    /// once beyond the address's limit, else served now or after the
    /// creation-rate throttle.
    pub fn admit(
        &self,
        slot: &mut Slot,
        address: IpAddr,
        limits: &Limits,
        now_ms: i64,
    ) -> Admission {
        let mut counts = self.lock();
        let from_address = counts.addresses.get(&address).copied().unwrap_or(0);
        let limit = limits.per_ip(address);
        if from_address >= limit {
            let first = counts.refused.insert(address);
            return Admission::TooManyFromAddress { limit, first };
        }
        counts.refused.remove(&address);
        *counts.addresses.entry(address).or_default() += 1;
        slot.address = Some(address);
        let (samples, window_ms) = (self.samples, self.window_ms);
        let mut throttle = 0;
        if limits.broker_wide && limits.broker_rate.is_finite() {
            let rate = counts
                .broker_rate
                .get_or_insert_with(|| SampledRate::new(samples, window_ms));
            rate.record(1.0, now_ms);
            throttle = throttle.max(rate.throttle_ms(limits.broker_rate, now_ms));
        }
        if limits.listener_rate.is_finite() {
            let rate = counts
                .listener_rates
                .entry(slot.listener.clone())
                .or_insert_with(|| SampledRate::new(samples, window_ms));
            rate.record(1.0, now_ms);
            throttle = throttle.max(rate.throttle_ms(limits.listener_rate, now_ms));
        }
        match throttle {
            0 => Admission::Serve,
            ms => Admission::ServeAfter(Duration::from_millis(ms)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            broker_wide: true,
            ..Limits::unlimited()
        }
    }

    #[test]
    fn the_broker_and_listener_maxima_hold_slots_back_until_one_is_freed() {
        let all = ConnectionLimits::new(11, 1000);
        let two = Limits {
            broker_max: 2,
            ..limits()
        };
        let a = all.try_slot("PLAINTEXT", &two).unwrap();
        let _b = all.try_slot("OTHER", &two).unwrap();
        assert!(all.try_slot("PLAINTEXT", &two).is_none());
        // The inter-broker listener is not counted broker-wide.
        let inter = Limits {
            broker_wide: false,
            ..two.clone()
        };
        assert!(all.try_slot("INTERNAL", &inter).is_some());
        drop(a);
        assert!(all.try_slot("PLAINTEXT", &two).is_some());
        let one_here = Limits {
            listener_max: 1,
            ..limits()
        };
        let _c = all.try_slot("SSL", &one_here).unwrap();
        assert!(all.try_slot("SSL", &one_here).is_none());
    }

    #[test]
    fn an_address_over_its_maximum_is_refused_and_an_override_wins() {
        let all = ConnectionLimits::new(11, 1000);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let other: IpAddr = "127.0.0.2".parse().unwrap();
        let one_each = Limits {
            per_ip_max: 1,
            per_ip_overrides: parse_overrides("127.0.0.2:2, bad, host:x"),
            ..limits()
        };
        let mut first = all.try_slot("PLAINTEXT", &one_each).unwrap();
        assert_eq!(all.admit(&mut first, ip, &one_each, 0), Admission::Serve);
        let mut second = all.try_slot("PLAINTEXT", &one_each).unwrap();
        let refused = |first| Admission::TooManyFromAddress { limit: 1, first };
        assert_eq!(all.admit(&mut second, ip, &one_each, 0), refused(true));
        // Refused again before it was served: not a first refusal (not logged).
        let mut retry = all.try_slot("PLAINTEXT", &one_each).unwrap();
        assert_eq!(all.admit(&mut retry, ip, &one_each, 0), refused(false));
        for _ in 0..2 {
            let mut slot = all.try_slot("PLAINTEXT", &one_each).unwrap();
            assert_eq!(all.admit(&mut slot, other, &one_each, 0), Admission::Serve);
            std::mem::forget(slot);
        }
        let mut third = all.try_slot("PLAINTEXT", &one_each).unwrap();
        assert_eq!(
            all.admit(&mut third, other, &one_each, 0),
            Admission::TooManyFromAddress {
                limit: 2,
                first: true
            }
        );
        drop(first);
        let mut again = all.try_slot("PLAINTEXT", &one_each).unwrap();
        assert_eq!(all.admit(&mut again, ip, &one_each, 0), Admission::Serve);
        // Served in between: the next refusal is logged again.
        let mut over = all.try_slot("PLAINTEXT", &one_each).unwrap();
        assert_eq!(all.admit(&mut over, ip, &one_each, 0), refused(true));
    }

    #[test]
    fn connections_over_the_creation_rate_wait_the_throttle_time() {
        let all = ConnectionLimits::new(11, 1000);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let five = Limits {
            listener_rate: 5.0,
            ..limits()
        };
        let mut delays = Vec::new();
        for _ in 0..60 {
            let mut slot = all.try_slot("PLAINTEXT", &five).unwrap();
            delays.push(all.admit(&mut slot, ip, &five, 0));
        }
        // 5/s over 10 full windows: the first 50 go at once.
        assert!(delays[..50].iter().all(|d| *d == Admission::Serve));
        assert!(matches!(delays[59], Admission::ServeAfter(d) if d > Duration::ZERO));
    }

    #[test]
    fn overrides_must_be_host_count_pairs() {
        assert!(check_overrides("127.0.0.1:5,host:2").is_ok());
        assert!(check_overrides("").is_ok());
        assert!(check_overrides("127.0.0.1").is_err());
        assert!(check_overrides("127.0.0.1:x").is_err());
    }
}
