//! Real KRaft nodes over TCP on 127.0.0.1: election, replication, failover,
//! restart from disk and an observer, through the runtime's public API. A
//! small frame server stands in for the controller listener: it answers
//! ApiVersions and hands raft request bodies to `handle_request`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::{BufMut, Bytes, BytesMut};
use gregor_raft::kraft::wire::SUPPORTED_APIS;
use gregor_raft::kraft::{NodeId, Role};
use gregor_raft::runtime::{
    self, AppendError, CommittedEvent, QuorumHandle, QuorumStatus, RuntimeConfig,
};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{
    vote_request, ApiKey, ApiVersionsResponse, BrokerId, DescribeQuorumRequest,
    DescribeQuorumResponse, RequestHeader, ResponseHeader, TopicName, VoteRequest, VoteResponse,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const CLUSTER: &str = "test-cluster";
const WAIT: Duration = Duration::from_secs(5);

/// The handle a listener routes to; swapped when a node restarts.
type Slot = Arc<Mutex<Option<QuorumHandle>>>;

async fn serve(listener: TcpListener, slot: Slot) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        tokio::spawn(connection(stream, slot.clone()));
    }
}

async fn connection(mut stream: TcpStream, slot: Slot) {
    loop {
        let Ok(size) = stream.read_i32().await else {
            return;
        };
        let mut frame = vec![0u8; size as usize];
        if stream.read_exact(&mut frame).await.is_err() {
            return;
        }
        let mut frame = Bytes::from(frame);
        let key = i16::from_be_bytes([frame[0], frame[1]]);
        let version = i16::from_be_bytes([frame[2], frame[3]]);
        let api = ApiKey::try_from(key).unwrap();
        let header =
            RequestHeader::decode(&mut frame, api.request_header_version(version)).unwrap();
        let body = if api == ApiKey::ApiVersions {
            api_versions(version)
        } else {
            let handle = slot.lock().unwrap().clone();
            // A node that is down drops its connections.
            let Some(handle) = handle else { return };
            let body = handle.handle_request(key, version, frame).await;
            // Cut off while the request was held (a long-polled Fetch):
            // the answer is lost too, as behind a real partition.
            if slot.lock().unwrap().is_none() {
                return;
            }
            body
        };
        let mut out = BytesMut::new();
        out.put_i32(0);
        ResponseHeader::default()
            .with_correlation_id(header.correlation_id)
            .encode(&mut out, api.response_header_version(version))
            .unwrap();
        out.extend_from_slice(&body);
        let len = (out.len() - 4) as i32;
        out[..4].copy_from_slice(&len.to_be_bytes());
        if stream.write_all(&out).await.is_err() {
            return;
        }
    }
}

fn api_versions(version: i16) -> Bytes {
    let mut keys = vec![ApiVersion::default()
        .with_api_key(ApiKey::ApiVersions as i16)
        .with_min_version(0)
        .with_max_version(3)];
    for (key, min, max) in SUPPORTED_APIS {
        keys.push(
            ApiVersion::default()
                .with_api_key(key)
                .with_min_version(min)
                .with_max_version(max),
        );
    }
    let mut out = BytesMut::new();
    ApiVersionsResponse::default()
        .with_api_keys(keys)
        .encode(&mut out, version.min(3))
        .unwrap();
    out.freeze()
}

fn config(id: NodeId, voters: &[(NodeId, SocketAddr)], dir: &Path) -> RuntimeConfig {
    let mut config = RuntimeConfig::new(id, CLUSTER, voters.to_vec(), dir);
    config.local_ip = Some("127.0.0.1".parse().unwrap());
    // Short timeouts keep the test quick; the protocol is the same.
    config.election_timeout_ms = 300;
    config.fetch_timeout_ms = 600;
    config.election_backoff_max_ms = 300;
    config.request_timeout_ms = 500;
    config.tick_ms = 20;
    config
}

