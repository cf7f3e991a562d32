//! The KRaft RPCs on the wire: [`Message`]s to and from Kafka's Vote (52),
//! BeginQuorumEpoch (53), EndQuorumEpoch (54) and Fetch (1) on
//! `__cluster_metadata-0`, FetchSnapshot (59, KIP-630), plus DescribeQuorum
//! (55), with the checks and
//! error codes of Kafka's KafkaRaftClient.
//!
//! Bodies only: framing and request headers belong to the connection. A
//! request that cannot be decoded or fails a check gets an error response,
//! never a panic.

use super::log::EpochEndOffset;
use super::messages::{FetchError, FetchResponse, FetchSnapshotResponse, Message};
use super::records;
use super::NodeId;
use bytes::{Bytes, BytesMut};
use gregor_protocol::error_codes as ec;
use kafka_protocol::messages::{
    begin_quorum_epoch_request, begin_quorum_epoch_response, describe_quorum_response,
    end_quorum_epoch_request, end_quorum_epoch_response, fetch_request, fetch_response,
    fetch_snapshot_request, fetch_snapshot_response, vote_request, vote_response, ApiKey,
    BeginQuorumEpochRequest, BeginQuorumEpochResponse, DescribeQuorumRequest,
    DescribeQuorumResponse, EndQuorumEpochRequest, EndQuorumEpochResponse, FetchRequest,
    FetchSnapshotRequest, FetchSnapshotResponse as WireFetchSnapshotResponse, RequestKind,
    ResponseKind, TopicName, VoteRequest, VoteResponse,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use std::net::SocketAddr;
use uuid::Uuid;

/// The metadata topic and its only partition.
pub const METADATA_TOPIC: &str = "__cluster_metadata";
pub const METADATA_PARTITION: i32 = 0;
/// Kafka's Topic.METADATA_TOPIC_ID ("AAAAAAAAAAAAAAAAAAAAAQ").
pub const METADATA_TOPIC_ID: Uuid = Uuid::from_u128(1);

/// Kafka's Errors messages, which DescribeQuorum v2 carries.
const NOT_LEADER_MESSAGE: &str = "For requests intended only for the leader, this error indicates that the broker is not the current leader. For requests intended for any replica, this error indicates that the broker is not a replica of the topic partition.";
const UNKNOWN_PARTITION_MESSAGE: &str = "This server does not host this topic-partition.";

/// How much a Fetch asks for (Kafka's raft fetch max bytes, 8 MiB).
const FETCH_MAX_BYTES: i32 = 8 * 1024 * 1024;

/// The raft APIs served, as (api key, min version, max version): what
/// kafka-protocol can decode. Fetch below v12 has no LastFetchedEpoch, so
/// such requests are answered INVALID_REQUEST as Kafka does.
pub const SUPPORTED_APIS: [(i16, i16, i16); 6] = [
    (ApiKey::Fetch as i16, 4, 18),
    (ApiKey::Vote as i16, 0, 2),
    (ApiKey::BeginQuorumEpoch as i16, 0, 1),
    (ApiKey::EndQuorumEpoch as i16, 0, 1),
    (ApiKey::DescribeQuorum as i16, 0, 2),
    (ApiKey::FetchSnapshot as i16, 0, 1),
];

/// True for the api keys [`decode_request`] handles.
pub fn is_raft_api(api_key: i16) -> bool {
    SUPPORTED_APIS.iter().any(|(k, _, _)| *k == api_key)
}

/// The version a node sends, before negotiation with the peer: what Kafka
/// 4.x sends (Vote v2 for pre-vote, Fetch v18 with the fetcher's high
/// watermark).
pub fn preferred_version(key: ApiKey) -> i16 {
    match key {
        ApiKey::Vote => 2,
        ApiKey::BeginQuorumEpoch | ApiKey::EndQuorumEpoch => 1,
        ApiKey::Fetch => 18,
        ApiKey::DescribeQuorum => 2,
        ApiKey::FetchSnapshot => 1,
        _ => 0,
    }
}

/// The api key of a node's outgoing request; None for responses.
pub fn request_key(message: &Message) -> Option<ApiKey> {
    match message {
        Message::VoteRequest { .. } => Some(ApiKey::Vote),
        Message::BeginQuorumEpoch { .. } => Some(ApiKey::BeginQuorumEpoch),
        Message::EndQuorumEpoch { .. } => Some(ApiKey::EndQuorumEpoch),
        Message::Fetch { .. } => Some(ApiKey::Fetch),
        Message::FetchSnapshot { .. } => Some(ApiKey::FetchSnapshot),
        Message::VoteResponse { .. }
        | Message::BeginQuorumEpochResponse { .. }
        | Message::FetchResponse(_)
        | Message::FetchSnapshotResponse(_) => None,
    }
}

/// A checked inbound request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// A Vote, BeginQuorumEpoch, EndQuorumEpoch or Fetch for the node.
    /// `max_wait_ms` is how long a Fetch may be held for new data (0 for
    /// the other requests); `fetcher_high_watermark` the high watermark a
    /// Fetch (v18+, KIP-1166) says the fetcher knows: `Some(None)` for none
    /// yet, `None` when the request does not say.
    Raft {
        from: NodeId,
        message: Message,
        max_wait_ms: u64,
        fetcher_high_watermark: Option<Option<u64>>,
    },
    /// Refused before reaching the node: answered with this partition-level
    /// error and the node's epoch and leader.
    Refused {
        error: i16,
    },
    DescribeQuorum,
}

