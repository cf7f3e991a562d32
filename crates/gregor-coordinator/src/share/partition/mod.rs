//! One share-partition's delivery state (KIP-932; Kafka's `SharePartition`),
//! as a pure state machine: offsets are acquired by members for a limited
//! time, acknowledged, released or archived. The broker edge reads the log,
//! drives the clock (`now_ms` in, `next_deadline`/`tick` out) and writes the
//! changes (`take_changes`) through the persister.
//!
//! The window of in-flight offsets is `[start_offset, end_offset)` and every
//! offset in it has an entry: unlike Kafka, which keeps whole fetched batches
//! and splits them per offset on demand, the window is held per offset. It
//! is bounded by `max_in_flight` (`share.partition.max.record.locks`), so
//! this stays small and keeps the rules in one place.

mod persist;
mod record;

#[cfg(test)]
mod sim_tests;
#[cfg(test)]
mod tests;

pub use record::{AckType, InFlight, RecordState};

use gregor_protocol::error_codes;
use std::collections::{BTreeMap, BTreeSet};

/// The per-group settings a share-partition applies (the `share.*` GROUP
/// configs, or the broker's `group.share.*` defaults).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionSettings {
    pub record_lock_duration_ms: i64,
    /// Deliveries after which a released or timed-out record is archived.
    pub delivery_count_limit: i16,
    /// The most offsets in flight (`end_offset - start_offset`).
    pub max_in_flight: i64,
}

/// Offsets acquired by one `acquire`, with the delivery count they carry
/// (Kafka's `AcquiredRecords`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcquiredRange {
    pub first_offset: i64,
    pub last_offset: i64,
    pub delivery_count: i16,
}

/// One acknowledgement batch as the client sends it: either one type for
/// the whole range or one per offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AckBatch {
    pub first_offset: i64,
    pub last_offset: i64,
    pub types: Vec<i8>,
}

/// A Kafka error code.
pub type ErrorCode = i16;

/// How a fetch bounds what it acquires (ShareFetch v2 `ShareAcquireMode`,
/// KIP-1206).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AcquireMode {
    /// Whole log batches: once `MaxRecords` are taken, the rest of the log
    /// batch holding the last one is acquired too (Kafka's default, and
    /// ShareFetch v1's only behaviour), so the client gets no record it
    /// does not hold.
    BatchOptimized,
    /// `MaxRecords` is a hard limit: a log batch may be split.
    RecordLimit,
}

impl AcquireMode {
    /// The wire code (0 batch-optimized, 1 record-limit); `None` for any
    /// other (Kafka's `ShareAcquireMode.forId` throws on it).
    pub fn from_code(code: i8) -> Option<AcquireMode> {
        match code {
            0 => Some(AcquireMode::BatchOptimized),
            1 => Some(AcquireMode::RecordLimit),
            _ => None,
        }
    }
}

/// Which acknowledge types a request may carry, and whether renewing is
/// allowed at all (KafkaApis `validateAcknowledgementBatches`, SharePartition).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AckRules {
    /// ShareFetch/ShareAcknowledge v2+: type 4 (RENEW) exists. Below v2 a
    /// 4 is an unknown type (INVALID_REQUEST).
    pub renew_in_version: bool,
    /// The request's `IsRenewAck`: RENEW is INVALID_REQUEST without it.
    pub renew_flagged: bool,
    /// The group's `share.renew.acknowledge.enable`: renewing a lock while
    /// it is false is INVALID_RECORD_STATE.
    pub renew_enabled: bool,
}

impl AckRules {
    /// ShareFetch/ShareAcknowledge v1: types 0-3.
    pub const V1: AckRules = AckRules {
        renew_in_version: false,
        renew_flagged: false,
        renew_enabled: false,
    };
}

#[derive(Clone, Debug)]
pub struct SharePartition {
    settings: PartitionSettings,
    start_offset: i64,
    /// One past the highest offset ever acquired (Kafka's end offset + 1).
    end_offset: i64,
    records: BTreeMap<i64, InFlight>,
    /// Offsets whose persisted state changed since `take_changes`.
    changed: BTreeSet<i64>,
    start_moved: bool,
    state_epoch: i32,
    leader_epoch: i32,
}

impl SharePartition {
    /// A share-partition with nothing in flight, starting at `start_offset`.
    pub fn new(
        settings: PartitionSettings,
        start_offset: i64,
        state_epoch: i32,
        leader_epoch: i32,
    ) -> SharePartition {
        SharePartition {
            settings,
            start_offset,
            end_offset: start_offset,
            records: BTreeMap::new(),
            changed: BTreeSet::new(),
            start_moved: false,
            state_epoch,
            leader_epoch,
        }
    }

