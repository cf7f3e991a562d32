//! A broker's membership, as Kafka's BrokerLifecycleManager keeps it:
//! register with the active controller (the answer is the broker epoch),
//! heartbeat every `broker.heartbeat.interval.ms` with how far this node's
//! metadata got, and start serving clients once the controller unfences
//! it. On shutdown it asks for a controlled shutdown, so its leaderships
//! move before it goes.

use crate::controller::Controller;
use crate::handlers::controller_apis;
use crate::server::Broker;
use gregor_protocol::error_codes;
use kafka_protocol::messages::broker_registration_request::{Feature, Listener};
use kafka_protocol::messages::controller_registration_request::Listener as ControllerListener;
use kafka_protocol::messages::{
    ApiKey, BrokerHeartbeatRequest, BrokerHeartbeatResponse, BrokerId, BrokerRegistrationRequest,
    BrokerRegistrationResponse, ControllerRegistrationRequest, RequestKind, ResponseKind,
};
use kafka_protocol::protocol::StrBytes;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use uuid::Uuid;

const REGISTRATION_VERSION: i16 = 4;
const HEARTBEAT_VERSION: i16 = 1;
const CONTROLLER_REGISTRATION_VERSION: i16 = 0;
/// How often a controller checks that the image holds its registration.
const CONTROLLER_REGISTRATION_CHECK: Duration = Duration::from_millis(500);
/// How long to wait before retrying when no controller answered.
const RETRY_BACKOFF: Duration = Duration::from_millis(200);

/// What the lifecycle reports to the rest of the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Membership {
    pub epoch: i64,
    pub fenced: bool,
    pub should_shutdown: bool,
}

/// Registration details that do not change while the process runs.
pub struct Identity {
    pub node_id: i32,
    pub cluster_id: String,
    pub incarnation_id: Uuid,
    /// (listener name, host, port, security protocol id)
    pub listeners: Vec<(String, String, u16, i16)>,
    pub rack: Option<String>,
    pub heartbeat_interval: Duration,
    /// The broker epoch the last clean shutdown recorded, -1 if none (the
    /// process may have lost records it had acknowledged).
    pub previous_broker_epoch: i64,
}

/// Sends a broker-to-controller request to the active controller: a local
/// call when this node is it, over the controller listener otherwise.
async fn call(
    broker: &Broker,
    key: ApiKey,
    version: i16,
    body: RequestKind,
) -> Option<ResponseKind> {
    let controller: &Controller = &broker.controller;
    let leader = controller.active_controller()?;
    if leader == broker.config.node_id && controller.is_active() {
        // The controller decides synchronously and waits for the commit,
        // so it runs on a blocking thread.
        let controller = broker.controller.clone();
        let cluster_id = broker.cluster_id.clone();
        let answered = tokio::task::spawn_blocking(move || match body {
            RequestKind::BrokerRegistration(req) => Some(ResponseKind::BrokerRegistration(
                controller_apis::register_broker(&controller, &cluster_id, req),
            )),
            RequestKind::BrokerHeartbeat(req) => Some(ResponseKind::BrokerHeartbeat(
                controller_apis::heartbeat(&controller, req),
            )),
            RequestKind::ControllerRegistration(req) => Some(ResponseKind::ControllerRegistration(
                controller_apis::register_controller(&controller, req),
            )),
            _ => None,
        });
        return answered.await.ok().flatten();
    }
    // Given up once another controller is active: the request would wait
    // out its timeout at the old one while the new one's session for this
    // broker runs out.
    let still_leader = || controller.active_controller() == Some(leader);
    match controller
        .channel()
        .call_while(leader, key, version, body, still_leader)
        .await
    {
        Ok(response) => Some(response),
        Err(err) => {
            tracing::debug!(controller = leader, %err, "controller request failed");
            None
        }
    }
}

fn registration(identity: &Identity, previous_broker_epoch: i64) -> BrokerRegistrationRequest {
    BrokerRegistrationRequest::default()
        .with_previous_broker_epoch(previous_broker_epoch)
        .with_broker_id(BrokerId(identity.node_id))
        .with_cluster_id(StrBytes::from_string(identity.cluster_id.clone()))
        .with_incarnation_id(identity.incarnation_id)
        .with_listeners(
            identity
                .listeners
                .iter()
                .map(|(name, host, port, protocol)| {
                    Listener::default()
                        .with_name(StrBytes::from_string(name.clone()))
                        .with_host(StrBytes::from_string(host.clone()))
                        .with_port(*port)
                        .with_security_protocol(*protocol)
                })
                .collect(),
        )
        .with_features(vec![Feature::default()
            .with_name(StrBytes::from_static_str("metadata.version"))
            .with_min_supported_version(7)
            .with_max_supported_version(33)])
        .with_rack(identity.rack.clone().map(StrBytes::from_string))
}

async fn register(broker: &Broker, identity: &Identity, previous_broker_epoch: i64) -> i64 {
    loop {
        let request =
            RequestKind::BrokerRegistration(registration(identity, previous_broker_epoch));
        let answer = call(
            broker,
            ApiKey::BrokerRegistration,
            REGISTRATION_VERSION,
            request,
        )
        .await;
        if let Some(ResponseKind::BrokerRegistration(BrokerRegistrationResponse {
            error_code,
            broker_epoch,
            ..
        })) = answer
        {
            if error_code == error_codes::NONE {
                tracing::info!(epoch = broker_epoch, "registered with the controller");
                return broker_epoch;
            }
            tracing::info!(error_code, "registration refused; retrying");
        }
        tokio::time::sleep(RETRY_BACKOFF).await;
    }
}

