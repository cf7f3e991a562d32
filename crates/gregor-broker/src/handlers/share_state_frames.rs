//! WriteShareGroupState (85) and ReadShareGroupStateSummary (87) at every
//! version Kafka 4.4 serves (0-1: v1 carries DeliveryCompleteCount,
//! KIP-1226), with types generated from Kafka's schemas (kafka-protocol
//! 0.18 knows v0 only). Routed by api key before the kafka-protocol
//! decoder, like the streams group APIs; the rules are share_state.rs's.

use super::share_state::{coordinator, serve_partitions};
use crate::security::Session;
use crate::server::Broker;
use bytes::{Bytes, BytesMut};
use gregor_coordinator::share::coordinator::{ShareStateError, WriteRequest};
use gregor_coordinator::share::PersistedBatch;
use gregor_protocol::error_codes;
use gregor_protocol::generated::read_share_group_state_summary_request as sum_rq;
use gregor_protocol::generated::read_share_group_state_summary_response as sum_rs;
use gregor_protocol::generated::write_share_group_state_request as write_rq;
use gregor_protocol::generated::write_share_group_state_response as write_rs;
use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::{Decodable, Encodable, VersionRange};

const WRITE_KEY: i16 = 85;
const SUMMARY_KEY: i16 = 87;

/// The keys and versions served here (listed by ApiVersions).
pub fn served() -> [(i16, VersionRange); 2] {
    [
        (WRITE_KEY, write_rq::VERSIONS),
        (SUMMARY_KEY, sum_rq::VERSIONS),
    ]
}

/// Whether a request frame is one of ours (by its api key).
pub fn is_frame(frame: &[u8]) -> bool {
    frame.len() >= 2
        && matches!(
            i16::from_be_bytes([frame[0], frame[1]]),
            WRITE_KEY | SUMMARY_KEY
        )
}

/// Handles one frame of ours; the framed response, or `None` to close the
/// connection (malformed, or a version not served — as Kafka does).
pub async fn handle_frame(broker: &Broker, mut frame: Bytes, session: &Session) -> Option<Bytes> {
    let (key, version, header) = super::own_frames::open(&mut frame, &served(), "share state")?;
    let mut body = BytesMut::new();
    let encoded = if key == WRITE_KEY {
        let Ok(req) = write_rq::WriteShareGroupStateRequest::decode(&mut frame, version) else {
            tracing::warn!(
                version,
                "malformed WriteShareGroupState; closing connection"
            );
            return None;
        };
        write(broker, req, session).await.encode(&mut body, version)
    } else {
        let Ok(req) = sum_rq::ReadShareGroupStateSummaryRequest::decode(&mut frame, version) else {
            tracing::warn!(
                version,
                "malformed ReadShareGroupStateSummary; closing connection"
            );
            return None;
        };
        summary(broker, req, session)
            .await
            .encode(&mut body, version)
    };
    if let Err(err) = encoded {
        tracing::error!(key, version, %err, "cannot encode share state response");
        return None;
    }
    super::own_frames::framed(header.correlation_id, &body)
}

fn message(e: &ShareStateError) -> Option<String> {
    e.message.map(str::to_string)
}

/// A written batch with a state Kafka never persists makes the request
/// invalid.
fn batches(batches: &[write_rq::StateBatch]) -> Option<Vec<PersistedBatch>> {
    batches
        .iter()
        .map(|b| {
            PersistedBatch::from_wire(
                b.first_offset,
                b.last_offset,
                b.delivery_state,
                b.delivery_count,
            )
        })
        .collect()
}

async fn write(
    broker: &Broker,
    req: write_rq::WriteShareGroupStateRequest,
    session: &Session,
) -> write_rs::WriteShareGroupStateResponse {
    let group = req.group_id.as_str();
    let served = serve_partitions(
        coordinator(broker, session, ApiKey::WriteShareGroupState, group),
        group,
        &req.topics,
        |t| (t.topic_id, &t.partitions[..]),
        |p: &write_rq::PartitionData| p.partition,
        |s, key, p| {
            let request = batches(&p.state_batches).map(|batches| WriteRequest {
                state_epoch: p.state_epoch,
                leader_epoch: p.leader_epoch,
                start_offset: p.start_offset,
                // -1 (the default) at v0.
                delivery_complete_count: p.delivery_complete_count,
                batches,
            });
            async move {
                match request {
                    Some(request) => s.write(&key, &request).await,
                    None => Err(ShareStateError {
                        code: error_codes::INVALID_REQUEST,
                        message: Some("Invalid delivery state in a state batch."),
                    }),
                }
            }
        },
        |p, outcome| {
            let mut result = write_rs::PartitionResult {
                partition: p.partition,
                ..Default::default()
            };
            if let Err(e) = outcome {
                result.error_code = e.code;
                result.error_message = message(&e);
            }
            result
        },
    )
    .await;
    write_rs::WriteShareGroupStateResponse {
        results: served
            .into_iter()
            .map(|(topic_id, partitions)| write_rs::WriteStateResult {
                topic_id,
                partitions,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

async fn summary(
    broker: &Broker,
    req: sum_rq::ReadShareGroupStateSummaryRequest,
    session: &Session,
) -> sum_rs::ReadShareGroupStateSummaryResponse {
    let group = req.group_id.as_str();
    let served = serve_partitions(
        coordinator(broker, session, ApiKey::ReadShareGroupStateSummary, group),
        group,
        &req.topics,
        |t| (t.topic_id, &t.partitions[..]),
        |p: &sum_rq::PartitionData| p.partition,
        |s, key, _| async move { s.read_summary(&key).await },
        |p, outcome| match outcome {
            Ok(a) => sum_rs::PartitionResult {
                partition: p.partition,
                state_epoch: a.state_epoch,
                leader_epoch: a.leader_epoch,
                start_offset: a.start_offset,
                delivery_complete_count: a.delivery_complete_count,
                ..Default::default()
            },
            Err(e) => sum_rs::PartitionResult {
                partition: p.partition,
                error_code: e.code,
                error_message: message(&e),
                state_epoch: 0,
                leader_epoch: 0,
                start_offset: -1,
                delivery_complete_count: -1,
                ..Default::default()
            },
        },
    )
    .await;
    sum_rs::ReadShareGroupStateSummaryResponse {
        results: served
            .into_iter()
            .map(|(topic_id, partitions)| sum_rs::ReadStateSummaryResult {
                topic_id,
                partitions,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}
