//! Group coordinator failover on a real three-node cluster: the coordinator
//! of a group is the leader of its `__consumer_offsets` partition (RF 3 by
//! default in a cluster). When that broker is killed with SIGKILL, another replica
//! becomes leader, loads the partition and serves the group with the same
//! committed offsets, generation and member epochs; every other broker
//! answers NOT_COORDINATOR.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use bytes::Bytes;
use gregor_protocol::error_codes::{NONE, NOT_COORDINATOR};
use kafka_protocol::messages::consumer_group_heartbeat_request::TopicPartitions;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use support::cluster::{broker_ids, combined_specs, create_topic, eventually, metadata};
use support::cluster::{ProcessCluster, GROUP_KEY};
use support::{topic_name, Connection};

const GROUP: &str = "failover-group";
const CONSUMER_GROUP: &str = "failover-cg";
const TOPIC: &str = "events";

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// FindCoordinator for a group through node `via`: (error, coordinator id).
fn find_coordinator(cluster: &ProcessCluster, via: usize, group: &str) -> (i16, i32) {
    support::cluster::find_coordinator(cluster, via, GROUP_KEY, group)
}

/// OffsetFetch v7 of every committed offset: (error, [(partition, offset, metadata)]).
fn fetch(conn: &mut Connection, group: &str) -> (i16, Vec<(i32, i64, String)>) {
    fetch_with(conn, group, false)
}

/// `fetch`, with `require_stable` as given (read_committed consumers set it).
fn fetch_with(
    conn: &mut Connection,
    group: &str,
    require_stable: bool,
) -> (i16, Vec<(i32, i64, String)>) {
    let request = OffsetFetchRequest::default()
        .with_require_stable(require_stable)
        .with_group_id(GroupId(s(group)))
        .with_topics(Some(vec![OffsetFetchRequestTopic::default()
            .with_name(topic_name(TOPIC))
            .with_partition_indexes(vec![0, 1, 2])]));
    let ResponseKind::OffsetFetch(r) =
        conn.request(ApiKey::OffsetFetch, 7, RequestKind::OffsetFetch(request))
    else {
        panic!("not an OffsetFetch response")
    };
    let offsets = r
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter())
        .map(|p| {
            let metadata = p.metadata.as_deref().unwrap_or_default().to_string();
            (p.partition_index, p.committed_offset, metadata)
        })
        .collect();
    (r.error_code, offsets)
}

fn join(conn: &mut Connection, member_id: &str) -> JoinGroupResponse {
    let request = JoinGroupRequest::default()
        .with_group_id(GroupId(s(GROUP)))
        .with_session_timeout_ms(30_000)
        .with_rebalance_timeout_ms(30_000)
        .with_member_id(s(member_id))
        .with_protocol_type(s("test"))
        .with_protocols(vec![JoinGroupRequestProtocol::default()
            .with_name(s("only"))
            .with_metadata(Bytes::from_static(b"subscription"))]);
    let ResponseKind::JoinGroup(r) =
        conn.request(ApiKey::JoinGroup, 7, RequestKind::JoinGroup(request))
    else {
        panic!("not a JoinGroup response")
    };
    r
}

fn sync(conn: &mut Connection, member_id: &str, generation: i32) -> SyncGroupResponse {
    let request = SyncGroupRequest::default()
        .with_group_id(GroupId(s(GROUP)))
        .with_generation_id(generation)
        .with_member_id(s(member_id))
        .with_protocol_type(Some(s("test")))
        .with_protocol_name(Some(s("only")))
        .with_assignments(vec![SyncGroupRequestAssignment::default()
            .with_member_id(s(member_id))
            .with_assignment(Bytes::from_static(b"all of it"))]);
    let ResponseKind::SyncGroup(r) =
        conn.request(ApiKey::SyncGroup, 5, RequestKind::SyncGroup(request))
    else {
        panic!("not a SyncGroup response")
    };
    r
}

