//! Property: whatever prefix of the active segment survives a crash, an
//! unclean reopen keeps exactly the whole batches in it, serves them intact
//! and appends after them.

// An integration test: unwrapping is how a failed step fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use gregor_log::LogConfig;
use proptest::prelude::*;
use std::fs::OpenOptions;

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn recovery_keeps_exactly_the_whole_batches(
        counts in prop::collection::vec(1usize..6, 1..40),
        segment_bytes in 300u64..2000,
        index_interval in 0u64..300,
        cut_permille in 0u64..=1000,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig { segment_bytes, index_interval_bytes: index_interval, ..LogConfig::default() };
        let mut log = open(dir.path(), config.clone(), false);
        for (i, n) in counts.iter().enumerate() {
            log.append(&batch(&format!("b{i}"), *n, i as i64), 0, 0).unwrap();
        }
        let last_base = *log.segment_base_offsets().last().unwrap();
        let headers = log.batch_headers().unwrap();
        drop(log);

        // Batches of the active segment with their end positions.
        let mut end = 0u64;
        let mut active = Vec::new();
        for h in headers.iter().filter(|h| h.base_offset >= last_base) {
            end += h.total_size() as u64;
            active.push((h.last_offset(), end));
        }
        let cut = end * cut_permille / 1000;
        let path = dir.path().join(format!("{last_base:020}.log"));
        OpenOptions::new().write(true).open(&path).unwrap().set_len(cut).unwrap();
        let expected_end = active.iter().filter(|(_, e)| *e <= cut).map(|(last, _)| last + 1).max().unwrap_or(last_base);

        let mut log = open(dir.path(), config, true);
        prop_assert_eq!(log.log_end_offset(), expected_end);
        let records = read_all(&log, 0);
        prop_assert_eq!(offsets(&records), (0..expected_end).collect::<Vec<_>>());
        prop_assert_eq!(log.append(&batch("after", 2, 0), 0, 0).unwrap().base_offset, expected_end);
        prop_assert_eq!(read_all(&log, 0).len() as i64, expected_end + 2);
    }
}
