//! KIP-932 share groups over the wire, membership side: a member joins,
//! gets its partitions once their share-partition state is initialized,
//! keeps its epoch and partitions across a restart (the ShareGroup*
//! records in __consumer_offsets), leaves; the group is described, listed,
//! refused by the other group APIs with Kafka's errors, and deleted.

// An integration test: unwrapping is how a failed step fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use gregor_protocol::error_codes::{
    FENCED_MEMBER_EPOCH, GROUP_ID_NOT_FOUND, INVALID_REQUEST, NONE, NON_EMPTY_GROUP,
    UNKNOWN_MEMBER_ID,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use support::{create_topic, wait_for_group_coordinator, Connection, TestBroker};

const GROUP: &str = "sg";

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn heartbeat(
    conn: &mut Connection,
    member: &str,
    epoch: i32,
    topics: Option<&[&str]>,
) -> ShareGroupHeartbeatResponse {
    let request = ShareGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s(GROUP)))
        .with_member_id(s(member))
        .with_member_epoch(epoch)
        .with_subscribed_topic_names(topics.map(|t| t.iter().map(|n| TopicName(s(n))).collect()));
    support::share::heartbeat(conn, request)
}

fn describe(conn: &mut Connection) -> share_group_describe_response::DescribedGroup {
    let request = ShareGroupDescribeRequest::default().with_group_ids(vec![GroupId(s(GROUP))]);
    let ResponseKind::ShareGroupDescribe(r) = conn.request(
        ApiKey::ShareGroupDescribe,
        1,
        RequestKind::ShareGroupDescribe(request),
    ) else {
        panic!()
    };
    r.groups.into_iter().next().unwrap()
}

fn partitions(r: &ShareGroupHeartbeatResponse) -> Vec<i32> {
    r.assignment
        .iter()
        .flat_map(|a| a.topic_partitions.iter())
        .flat_map(|t| t.partitions.iter().copied())
        .collect()
}

fn delete_group(conn: &mut Connection) -> i16 {
    let request = DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s(GROUP))]);
    let ResponseKind::DeleteGroups(r) =
        conn.request(ApiKey::DeleteGroups, 2, RequestKind::DeleteGroups(request))
    else {
        panic!()
    };
    r.results[0].error_code
}

fn list_share_groups(conn: &mut Connection) -> Vec<(String, String)> {
    let request = ListGroupsRequest::default().with_types_filter(vec![s("share")]);
    let ResponseKind::ListGroups(r) =
        conn.request(ApiKey::ListGroups, 5, RequestKind::ListGroups(request))
    else {
        panic!()
    };
    r.groups
        .iter()
        .map(|g| (g.group_id.to_string(), g.group_state.to_string()))
        .collect()
}

