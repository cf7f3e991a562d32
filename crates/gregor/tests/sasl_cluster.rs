//! Brokers and controllers logging in to each other with SASL: three real
//! combined nodes whose inter-broker listener is SASL_PLAINTEXT with
//! SCRAM-SHA-512 (a bootstrap user in the metadata log) and whose
//! controller listener is SASL_PLAINTEXT with PLAIN (a static user of the
//! listener's JAAS config, as Kafka's controllers need: the quorum must
//! elect a leader before any SCRAM user exists). Registration, the quorum,
//! and RF=3 replication all work; a node with a wrong password cannot join.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::cluster::{broker_ids, metadata, NodeSpec, ProcessCluster};
use support::produce_values;
use support::security::{
    create_in_sync, sasl_properties, secured_specs, wait_high_watermark, wait_registered,
};

const BROKER_PASSWORD: &str = "broker-secret";

/// `size` nodes whose INTERNAL and CONTROLLER listeners are
/// SASL_PLAINTEXT; node `i` logs in with `node_password(i)`.
fn specs(size: usize, node_password: impl Fn(usize) -> &'static str) -> Vec<NodeSpec> {
    secured_specs(size, "127.0.0.1", "SASL_PLAINTEXT", "SASL_PLAINTEXT", |i| {
        sasl_properties(node_password(i), BROKER_PASSWORD)
    })
}

const SETTINGS: &[&str] = &[
    "broker.session.timeout.ms=3000",
    "broker.heartbeat.interval.ms=300",
    "replica.fetch.backoff.ms=200",
];

#[test]
fn nodes_authenticate_to_each_other() {
    // Sessions of 1.5 s: followers, raft peers and heartbeats must
    // re-authenticate (KIP-368) to go on.
    let mut settings = SETTINGS.to_vec();
    settings.push("connections.max.reauth.ms=1500");
    let cluster = ProcessCluster::start(specs(3, |_| BROKER_PASSWORD), &settings);
    wait_registered(&cluster, 0..3, 3);
    let leader = create_in_sync(&cluster, 0, "over-sasl", 3);
    produce_values(
        &mut cluster.connect(leader),
        "over-sasl",
        0,
        0,
        ["a", "b", "c"],
    );
    // The high watermark moves only once every ISR member (both followers,
    // fetching over SCRAM) has the records.
    wait_high_watermark(&cluster, leader, "over-sasl", 3);
    // Several session lifetimes later, replication still goes on.
    std::thread::sleep(std::time::Duration::from_secs(4));
    produce_values(&mut cluster.connect(leader), "over-sasl", 0, 0, ["d"]);
    wait_high_watermark(&cluster, leader, "over-sasl", 4);
    let p = metadata(&mut cluster.connect(0), Some(&["over-sasl"])).topics[0].partitions[0].clone();
    assert_eq!(p.isr_nodes.len(), 3);
    for i in 0..3 {
        assert!(
            !cluster.log(i).contains("SASL session expired"),
            "{}",
            cluster.log(i)
        );
    }
    assert!(
        !cluster.log(0).contains("refused SASL"),
        "{}",
        cluster.log(0)
    );
}

#[test]
fn a_node_with_the_wrong_password_cannot_join() {
    // Node 3 logs in with a wrong password on both listeners.
    let mut specs = specs(3, |i| if i == 2 { "wrong" } else { BROKER_PASSWORD });
    let odd = specs.pop().unwrap();
    let cluster = ProcessCluster::start(specs, SETTINGS);
    wait_registered(&cluster, 0..2, 2);
    // Start the odd one by hand: it never gets to serve.
    let dir = tempfile::tempdir().unwrap();
    let properties = dir.path().join("server.properties");
    std::fs::write(
        &properties,
        format!(
            "{}node.id=3\nlog.dirs={}\n{}\n",
            odd.properties,
            dir.path().join("data").display(),
            SETTINGS.join("\n")
        ),
    )
    .unwrap();
    // Formatted for the same cluster, so only SASL keeps it out.
    let meta =
        std::fs::read_to_string(cluster.nodes[0].dir.join("data").join("meta.properties")).unwrap();
    let cluster_id = meta
        .lines()
        .find_map(|l| l.strip_prefix("cluster.id="))
        .unwrap()
        .to_string();
    support::cluster::format(&properties, &cluster_id);
    let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
    let mut child = std::process::Command::new(support::gregor_bin())
        .args(["server", "--config"])
        .arg(&properties)
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(5));
    let ids = broker_ids(&metadata(&mut cluster.connect(0), None));
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(ids, vec![1, 2]);
    let text = std::fs::read_to_string(dir.path().join("server.log")).unwrap();
    assert!(!text.contains("gregor broker started"), "{text}");
    // The others refused its logins (PLAIN to the controllers).
    let refusals = (0..2)
        .map(|i| cluster.log(i))
        .filter(|log| log.contains("SASL authentication failed"))
        .count();
    assert!(refusals > 0, "{}", cluster.log(0));
}
