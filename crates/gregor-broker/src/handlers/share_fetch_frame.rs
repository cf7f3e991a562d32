//! ShareFetch (78) and ShareAcknowledge (79) frames, v1-2 as Kafka 4.4
//! serves them. kafka-protocol 0.18 knows only v1, so every version of
//! these APIs comes here and is decoded with the types generated from
//! Kafka's schemas: v1 and v2 become the same request (v2's
//! `ShareAcquireMode` and `IsRenewAck` take their defaults in v1) and take
//! one code path (share_fetch.rs).

use super::share_fetch;
use crate::security::Session;
use crate::server::Broker;
use bytes::{Bytes, BytesMut};
use gregor_protocol::generated::share_acknowledge_request::{self, ShareAcknowledgeRequest};
use gregor_protocol::generated::share_fetch_request::{self, ShareFetchRequest};
use kafka_protocol::protocol::{Decodable, Encodable, VersionRange};

const FETCH_KEY: i16 = share_fetch_request::API_KEY;
const ACKNOWLEDGE_KEY: i16 = share_acknowledge_request::API_KEY;

/// The (api key, versions) served.
pub fn served() -> [(i16, VersionRange); 2] {
    [
        (FETCH_KEY, share_fetch_request::VERSIONS),
        (ACKNOWLEDGE_KEY, share_acknowledge_request::VERSIONS),
    ]
}

/// Whether a request frame is a ShareFetch or ShareAcknowledge (by its
/// api key).
pub fn is_frame(frame: &[u8]) -> bool {
    frame.len() >= 2
        && matches!(
            i16::from_be_bytes([frame[0], frame[1]]),
            FETCH_KEY | ACKNOWLEDGE_KEY
        )
}

/// Handles one frame; returns the framed response, or `None` to close the
/// connection (malformed, a truncated body included, or a version not
/// served: what Kafka does).
pub async fn handle_frame(broker: &Broker, mut frame: Bytes, session: &Session) -> Option<Bytes> {
    let (key, version, header) = super::own_frames::open(&mut frame, &served(), "share fetch")?;
    let mut body = BytesMut::new();
    let encoded = if key == FETCH_KEY {
        let req = decode::<ShareFetchRequest>(&mut frame, version, "ShareFetch")?;
        share_fetch::handle_fetch(broker, req, version, session)
            .await
            .encode(&mut body, version)
    } else {
        let req = decode::<ShareAcknowledgeRequest>(&mut frame, version, "ShareAcknowledge")?;
        share_fetch::handle_acknowledge(broker, req, version, session)
            .await
            .encode(&mut body, version)
    };
    if let Err(err) = encoded {
        tracing::error!(key, version, %err, "cannot encode share fetch response");
        return None;
    }
    super::own_frames::framed(header.correlation_id, &body)
}

/// The request body; a body that ends early is malformed.
fn decode<T: Decodable>(frame: &mut Bytes, version: i16, what: &str) -> Option<T> {
    match T::decode(frame, version) {
        Ok(req) => Some(req),
        Err(err) => {
            tracing::warn!(version, %err, "malformed {what}; closing connection");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gregor_protocol::generated::share_fetch_response::{
        AcquiredRecords, PartitionData, ShareFetchResponse, ShareFetchableTopicResponse,
    };
    use kafka_protocol::messages as kp;
    use kafka_protocol::protocol::StrBytes;
    use uuid::Uuid;

    /// v1 as kafka-protocol (what the broker served before) encodes it
    /// decodes to the same request here, with v2's fields at their defaults.
    #[test]
    fn v1_request_decodes_as_kafka_protocol_encodes_it() {
        let topic = Uuid::from_u128(7);
        let batch = kp::share_fetch_request::AcknowledgementBatch::default()
            .with_first_offset(3)
            .with_last_offset(5)
            .with_acknowledge_types(vec![1, 2, 4]);
        let original = kp::ShareFetchRequest::default()
            .with_group_id(Some(kp::GroupId(StrBytes::from_static_str("g"))))
            .with_member_id(Some(StrBytes::from_static_str("m")))
            .with_share_session_epoch(4)
            .with_max_wait_ms(500)
            .with_min_bytes(1)
            .with_max_bytes(1 << 20)
            .with_max_records(9)
            .with_batch_size(9)
            .with_topics(vec![kp::share_fetch_request::FetchTopic::default()
                .with_topic_id(topic)
                .with_partitions(vec![
                    kp::share_fetch_request::FetchPartition::default()
                        .with_partition_index(2)
                        .with_acknowledgement_batches(vec![batch]),
                ])]);
        let mut wire = BytesMut::new();
        original.encode(&mut wire, 1).expect("encode");
        let mut wire = wire.freeze();
        let ours = ShareFetchRequest::decode(&mut wire, 1).expect("decode");
        assert!(wire.is_empty());
        assert_eq!(ours.group_id.as_deref(), Some("g"));
        assert_eq!(ours.member_id.as_deref(), Some("m"));
        assert_eq!(
            (ours.share_session_epoch, ours.max_wait_ms, ours.max_records),
            (4, 500, 9)
        );
        assert_eq!((ours.share_acquire_mode, ours.is_renew_ack), (0, false));
        let p = &ours.topics[0].partitions[0];
        assert_eq!((ours.topics[0].topic_id, p.partition_index), (topic, 2));
        let b = &p.acknowledgement_batches[0];
        assert_eq!(
            (b.first_offset, b.last_offset, b.acknowledge_types.clone()),
            (3, 5, vec![1, 2, 4])
        );
    }

    /// The response this module encodes for v1 is what kafka-protocol (a
    /// v1 client) reads, records included; v2's layout is v1's.
    #[test]
    fn response_reads_back_with_kafka_protocol_at_v1() {
        let records = Bytes::from_static(b"\x00\x01\x02\x03");
        let ours = ShareFetchResponse {
            acquisition_lock_timeout_ms: 2_000,
            responses: vec![ShareFetchableTopicResponse {
                topic_id: Uuid::from_u128(9),
                partitions: vec![PartitionData {
                    partition_index: 1,
                    acknowledge_error_code: 121,
                    records: Some(records.clone()),
                    acquired_records: vec![AcquiredRecords {
                        first_offset: 10,
                        last_offset: 12,
                        delivery_count: 2,
                        ..AcquiredRecords::default()
                    }],
                    ..PartitionData::default()
                }],
                ..ShareFetchableTopicResponse::default()
            }],
            ..ShareFetchResponse::default()
        };
        for version in [1, 2] {
            let mut wire = BytesMut::new();
            ours.encode(&mut wire, version).expect("encode");
            let mut wire = wire.freeze();
            let theirs = kp::ShareFetchResponse::decode(&mut wire, 1).expect("decode");
            assert!(wire.is_empty());
            assert_eq!(theirs.acquisition_lock_timeout_ms, 2_000);
            let p = &theirs.responses[0].partitions[0];
            assert_eq!(p.acknowledge_error_code, 121);
            assert_eq!(p.records.as_ref(), Some(&records));
            let a = &p.acquired_records[0];
            assert_eq!(
                (a.first_offset, a.last_offset, a.delivery_count),
                (10, 12, 2)
            );
        }
    }
}