/// What a response needs from the node besides the node's own reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeView {
    pub epoch: u32,
    pub leader: Option<NodeId>,
    /// The leader's raft listener address, for the NodeEndpoints responses
    /// carry from v1 (Fetch: v17) on, as Kafka's do (KIP-853).
    pub leader_address: Option<SocketAddr>,
    pub voters: Vec<NodeId>,
    /// Wall-clock time stamped on records sent in a Fetch response.
    pub now_ms: i64,
}

/// The leader's answer to DescribeQuorum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumDescription {
    pub leader: NodeId,
    pub epoch: u32,
    pub high_watermark: Option<u64>,
    pub voters: Vec<ReplicaDescription>,
    pub observers: Vec<ReplicaDescription>,
    /// Voter endpoints (v2's Nodes), under `listener`.
    pub nodes: Vec<(NodeId, SocketAddr)>,
    pub listener: String,
}

/// One replica in DescribeQuorum; times are wall-clock ms, None = unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaDescription {
    pub id: NodeId,
    pub log_end_offset: Option<u64>,
    pub last_fetch_ms: Option<i64>,
    pub last_caught_up_ms: Option<i64>,
}

fn topic_name() -> TopicName {
    TopicName(StrBytes::from_static_str(METADATA_TOPIC))
}

fn epoch_from(epoch: i32) -> Option<u32> {
    u32::try_from(epoch).ok()
}

fn wire_epoch(epoch: u32) -> i32 {
    i32::try_from(epoch).unwrap_or(i32::MAX)
}

fn wire_offset(offset: u64) -> i64 {
    i64::try_from(offset).unwrap_or(i64::MAX)
}

fn leader_id(leader: Option<NodeId>) -> i32 {
    leader.unwrap_or(-1)
}

fn cluster_id_ok(ours: &str, theirs: &Option<StrBytes>) -> bool {
    // Kafka does not enforce a cluster id the request leaves out.
    theirs.as_ref().is_none_or(|c| c.as_str() == ours)
}

fn encode<M: Encodable>(message: &M, version: i16) -> Bytes {
    let mut buf = BytesMut::new();
    match message.encode(&mut buf, version) {
        Ok(()) => buf.freeze(),
        Err(err) => {
            // Only a field set outside its versions gets here: a bug, but
            // the peer still gets a well-formed (empty) body rather than a
            // dropped connection.
            tracing::error!(%err, version, "cannot encode raft response");
            Bytes::new()
        }
    }
}

fn clamp_version(api_key: i16, version: i16) -> i16 {
    SUPPORTED_APIS
        .iter()
        .find(|(k, _, _)| *k == api_key)
        .map_or(0, |(_, min, max)| version.clamp(*min, *max))
}

/// A body-level error response for `api_key` (Kafka's RaftUtil.errorResponse,
/// plus DescribeQuorum).
pub fn error_response(api_key: i16, version: i16, error: i16) -> Bytes {
    let version = clamp_version(api_key, version);
    match ApiKey::try_from(api_key) {
        Ok(ApiKey::Vote) => {
            let mut r = VoteResponse::default();
            r.error_code = error;
            encode(&r, version)
        }
        Ok(ApiKey::BeginQuorumEpoch) => {
            let mut r = BeginQuorumEpochResponse::default();
            r.error_code = error;
            encode(&r, version)
        }
        Ok(ApiKey::EndQuorumEpoch) => {
            let mut r = EndQuorumEpochResponse::default();
            r.error_code = error;
            encode(&r, version)
        }
        Ok(ApiKey::Fetch) => {
            let mut r = fetch_response::FetchResponse::default();
            if version >= 7 {
                r.error_code = error;
            }
            encode(&r, version)
        }
        Ok(ApiKey::DescribeQuorum) => {
            let mut r = DescribeQuorumResponse::default();
            r.error_code = error;
            encode(&r, version)
        }
        Ok(ApiKey::FetchSnapshot) => {
            let mut r = WireFetchSnapshotResponse::default();
            r.error_code = error;
            encode(&r, version)
        }
        _ => Bytes::new(),
    }
}

// ---- inbound requests ------------------------------------------------------

/// Decodes and checks a request body. `Err` holds the encoded error
/// response for a request refused as a whole (bad bytes, unsupported
/// version, wrong cluster id, not `__cluster_metadata-0`).
pub fn decode_request(
    cluster_id: &str,
    local_id: NodeId,
    api_key: i16,
    version: i16,
    body: Bytes,
) -> Result<Inbound, Bytes> {
    let supported = SUPPORTED_APIS
        .iter()
        .any(|(k, min, max)| *k == api_key && (*min..=*max).contains(&version));
    if !supported {
        return Err(error_response(api_key, version, ec::UNSUPPORTED_VERSION));
    }
    let invalid = || error_response(api_key, version, ec::INVALID_REQUEST);
    let mut body = body;
    match ApiKey::try_from(api_key) {
        Ok(ApiKey::Vote) => {
            let r = VoteRequest::decode(&mut body, version).map_err(|_| invalid())?;
            decode_vote(cluster_id, local_id, version, r)
                .map_err(|e| error_response(api_key, version, e))
        }
        Ok(ApiKey::BeginQuorumEpoch) => {
            let r = BeginQuorumEpochRequest::decode(&mut body, version).map_err(|_| invalid())?;
            decode_begin(cluster_id, local_id, version, r)
                .map_err(|e| error_response(api_key, version, e))
        }
        Ok(ApiKey::EndQuorumEpoch) => {
            let r = EndQuorumEpochRequest::decode(&mut body, version).map_err(|_| invalid())?;
            decode_end(cluster_id, version, r).map_err(|e| error_response(api_key, version, e))
        }
        Ok(ApiKey::Fetch) => {
            let r = FetchRequest::decode(&mut body, version).map_err(|_| invalid())?;
            decode_fetch(cluster_id, version, r).map_err(|e| error_response(api_key, version, e))
        }
        Ok(ApiKey::DescribeQuorum) => {
            let r = DescribeQuorumRequest::decode(&mut body, version).map_err(|_| invalid())?;
            decode_describe(version, r)
        }
        Ok(ApiKey::FetchSnapshot) => {
            let r = FetchSnapshotRequest::decode(&mut body, version).map_err(|_| invalid())?;
            decode_fetch_snapshot(cluster_id, r).map_err(|e| error_response(api_key, version, e))
        }
        _ => Err(Bytes::new()),
    }
}

