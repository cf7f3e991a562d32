//! SSL listeners on a real `gregor server`: Kafka requests, produce and
//! fetch over TLS, client certificates (ssl.client.auth) and the principal
//! they give, bad clients closed cleanly, certificate reload without a
//! restart, and one-line start-up errors for bad settings.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use bytes::Bytes;
use gregor_protocol::error_codes::NONE;
use gregor_protocol::records::decode_batches;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::*;
use rcgen::DnType;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};
use support::certs::{Identity, TestCa};
use support::security::{
    api_versions, broker_configs, config_entry, failed_start, logged_principal, refused_over_tls,
    tls_settings, SecureBroker,
};
use support::{create_topic, free_port, produce_values, topic_name, Connection};

/// A broker with a PLAINTEXT listener and an SSL one, the principal of
/// each TLS connection in its log.
fn start(dir: &Path, ca: &TestCa, server: &Identity, extra: &[&str]) -> SecureBroker {
    let mut settings = tls_settings(dir, ca, server);
    settings.extend(extra.iter().map(|s| s.to_string()));
    // Every connection's principal is logged at debug level.
    SecureBroker::start(
        "SSL",
        "SSL",
        &settings,
        Some("info,gregor_broker::server=debug"),
    )
}

/// The principal the broker gave this TLS connection.
fn principal_of(node: &SecureBroker, conn: &Connection) -> String {
    let local = conn.stream.local_addr().unwrap().to_string();
    logged_principal(&node.broker, &local, "TLS connection established")
}

fn fetch_values(conn: &mut Connection, topic: &str) -> Vec<Bytes> {
    let request = FetchRequest::default()
        .with_replica_id((-1).into())
        .with_max_wait_ms(0)
        .with_min_bytes(1)
        .with_max_bytes(50 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(topic_name(topic))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_partition_max_bytes(8 << 20)])]);
    let ResponseKind::Fetch(response) =
        conn.request(ApiKey::Fetch, 12, RequestKind::Fetch(request))
    else {
        panic!()
    };
    let data = &response.responses[0].partitions[0];
    assert_eq!(data.error_code, NONE);
    let records = data.records.clone().unwrap_or_default();
    decode_batches(&records)
        .unwrap()
        .into_iter()
        .flat_map(|b| b.records)
        .map(|r| r.value.unwrap())
        .collect()
}

#[test]
fn produce_and_fetch_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("test-ca");
    let node = start(dir.path(), &ca, &ca.server("broker"), &[]);
    let mut conn = node.tls(&ca, None).unwrap();
    assert_eq!(api_versions(&mut conn).error_code, NONE);
    // No client certificate (ssl.client.auth=none): ANONYMOUS.
    assert_eq!(principal_of(&node, &conn), "User:ANONYMOUS");
    create_topic(&mut conn, "tls-topic", 1);
    // Several MiB: the fetch response's records pass through the copy
    // buffer many times over.
    let values: Vec<Bytes> = (0..4096)
        .map(|i| Bytes::from(format!("{i:06}-").repeat(170)))
        .collect();
    for chunk in values.chunks(512) {
        produce_values(&mut conn, "tls-topic", 0, 0, chunk.to_vec());
    }
    let fetched = fetch_values(&mut conn, "tls-topic");
    assert!(fetched.len() > 100, "fetched {}", fetched.len());
    assert_eq!(fetched[..], values[..fetched.len()]);
    // The plaintext listener still serves, with sendfile.
    let mut plain = node.broker.connect();
    assert_eq!(fetch_values(&mut plain, "tls-topic"), fetched);
}