    pub fn settings(&self) -> &PartitionSettings {
        &self.settings
    }

    /// New per-group settings apply to later acquisitions and releases.
    pub fn set_settings(&mut self, settings: PartitionSettings) {
        self.settings = settings;
    }

    /// The share-partition start offset (SPSO): everything below it is done.
    pub fn start_offset(&self) -> i64 {
        self.start_offset
    }

    /// One past the last offset ever acquired.
    pub fn end_offset(&self) -> i64 {
        self.end_offset
    }

    pub fn state_epoch(&self) -> i32 {
        self.state_epoch
    }

    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch
    }

    pub fn record(&self, offset: i64) -> Option<&InFlight> {
        self.records.get(&offset)
    }

    /// Offsets currently acquired by any member.
    pub fn acquired_count(&self) -> usize {
        self.records
            .values()
            .filter(|r| r.state == RecordState::Acquired)
            .count()
    }

    /// Where the next log read should begin: the first available offset in
    /// flight, or the end of the window.
    pub fn next_fetch_offset(&self) -> i64 {
        self.records
            .iter()
            .find(|(_, r)| r.state == RecordState::Available)
            .map(|(o, _)| *o)
            .unwrap_or(self.end_offset)
    }

    /// Whether an acquisition could hand anything out (something available
    /// in flight, or room in the window for new offsets).
    pub fn can_acquire(&self) -> bool {
        self.end_offset - self.start_offset < self.settings.max_in_flight
            || self
                .records
                .values()
                .any(|r| r.state == RecordState::Available)
    }

    /// Acquires for `member` the offsets in `[first, last]` (what a log
    /// read returned) that are available or new, at most `max_records`
    /// of them and without growing the window past `max_in_flight`. Offsets
    /// between the window's end and `first` are not in the log (compacted
    /// or deleted) and are archived.
    pub fn acquire(
        &mut self,
        member: &str,
        first: i64,
        last: i64,
        max_records: usize,
        now_ms: i64,
    ) -> Vec<AcquiredRange> {
        self.acquire_in_mode(
            member,
            first,
            last,
            max_records,
            AcquireMode::RecordLimit,
            &[],
            now_ms,
        )
    }

    /// `acquire` in either acquire mode. `batch_lasts` are the last offsets
    /// of the log batches read (ascending): in batch-optimized mode, once
    /// `max_records` are taken, acquisition goes on to the end of the batch
    /// holding the last offset taken (never past `last` nor the window).
    #[allow(clippy::too_many_arguments)]
    pub fn acquire_in_mode(
        &mut self,
        member: &str,
        first: i64,
        last: i64,
        max_records: usize,
        mode: AcquireMode,
        batch_lasts: &[i64],
        now_ms: i64,
    ) -> Vec<AcquiredRange> {
        let mut ranges: Vec<AcquiredRange> = Vec::new();
        if first > self.end_offset {
            if self.records.is_empty() {
                self.start_offset = first;
                self.start_moved = true;
            } else {
                for offset in self.end_offset..first {
                    self.records
                        .insert(offset, InFlight::settled(RecordState::Archived, 0));
                    self.changed.insert(offset);
                }
            }
            self.end_offset = first;
        }
        let deadline = now_ms.saturating_add(self.settings.record_lock_duration_ms);
        let mut taken = 0usize;
        // Batch-optimized: where acquisition may go on past `max_records`.
        let mut align_to: Option<i64> = None;
        let mut offset = first.max(self.start_offset);
        while offset <= last {
            if taken >= max_records && align_to.is_none_or(|end| offset > end) {
                break;
            }
            let grant = if offset < self.end_offset {
                match self.records.get_mut(&offset) {
                    Some(r) if r.state == RecordState::Available => {
                        r.state = RecordState::Acquired;
                        r.delivery_count = r.delivery_count.saturating_add(1);
                        r.owner = Some(member.to_string());
                        r.lock_deadline_ms = deadline;
                        Some(r.delivery_count)
                    }
                    _ => None,
                }
            } else if self.end_offset - self.start_offset < self.settings.max_in_flight {
                self.records.insert(
                    offset,
                    InFlight {
                        state: RecordState::Acquired,
                        delivery_count: 1,
                        owner: Some(member.to_string()),
                        lock_deadline_ms: deadline,
                    },
                );
                self.end_offset = offset + 1;
                Some(1)
            } else {
                break;
            };
            if let Some(count) = grant {
                taken += 1;
                if taken == max_records && mode == AcquireMode::BatchOptimized {
                    align_to = batch_lasts.iter().copied().find(|&end| end >= offset);
                }
                match ranges.last_mut() {
                    Some(r) if r.last_offset + 1 == offset && r.delivery_count == count => {
                        r.last_offset = offset
                    }
                    _ => ranges.push(AcquiredRange {
                        first_offset: offset,
                        last_offset: offset,
                        delivery_count: count,
                    }),
                }
            }
            offset += 1;
        }
        ranges
    }

    /// Applies `member`'s acknowledgements, all or nothing: any batch that
    /// is malformed or names offsets this member does not hold rejects the
    /// whole request with Kafka's error code (INVALID_REQUEST for a bad
    /// batch or offsets past the acquired ones, INVALID_RECORD_STATE for
    /// offsets not acquired by this member).
    pub fn acknowledge(&mut self, member: &str, batches: &[AckBatch]) -> Result<(), ErrorCode> {
        self.acknowledge_with(member, batches, AckRules::V1, 0)
    }

    /// `acknowledge` under `rules` (v2 adds RENEW): a renewed record stays
    /// acquired by `member` with a fresh lock from `now_ms`, its delivery
    /// count unchanged and nothing to persist (Kafka reschedules the lock
    /// timer only). Renewing needs the group to allow it
    /// (INVALID_RECORD_STATE otherwise, checked after ownership as Kafka does).
    pub fn acknowledge_with(
        &mut self,
        member: &str,
        batches: &[AckBatch],
        rules: AckRules,
        now_ms: i64,
    ) -> Result<(), ErrorCode> {
        let mut planned: Vec<(i64, AckType)> = Vec::new();
        let mut previous_last: Option<i64> = None;
        for batch in batches {
            let types = validate_batch(batch, previous_last, rules)?;
            previous_last = Some(batch.last_offset);
            // Offsets before the start are all acknowledged or archived
            // already: Kafka lets a repeated acknowledgement of them pass.
            if batch.last_offset < self.start_offset {
                continue;
            }
            if self.records.is_empty() {
                return Err(error_codes::INVALID_RECORD_STATE);
            }
            if batch.first_offset >= self.end_offset || batch.last_offset >= self.end_offset {
                return Err(error_codes::INVALID_REQUEST);
            }
            for offset in batch.first_offset.max(self.start_offset)..=batch.last_offset {
                let ack = if types.len() == 1 {
                    types[0]
                } else {
                    types[(offset - batch.first_offset) as usize]
                };
                match self.records.get(&offset) {
                    Some(r)
                        if r.state == RecordState::Acquired
                            && r.owner.as_deref() == Some(member) =>
                    {
                        if ack == AckType::Renew && !rules.renew_enabled {
                            return Err(error_codes::INVALID_RECORD_STATE);
                        }
                        planned.push((offset, ack))
                    }
                    _ => return Err(error_codes::INVALID_RECORD_STATE),
                }
            }
        }
        let renewed_deadline = now_ms.saturating_add(self.settings.record_lock_duration_ms);
        for (offset, ack) in planned {
            let next = match ack {
                AckType::Accept => RecordState::Acknowledged,
                AckType::Gap | AckType::Reject => RecordState::Archived,
                AckType::Release => self.released_state(offset),
                AckType::Renew => {
                    if let Some(r) = self.records.get_mut(&offset) {
                        r.lock_deadline_ms = renewed_deadline;
                    }
                    continue;
                }
            };
            self.settle(offset, next);
        }
        self.advance_start();
        Ok(())
    }

    /// Gives back every record `member` holds (its share session closed, it
    /// left the group, its connection dropped). Returns how many.
    pub fn release_member(&mut self, member: &str) -> usize {
        let held: Vec<i64> = self
            .records
            .iter()
            .filter(|(_, r)| r.state == RecordState::Acquired && r.owner.as_deref() == Some(member))
            .map(|(o, _)| *o)
            .collect();
        for &offset in &held {
            let next = self.released_state(offset);
            self.settle(offset, next);
        }
        self.advance_start();
        held.len()
    }

    /// The earliest acquisition lock deadline, if anything is acquired.
    pub fn next_deadline(&self) -> Option<i64> {
        self.records
            .values()
            .filter(|r| r.state == RecordState::Acquired)
            .map(|r| r.lock_deadline_ms)
            .min()
    }

    /// Releases every acquisition whose lock expired by `now_ms` (archived
    /// instead once it reached the delivery count limit). Returns how many.
    pub fn tick(&mut self, now_ms: i64) -> usize {
        let expired: Vec<i64> = self
            .records
            .iter()
            .filter(|(_, r)| r.state == RecordState::Acquired && r.lock_deadline_ms <= now_ms)
            .map(|(o, _)| *o)
            .collect();
        for &offset in &expired {
            let next = self.released_state(offset);
            self.settle(offset, next);
        }
        self.advance_start();
        expired.len()
    }

    /// The log start offset moved to `log_start` (retention, DeleteRecords):
    /// records below it are gone, so whatever was in flight there is
    /// archived and the start offset jumps.
    pub fn advance_log_start(&mut self, log_start: i64) {
        if log_start <= self.start_offset {
            return;
        }
        let gone: Vec<i64> = self.records.range(..log_start).map(|(o, _)| *o).collect();
        for offset in gone {
            self.records.remove(&offset);
            self.changed.remove(&offset);
        }
        self.start_offset = log_start;
        self.end_offset = self.end_offset.max(log_start);
        self.start_moved = true;
        self.advance_start();
    }

    /// Archives offsets in `[first, last]` that are available or not yet
    /// in flight without delivering them (aborted transactions under
    /// read_committed). Offsets past the window extend it.
    pub fn archive_undelivered(&mut self, first: i64, last: i64) {
        let mut offset = first.max(self.start_offset);
        while offset <= last {
            if offset >= self.end_offset {
                if self.end_offset - self.start_offset >= self.settings.max_in_flight {
                    break;
                }
                self.records
                    .insert(offset, InFlight::settled(RecordState::Archived, 0));
                self.end_offset = offset + 1;
                self.changed.insert(offset);
            } else if let Some(r) = self.records.get_mut(&offset) {
                if r.state == RecordState::Available {
                    *r = InFlight::settled(RecordState::Archived, r.delivery_count);
                    self.changed.insert(offset);
                }
            }
            offset += 1;
        }
        self.advance_start();
    }

    /// Records acknowledged or archived at or after the start offset.
    pub fn delivery_complete_count(&self) -> i32 {
        let done = self
            .records
            .values()
            .filter(|r| r.state.is_terminal())
            .count();
        i32::try_from(done).unwrap_or(i32::MAX)
    }

    fn released_state(&self, offset: i64) -> RecordState {
        match self.records.get(&offset) {
            Some(r) if r.delivery_count >= self.settings.delivery_count_limit => {
                RecordState::Archived
            }
            _ => RecordState::Available,
        }
    }

    fn settle(&mut self, offset: i64, state: RecordState) {
        if let Some(r) = self.records.get_mut(&offset) {
            *r = InFlight::settled(state, r.delivery_count);
            self.changed.insert(offset);
        }
    }

    /// Moves the start offset past the acknowledged/archived prefix.
    fn advance_start(&mut self) {
        while let Some(entry) = self.records.first_entry() {
            if !entry.get().state.is_terminal() {
                break;
            }
            let offset = *entry.key();
            entry.remove();
            self.changed.remove(&offset);
            self.start_offset = offset + 1;
            self.start_moved = true;
        }
        if self.records.is_empty() && self.start_offset < self.end_offset {
            self.start_offset = self.end_offset;
            self.start_moved = true;
        }
    }
}

