//! How a connection reaches a listener's security: TLS (SSL, SASL_SSL) and
//! a SASL login (SASL_PLAINTEXT, SASL_SSL) held together, so every user of
//! connections (the CLI's clients, controller and broker channels, replica
//! fetchers, raft peers) carries one cheap clone instead of two fields. The
//! sequence itself (TCP -> TLS -> ApiVersions -> SASL) is in
//! [`crate::Connection::connect_with`].

use crate::sasl::SaslCredentials;
use crate::tls::ClientTls;

/// TLS and SASL for outgoing connections; the default is PLAINTEXT.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Connector {
    tls: Option<ClientTls>,
    sasl: Option<SaslCredentials>,
}

impl Connector {
    pub fn new(tls: Option<ClientTls>, sasl: Option<SaslCredentials>) -> Connector {
        Connector { tls, sasl }
    }

    pub fn tls(&self) -> Option<&ClientTls> {
        self.tls.as_ref()
    }

    pub fn sasl(&self) -> Option<&SaslCredentials> {
        self.sasl.as_ref()
    }

    /// Kafka's name for what this connector speaks.
    pub fn security_protocol(&self) -> &'static str {
        match (&self.tls, &self.sasl) {
            (None, None) => "PLAINTEXT",
            (Some(_), None) => "SSL",
            (None, Some(_)) => "SASL_PLAINTEXT",
            (Some(_), Some(_)) => "SASL_SSL",
        }
    }
}
