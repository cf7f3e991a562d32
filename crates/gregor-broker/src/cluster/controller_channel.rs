//! The broker's line to the active controller: registration, heartbeats,
//! producer-id blocks and forwarded admin requests all go through it, over
//! the controller listener named in `controller.quorum.voters`.

use gregor_client::{ConnectOptions, Connection};
use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

/// How often [`ControllerChannel::call_while`] asks whether its request is
/// still wanted.
const STILL_WANTED_CHECK: Duration = Duration::from_millis(50);

pub struct ControllerChannel {
    /// Voter id -> controller listener address (host:port).
    voters: BTreeMap<i32, String>,
    /// Outbound sockets bind here, so nodes can be told apart by address.
    local_ip: Option<IpAddr>,
    request_timeout: Duration,
    /// One cached connection, to the controller it was opened to.
    connection: Mutex<Option<(i32, Connection)>>,
    /// The metadata thread's runtime: every call runs there, so the
    /// connection's I/O is driven by a thread that never blocks. A
    /// synchronous caller on the main runtime (an auto-created topic, a
    /// producer-id block) blocks its worker while it waits; had the
    /// connection been opened on the main runtime, its answer could sit
    /// unread behind that blocked worker until the request timed out.
    runtime: Option<tokio::runtime::Handle>,
    /// The quorum leader as this node knows it now: a request to a
    /// controller that is no longer it is given up (see `call_while`).
    current_leader: Option<LeaderProbe>,
    /// TLS and SASL as the listener it reaches wants them.
    connector: gregor_client::Connector,
}

/// Who leads the metadata quorum now, as this node knows it.
pub type LeaderProbe = Arc<dyn Fn() -> Option<i32> + Send + Sync>;

impl ControllerChannel {
    pub fn new(
        voters: BTreeMap<i32, String>,
        local_ip: Option<IpAddr>,
        request_timeout: Duration,
        runtime: Option<tokio::runtime::Handle>,
        current_leader: Option<LeaderProbe>,
    ) -> ControllerChannel {
        ControllerChannel {
            voters,
            local_ip,
            request_timeout,
            connection: Mutex::new(None),
            runtime,
            current_leader,
            connector: gregor_client::Connector::default(),
        }
    }

    /// Secures its connections (an SSL or SASL_* listener).
    pub fn with_connector(mut self, connector: gregor_client::Connector) -> ControllerChannel {
        self.connector = connector;
        self
    }

    /// Sends `body` to controller `id` at `version` exactly (the caller's
    /// own version when forwarding a client's request). Given up once `id`
    /// no longer leads the quorum: the one connection is shared, so a
    /// request hanging at a cut-off controller would otherwise hold up
    /// every other (heartbeats included) for the whole request timeout.
    pub async fn call(
        self: &Arc<Self>,
        id: i32,
        key: ApiKey,
        version: i16,
        body: RequestKind,
    ) -> anyhow::Result<ResponseKind> {
        let probe = self.current_leader.clone();
        self.call_while(id, key, version, body, move || {
            probe.as_ref().is_none_or(|leader| leader() == Some(id))
        })
        .await
    }

    /// As [`ControllerChannel::call`], but given up as soon as
    /// `still_wanted` turns false (checked every [`STILL_WANTED_CHECK`]):
    /// the request is abandoned and its connection dropped. A broker's
    /// heartbeat sent to a controller that was cut off and replaced would
    /// otherwise wait out the whole request timeout (10 s), longer than the
    /// session the new controller gives it, and the broker would be fenced
    /// (its leaderships moved away and back) although it is alive; Kafka's
    /// broker-to-controller channel moves to the new controller at once.
    pub async fn call_while(
        self: &Arc<Self>,
        id: i32,
        key: ApiKey,
        version: i16,
        body: RequestKind,
        still_wanted: impl Fn() -> bool,
    ) -> anyhow::Result<ResponseKind> {
        let this = self.clone();
        let request = async move { this.call_here(id, key, version, body).await };
        let mut task = match &self.runtime {
            Some(runtime) => runtime.spawn(request),
            None => tokio::spawn(request),
        };
        let mut check = tokio::time::interval(STILL_WANTED_CHECK);
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                joined = &mut task => {
                    return joined.map_err(|err| anyhow::anyhow!("controller request task failed: {err}"))?;
                }
                _ = check.tick() => {
                    if still_wanted() {
                        continue;
                    }
                    task.abort();
                    let _ = (&mut task).await;
                    // The abandoned request may still be answered on that
                    // connection: never reuse it.
                    let mut slot = self.connection.lock().await;
                    if matches!(&*slot, Some((to, _)) if *to == id) {
                        *slot = None;
                    }
                    anyhow::bail!("request to controller {id} abandoned: no longer wanted there");
                }
            }
        }
    }

    async fn call_here(
        &self,
        id: i32,
        key: ApiKey,
        version: i16,
        body: RequestKind,
    ) -> anyhow::Result<ResponseKind> {
        let address = self
            .voters
            .get(&id)
            .ok_or_else(|| anyhow::anyhow!("controller {id} is not a known voter"))?;
        let mut slot = self.connection.lock().await;
        let reusable = matches!(&*slot, Some((to, c)) if *to == id && c.is_usable());
        if !reusable {
            let options = ConnectOptions {
                request_timeout: self.request_timeout,
                local_ip: self.local_ip,
                connector: self.connector.clone(),
                ..ConnectOptions::default()
            };
            let connection = Connection::connect_with(address, &options).await?;
            *slot = Some((id, connection));
        }
        let Some((_, connection)) = slot.as_mut() else {
            anyhow::bail!("no connection to controller {id}");
        };
        let result = connection.send(key, version, body).await;
        if result.is_err() {
            *slot = None;
        }
        let (response, used) = result?;
        if used != version {
            anyhow::bail!("controller {id} answered {key:?} v{used}, not v{version}");
        }
        Ok(response)
    }
}
