//! The consumer group protocol driven with explicit time and a fixed topic
//! table: no sockets, no sleeps.

use super::*;
use crate::group::{GroupConfig, GroupCoordinator, JoinContext, Record};
use gregor_protocol::error_codes::{
    FENCED_INSTANCE_ID, FENCED_MEMBER_EPOCH, GROUP_ID_NOT_FOUND, GROUP_MAX_SIZE_REACHED,
    ILLEGAL_GENERATION, INCONSISTENT_GROUP_PROTOCOL, INVALID_REGULAR_EXPRESSION, INVALID_REQUEST,
    NONE, NON_EMPTY_GROUP, STALE_MEMBER_EPOCH, UNKNOWN_MEMBER_ID, UNRELEASED_INSTANCE_ID,
    UNSUPPORTED_ASSIGNOR,
};
use kafka_protocol::messages::consumer_group_heartbeat_request::TopicPartitions as Owned;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use std::collections::BTreeSet;
use uuid::Uuid;

const SESSION: i64 = 45_000;
const REBALANCE: i32 = 30_000;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn topic_id(n: u8) -> Uuid {
    Uuid::from_bytes([n; 16])
}

/// A coordinator, its topics ("t": 6 partitions, "u": 3) and the clock.
struct Harness {
    c: GroupCoordinator,
    topics: TopicTable,
    now: i64,
    /// Everything persisted so far, in order.
    log: Vec<Record>,
}

impl Harness {
    fn new() -> Self {
        Self::with_config(GroupConfig::default())
    }

    fn with_config(config: GroupConfig) -> Self {
        let mut n = 0;
        Harness {
            c: GroupCoordinator::new(config).with_member_id_source(move || {
                n += 1;
                format!("generated-{n}")
            }),
            topics: TopicTable::default()
                .with("t", topic_id(1), 6)
                .with("u", topic_id(2), 3),
            now: 0,
            log: Vec::new(),
        }
    }

    fn send_version(
        &mut self,
        req: ConsumerGroupHeartbeatRequest,
        version: i16,
    ) -> ConsumerGroupHeartbeatResponse {
        let ctx = HeartbeatContext {
            client_id: "client".into(),
            client_host: "/127.0.0.1".into(),
            api_version: version,
            describable: None,
            group_config: None,
        };
        let (response, records) =
            self.c
                .consumer_group_heartbeat(&req, &ctx, &self.topics, self.now);
        self.log.extend(records);
        response
    }

    fn send(&mut self, req: ConsumerGroupHeartbeatRequest) -> ConsumerGroupHeartbeatResponse {
        self.send_version(req, 1)
    }

    /// Joins `member` subscribed to `topics`; the answer must be a success.
    fn join(&mut self, member: &str, topics: &[&str]) -> ConsumerGroupHeartbeatResponse {
        let r = self.send(join("g", member, topics));
        assert_eq!(r.error_code, NONE, "{:?}", r.error_message);
        r
    }

    /// A heartbeat at `epoch` reporting `owned` partitions of "t".
    fn beat(&mut self, member: &str, epoch: i32, owned: &[i32]) -> ConsumerGroupHeartbeatResponse {
        self.send(beat("g", member, epoch, owned))
    }

    fn state(&self) -> ConsumerGroupState {
        self.c.consumer_groups["g"].state()
    }

    fn tick(&mut self, at: i64) {
        self.now = at;
        let out = self.c.tick(at);
        self.log.extend(out.records);
    }
}

fn join(group: &str, member: &str, topics: &[&str]) -> ConsumerGroupHeartbeatRequest {
    ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_member_id(s(member))
        .with_member_epoch(0)
        .with_rebalance_timeout_ms(REBALANCE)
        .with_subscribed_topic_names(Some(topics.iter().map(|t| TopicName(s(t))).collect()))
        .with_topic_partitions(Some(vec![]))
}

fn beat(group: &str, member: &str, epoch: i32, owned: &[i32]) -> ConsumerGroupHeartbeatRequest {
    ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_member_id(s(member))
        .with_member_epoch(epoch)
        .with_topic_partitions(Some(vec![Owned::default()
            .with_topic_id(topic_id(1))
            .with_partitions(owned.to_vec())]))
}

/// The partitions of "t" in an answer, if it carried an assignment.
fn assigned(r: &ConsumerGroupHeartbeatResponse) -> Option<Vec<i32>> {
    r.assignment.as_ref().map(|a| {
        a.topic_partitions
            .iter()
            .filter(|tp| tp.topic_id == topic_id(1))
            .flat_map(|tp| tp.partitions.iter().copied())
            .collect()
    })
}

