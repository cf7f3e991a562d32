//! Leader elections and partition reassignments on a real cluster: one
//! dedicated controller (node 1) and three dedicated brokers (nodes 2-4),
//! so brokers can die without taking the quorum with them. Clients talk to
//! brokers, which forward ElectLeaders and the reassignment APIs to the
//! active controller.
//!
//! Most tests here need no data replication (reorders and shrinks complete
//! at once, elections are metadata only). The two that do are marked
//! "needs replication" and pass once followers catch up and join the ISR.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use gregor_protocol::error_codes::*;
use kafka_protocol::messages::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use kafka_protocol::messages::create_topics_request::{CreatableReplicaAssignment, CreatableTopic};
use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::list_partition_reassignments_request::ListPartitionReassignmentsTopics;
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, ApiKey, BrokerId,
    CreateTopicsRequest, ElectLeadersRequest, ElectLeadersResponse, IncrementalAlterConfigsRequest,
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse, RequestKind,
    ResponseKind,
};
use kafka_protocol::protocol::StrBytes;
use support::cluster::{controller_and_brokers_specs, eventually, metadata, ProcessCluster};
use support::{topic_name, Connection};

/// Node 1 controls; nodes 2, 3, 4 (indexes 1, 2, 3) are brokers.
fn start(extra: &[&str]) -> ProcessCluster {
    let specs = controller_and_brokers_specs(3);
    let mut settings = vec![
        "broker.session.timeout.ms=2000",
        "broker.heartbeat.interval.ms=200",
    ];
    settings.extend_from_slice(extra);
    let cluster = ProcessCluster::start(specs, &settings);
    eventually(30, "every broker registered", || {
        let response = metadata(&mut cluster.connect(1), None);
        (response.brokers.len() == 3).then_some(())
    });
    cluster
}

/// The index of broker `id` in the cluster.
fn index(id: i32) -> usize {
    id as usize - 1
}

fn create(conn: &mut Connection, topic: &str, assignments: &[&[i32]]) {
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(15000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(topic_name(topic))
            .with_num_partitions(-1)
            .with_replication_factor(-1)
            .with_assignments(
                assignments
                    .iter()
                    .enumerate()
                    .map(|(p, replicas)| {
                        CreatableReplicaAssignment::default()
                            .with_partition_index(p as i32)
                            .with_broker_ids(replicas.iter().map(|&b| BrokerId(b)).collect())
                    })
                    .collect(),
            )]);
    let ResponseKind::CreateTopics(response) =
        conn.request(ApiKey::CreateTopics, 7, RequestKind::CreateTopics(request))
    else {
        panic!("wrong response type")
    };
    assert_eq!(response.topics[0].error_code, NONE, "{response:?}");
}

fn elect(
    conn: &mut Connection,
    election_type: i8,
    wanted: Option<&[(&str, &[i32])]>,
) -> ElectLeadersResponse {
    let request = ElectLeadersRequest::default()
        .with_election_type(election_type)
        .with_timeout_ms(10000)
        .with_topic_partitions(wanted.map(|w| {
            w.iter()
                .map(|(t, ps)| {
                    TopicPartitions::default()
                        .with_topic(topic_name(t))
                        .with_partitions(ps.to_vec())
                })
                .collect()
        }));
    let ResponseKind::ElectLeaders(response) =
        conn.request(ApiKey::ElectLeaders, 2, RequestKind::ElectLeaders(request))
    else {
        panic!("wrong response type")
    };
    response
}

/// (topic, partition, code) of every result, in order.
fn election_codes(response: &ElectLeadersResponse) -> Vec<(String, i32, i16)> {
    response
        .replica_election_results
        .iter()
        .flat_map(|t| {
            t.partition_result
                .iter()
                .map(move |p| (t.topic.0.to_string(), p.partition_id, p.error_code))
        })
        .collect()
}

