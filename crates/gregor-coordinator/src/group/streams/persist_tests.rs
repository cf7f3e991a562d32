//! Streams groups written as records and replayed: the replayed group is
//! the one that was written, and its members carry on without a rebalance.

use super::group::{Assignment, StreamsGroup};
use super::tests::{all_topics, beat, ctx, join, tasks};
use crate::group::{GroupConfig, GroupCoordinator, Record};
use kafka_protocol::messages::DeleteGroupsRequest;

/// Records through their bytes, as the log holds them.
fn logged(log: &mut Vec<(bytes::Bytes, Option<bytes::Bytes>)>, records: Vec<Record>) {
    for r in records {
        log.push(r.encode().unwrap());
    }
}

fn reload(log: &[(bytes::Bytes, Option<bytes::Bytes>)]) -> GroupCoordinator {
    let mut c = GroupCoordinator::new(GroupConfig::default());
    for (k, v) in log {
        c.replay(Record::decode(k, v.as_deref()).unwrap(), 5_000);
    }
    c
}

/// Everything a group persists (not its timers or derived topic view).
fn persisted(g: &StreamsGroup) -> impl PartialEq + std::fmt::Debug {
    let members: Vec<_> = g
        .members
        .values()
        .map(|m| {
            (
                m.id.clone(),
                m.epoch,
                m.previous_epoch,
                m.assigned.clone(),
                m.revoking.clone(),
                super::persist::metadata_of(m),
            )
        })
        .collect();
    (
        g.epoch,
        g.assignment_epoch,
        g.metadata_hash,
        g.topology.clone(),
        g.target.clone(),
        members,
    )
}

#[test]
fn records_replay_to_the_same_group_and_members_carry_on() {
    let mut c = GroupCoordinator::new(GroupConfig::default());
    let topics = all_topics(4);
    let mut log = Vec::new();
    let (a, fx) = c.streams_group_heartbeat(&join("a"), &ctx(), &topics, 0);
    logged(&mut log, fx.records);
    let (a, fx) = c.streams_group_heartbeat(&beat("a", a.member_epoch, &[]), &ctx(), &topics, 1);
    logged(&mut log, fx.records);
    assert_eq!(tasks(&a).len(), 8);
    // b joins: a must give up half (revoking), b waits for them.
    let (_, fx) = c.streams_group_heartbeat(&join("b"), &ctx(), &topics, 2);
    logged(&mut log, fx.records);
    let owned: Vec<(String, i32)> = tasks(&a).into_iter().collect();
    let owned_ref: Vec<(&str, i32)> = owned.iter().map(|(s, p)| (s.as_str(), *p)).collect();
    let (a2, fx) =
        c.streams_group_heartbeat(&beat("a", a.member_epoch, &owned_ref), &ctx(), &topics, 3);
    logged(&mut log, fx.records);
    assert!(!c.streams_group("app").unwrap().members["a"]
        .revoking
        .is_empty());

    let mut back = reload(&log);
    let (was, now) = (
        c.streams_group("app").unwrap(),
        back.streams_group("app").unwrap(),
    );
    assert_eq!(persisted(was), persisted(now));
    // Still revoking after the reload: the rebalance timeout restarts.
    assert!(now.members["a"].rebalance_deadline.is_some());

    // Both go on as if nothing happened, answered exactly as the original
    // coordinator answers: a confirms the revocation, b gets its tasks, the
    // group epoch does not move.
    let epoch = was.epoch;
    let assignment_epoch = was.assignment_epoch;
    let kept: Vec<(String, i32)> = tasks(&a2).into_iter().collect();
    let kept_ref: Vec<(&str, i32)> = kept.iter().map(|(s, p)| (s.as_str(), *p)).collect();
    let b_epoch = back.streams_group("app").unwrap().members["b"].epoch;
    for coordinator in [&mut c, &mut back] {
        let (r, _) = coordinator.streams_group_heartbeat(
            &beat("a", a2.member_epoch, &kept_ref),
            &ctx(),
            &topics,
            6_000,
        );
        assert_eq!(r.error_code, 0);
        assert_eq!(r.member_epoch, assignment_epoch);
        assert_eq!(tasks(&r).len(), 4);
        let (r, _) =
            coordinator.streams_group_heartbeat(&beat("b", b_epoch, &[]), &ctx(), &topics, 6_001);
        assert_eq!(r.error_code, 0);
        assert_eq!(r.member_epoch, assignment_epoch);
        assert_eq!(tasks(&r).len(), 4);
        let g = coordinator.streams_group("app").unwrap();
        assert_eq!(g.epoch, epoch);
        assert_eq!(g.state().name(), "Stable");
    }
    assert_eq!(
        persisted(c.streams_group("app").unwrap()),
        persisted(back.streams_group("app").unwrap())
    );
}

