//! ACL behaviour Kafka 4.4 has beyond the per-API table, against a real
//! gregor process over TCP: the controller listener's KRaft and membership
//! RPCs need ClusterAction (Describe / Alter where Kafka's ControllerApis
//! says), `authorizedOperations` bit fields (Metadata, DescribeCluster,
//! DescribeGroups, DescribeTopicPartitions) as Kafka's
//! `AuthHelper.authorizedOperations` computes them, and ConsumerGroupHeartbeat
//! refusing a subscription to a topic the member may not describe.
//!
//! One combined node: PLAINTEXT (User:ANONYMOUS, a super user, sets things
//! up), SASL_PLAINTEXT for alice, and a SASL_PLAINTEXT controller listener
//! whose PLAIN users are the node's own `controller` (a super user) and
//! alice (not one).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use bytes::Bytes;
use gregor_metadata::acl::{AclOperation, ResourceType};
use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use std::net::TcpStream;
use std::time::{Duration, Instant};
use support::{create_topic, free_port, topic_name, Connection, TestBroker};

const NONE: i16 = 0;
const TOPIC_AUTHORIZATION_FAILED: i16 = 29;
const CLUSTER_AUTHORIZATION_FAILED: i16 = 31;
/// The schema default of every authorizedOperations field: "not asked".
const NOT_ASKED: i32 = i32::MIN;
/// READ | DESCRIBE.
const READ_DESCRIBE: i32 = (1 << 3) | (1 << 8);
/// Every topic operation: READ WRITE CREATE DELETE ALTER DESCRIBE
/// DESCRIBE_CONFIGS ALTER_CONFIGS.
const ALL_TOPIC: i32 = 0b1101_1111_1000;
/// Every cluster operation: CREATE ALTER DESCRIBE CLUSTER_ACTION
/// DESCRIBE_CONFIGS ALTER_CONFIGS IDEMPOTENT_WRITE.
const ALL_CLUSTER: i32 = 0b1_1111_1010_0000;
/// Every group operation: READ DELETE DESCRIBE DESCRIBE_CONFIGS ALTER_CONFIGS.
const ALL_GROUP: i32 = (1 << 3) | (1 << 6) | (1 << 8) | (1 << 10) | (1 << 11);

struct Node {
    broker: TestBroker,
    sasl: u16,
    controller: u16,
}

fn start() -> Node {
    start_with(&[])
}

fn start_with(extra: &[&str]) -> Node {
    let (plain, sasl, controller) = (free_port(), free_port(), free_port());
    let mut settings = vec![
        format!(
            "listeners=PLAINTEXT://127.0.0.1:{plain},SASL://127.0.0.1:{sasl},CONTROLLER://127.0.0.1:{controller}"
        ),
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT"
            .to_string(),
        "inter.broker.listener.name=PLAINTEXT".to_string(),
        "controller.listener.names=CONTROLLER".to_string(),
        format!("controller.quorum.voters=1@127.0.0.1:{controller}"),
        "sasl.mechanism.controller.protocol=PLAIN".to_string(),
        "listener.name.controller.sasl.enabled.mechanisms=PLAIN".to_string(),
        "listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule \
         required username=\"controller\" password=\"ctl-pw\" user_controller=\"ctl-pw\" user_alice=\"alice-pw\";"
            .to_string(),
        "sasl.bootstrap.scram=SCRAM-SHA-256=[name=alice,password=alice-pw]".to_string(),
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer".to_string(),
        "super.users=User:ANONYMOUS;User:controller".to_string(),
        "broker.heartbeat.interval.ms=300".to_string(),
        // One broker (as in Kafka's config/server.properties).
        "offsets.topic.replication.factor=1".to_string(),
    ];
    settings.extend(extra.iter().map(|s| s.to_string()));
    let settings: Vec<&str> = settings.iter().map(String::as_str).collect();
    Node {
        broker: TestBroker::start_on(plain, &settings),
        sasl,
        controller,
    }
}

fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// Runs a SASL PLAIN handshake and authentication on `conn`; the authentication's error code.
fn plain_authenticate(conn: &mut Connection, user: &str, password: &str) -> i16 {
    let ResponseKind::SaslHandshake(h) = conn.request(
        ApiKey::SaslHandshake,
        1,
        RequestKind::SaslHandshake(SaslHandshakeRequest::default().with_mechanism(text("PLAIN"))),
    ) else {
        panic!()
    };
    assert_eq!(h.error_code, NONE);
    let token = format!("\0{user}\0{password}");
    let ResponseKind::SaslAuthenticate(a) = conn.request(
        ApiKey::SaslAuthenticate,
        2,
        RequestKind::SaslAuthenticate(
            SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(token)),
        ),
    ) else {
        panic!()
    };
    a.error_code
}

/// A connection to `port` authenticated as `user` (password `<user>-pw`) with SASL PLAIN.
fn login(port: u16, user: &str) -> Connection {
    let mut conn = Connection::new(TcpStream::connect(("127.0.0.1", port)).unwrap());
    let code = plain_authenticate(&mut conn, user, &format!("{user}-pw"));
    assert_eq!(code, NONE, "{user} could not log in");
    conn
}

fn allow(conn: &mut Connection, rt: ResourceType, name: &str, op: AclOperation) {
    let ResponseKind::CreateAcls(r) = conn.request(
        ApiKey::CreateAcls,
        3,
        RequestKind::CreateAcls(CreateAclsRequest::default().with_creations(vec![
            AclCreation::default()
                .with_resource_type(rt.code())
                .with_resource_name(text(name))
                .with_resource_pattern_type(3)
                .with_principal(text("User:alice"))
                .with_host(text("*"))
                .with_operation(op.code())
                .with_permission_type(3),
        ])),
    ) else {
        panic!()
    };
    assert_eq!(r.results[0].error_code, NONE);
}

fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The top-level error code of each controller RPC alice can send.
fn controller_rpc_errors(conn: &mut Connection) -> Vec<(ApiKey, i16)> {
    let mut out = Vec::new();
    let r = conn.request(
        ApiKey::BrokerHeartbeat,
        1,
        RequestKind::BrokerHeartbeat(
            BrokerHeartbeatRequest::default()
                .with_broker_id(BrokerId(1))
                .with_broker_epoch(-1),
        ),
    );
    let ResponseKind::BrokerHeartbeat(r) = r else {
        panic!("{r:?}")
    };
    out.push((ApiKey::BrokerHeartbeat, r.error_code));
    let r = conn.request(
        ApiKey::Vote,
        0,
        RequestKind::Vote(VoteRequest::default().with_cluster_id(None)),
    );
    let ResponseKind::Vote(r) = r else {
        panic!("{r:?}")
    };
    out.push((ApiKey::Vote, r.error_code));
    let r = conn.request(
        ApiKey::AllocateProducerIds,
        0,
        RequestKind::AllocateProducerIds(
            AllocateProducerIdsRequest::default()
                .with_broker_id(BrokerId(1))
                .with_broker_epoch(-1),
        ),
    );
    let ResponseKind::AllocateProducerIds(r) = r else {
        panic!("{r:?}")
    };
    out.push((ApiKey::AllocateProducerIds, r.error_code));
    out
}