fn all(n: i32) -> Vec<i32> {
    (0..n).collect()
}

#[test]
fn a_first_member_gets_everything_at_epoch_one() {
    let mut h = Harness::new();
    let r = h.join("a", &["t"]);
    assert_eq!(r.member_id.as_deref(), Some("a"));
    assert_eq!(r.member_epoch, 1);
    assert_eq!(r.heartbeat_interval_ms, 5_000);
    assert_eq!(assigned(&r), Some(all(6)));
    assert_eq!(h.state(), ConsumerGroupState::Stable);
    // A heartbeat that changes nothing carries no assignment and writes nothing.
    let before = h.log.len();
    let r = h.beat("a", 1, &all(6));
    assert_eq!(
        (r.error_code, r.member_epoch, r.assignment.is_none()),
        (0, 1, true)
    );
    assert_eq!(h.log.len(), before);
}

#[test]
fn version_0_members_get_their_id_from_the_coordinator() {
    let mut h = Harness::new();
    let r = h.send_version(join("g", "", &["t"]), 0);
    assert_eq!(r.member_id.as_deref(), Some("generated-1"));
    // From v1 the client must bring its own.
    let r = h.send_version(join("g", "", &["t"]), 1);
    assert_eq!(r.error_code, INVALID_REQUEST);
    assert_eq!(r.error_message.as_deref(), Some("MemberId can't be empty."));
}

#[test]
fn partitions_move_only_after_their_owner_revoked_them() {
    let mut h = Harness::new();
    h.join("a", &["t"]);
    // b joins: the target splits 3/3, but a still owns everything, so b
    // moves to epoch 2 with nothing yet.
    let r = h.join("b", &["t"]);
    assert_eq!((r.member_epoch, assigned(&r)), (2, Some(vec![])));
    assert_eq!(h.state(), ConsumerGroupState::Reconciling);
    // a learns what to give up; it stays at epoch 1 until it did.
    let r = h.beat("a", 1, &all(6));
    assert_eq!(r.member_epoch, 1);
    let kept = assigned(&r).unwrap();
    assert_eq!(kept.len(), 3);
    // b asks again: still nothing, a has not let go.
    let r = h.beat("b", 2, &[]);
    assert_eq!((r.member_epoch, r.assignment.is_none()), (2, true));
    // a acknowledges by heartbeating without the revoked partitions.
    // Its partitions did not change, so the answer carries only the epoch.
    let r = h.beat("a", 1, &kept);
    assert_eq!((r.member_epoch, r.assignment.is_none()), (2, true));
    // Now b gets the other three.
    let r = h.beat("b", 2, &[]);
    let theirs = assigned(&r).unwrap();
    assert_eq!(theirs.len(), 3);
    let both: BTreeSet<i32> = kept.iter().chain(&theirs).copied().collect();
    assert_eq!(both, all(6).into_iter().collect());
    assert_eq!(h.state(), ConsumerGroupState::Stable);
}

#[test]
fn the_range_assignor_is_used_when_members_ask_for_it() {
    let mut h = Harness::new();
    let ask_range =
        |member: &str| join("g", member, &["t", "u"]).with_server_assignor(Some(s("range")));
    let r = h.send(ask_range("a"));
    assert_eq!(r.error_code, NONE);
    let r = h.send(ask_range("b"));
    assert_eq!(r.member_epoch, 2);
    let target = &h.c.consumer_groups["g"].target;
    let ranges = |m: &str| -> Vec<(Uuid, Vec<i32>)> {
        target[m]
            .iter()
            .map(|(t, p)| (*t, p.iter().copied().collect()))
            .collect()
    };
    assert_eq!(
        ranges("a"),
        vec![(topic_id(1), vec![0, 1, 2]), (topic_id(2), vec![0, 1])]
    );
    assert_eq!(
        ranges("b"),
        vec![(topic_id(1), vec![3, 4, 5]), (topic_id(2), vec![2])]
    );
    let described = h.c.consumer_group_describe(
        &ConsumerGroupDescribeRequest::default().with_group_ids(vec![GroupId(s("g"))]),
        1,
        &h.topics,
    );
    assert_eq!(described.groups[0].assignor_name.as_str(), "range");
    // An assignor the broker does not offer is refused.
    let r = h.send(join("g", "c", &["t"]).with_server_assignor(Some(s("sticky"))));
    assert_eq!(r.error_code, UNSUPPORTED_ASSIGNOR);
    assert_eq!(
        r.error_message.as_deref(),
        Some("ServerAssignor sticky is not supported. Supported assignors: uniform, range.")
    );
}

