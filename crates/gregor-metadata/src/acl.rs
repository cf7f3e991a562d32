//! ACLs and the authorization decision, with the semantics of Kafka's
//! `StandardAuthorizer` (KRaft): ACL bindings live in the metadata log, so
//! every broker decides from its own image.
//!
//! A binding reads "principal P is allowed/denied operation O from host H
//! on resources matching pattern R". The decision for one action:
//! super users are always allowed; otherwise any matching DENY wins, then
//! any matching ALLOW; with no ACL at all on the resource the result is
//! `allow.everyone.if.no.acl.found`, and with ACLs on the resource that do
//! not match, DENY. Implied operations (DESCRIBE from READ/WRITE/DELETE/ALTER,
//! DESCRIBE_CONFIGS from ALTER_CONFIGS) apply to ALLOW bindings only.
//!
//! Everything here is pure: the broker supplies the bindings from its image.

use gregor_protocol::error_codes;
use std::collections::HashSet;
use std::fmt;

/// The literal resource name that matches every resource of its type.
pub const WILDCARD_RESOURCE: &str = "*";
/// The principal that matches every principal.
pub const WILDCARD_PRINCIPAL: &str = "User:*";
/// The host that matches every client address.
pub const WILDCARD_HOST: &str = "*";
/// The only name a CLUSTER resource has.
pub const CLUSTER_NAME: &str = "kafka-cluster";

macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $code:literal, $text:literal;)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($variant,)*
        }

        impl $name {
            pub const ALL_VALUES: &'static [$name] = &[$($name::$variant,)*];

            /// The wire code; every unknown code reads as `Unknown`.
            pub fn from_code(code: i8) -> $name {
                match code {
                    $($code => $name::$variant,)*
                    _ => $name::Unknown,
                }
            }

            pub fn code(self) -> i8 {
                match self {
                    $($name::$variant => $code,)*
                }
            }

            /// The name as Kafka's tools print it (`Read`, `TransactionalId`).
            pub fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }

            /// Parses a name as users type it: any case, with or without
            /// underscores (`read`, `IDEMPOTENT_WRITE`, `IdempotentWrite`).
            pub fn parse(text: &str) -> Option<$name> {
                let wanted: String = text.chars().filter(|c| *c != '_' && *c != '-').collect();
                Self::ALL_VALUES
                    .iter()
                    .copied()
                    .find(|v| v.name().eq_ignore_ascii_case(&wanted))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

wire_enum!(
    /// Kafka's `ResourceType`.
    ResourceType {
        Unknown = 0, "Unknown";
        Any = 1, "Any";
        Topic = 2, "Topic";
        Group = 3, "Group";
        Cluster = 4, "Cluster";
        TransactionalId = 5, "TransactionalId";
        DelegationToken = 6, "DelegationToken";
        User = 7, "User";
    }
);

wire_enum!(
    /// Kafka's `PatternType`: LITERAL and PREFIXED are stored; ANY and MATCH
    /// exist only in filters.
    PatternType {
        Unknown = 0, "Unknown";
        Any = 1, "Any";
        Match = 2, "Match";
        Literal = 3, "Literal";
        Prefixed = 4, "Prefixed";
    }
);

wire_enum!(
    /// Kafka's `AclOperation`.
    AclOperation {
        Unknown = 0, "Unknown";
        Any = 1, "Any";
        All = 2, "All";
        Read = 3, "Read";
        Write = 4, "Write";
        Create = 5, "Create";
        Delete = 6, "Delete";
        Alter = 7, "Alter";
        Describe = 8, "Describe";
        ClusterAction = 9, "ClusterAction";
        DescribeConfigs = 10, "DescribeConfigs";
        AlterConfigs = 11, "AlterConfigs";
        IdempotentWrite = 12, "IdempotentWrite";
        CreateTokens = 13, "CreateTokens";
        DescribeTokens = 14, "DescribeTokens";
    }
);

wire_enum!(
    /// Kafka's `AclPermissionType`.
    AclPermission {
        Unknown = 0, "Unknown";
        Any = 1, "Any";
        Deny = 2, "Deny";
        Allow = 3, "Allow";
    }
);

/// One ACL (Kafka's `StandardAcl` / `AclBinding`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AclBinding {
    pub resource_type: ResourceType,
    pub resource_name: String,
    pub pattern_type: PatternType,
    /// `Type:name`, e.g. `User:alice`, or `User:*`.
    pub principal: String,
    /// `*` or an exact IP address.
    pub host: String,
    pub operation: AclOperation,
    pub permission: AclPermission,
}

