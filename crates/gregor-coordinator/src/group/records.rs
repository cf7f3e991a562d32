//! The records the group coordinator keeps in `__consumer_offsets`, in
//! Kafka's own key/value layout so that tools reading that topic (and a
//! Kafka broker taking over the data) understand them.
//!
//! Key: int16 record type, then the fields. Type 0 and 1 are offset commits
//! (group, topic, partition; Kafka writes 1, 0 is the legacy twin with the
//! same layout), type 2 is group metadata (group).
//! Value: int16 schema version, then the fields of that version; a missing
//! value is a tombstone.
//!
//! Written versions follow Kafka 4.x: offset commit value v1 when the commit
//! carries an expire timestamp (OffsetCommit v2-v4 retention), v3 otherwise;
//! group metadata value v3. Every version up to the flexible v4 is read.
//! Types 3 to 8 are the consumer protocol's (KIP-848), in
//! [`super::consumer::records`].

use super::consumer::ConsumerRecord;
use super::share::ShareRecord;
use super::streams::StreamsRecord;
use crate::coordinator_codec::{len_i32, put_bytes, put_nullable_string, put_string, Reader};
use bytes::{BufMut, Bytes, BytesMut};

const OFFSET_COMMIT_LEGACY_KEY: i16 = 0;
const OFFSET_COMMIT_KEY: i16 = 1;
const GROUP_METADATA_KEY: i16 = 2;
const GROUP_METADATA_VALUE_VERSION: i16 = 3;

/// One durable change to group coordinator state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// Key OffsetCommitKey(group, topic, partition); `None` deletes it.
    Offset {
        group: String,
        topic: String,
        partition: i32,
        value: Option<OffsetValue>,
    },
    /// Key GroupMetadataKey(group); `None` deletes the group.
    Group {
        group: String,
        value: Option<GroupValue>,
    },
    /// A consumer-protocol (KIP-848) group's record.
    Consumer(ConsumerRecord),
    /// A streams-protocol (KIP-1071) group's record.
    Streams(StreamsRecord),
    /// A share group's (KIP-932) record.
    Share(ShareRecord),
}

/// A committed offset as stored (OffsetCommitValue).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffsetValue {
    pub offset: i64,
    /// -1 when the client did not send one.
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp: i64,
    /// Only from OffsetCommit v2-v4 with an explicit retention time.
    pub expire_timestamp: Option<i64>,
}

/// A group's membership and assignment as stored (GroupMetadataValue).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupValue {
    pub protocol_type: String,
    pub generation: i32,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub current_state_timestamp: i64,
    pub members: Vec<MemberValue>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberValue {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout: i32,
    pub session_timeout: i32,
    /// The member's metadata for the group's selected protocol.
    pub subscription: Bytes,
    pub assignment: Bytes,
}

/// Decoding and encoding errors of coordinator records.
pub use crate::coordinator_codec::CodecError as RecordError;

impl Record {
    /// The group this record belongs to; it also picks the partition of
    /// `__consumer_offsets` (see `internal_topics::partition_for`).
    pub fn group_id(&self) -> &str {
        match self {
            Record::Offset { group, .. } | Record::Group { group, .. } => group,
            Record::Consumer(record) => record.group_id(),
            Record::Streams(record) => record.group_id(),
            Record::Share(record) => record.group_id(),
        }
    }

    /// Key and value bytes as Kafka writes them.
    pub fn encode(&self) -> Result<(Bytes, Option<Bytes>), RecordError> {
        let mut key = BytesMut::new();
        let value = match self {
            Record::Offset {
                group,
                topic,
                partition,
                value,
            } => {
                key.put_i16(OFFSET_COMMIT_KEY);
                put_string(&mut key, group)?;
                put_string(&mut key, topic)?;
                key.put_i32(*partition);
                value.as_ref().map(encode_offset_value).transpose()?
            }
            Record::Group { group, value } => {
                key.put_i16(GROUP_METADATA_KEY);
                put_string(&mut key, group)?;
                value.as_ref().map(encode_group_value).transpose()?
            }
            Record::Consumer(record) => return record.encode(),
            Record::Streams(record) => return record.encode(),
            Record::Share(record) => return record.encode(),
        };
        Ok((key.freeze(), value))
    }

    pub fn decode(key: &[u8], value: Option<&[u8]>) -> Result<Record, RecordError> {
        let mut k = Reader::new(key, false);
        match k.i16()? {
            OFFSET_COMMIT_LEGACY_KEY | OFFSET_COMMIT_KEY => Ok(Record::Offset {
                group: k.string()?,
                topic: k.string()?,
                partition: k.i32()?,
                value: value.map(decode_offset_value).transpose()?,
            }),
            GROUP_METADATA_KEY => Ok(Record::Group {
                group: k.string()?,
                value: value.map(decode_group_value).transpose()?,
            }),
            other if ConsumerRecord::is_consumer_key(other) => {
                ConsumerRecord::decode(key, value).map(Record::Consumer)
            }
            other if StreamsRecord::is_streams_key(other) => {
                StreamsRecord::decode(key, value).map(Record::Streams)
            }
            other if ShareRecord::is_share_key(other) => {
                ShareRecord::decode(key, value).map(Record::Share)
            }
            other => Err(RecordError::UnknownKey(other)),
        }
    }
}