#[test]
fn client_certificates_name_the_principal() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("test-ca");
    let rules = "ssl.principal.mapping.rules=RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,DEFAULT";
    let node = start(
        dir.path(),
        &ca,
        &ca.server("broker"),
        &["ssl.client.auth=required", rules],
    );
    // The DN in Java's RFC 2253 form: reverse ASN.1 order, no spaces.
    let alice = ca.client(&[
        (DnType::CountryName, "US"),
        (DnType::OrganizationName, "Acme, Inc."),
        (DnType::OrganizationalUnitName, "Eng"),
        (DnType::CommonName, "alice"),
    ]);
    let mut conn = node.tls(&ca, Some(&alice)).unwrap();
    assert_eq!(api_versions(&mut conn).error_code, NONE);
    assert_eq!(
        principal_of(&node, &conn),
        "User:CN=alice,OU=Eng,O=Acme\\, Inc.,C=US"
    );
    let service = ca.client(&[
        (DnType::OrganizationName, "Acme"),
        (DnType::OrganizationalUnitName, "ServiceUsers"),
        (DnType::CommonName, "ingest"),
    ]);
    let mut conn = node.tls(&ca, Some(&service)).unwrap();
    assert_eq!(api_versions(&mut conn).error_code, NONE);
    assert_eq!(principal_of(&node, &conn), "User:ingest");

    // Required: no certificate, or one from another CA, gets no answer.
    for client in [
        None,
        Some(TestCa::new("other-ca").client(&[(DnType::CommonName, "mallory")])),
    ] {
        assert!(
            refused_over_tls(node.tls(&ca, client.as_ref())),
            "a client without a valid certificate was served"
        );
    }
}

#[test]
fn requested_client_auth_serves_both() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("test-ca");
    let node = start(
        dir.path(),
        &ca,
        &ca.server("broker"),
        &["ssl.client.auth=requested"],
    );
    let mut anonymous = node.tls(&ca, None).unwrap();
    assert_eq!(api_versions(&mut anonymous).error_code, NONE);
    assert_eq!(principal_of(&node, &anonymous), "User:ANONYMOUS");
    let bob = ca.client(&[(DnType::CommonName, "bob")]);
    let mut conn = node.tls(&ca, Some(&bob)).unwrap();
    assert_eq!(api_versions(&mut conn).error_code, NONE);
    assert_eq!(principal_of(&node, &conn), "User:CN=bob");
}

#[test]
fn wrong_protocols_and_garbage_are_closed_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("test-ca");
    let node = start(dir.path(), &ca, &ca.server("broker"), &[]);
    // A plaintext Kafka client on the TLS port.
    let mut plain = node.connect();
    let frame = plain.encode(
        ApiKey::ApiVersions,
        3,
        &RequestKind::ApiVersions(ApiVersionsRequest::default()),
    );
    plain.send_raw(&frame);
    assert!(plain.read_frame().is_none());
    // A TLS client on the plaintext port.
    let stream = TcpStream::connect(node.broker.addr).unwrap();
    assert!(Connection::tls(stream, ca.client_config(None), "localhost").is_err());
    // A handshake cut short, and garbage.
    for bytes in [
        &[0x16u8, 0x03, 0x01, 0x02, 0x00, 0x01][..],
        &[0xffu8; 300][..],
        b"\x16\x03",
    ] {
        let mut stream = TcpStream::connect(("127.0.0.1", node.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(15)))
            .unwrap();
        stream.write_all(bytes).unwrap();
        stream.shutdown(std::net::Shutdown::Write).unwrap();
        let mut sink = Vec::new();
        let _ = stream.read_to_end(&mut sink);
    }
    // The broker is still up and serving TLS.
    let mut conn = node.tls(&ca, None).unwrap();
    assert_eq!(api_versions(&mut conn).error_code, NONE);
    assert!(!node.broker.log().contains("panicked"));
}

#[test]
fn new_certificates_are_picked_up_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("test-ca");
    let node = start(dir.path(), &ca, &ca.server("first"), &[]);
    let mut before = node.tls(&ca, None).unwrap();
    assert_eq!(api_versions(&mut before).error_code, NONE);
    let served_cn = |conn: &Connection| {
        let der = conn.tls.as_ref().unwrap().peer_certificates().unwrap()[0].clone();
        let (_, cert) = x509_cn(&der);
        cert
    };
    assert_eq!(served_cn(&before), "first");
    // Swap the key store file (write then rename, as tools do).
    let next = dir.path().join("next.pem");
    ca.server("second").write_keystore(&next);
    std::fs::rename(&next, dir.path().join("server.pem")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let conn = node.tls(&ca, None).unwrap();
        if served_cn(&conn) == "second" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new certificate was not picked up"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // The connection opened before still works.
    assert_eq!(api_versions(&mut before).error_code, NONE);
    assert!(node.broker.log().contains("reloaded"));
}

