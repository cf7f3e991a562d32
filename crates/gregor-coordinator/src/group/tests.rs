//! The coordinator's rules, driven with explicit time: no sockets, no sleeps.

use super::*;
use crate::group::consumer::TopicTable;
use bytes::{BufMut, Bytes, BytesMut};
use gregor_protocol::error_codes::{
    FENCED_INSTANCE_ID, GROUP_ID_NOT_FOUND, ILLEGAL_GENERATION, INCONSISTENT_GROUP_PROTOCOL,
    INVALID_GROUP_ID, INVALID_SESSION_TIMEOUT, MEMBER_ID_REQUIRED, NONE, NON_EMPTY_GROUP,
    UNKNOWN_MEMBER_ID,
};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    ConsumerProtocolSubscription, DeleteGroupsRequest, DescribeGroupsRequest, GroupId,
    HeartbeatRequest, JoinGroupRequest, LeaveGroupRequest, ListGroupsRequest, OffsetCommitRequest,
    OffsetDeleteRequest, SyncGroupRequest, TopicName,
};
use kafka_protocol::protocol::{Encodable, StrBytes};

const SESSION: i32 = 10_000;
const REBALANCE: i32 = 30_000;
const DELAY: i64 = 3_000;

pub(super) fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

pub(super) fn coordinator() -> GroupCoordinator {
    let mut n = 0;
    GroupCoordinator::new(GroupConfig::default()).with_member_id_source(move || {
        n += 1;
        format!("uuid{n}")
    })
}

/// ConsumerProtocolSubscription v1 bytes, as the Java consumer sends them.
fn subscription(topics: &[&str]) -> Bytes {
    let sub =
        ConsumerProtocolSubscription::default().with_topics(topics.iter().map(|t| s(t)).collect());
    let mut buf = BytesMut::new();
    buf.put_i16(1);
    sub.encode(&mut buf, 1).unwrap();
    buf.freeze()
}

struct Join<'a> {
    group: &'a str,
    member_id: &'a str,
    instance: Option<&'a str>,
    protocol_type: &'a str,
    protocols: Vec<(&'a str, Bytes)>,
    version: i16,
}

impl<'a> Join<'a> {
    fn new(group: &'a str, member_id: &'a str) -> Self {
        Join {
            group,
            member_id,
            instance: None,
            protocol_type: "consumer",
            protocols: vec![("range", subscription(&["t1"]))],
            version: 9,
        }
    }

    fn clone_with_id(&self, member_id: &'a str) -> Self {
        Join {
            member_id,
            protocols: self.protocols.clone(),
            ..*self
        }
    }

    fn request(&self) -> JoinGroupRequest {
        JoinGroupRequest::default()
            .with_group_id(GroupId(s(self.group)))
            .with_member_id(s(self.member_id))
            .with_group_instance_id(self.instance.map(s))
            .with_session_timeout_ms(SESSION)
            .with_rebalance_timeout_ms(REBALANCE)
            .with_protocol_type(s(self.protocol_type))
            .with_protocols(
                self.protocols
                    .iter()
                    .map(|(name, meta)| {
                        JoinGroupRequestProtocol::default()
                            .with_name(s(name))
                            .with_metadata(meta.clone())
                    })
                    .collect(),
            )
    }

    fn send(&self, c: &mut GroupCoordinator, id: u64, now: i64) -> Outcome {
        let ctx = JoinContext {
            client_id: "client".into(),
            client_host: "/127.0.0.1".into(),
            api_version: self.version,
        };
        c.join(&self.request(), &ctx, id, now)
    }
}

