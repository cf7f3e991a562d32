//! One `__share_group_state` partition's share coordinator (Kafka's
//! `ShareCoordinatorShard`): the persisted state of every share-partition
//! key mapped to that partition, and the rules for changing it.
//!
//! Operations do not change the state: they check the request and return
//! the records to append; the broker edge appends them and, once they are
//! committed, replays them here (the same `replay` rebuilds the shard when
//! the partition is loaded), so the live state is always what the log
//! says. A key's updates are counted so that every
//! `share.coordinator.snapshot.update.records.per.snapshot` updates a full
//! snapshot is written instead and compaction can drop what came before.

use super::combiner::combine;
use super::records::{ShareRecord, SnapshotValue, UpdateValue};
use crate::share::{PersistedBatch, PersistedShareState, ShareKey};
use gregor_protocol::error_codes::{
    FENCED_LEADER_EPOCH, FENCED_STATE_EPOCH, INVALID_REQUEST, UNKNOWN_TOPIC_OR_PARTITION,
};
use std::collections::HashMap;
use uuid::Uuid;

/// Kafka's default `share.coordinator.snapshot.update.records.per.snapshot`.
pub const DEFAULT_UPDATES_PER_SNAPSHOT: i32 = 500;

/// A refused operation: Kafka's error code and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShareStateError {
    pub code: i16,
    pub message: Option<&'static str>,
}

impl ShareStateError {
    fn new(code: i16, message: &'static str) -> ShareStateError {
        ShareStateError {
            code,
            message: Some(message),
        }
    }

    fn code(code: i16) -> ShareStateError {
        ShareStateError {
            code,
            message: None,
        }
    }
}

const NEGATIVE_PARTITION_ID: &str = "The partition id cannot be a negative number.";
const NEGATIVE_LEADER_EPOCH: &str = "The leader epoch cannot be a negative number.";
const NEGATIVE_STATE_EPOCH: &str = "The state epoch cannot be a negative number.";
const WRITE_UNINITIALIZED: &str = "Write operation on uninitialized share partition not allowed.";
/// The message of a read of a key never initialized (Kafka's).
pub const READ_UNINITIALIZED: &str = "Read operation on uninitialized share partition not allowed.";

/// The partition count of a topic id in the current metadata (`None`: no
/// such topic). Kafka's shard refuses keys of topics or partitions that do
/// not exist with UNKNOWN_TOPIC_OR_PARTITION.
pub trait TopicLookup {
    fn partition_count(&self, topic_id: &Uuid) -> Option<i32>;
}

impl<F: Fn(&Uuid) -> Option<i32>> TopicLookup for F {
    fn partition_count(&self, topic_id: &Uuid) -> Option<i32> {
        self(topic_id)
    }
}

/// A WriteShareGroupState partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteRequest {
    pub state_epoch: i32,
    pub leader_epoch: i32,
    pub start_offset: i64,
    pub delivery_complete_count: i32,
    pub batches: Vec<PersistedBatch>,
}

/// What ReadShareGroupState answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadAnswer {
    pub state_epoch: i32,
    pub start_offset: i64,
    pub batches: Vec<PersistedBatch>,
}

/// What ReadShareGroupStateSummary answers; an uninitialized key answers
/// start offset -1, delivery complete count -1, epochs 0 (as Kafka).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SummaryAnswer {
    pub initialized: bool,
    pub state_epoch: i32,
    pub leader_epoch: i32,
    pub start_offset: i64,
    pub delivery_complete_count: i32,
}

pub type Outcome<T> = Result<(T, Vec<ShareRecord>), ShareStateError>;

#[derive(Debug, PartialEq)]
pub struct ShareCoordinatorShard {
    updates_per_snapshot: i32,
    states: HashMap<ShareKey, SnapshotValue>,
    /// Highest leader epoch seen per key (fences older leaders).
    leader_epochs: HashMap<ShareKey, i32>,
    /// Highest state epoch seen per key (fences writes of an older state).
    state_epochs: HashMap<ShareKey, i32>,
    /// ShareUpdate records since the last snapshot, as Kafka counts them.
    update_counts: HashMap<ShareKey, i32>,
}

