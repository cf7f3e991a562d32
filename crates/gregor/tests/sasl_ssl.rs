//! SASL_SSL, where the TLS and SASL halves of issue 14 meet: on a single
//! broker the TLS handshake comes first (the listener's own ssl.client.auth
//! applies), then the SASL gate, and the SASL user is the principal even
//! when the client presented a certificate; in a three-node cluster the
//! inter-broker (SCRAM-SHA-512) and controller (PLAIN) listeners are both
//! SASL_SSL, so registration, the quorum and acks=all replication all go
//! through TLS then SASL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use bytes::Bytes;
use gregor_protocol::error_codes::{self, NONE};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use rcgen::DnType;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use support::certs::{Identity, TestCa};
use support::cluster::{broker_ids, create_topic, eventually, metadata, NodeSpec, ProcessCluster};
use support::{free_port, list_offsets, produce_values, Connection, TestBroker};

const USERS: &str = "SCRAM-SHA-256=[name=alice,password=alice-secret]";

fn handshake(conn: &mut Connection, mechanism: &str) -> SaslHandshakeResponse {
    let ResponseKind::SaslHandshake(r) = conn.request(
        ApiKey::SaslHandshake,
        1,
        RequestKind::SaslHandshake(
            SaslHandshakeRequest::default().with_mechanism(StrBytes::from_string(mechanism.into())),
        ),
    ) else {
        panic!("not a SaslHandshake response")
    };
    r
}

fn plain(conn: &mut Connection, user: &str, password: &str) -> SaslAuthenticateResponse {
    assert_eq!(handshake(conn, "PLAIN").error_code, NONE);
    let ResponseKind::SaslAuthenticate(r) = conn.request(
        ApiKey::SaslAuthenticate,
        2,
        RequestKind::SaslAuthenticate(
            SaslAuthenticateRequest::default()
                .with_auth_bytes(Bytes::from(format!("\0{user}\0{password}"))),
        ),
    ) else {
        panic!("not a SaslAuthenticate response")
    };
    r
}

fn client_metadata(conn: &mut Connection) -> MetadataResponse {
    let ResponseKind::Metadata(r) = conn.request(
        ApiKey::Metadata,
        12,
        RequestKind::Metadata(MetadataRequest::default().with_topics(None)),
    ) else {
        panic!("not a Metadata response")
    };
    r
}

