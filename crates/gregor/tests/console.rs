//! The web console over HTTP against a real `gregor server`: pages, the
//! login and ACL gate when security is on, read-only mode, and 4xx answers
//! with a message for malformed requests. The browser test is
//! compat/test_console.py.

// An integration test: unwrapping is how a failed step fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use base64::Engine;
use support::http::{get, request, Answer};
use support::security::SecureBroker;
use support::{free_port, TestBroker};

fn start(extra: &[&str]) -> (TestBroker, u16) {
    let admin = free_port();
    let mut settings = vec![format!("gregor.admin.listener=127.0.0.1:{admin}")];
    settings.extend(extra.iter().map(|s| s.to_string()));
    let settings: Vec<&str> = settings.iter().map(String::as_str).collect();
    (TestBroker::start(&settings), admin)
}

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

fn as_user(port: u16, method: &str, path: &str, auth: &str, body: &str) -> Answer {
    request(port, method, path, &[("Authorization", auth)], body)
}

#[test]
fn overview_assets_and_redirect() {
    let (_broker, admin) = start(&[]);
    let root = get(admin, "/");
    assert_eq!(root.status, 303, "{}", root.body);
    assert_eq!(root.header("location"), Some("/console"));

    let page = get(admin, "/console");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.starts_with("<!DOCTYPE html>"), "{}", page.body);
    assert!(page.body.contains("<h1>Overview</h1>"), "{}", page.body);
    assert!(
        page.body
            .contains(r#"<div class="value" id="brokers">1</div>"#),
        "{}",
        page.body
    );
    assert!(page.body.contains("this broker"), "{}", page.body);

    let htmx = get(admin, "/console/assets/htmx-4.0.1.min.js");
    assert_eq!(htmx.status, 200);
    assert!(htmx
        .header("content-type")
        .unwrap()
        .starts_with("text/javascript"));
    assert!(htmx.body.starts_with("var htmx="), "not htmx");
    let css = get(admin, "/console/assets/console.css");
    assert_eq!(css.status, 200);

    let wrong = get(admin, "/console/topics/t/delete");
    assert_eq!(wrong.status, 405, "{}", wrong.body);
    assert!(
        wrong
            .body
            .contains("GET is not allowed on /console/topics/t/delete"),
        "{}",
        wrong.body
    );
    let missing = get(admin, "/console/no-such-page");
    assert_eq!(missing.status, 404);
    assert!(
        missing
            .body
            .contains("no console page at /console/no-such-page"),
        "{}",
        missing.body
    );
}

#[test]
fn read_only_mode_refuses_every_mutation() {
    let (_broker, admin) = start(&["gregor.console.read.only=true"]);
    let page = get(admin, "/console");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("read-only"), "{}", page.body);
    let refused = request(admin, "POST", "/console/topics", &[], "name=t&partitions=1");
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("read-only"), "{}", refused.body);
}

#[test]
fn cross_site_posts_are_refused() {
    let (_broker, admin) = start(&[]);
    let refused = request(
        admin,
        "POST",
        "/console/topics",
        &[("Origin", "http://evil.example")],
        "name=t&partitions=1",
    );
    assert_eq!(refused.status, 403, "{}", refused.body);
    let refused = request(
        admin,
        "POST",
        "/console/topics",
        &[("Sec-Fetch-Site", "cross-site")],
        "name=t&partitions=1",
    );
    assert_eq!(refused.status, 403, "{}", refused.body);
}

const USERS: &str = "SCRAM-SHA-256=[name=admin,password=admin-pw];\
                     SCRAM-SHA-512=[name=bob,password=bob-pw]";

fn secured() -> (SecureBroker, u16) {
    let admin = free_port();
    let settings = vec![
        format!("gregor.admin.listener=127.0.0.1:{admin}"),
        format!("sasl.bootstrap.scram={USERS}"),
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer".to_string(),
        "super.users=User:admin;User:ANONYMOUS".to_string(),
    ];
    (
        SecureBroker::start("SASL", "SASL_PLAINTEXT", &settings, None),
        admin,
    )
}