#[test]
fn controller_listener_rpcs_need_cluster_action() {
    let node = start();
    let mut admin = node.broker.connect();
    create_topic(&mut admin, "before", 1);
    let mut alice = login(node.controller, "alice");
    for (api, code) in controller_rpc_errors(&mut alice) {
        assert_eq!(code, CLUSTER_AUTHORIZATION_FAILED, "{api:?}");
    }
    // DescribeQuorum wants Describe, a controller's DescribeCluster Alter.
    let ResponseKind::DescribeQuorum(q) = alice.request(
        ApiKey::DescribeQuorum,
        1,
        RequestKind::DescribeQuorum(DescribeQuorumRequest::default()),
    ) else {
        panic!()
    };
    assert_eq!(q.error_code, CLUSTER_AUTHORIZATION_FAILED);
    let ResponseKind::DescribeCluster(c) = alice.request(
        ApiKey::DescribeCluster,
        1,
        RequestKind::DescribeCluster(DescribeClusterRequest::default().with_endpoint_type(2)),
    ) else {
        panic!()
    };
    assert_eq!(c.error_code, CLUSTER_AUTHORIZATION_FAILED);

    // The cluster resource now has an ACL (for alice): the node's own
    // heartbeats and registration come from a super user and go on.
    allow(
        &mut admin,
        ResourceType::Cluster,
        "kafka-cluster",
        AclOperation::ClusterAction,
    );
    eventually("ClusterAction to reach the controller", || {
        let errors = controller_rpc_errors(&mut login(node.controller, "alice"));
        errors
            .iter()
            .all(|(_, code)| *code != CLUSTER_AUTHORIZATION_FAILED)
            .then_some(())
    });
    // Still not Describe: ClusterAction does not imply it.
    let ResponseKind::DescribeQuorum(q) = login(node.controller, "alice").request(
        ApiKey::DescribeQuorum,
        1,
        RequestKind::DescribeQuorum(DescribeQuorumRequest::default()),
    ) else {
        panic!()
    };
    assert_eq!(q.error_code, CLUSTER_AUTHORIZATION_FAILED);
    // The super-user controller principal is served.
    let ResponseKind::DescribeQuorum(q) = login_controller(node.controller).request(
        ApiKey::DescribeQuorum,
        1,
        RequestKind::DescribeQuorum(DescribeQuorumRequest::default().with_topics(vec![
            describe_quorum_request::TopicData::default()
                .with_topic_name(topic_name("__cluster_metadata"))
                .with_partitions(vec![
                    describe_quorum_request::PartitionData::default().with_partition_index(0),
                ]),
        ])),
    ) else {
        panic!()
    };
    assert_eq!(q.error_code, NONE);
    // And the node keeps working past several heartbeat intervals.
    std::thread::sleep(Duration::from_secs(2));
    create_topic(&mut admin, "after", 1);
    let ResponseKind::Metadata(m) = admin.request(
        ApiKey::Metadata,
        12,
        RequestKind::Metadata(MetadataRequest::default().with_topics(None)),
    ) else {
        panic!()
    };
    assert_eq!(m.brokers.len(), 1);
    assert!(m.topics.iter().all(|t| t.error_code == NONE), "{m:?}");
}

/// The node's own controller principal (user `controller`, password ctl-pw).
fn login_controller(port: u16) -> Connection {
    let mut conn = Connection::new(TcpStream::connect(("127.0.0.1", port)).unwrap());
    assert_eq!(plain_authenticate(&mut conn, "controller", "ctl-pw"), NONE);
    conn
}

fn topic_ops(conn: &mut Connection, topic: &str, include: bool) -> (i16, i32) {
    let ResponseKind::Metadata(m) = conn.request(
        ApiKey::Metadata,
        12,
        RequestKind::Metadata(
            MetadataRequest::default()
                .with_topics(Some(vec![metadata_request::MetadataRequestTopic::default(
                )
                .with_name(Some(topic_name(topic)))]))
                .with_include_topic_authorized_operations(include),
        ),
    ) else {
        panic!()
    };
    (
        m.topics[0].error_code,
        m.topics[0].topic_authorized_operations,
    )
}

fn cluster_ops(conn: &mut Connection, include: bool) -> (i16, i32) {
    let ResponseKind::DescribeCluster(c) = conn.request(
        ApiKey::DescribeCluster,
        1,
        RequestKind::DescribeCluster(
            DescribeClusterRequest::default().with_include_cluster_authorized_operations(include),
        ),
    ) else {
        panic!()
    };
    (c.error_code, c.cluster_authorized_operations)
}

