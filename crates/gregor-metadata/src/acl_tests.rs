use super::*;
use AclOperation::*;

fn acl(
    resource_type: ResourceType,
    name: &str,
    pattern_type: PatternType,
    principal: &str,
    host: &str,
    operation: AclOperation,
    permission: AclPermission,
) -> AclBinding {
    AclBinding {
        resource_type,
        resource_name: name.to_string(),
        pattern_type,
        principal: principal.to_string(),
        host: host.to_string(),
        operation,
        permission,
    }
}

fn allow_topic(name: &str, pattern: PatternType, principal: &str, op: AclOperation) -> AclBinding {
    acl(
        ResourceType::Topic,
        name,
        pattern,
        principal,
        "*",
        op,
        AclPermission::Allow,
    )
}

fn deny_topic(name: &str, pattern: PatternType, principal: &str, op: AclOperation) -> AclBinding {
    acl(
        ResourceType::Topic,
        name,
        pattern,
        principal,
        "*",
        op,
        AclPermission::Deny,
    )
}

const ALICE: &str = "User:alice";
const BOB: &str = "User:bob";
const HOST: &str = "10.0.0.1";

fn check(acls: &[AclBinding], principal: &str, op: AclOperation, topic: &str) -> bool {
    authorize(
        acls,
        &AuthorizerSettings::default(),
        principal,
        HOST,
        Action::new(op, ResourceType::Topic, topic),
    )
    .allowed
}

#[test]
fn no_acls_deny_unless_allow_everyone() {
    let mut settings = AuthorizerSettings::default();
    let action = Action::new(Read, ResourceType::Topic, "orders");
    let d = authorize(&[], &settings, ALICE, HOST, action);
    assert!(!d.allowed);
    assert_eq!(
        d.rule,
        Rule::NoAclOnResource {
            allow_everyone: false
        }
    );
    settings.allow_everyone_if_no_acl_found = true;
    assert!(authorize(&[], &settings, ALICE, HOST, action).allowed);
}

#[test]
fn allow_everyone_only_applies_when_the_resource_has_no_acl_at_all() {
    let settings = AuthorizerSettings {
        allow_everyone_if_no_acl_found: true,
        ..Default::default()
    };
    let acls = [allow_topic("orders", PatternType::Literal, BOB, Read)];
    let d = authorize(
        &acls,
        &settings,
        ALICE,
        HOST,
        Action::new(Read, ResourceType::Topic, "orders"),
    );
    assert!(!d.allowed);
    assert_eq!(d.rule, Rule::NoMatchingAcl);
    // Another topic has no ACL: allowed.
    assert!(
        authorize(
            &acls,
            &settings,
            ALICE,
            HOST,
            Action::new(Read, ResourceType::Topic, "payments")
        )
        .allowed
    );
}

#[test]
fn super_users_bypass_deny() {
    let settings = AuthorizerSettings {
        super_users: AuthorizerSettings::parse_super_users(" User:admin ; User:broker;;"),
        ..Default::default()
    };
    assert_eq!(settings.super_users.len(), 2);
    let acls = [deny_topic("*", PatternType::Literal, "User:*", All)];
    let d = authorize(
        &acls,
        &settings,
        "User:admin",
        HOST,
        Action::new(Write, ResourceType::Topic, "x"),
    );
    assert_eq!(
        d,
        Decision {
            allowed: true,
            rule: Rule::SuperUser
        }
    );
    assert!(
        !authorize(
            &acls,
            &settings,
            ALICE,
            HOST,
            Action::new(Write, ResourceType::Topic, "x")
        )
        .allowed
    );
}