#[test]
fn leaving_and_deleting_write_tombstones() {
    let mut c = GroupCoordinator::new(GroupConfig::default());
    let topics = all_topics(2);
    let mut log = Vec::new();
    for m in ["a", "b"] {
        let (_, fx) = c.streams_group_heartbeat(&join(m), &ctx(), &topics, 0);
        logged(&mut log, fx.records);
    }
    let (r, fx) = c.streams_group_heartbeat(&beat("b", -1, &[]), &ctx(), &topics, 1);
    assert_eq!(r.error_code, 0);
    logged(&mut log, fx.records);
    let back = reload(&log);
    let g = back.streams_group("app").unwrap();
    assert_eq!(g.members.keys().collect::<Vec<_>>(), vec!["a"]);
    assert!(!g.target.contains_key("b"));
    assert_eq!(persisted(c.streams_group("app").unwrap()), persisted(g));

    // A fenced member (session over) goes the same way.
    let out = c.tick(1_000_000);
    logged(&mut log, out.records);
    let back = reload(&log);
    assert!(back.streams_group("app").unwrap().members.is_empty());

    let (_, records) = c.delete_groups(
        &DeleteGroupsRequest::default()
            .with_groups_names(vec![kafka_protocol::messages::GroupId("app".into())]),
    );
    logged(&mut log, records);
    assert!(reload(&log).streams_group("app").is_none());
}

#[test]
fn record_bytes_follow_kafka_layout() {
    // Key: type 17 then an int16-length group id; value: version 0, epoch,
    // metadata hash, an empty tagged-field section.
    let record = Record::Streams(super::StreamsRecord::GroupEpoch {
        group: "g".into(),
        value: Some((3, 7)),
    });
    let (k, v) = record.encode().unwrap();
    assert_eq!(&k[..], &[0, 17, 0, 1, b'g']);
    assert_eq!(
        &v.unwrap()[..],
        &[0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 7, 0]
    );
    // Truncated bytes are an error, never a panic.
    assert!(Record::decode(&[0, 22, 0, 5, b'g'], None).is_err());
    assert!(Record::decode(&[0, 17, 0, 1, b'g'], Some(&[0, 0, 0])).is_err());
}

/// `name=hex` lines written by Kafka 4.4's own record classes.
fn kafka_vectors() -> std::collections::BTreeMap<String, Vec<u8>> {
    include_str!("streams_records_kafka44.txt")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (name, hex) = l.split_once('=').unwrap();
            let bytes = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            (name.to_string(), bytes)
        })
        .collect()
}

