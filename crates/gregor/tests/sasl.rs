//! SASL on a real `gregor server` over TCP: SaslHandshake/SaslAuthenticate
//! with PLAIN and SCRAM-SHA-256/512 against users from
//! `sasl.bootstrap.scram`, the authentication gate, every refusal on the
//! wire (a small SCRAM client here speaks the RFC 5802 messages), the v0
//! handshake's bare tokens, and KIP-368 session expiry.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use bytes::{BufMut, Bytes, BytesMut};
use gregor_protocol::error_codes;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use ring::{digest, hmac, pbkdf2};
use std::net::TcpStream;
use std::num::NonZeroU32;
use std::time::Duration;
use support::cluster::metadata;
use support::security::{
    broker_configs, config_entry, connect_to, expect_closed, expect_metadata_closed, plain_login,
    sasl_authenticate, sasl_handshake, SecureBroker,
};
use support::{free_port, Connection};

const USERS: &str = "SCRAM-SHA-256=[name=alice,password=alice-secret];\
                     SCRAM-SHA-512=[name=bob,password=bob-secret,iterations=8192];\
                     SCRAM-SHA-256=[name=\"we,ird=name\",password=\"p;w\"]";

/// A node with a PLAINTEXT listener (where the test harness waits) and a
/// SASL_PLAINTEXT one called SASL.
fn start(extra: &[&str]) -> SecureBroker {
    let mut settings = vec![format!("sasl.bootstrap.scram={USERS}")];
    settings.extend(extra.iter().map(|s| s.to_string()));
    SecureBroker::start("SASL", "SASL_PLAINTEXT", &settings, None)
}

/// The client side of SCRAM (RFC 5802), independent of the broker's code.
struct ScramClient {
    sha512: bool,
    user: String,
    password: String,
    nonce: String,
}

impl ScramClient {
    fn new(sha512: bool, user: &str, password: &str) -> ScramClient {
        ScramClient {
            sha512,
            user: user.into(),
            password: password.into(),
            nonce: "fyko+d2lbbFgONRv9qkxdawL".into(),
        }
    }

    fn bare(&self) -> String {
        let escaped = self.user.replace('=', "=3D").replace(',', "=2C");
        format!("n={escaped},r={}", self.nonce)
    }

    fn first(&self) -> String {
        format!("n,,{}", self.bare())
    }

    fn hmac(&self, key: &[u8], data: &[u8]) -> Vec<u8> {
        let alg = if self.sha512 {
            hmac::HMAC_SHA512
        } else {
            hmac::HMAC_SHA256
        };
        hmac::sign(&hmac::Key::new(alg, key), data)
            .as_ref()
            .to_vec()
    }

    /// client-final and the server signature it expects back.
    fn last(&self, server_first: &str) -> (String, String) {
        let fields: Vec<&str> = server_first.split(',').collect();
        let nonce = fields[0].strip_prefix("r=").unwrap();
        assert!(nonce.starts_with(&self.nonce) && nonce.len() > self.nonce.len());
        let salt = BASE64
            .decode(fields[1].strip_prefix("s=").unwrap())
            .unwrap();
        let iterations: u32 = fields[2].strip_prefix("i=").unwrap().parse().unwrap();
        let salted = salted(self.sha512, &self.password, &salt, iterations);
        let client_key = self.hmac(&salted, b"Client Key");
        let digest_alg = if self.sha512 {
            &digest::SHA512
        } else {
            &digest::SHA256
        };
        let stored_key = digest::digest(digest_alg, &client_key);
        let without_proof = format!("c=biws,r={nonce}");
        let auth = format!("{},{server_first},{without_proof}", self.bare());
        let signature = self.hmac(stored_key.as_ref(), auth.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(a, b)| a ^ b)
            .collect();
        let server_key = self.hmac(&salted, b"Server Key");
        let server_signature = self.hmac(&server_key, auth.as_bytes());
        (
            format!("{without_proof},p={}", BASE64.encode(proof)),
            format!("v={}", BASE64.encode(server_signature)),
        )
    }
}

