use super::*;
use crate::kraft::log::{LogEntry, Payload};

const CLUSTER: &str = "cluster-a";

fn options() -> RequestOptions {
    RequestOptions {
        fetch_max_wait_ms: 500,
        high_watermark: Some(12),
        endpoint: Some(("CONTROLLER".into(), "127.0.0.12:9093".parse().unwrap())),
    }
}

// As in the gregor binary: kafka-protocol sizes arrays from the wire before
// reading them, so a lying count must not abort the test process.
#[global_allocator]
static GUARD: gregor_protocol::alloc_guard::Guard = gregor_protocol::alloc_guard::Guard;

/// What the peer's decoder sees for a node's outgoing message at `version`.
fn over_the_wire(to: NodeId, version: i16, message: &Message) -> (i16, Bytes) {
    let (key, body) = encode_request(CLUSTER, to, version, message, &options()).unwrap();
    let mut buf = BytesMut::new();
    body.encode(&mut buf, version).unwrap();
    (key as i16, buf.freeze())
}

fn view() -> NodeView {
    NodeView {
        epoch: 5,
        leader: Some(1),
        leader_address: Some("127.0.0.11:9093".parse().unwrap()),
        voters: vec![1, 2, 3],
        now_ms: 1_700_000_000_000,
    }
}

fn response(key: i16, version: i16, mut body: Bytes) -> ResponseKind {
    let key = ApiKey::try_from(key).unwrap();
    ResponseKind::decode(key, &mut body, version).unwrap()
}

fn requests() -> Vec<Message> {
    vec![
        Message::VoteRequest {
            epoch: 5,
            candidate: 2,
            last_epoch: 4,
            end_offset: 17,
            pre_vote: false,
        },
        Message::BeginQuorumEpoch {
            epoch: 5,
            leader: 2,
        },
        Message::EndQuorumEpoch {
            epoch: 5,
            leader: 2,
            preferred_successors: vec![3, 1],
        },
        Message::Fetch {
            epoch: 5,
            replica: 2,
            fetch_offset: 17,
            last_fetched_epoch: 4,
            correlation_id: 0,
        },
        Message::FetchSnapshot {
            epoch: 5,
            replica: 2,
            snapshot: EpochEndOffset {
                epoch: 4,
                end_offset: 12,
            },
            position: 3,
            max_bytes: 1024,
            correlation_id: 0,
        },
    ]
}

#[test]
fn requests_round_trip_at_every_version_kafka_4_uses() {
    for message in requests() {
        let key = encode_request(CLUSTER, 1, 0, &message, &options()).map(|(k, _)| k);
        let key = key.unwrap();
        let (min, max) = match key {
            ApiKey::Vote => (0, 2),
            ApiKey::Fetch => (12, 18),
            _ => (0, 1),
        };
        for version in min..=max {
            let (api_key, body) = over_the_wire(1, version, &message);
            let inbound = decode_request(CLUSTER, 1, api_key, version, body).unwrap();
            let max_wait_ms = if key == ApiKey::Fetch { 500 } else { 0 };
            let fetcher_high_watermark =
                (key == ApiKey::Fetch && version >= 18).then_some(Some(12));
            assert_eq!(
                inbound,
                Inbound::Raft {
                    from: 2,
                    message: message.clone(),
                    max_wait_ms,
                    fetcher_high_watermark,
                },
                "{key:?} v{version}"
            );
        }
    }
    let pre_vote = Message::VoteRequest {
        epoch: 5,
        candidate: 2,
        last_epoch: 5,
        end_offset: 17,
        pre_vote: true,
    };
    let (api_key, body) = over_the_wire(1, 2, &pre_vote);
    assert_eq!(
        decode_request(CLUSTER, 1, api_key, 2, body).unwrap(),
        Inbound::Raft {
            from: 2,
            message: pre_vote.clone(),
            max_wait_ms: 0,
            fetcher_high_watermark: None,
        }
    );
    // Pre-vote does not exist before Vote v2: refusing to encode beats
    // sending a real vote.
    let (_, body) = encode_request(CLUSTER, 1, 1, &pre_vote, &options()).unwrap();
    assert!(body.encode(&mut BytesMut::new(), 1).is_err());
}

