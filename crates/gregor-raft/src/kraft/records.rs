//! Log entries as Kafka record batches, the form they take both in the
//! `__cluster_metadata-0` log and in Fetch responses: one batch per entry,
//! `partitionLeaderEpoch` = the entry's epoch; a LeaderChange entry is a
//! control batch holding a LEADER_CHANGE control record whose value is a
//! LeaderChangeMessage, as KafkaRaftClient writes at the start of an epoch.
//!
//! A snapshot (KIP-630 checkpoint) is record batches too: a control batch
//! with a SNAPSHOT_HEADER record, the caller's data as one record of a data
//! batch, and a control batch with a SNAPSHOT_FOOTER record; every batch
//! carries the snapshot's epoch and offsets count from 0.

use super::log::{LogEntry, Payload};
use super::NodeId;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use gregor_protocol::compression::Compression;
use gregor_protocol::records::{decode_batches, BatchBuilder};
use kafka_protocol::messages::leader_change_message::Voter;
use kafka_protocol::messages::{LeaderChangeMessage, SnapshotFooterRecord, SnapshotHeaderRecord};
use kafka_protocol::protocol::{Decodable, Encodable};

/// Kafka's ControlRecordType.LEADER_CHANGE.
const LEADER_CHANGE_TYPE: i16 = 2;
/// The control record key version and LeaderChangeMessage version Kafka
/// writes (ControlRecordUtils.LEADER_CHANGE_CURRENT_VERSION).
const CONTROL_KEY_VERSION: i16 = 0;
const LEADER_CHANGE_VERSION: i16 = 0;
/// Kafka's ControlRecordType.SNAPSHOT_HEADER / SNAPSHOT_FOOTER and the
/// record versions it writes.
const SNAPSHOT_HEADER_TYPE: i16 = 3;
const SNAPSHOT_FOOTER_TYPE: i16 = 4;
const SNAPSHOT_RECORD_VERSION: i16 = 0;

fn control_key(kind: i16) -> Bytes {
    let mut key = BytesMut::with_capacity(4);
    key.put_i16(CONTROL_KEY_VERSION);
    key.put_i16(kind);
    key.freeze()
}

fn one_record_batch(
    control: bool,
    key: Option<Bytes>,
    value: Bytes,
    offset: i64,
    epoch: i32,
    timestamp_ms: i64,
) -> Result<BytesMut, String> {
    let mut builder = BatchBuilder::new(Compression::None).control(control);
    builder.push(timestamp_ms, key, Some(value), Vec::new());
    let mut batch = builder.build().map_err(|e| e.to_string())?;
    gregor_protocol::batch::set_base_offset(&mut batch, offset);
    gregor_protocol::batch::set_partition_leader_epoch(&mut batch, epoch);
    Ok(batch)
}

/// A snapshot file's content: header, `data` as one record, footer.
/// `last_timestamp_ms` is the header's lastContainedLogTimestamp.
pub fn encode_snapshot(epoch: u32, data: &Bytes, last_timestamp_ms: i64) -> Result<Bytes, String> {
    let epoch = i32::try_from(epoch).map_err(|_| format!("epoch {epoch} out of range"))?;
    let mut header = BytesMut::new();
    header.put_i16(SNAPSHOT_RECORD_VERSION);
    let mut h = SnapshotHeaderRecord::default();
    h.version = SNAPSHOT_RECORD_VERSION;
    h.last_contained_log_timestamp = last_timestamp_ms;
    h.encode(&mut header, SNAPSHOT_RECORD_VERSION)
        .map_err(|e| e.to_string())?;
    let mut footer = BytesMut::new();
    footer.put_i16(SNAPSHOT_RECORD_VERSION);
    let mut f = SnapshotFooterRecord::default();
    f.version = SNAPSHOT_RECORD_VERSION;
    f.encode(&mut footer, SNAPSHOT_RECORD_VERSION)
        .map_err(|e| e.to_string())?;
    let now = last_timestamp_ms;
    let mut out = BytesMut::new();
    let key = Some(control_key(SNAPSHOT_HEADER_TYPE));
    out.extend_from_slice(&one_record_batch(
        true,
        key,
        header.freeze(),
        0,
        epoch,
        now,
    )?);
    out.extend_from_slice(&one_record_batch(false, None, data.clone(), 1, epoch, now)?);
    let key = Some(control_key(SNAPSHOT_FOOTER_TYPE));
    out.extend_from_slice(&one_record_batch(
        true,
        key,
        footer.freeze(),
        2,
        epoch,
        now,
    )?);
    Ok(out.freeze())
}

/// The caller's data in a snapshot file's content, checking that it starts
/// with a header and ends with a footer (a torn or foreign file is an
/// error). Data records are concatenated in order.
pub fn decode_snapshot(buf: &[u8]) -> Result<Bytes, String> {
    let batches = decode_batches(buf).map_err(|e| e.to_string())?;
    let mut data = BytesMut::new();
    let mut seen_header = false;
    let mut seen_footer = false;
    for batch in batches {
        let control = batch.header.is_control();
        for record in batch.records {
            if seen_footer {
                return Err("records after the snapshot footer".into());
            }
            if control {
                let mut key = record.key.clone().ok_or("control record without key")?;
                if key.remaining() < 4 {
                    return Err("short control record key".into());
                }
                let _version = key.get_i16();
                match key.get_i16() {
                    SNAPSHOT_HEADER_TYPE if !seen_header => seen_header = true,
                    SNAPSHOT_FOOTER_TYPE if seen_header => seen_footer = true,
                    kind => return Err(format!("unexpected control record type {kind}")),
                }
            } else if !seen_header {
                return Err("snapshot data before its header".into());
            } else {
                data.extend_from_slice(&record.value.unwrap_or_default());
            }
        }
    }
    if !seen_footer {
        return Err("the snapshot has no footer".into());
    }
    Ok(data.freeze())
}

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
    fn a_snapshot_round_trips_and_needs_its_header_and_footer() {
        let data = Bytes::from_static(b"state");
        let bytes = encode_snapshot(5, &data, 1234).unwrap();
        let batches = decode_batches(&bytes).unwrap();
        assert_eq!(batches.len(), 3);
        assert!(batches[0].header.is_control() && batches[2].header.is_control());
        assert!(batches.iter().all(|b| b.header.partition_leader_epoch == 5));
        assert_eq!(decode_snapshot(&bytes).unwrap(), data);
        // Without its footer (a torn write) it is refused.
        let first_two: usize =
            bytes.len() - decode_batches(&bytes).unwrap()[2].header.batch_length as usize - 12;
        assert!(decode_snapshot(&bytes[..first_two]).is_err());
        assert!(decode_snapshot(b"junk").is_err());
        assert_eq!(
            decode_snapshot(&encode_snapshot(0, &Bytes::new(), 0).unwrap()).unwrap(),
            Bytes::new()
        );
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