fn scram(conn: &mut Connection, client: &ScramClient) -> SaslAuthenticateResponse {
    let mechanism = if client.sha512 {
        "SCRAM-SHA-512"
    } else {
        "SCRAM-SHA-256"
    };
    assert_eq!(sasl_handshake(conn, 1, mechanism).error_code, 0);
    let first = sasl_authenticate(conn, 2, client.first().as_bytes());
    assert_eq!(first.error_code, 0, "{:?}", first.error_message);
    let (last, expected) = client.last(std::str::from_utf8(&first.auth_bytes).unwrap());
    let done = sasl_authenticate(conn, 2, last.as_bytes());
    if done.error_code == 0 {
        assert_eq!(std::str::from_utf8(&done.auth_bytes).unwrap(), expected);
    }
    done
}

#[test]
fn plain_and_scram_authenticate_against_bootstrap_users() {
    let node = start(&[]);
    // PLAIN checks the SCRAM store, whichever mechanism the user has.
    for (user, password) in [
        ("alice", "alice-secret"),
        ("bob", "bob-secret"),
        ("we,ird=name", "p;w"),
    ] {
        let mut conn = node.connect();
        let done = plain_login(&mut conn, user, password);
        assert_eq!(done.error_code, 0, "{user}: {:?}", done.error_message);
        assert_eq!(done.session_lifetime_ms, 0);
        assert!(!metadata(&mut conn, None).brokers.is_empty());
    }
    let mut conn = node.connect();
    assert_eq!(
        scram(&mut conn, &ScramClient::new(false, "alice", "alice-secret")).error_code,
        0
    );
    assert!(!metadata(&mut conn, None).brokers.is_empty());
    let mut conn = node.connect();
    assert_eq!(
        scram(&mut conn, &ScramClient::new(true, "bob", "bob-secret")).error_code,
        0
    );
    assert!(!metadata(&mut conn, None).brokers.is_empty());
    let mut conn = node.connect();
    assert_eq!(
        scram(&mut conn, &ScramClient::new(false, "we,ird=name", "p;w")).error_code,
        0
    );
    // The PLAINTEXT listener is untouched, and SASL requests there are
    // answered with ILLEGAL_SASL_STATE, as Kafka's KafkaApis does.
    let mut open = node.broker.connect();
    assert!(!metadata(&mut open, None).brokers.is_empty());
    assert_eq!(
        sasl_handshake(&mut open, 1, "PLAIN").error_code,
        error_codes::ILLEGAL_SASL_STATE
    );
    assert_eq!(
        sasl_authenticate(&mut open, 2, b"x").error_code,
        error_codes::ILLEGAL_SASL_STATE
    );
    assert!(!metadata(&mut open, None).brokers.is_empty());
}

#[test]
fn bad_credentials_fail_alike_and_close() {
    let node = start(&[]);
    let generic = "Authentication failed: Invalid username or password";
    for (user, password) in [("alice", "wrong"), ("nobody", "alice-secret")] {
        let mut conn = node.connect();
        let failed = plain_login(&mut conn, user, password);
        assert_eq!(failed.error_code, error_codes::SASL_AUTHENTICATION_FAILED);
        assert_eq!(failed.error_message.as_deref(), Some(generic));
        assert!(conn.read_frame().is_none(), "still open");
    }
    let scram_failure =
        "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-256";
    for client in [
        ScramClient::new(false, "alice", "wrong"),
        ScramClient::new(false, "nobody", "alice-secret"),
        // bob has only a SCRAM-SHA-512 credential.
        ScramClient::new(false, "bob", "bob-secret"),
    ] {
        let mut conn = node.connect();
        let failed = scram(&mut conn, &client);
        assert_eq!(failed.error_code, error_codes::SASL_AUTHENTICATION_FAILED);
        assert_eq!(failed.error_message.as_deref(), Some(scram_failure));
        assert!(conn.read_frame().is_none(), "still open");
    }
}

