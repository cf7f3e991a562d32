//! GROUP config resources (type 32) over TCP, as `kafka-configs
//! --entity-type groups` uses them: set and removed with
//! IncrementalAlterConfigs, replaced with AlterConfigs, described with
//! Kafka's sources and broker synonyms, refused with Kafka's codes and
//! messages, and kept in the metadata log across a restart.

// Tests fail by panicking: unwrap and expect are how they say so.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use support::configs::{self, message_of, ConfigOp, DELETE, GROUP, SET};
use support::{Connection, TestBroker};

const INVALID_CONFIG: i16 = 40;
const INVALID_REQUEST: i16 = 42;
const DEFAULT_CONFIG: i8 = 5;
const DYNAMIC_GROUP_CONFIG: i8 = 8;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// (error code, message) of one IncrementalAlterConfigs on a group.
fn alter(conn: &mut Connection, group: &str, ops: &[ConfigOp<'_>]) -> (i16, String) {
    configs::alter(conn, GROUP, group, ops)
}

/// Legacy AlterConfigs: the group's dynamic configs become exactly `set`.
fn replace(conn: &mut Connection, group: &str, set: &[(&str, &str)]) -> i16 {
    use kafka_protocol::messages::alter_configs_request::{AlterConfigsResource, AlterableConfig};
    let request =
        AlterConfigsRequest::default().with_resources(vec![AlterConfigsResource::default()
            .with_resource_type(GROUP)
            .with_resource_name(s(group))
            .with_configs(
                set.iter()
                    .map(|(k, v)| {
                        AlterableConfig::default()
                            .with_name(s(k))
                            .with_value(Some(s(v)))
                    })
                    .collect(),
            )]);
    let ResponseKind::AlterConfigs(r) =
        conn.request(ApiKey::AlterConfigs, 2, RequestKind::AlterConfigs(request))
    else {
        panic!()
    };
    r.responses[0].error_code
}

/// The described configs of a group: name -> (value, source, synonyms).
type Entry = (String, String, i8, Vec<(String, String, i8)>);
type Described = Vec<Entry>;

fn describe(conn: &mut Connection, group: &str) -> Result<Described, (i16, String)> {
    let result = configs::describe(conn, GROUP, group, true);
    if result.error_code != 0 {
        return Err((result.error_code, message_of(&result.error_message)));
    }
    Ok(result
        .configs
        .iter()
        .map(|c| {
            (
                c.name.to_string(),
                c.value.as_ref().map(|v| v.to_string()).unwrap_or_default(),
                c.config_source,
                c.synonyms
                    .iter()
                    .map(|y| {
                        (
                            y.name.to_string(),
                            y.value.as_ref().map(|v| v.to_string()).unwrap_or_default(),
                            y.source,
                        )
                    })
                    .collect(),
            )
        })
        .collect())
}

fn entry<'a>(described: &'a Described, name: &str) -> Option<&'a Entry> {
    described.iter().find(|e| e.0 == name)
}

