//! The console's consumer-group, transaction and user pages over HTTP
//! against a real `gregor server`: lag per partition, offset reset (dry
//! run, execute, persisted across a restart), Kafka's refusals (active
//! group, unknown group or topic, bad input) as 4xx with a message, group
//! deletion, and SCRAM users. The browser test is
//! compat/test_console_groups.py.

// An integration test: unwrapping is how a failed step fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use gregor_protocol::error_codes::NONE;
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestGroup;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use support::http::{get, request, Answer};
use support::{
    create_topic, free_port, produce_values, topic_name, wait_for_group_coordinator, Connection,
    TestBroker,
};

fn start(extra: &[&str]) -> (TestBroker, u16) {
    let admin = free_port();
    let mut settings = vec![
        format!("gregor.admin.listener=127.0.0.1:{admin}"),
        "offsets.topic.num.partitions=1".to_string(),
    ];
    settings.extend(extra.iter().map(|s| s.to_string()));
    let settings: Vec<&str> = settings.iter().map(String::as_str).collect();
    (TestBroker::start(&settings), admin)
}

fn post(port: u16, path: &str, body: &str) -> Answer {
    request(port, "POST", path, &[], body)
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// A simple consumer's commit (no member), as the tools make one.
fn commit(conn: &mut Connection, group: &str, topic: &str, offsets: &[(i32, i64)]) {
    assert_eq!(support::simple_commit(conn, group, topic, offsets), NONE);
}

/// The group's committed offsets as a Kafka client reads them.
fn committed(conn: &mut Connection, group: &str) -> Vec<(String, i32, i64)> {
    let request =
        OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
            .with_group_id(GroupId(s(group)))
            .with_topics(None)]);
    let ResponseKind::OffsetFetch(r) =
        conn.request(ApiKey::OffsetFetch, 9, RequestKind::OffsetFetch(request))
    else {
        panic!()
    };
    assert_eq!(r.groups[0].error_code, NONE);
    let mut out: Vec<_> = r.groups[0]
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(move |p| (t.name.to_string(), p.partition_index, p.committed_offset))
        })
        .collect();
    out.sort();
    out
}