#[test]
fn only_api_versions_and_sasl_before_authentication() {
    let node = start(&[]);
    let mut conn = node.connect();
    let ResponseKind::ApiVersions(versions) = conn.request(
        ApiKey::ApiVersions,
        3,
        RequestKind::ApiVersions(ApiVersionsRequest::default()),
    ) else {
        panic!()
    };
    let keys: Vec<i16> = versions.api_keys.iter().map(|k| k.api_key).collect();
    assert!(
        keys.contains(&(ApiKey::SaslHandshake as i16))
            && keys.contains(&(ApiKey::SaslAuthenticate as i16))
    );
    expect_metadata_closed(&mut conn);
    // SaslAuthenticate before SaslHandshake: closed unanswered, as Kafka.
    let mut conn = node.connect();
    expect_closed(
        &mut conn,
        ApiKey::SaslAuthenticate,
        2,
        RequestKind::SaslAuthenticate(SaslAuthenticateRequest::default()),
    );
    // Something else between handshake and token: closed.
    let mut conn = node.connect();
    assert_eq!(sasl_handshake(&mut conn, 1, "PLAIN").error_code, 0);
    expect_metadata_closed(&mut conn);
    // A second handshake mid-exchange: ILLEGAL_SASL_STATE, then closed.
    let mut conn = node.connect();
    assert_eq!(sasl_handshake(&mut conn, 1, "SCRAM-SHA-256").error_code, 0);
    assert_eq!(
        sasl_handshake(&mut conn, 1, "PLAIN").error_code,
        error_codes::ILLEGAL_SASL_STATE
    );
    assert!(conn.read_frame().is_none());
    // Garbage instead of a request header: closed.
    let mut conn = node.connect();
    conn.send_raw(&[0, 0, 0, 3, 0x60, 1, 2]);
    assert!(conn.read_frame().is_none());
}

#[test]
fn unsupported_mechanism_lists_the_enabled_ones() {
    let node = start(&["listener.name.sasl.sasl.enabled.mechanisms=SCRAM-SHA-512,PLAIN"]);
    let mut conn = node.connect();
    let refused = sasl_handshake(&mut conn, 1, "SCRAM-SHA-256");
    assert_eq!(refused.error_code, error_codes::UNSUPPORTED_SASL_MECHANISM);
    let listed: Vec<&str> = refused.mechanisms.iter().map(|m| m.as_str()).collect();
    assert_eq!(listed, ["SCRAM-SHA-512", "PLAIN"]);
    assert!(conn.read_frame().is_none());
    let mut conn = node.connect();
    assert_eq!(
        sasl_handshake(&mut conn, 1, "GSSAPI").error_code,
        error_codes::UNSUPPORTED_SASL_MECHANISM
    );
    let mut conn = node.connect();
    assert_eq!(
        scram(&mut conn, &ScramClient::new(true, "bob", "bob-secret")).error_code,
        0
    );
}