#[test]
fn replies_round_trip_into_the_nodes_messages() {
    let vote = Message::VoteRequest {
        epoch: 5,
        candidate: 2,
        last_epoch: 4,
        end_offset: 17,
        pre_vote: true,
    };
    let reply = Message::VoteResponse {
        epoch: 5,
        granted: true,
        pre_vote: true,
        leader: None,
    };
    let body = encode_reply(52, 2, &view(), Some(&reply), ec::NONE);
    assert_eq!(
        decode_response(&vote, response(52, 2, body)).unwrap(),
        Some(reply)
    );

    let begin = Message::BeginQuorumEpoch {
        epoch: 5,
        leader: 1,
    };
    let body = encode_reply(53, 1, &view(), None, ec::NONE);
    assert_eq!(
        decode_response(&begin, response(53, 1, body)).unwrap(),
        Some(Message::BeginQuorumEpochResponse { epoch: 5 })
    );

    let entries = vec![
        LogEntry {
            epoch: 5,
            payload: Payload::LeaderChange { leader: 1 },
        },
        LogEntry {
            epoch: 5,
            payload: Payload::Data(Bytes::from_static(b"record")),
        },
    ];
    let fetch = Message::Fetch {
        epoch: 5,
        replica: 2,
        fetch_offset: 17,
        last_fetched_epoch: 4,
        correlation_id: 99,
    };
    let answer = FetchResponse {
        epoch: 5,
        correlation_id: 0,
        leader: Some(1),
        error: None,
        diverging: None,
        snapshot: None,
        base_offset: 17,
        entries,
        high_watermark: Some(18),
    };
    for version in [12, 13, 17, 18] {
        let body = encode_reply(
            1,
            version,
            &view(),
            Some(&Message::FetchResponse(answer.clone())),
            ec::NONE,
        );
        let decoded = decode_response(&fetch, response(1, version, body)).unwrap();
        // The runtime's correlation id comes back from the request it sent.
        let expected = FetchResponse {
            correlation_id: 99,
            ..answer.clone()
        };
        assert_eq!(
            decoded,
            Some(Message::FetchResponse(expected)),
            "v{version}"
        );
    }

    let diverged = FetchResponse {
        epoch: 6,
        correlation_id: 0,
        leader: Some(3),
        error: Some(FetchError::FencedLeaderEpoch),
        diverging: Some(EpochEndOffset {
            epoch: 3,
            end_offset: 9,
        }),
        snapshot: None,
        base_offset: 17,
        entries: Vec::new(),
        high_watermark: None,
    };
    let body = encode_reply(
        1,
        17,
        &view(),
        Some(&Message::FetchResponse(diverged.clone())),
        ec::NONE,
    );
    let decoded = decode_response(&fetch, response(1, 17, body)).unwrap();
    assert_eq!(
        decoded,
        Some(Message::FetchResponse(FetchResponse {
            correlation_id: 99,
            ..diverged
        }))
    );
}

