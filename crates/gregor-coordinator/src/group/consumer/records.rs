//! The consumer-protocol records of `__consumer_offsets`, in Kafka's layout
//! (group-coordinator `ConsumerGroup*Key/Value.json`), so the topic stays
//! readable by Kafka's tools and by a Kafka broker taking over the data.
//!
//! Key: int16 record type (3 to 8) then the key fields as int16-length
//! strings. Value: int16 version 0 then the fields in the flexible encoding
//! (compact strings and arrays, a tagged-field section after every struct);
//! a missing value is a tombstone. Tagged fields we do not know (a
//! classic-protocol member's metadata, later Kafka additions) are skipped.
//!
//! Type 4 (subscription metadata) is the one Kafka 4.0 still writes; 4.1
//! replaced it with a hash in the group epoch record. Gregor keeps writing
//! it: it records which partition counts the target assignment was
//! computed for.

use super::assignment::{self, Assignment};
use crate::coordinator_codec::{put_compact_string, put_string, put_uvarint, CodecError, Reader};
use bytes::{BufMut, Bytes, BytesMut};
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

const GROUP_EPOCH_KEY: i16 = 3;
const SUBSCRIPTION_METADATA_KEY: i16 = 4;
const MEMBER_METADATA_KEY: i16 = 5;
const TARGET_EPOCH_KEY: i16 = 6;
const TARGET_MEMBER_KEY: i16 = 7;
const CURRENT_ASSIGNMENT_KEY: i16 = 8;
const VALUE_VERSION: i16 = 0;
/// `TopicPartitions.AssignmentEpochs` of ConsumerGroupCurrentMemberAssignmentValue.
const ASSIGNMENT_EPOCHS_TAG: u64 = 0;

/// A topic a group subscribes to, as the target assignment saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicMetadata {
    pub id: Uuid,
    pub name: String,
    pub partitions: i32,
}

/// Who a member is and what it subscribes to (ConsumerGroupMemberMetadataValue).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberMetadata {
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    /// Sorted, without duplicates.
    pub subscribed_topic_names: Vec<String>,
    pub subscribed_topic_regex: Option<String>,
    /// -1 until the member gives one (it must when joining).
    pub rebalance_timeout_ms: i32,
    pub server_assignor: Option<String>,
}

impl Default for MemberMetadata {
    fn default() -> Self {
        MemberMetadata {
            instance_id: None,
            rack_id: None,
            client_id: String::new(),
            client_host: String::new(),
            subscribed_topic_names: Vec::new(),
            subscribed_topic_regex: None,
            rebalance_timeout_ms: -1,
            server_assignor: None,
        }
    }
}

/// Where a member is in its reconciliation (Kafka's `MemberState`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberState {
    /// It owns exactly its target, at the target epoch.
    Stable,
    /// It must give up `pending_revocation` before it moves on.
    UnrevokedPartitions,
    /// It is at the target epoch but waits for partitions others still own.
    UnreleasedPartitions,
    /// A state written by a newer Kafka; the member is made to rejoin.
    Unknown,
}

impl MemberState {
    pub fn value(self) -> i8 {
        match self {
            MemberState::Stable => 0,
            MemberState::UnrevokedPartitions => 1,
            MemberState::UnreleasedPartitions => 2,
            MemberState::Unknown => 127,
        }
    }

    pub fn from_value(value: i8) -> MemberState {
        match value {
            0 => MemberState::Stable,
            1 => MemberState::UnrevokedPartitions,
            2 => MemberState::UnreleasedPartitions,
            _ => MemberState::Unknown,
        }
    }
}

/// A member's epochs and partitions (ConsumerGroupCurrentMemberAssignmentValue).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberAssignment {
    pub epoch: i32,
    /// The epoch before the last bump: a member whose answer got lost may
    /// still use it.
    pub previous_epoch: i32,
    pub state: MemberState,
    pub assigned: Assignment,
    pub pending_revocation: Assignment,
    /// KIP-1251: the member epoch at which each held partition (assigned or
    /// pending revocation) was given to the member. A commit at an older
    /// epoch is accepted for a partition held since then.
    pub assignment_epochs: AssignmentEpochs,
}

/// Assignment epochs by (topic id, partition).
pub type AssignmentEpochs = BTreeMap<(Uuid, i32), i32>;

