//! The records of `__share_group_state`, framed as Kafka 4.4's share
//! coordinator writes them (`ShareCoordinatorRecordSerde`): key = int16
//! record type (0 ShareSnapshot, 1 ShareUpdate) then the key struct at
//! version 0; value = int16 version 0 then the value struct (flexible); a
//! ShareSnapshot key without a value is the tombstone DeleteShareGroupState
//! writes. The generated types come from the vendored
//! `Share{Snapshot,Update}{Key,Value}.json`, so `kafka-dump-log
//! --share-group-state-decoder` reads what Gregor writes.

use crate::coordinator_codec::CodecError;
use crate::record_frame::{key_bytes, value_bytes, Framed};
use crate::share::{DeliveryState, PersistedBatch, ShareKey};
use bytes::Bytes;
use gregor_protocol::generated::{
    share_snapshot_key as snap_k, share_snapshot_value as snap_v, share_update_key as upd_k,
    share_update_value as upd_v,
};

/// A full share-partition state (ShareSnapshotValue).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotValue {
    pub snapshot_epoch: i32,
    pub state_epoch: i32,
    pub leader_epoch: i32,
    pub start_offset: i64,
    pub delivery_complete_count: i32,
    pub create_timestamp: i64,
    pub write_timestamp: i64,
    pub batches: Vec<PersistedBatch>,
}

/// A change on top of the last snapshot (ShareUpdateValue); -1 in
/// `leader_epoch` / `start_offset` keeps the current value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpdateValue {
    pub snapshot_epoch: i32,
    pub leader_epoch: i32,
    pub start_offset: i64,
    pub delivery_complete_count: i32,
    pub batches: Vec<PersistedBatch>,
}

/// One record of `__share_group_state`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShareRecord {
    /// `None`: the state was deleted (tombstone).
    Snapshot {
        key: ShareKey,
        value: Option<SnapshotValue>,
    },
    Update {
        key: ShareKey,
        value: UpdateValue,
    },
}

impl ShareRecord {
    pub fn key(&self) -> &ShareKey {
        match self {
            ShareRecord::Snapshot { key, .. } | ShareRecord::Update { key, .. } => key,
        }
    }

    /// The record's key and value bytes (`None`: tombstone).
    pub fn encode(&self) -> Result<(Bytes, Option<Bytes>), CodecError> {
        Ok(match self {
            ShareRecord::Snapshot { key, value } => (
                key_bytes(
                    snap_k::API_KEY,
                    &snap_k::ShareSnapshotKey {
                        group_id: key.group_id.clone(),
                        topic_id: key.topic_id,
                        partition: key.partition,
                        ..Default::default()
                    },
                )?,
                value_bytes(value.as_ref().map(|v| snap_v::ShareSnapshotValue {
                    snapshot_epoch: v.snapshot_epoch,
                    state_epoch: v.state_epoch,
                    leader_epoch: v.leader_epoch,
                    start_offset: v.start_offset,
                    delivery_complete_count: v.delivery_complete_count,
                    create_timestamp: v.create_timestamp,
                    write_timestamp: v.write_timestamp,
                    state_batches: to_wire(&v.batches),
                    ..Default::default()
                }))?,
            ),
            ShareRecord::Update { key, value: v } => (
                key_bytes(
                    upd_k::API_KEY,
                    &upd_k::ShareUpdateKey {
                        group_id: key.group_id.clone(),
                        topic_id: key.topic_id,
                        partition: key.partition,
                        ..Default::default()
                    },
                )?,
                value_bytes(Some(upd_v::ShareUpdateValue {
                    snapshot_epoch: v.snapshot_epoch,
                    leader_epoch: v.leader_epoch,
                    start_offset: v.start_offset,
                    delivery_complete_count: v.delivery_complete_count,
                    state_batches: to_wire(&v.batches),
                    ..Default::default()
                }))?,
            ),
        })
    }

    /// Reads a record back. `Ok(None)` for a record type this coordinator
    /// does not know (Kafka's shard skips those too).
    pub fn decode(key: &[u8], value: Option<&[u8]>) -> Result<Option<ShareRecord>, CodecError> {
        let record = Framed::split(key, value, "share state")?;
        Ok(Some(match record.record_type {
            snap_k::API_KEY => {
                let k: snap_k::ShareSnapshotKey = record.key()?;
                let key = ShareKey {
                    group_id: k.group_id,
                    topic_id: k.topic_id,
                    partition: k.partition,
                };
                let value = match record.value::<snap_v::ShareSnapshotValue>()? {
                    None => None,
                    Some(v) => Some(SnapshotValue {
                        snapshot_epoch: v.snapshot_epoch,
                        state_epoch: v.state_epoch,
                        leader_epoch: v.leader_epoch,
                        start_offset: v.start_offset,
                        delivery_complete_count: v.delivery_complete_count,
                        create_timestamp: v.create_timestamp,
                        write_timestamp: v.write_timestamp,
                        batches: from_wire(&v.state_batches)?,
                    }),
                };
                ShareRecord::Snapshot { key, value }
            }
            upd_k::API_KEY => {
                let k: upd_k::ShareUpdateKey = record.key()?;
                let key = ShareKey {
                    group_id: k.group_id,
                    topic_id: k.topic_id,
                    partition: k.partition,
                };
                // Kafka never writes an update tombstone; skip one.
                let Some(v) = record.value::<upd_v::ShareUpdateValue>()? else {
                    return Ok(None);
                };
                ShareRecord::Update {
                    key,
                    value: UpdateValue {
                        snapshot_epoch: v.snapshot_epoch,
                        leader_epoch: v.leader_epoch,
                        start_offset: v.start_offset,
                        delivery_complete_count: v.delivery_complete_count,
                        batches: from_wire(&v.state_batches)?,
                    },
                }
            }
            _ => return Ok(None),
        }))
    }
}

/// A `StateBatch` as either record carries it: the snapshot and the update
/// schemas each generate their own type, with the same fields.
trait WireBatch: Sized {
    fn from_persisted(batch: &PersistedBatch) -> Self;
    fn to_persisted(&self) -> Result<PersistedBatch, CodecError>;
}

macro_rules! wire_batch {
    ($wire:ty) => {
        impl WireBatch for $wire {
            fn from_persisted(batch: &PersistedBatch) -> Self {
                Self {
                    first_offset: batch.first_offset,
                    last_offset: batch.last_offset,
                    delivery_state: batch.delivery_state.code(),
                    delivery_count: batch.delivery_count,
                    ..Default::default()
                }
            }

            fn to_persisted(&self) -> Result<PersistedBatch, CodecError> {
                let state = self.delivery_state;
                Ok(PersistedBatch {
                    first_offset: self.first_offset,
                    last_offset: self.last_offset,
                    delivery_state: DeliveryState::from_code(state)
                        .ok_or(CodecError::UnknownState(state))?,
                    delivery_count: self.delivery_count,
                })
            }
        }
    };
}

wire_batch!(snap_v::StateBatch);
wire_batch!(upd_v::StateBatch);

fn to_wire<W: WireBatch>(batches: &[PersistedBatch]) -> Vec<W> {
    batches.iter().map(W::from_persisted).collect()
}

/// Fails on a delivery state this broker does not know.
fn from_wire<W: WireBatch>(batches: &[W]) -> Result<Vec<PersistedBatch>, CodecError> {
    batches.iter().map(W::to_persisted).collect()
}
