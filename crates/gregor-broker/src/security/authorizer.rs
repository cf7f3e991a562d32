//! The broker's authorizer: decides each action from the ACLs in this
//! broker's metadata image (see `gregor_metadata::acl` for the rules) and
//! hands every decision worth recording to the audit trail.

use super::audit::{AuditEvent, AuditLog};
use super::Session;
use crate::config::authorizer::AuthorizerConfig;
use gregor_metadata::acl::{self, AclOperation, Action, Decision, ResourceType};
use gregor_metadata::MetadataImage;
use kafka_protocol::messages::ApiKey;

pub struct Authorizer {
    config: AuthorizerConfig,
    audit: AuditLog,
}

/// Whether a denial is worth an audit record: Kafka logs denials of
/// resources a client asked for by name, not those of resources it merely
/// did not get in a listing (`logIfDenied`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audit {
    Record,
    Quiet,
}

impl Authorizer {
    pub fn new(config: AuthorizerConfig) -> Authorizer {
        let audit = AuditLog::new(config.enabled && config.audit);
        Authorizer { config, audit }
    }

    /// Whether `authorizer.class.name` is set: without it every request is
    /// allowed and the ACL APIs answer SECURITY_DISABLED.
    pub fn enabled(&self) -> bool {
        self.config.enabled
    }

    pub fn audit_log(&self) -> &AuditLog {
        &self.audit
    }

    /// Whether `session` may perform `action`; always true without an
    /// authorizer.
    pub fn allows(
        &self,
        image: &MetadataImage,
        session: &Session,
        api: ApiKey,
        action: Action<'_>,
        audit: Audit,
    ) -> bool {
        if !self.enabled() {
            return true;
        }
        let principal = session.principal.to_string();
        let host = host_of(session);
        let decision = acl::authorize(
            image.acls.values(),
            &self.config.settings,
            &principal,
            &host,
            action,
        );
        self.record(&principal, &host, api, action, &decision, audit);
        decision.allowed
    }

    /// [`Self::allows`] on the cluster resource.
    pub fn allows_cluster(
        &self,
        image: &MetadataImage,
        session: &Session,
        api: ApiKey,
        operation: AclOperation,
    ) -> bool {
        self.allows(
            image,
            session,
            api,
            Action::cluster(operation),
            Audit::Record,
        )
    }

    /// The `authorizedOperations` bit field of a resource for `session`
    /// (Kafka's `AuthHelper.authorizedOperations`): every supported
    /// operation without an authorizer. Never audited, as in Kafka (its
    /// actions log neither allows nor denials).
    pub fn authorized_operations(
        &self,
        image: &MetadataImage,
        session: &Session,
        resource_type: ResourceType,
        name: &str,
    ) -> i32 {
        if !self.enabled() {
            return acl::operations_bit_field(
                acl::supported_operations(resource_type).iter().copied(),
            );
        }
        acl::authorized_operations(
            image.acls.values(),
            &self.config.settings,
            &session.principal.to_string(),
            &host_of(session),
            resource_type,
            name,
        )
    }

    /// Whether `session` may perform `operation` on at least one resource
    /// of `resource_type` (KIP-679, the idempotent producer's check).
    pub fn allows_any(
        &self,
        image: &MetadataImage,
        session: &Session,
        api: ApiKey,
        operation: AclOperation,
        resource_type: ResourceType,
    ) -> bool {
        if !self.enabled() {
            return true;
        }
        let principal = session.principal.to_string();
        let host = host_of(session);
        let decision = acl::authorize_by_resource_type(
            image.acls.values(),
            &self.config.settings,
            &principal,
            &host,
            operation,
            resource_type,
        );
        let action = Action::new(operation, resource_type, "*");
        self.record(&principal, &host, api, action, &decision, Audit::Record);
        decision.allowed
    }

    fn record(
        &self,
        principal: &str,
        host: &str,
        api: ApiKey,
        action: Action<'_>,
        decision: &Decision,
        audit: Audit,
    ) {
        let wanted = if decision.allowed {
            self.config.audit_allow
        } else {
            audit == Audit::Record
        };
        if !wanted {
            return;
        }
        if !decision.allowed {
            tracing::info!(
                principal,
                host,
                api = ?api,
                operation = %action.operation,
                resource = %format!("{}:{}", action.resource_type, action.resource_name),
                rule = %decision.rule,
                "authorization denied"
            );
        }
        self.audit
            .push(AuditEvent::new(principal, host, api, action, decision));
    }
}

/// The client's address as ACL hosts name it.
fn host_of(session: &Session) -> String {
    let ip = session.peer.ip();
    // An IPv4 client on a dual-stack socket shows as ::ffff:a.b.c.d; ACLs
    // name it a.b.c.d, as Java's getHostAddress prints it.
    match ip {
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => v6.to_string(),
        },
        std::net::IpAddr::V4(v4) => v4.to_string(),
    }
}
