//! Log entries as Kafka record batches, the form they take both in the
//! `__cluster_metadata-0` log and in Fetch responses: one batch per entry,
//! `partitionLeaderEpoch` = the entry's epoch; a LeaderChange entry is a
//! control batch holding a LEADER_CHANGE control record whose value is a
//! LeaderChangeMessage, as KafkaRaftClient writes at the start of an epoch.

use super::log::{LogEntry, Payload};
use super::NodeId;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use gregor_protocol::compression::Compression;
use gregor_protocol::records::{decode_batches, BatchBuilder};
use kafka_protocol::messages::leader_change_message::Voter;
use kafka_protocol::messages::LeaderChangeMessage;
use kafka_protocol::protocol::{Decodable, Encodable};

/// Kafka's ControlRecordType.LEADER_CHANGE.
const LEADER_CHANGE_TYPE: i16 = 2;
/// The control record key version and LeaderChangeMessage version Kafka
/// writes (ControlRecordUtils.LEADER_CHANGE_CURRENT_VERSION).
const CONTROL_KEY_VERSION: i16 = 0;
const LEADER_CHANGE_VERSION: i16 = 0;

/// One entry as one batch at `offset`. `voters` fills the LeaderChange
/// message's voter list.
pub fn encode_entry(
    offset: u64,
    entry: &LogEntry,
    voters: &[NodeId],
    timestamp_ms: i64,
) -> Result<BytesMut, String> {
    let (control, key, value) = match &entry.payload {
        Payload::Data(data) => (false, None, data.clone()),
        Payload::LeaderChange { leader } => {
            let mut key = BytesMut::with_capacity(4);
            key.put_i16(CONTROL_KEY_VERSION);
            key.put_i16(LEADER_CHANGE_TYPE);
            let mut message = LeaderChangeMessage::default();
            message.leader_id = (*leader).into();
            message.voters = voters
                .iter()
                .map(|v| {
                    let mut voter = Voter::default();
                    voter.voter_id = *v;
                    voter
                })
                .collect();
            let mut value = BytesMut::new();
            value.put_i16(LEADER_CHANGE_VERSION);
            message
                .encode(&mut value, LEADER_CHANGE_VERSION)
                .map_err(|e| e.to_string())?;
            (true, Some(key.freeze()), value.freeze())
        }
    };
    let mut builder = BatchBuilder::new(Compression::None).control(control);
    builder.push(timestamp_ms, key, Some(value), Vec::new());
    let mut batch = builder.build().map_err(|e| e.to_string())?;
    let offset = i64::try_from(offset).map_err(|_| format!("offset {offset} out of range"))?;
    let epoch =
        i32::try_from(entry.epoch).map_err(|_| format!("epoch {} out of range", entry.epoch))?;
    // Neither field is covered by the CRC.
    gregor_protocol::batch::set_base_offset(&mut batch, offset);
    gregor_protocol::batch::set_partition_leader_epoch(&mut batch, epoch);
    Ok(batch)
}

/// Consecutive entries from `base_offset` on, one batch each.
pub fn encode_entries(
    base_offset: u64,
    entries: &[LogEntry],
    voters: &[NodeId],
    timestamp_ms: i64,
) -> Result<Bytes, String> {
    let mut out = BytesMut::new();
    for (i, entry) in entries.iter().enumerate() {
        out.extend_from_slice(&encode_entry(
            base_offset + i as u64,
            entry,
            voters,
            timestamp_ms,
        )?);
    }
    Ok(out.freeze())
}

/// Every record of `buf` as (offset, entry), checking what a LeaderChange
/// control batch must hold. Offsets are as in the batches.
pub fn decode_entries(buf: &[u8]) -> Result<Vec<(u64, LogEntry)>, String> {
    let batches = decode_batches(buf).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for batch in batches {
        let epoch = u32::try_from(batch.header.partition_leader_epoch)
            .map_err(|_| format!("negative epoch at offset {}", batch.header.base_offset))?;
        let control = batch.header.is_control();
        for record in batch.records {
            let offset = u64::try_from(record.offset)
                .map_err(|_| format!("negative offset {}", record.offset))?;
            let payload = if control {
                Payload::LeaderChange {
                    leader: decode_leader_change(&record.key, &record.value)
                        .map_err(|e| format!("offset {offset}: {e}"))?,
                }
            } else {
                Payload::Data(record.value.unwrap_or_default())
            };
            out.push((offset, LogEntry { epoch, payload }));
        }
    }
    Ok(out)
}

fn decode_leader_change(key: &Option<Bytes>, value: &Option<Bytes>) -> Result<NodeId, String> {
    let mut key = key.clone().ok_or("control record without key")?;
    if key.remaining() < 4 {
        return Err("short control record key".into());
    }
    let _version = key.get_i16();
    let kind = key.get_i16();
    if kind != LEADER_CHANGE_TYPE {
        return Err(format!("unsupported control record type {kind}"));
    }
    let mut value = value.clone().ok_or("LEADER_CHANGE without value")?;
    if value.remaining() < 2 {
        return Err("short LEADER_CHANGE value".into());
    }
    let version = value.get_i16();
    if !(0..=1).contains(&version) {
        return Err(format!("unsupported LeaderChangeMessage version {version}"));
    }
    let message = LeaderChangeMessage::decode(&mut value, version).map_err(|e| e.to_string())?;
    Ok(message.leader_id.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_with_epochs_offsets_and_control_batches() {
        let entries = vec![
            LogEntry {
                epoch: 3,
                payload: Payload::LeaderChange { leader: 2 },
            },
            LogEntry {
                epoch: 3,
                payload: Payload::Data(Bytes::from_static(b"a")),
            },
            LogEntry {
                epoch: 4,
                payload: Payload::Data(Bytes::new()),
            },
        ];
        let bytes = encode_entries(7, &entries, &[1, 2, 3], 1000).unwrap();
        let batches = decode_batches(&bytes).unwrap();
        assert_eq!(batches.len(), 3);
        assert!(batches[0].header.is_control());
        assert_eq!(batches[0].header.partition_leader_epoch, 3);
        assert_eq!(batches[2].header.partition_leader_epoch, 4);
        let decoded = decode_entries(&bytes).unwrap();
        let expected: Vec<(u64, LogEntry)> = (7..).zip(entries).collect();
        assert_eq!(decoded, expected);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode_entries(&[0u8; 70]).is_err());
        let mut bytes = BytesMut::from(
            &encode_entries(
                0,
                &[LogEntry {
                    epoch: 1,
                    payload: Payload::Data(Bytes::from_static(b"x")),
                }],
                &[1],
                0,
            )
            .unwrap()[..],
        );
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        assert!(decode_entries(&bytes).is_err());
    }
}