impl ShareCoordinatorShard {
    pub fn new(updates_per_snapshot: i32) -> ShareCoordinatorShard {
        ShareCoordinatorShard {
            updates_per_snapshot,
            states: HashMap::new(),
            leader_epochs: HashMap::new(),
            state_epochs: HashMap::new(),
            update_counts: HashMap::new(),
        }
    }

    /// The persisted state of `key`, `None` if not initialized.
    pub fn state(&self, key: &ShareKey) -> Option<PersistedShareState> {
        self.states.get(key).map(|s| PersistedShareState {
            state_epoch: s.state_epoch,
            leader_epoch: s.leader_epoch,
            start_offset: s.start_offset,
            delivery_complete_count: s.delivery_complete_count,
            batches: s.batches.clone(),
        })
    }

    /// Every initialized key, for tests and diagnostics.
    pub fn keys(&self) -> impl Iterator<Item = &ShareKey> {
        self.states.keys()
    }

    /// InitializeShareGroupState: a fresh snapshot at `start_offset` with
    /// no batches, leader epoch 0; refused for an older state epoch.
    pub fn initialize(
        &self,
        key: &ShareKey,
        state_epoch: i32,
        start_offset: i64,
        topics: &dyn TopicLookup,
        now_ms: i64,
    ) -> Outcome<()> {
        if key.partition < 0 {
            return Err(ShareStateError::new(INVALID_REQUEST, NEGATIVE_PARTITION_ID));
        }
        if state_epoch < 0 {
            return Err(ShareStateError::new(INVALID_REQUEST, NEGATIVE_STATE_EPOCH));
        }
        if self.state_epochs.get(key).is_some_and(|&e| e > state_epoch) {
            return Err(ShareStateError::code(FENCED_STATE_EPOCH));
        }
        check_topic(key, topics)?;
        let snapshot_epoch = self.states.get(key).map_or(0, |s| s.snapshot_epoch + 1);
        let value = SnapshotValue {
            snapshot_epoch,
            state_epoch,
            leader_epoch: 0,
            start_offset,
            delivery_complete_count: if start_offset == -1 { -1 } else { 0 },
            create_timestamp: now_ms,
            write_timestamp: now_ms,
            batches: Vec::new(),
        };
        Ok((
            (),
            vec![ShareRecord::Snapshot {
                key: key.clone(),
                value: Some(value),
            }],
        ))
    }

    /// WriteShareGroupState: the written batches over the stored ones, the
    /// start offset only moving forward.
    pub fn write(
        &self,
        key: &ShareKey,
        request: &WriteRequest,
        topics: &dyn TopicLookup,
        now_ms: i64,
    ) -> Outcome<()> {
        if key.partition < 0 {
            return Err(ShareStateError::new(INVALID_REQUEST, NEGATIVE_PARTITION_ID));
        }
        if request.leader_epoch < 0 {
            return Err(ShareStateError::new(INVALID_REQUEST, NEGATIVE_LEADER_EPOCH));
        }
        if request.state_epoch < 0 {
            return Err(ShareStateError::new(INVALID_REQUEST, NEGATIVE_STATE_EPOCH));
        }
        let Some(current) = self.states.get(key) else {
            return Err(ShareStateError::new(INVALID_REQUEST, WRITE_UNINITIALIZED));
        };
        if self
            .leader_epochs
            .get(key)
            .is_some_and(|&e| e > request.leader_epoch)
        {
            return Err(ShareStateError::code(FENCED_LEADER_EPOCH));
        }
        if self
            .state_epochs
            .get(key)
            .is_some_and(|&e| e > request.state_epoch)
        {
            return Err(ShareStateError::code(FENCED_STATE_EPOCH));
        }
        check_topic(key, topics)?;
        // A write keeps the stored leader epoch: only a read by a newer
        // leader moves it (Kafka's writeState passes updateLeaderEpoch=false).
        let record = self.state_record(key, current, request, false, now_ms);
        Ok(((), vec![record]))
    }

