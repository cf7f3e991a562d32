//! One client instance's telemetry state: its subscription, when it last
//! asked and pushed (for Kafka's throttling rules), and what it pushed.

use super::otlp::Point;
use gregor_protocol::error_codes;
use std::time::{Duration, Instant};

pub struct Instance {
    pub client_id: String,
    pub subscription_id: i32,
    last_get: Option<Instant>,
    last_push: Option<Instant>,
    pub terminating: bool,
    /// The error of the last request (Kafka's `lastKnownError`).
    pub last_error: i16,
    pub last_seen: Instant,
    pub points: Vec<Point>,
}

impl Instance {
    pub fn new(client_id: &str, subscription_id: i32, now: Instant) -> Instance {
        Instance {
            client_id: client_id.to_string(),
            subscription_id,
            last_get: None,
            last_push: None,
            terminating: false,
            last_error: error_codes::NONE,
            last_seen: now,
            points: Vec::new(),
        }
    }

    /// Kafka's rule for GetTelemetrySubscriptions: at most one per push
    /// interval, counted from the last request of either kind, unless the
    /// last push failed in a way that makes the client ask again.
    pub fn accept_get(&mut self, now: Instant, interval: Duration) -> bool {
        let last = self.last_get.max(self.last_push);
        let early = last.is_some_and(|last| now.duration_since(last) < interval);
        let retry = matches!(
            self.last_error,
            error_codes::UNKNOWN_SUBSCRIPTION_ID | error_codes::UNSUPPORTED_COMPRESSION_TYPE
        );
        if early && !retry {
            return false;
        }
        if !early {
            self.last_get = Some(now);
        }
        true
    }

    /// Kafka's rule for PushTelemetry: the first push after a
    /// GetTelemetrySubscriptions is always in time (clients jitter the
    /// interval), later ones need a full interval since the last push.
    pub fn accept_push(&mut self, now: Instant, interval: Duration) -> bool {
        let after_get = match (self.last_get, self.last_push) {
            (Some(get), Some(push)) => get > push,
            (Some(_), None) => true,
            _ => false,
        };
        let in_time = after_get
            || self
                .last_push
                .is_none_or(|push| now.duration_since(push) >= interval);
        if in_time {
            self.last_push = Some(now);
        }
        in_time
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INTERVAL: Duration = Duration::from_secs(10);

    #[test]
    fn a_push_right_after_a_get_is_in_time_the_next_is_early() {
        let start = Instant::now();
        let mut instance = Instance::new("c", 1, start);
        assert!(instance.accept_get(start, INTERVAL));
        assert!(!instance.accept_get(start + Duration::from_secs(1), INTERVAL));
        assert!(instance.accept_push(start + Duration::from_secs(2), INTERVAL));
        assert!(!instance.accept_push(start + Duration::from_secs(3), INTERVAL));
        assert!(instance.accept_push(start + Duration::from_secs(12), INTERVAL));
    }

    #[test]
    fn an_unknown_subscription_lets_the_client_ask_again_at_once() {
        let start = Instant::now();
        let mut instance = Instance::new("c", 1, start);
        assert!(instance.accept_get(start, INTERVAL));
        instance.last_error = error_codes::UNKNOWN_SUBSCRIPTION_ID;
        assert!(instance.accept_get(start + Duration::from_secs(1), INTERVAL));
    }
}
