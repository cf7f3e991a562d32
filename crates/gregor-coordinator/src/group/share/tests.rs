#![allow(clippy::unwrap_used)]

use super::*;
use crate::group::consumer::TopicTable;
use crate::group::records::Record;
use crate::group::{GroupConfig, GroupCoordinator};
use gregor_protocol::error_codes::{
    FENCED_MEMBER_EPOCH, GROUP_ID_NOT_FOUND, GROUP_MAX_SIZE_REACHED, INVALID_REQUEST, NONE,
    NON_EMPTY_GROUP, UNKNOWN_MEMBER_ID,
};
use kafka_protocol::messages::{
    DeleteGroupsRequest, GroupId, ListGroupsRequest, ShareGroupHeartbeatRequest,
    ShareGroupHeartbeatResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

const T1: Uuid = Uuid::from_u128(0x11);

fn topics() -> TopicTable {
    TopicTable::default().with("t1", T1, 2)
}

fn ctx() -> ShareContext {
    ShareContext {
        client_id: "c".into(),
        client_host: "/127.0.0.1".into(),
        heartbeat_interval_ms: 5_000,
        session_timeout_ms: 45_000,
    }
}

fn hb(member: &str, epoch: i32, subs: Option<&[&str]>) -> ShareGroupHeartbeatRequest {
    ShareGroupHeartbeatRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str("g")))
        .with_member_id(StrBytes::from_string(member.to_string()))
        .with_member_epoch(epoch)
        .with_subscribed_topic_names(subs.map(|s| {
            s.iter()
                .map(|n| TopicName(StrBytes::from_string(n.to_string())))
                .collect()
        }))
}

fn send(
    c: &mut GroupCoordinator,
    req: ShareGroupHeartbeatRequest,
    now: i64,
) -> (ShareGroupHeartbeatResponse, ShareEffects) {
    c.share_group_heartbeat(&req, &ctx(), &topics(), now)
}

/// A member joined, with the group's partitions initialized.
fn joined(c: &mut GroupCoordinator, member: &str, now: i64) -> ShareGroupHeartbeatResponse {
    let (r, effects) = send(c, hb(member, 0, Some(&["t1"])), now);
    assert_eq!(r.error_code, NONE, "{:?}", r.error_message);
    if !effects.to_initialize.is_empty() {
        c.share_partitions_initialized("g", &effects.to_initialize, true, now);
    }
    r
}

fn assigned(r: &ShareGroupHeartbeatResponse) -> Vec<i32> {
    r.assignment
        .iter()
        .flat_map(|a| a.topic_partitions.iter())
        .flat_map(|t| t.partitions.iter().copied())
        .collect()
}

#[test]
fn a_join_initializes_partitions_then_assigns_them() {
    let mut c = GroupCoordinator::new(GroupConfig::default());
    let (r, effects) = send(&mut c, hb("m1", 0, Some(&["t1"])), 0);
    assert_eq!(r.error_code, NONE);
    assert_eq!(r.member_epoch, 1);
    assert_eq!(r.heartbeat_interval_ms, 5_000);
    // Nothing assignable yet: the share-partitions have no state.
    assert_eq!(assigned(&r), Vec::<i32>::new());
    assert_eq!(effects.to_initialize.len(), 1);
    assert_eq!(effects.to_initialize[0].0, T1);
    // A second heartbeat does not ask again while they initialize.
    let (_, again) = send(&mut c, hb("m1", 1, None), 1);
    assert!(again.to_initialize.is_empty());
    let records = c.share_partitions_initialized("g", &effects.to_initialize, true, 2);
    assert!(!records.is_empty());
    let (r, _) = send(&mut c, hb("m1", 1, None), 3);
    assert_eq!(r.member_epoch, 2);
    assert_eq!(assigned(&r), vec![0, 1]);
    assert_eq!(c.share_state_keys("g").len(), 2);
}

#[test]
fn a_failed_initialization_is_retried_by_a_later_heartbeat() {
    let mut c = GroupCoordinator::new(GroupConfig::default());
    let (_, effects) = send(&mut c, hb("m1", 0, Some(&["t1"])), 0);
    c.share_partitions_initialized("g", &effects.to_initialize, false, 1);
    let (_, again) = send(&mut c, hb("m1", 1, None), 2);
    assert_eq!(again.to_initialize.len(), 1);
}

