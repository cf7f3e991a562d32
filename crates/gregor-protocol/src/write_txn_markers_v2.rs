//! WriteTxnMarkers v2 (KIP-1228), which kafka-protocol 0.18 cannot encode
//! or decode: v1 with an int8 `TransactionVersion` after each marker's
//! `CoordinatorEpoch` (flexible, ignorable, default 0). The response v2 is
//! the v1 response. Everything but the marker itself reuses the crate's v1
//! types.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::write_txn_markers_request::{
    WritableTxnMarker, WritableTxnMarkerTopic,
};
use kafka_protocol::messages::{ApiKey, WriteTxnMarkersRequest};
use kafka_protocol::protocol::buf::ByteBuf;
use kafka_protocol::protocol::{Decodable, Encodable};
use std::collections::BTreeMap;

/// The version that carries the transaction version.
pub const VERSION: i16 = 2;
/// The version whose (identical) types kafka-protocol has.
const V1: i16 = 1;

/// The version kafka-protocol must use for a body of `key` at `version`:
/// v1 for WriteTxnMarkers v2 (the response did not change), else `version`.
pub fn crate_version(key: ApiKey, version: i16) -> i16 {
    if key == ApiKey::WriteTxnMarkers && version == VERSION {
        V1
    } else {
        version
    }
}

/// A v2 request: the crate's request and each marker's transaction version.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MarkersV2 {
    pub request: WriteTxnMarkersRequest,
    /// One per `request.markers`, in order.
    pub transaction_versions: Vec<i8>,
}

/// Encodes the body (no header) of a v2 request. A marker without a
/// transaction version gets 0 (the field's default).
pub fn encode(body: &MarkersV2, buf: &mut BytesMut) -> anyhow::Result<()> {
    let markers = &body.request.markers;
    put_len(buf, markers.len())?;
    for (i, marker) in markers.iter().enumerate() {
        buf.put_i64(marker.producer_id.0);
        buf.put_i16(marker.producer_epoch);
        buf.put_u8(u8::from(marker.transaction_result));
        put_len(buf, marker.topics.len())?;
        for topic in &marker.topics {
            topic.encode(buf, V1)?;
        }
        buf.put_i32(marker.coordinator_epoch);
        buf.put_i8(body.transaction_versions.get(i).copied().unwrap_or(0));
        put_tagged(buf, &marker.unknown_tagged_fields)?;
    }
    put_tagged(buf, &body.request.unknown_tagged_fields)
}

/// Decodes the body (after the header) of a v2 request.
pub fn decode(buf: &mut Bytes) -> anyhow::Result<MarkersV2> {
    let count = get_len(buf)?;
    let mut markers = Vec::with_capacity(count.min(buf.remaining()));
    let mut transaction_versions = Vec::with_capacity(markers.capacity());
    for _ in 0..count {
        let producer_id = buf.try_get_i64()?;
        let producer_epoch = buf.try_get_i16()?;
        let transaction_result = buf.try_get_u8()? != 0;
        let topic_count = get_len(buf)?;
        let mut topics = Vec::with_capacity(topic_count.min(buf.remaining()));
        for _ in 0..topic_count {
            topics.push(WritableTxnMarkerTopic::decode(buf, V1)?);
        }
        let coordinator_epoch = buf.try_get_i32()?;
        transaction_versions.push(buf.try_get_i8()?);
        let mut marker = WritableTxnMarker::default()
            .with_producer_id(producer_id.into())
            .with_producer_epoch(producer_epoch)
            .with_transaction_result(transaction_result)
            .with_topics(topics)
            .with_coordinator_epoch(coordinator_epoch);
        marker.unknown_tagged_fields = get_tagged(buf)?;
        markers.push(marker);
    }
    let mut request = WriteTxnMarkersRequest::default().with_markers(markers);
    request.unknown_tagged_fields = get_tagged(buf)?;
    Ok(MarkersV2 {
        request,
        transaction_versions,
    })
}

/// A compact array length: count + 1 as an unsigned varint.
fn put_len(buf: &mut BytesMut, len: usize) -> anyhow::Result<()> {
    put_uvarint(buf, u32::try_from(len + 1)?);
    Ok(())
}

/// A compact array length; a null array (0) is refused, as Kafka's
/// non-nullable arrays are.
fn get_len(buf: &mut Bytes) -> anyhow::Result<usize> {
    let n = get_uvarint(buf)?;
    match n {
        0 => anyhow::bail!("null array in WriteTxnMarkers v2"),
        n => Ok(usize::try_from(n - 1)?),
    }
}

