//! SASL settings under Kafka's names: `sasl.enabled.mechanisms` (and its
//! `listener.name.<listener>.` override), `connections.max.reauth.ms`, and
//! Gregor's `sasl.bootstrap.scram` (users the metadata starts with, in
//! `kafka-storage format --add-scram` syntax).

use super::{invalid, list, listeners, BrokerConfig, ConfigError, Listener, SecurityProtocol};
use crate::security::jwks::{JwksCache, JwksUrl};
use crate::security::jwt::Rules;
use crate::security::oauthbearer::{OAuthHandle, OAuthSettings};
use crate::security::sasl::{SaslSettings, IMPLEMENTED};
use crate::security::scram_bootstrap;
use gregor_client::SaslCredentials;
use gregor_metadata::MetadataRecord;
use std::sync::Arc;
use std::time::Duration;

pub const ENABLED_MECHANISMS: &str = "sasl.enabled.mechanisms";
pub const MAX_REAUTH_MS: &str = "connections.max.reauth.ms";
pub const BOOTSTRAP_SCRAM: &str = "sasl.bootstrap.scram";
pub const MAX_RECEIVE_SIZE: &str = "sasl.server.max.receive.size";
pub const FAILED_AUTH_DELAY_MS: &str = "connection.failed.authentication.delay.ms";
pub const JWKS_URL: &str = "sasl.oauthbearer.jwks.endpoint.url";
pub const JWKS_REFRESH_MS: &str = "sasl.oauthbearer.jwks.endpoint.refresh.ms";
pub const CLOCK_SKEW: &str = "sasl.oauthbearer.clock.skew.seconds";
pub const EXPECTED_ISSUER: &str = "sasl.oauthbearer.expected.issuer";
pub const EXPECTED_AUDIENCE: &str = "sasl.oauthbearer.expected.audience";
pub const SUB_CLAIM: &str = "sasl.oauthbearer.sub.claim.name";
pub const SCOPE_CLAIM: &str = "sasl.oauthbearer.scope.claim.name";
pub const UNSECURED: &str = "gregor.sasl.oauthbearer.unsecured.enable";

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
    let failed_auth_delay = failed_auth_delay(config)?;
    let oauth = if mechanisms.iter().any(|m| m == "OAUTHBEARER") {
        Some(OAuthHandle(Arc::new(oauth_settings(
            config,
            &listener.name,
        )?)))
    } else {
        None
    };
    Ok(Some(SaslSettings {
        oauth,
        mechanisms,
        max_reauth_ms: max_reauth_ms.max(0),
        max_receive_size: max_receive_size as usize,
        plain_users,
        failed_auth_delay,
    }))
}