fn reassign(
    conn: &mut Connection,
    items: &[(&str, i32, Option<&[i32]>)],
    allow_rf_change: bool,
) -> AlterPartitionReassignmentsResponse {
    let topics = items
        .iter()
        .map(|(t, p, replicas)| {
            ReassignableTopic::default()
                .with_name(topic_name(t))
                .with_partitions(vec![ReassignablePartition::default()
                    .with_partition_index(*p)
                    .with_replicas(
                        replicas.map(|r| r.iter().map(|&b| BrokerId(b)).collect()),
                    )])
        })
        .collect();
    let request = AlterPartitionReassignmentsRequest::default()
        .with_timeout_ms(10000)
        .with_allow_replication_factor_change(allow_rf_change)
        .with_topics(topics);
    let ResponseKind::AlterPartitionReassignments(response) = conn.request(
        ApiKey::AlterPartitionReassignments,
        1,
        RequestKind::AlterPartitionReassignments(request),
    ) else {
        panic!("wrong response type")
    };
    response
}

fn reassign_codes(response: &AlterPartitionReassignmentsResponse) -> Vec<i16> {
    assert_eq!(response.error_code, NONE, "{response:?}");
    response
        .responses
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
        .collect()
}

fn list(
    conn: &mut Connection,
    wanted: Option<&[(&str, &[i32])]>,
) -> ListPartitionReassignmentsResponse {
    let request = ListPartitionReassignmentsRequest::default()
        .with_timeout_ms(10000)
        .with_topics(wanted.map(|w| {
            w.iter()
                .map(|(t, ps)| {
                    ListPartitionReassignmentsTopics::default()
                        .with_name(topic_name(t))
                        .with_partition_indexes(ps.to_vec())
                })
                .collect()
        }));
    let ResponseKind::ListPartitionReassignments(response) = conn.request(
        ApiKey::ListPartitionReassignments,
        0,
        RequestKind::ListPartitionReassignments(request),
    ) else {
        panic!("wrong response type")
    };
    assert_eq!(response.error_code, NONE, "{response:?}");
    response
}

/// (replicas, isr, leader, leader epoch) of a partition, as broker `via` sees it.
fn state(
    cluster: &ProcessCluster,
    via: usize,
    topic: &str,
    partition: i32,
) -> (Vec<i32>, Vec<i32>, i32, i32) {
    let response = metadata(&mut cluster.connect(via), Some(&[topic]));
    let p = response.topics[0]
        .partitions
        .iter()
        .find(|p| p.partition_index == partition)
        .unwrap();
    (
        p.replica_nodes.iter().map(|b| b.0).collect(),
        p.isr_nodes.iter().map(|b| b.0).collect(),
        p.leader_id.0,
        p.leader_epoch,
    )
}

/// Every broker in `via` sees the partition in this state (leader epoch aside).
fn wait_state(
    cluster: &ProcessCluster,
    via: &[usize],
    topic: &str,
    partition: i32,
    replicas: &[i32],
    isr: &[i32],
    leader: i32,
) {
    eventually(
        20,
        &format!("{topic}-{partition} at {replicas:?} {isr:?} {leader}"),
        || {
            via.iter()
                .all(|&i| {
                    let (r, mut s, l, _) = state(cluster, i, topic, partition);
                    s.sort();
                    r == replicas && s == isr && l == leader
                })
                .then_some(())
        },
    );
}

fn set_topic_config(conn: &mut Connection, topic: &str, key: &str, value: &str) {
    let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_string(topic.into()))
            .with_configs(vec![AlterableConfig::default()
                .with_name(StrBytes::from_string(key.into()))
                .with_config_operation(0)
                .with_value(Some(StrBytes::from_string(value.into())))]),
    ]);
    let ResponseKind::IncrementalAlterConfigs(response) = conn.request(
        ApiKey::IncrementalAlterConfigs,
        1,
        RequestKind::IncrementalAlterConfigs(request),
    ) else {
        panic!("wrong response type")
    };
    assert_eq!(response.responses[0].error_code, NONE, "{response:?}");
}