#[test]
fn members_share_partitions_when_there_are_more_of_them() {
    let mut c = GroupCoordinator::new(GroupConfig::default());
    joined(&mut c, "m1", 0);
    joined(&mut c, "m2", 0);
    joined(&mut c, "m3", 0);
    let mut holders = [0; 2];
    for m in ["m1", "m2", "m3"] {
        let g = c.share_group("g").unwrap();
        let epoch = g.members[m].epoch;
        let (r, _) = send(&mut c, hb(m, epoch, None), 1);
        assert_eq!(r.error_code, NONE);
        let parts: Vec<i32> = c.share_group("g").unwrap().members[m]
            .assigned
            .values()
            .flatten()
            .copied()
            .collect();
        assert!(!parts.is_empty(), "{m} has nothing");
        for p in parts {
            holders[p as usize] += 1;
        }
    }
    // 3 members, 2 partitions: each partition is shared by 2.
    assert_eq!(holders, [2, 2]);
}

#[test]
fn bad_heartbeats_get_kafkas_errors() {
    let mut c = GroupCoordinator::new(GroupConfig::default());
    let (r, _) = send(&mut c, hb("m1", 0, None), 0);
    assert_eq!(r.error_code, INVALID_REQUEST);
    let (r, _) = send(&mut c, hb("m1", -2, None), 0);
    assert_eq!(r.error_code, INVALID_REQUEST);
    let (r, _) = send(&mut c, hb("m1", 1, None), 0);
    assert_eq!(r.error_code, GROUP_ID_NOT_FOUND);
    let r = joined(&mut c, "m1", 0);
    let (bad, _) = send(&mut c, hb("nobody", 1, None), 0);
    assert_eq!(bad.error_code, UNKNOWN_MEMBER_ID);
    let (bad, _) = send(&mut c, hb("m1", r.member_epoch + 5, None), 0);
    assert_eq!(bad.error_code, FENCED_MEMBER_EPOCH);
    let (bad, _) = send(&mut c, hb("nobody", -1, None), 0);
    assert_eq!(bad.error_code, UNKNOWN_MEMBER_ID);
    // A rejoin (epoch 0) of a known member is accepted and gets its partitions.
    let (again, _) = send(&mut c, hb("m1", 0, Some(&["t1"])), 0);
    assert_eq!(again.error_code, NONE);
    assert!(again.assignment.is_some());
}

#[test]
fn the_group_size_is_bounded() {
    let mut config = GroupConfig::default();
    config.share.max_size = 1;
    let mut c = GroupCoordinator::new(config);
    joined(&mut c, "m1", 0);
    let (r, _) = send(&mut c, hb("m2", 0, Some(&["t1"])), 0);
    assert_eq!(r.error_code, GROUP_MAX_SIZE_REACHED);
}

#[test]
fn a_group_of_another_type_is_not_a_share_group() {
    let mut c = GroupCoordinator::new(GroupConfig::default());
    let commit = kafka_protocol::messages::OffsetCommitRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str("g")))
        .with_generation_id_or_member_epoch(-1);
    c.commit_offsets(&commit, 9, &topics(), 0);
    let (r, _) = send(&mut c, hb("m1", 0, Some(&["t1"])), 0);
    assert_eq!(r.error_code, GROUP_ID_NOT_FOUND);
    assert!(r.error_message.unwrap().contains("not a share group"));
}

#[test]
fn leaving_and_session_expiry_remove_members() {
    let mut c = GroupCoordinator::new(GroupConfig::default());
    joined(&mut c, "m1", 0);
    joined(&mut c, "m2", 0);
    let (r, _) = send(&mut c, hb("m1", -1, None), 10);
    assert_eq!(r.error_code, NONE);
    assert_eq!(r.member_epoch, -1);
    assert!(!c.share_group("g").unwrap().members.contains_key("m1"));
    // m2 last heartbeated at 0: fenced after its session timeout.
    assert_eq!(c.next_deadline(), Some(45_000));
    let out = c.tick(45_000);
    assert!(!out.records.is_empty());
    let g = c.share_group("g").unwrap();
    assert_eq!(g.state(), ShareGroupState::Empty);
}

#[test]
fn share_groups_are_listed_and_deleted_when_empty() {
    let mut c = GroupCoordinator::new(GroupConfig::default());
    joined(&mut c, "m1", 0);
    let listed = c.list_groups(
        &ListGroupsRequest::default().with_types_filter(vec![StrBytes::from_static_str("share")]),
    );
    assert_eq!(listed.groups.len(), 1);
    assert_eq!(listed.groups[0].group_state.as_str(), "Stable");
    assert_eq!(listed.groups[0].group_type.as_str(), "share");
    let delete = DeleteGroupsRequest::default()
        .with_groups_names(vec![GroupId(StrBytes::from_static_str("g"))]);
    let (r, records) = c.delete_groups(&delete);
    assert_eq!(r.results[0].error_code, NON_EMPTY_GROUP);
    assert!(records.is_empty());
    send(&mut c, hb("m1", -1, None), 1);
    let (r, records) = c.delete_groups(&delete);
    assert_eq!(r.results[0].error_code, NONE);
    assert!(!records.is_empty());
    assert!(c.share_group("g").is_none());
}

