//! ACL bindings and SCRAM users, through the same APIs as `kafka-acls`
//! (DescribeAcls, CreateAcls, DeleteAcls) and `kafka-configs
//! --alter --add-config SCRAM-...` (Describe/AlterUserScramCredentials):
//! authorized as they are (Describe / Alter on the Cluster).

use crate::console::call::unexpected;
use crate::console::call::{call, kafka_error};
use crate::console::{ConsoleError, Ctx};
use crate::security::scram::{random_bytes, salted_password, Mechanism};
use gregor_metadata::acl::{AclBinding, AclOperation, AclPermission, PatternType, ResourceType};
use kafka_protocol::messages::alter_user_scram_credentials_request::{
    ScramCredentialDeletion, ScramCredentialUpsertion,
};
use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest,
    DescribeUserScramCredentialsRequest, RequestKind, ResponseKind,
};
use kafka_protocol::protocol::StrBytes;

/// Kafka's default for new SCRAM credentials (`kafka-configs`): 4096.
pub const DEFAULT_ITERATIONS: i32 = 4096;

/// The fields of an ACL binding as a form gives them (names, not codes).
#[derive(Debug, Clone, Default)]
pub struct AclForm {
    pub resource_type: String,
    pub resource_name: String,
    pub pattern_type: String,
    pub principal: String,
    pub host: String,
    pub operation: String,
    pub permission: String,
}

impl AclForm {
    /// The binding, each name checked: an unknown one is a 400.
    pub fn binding(&self) -> Result<AclBinding, ConsoleError> {
        fn parsed<T>(
            what: &str,
            text: &str,
            parse: impl Fn(&str) -> Option<T>,
        ) -> Result<T, ConsoleError> {
            parse(text.trim())
                .ok_or_else(|| ConsoleError::bad_request(format!("unknown {what} {text:?}")))
        }
        let pattern = if self.pattern_type.trim().is_empty() {
            PatternType::Literal
        } else {
            parsed("pattern type", &self.pattern_type, PatternType::parse)?
        };
        let host = if self.host.trim().is_empty() {
            "*".to_string()
        } else {
            self.host.trim().to_string()
        };
        if !self.principal.contains(':') {
            return Err(ConsoleError::bad_request(format!(
                "principal {:?} must be Type:name, e.g. User:alice",
                self.principal
            )));
        }
        Ok(AclBinding {
            resource_type: parsed("resource type", &self.resource_type, ResourceType::parse)?,
            resource_name: self.resource_name.trim().to_string(),
            pattern_type: pattern,
            principal: self.principal.trim().to_string(),
            host,
            operation: parsed("operation", &self.operation, AclOperation::parse)?,
            permission: parsed("permission", &self.permission, AclPermission::parse)?,
        })
    }
}

/// Every ACL binding (DescribeAcls with a match-all filter).
pub async fn list_acls(ctx: &Ctx) -> Result<Vec<AclBinding>, ConsoleError> {
    let request = DescribeAclsRequest::default()
        .with_resource_type_filter(ResourceType::Any.code())
        // The crate's defaults are empty strings, which match nothing.
        .with_resource_name_filter(None)
        .with_principal_filter(None)
        .with_host_filter(None)
        .with_pattern_type_filter(PatternType::Any.code())
        .with_operation(AclOperation::Any.code())
        .with_permission_type(AclPermission::Any.code());
    let response = match call(ctx, RequestKind::DescribeAcls(request)).await? {
        ResponseKind::DescribeAcls(response) => response,
        _ => return Err(unexpected("DescribeAcls")),
    };
    if response.error_code != 0 {
        return Err(with_message(
            response.error_code,
            response.error_message,
            "listing ACLs",
        ));
    }
    let mut out: Vec<AclBinding> = response
        .resources
        .iter()
        .flat_map(|r| {
            r.acls.iter().map(move |a| {
                AclBinding::from_wire(
                    r.resource_type,
                    &r.resource_name,
                    r.pattern_type,
                    &a.principal,
                    &a.host,
                    a.operation,
                    a.permission_type,
                )
            })
        })
        .collect();
    out.sort();
    Ok(out)
}