impl AclBinding {
    /// A binding from its fields as ACL messages carry them, in their
    /// order there (CreateAcls creations, DescribeAcls and DeleteAcls
    /// results); unknown codes read as `Unknown`.
    pub fn from_wire(
        resource_type: i8,
        resource_name: &str,
        pattern_type: i8,
        principal: &str,
        host: &str,
        operation: i8,
        permission: i8,
    ) -> AclBinding {
        AclBinding {
            resource_type: ResourceType::from_code(resource_type),
            resource_name: resource_name.to_string(),
            pattern_type: PatternType::from_code(pattern_type),
            principal: principal.to_string(),
            host: host.to_string(),
            operation: AclOperation::from_code(operation),
            permission: AclPermission::from_code(permission),
        }
    }
}

impl fmt::Display for AclBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "(principal={}, host={}, operation={}, permissionType={}) on {}:{}:{}",
            self.principal,
            self.host,
            self.operation,
            self.permission,
            self.resource_type,
            self.pattern_type,
            self.resource_name
        )
    }
}

/// What a DescribeAcls / DeleteAcls filter asks for (Kafka's
/// `AclBindingFilter`); `None` fields match anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclFilter {
    pub resource_type: ResourceType,
    pub resource_name: Option<String>,
    pub pattern_type: PatternType,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: AclOperation,
    pub permission: AclPermission,
}

impl AclFilter {
    /// Matches every ACL.
    pub fn any() -> AclFilter {
        AclFilter {
            resource_type: ResourceType::Any,
            resource_name: None,
            pattern_type: PatternType::Any,
            principal: None,
            host: None,
            operation: AclOperation::Any,
            permission: AclPermission::Any,
        }
    }

    /// A filter with an UNKNOWN field is refused (INVALID_REQUEST), as
    /// Kafka's `AclControlManager.validateFilter` does.
    pub fn validate(&self) -> Result<(), String> {
        if self.resource_type == ResourceType::Unknown || self.pattern_type == PatternType::Unknown
        {
            return Err("Unknown patternFilter.".to_string());
        }
        if self.operation == AclOperation::Unknown || self.permission == AclPermission::Unknown {
            return Err("Unknown entryFilter.".to_string());
        }
        Ok(())
    }

    /// Kafka's `AclBindingFilter.matches`: ANY matches every pattern type
    /// (names compared exactly); MATCH matches every ACL that would apply
    /// to the named resource: the literal name, the `*` wildcard, and
    /// prefixes of the name.
    pub fn matches(&self, acl: &AclBinding) -> bool {
        self.matches_pattern(acl) && self.matches_entry(acl)
    }

    fn matches_pattern(&self, acl: &AclBinding) -> bool {
        if self.resource_type != ResourceType::Any && self.resource_type != acl.resource_type {
            return false;
        }
        if !matches!(self.pattern_type, PatternType::Any | PatternType::Match)
            && self.pattern_type != acl.pattern_type
        {
            return false;
        }
        let Some(name) = &self.resource_name else {
            return true;
        };
        if self.pattern_type == PatternType::Any || self.pattern_type == acl.pattern_type {
            return *name == acl.resource_name;
        }
        match acl.pattern_type {
            PatternType::Literal => {
                *name == acl.resource_name || acl.resource_name == WILDCARD_RESOURCE
            }
            PatternType::Prefixed => name.starts_with(&acl.resource_name),
            _ => false,
        }
    }

    fn matches_entry(&self, acl: &AclBinding) -> bool {
        self.principal.as_ref().is_none_or(|p| *p == acl.principal)
            && self.host.as_ref().is_none_or(|h| *h == acl.host)
            && (self.operation == AclOperation::Any || self.operation == acl.operation)
            && (self.permission == AclPermission::Any || self.permission == acl.permission)
    }
}