impl Default for MemberAssignment {
    fn default() -> Self {
        MemberAssignment {
            epoch: 0,
            previous_epoch: -1,
            state: MemberState::Stable,
            assigned: Assignment::new(),
            pending_revocation: Assignment::new(),
            assignment_epochs: AssignmentEpochs::new(),
        }
    }
}

impl MemberAssignment {
    /// The epoch a partition the member holds was assigned at; `None` when
    /// it holds neither it assigned nor pending revocation. A held
    /// partition with no recorded epoch counts as assigned at the member
    /// epoch (never below 0: a static member that left is at -2), as Kafka
    /// reads records written before KIP-1251.
    pub fn assignment_epoch(&self, topic: Uuid, partition: i32) -> Option<i32> {
        let held = assignment::contains(&self.assigned, topic, partition)
            || assignment::contains(&self.pending_revocation, topic, partition);
        held.then(|| {
            self.assignment_epochs
                .get(&(topic, partition))
                .copied()
                .unwrap_or(self.epoch.max(0))
        })
    }

    /// Drops the epochs of partitions no longer held.
    pub fn retain_held_epochs(&mut self) {
        let (assigned, pending) = (&self.assigned, &self.pending_revocation);
        self.assignment_epochs.retain(|&(topic, partition), _| {
            assignment::contains(assigned, topic, partition)
                || assignment::contains(pending, topic, partition)
        });
    }
}

/// One durable change to a consumer group. `None` values are tombstones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConsumerRecord {
    /// 3: ConsumerGroupMetadata, the group epoch.
    GroupEpoch { group: String, epoch: Option<i32> },
    /// 4: ConsumerGroupPartitionMetadata, the subscribed topics' metadata.
    SubscriptionMetadata {
        group: String,
        topics: Option<Vec<TopicMetadata>>,
    },
    /// 5: ConsumerGroupMemberMetadata.
    Member {
        group: String,
        member: String,
        value: Option<MemberMetadata>,
    },
    /// 6: ConsumerGroupTargetAssignmentMetadata, the target assignment epoch.
    TargetEpoch { group: String, epoch: Option<i32> },
    /// 7: ConsumerGroupTargetAssignmentMember, one member's target.
    TargetMember {
        group: String,
        member: String,
        partitions: Option<Assignment>,
    },
    /// 8: ConsumerGroupCurrentMemberAssignment.
    CurrentAssignment {
        group: String,
        member: String,
        value: Option<MemberAssignment>,
    },
}

impl ConsumerRecord {
    pub fn group_id(&self) -> &str {
        match self {
            ConsumerRecord::GroupEpoch { group, .. }
            | ConsumerRecord::SubscriptionMetadata { group, .. }
            | ConsumerRecord::Member { group, .. }
            | ConsumerRecord::TargetEpoch { group, .. }
            | ConsumerRecord::TargetMember { group, .. }
            | ConsumerRecord::CurrentAssignment { group, .. } => group,
        }
    }

    /// Whether a key of this record type belongs here.
    pub fn is_consumer_key(key_type: i16) -> bool {
        (GROUP_EPOCH_KEY..=CURRENT_ASSIGNMENT_KEY).contains(&key_type)
    }

    pub fn encode(&self) -> Result<(Bytes, Option<Bytes>), CodecError> {
        let mut key = BytesMut::new();
        let value = match self {
            ConsumerRecord::GroupEpoch { group, epoch } => {
                group_key(&mut key, GROUP_EPOCH_KEY, group)?;
                epoch.map(|e| value(|v| v.put_i32(e)))
            }
            ConsumerRecord::SubscriptionMetadata { group, topics } => {
                group_key(&mut key, SUBSCRIPTION_METADATA_KEY, group)?;
                topics.as_ref().map(|t| value(|v| put_topic_metadata(v, t)))
            }
            ConsumerRecord::Member {
                group,
                member,
                value: m,
            } => {
                member_key(&mut key, MEMBER_METADATA_KEY, group, member)?;
                m.as_ref().map(|m| value(|v| put_member(v, m)))
            }
            ConsumerRecord::TargetEpoch { group, epoch } => {
                group_key(&mut key, TARGET_EPOCH_KEY, group)?;
                epoch.map(|e| value(|v| v.put_i32(e)))
            }
            ConsumerRecord::TargetMember {
                group,
                member,
                partitions,
            } => {
                member_key(&mut key, TARGET_MEMBER_KEY, group, member)?;
                partitions
                    .as_ref()
                    .map(|p| value(|v| put_topic_partitions(v, p, None)))
            }
            ConsumerRecord::CurrentAssignment {
                group,
                member,
                value: a,
            } => {
                member_key(&mut key, CURRENT_ASSIGNMENT_KEY, group, member)?;
                a.as_ref().map(|a| value(|v| put_member_assignment(v, a)))
            }
        };
        Ok((key.freeze(), value))
    }