/// The single partition of a request, if it names exactly
/// `__cluster_metadata` partition 0 (KafkaRaftClient's
/// hasValidTopicPartition); anything else is INVALID_REQUEST.
fn single<'a, T, P>(
    topics: &'a [T],
    name: impl Fn(&T) -> &TopicName,
    partitions: impl Fn(&'a T) -> &'a [P],
    index: impl Fn(&P) -> i32,
) -> Result<&'a P, i16> {
    match topics {
        [topic] if name(topic).0.as_str() == METADATA_TOPIC => match partitions(topic) {
            [p] if index(p) == METADATA_PARTITION => Ok(p),
            _ => Err(ec::INVALID_REQUEST),
        },
        _ => Err(ec::INVALID_REQUEST),
    }
}

fn decode_vote(
    cluster_id: &str,
    local_id: NodeId,
    version: i16,
    r: VoteRequest,
) -> Result<Inbound, i16> {
    if !cluster_id_ok(cluster_id, &r.cluster_id) {
        return Err(ec::INCONSISTENT_CLUSTER_ID);
    }
    let p = single(
        &r.topics,
        |t| &t.topic_name,
        |t| &t.partitions,
        |p| p.partition_index,
    )?;
    let (Some(epoch), Some(last_epoch), Ok(end_offset)) = (
        epoch_from(p.replica_epoch),
        epoch_from(p.last_offset_epoch),
        u64::try_from(p.last_offset),
    ) else {
        return Ok(Inbound::Refused {
            error: ec::INVALID_REQUEST,
        });
    };
    // A candidate has bumped its epoch past its log's; a pre-vote has not.
    let illegal_epoch = if p.pre_vote {
        last_epoch > epoch
    } else {
        last_epoch >= epoch
    };
    if illegal_epoch || p.replica_id.0 < 0 {
        return Ok(Inbound::Refused {
            error: ec::INVALID_REQUEST,
        });
    }
    if version >= 1 && r.voter_id.0 >= 0 && r.voter_id.0 != local_id {
        return Ok(Inbound::Refused {
            error: ec::INVALID_VOTER_KEY,
        });
    }
    Ok(Inbound::Raft {
        from: p.replica_id.0,
        message: Message::VoteRequest {
            epoch,
            candidate: p.replica_id.0,
            last_epoch,
            end_offset,
            pre_vote: p.pre_vote,
        },
        max_wait_ms: 0,
        fetcher_high_watermark: None,
    })
}

fn decode_begin(
    cluster_id: &str,
    local_id: NodeId,
    version: i16,
    r: BeginQuorumEpochRequest,
) -> Result<Inbound, i16> {
    if !cluster_id_ok(cluster_id, &r.cluster_id) {
        return Err(ec::INCONSISTENT_CLUSTER_ID);
    }
    let p = single(
        &r.topics,
        |t| &t.topic_name,
        |t| &t.partitions,
        |p| p.partition_index,
    )?;
    let Some(epoch) = epoch_from(p.leader_epoch) else {
        return Ok(Inbound::Refused {
            error: ec::INVALID_REQUEST,
        });
    };
    if p.leader_id.0 < 0 {
        return Ok(Inbound::Refused {
            error: ec::INVALID_REQUEST,
        });
    }
    if version >= 1 && r.voter_id.0 >= 0 && r.voter_id.0 != local_id {
        return Ok(Inbound::Refused {
            error: ec::INVALID_VOTER_KEY,
        });
    }
    Ok(Inbound::Raft {
        from: p.leader_id.0,
        message: Message::BeginQuorumEpoch {
            epoch,
            leader: p.leader_id.0,
        },
        max_wait_ms: 0,
        fetcher_high_watermark: None,
    })
}

fn decode_end(cluster_id: &str, version: i16, r: EndQuorumEpochRequest) -> Result<Inbound, i16> {
    if !cluster_id_ok(cluster_id, &r.cluster_id) {
        return Err(ec::INCONSISTENT_CLUSTER_ID);
    }
    let p = single(
        &r.topics,
        |t| &t.topic_name,
        |t| &t.partitions,
        |p| p.partition_index,
    )?;
    let Some(epoch) = epoch_from(p.leader_epoch) else {
        return Ok(Inbound::Refused {
            error: ec::INVALID_REQUEST,
        });
    };
    if p.leader_id.0 < 0 {
        return Ok(Inbound::Refused {
            error: ec::INVALID_REQUEST,
        });
    }
    let preferred_successors = if version >= 1 {
        p.preferred_candidates
            .iter()
            .map(|c| c.candidate_id.0)
            .collect()
    } else {
        p.preferred_successors.clone()
    };
    Ok(Inbound::Raft {
        from: p.leader_id.0,
        message: Message::EndQuorumEpoch {
            epoch,
            leader: p.leader_id.0,
            preferred_successors,
        },
        max_wait_ms: 0,
        fetcher_high_watermark: None,
    })
}