/// A new ACL as the controller's `AclControlManager.validateNewAcl` and the
/// broker's `AclApis` check it; the error is INVALID_REQUEST's message.
pub fn validate_new_acl(acl: &AclBinding) -> Result<(), (i16, String)> {
    let invalid = |message: String| Err((error_codes::INVALID_REQUEST, message));
    if acl.resource_type == ResourceType::Cluster && acl.resource_name != CLUSTER_NAME {
        return invalid(format!(
            "The only valid name for the CLUSTER resource is {CLUSTER_NAME}"
        ));
    }
    if acl.resource_name.is_empty() {
        return invalid("Invalid empty resource name".to_string());
    }
    if matches!(acl.resource_type, ResourceType::Unknown | ResourceType::Any) {
        return invalid(format!("Invalid resourceType {}", acl.resource_type));
    }
    if !matches!(
        acl.pattern_type,
        PatternType::Literal | PatternType::Prefixed
    ) {
        return invalid(format!("Invalid patternType {}", acl.pattern_type));
    }
    if matches!(acl.operation, AclOperation::Unknown | AclOperation::Any) {
        return invalid(format!("Invalid operation {}", acl.operation));
    }
    if !matches!(acl.permission, AclPermission::Allow | AclPermission::Deny) {
        return invalid(format!("Invalid permissionType {}", acl.permission));
    }
    if !acl.principal.contains(':') {
        return invalid(format!(
            "Could not parse principal from `{}` (no colon is present separating the principal type from the principal name)",
            acl.principal
        ));
    }
    Ok(())
}

/// The authorizer's settings (`super.users`, `allow.everyone.if.no.acl.found`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthorizerSettings {
    pub super_users: HashSet<String>,
    pub allow_everyone_if_no_acl_found: bool,
}

impl AuthorizerSettings {
    /// `super.users` is a semicolon-separated list of principals.
    pub fn parse_super_users(text: &str) -> HashSet<String> {
        text.split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }
}

/// What is being authorized: an operation on one named resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Action<'a> {
    pub operation: AclOperation,
    pub resource_type: ResourceType,
    pub resource_name: &'a str,
}

impl<'a> Action<'a> {
    pub fn new(operation: AclOperation, resource_type: ResourceType, name: &'a str) -> Self {
        Action {
            operation,
            resource_type,
            resource_name: name,
        }
    }

    pub fn cluster(operation: AclOperation) -> Action<'static> {
        Action::new(operation, ResourceType::Cluster, CLUSTER_NAME)
    }
}

/// Why a decision came out as it did (the audit trail and `explain` print it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// The principal is in `super.users`.
    SuperUser,
    /// This ACL decided (a DENY, or an ALLOW with no DENY matching).
    Acl(AclBinding),
    /// No ACL exists on the resource; `allow.everyone.if.no.acl.found`
    /// gave the answer.
    NoAclOnResource { allow_everyone: bool },
    /// ACLs exist on the resource but none applies to this principal, host
    /// and operation.
    NoMatchingAcl,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::SuperUser => f.write_str("super user (super.users)"),
            Rule::Acl(acl) => write!(f, "ACL {acl}"),
            Rule::NoAclOnResource { allow_everyone } => write!(
                f,
                "no ACL on the resource; allow.everyone.if.no.acl.found={allow_everyone}"
            ),
            Rule::NoMatchingAcl => f.write_str(
                "ACLs exist on the resource but none matches this principal, host and operation",
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub rule: Rule,
}

