//! SASL_SSL, where the TLS and SASL halves of issue 14 meet: on a single
//! broker the TLS handshake comes first (the listener's own ssl.client.auth
//! applies), then the SASL gate, and the SASL user is the principal even
//! when the client presented a certificate; in a three-node cluster the
//! inter-broker (SCRAM-SHA-512) and controller (PLAIN) listeners are both
//! SASL_SSL, so registration, the quorum and acks=all replication all go
//! through TLS then SASL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use gregor_protocol::error_codes::{self, NONE};
use rcgen::DnType;
use support::certs::{Identity, TestCa};
use support::cluster::{metadata, NodeSpec, ProcessCluster};
use support::produce_values;
use support::security::{
    create_in_sync, expect_metadata_closed, logged_principal, plain_login, refused_over_tls,
    sasl_properties, secured_specs, server_keystore, strip_ansi, tls_properties, tls_settings,
    wait_high_watermark, wait_registered, SecureBroker,
};

const USERS: &str = "SCRAM-SHA-256=[name=alice,password=alice-secret]";

#[test]
fn tls_first_then_sasl_and_the_sasl_user_is_the_principal() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("sasl-ssl-ca");
    let mut settings = tls_settings(dir.path(), &ca, &ca.server("broker"));
    settings.extend([
        // KIP-684: on SASL_SSL only the listener's own setting counts.
        "listener.name.secure.ssl.client.auth=required".to_string(),
        format!("sasl.bootstrap.scram={USERS}"),
    ]);
    let node = SecureBroker::start(
        "SECURE",
        "SASL_SSL",
        &settings,
        Some("info,gregor_broker::server=debug,gregor_broker::security::sasl=debug"),
    );
    let client_cert: Identity = ca.client(&[(DnType::CommonName, "alice-cert")]);
    let tls = |identity: Option<&Identity>| node.tls(&ca, identity);

    // TLS comes first: without a client certificate there is no session,
    // however good the SASL credentials would be.
    assert!(
        refused_over_tls(tls(None)),
        "a client without a certificate was answered"
    );

    // Then the SASL gate: over TLS, nothing but ApiVersions and SASL before
    // authentication.
    let mut conn = tls(Some(&client_cert)).unwrap();
    expect_metadata_closed(&mut conn);

    // Bad credentials over TLS: Kafka's error, then the connection closes.
    let mut conn = tls(Some(&client_cert)).unwrap();
    let refused = plain_login(&mut conn, "alice", "wrong");
    assert_eq!(refused.error_code, error_codes::SASL_AUTHENTICATION_FAILED);
    assert!(conn.is_closed());

    // TLS and SASL both pass: the connection is served, and its principal
    // is the SASL user, not the certificate's subject.
    let mut conn = tls(Some(&client_cert)).unwrap();
    let done = plain_login(&mut conn, "alice", "alice-secret");
    assert_eq!(done.error_code, NONE, "{:?}", done.error_message);
    assert!(!metadata(&mut conn, None).brokers.is_empty());
    let peer = conn.stream.local_addr().unwrap().to_string();
    // The certificate was checked but names nobody on SASL_SSL (Kafka's
    // principal builder reads the SASL context there).
    assert_eq!(
        logged_principal(&node.broker, &peer, "TLS connection established"),
        "User:ANONYMOUS"
    );
    assert_eq!(
        logged_principal(&node.broker, &peer, "SASL authenticated"),
        "User:alice"
    );
}

/// Three nodes whose INTERNAL and CONTROLLER listeners are SASL_SSL, each
/// with its own certificate (CN broker-N).
fn cluster_specs(ca: &TestCa, dir: &std::path::Path, password: &str) -> Vec<NodeSpec> {
    let truststore = ca.write(&dir.join("ca.pem"));
    secured_specs(3, "localhost", "SASL_SSL", "SASL_SSL", |i| {
        let keystore = server_keystore(ca, dir, &format!("broker-{}", i + 1));
        tls_properties(&keystore, &truststore) + &sasl_properties(password, password)
    })
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
    wait_registered(&cluster, 0..3, 3);
    let leader = create_in_sync(&cluster, 0, "over-sasl-ssl", 3);
    produce_values(
        &mut cluster.connect(leader),
        "over-sasl-ssl",
        0,
        0,
        ["a", "b", "c"],
    );
    // The high watermark moves once both followers fetched over TLS + SCRAM.
    wait_high_watermark(&cluster, leader, "over-sasl-ssl", 3);
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
