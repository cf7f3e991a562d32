//! Rebuilding producer state from disk: the newest usable snapshot, then
//! the batches after it (their 61-byte headers; only transaction markers,
//! rare and small, are read whole). Used at open and after truncation.
//! After an unclean shutdown the same replay also rebuilds the active
//! segment's aborted-transaction index, which may have lost or kept writes
//! the log did not.

use crate::producer_snapshot as snapshot;
use crate::producer_state::ProducerStateMap;
use crate::scan::{HeaderScanner, Step};
use crate::segment::Segment;
use crate::txn_index::AbortedTxnEntry;
use crate::txn_marker::{is_marker_candidate, Markers};
use crate::LogError;
use std::path::Path;

/// The producer state of the log made of `segments`.
///
/// Snapshots past the log end describe batches that are gone (truncated or
/// torn off by recovery) and are deleted. So are snapshots below the first
/// segment: the batches between them and the first segment were deleted,
/// so replaying would leave stale sequences behind. Without a snapshot the
/// whole log is replayed; producers whose batches are all gone are then
/// unknown, which Kafka (KIP-360) accepts at any sequence.
///
/// With `rebuild_active_txn_index` the replay starts at or before the
/// active segment (newer snapshots are passed over, not deleted: they stay
/// true) and the active segment's aborted-transaction index is rewritten
/// from the markers it holds, as Kafka's segment recovery does.
pub(crate) fn load(
    dir: &Path,
    segments: &mut [Segment],
    rebuild_active_txn_index: bool,
) -> Result<ProducerStateMap, LogError> {
    let first_base = segments.first().map_or(0, |s| s.base_offset);
    let log_end = segments.last().map_or(0, |s| s.next_offset);
    let active_base = segments.last().map_or(0, |s| s.base_offset);
    snapshot::delete_where(dir, |o| o > log_end || o < first_base)?;
    let newest_usable = if rebuild_active_txn_index {
        active_base
    } else {
        log_end
    };
    let mut from = first_base;
    let mut state = ProducerStateMap::new();
    for offset in snapshot::list(dir)?.into_iter().rev() {
        if offset > newest_usable {
            continue;
        }
        if let Some(loaded) = snapshot::read(dir, offset)? {
            state = loaded;
            from = offset;
            break;
        }
        snapshot::delete(dir, offset)?;
    }
    let aborted = replay(&mut state, segments, from)?;
    if rebuild_active_txn_index {
        if let Some(active) = segments.last_mut() {
            active.txn_index.reset()?;
            for entry in aborted.iter().filter(|e| e.last_offset >= active_base) {
                active.txn_index.append(*entry)?;
            }
        }
    }
    Ok(state)
}

/// Records every batch whose last offset is at or after `from`; returns the
/// transactions the replayed markers aborted, in log order.
fn replay(
    state: &mut ProducerStateMap,
    segments: &[Segment],
    from: i64,
) -> Result<Vec<AbortedTxnEntry>, LogError> {
    let mut aborted = Vec::new();
    for segment in segments.iter().filter(|s| s.next_offset > from) {
        let start = segment.position_for(from);
        let file = segment.log.handle()?;
        let mut scanner = HeaderScanner::new(&file, start, segment.size);
        loop {
            match scanner.next_step()? {
                Step::Batch { header, .. } if header.last_offset() < from => {}
                Step::Batch { position, header } if is_marker_candidate(&header) => {
                    let batch = segment.read_bytes(position, header.total_size())?;
                    let headers = [header];
                    let Some(marker) = Markers::lenient(&batch, &headers).get(0) else {
                        continue;
                    };
                    let completed = state.record_marker(&header, marker);
                    aborted.extend(completed.and_then(|c| c.aborted_entry()));
                }
                Step::Batch { header, .. } => state.record(&header),
                Step::End => break,
                Step::Invalid { position, reason } => {
                    // Only an older segment can get here (the active one was
                    // recovered); its readable batches still count.
                    tracing::warn!(segment = %segment.log.path().display(), position, reason, "producer state replay stops at an invalid batch");
                    break;
                }
            }
        }
    }
    Ok(aborted)
}
