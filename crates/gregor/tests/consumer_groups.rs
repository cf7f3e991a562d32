//! KIP-848 consumer groups over the wire: a member joins, commits at its
//! member epoch, and carries on at the same epoch with the same partitions
//! after the broker restarts (clean and kill -9); a commit at an older
//! epoch lands only for partitions held since then (KIP-1251).

// An integration test: unwrapping is how a failed step fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use gregor_protocol::error_codes::NONE;
use kafka_protocol::messages::consumer_group_heartbeat_request::TopicPartitions;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestGroup;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use support::{create_topic, wait_for_group_coordinator, Connection, TestBroker};

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn heartbeat(
    conn: &mut Connection,
    request: ConsumerGroupHeartbeatRequest,
) -> ConsumerGroupHeartbeatResponse {
    let ResponseKind::ConsumerGroupHeartbeat(r) = conn.request(
        ApiKey::ConsumerGroupHeartbeat,
        1,
        RequestKind::ConsumerGroupHeartbeat(request),
    ) else {
        panic!()
    };
    r
}

fn join(member: &str) -> ConsumerGroupHeartbeatRequest {
    ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s("cg")))
        .with_member_id(s(member))
        .with_member_epoch(0)
        .with_rebalance_timeout_ms(30_000)
        .with_subscribed_topic_names(Some(vec![TopicName(s("events"))]))
        .with_topic_partitions(Some(vec![]))
}

fn beat(member: &str, epoch: i32, owned: Vec<TopicPartitions>) -> ConsumerGroupHeartbeatRequest {
    ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s("cg")))
        .with_member_id(s(member))
        .with_member_epoch(epoch)
        .with_topic_partitions(Some(owned))
}

fn owned(r: &ConsumerGroupHeartbeatResponse) -> Vec<TopicPartitions> {
    r.assignment
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
        .unwrap_or_default()
}

fn commit(conn: &mut Connection, member: &str, epoch: i32, offset: i64) -> i16 {
    commit_partition(conn, member, epoch, 0, offset)
}

fn commit_partition(
    conn: &mut Connection,
    member: &str,
    epoch: i32,
    partition: i32,
    offset: i64,
) -> i16 {
    let request = OffsetCommitRequest::default()
        .with_group_id(GroupId(s("cg")))
        .with_member_id(s(member))
        .with_generation_id_or_member_epoch(epoch)
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(TopicName(s("events")))
            .with_partitions(vec![OffsetCommitRequestPartition::default()
                .with_partition_index(partition)
                .with_committed_offset(offset)])]);
    let ResponseKind::OffsetCommit(r) =
        conn.request(ApiKey::OffsetCommit, 9, RequestKind::OffsetCommit(request))
    else {
        panic!()
    };
    r.topics[0].partitions[0].error_code
}

fn fetch(conn: &mut Connection, member: &str, epoch: i32) -> (i16, Vec<i64>) {
    let request =
        OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
            .with_group_id(GroupId(s("cg")))
            .with_member_id(Some(s(member)))
            .with_member_epoch(epoch)
            .with_topics(None)]);
    let ResponseKind::OffsetFetch(r) =
        conn.request(ApiKey::OffsetFetch, 9, RequestKind::OffsetFetch(request))
    else {
        panic!()
    };
    let group = &r.groups[0];
    let offsets = group
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| p.committed_offset))
        .collect();
    (group.error_code, offsets)
}

