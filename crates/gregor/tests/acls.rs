//! ACLs over TCP against a real gregor process: Create/Describe/DeleteAcls
//! (validation, filters, persistence across a restart), SECURITY_DISABLED
//! without an authorizer, every API's refusal for a principal without ACLs
//! (table-driven, against `gregor_broker::security::api_acls`), allowed
//! access, filtering of listings, the idempotent producer rule (KIP-679)
//! and the audit topic.
//!
//! The PLAINTEXT listener is User:ANONYMOUS, made a super user (as a broker
//! principal must be); alice and bob authenticate with SASL PLAIN on a
//! SASL_PLAINTEXT listener.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use bytes::Bytes;
use gregor_broker::security::api_acls;
use gregor_metadata::acl::{AclOperation, ResourceType};
use gregor_protocol::compression::Compression;
use gregor_protocol::error_codes::{
    CLUSTER_AUTHORIZATION_FAILED, GROUP_AUTHORIZATION_FAILED, INVALID_REQUEST, NONE,
    SECURITY_DISABLED, TOPIC_AUTHORIZATION_FAILED,
};
use gregor_protocol::records::{decode_batches, BatchBuilder};
use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use support::security::{plain_login, SecureBroker};
use support::{create_topic, produce_batch, topic_name, Connection, TestBroker};

const USERS: &str = "SCRAM-SHA-256=[name=alice,password=alice-pw];\
                     SCRAM-SHA-256=[name=bob,password=bob-pw]";

fn start(extra: &[&str]) -> SecureBroker {
    let mut settings = vec![
        format!("sasl.bootstrap.scram={USERS}"),
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer".to_string(),
        "super.users=User:ANONYMOUS".to_string(),
        "gregor.authorizer.audit.allow=false".to_string(),
    ];
    settings.extend(extra.iter().map(|s| s.to_string()));
    SecureBroker::start("SASL", "SASL_PLAINTEXT", &settings, None)
}

fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// A connection authenticated as `user` with SASL PLAIN.
fn login(node: &SecureBroker, user: &str) -> Connection {
    let mut conn = node.connect();
    let done = plain_login(&mut conn, user, &format!("{user}-pw"));
    assert_eq!(done.error_code, NONE, "{user} could not log in");
    conn
}

fn acl(
    resource_type: ResourceType,
    name: &str,
    pattern: i8,
    principal: &str,
    operation: AclOperation,
    allow: bool,
) -> AclCreation {
    AclCreation::default()
        .with_resource_type(resource_type.code())
        .with_resource_name(text(name))
        .with_resource_pattern_type(pattern)
        .with_principal(text(principal))
        .with_host(text("*"))
        .with_operation(operation.code())
        .with_permission_type(if allow { 3 } else { 2 })
}

const LITERAL: i8 = 3;
const PREFIXED: i8 = 4;

fn create_acls(conn: &mut Connection, acls: Vec<AclCreation>) -> Vec<i16> {
    let ResponseKind::CreateAcls(r) = conn.request(
        ApiKey::CreateAcls,
        3,
        RequestKind::CreateAcls(CreateAclsRequest::default().with_creations(acls)),
    ) else {
        panic!()
    };
    r.results.iter().map(|r| r.error_code).collect()
}

fn describe_acls(conn: &mut Connection, request: DescribeAclsRequest) -> DescribeAclsResponse {
    let ResponseKind::DescribeAcls(r) =
        conn.request(ApiKey::DescribeAcls, 3, RequestKind::DescribeAcls(request))
    else {
        panic!()
    };
    r
}

fn any_filter() -> DescribeAclsRequest {
    DescribeAclsRequest::default()
        .with_resource_name_filter(None)
        .with_principal_filter(None)
        .with_host_filter(None)
        .with_resource_type_filter(1)
        .with_pattern_type_filter(1)
        .with_operation(1)
        .with_permission_type(1)
}

fn count(r: &DescribeAclsResponse) -> usize {
    r.resources.iter().map(|r| r.acls.len()).sum()
}

#[test]
fn acl_apis_without_an_authorizer_answer_security_disabled() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    let r = describe_acls(&mut conn, any_filter());
    assert_eq!(r.error_code, SECURITY_DISABLED);
    let codes = create_acls(
        &mut conn,
        vec![acl(
            ResourceType::Topic,
            "t",
            LITERAL,
            "User:a",
            AclOperation::Read,
            true,
        )],
    );
    assert_eq!(codes, vec![SECURITY_DISABLED]);
    // Everything else is allowed.
    create_topic(&mut conn, "open", 1);
}