#[test]
fn literal_prefixed_and_wildcard_resources() {
    let acls = [
        allow_topic("orders", PatternType::Literal, ALICE, Read),
        allow_topic("pay-", PatternType::Prefixed, ALICE, Read),
        allow_topic("*", PatternType::Literal, BOB, Read),
    ];
    assert!(check(&acls, ALICE, Read, "orders"));
    assert!(!check(&acls, ALICE, Read, "orders2"));
    assert!(!check(&acls, ALICE, Read, "order"));
    assert!(check(&acls, ALICE, Read, "pay-eu"));
    assert!(check(&acls, ALICE, Read, "pay-"));
    assert!(!check(&acls, ALICE, Read, "pay"));
    assert!(check(&acls, BOB, Read, "anything"));
    // A literal `*` is not a prefix pattern and a prefixed `*` is not a
    // wildcard: it only matches names starting with `*`.
    let star_prefix = [allow_topic("*", PatternType::Prefixed, ALICE, Read)];
    assert!(!check(&star_prefix, ALICE, Read, "orders"));
    assert!(check(&star_prefix, ALICE, Read, "*orders"));
}

#[test]
fn principal_wildcard_and_exact_match() {
    let acls = [allow_topic("t", PatternType::Literal, "User:*", Write)];
    assert!(check(&acls, ALICE, Write, "t"));
    assert!(check(&acls, "User:ANONYMOUS", Write, "t"));
    let only_alice = [allow_topic("t", PatternType::Literal, ALICE, Write)];
    assert!(!check(&only_alice, BOB, Write, "t"));
    // Principal type matters.
    assert!(!check(&only_alice, "Group:alice", Write, "t"));
}

#[test]
fn host_wildcard_and_exact_ip() {
    let acls = [acl(
        ResourceType::Topic,
        "t",
        PatternType::Literal,
        ALICE,
        "10.0.0.1",
        Read,
        AclPermission::Allow,
    )];
    let settings = AuthorizerSettings::default();
    let action = Action::new(Read, ResourceType::Topic, "t");
    assert!(authorize(&acls, &settings, ALICE, "10.0.0.1", action).allowed);
    assert!(!authorize(&acls, &settings, ALICE, "10.0.0.2", action).allowed);
}

#[test]
fn deny_wins_over_allow_whatever_the_pattern() {
    let acls = [
        allow_topic("*", PatternType::Literal, "User:*", All),
        deny_topic("secret-", PatternType::Prefixed, ALICE, Read),
    ];
    assert!(check(&acls, ALICE, Read, "public"));
    assert!(!check(&acls, ALICE, Read, "secret-x"));
    assert!(check(&acls, BOB, Read, "secret-x"));
    assert!(check(&acls, ALICE, Write, "secret-x"));
    let d = authorize(
        &acls,
        &AuthorizerSettings::default(),
        ALICE,
        HOST,
        Action::new(Read, ResourceType::Topic, "secret-x"),
    );
    assert_eq!(d.rule, Rule::Acl(acls[1].clone()));
    // A wildcard-principal DENY denies everyone, even with an exact ALLOW.
    let acls = [
        allow_topic("t", PatternType::Literal, ALICE, Read),
        deny_topic("t", PatternType::Literal, "User:*", Read),
    ];
    assert!(!check(&acls, ALICE, Read, "t"));
    // A DENY from another host does not apply.
    let acls = [
        allow_topic("t", PatternType::Literal, ALICE, Read),
        acl(
            ResourceType::Topic,
            "t",
            PatternType::Literal,
            ALICE,
            "10.9.9.9",
            Read,
            AclPermission::Deny,
        ),
    ];
    assert!(check(&acls, ALICE, Read, "t"));
}

#[test]
fn implied_operations_for_allow_only() {
    for op in [Read, Write, Delete, Alter, Describe] {
        let acls = [allow_topic("t", PatternType::Literal, ALICE, op)];
        assert!(check(&acls, ALICE, Describe, "t"), "{op} implies Describe");
    }
    for op in [
        Create,
        AlterConfigs,
        DescribeConfigs,
        ClusterAction,
        IdempotentWrite,
    ] {
        let acls = [allow_topic("t", PatternType::Literal, ALICE, op)];
        assert!(
            !check(&acls, ALICE, Describe, "t"),
            "{op} does not imply Describe"
        );
    }
    let acls = [allow_topic("t", PatternType::Literal, ALICE, AlterConfigs)];
    assert!(check(&acls, ALICE, DescribeConfigs, "t"));
    let acls = [allow_topic(
        "t",
        PatternType::Literal,
        ALICE,
        DescribeConfigs,
    )];
    assert!(!check(&acls, ALICE, AlterConfigs, "t"));
    // Read does not imply Write, nor Describe imply Read.
    let acls = [allow_topic("t", PatternType::Literal, ALICE, Read)];
    assert!(!check(&acls, ALICE, Write, "t"));
    let acls = [allow_topic("t", PatternType::Literal, ALICE, Describe)];
    assert!(!check(&acls, ALICE, Read, "t"));
    // DENY Read does not deny Describe.
    let acls = [
        allow_topic("t", PatternType::Literal, ALICE, Describe),
        deny_topic("t", PatternType::Literal, ALICE, Read),
    ];
    assert!(check(&acls, ALICE, Describe, "t"));
    assert!(!check(&acls, ALICE, Read, "t"));
}