fn join_of(out: &Outcome, id: u64) -> &JoinGroupResponse {
    out.responses
        .iter()
        .find_map(|(rid, r)| match r {
            Response::Join(j) if *rid == id => Some(j),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no join response for {id}: {out:?}"))
}

fn sync_of(out: &Outcome, id: u64) -> &SyncGroupResponse {
    out.responses
        .iter()
        .find_map(|(rid, r)| match r {
            Response::Sync(j) if *rid == id => Some(j),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no sync response for {id}: {out:?}"))
}

fn answered(out: &Outcome, id: u64) -> bool {
    out.responses.iter().any(|(rid, _)| *rid == id)
}

fn heartbeat(
    c: &mut GroupCoordinator,
    group: &str,
    member: &str,
    instance: Option<&str>,
    generation: i32,
    now: i64,
) -> i16 {
    let req = HeartbeatRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_member_id(s(member))
        .with_group_instance_id(instance.map(s))
        .with_generation_id(generation);
    match &c.heartbeat(&req, 999, now).responses[..] {
        [(999, Response::Heartbeat(r))] => r.error_code,
        other => panic!("unexpected {other:?}"),
    }
}

fn sync(
    c: &mut GroupCoordinator,
    group: &str,
    member: &str,
    generation: i32,
    assignments: &[(&str, &[u8])],
    id: u64,
    now: i64,
) -> Outcome {
    let req = SyncGroupRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_member_id(s(member))
        .with_generation_id(generation)
        .with_assignments(
            assignments
                .iter()
                .map(|(m, a)| {
                    SyncGroupRequestAssignment::default()
                        .with_member_id(s(m))
                        .with_assignment(Bytes::copy_from_slice(a))
                })
                .collect(),
        );
    c.sync(&req, 5, id, now)
}

/// Two dynamic members through MEMBER_ID_REQUIRED and the initial delay:
/// generation 1 at 2 * DELAY, awaiting SyncGroup. Returns (leader, follower).
fn joined_pair(c: &mut GroupCoordinator, group: &str) -> (String, String) {
    let a = join_of(&Join::new(group, "").send(c, 1, 0), 1)
        .member_id
        .to_string();
    let b = join_of(&Join::new(group, "").send(c, 2, 0), 2)
        .member_id
        .to_string();
    assert!(Join::new(group, &a).send(c, 3, 0).responses.is_empty());
    assert!(Join::new(group, &b).send(c, 4, 100).responses.is_empty());
    // b joined during the delay, so it is extended once.
    assert!(c.tick(DELAY).responses.is_empty());
    let out = c.tick(2 * DELAY);
    assert_eq!(join_of(&out, 3).generation_id, 1);
    assert_eq!(join_of(&out, 4).generation_id, 1);
    assert_eq!(c.group_state(group), Some(GroupState::CompletingRebalance));
    (a, b)
}

/// [`joined_pair`] synced: a Stable generation 1 at 2 * DELAY.
fn stable_pair(c: &mut GroupCoordinator, group: &str) -> (String, String) {
    let (a, b) = joined_pair(c, group);
    let out = sync(c, group, &a, 1, &[(&a, b"A"), (&b, b"B")], 5, 2 * DELAY);
    assert_eq!(&sync_of(&out, 5).assignment[..], b"A");
    let out = sync(c, group, &b, 1, &[], 6, 2 * DELAY);
    assert_eq!(&sync_of(&out, 6).assignment[..], b"B");
    assert_eq!(c.group_state(group), Some(GroupState::Stable));
    (a, b)
}

#[test]
fn member_id_required_then_rejoin_with_it() {
    let mut c = coordinator();
    let out = Join::new("g", "").send(&mut c, 1, 0);
    let first = join_of(&out, 1);
    assert_eq!(first.error_code, MEMBER_ID_REQUIRED);
    assert_eq!(first.member_id.as_str(), "client-uuid1");
    assert_eq!(first.generation_id, -1);
    // Rejoining with the id parks the request in the initial delay.
    let out = Join::new("g", "client-uuid1").send(&mut c, 2, 10);
    assert!(out.responses.is_empty());
    assert_eq!(c.group_state("g"), Some(GroupState::PreparingRebalance));
    let out = c.tick(10 + DELAY);
    let joined = join_of(&out, 2);
    assert_eq!(joined.error_code, NONE);
    assert_eq!(joined.generation_id, 1);
    assert_eq!(joined.leader.as_str(), "client-uuid1");
    assert_eq!(joined.protocol_name.as_deref(), Some("range"));
    assert_eq!(c.group_state("g"), Some(GroupState::CompletingRebalance));
}

#[test]
fn unused_member_id_expires_and_old_clients_join_directly() {
    let mut c = coordinator();
    Join::new("g", "").send(&mut c, 1, 0);
    assert_eq!(c.next_deadline(), Some(i64::from(SESSION)));
    c.tick(i64::from(SESSION));
    assert_eq!(c.group_state("g"), None);
    let out = Join::new("g", "client-uuid1").send(&mut c, 2, SESSION.into());
    assert_eq!(join_of(&out, 2).error_code, UNKNOWN_MEMBER_ID);
    // Before v4 a new member is admitted at once.
    let mut old = Join::new("g", "");
    old.version = 3;
    assert!(old.send(&mut c, 3, 0).responses.is_empty());
    let out = c.tick(DELAY);
    assert_eq!(join_of(&out, 3).member_id.as_str(), "client-uuid2");
}

#[test]
fn both_members_are_answered_together_and_only_the_leader_gets_metadata() {
    let mut c = coordinator();
    let (a, b) = stable_pair(&mut c, "g");
    // A rejoin by the leader starts a rebalance that ends as soon as the
    // follower has rejoined too: both answers come with the second join.
    assert!(Join::new("g", &a)
        .send(&mut c, 10, 7_000)
        .responses
        .is_empty());
    assert_eq!(c.group_state("g"), Some(GroupState::PreparingRebalance));
    let out = Join::new("g", &b).send(&mut c, 11, 7_100);
    let (leader, follower) = (join_of(&out, 10), join_of(&out, 11));
    assert_eq!((leader.generation_id, follower.generation_id), (2, 2));
    assert_eq!(leader.leader.as_str(), a);
    assert_eq!(follower.leader.as_str(), a);
    assert_eq!(leader.members.len(), 2);
    assert_eq!(leader.members[0].member_id.as_str(), a);
    assert_eq!(leader.members[1].metadata, subscription(&["t1"]));
    assert!(follower.members.is_empty());
}

#[test]
fn sync_parks_followers_until_the_leader_assigns() {
    let mut c = coordinator();
    let (a, b) = joined_pair(&mut c, "g");
    let now = 2 * DELAY;
    // Follower first: parked.
    assert!(sync(&mut c, "g", &b, 1, &[], 5, now).responses.is_empty());
    let out = sync(
        &mut c,
        "g",
        &a,
        1,
        &[(&a, b"for-a"), (&b, b"for-b")],
        6,
        now,
    );
    assert_eq!(&sync_of(&out, 5).assignment[..], b"for-b");
    assert_eq!(&sync_of(&out, 6).assignment[..], b"for-a");
    assert_eq!(sync_of(&out, 5).protocol_name.as_deref(), Some("range"));
    assert!(matches!(out.records[..], [Record::Group { .. }]));
    assert_eq!(c.group_state("g"), Some(GroupState::Stable));
    // Wrong generation and unknown members are refused.
    let out = sync(&mut c, "g", &a, 7, &[], 7, now);
    assert_eq!(sync_of(&out, 7).error_code, ILLEGAL_GENERATION);
    let out = sync(&mut c, "g", "nobody", 1, &[], 8, now);
    assert_eq!(sync_of(&out, 8).error_code, UNKNOWN_MEMBER_ID);
}

#[test]
fn heartbeats_report_rebalances_and_bad_members() {
    let mut c = coordinator();
    let (a, b) = stable_pair(&mut c, "g");
    assert_eq!(heartbeat(&mut c, "g", &b, None, 1, 6_500), 0);
    assert_eq!(heartbeat(&mut c, "g", &b, None, 0, 6_500), 22);
    assert_eq!(heartbeat(&mut c, "g", "ghost", None, 1, 6_500), 25);
    assert_eq!(heartbeat(&mut c, "nogroup", &b, None, 1, 6_500), 25);
    Join::new("g", &a).send(&mut c, 10, 7_000);
    assert_eq!(heartbeat(&mut c, "g", &b, None, 1, 7_000), 27);
}

#[test]
fn session_expiry_evicts_and_rebalances() {
    let mut c = coordinator();
    let (a, b) = stable_pair(&mut c, "g");
    // Only b keeps heartbeating.
    let mut now = 2 * DELAY;
    while now < 2 * DELAY + i64::from(SESSION) {
        now += 3_000;
        assert_eq!(heartbeat(&mut c, "g", &b, None, 1, now), 0);
        c.tick(now);
    }
    assert_eq!(c.group_state("g"), Some(GroupState::PreparingRebalance));
    assert_eq!(heartbeat(&mut c, "g", &a, None, 1, now), 25);
    assert_eq!(heartbeat(&mut c, "g", &b, None, 1, now), 27);
    // b is the only member left: its rejoin completes the phase, and it leads.
    let out = Join::new("g", &b).send(&mut c, 20, now);
    let joined = join_of(&out, 20);
    assert_eq!(
        (joined.generation_id, joined.leader.as_str()),
        (2, b.as_str())
    );
    assert_eq!(joined.members.len(), 1);
}

#[test]
fn members_that_do_not_rejoin_are_dropped_at_the_rebalance_timeout() {
    let mut c = coordinator();
    let (a, b) = stable_pair(&mut c, "g");
    let start = 7_000;
    Join::new("g", &a).send(&mut c, 10, start);
    // b keeps heartbeating (so its session lives) but never rejoins.
    for at in [12_000, 21_000, 30_000] {
        assert_eq!(heartbeat(&mut c, "g", &b, None, 1, at), 27);
        assert!(c.tick(at).responses.is_empty());
    }
    let out = c.tick(start + i64::from(REBALANCE));
    let joined = join_of(&out, 10);
    assert_eq!(joined.generation_id, 2);
    assert_eq!(joined.members.len(), 1);
    assert_eq!(heartbeat(&mut c, "g", &b, None, 2, start + 30_001), 25);
}

#[test]
fn followers_that_never_sync_are_removed() {
    let mut c = coordinator();
    let (a, b) = joined_pair(&mut c, "g");
    let start = 2 * DELAY;
    sync(&mut c, "g", &a, 1, &[(&a, b"x")], 5, start);
    // Session timers are fed, but b never sends SyncGroup.
    for at in [start + 9_000, start + 18_000, start + 27_000] {
        assert_eq!(heartbeat(&mut c, "g", &b, None, 1, at), 0);
        assert_eq!(heartbeat(&mut c, "g", &a, None, 1, at), 0);
        c.tick(at);
    }
    assert_eq!(c.group_state("g"), Some(GroupState::Stable));
    c.tick(start + i64::from(REBALANCE));
    assert_eq!(c.group_state("g"), Some(GroupState::PreparingRebalance));
    assert_eq!(heartbeat(&mut c, "g", &b, None, 1, start + 30_000), 25);
}

#[test]
fn leave_triggers_a_rebalance() {
    let mut c = coordinator();
    let (a, b) = stable_pair(&mut c, "g");
    let req = LeaveGroupRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_members(vec![
            MemberIdentity::default().with_member_id(s(&b)),
            MemberIdentity::default().with_member_id(s("ghost")),
        ]);
    let out = c.leave(&req, 5, 30, 7_000);
    let Some((30, Response::Leave(resp))) = out.responses.first() else {
        panic!("{out:?}");
    };
    let codes: Vec<i16> = resp.members.iter().map(|m| m.error_code).collect();
    assert_eq!(codes, vec![0, 25]);
    assert_eq!(c.group_state("g"), Some(GroupState::PreparingRebalance));
    assert_eq!(heartbeat(&mut c, "g", &a, None, 1, 7_000), 27);
    // v0-v2: one member, its code at the top level.
    let old = LeaveGroupRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_member_id(s("ghost"));
    match &c.leave(&old, 1, 31, 7_000).responses[..] {
        [(31, Response::Leave(r))] => {
            assert_eq!((r.error_code, r.members.len()), (UNKNOWN_MEMBER_ID, 0))
        }
        other => panic!("{other:?}"),
    }
    // The last member leaving empties the group.
    let req = LeaveGroupRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_members(vec![MemberIdentity::default().with_member_id(s(&a))]);
    let out = c.leave(&req, 5, 32, 7_000);
    assert_eq!(c.group_state("g"), Some(GroupState::Empty));
    assert!(
        matches!(&out.records[..], [Record::Group { value: Some(v), .. }] if v.members.is_empty())
    );
}

#[test]
fn protocol_type_and_protocols_must_be_compatible() {
    let mut c = coordinator();
    let (_a, _b) = stable_pair(&mut c, "g");
    let mut other = Join::new("g", "");
    other.protocol_type = "connect";
    assert_eq!(
        join_of(&other.send(&mut c, 1, 7_000), 1).error_code,
        INCONSISTENT_GROUP_PROTOCOL
    );
    let mut other = Join::new("g", "");
    other.protocols = vec![("roundrobin", subscription(&["t1"]))];
    assert_eq!(
        join_of(&other.send(&mut c, 2, 7_000), 2).error_code,
        INCONSISTENT_GROUP_PROTOCOL
    );
    let mut empty = Join::new("fresh", "");
    empty.protocols.clear();
    assert_eq!(
        join_of(&empty.send(&mut c, 3, 7_000), 3).error_code,
        INCONSISTENT_GROUP_PROTOCOL
    );
    assert_eq!(c.group_state("fresh"), None);
}

#[test]
fn the_protocol_most_members_prefer_wins() {
    let mut c = coordinator();
    let prefs: [&[&str]; 3] = [
        &["range", "rr"],
        &["rr", "range"],
        &["rr", "range", "sticky"],
    ];
    for (i, pref) in prefs.iter().enumerate() {
        let mut j = Join::new("g", "");
        j.version = 3;
        j.protocols = pref.iter().map(|p| (*p, Bytes::new())).collect();
        j.send(&mut c, i as u64, 0);
    }
    let out = c.tick(2 * DELAY);
    assert_eq!(join_of(&out, 0).protocol_name.as_deref(), Some("rr"));
}

#[test]
fn static_member_rejoins_without_rebalance_and_fences_the_old_id() {
    let mut c = coordinator();
    let mut a = Join::new("g", "");
    a.instance = Some("inst-a");
    let mut b = Join::new("g", "");
    b.instance = Some("inst-b");
    // Static members get ids at once (no MEMBER_ID_REQUIRED).
    a.send(&mut c, 1, 0);
    b.send(&mut c, 2, 0);
    let out = c.tick(2 * DELAY);
    let a_id = join_of(&out, 1).member_id.to_string();
    let b_id = join_of(&out, 2).member_id.to_string();
    assert!(a_id.starts_with("inst-a-"));
    sync(
        &mut c,
        "g",
        &a_id,
        1,
        &[(&a_id, b"A"), (&b_id, b"B")],
        3,
        2 * DELAY,
    );
    sync(&mut c, "g", &b_id, 1, &[], 4, 2 * DELAY);

    // b restarts: same instance id, no member id, same protocols.
    let out = b.send(&mut c, 5, 5_000);
    let rejoined = join_of(&out, 5);
    let new_b = rejoined.member_id.to_string();
    assert_ne!(new_b, b_id);
    assert_eq!(rejoined.error_code, NONE);
    assert_eq!(rejoined.generation_id, 1);
    assert_eq!(rejoined.leader.as_str(), a_id);
    assert!(!rejoined.skip_assignment);
    assert_eq!(c.group_state("g"), Some(GroupState::Stable));
    assert!(
        matches!(&out.records[..], [Record::Group { value: Some(v), .. }]
        if v.members.iter().any(|m| m.member_id == new_b))
    );
    // The new id syncs straight to the old assignment; the old id is fenced.
    let out = sync(&mut c, "g", &new_b, 1, &[], 6, 5_000);
    assert_eq!(&sync_of(&out, 6).assignment[..], b"B");
    assert_eq!(heartbeat(&mut c, "g", &b_id, Some("inst-b"), 1, 5_000), 82);
    assert_eq!(heartbeat(&mut c, "g", &new_b, Some("inst-b"), 1, 5_000), 0);
    assert_eq!(heartbeat(&mut c, "g", &a_id, Some("inst-a"), 1, 5_000), 0);
    assert_eq!(heartbeat(&mut c, "g", "x", Some("inst-zzz"), 1, 5_000), 25);

    // Kafka only looks at whether the selected protocol would change, so
    // new metadata under the same protocol is answered at once too.
    let mut changed = Join::new("g", "");
    changed.instance = Some("inst-b");
    changed.protocols = vec![("range", subscription(&["t1", "t2"]))];
    let out = changed.send(&mut c, 7, 6_000);
    assert_eq!(join_of(&out, 7).generation_id, 1);
    assert_eq!(c.group_state("g"), Some(GroupState::Stable));

    // Before v9 the old leader id is echoed so the member never assigns.
    let mut old = Join::new("g", "");
    old.instance = Some("inst-a");
    old.version = 8;
    let out = old.send(&mut c, 8, 6_000);
    let resp = join_of(&out, 8);
    assert_eq!(resp.leader.as_str(), a_id);
    assert_ne!(resp.member_id.as_str(), a_id);
    assert!(resp.members.is_empty());
}

#[test]
fn static_member_in_a_completing_rebalance_restarts_it() {
    let mut c = coordinator();
    let mut a = Join::new("g", "");
    a.instance = Some("inst-a");
    let mut b = Join::new("g", "");
    b.instance = Some("inst-b");
    a.send(&mut c, 1, 0);
    b.send(&mut c, 2, 0);
    let out = c.tick(2 * DELAY);
    let a_id = join_of(&out, 1).member_id.to_string();
    let old_b = join_of(&out, 2).member_id.to_string();
    let now = 2 * DELAY;
    // b's sync is parked waiting for the leader when b restarts.
    assert!(sync(&mut c, "g", &old_b, 1, &[], 3, now)
        .responses
        .is_empty());
    let out = b.send(&mut c, 4, now + 1);
    assert_eq!(sync_of(&out, 3).error_code, FENCED_INSTANCE_ID);
    assert!(!answered(&out, 4));
    // The leader may already be assigning to the old id: a new rebalance.
    assert_eq!(c.group_state("g"), Some(GroupState::PreparingRebalance));
    assert_eq!(
        heartbeat(&mut c, "g", &old_b, Some("inst-b"), 1, now + 1),
        82
    );
    assert_eq!(
        heartbeat(&mut c, "g", &a_id, Some("inst-a"), 1, now + 1),
        27
    );
    let out = a.clone_with_id(&a_id).send(&mut c, 5, now + 2);
    assert_eq!(join_of(&out, 4).generation_id, 2);
    assert_eq!(join_of(&out, 5).generation_id, 2);
}

#[test]
fn offsets_commit_and_fetch() {
    let mut c = coordinator();
    // A simple consumer (assign()) commits with generation -1.
    let (resp, records) = c.commit_offsets(
        &commit("simple", -1, "", &[("t", 0, 42), ("t", 1, 7)]),
        9,
        &TopicTable::default(),
        100,
    );
    assert!(all_codes(&resp).iter().all(|&code| code == 0));
    assert_eq!(records.len(), 2);
    assert_eq!(c.group_state("simple"), Some(GroupState::Empty));
    let fetched = c.fetch_offsets(
        "simple",
        Some(&[("t".into(), vec![0, 1, 2]), ("u".into(), vec![0])]),
    );
    assert_eq!(fetched[0].partitions[0].offset, 42);
    assert_eq!(fetched[0].partitions[0].leader_epoch, 5);
    assert_eq!(fetched[0].partitions[0].metadata, "m");
    assert_eq!(fetched[0].partitions[1].offset, 7);
    assert_eq!(fetched[0].partitions[2].offset, -1);
    assert_eq!(fetched[1].partitions[0].offset, -1);
    let all = c.fetch_offsets("simple", None);
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].partitions.len(), 2);
    assert!(c.fetch_offsets("unknown", None).is_empty());
    assert_eq!(
        c.fetch_offsets("unknown", Some(&[("t".into(), vec![0])]))[0].partitions[0].offset,
        -1
    );

    // Unknown group with a generation: v8 ILLEGAL_GENERATION, v9 GROUP_ID_NOT_FOUND.
    let req = commit("nope", 3, "m-1", &[("t", 0, 1)]);
    assert_eq!(
        all_codes(&c.commit_offsets(&req, 8, &TopicTable::default(), 0).0),
        vec![22]
    );
    assert_eq!(
        all_codes(&c.commit_offsets(&req, 9, &TopicTable::default(), 0).0),
        vec![69]
    );
    assert_eq!(c.group_state("nope"), None);

    // Members of a group commit with their generation.
    let (a, _b) = stable_pair(&mut c, "g");
    let ok = c.commit_offsets(
        &commit("g", 1, &a, &[("t1", 0, 5)]),
        9,
        &TopicTable::default(),
        7_000,
    );
    assert_eq!(all_codes(&ok.0), vec![0]);
    assert_eq!(
        all_codes(
            &c.commit_offsets(
                &commit("g", 0, &a, &[("t1", 0, 5)]),
                9,
                &TopicTable::default(),
                7_000
            )
            .0
        ),
        vec![22]
    );
    assert_eq!(
        all_codes(
            &c.commit_offsets(
                &commit("g", 1, "ghost", &[("t1", 0, 5)]),
                9,
                &TopicTable::default(),
                7_000
            )
            .0
        ),
        vec![25]
    );
    // generation -1 without member id only while the group is Empty.
    assert_eq!(
        all_codes(
            &c.commit_offsets(
                &commit("g", -1, "", &[("t1", 0, 5)]),
                9,
                &TopicTable::default(),
                7_000
            )
            .0
        ),
        vec![25]
    );
    let mut big = commit("simple", -1, "", &[("t", 0, 1)]);
    big.topics[0].partitions[0].committed_metadata = Some(s(&"x".repeat(5_000)));
    assert_eq!(
        all_codes(&c.commit_offsets(&big, 9, &TopicTable::default(), 0).0),
        vec![12]
    );
}

#[test]
fn commits_mid_rebalance() {
    let mut c = coordinator();
    let a = join_of(&Join::new("g", "").send(&mut c, 1, 0), 1)
        .member_id
        .to_string();
    Join::new("g", &a).send(&mut c, 2, 0);
    c.tick(DELAY);
    // Joined but not synced: REBALANCE_IN_PROGRESS.
    let req = commit("g", 1, &a, &[("t1", 0, 1)]);
    assert_eq!(
        all_codes(&c.commit_offsets(&req, 9, &TopicTable::default(), DELAY).0),
        vec![27]
    );
    sync(&mut c, "g", &a, 1, &[(&a, b"x")], 3, DELAY);
    assert_eq!(
        all_codes(&c.commit_offsets(&req, 9, &TopicTable::default(), DELAY).0),
        vec![0]
    );
    // During PreparingRebalance the current generation may still commit.
    let (x, y) = stable_pair(&mut c, "h");
    Join::new("h", &x).send(&mut c, 4, 7_000);
    assert_eq!(c.group_state("h"), Some(GroupState::PreparingRebalance));
    let req = commit("h", 1, &y, &[("t1", 0, 1)]);
    assert_eq!(
        all_codes(&c.commit_offsets(&req, 9, &TopicTable::default(), 7_000).0),
        vec![0]
    );
}

#[test]
fn delete_groups_only_when_empty() {
    let mut c = coordinator();
    let (a, _b) = stable_pair(&mut c, "g");
    c.commit_offsets(
        &commit("g", 1, &a, &[("t1", 0, 5)]),
        9,
        &TopicTable::default(),
        7_000,
    );
    c.commit_offsets(
        &commit("simple", -1, "", &[("t", 0, 1), ("t", 1, 2)]),
        9,
        &TopicTable::default(),
        7_000,
    );
    let req = DeleteGroupsRequest::default().with_groups_names(vec![
        GroupId(s("g")),
        GroupId(s("simple")),
        GroupId(s("missing")),
    ]);
    let (resp, records) = c.delete_groups(&req);
    let codes: Vec<i16> = resp.results.iter().map(|r| r.error_code).collect();
    assert_eq!(codes, vec![68, 0, 69]);
    assert_eq!(records.len(), 3);
    assert!(records.iter().all(|r| r.group_id() == "simple"));
    assert!(matches!(
        records.last(),
        Some(Record::Group { value: None, .. })
    ));
    assert_eq!(c.group_state("simple"), None);
    assert_eq!(
        c.fetch_offsets("simple", Some(&[("t".into(), vec![0])]))[0].partitions[0].offset,
        -1
    );
}

#[test]
fn offset_delete_refuses_subscribed_topics_of_live_groups() {
    let mut c = coordinator();
    let (a, _b) = stable_pair(&mut c, "g");
    c.commit_offsets(
        &commit("g", 1, &a, &[("t1", 0, 5), ("old", 0, 9)]),
        9,
        &TopicTable::default(),
        7_000,
    );
    let req = offset_delete("g", &[("t1", 0), ("old", 0), ("never", 3)]);
    let (resp, records) = c.delete_offsets(&req);
    assert_eq!(resp.error_code, NONE);
    let codes: Vec<i16> = resp
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
        .collect();
    assert_eq!(codes, vec![86, 0, 0]);
    assert_eq!(records.len(), 1);
    let left = c.fetch_offsets("g", None);
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].name, "t1");
    assert_eq!(
        c.delete_offsets(&offset_delete("missing", &[("t", 0)]))
            .0
            .error_code,
        GROUP_ID_NOT_FOUND
    );

    // A non-consumer group with members cannot tell what it uses.
    let mut connect = Join::new("c", "");
    connect.protocol_type = "connect";
    connect.version = 3;
    connect.send(&mut c, 1, 0);
    c.tick(DELAY + 7_000);
    assert_eq!(
        c.delete_offsets(&offset_delete("c", &[("t", 0)]))
            .0
            .error_code,
        NON_EMPTY_GROUP
    );
}