#[test]
fn malformed_tokens_fail_without_harm() {
    let node = start(&[]);
    let tokens: &[(&str, &[u8])] = &[
        ("PLAIN", b""),
        ("PLAIN", b"\0\0\0\0"),
        ("PLAIN", b"\xff\xfe\0\xff"),
        ("PLAIN", b"bob\0alice\0alice-secret"),
        ("SCRAM-SHA-256", b""),
        ("SCRAM-SHA-256", b"\xff\xff"),
        ("SCRAM-SHA-256", b"p=tls-unique,,n=alice,r=x"),
        ("SCRAM-SHA-256", b"n,,n=alice,r=x,tokenauth=true"),
        ("SCRAM-SHA-256", b"n,,n=al=ice,r=x"),
        ("SCRAM-SHA-512", b"n,,"),
        ("SCRAM-SHA-512", &[b'n'; 70000]),
    ];
    for (mechanism, token) in tokens {
        let mut conn = node.connect();
        assert_eq!(sasl_handshake(&mut conn, 1, mechanism).error_code, 0);
        let failed = sasl_authenticate(&mut conn, 2, token);
        assert_eq!(
            failed.error_code,
            error_codes::SASL_AUTHENTICATION_FAILED,
            "{mechanism} {token:?}"
        );
        assert!(conn.read_frame().is_none());
    }
    // A bad client-final after a good client-first.
    let mut conn = node.connect();
    assert_eq!(sasl_handshake(&mut conn, 1, "SCRAM-SHA-256").error_code, 0);
    let client = ScramClient::new(false, "alice", "alice-secret");
    assert_eq!(
        sasl_authenticate(&mut conn, 2, client.first().as_bytes()).error_code,
        0
    );
    let failed = sasl_authenticate(&mut conn, 2, b"c=biws,r=somebodyelse,p=AAAA");
    assert_eq!(failed.error_code, error_codes::SASL_AUTHENTICATION_FAILED);
    // Kafka's sasl.server.max.receive.size (512 KiB): a bigger frame before
    // authentication closes the connection unanswered.
    let mut conn = node.connect();
    assert_eq!(sasl_handshake(&mut conn, 1, "PLAIN").error_code, 0);
    expect_closed(
        &mut conn,
        ApiKey::SaslAuthenticate,
        2,
        RequestKind::SaslAuthenticate(
            SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(vec![0u8; 600_000])),
        ),
    );
    // Still serving.
    let mut conn = node.connect();
    assert_eq!(
        plain_login(&mut conn, "alice", "alice-secret").error_code,
        0
    );
    assert!(!node.broker.log().contains("panicked"));
}

/// SaslHandshake v0: the tokens follow as bare size-prefixed frames.
#[test]
fn handshake_v0_takes_bare_tokens() {
    let node = start(&[]);
    let bare = |token: &[u8]| {
        let mut out = BytesMut::new();
        out.put_u32(token.len() as u32);
        out.put_slice(token);
        out.freeze()
    };
    let mut conn = node.connect();
    assert_eq!(sasl_handshake(&mut conn, 0, "PLAIN").error_code, 0);
    conn.send_raw(&bare(b"\0alice\0alice-secret"));
    assert_eq!(conn.read_frame().unwrap().len(), 0);
    assert!(!metadata(&mut conn, None).brokers.is_empty());

    let mut conn = node.connect();
    assert_eq!(sasl_handshake(&mut conn, 0, "SCRAM-SHA-512").error_code, 0);
    let client = ScramClient::new(true, "bob", "bob-secret");
    conn.send_raw(&bare(client.first().as_bytes()));
    let first = conn.read_frame().unwrap();
    let (last, expected) = client.last(std::str::from_utf8(&first).unwrap());
    conn.send_raw(&bare(last.as_bytes()));
    assert_eq!(conn.read_frame().unwrap(), expected.as_bytes());
    assert!(!metadata(&mut conn, None).brokers.is_empty());

    // A failure closes without a word (v0 has no error field).
    let mut conn = node.connect();
    assert_eq!(sasl_handshake(&mut conn, 0, "PLAIN").error_code, 0);
    conn.send_raw(&bare(b"\0alice\0nope"));
    assert!(conn.read_frame().is_none());
}

/// KIP-368: sessions last connections.max.reauth.ms; re-authenticating on
/// the open connection starts a new one; an expired one is closed at its
/// next request.
#[test]
fn sessions_expire_and_can_be_renewed() {
    let node = start(&["connections.max.reauth.ms=1500"]);
    let mut conn = node.connect();
    let done = plain_login(&mut conn, "alice", "alice-secret");
    assert_eq!(done.session_lifetime_ms, 1500);
    std::thread::sleep(Duration::from_millis(1000));
    // Re-authenticate (same principal, same mechanism) before expiry.
    assert_eq!(
        plain_login(&mut conn, "alice", "alice-secret").session_lifetime_ms,
        1500
    );
    std::thread::sleep(Duration::from_millis(1000));
    assert!(!metadata(&mut conn, None).brokers.is_empty());
    std::thread::sleep(Duration::from_millis(700));
    expect_metadata_closed(&mut conn);

    // Re-authentication may not change the principal.
    let mut conn = node.connect();
    assert_eq!(
        plain_login(&mut conn, "alice", "alice-secret").error_code,
        0
    );
    let changed = plain_login(&mut conn, "bob", "bob-secret");
    assert_eq!(changed.error_code, error_codes::SASL_AUTHENTICATION_FAILED);
    assert!(changed
        .error_message
        .unwrap()
        .contains("Cannot change principals"));
    assert!(conn.read_frame().is_none());
}