#[test]
fn all_matches_every_operation_for_allow_and_deny() {
    let ops = [
        Read,
        Write,
        Create,
        Delete,
        Alter,
        Describe,
        ClusterAction,
        DescribeConfigs,
        AlterConfigs,
        IdempotentWrite,
    ];
    let acls = [allow_topic("t", PatternType::Literal, ALICE, All)];
    for op in ops {
        assert!(check(&acls, ALICE, op, "t"), "{op}");
    }
    let acls = [
        allow_topic("t", PatternType::Literal, ALICE, All),
        deny_topic("t", PatternType::Literal, ALICE, All),
    ];
    for op in ops {
        assert!(!check(&acls, ALICE, op, "t"), "{op}");
    }
}

#[test]
fn resource_types_are_separate() {
    let acls = [acl(
        ResourceType::Group,
        "orders",
        PatternType::Literal,
        ALICE,
        "*",
        Read,
        AclPermission::Allow,
    )];
    assert!(!check(&acls, ALICE, Read, "orders"));
    assert!(
        authorize(
            &acls,
            &AuthorizerSettings::default(),
            ALICE,
            HOST,
            Action::new(Read, ResourceType::Group, "orders")
        )
        .allowed
    );
    let cluster = [acl(
        ResourceType::Cluster,
        CLUSTER_NAME,
        PatternType::Literal,
        ALICE,
        "*",
        IdempotentWrite,
        AclPermission::Allow,
    )];
    assert!(
        authorize(
            &cluster,
            &AuthorizerSettings::default(),
            ALICE,
            HOST,
            Action::cluster(IdempotentWrite)
        )
        .allowed
    );
}

fn by_type(acls: &[AclBinding], principal: &str, op: AclOperation) -> bool {
    authorize_by_resource_type(
        acls,
        &AuthorizerSettings::default(),
        principal,
        HOST,
        op,
        ResourceType::Topic,
    )
    .allowed
}