#[test]
fn group_configs_are_set_described_replaced_and_survive_restart() {
    let mut broker = TestBroker::start(&["group.consumer.session.timeout.ms=50000"]);
    let mut conn = broker.connect();

    // Before anything is set: every public config at the broker's value.
    let before = describe(&mut conn, "orders").unwrap();
    let session = entry(&before, "consumer.session.timeout.ms").unwrap();
    assert_eq!((session.1.as_str(), session.2), ("50000", DEFAULT_CONFIG));
    assert_eq!(
        session.3,
        vec![(
            "group.consumer.session.timeout.ms".to_string(),
            "50000".to_string(),
            DEFAULT_CONFIG
        )]
    );
    let reset = entry(&before, "share.auto.offset.reset").unwrap();
    assert_eq!((reset.1.as_str(), reset.2), ("latest", DEFAULT_CONFIG));
    assert!(
        entry(&before, "streams.num.warmup.replicas").is_none(),
        "internal: only when set"
    );

    let ok = alter(
        &mut conn,
        "orders",
        &[
            ("share.auto.offset.reset", SET, Some("earliest")),
            ("consumer.session.timeout.ms", SET, Some("55000")),
            ("streams.num.warmup.replicas", SET, Some("3")),
        ],
    );
    assert_eq!(ok, (0, String::new()));
    let after = describe(&mut conn, "orders").unwrap();
    let reset = entry(&after, "share.auto.offset.reset").unwrap();
    assert_eq!(
        (reset.1.as_str(), reset.2),
        ("earliest", DYNAMIC_GROUP_CONFIG)
    );
    assert_eq!(
        reset.3,
        vec![
            (
                "share.auto.offset.reset".to_string(),
                "earliest".to_string(),
                DYNAMIC_GROUP_CONFIG
            ),
            (
                "share.auto.offset.reset".to_string(),
                "latest".to_string(),
                DEFAULT_CONFIG
            ),
        ]
    );
    assert_eq!(
        entry(&after, "consumer.session.timeout.ms").unwrap().1,
        "55000"
    );
    assert_eq!(
        entry(&after, "streams.num.warmup.replicas").unwrap().2,
        DYNAMIC_GROUP_CONFIG
    );
    // Another group is untouched.
    assert_eq!(
        entry(
            &describe(&mut conn, "other").unwrap(),
            "share.auto.offset.reset"
        )
        .unwrap()
        .1,
        "latest"
    );

    // DELETE goes back to the broker's value.
    assert_eq!(
        alter(
            &mut conn,
            "orders",
            &[("consumer.session.timeout.ms", DELETE, None)]
        )
        .0,
        0
    );
    let session = entry(
        &describe(&mut conn, "orders").unwrap(),
        "consumer.session.timeout.ms",
    )
    .cloned()
    .unwrap();
    assert_eq!((session.1.as_str(), session.2), ("50000", DEFAULT_CONFIG));

    // The metadata log keeps them.
    broker.restart();
    let mut conn = broker.connect();
    let kept = describe(&mut conn, "orders").unwrap();
    assert_eq!(
        entry(&kept, "share.auto.offset.reset").unwrap().1,
        "earliest"
    );
    assert_eq!(entry(&kept, "streams.num.warmup.replicas").unwrap().1, "3");

    // AlterConfigs replaces the whole set.
    assert_eq!(
        replace(
            &mut conn,
            "orders",
            &[("share.isolation.level", "read_committed")]
        ),
        0
    );
    let replaced = describe(&mut conn, "orders").unwrap();
    assert_eq!(
        entry(&replaced, "share.isolation.level").unwrap().2,
        DYNAMIC_GROUP_CONFIG
    );
    assert_eq!(
        entry(&replaced, "share.auto.offset.reset").unwrap().2,
        DEFAULT_CONFIG
    );
    assert!(entry(&replaced, "streams.num.warmup.replicas").is_none());
}

#[test]
fn bad_group_configs_get_kafkas_codes() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    let refused = |conn: &mut Connection, group: &str, key: &str, value: &str| {
        alter(conn, group, &[(key, SET, Some(value))])
    };
    // Refused with Kafka's messages.
    for (key, value, message) in [
        ("nope", "1", "Unknown group config name: nope"),
        (
            "share.delivery.count.limit",
            "abc",
            "Invalid value abc for configuration share.delivery.count.limit: Not a number of type INT",
        ),
        (
            "share.delivery.count.limit",
            "1",
            "Invalid value 1 for configuration share.delivery.count.limit: Value must be at least 2",
        ),
        (
            "share.delivery.count.limit",
            "11",
            "share.delivery.count.limit must be in the range 2 to 10 inclusive.",
        ),
        (
            "consumer.heartbeat.interval.ms",
            "50000",
            "consumer.heartbeat.interval.ms must be in the range 5000 to 15000 inclusive.",
        ),
    ] {
        assert_eq!(
            refused(&mut conn, "g", key, value),
            (INVALID_CONFIG, message.to_string()),
            "{key}={value}"
        );
    }
    // The codes alone (0: accepted), in this order.
    for (key, value, code) in [
        ("share.auto.offset.reset", "sometimes", INVALID_CONFIG),
        (
            "share.auto.offset.reset",
            "by_duration:-PT1H",
            INVALID_CONFIG,
        ),
        ("share.auto.offset.reset", "by_duration:PT1H", 0),
        ("share.isolation.level", "dirty", INVALID_CONFIG),
        ("streams.num.standby.replicas", "3", INVALID_CONFIG),
        ("streams.assignor.name", "foo", INVALID_CONFIG),
    ] {
        assert_eq!(refused(&mut conn, "g", key, value).0, code, "{key}={value}");
    }
    assert_eq!(
        refused(&mut conn, "", "share.delivery.count.limit", "6"),
        (
            INVALID_REQUEST,
            "Default group resources are not allowed.".to_string()
        )
    );
    assert_eq!(describe(&mut conn, "").unwrap_err().0, INVALID_REQUEST);
    // Nothing refused was stored.
    let g = describe(&mut conn, "g").unwrap();
    assert_eq!(
        entry(&g, "share.delivery.count.limit").unwrap().2,
        DEFAULT_CONFIG
    );
    assert_eq!(
        entry(&g, "share.auto.offset.reset").unwrap().1,
        "by_duration:PT1H"
    );
}