#[test]
fn acls_are_validated_filtered_deleted_and_survive_a_restart() {
    let mut node = start(&[]);
    let mut admin = node.broker.connect();
    let codes = create_acls(
        &mut admin,
        vec![
            acl(
                ResourceType::Topic,
                "orders",
                LITERAL,
                "User:alice",
                AclOperation::Read,
                true,
            ),
            acl(
                ResourceType::Topic,
                "ord",
                PREFIXED,
                "User:bob",
                AclOperation::Write,
                true,
            ),
            acl(
                ResourceType::Topic,
                "*",
                LITERAL,
                "User:*",
                AclOperation::Describe,
                true,
            ),
            acl(
                ResourceType::Group,
                "g",
                LITERAL,
                "User:alice",
                AclOperation::Read,
                false,
            ),
            // Refused as Kafka refuses them.
            acl(
                ResourceType::Topic,
                "x",
                2,
                "User:alice",
                AclOperation::Read,
                true,
            ),
            acl(
                ResourceType::Topic,
                "x",
                LITERAL,
                "alice",
                AclOperation::Read,
                true,
            ),
            acl(
                ResourceType::Cluster,
                "other",
                LITERAL,
                "User:a",
                AclOperation::Alter,
                true,
            ),
            acl(
                ResourceType::Topic,
                "",
                LITERAL,
                "User:a",
                AclOperation::Read,
                true,
            ),
            acl(
                ResourceType::Topic,
                "x",
                LITERAL,
                "User:a",
                AclOperation::Any,
                true,
            ),
            // Already there: accepted, not doubled.
            acl(
                ResourceType::Topic,
                "orders",
                LITERAL,
                "User:alice",
                AclOperation::Read,
                true,
            ),
        ],
    );
    assert_eq!(
        codes,
        vec![
            NONE,
            NONE,
            NONE,
            NONE,
            INVALID_REQUEST,
            INVALID_REQUEST,
            INVALID_REQUEST,
            INVALID_REQUEST,
            INVALID_REQUEST,
            NONE
        ]
    );
    assert_eq!(count(&describe_acls(&mut admin, any_filter())), 4);
    // MATCH: the literal, the prefix and the wildcard that apply to "orders".
    let matching = describe_acls(
        &mut admin,
        any_filter()
            .with_resource_type_filter(ResourceType::Topic.code())
            .with_resource_name_filter(Some(text("orders")))
            .with_pattern_type_filter(2),
    );
    assert_eq!(count(&matching), 3);
    let by_principal = describe_acls(
        &mut admin,
        any_filter().with_principal_filter(Some(text("User:alice"))),
    );
    assert_eq!(count(&by_principal), 2);

    node.broker.restart();
    let mut admin = node.broker.connect();
    assert_eq!(
        count(&describe_acls(&mut admin, any_filter())),
        4,
        "{}",
        node.broker.log()
    );

    let ResponseKind::DeleteAcls(deleted) = admin.request(
        ApiKey::DeleteAcls,
        3,
        RequestKind::DeleteAcls(DeleteAclsRequest::default().with_filters(vec![
            DeleteAclsFilter::default()
                .with_resource_name_filter(None)
                .with_host_filter(None)
                .with_resource_type_filter(1)
                .with_pattern_type_filter(1)
                .with_principal_filter(Some(text("User:alice")))
                .with_operation(1)
                .with_permission_type(1),
        ])),
    ) else {
        panic!()
    };
    assert_eq!(deleted.filter_results[0].error_code, NONE);
    assert_eq!(deleted.filter_results[0].matching_acls.len(), 2);
    assert_eq!(count(&describe_acls(&mut admin, any_filter())), 2);
}

/// One request naming resources alice has no ACL on, the error it must
/// get, and the (operation, resource) row of the table it comes from.
struct Case {
    api: ApiKey,
    version: i16,
    body: RequestKind,
    error: fn(&ResponseKind) -> i16,
    row: (AclOperation, ResourceType),
}