#[test]
fn preferred_elections_follow_a_reordered_replica_list() {
    let cluster = start(&["auto.leader.rebalance.enable=false"]);
    let conn = &mut cluster.connect(index(2));
    create(conn, "pref", &[&[2, 3, 4], &[3, 4, 2]]);
    wait_state(&cluster, &[1, 2, 3], "pref", 0, &[2, 3, 4], &[2, 3, 4], 2);
    let (_, _, _, epoch) = state(&cluster, 1, "pref", 0);

    // A reorder of in-sync replicas completes at once; the leader stays.
    assert_eq!(
        reassign_codes(&reassign(conn, &[("pref", 0, Some(&[4, 3, 2]))], true)),
        [NONE]
    );
    wait_state(&cluster, &[1, 2, 3], "pref", 0, &[4, 3, 2], &[2, 3, 4], 2);
    assert!(list(conn, None).topics.is_empty());

    let response = elect(conn, 0, Some(&[("pref", &[0, 1, 9]), ("nope", &[0])]));
    assert_eq!(response.error_code, NONE);
    assert_eq!(
        election_codes(&response),
        [
            ("pref".into(), 0, NONE),
            ("pref".into(), 1, ELECTION_NOT_NEEDED),
            ("pref".into(), 9, UNKNOWN_TOPIC_OR_PARTITION),
            ("nope".into(), 0, UNKNOWN_TOPIC_OR_PARTITION),
        ]
    );
    wait_state(&cluster, &[1, 2, 3], "pref", 0, &[4, 3, 2], &[2, 3, 4], 4);
    assert_eq!(
        state(&cluster, 1, "pref", 0).3,
        epoch + 1,
        "a new leader epoch"
    );

    // All partitions (null): every one is already led by its preferred replica.
    let all = elect(conn, 0, None);
    assert!(
        election_codes(&all).iter().all(|(t, _, _)| t != "pref"),
        "{all:?}"
    );
    // Unclean elections are for leaderless partitions only.
    assert_eq!(
        election_codes(&elect(conn, 1, Some(&[("pref", &[0])]))),
        [("pref".into(), 0, ELECTION_NOT_NEEDED)]
    );
    // An election type Kafka does not know.
    let bad = elect(conn, 7, Some(&[("pref", &[0])]));
    assert_eq!(bad.error_code, INVALID_REQUEST);
}

#[test]
fn the_controller_moves_leadership_back_to_preferred_replicas_on_its_own() {
    let cluster = start(&["leader.imbalance.check.interval.seconds=1"]);
    let conn = &mut cluster.connect(index(3));
    create(conn, "auto", &[&[2, 3]]);
    wait_state(&cluster, &[1, 2, 3], "auto", 0, &[2, 3], &[2, 3], 2);
    assert_eq!(
        reassign_codes(&reassign(conn, &[("auto", 0, Some(&[3, 2]))], true)),
        [NONE]
    );
    // No ElectLeaders: the rebalance timer does it.
    wait_state(&cluster, &[1, 2, 3], "auto", 0, &[3, 2], &[2, 3], 3);
}