#[test]
fn authorize_by_resource_type_follows_kip_679() {
    assert!(!by_type(&[], ALICE, Write));
    // Any literal or prefixed ALLOW on some topic.
    assert!(by_type(
        &[allow_topic("t", PatternType::Literal, ALICE, Write)],
        ALICE,
        Write
    ));
    assert!(by_type(
        &[allow_topic("p-", PatternType::Prefixed, ALICE, Write)],
        ALICE,
        Write
    ));
    assert!(by_type(
        &[allow_topic("t", PatternType::Literal, ALICE, All)],
        ALICE,
        Write
    ));
    // Another principal's ALLOW or another operation does not count; nor do
    // implied operations.
    assert!(!by_type(
        &[allow_topic("t", PatternType::Literal, BOB, Write)],
        ALICE,
        Write
    ));
    assert!(!by_type(
        &[allow_topic("t", PatternType::Literal, ALICE, Read)],
        ALICE,
        Write
    ));
    assert!(!by_type(
        &[allow_topic("t", PatternType::Literal, ALICE, Write)],
        ALICE,
        Describe
    ));
    // A literal DENY of the same name dominates a literal ALLOW.
    assert!(!by_type(
        &[
            allow_topic("t", PatternType::Literal, ALICE, Write),
            deny_topic("t", PatternType::Literal, ALICE, Write),
        ],
        ALICE,
        Write
    ));
    // A literal DENY does not dominate a prefixed ALLOW of the same name.
    assert!(by_type(
        &[
            allow_topic("t", PatternType::Prefixed, ALICE, Write),
            deny_topic("t", PatternType::Literal, ALICE, Write),
        ],
        ALICE,
        Write
    ));
    // A prefixed DENY of a prefix dominates both.
    assert!(!by_type(
        &[
            allow_topic("team-a-x", PatternType::Literal, ALICE, Write),
            allow_topic("team-a-", PatternType::Prefixed, ALICE, Write),
            deny_topic("team-", PatternType::Prefixed, ALICE, Write),
        ],
        ALICE,
        Write
    ));
    // ... but not a longer prefix than the ALLOW.
    assert!(by_type(
        &[
            allow_topic("team-", PatternType::Prefixed, ALICE, Write),
            deny_topic("team-a-", PatternType::Prefixed, ALICE, Write),
        ],
        ALICE,
        Write
    ));
    // A wildcard DENY denies everything; a wildcard ALLOW allows.
    assert!(!by_type(
        &[
            allow_topic("*", PatternType::Literal, ALICE, Write),
            deny_topic("*", PatternType::Literal, "User:*", Write),
        ],
        ALICE,
        Write
    ));
    assert!(by_type(
        &[allow_topic("*", PatternType::Literal, "User:*", Write)],
        ALICE,
        Write
    ));
    // Super users and allow.everyone pass through the probe.
    let settings = AuthorizerSettings {
        super_users: AuthorizerSettings::parse_super_users(ALICE),
        ..Default::default()
    };
    assert!(
        authorize_by_resource_type(
            &[deny_topic("*", PatternType::Literal, ALICE, Write)],
            &settings,
            ALICE,
            HOST,
            Write,
            ResourceType::Topic
        )
        .allowed
    );
    let everyone = AuthorizerSettings {
        allow_everyone_if_no_acl_found: true,
        ..Default::default()
    };
    assert!(
        authorize_by_resource_type(&[], &everyone, ALICE, HOST, Write, ResourceType::Topic).allowed
    );
}

#[test]
fn filters_with_any_and_match() {
    let literal = allow_topic("orders", PatternType::Literal, ALICE, Read);
    let prefixed = allow_topic("ord", PatternType::Prefixed, ALICE, Read);
    let wildcard = allow_topic("*", PatternType::Literal, BOB, Write);
    let other = allow_topic("pay", PatternType::Prefixed, BOB, Write);
    let all = [&literal, &prefixed, &wildcard, &other];
    let select = |f: &AclFilter| -> Vec<&AclBinding> {
        all.iter().copied().filter(|a| f.matches(a)).collect()
    };
    assert_eq!(select(&AclFilter::any()).len(), 4);
    let mut f = AclFilter::any();
    f.resource_name = Some("orders".into());
    assert_eq!(select(&f), vec![&literal]);
    f.pattern_type = PatternType::Match;
    assert_eq!(select(&f), vec![&literal, &prefixed, &wildcard]);
    f.pattern_type = PatternType::Prefixed;
    assert!(select(&f).is_empty());
    f.pattern_type = PatternType::Literal;
    assert_eq!(select(&f), vec![&literal]);
    let mut f = AclFilter::any();
    f.principal = Some(BOB.into());
    f.operation = Write;
    assert_eq!(select(&f), vec![&wildcard, &other]);
    f.permission = AclPermission::Deny;
    assert!(select(&f).is_empty());
    let mut f = AclFilter::any();
    f.resource_type = ResourceType::Group;
    assert!(select(&f).is_empty());
    f.host = Some("*".into());
    f.resource_type = ResourceType::Topic;
    assert_eq!(select(&f).len(), 4);
    f.host = Some("1.2.3.4".into());
    assert!(select(&f).is_empty());
    let mut bad = AclFilter::any();
    bad.operation = AclOperation::Unknown;
    assert!(bad.validate().is_err());
    assert!(AclFilter::any().validate().is_ok());
}