    /// Decodes a record whose key type passed [`Self::is_consumer_key`].
    pub fn decode(key: &[u8], value: Option<&[u8]>) -> Result<ConsumerRecord, CodecError> {
        let mut k = Reader::new(key, false);
        let key_type = k.i16()?;
        let group = k.string()?;
        let body = match value {
            None => None,
            Some(bytes) => {
                let mut r = Reader::new(bytes, true);
                let version = r.i16()?;
                if version != VALUE_VERSION {
                    return Err(CodecError::UnknownValueVersion {
                        kind: "consumer group",
                        version,
                    });
                }
                Some(r)
            }
        };
        let record = match key_type {
            GROUP_EPOCH_KEY => ConsumerRecord::GroupEpoch {
                group,
                epoch: body.map(read_epoch).transpose()?,
            },
            SUBSCRIPTION_METADATA_KEY => ConsumerRecord::SubscriptionMetadata {
                group,
                topics: body.map(read_topic_metadata).transpose()?,
            },
            MEMBER_METADATA_KEY => ConsumerRecord::Member {
                group,
                member: k.string()?,
                value: body.map(read_member).transpose()?,
            },
            TARGET_EPOCH_KEY => ConsumerRecord::TargetEpoch {
                group,
                epoch: body.map(read_epoch).transpose()?,
            },
            TARGET_MEMBER_KEY => ConsumerRecord::TargetMember {
                group,
                member: k.string()?,
                partitions: body
                    .map(|mut r| {
                        let parts = read_topic_partitions(&mut r)?;
                        r.skip_tags()?;
                        Ok::<_, CodecError>(parts)
                    })
                    .transpose()?,
            },
            CURRENT_ASSIGNMENT_KEY => ConsumerRecord::CurrentAssignment {
                group,
                member: k.string()?,
                value: body.map(read_member_assignment).transpose()?,
            },
            other => return Err(CodecError::UnknownKey(other)),
        };
        Ok(record)
    }
}

fn group_key(key: &mut BytesMut, key_type: i16, group: &str) -> Result<(), CodecError> {
    key.put_i16(key_type);
    put_string(key, group)
}

fn member_key(
    key: &mut BytesMut,
    key_type: i16,
    group: &str,
    member: &str,
) -> Result<(), CodecError> {
    group_key(key, key_type, group)?;
    put_string(key, member)
}

/// A value: version 0, the fields, then the top-level (empty) tag section.
fn value(fields: impl FnOnce(&mut BytesMut)) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_i16(VALUE_VERSION);
    fields(&mut buf);
    put_uvarint(&mut buf, 0);
    buf.freeze()
}

fn put_len(buf: &mut BytesMut, len: usize) {
    put_uvarint(buf, len as u64 + 1);
}

fn put_nullable_string(buf: &mut BytesMut, s: Option<&str>) {
    match s {
        Some(s) => put_compact_string(buf, s),
        None => put_uvarint(buf, 0),
    }
}

fn put_topic_metadata(buf: &mut BytesMut, topics: &[TopicMetadata]) {
    put_len(buf, topics.len());
    for topic in topics {
        buf.put_slice(topic.id.as_bytes());
        put_compact_string(buf, &topic.name);
        buf.put_i32(topic.partitions);
        // PartitionMetadata (racks): Gregor has no racks to record.
        put_len(buf, 0);
        put_uvarint(buf, 0);
    }
}

fn put_member(buf: &mut BytesMut, m: &MemberMetadata) {
    put_nullable_string(buf, m.instance_id.as_deref());
    put_nullable_string(buf, m.rack_id.as_deref());
    put_compact_string(buf, &m.client_id);
    put_compact_string(buf, &m.client_host);
    put_len(buf, m.subscribed_topic_names.len());
    for name in &m.subscribed_topic_names {
        put_compact_string(buf, name);
    }
    put_nullable_string(buf, m.subscribed_topic_regex.as_deref());
    buf.put_i32(m.rebalance_timeout_ms);
    put_nullable_string(buf, m.server_assignor.as_deref());
}

