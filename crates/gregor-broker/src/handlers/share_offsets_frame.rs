//! DescribeShareGroupOffsets (api key 90) as Kafka 4.4 serves it: v0-1,
//! v1 adding each partition's lag (KIP-1226). kafka-protocol 0.18 knows
//! only v0, so these frames bypass its decoder (like the streams group
//! APIs) and are decoded with the types generated from Kafka's schema.

use crate::handlers::share_group_offsets;
use crate::security::Session;
use crate::server::Broker;
use bytes::{Bytes, BytesMut};
use gregor_protocol::generated::describe_share_group_offsets_request::{
    self, DescribeShareGroupOffsetsRequest,
};
use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::{Decodable, Encodable};

const KEY: i16 = ApiKey::DescribeShareGroupOffsets as i16;

/// Whether a request frame is a DescribeShareGroupOffsets (by its api key).
pub fn is_share_offsets_frame(frame: &[u8]) -> bool {
    frame.len() >= 2 && i16::from_be_bytes([frame[0], frame[1]]) == KEY
}

/// Handles one frame; returns the framed response, or `None` to close the
/// connection (malformed, or a version not served — what Kafka does).
pub async fn handle_frame(broker: &Broker, mut frame: Bytes, session: &Session) -> Option<Bytes> {
    let served = [(KEY, describe_share_group_offsets_request::VERSIONS)];
    let (_, version, header) =
        super::own_frames::open(&mut frame, &served, "DescribeShareGroupOffsets")?;
    let Ok(req) = DescribeShareGroupOffsetsRequest::decode(&mut frame, version) else {
        tracing::warn!(
            version,
            "malformed DescribeShareGroupOffsets; closing connection"
        );
        return None;
    };
    let mut body = BytesMut::new();
    if let Err(err) = share_group_offsets::describe(broker, req, session)
        .await
        .encode(&mut body, version)
    {
        tracing::error!(version, %err, "cannot encode DescribeShareGroupOffsets response");
        return None;
    }
    super::own_frames::framed(header.correlation_id, &body)
}