fn heartbeat(conn: &mut Connection, member_id: &str, generation: i32) -> i16 {
    let request = HeartbeatRequest::default()
        .with_group_id(GroupId(s(GROUP)))
        .with_generation_id(generation)
        .with_member_id(s(member_id));
    let ResponseKind::Heartbeat(r) =
        conn.request(ApiKey::Heartbeat, 4, RequestKind::Heartbeat(request))
    else {
        panic!("not a Heartbeat response")
    };
    r.error_code
}

fn commit(conn: &mut Connection, member_id: &str, generation: i32, base: i64) -> Vec<i16> {
    let request = OffsetCommitRequest::default()
        .with_group_id(GroupId(s(GROUP)))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(s(member_id))
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(topic_name(TOPIC))
            .with_partitions(
                (0..3)
                    .map(|p| {
                        OffsetCommitRequestPartition::default()
                            .with_partition_index(p)
                            .with_committed_offset(base + i64::from(p))
                            .with_committed_metadata(Some(s(&format!("m{p}"))))
                    })
                    .collect(),
            )]);
    let ResponseKind::OffsetCommit(r) =
        conn.request(ApiKey::OffsetCommit, 8, RequestKind::OffsetCommit(request))
    else {
        panic!("not an OffsetCommit response")
    };
    r.topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
        .collect()
}

fn consumer_heartbeat(
    conn: &mut Connection,
    member_id: &str,
    epoch: i32,
    owned: Option<Vec<TopicPartitions>>,
) -> ConsumerGroupHeartbeatResponse {
    let mut request = ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s(CONSUMER_GROUP)))
        .with_member_id(s(member_id))
        .with_member_epoch(epoch)
        .with_topic_partitions(owned);
    if epoch == 0 {
        request = request
            .with_rebalance_timeout_ms(30_000)
            .with_subscribed_topic_names(Some(vec![topic_name(TOPIC)]))
            .with_topic_partitions(Some(Vec::new()));
    }
    let ResponseKind::ConsumerGroupHeartbeat(r) = conn.request(
        ApiKey::ConsumerGroupHeartbeat,
        1,
        RequestKind::ConsumerGroupHeartbeat(request),
    ) else {
        panic!("not a ConsumerGroupHeartbeat response")
    };
    r
}

/// The node index whose FindCoordinator answer is `NONE`, asked through
/// every live node until they agree on one that serves the group.
fn ready_coordinator(cluster: &ProcessCluster, live: &[usize], group: &str) -> usize {
    eventually(60, "a loaded coordinator", || {
        let (code, id) = find_coordinator(cluster, live[0], group);
        if code != NONE || id < 1 {
            return None;
        }
        let index = id as usize - 1;
        if !live.contains(&index) {
            return None;
        }
        let (code, _) = fetch(&mut cluster.connect(index), group);
        (code == NONE).then_some(index)
    })
}

