//! Fuzz-style property tests: nothing a client or a damaged disk can hand
//! the protocol crate may panic. Each input goes through every entry point
//! that reads untrusted bytes; only the absence of a panic is asserted
//! (plus the invariants that must hold whatever the input).

// An integration test: unwrapping is how a failed step fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::{Bytes, BytesMut};
use gregor_protocol::batch::{
    compute_crc, validate_produce, verify_crc, BatchHeader, BatchIter, BATCH_HEADER_LEN,
};
use gregor_protocol::compression::Compression;
use gregor_protocol::records::{decode_batches, recompress, BatchBuilder, Header};
use gregor_protocol::request::decode_request;
use proptest::prelude::*;

#[global_allocator]
static GUARD: gregor_protocol::alloc_guard::Guard = gregor_protocol::alloc_guard::Guard;

const CODECS: [Compression; 5] = [
    Compression::None,
    Compression::Gzip,
    Compression::Snappy,
    Compression::Lz4,
    Compression::Zstd,
];

fn valid_batch(codec: usize, records: usize) -> Vec<u8> {
    let mut b = BatchBuilder::new(CODECS[codec % CODECS.len()]).producer(1, 0, 0);
    for i in 0..records {
        let headers = vec![
            Header {
                key: "k".into(),
                value: None,
            },
            Header {
                key: "k".into(),
                value: Some(Bytes::from_static(b"v")),
            },
        ];
        b.push(
            i as i64,
            Some(Bytes::from(vec![i as u8; i])),
            Some(Bytes::from_static(b"value")),
            headers,
        );
    }
    b.build().unwrap().to_vec()
}

/// Runs every reader over `buf` and checks the invariants that hold for any
/// input.
fn exercise(buf: &[u8]) {
    if let Ok(h) = BatchHeader::parse(buf) {
        assert!(h.total_size() >= BATCH_HEADER_LEN);
        let _ = h.compression();
    }
    for item in BatchIter::new(buf) {
        match item {
            Ok((h, bytes)) => {
                assert_eq!(h.total_size(), bytes.len());
                let _ = verify_crc(bytes);
                let _ = compute_crc(bytes);
                let _ = recompress(bytes, Compression::Lz4);
            }
            Err(_) => break,
        }
    }
    if let Ok(headers) = validate_produce(buf, 1 << 20) {
        assert_eq!(headers.len(), 1);
        assert_eq!(headers[0].total_size(), buf.len());
    }
    if let Ok(batches) = decode_batches(buf) {
        for b in batches {
            assert!(b.records.len() <= buf.len());
        }
    }
    let _ = recompress(buf, Compression::None);
}