#[test]
fn a_leaving_member_hands_its_partitions_over() {
    let mut h = Harness::new();
    h.join("a", &["t"]);
    h.join("b", &["t"]);
    let kept = assigned(&h.beat("a", 1, &all(6))).unwrap();
    h.beat("a", 1, &kept);
    let r = h.beat("b", 2, &[]);
    assert_eq!(assigned(&r).unwrap().len(), 3);
    // a leaves: the group epoch moves and b gets everything at once (nobody
    // holds a's partitions any more).
    let r = h.send(beat("g", "a", -1, &[]));
    assert_eq!((r.error_code, r.member_epoch), (NONE, -1));
    assert_eq!(h.c.consumer_groups["g"].epoch, 3);
    assert_eq!(h.state(), ConsumerGroupState::Assigning);
    let r = h.beat("b", 2, &assigned(&r).unwrap_or_default());
    assert_eq!((r.member_epoch, assigned(&r)), (3, Some(all(6))));
    // a is gone.
    let r = h.beat("a", 2, &[]);
    assert_eq!(r.error_code, UNKNOWN_MEMBER_ID);
}

#[test]
fn members_that_stop_heartbeating_are_fenced_after_the_session_timeout() {
    let mut h = Harness::new();
    h.join("a", &["t"]);
    h.now = 10_000;
    h.join("b", &["t"]);
    assert_eq!(h.c.next_deadline(), Some(SESSION));
    // b keeps heartbeating; a goes silent.
    h.now = 40_000;
    h.beat("b", 2, &[]);
    h.tick(SESSION - 1);
    assert_eq!(h.c.consumer_groups["g"].members.len(), 2);
    h.tick(SESSION);
    assert_eq!(h.c.consumer_groups["g"].members.len(), 1);
    let r = h.beat("b", 2, &[]);
    assert_eq!((r.member_epoch, assigned(&r)), (3, Some(all(6))));
    h.tick(2 * SESSION);
    assert_eq!(h.state(), ConsumerGroupState::Empty);
}

#[test]
fn a_member_that_does_not_revoke_in_time_is_fenced() {
    let mut h = Harness::new();
    h.join("a", &["t"]);
    h.join("b", &["t"]);
    h.now = 1_000;
    h.beat("a", 1, &all(6)); // now revoking, at epoch 1
    h.now = 20_000;
    h.beat("a", 1, &all(6)); // still holding them
    h.beat("b", 2, &[]);
    h.tick(1_000 + i64::from(REBALANCE));
    assert!(!h.c.consumer_groups["g"].members.contains_key("a"));
    let r = h.beat("b", 2, &[]);
    assert_eq!(assigned(&r), Some(all(6)));
}

#[test]
fn epochs_other_than_the_members_are_fenced() {
    let mut h = Harness::new();
    h.join("a", &["t"]);
    h.join("b", &["t"]);
    let kept = assigned(&h.beat("a", 1, &all(6))).unwrap();
    h.beat("a", 1, &kept); // a now at 2, previous 1
    let r = h.beat("a", 3, &kept);
    assert_eq!(r.error_code, FENCED_MEMBER_EPOCH);
    assert!(r
        .error_message
        .unwrap()
        .contains("greater member epoch (3)"));
    // The previous epoch is fine while a owns nothing beyond its assignment
    // (the answer that moved it on may have been lost)...
    assert_eq!(h.beat("a", 1, &kept).error_code, NONE);
    // ...but not with partitions it no longer has.
    assert_eq!(h.beat("a", 1, &all(6)).error_code, FENCED_MEMBER_EPOCH);
    // Rejoining at epoch 0 under a known id is fenced too (until the
    // session of the old incarnation runs out), as in Kafka.
    assert_eq!(
        h.send(join("g", "a", &["t"])).error_code,
        FENCED_MEMBER_EPOCH
    );
    assert_eq!(h.beat("nobody", 2, &[]).error_code, UNKNOWN_MEMBER_ID);
    let r = h.send(beat("missing", "a", 1, &[]));
    assert_eq!(r.error_code, GROUP_ID_NOT_FOUND);
    assert_eq!(
        r.error_message.as_deref(),
        Some("Consumer group missing not found.")
    );
}