fn decode_fetch(cluster_id: &str, version: i16, r: FetchRequest) -> Result<Inbound, i16> {
    if !cluster_id_ok(cluster_id, &r.cluster_id) {
        return Err(ec::INCONSISTENT_CLUSTER_ID);
    }
    // From v13 the topic is named by id only.
    let topic_ok = |t: &fetch_request::FetchTopic| {
        if version >= 13 {
            t.topic_id == METADATA_TOPIC_ID
        } else {
            t.topic.0.as_str() == METADATA_TOPIC
        }
    };
    let p = match r.topics.as_slice() {
        [t] if topic_ok(t) => match t.partitions.as_slice() {
            [p] if p.partition == METADATA_PARTITION => p,
            _ => return Err(ec::INVALID_REQUEST),
        },
        _ => return Err(ec::INVALID_REQUEST),
    };
    let replica = if version >= 15 {
        r.replica_state.replica_id.0
    } else {
        r.replica_id.0
    };
    let (Some(epoch), Some(last_fetched_epoch), Ok(fetch_offset)) = (
        epoch_from(p.current_leader_epoch),
        epoch_from(p.last_fetched_epoch),
        u64::try_from(p.fetch_offset),
    ) else {
        return Ok(Inbound::Refused {
            error: ec::INVALID_REQUEST,
        });
    };
    if r.max_wait_ms < 0 || last_fetched_epoch > epoch {
        return Ok(Inbound::Refused {
            error: ec::INVALID_REQUEST,
        });
    }
    Ok(Inbound::Raft {
        from: replica,
        message: Message::Fetch {
            epoch,
            replica,
            fetch_offset,
            last_fetched_epoch,
            // The runtime answers this request directly; no id is needed.
            correlation_id: 0,
        },
        max_wait_ms: u64::try_from(r.max_wait_ms).unwrap_or(0),
        // i64::MAX is the field's "absent" default.
        fetcher_high_watermark: (version >= 18 && p.high_watermark != i64::MAX)
            .then(|| u64::try_from(p.high_watermark).ok()),
    })
}

fn decode_fetch_snapshot(cluster_id: &str, r: FetchSnapshotRequest) -> Result<Inbound, i16> {
    if !cluster_id_ok(cluster_id, &r.cluster_id) {
        return Err(ec::INCONSISTENT_CLUSTER_ID);
    }
    let p = single(&r.topics, |t| &t.name, |t| &t.partitions, |p| p.partition)?;
    let (Some(epoch), Some(snapshot_epoch), Ok(end_offset), Ok(position)) = (
        epoch_from(p.current_leader_epoch),
        epoch_from(p.snapshot_id.epoch),
        u64::try_from(p.snapshot_id.end_offset),
        u64::try_from(p.position),
    ) else {
        return Ok(Inbound::Refused {
            error: ec::INVALID_REQUEST,
        });
    };
    Ok(Inbound::Raft {
        from: r.replica_id.0,
        message: Message::FetchSnapshot {
            epoch,
            replica: r.replica_id.0,
            snapshot: EpochEndOffset {
                epoch: snapshot_epoch,
                end_offset,
            },
            position,
            max_bytes: u32::try_from(r.max_bytes).unwrap_or(0),
            correlation_id: 0,
        },
        max_wait_ms: 0,
        fetcher_high_watermark: None,
    })
}

fn decode_describe(version: i16, r: DescribeQuorumRequest) -> Result<Inbound, Bytes> {
    let ok = matches!(r.topics.as_slice(),
        [t] if t.topic_name.0.as_str() == METADATA_TOPIC
            && matches!(t.partitions.as_slice(), [p] if p.partition_index == METADATA_PARTITION));
    if ok {
        return Ok(Inbound::DescribeQuorum);
    }
    // Kafka answers every partition asked for with UNKNOWN_TOPIC_OR_PARTITION.
    let mut response = DescribeQuorumResponse::default();
    response.topics = r
        .topics
        .iter()
        .map(|t| {
            let mut topic = describe_quorum_response::TopicData::default();
            topic.topic_name = t.topic_name.clone();
            topic.partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let mut partition = describe_quorum_response::PartitionData::default();
                    partition.partition_index = p.partition_index;
                    partition.error_code = ec::UNKNOWN_TOPIC_OR_PARTITION;
                    if version >= 2 {
                        partition.error_message =
                            Some(StrBytes::from_static_str(UNKNOWN_PARTITION_MESSAGE));
                    }
                    partition
                })
                .collect();
            topic
        })
        .collect();
    Err(encode(&response, version))
}

// ---- responses to inbound requests -----------------------------------------

/// The answer to a Vote, BeginQuorumEpoch or EndQuorumEpoch: the same
/// shape in three generated modules — the metadata partition with the
/// error and the leader and epoch as this node sees them (`$fill` adds what
/// one API has more), and from v1 the leader's endpoint.
macro_rules! quorum_answer {
    ($module:ident, $response:ident, $version:expr, $view:expr, $leader:expr, $epoch:expr,
     $error:expr, |$p:ident| $fill:block) => {{
        let mut $p = $module::PartitionData::default();
        $p.partition_index = METADATA_PARTITION;
        $p.error_code = $error;
        $p.leader_id = leader_id($leader).into();
        $p.leader_epoch = wire_epoch($epoch);
        $fill
        let mut t = $module::TopicData::default();
        t.topic_name = topic_name();
        t.partitions = vec![$p];
        let mut r = $response::default();
        r.topics = vec![t];
        if $version >= 1 {
            r.node_endpoints = endpoint($leader, $view, |id, host, port| {
                let mut e = $module::NodeEndpoint::default();
                (e.node_id, e.host, e.port) = (id.into(), host, port);
                e
            });
        }
        encode(&r, $version)
    }};
}