/// Kafka's checks on one acknowledgement batch (KafkaApis
/// `validateAcknowledgementBatches`): ordered, non-overlapping, first <=
/// last, one type or one per offset, known types.
fn validate_batch(
    batch: &AckBatch,
    previous_last: Option<i64>,
    rules: AckRules,
) -> Result<Vec<AckType>, ErrorCode> {
    let bad = Err(error_codes::INVALID_REQUEST);
    if batch.first_offset > batch.last_offset || batch.first_offset < 0 {
        return bad;
    }
    if previous_last.is_some_and(|p| batch.first_offset <= p) {
        return bad;
    }
    let span = batch.last_offset - batch.first_offset + 1;
    if batch.types.len() != 1 && i64::try_from(batch.types.len()).ok() != Some(span) {
        return bad;
    }
    // The highest type the request's version knows, then RENEW only with
    // `IsRenewAck` (Kafka checks in this order).
    let max_code = if rules.renew_in_version { 4 } else { 3 };
    if batch.types.iter().any(|&c| c < 0 || c > max_code) {
        return bad;
    }
    if !rules.renew_flagged && batch.types.contains(&4) {
        return bad;
    }
    batch
        .types
        .iter()
        .map(|c| AckType::from_code(*c).ok_or(error_codes::INVALID_REQUEST))
        .collect()
}
