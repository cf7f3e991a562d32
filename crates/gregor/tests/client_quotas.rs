//! AlterClientQuotas / DescribeClientQuotas over TCP (what `kafka-configs
//! --entity-type users|clients` sends): quotas stored in the metadata log,
//! surviving a restart, Kafka's filter semantics and error codes.

// Tests fail by panicking: unwrap and expect are how they say so.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use kafka_protocol::messages::*;
use support::{Connection, TestBroker};

const INVALID_REQUEST: i16 = 42;
const EXACT: i8 = 0;
const DEFAULT: i8 = 1;
const ANY: i8 = 2;

type Entity<'a> = &'a [(&'a str, Option<&'a str>)];

/// (error code, message) of altering one entity.
fn alter(
    conn: &mut Connection,
    entity: Entity<'_>,
    ops: &[(&str, Option<f64>)],
    validate_only: bool,
) -> (i16, Option<String>) {
    let request = gregor_client::alter_client_quotas_request(entity, ops, validate_only);
    let ResponseKind::AlterClientQuotas(r) = conn.request(
        ApiKey::AlterClientQuotas,
        1,
        RequestKind::AlterClientQuotas(request),
    ) else {
        panic!("not an AlterClientQuotas response")
    };
    assert_eq!(r.entries.len(), 1);
    let e = &r.entries[0];
    (
        e.error_code,
        e.error_message.as_ref().map(|m| m.to_string()),
    )
}

/// Sets (`Some`) or removes (`None`) one quota key of an entity.
fn set_quota(conn: &mut Connection, entity: Entity<'_>, key: &str, value: Option<f64>) {
    assert_eq!(alter(conn, entity, &[(key, value)], false), (0, None));
}

/// An entity as "type=name,..." with its sorted (key, value)s.
type Found = (String, Vec<(String, f64)>);