fn cases() -> Vec<Case> {
    use AclOperation::*;
    use ResourceType::*;
    let t = || topic_name("t");
    vec![
        Case {
            api: ApiKey::Produce,
            version: 9,
            body: RequestKind::Produce(
                ProduceRequest::default()
                    .with_acks(1)
                    .with_timeout_ms(1000)
                    .with_topic_data(vec![produce_request::TopicProduceData::default()
                        .with_name(t())
                        .with_partition_data(vec![
                            produce_request::PartitionProduceData::default().with_index(0),
                        ])]),
            ),
            error: |r| match r {
                ResponseKind::Produce(r) => r.responses[0].partition_responses[0].error_code,
                _ => -2,
            },
            row: (Write, Topic),
        },
        Case {
            api: ApiKey::ListOffsets,
            version: 7,
            body: RequestKind::ListOffsets(
                ListOffsetsRequest::default()
                    .with_replica_id((-1).into())
                    .with_topics(vec![list_offsets_request::ListOffsetsTopic::default()
                        .with_name(t())
                        .with_partitions(vec![
                            list_offsets_request::ListOffsetsPartition::default()
                                .with_timestamp(-1),
                        ])]),
            ),
            error: |r| match r {
                ResponseKind::ListOffsets(r) => r.topics[0].partitions[0].error_code,
                _ => -2,
            },
            row: (Describe, Topic),
        },
        Case {
            api: ApiKey::Metadata,
            version: 12,
            body: RequestKind::Metadata(MetadataRequest::default().with_topics(Some(vec![
                metadata_request::MetadataRequestTopic::default().with_name(Some(t())),
            ]))),
            error: |r| match r {
                ResponseKind::Metadata(r) => r.topics[0].error_code,
                _ => -2,
            },
            row: (Describe, Topic),
        },
        Case {
            api: ApiKey::OffsetCommit,
            version: 8,
            body: RequestKind::OffsetCommit(
                OffsetCommitRequest::default()
                    .with_group_id(text("g").into())
                    .with_topics(vec![
                        offset_commit_request::OffsetCommitRequestTopic::default()
                            .with_name(t())
                            .with_partitions(vec![
                                offset_commit_request::OffsetCommitRequestPartition::default(),
                            ]),
                    ]),
            ),
            error: |r| match r {
                ResponseKind::OffsetCommit(r) => r.topics[0].partitions[0].error_code,
                _ => -2,
            },
            row: (Read, Group),
        },
        Case {
            api: ApiKey::OffsetFetch,
            version: 7,
            body: RequestKind::OffsetFetch(
                OffsetFetchRequest::default().with_group_id(text("g").into()),
            ),
            error: |r| match r {
                ResponseKind::OffsetFetch(r) => r.error_code,
                _ => -2,
            },
            row: (Describe, Group),
        },
        Case {
            api: ApiKey::FindCoordinator,
            version: 4,
            body: RequestKind::FindCoordinator(
                FindCoordinatorRequest::default().with_coordinator_keys(vec![text("g")]),
            ),
            error: |r| match r {
                ResponseKind::FindCoordinator(r) => r.coordinators[0].error_code,
                _ => -2,
            },
            row: (Describe, Group),
        },
        Case {
            api: ApiKey::FindCoordinator,
            version: 4,
            body: RequestKind::FindCoordinator(
                FindCoordinatorRequest::default()
                    .with_key_type(1)
                    .with_coordinator_keys(vec![text("txn")]),
            ),
            error: |r| match r {
                ResponseKind::FindCoordinator(r) => r.coordinators[0].error_code,
                _ => -2,
            },
            row: (Describe, TransactionalId),
        },
        Case {
            api: ApiKey::JoinGroup,
            version: 9,
            body: RequestKind::JoinGroup(
                JoinGroupRequest::default()
                    .with_group_id(text("g").into())
                    .with_session_timeout_ms(10_000)
                    .with_protocol_type(text("consumer")),
            ),
            error: |r| match r {
                ResponseKind::JoinGroup(r) => r.error_code,
                _ => -2,
            },
            row: (Read, Group),
        },
        Case {
            api: ApiKey::Heartbeat,
            version: 4,
            body: RequestKind::Heartbeat(
                HeartbeatRequest::default().with_group_id(text("g").into()),
            ),
            error: |r| match r {
                ResponseKind::Heartbeat(r) => r.error_code,
                _ => -2,
            },
            row: (Read, Group),
        },
        Case {
            api: ApiKey::DescribeGroups,
            version: 5,
            body: RequestKind::DescribeGroups(
                DescribeGroupsRequest::default().with_groups(vec![text("g").into()]),
            ),
            error: |r| match r {
                ResponseKind::DescribeGroups(r) => r.groups[0].error_code,
                _ => -2,
            },
            row: (Describe, Group),
        },
        Case {
            api: ApiKey::DeleteGroups,
            version: 2,
            body: RequestKind::DeleteGroups(
                DeleteGroupsRequest::default().with_groups_names(vec![text("g").into()]),
            ),
            error: |r| match r {
                ResponseKind::DeleteGroups(r) => r.results[0].error_code,
                _ => -2,
            },
            row: (Delete, Group),
        },
        Case {
            api: ApiKey::CreateTopics,
            version: 7,
            body: RequestKind::CreateTopics(CreateTopicsRequest::default().with_topics(vec![
                create_topics_request::CreatableTopic::default()
                    .with_name(topic_name("new"))
                    .with_num_partitions(1)
                    .with_replication_factor(1),
            ])),
            error: |r| match r {
                ResponseKind::CreateTopics(r) => r.topics[0].error_code,
                _ => -2,
            },
            row: (Create, Topic),
        },
        Case {
            api: ApiKey::DeleteTopics,
            version: 6,
            body: RequestKind::DeleteTopics(DeleteTopicsRequest::default().with_topics(vec![
                delete_topics_request::DeleteTopicState::default().with_name(Some(t())),
            ])),
            error: |r| match r {
                ResponseKind::DeleteTopics(r) => r.responses[0].error_code,
                _ => -2,
            },
            row: (Delete, Topic),
        },
        Case {
            api: ApiKey::CreatePartitions,
            version: 3,
            body: RequestKind::CreatePartitions(CreatePartitionsRequest::default().with_topics(
                vec![create_partitions_request::CreatePartitionsTopic::default()
                    .with_name(t())
                    .with_count(3)],
            )),
            error: |r| match r {
                ResponseKind::CreatePartitions(r) => r.results[0].error_code,
                _ => -2,
            },
            row: (Alter, Topic),
        },
        Case {
            api: ApiKey::DeleteRecords,
            version: 2,
            body: RequestKind::DeleteRecords(DeleteRecordsRequest::default().with_topics(vec![
                delete_records_request::DeleteRecordsTopic::default()
                    .with_name(t())
                    .with_partitions(vec![
                        delete_records_request::DeleteRecordsPartition::default(),
                    ]),
            ])),
            error: |r| match r {
                ResponseKind::DeleteRecords(r) => r.topics[0].partitions[0].error_code,
                _ => -2,
            },
            row: (Delete, Topic),
        },
        Case {
            api: ApiKey::DescribeConfigs,
            version: 4,
            body: RequestKind::DescribeConfigs(DescribeConfigsRequest::default().with_resources(
                vec![describe_configs_request::DescribeConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(text("t"))],
            )),
            error: |r| match r {
                ResponseKind::DescribeConfigs(r) => r.results[0].error_code,
                _ => -2,
            },
            row: (DescribeConfigs, Topic),
        },
        Case {
            api: ApiKey::DescribeConfigs,
            version: 4,
            body: RequestKind::DescribeConfigs(DescribeConfigsRequest::default().with_resources(
                vec![describe_configs_request::DescribeConfigsResource::default()
                    .with_resource_type(4)
                    .with_resource_name(text("1"))],
            )),
            error: |r| match r {
                ResponseKind::DescribeConfigs(r) => r.results[0].error_code,
                _ => -2,
            },
            row: (DescribeConfigs, Cluster),
        },
        Case {
            api: ApiKey::IncrementalAlterConfigs,
            version: 1,
            body: RequestKind::IncrementalAlterConfigs(
                IncrementalAlterConfigsRequest::default().with_resources(vec![
                    incremental_alter_configs_request::AlterConfigsResource::default()
                        .with_resource_type(2)
                        .with_resource_name(text("t")),
                ]),
            ),
            error: |r| match r {
                ResponseKind::IncrementalAlterConfigs(r) => r.responses[0].error_code,
                _ => -2,
            },
            row: (AlterConfigs, Topic),
        },
        Case {
            api: ApiKey::AlterClientQuotas,
            version: 1,
            body: RequestKind::AlterClientQuotas(AlterClientQuotasRequest::default().with_entries(
                vec![
                    alter_client_quotas_request::EntryData::default()
                        .with_entity(vec![
                            alter_client_quotas_request::EntityData::default()
                                .with_entity_type(text("client-id"))
                                .with_entity_name(Some(text("c"))),
                        ])
                        .with_ops(vec![alter_client_quotas_request::OpData::default()
                            .with_key(text("producer_byte_rate"))
                            .with_value(1024.0)]),
                ],
            )),
            // Refused per entry, each echoing its entity.
            error: |r| match r {
                ResponseKind::AlterClientQuotas(r)
                    if r.entries[0].entity[0].entity_name.as_deref() == Some("c") =>
                {
                    r.entries[0].error_code
                }
                _ => -2,
            },
            row: (AlterConfigs, Cluster),
        },
        Case {
            api: ApiKey::InitProducerId,
            version: 4,
            body: RequestKind::InitProducerId(
                InitProducerIdRequest::default()
                    .with_transactional_id(None)
                    .with_transaction_timeout_ms(60_000)
                    .with_producer_id((-1).into())
                    .with_producer_epoch(-1),
            ),
            error: |r| match r {
                ResponseKind::InitProducerId(r) => r.error_code,
                _ => -2,
            },
            row: (Write, Topic),
        },
        Case {
            api: ApiKey::InitProducerId,
            version: 4,
            body: RequestKind::InitProducerId(
                InitProducerIdRequest::default()
                    .with_transactional_id(Some(text("txn").into()))
                    .with_transaction_timeout_ms(60_000)
                    .with_producer_id((-1).into())
                    .with_producer_epoch(-1),
            ),
            error: |r| match r {
                ResponseKind::InitProducerId(r) => r.error_code,
                _ => -2,
            },
            row: (Write, TransactionalId),
        },
        Case {
            api: ApiKey::EndTxn,
            version: 3,
            body: RequestKind::EndTxn(
                EndTxnRequest::default().with_transactional_id(text("txn").into()),
            ),
            error: |r| match r {
                ResponseKind::EndTxn(r) => r.error_code,
                _ => -2,
            },
            row: (Write, TransactionalId),
        },
        Case {
            api: ApiKey::DescribeAcls,
            version: 3,
            body: RequestKind::DescribeAcls(any_filter()),
            error: |r| match r {
                ResponseKind::DescribeAcls(r) => r.error_code,
                _ => -2,
            },
            row: (Describe, Cluster),
        },
        Case {
            api: ApiKey::CreateAcls,
            version: 3,
            body: RequestKind::CreateAcls(CreateAclsRequest::default().with_creations(vec![acl(
                Topic,
                "t",
                LITERAL,
                "User:alice",
                Read,
                true,
            )])),
            error: |r| match r {
                ResponseKind::CreateAcls(r) => r.results[0].error_code,
                _ => -2,
            },
            row: (Alter, Cluster),
        },
        Case {
            api: ApiKey::ListPartitionReassignments,
            version: 0,
            body: RequestKind::ListPartitionReassignments(
                ListPartitionReassignmentsRequest::default(),
            ),
            error: |r| match r {
                ResponseKind::ListPartitionReassignments(r) => r.error_code,
                _ => -2,
            },
            row: (Describe, Cluster),
        },
        Case {
            api: ApiKey::DescribeProducers,
            version: 0,
            body: RequestKind::DescribeProducers(DescribeProducersRequest::default().with_topics(
                vec![describe_producers_request::TopicRequest::default()
                    .with_name(t())
                    .with_partition_indexes(vec![0])],
            )),
            error: |r| match r {
                ResponseKind::DescribeProducers(r) => r.topics[0].partitions[0].error_code,
                _ => -2,
            },
            row: (Read, Topic),
        },
        Case {
            api: ApiKey::DescribeTransactions,
            version: 0,
            body: RequestKind::DescribeTransactions(
                DescribeTransactionsRequest::default()
                    .with_transactional_ids(vec![text("txn").into()]),
            ),
            error: |r| match r {
                ResponseKind::DescribeTransactions(r) => r.transaction_states[0].error_code,
                _ => -2,
            },
            row: (Describe, TransactionalId),
        },
    ]
}

