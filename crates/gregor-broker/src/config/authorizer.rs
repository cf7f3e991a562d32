//! `authorizer.class.name`, `super.users`, `allow.everyone.if.no.acl.found`
//! and Gregor's audit switches.

use super::{invalid, BrokerConfig, ConfigError};
use gregor_metadata::acl::AuthorizerSettings;

/// Kafka's KRaft authorizer; Gregor's is the same semantics.
pub const KAFKA_STANDARD_AUTHORIZER: &str =
    "org.apache.kafka.metadata.authorizer.StandardAuthorizer";
/// The short name Gregor also accepts.
pub const GREGOR_AUTHORIZER: &str = "gregor.StandardAuthorizer";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthorizerConfig {
    /// Whether an authorizer is configured at all.
    pub enabled: bool,
    pub settings: AuthorizerSettings,
    /// Write decisions to the audit topic.
    pub audit: bool,
    /// Record allowed decisions too, not only denials.
    pub audit_allow: bool,
}

pub(super) fn settings(config: &BrokerConfig) -> Result<AuthorizerConfig, ConfigError> {
    let class = config.value("authorizer.class.name").trim();
    let enabled = match class {
        "" => false,
        KAFKA_STANDARD_AUTHORIZER | GREGOR_AUTHORIZER | "StandardAuthorizer" => true,
        other => {
            return Err(invalid(
                "authorizer.class.name",
                other,
                format!(
                "Gregor's only authorizer is {KAFKA_STANDARD_AUTHORIZER} (or {GREGOR_AUTHORIZER})"
            ),
            ))
        }
    };
    Ok(AuthorizerConfig {
        enabled,
        settings: AuthorizerSettings {
            super_users: AuthorizerSettings::parse_super_users(config.value("super.users")),
            allow_everyone_if_no_acl_found: config.value("allow.everyone.if.no.acl.found")
                == "true",
        },
        audit: config.value("gregor.authorizer.audit.enable") == "true",
        audit_allow: config.value("gregor.authorizer.audit.allow") == "true",
    })
}