fn encode_offset_value(v: &OffsetValue) -> Result<Bytes, RecordError> {
    let mut buf = BytesMut::new();
    match v.expire_timestamp {
        Some(expire) => {
            buf.put_i16(1);
            buf.put_i64(v.offset);
            put_string(&mut buf, &v.metadata)?;
            buf.put_i64(v.commit_timestamp);
            buf.put_i64(expire);
        }
        None => {
            buf.put_i16(3);
            buf.put_i64(v.offset);
            buf.put_i32(v.leader_epoch);
            put_string(&mut buf, &v.metadata)?;
            buf.put_i64(v.commit_timestamp);
        }
    }
    Ok(buf.freeze())
}

fn decode_offset_value(bytes: &[u8]) -> Result<OffsetValue, RecordError> {
    let version = Reader::new(bytes, false).i16()?;
    if !(0..=4).contains(&version) {
        return Err(RecordError::UnknownValueVersion {
            kind: "offset commit",
            version,
        });
    }
    let mut r = Reader::new(&bytes[2..], version >= 4);
    let offset = r.i64()?;
    let leader_epoch = if version >= 3 { r.i32()? } else { -1 };
    let metadata = r.string()?;
    let commit_timestamp = r.i64()?;
    let expire_timestamp = if version == 1 { Some(r.i64()?) } else { None };
    r.skip_tags()?;
    Ok(OffsetValue {
        offset,
        leader_epoch,
        metadata,
        commit_timestamp,
        expire_timestamp,
    })
}

fn encode_group_value(v: &GroupValue) -> Result<Bytes, RecordError> {
    let mut buf = BytesMut::new();
    buf.put_i16(GROUP_METADATA_VALUE_VERSION);
    put_string(&mut buf, &v.protocol_type)?;
    buf.put_i32(v.generation);
    put_nullable_string(&mut buf, v.protocol.as_deref())?;
    put_nullable_string(&mut buf, v.leader.as_deref())?;
    buf.put_i64(v.current_state_timestamp);
    buf.put_i32(len_i32(v.members.len())?);
    for m in &v.members {
        put_string(&mut buf, &m.member_id)?;
        put_nullable_string(&mut buf, m.group_instance_id.as_deref())?;
        put_string(&mut buf, &m.client_id)?;
        put_string(&mut buf, &m.client_host)?;
        buf.put_i32(m.rebalance_timeout);
        buf.put_i32(m.session_timeout);
        put_bytes(&mut buf, &m.subscription)?;
        put_bytes(&mut buf, &m.assignment)?;
    }
    Ok(buf.freeze())
}

