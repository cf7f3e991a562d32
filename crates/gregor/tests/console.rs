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

    let missing = get(admin, "/console/no-such-page");
    assert_eq!(missing.status, 404);
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