#[test]
fn a_static_member_comes_back_to_its_partitions() {
    let mut h = Harness::new();
    let static_join = |member: &str| join("g", member, &["t"]).with_instance_id(Some(s("i-1")));
    assert_eq!(h.send(static_join("s1")).member_epoch, 1);
    h.join("b", &["t"]);
    let kept = assigned(&h.beat("s1", 1, &all(6))).unwrap();
    h.beat("s1", 1, &kept);
    h.beat("b", 2, &[]);
    // Another process with the same instance id while s1 is alive.
    let r = h.send(static_join("s2"));
    assert_eq!(r.error_code, UNRELEASED_INSTANCE_ID);
    // s1 leaves for a restart (-2): it keeps its partitions...
    let r = h.send(beat("g", "s1", -2, &[]).with_instance_id(Some(s("i-1"))));
    assert_eq!((r.error_code, r.member_epoch), (NONE, -2));
    assert_eq!(h.c.consumer_groups["g"].epoch, 2, "no rebalance");
    // ...and its next incarnation gets them back at once.
    let r = h.send(static_join("s2"));
    assert_eq!(r.error_code, NONE);
    assert_eq!(assigned(&r), Some(kept.clone()));
    assert_eq!(r.member_epoch, 2);
    assert!(!h.c.consumer_groups["g"].members.contains_key("s1"));
    // The old id is fenced for good.
    let r = h.send(beat("g", "s1", 2, &kept).with_instance_id(Some(s("i-1"))));
    assert_eq!(r.error_code, FENCED_INSTANCE_ID);
}

#[test]
fn more_partitions_bump_the_group_epoch_and_get_assigned() {
    let mut h = Harness::new();
    h.join("a", &["t"]);
    h.topics.set_partitions("t", 8);
    let r = h.beat("a", 1, &all(6));
    assert_eq!((r.member_epoch, assigned(&r)), (2, Some(all(8))));
    // A topic that appears later is picked up too.
    let r = h.join("b", &["t", "later"]);
    assert_eq!(r.member_epoch, 3);
    h.topics = h.topics.clone().with("later", topic_id(9), 2);
    // b gets the new topic at once (nobody holds it); its share of "t"
    // waits for a.
    let r = h.beat("b", 3, &[]);
    assert_eq!(r.member_epoch, 4);
    let got: Vec<Uuid> = r
        .assignment
        .unwrap()
        .topic_partitions
        .iter()
        .map(|tp| tp.topic_id)
        .collect();
    assert_eq!(got, vec![topic_id(9)]);
}

#[test]
fn regex_subscriptions_follow_the_topics_they_match() {
    let mut h = Harness::new();
    let req = join("g", "a", &[])
        .with_subscribed_topic_names(None)
        .with_subscribed_topic_regex(Some(s("t|l.*")));
    let r = h.send(req);
    assert_eq!((r.error_code, assigned(&r)), (NONE, Some(all(6))));
    h.topics = h.topics.clone().with("late", topic_id(7), 1);
    let r = h.beat("a", 1, &all(6));
    assert_eq!(r.member_epoch, 2);
    let topics: BTreeSet<Uuid> = r
        .assignment
        .unwrap()
        .topic_partitions
        .iter()
        .map(|tp| tp.topic_id)
        .collect();
    assert_eq!(topics, [topic_id(1), topic_id(7)].into());
    let bad = join("g", "b", &[]).with_subscribed_topic_regex(Some(s("(")));
    let r = h.send(bad);
    assert_eq!(r.error_code, INVALID_REGULAR_EXPRESSION);
    assert!(r
        .error_message
        .unwrap()
        .starts_with("SubscribedTopicRegex `(` is not a valid regular expression"));
}

#[test]
fn malformed_heartbeats_get_kafkas_errors() {
    let mut h = Harness::new();
    let cases = [
        (join("", "a", &["t"]), "GroupId can't be empty."),
        (join("g", "a", &["t"]).with_rebalance_timeout_ms(-1), "RebalanceTimeoutMs must be provided in first request."),
        (join("g", "a", &["t"]).with_topic_partitions(None), "TopicPartitions must be empty when (re-)joining."),
        (join("g", "a", &["t"]).with_subscribed_topic_names(None), "Either SubscribedTopicNames or SubscribedTopicRegex must be non-null when (re-)joining."),
        (join("g", "a", &["t"]).with_instance_id(Some(s(" "))), "InstanceId can't be empty."),
        (beat("g", "a", -2, &[]), "InstanceId can't be null."),
        (beat("g", "a", -3, &[]), "MemberEpoch is invalid."),
    ];
    for (req, message) in cases {
        let r = h.send(req);
        assert_eq!(
            (r.error_code, r.error_message.as_deref()),
            (42, Some(message))
        );
    }
    assert!(h.log.is_empty());
}