#[test]
fn replay_rebuilds_offsets_and_groups() {
    let mut c = coordinator();
    let (a, b) = stable_pair(&mut c, "g");
    let mut log: Vec<(Bytes, Option<Bytes>)> = Vec::new();
    let mut persist = |records: Vec<Record>| {
        for r in records {
            log.push(r.encode().unwrap());
        }
    };
    persist(
        c.commit_offsets(
            &commit("g", 1, &a, &[("t1", 0, 5), ("t1", 1, 6)]),
            9,
            &TopicTable::default(),
            7_000,
        )
        .1,
    );
    persist(
        c.commit_offsets(
            &commit("g", 1, &a, &[("t1", 0, 8)]),
            9,
            &TopicTable::default(),
            7_001,
        )
        .1,
    );
    persist(
        c.commit_offsets(
            &commit("s", -1, "", &[("x", 0, 1)]),
            9,
            &TopicTable::default(),
            7_002,
        )
        .1,
    );
    persist(c.delete_offsets(&offset_delete("s", &[("x", 0)])).1);
    // The group record of the last sync.
    let out = sync(&mut c, "g", &b, 1, &[], 50, 7_003);
    assert!(out.records.is_empty());
    let join = Join::new("g", &a).send(&mut c, 51, 7_004);
    assert!(join.responses.is_empty());
    let out = Join::new("g", &b).send(&mut c, 52, 7_005);
    persist(out.records);
    let out = sync(&mut c, "g", &a, 2, &[(&a, b"A2"), (&b, b"B2")], 53, 7_006);
    persist(out.records);

    let mut reloaded = coordinator();
    for (key, value) in &log {
        reloaded.replay(Record::decode(key, value.as_deref()).unwrap(), 10_000);
    }
    assert_eq!(
        reloaded.fetch_offsets("g", None),
        c.fetch_offsets("g", None)
    );
    assert_eq!(reloaded.fetch_offsets("g", None)[0].partitions[0].offset, 8);
    assert_eq!(reloaded.group_state("s"), None);
    assert_eq!(reloaded.group_state("g"), Some(GroupState::Stable));
    let out = sync(&mut reloaded, "g", &b, 2, &[], 60, 10_000);
    assert_eq!(&sync_of(&out, 60).assignment[..], b"B2");
    // Sessions restart at load time and expire as usual.
    assert_eq!(heartbeat(&mut reloaded, "g", &b, None, 2, 15_000), 0);
    reloaded.tick(10_000 + i64::from(SESSION));
    assert_eq!(
        reloaded.group_state("g"),
        Some(GroupState::PreparingRebalance)
    );
}

