//! Which old segments retention removes: a pure decision over segment
//! facts, so the rules can be tested without files.

/// What retention needs to know about one non-active segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SegmentFacts {
    pub size: u64,
    /// Largest record timestamp (or file mtime when none), ms.
    pub largest_timestamp: i64,
    /// Base offset of the segment after it: every offset of this segment is below it.
    pub next_base_offset: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Policy {
    pub now_ms: i64,
    /// `retention.ms`, negative: unlimited.
    pub retention_ms: i64,
    /// `retention.bytes`, negative: unlimited.
    pub retention_bytes: i64,
    pub log_start_offset: i64,
}

/// How many of the oldest `candidates` (every segment but the active one,
/// oldest first) to delete, given the log's `total_size`. A segment goes when
/// it is entirely older than `retention.ms`, or when the log would still be at
/// least `retention.bytes` without it, or when it lies wholly below the log
/// start offset (DeleteRecords). Deletion stops at the first segment kept, so
/// the log stays contiguous.
pub(crate) fn segments_to_delete(
    candidates: &[SegmentFacts],
    total_size: u64,
    policy: Policy,
) -> usize {
    let mut remaining = i128::from(total_size);
    let mut count = 0;
    for segment in candidates {
        let expired = policy.retention_ms >= 0
            && policy.now_ms.saturating_sub(segment.largest_timestamp) > policy.retention_ms;
        let over_size = policy.retention_bytes >= 0
            && remaining - i128::from(segment.size) >= i128::from(policy.retention_bytes);
        let below_start = segment.next_base_offset <= policy.log_start_offset;
        if !(expired || over_size || below_start) {
            break;
        }
        remaining -= i128::from(segment.size);
        count += 1;
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(size: u64, ts: i64, next: i64) -> SegmentFacts {
        SegmentFacts {
            size,
            largest_timestamp: ts,
            next_base_offset: next,
        }
    }

    fn policy(now_ms: i64, retention_ms: i64, retention_bytes: i64) -> Policy {
        Policy {
            now_ms,
            retention_ms,
            retention_bytes,
            log_start_offset: 0,
        }
    }

    #[test]
    fn time_retention_deletes_the_expired_prefix_only() {
        let segs = [seg(10, 100, 10), seg(10, 500, 20), seg(10, 150, 30)];
        // Third segment is old too, but the second one stops deletion.
        assert_eq!(segments_to_delete(&segs, 40, policy(1000, 800, -1)), 1);
        assert_eq!(segments_to_delete(&segs, 40, policy(1000, 100, -1)), 3);
        assert_eq!(segments_to_delete(&segs, 40, policy(1000, -1, -1)), 0);
    }

    #[test]
    fn size_retention_keeps_at_least_retention_bytes() {
        let segs = [seg(10, 0, 10), seg(10, 0, 20), seg(10, 0, 30)];
        // 40 bytes in all (10 in the active segment); keep >= 15.
        assert_eq!(segments_to_delete(&segs, 40, policy(0, -1, 15)), 2);
        assert_eq!(segments_to_delete(&segs, 40, policy(0, -1, 30)), 1);
        assert_eq!(segments_to_delete(&segs, 40, policy(0, -1, 0)), 3);
        assert_eq!(segments_to_delete(&segs, 40, policy(0, -1, 100)), 0);
    }

    #[test]
    fn segments_below_the_log_start_offset_go() {
        let segs = [seg(10, 0, 10), seg(10, 0, 20)];
        let p = Policy {
            now_ms: 0,
            retention_ms: -1,
            retention_bytes: -1,
            log_start_offset: 15,
        };
        assert_eq!(segments_to_delete(&segs, 30, p), 1);
    }
}