async fn wait_for(
    handles: &[&QuorumHandle],
    what: &str,
    check: impl Fn(&[QuorumStatus]) -> bool,
) -> Vec<QuorumStatus> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let statuses: Vec<QuorumStatus> = handles
            .iter()
            .map(|h| h.status().borrow().clone())
            .collect();
        if check(&statuses) {
            return statuses;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for {what}: {statuses:#?}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The single leader all `handles` agree on, in an epoch above `above`.
async fn agreed_leader(handles: &[&QuorumHandle], above: u32) -> (NodeId, u32) {
    let statuses = wait_for(handles, "an agreed leader", |s| {
        let first = &s[0];
        first.epoch > above
            && first.leader.is_some()
            && s.iter()
                .all(|x| x.epoch == first.epoch && x.leader == first.leader)
            && s.iter().any(|x| x.role == Role::Leader)
    })
    .await;
    (statuses[0].leader.unwrap(), statuses[0].epoch)
}

async fn committed(handle: &QuorumHandle, count: usize) -> Vec<(u64, Bytes)> {
    let mut stream = handle.subscribe_committed(0);
    let mut seen = Vec::new();
    while seen.len() < count {
        let next = tokio::time::timeout(WAIT, stream.next())
            .await
            .unwrap_or_else(|_| panic!("node {} saw only {seen:?}", handle.node_id()))
            .expect("node stopped");
        seen.push((next.offset, next.data));
    }
    seen
}

fn values(entries: &[(u64, Bytes)]) -> Vec<Bytes> {
    entries.iter().map(|(_, v)| v.clone()).collect()
}

fn record(i: usize) -> Bytes {
    Bytes::from(format!("record-{i}"))
}

/// Three voters on 127.0.0.1, each behind a frame server.
struct Cluster {
    dirs: Vec<tempfile::TempDir>,
    voters: Vec<(NodeId, SocketAddr)>,
    slots: Vec<Slot>,
    handles: Vec<QuorumHandle>,
}

impl Cluster {
    async fn start(extra_dirs: usize) -> Cluster {
        let dirs: Vec<tempfile::TempDir> = (0..3 + extra_dirs)
            .map(|_| tempfile::tempdir().unwrap())
            .collect();
        let mut voters = Vec::new();
        let mut listeners = Vec::new();
        for id in 1..=3 {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            voters.push((id, listener.local_addr().unwrap()));
            listeners.push(listener);
        }
        let mut slots: Vec<Slot> = Vec::new();
        let mut handles = Vec::new();
        for (i, listener) in listeners.into_iter().enumerate() {
            let id = i as NodeId + 1;
            let handle = runtime::start(config(id, &voters, dirs[i].path()))
                .await
                .unwrap();
            let slot: Slot = Arc::new(Mutex::new(Some(handle.clone())));
            tokio::spawn(serve(listener, slot.clone()));
            slots.push(slot);
            handles.push(handle);
        }
        Cluster {
            dirs,
            voters,
            slots,
            handles,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_voters_elect_replicate_fail_over_and_recover() {
    let Cluster {
        dirs,
        voters,
        slots,
        handles,
    } = Cluster::start(1).await;
    let all: Vec<&QuorumHandle> = handles.iter().collect();
    let (leader, epoch) = agreed_leader(&all, 0).await;
    let leader_at = (leader - 1) as usize;
    // Every voter's quorum-state file shows the epoch and its leader, as
    // Kafka's does.
    for dir in &dirs[..3] {
        let path = dir.path().join("__cluster_metadata-0/quorum-state");
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        assert_eq!(json["leaderEpoch"], epoch);
        assert_eq!(json["leaderId"], leader);
    }

    // Appends resolve once committed, with consecutive data offsets.
    let mut offsets = Vec::new();
    for i in 0..5 {
        offsets.push(handles[leader_at].append(record(i)).await.unwrap());
    }
    // Followers' fetches are held by the leader until there is news (long
    // polling), so a commit takes a round trip, not a fetch interval.
    let started = tokio::time::Instant::now();
    for i in 0..20 {
        handles[leader_at]
            .append(Bytes::from(format!("timed-{i}")))
            .await
            .unwrap();
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(2),
        "20 commits took {elapsed:?}"
    );
    assert!(offsets.windows(2).all(|w| w[1] == w[0] + 1), "{offsets:?}");
    // Anywhere else: refused, naming the leader.
    let follower_at = (leader_at + 1) % 3;
    assert_eq!(
        handles[follower_at].append(record(99)).await,
        Err(AppendError::NotLeader {
            leader: Some(leader)
        })
    );
    let timed: Vec<Bytes> = (0..20).map(|i| Bytes::from(format!("timed-{i}"))).collect();
    let mut expected: Vec<Bytes> = (0..5).map(record).collect();
    expected.extend(timed.iter().cloned());
    for handle in &handles {
        let seen = committed(handle, 25).await;
        assert_eq!(values(&seen), expected);
        let first: Vec<u64> = seen.iter().take(5).map(|(o, _)| *o).collect();
        assert_eq!(first, offsets);
    }

    // An observer (a broker) catches up from the voters.
    let observer = runtime::start(config(100, &voters, dirs[3].path()))
        .await
        .unwrap();
    assert_eq!(values(&committed(&observer, 25).await), expected);
    assert_eq!(observer.status().borrow().role, Role::Observer);

    // DescribeQuorum on the leader: every voter's progress, the observer.
    wait_for(&[&handles[leader_at]], "the observer to be listed", |s| {
        s[0].observers.iter().any(|o| o.id == 100)
    })
    .await;
    let describe = describe_quorum(&handles[leader_at]).await;
    let p = &describe.topics[0].partitions[0];
    assert_eq!((p.error_code, p.leader_id.0), (0, leader));
    assert_eq!(p.leader_epoch, epoch as i32);
    assert!(p.high_watermark >= 26, "{p:?}");
    let mut ids: Vec<i32> = p.current_voters.iter().map(|v| v.replica_id.0).collect();
    ids.sort_unstable();
    assert_eq!(ids, [1, 2, 3]);
    assert!(p.current_voters.iter().all(|v| v.log_end_offset >= 26));
    assert!(p.observers.iter().any(|o| o.replica_id.0 == 100));
    assert_eq!(describe.nodes.len(), 3);
    // A follower refuses it, as Kafka's does.
    let describe = describe_quorum(&handles[follower_at]).await;
    assert_eq!(describe.topics[0].partitions[0].error_code, 6);

    // The leader stops: the others elect a new one in a higher epoch and
    // keep every committed entry.
    handles[leader_at].shutdown().await;
    *slots[leader_at].lock().unwrap() = None;
    let rest: Vec<&QuorumHandle> = (0..3)
        .filter(|i| *i != leader_at)
        .map(|i| &handles[i])
        .collect();
    let (new_leader, new_epoch) = agreed_leader(&rest, epoch).await;
    assert_ne!(new_leader, leader);
    let new_leader_at = (new_leader - 1) as usize;
    handles[new_leader_at].append(record(5)).await.unwrap();
    expected.push(record(5));
    for handle in rest.iter().copied().chain([&observer]) {
        assert_eq!(values(&committed(handle, 26).await), expected);
    }

    // The old leader restarts from its directory and catches up.
    let restarted = runtime::start(config(leader, &voters, dirs[leader_at].path()))
        .await
        .unwrap();
    *slots[leader_at].lock().unwrap() = Some(restarted.clone());
    assert_eq!(values(&committed(&restarted, 26).await), expected);
    wait_for(&[&restarted], "the restarted node to follow", |s| {
        s[0].epoch >= new_epoch && s[0].leader == Some(new_leader) && s[0].role == Role::Follower
    })
    .await;

    // A graceful resignation (EndQuorumEpoch) hands leadership on without
    // waiting for fetch timeouts.
    let current: Vec<&QuorumHandle> = rest.iter().copied().chain([&restarted]).collect();
    handles[new_leader_at].resign().await;
    assert_eq!(
        handles[new_leader_at].status().borrow().role,
        Role::Resigned
    );
    let (_, resigned_epoch) = agreed_leader(&current, new_epoch).await;
    assert!(resigned_epoch > new_epoch);

    for handle in rest.iter().copied().chain([&observer, &restarted]) {
        handle.shutdown().await;
    }
}

async fn describe_quorum(handle: &QuorumHandle) -> DescribeQuorumResponse {
    let mut partition = kafka_protocol::messages::describe_quorum_request::PartitionData::default();
    partition.partition_index = 0;
    let mut topic = kafka_protocol::messages::describe_quorum_request::TopicData::default();
    topic.topic_name = TopicName(StrBytes::from_static_str("__cluster_metadata"));
    topic.partitions = vec![partition];
    let request = DescribeQuorumRequest::default().with_topics(vec![topic]);
    let mut body = BytesMut::new();
    request.encode(&mut body, 2).unwrap();
    let mut answer = handle.handle_request(55, 2, body.freeze()).await;
    DescribeQuorumResponse::decode(&mut answer, 2).unwrap()
}

#[tokio::test]
async fn a_single_voter_leads_at_once_and_keeps_its_log_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    // Nobody else is asked anything, so the address is never dialled.
    let voters = [(1, "127.0.0.1:9".parse().unwrap())];
    let handle = runtime::start(config(1, &voters, dir.path()))
        .await
        .unwrap();
    // Leader as soon as it is started: no election timeout to wait out.
    assert_eq!(handle.status().borrow().role, Role::Leader);
    let a = handle.append(record(0)).await.unwrap();
    let b = handle.append(record(1)).await.unwrap();
    assert_eq!(b, a + 1);
    let epoch = handle.status().borrow().epoch;

    // A request from another cluster is refused whole, as Kafka does.
    let vote = VoteRequest::default()
        .with_cluster_id(Some(StrBytes::from_static_str("another-cluster")))
        .with_topics(vec![vote_request::TopicData::default()
            .with_topic_name(TopicName(StrBytes::from_static_str("__cluster_metadata")))
            .with_partitions(vec![vote_request::PartitionData::default()
                .with_replica_epoch(epoch as i32 + 1)
                .with_replica_id(BrokerId(2))])]);
    let mut body = BytesMut::new();
    vote.encode(&mut body, 2).unwrap();
    let mut answer = handle.handle_request(52, 2, body.freeze()).await;
    let answer = VoteResponse::decode(&mut answer, 2).unwrap();
    assert_eq!(answer.error_code, 104); // INCONSISTENT_CLUSTER_ID
    assert_eq!(handle.status().borrow().epoch, epoch);

    handle.shutdown().await;
    assert_eq!(handle.append(record(2)).await, Err(AppendError::Stopped));

    let handle = runtime::start(config(1, &voters, dir.path()))
        .await
        .unwrap();
    wait_for(&[&handle], "leadership again", |s| {
        s[0].role == Role::Leader && s[0].epoch > epoch
    })
    .await;
    handle.append(record(2)).await.unwrap();
    assert_eq!(
        values(&committed(&handle, 3).await),
        (0..3).map(record).collect::<Vec<_>>()
    );
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_off_leader_resigns_loses_its_uncommitted_entry_and_rejoins() {
    let cluster = Cluster::start(0).await;
    let handles = &cluster.handles;
    let all: Vec<&QuorumHandle> = handles.iter().collect();
    let (leader, epoch) = agreed_leader(&all, 0).await;
    let leader_at = (leader - 1) as usize;
    handles[leader_at].append(record(0)).await.unwrap();

    // Nobody can reach the leader any more (its followers cannot fetch);
    // it can still reach them.
    *cluster.slots[leader_at].lock().unwrap() = None;
    let stranded = handles[leader_at].append(Bytes::from_static(b"never committed"));
    let stranded = tokio::time::timeout(WAIT, stranded).await.unwrap();
    // Check quorum: it resigned rather than commit without a majority.
    assert!(
        matches!(stranded, Err(AppendError::NotLeader { .. })),
        "{stranded:?}"
    );
    let rest: Vec<&QuorumHandle> = (0..3)
        .filter(|i| *i != leader_at)
        .map(|i| &handles[i])
        .collect();
    let (new_leader, new_epoch) = agreed_leader(&rest, epoch).await;
    let new_leader_at = (new_leader - 1) as usize;
    handles[new_leader_at].append(record(1)).await.unwrap();

    // The old leader learns the new epoch from the voters it asks, follows,
    // truncates the entry only it had and gets the committed ones.
    wait_for(&[&handles[leader_at]], "the old leader to follow", |s| {
        s[0].epoch >= new_epoch && s[0].leader == Some(new_leader)
    })
    .await;
    let expected: Vec<Bytes> = (0..2).map(record).collect();
    for handle in handles {
        assert_eq!(values(&committed(handle, 2).await), expected);
    }
    for handle in handles {
        handle.shutdown().await;
    }
}

#[tokio::test]
async fn a_single_voter_takes_over_the_old_metadata_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut old = gregor_raft::MetadataLog::open(dir.path(), false, |_, _| Ok(())).unwrap();
    old.commit(&[record(0), record(1)]).unwrap();
    old.close().unwrap();
    let voters = [(1, "127.0.0.1:9".parse().unwrap())];
    let handle = runtime::start(config(1, &voters, dir.path()))
        .await
        .unwrap();
    assert_eq!(handle.append(record(2)).await.unwrap(), 3);
    assert_eq!(
        values(&committed(&handle, 3).await),
        (0..3).map(record).collect::<Vec<_>>()
    );
    handle.shutdown().await;
}

/// Every event up to and including the first `Reached` at or past `end`.
async fn events_until(handle: &QuorumHandle, from: u64, end: u64) -> Vec<CommittedEvent> {
    let mut stream = handle.subscribe_committed(from);
    let mut seen = Vec::new();
    loop {
        let event = tokio::time::timeout(WAIT, stream.next_event())
            .await
            .unwrap_or_else(|_| panic!("node {} saw only {seen:?}", handle.node_id()))
            .expect("node stopped");
        let done = matches!(event, CommittedEvent::Reached(r) if r >= end);
        seen.push(event);
        if done {
            return seen;
        }
    }
}

/// The snapshot event first, then the Data entries after it.
fn snapshot_and_tail(events: &[CommittedEvent]) -> (Option<(u64, Bytes)>, Vec<Bytes>) {
    let snapshot = match events.first() {
        Some(CommittedEvent::Snapshot { end_offset, data }) => Some((*end_offset, data.clone())),
        _ => None,
    };
    let tail = events
        .iter()
        .filter_map(|e| match e {
            CommittedEvent::Entry(c) => Some(c.data.clone()),
            _ => None,
        })
        .collect();
    (snapshot, tail)
}

fn checkpoint_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("__cluster_metadata-0"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".checkpoint"))
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_restarted_node_loads_its_snapshot_and_then_the_tail() {
    let dir = tempfile::tempdir().unwrap();
    let voters = [(1, "127.0.0.1:9".parse().unwrap())];
    let handle = runtime::start(config(1, &voters, dir.path()))
        .await
        .unwrap();
    let mut last = 0;
    for i in 0..10 {
        last = handle.append(record(i)).await.unwrap();
    }
    // Not committed yet (past the high watermark): refused.
    assert!(matches!(
        handle.snapshot(last + 5, Bytes::from_static(b"x")).await,
        Err(runtime::SnapshotError::Refused(_))
    ));
    let epoch = handle.status().borrow().epoch;
    handle
        .snapshot(last + 1, Bytes::from_static(b"state through record-9"))
        .await
        .unwrap();
    let status = handle.status().borrow().clone();
    assert_eq!(status.log_start_offset, last + 1);
    assert_eq!(
        checkpoint_files(dir.path()),
        [format!("{:020}-{:010}.checkpoint", last + 1, epoch)]
    );
    // Not past the log start any more: refused.
    assert!(handle
        .snapshot(last + 1, Bytes::from_static(b"again"))
        .await
        .is_err());
    for i in 10..15 {
        handle.append(record(i)).await.unwrap();
    }
    let end = handle.status().borrow().high_watermark;
    handle.shutdown().await;

    let handle = runtime::start(config(1, &voters, dir.path()))
        .await
        .unwrap();
    // The snapshot is readable at once, before any new leadership.
    let events = events_until(&handle, 0, last + 1).await;
    assert_eq!(
        events[0],
        CommittedEvent::Snapshot {
            end_offset: last + 1,
            data: Bytes::from_static(b"state through record-9")
        }
    );
    let events = events_until(&handle, 0, end).await;
    let (snapshot, tail) = snapshot_and_tail(&events);
    assert_eq!(snapshot.unwrap().0, last + 1);
    assert_eq!(tail, (10..15).map(record).collect::<Vec<_>>());
    // A reader past the snapshot gets only entries.
    let events = events_until(&handle, last + 1, end).await;
    assert!(!events
        .iter()
        .any(|e| matches!(e, CommittedEvent::Snapshot { .. })));
    // A newer snapshot replaces the old file.
    wait_for(&[&handle], "leadership again", |s| {
        s[0].role == Role::Leader
    })
    .await;
    let now_end = handle.append(record(15)).await.unwrap() + 1;
    handle
        .snapshot(now_end, Bytes::from_static(b"state through record-15"))
        .await
        .unwrap();
    let files = checkpoint_files(dir.path());
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].starts_with(&format!("{now_end:020}-")));
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_missed_the_truncation_catches_up_through_fetch_snapshot() {
    let Cluster {
        dirs,
        voters,
        slots,
        handles,
    } = Cluster::start(0).await;
    let all: Vec<&QuorumHandle> = handles.iter().collect();
    let (leader, _) = agreed_leader(&all, 0).await;
    let leader_at = (leader - 1) as usize;
    for i in 0..5 {
        handles[leader_at].append(record(i)).await.unwrap();
    }
    // A follower goes down; the other two go on, snapshot and truncate.
    let down_at = (leader_at + 1) % 3;
    let other_at = (leader_at + 2) % 3;
    handles[down_at].shutdown().await;
    *slots[down_at].lock().unwrap() = None;
    let down_id = down_at as NodeId + 1;
    let mut last = 0;
    for i in 5..40 {
        last = handles[leader_at].append(record(i)).await.unwrap();
    }
    // The leader's log no longer holds what the node lacks: only
    // FetchSnapshot can bring it back, here in many small chunks.
    let state = Bytes::from((0..40).map(|i| format!("record-{i};")).collect::<String>());
    for at in [leader_at, other_at] {
        wait_for(&[&handles[at]], "the commit", |s| {
            s[0].high_watermark > last
        })
        .await;
        handles[at].snapshot(last + 1, state.clone()).await.unwrap();
    }
    for i in 40..45 {
        handles[leader_at].append(record(i)).await.unwrap();
    }
    let end = handles[leader_at].status().borrow().high_watermark;

    let mut small_chunks = config(down_id, &voters, dirs[down_at].path());
    small_chunks.fetch_snapshot_max_bytes = 64;
    let restarted = runtime::start(small_chunks).await.unwrap();
    *slots[down_at].lock().unwrap() = Some(restarted.clone());
    let events = events_until(&restarted, 0, end).await;
    let (snapshot, tail) = snapshot_and_tail(&events);
    assert_eq!(snapshot, Some((last + 1, state)));
    assert_eq!(tail, (40..45).map(record).collect::<Vec<_>>());
    let status = restarted.status().borrow().clone();
    assert_eq!(status.log_start_offset, last + 1);
    assert_eq!(
        status.snapshot,
        handles[leader_at].status().borrow().snapshot
    );
    // It stored the leader's checkpoint file as its own.
    let name = checkpoint_files(dirs[down_at].path());
    assert_eq!(name, checkpoint_files(dirs[leader_at].path()));
    assert_eq!(
        std::fs::read(
            dirs[down_at]
                .path()
                .join("__cluster_metadata-0")
                .join(&name[0])
        )
        .unwrap(),
        std::fs::read(
            dirs[leader_at]
                .path()
                .join("__cluster_metadata-0")
                .join(&name[0])
        )
        .unwrap()
    );
    for handle in [&handles[leader_at], &handles[other_at], &restarted] {
        handle.shutdown().await;
    }
}