/// A streams group's StreamsGroupHeartbeat answer (v1, as Kafka Streams sends it).
fn streams_join(
    conn: &mut Connection,
    group: &str,
) -> gregor_protocol::generated::streams_group_heartbeat_response::StreamsGroupHeartbeatResponse {
    use bytes::{BufMut, BytesMut};
    use gregor_protocol::generated::streams_group_heartbeat_request as rq;
    use kafka_protocol::protocol::{Decodable, Encodable};
    let join = rq::StreamsGroupHeartbeatRequest {
        group_id: group.into(),
        member_id: "member-1".into(),
        member_epoch: 0,
        rebalance_timeout_ms: 30_000,
        topology: Some(rq::Topology {
            epoch: 0,
            subtopologies: vec![rq::Subtopology {
                subtopology_id: "0".into(),
                source_topics: vec!["words".into()],
                ..Default::default()
            }],
            ..Default::default()
        }),
        process_id: Some("process-1".into()),
        active_tasks: Some(vec![]),
        standby_tasks: Some(vec![]),
        warmup_tasks: Some(vec![]),
        ..Default::default()
    };
    let mut buf = BytesMut::new();
    buf.put_i32(0);
    RequestHeader::default()
        .with_request_api_key(88)
        .with_request_api_version(1)
        .with_correlation_id(5)
        .with_client_id(Some(s("streams-test")))
        .encode(&mut buf, 2)
        .unwrap();
    join.encode(&mut buf, 1).unwrap();
    let size = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    conn.send_raw(&buf);
    let mut frame = conn.read_frame().expect("broker closed the connection");
    let header = ResponseHeader::decode(&mut frame, 1).unwrap();
    assert_eq!(header.correlation_id, 5);
    Decodable::decode(&mut frame, 1).unwrap()
}

#[test]
fn a_streams_group_uses_its_own_configs() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    support::create_topic(&mut conn, "words", 1);
    support::wait_for_group_coordinator(&mut conn, "tuned");
    let set = alter(
        &mut conn,
        "tuned",
        &[
            ("streams.heartbeat.interval.ms", SET, Some("7000")),
            ("streams.acceptable.recovery.lag", SET, Some("500")),
        ],
    );
    assert_eq!(set.0, 0, "{}", set.1);
    let tuned = streams_join(&mut conn, "tuned");
    assert_eq!(tuned.error_code, 0, "{:?}", tuned.error_message);
    assert_eq!(
        (tuned.heartbeat_interval_ms, tuned.acceptable_recovery_lag),
        (7000, 500)
    );
    // Another group keeps the broker's settings.
    support::wait_for_group_coordinator(&mut conn, "plain");
    let plain = streams_join(&mut conn, "plain");
    assert_eq!(
        (plain.heartbeat_interval_ms, plain.acceptable_recovery_lag),
        (5000, 10_000)
    );
}

fn consumer_join(conn: &mut Connection, group: &str) -> ConsumerGroupHeartbeatResponse {
    let request = ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_member_id(s("member-1"))
        .with_member_epoch(0)
        .with_rebalance_timeout_ms(30_000)
        .with_subscribed_topic_names(Some(vec![TopicName(s("events"))]))
        .with_topic_partitions(Some(vec![]));
    support::consumer_group_heartbeat(conn, request)
}

#[test]
fn a_consumer_group_gets_its_own_heartbeat_interval() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    support::create_topic(&mut conn, "events", 1);
    assert_eq!(
        alter(
            &mut conn,
            "fast",
            &[("consumer.heartbeat.interval.ms", SET, Some("6000"))]
        )
        .0,
        0
    );
    support::wait_for_group_coordinator(&mut conn, "fast");
    let fast = consumer_join(&mut conn, "fast");
    assert_eq!((fast.error_code, fast.heartbeat_interval_ms), (0, 6000));
    support::wait_for_group_coordinator(&mut conn, "usual");
    let usual = consumer_join(&mut conn, "usual");
    assert_eq!((usual.error_code, usual.heartbeat_interval_ms), (0, 5000));
}