/// Encodes the answer to a Vote, BeginQuorumEpoch, EndQuorumEpoch or Fetch:
/// `reply` is what the node sent back (if anything), `error` a partition
/// error decided before the node saw the request.
pub fn encode_reply(
    api_key: i16,
    version: i16,
    view: &NodeView,
    reply: Option<&Message>,
    error: i16,
) -> Bytes {
    match ApiKey::try_from(api_key) {
        Ok(ApiKey::Vote) => {
            let (epoch, leader, granted) = match reply {
                Some(Message::VoteResponse {
                    epoch,
                    granted,
                    leader,
                    ..
                }) => (*epoch, *leader, *granted),
                _ => (view.epoch, view.leader, false),
            };
            quorum_answer!(
                vote_response,
                VoteResponse,
                version,
                view,
                leader,
                epoch,
                error,
                |p| {
                    p.vote_granted = granted && error == ec::NONE;
                }
            )
        }
        Ok(ApiKey::BeginQuorumEpoch) => quorum_answer!(
            begin_quorum_epoch_response,
            BeginQuorumEpochResponse,
            version,
            view,
            view.leader,
            view.epoch,
            error,
            |p| {}
        ),
        Ok(ApiKey::EndQuorumEpoch) => quorum_answer!(
            end_quorum_epoch_response,
            EndQuorumEpochResponse,
            version,
            view,
            view.leader,
            view.epoch,
            error,
            |p| {}
        ),
        Ok(ApiKey::Fetch) => encode_fetch_reply(version, view, reply, error),
        Ok(ApiKey::FetchSnapshot) => encode_fetch_snapshot_reply(version, view, reply, error),
        _ => Bytes::new(),
    }
}

fn encode_fetch_reply(version: i16, view: &NodeView, reply: Option<&Message>, error: i16) -> Bytes {
    let mut p = fetch_response::PartitionData::default();
    p.partition_index = METADATA_PARTITION;
    p.high_watermark = -1;
    p.last_stable_offset = -1;
    p.log_start_offset = 0;
    let (epoch, leader) = match reply {
        Some(Message::FetchResponse(f)) => {
            p.error_code = f.error.map_or(ec::NONE, FetchError::code);
            p.high_watermark = f.high_watermark.map_or(-1, wire_offset);
            p.last_stable_offset = p.high_watermark;
            if let Some(div) = f.diverging {
                p.diverging_epoch.epoch = wire_epoch(div.epoch);
                p.diverging_epoch.end_offset = wire_offset(div.end_offset);
            }
            if let Some(id) = f.snapshot {
                p.snapshot_id.epoch = wire_epoch(id.epoch);
                p.snapshot_id.end_offset = wire_offset(id.end_offset);
            }
            if !f.entries.is_empty() {
                match records::encode_entries(f.base_offset, &f.entries, &view.voters, view.now_ms)
                {
                    Ok(bytes) => p.records = Some(bytes),
                    Err(err) => {
                        tracing::error!(%err, "cannot encode raft records");
                        p.error_code = ec::UNKNOWN_SERVER_ERROR;
                    }
                }
            }
            (f.epoch, f.leader)
        }
        _ => {
            p.error_code = if error == ec::NONE {
                ec::UNKNOWN_SERVER_ERROR
            } else {
                error
            };
            (view.epoch, view.leader)
        }
    };
    if version >= 12 {
        p.current_leader.leader_id = leader_id(leader).into();
        p.current_leader.leader_epoch = wire_epoch(epoch);
    }
    if version < 12 {
        p.diverging_epoch = Default::default();
        p.snapshot_id = Default::default();
    }
    let mut t = fetch_response::FetchableTopicResponse::default();
    if version >= 13 {
        t.topic_id = METADATA_TOPIC_ID;
    } else {
        t.topic = topic_name();
    }
    t.partitions = vec![p];
    let mut r = fetch_response::FetchResponse::default();
    r.responses = vec![t];
    // Kafka's RaftUtil.singletonFetchResponse: from v17.
    if version >= 17 {
        r.node_endpoints = endpoint(leader, view, |id, host, port| {
            let mut e = fetch_response::NodeEndpoint::default();
            (e.node_id, e.host, e.port) = (id.into(), host, i32::from(port));
            e
        });
    }
    encode(&r, version)
}

fn encode_fetch_snapshot_reply(
    version: i16,
    view: &NodeView,
    reply: Option<&Message>,
    error: i16,
) -> Bytes {
    let mut p = fetch_snapshot_response::PartitionSnapshot::default();
    p.index = METADATA_PARTITION;
    let (epoch, leader) = match reply {
        Some(Message::FetchSnapshotResponse(f)) => {
            p.error_code = f.error.map_or(ec::NONE, FetchError::code);
            p.snapshot_id.epoch = wire_epoch(f.snapshot.epoch);
            p.snapshot_id.end_offset = wire_offset(f.snapshot.end_offset);
            p.size = wire_offset(f.size);
            p.position = wire_offset(f.position);
            p.unaligned_records = f.bytes.clone();
            (f.epoch, f.leader)
        }
        _ => {
            p.error_code = if error == ec::NONE {
                ec::UNKNOWN_SERVER_ERROR
            } else {
                error
            };
            (view.epoch, view.leader)
        }
    };
    p.current_leader.leader_id = leader_id(leader).into();
    p.current_leader.leader_epoch = wire_epoch(epoch);
    let mut t = fetch_snapshot_response::TopicSnapshot::default();
    t.name = topic_name();
    t.partitions = vec![p];
    let mut r = WireFetchSnapshotResponse::default();
    r.topics = vec![t];
    if version >= 1 {
        r.node_endpoints = endpoint(leader, view, |id, host, port| {
            let mut e = fetch_snapshot_response::NodeEndpoint::default();
            (e.node_id, e.host, e.port) = (id.into(), host, port);
            e
        });
    }
    encode(&r, version)
}