async fn heartbeat(
    broker: &Broker,
    identity: &Identity,
    epoch: i64,
    want_shutdown: bool,
) -> Option<BrokerHeartbeatResponse> {
    let applied = broker.controller.plane().applied() as i64;
    let request = BrokerHeartbeatRequest::default()
        .with_broker_id(BrokerId(identity.node_id))
        .with_broker_epoch(epoch)
        .with_current_metadata_offset(applied - 1)
        .with_want_fence(false)
        .with_want_shut_down(want_shutdown);
    match call(
        broker,
        ApiKey::BrokerHeartbeat,
        HEARTBEAT_VERSION,
        RequestKind::BrokerHeartbeat(request),
    )
    .await
    {
        Some(ResponseKind::BrokerHeartbeat(response)) => Some(response),
        _ => None,
    }
}

/// Registers and heartbeats until `shutdown` turns true, then runs the
/// controlled shutdown. `state` follows the membership. Returns the broker
/// epoch it ended at, for the clean shutdown marker.
pub async fn run(
    broker: Arc<Broker>,
    identity: Identity,
    state: watch::Sender<Membership>,
    mut shutdown: watch::Receiver<bool>,
) -> i64 {
    let mut epoch = register(&broker, &identity, identity.previous_broker_epoch).await;
    state.send_replace(Membership {
        epoch,
        fenced: true,
        should_shutdown: false,
    });
    let mut first = true;
    loop {
        let unfenced = !state.borrow().fenced;
        // Until unfenced, heartbeat quickly: start-up waits on it.
        let wait = if first {
            Duration::ZERO
        } else if unfenced {
            identity.heartbeat_interval
        } else {
            Duration::from_millis(50)
        };
        first = false;
        tokio::select! {
            _ = shutdown.changed() => break,
            _ = tokio::time::sleep(wait) => {}
        }
        match heartbeat(&broker, &identity, epoch, false).await {
            Some(r) if r.error_code == error_codes::STALE_BROKER_EPOCH => {
                // The controller lost our registration (e.g. a new one
                // started with an older image): register again.
                // Re-registering within this run is not a restart: it names
                // the epoch this process has held.
                broker.readiness.registering();
                epoch = register(&broker, &identity, epoch).await;
                state.send_replace(Membership {
                    epoch,
                    fenced: true,
                    should_shutdown: false,
                });
            }
            Some(r) if r.error_code == error_codes::NONE => {
                broker
                    .readiness
                    .heartbeat_answered(r.is_fenced, crate::clock::now_ms());
                let next = Membership {
                    epoch,
                    fenced: r.is_fenced,
                    should_shutdown: r.should_shut_down,
                };
                if next != *state.borrow() {
                    tracing::info!(fenced = next.fenced, "broker membership changed");
                    state.send_replace(next);
                }
            }
            _ => {}
        }
    }
    controlled_shutdown(&broker, &identity, epoch).await;
    epoch
}

/// Asks to shut down until the controller says leadership has moved away,
/// for at most a few heartbeat intervals; whether it did.
async fn controlled_shutdown(broker: &Broker, identity: &Identity, epoch: i64) {
    for _ in 0..20 {
        match heartbeat(broker, identity, epoch, true).await {
            Some(r) if r.error_code == error_codes::NONE && r.should_shut_down => {
                tracing::info!("controlled shutdown complete");
                return;
            }
            Some(r) if r.error_code != error_codes::NONE => return,
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    tracing::warn!("controlled shutdown did not complete; stopping anyway");
}

/// Kafka's ControllerRegistrationManager: a controller registers its
/// controller listeners with the active controller once per process (its
/// incarnation), and again whenever the image does not hold that
/// registration (e.g. a new leader's log lost it).
pub async fn register_controller(
    broker: Arc<Broker>,
    incarnation_id: Uuid,
    mut shutdown: watch::Receiver<bool>,
) {
    let node_id = broker.config.node_id;
    let listeners: Vec<ControllerListener> = broker
        .config
        .listeners
        .advertised_controllers
        .iter()
        .map(|l| {
            ControllerListener::default()
                .with_name(StrBytes::from_string(l.name.clone()))
                .with_host(StrBytes::from_string(l.host.clone()))
                .with_port(l.port)
                .with_security_protocol(0)
        })
        .collect();
    let mut wait = Duration::ZERO;
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        wait = CONTROLLER_REGISTRATION_CHECK;
        let registered = broker
            .controller
            .image()
            .controllers
            .get(&node_id)
            .is_some_and(|c| c.incarnation_id == incarnation_id);
        if registered {
            continue;
        }
        let request = ControllerRegistrationRequest::default()
            .with_controller_id(node_id)
            .with_incarnation_id(incarnation_id)
            .with_listeners(listeners.clone());
        let answer = call(
            &broker,
            ApiKey::ControllerRegistration,
            CONTROLLER_REGISTRATION_VERSION,
            RequestKind::ControllerRegistration(request),
        )
        .await;
        match answer {
            Some(ResponseKind::ControllerRegistration(r)) if r.error_code == error_codes::NONE => {
                tracing::info!("registered as a controller");
            }
            Some(ResponseKind::ControllerRegistration(r)) => {
                tracing::debug!(error_code = r.error_code, "controller registration refused");
            }
            _ => {}
        }
    }
}
