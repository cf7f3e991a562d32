//! Requests from this broker to another broker's inter-broker listener
//! (transaction markers to partition leaders, KIP-890 verification to
//! transaction coordinators), as Kafka's `InterBrokerSendThread`s: one
//! cached connection per destination, found through the metadata image,
//! dropped after any failure so the next call reconnects (the destination
//! may have restarted or moved).

use gregor_client::{ConnectOptions, Connection, RequestBody};
use gregor_metadata::MetadataImage;
use kafka_protocol::messages::{ApiKey, ResponseKind};
use kafka_protocol::protocol::{Decodable, Encodable};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Slot = Arc<tokio::sync::Mutex<Option<(String, Connection)>>>;
type Held = tokio::sync::OwnedMutexGuard<Option<(String, Connection)>>;

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

    /// A fresh connection to broker `node`, not shared with [`Self::call`]:
    /// for reads its caller may abandon mid-request (dropping it closes the
    /// socket, so no later request can get an earlier one's answer).
    pub async fn open(
        &self,
        image: &MetadataImage,
        node: i32,
        connect_timeout: Duration,
        request_timeout: Duration,
    ) -> anyhow::Result<Connection> {
        let address = self
            .address(image, node)
            .ok_or_else(|| anyhow::anyhow!("broker {node} has no {} endpoint", self.listener))?;
        let options = ConnectOptions {
            request_timeout,
            connect_timeout,
            local_ip: self.local_ip,
            client_id: self.client_id.clone(),
            connector: self.connector.clone(),
            ..ConnectOptions::default()
        };
        Connection::connect_with(&address, &options).await
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
        let mut held = self.connected(image, node).await?;
        let result = Self::connection(&mut held)?.send(key, version, body).await;
        Self::forget_if_failed(&mut held, &result);
        let (response, used) = result?;
        if used != version {
            anyhow::bail!("broker {node} answered {key:?} v{used}, not v{version}");
        }
        Ok(response)
    }

    /// Sends `request` to broker `node` at the newest version both speak,
    /// at most `newest`, and decodes the answer as `Rs` (message types
    /// kafka-protocol cannot encode at every version); also the version used.
    pub async fn call_message<Rq: Encodable, Rs: Decodable>(
        &self,
        image: &MetadataImage,
        node: i32,
        key: ApiKey,
        newest: i16,
        request: &Rq,
    ) -> anyhow::Result<(Rs, i16)> {
        let mut held = self.connected(image, node).await?;
        let result = Self::connection(&mut held)?
            .send_message(key, newest, request)
            .await;
        Self::forget_if_failed(&mut held, &result);
        result
    }

    /// The node's connection, held (one request at a time), opened anew
    /// unless the cached one is to the node's current address and usable.
    async fn connected(&self, image: &MetadataImage, node: i32) -> anyhow::Result<Held> {
        let address = self
            .address(image, node)
            .ok_or_else(|| anyhow::anyhow!("broker {node} has no {} endpoint", self.listener))?;
        let mut held = self.slot(node).lock_owned().await;
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
            *held = Some((address, connection));
        }
        Ok(held)
    }

    /// The connection in a held slot ([`Self::connected`] fills it).
    fn connection(held: &mut Held) -> anyhow::Result<&mut Connection> {
        match held.as_mut() {
            Some((_, connection)) => Ok(connection),
            None => anyhow::bail!("no connection"),
        }
    }

    /// Drops the connection after a failed request, so the next call
    /// reconnects (the stream may be out of step or the node gone).
    fn forget_if_failed<T>(held: &mut Held, result: &anyhow::Result<T>) {
        if result.is_err() {
            **held = None;
        }
    }
}