#[test]
fn records_round_trip_and_replay_to_the_same_group() {
    let mut c = GroupCoordinator::new(GroupConfig::default());
    let mut log: Vec<Record> = Vec::new();
    let (_, effects) = send(&mut c, hb("m1", 0, Some(&["t1"])), 0);
    log.extend(effects.records);
    log.extend(c.share_partitions_initialized("g", &effects.to_initialize, true, 0));
    let (_, effects) = send(&mut c, hb("m1", 1, None), 1);
    log.extend(effects.records);
    let (_, effects) = send(&mut c, hb("m2", 0, Some(&["t1"])), 2);
    log.extend(effects.records);
    let mut reloaded = GroupCoordinator::new(GroupConfig::default());
    for record in log {
        let (key, value) = record.encode().unwrap();
        let decoded = Record::decode(&key, value.as_deref()).unwrap();
        assert_eq!(decoded, record);
        reloaded.replay(decoded, 100);
    }
    let (a, b) = (
        c.share_group("g").unwrap(),
        reloaded.share_group("g").unwrap(),
    );
    assert_eq!(a.epoch, b.epoch);
    assert_eq!(a.assignment_epoch, b.assignment_epoch);
    assert_eq!(a.target, b.target);
    assert_eq!(a.state_partitions, b.state_partitions);
    for (id, m) in &a.members {
        let r = &b.members[id];
        assert_eq!(
            (m.epoch, &m.assigned, &m.meta),
            (r.epoch, &r.assigned, &r.meta)
        );
    }
    // The reloaded member heartbeats on at its epoch.
    let epoch = b.members["m1"].epoch;
    let (r, _) = send(&mut reloaded, hb("m1", epoch, None), 200);
    assert_eq!(r.error_code, NONE);
}

#[test]
fn an_initialization_lost_with_its_coordinator_or_overdue_is_asked_again() {
    let mut c = GroupCoordinator::new(GroupConfig::default());
    let (_, effects) = send(&mut c, hb("m1", 0, Some(&["t1"])), 0);
    assert_eq!(effects.to_initialize.len(), 1);
    // Never answered: after the retry interval the next heartbeat asks again.
    let (_, again) = send(&mut c, hb("m1", 1, None), 10_000);
    assert!(again.to_initialize.is_empty());
    let (_, again) = send(&mut c, hb("m1", 1, None), 30_000);
    assert_eq!(again.to_initialize.len(), 1);
    // A reloaded coordinator does not know of any ask: it asks at once.
    let mut reloaded = GroupCoordinator::new(GroupConfig::default());
    for r in effects.records {
        reloaded.replay(r, 40_000);
    }
    let (_, asked) = send(&mut reloaded, hb("m1", 1, None), 40_001);
    assert_eq!(asked.to_initialize.len(), 1);
    assert_eq!(asked.to_initialize[0].2.len(), 2);
}

#[test]
fn new_partitions_of_a_subscribed_topic_are_initialized_then_assigned() {
    let mut c = GroupCoordinator::new(GroupConfig::default());
    let first = joined(&mut c, "m1", 0);
    let (r, _) = send(&mut c, hb("m1", first.member_epoch, None), 1);
    assert_eq!(r.error_code, NONE, "{:?}", r.error_message);
    assert_eq!(assigned(&r), vec![0, 1]);
    let epoch = c.share_group("g").unwrap().members["m1"].epoch;
    let mut grown = topics();
    grown.set_partitions("t1", 3);
    let (r, effects) = c.share_group_heartbeat(&hb("m1", epoch, None), &ctx(), &grown, 2);
    assert_eq!(r.error_code, NONE);
    assert_eq!(effects.to_initialize.len(), 1);
    assert_eq!(
        effects.to_initialize[0]
            .2
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        vec![2]
    );
    c.share_partitions_initialized("g", &effects.to_initialize, true, 3);
    let (r, _) = c.share_group_heartbeat(&hb("m1", r.member_epoch, None), &ctx(), &grown, 4);
    assert_eq!(assigned(&r), vec![0, 1, 2]);
}