/// The error the table gives for the row `(operation, resource)` of `api`.
fn table_error(api: ApiKey, row: (AclOperation, ResourceType)) -> i16 {
    let checks = api_acls::checks(api).unwrap_or_else(|| panic!("{api:?} not in the table"));
    let check = checks
        .iter()
        .filter(|c| (c.operation, c.resource) == row)
        .find(|c| c.error != NONE)
        .unwrap_or_else(|| panic!("{api:?} has no row {row:?}"));
    check.error
}

#[test]
fn every_api_refuses_a_principal_without_acls_as_the_table_says() {
    let node = start(&[]);
    let mut admin = node.broker.connect();
    create_topic(&mut admin, "t", 1);
    let mut alice = login(&node, "alice");
    for case in cases() {
        let expected = table_error(case.api, case.row);
        let response = alice.request(case.api, case.version, case.body);
        assert_eq!(
            (case.error)(&response),
            expected,
            "{:?} {:?}",
            case.api,
            case.row
        );
    }
    // The same requests from the super user are not refused for authorization.
    for case in cases() {
        let response = admin.request(case.api, case.version, case.body);
        let code = (case.error)(&response);
        assert!(
            ![29, 30, 31, 53].contains(&code),
            "{:?} refused the super user with {code}",
            case.api
        );
    }
}