/// A `TopicPartitions` array. A member's current assignment also carries
/// each partition's assignment epoch, aligned with the partitions, in the
/// struct's tagged field 0 (`AssignmentEpochs`, KIP-1251); the target
/// assignment's struct has no such field (`epochs` is `None`).
fn put_topic_partitions(
    buf: &mut BytesMut,
    assignment: &Assignment,
    epochs: Option<(&AssignmentEpochs, i32)>,
) {
    put_len(buf, assignment.len());
    for (topic, parts) in assignment {
        buf.put_slice(topic.as_bytes());
        put_len(buf, parts.len());
        for p in parts {
            buf.put_i32(*p);
        }
        match epochs {
            None => put_uvarint(buf, 0),
            Some((epochs, default)) => {
                let mut field = BytesMut::new();
                put_len(&mut field, parts.len());
                for p in parts {
                    field.put_i32(epochs.get(&(*topic, *p)).copied().unwrap_or(default));
                }
                put_uvarint(buf, 1);
                put_uvarint(buf, ASSIGNMENT_EPOCHS_TAG);
                put_uvarint(buf, field.len() as u64);
                buf.put_slice(&field);
            }
        }
    }
}

fn put_member_assignment(buf: &mut BytesMut, a: &MemberAssignment) {
    buf.put_i32(a.epoch);
    buf.put_i32(a.previous_epoch);
    buf.put_i8(a.state.value());
    let epochs = Some((&a.assignment_epochs, a.epoch.max(0)));
    put_topic_partitions(buf, &a.assigned, epochs);
    put_topic_partitions(buf, &a.pending_revocation, epochs);
}

fn read_uuid(r: &mut Reader<'_>) -> Result<Uuid, CodecError> {
    Uuid::from_slice(r.take(16)?).map_err(|_| CodecError::Truncated)
}

fn read_epoch(mut r: Reader<'_>) -> Result<i32, CodecError> {
    let epoch = r.i32()?;
    r.skip_tags()?;
    Ok(epoch)
}

fn read_topic_metadata(mut r: Reader<'_>) -> Result<Vec<TopicMetadata>, CodecError> {
    let count = r.array_len()?;
    let mut topics = Vec::new();
    for _ in 0..count {
        let id = read_uuid(&mut r)?;
        let name = r.string()?;
        let partitions = r.i32()?;
        for _ in 0..r.array_len()? {
            r.i32()?;
            for _ in 0..r.array_len()? {
                r.string()?;
            }
            r.skip_tags()?;
        }
        r.skip_tags()?;
        topics.push(TopicMetadata {
            id,
            name,
            partitions,
        });
    }
    r.skip_tags()?;
    Ok(topics)
}

fn read_member(mut r: Reader<'_>) -> Result<MemberMetadata, CodecError> {
    let instance_id = r.nullable_string()?;
    let rack_id = r.nullable_string()?;
    let client_id = r.string()?;
    let client_host = r.string()?;
    let mut names = BTreeSet::new();
    for _ in 0..r.array_len()? {
        names.insert(r.string()?);
    }
    let subscribed_topic_regex = r.nullable_string()?.filter(|s| !s.is_empty());
    let rebalance_timeout_ms = r.i32()?;
    let server_assignor = r.nullable_string()?;
    // Tag 0 is a classic-protocol member's metadata; Gregor's members all
    // use the consumer protocol.
    r.skip_tags()?;
    Ok(MemberMetadata {
        instance_id,
        rack_id,
        client_id,
        client_host,
        subscribed_topic_names: names.into_iter().collect(),
        subscribed_topic_regex,
        rebalance_timeout_ms,
        server_assignor,
    })
}

fn read_topic_partitions(r: &mut Reader<'_>) -> Result<Assignment, CodecError> {
    read_topic_partitions_with_epochs(r, &mut AssignmentEpochs::new(), 0)
}