#[test]
fn snapshot_ids_and_chunks_round_trip() {
    let fetch = Message::Fetch {
        epoch: 5,
        replica: 2,
        fetch_offset: 3,
        last_fetched_epoch: 1,
        correlation_id: 7,
    };
    let id = EpochEndOffset {
        epoch: 4,
        end_offset: 12,
    };
    let answer = FetchResponse {
        epoch: 5,
        correlation_id: 7,
        leader: Some(1),
        error: None,
        diverging: None,
        snapshot: Some(id),
        base_offset: 3,
        entries: Vec::new(),
        high_watermark: Some(20),
    };
    for version in [12, 17, 18] {
        let body = encode_reply(
            1,
            version,
            &view(),
            Some(&Message::FetchResponse(answer.clone())),
            ec::NONE,
        );
        assert_eq!(
            decode_response(&fetch, response(1, version, body)).unwrap(),
            Some(Message::FetchResponse(answer.clone())),
            "v{version}"
        );
    }
    let request = Message::FetchSnapshot {
        epoch: 5,
        replica: 2,
        snapshot: id,
        position: 3,
        max_bytes: 4,
        correlation_id: 8,
    };
    let chunk = FetchSnapshotResponse {
        epoch: 5,
        correlation_id: 8,
        leader: Some(1),
        error: None,
        snapshot: id,
        size: 10,
        position: 3,
        bytes: Bytes::from_static(b"defg"),
    };
    for version in [0, 1] {
        let body = encode_reply(
            59,
            version,
            &view(),
            Some(&Message::FetchSnapshotResponse(chunk.clone())),
            ec::NONE,
        );
        assert_eq!(
            decode_response(&request, response(59, version, body)).unwrap(),
            Some(Message::FetchSnapshotResponse(chunk.clone())),
            "v{version}"
        );
    }
    let missing = FetchSnapshotResponse {
        error: Some(FetchError::SnapshotNotFound),
        size: 0,
        bytes: Bytes::new(),
        ..chunk
    };
    let body = encode_reply(
        59,
        1,
        &view(),
        Some(&Message::FetchSnapshotResponse(missing.clone())),
        ec::NONE,
    );
    let mut raw = body.clone();
    let wire = kafka_protocol::messages::FetchSnapshotResponse::decode(&mut raw, 1).unwrap();
    assert_eq!(wire.topics[0].partitions[0].error_code, 98);
    assert_eq!(
        decode_response(&request, response(59, 1, body)).unwrap(),
        Some(Message::FetchSnapshotResponse(missing))
    );
}

#[test]
fn a_wrong_cluster_id_is_inconsistent_cluster_id() {
    for message in requests() {
        let version = if matches!(message, Message::Fetch { .. }) {
            17
        } else {
            1
        };
        let (api_key, body) = over_the_wire(1, version, &message);
        let refused = decode_request("other-cluster", 1, api_key, version, body).unwrap_err();
        let (key, decoded) = (api_key, response(api_key, version, refused));
        let code = match decoded {
            ResponseKind::Vote(r) => r.error_code,
            ResponseKind::BeginQuorumEpoch(r) => r.error_code,
            ResponseKind::EndQuorumEpoch(r) => r.error_code,
            ResponseKind::Fetch(r) => r.error_code,
            ResponseKind::FetchSnapshot(r) => r.error_code,
            other => panic!("{key}: {other:?}"),
        };
        assert_eq!(code, ec::INCONSISTENT_CLUSTER_ID, "api key {key}");
    }
}

#[test]
fn bad_bytes_and_versions_get_error_responses() {
    for (key, _, max) in SUPPORTED_APIS {
        for body in [Bytes::new(), Bytes::from_static(&[0xff; 7])] {
            let refused = decode_request(CLUSTER, 1, key, max, body).unwrap_err();
            // The error response itself decodes.
            let _ = response(key, max, refused);
        }
        let refused = decode_request(CLUSTER, 1, key, max + 1, Bytes::new()).unwrap_err();
        let _ = response(key, max, refused);
    }
}

