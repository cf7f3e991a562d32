//! Request decoding and response encoding, with the Java broker's rules for
//! what is an error answer and what closes the connection.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::{Decodable, Encodable, VersionRange};
use thiserror::Error;

use crate::write_txn_markers_v2;

/// A fully decoded request.
#[derive(Debug)]
pub struct Request {
    pub api_key: ApiKey,
    pub header: RequestHeader,
    pub body: RequestKind,
    /// WriteTxnMarkers v2 (KIP-1228): each marker's transaction version,
    /// which the crate's request type cannot hold. Empty for other requests
    /// and for WriteTxnMarkers v0/v1 (legacy transaction version).
    pub marker_txn_versions: Vec<i8>,
}

impl Request {
    pub fn version(&self) -> i16 {
        self.header.request_api_version
    }

    pub fn correlation_id(&self) -> i32 {
        self.header.correlation_id
    }

    pub fn client_id(&self) -> &str {
        self.header.client_id.as_deref().unwrap_or("")
    }
}

#[derive(Debug, Error)]
pub enum RequestError {
    /// The frame is too short to hold a request header, or a field runs past
    /// its end. Kafka closes the connection.
    #[error("malformed request: {0}")]
    Malformed(String),
    /// Kafka closes the connection on an API key it does not know.
    #[error("unknown api key {0}")]
    UnknownApiKey(i16),
    /// An API the broker knows, at a version it does not serve. For
    /// ApiVersions the broker answers (v0, UNSUPPORTED_VERSION) so the client
    /// can pick a version; for anything else Kafka closes the connection.
    #[error("unsupported version {version} of {api_key:?}")]
    UnsupportedVersion {
        api_key: ApiKey,
        version: i16,
        correlation_id: i32,
    },
}

/// Decodes one request frame (without its length prefix). `supported` tells
/// which versions of each API this broker serves; `None` means not at all.
pub fn decode_request(
    mut frame: Bytes,
    supported: impl Fn(ApiKey) -> Option<VersionRange>,
) -> Result<Request, RequestError> {
    if frame.len() < 8 {
        return Err(RequestError::Malformed(format!(
            "frame of {} bytes is shorter than a request header",
            frame.len()
        )));
    }
    let raw_key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let api_key = ApiKey::try_from(raw_key).map_err(|_| RequestError::UnknownApiKey(raw_key))?;
    let served = supported(api_key).ok_or(RequestError::UnknownApiKey(raw_key))?;
    if version < served.min || version > served.max {
        return Err(RequestError::UnsupportedVersion {
            api_key,
            version,
            correlation_id,
        });
    }
    let header_version = api_key.request_header_version(version);
    let header = RequestHeader::decode(&mut frame, header_version)
        .map_err(|e| RequestError::Malformed(format!("{api_key:?} header: {e:#}")))?;
    let mut marker_txn_versions = Vec::new();
    let body = if api_key == ApiKey::WriteTxnMarkers && version == write_txn_markers_v2::VERSION {
        let v2 = write_txn_markers_v2::decode(&mut frame)
            .map_err(|e| RequestError::Malformed(format!("{e:#}")))?;
        marker_txn_versions = v2.transaction_versions;
        RequestKind::WriteTxnMarkers(v2.request)
    } else {
        RequestKind::decode(api_key, &mut frame, version)
            .map_err(|e| RequestError::Malformed(format!("{e:#}")))?
    };
    // Like the Java broker, bytes after a complete body are ignored: some
    // clients (librdkafka's all-topics Metadata, for one) send a few extra.
    Ok(Request {
        api_key,
        header,
        body,
        marker_txn_versions,
    })
}

/// Encodes a response, length prefix included, ready to write to the socket.
pub fn encode_response(
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &ResponseKind,
) -> anyhow::Result<Bytes> {
    let mut buf = BytesMut::with_capacity(64);
    buf.put_i32(0); // patched below once the size is known
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    header.encode(&mut buf, api_key.response_header_version(version))?;
    body.encode(
        &mut buf,
        write_txn_markers_v2::crate_version(api_key, version),
    )?;
    let size = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    Ok(buf.freeze())
}

/// Frames a response whose body is already encoded (a KRaft answer from
/// the quorum runtime): length prefix, header, body.
pub fn encode_raw_response(
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &[u8],
) -> anyhow::Result<Bytes> {
    let mut buf = BytesMut::with_capacity(16 + body.len());
    buf.put_i32(0); // patched below once the size is known
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    header.encode(&mut buf, api_key.response_header_version(version))?;
    buf.put_slice(body);
    let size = i32::try_from(buf.len() - 4)?;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    Ok(buf.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::MetadataRequest;
    use kafka_protocol::protocol::StrBytes;

    fn all_versions(key: ApiKey) -> Option<VersionRange> {
        Some(key.valid_versions())
    }

    fn encode_request(key: ApiKey, version: i16, body: &RequestKind) -> Bytes {
        let mut buf = BytesMut::new();
        RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(7)
            .with_client_id(Some(StrBytes::from_static_str("test")))
            .encode(&mut buf, key.request_header_version(version))
            .unwrap();
        body.encode(&mut buf, version).unwrap();
        buf.freeze()
    }

    #[test]
    fn decodes_a_flexible_request() {
        let body = RequestKind::Metadata(MetadataRequest::default());
        let frame = encode_request(ApiKey::Metadata, 12, &body);
        let request = decode_request(frame, all_versions).unwrap();
        assert_eq!(request.api_key, ApiKey::Metadata);
        assert_eq!(request.correlation_id(), 7);
        assert_eq!(request.client_id(), "test");
    }

    #[test]
    fn rejects_unknown_keys_versions_and_short_frames() {
        let mut frame = BytesMut::new();
        frame.put_i16(999);
        frame.put_i16(0);
        frame.put_i32(1);
        assert!(matches!(
            decode_request(frame.freeze(), all_versions),
            Err(RequestError::UnknownApiKey(999))
        ));

        let body = RequestKind::Metadata(MetadataRequest::default());
        let frame = encode_request(ApiKey::Metadata, 12, &body);
        let only_v1 = |_| Some(VersionRange { min: 1, max: 1 });
        assert!(matches!(
            decode_request(frame, only_v1),
            Err(RequestError::UnsupportedVersion {
                version: 12,
                correlation_id: 7,
                ..
            })
        ));

        assert!(matches!(
            decode_request(Bytes::from_static(&[0, 3, 0]), all_versions),
            Err(RequestError::Malformed(_))
        ));
    }

    #[test]
    fn trailing_bytes_after_a_body_are_ignored_as_kafka_does() {
        // librdkafka's all-topics Metadata v12 carries three bytes more than the schema.
        let mut frame = BytesMut::from(
            &encode_request(
                ApiKey::Metadata,
                12,
                &RequestKind::Metadata(MetadataRequest::default().with_topics(None)),
            )[..],
        );
        frame.extend_from_slice(&[1, 0, 0]);
        let request = decode_request(frame.freeze(), all_versions).unwrap();
        let RequestKind::Metadata(body) = request.body else {
            panic!()
        };
        assert_eq!(body.topics, None);
    }

    #[test]
    fn truncated_body_is_malformed_not_a_panic() {
        let body = RequestKind::Metadata(MetadataRequest::default().with_topics(None));
        let frame = encode_request(ApiKey::Metadata, 12, &body);
        for cut in 8..frame.len() {
            let _ = decode_request(frame.slice(..cut), all_versions);
        }
    }
}