/// Entities (as "type=name" joined by ',') with their sorted values, or
/// the error code.
fn describe(
    conn: &mut Connection,
    components: &[(&str, i8, Option<&str>)],
    strict: bool,
) -> Result<Vec<Found>, i16> {
    let request = gregor_client::describe_client_quotas_request(components, strict);
    let ResponseKind::DescribeClientQuotas(r) = conn.request(
        ApiKey::DescribeClientQuotas,
        1,
        RequestKind::DescribeClientQuotas(request),
    ) else {
        panic!("not a DescribeClientQuotas response")
    };
    if r.error_code != 0 {
        return Err(r.error_code);
    }
    let mut out: Vec<_> = r
        .entries
        .unwrap_or_default()
        .into_iter()
        .map(|e| {
            let mut entity: Vec<String> = e
                .entity
                .iter()
                .map(|d| {
                    format!(
                        "{}={}",
                        d.entity_type,
                        d.entity_name
                            .as_ref()
                            .map_or("<default>".into(), |n| n.to_string())
                    )
                })
                .collect();
            entity.sort();
            let mut values: Vec<_> = e
                .values
                .iter()
                .map(|v| (v.key.to_string(), v.value))
                .collect();
            values.sort_by(|a, b| a.0.cmp(&b.0));
            (entity.join(","), values)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn v(pairs: &[(&str, f64)]) -> Vec<(String, f64)> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

#[test]
fn quotas_are_stored_described_and_survive_a_restart() {
    let mut broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    assert_eq!(describe(&mut conn, &[], false), Ok(vec![]));

    let alice: Entity = &[("user", Some("alice"))];
    let alice_app: Entity = &[("user", Some("alice")), ("client-id", Some("app"))];
    let default_client: Entity = &[("client-id", None)];
    // validate_only stores nothing.
    assert_eq!(
        alter(
            &mut conn,
            alice,
            &[("producer_byte_rate", Some(1024.0))],
            true
        )
        .0,
        0
    );
    assert_eq!(describe(&mut conn, &[], false), Ok(vec![]));
    assert_eq!(
        alter(
            &mut conn,
            alice,
            &[
                ("producer_byte_rate", Some(1024.0)),
                ("request_percentage", Some(12.5))
            ],
            false
        )
        .0,
        0
    );
    assert_eq!(
        alter(
            &mut conn,
            alice_app,
            &[("consumer_byte_rate", Some(2048.0))],
            false
        )
        .0,
        0
    );
    assert_eq!(
        alter(
            &mut conn,
            default_client,
            &[("producer_byte_rate", Some(10.0))],
            false
        )
        .0,
        0
    );

    let all = vec![
        (
            "client-id=<default>".to_string(),
            v(&[("producer_byte_rate", 10.0)]),
        ),
        (
            "client-id=app,user=alice".to_string(),
            v(&[("consumer_byte_rate", 2048.0)]),
        ),
        (
            "user=alice".to_string(),
            v(&[("producer_byte_rate", 1024.0), ("request_percentage", 12.5)]),
        ),
    ];
    assert_eq!(describe(&mut conn, &[], false), Ok(all.clone()));
    // Kafka's filters: exact, strict, default, any.
    assert_eq!(
        describe(&mut conn, &[("user", EXACT, Some("alice"))], true),
        Ok(vec![all[2].clone()])
    );
    assert_eq!(
        describe(&mut conn, &[("user", EXACT, Some("alice"))], false),
        Ok(vec![all[1].clone(), all[2].clone()])
    );
    assert_eq!(
        describe(&mut conn, &[("client-id", DEFAULT, None)], false),
        Ok(vec![all[0].clone()])
    );
    assert_eq!(
        describe(&mut conn, &[("client-id", ANY, None)], false),
        Ok(vec![all[0].clone(), all[1].clone()])
    );
    assert_eq!(
        describe(&mut conn, &[("group", ANY, None)], false),
        Err(35) // UNSUPPORTED_VERSION, as Kafka
    );
    assert_eq!(
        describe(
            &mut conn,
            &[("user", ANY, None), ("user", ANY, None)],
            false
        ),
        Err(INVALID_REQUEST)
    );

    // Kafka's refusals.
    let (code, message) = alter(&mut conn, alice, &[("bogus", Some(1.0))], false);
    assert_eq!(
        (code, message.as_deref()),
        (INVALID_REQUEST, Some("Invalid configuration key bogus"))
    );
    assert_eq!(
        alter(
            &mut conn,
            alice,
            &[("producer_byte_rate", Some(1.5))],
            false
        )
        .0,
        INVALID_REQUEST
    );
    assert_eq!(
        alter(&mut conn, &[], &[("producer_byte_rate", Some(1.0))], false).0,
        INVALID_REQUEST
    );
    assert_eq!(
        alter(
            &mut conn,
            &[("topic", Some("t"))],
            &[("producer_byte_rate", Some(1.0))],
            false
        )
        .0,
        INVALID_REQUEST
    );
    assert_eq!(describe(&mut conn, &[], false), Ok(all.clone()));

    broker.restart();
    let mut conn = broker.connect();
    assert_eq!(describe(&mut conn, &[], false), Ok(all.clone()));
    // Removing the last key removes the entity.
    assert_eq!(
        alter(
            &mut conn,
            default_client,
            &[("producer_byte_rate", None)],
            false
        )
        .0,
        0
    );
    assert_eq!(describe(&mut conn, &[], false), Ok(all[1..].to_vec()));
}

/// One Produce of a single `bytes`-long record with acks=1: (error code,
/// throttle_time_ms).
fn produce(conn: &mut Connection, topic: &str, bytes: usize) -> (i16, i32) {
    use gregor_protocol::compression::Compression;
    use gregor_protocol::records::BatchBuilder;
    use produce_request::{PartitionProduceData, TopicProduceData};
    let mut builder = BatchBuilder::new(Compression::None);
    builder.push(0, None, Some(vec![b'x'; bytes].into()), vec![]);
    let request = ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(20_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(support::topic_name(topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(builder.build().unwrap().freeze()))])]);
    let ResponseKind::Produce(r) = conn.request(ApiKey::Produce, 9, RequestKind::Produce(request))
    else {
        panic!("not a Produce response")
    };
    (
        r.responses[0].partition_responses[0].error_code,
        r.throttle_time_ms,
    )
}

/// (throttle_time_ms, record bytes, batches) of a Fetch v12 from `offset`.
fn fetch(conn: &mut Connection, topic: &str, offset: i64) -> (i32, usize, i64) {
    use fetch_request::{FetchPartition, FetchTopic};
    let request = FetchRequest::default()
        .with_replica_id((-1).into())
        .with_max_wait_ms(0)
        .with_min_bytes(1)
        .with_max_bytes(50 * 1024 * 1024)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(support::topic_name(topic))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(1024 * 1024)])]);
    let ResponseKind::Fetch(r) = conn.request(ApiKey::Fetch, 12, RequestKind::Fetch(request))
    else {
        panic!("not a Fetch response")
    };
    let records = r
        .responses
        .first()
        .and_then(|t| t.partitions.first())
        .and_then(|p| p.records.clone())
        .unwrap_or_default();
    // Count the batches by their headers: base offset (8), length (4).
    let (mut at, mut batches) = (0usize, 0i64);
    while at + 12 <= records.len() {
        let len = i32::from_be_bytes(records[at + 8..at + 12].try_into().unwrap()) as usize;
        at += 12 + len;
        batches += 1;
    }
    (r.throttle_time_ms, records.len(), batches)
}