fn salted(sha512: bool, password: &str, salt: &[u8], iterations: u32) -> Vec<u8> {
    let (alg, len) = if sha512 {
        (pbkdf2::PBKDF2_HMAC_SHA512, 64)
    } else {
        (pbkdf2::PBKDF2_HMAC_SHA256, 32)
    };
    let mut out = vec![0u8; len];
    pbkdf2::derive(
        alg,
        NonZeroU32::new(iterations).unwrap(),
        salt,
        password.as_bytes(),
        &mut out,
    );
    out
}

fn upsertion(
    name: &str,
    mechanism: i8,
    iterations: i32,
    password: &str,
) -> alter_user_scram_credentials_request::ScramCredentialUpsertion {
    let salt = b"0123456789abcdef";
    alter_user_scram_credentials_request::ScramCredentialUpsertion::default()
        .with_name(StrBytes::from_string(name.into()))
        .with_mechanism(mechanism)
        .with_iterations(iterations)
        .with_salt(Bytes::copy_from_slice(salt))
        .with_salted_password(Bytes::from(salted(
            mechanism == 2,
            password,
            salt,
            iterations.clamp(1, 20000) as u32,
        )))
}

fn deletion(
    name: &str,
    mechanism: i8,
) -> alter_user_scram_credentials_request::ScramCredentialDeletion {
    alter_user_scram_credentials_request::ScramCredentialDeletion::default()
        .with_name(StrBytes::from_string(name.into()))
        .with_mechanism(mechanism)
}

fn alter(
    conn: &mut Connection,
    deletions: Vec<alter_user_scram_credentials_request::ScramCredentialDeletion>,
    upsertions: Vec<alter_user_scram_credentials_request::ScramCredentialUpsertion>,
) -> Vec<(String, i16)> {
    let ResponseKind::AlterUserScramCredentials(r) = conn.request(
        ApiKey::AlterUserScramCredentials,
        0,
        RequestKind::AlterUserScramCredentials(
            AlterUserScramCredentialsRequest::default()
                .with_deletions(deletions)
                .with_upsertions(upsertions),
        ),
    ) else {
        panic!()
    };
    let mut results: Vec<(String, i16)> = r
        .results
        .iter()
        .map(|r| (r.user.to_string(), r.error_code))
        .collect();
    results.sort();
    results
}

/// A user's describe result: name, error code, (mechanism, iterations).
type Described = (String, i16, Vec<(i8, i32)>);

fn describe(conn: &mut Connection, users: Option<&[&str]>) -> Vec<Described> {
    let users = users.map(|u| {
        u.iter()
            .map(|n| {
                describe_user_scram_credentials_request::UserName::default()
                    .with_name(StrBytes::from_string(n.to_string()))
            })
            .collect()
    });
    let ResponseKind::DescribeUserScramCredentials(r) = conn.request(
        ApiKey::DescribeUserScramCredentials,
        0,
        RequestKind::DescribeUserScramCredentials(
            DescribeUserScramCredentialsRequest::default().with_users(users),
        ),
    ) else {
        panic!()
    };
    assert_eq!(r.error_code, 0);
    let mut out: Vec<_> = r
        .results
        .iter()
        .map(|r| {
            let infos = r
                .credential_infos
                .iter()
                .map(|c| (c.mechanism, c.iterations))
                .collect();
            (r.user.to_string(), r.error_code, infos)
        })
        .collect();
    out.sort();
    out
}