#[test]
fn a_share_group_lives_and_survives_a_restart() {
    // One offsets partition: a probe group shows when the share group's
    // coordinator is ready (OffsetFetch of the share group itself is refused).
    let mut broker = TestBroker::start(&["offsets.topic.num.partitions=1"]);
    let mut conn = broker.connect();
    wait_for_group_coordinator(&mut conn, GROUP);
    create_topic(&mut conn, "jobs", 2);

    // Joining: epoch 1, nothing assignable until the state is initialized.
    let a = heartbeat(&mut conn, "member-a", 0, Some(&["jobs"]));
    assert_eq!(
        (a.error_code, a.member_epoch),
        (NONE, 1),
        "{:?}",
        a.error_message
    );
    assert_eq!(a.heartbeat_interval_ms, 5_000);
    assert_eq!(partitions(&a), Vec::<i32>::new());
    // A later heartbeat (once the state is initialized, in the background
    // as in Kafka) gets both partitions at a new epoch.
    let a = eventually_assigned(&mut conn, "member-a", 1);
    assert_eq!(a.error_code, NONE);
    assert_eq!(partitions(&a), vec![0, 1]);
    let epoch_a = a.member_epoch;
    assert!(epoch_a > 1);
    // A second member shares them.
    let b = heartbeat(&mut conn, "member-b", 0, Some(&["jobs"]));
    assert_eq!(b.error_code, NONE);
    assert_eq!(partitions(&b).len(), 1);
    let epoch_b = b.member_epoch;

    // Bad heartbeats.
    assert_eq!(
        heartbeat(&mut conn, "member-a", epoch_a + 10, None).error_code,
        FENCED_MEMBER_EPOCH
    );
    assert_eq!(
        heartbeat(&mut conn, "nobody", 1, None).error_code,
        UNKNOWN_MEMBER_ID
    );
    assert_eq!(
        heartbeat(&mut conn, "", 0, Some(&["jobs"])).error_code,
        INVALID_REQUEST
    );
    assert_eq!(
        heartbeat(&mut conn, "member-c", 0, None).error_code,
        INVALID_REQUEST
    );

    // `gregor group list` shows it with its type.
    let listed = std::process::Command::new(support::gregor_bin())
        .args([
            "group",
            "list",
            "--bootstrap-server",
            &broker.addr.to_string(),
        ])
        .output()
        .unwrap();
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let stdout = String::from_utf8(listed.stdout).unwrap();
    assert!(stdout.lines().any(|l| l == "sg\tStable\tshare"), "{stdout}");

    let d = describe(&mut conn);
    assert_eq!(d.error_code, NONE);
    assert_eq!(d.group_state.as_str(), "Stable");
    assert_eq!(d.assignor_name.as_str(), "simple");
    assert_eq!(d.members.len(), 2);
    assert_eq!(
        list_share_groups(&mut conn),
        vec![(GROUP.to_string(), "Stable".to_string())]
    );

    // The other group APIs: not a consumer / classic group.
    let commit = OffsetCommitRequest::default()
        .with_group_id(GroupId(s(GROUP)))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![
            offset_commit_request::OffsetCommitRequestTopic::default()
                .with_name(TopicName(s("jobs")))
                .with_partitions(vec![
                    offset_commit_request::OffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(1),
                ]),
        ]);
    let ResponseKind::OffsetCommit(c) =
        conn.request(ApiKey::OffsetCommit, 9, RequestKind::OffsetCommit(commit))
    else {
        panic!()
    };
    assert_eq!(c.topics[0].partitions[0].error_code, GROUP_ID_NOT_FOUND);
    for version in [7, 9] {
        let fetch = if version >= 8 {
            OffsetFetchRequest::default().with_groups(vec![
                offset_fetch_request::OffsetFetchRequestGroup::default()
                    .with_group_id(GroupId(s(GROUP)))
                    .with_topics(None),
            ])
        } else {
            OffsetFetchRequest::default()
                .with_group_id(GroupId(s(GROUP)))
                .with_topics(None)
        };
        let ResponseKind::OffsetFetch(f) = conn.request(
            ApiKey::OffsetFetch,
            version,
            RequestKind::OffsetFetch(fetch),
        ) else {
            panic!()
        };
        let code = if version >= 8 {
            f.groups[0].error_code
        } else {
            f.error_code
        };
        assert_eq!(code, GROUP_ID_NOT_FOUND, "OffsetFetch v{version}");
    }
    let cgh = ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s(GROUP)))
        .with_member_id(s("x"))
        .with_member_epoch(0)
        .with_rebalance_timeout_ms(30_000)
        .with_subscribed_topic_names(Some(vec![TopicName(s("jobs"))]))
        .with_topic_partitions(Some(vec![]));
    let r = support::consumer_group_heartbeat(&mut conn, cgh);
    assert_eq!(r.error_code, GROUP_ID_NOT_FOUND);
    let dg = DescribeGroupsRequest::default().with_groups(vec![GroupId(s(GROUP))]);
    let ResponseKind::DescribeGroups(r) =
        conn.request(ApiKey::DescribeGroups, 6, RequestKind::DescribeGroups(dg))
    else {
        panic!()
    };
    assert_eq!(r.groups[0].error_code, GROUP_ID_NOT_FOUND);
    assert_eq!(delete_group(&mut conn), NON_EMPTY_GROUP);

    // A restart: both carry on at their epochs with their partitions.
    drop(conn);
    broker.kill();
    broker.restart();
    conn = broker.connect();
    wait_for_group_coordinator(&mut conn, "probe");
    let d = describe(&mut conn);
    assert_eq!((d.error_code, d.members.len()), (NONE, 2));
    let a = heartbeat(&mut conn, "member-a", epoch_a, None);
    assert_eq!(a.error_code, NONE, "{:?}", a.error_message);
    let b = heartbeat(&mut conn, "member-b", epoch_b, None);
    assert_eq!(b.error_code, NONE, "{:?}", b.error_message);

    // Leaving empties it; then it can be deleted.
    for (member, r) in [("member-a", a), ("member-b", b)] {
        let left = heartbeat(&mut conn, member, r.member_epoch, None);
        let left = if left.error_code == NONE {
            heartbeat(&mut conn, member, -1, None)
        } else {
            left
        };
        assert_eq!((left.error_code, left.member_epoch), (NONE, -1));
    }
    assert_eq!(describe(&mut conn).group_state.as_str(), "Empty");
    assert_eq!(delete_group(&mut conn), NONE);
    assert_eq!(describe(&mut conn).error_code, GROUP_ID_NOT_FOUND);
    assert!(list_share_groups(&mut conn).is_empty());
}