#[test]
fn members_keep_epochs_and_partitions_across_restarts() {
    let mut broker = TestBroker::start(&["offsets.topic.num.partitions=3"]);
    let mut conn = broker.connect();
    wait_for_group_coordinator(&mut conn, "cg");
    create_topic(&mut conn, "events", 4);

    let a = heartbeat(&mut conn, join("member-a"));
    assert_eq!((a.error_code, a.member_epoch), (NONE, 1));
    assert_eq!(owned(&a)[0].partitions, vec![0, 1, 2, 3]);
    let b = heartbeat(&mut conn, join("member-b"));
    assert_eq!((b.error_code, b.member_epoch), (NONE, 2));
    // a is told to give two up (it stays at epoch 1 until it has).
    let a = heartbeat(&mut conn, beat("member-a", 1, owned(&a)));
    assert_eq!(a.member_epoch, 1);
    let a_keeps = owned(&a);
    assert_eq!(a_keeps[0].partitions.len(), 2);

    assert_eq!(
        commit(&mut conn, "member-a", 0, 10),
        113,
        "STALE_MEMBER_EPOCH"
    );
    assert_eq!(commit(&mut conn, "member-a", 1, 10), 0);
    assert_eq!(fetch(&mut conn, "member-a", 1), (0, vec![10]));
    assert_eq!(fetch(&mut conn, "member-a", 7).0, 113);

    let mut b_owns = Vec::new();
    for (kill, a_epoch) in [(false, 1), (true, 2)] {
        drop(conn);
        if kill {
            broker.kill();
        }
        broker.restart();
        conn = broker.connect();
        wait_for_group_coordinator(&mut conn, "cg");
        assert_eq!(
            fetch(&mut conn, "member-a", a_epoch),
            (0, vec![10]),
            "offsets survive"
        );
        // a carries on with the two it kept: the first time this is its
        // acknowledgement (epoch 2), the second its previous epoch with a
        // subset of its partitions, which is accepted.
        let again = heartbeat(&mut conn, beat("member-a", 1, a_keeps.clone()));
        assert_eq!(
            (again.error_code, again.member_epoch),
            (0, 2),
            "{:?}",
            again.error_message
        );
        let b = heartbeat(&mut conn, beat("member-b", 2, b_owns.clone()));
        assert_eq!((b.error_code, b.member_epoch), (NONE, 2));
        if b.assignment.is_some() {
            b_owns = owned(&b);
        }
        assert_eq!(b_owns[0].partitions.len(), 2, "b got the other two");
    }

    let describe = ConsumerGroupDescribeRequest::default().with_group_ids(vec![GroupId(s("cg"))]);
    let ResponseKind::ConsumerGroupDescribe(d) = conn.request(
        ApiKey::ConsumerGroupDescribe,
        1,
        RequestKind::ConsumerGroupDescribe(describe),
    ) else {
        panic!()
    };
    let g = &d.groups[0];
    assert_eq!(
        (g.error_code, g.group_state.as_str(), g.group_epoch),
        (0, "Stable", 2)
    );
    assert_eq!(g.members.len(), 2);
}

/// The partitions of "events" a member holds after heartbeating until it
/// reaches `epoch`, acknowledging every revocation.
fn settle_at(
    conn: &mut Connection,
    member: &str,
    mut epoch: i32,
    mut holds: Vec<TopicPartitions>,
    target: i32,
) -> Vec<i32> {
    for _ in 0..5 {
        let r = heartbeat(conn, beat(member, epoch, holds.clone()));
        assert_eq!(r.error_code, NONE, "{:?}", r.error_message);
        if r.assignment.is_some() {
            holds = owned(&r);
        }
        epoch = r.member_epoch;
        if epoch == target {
            return holds.iter().flat_map(|t| t.partitions.clone()).collect();
        }
    }
    panic!("{member} never reached epoch {target}");
}

/// KIP-1251 (Kafka 4.3+): an OffsetCommit that raced an epoch bump, sent
/// at the member's previous epoch, lands for a partition the member has
/// held since that epoch, and is STALE_MEMBER_EPOCH for one it never held.
#[test]
fn an_older_epoch_commits_only_partitions_held_since_then() {
    let broker = TestBroker::start(&["offsets.topic.num.partitions=1"]);
    let mut conn = broker.connect();
    wait_for_group_coordinator(&mut conn, "cg");
    create_topic(&mut conn, "events", 4);

    let a = heartbeat(&mut conn, join("member-a"));
    assert_eq!((a.error_code, a.member_epoch), (NONE, 1));
    let b = heartbeat(&mut conn, join("member-b"));
    assert_eq!((b.error_code, b.member_epoch), (NONE, 2));
    let a_holds = settle_at(&mut conn, "member-a", 1, owned(&a), 2);
    // b gets the two a gave up, at epoch 2.
    let b_holds = settle_at(&mut conn, "member-b", 2, Vec::new(), 2);
    assert_eq!(b_holds.len(), 2);
    // c joins (group epoch 3); b moves on to epoch 3, keeping some.
    let c = heartbeat(&mut conn, join("member-c"));
    assert_eq!((c.error_code, c.member_epoch), (NONE, 3));
    let b_tp = vec![TopicPartitions::default()
        .with_topic_id(owned(&a)[0].topic_id)
        .with_partitions(b_holds.clone())];
    let b_keeps = settle_at(&mut conn, "member-b", 2, b_tp, 3);
    assert!(!b_keeps.is_empty());
    let never_b = a_holds
        .iter()
        .copied()
        .find(|p| !b_holds.contains(p) && !b_keeps.contains(p))
        .unwrap();

    // b is at epoch 3. A commit sent at epoch 2 (before it heard of the
    // bump) lands for a partition it has held since epoch 2...
    assert_eq!(
        commit_partition(&mut conn, "member-b", 2, b_keeps[0], 5),
        NONE
    );
    // ...and is refused for one it never held, and below epoch 2.
    assert_eq!(
        commit_partition(&mut conn, "member-b", 2, never_b, 5),
        113,
        "STALE_MEMBER_EPOCH"
    );
    assert_eq!(
        commit_partition(&mut conn, "member-b", 1, b_keeps[0], 5),
        113,
        "STALE_MEMBER_EPOCH"
    );
    assert_eq!(commit_partition(&mut conn, "member-b", 3, never_b, 5), NONE);
}
