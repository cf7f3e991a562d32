//! What a clean keeps of one batch (Kafka's `LogCleaner.cleanInto` and
//! `MemoryRecords.filterTo` rules), given the key map and the transactions.

use super::key_map::KeyMap;
use gregor_protocol::batch::{BatchError, BatchHeader};
use gregor_protocol::records::{decode_batch, delete_horizon, rebuild_batch, Record};
use std::collections::HashMap;

/// The aborted transactions of the log, by producer: `(first offset,
/// marker offset)` ranges read from the aborted-transaction indexes.
#[derive(Debug, Default)]
pub struct Aborted {
    by_producer: HashMap<i64, Vec<(i64, i64)>>,
}

impl Aborted {
    pub fn add(&mut self, producer_id: i64, first_offset: i64, marker_offset: i64) {
        self.by_producer
            .entry(producer_id)
            .or_default()
            .push((first_offset, marker_offset));
    }

    /// Whether a transactional data batch belongs to an aborted transaction.
    pub fn contains(&self, header: &BatchHeader) -> bool {
        header.is_transactional()
            && !header.is_control()
            && self
                .by_producer
                .get(&header.producer_id)
                .is_some_and(|ranges| {
                    ranges.iter().any(|(first, marker)| {
                        *first <= header.base_offset && header.base_offset < *marker
                    })
                })
    }
}

/// What happens to a batch.
#[derive(Debug)]
pub enum Outcome {
    /// Copied byte for byte.
    Unchanged,
    /// Replaced by these bytes (fewer records, an empty header, or a new
    /// delete horizon).
    Rewritten(Vec<u8>),
    Dropped,
}

/// Per-clean state across batches, in log order.
pub struct Filter<'a> {
    pub now_ms: i64,
    pub delete_retention_ms: i64,
    pub map: &'a KeyMap,
    pub aborted: &'a Aborted,
    /// Offset of each producer's last data batch (its retained sequence).
    pub producer_last_offsets: &'a HashMap<i64, i64>,
    /// Transactions seen since their first batch in this pass: whether
    /// data of theirs is still in the log (Kafka's
    /// `CleanedTransactionMetadata`).
    pub open_txn_has_data: HashMap<i64, bool>,
    /// Smallest delete horizon among kept batches with tombstones or markers.
    pub next_delete_horizon_ms: Option<i64>,
    pub records_read: u64,
    pub records_kept: u64,
}

impl Filter<'_> {
    fn horizon_passed(&self, header: &BatchHeader) -> bool {
        delete_horizon(header).is_some_and(|h| self.now_ms >= h)
    }

    fn note_horizon(&mut self, horizon: i64) {
        self.next_delete_horizon_ms = Some(
            self.next_delete_horizon_ms
                .map_or(horizon, |h| h.min(horizon)),
        );
    }

    fn is_producers_last(&self, header: &BatchHeader) -> bool {
        header.producer_id >= 0
            && self.producer_last_offsets.get(&header.producer_id) == Some(&header.last_offset())
    }

    /// Decides the fate of one whole batch.
    pub fn batch(&mut self, header: &BatchHeader, bytes: &[u8]) -> Result<Outcome, BatchError> {
        if header.is_control() {
            return self.marker(header, bytes);
        }
        if self.aborted.contains(header) {
            self.records_read += u64::from(header.records_count.max(0) as u32);
            self.open_txn_has_data.insert(header.producer_id, true);
            return self.empty_or_drop(header);
        }
        let decoded = decode_batch(bytes)?;
        self.records_read += decoded.records.len() as u64;
        let mut kept: Vec<Record> = Vec::with_capacity(decoded.records.len());
        let mut has_tombstone = false;
        for record in decoded.records {
            if self.keep_record(header, &record) {
                has_tombstone |= record.value.is_none();
                kept.push(record);
            }
        }
        self.records_kept += kept.len() as u64;
        if header.is_transactional() {
            *self
                .open_txn_has_data
                .entry(header.producer_id)
                .or_insert(false) |= !kept.is_empty();
        }
        if kept.is_empty() {
            return self.empty_or_drop(header);
        }
        let existing = delete_horizon(header);
        let horizon = match existing {
            Some(h) => Some(h),
            None if has_tombstone => Some(self.now_ms.saturating_add(self.delete_retention_ms)),
            None => None,
        };
        if let (true, Some(h)) = (has_tombstone, horizon) {
            self.note_horizon(h);
        }
        if kept.len() == header.records_count as usize && horizon == existing {
            return Ok(Outcome::Unchanged);
        }
        Ok(Outcome::Rewritten(
            rebuild_batch(header, &kept, horizon)?.to_vec(),
        ))
    }

    /// Kafka's `shouldRetainRecord`: a keyless record goes, an older value
    /// of a key goes, a tombstone goes once its batch's horizon passed.
    fn keep_record(&self, header: &BatchHeader, record: &Record) -> bool {
        let Some(key) = &record.key else {
            return false;
        };
        if self
            .map
            .get(key)
            .is_some_and(|latest| record.offset < latest)
        {
            return false;
        }
        record.value.is_some() || !self.horizon_passed(header)
    }

    /// A marker stays while its transaction has data in the log, then
    /// until `delete.retention.ms` after the clean that saw it alone.
    fn marker(&mut self, header: &BatchHeader, bytes: &[u8]) -> Result<Outcome, BatchError> {
        self.records_read += 1;
        let has_data = self
            .open_txn_has_data
            .remove(&header.producer_id)
            .unwrap_or(false);
        if has_data {
            self.records_kept += 1;
            return Ok(Outcome::Unchanged);
        }
        match delete_horizon(header) {
            Some(h) if self.now_ms >= h => self.empty_or_drop(header),
            Some(h) => {
                self.note_horizon(h);
                self.records_kept += 1;
                Ok(Outcome::Unchanged)
            }
            None => {
                let horizon = self.now_ms.saturating_add(self.delete_retention_ms);
                self.note_horizon(horizon);
                self.records_kept += 1;
                let decoded = decode_batch(bytes)?;
                Ok(Outcome::Rewritten(
                    rebuild_batch(header, &decoded.records, Some(horizon))?.to_vec(),
                ))
            }
        }
    }

    /// A batch with nothing left stays as an empty header when it is its
    /// producer's last, so the producer's sequence survives a restart.
    fn empty_or_drop(&self, header: &BatchHeader) -> Result<Outcome, BatchError> {
        if self.is_producers_last(header) {
            if header.records_count == 0 {
                return Ok(Outcome::Unchanged);
            }
            return Ok(Outcome::Rewritten(
                rebuild_batch(header, &[], None)?.to_vec(),
            ));
        }
        Ok(Outcome::Dropped)
    }
}
