//! SASL/OAUTHBEARER on a real `gregor server` over TCP. The test is its own
//! identity provider: RSA keys from `openssl genpkey`, tokens signed here
//! with ring, the JWKS served over HTTP on 127.0.0.1 (and from a file).
//! Checks a valid token (then Metadata works, the session ends with the
//! token, the principal is the `sub`), and that every bad token gets RFC
//! 7628's invalid_token challenge, then SASL_AUTHENTICATION_FAILED.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use gregor_protocol::error_codes;
use kafka_protocol::messages::*;
use ring::rand::SystemRandom;
use ring::signature::{RsaKeyPair, RsaPublicKeyComponents, RSA_PKCS1_SHA256};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use support::cluster::metadata;
use support::security::{
    connect_to, expect_metadata_closed, failed_start, sasl_authenticate, sasl_handshake,
    SecureBroker,
};
use support::{free_port, Connection};

const INVALID_TOKEN: &str = r#"{"status":"invalid_token"}"#;
const ISSUER: &str = "https://idp.test";

struct Key {
    pair: RsaKeyPair,
    kid: String,
}

impl Key {
    /// A fresh 2048-bit RSA key (ring signs RSA but cannot make keys);
    /// OpenSSL 3 writes a DER RSAPrivateKey, older ones PKCS#8.
    fn new(dir: &Path, kid: &str) -> Key {
        let path = dir.join(format!("{kid}-{}.der", free_port()));
        let status = Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
            ])
            .args(["-outform", "DER", "-out"])
            .arg(&path)
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "openssl genpkey failed");
        let der = std::fs::read(&path).unwrap();
        Key {
            pair: RsaKeyPair::from_der(&der)
                .or_else(|_| RsaKeyPair::from_pkcs8(&der))
                .unwrap(),
            kid: kid.into(),
        }
    }

    fn jwk(&self) -> Value {
        let public = RsaPublicKeyComponents::<Vec<u8>>::from(self.pair.public());
        json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid,
               "n": B64.encode(&public.n), "e": B64.encode(&public.e)})
    }

    fn sign(&self, header: Value, claims: Value) -> String {
        let input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        );
        let mut sig = vec![0; self.pair.public().modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                input.as_bytes(),
                &mut sig,
            )
            .unwrap();
        format!("{input}.{}", B64.encode(sig))
    }

    fn token(&self, claims: Value) -> String {
        self.sign(
            json!({"alg": "RS256", "kid": self.kid, "typ": "JWT"}),
            claims,
        )
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn claims(sub: &str, lifetime_s: i64) -> Value {
    json!({"sub": sub, "iss": ISSUER, "aud": ["kafka", "other"], "iat": now(),
           "exp": now() + lifetime_s, "scope": "produce consume"})
}

/// Serves `doc` at any path, HTTP/1.1, one request per connection.
fn serve_jwks(doc: Arc<Mutex<String>>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 4096];
            let mut request = Vec::new();
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let body = doc.lock().unwrap().clone();
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

fn jwks(keys: &[&Key]) -> String {
    json!({"keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>()}).to_string()
}

fn start(extra: &[String]) -> SecureBroker {
    let mut settings = vec![
        "sasl.enabled.mechanisms=OAUTHBEARER,PLAIN".to_string(),
        format!("sasl.oauthbearer.expected.issuer={ISSUER}"),
        "sasl.oauthbearer.expected.audience=kafka,spare".to_string(),
    ];
    settings.extend(extra.iter().cloned());
    SecureBroker::start("SASL", "SASL_PLAINTEXT", &settings, None)
}

fn handshake(conn: &mut Connection) {
    assert_eq!(sasl_handshake(conn, 1, "OAUTHBEARER").error_code, 0);
}

fn authenticate(conn: &mut Connection, bytes: &[u8]) -> SaslAuthenticateResponse {
    sasl_authenticate(conn, 2, bytes)
}

fn first_message(token: &str) -> Vec<u8> {
    format!("n,,\x01auth=Bearer {token}\x01\x01").into_bytes()
}

/// Logs in with `token`; the session lifetime on success.
fn login(port: u16, token: &str) -> (Connection, i64) {
    let mut conn = connect_to(port);
    handshake(&mut conn);
    let r = authenticate(&mut conn, &first_message(token));
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    assert!(r.auth_bytes.is_empty());
    (conn, r.session_lifetime_ms)
}

/// Kafka's sequence for a bad token: the JSON error as a challenge, the
/// client's `\x01`, then SASL_AUTHENTICATION_FAILED and the close.
fn assert_refused(port: u16, message: &[u8], what: &str) {
    let mut conn = connect_to(port);
    handshake(&mut conn);
    let r = authenticate(&mut conn, message);
    assert_eq!(r.error_code, 0, "{what}: {:?}", r.error_message);
    assert_eq!(&r.auth_bytes[..], INVALID_TOKEN.as_bytes(), "{what}");
    let r = authenticate(&mut conn, b"\x01");
    assert_eq!(
        r.error_code,
        error_codes::SASL_AUTHENTICATION_FAILED,
        "{what}"
    );
    assert_eq!(r.error_message.as_deref(), Some(INVALID_TOKEN), "{what}");
    assert!(conn.read_frame().is_none(), "{what}: connection stays open");
}

#[test]
fn oauthbearer_with_a_jwks_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::new(dir.path(), "k1");
    let stranger = Key::new(dir.path(), "k1");
    let doc = Arc::new(Mutex::new(jwks(&[&key])));
    let jwks_port = serve_jwks(doc.clone());
    let node = start(&[format!(
        "sasl.oauthbearer.jwks.endpoint.url=http://127.0.0.1:{jwks_port}/jwks.json"
    )]);

    // A valid token: authenticated, served, for the token's remaining life.
    let (mut conn, lifetime) = login(node.port, &key.token(claims("alice", 600)));
    assert!((590_000..=600_000).contains(&lifetime), "{lifetime}");
    metadata(&mut conn, None);
    // Re-authentication (KIP-368) with a fresh token for the same sub: a
    // new session as long as the new token.
    handshake(&mut conn);
    let r = authenticate(&mut conn, &first_message(&key.token(claims("alice", 1200))));
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    assert!(
        r.session_lifetime_ms > 1_190_000,
        "{}",
        r.session_lifetime_ms
    );
    metadata(&mut conn, None);
    // The principal is the sub claim: re-authenticating as another fails.
    handshake(&mut conn);
    let r = authenticate(&mut conn, &first_message(&key.token(claims("bob", 600))));
    assert_eq!(r.error_code, error_codes::SASL_AUTHENTICATION_FAILED);
    assert_eq!(
        r.error_message.as_deref(),
        Some("Cannot change principals during re-authentication from User:alice: User:bob")
    );
    // aud as a string naming one of the expected audiences.
    let mut c = claims("alice", 600);
    c["aud"] = json!("spare");
    login(node.port, &key.token(c));

    // Every bad token.
    let mut c = claims("alice", -60);
    assert_refused(node.port, &first_message(&key.token(c.clone())), "expired");
    c = claims("alice", 600);
    c["iss"] = json!("https://evil.test");
    assert_refused(node.port, &first_message(&key.token(c)), "issuer");
    c = claims("alice", 600);
    c["aud"] = json!(["nobody"]);
    assert_refused(node.port, &first_message(&key.token(c)), "audience");
    c = claims("alice", 600);
    c.as_object_mut().unwrap().remove("exp");
    assert_refused(node.port, &first_message(&key.token(c)), "no exp");
    let forged = stranger.token(claims("alice", 600));
    assert_refused(node.port, &first_message(&forged), "wrong signature");
    let unknown = Key {
        pair: stranger.pair,
        kid: "k2".into(),
    };
    assert_refused(
        node.port,
        &first_message(&unknown.token(claims("alice", 600))),
        "kid",
    );
    let none = format!(
        "{}.{}.",
        B64.encode(r#"{"alg":"none"}"#),
        B64.encode(claims("alice", 600).to_string())
    );
    assert_refused(node.port, &first_message(&none), "alg none");
    for junk in ["x", "a.b.c", "!!!.!!!.!!!", "e30.e30.e30"] {
        assert_refused(node.port, &first_message(junk), junk);
    }

    // Not an RFC 7628 message at all: failed at once.
    for junk in [&b""[..], b"\xff\xfe", b"n,,auth=Bearer x", b"\x01"] {
        let mut conn = node.connect();
        handshake(&mut conn);
        let r = authenticate(&mut conn, junk);
        assert_eq!(
            r.error_code,
            error_codes::SASL_AUTHENTICATION_FAILED,
            "{junk:?}"
        );
        assert!(conn.read_frame().is_none());
    }
    // An authzid that is not the token's principal.
    let mut conn = node.connect();
    handshake(&mut conn);
    let token = key.token(claims("alice", 600));
    let r = authenticate(
        &mut conn,
        format!("n,a=root,\x01auth=Bearer {token}\x01\x01").as_bytes(),
    );
    assert_eq!(r.error_code, error_codes::SASL_AUTHENTICATION_FAILED);
    assert!(r.error_message.unwrap().contains("authorization id (root)"));
    // Matching authzid and an extension: fine.
    let mut conn = node.connect();
    handshake(&mut conn);
    let r = authenticate(
        &mut conn,
        format!("n,a=alice,\x01auth=Bearer {token}\x01traceId=7\x01\x01").as_bytes(),
    );
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);

    // The session ends with the token.
    let (mut conn, lifetime) = login(node.port, &key.token(claims("alice", 2)));
    assert!(lifetime <= 2000, "{lifetime}");
    std::thread::sleep(Duration::from_millis(2500));
    expect_metadata_closed(&mut conn);

    // A key the IdP adds later is found by the unknown-kid refresh (rate
    // limited: not within 10 s of the last fetch).
    let rotated = Key::new(dir.path(), "k3");
    *doc.lock().unwrap() = jwks(&[&key, &rotated]);
    std::thread::sleep(Duration::from_millis(10_500));
    login(node.port, &rotated.token(claims("carol", 600)));
}

#[test]
fn unsecured_development_mode_and_file_jwks() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::new(dir.path(), "f1");
    let file = dir.path().join("jwks.json");
    std::fs::write(&file, jwks(&[&key])).unwrap();
    let node = start(&[
        format!(
            "sasl.oauthbearer.jwks.endpoint.url=file://{}",
            file.display()
        ),
        "gregor.sasl.oauthbearer.unsecured.enable=true".to_string(),
    ]);
    assert!(node.broker.log().contains("UNSIGNED tokens"));
    let none = |c: Value| {
        format!(
            "{}.{}.",
            B64.encode(r#"{"alg":"none"}"#),
            B64.encode(c.to_string())
        )
    };
    let (mut conn, _) = login(node.port, &none(claims("dev", 600)));
    metadata(&mut conn, None);
    // Signed tokens are still checked against the (file) JWKS, and claims
    // still apply to unsigned ones.
    login(node.port, &key.token(claims("alice", 600)));
    assert_refused(
        node.port,
        &first_message(&none(claims("dev", -60))),
        "expired",
    );
    let mut c = claims("dev", 600);
    c["iss"] = json!("https://evil.test");
    assert_refused(node.port, &first_message(&none(c)), "issuer");
}

#[test]
fn oauthbearer_needs_a_jwks() {
    let port = free_port();
    let (status, stderr) = failed_start(&[
        format!("listeners=SASL://127.0.0.1:{port}"),
        "listener.security.protocol.map=SASL:SASL_PLAINTEXT".to_string(),
        "inter.broker.listener.name=SASL".to_string(),
        "sasl.mechanism.inter.broker.protocol=PLAIN".to_string(),
        "sasl.enabled.mechanisms=OAUTHBEARER".to_string(),
    ]);
    assert!(!status.success());
    assert!(
        stderr.contains("sasl.oauthbearer.jwks.endpoint.url"),
        "{stderr}"
    );
}

/// Serves `doc` over HTTPS with a certificate `ca` signed for localhost,
/// closing each response with close_notify.
fn serve_jwks_https(doc: Arc<Mutex<String>>, ca: &support::certs::TestCa) -> u16 {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let identity = ca.server("idp");
    let certs = CertificateDer::pem_slice_iter(identity.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(identity.key_pem.as_bytes()).unwrap();
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let connection = rustls::ServerConnection::new(config.clone()).unwrap();
            let mut tls = rustls::StreamOwned::new(connection, stream);
            let mut buf = [0u8; 4096];
            let mut request = Vec::new();
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match tls.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            if request.is_empty() {
                continue;
            }
            let body = doc.lock().unwrap().clone();
            let _ = write!(
                tls,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
    });
    port
}

/// The `gregor` CLI logging in with a ready-made token.
fn cli_with_token(port: u16, token: &str) -> std::process::Output {
    Command::new(support::gregor_bin())
        .args(["topic", "list", "--bootstrap-server"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["--command-property", "security.protocol=SASL_PLAINTEXT"])
        .args(["--command-property", "sasl.mechanism=OAUTHBEARER"])
        .arg("--command-property")
        .arg(format!("gregor.sasl.oauthbearer.token={token}"))
        .output()
        .unwrap()
}

#[test]
fn an_https_jwks_endpoint_and_the_cli_with_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::new(dir.path(), "h1");
    let ca = support::certs::TestCa::new("idp-ca");
    let ca_file = ca.write(&dir.path().join("idp-ca.pem"));
    let stranger = support::certs::TestCa::new("other-ca");
    let stranger_file = stranger.write(&dir.path().join("other-ca.pem"));
    let doc = Arc::new(Mutex::new(jwks(&[&key])));
    let port = serve_jwks_https(doc, &ca);
    let url = format!("sasl.oauthbearer.jwks.endpoint.url=https://localhost:{port}/jwks.json");
    let jaas = |trust: &Path| {
        format!(
            "listener.name.sasl.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required ssl.truststore.type=\"PEM\" ssl.truststore.location=\"{}\";",
            trust.display()
        )
    };
    let token = key.token(claims("alice", 600));

    // Trust from the OAUTHBEARER JAAS options, as Kafka reads it.
    let node = start(&[url.clone(), jaas(&ca_file)]);
    login(node.port, &token);
    // The CLI with the token: served; with an expired one: one line, exit 1.
    let listed = cli_with_token(node.port, &token);
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let expired = cli_with_token(node.port, &key.token(claims("alice", -60)));
    let stderr = String::from_utf8(expired.stderr).unwrap();
    assert!(!expired.status.success());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("SASL_AUTHENTICATION_FAILED"), "{stderr}");
    drop(node);

    // No trust store in the JAAS line: the broker's ssl.truststore.* stands
    // in for the JVM's.
    let node = start(&[
        url.clone(),
        "ssl.truststore.type=PEM".to_string(),
        format!("ssl.truststore.location={}", ca_file.display()),
    ]);
    login(node.port, &token);
    drop(node);

    // A trust store that does not know the endpoint's CA: no keys, so every
    // token is refused.
    let node = start(&[url, jaas(&stranger_file)]);
    assert_refused(node.port, &first_message(&token), "untrusted JWKS endpoint");
}
