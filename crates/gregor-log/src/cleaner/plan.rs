//! Which log to clean and how far: pure decisions over segment facts, with
//! the time passed in, so the rules can be tested without files (Kafka's
//! `LogCleanerManager.grabFilthiestCompactedLog` and `cleanableOffsets`).

/// What planning needs to know about one segment that is not the active one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentFacts {
    pub base_offset: i64,
    /// Base offset of the segment after it.
    pub next_base_offset: i64,
    pub size: u64,
    /// Largest record timestamp, -1 when none.
    pub largest_timestamp: i64,
    /// Timestamp of its first batch, -1 when none (for `max.compaction.lag.ms`).
    pub first_timestamp: i64,
}

/// A compacted log's settings and bounds, at `now_ms`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogFacts {
    pub now_ms: i64,
    /// Where the last clean stopped (the cleaner checkpoint), or the log start.
    pub first_dirty_offset: i64,
    /// Never clean at or past this: `min(last stable offset, high watermark)`.
    pub upper_bound_offset: i64,
    pub min_compaction_lag_ms: i64,
    pub max_compaction_lag_ms: i64,
    pub min_cleanable_dirty_ratio: f64,
    /// Earliest delete horizon of a batch still holding tombstones or
    /// markers: once passed, a clean can remove them.
    pub next_delete_horizon_ms: Option<i64>,
}

/// How dirty a log is and what a clean now would cover.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dirtiness {
    /// Dirty section start (a segment base offset).
    pub first_dirty_offset: i64,
    /// The clean may map and rewrite records below this (a segment base).
    pub cleanable_end_offset: i64,
    /// Bytes of the segments below the dirty section.
    pub clean_bytes: u64,
    /// Bytes of the segments in `[first_dirty, cleanable_end)`.
    pub cleanable_bytes: u64,
    /// `cleanable / (clean + cleanable)`.
    pub ratio: f64,
    /// `max.compaction.lag.ms` passed for the oldest dirty record.
    pub forced: bool,
    /// A delete horizon passed: tombstones or markers can go.
    pub horizon_due: bool,
}

impl Dirtiness {
    /// Whether a clean is due now.
    pub fn needs_cleaning(&self, min_ratio: f64) -> bool {
        let has_dirty = self.cleanable_bytes > 0;
        (has_dirty && (self.ratio >= min_ratio || self.forced)) || self.horizon_due
    }
}

/// The dirty section and what of it may be cleaned. `segments` are every
/// segment but the active one, oldest first. Only whole segments are
/// cleaned: the cleanable end is the base of the first segment that reaches
/// the upper bound (last stable offset or high watermark) or holds records
/// younger than `min.compaction.lag.ms`; the active segment is never included.
pub fn assess(segments: &[SegmentFacts], facts: LogFacts) -> Dirtiness {
    let first_base = segments
        .first()
        .map_or(facts.first_dirty_offset, |s| s.base_offset);
    let first_dirty = facts.first_dirty_offset.max(first_base);
    let mut end = first_dirty;
    let mut clean_bytes = 0u64;
    let mut cleanable_bytes = 0u64;
    let mut forced = false;
    let mut first_dirty_seen = false;
    for segment in segments {
        if segment.next_base_offset <= first_dirty {
            clean_bytes += segment.size;
            continue;
        }
        if !first_dirty_seen {
            first_dirty_seen = true;
            // Kafka measures the compaction delay from the first dirty
            // segment's earliest timestamp.
            let ts = if segment.first_timestamp >= 0 {
                segment.first_timestamp
            } else {
                segment.largest_timestamp
            };
            forced = ts >= 0
                && facts.max_compaction_lag_ms < i64::MAX
                && facts.now_ms.saturating_sub(ts) > facts.max_compaction_lag_ms;
        }
        let past_bound = segment.next_base_offset > facts.upper_bound_offset;
        let too_young = facts.min_compaction_lag_ms > 0
            && segment.largest_timestamp >= 0
            && facts.now_ms.saturating_sub(segment.largest_timestamp) < facts.min_compaction_lag_ms;
        if past_bound || too_young {
            break;
        }
        cleanable_bytes += segment.size;
        end = segment.next_base_offset;
    }
    let total = clean_bytes + cleanable_bytes;
    let ratio = if total == 0 {
        0.0
    } else {
        cleanable_bytes as f64 / total as f64
    };
    Dirtiness {
        first_dirty_offset: first_dirty,
        cleanable_end_offset: end,
        clean_bytes,
        cleanable_bytes,
        ratio,
        forced: forced && cleanable_bytes > 0,
        horizon_due: facts
            .next_delete_horizon_ms
            .is_some_and(|h| h <= facts.now_ms)
            && !segments.is_empty(),
    }
}