#[test]
fn kafka_encoded_records_decode_and_reencode_byte_for_byte() {
    use super::records::{CurrentAssignment, MemberMetadata, StreamsRecord as S};
    let v = kafka_vectors();
    let decode = |name: &str| {
        let key = &v[&format!("{name}_key")];
        let value = v.get(&format!("{name}_value"));
        let record = Record::decode(key, value.map(Vec::as_slice)).unwrap();
        (record, key.clone(), value.cloned())
    };
    let t = |s: &str, p: i32| (s.to_string(), p);
    let expected = [
        (
            "metadata",
            S::GroupEpoch {
                group: "wc".into(),
                value: Some((5, -42)),
            },
        ),
        (
            "member",
            S::Member {
                group: "wc".into(),
                member: "m-1".into(),
                value: Some(MemberMetadata {
                    instance_id: None,
                    rack_id: Some("r1".into()),
                    client_id: "c".into(),
                    client_host: "/127.0.0.1".into(),
                    rebalance_timeout_ms: 30_000,
                    topology_epoch: 1,
                    process_id: "p-1".into(),
                    user_endpoint: Some(("localhost".into(), 8080)),
                    client_tags: vec![("az".into(), "a".into())],
                }),
            },
        ),
        (
            "target_epoch",
            S::TargetEpoch {
                group: "wc".into(),
                epoch: Some(5),
            },
        ),
        (
            "target",
            S::TargetMember {
                group: "wc".into(),
                member: "m-1".into(),
                tasks: Some(Assignment {
                    active: [t("0", 0), t("0", 2)].into(),
                    standby: Default::default(),
                }),
            },
        ),
        (
            "current",
            S::Current {
                group: "wc".into(),
                member: "m-1".into(),
                value: Some(CurrentAssignment {
                    epoch: 5,
                    previous_epoch: 4,
                    state: 1,
                    assigned: [t("0", 0)].into(),
                    revoking: [t("1", 3)].into(),
                    standby: Default::default(),
                    revoking_standby: Default::default(),
                }),
            },
        ),
        (
            "tombstone",
            S::Current {
                group: "wc".into(),
                member: "m-1".into(),
                value: None,
            },
        ),
    ];
    for (name, want) in expected {
        let (record, key, value) = decode(name);
        assert_eq!(record, Record::Streams(want), "{name}");
        let (k, val) = record.encode().unwrap();
        assert_eq!(k.to_vec(), key, "{name} key");
        assert_eq!(val.map(|b| b.to_vec()), value, "{name} value");
    }
    // The topology round-trips too (fields Gregor does not model are empty
    // in the vector).
    let (record, key, value) = decode("topology");
    let Record::Streams(S::Topology {
        value: Some(topology),
        ..
    }) = &record
    else {
        panic!("{record:?}")
    };
    assert_eq!(topology.subtopologies[0].changelogs[0].name, "wc-changelog");
    let (k, val) = record.encode().unwrap();
    assert_eq!((k.to_vec(), val.map(|b| b.to_vec())), (key, value));
    // KIP-1251 assignment epochs (a tagged field) are read past.
    let (record, _, _) = decode("current_epochs");
    let Record::Streams(S::Current {
        value: Some(current),
        ..
    }) = record
    else {
        panic!()
    };
    assert_eq!(current.assigned, [t("0", 0)].into());
}

#[test]
fn standby_tasks_and_copartition_groups_round_trip_through_the_records() {
    use super::records::{CurrentAssignment, StreamsRecord as S};
    use super::topology::{CopartitionGroup, Subtopology, Topology};
    let t = |s: &str, p: i32| (s.to_string(), p);
    let records = [
        S::TargetMember {
            group: "wc".into(),
            member: "m-1".into(),
            tasks: Some(Assignment {
                active: [t("0", 0)].into(),
                standby: [t("1", 1)].into(),
            }),
        },
        S::Current {
            group: "wc".into(),
            member: "m-1".into(),
            value: Some(CurrentAssignment {
                epoch: 5,
                previous_epoch: 4,
                state: 1,
                assigned: [t("0", 0)].into(),
                revoking: Default::default(),
                standby: [t("1", 0)].into(),
                revoking_standby: [t("1", 2)].into(),
            }),
        },
        S::Topology {
            group: "wc".into(),
            value: Some(Topology {
                epoch: 2,
                subtopologies: vec![Subtopology {
                    id: "0".into(),
                    source_topics: vec!["left".into(), "right".into()],
                    source_topic_regex: vec!["events-.*".into()],
                    repartition_sinks: vec![],
                    repartition_sources: vec![],
                    changelogs: vec![],
                    copartition_groups: vec![CopartitionGroup {
                        source_topics: vec![0, 1],
                        source_topic_regex: vec![0],
                        repartition_sources: vec![],
                    }],
                }],
            }),
        },
    ];
    for record in records {
        let (key, value) = record.encode().expect("encodes");
        let back = S::decode(&key, value.as_deref()).expect("decodes");
        assert_eq!(back, record);
    }
}