fn metadata_v10_cluster_ops(conn: &mut Connection) -> i32 {
    let ResponseKind::Metadata(m) = conn.request(
        ApiKey::Metadata,
        10,
        RequestKind::Metadata(
            MetadataRequest::default()
                .with_topics(Some(vec![]))
                .with_include_cluster_authorized_operations(true),
        ),
    ) else {
        panic!()
    };
    m.cluster_authorized_operations
}

/// Whether `code` says the group coordinator is not up yet (the offsets
/// topic is created on the first FindCoordinator).
fn coordinator_loading(code: i16) -> bool {
    matches!(code, 14..=16)
}

/// FindCoordinator for `group` until the coordinator is there.
fn await_coordinator(conn: &mut Connection, group: &str) {
    eventually("the group coordinator", || {
        let ResponseKind::FindCoordinator(r) = conn.request(
            ApiKey::FindCoordinator,
            4,
            RequestKind::FindCoordinator(
                FindCoordinatorRequest::default().with_coordinator_keys(vec![text(group)]),
            ),
        ) else {
            panic!()
        };
        (r.coordinators[0].error_code == NONE).then_some(())
    });
}

fn group_ops(conn: &mut Connection, group: &str) -> (i16, i32) {
    await_coordinator(conn, group);
    eventually("DescribeGroups served", || {
        let answer = describe_group_ops(conn, group);
        (!coordinator_loading(answer.0)).then_some(answer)
    })
}

fn describe_group_ops(conn: &mut Connection, group: &str) -> (i16, i32) {
    let ResponseKind::DescribeGroups(d) = conn.request(
        ApiKey::DescribeGroups,
        5,
        RequestKind::DescribeGroups(
            DescribeGroupsRequest::default()
                .with_groups(vec![text(group).into()])
                .with_include_authorized_operations(true),
        ),
    ) else {
        panic!()
    };
    (d.groups[0].error_code, d.groups[0].authorized_operations)
}

fn partitions_ops(conn: &mut Connection, topic: &str) -> (i16, i32) {
    let ResponseKind::DescribeTopicPartitions(d) = conn.request(
        ApiKey::DescribeTopicPartitions,
        0,
        RequestKind::DescribeTopicPartitions(
            DescribeTopicPartitionsRequest::default()
                .with_topics(vec![
                    describe_topic_partitions_request::TopicRequest::default()
                        .with_name(topic_name(topic)),
                ])
                .with_response_partition_limit(100),
        ),
    ) else {
        panic!()
    };
    (
        d.topics[0].error_code,
        d.topics[0].topic_authorized_operations,
    )
}

#[test]
fn authorized_operations_are_computed_as_kafka_does() {
    let node = start();
    let mut admin = node.broker.connect();
    create_topic(&mut admin, "t", 1);
    allow(&mut admin, ResourceType::Topic, "t", AclOperation::Read);
    allow(&mut admin, ResourceType::Group, "g", AclOperation::Describe);
    let mut alice = login(node.sasl, "alice");
    eventually("alice's ACLs", || {
        (topic_ops(&mut alice, "t", true) == (NONE, READ_DESCRIBE)).then_some(())
    });
    // Not asked: the schema default.
    assert_eq!(topic_ops(&mut alice, "t", false), (NONE, NOT_ASKED));
    // A refused topic keeps the default.
    assert_eq!(
        topic_ops(&mut alice, "secret", true),
        (TOPIC_AUTHORIZATION_FAILED, NOT_ASKED)
    );
    assert_eq!(topic_ops(&mut admin, "t", true), (NONE, ALL_TOPIC));
    // DescribeCluster answers alice (Kafka 4.4 does not refuse it), with no
    // operations: she may not describe the cluster.
    assert_eq!(cluster_ops(&mut alice, true), (NONE, 0));
    assert_eq!(cluster_ops(&mut alice, false), (NONE, NOT_ASKED));
    assert_eq!(cluster_ops(&mut admin, true), (NONE, ALL_CLUSTER));
    assert_eq!(metadata_v10_cluster_ops(&mut alice), 0);
    assert_eq!(metadata_v10_cluster_ops(&mut admin), ALL_CLUSTER);
    assert_eq!(group_ops(&mut alice, "g"), (NONE, 1 << 8));
    assert_eq!(group_ops(&mut admin, "g"), (NONE, ALL_GROUP));
    // DescribeTopicPartitions always carries them.
    assert_eq!(partitions_ops(&mut alice, "t"), (NONE, READ_DESCRIBE));
}

