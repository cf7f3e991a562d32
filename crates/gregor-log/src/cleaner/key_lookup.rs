//! Compacted topics as tables: the latest record of one key, found through
//! a key -> latest offset index instead of reading the partition.
//!
//! The index is the cleaner's [`KeyMap`] (128-bit key hashes, 24 bytes
//! counted per key), filled incrementally: each lookup first maps the
//! batches appended since the previous one, up to the caller's bound (the
//! last stable offset / high watermark, so only committed, replicated data
//! is visible). A clean never moves an offset and only removes records that
//! are not the latest of their key (or expired tombstones and aborted data,
//! which a lookup reports as absent), so the index survives cleans; a
//! truncation rebuilds it. When a partition has more keys than the index
//! may hold, the index is dropped and each lookup scans the partition
//! instead: bounded memory, slower lookups.

use super::filter::Aborted;
use super::key_map::KeyMap;
use crate::partition::PartitionLog;
use crate::LogError;
use gregor_protocol::records::{decode_batch, Record};

/// One partition's key index.
pub struct KeyIndex {
    map: KeyMap,
    /// Batches below this offset are mapped.
    indexed_to: i64,
    /// The log's truncation count when the map was started.
    truncations: u64,
    /// Too many keys: lookups scan.
    overflowed: bool,
    buffer_bytes: usize,
}

/// What a lookup found.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyLookup {
    /// The key's latest record, with a value.
    Found(Record),
    /// The key's latest record is a tombstone (value null).
    Deleted { offset: i64 },
    /// No record of the key below the bound.
    Absent,
}

impl KeyIndex {
    /// An empty index that may use `buffer_bytes` (at least one key).
    pub fn new(buffer_bytes: usize) -> KeyIndex {
        KeyIndex {
            map: KeyMap::with_buffer(buffer_bytes),
            indexed_to: -1,
            truncations: 0,
            overflowed: false,
            buffer_bytes,
        }
    }

    /// Bytes this index counts for (24 per key, as the cleaner counts).
    pub fn memory_bytes(&self) -> usize {
        self.map.len() * 24
    }

    pub fn keys(&self) -> usize {
        self.map.len()
    }

    /// Whether the partition outgrew the index (lookups scan).
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }

    fn reset(&mut self, from: i64, truncations: u64) {
        self.map = KeyMap::with_buffer(self.buffer_bytes);
        self.indexed_to = from;
        self.truncations = truncations;
        self.overflowed = false;
    }
}

impl PartitionLog {
    fn aborted_ranges(&self) -> Aborted {
        let mut aborted = Aborted::default();
        for s in &self.segments {
            for e in s.txn_index.entries() {
                aborted.add(e.producer_id, e.first_offset, e.last_offset);
            }
        }
        aborted
    }

    /// Calls `visit(record)` for every data record at offsets in
    /// `[from, bound)` of committed, non-control batches, in offset order.
    fn visit_records(
        &self,
        from: i64,
        bound: i64,
        mut visit: impl FnMut(Record) -> bool,
    ) -> Result<(), LogError> {
        let aborted = self.aborted_ranges();
        for (i, segment) in self.segments.iter().enumerate() {
            let next_base = self.segments.get(i + 1).map(|s| s.base_offset);
            if next_base.is_some_and(|n| n <= from) {
                continue;
            }
            if segment.base_offset >= bound {
                break;
            }
            // The offset index skips the batches before `from`.
            for (position, header) in segment.headers_from(segment.position_for(from))? {
                if header.last_offset() < from {
                    continue;
                }
                // Only whole batches below the bound (the bound is a batch
                // boundary: the LSO or the high watermark).
                if header.last_offset() >= bound {
                    return Ok(());
                }
                if header.is_control() || aborted.contains(&header) {
                    continue;
                }
                let bytes = segment.read_bytes(position, header.total_size())?;
                for record in decode_batch(&bytes)?.records {
                    if record.offset >= from && !visit(record) {
                        return Ok(());
                    }
                }
            }
        }
        Ok(())
    }

    /// Maps the batches in `[index.indexed_to, bound)` into the index.
    fn catch_up(&self, index: &mut KeyIndex, bound: i64) -> Result<(), LogError> {
        if index.truncations != self.truncations
            || index.indexed_to < 0
            || index.indexed_to > self.log_end_offset()
        {
            index.reset(self.log_start_offset, self.truncations);
        }
        if index.overflowed || index.indexed_to >= bound {
            return Ok(());
        }
        let mut overflowed = false;
        let mut last = index.indexed_to - 1;
        let map = &mut index.map;
        self.visit_records(index.indexed_to, bound, |record| {
            last = record.offset;
            if let Some(key) = &record.key {
                if map.get(key).is_none() && map.would_overflow(1) {
                    overflowed = true;
                    return false;
                }
                map.put(key, record.offset);
            }
            true
        })?;
        if overflowed {
            index.map = KeyMap::with_buffer(0);
            index.overflowed = true;
        } else {
            // Control batches and aborted data after `last` are skipped
            // again next time: harmless, they carry no keys.
            index.indexed_to = index.indexed_to.max(last + 1);
        }
        Ok(())
    }

    /// The latest committed record of `key` below `bound`, by the index
    /// (kept up to date first) or, when it overflowed, by a scan.
    pub fn lookup_key(
        &self,
        index: &mut KeyIndex,
        key: &[u8],
        bound: i64,
    ) -> Result<KeyLookup, LogError> {
        let bound = bound.min(self.log_end_offset());
        self.catch_up(index, bound)?;
        if !index.overflowed {
            match index.map.get(key) {
                None => return Ok(KeyLookup::Absent),
                Some(offset) => {
                    if let Some(found) = self.record_at(offset, key)? {
                        return Ok(found);
                    }
                    // Removed since (expired tombstone, DeleteRecords) or a
                    // hash collision: the scan below decides.
                }
            }
        }
        self.scan_for_key(key, bound)
    }

    /// The record at `offset` if it holds `key`.
    fn record_at(&self, offset: i64, key: &[u8]) -> Result<Option<KeyLookup>, LogError> {
        if offset < self.log_start_offset {
            return Ok(None);
        }
        let mut found = None;
        self.visit_records(offset, offset + 1, |record| {
            if record.offset == offset {
                found = Some(record);
                return false;
            }
            true
        })?;
        Ok(found
            .filter(|r| r.key.as_deref() == Some(key))
            .map(to_lookup))
    }

    fn scan_for_key(&self, key: &[u8], bound: i64) -> Result<KeyLookup, LogError> {
        let mut latest = None;
        self.visit_records(self.log_start_offset, bound, |record| {
            if record.key.as_deref() == Some(key) {
                latest = Some(record);
            }
            true
        })?;
        Ok(latest.map_or(KeyLookup::Absent, to_lookup))
    }
}

fn to_lookup(record: Record) -> KeyLookup {
    if record.value.is_none() {
        KeyLookup::Deleted {
            offset: record.offset,
        }
    } else {
        KeyLookup::Found(record)
    }
}