pub async fn create_acl(ctx: &Ctx, binding: &AclBinding) -> Result<(), ConsoleError> {
    let creation = AclCreation::default()
        .with_resource_type(binding.resource_type.code())
        .with_resource_name(str(&binding.resource_name))
        .with_resource_pattern_type(binding.pattern_type.code())
        .with_principal(str(&binding.principal))
        .with_host(str(&binding.host))
        .with_operation(binding.operation.code())
        .with_permission_type(binding.permission.code());
    let request = CreateAclsRequest::default().with_creations(vec![creation]);
    let response = match call(ctx, RequestKind::CreateAcls(request)).await? {
        ResponseKind::CreateAcls(response) => response,
        _ => return Err(unexpected("CreateAcls")),
    };
    match response.results.into_iter().next() {
        Some(r) if r.error_code == 0 => Ok(()),
        Some(r) => Err(with_message(
            r.error_code,
            r.error_message,
            "creating the ACL",
        )),
        None => Err(unexpected("CreateAcls")),
    }
}

/// Deletes exactly `binding` (a filter naming every field); returns how
/// many bindings went (0 or 1).
pub async fn delete_acl(ctx: &Ctx, binding: &AclBinding) -> Result<usize, ConsoleError> {
    let filter = DeleteAclsFilter::default()
        .with_resource_type_filter(binding.resource_type.code())
        .with_resource_name_filter(Some(str(&binding.resource_name)))
        .with_pattern_type_filter(binding.pattern_type.code())
        .with_principal_filter(Some(str(&binding.principal)))
        .with_host_filter(Some(str(&binding.host)))
        .with_operation(binding.operation.code())
        .with_permission_type(binding.permission.code());
    let request = DeleteAclsRequest::default().with_filters(vec![filter]);
    let response = match call(ctx, RequestKind::DeleteAcls(request)).await? {
        ResponseKind::DeleteAcls(response) => response,
        _ => return Err(unexpected("DeleteAcls")),
    };
    match response.filter_results.into_iter().next() {
        Some(r) if r.error_code == 0 => Ok(r.matching_acls.len()),
        Some(r) => Err(with_message(
            r.error_code,
            r.error_message,
            "deleting the ACL",
        )),
        None => Err(unexpected("DeleteAcls")),
    }
}

/// A SCRAM user and the mechanisms it has credentials for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramUser {
    pub name: String,
    /// (mechanism name, iterations).
    pub credentials: Vec<(String, i32)>,
}

