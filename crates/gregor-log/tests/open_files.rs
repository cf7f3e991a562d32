//! Logs under a budget of two open segment files (process-wide, so every
//! test of this binary sets the same one): many logs appended to in turn,
//! rolled, read, truncated, compacted, trimmed by retention, closed,
//! reopened and recovered give the same results as with every file open,
//! and no more than the budget stays open.

// An integration test: unwrapping is how a failed step fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bytes::Bytes;
use common::*;
use gregor_log::cleaner::CleanOptions;
use gregor_log::{open_segment_files, set_max_open_segment_files, LogConfig, PartitionLog};
use gregor_protocol::compression::Compression;
use gregor_protocol::records::BatchBuilder;
use std::path::Path;

const BUDGET: usize = 2;

fn tight_budget() {
    set_max_open_segment_files(BUDGET);
}

/// Tests of this binary run in parallel, each holding at most one handle
/// outside the budget while it reads, and a fetch slice each.
fn assert_within_budget() {
    let open = open_segment_files();
    assert!(open <= BUDGET + 8, "{open} segment files open");
}

fn open_logs(root: &Path, count: usize, config: &LogConfig, recover: bool) -> Vec<PartitionLog> {
    (0..count)
        .map(|p| open(&root.join(format!("t-{p}")), config.clone(), recover))
        .collect()
}

#[test]
fn many_logs_appended_in_turn_read_back_across_rolls_and_reopens() {
    tight_budget();
    let root = tempfile::tempdir().unwrap();
    let config = small_config();
    let mut logs = open_logs(root.path(), 12, &config, false);
    for round in 0..10 {
        for (p, log) in logs.iter_mut().enumerate() {
            let info = log
                .append(&batch(&format!("p{p}r{round}"), 3, 1_000), 0, 1_000)
                .unwrap();
            assert_eq!(info.base_offset, round * 3);
        }
        assert_within_budget();
    }
    let expected = |p: usize| -> Vec<String> {
        (0..10)
            .flat_map(|r| (0..3).map(move |i| format!("p{p}r{r}-{i}")))
            .collect()
    };
    for (p, log) in logs.iter().enumerate() {
        assert!(log.segment_count() >= 2, "{}", log.segment_count());
        assert_eq!(values(&read_all(log, 0)), expected(p));
        assert_within_budget();
    }
    // A zero-copy slice keeps reading after its file is closed.
    let slice = logs[0].read_slice(0, 1 << 20, i64::MAX, true).unwrap();
    for log in &logs[1..] {
        read_all(log, 0);
    }
    assert_eq!(
        slice.records.to_vec().unwrap(),
        logs[0]
            .read(0, 1 << 20, i64::MAX, true)
            .unwrap()
            .records
            .to_vec()
    );
    drop(slice);

    // Cut back, flushed and closed while most files are closed.
    for log in &mut logs {
        log.truncate_to(20).unwrap();
        assert_eq!(log.log_end_offset(), 18);
        log.flush().unwrap();
    }
    for log in logs {
        log.close().unwrap();
    }
    for recover in [false, true] {
        let logs = open_logs(root.path(), 12, &config, recover);
        for (p, log) in logs.iter().enumerate() {
            assert_eq!(values(&read_all(log, 0)), expected(p)[..18]);
        }
        assert_within_budget();
    }
}

#[test]
fn compaction_and_retention_work_on_closed_files() {
    tight_budget();
    let root = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_bytes: 400,
        index_interval_bytes: 64,
        delete: false,
        compact: true,
        min_cleanable_dirty_ratio: 0.01,
        ..LogConfig::default()
    };
    let mut logs = open_logs(root.path(), 6, &config, false);
    for round in 0..12 {
        for log in logs.iter_mut() {
            let mut builder = BatchBuilder::new(Compression::None);
            for key in 0..3 {
                builder.push(
                    1_000,
                    Some(Bytes::from(format!("key-{key}"))),
                    Some(Bytes::from(format!("v{round}"))),
                    vec![],
                );
            }
            log.append(&builder.build().unwrap(), 0, 1_000).unwrap();
        }
    }
    for log in logs.iter_mut() {
        let options = CleanOptions {
            now_ms: 2_000,
            upper_bound_offset: log.log_end_offset(),
            dedupe_buffer_bytes: 1 << 20,
        };
        let stats = log.clean(options).unwrap().expect("a clean ran");
        assert!(stats.bytes_read > 0);
        let records = read_all(log, log.log_start_offset());
        // Every key's latest value survives; older ones were dropped.
        let latest: Vec<_> = records.iter().filter(|r| r.offset >= 33).collect();
        assert_eq!(latest.len(), 3);
        assert!(records.len() < 36, "{}", records.len());
        assert_within_budget();
    }

    // Retention by size deletes whole old segments whose files are closed.
    let mut config = small_config();
    config.retention_bytes = 1500;
    let mut logs = open_logs(&root.path().join("retention"), 6, &config, false);
    for round in 0..40 {
        for log in logs.iter_mut() {
            log.append(&batch(&format!("r{round}"), 2, 1_000), 0, 1_000)
                .unwrap();
        }
    }
    for log in logs.iter_mut() {
        let before = log.segment_count();
        assert!(log.enforce_retention(2_000).unwrap() > 0);
        assert!(log.segment_count() < before);
        let records = read_all(log, log.log_start_offset());
        assert_eq!(records.last().unwrap().offset, 79);
        assert_within_budget();
    }
}
