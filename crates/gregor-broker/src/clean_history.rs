//! What the log cleaner did to each partition since the broker started:
//! the per-partition half of the compaction status (the other half, the
//! dirty ratio and next eligible time, is computed from the log on demand).

use gregor_log::cleaner::CleanStats;
use std::collections::HashMap;
use std::sync::Mutex;

/// One partition's cleans.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CleanRecord {
    pub cleans: u64,
    pub last_clean_ms: i64,
    /// Bytes on disk the last clean removed.
    pub last_bytes_reclaimed: u64,
    pub total_bytes_reclaimed: u64,
    /// The cleaner checkpoint the last clean wrote.
    pub last_end_offset: i64,
}

#[derive(Debug, Default)]
pub struct CleanHistory {
    by_partition: Mutex<HashMap<(String, i32), CleanRecord>>,
}

impl CleanHistory {
    /// Called by a cleaner thread at the end of a clean.
    pub fn record(&self, topic: &str, partition: i32, now_ms: i64, stats: &CleanStats) {
        let reclaimed = stats.size_before.saturating_sub(stats.size_after);
        let mut all = self.by_partition.lock().unwrap_or_else(|p| p.into_inner());
        let entry = all.entry((topic.to_string(), partition)).or_default();
        entry.cleans += 1;
        entry.last_clean_ms = now_ms;
        entry.last_bytes_reclaimed = reclaimed;
        entry.total_bytes_reclaimed += reclaimed;
        entry.last_end_offset = stats.end_offset;
    }

    pub fn get(&self, topic: &str, partition: i32) -> Option<CleanRecord> {
        let all = self.by_partition.lock().unwrap_or_else(|p| p.into_inner());
        all.get(&(topic.to_string(), partition)).copied()
    }

    /// A deleted partition's history goes with it.
    pub fn forget(&self, topic: &str, partition: i32) {
        let mut all = self.by_partition.lock().unwrap_or_else(|p| p.into_inner());
        all.remove(&(topic.to_string(), partition));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accumulates_reclaimed_bytes() {
        let h = CleanHistory::default();
        let stats = |before, after| CleanStats {
            size_before: before,
            size_after: after,
            end_offset: 7,
            ..CleanStats::default()
        };
        h.record("t", 0, 100, &stats(1000, 400));
        h.record("t", 0, 200, &stats(500, 450));
        let r = h.get("t", 0).unwrap();
        assert_eq!(
            (
                r.cleans,
                r.last_clean_ms,
                r.last_bytes_reclaimed,
                r.total_bytes_reclaimed
            ),
            (2, 200, 50, 650)
        );
        assert_eq!(h.get("t", 1), None);
        h.forget("t", 0);
        assert_eq!(h.get("t", 0), None);
    }
}