fn decode_group_value(bytes: &[u8]) -> Result<GroupValue, RecordError> {
    let version = Reader::new(bytes, false).i16()?;
    if !(0..=4).contains(&version) {
        return Err(RecordError::UnknownValueVersion {
            kind: "group metadata",
            version,
        });
    }
    let mut r = Reader::new(&bytes[2..], version >= 4);
    let protocol_type = r.string()?;
    let generation = r.i32()?;
    let protocol = r.nullable_string()?;
    let leader = r.nullable_string()?;
    let current_state_timestamp = if version >= 2 { r.i64()? } else { -1 };
    let count = r.array_len()?;
    let mut members = Vec::new();
    for _ in 0..count {
        let member_id = r.string()?;
        let group_instance_id = if version >= 3 {
            r.nullable_string()?
        } else {
            None
        };
        let client_id = r.string()?;
        let client_host = r.string()?;
        let session_or_rebalance = r.i32()?;
        // v0 has only the session timeout, which then bounds rebalances too.
        let (rebalance_timeout, session_timeout) = if version >= 1 {
            (session_or_rebalance, r.i32()?)
        } else {
            (session_or_rebalance, session_or_rebalance)
        };
        let subscription = r.bytes()?;
        let assignment = r.bytes()?;
        r.skip_tags()?;
        members.push(MemberValue {
            member_id,
            group_instance_id,
            client_id,
            client_host,
            rebalance_timeout,
            session_timeout,
            subscription,
            assignment,
        });
    }
    r.skip_tags()?;
    Ok(GroupValue {
        protocol_type,
        generation,
        protocol,
        leader,
        current_state_timestamp,
        members,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offset(expire: Option<i64>) -> Record {
        Record::Offset {
            group: "g".into(),
            topic: "t".into(),
            partition: 3,
            value: Some(OffsetValue {
                offset: 42,
                leader_epoch: if expire.is_some() { -1 } else { 7 },
                metadata: "meta".into(),
                commit_timestamp: 1_000,
                expire_timestamp: expire,
            }),
        }
    }

    fn group() -> Record {
        Record::Group {
            group: "g".into(),
            value: Some(GroupValue {
                protocol_type: "consumer".into(),
                generation: 5,
                protocol: Some("range".into()),
                leader: Some("c-1".into()),
                current_state_timestamp: 77,
                members: vec![MemberValue {
                    member_id: "c-1".into(),
                    group_instance_id: Some("i-1".into()),
                    client_id: "c".into(),
                    client_host: "/127.0.0.1".into(),
                    rebalance_timeout: 60_000,
                    session_timeout: 10_000,
                    subscription: Bytes::from_static(b"sub"),
                    assignment: Bytes::from_static(b"asg"),
                }],
            }),
        }
    }

    fn round_trip(record: &Record) -> Record {
        let (key, value) = record.encode().unwrap();
        Record::decode(&key, value.as_deref()).unwrap()
    }

    #[test]
    fn records_round_trip() {
        for record in [offset(None), offset(Some(9_000)), group()] {
            assert_eq!(round_trip(&record), record);
        }
        let tombstones = [
            Record::Offset {
                group: "g".into(),
                topic: "t".into(),
                partition: 0,
                value: None,
            },
            Record::Group {
                group: "g".into(),
                value: None,
            },
        ];
        for record in tombstones {
            let (_, value) = record.encode().unwrap();
            assert!(value.is_none());
            assert_eq!(round_trip(&record), record);
        }
    }

    #[test]
    fn offset_commit_bytes_are_kafkas() {
        let (key, value) = offset(None).encode().unwrap();
        assert_eq!(&key[..], b"\x00\x01\x00\x01g\x00\x01t\x00\x00\x00\x03");
        let mut expected = vec![0u8, 3];
        expected.extend_from_slice(&42i64.to_be_bytes());
        expected.extend_from_slice(&7i32.to_be_bytes());
        expected.extend_from_slice(b"\x00\x04meta");
        expected.extend_from_slice(&1_000i64.to_be_bytes());
        assert_eq!(&value.unwrap()[..], &expected[..]);

        let (_, value) = offset(Some(9_000)).encode().unwrap();
        let value = value.unwrap();
        assert_eq!(&value[..2], b"\x00\x01");
        assert_eq!(&value[value.len() - 8..], &9_000i64.to_be_bytes());
    }

    #[test]
    fn reads_older_and_flexible_offset_values() {
        let key = b"\x00\x00\x00\x01g\x00\x01t\x00\x00\x00\x00";
        // v0 (legacy key type 0): offset, metadata, commit timestamp.
        let mut v0 = vec![0u8, 0];
        v0.extend_from_slice(&5i64.to_be_bytes());
        v0.extend_from_slice(b"\x00\x00");
        v0.extend_from_slice(&6i64.to_be_bytes());
        // v4: compact string (len + 1) and an empty tag section.
        let mut v4 = vec![0u8, 4];
        v4.extend_from_slice(&5i64.to_be_bytes());
        v4.extend_from_slice(&(-1i32).to_be_bytes());
        v4.push(1);
        v4.extend_from_slice(&6i64.to_be_bytes());
        v4.push(0);
        for value in [v0, v4] {
            let Record::Offset { value, .. } = Record::decode(key, Some(&value)).unwrap() else {
                panic!("not an offset record");
            };
            let value = value.unwrap();
            assert_eq!((value.offset, value.leader_epoch), (5, -1));
            assert_eq!((value.metadata.as_str(), value.commit_timestamp), ("", 6));
        }
    }

    #[test]
    fn corrupt_records_are_errors() {
        let (key, value) = group().encode().unwrap();
        let value = value.unwrap();
        for cut in 0..value.len() {
            assert!(Record::decode(&key, Some(&value[..cut])).is_err());
        }
        assert_eq!(
            Record::decode(b"\x00\x09\x00\x00", None),
            Err(RecordError::UnknownKey(9))
        );
        assert!(matches!(
            Record::decode(&key, Some(b"\x00\x09")),
            Err(RecordError::UnknownValueVersion { .. })
        ));
        // A member count far beyond the bytes present is refused up front.
        let mut huge = value[..].to_vec();
        let members_at = 2 + 2 + 8 + 4 + 2 + 5 + 2 + 3 + 8;
        huge[members_at..members_at + 4].copy_from_slice(&i32::MAX.to_be_bytes());
        assert_eq!(
            Record::decode(&key, Some(&huge)),
            Err(RecordError::Truncated)
        );
        let long = "x".repeat(40_000);
        let record = Record::Group {
            group: long,
            value: None,
        };
        assert_eq!(record.encode(), Err(RecordError::TooLong(40_000)));
    }
}