/// The subject CN of a DER certificate (a crude scan: enough for tests).
fn x509_cn(der: &[u8]) -> ((), String) {
    // OID 2.5.4.3 then a string: 06 03 55 04 03 <tag> <len> <bytes>
    let at = der
        .windows(5)
        .rposition(|w| w == [0x06, 0x03, 0x55, 0x04, 0x03])
        .unwrap();
    let len = der[at + 6] as usize;
    (
        (),
        String::from_utf8_lossy(&der[at + 7..at + 7 + len]).to_string(),
    )
}

/// `gregor server` with these settings must stop at once with a one-line
/// error naming `key`.
fn refuses(settings: &[String], key: &str) {
    let (_, stderr) = failed_start(settings);
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("gregor: "))
        .collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(errors[0].contains(&format!("'{key}'")), "{key}: {stderr}");
    assert!(!stderr.contains("BEGIN"), "a secret was printed: {stderr}");
}

#[test]
fn bad_settings_stop_startup_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("test-ca");
    let server = ca.server("broker");
    let keystore = server.write_keystore(&dir.path().join("server.pem"));
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(
        &garbage,
        "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let mismatched = dir.path().join("mismatched.pem");
    let other = ca.server("other");
    std::fs::write(&mismatched, format!("{}{}", other.key_pem, server.cert_pem)).unwrap();
    let cert_only = dir.path().join("cert-only.pem");
    std::fs::write(&cert_only, &server.cert_pem).unwrap();
    let listeners = format!(
        "listeners=PLAINTEXT://127.0.0.1:{},SSL://127.0.0.1:{}",
        free_port(),
        free_port()
    );
    let with = |extra: &[String]| {
        let mut all = vec![listeners.clone()];
        all.extend(extra.iter().cloned());
        all
    };
    let location = |p: &Path| format!("ssl.keystore.location={}", p.display());
    refuses(&with(&[]), "ssl.keystore.location");
    refuses(
        &with(&[location(&dir.path().join("missing.pem"))]),
        "ssl.keystore.location",
    );
    refuses(&with(&[location(&garbage)]), "ssl.keystore.location");
    refuses(&with(&[location(&cert_only)]), "ssl.keystore.location");
    refuses(&with(&[location(&mismatched)]), "ssl.keystore.location");
    refuses(
        &with(&[location(&keystore), "ssl.client.auth=sometimes".into()]),
        "ssl.client.auth",
    );
    refuses(
        &with(&[location(&keystore), "ssl.client.auth=required".into()]),
        "ssl.client.auth",
    );
    refuses(
        &with(&[location(&keystore), "ssl.enabled.protocols=TLSv1.1".into()]),
        "ssl.enabled.protocols",
    );
    refuses(
        &with(&[location(&keystore), "ssl.keystore.type=JKS".into()]),
        "ssl.keystore.type",
    );
    refuses(
        &with(&[location(&keystore), "ssl.key.password=secret".into()]),
        "ssl.key.password",
    );
    refuses(
        &with(&[location(&keystore), "ssl.cipher.suites=TLS_NULL".into()]),
        "ssl.cipher.suites",
    );
    refuses(
        &with(&[
            location(&keystore),
            "ssl.principal.mapping.rules=RULE:^CN=(.*$/$1/".into(),
        ]),
        "ssl.principal.mapping.rules",
    );
    refuses(
        &with(&[
            location(&keystore),
            format!("ssl.truststore.location={}", garbage.display()),
        ]),
        "ssl.truststore.location",
    );
    // Inline PEM: a bad key is named, never printed.
    refuses(
        &with(&[
            format!("ssl.keystore.certificate.chain={}", server.cert_pem),
            "ssl.keystore.key=-----BEGIN PRIVATE KEY----- AAAA -----END PRIVATE KEY-----".into(),
        ]),
        "ssl.keystore.key",
    );
    // A per-listener override is named as such.
    refuses(
        &with(&[
            location(&keystore),
            "listener.name.ssl.ssl.client.auth=maybe".into(),
        ]),
        "listener.name.ssl.ssl.client.auth",
    );
}