/// Whether `principal` (written `Type:name`) connecting from `host` (an IP
/// address as text) may perform `action`, given every ACL of the cluster.
pub fn authorize<'a>(
    acls: impl IntoIterator<Item = &'a AclBinding>,
    settings: &AuthorizerSettings,
    principal: &str,
    host: &str,
    action: Action<'_>,
) -> Decision {
    if settings.super_users.contains(principal) {
        return Decision {
            allowed: true,
            rule: Rule::SuperUser,
        };
    }
    let mut has_resource_acls = false;
    let mut allow: Option<&AclBinding> = None;
    for acl in acls {
        if !resource_matches(acl, action.resource_type, action.resource_name) {
            continue;
        }
        has_resource_acls = true;
        match applies(acl, principal, host, action.operation) {
            Some(AclPermission::Deny) => {
                return Decision {
                    allowed: false,
                    rule: Rule::Acl(acl.clone()),
                }
            }
            Some(AclPermission::Allow) => {
                allow.get_or_insert(acl);
            }
            _ => {}
        }
    }
    match allow {
        Some(acl) => Decision {
            allowed: true,
            rule: Rule::Acl(acl.clone()),
        },
        None if !has_resource_acls => Decision {
            allowed: settings.allow_everyone_if_no_acl_found,
            rule: Rule::NoAclOnResource {
                allow_everyone: settings.allow_everyone_if_no_acl_found,
            },
        },
        None => Decision {
            allowed: false,
            rule: Rule::NoMatchingAcl,
        },
    }
}

/// Whether `acl`'s resource pattern covers the named resource: the exact
/// literal name, the literal `*`, or a prefix of the name.
fn resource_matches(acl: &AclBinding, resource_type: ResourceType, name: &str) -> bool {
    if acl.resource_type != resource_type {
        return false;
    }
    match acl.pattern_type {
        PatternType::Literal => acl.resource_name == name || acl.resource_name == WILDCARD_RESOURCE,
        PatternType::Prefixed => name.starts_with(&acl.resource_name),
        _ => false,
    }
}

fn principal_matches(acl: &AclBinding, principal: &str) -> bool {
    acl.principal == principal || acl.principal == WILDCARD_PRINCIPAL
}

fn host_matches(acl: &AclBinding, host: &str) -> bool {
    acl.host == WILDCARD_HOST || acl.host == host
}

/// Kafka's `StandardAuthorizerData.findResult`: the permission `acl` gives
/// for `operation` (resource already matched), or `None` if it does not
/// apply. Implied operations count for ALLOW bindings only, so a DENY of
/// READ does not deny DESCRIBE.
fn applies(
    acl: &AclBinding,
    principal: &str,
    host: &str,
    operation: AclOperation,
) -> Option<AclPermission> {
    if !principal_matches(acl, principal) || !host_matches(acl, host) {
        return None;
    }
    if acl.operation != AclOperation::All {
        let covered = if acl.permission == AclPermission::Allow {
            match operation {
                AclOperation::Describe => matches!(
                    acl.operation,
                    AclOperation::Describe
                        | AclOperation::Read
                        | AclOperation::Write
                        | AclOperation::Delete
                        | AclOperation::Alter
                ),
                AclOperation::DescribeConfigs => matches!(
                    acl.operation,
                    AclOperation::DescribeConfigs | AclOperation::AlterConfigs
                ),
                _ => acl.operation == operation,
            }
        } else {
            acl.operation == operation
        };
        if !covered {
            return None;
        }
    }
    match acl.permission {
        AclPermission::Allow | AclPermission::Deny => Some(acl.permission),
        _ => None,
    }
}

/// The operations a resource type has, as Kafka's `AclEntry.supportedOperations`
/// lists them: the set `authorizedOperations` fields are computed over.
/// (Kafka 4.4 also lists TWO_PHASE_COMMIT for transactional ids, an
/// operation Gregor does not know; no response reports transactional-id
/// operations.)
pub fn supported_operations(resource_type: ResourceType) -> &'static [AclOperation] {
    use AclOperation::*;
    match resource_type {
        ResourceType::Topic => &[
            Read,
            Write,
            Create,
            Describe,
            Delete,
            Alter,
            DescribeConfigs,
            AlterConfigs,
        ],
        ResourceType::Group => &[Read, Describe, Delete, DescribeConfigs, AlterConfigs],
        ResourceType::Cluster => &[
            Create,
            ClusterAction,
            DescribeConfigs,
            AlterConfigs,
            IdempotentWrite,
            Alter,
            Describe,
        ],
        ResourceType::TransactionalId => &[Describe, Write],
        ResourceType::DelegationToken => &[Describe],
        ResourceType::User => &[CreateTokens, DescribeTokens],
        _ => &[],
    }
}