#[test]
fn group_state_survives_kill_9_of_its_coordinator() {
    let specs = combined_specs(3, |_| String::new());
    let mut cluster = ProcessCluster::start(
        specs,
        &[
            "offsets.topic.num.partitions=3",
            "group.initial.rebalance.delay.ms=0",
            "broker.heartbeat.interval.ms=500",
            "broker.session.timeout.ms=4000",
        ],
    );
    for i in 0..3 {
        eventually(30, "every broker registered", || {
            (broker_ids(&metadata(&mut cluster.connect(i), None)) == [1, 2, 3]).then_some(())
        });
    }
    let (code, _) = create_topic(&mut cluster.connect(0), TOPIC, 3, 3);
    assert_eq!(code, NONE);

    // The coordinator, once __consumer_offsets (RF 3, created by the first
    // FindCoordinator) is led and loaded.
    let all = [0, 1, 2];
    let coordinator = ready_coordinator(&cluster, &all, GROUP);
    let offsets_topic = metadata(&mut cluster.connect(0), Some(&["__consumer_offsets"]));
    for p in &offsets_topic.topics[0].partitions {
        assert_eq!(p.replica_nodes.len(), 3, "__consumer_offsets has RF 3");
    }
    let mut conn = cluster.connect(coordinator);

    // A classic member joins (v4+: the coordinator names it first), syncs
    // and commits.
    let first = join(&mut conn, "");
    let member_id = first.member_id.to_string();
    let joined = join(&mut conn, &member_id);
    assert_eq!(joined.error_code, NONE);
    let generation = joined.generation_id;
    assert_eq!(sync(&mut conn, &member_id, generation).error_code, NONE);
    assert_eq!(
        commit(&mut conn, &member_id, generation, 100),
        vec![NONE; 3]
    );
    let (code, committed) = fetch(&mut conn, GROUP);
    assert_eq!(code, NONE);
    assert_eq!(
        committed,
        vec![
            (0, 100, "m0".to_string()),
            (1, 101, "m1".to_string()),
            (2, 102, "m2".to_string())
        ]
    );

    // A KIP-848 member of another group (its coordinator may be elsewhere).
    let cg_coordinator = ready_coordinator(&cluster, &all, CONSUMER_GROUP);
    let mut cg_conn = cluster.connect(cg_coordinator);
    let cg_member = uuid::Uuid::new_v4().to_string();
    let joined_cg = consumer_heartbeat(&mut cg_conn, &cg_member, 0, None);
    assert_eq!(joined_cg.error_code, NONE);
    let cg_epoch = joined_cg.member_epoch;
    assert!(cg_epoch >= 1);

    // Every other broker refuses the group: NOT_COORDINATOR.
    for other in all.iter().filter(|i| **i != coordinator) {
        let mut other_conn = cluster.connect(*other);
        assert_eq!(fetch(&mut other_conn, GROUP).0, NOT_COORDINATOR);
        assert_eq!(
            heartbeat(&mut other_conn, &member_id, generation),
            NOT_COORDINATOR
        );
        assert_eq!(
            commit(&mut other_conn, &member_id, generation, 1),
            vec![NOT_COORDINATOR; 3]
        );
        // What is invalid anywhere is refused before routing, as Kafka.
        let request = JoinGroupRequest::default()
            .with_group_id(GroupId(s("")))
            .with_session_timeout_ms(30_000)
            .with_protocol_type(s("test"));
        let ResponseKind::JoinGroup(r) =
            other_conn.request(ApiKey::JoinGroup, 7, RequestKind::JoinGroup(request))
        else {
            panic!("not a JoinGroup response")
        };
        assert_eq!(r.error_code, gregor_protocol::error_codes::INVALID_GROUP_ID);
        let request = JoinGroupRequest::default()
            .with_group_id(GroupId(s(GROUP)))
            .with_session_timeout_ms(1)
            .with_protocol_type(s("test"));
        let ResponseKind::JoinGroup(r) =
            other_conn.request(ApiKey::JoinGroup, 7, RequestKind::JoinGroup(request))
        else {
            panic!("not a JoinGroup response")
        };
        assert_eq!(
            r.error_code,
            gregor_protocol::error_codes::INVALID_SESSION_TIMEOUT
        );
    }

    // kill -9 the coordinator: another replica of its partition takes over.
    cluster.kill(coordinator);
    let live: Vec<usize> = all.iter().copied().filter(|i| *i != coordinator).collect();
    let successor = ready_coordinator(&cluster, &live, GROUP);
    assert_ne!(successor, coordinator);
    let mut conn = cluster.connect(successor);
    // Reads are at the partition's high watermark (as Kafka's), and a new
    // leader's catches up once the remaining follower fetches from it; a
    // require_stable fetch waits for that, as Java consumers ask it.
    assert_eq!(
        fetch_with(&mut conn, GROUP, true),
        (NONE, committed.clone()),
        "the committed offsets are identical after the failover"
    );
    assert_eq!(fetch(&mut conn, GROUP), (NONE, committed.clone()));
    // The member and its generation came back with the group.
    assert_eq!(heartbeat(&mut conn, &member_id, generation), NONE);
    for other in live.iter().filter(|i| **i != successor) {
        let mut other_conn = cluster.connect(*other);
        assert_eq!(fetch(&mut other_conn, GROUP).0, NOT_COORDINATOR);
        assert_eq!(
            heartbeat(&mut other_conn, &member_id, generation),
            NOT_COORDINATOR
        );
    }

    // Gregor's own client (the CLI's) finds the new coordinator through a
    // survivor, and lists the groups of every broker.
    let bootstrap = format!("127.0.0.1:{}", cluster.nodes[live[0]].port);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut client = gregor_client::Client::connect(&bootstrap).await.unwrap();
        let offsets = client.committed_offsets(GROUP).await.unwrap();
        assert_eq!(
            offsets,
            vec![
                (TOPIC.to_string(), 0, 100),
                (TOPIC.to_string(), 1, 101),
                (TOPIC.to_string(), 2, 102)
            ]
        );
        let listed: Vec<String> = client
            .list_groups()
            .await
            .unwrap()
            .into_iter()
            .map(|g| g.group_id)
            .collect();
        assert!(listed.contains(&GROUP.to_string()), "{listed:?}");
        assert!(listed.contains(&CONSUMER_GROUP.to_string()), "{listed:?}");
    });

    // The member rejoins at the new coordinator: a new generation, and its
    // commits land there.
    let rejoined = join(&mut conn, &member_id);
    assert_eq!(rejoined.error_code, NONE);
    assert!(rejoined.generation_id > generation);
    assert_eq!(
        sync(&mut conn, &member_id, rejoined.generation_id).error_code,
        NONE
    );
    assert_eq!(
        commit(&mut conn, &member_id, generation, 500),
        vec![gregor_protocol::error_codes::ILLEGAL_GENERATION; 3],
        "the old generation is fenced"
    );
    assert_eq!(
        commit(&mut conn, &member_id, rejoined.generation_id, 200),
        vec![NONE; 3]
    );
    assert_eq!(fetch(&mut conn, GROUP).1[2].1, 202);

    // The KIP-848 member keeps its epoch wherever its group went.
    let cg_coordinator = ready_coordinator(&cluster, &live, CONSUMER_GROUP);
    let mut cg_conn = cluster.connect(cg_coordinator);
    let owned: Vec<TopicPartitions> = joined_cg
        .assignment
        .as_ref()
        .map(|a| {
            a.topic_partitions
                .iter()
                .map(|tp| {
                    TopicPartitions::default()
                        .with_topic_id(tp.topic_id)
                        .with_partitions(tp.partitions.clone())
                })
                .collect()
        })
        .unwrap_or_default();
    let again = consumer_heartbeat(&mut cg_conn, &cg_member, cg_epoch, Some(owned));
    assert_eq!(
        (again.error_code, again.member_epoch),
        (NONE, cg_epoch),
        "the member epoch survives the failover"
    );

    // The old coordinator comes back as a follower: it does not serve the
    // group (its shard was never reloaded), the new one still does.
    cluster.spawn(coordinator);
    cluster.wait_listening(coordinator);
    let serving = ready_coordinator(&cluster, &all, GROUP);
    for other in all.iter().filter(|i| **i != serving) {
        let mut other_conn = cluster.connect(*other);
        assert_eq!(fetch(&mut other_conn, GROUP).0, NOT_COORDINATOR);
    }
    let (code, offsets) = fetch_with(&mut cluster.connect(serving), GROUP, true);
    assert_eq!(code, NONE);
    assert_eq!(
        offsets.iter().map(|o| o.1).collect::<Vec<_>>(),
        vec![200, 201, 202]
    );
}

