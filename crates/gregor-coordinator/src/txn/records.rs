//! The records the transaction coordinator keeps in `__transaction_state`,
//! in Kafka's layout (TransactionLogKey / TransactionLogValue) so Kafka's
//! tools can read the topic.
//!
//! Key: int16 version 0, then the transactional id. Value: int16 version,
//! then the fields; a missing value is a tombstone (an expired id). We write
//! the flexible version 1, whose tagged fields carry the previous and next
//! producer ids and the client's transaction version (KIP-890); version 0
//! is read too.

use super::metadata::TxnMetadata;
use super::state::TxnState;
use crate::coordinator_codec::{put_compact_string, put_string, put_uvarint, CodecError, Reader};
use bytes::{BufMut, Bytes, BytesMut};
use std::collections::BTreeSet;

const KEY_VERSION: i16 = 0;
const VALUE_VERSION: i16 = 1;
const NO_PRODUCER_ID: i64 = -1;

const TAG_PREVIOUS_PRODUCER_ID: u64 = 0;
const TAG_NEXT_PRODUCER_ID: u64 = 1;
const TAG_CLIENT_TRANSACTION_VERSION: u64 = 2;

/// One durable change: the whole state of a transactional id, or `None`
/// when the id expired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub transactional_id: String,
    pub value: Option<TxnMetadata>,
}

impl Record {
    pub fn encode(&self) -> Result<(Bytes, Option<Bytes>), CodecError> {
        let mut key = BytesMut::new();
        key.put_i16(KEY_VERSION);
        put_string(&mut key, &self.transactional_id)?;
        let value = self.value.as_ref().map(encode_value).transpose()?;
        Ok((key.freeze(), value))
    }

    pub fn decode(key: &[u8], value: Option<&[u8]>) -> Result<Record, CodecError> {
        let mut reader = Reader::new(key, false);
        let version = reader.i16()?;
        if version != KEY_VERSION {
            return Err(CodecError::UnknownKey(version));
        }
        let transactional_id = reader.string()?;
        let value = value
            .map(|bytes| decode_value(&transactional_id, bytes))
            .transpose()?;
        Ok(Record {
            transactional_id,
            value,
        })
    }
}

fn encode_value(txn: &TxnMetadata) -> Result<Bytes, CodecError> {
    let mut buf = BytesMut::new();
    buf.put_i16(VALUE_VERSION);
    buf.put_i64(txn.producer_id);
    buf.put_i16(txn.producer_epoch);
    buf.put_i32(txn.timeout_ms);
    buf.put_i8(txn.state.id());
    // Kafka writes a null partition list for Empty/Complete* states; an
    // empty one reads back the same.
    let topics = txn.partitions_by_topic();
    put_uvarint(&mut buf, topics.len() as u64 + 1);
    for (topic, partitions) in &topics {
        put_compact_string(&mut buf, topic);
        put_uvarint(&mut buf, partitions.len() as u64 + 1);
        for p in partitions {
            buf.put_i32(*p);
        }
        put_uvarint(&mut buf, 0);
    }
    buf.put_i64(txn.last_update_ms);
    buf.put_i64(txn.start_ms);
    let mut tags: Vec<(u64, BytesMut)> = Vec::new();
    if txn.previous_producer_id != NO_PRODUCER_ID {
        let mut field = BytesMut::new();
        field.put_i64(txn.previous_producer_id);
        tags.push((TAG_PREVIOUS_PRODUCER_ID, field));
    }
    if txn.next_producer_id != NO_PRODUCER_ID {
        let mut field = BytesMut::new();
        field.put_i64(txn.next_producer_id);
        tags.push((TAG_NEXT_PRODUCER_ID, field));
    }
    if txn.client_version != 0 {
        let mut field = BytesMut::new();
        field.put_i16(txn.client_version);
        tags.push((TAG_CLIENT_TRANSACTION_VERSION, field));
    }
    put_uvarint(&mut buf, tags.len() as u64);
    for (tag, field) in tags {
        put_uvarint(&mut buf, tag);
        put_uvarint(&mut buf, field.len() as u64);
        buf.put_slice(&field);
    }
    Ok(buf.freeze())
}