#[test]
fn a_restart_brings_back_members_epochs_and_assignments() {
    let mut h = Harness::new();
    h.join("a", &["t"]);
    h.join("b", &["t"]);
    let kept = assigned(&h.beat("a", 1, &all(6))).unwrap();
    // The log goes through Kafka's byte format and back.
    let mut replayed = GroupCoordinator::new(GroupConfig::default());
    for record in &h.log {
        let (key, value) = record.encode().unwrap();
        replayed.replay(Record::decode(&key, value.as_deref()).unwrap(), 100_000);
    }
    let before = &h.c.consumer_groups["g"];
    let after = &replayed.consumer_groups["g"];
    assert_eq!(
        (after.epoch, after.assignment_epoch),
        (before.epoch, before.assignment_epoch)
    );
    assert_eq!(after.target, before.target);
    for (id, m) in &before.members {
        assert_eq!(after.members[id].current, m.current);
        assert_eq!(after.members[id].meta, m.meta);
    }
    // Sessions restart from the load.
    assert_eq!(
        replayed.next_deadline(),
        Some(100_000 + SESSION.min(i64::from(REBALANCE)))
    );
    // Members carry on at their epochs.
    h.c = replayed;
    h.now = 100_000;
    let r = h.beat("a", 1, &kept);
    assert_eq!((r.error_code, r.member_epoch), (NONE, 2));
    let r = h.beat("b", 2, &[]);
    assert_eq!(assigned(&r).unwrap().len(), 3);
}

#[test]
fn consumer_and_classic_groups_share_one_namespace() {
    let mut h = Harness::new();
    // A classic group with members keeps its id.
    let classic_join = JoinGroupRequest::default()
        .with_group_id(GroupId(s("classic")))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(10_000)
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![
            JoinGroupRequestProtocol::default().with_name(s("range"))
        ]);
    let ctx = JoinContext {
        client_id: "c".into(),
        client_host: "/127.0.0.1".into(),
        api_version: 3,
    };
    h.c.join(&classic_join, &ctx, 1, 0);
    let r = h.send(join("classic", "a", &["t"]));
    assert_eq!(r.error_code, GROUP_ID_NOT_FOUND);
    assert_eq!(
        r.error_message.as_deref(),
        Some("Group classic is not a consumer group.")
    );
    // A classic JoinGroup for a live consumer group is refused...
    h.join("a", &["t"]);
    let mut classic_for_g = classic_join.clone();
    classic_for_g.group_id = GroupId(s("g"));
    let out = h.c.join(&classic_for_g, &ctx, 2, 0);
    assert!(
        matches!(&out.responses[..], [(2, crate::group::Response::Join(j))] if j.error_code == INCONSISTENT_GROUP_PROTOCOL)
    );
    // ...and DescribeGroups says it is not a classic group.
    let described = h.c.describe_groups(
        &DescribeGroupsRequest::default().with_groups(vec![GroupId(s("g"))]),
        6,
    );
    assert_eq!(
        (
            described.groups[0].error_code,
            described.groups[0].group_state.as_str()
        ),
        (69, "Dead")
    );
    // ListGroups tells the types apart and filters on them.
    let list = |types: &[&str]| -> Vec<(String, String)> {
        let req =
            ListGroupsRequest::default().with_types_filter(types.iter().map(|t| s(t)).collect());
        h.c.list_groups(&req)
            .groups
            .iter()
            .map(|g| (g.group_id.to_string(), g.group_type.to_string()))
            .collect()
    };
    assert_eq!(
        list(&[]),
        vec![
            ("classic".into(), "classic".into()),
            ("g".into(), "consumer".into())
        ]
    );
    assert_eq!(list(&["Consumer"]), vec![("g".into(), "consumer".into())]);
    // Once empty, the consumer group gives way to a classic join, offsets kept.
    commit(&mut h.c, "g", "a", 1, 9).unwrap();
    let r = h.send(beat("g", "a", -1, &[]));
    assert_eq!(r.error_code, NONE);
    let out = h.c.join(&classic_for_g, &ctx, 3, 0);
    assert!(out.records.iter().any(|r| matches!(
        r,
        Record::Consumer(ConsumerRecord::GroupEpoch { epoch: None, .. })
    )));
    assert!(!h.c.is_consumer_group("g"));
    assert_eq!(h.c.fetch_offsets("g", None)[0].partitions[0].offset, 42);
}

/// Commits offset 42 of t-0 at `epoch` with OffsetCommit `version`.
fn commit(
    c: &mut GroupCoordinator,
    group: &str,
    member: &str,
    epoch: i32,
    version: i16,
) -> Result<(), i16> {
    let req = OffsetCommitRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_member_id(s(member))
        .with_generation_id_or_member_epoch(epoch)
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(TopicName(s("t")))
            .with_partitions(vec![OffsetCommitRequestPartition::default()
                .with_partition_index(0)
                .with_committed_offset(42)])]);
    let (r, _) = c.commit_offsets(&req, version, &TopicTable::default(), 0);
    match r.topics[0].partitions[0].error_code {
        0 => Ok(()),
        code => Err(code),
    }
}