/// The leader's endpoint, when it is known and is the one `view` has the
/// address of.
fn endpoint<E>(
    leader: Option<NodeId>,
    view: &NodeView,
    make: impl Fn(NodeId, StrBytes, u16) -> E,
) -> Vec<E> {
    match (leader, view.leader, view.leader_address) {
        (Some(id), Some(known), Some(address)) if id == known => vec![make(
            id,
            StrBytes::from_string(address.ip().to_string()),
            address.port(),
        )],
        _ => Vec::new(),
    }
}

/// DescribeQuorum's answer: the description on the leader, or
/// NOT_LEADER_OR_FOLLOWER elsewhere (as Kafka).
pub fn encode_describe_quorum(version: i16, description: Option<&QuorumDescription>) -> Bytes {
    let mut p = describe_quorum_response::PartitionData::default();
    p.partition_index = METADATA_PARTITION;
    let mut nodes = Vec::new();
    match description {
        None => {
            p.error_code = ec::NOT_LEADER_OR_FOLLOWER;
            if version >= 2 {
                p.error_message = Some(StrBytes::from_static_str(NOT_LEADER_MESSAGE));
            }
        }
        Some(d) => {
            if version >= 2 {
                p.error_message = None;
            }
            p.leader_id = d.leader.into();
            p.leader_epoch = wire_epoch(d.epoch);
            p.high_watermark = d.high_watermark.map_or(-1, wire_offset);
            let replica = |r: &ReplicaDescription| {
                let mut s = describe_quorum_response::ReplicaState::default();
                s.replica_id = r.id.into();
                s.log_end_offset = r.log_end_offset.map_or(-1, wire_offset);
                if version >= 1 {
                    s.last_fetch_timestamp = r.last_fetch_ms.unwrap_or(-1);
                    s.last_caught_up_timestamp = r.last_caught_up_ms.unwrap_or(-1);
                }
                s
            };
            p.current_voters = d.voters.iter().map(replica).collect();
            p.observers = d.observers.iter().map(replica).collect();
            if version >= 2 {
                nodes = d
                    .nodes
                    .iter()
                    .map(|(id, addr)| {
                        let mut listener = describe_quorum_response::Listener::default();
                        listener.name = StrBytes::from_string(d.listener.clone());
                        listener.host = StrBytes::from_string(addr.ip().to_string());
                        listener.port = addr.port();
                        let mut node = describe_quorum_response::Node::default();
                        node.node_id = (*id).into();
                        node.listeners = vec![listener];
                        node
                    })
                    .collect();
            }
        }
    }
    let mut t = describe_quorum_response::TopicData::default();
    t.topic_name = topic_name();
    t.partitions = vec![p];
    let mut r = DescribeQuorumResponse::default();
    r.topics = vec![t];
    r.nodes = nodes;
    encode(&r, version)
}

// ---- outbound requests -----------------------------------------------------

/// What a request says besides the node's message: how long the leader may
/// hold a Fetch, the high watermark the fetcher knows (Fetch v18+), and the
/// sender's own raft listener, which BeginQuorumEpoch and EndQuorumEpoch
/// (v1+) announce as the leader's endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestOptions {
    pub fetch_max_wait_ms: i32,
    pub high_watermark: Option<u64>,
    pub endpoint: Option<(String, SocketAddr)>,
}

