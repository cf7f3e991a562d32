//! Reading records for the message browser through the replica manager's
//! consumer read path with read_committed: only records below the last
//! stable offset (so below the high watermark), without control batches
//! and aborted transactions, as a read_committed consumer sees them.
//! Bounded: at most `max_scan` records are decoded per partition. The
//! same [`Scanner`] reads partitions led elsewhere from Fetch answers
//! (`super::remote_records`).

use crate::replica_manager::Partition;
use gregor_log::AbortedTxn;
use gregor_protocol::records::{decode_batches, Record};
use std::collections::HashSet;

/// How many bytes one read takes from the log.
const READ_BYTES: usize = 1024 * 1024;

/// One partition's part of a browse.
pub struct Scanned {
    /// Matching records, in offset order.
    pub records: Vec<Record>,
    /// Records decoded (matching or not).
    pub scanned: usize,
    /// Where a next page would start.
    pub next_offset: i64,
    /// The scan stopped at `max_scan` before reaching the end.
    pub truncated: bool,
}

/// Where to start reading, resolved against the partition's log.
#[derive(Debug, Clone, Copy)]
pub enum Start {
    Offset(i64),
    Timestamp(i64),
    Oldest,
    /// The last `n` committed records.
    Newest(i64),
}

/// (log start offset, last stable offset) of a partition: the committed
/// range the browser may show.
pub fn bounds(partition: &Partition) -> Result<(i64, i64), String> {
    let (start, _) = partition.offsets().map_err(|e| e.to_string())?;
    let last_stable = partition.last_stable_offset().map_err(|e| e.to_string())?;
    Ok((start, last_stable))
}

pub fn resolve(partition: &Partition, start: Start) -> Result<i64, String> {
    let (log_start, end) = bounds(partition)?;
    let by_time = match start {
        Start::Timestamp(ts) => partition
            .offset_for_timestamp(ts)
            .map_err(|e| e.to_string())?
            .map(|(offset, _)| offset),
        _ => None,
    };
    Ok(resolve_in(start, log_start, end, by_time))
}

/// `start` within the committed range `log_start..end`; `by_time` is the
/// first offset at or after a [`Start::Timestamp`] (`None`: none is).
pub fn resolve_in(start: Start, log_start: i64, end: i64, by_time: Option<i64>) -> i64 {
    match start {
        Start::Offset(o) => o.clamp(log_start, end),
        Start::Oldest => log_start,
        Start::Newest(n) => (end - n).max(log_start),
        Start::Timestamp(_) => by_time.map_or(end, |o| o.clamp(log_start, end)),
    }
}

/// One read of a partition, from its log here or a Fetch to its leader.
pub struct Chunk {
    /// Record batches as the log stores them.
    pub bytes: Vec<u8>,
    /// Aborted transactions overlapping the read.
    pub aborted: Vec<AbortedTxn>,
    pub last_stable_offset: i64,
}

/// Committed records from `from` on, kept when `keep` says so, until
/// `limit` are kept, `max_scan` are decoded or the last stable offset.
/// With `keep_last` the scan goes on to the end (or `max_scan`) and keeps
/// the last `limit` matches: the newest records that match.
pub fn scan(
    partition: &Partition,
    from: i64,
    limit: usize,
    max_scan: usize,
    keep_last: bool,
    keep: impl FnMut(&Record) -> bool,
) -> Result<Scanned, String> {
    let mut scanner = Scanner::new(from, limit, max_scan, keep_last, keep);
    while let Some(offset) = scanner.wants() {
        let read = partition
            .read_for_consumer(offset, READ_BYTES, true, true)
            .map_err(|e| e.to_string())?;
        scanner.feed(Chunk {
            bytes: read.read.records.to_vec().map_err(|e| e.to_string())?,
            aborted: read.aborted.unwrap_or_default(),
            last_stable_offset: read.last_stable_offset,
        })?;
    }
    Ok(scanner.finish())
}

/// A scan fed read by read (see [`scan`]), whichever way the reads come:
/// it filters out control batches and aborted transactions as a
/// read_committed consumer does.
pub struct Scanner<F> {
    out: Scanned,
    /// Producers whose current transaction was aborted, as a
    /// read_committed consumer tracks them.
    aborting: HashSet<i64>,
    aborted: Vec<AbortedTxn>,
    offset: i64,
    from: i64,
    limit: usize,
    max_scan: usize,
    keep_last: bool,
    keep: F,
    done: bool,
}

impl<F: FnMut(&Record) -> bool> Scanner<F> {
    pub fn new(from: i64, limit: usize, max_scan: usize, keep_last: bool, keep: F) -> Self {
        Scanner {
            out: Scanned {
                records: Vec::new(),
                scanned: 0,
                next_offset: from,
                truncated: false,
            },
            aborting: HashSet::new(),
            aborted: Vec::new(),
            offset: from,
            from,
            limit,
            max_scan,
            keep_last,
            keep,
            done: false,
        }
    }

    /// The offset to read next, or `None` when the scan is over.
    pub fn wants(&self) -> Option<i64> {
        (!self.done).then_some(self.offset)
    }

    pub fn feed(&mut self, chunk: Chunk) -> Result<(), String> {
        let last_stable = chunk.last_stable_offset;
        if self.offset >= last_stable || chunk.bytes.is_empty() {
            self.done = true;
            return Ok(());
        }
        self.aborted.extend(chunk.aborted);
        self.aborted.sort_by_key(|a| a.first_offset);
        self.aborted
            .dedup_by_key(|a| (a.producer_id, a.first_offset));
        let batches = decode_batches(&chunk.bytes).map_err(|e| e.to_string())?;
        if batches.is_empty() {
            self.done = true;
            return Ok(());
        }
        let before = self.offset;
        for batch in batches {
            let header = batch.header;
            let last = header.last_offset();
            if header.base_offset >= last_stable {
                break;
            }
            let aborting = &mut self.aborting;
            self.aborted.retain(|a| {
                if a.first_offset <= last {
                    aborting.insert(a.producer_id);
                    false
                } else {
                    true
                }
            });
            self.offset = self.offset.max(last + 1);
            if header.is_control() {
                // The marker ends the producer's transaction either way.
                self.aborting.remove(&header.producer_id);
                continue;
            }
            if header.is_transactional() && self.aborting.contains(&header.producer_id) {
                continue;
            }
            for record in batch.records {
                if record.offset < self.from || record.offset >= last_stable {
                    continue;
                }
                let out = &mut self.out;
                out.scanned += 1;
                out.next_offset = record.offset + 1;
                if (self.keep)(&record) {
                    out.records.push(record);
                    if out.records.len() >= self.limit {
                        if !self.keep_last {
                            self.done = true;
                            return Ok(());
                        }
                        // Amortised: drop the oldest half at a time.
                        if out.records.len() >= self.limit * 2 {
                            out.records.drain(..self.limit);
                        }
                    }
                }
                if out.scanned >= self.max_scan {
                    out.truncated = true;
                    self.done = true;
                    return Ok(());
                }
            }
        }
        // A read that moves nothing forward would be asked again forever.
        if self.offset == before {
            self.done = true;
        }
        self.out.next_offset = self.out.next_offset.max(self.offset.min(last_stable));
        Ok(())
    }

    pub fn finish(self) -> Scanned {
        if self.keep_last {
            self.out.keep_last(self.limit)
        } else {
            self.out
        }
    }
}

impl Scanned {
    /// The last `limit` records (after a `keep_last` scan).
    pub fn keep_last(mut self, limit: usize) -> Scanned {
        let excess = self.records.len().saturating_sub(limit);
        self.records.drain(..excess);
        self
    }
}