#[test]
fn members_commit_and_fetch_at_their_member_epoch() {
    let mut h = Harness::new();
    h.join("a", &["t"]);
    assert_eq!(commit(&mut h.c, "g", "a", 2, 9), Err(113));
    assert_eq!(commit(&mut h.c, "g", "a", 1, 8), Err(35));
    assert_eq!(commit(&mut h.c, "g", "x", 1, 9), Err(25));
    assert_eq!(
        commit(&mut h.c, "g", "", -1, 9),
        Err(25),
        "not while it has members"
    );
    assert_eq!(commit(&mut h.c, "g", "a", 1, 9), Ok(()));
    assert_eq!(h.c.fetch_offsets("g", None)[0].partitions[0].offset, 42);
    assert_eq!(h.c.validate_offset_fetch("g", Some("a"), 1), Ok(()));
    assert_eq!(h.c.validate_offset_fetch("g", Some("a"), 0), Err(113));
    assert_eq!(h.c.validate_offset_fetch("g", Some("x"), 1), Err(25));
    assert_eq!(h.c.validate_offset_fetch("g", None, -1), Ok(()));
    // The offsets' classic entry is not a second group.
    let listed = h.c.list_groups(&ListGroupsRequest::default());
    assert_eq!(listed.groups.len(), 1);
    // A non-empty group cannot be deleted; an empty one goes with its offsets.
    let delete = DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s("g"))]);
    let (r, _) = h.c.delete_groups(&delete);
    assert_eq!(r.results[0].error_code, NON_EMPTY_GROUP);
    h.send(beat("g", "a", -1, &[]));
    assert_eq!(
        commit(&mut h.c, "g", "", -1, 9),
        Ok(()),
        "admin tools commit to empty groups"
    );
    let (r, records) = h.c.delete_groups(&delete);
    assert_eq!(r.results[0].error_code, NONE);
    assert!(records
        .iter()
        .any(|r| matches!(r, Record::Offset { value: None, .. })));
    assert!(h.c.fetch_offsets("g", None).is_empty());
    let r = h.c.consumer_group_describe(
        &ConsumerGroupDescribeRequest::default().with_group_ids(vec![GroupId(s("g"))]),
        1,
        &h.topics,
    );
    assert_eq!(
        (r.groups[0].error_code, r.groups[0].error_message.as_deref()),
        (69, Some("Group g not found."))
    );
}

#[test]
fn describe_shows_members_assignments_and_targets() {
    let mut h = Harness::new();
    h.join("a", &["t"]);
    h.join("b", &["t"]);
    let r = h.c.consumer_group_describe(
        &ConsumerGroupDescribeRequest::default().with_group_ids(vec![GroupId(s("g"))]),
        1,
        &h.topics,
    );
    let g = &r.groups[0];
    assert_eq!(
        (g.group_state.as_str(), g.group_epoch, g.assignment_epoch),
        ("Reconciling", 2, 2)
    );
    assert_eq!(g.assignor_name.as_str(), "uniform");
    let a = g
        .members
        .iter()
        .find(|m| m.member_id.as_str() == "a")
        .unwrap();
    assert_eq!(a.member_epoch, 1);
    assert_eq!(a.assignment.topic_partitions[0].topic_name.as_str(), "t");
    assert_eq!(a.assignment.topic_partitions[0].partitions.len(), 6);
    assert_eq!(a.target_assignment.topic_partitions[0].partitions.len(), 3);
    assert_eq!((a.member_type, a.client_host.as_str()), (1, "/127.0.0.1"));
}

#[test]
fn a_full_group_refuses_new_members() {
    let mut config = GroupConfig::default();
    config.consumer.max_size = 1;
    let mut h = Harness::with_config(config);
    h.join("a", &["t"]);
    let r = h.send(join("g", "b", &["t"]));
    assert_eq!(r.error_code, GROUP_MAX_SIZE_REACHED);
    assert_eq!(h.beat("a", 1, &all(6)).error_code, NONE);
}

