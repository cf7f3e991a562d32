//! What every console handler can reach, built once from the broker's
//! configuration.

use crate::config::SecurityProtocol;
use crate::connection::ConnectionListener;
use crate::server::Broker;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone)]
pub struct ConsoleState {
    pub broker: Arc<Broker>,
    /// `gregor.console.read.only`: every mutating action is hidden and
    /// refused.
    pub read_only: bool,
    /// A login is required: the broker has an authorizer or a SASL
    /// listener (see [`crate::console::ctx`]).
    pub login_required: bool,
    /// PLAIN users of the SASL listeners' JAAS configs, checked before the
    /// SCRAM store as the PLAIN mechanism does.
    pub(crate) static_users: Arc<Vec<(String, String)>>,
    /// The listener the console's requests are handled as: the first client
    /// listener, so Metadata answers advertise what clients connect to.
    pub(crate) listener: Arc<ConnectionListener>,
    /// How the console logs in on other brokers' `listener`
    /// ([`super::remote`]): the SASL mechanism, and TLS for an SSL one.
    pub(crate) remote_mechanism: Option<String>,
    pub(crate) remote_tls: Option<gregor_client::tls::ClientTls>,
}

impl ConsoleState {
    pub fn new(broker: Arc<Broker>) -> ConsoleState {
        let config = &broker.config;
        let read_only = config
            .value("gregor.console.read.only")
            .trim()
            .eq_ignore_ascii_case("true");
        let client_listeners: Vec<_> = config
            .listeners
            .bound
            .iter()
            .filter(|l| !l.is_controller)
            .collect();
        let sasl = client_listeners.iter().any(|l| {
            matches!(
                l.protocol,
                SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
            )
        });
        let mut static_users = Vec::new();
        let mut remote_mechanism = None;
        for (i, listener) in client_listeners.iter().enumerate() {
            // Start-up has validated these settings already.
            if let Ok(Some(settings)) = crate::config::sasl::settings(config, listener) {
                if i == 0 {
                    remote_mechanism = super::remote::mechanism(&settings.mechanisms);
                }
                static_users.extend(settings.plain_users);
            }
        }
        // Start-up has built this listener's TLS already; a failure here
        // leaves the other brokers unreachable, as each call then says.
        let remote_tls = client_listeners.first().and_then(|l| {
            crate::security::tls::client_tls(config, &l.name)
                .ok()
                .flatten()
        });
        let listener = client_listeners.first().map_or_else(
            || ConnectionListener {
                name: config.listeners.inter_broker.clone(),
                is_controller: false,
                protocol: SecurityProtocol::Plaintext,
                sasl: None,
                failed_auth_delay: Duration::ZERO,
            },
            |l| ConnectionListener {
                name: l.name.clone(),
                is_controller: false,
                protocol: l.protocol,
                // The console logs users in itself (HTTP Basic).
                sasl: None,
                failed_auth_delay: Duration::ZERO,
            },
        );
        ConsoleState {
            login_required: broker.authorizer.enabled() || sasl,
            broker,
            read_only,
            static_users: Arc::new(static_users),
            listener: Arc::new(listener),
            remote_mechanism,
            remote_tls,
        }
    }
}
