//! SASL settings under Kafka's names: `sasl.enabled.mechanisms` (and its
//! `listener.name.<listener>.` override), `connections.max.reauth.ms`, and
//! Gregor's `sasl.bootstrap.scram` (users the metadata starts with, in
//! `kafka-storage format --add-scram` syntax).

use super::{invalid, list, BrokerConfig, ConfigError, Listener, SecurityProtocol};
use crate::security::sasl::{SaslSettings, IMPLEMENTED};
use crate::security::scram_bootstrap;
use gregor_metadata::MetadataRecord;

pub const ENABLED_MECHANISMS: &str = "sasl.enabled.mechanisms";
pub const MAX_REAUTH_MS: &str = "connections.max.reauth.ms";
pub const BOOTSTRAP_SCRAM: &str = "sasl.bootstrap.scram";

/// Settings under `listener.name.<listener>.` that Gregor reads.
const PER_LISTENER: &[&str] = &[ENABLED_MECHANISMS];

/// Whether `key` is a per-listener SASL setting Gregor accepts:
/// `listener.name.<l>.sasl.enabled.mechanisms`, or the JAAS config of a
/// mechanism (`listener.name.<l>.<mechanism>.sasl.jaas.config`).
pub fn is_listener_setting(key: &str) -> bool {
    let Some(rest) = key.strip_prefix("listener.name.") else {
        return false;
    };
    let Some((_, setting)) = rest.split_once('.') else {
        return false;
    };
    if PER_LISTENER.contains(&setting) {
        return true;
    }
    setting
        .strip_suffix(".sasl.jaas.config")
        .is_some_and(|mechanism| {
            IMPLEMENTED
                .iter()
                .any(|m| m.eq_ignore_ascii_case(mechanism))
        })
}

/// The SASL settings of `listener`; `None` unless its protocol is SASL_*.
pub fn settings(
    config: &BrokerConfig,
    listener: &Listener,
) -> Result<Option<SaslSettings>, ConfigError> {
    if !matches!(
        listener.protocol,
        SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
    ) {
        return Ok(None);
    }
    let own = format!(
        "listener.name.{}.{ENABLED_MECHANISMS}",
        listener.name.to_ascii_lowercase()
    );
    let key = if config.is_explicit(&own) {
        own.as_str()
    } else {
        ENABLED_MECHANISMS
    };
    let value = config.value(key);
    let mechanisms = list(value);
    if mechanisms.is_empty() {
        return Err(invalid(
            key,
            value,
            "a SASL listener needs at least one mechanism",
        ));
    }
    if let Some(unknown) = mechanisms
        .iter()
        .find(|m| !IMPLEMENTED.contains(&m.as_str()))
    {
        return Err(invalid(
            key,
            value,
            format!(
                "Gregor does not implement {unknown} (supported: {})",
                IMPLEMENTED.join(",")
            ),
        ));
    }
    let max_reauth_ms = config.value(MAX_REAUTH_MS).parse::<i64>().map_err(|_| {
        invalid(
            MAX_REAUTH_MS,
            config.value(MAX_REAUTH_MS),
            "expected a 64-bit integer",
        )
    })?;
    Ok(Some(SaslSettings {
        mechanisms,
        max_reauth_ms: max_reauth_ms.max(0),
    }))
}

/// Checks every listener's SASL settings and `sasl.bootstrap.scram` at start-up.
pub fn check(config: &BrokerConfig) -> Result<(), ConfigError> {
    for listener in &config.listeners.bound {
        settings(config, listener)?;
    }
    bootstrap_records(config)?;
    Ok(())
}

/// The SCRAM credentials `sasl.bootstrap.scram` asks for, as records. They
/// are written with the first metadata change of a new cluster only.
pub fn bootstrap_records(config: &BrokerConfig) -> Result<Vec<MetadataRecord>, ConfigError> {
    let value = config.value(BOOTSTRAP_SCRAM);
    // Never echo the value: it holds passwords.
    scram_bootstrap::parse_all(value).map_err(|reason| invalid(BOOTSTRAP_SCRAM, "(hidden)", reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_listener_settings() {
        assert!(is_listener_setting(
            "listener.name.sasl.sasl.enabled.mechanisms"
        ));
        assert!(is_listener_setting(
            "listener.name.client.scram-sha-256.sasl.jaas.config"
        ));
        assert!(is_listener_setting(
            "listener.name.client.plain.sasl.jaas.config"
        ));
        assert!(!is_listener_setting(
            "listener.name.client.gssapi.sasl.jaas.config"
        ));
        assert!(!is_listener_setting("listener.name.client.foo"));
        assert!(!is_listener_setting("sasl.enabled.mechanisms"));
    }
}