#[test]
fn without_an_authorizer_every_supported_operation_is_reported() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    create_topic(&mut conn, "t", 1);
    assert_eq!(topic_ops(&mut conn, "t", true), (NONE, ALL_TOPIC));
    assert_eq!(cluster_ops(&mut conn, true), (NONE, ALL_CLUSTER));
    assert_eq!(group_ops(&mut conn, "g"), (NONE, ALL_GROUP));
}

fn heartbeat(conn: &mut Connection, group: &str, topics: &[&str]) -> i16 {
    let ResponseKind::ConsumerGroupHeartbeat(r) = conn.request(
        ApiKey::ConsumerGroupHeartbeat,
        0,
        RequestKind::ConsumerGroupHeartbeat(
            ConsumerGroupHeartbeatRequest::default()
                .with_group_id(text(group).into())
                .with_member_id(text(&uuid::Uuid::new_v4().to_string()))
                .with_member_epoch(0)
                .with_rebalance_timeout_ms(30_000)
                .with_subscribed_topic_names(Some(topics.iter().map(|t| topic_name(t)).collect()))
                .with_topic_partitions(Some(vec![])),
        ),
    ) else {
        panic!()
    };
    r.error_code
}

#[test]
fn consumer_group_heartbeat_needs_describe_on_every_subscribed_topic() {
    let node = start();
    let mut admin = node.broker.connect();
    create_topic(&mut admin, "t", 1);
    create_topic(&mut admin, "secret", 1);
    allow(&mut admin, ResourceType::Group, "g", AclOperation::Read);
    allow(&mut admin, ResourceType::Topic, "t", AclOperation::Describe);
    await_coordinator(&mut admin, "g");
    let mut alice = login(node.sasl, "alice");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let code = heartbeat(&mut alice, "g", &["t"]);
        if code == NONE {
            break;
        }
        assert!(Instant::now() < deadline, "heartbeat still answers {code}");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        heartbeat(&mut alice, "g", &["t", "secret"]),
        TOPIC_AUTHORIZATION_FAILED
    );
    // Not even a topic that does not exist is let through undescribed.
    assert_eq!(
        heartbeat(&mut alice, "g", &["missing"]),
        TOPIC_AUTHORIZATION_FAILED
    );
}

/// Seconds from a failed SaslAuthenticate's answer to the connection's close.
fn close_delay_after_failed_login(port: u16) -> Duration {
    use std::io::Read;
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut raw = stream.try_clone().unwrap();
    let mut conn = Connection::new(stream);
    let code = plain_authenticate(&mut conn, "alice", "wrong");
    assert_eq!(code, 58, "SASL_AUTHENTICATION_FAILED");
    let answered = Instant::now();
    raw.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = [0u8; 16];
    // 0 bytes: the broker closed (an error would be the timeout).
    assert_eq!(raw.read(&mut buf).unwrap(), 0);
    answered.elapsed()
}

#[test]
fn a_failed_authentication_closes_after_the_configured_delay() {
    let node = start_with(&["connection.failed.authentication.delay.ms=1500"]);
    let waited = close_delay_after_failed_login(node.sasl);
    assert!(waited >= Duration::from_millis(1300), "{waited:?}");
    let node = start_with(&["connection.failed.authentication.delay.ms=0"]);
    let waited = close_delay_after_failed_login(node.sasl);
    assert!(waited < Duration::from_millis(1000), "{waited:?}");
}

