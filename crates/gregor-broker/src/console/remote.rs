//! Kafka requests from the console to another broker of the cluster, as
//! the logged-in user: a Kafka console is a cluster client, so a
//! partition's records come from its leader and a group's state from its
//! coordinator. The console connects to the other broker's client
//! listener (the one the console's own requests are handled as) with the
//! user's HTTP Basic credentials as a SASL login, so that broker checks
//! the same ACLs as for any client. Connections live as long as the HTTP
//! request that opened them; every call is bounded by timeouts; failures
//! are console errors (503 naming the broker), never panics.

use super::ctx::Ctx;
use super::error::ConsoleError;
use crate::config::SecurityProtocol;
use gregor_client::{ConnectOptions, Connection, Connector, SaslCredentials};
use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};
use std::collections::HashMap;
use std::time::Duration;

/// Open connections by node id, for one HTTP request.
pub type Remotes = tokio::sync::Mutex<HashMap<i32, Connection>>;

/// Bounds a remote call: establishing the TCP connection, and every
/// request (the SASL handshake included).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The SASL mechanism the console logs in with on a SASL listener: PLAIN
/// when the listener enables it (the check the console's login did),
/// else a SCRAM mechanism; `None` when none of them is enabled.
pub fn mechanism(enabled: &[String]) -> Option<String> {
    ["PLAIN", "SCRAM-SHA-512", "SCRAM-SHA-256"]
        .into_iter()
        .find(|m| enabled.iter().any(|e| e == m))
        .map(str::to_string)
}

fn unavailable(message: impl Into<String>) -> ConsoleError {
    ConsoleError::new(axum::http::StatusCode::SERVICE_UNAVAILABLE, message)
}

impl Ctx {
    /// Where broker `node` serves the console's listener.
    fn address_of(&self, node: i32) -> Result<String, ConsoleError> {
        let image = self.broker().controller.image();
        let name = &self.state.listener.name;
        image
            .brokers
            .get(&node)
            .and_then(|b| b.endpoint(name))
            .map(|e| format!("{}:{}", e.host, e.port))
            .ok_or_else(|| unavailable(format!("broker {node} has no {name} listener")))
    }

    /// Runs a Kafka request on broker `node`: through this broker's own
    /// handler when `node` is this broker, else over a connection to
    /// `node` logged in as this user. `version` is the newest to speak.
    pub async fn kafka_at(
        &self,
        node: i32,
        api_key: ApiKey,
        version: i16,
        body: RequestKind,
    ) -> Result<ResponseKind, ConsoleError> {
        if node == self.broker().config.node_id {
            return self.kafka(api_key, version, body).await;
        }
        let address = self.address_of(node)?;
        let failed = |e: anyhow::Error| unavailable(format!("broker {node} ({address}): {e:#}"));
        let mut remotes = self.remotes.lock().await;
        if let Some(connection) = remotes.get_mut(&node).filter(|c| c.is_usable()) {
            let result = connection.send(api_key, version, body).await;
            if result.is_err() {
                remotes.remove(&node);
            }
            return result.map(|(response, _)| response).map_err(failed);
        }
        let sasl = match self.state.listener.protocol {
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl => {
                let mechanism = self.state.remote_mechanism.clone().ok_or_else(|| {
                    unavailable("the client listener enables no mechanism the console logs in with")
                })?;
                let password = self.password.clone().ok_or_else(|| {
                    ConsoleError::unauthorized("Log in with a Kafka (SASL) user.")
                })?;
                let user = self.session.principal.name.clone();
                Some(SaslCredentials {
                    mechanism,
                    username: user,
                    password,
                })
            }
            // Without SASL the other broker would see User:ANONYMOUS, not
            // the logged-in user: refuse rather than act as someone else.
            _ if self.password.is_some() => {
                return Err(unavailable(format!(
                    "broker {node} is reached on listener {}, which has no SASL login: \
                     the console cannot act there as {}; open its own console",
                    self.state.listener.name,
                    self.principal()
                )))
            }
            _ => None,
        };
        let options = ConnectOptions {
            request_timeout: REQUEST_TIMEOUT,
            connect_timeout: CONNECT_TIMEOUT,
            client_id: super::ctx::CLIENT_ID.to_string(),
            connector: Connector::new(self.state.remote_tls.clone(), sasl),
            ..ConnectOptions::default()
        };
        let mut connection = Connection::connect_with(&address, &options)
            .await
            .map_err(failed)?;
        let (response, _) = connection
            .send(api_key, version, body)
            .await
            .map_err(failed)?;
        remotes.insert(node, connection);
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_in_with_plain_else_scram() {
        let m = |l: &[&str]| mechanism(&l.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(m(&["SCRAM-SHA-256", "PLAIN"]).as_deref(), Some("PLAIN"));
        assert_eq!(m(&["SCRAM-SHA-256"]).as_deref(), Some("SCRAM-SHA-256"));
        assert_eq!(m(&["OAUTHBEARER"]), None);
    }
}