#[test]
fn users_are_altered_and_described_as_kafka_does() {
    let node = start(&[]);
    let mut admin = node.broker.connect();
    assert_eq!(
        describe(&mut admin, None),
        vec![
            ("alice".into(), 0, vec![(1, 4096)]),
            ("bob".into(), 0, vec![(2, 8192)]),
            ("we,ird=name".into(), 0, vec![(1, 4096)]),
        ]
    );
    assert_eq!(
        alter(
            &mut admin,
            vec![],
            vec![
                upsertion("carol", 1, 8192, "c1"),
                upsertion("dave", 2, 16384, "d1")
            ]
        ),
        vec![("carol".into(), 0), ("dave".into(), 0)]
    );
    // The new users log in at once, by PLAIN and by SCRAM.
    let mut conn = node.connect();
    assert_eq!(plain_login(&mut conn, "carol", "c1").error_code, 0);
    let mut conn = node.connect();
    assert_eq!(
        scram(&mut conn, &ScramClient::new(true, "dave", "d1")).error_code,
        0
    );
    assert_eq!(
        alter(
            &mut admin,
            vec![
                deletion("nobody", 1),
                deletion("alice", 2),
                deletion("", 1),
                deletion("bob", 3)
            ],
            vec![
                upsertion("erin", 1, 4095, "x"),
                upsertion("frank", 2, 16385, "x"),
                upsertion("gina", 1, 4096, "x"),
                upsertion("gina", 2, 4096, "x"),
            ],
        ),
        vec![
            ("".into(), error_codes::UNACCEPTABLE_CREDENTIAL),
            ("alice".into(), error_codes::RESOURCE_NOT_FOUND),
            ("bob".into(), error_codes::UNSUPPORTED_SASL_MECHANISM),
            ("erin".into(), error_codes::UNACCEPTABLE_CREDENTIAL),
            ("frank".into(), error_codes::UNACCEPTABLE_CREDENTIAL),
            ("gina".into(), error_codes::DUPLICATE_RESOURCE),
            ("nobody".into(), error_codes::RESOURCE_NOT_FOUND),
        ]
    );
    assert_eq!(
        describe(&mut admin, Some(&["carol", "zed", "bob", "bob"])),
        vec![
            ("bob".into(), error_codes::DUPLICATE_RESOURCE, vec![]),
            ("carol".into(), 0, vec![(1, 8192)]),
            ("zed".into(), error_codes::RESOURCE_NOT_FOUND, vec![]),
        ]
    );
    // A new password replaces the old one; deleting the credential locks
    // the user out.
    assert_eq!(
        alter(&mut admin, vec![], vec![upsertion("carol", 1, 4096, "c2")]),
        vec![("carol".into(), 0)]
    );
    let mut conn = node.connect();
    assert_eq!(
        plain_login(&mut conn, "carol", "c1").error_code,
        error_codes::SASL_AUTHENTICATION_FAILED
    );
    let mut conn = node.connect();
    assert_eq!(plain_login(&mut conn, "carol", "c2").error_code, 0);
    assert_eq!(
        alter(&mut admin, vec![deletion("carol", 1)], vec![]),
        vec![("carol".into(), 0)]
    );
    let mut conn = node.connect();
    assert_eq!(
        plain_login(&mut conn, "carol", "c2").error_code,
        error_codes::SASL_AUTHENTICATION_FAILED
    );
    assert_eq!(
        describe(&mut admin, Some(&["carol"])),
        vec![("carol".into(), error_codes::RESOURCE_NOT_FOUND, vec![])]
    );
    // DescribeClientQuotas: none yet.
    let ResponseKind::DescribeClientQuotas(quotas) = admin.request(
        ApiKey::DescribeClientQuotas,
        1,
        RequestKind::DescribeClientQuotas(DescribeClientQuotasRequest::default()),
    ) else {
        panic!()
    };
    assert_eq!((quotas.error_code, quotas.entries), (0, Some(vec![])));
}

