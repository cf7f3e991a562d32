//! Share-group (KIP-932) requests of the integration tests: ShareFetch and
//! ShareAcknowledge (v1) of partition 0 of one topic, with acknowledgements,
//! and ShareGroupHeartbeat (v1).

use super::Connection;
use kafka_protocol::messages::share_acknowledge_request::{
    AcknowledgePartition, AcknowledgeTopic, AcknowledgementBatch as AckOnlyBatch,
};
use kafka_protocol::messages::share_fetch_request::{
    AcknowledgementBatch, FetchPartition, FetchTopic,
};
use kafka_protocol::messages::{
    ApiKey, GroupId, RequestKind, ResponseKind, ShareAcknowledgeRequest, ShareAcknowledgeResponse,
    ShareFetchRequest, ShareFetchResponse, ShareGroupHeartbeatRequest, ShareGroupHeartbeatResponse,
};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

pub const ACCEPT: i8 = 1;
pub const RELEASE: i8 = 2;
pub const REJECT: i8 = 3;

/// One acknowledgement: (first, last, type).
pub type Ack = (i64, i64, i8);

/// Who fetches: the group, the member and its share session epoch.
pub struct Session<'a> {
    pub group: &'a str,
    pub member: &'a str,
    pub epoch: i32,
}

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_string())
}

/// ShareFetch of partition 0 of `topic` (up to 500 records, 1 MiB) with
/// piggy-backed `acks`, waiting up to `wait_ms` for records.
pub fn fetch(
    conn: &mut Connection,
    session: &Session,
    topic: Uuid,
    acks: &[Ack],
    wait_ms: i32,
) -> ShareFetchResponse {
    let batches = acks
        .iter()
        .map(|&(first, last, t)| {
            AcknowledgementBatch::default()
                .with_first_offset(first)
                .with_last_offset(last)
                .with_acknowledge_types(vec![t])
        })
        .collect();
    let request = ShareFetchRequest::default()
        .with_group_id(Some(GroupId(s(session.group))))
        .with_member_id(Some(s(session.member)))
        .with_share_session_epoch(session.epoch)
        .with_max_wait_ms(wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_max_records(500)
        .with_batch_size(500)
        .with_topics(vec![FetchTopic::default()
            .with_topic_id(topic)
            .with_partitions(vec![FetchPartition::default()
                .with_partition_index(0)
                .with_acknowledgement_batches(batches)])]);
    let ResponseKind::ShareFetch(response) =
        conn.request(ApiKey::ShareFetch, 1, RequestKind::ShareFetch(request))
    else {
        panic!("wrong response type to ShareFetch")
    };
    response
}

/// ShareAcknowledge of partition 0 of `topic`.
pub fn acknowledge(
    conn: &mut Connection,
    session: &Session,
    topic: Uuid,
    acks: &[Ack],
) -> ShareAcknowledgeResponse {
    let batches = acks
        .iter()
        .map(|&(first, last, t)| {
            AckOnlyBatch::default()
                .with_first_offset(first)
                .with_last_offset(last)
                .with_acknowledge_types(vec![t])
        })
        .collect();
    let request = ShareAcknowledgeRequest::default()
        .with_group_id(Some(GroupId(s(session.group))))
        .with_member_id(Some(s(session.member)))
        .with_share_session_epoch(session.epoch)
        .with_topics(vec![AcknowledgeTopic::default()
            .with_topic_id(topic)
            .with_partitions(vec![AcknowledgePartition::default()
                .with_partition_index(0)
                .with_acknowledgement_batches(batches)])]);
    let ResponseKind::ShareAcknowledge(response) = conn.request(
        ApiKey::ShareAcknowledge,
        1,
        RequestKind::ShareAcknowledge(request),
    ) else {
        panic!("wrong response type to ShareAcknowledge")
    };
    response
}

/// ShareGroupHeartbeat v1: the response.
pub fn heartbeat(
    conn: &mut Connection,
    request: ShareGroupHeartbeatRequest,
) -> ShareGroupHeartbeatResponse {
    let ResponseKind::ShareGroupHeartbeat(r) = conn.request(
        ApiKey::ShareGroupHeartbeat,
        1,
        RequestKind::ShareGroupHeartbeat(request),
    ) else {
        panic!("not a ShareGroupHeartbeat response")
    };
    r
}