#[test]
fn inline_pem_and_per_listener_settings() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("test-ca");
    let server = ca.server("inline");
    // Kafka's inline PEM values, one line each (as a properties file holds them).
    let chain = format!(
        "listener.name.ssl.ssl.keystore.certificate.chain={}",
        server.cert_pem.replace('\n', " ")
    );
    let key = format!(
        "listener.name.ssl.ssl.keystore.key={}",
        server.key_pem.replace('\n', " ")
    );
    // start() sets a key store file too: the listener's own settings win,
    // so the file setting is cleared for it here.
    let node = start(
        dir.path(),
        &ca,
        &ca.server("file"),
        &[
            "ssl.keystore.location=",
            &chain,
            &key,
            "listener.name.ssl.ssl.client.auth=required",
        ],
    );
    let bob = ca.client(&[(DnType::CommonName, "bob")]);
    let mut conn = node.tls(&ca, Some(&bob)).unwrap();
    assert_eq!(api_versions(&mut conn).error_code, NONE);
    assert_eq!(principal_of(&node, &conn), "User:CN=bob");
}

fn alter_broker(conn: &mut Connection, key: &str, value: &str) {
    use kafka_protocol::messages::incremental_alter_configs_request::{
        AlterConfigsResource, AlterableConfig,
    };
    use kafka_protocol::protocol::StrBytes;
    let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(4)
            .with_resource_name(StrBytes::from_static_str("1"))
            .with_configs(vec![AlterableConfig::default()
                .with_name(StrBytes::from_string(key.to_string()))
                .with_config_operation(0)
                .with_value(Some(StrBytes::from_string(value.to_string())))]),
    ]);
    let ResponseKind::IncrementalAlterConfigs(r) = conn.request(
        ApiKey::IncrementalAlterConfigs,
        1,
        RequestKind::IncrementalAlterConfigs(request),
    ) else {
        panic!()
    };
    assert_eq!(
        r.responses[0].error_code, NONE,
        "{:?}",
        r.responses[0].error_message
    );
}

