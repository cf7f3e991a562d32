//! The framing Kafka 4.4's `CoordinatorRecordSerde` gives every record whose
//! key and value are generated schema structs (share groups, streams groups,
//! `__share_group_state`): key = int16 record type, then the key struct at
//! version 0; value = int16 version 0, then the value struct; no value is a
//! tombstone. One place frames and unframes them, so the record codecs only
//! say which struct goes with which record type.

use crate::coordinator_codec::CodecError;
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::protocol::{Decodable, Encodable};

/// The only key and value version these records have in Kafka 4.4.
pub const VERSION: i16 = 0;

/// A generated struct's encode/decode failure as a codec error.
pub fn schema(err: impl std::fmt::Display) -> CodecError {
    CodecError::Schema(err.to_string())
}

/// Key bytes: the record type, then the key struct.
pub fn key_bytes(record_type: i16, key: &impl Encodable) -> Result<Bytes, CodecError> {
    let mut buf = BytesMut::new();
    buf.put_i16(record_type);
    key.encode(&mut buf, VERSION).map_err(schema)?;
    Ok(buf.freeze())
}

/// Value bytes: the value version, then the value struct; `None` (a
/// tombstone) stays `None`.
pub fn value_bytes(value: Option<impl Encodable>) -> Result<Option<Bytes>, CodecError> {
    value
        .map(|v| {
            let mut buf = BytesMut::new();
            buf.put_i16(VERSION);
            v.encode(&mut buf, VERSION).map_err(schema)?;
            Ok(buf.freeze())
        })
        .transpose()
}

/// A record split into its type and the bodies of its key and value, the
/// value's version already checked.
#[derive(Clone, Copy, Debug)]
pub struct Framed<'a> {
    pub record_type: i16,
    key: &'a [u8],
    value: Option<&'a [u8]>,
}

impl<'a> Framed<'a> {
    /// Splits a record; `kind` names the records in the error for a value
    /// version other than 0 (checked before the record type is looked at,
    /// so an unknown type with a bad version reports the version).
    pub fn split(
        key: &'a [u8],
        value: Option<&'a [u8]>,
        kind: &'static str,
    ) -> Result<Framed<'a>, CodecError> {
        let (type_bytes, key) = key.split_at_checked(2).ok_or(CodecError::Truncated)?;
        let record_type = i16::from_be_bytes([type_bytes[0], type_bytes[1]]);
        let value = match value {
            None => None,
            Some(v) => {
                let (version, body) = v.split_at_checked(2).ok_or(CodecError::Truncated)?;
                let version = i16::from_be_bytes([version[0], version[1]]);
                if version != VERSION {
                    return Err(CodecError::UnknownValueVersion { kind, version });
                }
                Some(body)
            }
        };
        Ok(Framed {
            record_type,
            key,
            value,
        })
    }

    /// The key struct.
    pub fn key<K: Decodable>(&self) -> Result<K, CodecError> {
        let mut body = self.key;
        K::decode(&mut body, VERSION).map_err(schema)
    }

    /// The value struct, or `None` for a tombstone.
    pub fn value<V: Decodable>(&self) -> Result<Option<V>, CodecError> {
        self.value
            .map(|mut body| V::decode(&mut body, VERSION).map_err(schema))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gregor_protocol::generated::{
        share_group_metadata_key as group_k, share_group_metadata_value as group_v,
    };

    #[test]
    fn frames_round_trip() {
        let key = key_bytes(
            group_k::API_KEY,
            &group_k::ShareGroupMetadataKey {
                group_id: "g".into(),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(&key[..], &[0, 11, 0, 1, b'g']);
        let value = value_bytes(Some(group_v::ShareGroupMetadataValue {
            epoch: 3,
            ..Default::default()
        }))
        .unwrap()
        .unwrap();
        assert_eq!(&value[..2], &[0, 0]);
        let framed = Framed::split(&key, Some(&value), "test").unwrap();
        assert_eq!(framed.record_type, group_k::API_KEY);
        let k: group_k::ShareGroupMetadataKey = framed.key().unwrap();
        assert_eq!(k.group_id, "g");
        let v: Option<group_v::ShareGroupMetadataValue> = framed.value().unwrap();
        assert_eq!(v.map(|v| v.epoch), Some(3));
        assert_eq!(
            value_bytes(None::<group_v::ShareGroupMetadataValue>).unwrap(),
            None
        );
    }

    #[test]
    fn short_or_unknown_frames_are_refused() {
        assert_eq!(
            Framed::split(&[0], None, "test").unwrap_err(),
            CodecError::Truncated
        );
        assert_eq!(
            Framed::split(&[0, 11], Some(&[0]), "test").unwrap_err(),
            CodecError::Truncated
        );
        assert_eq!(
            Framed::split(&[0, 11], Some(&[0, 1]), "test").unwrap_err(),
            CodecError::UnknownValueVersion {
                kind: "test",
                version: 1
            }
        );
    }
}