/// The broker measures over 3 windows of 1 s (a 2 s span at least), so a
/// client over its quota waits (rate - quota) / quota × 2 s.
#[test]
fn produce_and_fetch_are_throttled_and_the_channel_muted() {
    let mut broker = TestBroker::start(&["quota.window.num=3", "quota.window.size.seconds=1"]);
    let mut conn = broker.connect();
    support::create_topic(&mut conn, "q", 1);
    // Ten 6 KB batches, before any quota.
    for _ in 0..10 {
        assert_eq!(produce(&mut conn, "q", 6000), (0, 0));
    }
    // The test connection's client id.
    let client: Entity = &[("client-id", Some("gregor-test"))];

    // 20 KB/s: 60 KB at once is 30 KB/s over the 2 s span, 1 s over.
    assert_eq!(
        alter(
            &mut conn,
            client,
            &[("producer_byte_rate", Some(20_000.0))],
            false
        )
        .0,
        0
    );
    let (code, throttle) = produce(&mut conn, "q", 60_000);
    assert_eq!(code, 0, "throttled after the append, not refused");
    assert!((700..=1500).contains(&throttle), "throttle {throttle}");
    // Muted: the next request is not read before the throttle is over.
    let start = std::time::Instant::now();
    assert_eq!(
        describe(&mut conn, &[("client-id", ANY, None)], false)
            .unwrap()
            .len(),
        1
    );
    let waited = start.elapsed().as_millis() as i32;
    assert!(
        waited >= throttle - 100,
        "answered after {waited} ms, throttle {throttle}"
    );
    // Without the quota, no throttle.
    assert_eq!(
        alter(&mut conn, client, &[("producer_byte_rate", None)], false).0,
        0
    );
    assert_eq!(produce(&mut conn, "q", 60_000), (0, 0));

    // 10 KB/s: a fetch is shrunk to 20 KB (the quota over 2 windows).
    assert_eq!(
        alter(
            &mut conn,
            client,
            &[("consumer_byte_rate", Some(10_000.0))],
            false
        )
        .0,
        0
    );
    let (throttle, bytes, batches) = fetch(&mut conn, "q", 0);
    assert_eq!(throttle, 0);
    assert!(
        batches >= 1 && bytes <= 20_000 + 6_200,
        "{bytes} bytes in {batches} batches"
    );
    // The next one goes over: no records, a throttle time.
    let (throttle, bytes, _) = fetch(&mut conn, "q", batches);
    if bytes == 0 {
        assert!(
            throttle > 0,
            "empty throttled fetch carries its throttle time"
        );
    } else {
        // Only when the first fetch left room below the quota.
        assert!(throttle == 0 && bytes <= 20_000 + 6_200);
    }
    // A fetch after the mute is served again, and over time the consumer
    // gets no more than its quota.
    let start = std::time::Instant::now();
    let mut offset = 0;
    let mut total = 0usize;
    while offset < 10 {
        let (_, bytes, batches) = fetch(&mut conn, "q", offset);
        offset += batches;
        total += bytes;
    }
    let secs = start.elapsed().as_secs_f64();
    // 60 KB at 10 KB/s, less the first 2 s of burst the span allows.
    assert!(total >= 60_000 && secs >= 2.5, "{total} bytes in {secs} s");
    broker.stop();
}

/// (error code per topic, throttle time) of creating `topics` with
/// `partitions` each at CreateTopics `version`.
fn create_topics(
    conn: &mut Connection,
    topics: &[&str],
    partitions: i32,
    version: i16,
) -> (Vec<i16>, i32) {
    use create_topics_request::CreatableTopic;
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(
            topics
                .iter()
                .map(|t| {
                    CreatableTopic::default()
                        .with_name(support::topic_name(t))
                        .with_num_partitions(partitions)
                        .with_replication_factor(1)
                })
                .collect(),
        );
    let ResponseKind::CreateTopics(r) = conn.request(
        ApiKey::CreateTopics,
        version,
        RequestKind::CreateTopics(request),
    ) else {
        panic!("not a CreateTopics response")
    };
    (
        r.topics.iter().map(|t| t.error_code).collect(),
        r.throttle_time_ms,
    )
}