    /// ReadShareGroupState: the state, and — when a leader of another epoch
    /// reads — a record moving the stored leader epoch to it, so older
    /// leaders are fenced from then on.
    pub fn read(
        &self,
        key: &ShareKey,
        leader_epoch: i32,
        topics: &dyn TopicLookup,
        now_ms: i64,
    ) -> Outcome<ReadAnswer> {
        if key.partition < 0 {
            return Err(ShareStateError::new(INVALID_REQUEST, NEGATIVE_PARTITION_ID));
        }
        if leader_epoch < 0 {
            return Err(ShareStateError::new(INVALID_REQUEST, NEGATIVE_LEADER_EPOCH));
        }
        let Some(current) = self.states.get(key) else {
            return Err(ShareStateError::new(INVALID_REQUEST, READ_UNINITIALIZED));
        };
        if self
            .leader_epochs
            .get(key)
            .is_some_and(|&e| e > leader_epoch)
        {
            return Err(ShareStateError::code(FENCED_LEADER_EPOCH));
        }
        check_topic(key, topics)?;
        let answer = ReadAnswer {
            state_epoch: current.state_epoch,
            start_offset: current.start_offset,
            batches: current.batches.clone(),
        };
        if self.leader_epochs.get(key) == Some(&leader_epoch) {
            return Ok((answer, Vec::new()));
        }
        let bump = WriteRequest {
            state_epoch: current.state_epoch,
            leader_epoch,
            start_offset: current.start_offset,
            delivery_complete_count: current.delivery_complete_count,
            batches: Vec::new(),
        };
        let record = self.state_record(key, current, &bump, true, now_ms);
        Ok((answer, vec![record]))
    }

    /// ReadShareGroupStateSummary: no leader epoch check, no records.
    pub fn read_summary(
        &self,
        key: &ShareKey,
        topics: &dyn TopicLookup,
    ) -> Result<SummaryAnswer, ShareStateError> {
        if key.partition < 0 {
            return Err(ShareStateError::new(INVALID_REQUEST, NEGATIVE_PARTITION_ID));
        }
        check_topic(key, topics)?;
        Ok(match self.states.get(key) {
            None => SummaryAnswer {
                initialized: false,
                state_epoch: 0,
                leader_epoch: 0,
                start_offset: -1,
                delivery_complete_count: -1,
            },
            Some(s) => SummaryAnswer {
                initialized: true,
                state_epoch: s.state_epoch,
                leader_epoch: s.leader_epoch,
                start_offset: s.start_offset,
                delivery_complete_count: s.delivery_complete_count,
            },
        })
    }

    /// DeleteShareGroupState: a tombstone, nothing for an unknown key.
    pub fn delete(&self, key: &ShareKey, topics: &dyn TopicLookup) -> Outcome<()> {
        if key.partition < 0 {
            return Err(ShareStateError::new(INVALID_REQUEST, NEGATIVE_PARTITION_ID));
        }
        check_topic(key, topics)?;
        if !self.states.contains_key(key) {
            return Ok(((), Vec::new()));
        }
        Ok((
            (),
            vec![ShareRecord::Snapshot {
                key: key.clone(),
                value: None,
            }],
        ))
    }