fn consumer_group_describe(conn: &mut Connection, group: &str) -> (i16, i32, usize) {
    let ResponseKind::ConsumerGroupDescribe(d) = conn.request(
        ApiKey::ConsumerGroupDescribe,
        0,
        RequestKind::ConsumerGroupDescribe(
            ConsumerGroupDescribeRequest::default()
                .with_group_ids(vec![text(group).into()])
                .with_include_authorized_operations(true),
        ),
    ) else {
        panic!()
    };
    let g = &d.groups[0];
    (g.error_code, g.authorized_operations, g.members.len())
}

#[test]
fn consumer_group_describe_hides_groups_assigned_undescribable_topics() {
    let node = start();
    let mut admin = node.broker.connect();
    create_topic(&mut admin, "t", 1);
    create_topic(&mut admin, "secret", 1);
    await_coordinator(&mut admin, "open");
    await_coordinator(&mut admin, "closed");
    // The super user joins two KIP-848 groups: one on t, one on secret.
    for (group, topic) in [("open", "t"), ("closed", "secret")] {
        let code = eventually("the coordinator loaded", || {
            let code = heartbeat(&mut admin, group, &[topic]);
            (!coordinator_loading(code)).then_some(code)
        });
        assert_eq!(code, NONE, "{group}");
    }
    allow(
        &mut admin,
        ResourceType::Group,
        "open",
        AclOperation::Describe,
    );
    allow(
        &mut admin,
        ResourceType::Group,
        "closed",
        AclOperation::Describe,
    );
    allow(&mut admin, ResourceType::Topic, "t", AclOperation::Describe);
    let mut alice = login(node.sasl, "alice");
    // Members show, with the group's operations for alice (Describe).
    eventually("the open group described", || {
        (consumer_group_describe(&mut alice, "open") == (NONE, 1 << 8, 1)).then_some(())
    });
    // A member is assigned secret: the group is refused, without members.
    eventually("the closed group refused", || {
        (consumer_group_describe(&mut alice, "closed")
            == (TOPIC_AUTHORIZATION_FAILED, NOT_ASKED, 0))
            .then_some(())
    });
    // The super user sees it.
    assert_eq!(
        consumer_group_describe(&mut admin, "closed"),
        (NONE, ALL_GROUP, 1)
    );
}

/// One ConsumerGroupHeartbeat with a regex subscription; the topic ids of
/// the assignment it carries (none when it carries none yet).
fn regex_heartbeat(
    conn: &mut Connection,
    group: &str,
    member: &str,
    epoch: i32,
    regex: Option<&str>,
) -> (i16, i32, Vec<uuid::Uuid>) {
    // v1: the first version with subscribed_topic_regex.
    let ResponseKind::ConsumerGroupHeartbeat(r) = conn.request(
        ApiKey::ConsumerGroupHeartbeat,
        1,
        RequestKind::ConsumerGroupHeartbeat(
            ConsumerGroupHeartbeatRequest::default()
                .with_group_id(text(group).into())
                .with_member_id(text(member))
                .with_member_epoch(epoch)
                .with_rebalance_timeout_ms(30_000)
                .with_subscribed_topic_regex(regex.map(text))
                .with_topic_partitions((epoch == 0).then(Vec::new)),
        ),
    ) else {
        panic!()
    };
    let ids = r
        .assignment
        .map(|a| a.topic_partitions.iter().map(|t| t.topic_id).collect())
        .unwrap_or_default();
    (r.error_code, r.member_epoch, ids)
}

