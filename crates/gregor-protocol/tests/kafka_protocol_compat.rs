//! Wire compatibility with `kafka-protocol`'s own record codec, which is
//! tested against Java-written batches: what it encodes we must decode and
//! accept, and what we encode it must decode, for every codec.

// An integration test: unwrapping is how a failed step fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::{Bytes, BytesMut};
use gregor_protocol::batch::validate_produce;
use gregor_protocol::compression::Compression;
use gregor_protocol::records::{decode_batches, BatchBuilder, Header};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression as KpCompression, Record as KpRecord, RecordBatchDecoder, RecordBatchEncoder,
    RecordEncodeOptions, TimestampType,
};

const CODECS: [(Compression, KpCompression); 5] = [
    (Compression::None, KpCompression::None),
    (Compression::Gzip, KpCompression::Gzip),
    (Compression::Snappy, KpCompression::Snappy),
    (Compression::Lz4, KpCompression::Lz4),
    (Compression::Zstd, KpCompression::Zstd),
];

fn kp_record(i: i64) -> KpRecord {
    let mut headers = kafka_protocol::indexmap::IndexMap::new();
    headers.insert(
        StrBytes::from_static_str("h1"),
        Some(Bytes::from(format!("x{i}"))),
    );
    headers.insert(StrBytes::from_static_str("h2"), Some(Bytes::new()));
    KpRecord {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id: 17,
        producer_epoch: 2,
        timestamp_type: TimestampType::Creation,
        offset: i,
        sequence: 30 + i as i32,
        timestamp: 1_700_000_000_000 + i * 10,
        key: if i == 0 {
            None
        } else {
            Some(Bytes::from(format!("key-{i}")))
        },
        value: if i == 1 {
            None
        } else {
            Some(Bytes::from(vec![b'v'; (i * 100) as usize]))
        },
        headers,
    }
}

#[test]
fn we_decode_and_accept_what_kafka_protocol_encodes() {
    for (ours, theirs) in CODECS {
        let records: Vec<KpRecord> = (0..4).map(kp_record).collect();
        let mut buf = BytesMut::new();
        let options = RecordEncodeOptions {
            version: 2,
            compression: theirs,
        };
        RecordBatchEncoder::encode(&mut buf, &records, &options).unwrap();

        let headers = validate_produce(&buf, 1 << 20).unwrap();
        assert_eq!(headers[0].compression(), Ok(ours));
        assert_eq!(headers[0].records_count, 4);
        assert_eq!(headers[0].base_sequence, 30);

        let decoded = decode_batches(&buf).unwrap();
        assert_eq!(decoded.len(), 1);
        let got = &decoded[0].records;
        assert_eq!(got.len(), records.len(), "{}", ours.name());
        for (g, want) in got.iter().zip(&records) {
            assert_eq!(g.offset, want.offset);
            assert_eq!(g.timestamp, want.timestamp);
            assert_eq!(g.key, want.key);
            assert_eq!(g.value, want.value);
            let want_headers: Vec<Header> = want
                .headers
                .iter()
                .map(|(k, v)| Header {
                    key: k.to_string(),
                    value: v.clone(),
                })
                .collect();
            assert_eq!(g.headers, want_headers);
        }
    }
}

#[test]
fn kafka_protocol_decodes_what_we_encode() {
    for (ours, theirs) in CODECS {
        let mut builder = BatchBuilder::new(ours).producer(17, 2, 30);
        for i in 0..4i64 {
            let r = kp_record(i);
            let headers = r
                .headers
                .iter()
                .map(|(k, v)| Header {
                    key: k.to_string(),
                    value: v.clone(),
                })
                .collect();
            builder.push(r.timestamp, r.key, r.value, headers);
        }
        let mut buf = builder.build().unwrap().freeze();
        let set = RecordBatchDecoder::decode(&mut buf).unwrap();
        assert_eq!(set.compression, theirs, "{}", ours.name());
        assert_eq!(set.records.len(), 4);
        for (i, got) in set.records.iter().enumerate() {
            let want = kp_record(i as i64);
            assert_eq!(got.offset, want.offset);
            assert_eq!(got.timestamp, want.timestamp);
            assert_eq!(got.sequence, want.sequence);
            assert_eq!((got.producer_id, got.producer_epoch), (17, 2));
            assert_eq!(got.key, want.key);
            assert_eq!(got.value, want.value);
            assert_eq!(got.headers, want.headers);
        }
    }
}