/// The request a node's outgoing message becomes at `version` (already
/// negotiated with the peer); None for messages that are responses.
pub fn encode_request(
    cluster_id: &str,
    to: NodeId,
    version: i16,
    message: &Message,
    options: &RequestOptions,
) -> Option<(ApiKey, RequestKind)> {
    let cluster = Some(StrBytes::from_string(cluster_id.to_string()));
    match message {
        Message::VoteRequest {
            epoch,
            candidate,
            last_epoch,
            end_offset,
            pre_vote,
        } => {
            let mut p = vote_request::PartitionData::default();
            p.partition_index = METADATA_PARTITION;
            p.replica_epoch = wire_epoch(*epoch);
            p.replica_id = (*candidate).into();
            p.last_offset_epoch = wire_epoch(*last_epoch);
            p.last_offset = wire_offset(*end_offset);
            p.pre_vote = *pre_vote;
            let mut t = vote_request::TopicData::default();
            t.topic_name = topic_name();
            t.partitions = vec![p];
            let mut r = VoteRequest::default();
            r.cluster_id = cluster;
            if version >= 1 {
                r.voter_id = to.into();
            }
            r.topics = vec![t];
            Some((ApiKey::Vote, RequestKind::Vote(r)))
        }
        Message::BeginQuorumEpoch { epoch, leader } => {
            let mut p = begin_quorum_epoch_request::PartitionData::default();
            p.partition_index = METADATA_PARTITION;
            p.leader_id = (*leader).into();
            p.leader_epoch = wire_epoch(*epoch);
            let mut t = begin_quorum_epoch_request::TopicData::default();
            t.topic_name = topic_name();
            t.partitions = vec![p];
            let mut r = BeginQuorumEpochRequest::default();
            r.cluster_id = cluster;
            if version >= 1 {
                r.voter_id = to.into();
                r.leader_endpoints = options
                    .endpoint
                    .iter()
                    .map(|(name, address)| {
                        let mut e = begin_quorum_epoch_request::LeaderEndpoint::default();
                        e.name = StrBytes::from_string(name.clone());
                        e.host = StrBytes::from_string(address.ip().to_string());
                        e.port = address.port();
                        e
                    })
                    .collect();
            }
            r.topics = vec![t];
            Some((ApiKey::BeginQuorumEpoch, RequestKind::BeginQuorumEpoch(r)))
        }
        Message::EndQuorumEpoch {
            epoch,
            leader,
            preferred_successors,
        } => {
            let mut p = end_quorum_epoch_request::PartitionData::default();
            p.partition_index = METADATA_PARTITION;
            p.leader_id = (*leader).into();
            p.leader_epoch = wire_epoch(*epoch);
            if version >= 1 {
                p.preferred_candidates = preferred_successors
                    .iter()
                    .map(|id| {
                        let mut c = end_quorum_epoch_request::ReplicaInfo::default();
                        c.candidate_id = (*id).into();
                        c
                    })
                    .collect();
            } else {
                p.preferred_successors = preferred_successors.clone();
            }
            let mut t = end_quorum_epoch_request::TopicData::default();
            t.topic_name = topic_name();
            t.partitions = vec![p];
            let mut r = EndQuorumEpochRequest::default();
            r.cluster_id = cluster;
            r.topics = vec![t];
            if version >= 1 {
                r.leader_endpoints = options
                    .endpoint
                    .iter()
                    .map(|(name, address)| {
                        let mut e = end_quorum_epoch_request::LeaderEndpoint::default();
                        e.name = StrBytes::from_string(name.clone());
                        e.host = StrBytes::from_string(address.ip().to_string());
                        e.port = address.port();
                        e
                    })
                    .collect();
            }
            Some((ApiKey::EndQuorumEpoch, RequestKind::EndQuorumEpoch(r)))
        }
        Message::Fetch {
            epoch,
            replica,
            fetch_offset,
            last_fetched_epoch,
            ..
        } => {
            let mut p = fetch_request::FetchPartition::default();
            p.partition = METADATA_PARTITION;
            p.current_leader_epoch = wire_epoch(*epoch);
            p.fetch_offset = wire_offset(*fetch_offset);
            p.last_fetched_epoch = wire_epoch(*last_fetched_epoch);
            p.partition_max_bytes = FETCH_MAX_BYTES;
            if version >= 18 {
                p.high_watermark = options.high_watermark.map_or(-1, wire_offset);
            }
            let mut t = fetch_request::FetchTopic::default();
            if version >= 13 {
                t.topic_id = METADATA_TOPIC_ID;
            } else {
                t.topic = topic_name();
            }
            t.partitions = vec![p];
            let mut r = FetchRequest::default();
            if version >= 12 {
                r.cluster_id = cluster;
            }
            if version >= 15 {
                r.replica_state.replica_id = (*replica).into();
            } else {
                r.replica_id = (*replica).into();
            }
            r.max_wait_ms = options.fetch_max_wait_ms;
            r.min_bytes = 0;
            r.max_bytes = FETCH_MAX_BYTES;
            r.topics = vec![t];
            Some((ApiKey::Fetch, RequestKind::Fetch(r)))
        }
        Message::FetchSnapshot {
            epoch,
            replica,
            snapshot,
            position,
            max_bytes,
            ..
        } => {
            let mut id = fetch_snapshot_request::SnapshotId::default();
            id.end_offset = wire_offset(snapshot.end_offset);
            id.epoch = wire_epoch(snapshot.epoch);
            let mut p = fetch_snapshot_request::PartitionSnapshot::default();
            p.partition = METADATA_PARTITION;
            p.current_leader_epoch = wire_epoch(*epoch);
            p.snapshot_id = id;
            p.position = wire_offset(*position);
            let mut t = fetch_snapshot_request::TopicSnapshot::default();
            t.name = topic_name();
            t.partitions = vec![p];
            let mut r = FetchSnapshotRequest::default();
            r.cluster_id = cluster;
            r.replica_id = (*replica).into();
            r.max_bytes = i32::try_from(*max_bytes).unwrap_or(i32::MAX);
            r.topics = vec![t];
            Some((ApiKey::FetchSnapshot, RequestKind::FetchSnapshot(r)))
        }
        Message::VoteResponse { .. }
        | Message::BeginQuorumEpochResponse { .. }
        | Message::FetchResponse(_)
        | Message::FetchSnapshotResponse(_) => None,
    }
}

/// The message a peer's response to `request` means to the node. `Ok(None)`
/// when there is nothing for the node (EndQuorumEpoch acknowledgements);
/// `Err` for responses the node must not see (top-level errors, malformed).
pub fn decode_response(
    request: &Message,
    response: ResponseKind,
) -> Result<Option<Message>, String> {
    match (request, response) {
        (Message::VoteRequest { pre_vote, .. }, ResponseKind::Vote(r)) => {
            top_level(r.error_code)?;
            let p = single(
                &r.topics,
                |t| &t.topic_name,
                |t| &t.partitions,
                |p| p.partition_index,
            )
            .map_err(|_| "Vote response without __cluster_metadata-0".to_string())?;
            let epoch = epoch_from(p.leader_epoch).ok_or("negative epoch")?;
            Ok(Some(Message::VoteResponse {
                epoch,
                granted: p.vote_granted && p.error_code == ec::NONE,
                pre_vote: *pre_vote,
                leader: (p.leader_id.0 >= 0).then_some(p.leader_id.0),
            }))
        }
        (Message::BeginQuorumEpoch { .. }, ResponseKind::BeginQuorumEpoch(r)) => {
            top_level(r.error_code)?;
            let p = single(
                &r.topics,
                |t| &t.topic_name,
                |t| &t.partitions,
                |p| p.partition_index,
            )
            .map_err(|_| "BeginQuorumEpoch response without __cluster_metadata-0".to_string())?;
            let epoch = epoch_from(p.leader_epoch).ok_or("negative epoch")?;
            Ok(Some(Message::BeginQuorumEpochResponse { epoch }))
        }
        (Message::EndQuorumEpoch { .. }, ResponseKind::EndQuorumEpoch(r)) => {
            top_level(r.error_code)?;
            Ok(None)
        }
        (
            Message::Fetch {
                fetch_offset,
                correlation_id,
                ..
            },
            ResponseKind::Fetch(r),
        ) => decode_fetch_response(*fetch_offset, *correlation_id, r).map(Some),
        (Message::FetchSnapshot { correlation_id, .. }, ResponseKind::FetchSnapshot(r)) => {
            decode_fetch_snapshot_response(*correlation_id, r).map(Some)
        }
        (request, response) => Err(format!(
            "unexpected response {:?} to {request:?}",
            std::mem::discriminant(&response)
        )),
    }
}

