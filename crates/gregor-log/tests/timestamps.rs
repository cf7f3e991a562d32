//! ListOffsets by timestamp and MAX_TIMESTAMP.

// An integration test: unwrapping is how a failed step fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use gregor_log::{LogConfig, TimestampType};

fn small_segments() -> LogConfig {
    LogConfig {
        segment_bytes: 512,
        index_interval_bytes: 128,
        ..LogConfig::default()
    }
}

#[test]
fn offset_for_timestamp_finds_the_first_record_at_or_after_the_target() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_segments(), false);
    // Batch i holds offsets 4i..4i+3 with timestamps 100i + {0, 10, 20, 30}.
    for i in 0..30i64 {
        let t = 100 * i;
        log.append(
            &batch_with_timestamps("t", &[t, t + 10, t + 20, t + 30]),
            0,
            0,
        )
        .unwrap();
    }
    assert!(log.segment_count() > 3);
    assert_eq!(log.offset_for_timestamp(-5).unwrap(), Some((0, 0)));
    assert_eq!(log.offset_for_timestamp(0).unwrap(), Some((0, 0)));
    assert_eq!(log.offset_for_timestamp(15).unwrap(), Some((2, 20)));
    assert_eq!(log.offset_for_timestamp(31).unwrap(), Some((4, 100)));
    // Targets in every segment, including exact hits inside a batch.
    for i in 0..30i64 {
        assert_eq!(
            log.offset_for_timestamp(100 * i + 11).unwrap(),
            Some((4 * i + 2, 100 * i + 20)),
            "batch {i}"
        );
        assert_eq!(
            log.offset_for_timestamp(100 * i + 30).unwrap(),
            Some((4 * i + 3, 100 * i + 30))
        );
    }
    assert_eq!(log.offset_for_timestamp(2930).unwrap(), Some((119, 2930)));
    assert_eq!(log.offset_for_timestamp(2931).unwrap(), None);

    // The same answers after a clean restart and after recovery.
    log.close().unwrap();
    let log = open(dir.path(), small_segments(), false);
    assert_eq!(log.offset_for_timestamp(1711).unwrap(), Some((70, 1720)));
    drop(log);
    let log = open(dir.path(), small_segments(), true);
    assert_eq!(log.offset_for_timestamp(2911).unwrap(), Some((118, 2920)));
}

#[test]
fn out_of_order_timestamps_inside_batches() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default(), false);
    log.append(&batch_with_timestamps("a", &[500, 100, 300]), 0, 0)
        .unwrap();
    log.append(&batch_with_timestamps("b", &[200, 900, 250]), 0, 0)
        .unwrap();
    assert_eq!(log.offset_for_timestamp(150).unwrap(), Some((0, 500)));
    assert_eq!(log.offset_for_timestamp(600).unwrap(), Some((4, 900)));
    assert_eq!(log.max_timestamp().unwrap(), Some((4, 900)));
}

#[test]
fn max_timestamp_names_the_record_carrying_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_config(), false);
    assert_eq!(log.max_timestamp().unwrap(), None);
    for i in 0..20i64 {
        // The peak is in batch 7, on its third record.
        let peak = if i == 7 { 10_000 } else { 50 + i };
        log.append(&batch_with_timestamps("m", &[i, i + 1, peak, i + 2]), 0, 0)
            .unwrap();
    }
    assert_eq!(log.max_timestamp().unwrap(), Some((30, 10_000)));
    log.close().unwrap();
    let log = open(dir.path(), small_config(), false);
    assert_eq!(log.max_timestamp().unwrap(), Some((30, 10_000)));
}

#[test]
fn log_append_time_batches_answer_with_the_append_time() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        timestamp_type: TimestampType::LogAppendTime,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config, false);
    log.append(&batch("a", 3, 5), 0, 1_000).unwrap();
    log.append(&batch("b", 3, 5), 0, 2_000).unwrap();
    assert_eq!(log.offset_for_timestamp(1_500).unwrap(), Some((3, 2_000)));
    assert_eq!(log.offset_for_timestamp(6).unwrap(), Some((0, 1_000)));
    assert_eq!(log.max_timestamp().unwrap(), Some((3, 2_000)));
}
