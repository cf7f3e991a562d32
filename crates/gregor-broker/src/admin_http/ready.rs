//! `GET /ready`: whether this broker should get client traffic, for load
//! balancers and orchestrators (`/health` only says the process answers).
//!
//! 200 `ready` once the controller unfenced the broker (so its metadata
//! caught up) and its client listeners accept. Otherwise 503 with a
//! one-line reason:
//! - still starting (not yet unfenced);
//! - fenced by the controller (e.g. its session expired);
//! - no heartbeat answered by the controller for longer than
//!   `broker.session.timeout.ms` (the controller fences it, if there is one
//!   to do so; its metadata may be stale);
//! - shutting down (the controlled shutdown moves its leaderships away).

use crate::server::Broker;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;

/// The broker's readiness, fed by start-up, the lifecycle (heartbeats) and
/// shutdown.
pub struct Readiness {
    recovering: AtomicBool,
    serving: AtomicBool,
    fenced: AtomicBool,
    shutting_down: AtomicBool,
    /// Milliseconds since the epoch of the last heartbeat answered, or -1.
    last_heartbeat_ms: AtomicI64,
    session_timeout_ms: i64,
}

impl Readiness {
    pub fn new(session_timeout_ms: i64) -> Readiness {
        Readiness {
            recovering: AtomicBool::new(false),
            serving: AtomicBool::new(false),
            fenced: AtomicBool::new(true),
            shutting_down: AtomicBool::new(false),
            last_heartbeat_ms: AtomicI64::new(-1),
            session_timeout_ms,
        }
    }

    /// Log recovery after an unclean shutdown began (`true`) or ended.
    pub fn recovering_logs(&self, recovering: bool) {
        self.recovering.store(recovering, Ordering::Release);
    }

    /// The client listeners accept connections.
    pub fn serving(&self) {
        self.serving.store(true, Ordering::Release);
    }

    /// A heartbeat was answered; `fenced` as the controller said.
    pub fn heartbeat_answered(&self, fenced: bool, now_ms: i64) {
        self.fenced.store(fenced, Ordering::Release);
        self.last_heartbeat_ms.store(now_ms, Ordering::Release);
    }

    /// The controller lost this broker's registration: it registers again.
    pub fn registering(&self) {
        self.fenced.store(true, Ordering::Release);
    }

    pub fn shutting_down(&self) {
        self.shutting_down.store(true, Ordering::Release);
    }

    /// `Ok` when ready, else why not.
    pub fn check(&self, now_ms: i64) -> Result<(), String> {
        if self.shutting_down.load(Ordering::Acquire) {
            return Err("shutting down".to_string());
        }
        if self.recovering.load(Ordering::Acquire) {
            return Err("recovering logs".to_string());
        }
        if !self.serving.load(Ordering::Acquire) {
            return Err("starting: not yet unfenced by the active controller".to_string());
        }
        if self.fenced.load(Ordering::Acquire) {
            return Err("fenced by the active controller".to_string());
        }
        let last = self.last_heartbeat_ms.load(Ordering::Acquire);
        let silent = now_ms.saturating_sub(last);
        if last >= 0 && silent > self.session_timeout_ms {
            return Err(format!(
                "no heartbeat answered by the controller for {silent} ms (broker.session.timeout.ms={})",
                self.session_timeout_ms
            ));
        }
        Ok(())
    }
}

async fn ready(State(broker): State<Arc<Broker>>) -> (StatusCode, String) {
    match broker.readiness.check(crate::clock::now_ms()) {
        Ok(()) => (StatusCode::OK, "ready\n".to_string()),
        Err(reason) => (StatusCode::SERVICE_UNAVAILABLE, format!("{reason}\n")),
    }
}

pub fn router(broker: Arc<Broker>) -> Router {
    Router::new().route("/ready", get(ready)).with_state(broker)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states() {
        let r = Readiness::new(1000);
        r.recovering_logs(true);
        assert_eq!(r.check(0), Err("recovering logs".to_string()));
        r.recovering_logs(false);
        assert!(r.check(0).unwrap_err().starts_with("starting"));
        r.serving();
        assert!(r.check(0).unwrap_err().starts_with("fenced"));
        r.heartbeat_answered(false, 10_000);
        assert_eq!(r.check(10_500), Ok(()));
        assert!(r.check(11_001).unwrap_err().starts_with("no heartbeat"));
        r.heartbeat_answered(true, 11_100);
        assert!(r.check(11_200).unwrap_err().starts_with("fenced"));
        r.heartbeat_answered(false, 11_300);
        r.shutting_down();
        assert_eq!(r.check(11_400), Err("shutting down".to_string()));
    }
}