/// Credentials live in the metadata log: they survive a restart, and the
/// bootstrap users are written once only (a deleted one stays deleted).
#[test]
fn credentials_survive_a_restart() {
    let mut node = start(&[]);
    let mut admin = node.broker.connect();
    assert_eq!(
        alter(&mut admin, vec![], vec![upsertion("carol", 2, 4096, "c1")]),
        vec![("carol".into(), 0)]
    );
    assert_eq!(
        alter(&mut admin, vec![deletion("alice", 1)], vec![]),
        vec![("alice".into(), 0)]
    );
    node.broker.restart();
    let mut conn = node.connect();
    assert_eq!(plain_login(&mut conn, "carol", "c1").error_code, 0);
    let mut conn = node.connect();
    assert_eq!(
        plain_login(&mut conn, "alice", "alice-secret").error_code,
        error_codes::SASL_AUTHENTICATION_FAILED
    );
}

/// `gregor storage format --add-scram` as `kafka-storage format
/// --add-scram`: the users exist from the new cluster's first start.
#[test]
fn storage_format_adds_scram_users() {
    let tmp = tempfile::tempdir().unwrap();
    let (plain_port, sasl_port) = (free_port(), free_port());
    let config = tmp.path().join("server.properties");
    std::fs::write(
        &config,
        format!(
            "node.id=1\n\
             listeners=PLAINTEXT://127.0.0.1:{plain_port},SASL://127.0.0.1:{sasl_port}\n\
             listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL:SASL_PLAINTEXT\n\
             inter.broker.listener.name=PLAINTEXT\n\
             log.dirs={}\n",
            tmp.path().join("data").display()
        ),
    )
    .unwrap();
    let gregor = |args: &[&str]| {
        std::process::Command::new(support::gregor_bin())
            .args(args)
            .output()
            .unwrap()
    };
    let id = String::from_utf8(gregor(&["storage", "random-uuid"]).stdout).unwrap();
    let config = config.to_str().unwrap();
    // `gregor storage format` of this config, with these credentials.
    let format = |credentials: &[&str]| {
        let mut args = vec!["storage", "format", "-t", id.trim(), "-c", config];
        args.extend_from_slice(credentials);
        gregor(&args)
    };
    // A bad credential writes nothing and never echoes the password.
    let refused = format(&[
        "--add-scram",
        "SCRAM-SHA-256=[name=x,password=hunter2,iterations=99]",
    ]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("iterations") && !stderr.contains("hunter2"),
        "{stderr}"
    );
    assert!(!tmp.path().join("data").join("meta.properties").exists());
    let formatted = format(&[
        "--add-scram",
        "SCRAM-SHA-256=[name=alice,password=alice-secret]",
        "-S",
        "SCRAM-SHA-512=[name=bob,iterations=8192,salt=\"c2FsdHlzYWx0\",password=\"b,]b\"]",
    ]);
    assert!(
        formatted.status.success(),
        "{}",
        String::from_utf8_lossy(&formatted.stderr)
    );
    let mut server = std::process::Command::new(support::gregor_bin())
        .args(["server", "--config", config])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the broker serves (its metadata, users included, applied).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(stream) = TcpStream::connect(("127.0.0.1", plain_port)) {
            let mut conn = Connection::new(stream);
            let frame = conn.encode(
                ApiKey::Metadata,
                12,
                &RequestKind::Metadata(MetadataRequest::default().with_topics(None)),
            );
            conn.send_raw(&frame);
            if conn.read_frame().is_some() {
                break;
            }
        }
        assert!(std::time::Instant::now() < deadline, "gregor did not serve");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut conn = connect_to(sasl_port);
    let a = plain_login(&mut conn, "alice", "alice-secret").error_code;
    let mut conn = connect_to(sasl_port);
    let b = scram(&mut conn, &ScramClient::new(true, "bob", "b,]b")).error_code;
    let outcome = (a, b);
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(outcome, (0, 0));
}

/// sasl.bootstrap.scram holds passwords: DescribeConfigs marks it
/// sensitive and shows no value.
#[test]
fn bootstrap_users_setting_is_sensitive() {
    let node = start(&[]);
    let configs = broker_configs(&mut node.broker.connect());
    let entry = config_entry(&configs, "sasl.bootstrap.scram");
    assert!(entry.is_sensitive);
    assert_eq!(entry.value, None);
    assert!(!node.broker.log().contains("alice-secret"));
}