/// Damage a valid batch: flip bytes, optionally fix the CRC so the damage
/// reaches the record parser, optionally cut it short.
fn mutated_batch() -> impl Strategy<Value = Vec<u8>> {
    (
        0..CODECS.len(),
        0..6usize,
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        any::<bool>(),
        prop::option::of(any::<prop::sample::Index>()),
    )
        .prop_map(|(codec, records, flips, fix_crc, cut)| {
            let mut b = valid_batch(codec, records);
            for (at, byte) in flips {
                let i = at.index(b.len());
                b[i] ^= byte;
            }
            if fix_crc {
                gregor_protocol::batch::write_crc(&mut b);
            }
            if let Some(cut) = cut {
                b.truncate(cut.index(b.len() + 1));
            }
            b
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(buf in prop::collection::vec(any::<u8>(), 0..600)) {
        exercise(&buf);
    }

    #[test]
    fn damaged_batches_never_panic(buf in mutated_batch()) {
        exercise(&buf);
    }

    #[test]
    fn concatenated_damage_never_panics(a in mutated_batch(), b in mutated_batch()) {
        let mut buf = a;
        buf.extend_from_slice(&b);
        exercise(&buf);
    }

    #[test]
    fn decompressors_never_panic(
        codec in 0..CODECS.len(),
        buf in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        let _ = CODECS[codec].decompress(&buf);
    }

    #[test]
    fn any_valid_batch_round_trips(
        codec in 0..CODECS.len(),
        recs in prop::collection::vec(
            (
                any::<i64>(),
                prop::option::of(prop::collection::vec(any::<u8>(), 0..20)),
                prop::option::of(prop::collection::vec(any::<u8>(), 0..20)),
                prop::collection::vec(("[a-z]{0,3}", prop::option::of(prop::collection::vec(any::<u8>(), 0..5))), 0..3),
            ),
            1..8,
        ),
    ) {
        let mut b = BatchBuilder::new(CODECS[codec]);
        for (ts, k, v, hs) in &recs {
            let headers = hs
                .iter()
                .map(|(k, v)| Header { key: k.clone(), value: v.clone().map(Bytes::from) })
                .collect();
            b.push(*ts, k.clone().map(Bytes::from), v.clone().map(Bytes::from), headers);
        }
        let bytes = b.build().unwrap();
        prop_assert!(validate_produce(&bytes, 1 << 20).is_ok());
        let decoded = decode_batches(&bytes).unwrap();
        prop_assert_eq!(decoded[0].records.len(), recs.len());
        for (got, (ts, k, v, hs)) in decoded[0].records.iter().zip(&recs) {
            prop_assert_eq!(got.timestamp, *ts);
            prop_assert_eq!(got.key.as_deref(), k.as_deref());
            prop_assert_eq!(got.value.as_deref(), v.as_deref());
            prop_assert_eq!(got.headers.len(), hs.len());
        }
    }
}

// Request frames: a real API key and version and a null client id in front
// of random bytes, so the bodies reach kafka-protocol's decoders.
//
// kafka-protocol 0.18 passes array counts read off the wire straight to
// `Vec::with_capacity` (upstream fixes are open PRs kafka-protocol-rs#152,
// #161, #200), so a 22-byte request declaring 2^31-1 topics would abort the
// process. This test binary installs the same allocator guard as the broker,
// which turns such reservations into free address-space mappings.
proptest! {
    #![proptest_config(ProptestConfig { cases: 5_000, ..ProptestConfig::default() })]

    #[test]
    fn request_frames_never_panic(
        key in 0i16..90,
        version in 0i16..20,
        correlation in any::<i32>(),
        body in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut frame = BytesMut::new();
        frame.extend_from_slice(&key.to_be_bytes());
        frame.extend_from_slice(&version.to_be_bytes());
        frame.extend_from_slice(&correlation.to_be_bytes());
        frame.extend_from_slice(&(-1i16).to_be_bytes());
        frame.extend_from_slice(&body);
        let _ = decode_request(frame.freeze(), |k| Some(k.valid_versions()));
    }

    #[test]
    fn arbitrary_frames_never_panic(frame in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = decode_request(Bytes::from(frame), |k| Some(k.valid_versions()));
    }
}

/// A real produce request decodes, and every truncation of it is an error
/// rather than a panic. Truncation never enlarges a count, so unlike the
/// random frames above this cannot hit the kafka-protocol abort.
#[test]
fn truncated_produce_request_never_panics() {
    use kafka_protocol::messages::produce_request::{
        PartitionProduceData, ProduceRequest, TopicProduceData,
    };
    use kafka_protocol::messages::{ApiKey, RequestHeader, TopicName};
    use kafka_protocol::protocol::{Encodable, StrBytes};

    let records = Bytes::from(valid_batch(0, 3));
    let body = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(1000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_static_str("t")))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(records))])]);
    for version in [3i16, 9, 11] {
        let mut frame = BytesMut::new();
        RequestHeader::default()
            .with_request_api_key(ApiKey::Produce as i16)
            .with_request_api_version(version)
            .with_correlation_id(1)
            .encode(&mut frame, ApiKey::Produce.request_header_version(version))
            .unwrap();
        body.encode(&mut frame, version).unwrap();
        let frame = frame.freeze();
        let request = decode_request(frame.clone(), |k| Some(k.valid_versions())).unwrap();
        assert_eq!(request.version(), version);
        for cut in 0..frame.len() {
            let _ = decode_request(frame.slice(..cut), |k| Some(k.valid_versions()));
        }
    }
}

/// Reproduces the abort directly: a few bytes declaring a two-billion-entry
/// array must be an error, not an allocation the process cannot survive.
#[test]
fn huge_array_count_in_a_tiny_request() {
    let count = 0x7fff_ffffu32.to_be_bytes();
    // (api key, version, body): Metadata v1 starts with its topics array;
    // Produce v3 has transactional id (null), acks, timeout, then topics.
    let mut produce = vec![0xff, 0xff, 0, 1, 0, 0, 0x75, 0x30];
    produce.extend_from_slice(&count);
    let cases = [(3i16, 1i16, count.to_vec()), (0, 3, produce)];
    for (key, version, body) in cases {
        let mut frame = BytesMut::new();
        frame.extend_from_slice(&key.to_be_bytes());
        frame.extend_from_slice(&version.to_be_bytes());
        frame.extend_from_slice(&1i32.to_be_bytes());
        frame.extend_from_slice(&(-1i16).to_be_bytes()); // null client id
        frame.extend_from_slice(&body);
        frame.extend_from_slice(&[0u8; 8]);
        assert!(decode_request(frame.freeze(), |k| Some(k.valid_versions())).is_err());
    }
}