#[test]
fn in_a_cluster_any_node_takes_the_change_and_every_node_describes_it() {
    use support::cluster::{combined_specs, eventually, ProcessCluster};
    let cluster = ProcessCluster::start(combined_specs(3, |_| String::new()), &[]);
    for via in 0..3 {
        let group = format!("g{via}");
        // Sent to each node in turn: the non-controllers forward it.
        let set = eventually(20, "the change is taken", || {
            let r = alter(
                &mut cluster.connect(via),
                &group,
                &[("share.delivery.count.limit", SET, Some("7"))],
            );
            (r.0 == 0).then_some(r)
        });
        assert_eq!(set.0, 0);
        for reader in 0..3 {
            eventually(20, "every node sees it", || {
                let described = describe(&mut cluster.connect(reader), &group).ok()?;
                let entry = entry(&described, "share.delivery.count.limit")?;
                (entry.1 == "7" && entry.2 == DYNAMIC_GROUP_CONFIG).then_some(())
            });
        }
    }
    // A refusal from a forwarding node is the controller's, with Kafka's code.
    let refused = alter(
        &mut cluster.connect(1),
        "g0",
        &[("share.delivery.count.limit", SET, Some("11"))],
    );
    assert_eq!(refused.0, INVALID_CONFIG);
}

#[test]
fn with_acls_group_configs_need_the_group_and_listing_needs_the_cluster() {
    use kafka_protocol::messages::create_acls_request::AclCreation;
    use support::security::{plain_login, SecureBroker};
    const GROUP_AUTHORIZATION_FAILED: i16 = 30;
    const CLUSTER_AUTHORIZATION_FAILED: i16 = 31;
    const GROUP_RESOURCE: i8 = 3;
    const LITERAL: i8 = 3;
    const ALTER_CONFIGS: i8 = 11;
    const DESCRIBE_CONFIGS: i8 = 10;
    let node = SecureBroker::start(
        "SASL",
        "SASL_PLAINTEXT",
        &[
            "sasl.bootstrap.scram=SCRAM-SHA-256=[name=alice,password=alice-pw]".to_string(),
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer"
                .to_string(),
            "super.users=User:ANONYMOUS".to_string(),
        ],
        None,
    );
    let mut alice = node.connect();
    assert_eq!(plain_login(&mut alice, "alice", "alice-pw").error_code, 0);
    assert_eq!(
        alter(
            &mut alice,
            "mine",
            &[("share.delivery.count.limit", SET, Some("6"))]
        )
        .0,
        GROUP_AUTHORIZATION_FAILED
    );
    assert_eq!(
        describe(&mut alice, "mine").unwrap_err().0,
        GROUP_AUTHORIZATION_FAILED
    );

    // The super user grants Alter/DescribeConfigs on group "mine" only.
    let mut admin = node.broker.connect();
    let grant = |operation: i8| {
        AclCreation::default()
            .with_resource_type(GROUP_RESOURCE)
            .with_resource_name(s("mine"))
            .with_resource_pattern_type(LITERAL)
            .with_principal(s("User:alice"))
            .with_host(s("*"))
            .with_operation(operation)
            .with_permission_type(3)
    };
    let ResponseKind::CreateAcls(created) = admin.request(
        ApiKey::CreateAcls,
        3,
        RequestKind::CreateAcls(
            CreateAclsRequest::default()
                .with_creations(vec![grant(ALTER_CONFIGS), grant(DESCRIBE_CONFIGS)]),
        ),
    ) else {
        panic!()
    };
    assert!(created.results.iter().all(|r| r.error_code == 0));
    support::cluster::eventually(10, "the ACLs apply", || {
        (alter(
            &mut alice,
            "mine",
            &[("share.delivery.count.limit", SET, Some("6"))],
        )
        .0 == 0)
            .then_some(())
    });
    assert_eq!(
        entry(
            &describe(&mut alice, "mine").unwrap(),
            "share.delivery.count.limit"
        )
        .unwrap()
        .1,
        "6"
    );
    assert_eq!(
        alter(
            &mut alice,
            "theirs",
            &[("share.delivery.count.limit", SET, Some("6"))]
        )
        .0,
        GROUP_AUTHORIZATION_FAILED
    );
    let ResponseKind::ListConfigResources(listed) = alice.request(
        ApiKey::ListConfigResources,
        1,
        RequestKind::ListConfigResources(ListConfigResourcesRequest::default()),
    ) else {
        panic!()
    };
    assert_eq!(listed.error_code, CLUSTER_AUTHORIZATION_FAILED);
}