/// Commits offset 7 of each of `parts` of "t" at `epoch`: the codes per
/// partition and how many offset records the commit wrote.
fn commit_parts(h: &mut Harness, member: &str, epoch: i32, parts: &[i32]) -> (Vec<i16>, usize) {
    let req = OffsetCommitRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_member_id(s(member))
        .with_generation_id_or_member_epoch(epoch)
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(TopicName(s("t")))
            .with_partitions(
                parts
                    .iter()
                    .map(|p| {
                        OffsetCommitRequestPartition::default()
                            .with_partition_index(*p)
                            .with_committed_offset(7)
                    })
                    .collect(),
            )]);
    let (r, records) = h.c.commit_offsets(&req, 9, &h.topics, h.now);
    let codes = r.topics[0]
        .partitions
        .iter()
        .map(|p| p.error_code)
        .collect();
    (codes, records.len())
}

/// The same as a TxnOffsetCommit of producer 1.
fn txn_commit_parts(h: &mut Harness, member: &str, epoch: i32, parts: &[i32]) -> Vec<i16> {
    use kafka_protocol::messages::txn_offset_commit_request::{
        TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
    };
    let req = TxnOffsetCommitRequest::default()
        .with_transactional_id(TransactionalId(s("tx")))
        .with_group_id(GroupId(s("g")))
        .with_producer_id(ProducerId(1))
        .with_member_id(s(member))
        .with_generation_id(epoch)
        .with_topics(vec![TxnOffsetCommitRequestTopic::default()
            .with_name(TopicName(s("t")))
            .with_partitions(
                parts
                    .iter()
                    .map(|p| {
                        TxnOffsetCommitRequestPartition::default()
                            .with_partition_index(*p)
                            .with_committed_offset(7)
                    })
                    .collect(),
            )]);
    let (r, _) = h.c.txn_commit_offsets(&req, &h.topics, h.now);
    r.topics[0]
        .partitions
        .iter()
        .map(|p| p.error_code)
        .collect()
}

/// a (epoch 1, all six) shares with b: a keeps three, assigned at epoch 1,
/// and moves to epoch 2; b gets the other three at epoch 2. Returns
/// (a's partitions, b's partitions).
fn split_between_a_and_b(h: &mut Harness) -> (Vec<i32>, Vec<i32>) {
    h.join("a", &["t"]);
    h.join("b", &["t"]);
    let kept = assigned(&h.beat("a", 1, &all(6))).unwrap();
    assert_eq!(h.beat("a", 1, &kept).member_epoch, 2);
    let theirs = assigned(&h.beat("b", 2, &[])).unwrap();
    assert_eq!(theirs.len(), 3);
    (kept, theirs)
}

#[test]
fn kip_1251_an_older_epoch_commits_partitions_held_since_then() {
    let mut h = Harness::new();
    let (kept, theirs) = split_between_a_and_b(&mut h);
    // a is at epoch 2; its partitions were assigned at epoch 1, so a commit
    // that raced the bump (sent at epoch 1) still lands.
    assert_eq!(commit_parts(&mut h, "a", 1, &kept), (vec![NONE; 3], 3));
    assert_eq!(commit_parts(&mut h, "a", 2, &kept), (vec![NONE; 3], 3));
    // ...but not for partitions a gave up at that bump.
    assert_eq!(
        commit_parts(&mut h, "a", 1, &theirs[..1]),
        (vec![STALE_MEMBER_EPOCH], 0)
    );
    // One refused partition refuses the whole request, as Kafka's
    // per-partition validator throws out of the whole commit.
    assert_eq!(
        commit_parts(&mut h, "a", 1, &[kept[0], theirs[0]]),
        (vec![STALE_MEMBER_EPOCH; 2], 0)
    );
    // A newer epoch than the member's is refused.
    assert_eq!(
        commit_parts(&mut h, "a", 3, &kept),
        (vec![STALE_MEMBER_EPOCH; 3], 0)
    );
    // The current epoch commits any partition, held or not.
    assert_eq!(commit_parts(&mut h, "b", 2, &kept), (vec![NONE; 3], 3));
}

#[test]
fn kip_1251_an_epoch_older_than_the_partitions_assignment_is_refused() {
    let mut h = Harness::new();
    let (_, theirs) = split_between_a_and_b(&mut h);
    // c joins (group epoch 3); b settles at epoch 3 keeping some of what
    // it got at epoch 2.
    h.join("c", &["t"]);
    let r = h.beat("b", 2, &theirs);
    let b_kept = assigned(&r).unwrap_or(theirs.clone());
    let r = h.beat("b", 2, &b_kept);
    assert_eq!(r.member_epoch, 3);
    let b_kept = assigned(&r).unwrap_or(b_kept);
    assert!(!b_kept.is_empty());
    let m = &h.c.consumer_groups["g"].members["b"];
    for p in &b_kept {
        assert_eq!(m.current.assignment_epoch(topic_id(1), *p), Some(2));
    }
    // Epoch 2 is when b got them; epoch 1 is before.
    assert_eq!(
        commit_parts(&mut h, "b", 2, &b_kept).0,
        vec![NONE; b_kept.len()]
    );
    assert_eq!(
        commit_parts(&mut h, "b", 1, &b_kept).0,
        vec![STALE_MEMBER_EPOCH; b_kept.len()]
    );
    assert_eq!(
        commit_parts(&mut h, "b", -1, &b_kept).0,
        vec![STALE_MEMBER_EPOCH; b_kept.len()]
    );
}