#[test]
fn altering_the_keystore_location_switches_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("test-ca");
    let node = start(dir.path(), &ca, &ca.server("static"), &[]);
    let served_cn = |conn: &Connection| {
        let der = conn.tls.as_ref().unwrap().peer_certificates().unwrap()[0].clone();
        x509_cn(&der).1
    };
    assert_eq!(served_cn(&node.tls(&ca, None).unwrap()), "static");
    // As `kafka-configs --entity-type brokers --entity-name 1 --alter
    // --add-config listener.name.ssl.ssl.keystore.location=...`.
    let renewed = ca
        .server("altered")
        .write_keystore(&dir.path().join("renewed.pem"));
    let mut admin = node.broker.connect();
    alter_broker(
        &mut admin,
        "listener.name.ssl.ssl.keystore.location",
        &renewed.display().to_string(),
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    while served_cn(&node.tls(&ca, None).unwrap()) != "altered" {
        assert!(
            Instant::now() < deadline,
            "the altered key store was not used: {}",
            node.broker.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn secrets_are_sensitive_in_describe_configs() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("test-ca");
    let server = ca.server("broker");
    let chain = format!("ssl.keystore.certificate.chain={}", server.cert_pem);
    let key = format!("ssl.keystore.key={}", server.key_pem);
    let node = start(
        dir.path(),
        &ca,
        &server,
        &[
            "ssl.keystore.location=",
            &chain,
            &key,
            "listener.name.ssl.ssl.client.auth=requested",
        ],
    );
    let configs = broker_configs(&mut node.broker.connect());
    let entry = |name: &str| config_entry(&configs, name);
    for secret in [
        "ssl.keystore.key",
        "ssl.key.password",
        "ssl.truststore.certificates",
    ] {
        let e = entry(secret);
        assert!(e.is_sensitive, "{secret}");
        assert_eq!(e.value, None, "{secret}");
    }
    let e = entry("ssl.client.auth");
    assert!(!e.is_sensitive);
    assert_eq!(
        e.value.as_ref().map(|v| v.to_string()),
        Some("none".to_string())
    );
    // Per-listener overrides are listed as static settings, secrets or not.
    let e = entry("listener.name.ssl.ssl.client.auth");
    assert!(!e.is_sensitive);
    assert_eq!(
        e.value.as_ref().map(|v| v.to_string()),
        Some("requested".to_string())
    );
    assert_eq!(e.config_source, 4, "STATIC_BROKER_CONFIG");
    // The key never reaches the log.
    let secret_line = server.key_pem.lines().nth(1).unwrap();
    assert!(!node.broker.log().contains(secret_line));
}

/// `identity`'s key encrypted by openssl as Kafka users make them
/// (`openssl pkcs8 -topk8 -v2 aes-256-cbc`), followed by its certificate.
fn encrypted_keystore(dir: &Path, identity: &Identity, name: &str, password: &str) -> String {
    let plain = dir.join(format!("{name}.key"));
    let encrypted = dir.join(format!("{name}.enc"));
    std::fs::write(&plain, &identity.key_pem).unwrap();
    let status = std::process::Command::new("openssl")
        .args(["pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in"])
        .arg(&plain)
        .arg("-out")
        .arg(&encrypted)
        .arg("-passout")
        .arg(format!("pass:{password}"))
        .status()
        .expect("openssl must be installed");
    assert!(status.success());
    let key = std::fs::read_to_string(&encrypted).unwrap();
    assert!(key.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    format!("{key}{}", identity.cert_pem)
}

#[test]
fn encrypted_private_keys_need_the_right_ssl_key_password() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("test-ca");
    let listeners = format!(
        "listeners=PLAINTEXT://127.0.0.1:{},SSL://127.0.0.1:{}",
        free_port(),
        free_port()
    );
    let store = dir.path().join("encrypted.pem");
    std::fs::write(
        &store,
        encrypted_keystore(dir.path(), &ca.server("static"), "static", "s3cret"),
    )
    .unwrap();
    let location = format!("ssl.keystore.location={}", store.display());
    // Wrong or missing password, or a password with a plain key: one line.
    for extra in [
        vec![location.clone(), "ssl.key.password=wrong".into()],
        vec![location.clone()],
    ] {
        let mut settings = vec![listeners.clone()];
        settings.extend(extra);
        refuses(&settings, "ssl.key.password");
    }
    let node = start(
        dir.path(),
        &ca,
        &ca.server("unused"),
        &[&location, "ssl.key.password=s3cret"],
    );
    let served_cn = |conn: &Connection| {
        let der = conn.tls.as_ref().unwrap().peer_certificates().unwrap()[0].clone();
        x509_cn(&der).1
    };
    let mut conn = node.tls(&ca, None).unwrap();
    assert_eq!(api_versions(&mut conn).error_code, NONE);
    assert_eq!(served_cn(&conn), "static");
    // A renewed key store under another password cannot be loaded: the
    // listener keeps serving the old key.
    let renewed = ca.server("renewed");
    std::fs::write(
        &store,
        encrypted_keystore(dir.path(), &renewed, "bad", "other"),
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while !node.broker.log().contains("wrong ssl.key.password") {
        assert!(Instant::now() < deadline, "{}", node.broker.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(served_cn(&node.tls(&ca, None).unwrap()), "static");
    // Under the configured password it is picked up.
    std::fs::write(
        &store,
        encrypted_keystore(dir.path(), &renewed, "good", "s3cret"),
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while served_cn(&node.tls(&ca, None).unwrap()) != "renewed" {
        assert!(Instant::now() < deadline, "{}", node.broker.log());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Time from sending a garbage TLS record until the broker closes.
fn close_delay_after_failed_handshake(port: u16) -> Duration {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let sent = Instant::now();
    stream.write_all(&[0xffu8; 300]).unwrap();
    // An alert may come first; the end of the stream is the close (a read
    // error would be the timeout).
    let mut sink = Vec::new();
    stream.read_to_end(&mut sink).unwrap();
    sent.elapsed()
}

#[test]
fn a_failed_tls_handshake_closes_after_the_configured_delay() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("test-ca");
    let server = ca.server("broker");
    let node = start(
        dir.path(),
        &ca,
        &server,
        &["connection.failed.authentication.delay.ms=1500"],
    );
    let waited = close_delay_after_failed_handshake(node.port);
    assert!(waited >= Duration::from_millis(1300), "{waited:?}");
    assert!(node
        .broker
        .log()
        .contains("failed authentication: TLS handshake failed"));
    drop(node);
    let node = start(
        dir.path(),
        &ca,
        &server,
        &["connection.failed.authentication.delay.ms=0"],
    );
    let waited = close_delay_after_failed_handshake(node.port);
    assert!(waited < Duration::from_millis(1000), "{waited:?}");
}