#[test]
fn reassignments_are_validated_listed_cancelled_and_shrink_at_once() {
    let cluster = start(&[]);
    let conn = &mut cluster.connect(index(2));
    create(conn, "move", &[&[2, 3]]);
    create(conn, "shrink", &[&[2, 3, 4]]);
    wait_state(&cluster, &[1, 2, 3], "shrink", 0, &[2, 3, 4], &[2, 3, 4], 2);

    let codes = reassign_codes(&reassign(
        conn,
        &[
            ("move", 0, Some(&[2, 9])),
            ("move", 0, Some(&[2, 2])),
            ("move", 0, Some(&[])),
            ("move", 7, Some(&[2])),
            ("nope", 0, Some(&[2])),
            ("move", 0, None),
        ],
        true,
    ));
    assert_eq!(
        codes,
        [
            INVALID_REPLICA_ASSIGNMENT,
            INVALID_REPLICA_ASSIGNMENT,
            INVALID_REPLICA_ASSIGNMENT,
            UNKNOWN_TOPIC_OR_PARTITION,
            UNKNOWN_TOPIC_OR_PARTITION,
            NO_REASSIGNMENT_IN_PROGRESS,
        ]
    );
    // Replication factor 3 -> 2 dropping the leader: done at once, 3 leads.
    assert_eq!(
        reassign_codes(&reassign(conn, &[("shrink", 0, Some(&[3, 4]))], true)),
        [NONE]
    );
    wait_state(&cluster, &[1, 2, 3], "shrink", 0, &[3, 4], &[3, 4], 3);

    // KIP-860: a size change refused when the client says so.
    assert_eq!(
        reassign_codes(&reassign(conn, &[("move", 0, Some(&[2, 3, 4]))], false)),
        [INVALID_REPLICATION_FACTOR]
    );

    // Adding a replica on a paused broker: it cannot catch up, so the
    // reassignment stays in progress (with or without replication).
    cluster.signal(index(4), "STOP");
    assert_eq!(
        reassign_codes(&reassign(conn, &[("move", 0, Some(&[3, 4]))], true)),
        [NONE]
    );
    let listed = list(conn, None);
    assert_eq!(listed.topics.len(), 1, "{listed:?}");
    let p = &listed.topics[0].partitions[0];
    let ids = |v: &[BrokerId]| v.iter().map(|b| b.0).collect::<Vec<_>>();
    assert_eq!(
        (
            p.partition_index,
            ids(&p.replicas),
            ids(&p.adding_replicas),
            ids(&p.removing_replicas)
        ),
        (0, vec![3, 4, 2], vec![4], vec![2])
    );
    assert_eq!(
        list(
            conn,
            Some(&[("move", &[1]), ("shrink", &[0]), ("nope", &[0])])
        )
        .topics
        .len(),
        0
    );
    wait_state(&cluster, &[1, 2], "move", 0, &[3, 4, 2], &[2, 3], 2);
    // Cancel: 4 leaves; as in Kafka the rest keeps its current order.
    assert_eq!(
        reassign_codes(&reassign(conn, &[("move", 0, None)], true)),
        [NONE]
    );
    wait_state(&cluster, &[1, 2], "move", 0, &[3, 2], &[2, 3], 2);
    assert!(list(conn, None).topics.is_empty());
    cluster.signal(index(4), "CONT");
}

#[test]
fn unclean_elections_revive_a_partition_whose_isr_is_gone() {
    let mut cluster = start(&[]);
    let conn = &mut cluster.connect(index(4));
    create(conn, "lost", &[&[2, 3], &[2, 3]]);
    wait_state(&cluster, &[3], "lost", 0, &[2, 3], &[2, 3], 2);
    cluster.kill(index(2));
    wait_state(&cluster, &[3], "lost", 0, &[2, 3], &[3], 3);
    cluster.kill(index(3));
    // A new cluster has eligible leader replicas on (as Kafka 4.4): the ISR
    // empties and 3 is kept in the ELR instead (tests/elr.rs).
    wait_state(&cluster, &[3], "lost", 0, &[2, 3], &[], -1);
    wait_state(&cluster, &[3], "lost", 1, &[2, 3], &[], -1);
    // 2 comes back, out of sync: no clean election can pick it.
    cluster.spawn(index(2));
    cluster.wait_listening(index(2));
    eventually(20, "broker 2 back", || {
        metadata(&mut cluster.connect(index(4)), None)
            .brokers
            .iter()
            .any(|b| b.node_id.0 == 2)
            .then_some(())
    });
    let conn = &mut cluster.connect(index(4));
    assert_eq!(
        election_codes(&elect(conn, 0, Some(&[("lost", &[0])]))),
        [("lost".into(), 0, PREFERRED_LEADER_NOT_AVAILABLE)]
    );
    assert_eq!(
        election_codes(&elect(conn, 1, Some(&[("lost", &[0])]))),
        [("lost".into(), 0, NONE)]
    );
    wait_state(&cluster, &[1, 3], "lost", 0, &[2, 3], &[2], 2);
    // Partition 1: allowing unclean elections on the topic elects at once.
    set_topic_config(conn, "lost", "unclean.leader.election.enable", "true");
    wait_state(&cluster, &[1, 3], "lost", 1, &[2, 3], &[2], 2);
}