fn metadata_topics(conn: &mut Connection) -> Vec<String> {
    let ResponseKind::Metadata(r) = conn.request(
        ApiKey::Metadata,
        12,
        RequestKind::Metadata(MetadataRequest::default().with_topics(None)),
    ) else {
        panic!()
    };
    let mut names: Vec<String> = r
        .topics
        .iter()
        .filter_map(|t| t.name.as_ref().map(|n| n.to_string()))
        .collect();
    names.sort();
    names
}

fn produce_error(conn: &mut Connection, topic: &str) -> i16 {
    produce_batch(conn, topic, 0, 1, 0, ["v"])
}

/// Every record value of a partition from `offset` (one fetch).
fn fetch_values(conn: &mut Connection, topic: &str, partition: i32, offset: i64) -> Vec<Bytes> {
    let request = FetchRequest::default()
        .with_replica_id((-1).into())
        .with_max_wait_ms(0)
        .with_max_bytes(1 << 20)
        .with_topics(vec![fetch_request::FetchTopic::default()
            .with_topic(topic_name(topic))
            .with_partitions(vec![fetch_request::FetchPartition::default()
                .with_partition(partition)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(1 << 20)])]);
    let ResponseKind::Fetch(r) = conn.request(ApiKey::Fetch, 12, RequestKind::Fetch(request))
    else {
        panic!()
    };
    let Some(p) = r.responses.first().and_then(|t| t.partitions.first()) else {
        return Vec::new();
    };
    decode_batches(p.records.as_deref().unwrap_or_default())
        .unwrap()
        .into_iter()
        .flat_map(|b| b.records)
        .filter_map(|r| r.value)
        .collect()
}

fn init_producer_id(conn: &mut Connection) -> i16 {
    let ResponseKind::InitProducerId(r) = conn.request(
        ApiKey::InitProducerId,
        4,
        RequestKind::InitProducerId(
            InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_transaction_timeout_ms(60_000)
                .with_producer_id((-1).into())
                .with_producer_epoch(-1),
        ),
    ) else {
        panic!()
    };
    r.error_code
}