/// A compacted log's state as `gregor topic describe` shows it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CompactionStatus {
    /// The cleaner checkpoint: every offset below it has been cleaned.
    pub cleaned_up_to_offset: i64,
    /// Bytes of the segments below the checkpoint.
    pub clean_bytes: u64,
    /// Bytes of the segments (not the active one) after it.
    pub dirty_bytes: u64,
    /// Of those, what a clean now could take (see [`assess`]).
    pub cleanable_bytes: u64,
    /// `dirty / (clean + dirty)`: how much of the log (but its active
    /// segment) has not been cleaned yet.
    pub dirty_ratio: f64,
    /// `cleanable / (clean + cleanable)`, the ratio a cleaner compares with
    /// `min.cleanable.dirty.ratio` (Kafka's `cleanableRatio`).
    pub cleanable_ratio: f64,
    /// A cleaner thread would take this log now.
    pub eligible: bool,
    /// When it becomes eligible if no record is added: now when it is,
    /// `None` when only more data can make it so.
    pub next_eligible_ms: Option<i64>,
}

/// The status of a log from the same facts a clean is planned from. The
/// next eligible time is the earliest of: the first dirty segment's first
/// record reaching `max.compaction.lag.ms`, enough dirty segments passing
/// `min.compaction.lag.ms` to reach the ratio, the next delete horizon.
pub fn status(segments: &[SegmentFacts], facts: LogFacts) -> CompactionStatus {
    let dirt = assess(segments, facts);
    let eligible = dirt.needs_cleaning(facts.min_cleanable_dirty_ratio);
    let dirty: Vec<&SegmentFacts> = segments
        .iter()
        .filter(|s| s.next_base_offset > dirt.first_dirty_offset)
        .collect();
    let dirty_bytes: u64 = dirty.iter().map(|s| s.size).sum();
    let next_eligible_ms = if eligible {
        Some(facts.now_ms)
    } else {
        // A segment counts once it is old enough for min.compaction.lag.ms.
        let ripe_at = |s: &SegmentFacts| {
            if facts.min_compaction_lag_ms > 0 && s.largest_timestamp >= 0 {
                s.largest_timestamp
                    .saturating_add(facts.min_compaction_lag_ms)
            } else {
                facts.now_ms
            }
        };
        let forced = dirty.first().and_then(|s| {
            let ts = if s.first_timestamp >= 0 {
                s.first_timestamp
            } else {
                s.largest_timestamp
            };
            (ts >= 0 && facts.max_compaction_lag_ms < i64::MAX).then(|| {
                ts.saturating_add(facts.max_compaction_lag_ms)
                    .saturating_add(1)
                    .max(ripe_at(s))
            })
        });
        // Segments past the LSO / high watermark wait for it: unknown when.
        let mut by_ratio = None;
        let mut cleanable = 0u64;
        let mut ripe = facts.now_ms;
        for s in dirty
            .iter()
            .take_while(|s| s.next_base_offset <= facts.upper_bound_offset)
        {
            cleanable += s.size;
            ripe = ripe.max(ripe_at(s));
            let total = dirt.clean_bytes + cleanable;
            if total > 0 && cleanable as f64 / total as f64 >= facts.min_cleanable_dirty_ratio {
                by_ratio = Some(ripe);
                break;
            }
        }
        let horizon = facts
            .next_delete_horizon_ms
            .filter(|_| !segments.is_empty());
        [forced, by_ratio, horizon]
            .into_iter()
            .flatten()
            .map(|t| t.max(facts.now_ms))
            .min()
    };
    CompactionStatus {
        cleaned_up_to_offset: dirt.first_dirty_offset,
        clean_bytes: dirt.clean_bytes,
        dirty_bytes,
        cleanable_bytes: dirt.cleanable_bytes,
        dirty_ratio: if dirt.clean_bytes + dirty_bytes == 0 {
            0.0
        } else {
            dirty_bytes as f64 / (dirt.clean_bytes + dirty_bytes) as f64
        },
        cleanable_ratio: dirt.ratio,
        eligible,
        next_eligible_ms,
    }
}

