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
}

impl ControllerChannel {
    pub fn new(
        voters: BTreeMap<i32, String>,
        local_ip: Option<IpAddr>,
        request_timeout: Duration,
        runtime: Option<tokio::runtime::Handle>,
    ) -> ControllerChannel {
        ControllerChannel {
            voters,
            local_ip,
            request_timeout,
            connection: Mutex::new(None),
            runtime,
        }
    }

    /// Sends `body` to controller `id` at `version` exactly (the caller's
    /// own version when forwarding a client's request).
    pub async fn call(
        self: &Arc<Self>,
        id: i32,
        key: ApiKey,
        version: i16,
        body: RequestKind,
    ) -> anyhow::Result<ResponseKind> {
        let Some(runtime) = &self.runtime else {
            return self.call_here(id, key, version, body).await;
        };
        let this = self.clone();
        runtime
            .spawn(async move { this.call_here(id, key, version, body).await })
            .await
            .map_err(|err| anyhow::anyhow!("controller request task failed: {err}"))?
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
