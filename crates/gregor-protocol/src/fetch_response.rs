//! Fetch responses written by hand, so the records can stay where they are.
//!
//! `kafka-protocol` encodes a response into one buffer, which means copying
//! every partition's records into it. Here everything except the records is
//! encoded into one buffer and each partition's records are left as an
//! opaque `R` (a file range in the broker, sent with `sendfile`). The output
//! is a list of chunks whose concatenation is byte for byte what
//! `kafka-protocol` would write for the same response (a property test
//! checks it), length prefix and response header included.
//!
//! Only what Gregor answers is modelled: no snapshot id (a tagged field
//! only the metadata quorum's own Fetch sets).

use bytes::{BufMut, Bytes, BytesMut};
use thiserror::Error;
use uuid::Uuid;

/// Fetch versions this writer can encode (Gregor advertises 4-17).
pub const MIN_VERSION: i16 = 4;
pub const MAX_VERSION: i16 = 17;

/// Anything that knows how many record bytes it stands for.
pub trait RecordsLen {
    fn records_len(&self) -> usize;
}

impl RecordsLen for Bytes {
    fn records_len(&self) -> usize {
        self.len()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct FetchResponseOut<R> {
    pub throttle_time_ms: i32,
    pub error_code: i16,
    pub session_id: i32,
    pub topics: Vec<TopicOut<R>>,
    /// The endpoints of the leaders named in `current_leader` fields
    /// (KIP-951, tagged field 0 from v16; must be empty below it).
    pub node_endpoints: Vec<NodeEndpointOut>,
}

/// A broker's client endpoint, as in a Fetch or Produce response (KIP-951).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeEndpointOut {
    pub node_id: i32,
    pub host: kafka_protocol::protocol::StrBytes,
    pub port: i32,
    pub rack: Option<kafka_protocol::protocol::StrBytes>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TopicOut<R> {
    /// Written up to v12.
    pub name: kafka_protocol::protocol::StrBytes,
    /// Written from v13.
    pub topic_id: Uuid,
    pub partitions: Vec<PartitionOut<R>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PartitionOut<R> {
    pub partition_index: i32,
    pub error_code: i16,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
    /// `(producer id, first offset)`; `None` is a null array (read_uncommitted).
    pub aborted_transactions: Option<Vec<(i64, i64)>>,
    /// Written from v11; must be -1 below it.
    pub preferred_read_replica: i32,
    /// `None` is null records.
    pub records: Option<R>,
    /// Where the fetcher's log diverged: (epoch, end offset), tagged field
    /// 0 from v12.
    pub diverging_epoch: Option<(i32, i64)>,
    /// The partition's leader as this broker knows it: (id, epoch),
    /// tagged field 1 from v12 (KIP-951 from v16).
    pub current_leader: Option<(i32, i32)>,
}

/// A piece of an encoded response, in sending order.
#[derive(Debug, Clone, PartialEq)]
pub enum Chunk<R> {
    Bytes(Bytes),
    Records(R),
}

#[derive(Debug, Clone, PartialEq)]
pub struct EncodedFetch<R> {
    pub chunks: Vec<Chunk<R>>,
    /// Bytes on the wire, the 4-byte length prefix included.
    pub total_len: usize,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum FetchEncodeError {
    #[error("Fetch v{0} cannot be written")]
    UnsupportedVersion(i16),
    #[error("a field is set that Fetch v{0} does not have")]
    FieldNotInVersion(i16),
    #[error("a response of {0} bytes does not fit a frame")]
    TooLarge(usize),
}

/// Encodes a response frame (length prefix, header v0/v1, body).
pub fn encode_fetch_response<R: RecordsLen>(
    version: i16,
    correlation_id: i32,
    response: FetchResponseOut<R>,
) -> Result<EncodedFetch<R>, FetchEncodeError> {
    if !(MIN_VERSION..=MAX_VERSION).contains(&version) {
        return Err(FetchEncodeError::UnsupportedVersion(version));
    }
    let w = Writer { version };
    let flexible = version >= 12;
    let mut buf = BytesMut::with_capacity(128);
    // Where each partition's records go: (position in buf, records).
    let mut records_at: Vec<(usize, R)> = Vec::new();
    let mut records_total = 0usize;

    buf.put_i32(0); // the length, patched at the end
    buf.put_i32(correlation_id);
    if flexible {
        buf.put_u8(0); // response header v1: no tagged fields
    }
    buf.put_i32(response.throttle_time_ms);
    if version >= 7 {
        buf.put_i16(response.error_code);
        buf.put_i32(response.session_id);
    } else if response.session_id != 0 {
        return Err(FetchEncodeError::FieldNotInVersion(version));
    }
    w.array_len(&mut buf, Some(response.topics.len()));
    for topic in response.topics {
        if version <= 12 {
            w.string(&mut buf, &topic.name);
        } else {
            buf.put_slice(topic.topic_id.as_bytes());
        }
        w.array_len(&mut buf, Some(topic.partitions.len()));
        for p in topic.partitions {
            buf.put_i32(p.partition_index);
            buf.put_i16(p.error_code);
            buf.put_i64(p.high_watermark);
            buf.put_i64(p.last_stable_offset);
            if version >= 5 {
                buf.put_i64(p.log_start_offset);
            }
            w.array_len(&mut buf, p.aborted_transactions.as_ref().map(Vec::len));
            for (producer_id, first_offset) in p.aborted_transactions.iter().flatten() {
                buf.put_i64(*producer_id);
                buf.put_i64(*first_offset);
                if flexible {
                    buf.put_u8(0);
                }
            }
            if version >= 11 {
                buf.put_i32(p.preferred_read_replica);
            } else if p.preferred_read_replica != -1 {
                return Err(FetchEncodeError::FieldNotInVersion(version));
            }
            let len = p.records.as_ref().map(RecordsLen::records_len);
            w.bytes_len(&mut buf, len)?;
            if let Some(records) = p.records {
                if records.records_len() > 0 {
                    records_total += records.records_len();
                    records_at.push((buf.len(), records));
                }
            }
            match (flexible, p.diverging_epoch, p.current_leader) {
                (true, diverging, leader) => {
                    let count = diverging.is_some() as u64 + leader.is_some() as u64;
                    put_unsigned_varint(&mut buf, count);
                    if let Some((epoch, end_offset)) = diverging {
                        put_unsigned_varint(&mut buf, 0);
                        put_unsigned_varint(&mut buf, 13);
                        buf.put_i32(epoch);
                        buf.put_i64(end_offset);
                        buf.put_u8(0);
                    }
                    if let Some((leader_id, leader_epoch)) = leader {
                        put_unsigned_varint(&mut buf, 1);
                        put_unsigned_varint(&mut buf, 9);
                        buf.put_i32(leader_id);
                        buf.put_i32(leader_epoch);
                        buf.put_u8(0);
                    }
                }
                (false, None, None) => {}
                (false, _, _) => return Err(FetchEncodeError::FieldNotInVersion(version)),
            }
        }
        if flexible {
            buf.put_u8(0); // topic tagged fields
        }
    }
    if flexible && !response.node_endpoints.is_empty() {
        if version < 16 {
            return Err(FetchEncodeError::FieldNotInVersion(version));
        }
        let mut field = BytesMut::new();
        w.array_len(&mut field, Some(response.node_endpoints.len()));
        for node in &response.node_endpoints {
            field.put_i32(node.node_id);
            w.string(&mut field, &node.host);
            field.put_i32(node.port);
            match &node.rack {
                Some(rack) => w.string(&mut field, rack),
                None => put_unsigned_varint(&mut field, 0),
            }
            field.put_u8(0);
        }
        put_unsigned_varint(&mut buf, 1); // one tagged field
        put_unsigned_varint(&mut buf, 0); // tag 0: NodeEndpoints
        put_unsigned_varint(&mut buf, field.len() as u64);
        buf.put_slice(&field);
    } else if flexible {
        buf.put_u8(0); // response tagged fields
    } else if !response.node_endpoints.is_empty() {
        return Err(FetchEncodeError::FieldNotInVersion(version));
    }

    let total_len = buf.len() + records_total;
    let size = i32::try_from(total_len - 4).map_err(|_| FetchEncodeError::TooLarge(total_len))?;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    let head = buf.freeze();
    let mut chunks = Vec::with_capacity(records_at.len() * 2 + 1);
    let mut from = 0;
    for (at, records) in records_at {
        if at > from {
            chunks.push(Chunk::Bytes(head.slice(from..at)));
        }
        chunks.push(Chunk::Records(records));
        from = at;
    }
    if from < head.len() {
        chunks.push(Chunk::Bytes(head.slice(from..)));
    }
    Ok(EncodedFetch { chunks, total_len })
}

/// Length encodings that change with flexible versions (v12+).
struct Writer {
    version: i16,
}

impl Writer {
    fn flexible(&self) -> bool {
        self.version >= 12
    }

    /// A (nullable) array's length: compact `len + 1` or int32, null as 0 / -1.
    fn array_len(&self, buf: &mut BytesMut, len: Option<usize>) {
        match (self.flexible(), len) {
            (true, None) => put_unsigned_varint(buf, 0),
            (true, Some(n)) => put_unsigned_varint(buf, n as u64 + 1),
            (false, None) => buf.put_i32(-1),
            // Arrays here are bounded by a request's own arrays.
            (false, Some(n)) => buf.put_i32(n as i32),
        }
    }

    fn bytes_len(&self, buf: &mut BytesMut, len: Option<usize>) -> Result<(), FetchEncodeError> {
        if let Some(n) = len {
            if i32::try_from(n).is_err() {
                return Err(FetchEncodeError::TooLarge(n));
            }
        }
        self.array_len(buf, len);
        Ok(())
    }

    fn string(&self, buf: &mut BytesMut, s: &str) {
        if self.flexible() {
            put_unsigned_varint(buf, s.len() as u64 + 1);
        } else {
            // Topic names are at most 249 bytes.
            buf.put_i16(s.len() as i16);
        }
        buf.put_slice(s.as_bytes());
    }
}

fn put_unsigned_varint(buf: &mut BytesMut, mut value: u64) {
    while value >= 0x80 {
        buf.put_u8((value as u8) | 0x80);
        value >>= 7;
    }
    buf.put_u8(value as u8);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::encode_response;
    use kafka_protocol::messages::fetch_response::{
        AbortedTransaction, EpochEndOffset, FetchableTopicResponse, LeaderIdAndEpoch, NodeEndpoint,
        PartitionData,
    };
    use kafka_protocol::messages::{ApiKey, FetchResponse, ProducerId, ResponseKind, TopicName};
    use kafka_protocol::protocol::StrBytes;
    use proptest::prelude::*;

    /// What `kafka-protocol` makes of the same response.
    fn reference(version: i16, correlation_id: i32, r: &FetchResponseOut<Bytes>) -> Bytes {
        let topics = r
            .topics
            .iter()
            .map(|t| {
                let partitions = t
                    .partitions
                    .iter()
                    .map(|p| {
                        let aborted = p.aborted_transactions.as_ref().map(|list| {
                            list.iter()
                                .map(|(pid, first)| {
                                    AbortedTransaction::default()
                                        .with_producer_id(ProducerId(*pid))
                                        .with_first_offset(*first)
                                })
                                .collect()
                        });
                        PartitionData::default()
                            .with_partition_index(p.partition_index)
                            .with_error_code(p.error_code)
                            .with_high_watermark(p.high_watermark)
                            .with_last_stable_offset(p.last_stable_offset)
                            .with_log_start_offset(p.log_start_offset)
                            .with_aborted_transactions(aborted)
                            .with_preferred_read_replica(p.preferred_read_replica.into())
                            .with_records(p.records.clone())
                            .with_diverging_epoch(
                                p.diverging_epoch
                                    .map(|(epoch, end_offset)| {
                                        EpochEndOffset::default()
                                            .with_epoch(epoch)
                                            .with_end_offset(end_offset)
                                    })
                                    .unwrap_or_default(),
                            )
                            .with_current_leader(
                                p.current_leader
                                    .map(|(id, epoch)| {
                                        LeaderIdAndEpoch::default()
                                            .with_leader_id(id.into())
                                            .with_leader_epoch(epoch)
                                    })
                                    .unwrap_or_default(),
                            )
                    })
                    .collect();
                FetchableTopicResponse::default()
                    .with_topic(TopicName(t.name.clone()))
                    .with_topic_id(t.topic_id)
                    .with_partitions(partitions)
            })
            .collect();
        let body = FetchResponse::default()
            .with_throttle_time_ms(r.throttle_time_ms)
            .with_error_code(r.error_code)
            .with_session_id(r.session_id)
            .with_responses(topics)
            .with_node_endpoints(
                r.node_endpoints
                    .iter()
                    .map(|n| {
                        NodeEndpoint::default()
                            .with_node_id(n.node_id.into())
                            .with_host(n.host.clone())
                            .with_port(n.port)
                            .with_rack(n.rack.clone())
                    })
                    .collect(),
            );
        encode_response(
            ApiKey::Fetch,
            version,
            correlation_id,
            &ResponseKind::Fetch(body),
        )
        .unwrap()
    }

    fn flatten(encoded: &EncodedFetch<Bytes>) -> Vec<u8> {
        let mut out = Vec::new();
        for chunk in &encoded.chunks {
            match chunk {
                Chunk::Bytes(b) | Chunk::Records(b) => out.extend_from_slice(b),
            }
        }
        out
    }

    fn partition(version: i16) -> impl Strategy<Value = PartitionOut<Bytes>> {
        (
            (
                any::<i32>(),
                any::<i16>(),
                any::<i64>(),
                any::<i64>(),
                any::<i64>(),
            ),
            proptest::option::of(proptest::collection::vec(
                (any::<i64>(), any::<i64>()),
                0..4,
            )),
            any::<i32>(),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300)),
            proptest::option::of((any::<i32>(), any::<i64>())),
            proptest::option::of((any::<i32>(), any::<i32>())),
        )
            .prop_map(
                move |(
                    (index, error, hw, lso, start),
                    aborted,
                    replica,
                    records,
                    diverging,
                    leader,
                )| PartitionOut {
                    partition_index: index,
                    error_code: error,
                    high_watermark: hw,
                    last_stable_offset: lso,
                    log_start_offset: start,
                    aborted_transactions: aborted,
                    preferred_read_replica: if version >= 11 { replica } else { -1 },
                    records: records.map(Bytes::from),
                    // kafka-protocol writes a tagged struct only when it is
                    // not its default, so defaults stand for "absent".
                    diverging_epoch: diverging.filter(|d| version >= 12 && *d != (-1, -1)),
                    current_leader: leader.filter(|l| version >= 12 && *l != (-1, -1)),
                },
            )
    }

    fn response(version: i16) -> impl Strategy<Value = FetchResponseOut<Bytes>> {
        let topic = (
            "[a-zA-Z0-9._-]{0,40}",
            any::<u128>(),
            proptest::collection::vec(partition(version), 0..5),
        )
            .prop_map(|(name, id, partitions)| TopicOut {
                name: StrBytes::from_string(name),
                topic_id: Uuid::from_u128(id),
                partitions,
            });
        (
            any::<i32>(),
            any::<i16>(),
            any::<i32>(),
            proptest::collection::vec(topic, 0..4),
            proptest::collection::vec(
                (
                    any::<i32>(),
                    "[a-z0-9.]{0,20}",
                    any::<i32>(),
                    proptest::option::of("[a-z0-9]{0,8}"),
                ),
                0..3,
            ),
        )
            .prop_map(
                move |(throttle, error, session, topics, nodes)| FetchResponseOut {
                    throttle_time_ms: throttle,
                    error_code: if version >= 7 { error } else { 0 },
                    session_id: if version >= 7 { session } else { 0 },
                    topics,
                    node_endpoints: if version >= 16 {
                        nodes
                            .into_iter()
                            .map(|(node_id, host, port, rack)| NodeEndpointOut {
                                node_id,
                                host: StrBytes::from_string(host),
                                port,
                                rack: rack.map(StrBytes::from_string),
                            })
                            .collect()
                    } else {
                        Vec::new()
                    },
                },
            )
    }

    fn version_and_response() -> impl Strategy<Value = (i16, i32, FetchResponseOut<Bytes>)> {
        (MIN_VERSION..=MAX_VERSION, any::<i32>())
            .prop_flat_map(|(v, corr)| response(v).prop_map(move |r| (v, corr, r)))
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

        #[test]
        fn matches_kafka_protocol_byte_for_byte((version, corr, response) in version_and_response()) {
            let expected = reference(version, corr, &response);
            let encoded = encode_fetch_response(version, corr, response).unwrap();
            prop_assert_eq!(encoded.total_len, expected.len());
            prop_assert_eq!(flatten(&encoded), expected.to_vec());
            // Non-empty records are never copied into the byte chunks.
            for chunk in &encoded.chunks {
                if let Chunk::Records(r) = chunk {
                    prop_assert!(!r.is_empty());
                }
            }
        }
    }

    #[test]
    fn records_are_separate_chunks_between_the_header_bytes() {
        let response = FetchResponseOut {
            throttle_time_ms: 0,
            error_code: 0,
            session_id: 0,
            topics: vec![TopicOut {
                name: StrBytes::from_static_str("t"),
                topic_id: Uuid::nil(),
                partitions: (0..2)
                    .map(|i| PartitionOut {
                        partition_index: i,
                        error_code: 0,
                        high_watermark: 0,
                        last_stable_offset: 0,
                        log_start_offset: 0,
                        aborted_transactions: None,
                        preferred_read_replica: -1,
                        records: Some(Bytes::from(vec![i as u8; 10])),
                        diverging_epoch: None,
                        current_leader: None,
                    })
                    .collect(),
            }],
            node_endpoints: Vec::new(),
        };
        let encoded = encode_fetch_response(12, 1, response).unwrap();
        let kinds: Vec<bool> = encoded
            .chunks
            .iter()
            .map(|c| matches!(c, Chunk::Records(_)))
            .collect();
        assert_eq!(kinds, [false, true, false, true, false]);
    }

    #[test]
    fn refuses_versions_and_fields_it_cannot_write() {
        let empty = || FetchResponseOut::<Bytes> {
            throttle_time_ms: 0,
            error_code: 0,
            session_id: 0,
            topics: vec![],
            node_endpoints: Vec::new(),
        };
        assert_eq!(
            encode_fetch_response(3, 0, empty()).unwrap_err(),
            FetchEncodeError::UnsupportedVersion(3)
        );
        assert_eq!(
            encode_fetch_response(18, 0, empty()).unwrap_err(),
            FetchEncodeError::UnsupportedVersion(18)
        );
        let with_session = FetchResponseOut {
            session_id: 5,
            ..empty()
        };
        assert_eq!(
            encode_fetch_response(6, 0, with_session).unwrap_err(),
            FetchEncodeError::FieldNotInVersion(6)
        );
        let with_endpoints = || FetchResponseOut {
            node_endpoints: vec![NodeEndpointOut {
                node_id: 2,
                host: StrBytes::from_static_str("h"),
                port: 9092,
                rack: None,
            }],
            ..empty()
        };
        assert_eq!(
            encode_fetch_response(15, 0, with_endpoints()).unwrap_err(),
            FetchEncodeError::FieldNotInVersion(15)
        );
        assert!(encode_fetch_response(16, 0, with_endpoints()).is_ok());
        let with_leader = || FetchResponseOut {
            topics: vec![TopicOut {
                name: StrBytes::from_static_str("t"),
                topic_id: Uuid::nil(),
                partitions: vec![PartitionOut {
                    partition_index: 0,
                    error_code: 6,
                    high_watermark: -1,
                    last_stable_offset: -1,
                    log_start_offset: -1,
                    aborted_transactions: None,
                    preferred_read_replica: -1,
                    records: None,
                    diverging_epoch: None,
                    current_leader: Some((2, 7)),
                }],
            }],
            ..empty()
        };
        assert_eq!(
            encode_fetch_response(11, 0, with_leader()).unwrap_err(),
            FetchEncodeError::FieldNotInVersion(11)
        );
        assert!(encode_fetch_response(12, 0, with_leader()).is_ok());
    }
}
