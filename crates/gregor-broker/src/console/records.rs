//! Reading records for the message browser through the replica manager's
//! consumer read path with read_committed: only records below the last
//! stable offset (so below the high watermark), without control batches
//! and aborted transactions, as a read_committed consumer sees them.
//! Bounded: at most `max_scan` records are decoded per partition.

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
    Ok(match start {
        Start::Offset(o) => o.clamp(log_start, end),
        Start::Oldest => log_start,
        Start::Newest(n) => (end - n).max(log_start),
        Start::Timestamp(ts) => match partition
            .offset_for_timestamp(ts)
            .map_err(|e| e.to_string())?
        {
            Some((offset, _)) => offset.clamp(log_start, end),
            None => end,
        },
    })
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
    mut keep: impl FnMut(&Record) -> bool,
) -> Result<Scanned, String> {
    let mut out = Scanned {
        records: Vec::new(),
        scanned: 0,
        next_offset: from,
        truncated: false,
    };
    // Producers whose current transaction was aborted, as a
    // read_committed consumer tracks them.
    let mut aborting: HashSet<i64> = HashSet::new();
    let mut aborted: Vec<AbortedTxn> = Vec::new();
    let mut offset = from;
    loop {
        let read = partition
            .read_for_consumer(offset, READ_BYTES, true, true)
            .map_err(|e| e.to_string())?;
        if offset >= read.last_stable_offset || read.read.records.is_empty() {
            break;
        }
        let bytes = read.read.records.to_vec().map_err(|e| e.to_string())?;
        aborted.extend(read.aborted.unwrap_or_default());
        aborted.sort_by_key(|a| a.first_offset);
        aborted.dedup_by_key(|a| (a.producer_id, a.first_offset));
        let batches = decode_batches(&bytes).map_err(|e| e.to_string())?;
        if batches.is_empty() {
            break;
        }
        for batch in batches {
            let header = batch.header;
            let last = header.last_offset();
            if header.base_offset >= read.last_stable_offset {
                break;
            }
            aborted.retain(|a| {
                if a.first_offset <= last {
                    aborting.insert(a.producer_id);
                    false
                } else {
                    true
                }
            });
            offset = last + 1;
            if header.is_control() {
                // The marker ends the producer's transaction either way.
                aborting.remove(&header.producer_id);
                continue;
            }
            if header.is_transactional() && aborting.contains(&header.producer_id) {
                continue;
            }
            for record in batch.records {
                if record.offset < from || record.offset >= read.last_stable_offset {
                    continue;
                }
                out.scanned += 1;
                out.next_offset = record.offset + 1;
                if keep(&record) {
                    out.records.push(record);
                    if out.records.len() >= limit {
                        if !keep_last {
                            return Ok(out);
                        }
                        // Amortised: drop the oldest half at a time.
                        if out.records.len() >= limit * 2 {
                            out.records.drain(..limit);
                        }
                    }
                }
                if out.scanned >= max_scan {
                    out.truncated = true;
                    return Ok(if keep_last { out.keep_last(limit) } else { out });
                }
            }
        }
        out.next_offset = out.next_offset.max(offset.min(read.last_stable_offset));
    }
    Ok(if keep_last { out.keep_last(limit) } else { out })
}

impl Scanned {
    /// The last `limit` records (after a `keep_last` scan).
    pub fn keep_last(mut self, limit: usize) -> Scanned {
        let excess = self.records.len().saturating_sub(limit);
        self.records.drain(..excess);
        self
    }
}