#[test]
fn login_is_checked_against_the_credential_store() {
    let (_broker, admin) = secured();
    let anonymous = get(admin, "/console");
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);
    assert!(anonymous
        .header("www-authenticate")
        .unwrap()
        .starts_with("Basic realm="));
    let wrong = as_user(admin, "GET", "/console", &basic("admin", "nope"), "");
    assert_eq!(wrong.status, 401);
    assert!(
        wrong.body.contains("Invalid username or password"),
        "{}",
        wrong.body
    );
    let garbage = as_user(admin, "GET", "/console", "Basic !!!", "");
    assert_eq!(garbage.status, 401);

    let ok = as_user(admin, "GET", "/console", &basic("admin", "admin-pw"), "");
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert!(ok.body.contains("User:admin"), "{}", ok.body);
    // A SCRAM-SHA-512 user logs in as well.
    let bob = as_user(admin, "GET", "/console", &basic("bob", "bob-pw"), "");
    assert_eq!(bob.status, 200, "{}", bob.body);
    assert!(bob.body.contains("User:bob"), "{}", bob.body);
}

use bytes::Bytes;
use gregor_protocol::compression::Compression;
use gregor_protocol::records::{BatchBuilder, Header};
use support::http::encode;
use support::{create_topic, Connection};

/// (key, value, headers) of a record to produce.
type Rec<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);