/// `connection.failed.authentication.delay.ms`: how long a connection that
/// failed authentication (SASL, or the TLS handshake) stays open before it is
/// closed, so a client retrying at once is slowed down (as Kafka).
pub fn failed_auth_delay(config: &BrokerConfig) -> Result<std::time::Duration, ConfigError> {
    let ms = config
        .value(FAILED_AUTH_DELAY_MS)
        .parse::<u32>()
        .map_err(|_| {
            invalid(
                FAILED_AUTH_DELAY_MS,
                config.value(FAILED_AUTH_DELAY_MS),
                "must be a non-negative 32-bit integer",
            )
        })?;
    Ok(std::time::Duration::from_millis(u64::from(ms)))
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
    // Gregor's own client logs in with a password only (no OAUTHBEARER).
    let client_side = &IMPLEMENTED[..3];
    if !client_side.contains(&mechanism.as_str()) {
        return Err(invalid(
            mechanism_key,
            &mechanism,
            format!(
                "listener {listener} uses SASL: set {mechanism_key} to one of {}",
                client_side.join(",")
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

/// OAUTHBEARER's settings (shared by every listener that enables it):
/// a JWKS URL is required unless the development-only unsecured mode is on.
fn oauth_settings(config: &BrokerConfig, listener: &str) -> Result<OAuthSettings, ConfigError> {
    let allow_unsecured = config.value(UNSECURED).trim().eq_ignore_ascii_case("true");
    let url = config.value(JWKS_URL).trim();
    let jwks = if url.is_empty() {
        if !allow_unsecured {
            return Err(invalid(
                JWKS_URL,
                url,
                "OAUTHBEARER needs the JWKS whose keys sign the tokens",
            ));
        }
        None
    } else {
        let https_tls = if url.starts_with("https://") {
            Some(jwks_tls(config, listener).map_err(|reason| invalid(JWKS_URL, url, reason))?)
        } else {
            None
        };
        let parsed =
            JwksUrl::parse(url, https_tls).map_err(|reason| invalid(JWKS_URL, url, reason))?;
        let refresh_ms = config
            .value(JWKS_REFRESH_MS)
            .parse::<u64>()
            .ok()
            .filter(|ms| *ms > 0)
            .ok_or_else(|| {
                invalid(
                    JWKS_REFRESH_MS,
                    config.value(JWKS_REFRESH_MS),
                    "must be a positive number of milliseconds",
                )
            })?;
        Some(Arc::new(JwksCache::new(
            parsed,
            Duration::from_millis(refresh_ms),
        )))
    };
    let clock_skew_seconds = config
        .value(CLOCK_SKEW)
        .parse::<i64>()
        .ok()
        .filter(|s| *s >= 0)
        .ok_or_else(|| invalid(CLOCK_SKEW, config.value(CLOCK_SKEW), "must be >= 0"))?;
    let claim = |key: &str| -> Result<String, ConfigError> {
        let value = config.value(key).trim();
        if value.is_empty() {
            return Err(invalid(key, value, "must name a claim"));
        }
        Ok(value.to_string())
    };
    Ok(OAuthSettings {
        rules: Rules {
            clock_skew_seconds,
            issuer: config.value(EXPECTED_ISSUER).trim().to_string(),
            audience: list(config.value(EXPECTED_AUDIENCE)),
            sub_claim: claim(SUB_CLAIM)?,
            scope_claim: claim(SCOPE_CLAIM)?,
            allow_unsecured,
        },
        jwks,
    })
}

/// The TLS client an https:// JWKS endpoint is read with. Kafka builds it
/// from the `ssl.*` options of the listener's OAUTHBEARER JAAS line
/// (`ssl.truststore.location="..."`), else the JVM's trust store; Gregor has
/// no system trust store, so the broker's own `ssl.truststore.*` stands in.
fn jwks_tls(
    config: &BrokerConfig,
    listener: &str,
) -> Result<gregor_client::tls::ClientTls, String> {
    let own = format!(
        "listener.name.{}.oauthbearer.sasl.jaas.config",
        listener.to_ascii_lowercase()
    );
    let jaas = match config.value(&own) {
        "" => config.value("sasl.jaas.config"),
        jaas => jaas,
    };
    let mut settings: Vec<(String, String)> = [
        "ssl.truststore.type",
        "ssl.truststore.location",
        "ssl.truststore.certificates",
    ]
    .iter()
    .map(|key| (key.to_string(), config.value(key).to_string()))
    .filter(|(_, value)| !value.trim().is_empty())
    .collect();
    let options = gregor_client::sasl::jaas_options(jaas)
        .ok_or("the OAUTHBEARER JAAS line has an unterminated quote")?;
    let options: Vec<(String, String)> = options
        .into_iter()
        .filter(|(key, _)| key.starts_with("ssl."))
        .collect();
    if options
        .iter()
        .any(|(key, _)| key.starts_with("ssl.truststore."))
    {
        // The JAAS options name their own trust store: the broker's is not
        // mixed in.
        settings.retain(|(key, _)| !key.starts_with("ssl.truststore."));
    }
    settings.extend(options);
    gregor_client::properties::tls_from(&settings).map_err(|e| format!("{e:#}"))
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

    fn oauth_config(extra: &[(&str, &str)]) -> Result<Option<SaslSettings>, ConfigError> {
        let mut settings: std::collections::BTreeMap<String, String> = [
            (
                "listeners",
                "PLAINTEXT://127.0.0.1:9092,SASL://127.0.0.1:9093",
            ),
            (
                "listener.security.protocol.map",
                "PLAINTEXT:PLAINTEXT,SASL:SASL_PLAINTEXT",
            ),
            ("inter.broker.listener.name", "PLAINTEXT"),
            ("sasl.enabled.mechanisms", "OAUTHBEARER"),
        ]
        .iter()
        .chain(extra)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        settings.retain(|_, v| !v.is_empty());
        let config = BrokerConfig::from_settings(settings)?;
        let listener = config
            .listeners
            .bound
            .iter()
            .find(|l| l.name == "SASL")
            .cloned()
            .unwrap();
        super::settings(&config, &listener)
    }

    #[test]
    fn oauthbearer_settings() {
        let err = |extra: &[(&str, &str)]| oauth_config(extra).unwrap_err().to_string();
        assert!(err(&[]).contains(JWKS_URL));
        // https needs a trust store: the JAAS line's ssl.* options, else the
        // broker's ssl.truststore.*; a bad one is a one-line start-up error.
        let https = err(&[(JWKS_URL, "https://idp/jwks")]);
        assert!(
            https.contains(JWKS_URL) && https.contains("trust store"),
            "{https}"
        );
        let jaas = "listener.name.sasl.oauthbearer.sasl.jaas.config";
        let missing = err(&[
            (JWKS_URL, "https://idp/jwks"),
            (
                jaas,
                "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required ssl.truststore.location=\"/nonexistent/ca.pem\";",
            ),
        ]);
        assert!(missing.contains("/nonexistent/ca.pem"), "{missing}");
        let fallback = err(&[
            (JWKS_URL, "https://idp/jwks"),
            ("ssl.truststore.location", "/nonexistent/broker-ca.pem"),
        ]);
        assert!(
            fallback.contains("/nonexistent/broker-ca.pem"),
            "{fallback}"
        );
        assert!(err(&[(JWKS_URL, "ftp://idp/jwks")]).contains(JWKS_URL));
        assert!(err(&[(JWKS_URL, "file:///j"), (JWKS_REFRESH_MS, "0")]).contains(JWKS_REFRESH_MS));
        assert!(err(&[(JWKS_URL, "file:///j"), (CLOCK_SKEW, "-1")]).contains(CLOCK_SKEW));
        let sasl = oauth_config(&[
            (JWKS_URL, "http://127.0.0.1:1/jwks"),
            (EXPECTED_AUDIENCE, "a, b"),
            (EXPECTED_ISSUER, "https://idp"),
            (SUB_CLAIM, "email"),
        ])
        .unwrap()
        .unwrap();
        let oauth = sasl.oauth.unwrap();
        assert_eq!(oauth.0.rules.audience, vec!["a", "b"]);
        assert_eq!(oauth.0.rules.sub_claim, "email");
        assert_eq!(oauth.0.rules.clock_skew_seconds, 30);
        assert!(!oauth.0.rules.allow_unsecured);
        // The development mode needs no JWKS.
        let dev = oauth_config(&[(UNSECURED, "true")]).unwrap().unwrap();
        let dev = dev.oauth.unwrap();
        assert!(dev.0.rules.allow_unsecured && dev.0.jwks.is_none());
        // Gregor's own client cannot log in with OAUTHBEARER.
        let err = BrokerConfig::from_settings(
            [
                ("listeners", "SASL://127.0.0.1:9093"),
                ("listener.security.protocol.map", "SASL:SASL_PLAINTEXT"),
                ("inter.broker.listener.name", "SASL"),
                (INTER_BROKER_MECHANISM, "OAUTHBEARER"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("PLAIN,SCRAM-SHA-256,SCRAM-SHA-512"),
            "{err}"
        );
    }
}