fn cell(class: &str, value: impl std::fmt::Display) -> String {
    format!(r#"<td class="num {class}">{value}</td>"#)
}

/// The markup of one partition's row, up to the next row.
fn row<'a>(body: &'a str, partition: &str) -> &'a str {
    let start = body
        .find(&format!(r#"data-partition="{partition}""#))
        .unwrap_or_else(|| panic!("no row for {partition} in {body}"));
    let rest = &body[start..];
    &rest[..rest.find("</tr>").unwrap_or(rest.len())]
}

#[test]
fn lag_reset_with_dry_run_and_delete() {
    let (mut broker, admin) = start(&[]);
    let mut conn = broker.connect();
    create_topic(&mut conn, "orders", 2);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    produce_values(
        &mut conn,
        "orders",
        0,
        now - 60_000,
        (0..10).map(|i| format!("a{i}")),
    );
    produce_values(&mut conn, "orders", 1, now, (0..4).map(|i| format!("b{i}")));
    wait_for_group_coordinator(&mut conn, "billing");
    commit(&mut conn, "billing", "orders", &[(0, 3), (1, 4)]);

    let list = get(admin, "/console/groups");
    assert_eq!(list.status, 200, "{}", list.body);
    let line = row_of(&list.body, "billing");
    assert!(line.contains("Empty"), "{line}");

    let page = get(admin, "/console/groups/billing");
    assert_eq!(page.status, 200, "{}", page.body);
    let p0 = row(&page.body, "orders-0");
    assert!(p0.contains(&cell("committed", 3)), "{p0}");
    assert!(p0.contains(&cell("log-end", 10)), "{p0}");
    assert!(p0.contains(&cell("lag", 7)), "{p0}");
    // The records at the committed offset are a minute older than the newest.
    assert!(!p0.contains(&cell("lag-seconds", "-")), "{p0}");
    let p1 = row(&page.body, "orders-1");
    assert!(p1.contains(&cell("lag", 0)), "{p1}");
    assert!(p1.contains(&cell("lag-seconds", "0.0")), "{p1}");
    assert!(
        page.body.contains(r#"<strong id="total-lag">7</strong>"#),
        "{}",
        page.body
    );
    // The lag table polls itself.
    assert!(
        page.body
            .contains(r#"hx-get="/console/groups/billing/lag""#),
        "{}",
        page.body
    );

    // The poll answers the table alone, with new values.
    produce_values(&mut conn, "orders", 1, now, ["b4", "b5"]);
    let fragment = get(admin, "/console/groups/billing/lag");
    assert_eq!(fragment.status, 200);
    assert!(!fragment.body.contains("<!DOCTYPE"), "{}", fragment.body);
    assert!(
        fragment
            .body
            .contains(r#"<strong id="total-lag">9</strong>"#),
        "{}",
        fragment.body
    );

    // Dry run: the diff, nothing committed.
    let dry = post(
        admin,
        "/console/groups/billing/reset",
        "topic=orders&to=earliest&action=dry-run",
    );
    assert_eq!(dry.status, 200, "{}", dry.body);
    assert!(dry.body.contains("Dry run"), "{}", dry.body);
    let r0 = row(&dry.body, "orders-0");
    assert!(
        r0.contains(&cell("current", 3)) && r0.contains(&cell("new", 0)),
        "{r0}"
    );
    let before = vec![("orders".to_string(), 0, 3), ("orders".to_string(), 1, 4)];
    assert_eq!(committed(&mut conn, "billing"), before);

    // Shift-by and offsets are clamped to the log, as Kafka's tool does.
    let shift = post(
        admin,
        "/console/groups/billing/reset",
        "topic=orders:1&to=shift-by&value=100",
    );
    assert_eq!(shift.status, 200, "{}", shift.body);
    assert!(
        row(&shift.body, "orders-1").contains(&cell("new", 6)),
        "{}",
        shift.body
    );

    // Execute: committed through the coordinator, read back by a client.
    let done = post(
        admin,
        "/console/groups/billing/reset",
        "topic=orders&to=earliest&action=execute",
    );
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("Offsets committed"), "{}", done.body);
    let reset = vec![("orders".to_string(), 0, 0), ("orders".to_string(), 1, 0)];
    assert_eq!(committed(&mut conn, "billing"), reset);

    // To a timestamp: the first record at or after it.
    let by_time = post(
        admin,
        "/console/groups/billing/reset",
        &format!(
            "topic=orders&to=timestamp&value={}&action=execute",
            now - 1000
        ),
    );
    assert_eq!(by_time.status, 200, "{}", by_time.body);
    assert!(
        row(&by_time.body, "orders-0").contains(&cell("new", 10)),
        "{}",
        by_time.body
    );
    assert!(
        row(&by_time.body, "orders-1").contains(&cell("new", 0)),
        "{}",
        by_time.body
    );

    // Persisted as a client's commit: it survives a restart.
    drop(conn);
    broker.restart();
    let mut conn = broker.connect();
    wait_for_group_coordinator(&mut conn, "billing");
    let after = vec![("orders".to_string(), 0, 10), ("orders".to_string(), 1, 0)];
    assert_eq!(committed(&mut conn, "billing"), after);

    // Bad input: 4xx with a message.
    for (body, status, says) in [
        ("topic=orders&to=sideways", 400, "unknown reset"),
        ("topic=orders&to=offset&value=x", 400, "integer"),
        ("topic=orders&to=offset", 400, "needs a value"),
        (
            "topic=orders&to=timestamp&value=yesterday",
            400,
            "timestamp",
        ),
        ("topic=nope&to=earliest", 404, "topic nope does not exist"),
        ("topic=orders:9&to=earliest", 404, "orders-9 does not exist"),
        ("topic=orders:x&to=earliest", 400, "not a number"),
        (
            "topic=orders&to=earliest&action=maybe",
            400,
            "unknown action",
        ),
    ] {
        let answer = post(admin, "/console/groups/billing/reset", body);
        assert_eq!(answer.status, status, "{body}: {}", answer.body);
        assert!(answer.body.contains(says), "{body}: {}", answer.body);
    }
    let missing = post(admin, "/console/groups/billing/reset", "");
    assert_eq!(missing.status, 400, "{}", missing.body);
    let unknown = get(admin, "/console/groups/nobody");
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    assert!(
        unknown.body.contains("group nobody does not exist"),
        "{}",
        unknown.body
    );
    let unknown = post(admin, "/console/groups/nobody/reset", "to=earliest");
    assert_eq!(unknown.status, 404, "{}", unknown.body);

    // Delete: gone from the list and from a client's view.
    let deleted = post(admin, "/console/groups/billing/delete", "");
    assert_eq!(deleted.status, 303, "{}", deleted.body);
    assert_eq!(deleted.header("location"), Some("/console/groups"));
    assert!(!get(admin, "/console/groups")
        .body
        .contains(r#"data-group="billing""#));
    assert!(committed(&mut conn, "billing").is_empty());
    assert_eq!(
        post(admin, "/console/groups/billing/delete", "").status,
        404
    );
}

fn row_of<'a>(body: &'a str, group: &str) -> &'a str {
    let start = body
        .find(&format!(r#"data-group="{group}""#))
        .unwrap_or_else(|| panic!("no row for group {group} in {body}"));
    let rest = &body[start..];
    &rest[..rest.find("</tr>").unwrap_or(rest.len())]
}

#[test]
fn an_active_consumer_group_shows_its_members_and_refuses_reset_and_delete() {
    let (broker, admin) = start(&[]);
    let mut conn = broker.connect();
    create_topic(&mut conn, "events", 1);
    wait_for_group_coordinator(&mut conn, "live");
    // A KIP-848 member: the coordinator assigns it events-0.
    let joined = support::consumer_group_heartbeat(
        &mut conn,
        ConsumerGroupHeartbeatRequest::default()
            .with_group_id(GroupId(s("live")))
            .with_member_id(s("member-one"))
            .with_member_epoch(0)
            .with_rebalance_timeout_ms(30_000)
            .with_subscribed_topic_names(Some(vec![TopicName(s("events"))]))
            .with_topic_partitions(Some(vec![])),
    );
    assert_eq!(joined.error_code, NONE, "{:?}", joined.error_message);

    let page = get(admin, "/console/groups/live");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains(r#"<dd id="group-type">consumer</dd>"#),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("<code>member-one</code>"),
        "{}",
        page.body
    );
    assert!(page.body.contains("events-0"), "{}", page.body);
    let list = get(admin, "/console/groups");
    let line = row_of(&list.body, "live");
    assert!(line.contains(r#"<td class="num">1</td>"#), "{line}");

    // Kafka's rule and message: only an inactive group is reset.
    let refused = post(
        admin,
        "/console/groups/live/reset",
        "topic=events&to=earliest",
    );
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(
        refused
            .body
            .contains("Assignments can only be reset if the group 'live' is inactive"),
        "{}",
        refused.body
    );
    let refused = post(admin, "/console/groups/live/delete", "");
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(refused.body.contains("NON_EMPTY_GROUP"), "{}", refused.body);

    // The member leaves (epoch -1): the consumer group is Empty and can be reset.
    let left = support::consumer_group_heartbeat(
        &mut conn,
        ConsumerGroupHeartbeatRequest::default()
            .with_group_id(GroupId(s("live")))
            .with_member_id(s("member-one"))
            .with_member_epoch(-1),
    );
    assert_eq!(left.error_code, NONE, "{:?}", left.error_message);
    produce_values(&mut conn, "events", 0, 0, ["e0", "e1", "e2"]);
    let done = post(
        admin,
        "/console/groups/live/reset",
        "topic=events&to=latest&action=execute",
    );
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(
        committed(&mut conn, "live"),
        vec![("events".to_string(), 0, 3)]
    );
    let back = post(
        admin,
        "/console/groups/live/reset",
        "topic=events&to=shift-by&value=-2&action=execute",
    );
    assert_eq!(back.status, 200, "{}", back.body);
    assert!(
        row(&back.body, "events-0").contains(&cell("current", 3)),
        "{}",
        back.body
    );
    assert_eq!(
        committed(&mut conn, "live"),
        vec![("events".to_string(), 0, 1)]
    );
    let page = get(admin, "/console/groups/live");
    assert!(
        row(&page.body, "events-0").contains(&cell("lag", 2)),
        "{}",
        page.body
    );
}

#[test]
fn read_only_mode_refuses_resets_and_hides_the_forms() {
    let (broker, admin) = start(&["gregor.console.read.only=true"]);
    let mut conn = broker.connect();
    create_topic(&mut conn, "t", 1);
    wait_for_group_coordinator(&mut conn, "g");
    commit(&mut conn, "g", "t", &[(0, 0)]);
    let page = get(admin, "/console/groups/g");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(!page.body.contains("reset-form"), "{}", page.body);
    for path in ["/console/groups/g/reset", "/console/groups/g/delete"] {
        let refused = post(admin, path, "topic=t&to=earliest&action=execute");
        assert_eq!(refused.status, 403, "{path}: {}", refused.body);
    }
    assert_eq!(committed(&mut conn, "g"), vec![("t".to_string(), 0, 0)]);
}

#[test]
fn scram_users_are_created_listed_and_deleted() {
    let (_broker, admin) = start(&[]);
    let created = post(
        admin,
        "/console/users",
        "name=alice&mechanism=SCRAM-SHA-256&password=secret&iterations=",
    );
    assert_eq!(created.status, 200, "{}", created.body);
    let users = get(admin, "/console/users");
    assert!(
        users
            .body
            .contains("<td>alice</td><td>SCRAM-SHA-256</td><td class=\"num\">4096</td>"),
        "{}",
        users.body
    );
    for (body, says) in [
        ("name=bob&mechanism=MD5&password=x", "unknown mechanism"),
        (
            "name=bob&mechanism=SCRAM-SHA-256&password=",
            "password is empty",
        ),
        (
            "name=bob&mechanism=SCRAM-SHA-256&password=x&iterations=lots",
            "integer",
        ),
        // The broker's own check (Kafka's minimum is 4096).
        (
            "name=bob&mechanism=SCRAM-SHA-256&password=x&iterations=10",
            "UNACCEPTABLE_CREDENTIAL",
        ),
    ] {
        let refused = post(admin, "/console/users", body);
        assert_eq!(refused.status, 400, "{body}: {}", refused.body);
        assert!(refused.body.contains(says), "{body}: {}", refused.body);
    }
    let deleted = post(
        admin,
        "/console/users/delete",
        "name=alice&mechanism=SCRAM-SHA-256",
    );
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    assert!(!get(admin, "/console/users").body.contains("<td>alice</td>"));
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

#[test]
fn acls_and_users_are_authorized_as_the_kafka_apis() {
    use support::security::SecureBroker;
    let admin_port = free_port();
    let settings = vec![
        format!("gregor.admin.listener=127.0.0.1:{admin_port}"),
        "sasl.bootstrap.scram=SCRAM-SHA-256=[name=admin,password=admin-pw];\
         SCRAM-SHA-512=[name=bob,password=bob-pw]"
            .to_string(),
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer".to_string(),
        "super.users=User:admin;User:ANONYMOUS".to_string(),
    ];
    let _broker = SecureBroker::start("SASL", "SASL_PLAINTEXT", &settings, None);
    let admin = basic("admin", "admin-pw");
    let bob = basic("bob", "bob-pw");
    let as_user = |auth: &str, method: &str, path: &str, body: &str| {
        request(admin_port, method, path, &[("Authorization", auth)], body)
    };
    let acl = "principal=User:bob&host=&resource_type=Group&resource_name=billing\
               &pattern_type=Literal&operation=Describe&permission=Allow";

    // Bob may not Alter or Describe the cluster: 403 with Kafka's error.
    let refused = as_user(&bob, "POST", "/console/acls", acl);
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(
        refused.body.contains("CLUSTER_AUTHORIZATION_FAILED"),
        "{}",
        refused.body
    );
    let refused = as_user(&bob, "GET", "/console/acls", "");
    assert_eq!(refused.status, 403, "{}", refused.body);
    let refused = as_user(&bob, "GET", "/console/users", "");
    assert_eq!(refused.status, 403, "{}", refused.body);
    let refused = as_user(
        &bob,
        "POST",
        "/console/users",
        "name=eve&mechanism=SCRAM-SHA-256&password=x",
    );
    assert_eq!(refused.status, 403, "{}", refused.body);

    let created = as_user(&admin, "POST", "/console/acls", acl);
    assert_eq!(created.status, 200, "{}", created.body);
    let listed = as_user(&admin, "GET", "/console/acls", "");
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert!(
        listed.body.contains("<td>User:bob</td><td>*</td><td>Group</td><td>billing</td><td>Literal</td><td>Describe</td><td>Allow</td>"),
        "{}",
        listed.body
    );
    let users = as_user(&admin, "GET", "/console/users", "");
    assert!(
        users.body.contains("<td>bob</td><td>SCRAM-SHA-512</td>"),
        "{}",
        users.body
    );

    let bad = as_user(
        &admin,
        "POST",
        "/console/acls",
        &acl.replace("Describe", "Juggle"),
    );
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body.contains("unknown operation"), "{}", bad.body);

    let deleted = as_user(&admin, "POST", "/console/acls/delete", acl);
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    assert!(
        !deleted.body.contains("<td>User:bob</td>"),
        "{}",
        deleted.body
    );
    let again = as_user(&admin, "POST", "/console/acls/delete", acl);
    assert_eq!(again.status, 404, "{}", again.body);
}

#[test]
fn group_ids_are_shown_as_text_and_reach_their_page() {
    let (broker, admin) = start(&[]);
    let mut conn = broker.connect();
    create_topic(&mut conn, "t", 1);
    let id = "<script>alert(1)</script>/x";
    wait_for_group_coordinator(&mut conn, id);
    commit(&mut conn, id, "t", &[(0, 0)]);
    let list = get(admin, "/console/groups");
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(!list.body.contains("<script>alert"), "{}", list.body);
    assert!(
        list.body
            .contains("&lt;script&gt;alert(1)&lt;/script&gt;/x"),
        "{}",
        list.body
    );
    // The link escapes the id as a path segment, and the page finds the group.
    let href = "/console/groups/%3Cscript%3Ealert%281%29%3C%2Fscript%3E%2Fx";
    assert!(list.body.contains(href), "{}", list.body);
    let page = get(admin, href);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(!page.body.contains("<script>alert"), "{}", page.body);
}

/// The last stable offset, as a read_committed consumer's ListOffsets sees it.
fn last_stable(conn: &mut Connection, topic: &str) -> i64 {
    use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
    let request = ListOffsetsRequest::default()
        .with_replica_id((-1).into())
        .with_isolation_level(1)
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(0)
                .with_timestamp(-1)])]);
    let ResponseKind::ListOffsets(r) =
        conn.request(ApiKey::ListOffsets, 9, RequestKind::ListOffsets(request))
    else {
        panic!()
    };
    r.topics[0].partitions[0].offset
}

#[test]
fn a_hanging_transaction_is_found_and_aborted() {
    use bytes::Bytes;
    use gregor_protocol::compression::Compression;
    use gregor_protocol::records::BatchBuilder;
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};

    let (broker, admin) = start(&[]);
    let mut conn = broker.connect();
    create_topic(&mut conn, "ledger", 1);
    // A transactional batch sent without a transactional id (as pre-KIP-890
    // clients could): appended unverified, so no coordinator knows the
    // transaction it opens. Its timestamp is long past any timeout.
    let mut batch = BatchBuilder::new(Compression::None)
        .producer(777, 3, 0)
        .transactional(true);
    batch.push(1_000, None, Some(Bytes::from_static(b"stuck")), Vec::new());
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(topic_name("ledger"))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(batch.build().unwrap().freeze()))])]);
    let ResponseKind::Produce(r) = conn.request(ApiKey::Produce, 9, RequestKind::Produce(request))
    else {
        panic!()
    };
    assert_eq!(r.responses[0].partition_responses[0].error_code, NONE);
    produce_values(&mut conn, "ledger", 0, 2_000, ["after"]);
    assert_eq!(last_stable(&mut conn, "ledger"), 0);

    let page = get(admin, "/console/transactions");
    assert_eq!(page.status, 200, "{}", page.body);
    let hanging = &page.body[page.body.find(r#"id="hanging""#).unwrap()..];
    assert!(hanging.contains("<td>ledger-0</td><td class=\"num\">777</td><td class=\"num\">3</td><td class=\"num\">0</td>"), "{hanging}");
    assert!(
        hanging.contains(r#"name="start_offset" value="0""#),
        "{hanging}"
    );
    // Under a threshold longer than its age it is not hanging yet.
    let patient = get(
        admin,
        "/console/transactions?max_timeout_ms=9223372036854775807",
    );
    assert!(
        patient.body.contains("No hanging transactions"),
        "{}",
        patient.body
    );
    let bad = get(admin, "/console/transactions?max_timeout_ms=-5");
    assert_eq!(bad.status, 400, "{}", bad.body);

    let aborted = post(
        admin,
        "/console/transactions/abort",
        "topic=ledger&partition=0&start_offset=0",
    );
    assert_eq!(aborted.status, 200, "{}", aborted.body);
    assert!(
        aborted
            .body
            .contains("Aborted the transaction of producer 777 on ledger-0"),
        "{}",
        aborted.body
    );
    // The abort marker closed it: read_committed readers move on.
    assert_eq!(last_stable(&mut conn, "ledger"), 3);
    assert!(get(admin, "/console/transactions")
        .body
        .contains("No hanging transactions"));
    let again = post(
        admin,
        "/console/transactions/abort",
        "topic=ledger&partition=0&start_offset=0",
    );
    assert_eq!(again.status, 404, "{}", again.body);
}