fn top_level(code: i16) -> Result<(), String> {
    if code == ec::NONE {
        Ok(())
    } else {
        Err(format!("peer answered error code {code}"))
    }
}

fn decode_fetch_response(
    fetch_offset: u64,
    correlation_id: u64,
    r: fetch_response::FetchResponse,
) -> Result<Message, String> {
    top_level(r.error_code)?;
    let p = match r.responses.as_slice() {
        [t] => match t.partitions.as_slice() {
            [p] if p.partition_index == METADATA_PARTITION => p,
            _ => return Err("Fetch response without partition 0".into()),
        },
        _ => return Err("Fetch response without one topic".into()),
    };
    let error = match p.error_code {
        ec::NONE => None,
        ec::FENCED_LEADER_EPOCH => Some(FetchError::FencedLeaderEpoch),
        ec::UNKNOWN_LEADER_EPOCH => Some(FetchError::UnknownLeaderEpoch),
        ec::NOT_LEADER_OR_FOLLOWER => Some(FetchError::NotLeader),
        other => return Err(format!("Fetch answered error code {other}")),
    };
    let epoch = epoch_from(p.current_leader.leader_epoch).ok_or("Fetch response without epoch")?;
    let leader = (p.current_leader.leader_id.0 >= 0).then_some(p.current_leader.leader_id.0);
    let diverging = match (
        epoch_from(p.diverging_epoch.epoch),
        u64::try_from(p.diverging_epoch.end_offset),
    ) {
        (Some(epoch), Ok(end_offset)) => Some(EpochEndOffset { epoch, end_offset }),
        _ => None,
    };
    let snapshot = match (
        epoch_from(p.snapshot_id.epoch),
        u64::try_from(p.snapshot_id.end_offset),
    ) {
        (Some(epoch), Ok(end_offset)) => Some(EpochEndOffset { epoch, end_offset }),
        _ => None,
    };
    let decoded = match &p.records {
        Some(bytes) if !bytes.is_empty() => records::decode_entries(bytes)?,
        _ => Vec::new(),
    };
    let base_offset = decoded.first().map_or(fetch_offset, |(o, _)| *o);
    if base_offset != fetch_offset {
        return Err(format!(
            "records start at {base_offset}, not at the fetch offset {fetch_offset}"
        ));
    }
    let mut entries = Vec::with_capacity(decoded.len());
    for (i, (offset, entry)) in decoded.into_iter().enumerate() {
        if offset != base_offset + i as u64 {
            return Err(format!("records skip to offset {offset}"));
        }
        entries.push(entry);
    }
    Ok(Message::FetchResponse(FetchResponse {
        epoch,
        correlation_id,
        leader,
        error,
        diverging,
        snapshot,
        base_offset,
        entries,
        high_watermark: u64::try_from(p.high_watermark).ok(),
    }))
}

fn decode_fetch_snapshot_response(
    correlation_id: u64,
    r: WireFetchSnapshotResponse,
) -> Result<Message, String> {
    top_level(r.error_code)?;
    let p = single(&r.topics, |t| &t.name, |t| &t.partitions, |p| p.index)
        .map_err(|_| "FetchSnapshot response without __cluster_metadata-0".to_string())?;
    let error = match p.error_code {
        ec::NONE => None,
        ec::FENCED_LEADER_EPOCH => Some(FetchError::FencedLeaderEpoch),
        ec::UNKNOWN_LEADER_EPOCH => Some(FetchError::UnknownLeaderEpoch),
        ec::NOT_LEADER_OR_FOLLOWER => Some(FetchError::NotLeader),
        ec::SNAPSHOT_NOT_FOUND => Some(FetchError::SnapshotNotFound),
        ec::POSITION_OUT_OF_RANGE => Some(FetchError::PositionOutOfRange),
        other => return Err(format!("FetchSnapshot answered error code {other}")),
    };
    let epoch =
        epoch_from(p.current_leader.leader_epoch).ok_or("FetchSnapshot response without epoch")?;
    let leader = (p.current_leader.leader_id.0 >= 0).then_some(p.current_leader.leader_id.0);
    // Error answers carry no snapshot id, size or position.
    let snapshot = EpochEndOffset {
        epoch: epoch_from(p.snapshot_id.epoch).unwrap_or(0),
        end_offset: u64::try_from(p.snapshot_id.end_offset).unwrap_or(0),
    };
    Ok(Message::FetchSnapshotResponse(FetchSnapshotResponse {
        epoch,
        correlation_id,
        leader,
        error,
        snapshot,
        size: u64::try_from(p.size).unwrap_or(0),
        position: u64::try_from(p.position).unwrap_or(0),
        bytes: p.unaligned_records.clone(),
    }))
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