/// Needs replication: the paused broker rejoins the ISR once it has caught
/// up, then a preferred election (and the rebalance timer) hands its
/// leaderships back.
#[test]
fn preferred_leadership_returns_after_a_failover() {
    let cluster = start(&["leader.imbalance.check.interval.seconds=1"]);
    let conn = &mut cluster.connect(index(3));
    create(conn, "back", &[&[2, 3, 4], &[2, 4, 3]]);
    wait_state(&cluster, &[1, 2, 3], "back", 0, &[2, 3, 4], &[2, 3, 4], 2);
    cluster.signal(index(2), "STOP");
    wait_state(&cluster, &[2, 3], "back", 0, &[2, 3, 4], &[3, 4], 3);
    wait_state(&cluster, &[2, 3], "back", 1, &[2, 4, 3], &[3, 4], 4);
    cluster.signal(index(2), "CONT");
    // Back in sync and leading its preferred partitions again.
    wait_state(&cluster, &[1, 2, 3], "back", 0, &[2, 3, 4], &[2, 3, 4], 2);
    wait_state(&cluster, &[1, 2, 3], "back", 1, &[2, 4, 3], &[2, 3, 4], 2);
    let response = elect(conn, 0, Some(&[("back", &[0, 1])]));
    assert_eq!(
        election_codes(&response),
        [
            ("back".into(), 0, ELECTION_NOT_NEEDED),
            ("back".into(), 1, ELECTION_NOT_NEEDED)
        ]
    );
}

/// Needs replication: new replicas catch up, join the ISR, and the
/// reassignment completes (replication factor 1 -> 3, then a move off the
/// leader).
#[test]
fn a_reassignment_adding_replicas_completes_once_they_catch_up() {
    let cluster = start(&[]);
    let conn = &mut cluster.connect(index(2));
    create(conn, "grow", &[&[2]]);
    wait_state(&cluster, &[1, 2, 3], "grow", 0, &[2], &[2], 2);
    assert_eq!(
        reassign_codes(&reassign(conn, &[("grow", 0, Some(&[2, 3, 4]))], true)),
        [NONE]
    );
    wait_state(&cluster, &[1, 2, 3], "grow", 0, &[2, 3, 4], &[2, 3, 4], 2);
    eventually(20, "no reassignment in progress", || {
        list(conn, None).topics.is_empty().then_some(())
    });
    assert_eq!(
        reassign_codes(&reassign(conn, &[("grow", 0, Some(&[4, 3]))], true)),
        [NONE]
    );
    wait_state(&cluster, &[1, 2, 3], "grow", 0, &[4, 3], &[3, 4], 4);
}

fn cli(cluster: &ProcessCluster, args: &[&str]) -> std::process::Output {
    std::process::Command::new(support::gregor_bin())
        .args(args)
        .arg("--bootstrap-server")
        .arg(format!("127.0.0.1:{}", cluster.nodes[index(3)].port))
        .output()
        .unwrap()
}