/// A `TopicPartitions` array, collecting assignment epochs (tag 0) into
/// `epochs`. A topic without them (written before KIP-1251), or with a
/// count not matching its partitions, gets `default` for each partition,
/// as Kafka's `Utils.assignmentFromTopicPartitions` does.
fn read_topic_partitions_with_epochs(
    r: &mut Reader<'_>,
    epochs: &mut AssignmentEpochs,
    default: i32,
) -> Result<Assignment, CodecError> {
    let mut out = Assignment::new();
    for _ in 0..r.array_len()? {
        let topic = read_uuid(r)?;
        let mut parts = Vec::new();
        for _ in 0..r.array_len()? {
            parts.push(r.i32()?);
        }
        let mut topic_epochs = None;
        for (tag, bytes) in r.tagged_fields()? {
            if tag == ASSIGNMENT_EPOCHS_TAG {
                let mut field = Reader::new(bytes, true);
                topic_epochs = match field.nullable_array_len()? {
                    None => None,
                    Some(n) => Some((0..n).map(|_| field.i32()).collect::<Result<Vec<_>, _>>()?),
                };
            }
        }
        let topic_epochs = topic_epochs.filter(|e| e.len() == parts.len());
        for (i, &p) in parts.iter().enumerate() {
            let epoch = topic_epochs
                .as_ref()
                .and_then(|e| e.get(i).copied())
                .unwrap_or(default);
            epochs.insert((topic, p), epoch);
            out.entry(topic).or_default().insert(p);
        }
    }
    Ok(out)
}