    /// Kafka's `generateShareStateRecord`: a ShareUpdate with just the
    /// written batches, or — once enough updates piled up — a ShareSnapshot
    /// with everything merged.
    fn state_record(
        &self,
        key: &ShareKey,
        current: &SnapshotValue,
        request: &WriteRequest,
        update_leader_epoch: bool,
        now_ms: i64,
    ) -> ShareRecord {
        let leader_epoch = if update_leader_epoch {
            request.leader_epoch
        } else {
            current.leader_epoch
        };
        let start_offset = request.start_offset.max(current.start_offset);
        // The count is of offsets at or after the start offset: it only
        // carries over while the start offset stays where it is.
        let delivery_complete_count = if request.start_offset == current.start_offset {
            request
                .delivery_complete_count
                .max(current.delivery_complete_count)
        } else if request.start_offset < current.start_offset {
            current.delivery_complete_count
        } else {
            request.delivery_complete_count
        };
        let updates = self.update_counts.get(key).copied().unwrap_or(0);
        if updates >= self.updates_per_snapshot {
            ShareRecord::Snapshot {
                key: key.clone(),
                value: Some(SnapshotValue {
                    snapshot_epoch: current.snapshot_epoch + 1,
                    state_epoch: current.state_epoch,
                    leader_epoch,
                    start_offset,
                    delivery_complete_count,
                    create_timestamp: now_ms,
                    write_timestamp: now_ms,
                    batches: combine(&current.batches, &request.batches, start_offset),
                }),
            }
        } else {
            ShareRecord::Update {
                key: key.clone(),
                value: UpdateValue {
                    snapshot_epoch: current.snapshot_epoch,
                    leader_epoch,
                    start_offset,
                    delivery_complete_count,
                    batches: combine(&[], &request.batches, start_offset),
                },
            }
        }
    }

    /// Applies a committed record (Kafka's `replay`).
    pub fn replay(&mut self, record: &ShareRecord) {
        match record {
            ShareRecord::Snapshot { key, value: None } => {
                self.states.remove(key);
                self.leader_epochs.remove(key);
                self.state_epochs.remove(key);
                self.update_counts.remove(key);
            }
            ShareRecord::Snapshot {
                key,
                value: Some(value),
            } => {
                raise(&mut self.leader_epochs, key, value.leader_epoch);
                raise(&mut self.state_epochs, key, value.state_epoch);
                self.states.insert(key.clone(), value.clone());
                if let Some(count) = self.update_counts.get_mut(key) {
                    if *count >= self.updates_per_snapshot {
                        *count = 0;
                    }
                }
            }
            ShareRecord::Update { key, value } => {
                raise(&mut self.leader_epochs, key, value.leader_epoch);
                let merged = match self.states.get(key) {
                    // An update without a snapshot before it (its snapshot
                    // was compacted away under a later tombstone, or the
                    // log is damaged) stands alone, as in Kafka.
                    None => SnapshotValue {
                        snapshot_epoch: value.snapshot_epoch,
                        state_epoch: 0,
                        leader_epoch: value.leader_epoch,
                        start_offset: value.start_offset,
                        delivery_complete_count: value.delivery_complete_count,
                        create_timestamp: 0,
                        write_timestamp: 0,
                        batches: value.batches.clone(),
                    },
                    Some(current) => {
                        let start_offset = if value.start_offset == -1 {
                            current.start_offset
                        } else {
                            value.start_offset
                        };
                        SnapshotValue {
                            snapshot_epoch: current.snapshot_epoch,
                            state_epoch: current.state_epoch,
                            leader_epoch: if value.leader_epoch == -1 {
                                current.leader_epoch
                            } else {
                                value.leader_epoch
                            },
                            start_offset,
                            delivery_complete_count: value.delivery_complete_count,
                            create_timestamp: current.create_timestamp,
                            write_timestamp: current.write_timestamp,
                            batches: combine(&current.batches, &value.batches, start_offset),
                        }
                    }
                };
                self.states.insert(key.clone(), merged);
                self.update_counts
                    .entry(key.clone())
                    .and_modify(|c| *c += 1)
                    .or_insert(0);
            }
        }
    }
}

/// Kafka keeps the highest epoch seen for a key.
fn raise(map: &mut HashMap<ShareKey, i32>, key: &ShareKey, epoch: i32) {
    let entry = map.entry(key.clone()).or_insert(epoch);
    if *entry < epoch {
        *entry = epoch;
    }
}

fn check_topic(key: &ShareKey, topics: &dyn TopicLookup) -> Result<(), ShareStateError> {
    match topics.partition_count(&key.topic_id) {
        Some(count) if count > key.partition => Ok(()),
        _ => Err(ShareStateError::code(UNKNOWN_TOPIC_OR_PARTITION)),
    }
}