/// OffsetCommit (generation -1: a group that only commits) of `offset`
/// for every partition of the topic.
fn simple_commit(conn: &mut Connection, group: &str, offset: i64) -> Vec<i16> {
    let request = OffsetCommitRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(topic_name(TOPIC))
            .with_partitions(
                (0..3)
                    .map(|p| {
                        OffsetCommitRequestPartition::default()
                            .with_partition_index(p)
                            .with_committed_offset(offset)
                    })
                    .collect(),
            )]);
    let ResponseKind::OffsetCommit(r) =
        conn.request(ApiKey::OffsetCommit, 8, RequestKind::OffsetCommit(request))
    else {
        panic!("not an OffsetCommit response")
    };
    r.topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
        .collect()
}

/// An offset commit is answered only once its record is on every in-sync
/// replica: with the coordinator's followers paused it fails after
/// `offsets.commit.timeout.ms` with COORDINATOR_NOT_AVAILABLE (Kafka's
/// mapping of a replication timeout), and commits succeed again once they
/// are back.
#[test]
fn offset_commits_wait_for_the_replicas() {
    let specs = combined_specs(3, |_| String::new());
    let cluster = ProcessCluster::start(
        specs,
        &[
            "offsets.topic.num.partitions=1",
            "offsets.commit.timeout.ms=2000",
            "broker.heartbeat.interval.ms=500",
            "broker.session.timeout.ms=4000",
        ],
    );
    for i in 0..3 {
        eventually(30, "every broker registered", || {
            (broker_ids(&metadata(&mut cluster.connect(i), None)) == [1, 2, 3]).then_some(())
        });
    }
    let (code, _) = create_topic(&mut cluster.connect(0), TOPIC, 3, 3);
    assert_eq!(code, NONE);
    let all = [0, 1, 2];
    let group = "slow-group";
    let coordinator = ready_coordinator(&cluster, &all, group);
    let mut conn = cluster.connect(coordinator);
    assert_eq!(simple_commit(&mut conn, group, 5), vec![NONE; 3]);

    // Both followers paused: the record cannot be committed (nor the ISR
    // shrunk: they are two of the three controllers).
    let followers: Vec<usize> = all.iter().copied().filter(|i| *i != coordinator).collect();
    for f in &followers {
        cluster.signal(*f, "STOP");
    }
    let started = std::time::Instant::now();
    let codes = simple_commit(&mut conn, group, 6);
    let waited = started.elapsed();
    // The coordinator's log (and so its state) holds the uncommitted 6: a
    // require_stable OffsetFetch waits for it to be committed, as Kafka's
    // (a write operation there), and fails when it is not, rather than
    // showing an offset no other replica has.
    let stable = loop {
        let (code, offsets) = fetch_with(&mut conn, group, true);
        if code != gregor_protocol::error_codes::COORDINATOR_LOAD_IN_PROGRESS {
            break (code, offsets);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    for f in &followers {
        cluster.signal(*f, "CONT");
    }
    assert_eq!(
        codes,
        vec![gregor_protocol::error_codes::COORDINATOR_NOT_AVAILABLE; 3]
    );
    assert!(
        waited >= std::time::Duration::from_millis(1900),
        "answered after {waited:?}, before the commit timeout"
    );
    assert_eq!(
        stable.0,
        gregor_protocol::error_codes::COORDINATOR_NOT_AVAILABLE,
        "a stable fetch answered with an uncommitted offset: {stable:?}"
    );

    // Back to normal: a retried commit lands and reads back.
    let coordinator = ready_coordinator(&cluster, &all, group);
    let mut conn = cluster.connect(coordinator);
    eventually(60, "a commit to succeed again", || {
        (simple_commit(&mut conn, group, 7) == vec![NONE; 3]).then_some(())
    });
    let (code, offsets) = fetch(&mut conn, group);
    assert_eq!(code, NONE);
    assert_eq!(
        offsets.iter().map(|o| o.1).collect::<Vec<_>>(),
        vec![7, 7, 7]
    );
}

/// Kafka's defaults replicate the internal topics 3 times: a one-broker
/// cluster (a configured quorum, not the embedded single-node mode) cannot
/// create them, and FindCoordinator says COORDINATOR_NOT_AVAILABLE.
#[test]
fn internal_topics_need_as_many_brokers_as_their_replication_factor() {
    let cluster = ProcessCluster::start(combined_specs(1, |_| String::new()), &[]);
    eventually(30, "the broker registered", || {
        (broker_ids(&metadata(&mut cluster.connect(0), None)) == [1]).then_some(())
    });
    for key_type in [0, 1] {
        let request = FindCoordinatorRequest::default()
            .with_key(s("whoever"))
            .with_key_type(key_type);
        let ResponseKind::FindCoordinator(r) = cluster.connect(0).request(
            ApiKey::FindCoordinator,
            3,
            RequestKind::FindCoordinator(request),
        ) else {
            panic!("not a FindCoordinator response")
        };
        assert_eq!(
            (r.error_code, r.node_id.0),
            (gregor_protocol::error_codes::COORDINATOR_NOT_AVAILABLE, -1),
            "key type {key_type}"
        );
    }
    let listed = metadata(&mut cluster.connect(0), None);
    assert!(
        listed.topics.is_empty(),
        "no internal topic was created: {:?}",
        listed.topics.iter().map(|t| &t.name).collect::<Vec<_>>()
    );
}

/// Leader and leader epoch of every partition of `topic`, through node `via`.
fn leaders(cluster: &ProcessCluster, via: usize, topic: &str) -> Vec<(i32, i32, i32, usize)> {
    let response = metadata(&mut cluster.connect(via), Some(&[topic]));
    let mut out: Vec<(i32, i32, i32, usize)> = response.topics[0]
        .partitions
        .iter()
        .map(|p| {
            (
                p.partition_index,
                p.leader_id.0,
                p.leader_epoch,
                p.isr_nodes.len(),
            )
        })
        .collect();
    out.sort();
    out
}

/// The brokers that are alive keep their sessions when the active
/// controller is cut off (here paused: its sockets still accept, requests
/// sent to it hang, as behind a firewall that drops packets) and another
/// controller takes over. A heartbeat in flight to the old controller is
/// given up as soon as the new one is known (Kafka's broker-to-controller
/// channel follows the quorum leader); before, it waited out its 10 s
/// request timeout, longer than the 4 s session the new controller gives
/// each broker, so every live broker was fenced and all their leaderships
/// (coordinator shards included) moved away and back.
#[test]
fn live_brokers_keep_their_leaderships_when_the_controller_is_cut_off() {
    let specs = combined_specs(3, |_| String::new());
    let cluster = ProcessCluster::start(
        specs,
        &[
            "broker.heartbeat.interval.ms=500",
            "broker.session.timeout.ms=4000",
        ],
    );
    for i in 0..3 {
        eventually(30, "every broker registered", || {
            (broker_ids(&metadata(&mut cluster.connect(i), None)) == [1, 2, 3]).then_some(())
        });
    }
    let topic = "steady";
    let (code, _) = create_topic(&mut cluster.connect(0), topic, 6, 3);
    assert_eq!(code, NONE);
    let controller = eventually(30, "an active controller", || cluster.leader(0)) as usize - 1;
    let survivor = (controller + 1) % 3;
    let before = eventually(30, "every partition led with a full ISR", || {
        let l = leaders(&cluster, survivor, topic);
        l.iter().all(|p| p.1 > 0 && p.3 == 3).then_some(l)
    });
    let kept: Vec<_> = before
        .iter()
        .filter(|p| p.1 as usize - 1 != controller)
        .cloned()
        .collect();
    assert!(!kept.is_empty(), "the survivors lead nothing: {before:?}");

    cluster.signal(controller, "STOP");
    let started = std::time::Instant::now();
    eventually(30, "a new active controller", || {
        cluster
            .leader(survivor)
            .filter(|l| *l as usize - 1 != controller)
    });
    // Past the old controller's request timeout (10 s) and the new
    // controller's sessions (4 s): a survivor fenced by then shows up as
    // a moved leadership (a new leader epoch).
    std::thread::sleep(std::time::Duration::from_secs(12).saturating_sub(started.elapsed()));
    let after = leaders(&cluster, survivor, topic);
    cluster.signal(controller, "CONT");
    if kept.iter().any(|p| !after.contains(p)) {
        for i in (0..3).filter(|i| *i != controller) {
            eprintln!("node {} log:\n{}", i + 1, cluster.log(i));
        }
    }
    for p in &kept {
        let now = after.iter().find(|a| a.0 == p.0).unwrap();
        assert_eq!(
            (now.1, now.2),
            (p.1, p.2),
            "partition {} moved although its leader stayed alive: before {before:?}, after {after:?}",
            p.0
        );
    }
    // The cut-off controller's own partitions failed over to a live broker.
    for p in before.iter().filter(|p| p.1 as usize - 1 == controller) {
        let now = after.iter().find(|a| a.0 == p.0).unwrap();
        assert!(now.1 > 0 && now.1 as usize - 1 != controller, "{after:?}");
    }
}