#[test]
fn another_topic_is_an_invalid_request_and_unknown_for_describe_quorum() {
    let mut r = VoteRequest::default();
    let mut t = vote_request::TopicData::default();
    t.topic_name = TopicName(StrBytes::from_static_str("orders"));
    t.partitions = vec![vote_request::PartitionData::default()];
    r.topics = vec![t];
    let mut buf = BytesMut::new();
    r.encode(&mut buf, 2).unwrap();
    let refused = decode_request(CLUSTER, 1, 52, 2, buf.freeze()).unwrap_err();
    match response(52, 2, refused) {
        ResponseKind::Vote(r) => assert_eq!(r.error_code, ec::INVALID_REQUEST),
        other => panic!("{other:?}"),
    }

    let mut r = DescribeQuorumRequest::default();
    let mut t = kafka_protocol::messages::describe_quorum_request::TopicData::default();
    t.topic_name = TopicName(StrBytes::from_static_str("orders"));
    t.partitions = vec![Default::default()];
    r.topics = vec![t];
    let mut buf = BytesMut::new();
    r.encode(&mut buf, 2).unwrap();
    let refused = decode_request(CLUSTER, 1, 55, 2, buf.freeze()).unwrap_err();
    match response(55, 2, refused) {
        ResponseKind::DescribeQuorum(r) => {
            assert_eq!(
                r.topics[0].partitions[0].error_code,
                ec::UNKNOWN_TOPIC_OR_PARTITION
            )
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_request_for_another_voter_or_with_bad_epochs_is_refused_per_partition() {
    let (key, body) = over_the_wire(3, 2, &requests()[0]);
    assert_eq!(
        decode_request(CLUSTER, 1, key, 2, body).unwrap(),
        Inbound::Refused {
            error: ec::INVALID_VOTER_KEY
        }
    );
    // A real vote's candidate must have moved past its log's last epoch;
    // a pre-vote's need not.
    for (pre_vote, expected) in [(false, Some(ec::INVALID_REQUEST)), (true, None)] {
        let vote = Message::VoteRequest {
            epoch: 4,
            candidate: 2,
            last_epoch: 4,
            end_offset: 9,
            pre_vote,
        };
        let (key, body) = over_the_wire(1, 2, &vote);
        let inbound = decode_request(CLUSTER, 1, key, 2, body).unwrap();
        match expected {
            Some(error) => assert_eq!(inbound, Inbound::Refused { error }),
            None => assert!(matches!(inbound, Inbound::Raft { .. })),
        }
    }
    let fetch = Message::Fetch {
        epoch: 3,
        replica: 2,
        fetch_offset: 0,
        last_fetched_epoch: 4,
        correlation_id: 0,
    };
    let (key, body) = over_the_wire(1, 17, &fetch);
    assert_eq!(
        decode_request(CLUSTER, 1, key, 17, body).unwrap(),
        Inbound::Refused {
            error: ec::INVALID_REQUEST
        }
    );
    // Its answer still names the leader and epoch.
    let body = encode_reply(1, 17, &view(), None, ec::INVALID_REQUEST);
    match response(1, 17, body) {
        ResponseKind::Fetch(r) => {
            let p = &r.responses[0].partitions[0];
            assert_eq!(p.error_code, ec::INVALID_REQUEST);
            assert_eq!(
                (p.current_leader.leader_id.0, p.current_leader.leader_epoch),
                (1, 5)
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn describe_quorum_reports_the_leaders_view() {
    let description = QuorumDescription {
        leader: 1,
        epoch: 5,
        high_watermark: Some(10),
        voters: vec![
            ReplicaDescription {
                id: 1,
                log_end_offset: Some(12),
                last_fetch_ms: Some(100),
                last_caught_up_ms: Some(100),
            },
            ReplicaDescription {
                id: 2,
                log_end_offset: None,
                last_fetch_ms: None,
                last_caught_up_ms: None,
            },
        ],
        observers: vec![ReplicaDescription {
            id: 7,
            log_end_offset: Some(3),
            last_fetch_ms: Some(90),
            last_caught_up_ms: None,
        }],
        nodes: vec![(1, "127.0.0.11:9093".parse().unwrap())],
        listener: "CONTROLLER".into(),
    };
    match response(55, 2, encode_describe_quorum(2, Some(&description))) {
        ResponseKind::DescribeQuorum(r) => {
            let p = &r.topics[0].partitions[0];
            assert_eq!(
                (
                    p.error_code,
                    p.leader_id.0,
                    p.leader_epoch,
                    p.high_watermark
                ),
                (0, 1, 5, 10)
            );
            assert_eq!(p.current_voters[1].log_end_offset, -1);
            assert_eq!(p.current_voters[0].last_caught_up_timestamp, 100);
            assert_eq!(p.observers[0].replica_id.0, 7);
            assert_eq!(r.nodes[0].listeners[0].port, 9093);
        }
        other => panic!("{other:?}"),
    }
    match response(55, 0, encode_describe_quorum(0, None)) {
        ResponseKind::DescribeQuorum(r) => {
            assert_eq!(
                r.topics[0].partitions[0].error_code,
                ec::NOT_LEADER_OR_FOLLOWER
            )
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn random_bodies_never_panic() {
    let mut rng = crate::kraft::Rng::new(7);
    for (key, min, max) in SUPPORTED_APIS {
        for version in min..=max {
            // Valid requests with bytes flipped, and pure noise.
            let valid = requests()
                .into_iter()
                .filter_map(|m| encode_request(CLUSTER, 1, version, &m, &options()))
                .filter(|(k, _)| *k as i16 == key)
                .map(|(_, body)| {
                    let mut buf = BytesMut::new();
                    body.encode(&mut buf, version)
                        .map(|()| buf.to_vec())
                        .unwrap_or_default()
                })
                .next()
                .unwrap_or_default();
            for _ in 0..300 {
                let mut body = if valid.is_empty() || rng.chance(30) {
                    (0..rng.below(64)).map(|_| rng.below(256) as u8).collect()
                } else {
                    valid.clone()
                };
                for _ in 0..=rng.below(3) {
                    if !body.is_empty() {
                        let at = rng.below(body.len() as u64) as usize;
                        body[at] = rng.below(256) as u8;
                    }
                }
                if let Err(refusal) = decode_request(CLUSTER, 1, key, version, Bytes::from(body)) {
                    // The refusal itself is a well-formed response.
                    let _ = response(key, version, refusal);
                }
            }
        }
    }
}

#[test]
fn leader_endpoints_go_out_as_kafka_sends_them() {
    // BeginQuorumEpoch/EndQuorumEpoch v1 announce the sender's listener.
    let begin = Message::BeginQuorumEpoch {
        epoch: 5,
        leader: 2,
    };
    match encode_request(CLUSTER, 1, 1, &begin, &options()) {
        Some((_, RequestKind::BeginQuorumEpoch(r))) => {
            let e = &r.leader_endpoints[0];
            assert_eq!(
                (e.name.as_str(), e.host.as_str(), e.port),
                ("CONTROLLER", "127.0.0.12", 9093)
            );
        }
        other => panic!("{other:?}"),
    }
    match encode_request(CLUSTER, 1, 0, &begin, &options()) {
        Some((_, RequestKind::BeginQuorumEpoch(r))) => assert!(r.leader_endpoints.is_empty()),
        other => panic!("{other:?}"),
    }
    // Responses name the leader's endpoint (Fetch from v17).
    let reply = Message::VoteResponse {
        epoch: 5,
        granted: false,
        pre_vote: false,
        leader: Some(1),
    };
    match response(52, 1, encode_reply(52, 1, &view(), Some(&reply), ec::NONE)) {
        ResponseKind::Vote(r) => {
            let e = &r.node_endpoints[0];
            assert_eq!(
                (e.node_id.0, e.host.as_str(), e.port),
                (1, "127.0.0.11", 9093)
            );
        }
        other => panic!("{other:?}"),
    }
    for (version, expected) in [(16, 0), (17, 1)] {
        match response(
            1,
            version,
            encode_reply(1, version, &view(), None, ec::INVALID_REQUEST),
        ) {
            ResponseKind::Fetch(r) => assert_eq!(r.node_endpoints.len(), expected, "v{version}"),
            other => panic!("{other:?}"),
        }
    }
}