#[test]
fn regex_subscriptions_resolve_to_describable_topics_only() {
    let node = start();
    let mut admin = node.broker.connect();
    let open = create_topic(&mut admin, "rx-open", 1);
    create_topic(&mut admin, "rx-secret", 1);
    allow(&mut admin, ResourceType::Group, "rg", AclOperation::Read);
    allow(
        &mut admin,
        ResourceType::Topic,
        "rx-open",
        AclOperation::Describe,
    );
    await_coordinator(&mut admin, "rg");
    let mut alice = login(node.sasl, "alice");
    let member = uuid::Uuid::new_v4().to_string();
    let deadline = Instant::now() + Duration::from_secs(20);
    let (mut epoch, mut regex) = (0, Some("rx-.*"));
    let assigned = loop {
        let (code, new_epoch, ids) = regex_heartbeat(&mut alice, "rg", &member, epoch, regex);
        assert!(
            code == NONE || Instant::now() < deadline,
            "heartbeat answers {code}"
        );
        if code == NONE {
            // The regex is sent once, as the Java consumer does.
            regex = None;
            epoch = new_epoch;
            if !ids.is_empty() {
                break ids;
            }
        }
        assert!(Instant::now() < deadline, "no assignment");
        std::thread::sleep(Duration::from_millis(200));
    };
    // rx-secret matches too, but alice may not describe it.
    assert_eq!(assigned, vec![open]);
    // Once she may, the next heartbeats resolve the pattern to both.
    allow(
        &mut admin,
        ResourceType::Topic,
        "rx-secret",
        AclOperation::Describe,
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (code, new_epoch, ids) = regex_heartbeat(&mut alice, "rg", &member, epoch, None);
        assert_eq!(code, NONE);
        epoch = new_epoch;
        if ids.len() == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "rx-secret never assigned");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn share_heartbeat(conn: &mut Connection, group: &str, topics: &[&str]) -> i16 {
    let request = ShareGroupHeartbeatRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.into())))
        .with_member_id(StrBytes::from_static_str("alice-share-member"))
        .with_member_epoch(0)
        .with_subscribed_topic_names(Some(
            topics
                .iter()
                .map(|t| TopicName(StrBytes::from_string(t.to_string())))
                .collect(),
        ));
    support::share::heartbeat(conn, request).error_code
}

fn share_offsets_describe(conn: &mut Connection, group: &str) -> i16 {
    use describe_share_group_offsets_request::DescribeShareGroupOffsetsRequestGroup;
    let request = DescribeShareGroupOffsetsRequest::default().with_groups(vec![
        DescribeShareGroupOffsetsRequestGroup::default()
            .with_group_id(GroupId(StrBytes::from_string(group.into())))
            .with_topics(None),
    ]);
    let ResponseKind::DescribeShareGroupOffsets(r) = conn.request(
        ApiKey::DescribeShareGroupOffsets,
        0,
        RequestKind::DescribeShareGroupOffsets(request),
    ) else {
        panic!()
    };
    r.groups[0].error_code
}

#[test]
fn share_group_apis_need_their_acls() {
    const GROUP_AUTHORIZATION_FAILED: i16 = 30;
    let node = start();
    let mut admin = node.broker.connect();
    create_topic(&mut admin, "st", 1);
    create_topic(&mut admin, "secret", 1);
    await_coordinator(&mut admin, "sg");
    let mut alice = login(node.sasl, "alice");
    assert_eq!(
        share_heartbeat(&mut alice, "sg", &["st"]),
        GROUP_AUTHORIZATION_FAILED
    );
    assert_eq!(
        share_offsets_describe(&mut alice, "sg"),
        GROUP_AUTHORIZATION_FAILED
    );
    allow(&mut admin, ResourceType::Group, "sg", AclOperation::Read);
    allow(
        &mut admin,
        ResourceType::Topic,
        "st",
        AclOperation::Describe,
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let code = share_heartbeat(&mut alice, "sg", &["st"]);
        if code == NONE {
            break;
        }
        assert!(Instant::now() < deadline, "heartbeat still answers {code}");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        share_heartbeat(&mut alice, "sg", &["st", "secret"]),
        TOPIC_AUTHORIZATION_FAILED
    );
    // Read on the group implies Describe (Kafka's implied operations).
    assert_eq!(share_offsets_describe(&mut alice, "sg"), NONE);
}
