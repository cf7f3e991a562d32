//! Between a share-partition's live state and what the persister stores:
//! loading a `PersistedShareState` and producing the runs that changed.
//! A lock does not survive the leader, so an ACQUIRED record is stored as
//! AVAILABLE with the delivery count it reached.

use super::record::{InFlight, RecordState};
use super::{PartitionSettings, SharePartition};
use crate::share::{DeliveryState, PersistedBatch, PersistedShareState};
use std::collections::{BTreeMap, BTreeSet};

impl SharePartition {
    /// Rebuilds a share-partition from its persisted state (whose
    /// `start_offset` must already be resolved, i.e. not -1). Offsets
    /// between stored batches were never delivered: available, count 0.
    pub fn from_persisted(
        settings: PartitionSettings,
        state: &PersistedShareState,
        leader_epoch: i32,
    ) -> SharePartition {
        let start = state.start_offset.max(0);
        let mut records = BTreeMap::new();
        let mut changed = BTreeSet::new();
        let mut end = start;
        for batch in &state.batches {
            let first = batch.first_offset.max(start);
            if batch.last_offset < first {
                continue;
            }
            for offset in end..first {
                records.insert(offset, InFlight::available(0));
            }
            for offset in first..=batch.last_offset {
                let mut state = match batch.delivery_state {
                    DeliveryState::Available => RecordState::Available,
                    DeliveryState::Acknowledged => RecordState::Acknowledged,
                    DeliveryState::Archived => RecordState::Archived,
                };
                // A record stored available after its last allowed delivery
                // (the leader died holding its lock) is not delivered again.
                if state == RecordState::Available
                    && batch.delivery_count >= settings.delivery_count_limit
                {
                    state = RecordState::Archived;
                    changed.insert(offset);
                }
                records.insert(
                    offset,
                    InFlight::settled(state, batch.delivery_count.max(0)),
                );
            }
            end = end.max(batch.last_offset + 1);
        }
        let mut partition = SharePartition {
            settings,
            start_offset: start,
            end_offset: end,
            records,
            changed,
            start_moved: false,
            state_epoch: state.state_epoch,
            leader_epoch,
        };
        partition.advance_start();
        partition
    }

    /// The whole state as the persister would store it.
    pub fn persisted_state(&self) -> PersistedShareState {
        let all: BTreeSet<i64> = self.records.keys().copied().collect();
        self.state_for(&all)
    }

    /// What changed since the last call (the runs of changed offsets and
    /// the start offset), `None` if nothing did. The caller writes it
    /// through the persister before answering the request that caused it.
    pub fn take_changes(&mut self) -> Option<PersistedShareState> {
        if self.changed.is_empty() && !self.start_moved {
            return None;
        }
        let changed = std::mem::take(&mut self.changed);
        self.start_moved = false;
        Some(self.state_for(&changed))
    }

    /// Puts back changes whose write failed, so the next write carries them.
    pub fn restore_changes(&mut self, failed: &PersistedShareState) {
        self.start_moved = true;
        for batch in &failed.batches {
            for offset in batch.first_offset..=batch.last_offset {
                if self.records.contains_key(&offset) {
                    self.changed.insert(offset);
                }
            }
        }
    }

    fn state_for(&self, offsets: &BTreeSet<i64>) -> PersistedShareState {
        let mut batches: Vec<PersistedBatch> = Vec::new();
        for &offset in offsets {
            let Some(record) = self.records.get(&offset) else {
                continue;
            };
            let delivery_state = match record.state {
                RecordState::Available | RecordState::Acquired => DeliveryState::Available,
                RecordState::Acknowledged => DeliveryState::Acknowledged,
                RecordState::Archived => DeliveryState::Archived,
            };
            match batches.last_mut() {
                Some(b)
                    if b.last_offset + 1 == offset
                        && b.delivery_state == delivery_state
                        && b.delivery_count == record.delivery_count =>
                {
                    b.last_offset = offset
                }
                _ => batches.push(PersistedBatch {
                    first_offset: offset,
                    last_offset: offset,
                    delivery_state,
                    delivery_count: record.delivery_count,
                }),
            }
        }
        PersistedShareState {
            state_epoch: self.state_epoch,
            leader_epoch: self.leader_epoch,
            start_offset: self.start_offset,
            delivery_complete_count: self.delivery_complete_count(),
            batches,
        }
    }
}