/// The log without its colour codes.
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The `principal=` of the first log line about `peer` that says `what`.
fn logged_principal(broker: &TestBroker, peer: &str, what: &str) -> String {
    let needle = format!("peer={peer}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = strip_ansi(&broker.log());
        if let Some(line) = log
            .lines()
            .find(|l| l.contains(&needle) && l.contains(what))
        {
            let at = line.find("principal=").unwrap() + "principal=".len();
            let rest = &line[at..];
            let end = rest.find(' ').unwrap_or(rest.len());
            return rest[..end].trim_matches('"').to_string();
        }
        assert!(Instant::now() < deadline, "no `{what}` for {peer}: {log}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn tls_first_then_sasl_and_the_sasl_user_is_the_principal() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("sasl-ssl-ca");
    let (plain_port, secure) = (free_port(), free_port());
    let keystore = ca
        .server("broker")
        .write_keystore(&dir.path().join("server.pem"));
    let truststore = ca.write(&dir.path().join("ca.pem"));
    let settings = [
        format!("listeners=PLAINTEXT://127.0.0.1:{plain_port},SECURE://127.0.0.1:{secure}"),
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SECURE:SASL_SSL".to_string(),
        "inter.broker.listener.name=PLAINTEXT".to_string(),
        "ssl.keystore.type=PEM".to_string(),
        format!("ssl.keystore.location={}", keystore.display()),
        "ssl.truststore.type=PEM".to_string(),
        format!("ssl.truststore.location={}", truststore.display()),
        // KIP-684: on SASL_SSL only the listener's own setting counts.
        "listener.name.secure.ssl.client.auth=required".to_string(),
        format!("sasl.bootstrap.scram={USERS}"),
    ];
    let settings: Vec<&str> = settings.iter().map(String::as_str).collect();
    let broker = TestBroker::start_logging(
        plain_port,
        &settings,
        Some("info,gregor_broker::server=debug,gregor_broker::security::sasl=debug"),
    );
    let client_cert: Identity = ca.client(&[(DnType::CommonName, "alice-cert")]);
    let tls = |identity: Option<&Identity>| {
        let stream = TcpStream::connect(("127.0.0.1", secure)).unwrap();
        Connection::tls(stream, ca.client_config(identity), "localhost")
    };

    // TLS comes first: without a client certificate there is no session,
    // however good the SASL credentials would be.
    let refused = tls(None).and_then(|mut conn| {
        let frame = conn.encode(
            ApiKey::ApiVersions,
            3,
            &RequestKind::ApiVersions(ApiVersionsRequest::default()),
        );
        let mut io = rustls::Stream::new(conn.tls.as_mut().unwrap(), &mut conn.stream);
        io.write_all(&frame)?;
        let mut byte = [0u8; 1];
        io.read(&mut byte)
    });
    assert!(
        matches!(refused, Err(_) | Ok(0)),
        "a client without a certificate was answered"
    );

    // Then the SASL gate: over TLS, nothing but ApiVersions and SASL before
    // authentication.
    let mut conn = tls(Some(&client_cert)).unwrap();
    let frame = conn.encode(
        ApiKey::Metadata,
        12,
        &RequestKind::Metadata(MetadataRequest::default().with_topics(None)),
    );
    conn.send_raw(&frame);
    assert!(conn.read_frame().is_none(), "Metadata served before SASL");

    // Bad credentials over TLS: Kafka's error, then the connection closes.
    let mut conn = tls(Some(&client_cert)).unwrap();
    let refused = plain(&mut conn, "alice", "wrong");
    assert_eq!(refused.error_code, error_codes::SASL_AUTHENTICATION_FAILED);
    assert!(conn.is_closed());

    // TLS and SASL both pass: the connection is served, and its principal
    // is the SASL user, not the certificate's subject.
    let mut conn = tls(Some(&client_cert)).unwrap();
    let done = plain(&mut conn, "alice", "alice-secret");
    assert_eq!(done.error_code, NONE, "{:?}", done.error_message);
    assert!(!client_metadata(&mut conn).brokers.is_empty());
    let peer = conn.stream.local_addr().unwrap().to_string();
    // The certificate was checked but names nobody on SASL_SSL (Kafka's
    // principal builder reads the SASL context there).
    assert_eq!(
        logged_principal(&broker, &peer, "TLS connection established"),
        "User:ANONYMOUS"
    );
    assert_eq!(
        logged_principal(&broker, &peer, "SASL authenticated"),
        "User:alice"
    );
}

fn cluster_specs(ca: &TestCa, dir: &std::path::Path, password: &str) -> Vec<NodeSpec> {
    let ports: Vec<(u16, u16, u16)> = (0..3)
        .map(|_| (free_port(), free_port(), free_port()))
        .collect();
    let truststore = ca.write(&dir.join("ca.pem"));
    // Host names, not addresses: certificates are checked against them.
    let voters = ports
        .iter()
        .enumerate()
        .map(|(i, (_, _, controller))| format!("{}@localhost:{controller}", i + 1))
        .collect::<Vec<_>>()
        .join(",");
    ports
        .iter()
        .enumerate()
        .map(|(i, (client, internal, controller))| {
            let keystore = ca
                .server(&format!("broker-{}", i + 1))
                .write_keystore(&dir.join(format!("node-{}.pem", i + 1)));
            NodeSpec {
                port: *client,
                properties: format!(
                    "process.roles=broker,controller\ncontroller.quorum.voters={voters}\n\
                     listeners=CLIENT://127.0.0.1:{client},INTERNAL://127.0.0.1:{internal},\
                     CONTROLLER://127.0.0.1:{controller}\n\
                     advertised.listeners=CLIENT://127.0.0.1:{client},INTERNAL://localhost:{internal}\n\
                     controller.listener.names=CONTROLLER\ninter.broker.listener.name=INTERNAL\n\
                     listener.security.protocol.map=CLIENT:PLAINTEXT,INTERNAL:SASL_SSL,CONTROLLER:SASL_SSL\n\
                     ssl.keystore.type=PEM\nssl.keystore.location={keystore}\n\
                     ssl.truststore.type=PEM\nssl.truststore.location={truststore}\n\
                     sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512\n\
                     listener.name.internal.sasl.enabled.mechanisms=SCRAM-SHA-512\n\
                     listener.name.internal.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"broker\" password=\"{password}\";\n\
                     sasl.mechanism.controller.protocol=PLAIN\n\
                     listener.name.controller.sasl.enabled.mechanisms=PLAIN\n\
                     listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"controller\" password=\"{password}\" user_controller=\"{password}\";\n\
                     sasl.bootstrap.scram=SCRAM-SHA-512=[name=broker,password={password}]\n",
                    keystore = keystore.display(),
                    truststore = truststore.display(),
                ),
                is_controller_only: false,
            }
        })
        .collect()
}

#[test]
fn nodes_reach_each_other_over_sasl_ssl() {
    std::env::set_var("GREGOR_LOG", "info,gregor_broker::security::sasl=debug");
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("cluster-ca");
    let cluster = ProcessCluster::start(
        cluster_specs(&ca, dir.path(), "node-secret"),
        &[
            "broker.session.timeout.ms=3000",
            "broker.heartbeat.interval.ms=300",
            "replica.fetch.backoff.ms=200",
        ],
    );
    // Registration and heartbeats went to the controllers over TLS + PLAIN.
    for i in 0..3 {
        eventually(30, "every broker registered", || {
            (broker_ids(&metadata(&mut cluster.connect(i), None)).len() == 3).then_some(())
        });
    }
    let mut conn = cluster.connect(0);
    let (code, _) = create_topic(&mut conn, "over-sasl-ssl", 1, 3);
    assert_eq!(code, NONE);
    let leader = eventually(30, "a leader with a full ISR", || {
        let response = metadata(&mut cluster.connect(0), Some(&["over-sasl-ssl"]));
        let p = response.topics.first()?.partitions.first()?.clone();
        (p.leader_id.0 > 0 && p.isr_nodes.len() == 3).then_some(p.leader_id.0)
    });
    let mut to_leader = cluster.connect((leader - 1) as usize);
    produce_values(&mut to_leader, "over-sasl-ssl", 0, 0, ["a", "b", "c"]);
    // The high watermark moves once both followers fetched over TLS + SCRAM.
    eventually(20, "the high watermark at 3", || {
        let latest = list_offsets(
            &mut cluster.connect((leader - 1) as usize),
            "over-sasl-ssl",
            0,
            -1,
        );
        (latest.offset == 3).then_some(())
    });
    // Every node logged the others in by SASL, and the broker user by SCRAM.
    for i in 0..3 {
        let log = strip_ansi(&cluster.log(i));
        assert!(
            log.contains("SASL authenticated") && log.contains("principal=User:controller"),
            "node {}: no PLAIN login to the controller listener: {log}",
            i + 1
        );
        assert!(!log.contains("panicked"), "{log}");
    }
    assert!(
        (0..3).any(|i| strip_ansi(&cluster.log(i)).contains("principal=User:broker")),
        "no SCRAM login on the inter-broker listener"
    );
}
