//! SASL settings under Kafka's names: `sasl.enabled.mechanisms` (and its
//! `listener.name.<listener>.` override), `connections.max.reauth.ms`, and
//! Gregor's `sasl.bootstrap.scram` (users the metadata starts with, in
//! `kafka-storage format --add-scram` syntax).

use super::{invalid, list, listeners, BrokerConfig, ConfigError, Listener, SecurityProtocol};
use crate::security::sasl::{SaslSettings, IMPLEMENTED};
use crate::security::scram_bootstrap;
use gregor_client::SaslCredentials;
use gregor_metadata::MetadataRecord;

pub const ENABLED_MECHANISMS: &str = "sasl.enabled.mechanisms";
pub const MAX_REAUTH_MS: &str = "connections.max.reauth.ms";
pub const BOOTSTRAP_SCRAM: &str = "sasl.bootstrap.scram";
pub const MAX_RECEIVE_SIZE: &str = "sasl.server.max.receive.size";

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
    let plain_jaas_key = format!(
        "listener.name.{}.plain.sasl.jaas.config",
        listener.name.to_ascii_lowercase()
    );
    let plain_users = match config.value(&plain_jaas_key) {
        "" => Vec::new(),
        jaas => gregor_client::sasl::jaas_options(jaas)
            .ok_or_else(|| invalid(&plain_jaas_key, "(hidden)", "unterminated quote"))?
            .into_iter()
            .filter_map(|(key, password)| {
                key.strip_prefix("user_")
                    .map(|name| (name.to_string(), password))
            })
            .collect(),
    };
    let max_receive_size = config
        .value(MAX_RECEIVE_SIZE)
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| {
            invalid(
                MAX_RECEIVE_SIZE,
                config.value(MAX_RECEIVE_SIZE),
                "must be a positive 32-bit integer",
            )
        })?;
    Ok(Some(SaslSettings {
        mechanisms,
        max_reauth_ms: max_reauth_ms.max(0),
        max_receive_size: max_receive_size as usize,
        plain_users,
    }))
}

/// Checks every listener's SASL settings, the credentials this node logs in
/// with, and `sasl.bootstrap.scram` at start-up.
pub fn check(config: &BrokerConfig) -> Result<(), ConfigError> {
    for listener in &config.listeners.bound {
        settings(config, listener)?;
    }
    inter_broker_credentials(config)?;
    controller_credentials(config)?;
    bootstrap_records(config)?;
    Ok(())
}

pub const INTER_BROKER_MECHANISM: &str = "sasl.mechanism.inter.broker.protocol";
pub const CONTROLLER_MECHANISM: &str = "sasl.mechanism.controller.protocol";

/// How this broker logs in to other brokers when the inter-broker listener
/// is SASL_*: `sasl.mechanism.inter.broker.protocol` and the user in
/// `listener.name.<inter-broker listener>.<mechanism>.sasl.jaas.config`.
pub fn inter_broker_credentials(
    config: &BrokerConfig,
) -> Result<Option<SaslCredentials>, ConfigError> {
    credentials(
        config,
        &config.listeners.inter_broker,
        INTER_BROKER_MECHANISM,
    )
}

/// How this node logs in to the controllers (raft peers, and brokers to the
/// active controller) when the first controller listener is SASL_*:
/// `sasl.mechanism.controller.protocol` and that listener's JAAS config.
pub fn controller_credentials(
    config: &BrokerConfig,
) -> Result<Option<SaslCredentials>, ConfigError> {
    let Some(name) = list(config.value(listeners::CONTROLLER_NAMES))
        .into_iter()
        .next()
    else {
        return Ok(None);
    };
    credentials(config, &name.to_ascii_uppercase(), CONTROLLER_MECHANISM)
}

fn credentials(
    config: &BrokerConfig,
    listener: &str,
    mechanism_key: &str,
) -> Result<Option<SaslCredentials>, ConfigError> {
    let protocol = listeners::protocol_map(config)?.get(listener).copied();
    if !matches!(
        protocol,
        Some(SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl)
    ) {
        return Ok(None);
    }
    let mechanism = config.value(mechanism_key).trim().to_string();
    if !IMPLEMENTED.contains(&mechanism.as_str()) {
        return Err(invalid(
            mechanism_key,
            &mechanism,
            format!(
                "listener {listener} uses SASL: set {mechanism_key} to one of {}",
                IMPLEMENTED.join(",")
            ),
        ));
    }
    let jaas_key = format!(
        "listener.name.{}.{}.sasl.jaas.config",
        listener.to_ascii_lowercase(),
        mechanism.to_ascii_lowercase()
    );
    let jaas = config.value(&jaas_key);
    let Some((username, password)) = gregor_client::sasl::parse_jaas(jaas) else {
        return Err(invalid(
            &jaas_key,
            "(hidden)",
            "needs username=\"...\" password=\"...\" (the user this node logs in as)",
        ));
    };
    Ok(Some(SaslCredentials {
        mechanism,
        username,
        password,
    }))
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