#[test]
fn share_version_and_the_share_apis_are_advertised() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    let ResponseKind::ApiVersions(r) = conn.request(
        ApiKey::ApiVersions,
        3,
        RequestKind::ApiVersions(
            ApiVersionsRequest::default()
                .with_client_software_name(s("t"))
                .with_client_software_version(s("1")),
        ),
    ) else {
        panic!()
    };
    let finalized = r
        .finalized_features
        .iter()
        .find(|f| f.name.as_str() == "share.version")
        .map(|f| f.max_version_level);
    assert_eq!(finalized, Some(2));
    for key in [ApiKey::ShareGroupHeartbeat, ApiKey::ShareGroupDescribe] {
        let v = r.api_keys.iter().find(|k| k.api_key == key as i16).unwrap();
        assert_eq!((v.min_version, v.max_version), (1, 1));
    }
}

fn describe_offsets(
    conn: &mut Connection,
    topics: Option<Vec<(&str, Vec<i32>)>>,
) -> describe_share_group_offsets_response::DescribeShareGroupOffsetsResponseGroup {
    use describe_share_group_offsets_request::*;
    let request = DescribeShareGroupOffsetsRequest::default().with_groups(vec![
        DescribeShareGroupOffsetsRequestGroup::default()
            .with_group_id(GroupId(s(GROUP)))
            .with_topics(topics.map(|ts| {
                ts.into_iter()
                    .map(|(name, partitions)| {
                        DescribeShareGroupOffsetsRequestTopic::default()
                            .with_topic_name(TopicName(s(name)))
                            .with_partitions(partitions)
                    })
                    .collect()
            })),
    ]);
    let ResponseKind::DescribeShareGroupOffsets(r) = conn.request(
        ApiKey::DescribeShareGroupOffsets,
        0,
        RequestKind::DescribeShareGroupOffsets(request),
    ) else {
        panic!()
    };
    r.groups.into_iter().next().unwrap()
}

fn alter_offsets(
    conn: &mut Connection,
    topic: &str,
    offsets: &[(i32, i64)],
) -> AlterShareGroupOffsetsResponse {
    use alter_share_group_offsets_request::*;
    let request = AlterShareGroupOffsetsRequest::default()
        .with_group_id(GroupId(s(GROUP)))
        .with_topics(vec![AlterShareGroupOffsetsRequestTopic::default()
            .with_topic_name(TopicName(s(topic)))
            .with_partitions(
                offsets
                    .iter()
                    .map(|(p, o)| {
                        AlterShareGroupOffsetsRequestPartition::default()
                            .with_partition_index(*p)
                            .with_start_offset(*o)
                    })
                    .collect(),
            )]);
    let ResponseKind::AlterShareGroupOffsets(r) = conn.request(
        ApiKey::AlterShareGroupOffsets,
        0,
        RequestKind::AlterShareGroupOffsets(request),
    ) else {
        panic!()
    };
    r
}

