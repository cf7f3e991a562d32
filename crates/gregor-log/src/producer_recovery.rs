//! Rebuilding producer state from disk: the newest usable snapshot, then
//! the headers of the batches after it (61 bytes each, record bodies are
//! never read). Used at open and after truncation.

use crate::producer_snapshot as snapshot;
use crate::producer_state::ProducerStateMap;
use crate::scan::{HeaderScanner, Step};
use crate::segment::Segment;
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
pub(crate) fn load(dir: &Path, segments: &[Segment]) -> Result<ProducerStateMap, LogError> {
    let first_base = segments.first().map_or(0, |s| s.base_offset);
    let log_end = segments.last().map_or(0, |s| s.next_offset);
    snapshot::delete_where(dir, |o| o > log_end || o < first_base)?;
    let mut from = first_base;
    let mut state = ProducerStateMap::new();
    for offset in snapshot::list(dir)?.into_iter().rev() {
        if let Some(loaded) = snapshot::read(dir, offset)? {
            state = loaded;
            from = offset;
            break;
        }
        snapshot::delete(dir, offset)?;
    }
    replay(&mut state, segments, from)?;
    Ok(state)
}

/// Records every batch whose last offset is at or after `from`.
fn replay(state: &mut ProducerStateMap, segments: &[Segment], from: i64) -> Result<(), LogError> {
    for segment in segments.iter().filter(|s| s.next_offset > from) {
        let start = segment.position_for(from);
        let mut scanner = HeaderScanner::new(&segment.log, start, segment.size);
        loop {
            match scanner.next_step()? {
                Step::Batch { header, .. } if header.last_offset() >= from => state.record(&header),
                Step::Batch { .. } => {}
                Step::End => break,
                Step::Invalid { position, reason } => {
                    // Only an older segment can get here (the active one was
                    // recovered); its readable batches still count.
                    tracing::warn!(segment = %segment.log_path.display(), position, reason, "producer state replay stops at an invalid batch");
                    break;
                }
            }
        }
    }
    Ok(())
}