#[test]
fn kip_1251_partitions_pending_revocation_keep_their_epoch() {
    let mut h = Harness::new();
    let (kept, _) = split_between_a_and_b(&mut h);
    // c joins: a (epoch 2) must give one of its partitions up and stays at
    // epoch 2 until it does, holding it pending revocation.
    h.join("c", &["t"]);
    let r = h.beat("a", 2, &kept);
    assert_eq!(r.member_epoch, 2);
    let still = assigned(&r).unwrap();
    let revoking: Vec<i32> = kept
        .iter()
        .filter(|p| !still.contains(p))
        .copied()
        .collect();
    assert_eq!(revoking.len(), 1);
    let m = &h.c.consumer_groups["g"].members["a"];
    assert_eq!(m.current.state, records::MemberState::UnrevokedPartitions);
    assert_eq!(
        m.current.assignment_epoch(topic_id(1), revoking[0]),
        Some(1)
    );
    // Still held (pending revocation) since epoch 1: an epoch-1 commit lands.
    assert_eq!(commit_parts(&mut h, "a", 1, &revoking), (vec![NONE], 1));
    // Once revoked, it is gone, epochs and all.
    let r = h.beat("a", 2, &still);
    assert_eq!(r.member_epoch, 3);
    assert_eq!(
        h.c.consumer_groups["g"].members["a"]
            .current
            .assignment_epoch(topic_id(1), revoking[0]),
        None
    );
    assert_eq!(
        commit_parts(&mut h, "a", 2, &revoking),
        (vec![STALE_MEMBER_EPOCH], 0)
    );
    assert_eq!(commit_parts(&mut h, "a", 2, &still).0, vec![NONE; 2]);
}

#[test]
fn kip_1251_transactional_commits_follow_the_same_rule_with_illegal_generation() {
    let mut h = Harness::new();
    let (kept, theirs) = split_between_a_and_b(&mut h);
    assert_eq!(txn_commit_parts(&mut h, "a", 1, &kept), vec![NONE; 3]);
    assert_eq!(
        txn_commit_parts(&mut h, "a", 1, &theirs[..1]),
        vec![ILLEGAL_GENERATION]
    );
    assert_eq!(
        txn_commit_parts(&mut h, "a", 3, &kept),
        vec![ILLEGAL_GENERATION; 3]
    );
    assert_eq!(txn_commit_parts(&mut h, "b", 2, &kept), vec![NONE; 3]);
}

#[test]
fn kip_1251_assignment_epochs_survive_a_restart() {
    let mut h = Harness::new();
    let (kept, theirs) = split_between_a_and_b(&mut h);
    let mut replayed = GroupCoordinator::new(GroupConfig::default());
    for record in &h.log {
        let (key, value) = record.encode().unwrap();
        replayed.replay(Record::decode(&key, value.as_deref()).unwrap(), 0);
    }
    let a = &replayed.consumer_groups["g"].members["a"].current;
    assert_eq!(a.epoch, 2);
    for p in &kept {
        assert_eq!(a.assignment_epoch(topic_id(1), *p), Some(1));
    }
    let b = &replayed.consumer_groups["g"].members["b"].current;
    for p in &theirs {
        assert_eq!(b.assignment_epoch(topic_id(1), *p), Some(2));
    }
    h.c = replayed;
    assert_eq!(commit_parts(&mut h, "a", 1, &kept).0, vec![NONE; 3]);
}

#[test]
fn kip_1251_topic_names_resolve_through_the_current_metadata() {
    let mut h = Harness::new();
    let (kept, _) = split_between_a_and_b(&mut h);
    assert_eq!(commit_parts(&mut h, "a", 1, &kept).0, vec![NONE; 3]);
    // "t" recreated under a new id: a's partitions are of the old topic.
    h.topics = TopicTable::default().with("t", topic_id(9), 6);
    assert_eq!(
        commit_parts(&mut h, "a", 1, &kept).0,
        vec![STALE_MEMBER_EPOCH; 3]
    );
    // The current epoch is not checked per partition.
    assert_eq!(commit_parts(&mut h, "a", 2, &kept).0, vec![NONE; 3]);
}