/// Records produced in one batch stamped `timestamp`.
fn produce(
    conn: &mut Connection,
    topic: &str,
    partition: i32,
    timestamp: i64,
    records: &[Rec<'_>],
) {
    let mut builder = BatchBuilder::new(Compression::None);
    for (key, value, headers) in records {
        let headers = headers
            .iter()
            .map(|(k, v)| Header {
                key: k.to_string(),
                value: Some(Bytes::from(v.to_string())),
            })
            .collect();
        builder.push(
            timestamp,
            Some(Bytes::from(key.to_string())),
            Some(Bytes::from(value.to_string())),
            headers,
        );
    }
    let batch = builder.build().unwrap().freeze();
    assert_eq!(support::send_batch(conn, topic, partition, -1, batch), 0);
}

fn post(admin: u16, path: &str, body: &str) -> Answer {
    request(admin, "POST", path, &[], body)
}

/// The records table's rows of a page or fragment.
fn rows(body: &str) -> usize {
    body.matches(r#"<tr class="record">"#).count()
}

#[test]
fn topics_create_describe_delete() {
    let (broker, admin) = start(&["log.segment.bytes=2000000"]);
    let configs = encode("cleanup.policy=compact\nretention.ms=1000");
    let created = post(
        admin,
        "/console/topics",
        &format!("name=orders&partitions=3&replication_factor=1&configs={configs}"),
    );
    assert_eq!(created.status, 303, "{}", created.body);
    assert_eq!(created.header("location"), Some("/console/topics/orders"));

    let list = get(admin, "/console/topics");
    assert_eq!(list.status, 200);
    assert!(
        list.body
            .contains(r#"<a href="/console/topics/orders">orders</a>"#),
        "{}",
        list.body
    );

    let mut conn = broker.connect();
    produce(
        &mut conn,
        "orders",
        1,
        1000,
        &[("a", "1", &[]), ("b", "2", &[])],
    );
    let detail = get(admin, "/console/topics/orders");
    assert_eq!(detail.status, 200, "{}", detail.body);
    // Three partitions, partition 1 with high watermark 2.
    assert_eq!(
        detail.body.matches(r#"<td class="num hw">"#).count(),
        3,
        "{}",
        detail.body
    );
    assert!(
        detail.body.contains(r#"<td class="num hw">2</td>"#),
        "{}",
        detail.body
    );
    // Changed from the default: marked, with the topic as the source.
    assert!(
        detail
            .body
            .contains(r#"<tr class="changed"><td>cleanup.policy <span class="changed""#),
        "{}",
        detail.body
    );
    assert!(
        detail.body.contains("<td>compact</td><td>topic</td>"),
        "{}",
        detail.body
    );
    // A broker setting is not the default either (AdminClient's isDefault()).
    assert!(
        detail
            .body
            .contains(r#"<tr class="changed"><td>segment.bytes <span"#),
        "{}",
        detail.body
    );
    assert!(
        detail
            .body
            .contains("<td>2000000</td><td>broker (static)</td>"),
        "{}",
        detail.body
    );
    assert!(
        detail.body.contains("<tr><td>segment.ms</td>"),
        "{}",
        detail.body
    );

    // Errors are the Kafka API's.
    let again = post(admin, "/console/topics", "name=orders&partitions=1");
    assert_eq!(again.status, 409, "{}", again.body);
    assert!(again.body.contains("TopicAlreadyExists"), "{}", again.body);
    let rf = post(
        admin,
        "/console/topics",
        "name=x&partitions=1&replication_factor=3",
    );
    assert_eq!(rf.status, 400, "{}", rf.body);
    assert!(rf.body.contains("InvalidReplicationFactor"), "{}", rf.body);
    let bad_config = post(
        admin,
        "/console/topics",
        "name=y&configs=no.such.config%3D1",
    );
    assert_eq!(bad_config.status, 400, "{}", bad_config.body);
    let bad_name = post(
        admin,
        "/console/topics",
        &format!("name={}", encode("bad/name")),
    );
    assert_eq!(bad_name.status, 400, "{}", bad_name.body);
    assert!(
        bad_name.body.contains("InvalidTopicException"),
        "{}",
        bad_name.body
    );
    let not_number = post(admin, "/console/topics", "name=z&partitions=three");
    assert_eq!(not_number.status, 400);
    assert!(
        not_number.body.contains("partitions must be an integer"),
        "{}",
        not_number.body
    );
    let not_kv = post(admin, "/console/topics", "name=z&configs=justakey");
    assert_eq!(not_kv.status, 400);
    let no_name = post(admin, "/console/topics", "partitions=1");
    assert_eq!(no_name.status, 400, "{}", no_name.body);
    assert_eq!(get(admin, "/console/topics/z").status, 404);

    let deleted = request(
        admin,
        "POST",
        "/console/topics/orders/delete",
        &[("HX-Request", "true")],
        "",
    );
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    assert!(deleted.body.contains("deleted"), "{}", deleted.body);
    assert!(
        !deleted.body.contains("<html"),
        "an htmx answer is a fragment"
    );
    let gone = get(admin, "/console/topics/orders");
    assert_eq!(gone.status, 404, "{}", gone.body);
    assert!(
        gone.body.contains("UnknownTopicOrPartition"),
        "{}",
        gone.body
    );
    // A full page around the error, as the browser navigated here.
    assert!(gone.body.contains("<nav>"), "{}", gone.body);
    let twice = post(admin, "/console/topics/orders/delete", "");
    assert_eq!(twice.status, 404, "{}", twice.body);
}

#[test]
fn message_browser_decodes_filters_and_escapes() {
    let (broker, admin) = start(&[]);
    let mut conn = broker.connect();
    create_topic(&mut conn, "events", 2);
    produce(
        &mut conn,
        "events",
        0,
        1_000_000,
        &[
            ("k0", "plain text", &[("trace", "t-0")]),
            ("k1", r#"{"amount":150,"user":"ann"}"#, &[]),
            (
                "k2",
                "<script>alert('xss')</script>",
                &[("<b>h</b>", "<i>v</i>")],
            ),
        ],
    );
    produce(
        &mut conn,
        "events",
        1,
        2_000_000,
        &[("k3", "needle in p1", &[])],
    );
    produce(
        &mut conn,
        "events",
        0,
        3_000_000,
        &[("k4", "needle in p0", &[])],
    );

    let all = get(admin, "/console/messages?topic=events");
    assert_eq!(all.status, 200, "{}", all.body);
    assert_eq!(rows(&all.body), 5, "{}", all.body);
    // Escaped: shown as text, never as markup.
    assert!(!all.body.contains("<script>alert"), "{}", all.body);
    assert!(
        all.body
            .contains("&lt;script&gt;alert('xss')&lt;/script&gt;"),
        "{}",
        all.body
    );
    assert!(
        all.body.contains("<code>&lt;b&gt;h&lt;/b&gt;</code>"),
        "{}",
        all.body
    );
    assert!(!all.body.contains("<i>v</i>"));
    // JSON is pretty-printed.
    assert!(
        all.body.contains("&quot;amount&quot;: 150,\n"),
        "{}",
        all.body
    );

    let results = |query: &str| get(admin, &format!("/console/messages/results?{query}"));
    let filtered = results(&format!(
        "topic=events&filter={}",
        encode(r#"value.contains("needle")"#)
    ));
    assert_eq!(filtered.status, 200, "{}", filtered.body);
    assert_eq!(rows(&filtered.body), 2, "{}", filtered.body);
    assert!(!filtered.body.contains("<html"), "results are a fragment");
    let json = results(&format!(
        "topic=events&filter={}",
        encode("json(value).amount > 100")
    ));
    assert_eq!(rows(&json.body), 1, "{}", json.body);
    let header = results(&format!(
        "topic=events&filter={}",
        encode(r#"headers["trace"] == "t-0""#)
    ));
    assert_eq!(rows(&header.body), 1, "{}", header.body);
    let p1 = results("topic=events&partition=1");
    assert_eq!(rows(&p1.body), 1, "{}", p1.body);
    let from_offset = results("topic=events&partition=0&from=offset&offset=2&limit=1");
    assert_eq!(rows(&from_offset.body), 1);
    assert!(
        from_offset.body.contains("<td class=\"num\">2</td>"),
        "{}",
        from_offset.body
    );
    let newest = results("topic=events&partition=0&limit=1");
    assert!(newest.body.contains("needle in p0"), "{}", newest.body);
    let by_time = results("topic=events&from=timestamp&timestamp=1970-01-01T00:33:20");
    assert_eq!(rows(&by_time.body), 2, "{}", by_time.body);
    let hex = results("topic=events&partition=1&format=hex");
    assert!(hex.body.contains("6e 65 65 64 6c 65"), "{}", hex.body);
    let scan_bound = results("topic=events&partition=0&from=oldest&max_scan=2");
    assert_eq!(rows(&scan_bound.body), 2);
    assert!(
        scan_bound.body.contains("stopped at max_scan"),
        "{}",
        scan_bound.body
    );
    let tail = results("topic=events&tail=on");
    assert!(
        tail.body.contains(r#"hx-trigger="every 2s""#),
        "{}",
        tail.body
    );

    // Bad input: 4xx with a message.
    for (query, status, message) in [
        ("topic=events&filter=value%20%3D%3D", 400, "bad filter"),
        (
            "topic=events&filter=system(%22ls%22)",
            400,
            "unknown function",
        ),
        ("topic=events&from=offset&offset=abc", 400, "offset must be"),
        ("topic=events&from=offset&offset=-5", 400, "offset must be"),
        (
            "topic=events&from=timestamp&timestamp=yesterday",
            400,
            "timestamp must be",
        ),
        ("topic=events&from=later", 400, "from must be"),
        (
            "topic=events&limit=100000000",
            400,
            "limit must be between 1 and 1000",
        ),
        ("topic=events&limit=0", 400, "limit must be"),
        (
            "topic=events&max_scan=99999999999999999999",
            400,
            "max_scan must be",
        ),
        ("topic=events&format=xml", 400, "format must be"),
        ("topic=events&partition=x", 400, "partition must be"),
        ("topic=events&partition=9", 404, "no partition 9"),
        ("topic=nope", 404, "unknown topic"),
        ("topic=", 400, "choose a topic"),
        ("topic=events&limit=%FF", 400, ""),
    ] {
        let answer = results(query);
        assert_eq!(answer.status, status, "{query}: {}", answer.body);
        assert!(answer.body.contains(message), "{query}: {}", answer.body);
        assert!(
            answer.body.contains(r#"<div class="error" role="alert">"#),
            "{}",
            answer.body
        );
    }
    // The broker is still serving.
    assert_eq!(get(admin, "/console").status, 200);
}

#[test]
fn acls_apply_to_console_users() {
    let (broker, admin) = secured();
    let admin_auth = basic("admin", "admin-pw");
    let bob = basic("bob", "bob-pw");
    let created = as_user(
        admin,
        "POST",
        "/console/topics",
        &admin_auth,
        "name=secret&partitions=1",
    );
    assert_eq!(created.status, 303, "{}", created.body);
    let mut conn = broker.broker.connect();
    produce(&mut conn, "secret", 0, 1000, &[("k", "classified", &[])]);

    // Bob has no ACLs: the topic is not listed, and everything else is 403.
    let list = as_user(admin, "GET", "/console/topics", &bob, "");
    assert_eq!(list.status, 200);
    assert!(!list.body.contains("secret"), "{}", list.body);
    let detail = as_user(admin, "GET", "/console/topics/secret", &bob, "");
    assert_eq!(detail.status, 403, "{}", detail.body);
    assert!(
        detail.body.contains("TopicAuthorizationFailed"),
        "{}",
        detail.body
    );
    let read = as_user(
        admin,
        "GET",
        "/console/messages/results?topic=secret",
        &bob,
        "",
    );
    assert_eq!(read.status, 403, "{}", read.body);
    assert!(!read.body.contains("classified"));
    let create = as_user(
        admin,
        "POST",
        "/console/topics",
        &bob,
        "name=bobs&partitions=1",
    );
    assert_eq!(create.status, 403, "{}", create.body);
    let delete = as_user(admin, "POST", "/console/topics/secret/delete", &bob, "");
    assert_eq!(delete.status, 403, "{}", delete.body);

    // The super user reads it.
    let read = as_user(
        admin,
        "GET",
        "/console/messages/results?topic=secret",
        &admin_auth,
        "",
    );
    assert_eq!(read.status, 200, "{}", read.body);
    assert!(read.body.contains("classified"), "{}", read.body);
}
