//! A three-node cluster whose inter-broker and controller listeners are SSL
//! with client certificates required: the quorum elects and replicates over
//! TLS, followers fetch over TLS (acks=all produce completes), and every
//! node presents its own certificate to the others.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use gregor_protocol::error_codes::NONE;
use support::certs::TestCa;
use support::cluster::{NodeSpec, ProcessCluster};
use support::security::{
    create_in_sync, secured_specs, server_keystore, tls_properties, wait_registered,
};
use support::{free_port, produce_batch};

/// Three nodes whose INTERNAL and CONTROLLER listeners are SSL with client
/// certificates required, each with its own certificate (CN broker-N).
fn tls_specs(ca: &TestCa, dir: &std::path::Path) -> Vec<NodeSpec> {
    let truststore = ca.write(&dir.join("ca.pem"));
    secured_specs(3, "localhost", "SSL", "SSL", |i| {
        let keystore = server_keystore(ca, dir, &format!("broker-{}", i + 1));
        tls_properties(&keystore, &truststore) + "ssl.client.auth=required\n"
    })
}

/// One dedicated controller (node 1) and two broker-only nodes; the
/// controller listener and the inter-broker listener are SSL.
fn dedicated_controller_specs(ca: &TestCa, dir: &std::path::Path) -> Vec<NodeSpec> {
    let truststore = ca.write(&dir.join("ca.pem"));
    let controller = free_port();
    (0..3)
        .map(|i| {
            let keystore = server_keystore(ca, dir, &format!("node-{}", i + 1));
            let common = format!(
                "controller.quorum.voters=1@localhost:{controller}
controller.listener.names=CONTROLLER
                 ssl.keystore.location={}
ssl.truststore.location={}
ssl.client.auth=required
",
                keystore.display(),
                truststore.display()
            );
            if i == 0 {
                return NodeSpec {
                    port: controller,
                    properties: format!(
                        "process.roles=controller
listeners=CONTROLLER://127.0.0.1:{controller}
                         listener.security.protocol.map=CONTROLLER:SSL
{common}"
                    ),
                    is_controller_only: true,
                };
            }
            let (client, internal) = (free_port(), free_port());
            NodeSpec {
                port: client,
                properties: format!(
                    "process.roles=broker
                     listeners=PLAINTEXT://127.0.0.1:{client},INTERNAL://127.0.0.1:{internal}
                     advertised.listeners=PLAINTEXT://127.0.0.1:{client},INTERNAL://localhost:{internal}
                     inter.broker.listener.name=INTERNAL
                     listener.security.protocol.map=PLAINTEXT:PLAINTEXT,INTERNAL:SSL,CONTROLLER:SSL
{common}"
                ),
                is_controller_only: false,
            }
        })
        .collect()
}

#[test]
fn brokers_reach_a_dedicated_controller_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("cluster-ca");
    let cluster = ProcessCluster::start(dedicated_controller_specs(&ca, dir.path()), &[]);
    // Both brokers registered and heartbeat over TLS to the controller;
    // CreateTopics is forwarded to the controller over TLS.
    wait_registered(&cluster, 1..2, 2);
    let leader = create_in_sync(&cluster, 1, "on-brokers", 2);
    assert_eq!(
        produce_batch(
            &mut cluster.connect(leader),
            "on-brokers",
            0,
            -1,
            0,
            ["x", "y"]
        ),
        NONE
    );
}

#[test]
fn inter_broker_and_controller_traffic_over_tls() {
    // Each node's log names the principals of the connections it accepted.
    // Both tests of this binary set the same value.
    std::env::set_var("GREGOR_LOG", "info,gregor_broker::server=debug");
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("cluster-ca");
    let cluster = ProcessCluster::start(tls_specs(&ca, dir.path()), &[]);
    // All three brokers registered: heartbeats went over TLS.
    wait_registered(&cluster, 0..1, 3);
    let leader = create_in_sync(&cluster, 0, "replicated", 3);
    // acks=all completes only once both followers fetched over TLS.
    assert_eq!(
        produce_batch(
            &mut cluster.connect(leader),
            "replicated",
            0,
            -1,
            0,
            ["a", "b", "c"]
        ),
        NONE
    );
    // Each node saw the others' certificates (mutual TLS between nodes).
    for i in 0..3 {
        let log = cluster.log(i);
        let others: Vec<String> = (1..=3)
            .filter(|n| *n != i + 1)
            .map(|n| format!("User:CN=broker-{n}"))
            .collect();
        assert!(
            others.iter().any(|p| log.contains(p.as_str())),
            "node {} saw no peer certificate: {log}",
            i + 1
        );
        assert!(!log.contains("panicked"), "{log}");
    }
}