fn decode_value(transactional_id: &str, bytes: &[u8]) -> Result<TxnMetadata, CodecError> {
    let version = Reader::new(bytes, false).i16()?;
    if !(0..=VALUE_VERSION).contains(&version) {
        return Err(CodecError::UnknownValueVersion {
            kind: "transaction log",
            version,
        });
    }
    let mut reader = Reader::new(&bytes[2..], version >= 1);
    let producer_id = reader.i64()?;
    let producer_epoch = reader.i16()?;
    let timeout_ms = reader.i32()?;
    let state_id = reader.i8()?;
    let state = TxnState::from_id(state_id).ok_or(CodecError::UnknownState(state_id))?;
    let mut partitions = BTreeSet::new();
    if let Some(topics) = reader.nullable_array_len()? {
        for _ in 0..topics {
            let topic = reader.string()?;
            let count = reader.array_len()?;
            for _ in 0..count {
                partitions.insert((topic.clone(), reader.i32()?));
            }
            reader.skip_tags()?;
        }
    }
    let last_update_ms = reader.i64()?;
    let start_ms = reader.i64()?;
    let mut txn = TxnMetadata {
        transactional_id: transactional_id.to_string(),
        producer_id,
        previous_producer_id: NO_PRODUCER_ID,
        next_producer_id: NO_PRODUCER_ID,
        producer_epoch,
        last_producer_epoch: -1,
        timeout_ms,
        state,
        partitions,
        start_ms,
        last_update_ms,
        client_version: 0,
    };
    for (tag, field) in reader.tagged_fields()? {
        let mut field = Reader::new(field, false);
        match tag {
            TAG_PREVIOUS_PRODUCER_ID => txn.previous_producer_id = field.i64()?,
            TAG_NEXT_PRODUCER_ID => txn.next_producer_id = field.i64()?,
            TAG_CLIENT_TRANSACTION_VERSION => txn.client_version = field.i16()?,
            _ => {}
        }
    }
    Ok(txn)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ongoing() -> TxnMetadata {
        let mut txn = TxnMetadata::new("tx-1", 4000, 60_000, 1_000);
        txn.producer_epoch = 3;
        txn.state = TxnState::Ongoing;
        txn.partitions.insert(("orders".to_string(), 2));
        txn.partitions.insert(("orders".to_string(), 0));
        txn.partitions
            .insert(("__consumer_offsets".to_string(), 17));
        txn.start_ms = 1_500;
        txn.last_update_ms = 1_600;
        txn.previous_producer_id = 3999;
        txn.client_version = 2;
        txn
    }

    #[test]
    fn records_round_trip() {
        let record = Record {
            transactional_id: "tx-1".to_string(),
            value: Some(ongoing()),
        };
        let (key, value) = record.encode().unwrap();
        let mut decoded = Record::decode(&key, value.as_deref()).unwrap();
        // The last epoch is memory-only, as in Kafka's log format.
        decoded.value.as_mut().unwrap().last_producer_epoch = -1;
        let mut expected = record.clone();
        expected.value.as_mut().unwrap().last_producer_epoch = -1;
        assert_eq!(decoded, expected);

        let tombstone = Record {
            transactional_id: "gone".to_string(),
            value: None,
        };
        let (key, value) = tombstone.encode().unwrap();
        assert_eq!(Record::decode(&key, value.as_deref()).unwrap(), tombstone);
    }

    #[test]
    fn key_bytes_are_kafkas() {
        let (key, _) = Record {
            transactional_id: "ab".to_string(),
            value: None,
        }
        .encode()
        .unwrap();
        assert_eq!(&key[..], &[0, 0, 0, 2, b'a', b'b']);
    }

    #[test]
    fn reads_version_zero_values() {
        // TransactionLogValue v0 as Kafka 3.x wrote it: Ongoing, one partition.
        let mut v0 = BytesMut::new();
        v0.put_i16(0);
        v0.put_i64(42);
        v0.put_i16(5);
        v0.put_i32(30_000);
        v0.put_i8(1);
        v0.put_i32(1);
        put_string(&mut v0, "t").unwrap();
        v0.put_i32(1);
        v0.put_i32(3);
        v0.put_i64(200);
        v0.put_i64(100);
        let record = Record::decode(&[0, 0, 0, 1, b'x'], Some(&v0)).unwrap();
        let txn = record.value.unwrap();
        assert_eq!((txn.producer_id, txn.producer_epoch), (42, 5));
        assert_eq!(txn.state, TxnState::Ongoing);
        assert_eq!(txn.partitions.iter().next(), Some(&("t".to_string(), 3)));
        assert_eq!((txn.start_ms, txn.last_update_ms), (100, 200));
    }

    #[test]
    fn corrupt_values_are_errors() {
        let (key, value) = Record {
            transactional_id: "tx-1".to_string(),
            value: Some(ongoing()),
        }
        .encode()
        .unwrap();
        let value = value.unwrap();
        for cut in 0..value.len() {
            assert!(
                Record::decode(&key, Some(&value[..cut])).is_err(),
                "a value cut at {cut} decoded"
            );
        }
        let mut bad_state = value.to_vec();
        bad_state[2 + 8 + 2 + 4] = 9;
        assert_eq!(
            Record::decode(&key, Some(&bad_state)),
            Err(CodecError::UnknownState(9))
        );
        assert!(Record::decode(&[0, 7, 0, 0], None).is_err());
    }
}
