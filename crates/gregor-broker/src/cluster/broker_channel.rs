//! Requests from this broker to another broker's inter-broker listener
//! (transaction markers to partition leaders, KIP-890 verification to
//! transaction coordinators), as Kafka's `InterBrokerSendThread`s: one
//! cached connection per destination, found through the metadata image,
//! dropped after any failure so the next call reconnects (the destination
//! may have restarted or moved).

use gregor_client::{ConnectOptions, Connection, RequestBody};
use gregor_metadata::MetadataImage;
use kafka_protocol::messages::{ApiKey, ResponseKind};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Slot = Arc<tokio::sync::Mutex<Option<(String, Connection)>>>;

pub struct BrokerChannel {
    /// The listener other brokers are reached on (`inter.broker.listener.name`).
    listener: String,
    /// Outbound sockets bind here, so nodes can be told apart by address.
    local_ip: Option<IpAddr>,
    request_timeout: Duration,
    client_id: String,
    /// Node id -> its connection (with the address it was opened to).
    slots: Mutex<HashMap<i32, Slot>>,
    /// TLS and SASL as the listener it reaches wants them.
    connector: gregor_client::Connector,
}

impl BrokerChannel {
    pub fn new(
        listener: String,
        local_ip: Option<IpAddr>,
        request_timeout: Duration,
        client_id: String,
    ) -> BrokerChannel {
        BrokerChannel {
            listener,
            local_ip,
            request_timeout,
            client_id,
            slots: Mutex::new(HashMap::new()),
            connector: gregor_client::Connector::default(),
        }
    }

    /// Secures its connections (an SSL or SASL_* listener).
    pub fn with_connector(mut self, connector: gregor_client::Connector) -> BrokerChannel {
        self.connector = connector;
        self
    }

    /// Where broker `node` listens for other brokers, per `image`.
    pub fn address(&self, image: &MetadataImage, node: i32) -> Option<String> {
        image
            .brokers
            .get(&node)
            .and_then(|b| b.endpoint(&self.listener))
            .map(|e| format!("{}:{}", e.host, e.port))
    }

    fn slot(&self, node: i32) -> Slot {
        self.slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(node)
            .or_default()
            .clone()
    }

    /// Sends `body` at `version` to broker `node`; requests to one node go
    /// one at a time over its connection.
    pub async fn call(
        &self,
        image: &MetadataImage,
        node: i32,
        key: ApiKey,
        version: i16,
        body: impl Into<RequestBody>,
    ) -> anyhow::Result<ResponseKind> {
        let address = self
            .address(image, node)
            .ok_or_else(|| anyhow::anyhow!("broker {node} has no {} endpoint", self.listener))?;
        let slot = self.slot(node);
        let mut held = slot.lock().await;
        let reusable = matches!(&*held, Some((to, c)) if *to == address && c.is_usable());
        if !reusable {
            let options = ConnectOptions {
                request_timeout: self.request_timeout,
                local_ip: self.local_ip,
                client_id: self.client_id.clone(),
                connector: self.connector.clone(),
                ..ConnectOptions::default()
            };
            let connection = Connection::connect_with(&address, &options).await?;
            *held = Some((address.clone(), connection));
        }
        let Some((_, connection)) = held.as_mut() else {
            anyhow::bail!("no connection to broker {node}");
        };
        let result = connection.send(key, version, body).await;
        if result.is_err() {
            *held = None;
        }
        let (response, used) = result?;
        if used != version {
            anyhow::bail!("broker {node} answered {key:?} v{used}, not v{version}");
        }
        Ok(response)
    }
}