pub async fn list_users(ctx: &Ctx) -> Result<Vec<ScramUser>, ConsoleError> {
    // No user list: every user (Kafka's "describe all").
    let request = DescribeUserScramCredentialsRequest::default().with_users(None);
    let response = match call(ctx, RequestKind::DescribeUserScramCredentials(request)).await? {
        ResponseKind::DescribeUserScramCredentials(response) => response,
        _ => return Err(unexpected("DescribeUserScramCredentials")),
    };
    if response.error_code != 0 {
        return Err(with_message(
            response.error_code,
            response.error_message,
            "listing SCRAM users",
        ));
    }
    let mut out: Vec<ScramUser> = response
        .results
        .into_iter()
        .filter(|r| r.error_code == 0)
        .map(|r| ScramUser {
            name: r.user.to_string(),
            credentials: r
                .credential_infos
                .iter()
                .map(|c| {
                    let name = Mechanism::from_id(c.mechanism).map_or_else(
                        || format!("mechanism {}", c.mechanism),
                        |m| m.name().to_string(),
                    );
                    (name, c.iterations)
                })
                .collect(),
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Creates or replaces a user's credential for `mechanism`
/// (`SCRAM-SHA-256` / `SCRAM-SHA-512`): the salted password is computed
/// here, as Kafka's admin client does, so the password never travels on.
pub async fn upsert_user(
    ctx: &Ctx,
    name: &str,
    mechanism: &str,
    password: &str,
    iterations: Option<i32>,
) -> Result<(), ConsoleError> {
    let mechanism = parse_mechanism(mechanism)?;
    if name.is_empty() {
        return Err(ConsoleError::bad_request("the user name is empty"));
    }
    if password.is_empty() {
        return Err(ConsoleError::bad_request("the password is empty"));
    }
    let iterations = iterations.unwrap_or(DEFAULT_ITERATIONS);
    // The broker refuses out-of-range counts itself; only guard the cast.
    let rounds = u32::try_from(iterations)
        .map_err(|_| ConsoleError::bad_request("iterations must be positive"))?;
    let salt = random_bytes(32);
    let salted = salted_password(mechanism, password.as_bytes(), &salt, rounds.max(1));
    let upsertion = ScramCredentialUpsertion::default()
        .with_name(str(name))
        .with_mechanism(mechanism.id())
        .with_iterations(iterations)
        .with_salt(salt.into())
        .with_salted_password(salted.into());
    alter(
        ctx,
        AlterUserScramCredentialsRequest::default().with_upsertions(vec![upsertion]),
        name,
    )
    .await
}

pub async fn delete_user(ctx: &Ctx, name: &str, mechanism: &str) -> Result<(), ConsoleError> {
    let mechanism = parse_mechanism(mechanism)?;
    let deletion = ScramCredentialDeletion::default()
        .with_name(str(name))
        .with_mechanism(mechanism.id());
    alter(
        ctx,
        AlterUserScramCredentialsRequest::default().with_deletions(vec![deletion]),
        name,
    )
    .await
}

async fn alter(
    ctx: &Ctx,
    request: AlterUserScramCredentialsRequest,
    name: &str,
) -> Result<(), ConsoleError> {
    let response = match call(ctx, RequestKind::AlterUserScramCredentials(request)).await? {
        ResponseKind::AlterUserScramCredentials(response) => response,
        _ => return Err(unexpected("AlterUserScramCredentials")),
    };
    match response.results.into_iter().next() {
        Some(r) if r.error_code == 0 => Ok(()),
        Some(r) => Err(with_message(
            r.error_code,
            r.error_message,
            &format!("altering user {name}"),
        )),
        None => Err(unexpected("AlterUserScramCredentials")),
    }
}

fn parse_mechanism(text: &str) -> Result<Mechanism, ConsoleError> {
    Mechanism::from_name(text.trim()).ok_or_else(|| {
        ConsoleError::bad_request(format!(
            "unknown mechanism {text:?}: SCRAM-SHA-256 or SCRAM-SHA-512"
        ))
    })
}

fn str(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// A Kafka error with the broker's own message when it sent one.
fn with_message(code: i16, message: Option<StrBytes>, doing: &str) -> ConsoleError {
    let mut err = kafka_error(code, doing);
    if let Some(message) = message.filter(|m| !m.is_empty()) {
        err.message = format!("{}: {}", err.message, message.as_str());
    }
    err
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acl_forms_take_kafka_names_and_refuse_others() {
        let form = AclForm {
            resource_type: "topic".into(),
            resource_name: "orders".into(),
            pattern_type: "".into(),
            principal: "User:alice".into(),
            host: "".into(),
            operation: "READ".into(),
            permission: "allow".into(),
        };
        let binding = form.binding().map_err(|e| e.message);
        assert_eq!(binding.as_ref().map(|b| b.host.as_str()), Ok("*"));
        assert_eq!(binding.map(|b| b.pattern_type), Ok(PatternType::Literal));
        let bad = AclForm {
            operation: "juggle".into(),
            ..form.clone()
        };
        assert_eq!(bad.binding().map_err(|e| e.status.as_u16()), Err(400));
        let no_type = AclForm {
            principal: "alice".into(),
            ..form
        };
        assert_eq!(no_type.binding().map_err(|e| e.status.as_u16()), Err(400));
    }
}