fn read_member_assignment(mut r: Reader<'_>) -> Result<MemberAssignment, CodecError> {
    let epoch = r.i32()?;
    let previous_epoch = r.i32()?;
    let state = MemberState::from_value(r.i8()?);
    let mut assignment_epochs = AssignmentEpochs::new();
    let default = epoch.max(0);
    let assigned = read_topic_partitions_with_epochs(&mut r, &mut assignment_epochs, default)?;
    let pending_revocation =
        read_topic_partitions_with_epochs(&mut r, &mut assignment_epochs, default)?;
    r.skip_tags()?;
    Ok(MemberAssignment {
        epoch,
        previous_epoch,
        state,
        assigned,
        pending_revocation,
        assignment_epochs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(n: u8) -> Uuid {
        Uuid::from_bytes([n; 16])
    }

    fn assignment(pairs: &[(u8, i32)]) -> Assignment {
        let mut a = Assignment::new();
        for (topic, p) in pairs {
            a.entry(t(*topic)).or_default().insert(*p);
        }
        a
    }

    fn samples() -> Vec<ConsumerRecord> {
        let g = || "g".to_string();
        let m = || "m-1".to_string();
        vec![
            ConsumerRecord::GroupEpoch {
                group: g(),
                epoch: Some(7),
            },
            ConsumerRecord::SubscriptionMetadata {
                group: g(),
                topics: Some(vec![TopicMetadata {
                    id: t(1),
                    name: "orders".into(),
                    partitions: 6,
                }]),
            },
            ConsumerRecord::Member {
                group: g(),
                member: m(),
                value: Some(MemberMetadata {
                    instance_id: Some("i-1".into()),
                    rack_id: None,
                    client_id: "c".into(),
                    client_host: "/127.0.0.1".into(),
                    subscribed_topic_names: vec!["a".into(), "b".into()],
                    subscribed_topic_regex: Some("x.*".into()),
                    rebalance_timeout_ms: 300_000,
                    server_assignor: Some("range".into()),
                }),
            },
            ConsumerRecord::TargetEpoch {
                group: g(),
                epoch: Some(7),
            },
            ConsumerRecord::TargetMember {
                group: g(),
                member: m(),
                partitions: Some(assignment(&[(1, 0), (1, 3), (2, 1)])),
            },
            ConsumerRecord::CurrentAssignment {
                group: g(),
                member: m(),
                value: Some(MemberAssignment {
                    epoch: 7,
                    previous_epoch: 6,
                    state: MemberState::UnrevokedPartitions,
                    assigned: assignment(&[(1, 0)]),
                    pending_revocation: assignment(&[(2, 4)]),
                    assignment_epochs: [((t(1), 0), 5), ((t(2), 4), 3)].into(),
                }),
            },
        ]
    }

    #[test]
    fn records_and_tombstones_round_trip() {
        for record in samples() {
            let (key, value) = record.encode().unwrap();
            assert_eq!(
                ConsumerRecord::decode(&key, value.as_deref()).unwrap(),
                record
            );
        }
        let tombstone = ConsumerRecord::CurrentAssignment {
            group: "g".into(),
            member: "m".into(),
            value: None,
        };
        let (key, value) = tombstone.encode().unwrap();
        assert!(value.is_none());
        assert_eq!(ConsumerRecord::decode(&key, None).unwrap(), tombstone);
    }

    #[test]
    fn bytes_follow_kafkas_schemas() {
        let (key, value) = samples()[0].encode().unwrap();
        assert_eq!(&key[..], b"\x00\x03\x00\x01g");
        // version 0, epoch 7, no tagged fields
        assert_eq!(&value.unwrap()[..], b"\x00\x00\x00\x00\x00\x07\x00");
        let (key, value) = samples()[4].encode().unwrap();
        assert_eq!(&key[..], b"\x00\x07\x00\x01g\x00\x03m-1");
        let value = value.unwrap();
        // two topics (compact 3), the first: uuid, two partitions (compact 3), no tags
        assert_eq!(value[2], 3);
        assert_eq!(&value[3..19], t(1).as_bytes());
        assert_eq!(value[19], 3);
        assert_eq!(&value[20..28], b"\x00\x00\x00\x00\x00\x00\x00\x03");
        assert_eq!(value[28], 0);
    }

    /// KIP-1251: each `TopicPartitions` of a current assignment carries its
    /// partitions' assignment epochs in tagged field 0.
    #[test]
    fn current_assignments_carry_assignment_epochs_in_tag_0() {
        let (_, value) = samples()[5].encode().unwrap();
        let value = value.unwrap();
        // version, epoch 7, previous 6, state 1, one assigned topic
        assert_eq!(
            &value[..12],
            b"\x00\x00\x00\x00\x00\x07\x00\x00\x00\x06\x01\x02"
        );
        assert_eq!(&value[12..28], t(1).as_bytes());
        // one partition (0), then one tagged field: tag 0, 5 bytes, [5]
        assert_eq!(&value[28..33], b"\x02\x00\x00\x00\x00");
        assert_eq!(&value[33..41], b"\x01\x00\x05\x02\x00\x00\x00\x05");
    }

    /// Records written before KIP-1251 (or by Gregor before it) have no
    /// epochs: every partition counts as assigned at the member epoch, and
    /// a static member that left (-2) at 0, as Kafka reads them.
    #[test]
    fn assignments_without_epochs_default_to_the_member_epoch() {
        for (epoch, expected) in [(7, 7), (-2, 0)] {
            let mut buf = BytesMut::new();
            buf.put_i16(0);
            buf.put_i32(epoch);
            buf.put_i32(6);
            buf.put_i8(0);
            for topic in [1u8, 2] {
                put_len(&mut buf, 1);
                buf.put_slice(t(topic).as_bytes());
                put_len(&mut buf, 2);
                buf.put_i32(0);
                buf.put_i32(1);
                put_uvarint(&mut buf, 0);
            }
            put_uvarint(&mut buf, 0);
            let a = read_member_assignment({
                let mut r = Reader::new(&buf, true);
                r.i16().unwrap();
                r
            })
            .unwrap();
            assert_eq!(a.assignment_epoch(t(1), 1), Some(expected));
            assert_eq!(a.assignment_epoch(t(2), 0), Some(expected));
            assert_eq!(a.assignment_epoch(t(3), 0), None);
            assert_eq!(a.assignment_epochs.len(), 4);
        }
    }

    #[test]
    fn corrupt_values_are_errors_not_panics() {
        for record in samples() {
            let (key, value) = record.encode().unwrap();
            let value = value.unwrap();
            for cut in 0..value.len() {
                assert!(ConsumerRecord::decode(&key, Some(&value[..cut])).is_err());
            }
            for cut in 0..key.len() {
                assert!(ConsumerRecord::decode(&key[..cut], Some(&value)).is_err());
            }
        }
        let (key, _) = samples()[0].encode().unwrap();
        assert!(matches!(
            ConsumerRecord::decode(&key, Some(b"\x00\x01\x00\x00\x00\x01\x00")),
            Err(CodecError::UnknownValueVersion { .. })
        ));
        // A topic count far beyond the bytes present is refused up front.
        let (key, _) = samples()[4].encode().unwrap();
        assert!(ConsumerRecord::decode(&key, Some(b"\x00\x00\xff\xff\xff\x0f")).is_err());
    }

    #[test]
    fn unknown_member_states_read_as_unknown() {
        assert_eq!(MemberState::from_value(5), MemberState::Unknown);
        for state in [
            MemberState::Stable,
            MemberState::UnrevokedPartitions,
            MemberState::UnreleasedPartitions,
        ] {
            assert_eq!(MemberState::from_value(state.value()), state);
        }
    }
}
