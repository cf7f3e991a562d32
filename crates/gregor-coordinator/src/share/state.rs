//! The durable state of one share-partition: what the share-partition
//! leader hands to the persister and reads back when it (re)loads the
//! partition. The fields are Kafka's `PersisterStateBatch` /
//! `ShareSnapshotValue` ones, so the same values travel in the
//! Read/Write/InitializeShareGroupState RPCs and `__share_group_state`.

use uuid::Uuid;

/// A share-partition: (group, topic id, partition).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ShareKey {
    pub group_id: String,
    pub topic_id: Uuid,
    pub partition: i32,
}

/// Kafka's `RecordState` codes as persisted (ACQUIRED is never persisted:
/// a lock does not survive the leader).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i8)]
pub enum DeliveryState {
    Available = 0,
    Acknowledged = 2,
    Archived = 4,
}

impl DeliveryState {
    pub fn from_code(code: i8) -> Option<DeliveryState> {
        match code {
            0 => Some(DeliveryState::Available),
            2 => Some(DeliveryState::Acknowledged),
            4 => Some(DeliveryState::Archived),
            _ => None,
        }
    }

    pub fn code(self) -> i8 {
        self as i8
    }
}

/// One run of offsets with the same state and delivery count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersistedBatch {
    pub first_offset: i64,
    pub last_offset: i64,
    pub delivery_state: DeliveryState,
    pub delivery_count: i16,
}

impl PersistedBatch {
    /// A batch as the share-state RPCs carry it; `None` for a delivery
    /// state Kafka never persists (only available, acknowledged, archived).
    pub fn from_wire(
        first_offset: i64,
        last_offset: i64,
        delivery_state: i8,
        delivery_count: i16,
    ) -> Option<PersistedBatch> {
        Some(PersistedBatch {
            first_offset,
            last_offset,
            delivery_state: DeliveryState::from_code(delivery_state)?,
            delivery_count,
        })
    }
}

/// A share-partition's persisted state. `start_offset == -1` means
/// initialized but never fetched: the leader picks the start from
/// `share.auto.offset.reset` on first load.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PersistedShareState {
    /// Bumped when the state is re-initialized (offsets reset by an admin).
    pub state_epoch: i32,
    /// The leader epoch of the last write (writes from older epochs are
    /// fenced with FENCED_LEADER_EPOCH).
    pub leader_epoch: i32,
    pub start_offset: i64,
    /// Records at or after `start_offset` already acknowledged or archived
    /// (KIP-1226, for the share group's lag); -1 when not known.
    pub delivery_complete_count: i32,
    /// Non-overlapping, in offset order, all at or after `start_offset`.
    pub batches: Vec<PersistedBatch>,
}