fn delete_offsets(
    conn: &mut Connection,
    group: &str,
    topic: &str,
) -> DeleteShareGroupOffsetsResponse {
    use delete_share_group_offsets_request::*;
    let request = DeleteShareGroupOffsetsRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_topics(vec![
            DeleteShareGroupOffsetsRequestTopic::default().with_topic_name(TopicName(s(topic)))
        ]);
    let ResponseKind::DeleteShareGroupOffsets(r) = conn.request(
        ApiKey::DeleteShareGroupOffsets,
        0,
        RequestKind::DeleteShareGroupOffsets(request),
    ) else {
        panic!()
    };
    r
}

/// Heartbeats `member` (at `epoch`, then at the epochs it is given) until
/// it has partitions: they are assignable once their share-partition state
/// is initialized, which the coordinator does in the background.
fn eventually_assigned(
    conn: &mut Connection,
    member: &str,
    mut epoch: i32,
) -> ShareGroupHeartbeatResponse {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let r = heartbeat(conn, member, epoch, None);
        assert_eq!(r.error_code, NONE, "{:?}", r.error_message);
        if !partitions(&r).is_empty() {
            return r;
        }
        assert!(std::time::Instant::now() < deadline, "never assigned");
        epoch = r.member_epoch;
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn share_group_offsets_are_described_altered_and_deleted() {
    use gregor_protocol::error_codes::UNKNOWN_TOPIC_OR_PARTITION;
    let broker = TestBroker::start(&["offsets.topic.num.partitions=1"]);
    let mut conn = broker.connect();
    wait_for_group_coordinator(&mut conn, GROUP);
    create_topic(&mut conn, "work", 2);
    let joined = heartbeat(&mut conn, "member-a", 0, Some(&["work"]));
    assert_eq!(joined.error_code, NONE);
    eventually_assigned(&mut conn, "member-a", joined.member_epoch);

    // Initialized, never fetched: start offset -1.
    let d = describe_offsets(&mut conn, None);
    assert_eq!(d.error_code, NONE, "{:?}", d.error_message);
    assert_eq!(d.topics.len(), 1);
    let starts: Vec<i64> = d.topics[0]
        .partitions
        .iter()
        .map(|p| p.start_offset)
        .collect();
    assert_eq!(starts, vec![-1, -1]);

    // Not while the group has members.
    let r = alter_offsets(&mut conn, "work", &[(0, 5)]);
    assert_eq!(r.error_code, NON_EMPTY_GROUP);
    assert_eq!(
        delete_offsets(&mut conn, GROUP, "work").error_code,
        NON_EMPTY_GROUP
    );
    let left = heartbeat(&mut conn, "member-a", -1, None);
    assert_eq!(left.error_code, NONE);

    let r = alter_offsets(&mut conn, "work", &[(0, 5), (7, 1)]);
    assert_eq!(r.error_code, NONE);
    let codes: Vec<i16> = r.responses[0]
        .partitions
        .iter()
        .map(|p| p.error_code)
        .collect();
    assert_eq!(codes, vec![NONE, UNKNOWN_TOPIC_OR_PARTITION]);
    let r = alter_offsets(&mut conn, "nope", &[(0, 5)]);
    assert_eq!(
        r.responses[0].partitions[0].error_code,
        UNKNOWN_TOPIC_OR_PARTITION
    );
    let d = describe_offsets(&mut conn, Some(vec![("work", vec![0]), ("nope", vec![0])]));
    assert_eq!(d.topics[0].partitions[0].start_offset, 5);
    assert_eq!(
        d.topics[1].partitions[0].error_code,
        UNKNOWN_TOPIC_OR_PARTITION
    );

    let r = delete_offsets(&mut conn, GROUP, "work");
    assert_eq!((r.error_code, r.responses[0].error_code), (NONE, NONE));
    assert!(describe_offsets(&mut conn, None).topics.is_empty());
    assert_eq!(
        delete_offsets(&mut conn, "no-such-group", "work").error_code,
        GROUP_ID_NOT_FOUND
    );
}