/// Kafka's `Utils.to32BitField`: bit `code` set for each operation.
pub fn operations_bit_field(operations: impl IntoIterator<Item = AclOperation>) -> i32 {
    operations
        .into_iter()
        .fold(0u32, |bits, op| bits | (1u32 << (op.code() as u32 & 31))) as i32
}

/// Kafka's `AuthHelper.authorizedOperations`: the bit field of the
/// resource type's supported operations that `principal` may perform on
/// the resource named `name` (a literal name).
pub fn authorized_operations<'a>(
    acls: impl IntoIterator<Item = &'a AclBinding> + Clone,
    settings: &AuthorizerSettings,
    principal: &str,
    host: &str,
    resource_type: ResourceType,
    name: &str,
) -> i32 {
    operations_bit_field(
        supported_operations(resource_type)
            .iter()
            .copied()
            .filter(|&op| {
                authorize(
                    acls.clone(),
                    settings,
                    principal,
                    host,
                    Action::new(op, resource_type, name),
                )
                .allowed
            }),
    )
}

/// Kafka's `Authorizer.authorizeByResourceType` (KIP-679): whether the
/// principal may perform `operation` on at least one resource of the type,
/// i.e. some ALLOW (literal or prefixed) is not dominated by a DENY: a
/// literal DENY of the same name, or a prefixed DENY of a prefix of it. A
/// literal `*` or an empty-prefix DENY denies everything; a literal `*`
/// ALLOW allows. Implied operations do not count here, as in Kafka. Super
/// users and `allow.everyone.if.no.acl.found` are honoured through the
/// same probe Kafka makes (an ordinary check on a resource named
/// `hardcode`).
pub fn authorize_by_resource_type<'a>(
    acls: impl IntoIterator<Item = &'a AclBinding> + Clone,
    settings: &AuthorizerSettings,
    principal: &str,
    host: &str,
    operation: AclOperation,
    resource_type: ResourceType,
) -> Decision {
    let probe = authorize(
        acls.clone(),
        settings,
        principal,
        host,
        Action::new(operation, resource_type, "hardcode"),
    );
    if probe.allowed {
        return probe;
    }
    let mut deny_literal: HashSet<&str> = HashSet::new();
    let mut deny_prefixed: HashSet<&str> = HashSet::new();
    let mut allows: Vec<&AclBinding> = Vec::new();
    for acl in acls {
        if acl.resource_type != resource_type
            || !host_matches(acl, host)
            || !principal_matches(acl, principal)
            || (acl.operation != operation && acl.operation != AclOperation::All)
        {
            continue;
        }
        match (acl.permission, acl.pattern_type) {
            (AclPermission::Deny, PatternType::Literal) => {
                if acl.resource_name == WILDCARD_RESOURCE {
                    return Decision {
                        allowed: false,
                        rule: Rule::Acl(acl.clone()),
                    };
                }
                deny_literal.insert(&acl.resource_name);
            }
            (AclPermission::Deny, PatternType::Prefixed) => {
                if acl.resource_name.is_empty() {
                    return Decision {
                        allowed: false,
                        rule: Rule::Acl(acl.clone()),
                    };
                }
                deny_prefixed.insert(&acl.resource_name);
            }
            (AclPermission::Allow, PatternType::Literal | PatternType::Prefixed) => {
                allows.push(acl);
            }
            _ => {}
        }
    }
    if let Some(wildcard) = allows
        .iter()
        .find(|a| a.pattern_type == PatternType::Literal && a.resource_name == WILDCARD_RESOURCE)
    {
        return Decision {
            allowed: true,
            rule: Rule::Acl((*wildcard).clone()),
        };
    }
    for allow in allows {
        let name = allow.resource_name.as_str();
        if allow.pattern_type == PatternType::Literal && deny_literal.contains(name) {
            continue;
        }
        let dominated = name
            .char_indices()
            .map(|(i, c)| &name[..i + c.len_utf8()])
            .any(|prefix| deny_prefixed.contains(prefix));
        if !dominated {
            return Decision {
                allowed: true,
                rule: Rule::Acl(allow.clone()),
            };
        }
    }
    probe
}

#[cfg(test)]
#[path = "acl_tests.rs"]
mod tests;
