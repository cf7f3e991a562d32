//! Requests whose API or version kafka-protocol 0.18 lacks (streams groups,
//! KIP-1071; the share-state RPCs and DescribeShareGroupOffsets at the
//! KIP-1226 versions; ShareFetch/ShareAcknowledge v2, KIP-1206/KIP-1222):
//! their frames are routed here before kafka-protocol's decoder and
//! answered with types generated from Kafka's schemas. Such an API is
//! routed here at every version, so one decoder serves them all.

use super::{share_fetch_frame, share_offsets_frame, share_state_frames, streams_groups};
use crate::security::Session;
use crate::server::Broker;
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, VersionRange};

/// Whether a request frame is for one of these handlers (by its api key).
pub fn is_own_frame(frame: &[u8]) -> bool {
    streams_groups::is_streams_frame(frame)
        || share_state_frames::is_frame(frame)
        || share_offsets_frame::is_share_offsets_frame(frame)
        || share_fetch_frame::is_frame(frame)
}

/// Answers one such frame: the framed response, or `None` to close the
/// connection (malformed, or a version not served — as Kafka does).
pub async fn handle(broker: &Broker, frame: Bytes, session: &Session) -> Option<Bytes> {
    if streams_groups::is_streams_frame(&frame) {
        streams_groups::handle_frame(broker, frame, session).await
    } else if share_state_frames::is_frame(&frame) {
        share_state_frames::handle_frame(broker, frame, session).await
    } else if share_fetch_frame::is_frame(&frame) {
        share_fetch_frame::handle_frame(broker, frame, session).await
    } else {
        share_offsets_frame::handle_frame(broker, frame, session).await
    }
}

/// The api key, version and header of a frame for one of `served`: `None`
/// (close the connection) for a version not served or a malformed header.
/// These APIs are flexible in every version (request header v2).
pub fn open(
    frame: &mut Bytes,
    served: &[(i16, VersionRange)],
    what: &str,
) -> Option<(i16, i16, RequestHeader)> {
    let key = i16::from_be_bytes([*frame.first()?, *frame.get(1)?]);
    let version = i16::from_be_bytes([*frame.get(2)?, *frame.get(3)?]);
    let range = served.iter().find(|(k, _)| *k == key)?.1;
    if version < range.min || version > range.max {
        tracing::warn!(
            key,
            version,
            "unsupported version of a {what} API; closing connection"
        );
        return None;
    }
    let Ok(header) = RequestHeader::decode(frame, 2) else {
        tracing::warn!(
            key,
            version,
            "malformed {what} request header; closing connection"
        );
        return None;
    };
    Some((key, version, header))
}

/// A response body framed for the wire: size, response header v1 (flexible)
/// with the request's correlation id, body.
pub fn framed(correlation_id: i32, body: &[u8]) -> Option<Bytes> {
    let mut out = BytesMut::with_capacity(body.len() + 16);
    out.put_i32(0);
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut out, 1)
        .ok()?;
    out.put_slice(body);
    let size = i32::try_from(out.len() - 4).ok()?;
    out[..4].copy_from_slice(&size.to_be_bytes());
    Some(out.freeze())
}