#[test]
fn new_acl_validation_matches_kafka() {
    let good = allow_topic("t", PatternType::Literal, ALICE, Read);
    assert!(validate_new_acl(&good).is_ok());
    let bad = |f: &dyn Fn(&mut AclBinding)| {
        let mut a = good.clone();
        f(&mut a);
        validate_new_acl(&a).unwrap_err()
    };
    assert_eq!(
        bad(&|a| a.pattern_type = PatternType::Match).0,
        error_codes::INVALID_REQUEST
    );
    assert!(bad(&|a| a.pattern_type = PatternType::Any)
        .1
        .contains("patternType"));
    assert!(bad(&|a| a.resource_type = ResourceType::Any)
        .1
        .contains("resourceType"));
    assert!(bad(&|a| a.operation = AclOperation::Any)
        .1
        .contains("operation"));
    assert!(bad(&|a| a.permission = AclPermission::Any)
        .1
        .contains("permissionType"));
    assert!(bad(&|a| a.resource_name.clear()).1.contains("empty"));
    assert!(bad(&|a| a.principal = "alice".into())
        .1
        .contains("principal"));
    assert!(bad(&|a| {
        a.resource_type = ResourceType::Cluster;
        a.resource_name = "other".into();
    })
    .1
    .contains("kafka-cluster"));
}

#[test]
fn names_parse_as_users_type_them() {
    assert_eq!(AclOperation::parse("read"), Some(Read));
    assert_eq!(
        AclOperation::parse("IDEMPOTENT_WRITE"),
        Some(IdempotentWrite)
    );
    assert_eq!(
        AclOperation::parse("DescribeConfigs"),
        Some(DescribeConfigs)
    );
    assert_eq!(
        ResourceType::parse("transactional-id"),
        Some(ResourceType::TransactionalId)
    );
    assert_eq!(PatternType::parse("PREFIXED"), Some(PatternType::Prefixed));
    assert_eq!(AclOperation::parse("nope"), None);
    for op in AclOperation::ALL_VALUES {
        assert_eq!(AclOperation::from_code(op.code()), *op);
    }
    assert_eq!(AclOperation::from_code(99), AclOperation::Unknown);
}

#[test]
fn authorized_operations_as_kafka_computes_them() {
    let none = AuthorizerSettings::default();
    // Kafka's bit field for a topic with every op allowed: READ(3) WRITE(4)
    // CREATE(5) DELETE(6) ALTER(7) DESCRIBE(8) DESCRIBE_CONFIGS(10)
    // ALTER_CONFIGS(11).
    let all_topic = authorized_operations_everything(ResourceType::Topic);
    assert_eq!(all_topic, 0b1101_1111_1000);
    // READ implies DESCRIBE.
    let acls = vec![allow_topic(
        "t",
        PatternType::Literal,
        "User:a",
        AclOperation::Read,
    )];
    let bits = authorized_operations(&acls, &none, "User:a", "1.2.3.4", ResourceType::Topic, "t");
    assert_eq!(bits, (1 << 3) | (1 << 8));
    // Nothing for another principal; everything for a super user.
    assert_eq!(
        authorized_operations(&acls, &none, "User:b", "1.2.3.4", ResourceType::Topic, "t"),
        0
    );
    let supers = AuthorizerSettings {
        super_users: AuthorizerSettings::parse_super_users("User:b"),
        allow_everyone_if_no_acl_found: false,
    };
    assert_eq!(
        authorized_operations(
            &acls,
            &supers,
            "User:b",
            "1.2.3.4",
            ResourceType::Topic,
            "t"
        ),
        all_topic
    );
    // The cluster: CREATE(5) CLUSTER_ACTION(9) DESCRIBE_CONFIGS(10)
    // ALTER_CONFIGS(11) IDEMPOTENT_WRITE(12) ALTER(7) DESCRIBE(8).
    assert_eq!(
        authorized_operations_everything(ResourceType::Cluster),
        0b1_1111_1010_0000
    );
}

fn authorized_operations_everything(resource_type: ResourceType) -> i32 {
    operations_bit_field(supported_operations(resource_type).iter().copied())
}