/// The log to clean among candidates `(id, dirtiness, min ratio)`: a log
/// forced by `max.compaction.lag.ms` first, then the highest dirty ratio
/// among those above their threshold, then one whose delete horizon passed.
pub fn choose<T: Copy>(candidates: &[(T, Dirtiness, f64)]) -> Option<T> {
    let eligible = candidates
        .iter()
        .filter(|(_, d, min)| d.needs_cleaning(*min));
    let mut best: Option<(T, (bool, bool, f64))> = None;
    for (id, d, min) in eligible {
        let has_dirty = d.cleanable_bytes > 0 && (d.ratio >= *min || d.forced);
        let rank = (d.forced, has_dirty, d.ratio);
        let better = match &best {
            None => true,
            Some((_, b)) => rank.partial_cmp(b).is_some_and(|o| o.is_gt()),
        };
        if better {
            best = Some((*id, rank));
        }
    }
    best.map(|(id, _)| id)
}

/// Splits segments (sizes and offset-index entry counts, oldest first) into
/// runs to merge into one cleaned segment each, as Kafka's
/// `groupSegmentsBySize`: a run stays within `max_bytes`, `max_index_entries`
/// and an offset span a segment can index (`i32::MAX`). Returns run lengths.
pub fn group_segments(
    segments: &[(i64, i64, u64, usize)],
    max_bytes: u64,
    max_index_entries: usize,
) -> Vec<usize> {
    let mut groups = Vec::new();
    let mut i = 0;
    while i < segments.len() {
        let (base, _, mut bytes, mut entries) = segments[i];
        let mut len = 1;
        while let Some(&(_, next_end, size, idx)) = segments.get(i + len) {
            let span_ok = next_end - 1 - base <= i64::from(i32::MAX);
            if bytes + size > max_bytes || entries + idx > max_index_entries || !span_ok {
                break;
            }
            bytes += size;
            entries += idx;
            len += 1;
        }
        groups.push(len);
        i += len;
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(base: i64, next: i64, size: u64, ts: i64) -> SegmentFacts {
        SegmentFacts {
            base_offset: base,
            next_base_offset: next,
            size,
            largest_timestamp: ts,
            first_timestamp: ts,
        }
    }

    fn facts(first_dirty: i64, upper: i64) -> LogFacts {
        LogFacts {
            now_ms: 10_000,
            first_dirty_offset: first_dirty,
            upper_bound_offset: upper,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
            min_cleanable_dirty_ratio: 0.5,
            next_delete_horizon_ms: None,
        }
    }

    fn segs() -> Vec<SegmentFacts> {
        vec![
            seg(0, 10, 100, 1000),
            seg(10, 20, 100, 2000),
            seg(20, 30, 100, 3000),
        ]
    }

    #[test]
    fn dirty_ratio_counts_clean_and_cleanable_bytes() {
        let d = assess(&segs(), facts(10, 1_000));
        assert_eq!(d.first_dirty_offset, 10);
        assert_eq!(d.cleanable_end_offset, 30);
        assert_eq!((d.clean_bytes, d.cleanable_bytes), (100, 200));
        assert!((d.ratio - 2.0 / 3.0).abs() < 1e-9);
        assert!(d.needs_cleaning(0.5));
        assert!(!d.needs_cleaning(0.7));
    }

    #[test]
    fn never_past_the_last_stable_offset_or_high_watermark() {
        // Upper bound inside the second segment: only the first is cleanable.
        let d = assess(&segs(), facts(0, 15));
        assert_eq!(d.cleanable_end_offset, 10);
        assert_eq!(d.cleanable_bytes, 100);
        let d = assess(&segs(), facts(0, 5));
        assert_eq!(d.cleanable_end_offset, 0);
        assert!(!d.needs_cleaning(0.0));
    }

    #[test]
    fn segments_younger_than_min_compaction_lag_are_kept() {
        let mut f = facts(0, 1_000);
        f.min_compaction_lag_ms = 8_500; // now 10_000: segments newer than 1_500 stay
        let d = assess(&segs(), f);
        assert_eq!(d.cleanable_end_offset, 10);
    }

    #[test]
    fn max_compaction_lag_forces_a_clean_below_the_ratio() {
        let mut f = facts(10, 1_000);
        f.max_compaction_lag_ms = 5_000; // first dirty segment's record is 8 s old
        let d = assess(&segs(), f);
        assert!(d.forced);
        assert!(d.needs_cleaning(0.99));
        f.max_compaction_lag_ms = 9_000;
        assert!(!assess(&segs(), f).forced);
    }

    #[test]
    fn a_passed_delete_horizon_makes_a_clean_log_eligible() {
        let mut f = facts(30, 1_000);
        f.next_delete_horizon_ms = Some(9_000);
        let d = assess(&segs(), f);
        assert_eq!(d.cleanable_bytes, 0);
        assert!(d.needs_cleaning(0.5));
        f.next_delete_horizon_ms = Some(11_000);
        assert!(!assess(&segs(), f).needs_cleaning(0.5));
    }

    #[test]
    fn the_dirtiest_log_is_chosen_and_forced_logs_come_first() {
        let d = |ratio: f64, forced: bool| Dirtiness {
            first_dirty_offset: 0,
            cleanable_end_offset: 10,
            clean_bytes: 0,
            cleanable_bytes: 10,
            ratio,
            forced,
            horizon_due: false,
        };
        let c = [
            (1, d(0.6, false), 0.5),
            (2, d(0.9, false), 0.5),
            (3, d(0.95, false), 0.99),
        ];
        assert_eq!(choose(&c), Some(2));
        let c = [(1, d(0.9, false), 0.5), (2, d(0.1, true), 0.5)];
        assert_eq!(choose(&c), Some(2));
        let c = [(1, d(0.1, false), 0.5)];
        assert_eq!(choose(&c), None);
    }

    #[test]
    fn small_segments_are_grouped_up_to_the_limits() {
        let s = [
            (0, 10, 40, 1),
            (10, 20, 40, 1),
            (20, 30, 40, 1),
            (30, 40, 100, 1),
        ];
        assert_eq!(group_segments(&s, 100, 100), vec![2, 1, 1]);
        assert_eq!(group_segments(&s, 1000, 2), vec![2, 2]);
        assert_eq!(group_segments(&s, 1000, 100), vec![4]);
    }

    #[test]
    fn status_of_an_eligible_log_is_now() {
        let st = status(&segs(), facts(10, 1_000));
        assert!(st.eligible);
        assert_eq!(st.next_eligible_ms, Some(10_000));
        assert_eq!(st.cleaned_up_to_offset, 10);
        assert_eq!(
            (st.clean_bytes, st.dirty_bytes, st.cleanable_bytes),
            (100, 200, 200)
        );
    }

    #[test]
    fn status_waits_for_min_compaction_lag_then_the_ratio() {
        let mut f = facts(10, 1_000);
        // Segment 2 (largest ts 2000) ripe at 12_000: 100 / 200 reaches 0.5.
        f.min_compaction_lag_ms = 10_000;
        let st = status(&segs(), f);
        assert!(!st.eligible);
        assert_eq!(st.cleanable_bytes, 0);
        assert_eq!(st.cleanable_ratio, 0.0);
        assert!((st.dirty_ratio - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(st.next_eligible_ms, Some(12_000));
        // Below the ratio for good: only more data, or max.compaction.lag.ms.
        f.min_cleanable_dirty_ratio = 0.9;
        assert_eq!(status(&segs(), f).next_eligible_ms, None);
        f.max_compaction_lag_ms = 20_000; // first dirty record at 2000
        assert_eq!(status(&segs(), f).next_eligible_ms, Some(22_001));
    }

    #[test]
    fn status_of_a_clean_log_waits_for_its_delete_horizon() {
        let mut f = facts(30, 1_000);
        assert_eq!(status(&segs(), f).next_eligible_ms, None);
        assert_eq!(status(&segs(), f).dirty_ratio, 0.0);
        f.next_delete_horizon_ms = Some(15_000);
        let st = status(&segs(), f);
        assert!(!st.eligible);
        assert_eq!(st.next_eligible_ms, Some(15_000));
    }
}
