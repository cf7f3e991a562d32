//! The admin HTTP endpoint (`gregor.admin.listener`, off by default), for
//! operators and their tools:
//!
//! - `GET /health`: 200 while the process serves, from the moment it is
//!   bound (before log recovery, see [`AdminGate`]);
//! - `GET /metrics`: the broker's metrics (see [`crate::metrics`]);
//! - `GET /ready`: whether the broker should get traffic (see [`ready`]);
//! - compacted topics as tables (see [`tables`]);
//! - the web console under `/console` (see [`crate::console`]), which has
//!   its own login and ACL checks when security is on.
//!
//! Plain HTTP without authentication or ACLs: it is meant to be bound to a
//! loopback or management address (see docs/configuration.md).

pub mod ready;
mod tables;

pub use tables::DEFAULT_KEY_INDEX_BYTES;

use crate::server::Broker;
use axum::extract::{Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use ready::Readiness;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// The admin endpoint from bind to shutdown. It is bound before the logs
/// are recovered, so orchestrators see the process alive (`/health` 200)
/// and not ready (`/ready` 503 with the start-up phase) while a long
/// recovery runs; every other path answers 503 until the broker is built
/// and its routes are [installed](AdminGate::install).
pub struct AdminGate {
    readiness: Arc<Readiness>,
    routes: OnceLock<Router>,
}

impl AdminGate {
    pub fn new(readiness: Arc<Readiness>) -> AdminGate {
        AdminGate {
            readiness,
            routes: OnceLock::new(),
        }
    }

    /// Serves every path with `broker`'s routes from now on.
    pub fn install(&self, broker: Arc<Broker>, key_index_bytes: usize) {
        let _ = self.routes.set(router(broker, key_index_bytes));
    }
}

/// Every path but `/health`: the broker's routes once installed, else
/// 503 with why the broker is not there yet.
async fn dispatch(State(gate): State<Arc<AdminGate>>, request: Request) -> Response {
    if let Some(routes) = gate.routes.get() {
        let mut routes = routes.clone();
        // A router is always ready and never fails (its error is Infallible).
        return match tower_service::Service::call(&mut routes, request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
    }
    let reason = match gate.readiness.check(crate::clock::now_ms()) {
        Err(reason) => reason,
        Ok(()) => "starting".to_string(),
    };
    (StatusCode::SERVICE_UNAVAILABLE, format!("{reason}\n")).into_response()
}

async fn health() -> &'static str {
    "ok\n"
}

async fn metrics(State(broker): State<Arc<Broker>>) -> Response {
    let lags = crate::metrics::state::lags(&broker).await;
    // The state families take the group and partition locks: built off the
    // async workers.
    let render = tokio::task::spawn_blocking(move || {
        broker.metrics.render(&{
            let mut registries = crate::metrics::state::registries(&broker, &lags);
            registries.push(crate::metrics::client_telemetry::registry(
                &broker.telemetry.snapshot(),
            ));
            registries
        })
    });
    match render.await {
        Ok(text) => ([(CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text).into_response(),
        Err(err) => {
            tracing::warn!(%err, "building /metrics failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

fn router(broker: Arc<Broker>, key_index_bytes: usize) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(broker.clone())
        .merge(ready::router(broker.clone()))
        .merge(tables::router(broker.replicas.clone(), key_index_bytes))
        .merge(crate::console::router(broker))
}

/// Binds `gregor.admin.listener` (a `host:port`); an error stops start-up,
/// as a listener that cannot be bound does.
pub async fn bind(address: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(address)
        .await
        .map_err(|e| anyhow::anyhow!("cannot bind gregor.admin.listener {address}: {e}"))
}

/// Serves the admin endpoint until `shutdown` turns true or its sender
/// is dropped (a start-up that failed).
pub async fn serve(
    listener: TcpListener,
    gate: Arc<AdminGate>,
    mut shutdown: watch::Receiver<bool>,
) {
    let stop = async move {
        while !*shutdown.borrow() {
            if shutdown.changed().await.is_err() {
                break;
            }
        }
    };
    // Not a graceful shutdown: a client holding a connection open must not
    // delay the broker's; a request in flight is cut with the runtime.
    tokio::select! {
        // With the peer's address: the console's ACL checks match on host.
        result = axum::serve(
            listener,
            Router::new()
                .route("/health", get(health))
                .fallback(dispatch)
                .with_state(gate)
                .into_make_service_with_connect_info::<SocketAddr>(),
        ) => {
            if let Err(err) = result {
                tracing::warn!(%err, "admin HTTP endpoint stopped");
            }
        }
        _ = stop => {}
    }
}