#[test]
fn the_cli_reassigns_lists_and_elects_with_one_line_errors() {
    let cluster = start(&["auto.leader.rebalance.enable=false"]);
    create(&mut cluster.connect(index(2)), "clip", &[&[2, 3]]);
    wait_state(&cluster, &[1, 2, 3], "clip", 0, &[2, 3], &[2, 3], 2);
    let run = |args: &[&str]| {
        let out = cli(&cluster, args);
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        (out.status.success(), stdout, stderr)
    };
    let (ok, stdout, stderr) = run(&[
        "partition",
        "reassign",
        "--topic",
        "clip",
        "--partition",
        "0",
        "--replicas",
        "3,2",
    ]);
    assert!(ok, "{stderr}");
    assert_eq!(stdout, "Reassignment of clip-0 to [3,2] started.\n");
    wait_state(&cluster, &[1, 2, 3], "clip", 0, &[3, 2], &[2, 3], 2);
    let (ok, stdout, _) = run(&["partition", "reassignments"]);
    assert!(ok && stdout.is_empty(), "{stdout}");
    let elect = [
        "partition",
        "elect-leaders",
        "--election-type",
        "preferred",
        "--topic",
        "clip",
    ];
    let (ok, stdout, stderr) = run(&elect);
    assert!(ok, "{stderr}");
    assert_eq!(
        stdout,
        "Successfully completed leader election (PREFERRED) for partitions clip-0\n"
    );
    let (ok, stdout, _) = run(&elect);
    assert!(ok);
    assert_eq!(
        stdout,
        "Valid replica already elected for partitions clip-0\n"
    );
    for (args, expected) in [
        (
            vec![
                "partition",
                "elect-leaders",
                "--election-type",
                "bogus",
                "--all-topic-partitions",
            ],
            "--election-type",
        ),
        (
            vec!["partition", "elect-leaders", "--election-type", "preferred"],
            "--topic",
        ),
        (
            vec![
                "partition",
                "reassign",
                "--topic",
                "clip",
                "--partition",
                "0",
                "--replicas",
                "x",
            ],
            "--replicas",
        ),
        (
            vec![
                "partition",
                "reassign",
                "--topic",
                "clip",
                "--partition",
                "0",
                "--cancel",
            ],
            "NO_REASSIGNMENT_IN_PROGRESS",
        ),
        (
            vec![
                "partition",
                "reassign",
                "--topic",
                "clip",
                "--partition",
                "0",
                "--replicas",
                "2,9",
            ],
            "INVALID_REPLICA_ASSIGNMENT",
        ),
    ] {
        let (ok, _, stderr) = run(&args);
        assert!(!ok, "{args:?}");
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

/// Per-broker configs (what `kafka-reassign-partitions --throttle` sets on
/// every broker) are sent to that broker, which forwards them to the
/// controller; another broker's id is refused where it arrives.
#[test]
fn per_broker_throttles_go_through_their_broker() {
    let cluster = start(&[]);
    create(&mut cluster.connect(index(2)), "throttled", &[&[2, 3]]);
    let alter = |via: usize, resource: &str| {
        let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(4)
                .with_resource_name(StrBytes::from_string(resource.into()))
                .with_configs(vec![AlterableConfig::default()
                    .with_name(StrBytes::from_string(
                        "leader.replication.throttled.rate".into(),
                    ))
                    .with_config_operation(0)
                    .with_value(Some(StrBytes::from_string("1000".into())))]),
        ]);
        let ResponseKind::IncrementalAlterConfigs(response) = cluster.connect(via).request(
            ApiKey::IncrementalAlterConfigs,
            1,
            RequestKind::IncrementalAlterConfigs(request),
        ) else {
            panic!("wrong response type")
        };
        response.responses[0].error_code
    };
    for id in [2, 3, 4] {
        assert_eq!(alter(index(id), &id.to_string()), NONE, "broker {id}");
    }
    assert_eq!(alter(index(2), "3"), INVALID_REQUEST);
    set_topic_config(
        &mut cluster.connect(index(2)),
        "throttled",
        "leader.replication.throttled.replicas",
        "0:2,0:3",
    );
}