#[test]
fn describe_and_list() {
    let mut c = coordinator();
    let (a, _b) = stable_pair(&mut c, "g");
    c.commit_offsets(
        &commit("simple", -1, "", &[("t", 0, 1)]),
        9,
        &TopicTable::default(),
        0,
    );
    let req =
        DescribeGroupsRequest::default().with_groups(vec![GroupId(s("g")), GroupId(s("missing"))]);
    let resp = c.describe_groups(&req, 5);
    let g = &resp.groups[0];
    assert_eq!(g.group_state.as_str(), "Stable");
    assert_eq!(g.protocol_type.as_str(), "consumer");
    assert_eq!(g.protocol_data.as_str(), "range");
    assert_eq!(g.members[0].member_id.as_str(), a);
    assert_eq!(&g.members[0].member_assignment[..], b"A");
    assert_eq!(g.members[0].member_metadata, subscription(&["t1"]));
    assert_eq!(
        (
            resp.groups[1].error_code,
            resp.groups[1].group_state.as_str()
        ),
        (0, "Dead")
    );
    assert_eq!(
        c.describe_groups(&req, 6).groups[1].error_code,
        GROUP_ID_NOT_FOUND
    );

    let all = c.list_groups(&ListGroupsRequest::default());
    let names: Vec<&str> = all.groups.iter().map(|g| g.group_id.as_str()).collect();
    assert_eq!(names, vec!["g", "simple"]);
    let stable = c.list_groups(&ListGroupsRequest::default().with_states_filter(vec![s("stable")]));
    assert_eq!(stable.groups.len(), 1);
    assert_eq!(stable.groups[0].group_type.as_str(), "classic");
    let consumer =
        c.list_groups(&ListGroupsRequest::default().with_types_filter(vec![s("consumer")]));
    assert!(consumer.groups.is_empty());
}