#[test]
fn acls_grant_deny_and_filter_listings() {
    use AclOperation::*;
    let node = start(&[]);
    let mut admin = node.broker.connect();
    for t in ["orders", "orders-eu", "secret", "other"] {
        create_topic(&mut admin, t, 1);
    }
    let codes = create_acls(
        &mut admin,
        vec![
            acl(
                ResourceType::Topic,
                "orders",
                PREFIXED,
                "User:alice",
                Write,
                true,
            ),
            acl(
                ResourceType::Topic,
                "orders-eu",
                LITERAL,
                "User:alice",
                Write,
                false,
            ),
            acl(ResourceType::Topic, "secret", LITERAL, "User:*", Read, true),
            acl(ResourceType::Group, "g", LITERAL, "User:bob", Read, true),
        ],
    );
    assert_eq!(codes, vec![NONE; 4]);
    let mut alice = login(&node, "alice");
    assert_eq!(produce_error(&mut alice, "orders"), NONE);
    // DENY wins over the prefixed ALLOW.
    assert_eq!(
        produce_error(&mut alice, "orders-eu"),
        TOPIC_AUTHORIZATION_FAILED
    );
    assert_eq!(
        produce_error(&mut alice, "other"),
        TOPIC_AUTHORIZATION_FAILED
    );
    // All-topics Metadata lists only what alice may describe (Write and
    // Read imply Describe; the DENY of Write does not deny Describe).
    assert_eq!(
        metadata_topics(&mut alice),
        vec!["orders", "orders-eu", "secret"]
    );
    // KIP-679: Write on some topic lets an idempotent producer start.
    assert_eq!(init_producer_id(&mut alice), NONE);
    let mut bob = login(&node, "bob");
    assert_eq!(init_producer_id(&mut bob), CLUSTER_AUTHORIZATION_FAILED);
    assert_eq!(metadata_topics(&mut bob), vec!["secret"]);
    // bob may Read group g: a JoinGroup gets past authorization.
    let ResponseKind::JoinGroup(join) = bob.request(
        ApiKey::JoinGroup,
        9,
        RequestKind::JoinGroup(
            JoinGroupRequest::default()
                .with_group_id(text("g").into())
                .with_session_timeout_ms(10_000)
                .with_protocol_type(text("consumer")),
        ),
    ) else {
        panic!()
    };
    assert_ne!(join.error_code, GROUP_AUTHORIZATION_FAILED);
    let ResponseKind::JoinGroup(join) = alice.request(
        ApiKey::JoinGroup,
        9,
        RequestKind::JoinGroup(
            JoinGroupRequest::default()
                .with_group_id(text("g").into())
                .with_session_timeout_ms(10_000)
                .with_protocol_type(text("consumer")),
        ),
    ) else {
        panic!()
    };
    assert_eq!(join.error_code, GROUP_AUTHORIZATION_FAILED);
}

#[test]
fn allow_everyone_if_no_acl_found_opens_resources_without_acls() {
    let node = start(&["allow.everyone.if.no.acl.found=true"]);
    let mut admin = node.broker.connect();
    create_topic(&mut admin, "open", 1);
    create_topic(&mut admin, "closed", 1);
    create_acls(
        &mut admin,
        vec![acl(
            ResourceType::Topic,
            "closed",
            LITERAL,
            "User:bob",
            AclOperation::Write,
            true,
        )],
    );
    let mut alice = login(&node, "alice");
    assert_eq!(produce_error(&mut alice, "open"), NONE);
    assert_eq!(
        produce_error(&mut alice, "closed"),
        TOPIC_AUTHORIZATION_FAILED
    );
}