fn put_tagged(buf: &mut BytesMut, fields: &BTreeMap<i32, Bytes>) -> anyhow::Result<()> {
    put_uvarint(buf, u32::try_from(fields.len())?);
    for (tag, value) in fields {
        put_uvarint(buf, u32::try_from(*tag)?);
        put_uvarint(buf, u32::try_from(value.len())?);
        buf.put_slice(value);
    }
    Ok(())
}

/// Tagged fields are kept as unknown ones: v2 defines none.
fn get_tagged(buf: &mut Bytes) -> anyhow::Result<BTreeMap<i32, Bytes>> {
    let count = get_uvarint(buf)?;
    let mut fields = BTreeMap::new();
    for _ in 0..count {
        let tag = get_uvarint(buf)?;
        let size = get_uvarint(buf)?;
        let value = buf.try_get_bytes(usize::try_from(size)?)?;
        fields.insert(i32::try_from(tag)?, value);
    }
    Ok(fields)
}

/// An unsigned varint (the crate's codec for it is private).
fn put_uvarint(buf: &mut BytesMut, mut value: u32) {
    while value >= 0x80 {
        buf.put_u8((value & 0x7f) as u8 | 0x80);
        value >>= 7;
    }
    buf.put_u8(value as u8);
}

fn get_uvarint(buf: &mut Bytes) -> anyhow::Result<u32> {
    let mut value = 0u32;
    for shift in (0..35).step_by(7) {
        let b = buf.try_get_u8()?;
        value |= u32::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Ok(value);
        }
    }
    anyhow::bail!("unsigned varint longer than 5 bytes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::TopicName;
    use kafka_protocol::protocol::StrBytes;

    fn sample() -> MarkersV2 {
        let topic = WritableTxnMarkerTopic::default()
            .with_name(TopicName(StrBytes::from_static_str("t")))
            .with_partition_indexes(vec![3]);
        let marker = WritableTxnMarker::default()
            .with_producer_id(7.into())
            .with_producer_epoch(2)
            .with_transaction_result(true)
            .with_topics(vec![topic])
            .with_coordinator_epoch(5);
        MarkersV2 {
            request: WriteTxnMarkersRequest::default().with_markers(vec![marker]),
            transaction_versions: vec![2],
        }
    }

    #[test]
    fn v2_bytes_follow_the_schema() {
        let mut buf = BytesMut::new();
        encode(&sample(), &mut buf).unwrap();
        let mut expected = vec![0x02]; // Markers: compact array of 1
        expected.extend_from_slice(&7i64.to_be_bytes()); // ProducerId
        expected.extend_from_slice(&2i16.to_be_bytes()); // ProducerEpoch
        expected.push(1); // TransactionResult: commit
        expected.push(0x02); // Topics: compact array of 1
        expected.extend_from_slice(&[0x02, b't']); // Name: compact string "t"
        expected.push(0x02); // PartitionIndexes: compact array of 1
        expected.extend_from_slice(&3i32.to_be_bytes());
        expected.push(0); // topic tagged fields
        expected.extend_from_slice(&5i32.to_be_bytes()); // CoordinatorEpoch
        expected.push(2); // TransactionVersion (v2+)
        expected.push(0); // marker tagged fields
        expected.push(0); // request tagged fields
        assert_eq!(&buf[..], &expected[..]);
    }

    #[test]
    fn v2_round_trips() {
        let body = sample();
        let mut buf = BytesMut::new();
        encode(&body, &mut buf).unwrap();
        let mut bytes = buf.freeze();
        assert_eq!(decode(&mut bytes).unwrap(), body);
        assert!(bytes.is_empty());
    }

    #[test]
    fn v2_without_the_field_is_v1() {
        // The same request at v1 is the v2 bytes without TransactionVersion.
        let body = sample();
        let mut v1 = BytesMut::new();
        body.request.encode(&mut v1, V1).unwrap();
        let mut v2 = BytesMut::new();
        encode(&body, &mut v2).unwrap();
        let at = v2.len() - 3;
        assert_eq!(&v1[..at], &v2[..at]);
        assert_eq!(&v1[at..], &v2[at + 1..]);
    }

    #[test]
    fn truncated_v2_is_an_error() {
        let mut buf = BytesMut::new();
        encode(&sample(), &mut buf).unwrap();
        for len in 0..buf.len() {
            let mut short = Bytes::copy_from_slice(&buf[..len]);
            assert!(decode(&mut short).is_err(), "{len} bytes");
        }
    }

    #[test]
    fn only_write_txn_markers_v2_maps_to_v1() {
        assert_eq!(crate_version(ApiKey::WriteTxnMarkers, 2), 1);
        assert_eq!(crate_version(ApiKey::WriteTxnMarkers, 1), 1);
        assert_eq!(crate_version(ApiKey::Produce, 2), 2);
    }
}