#[test]
fn controller_mutations_are_limited_by_a_token_bucket() {
    const THROTTLING_QUOTA_EXCEEDED: i16 = 89;
    let broker = TestBroker::start(&[
        "controller.quota.window.num=11",
        "controller.quota.window.size.seconds=1",
        // The client quotas' windows do not size the mutation bucket.
        "quota.window.num=2",
    ]);
    let mut conn = broker.connect();
    let client: Entity = &[("client-id", Some("gregor-test"))];
    // 1 partition/s: a bucket of 11 tokens.
    set_quota(&mut conn, client, "controller_mutation_rate", Some(1.0));
    // The first topic empties the bucket (11 - 15 = -4) and is accepted;
    // the next one in the same request is refused, as Kafka's strict quota.
    let (codes, throttle) = create_topics(&mut conn, &["m1", "m2"], 15, 7);
    assert_eq!(codes, vec![0, THROTTLING_QUOTA_EXCEEDED]);
    assert!((3_000..=4_000).contains(&throttle), "throttle {throttle}");
    // Muted for the throttle time, then still refused until refilled.
    let start = std::time::Instant::now();
    let (codes, _) = create_topics(&mut conn, &["m3"], 1, 7);
    assert!(start.elapsed().as_millis() as i32 >= throttle - 200);
    assert_eq!(codes, vec![0], "refilled after the throttle time");
    // Before v6 the client cannot be told: the topic is created and the
    // response throttled.
    let (codes, throttle) = create_topics(&mut conn, &["m4"], 3, 5);
    assert_eq!(codes, vec![0]);
    assert!(throttle > 0, "throttle {throttle}");
    // DeleteTopics takes the deleted partitions from the same bucket.
    std::thread::sleep(std::time::Duration::from_millis(throttle as u64));
    let ResponseKind::DeleteTopics(r) = conn.request(
        ApiKey::DeleteTopics,
        5,
        RequestKind::DeleteTopics(
            DeleteTopicsRequest::default()
                .with_timeout_ms(10_000)
                .with_topic_names(vec![support::topic_name("m1"), support::topic_name("m4")]),
        ),
    ) else {
        panic!("not a DeleteTopics response")
    };
    let codes: Vec<i16> = r.responses.iter().map(|t| t.error_code).collect();
    assert_eq!(codes, vec![0, THROTTLING_QUOTA_EXCEEDED]);
    assert!(r.throttle_time_ms > 5_000, "{}", r.throttle_time_ms);
    // That connection is muted for ~11 s; another one is not.
    let mut conn = broker.connect();
    // Without the quota nothing is limited.
    set_quota(&mut conn, client, "controller_mutation_rate", None);
    let (codes, throttle) = create_topics(&mut conn, &["m5", "m6"], 30, 7);
    assert_eq!((codes, throttle), (vec![0, 0], 0));
}

#[test]
fn a_request_quota_throttle_is_written_into_any_response() {
    let broker = TestBroker::start(&["quota.window.num=2", "quota.window.size.seconds=1"]);
    let mut conn = broker.connect();
    let client: Entity = &[("client-id", Some("gregor-test"))];
    // A millionth of a request thread: any request's handling exceeds it.
    set_quota(&mut conn, client, "request_percentage", Some(0.0001));
    let throttles: Vec<i32> = (0..3)
        .map(|_| {
            let ResponseKind::Metadata(m) = conn.request(
                ApiKey::Metadata,
                12,
                RequestKind::Metadata(MetadataRequest::default().with_topics(None)),
            ) else {
                panic!("not a Metadata response")
            };
            m.throttle_time_ms
        })
        .collect();
    // Capped at one window, as Kafka's request quota.
    assert!(
        throttles.iter().all(|t| (1..=1000).contains(t)),
        "{throttles:?}"
    );
}

#[test]
fn connections_over_an_addresss_creation_rate_are_closed_after_the_throttle() {
    let broker = TestBroker::start(&["quota.window.num=2", "quota.window.size.seconds=1"]);
    let mut admin = broker.connect();
    // One new connection per second from 127.0.0.1 (measured over at
    // least one window: the first is within it, the second is not).
    set_quota(
        &mut admin,
        &[("ip", Some("127.0.0.1"))],
        "connection_creation_rate",
        Some(1.0),
    );
    let served = |conn: &mut Connection| {
        let ResponseKind::ApiVersions(v) = conn.request(
            ApiKey::ApiVersions,
            3,
            RequestKind::ApiVersions(ApiVersionsRequest::default()),
        ) else {
            panic!("not an ApiVersions response")
        };
        v.error_code
    };
    let mut first = broker.connect();
    assert_eq!(served(&mut first), 0);
    let start = std::time::Instant::now();
    let mut second = broker.connect();
    let frame = second.encode(
        ApiKey::ApiVersions,
        3,
        &RequestKind::ApiVersions(ApiVersionsRequest::default()),
    );
    second.send_raw(&frame);
    assert!(
        second.read_frame().is_none(),
        "a throttled connection is not served"
    );
    let closed_after = start.elapsed().as_millis();
    assert!(
        (300..=2_000).contains(&closed_after),
        "closed after {closed_after} ms"
    );
    // Connections already open are not affected; once the rate has fallen,
    // new ones are served again.
    assert_eq!(served(&mut first), 0);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(served(&mut broker.connect()), 0);
    // Without the quota, nothing is limited.
    set_quota(
        &mut admin,
        &[("ip", Some("127.0.0.1"))],
        "connection_creation_rate",
        None,
    );
    for _ in 0..5 {
        assert_eq!(served(&mut broker.connect()), 0);
    }
}