#[test]
fn session_timeout_bounds_and_group_id() {
    let mut c = coordinator();
    let mut req = Join::new("g", "").request();
    req.session_timeout_ms = 1_000;
    let ctx = JoinContext {
        client_id: "c".into(),
        client_host: "h".into(),
        api_version: 9,
    };
    assert_eq!(
        join_of(&c.join(&req, &ctx, 1, 0), 1).error_code,
        INVALID_SESSION_TIMEOUT
    );
    let mut req = Join::new("", "").request();
    req.session_timeout_ms = SESSION;
    assert_eq!(
        join_of(&c.join(&req, &ctx, 2, 0), 2).error_code,
        INVALID_GROUP_ID
    );
    // Protocol name is never null on the wire before v7.
    let ctx6 = JoinContext {
        api_version: 6,
        ..ctx
    };
    let mut req = Join::new("g", "unknown").request();
    req.session_timeout_ms = SESSION;
    let out = c.join(&req, &ctx6, 3, 0);
    assert_eq!(join_of(&out, 3).protocol_name.as_deref(), Some(""));
}

pub(super) fn commit(
    group: &str,
    generation: i32,
    member: &str,
    parts: &[(&str, i32, i64)],
) -> OffsetCommitRequest {
    let mut topics: Vec<OffsetCommitRequestTopic> = Vec::new();
    for (topic, partition, offset) in parts {
        let p = OffsetCommitRequestPartition::default()
            .with_partition_index(*partition)
            .with_committed_offset(*offset)
            .with_committed_leader_epoch(5)
            .with_committed_metadata(Some(s("m")));
        match topics.iter_mut().find(|t| t.name.as_str() == *topic) {
            Some(t) => t.partitions.push(p),
            None => topics.push(
                OffsetCommitRequestTopic::default()
                    .with_name(TopicName(s(topic)))
                    .with_partitions(vec![p]),
            ),
        }
    }
    OffsetCommitRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(s(member))
        .with_topics(topics)
}

fn all_codes(resp: &kafka_protocol::messages::OffsetCommitResponse) -> Vec<i16> {
    resp.topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
        .collect()
}

pub(super) fn offset_delete(group: &str, parts: &[(&str, i32)]) -> OffsetDeleteRequest {
    OffsetDeleteRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_topics(
            parts
                .iter()
                .map(|(t, p)| {
                    OffsetDeleteRequestTopic::default()
                        .with_name(TopicName(s(t)))
                        .with_partitions(vec![
                            OffsetDeleteRequestPartition::default().with_partition_index(*p)
                        ])
                })
                .collect(),
        )
}