#[test]
fn denials_are_written_to_the_audit_topic() {
    let node = start(&[]);
    let mut admin = node.broker.connect();
    create_topic(&mut admin, "t", 1);
    let mut alice = login(&node, "alice");
    assert_eq!(produce_error(&mut alice, "t"), TOPIC_AUTHORIZATION_FAILED);
    // The writer creates the topic and appends in the background.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let records = fetch_values(&mut admin, "__gregor_authz_audit", 0, 0);
        let found = records.iter().any(|v| {
            let v = String::from_utf8_lossy(v);
            v.contains("\"principal\":\"User:alice\"")
                && v.contains("\"allowed\":false")
                && v.contains("\"operation\":\"Write\"")
                && v.contains("\"resource_name\":\"t\"")
                && v.contains("no_acl_on_resource")
        });
        if found {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no audit record: {:?}",
            records
                .iter()
                .map(|v| String::from_utf8_lossy(v).to_string())
                .collect::<Vec<_>>()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// A three-node cluster with an authorizer: ACLs created through any node
/// reach the controller (forwarded) and every broker's image; replication
/// (followers fetching as the super user User:ANONYMOUS) keeps working.
#[test]
fn acls_in_a_cluster_are_forwarded_and_reach_every_broker() {
    use support::cluster::{combined_specs, create_topic as create_rf, eventually, ProcessCluster};
    let specs = combined_specs(3, |_| String::new());
    let cluster = ProcessCluster::start(
        specs,
        &[
            "authorizer.class.name=gregor.StandardAuthorizer",
            "super.users=User:ANONYMOUS",
        ],
    );
    for i in 0..3 {
        eventually(30, "the node to accept CreateAcls", || {
            let codes = create_acls(
                &mut cluster.connect(i),
                vec![acl(
                    ResourceType::Topic,
                    &format!("from-node-{i}"),
                    LITERAL,
                    "User:alice",
                    AclOperation::Read,
                    true,
                )],
            );
            (codes == [NONE]).then_some(())
        });
    }
    for i in 0..3 {
        eventually(20, "every ACL on every broker", || {
            let n = count(&describe_acls(&mut cluster.connect(i), any_filter()));
            (n == 3).then_some(())
        });
    }
    eventually(30, "a replicated topic", || {
        (create_rf(&mut cluster.connect(0), "replicated", 1, 3).0 == NONE).then_some(())
    });
    let ResponseKind::DeleteAcls(deleted) = cluster.connect(2).request(
        ApiKey::DeleteAcls,
        3,
        RequestKind::DeleteAcls(DeleteAclsRequest::default().with_filters(vec![
            DeleteAclsFilter::default()
                .with_resource_name_filter(None)
                .with_principal_filter(None)
                .with_host_filter(None)
                .with_resource_type_filter(1)
                .with_pattern_type_filter(1)
                .with_operation(1)
                .with_permission_type(1),
        ])),
    ) else {
        panic!()
    };
    assert_eq!(deleted.filter_results[0].matching_acls.len(), 3);
    for i in 0..3 {
        eventually(20, "the ACLs gone from every broker", || {
            let n = count(&describe_acls(&mut cluster.connect(i), any_filter()));
            (n == 0).then_some(())
        });
    }
    // Followers fetch as User:ANONYMOUS, a super user: acks=all completes
    // once the ISR (all three) has the write.
    eventually(30, "an acks=all produce", || {
        let mut conn = cluster.connect(0);
        let leader = support::cluster::metadata(&mut conn, Some(&["replicated"])).topics[0]
            .partitions
            .first()
            .map(|p| p.leader_id.0)?;
        let mut conn = cluster.connect((leader - 1) as usize);
        let mut builder = BatchBuilder::new(Compression::None);
        builder.push(0, None, Some(Bytes::from("v")), vec![]);
        let request = ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(5000)
            .with_topic_data(vec![produce_request::TopicProduceData::default()
                .with_name(topic_name("replicated"))
                .with_partition_data(vec![
                    produce_request::PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(builder.build().unwrap().freeze())),
                ])]);
        let ResponseKind::Produce(r) =
            conn.request(ApiKey::Produce, 9, RequestKind::Produce(request))
        else {
            panic!()
        };
        (r.responses[0].partition_responses[0].error_code == NONE).then_some(())
    });
}

fn cli(node: &SecureBroker, args: &[&str]) -> (bool, String) {
    let bootstrap = node.broker.addr.to_string();
    let output = std::process::Command::new(support::gregor_bin())
        .args(args)
        .args(["--bootstrap-server", &bootstrap])
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).to_string()
            + &String::from_utf8_lossy(&output.stderr),
    )
}

#[test]
fn gregor_acl_adds_lists_explains_and_removes() {
    let node = start(&[]);
    let (ok, out) = cli(
        &node,
        &[
            "acl",
            "add",
            "--principal",
            "User:alice",
            "--operation",
            "Read",
            "--operation",
            "Write",
            "--topic",
            "orders",
        ],
    );
    assert!(ok, "{out}");
    assert!(out.contains("Added (principal=User:alice, host=*, operation=Write, permissionType=Allow) on Topic:Literal:orders"), "{out}");
    let (ok, out) = cli(
        &node,
        &[
            "acl",
            "add",
            "--principal",
            "User:alice",
            "--deny",
            "--operation",
            "Read",
            "--topic",
            "orders-",
            "--resource-pattern-type",
            "prefixed",
        ],
    );
    assert!(ok, "{out}");
    let (_, out) = cli(
        &node,
        &[
            "acl",
            "list",
            "--topic",
            "orders-eu",
            "--resource-pattern-type",
            "match",
        ],
    );
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.contains("Topic:Prefixed:orders-"), "{out}");

    let explain = |op: &str, topic: &str, principal: &str| {
        cli(
            &node,
            &[
                "acl",
                "explain",
                "--principal",
                principal,
                "--operation",
                op,
                "--topic",
                topic,
            ],
        )
        .1
    };
    let out = explain("Describe", "orders", "User:alice");
    assert!(out.starts_with("ALLOWED User:alice"), "{out}");
    // Read and Write both imply Describe; which of the two is named depends
    // on the ACLs' order in the image (keyed by their random ids).
    assert!(
        out.contains("decided by: ACL (principal=User:alice, host=*, operation=Read")
            || out.contains("decided by: ACL (principal=User:alice, host=*, operation=Write"),
        "{out}"
    );
    let out = explain("Read", "orders-eu", "User:alice");
    assert!(out.starts_with("DENIED"), "{out}");
    assert!(
        out.contains("permissionType=Deny) on Topic:Prefixed:orders-"),
        "{out}"
    );
    let out = explain("Read", "payments", "User:alice");
    assert!(
        out.contains("no ACL on the resource; allow.everyone.if.no.acl.found=false"),
        "{out}"
    );
    let out = explain("Read", "orders", "User:bob");
    assert!(out.starts_with("DENIED"), "{out}");
    assert!(out.contains("none matches"), "{out}");
    let out = cli(
        &node,
        &[
            "acl",
            "explain",
            "--principal",
            "User:bob",
            "--operation",
            "Read",
            "--topic",
            "orders",
            "--super-users",
            "User:bob",
        ],
    )
    .1;
    assert!(out.contains("super user"), "{out}");
    // Without the flags, the broker's own super.users (User:ANONYMOUS)
    // are read with DescribeConfigs.
    let out = explain("Read", "orders", "User:ANONYMOUS");
    assert!(out.starts_with("ALLOWED"), "{out}");
    assert!(out.contains("decided by: super user"), "{out}");

    let (ok, out) = cli(
        &node,
        &[
            "acl",
            "remove",
            "--principal",
            "User:alice",
            "--topic",
            "orders",
        ],
    );
    assert!(ok, "{out}");
    assert_eq!(out.matches("Removed").count(), 2, "{out}");
    let (_, out) = cli(&node, &["acl", "list"]);
    assert_eq!(out.lines().count(), 1, "{out}");
}

#[test]
fn allowed_decisions_are_audited_when_asked_for() {
    let node = start(&["gregor.authorizer.audit.allow=true"]);
    let mut admin = node.broker.connect();
    create_topic(&mut admin, "t", 1);
    create_acls(
        &mut admin,
        vec![acl(
            ResourceType::Topic,
            "t",
            LITERAL,
            "User:alice",
            AclOperation::Write,
            true,
        )],
    );
    let mut alice = login(&node, "alice");
    assert_eq!(produce_error(&mut alice, "t"), NONE);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let records = fetch_values(&mut admin, "__gregor_authz_audit", 0, 0);
        let texts: Vec<String> = records
            .iter()
            .map(|v| String::from_utf8_lossy(v).to_string())
            .collect();
        let alice_write = texts.iter().any(|v| {
            v.contains("\"principal\":\"User:alice\"")
                && v.contains("\"allowed\":true")
                && v.contains("\"api\":\"Produce\"")
                && v.contains("\"permission\":\"Allow\"")
        });
        let super_user = texts
            .iter()
            .any(|v| v.contains("\"principal\":\"User:ANONYMOUS\"") && v.contains("super_user"));
        if alice_write && super_user {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{texts:?}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// Three nodes whose brokers and controllers log in to each other with SASL
/// (User:broker over SCRAM, User:controller over PLAIN), both super users;
/// clients come in on PLAINTEXT as User:ANONYMOUS, which is not. Followers
/// replicate and forwarded changes pass; a client DENY reaches every broker.
#[test]
fn a_cluster_whose_brokers_log_in_as_super_users() {
    use support::cluster::{create_topic as create_rf, eventually, ProcessCluster};
    use support::security::{sasl_properties, secured_specs};
    let password = "broker-secret";
    let specs = secured_specs(3, "127.0.0.1", "SASL_PLAINTEXT", "SASL_PLAINTEXT", |_| {
        sasl_properties(password, password)
    });
    let cluster = ProcessCluster::start(
        specs,
        &[
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users=User:broker;User:controller",
            // Lets the anonymous test client set things up: nothing has ACLs yet.
            "allow.everyone.if.no.acl.found=true",
            "broker.heartbeat.interval.ms=300",
        ],
    );
    eventually(30, "a replicated topic", || {
        (create_rf(&mut cluster.connect(1), "guarded", 1, 3).0 == NONE).then_some(())
    });
    let produce = |i: usize, acks: i16| -> i16 {
        produce_batch(&mut cluster.connect(i), "guarded", 0, acks, 0, ["v"])
    };
    // From now on the cluster resource has ACLs, so only super users pass
    // ClusterAction (follower fetches) and the controller's checks of
    // forwarded requests.
    let codes = create_acls(
        &mut cluster.connect(0),
        vec![
            acl(
                ResourceType::Cluster,
                "kafka-cluster",
                LITERAL,
                "User:ANONYMOUS",
                AclOperation::Alter,
                true,
            ),
            acl(
                ResourceType::Topic,
                "guarded",
                LITERAL,
                "User:ANONYMOUS",
                AclOperation::Write,
                true,
            ),
        ],
    );
    assert_eq!(codes, vec![NONE, NONE]);
    // acks=all from the leader: the followers (User:broker) fetched.
    let leader = eventually(30, "an acks=all produce", || {
        (0..3).find(|&i| produce(i, -1) == NONE)
    });
    // A DENY for the anonymous client, created through a non-leader node.
    let codes = create_acls(
        &mut cluster.connect((leader + 1) % 3),
        vec![acl(
            ResourceType::Topic,
            "guarded",
            LITERAL,
            "User:ANONYMOUS",
            AclOperation::Write,
            false,
        )],
    );
    assert_eq!(codes, vec![NONE]);
    eventually(20, "the DENY on the leader", || {
        (produce(leader, -1) == TOPIC_AUTHORIZATION_FAILED).then_some(())
    });
    // Every node has all three (Alter on the cluster implies Describe).
    for i in 0..3 {
        eventually(20, "the ACLs on every broker", || {
            (count(&describe_acls(&mut cluster.connect(i), any_filter())) == 3).then_some(())
        });
    }
}
