//! Retention, log start offset, DeleteRecords and truncation.

// An integration test: unwrapping is how a failed step fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use gregor_log::{LogConfig, LogError};

/// A log whose segments hold exactly three batches of 3 records.
fn three_batch_segments(
    dir: &std::path::Path,
    batches: usize,
    extra: LogConfig,
) -> gregor_log::PartitionLog {
    let b = batch("a", 3, 0);
    let config = LogConfig {
        segment_bytes: (b.len() * 3) as u64,
        ..extra
    };
    let mut log = open(dir, config, false);
    for i in 0..batches {
        log.append(&batch("a", 3, 1000 * i as i64), 0, 0).unwrap();
    }
    log
}

#[test]
fn size_retention_deletes_whole_old_segments() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = three_batch_segments(dir.path(), 10, LogConfig::default());
    assert_eq!(log.segment_base_offsets(), vec![0, 9, 18, 27]);
    let batch_size = log.size_bytes() / 10;
    let mut config = log.config().clone();
    // 10 batches on disk; keeping at least 4 leaves the last full segment
    // and the active one (3 + 1 batches).
    config.retention_bytes = (batch_size * 4) as i64;
    log.set_config(config);

    assert_eq!(log.enforce_retention(0).unwrap(), 2);
    assert_eq!(log.segment_base_offsets(), vec![18, 27]);
    assert_eq!(log.log_start_offset(), 18);
    assert!(!dir.path().join(format!("{:020}.log", 0)).exists());
    assert!(!dir.path().join(format!("{:020}.index", 9)).exists());
    let err = log.read(17, 100, i64::MAX, true).unwrap_err();
    assert!(matches!(
        err,
        LogError::OffsetOutOfRange {
            requested: 17,
            log_start: 18,
            ..
        }
    ));
    assert_eq!(offsets(&read_all(&log, 18)), (18..30).collect::<Vec<_>>());
    assert_eq!(
        log.append(&batch("x", 1, 0), 0, 0)
            .unwrap()
            .log_start_offset,
        18
    );
    // Nothing more to delete.
    assert_eq!(log.enforce_retention(0).unwrap(), 0);
}

#[test]
fn time_retention_deletes_expired_segments_but_never_the_active_one() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        retention_ms: 10_000,
        ..LogConfig::default()
    };
    let mut log = three_batch_segments(dir.path(), 10, config);
    // Segment max timestamps: 2000, 5000, 8000, active 9000.
    assert_eq!(log.enforce_retention(12_000).unwrap(), 0);
    assert_eq!(log.enforce_retention(15_500).unwrap(), 2);
    assert_eq!(log.log_start_offset(), 18);
    assert_eq!(log.enforce_retention(1_000_000).unwrap(), 1);
    assert_eq!(log.segment_base_offsets(), vec![27]);
    assert_eq!(log.log_start_offset(), 27);
}

#[test]
fn log_start_offset_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        retention_bytes: 0,
        ..LogConfig::default()
    };
    let mut log = three_batch_segments(dir.path(), 7, config.clone());
    assert_eq!(log.enforce_retention(0).unwrap(), 2);
    drop(log);
    let log = open(
        dir.path(),
        LogConfig {
            segment_bytes: 1 << 20,
            ..config
        },
        true,
    );
    assert_eq!(log.log_start_offset(), 18);
    assert_eq!(log.log_end_offset(), 21);
}

#[test]
fn delete_records_advances_the_start_inside_a_segment() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = three_batch_segments(dir.path(), 7, LogConfig::default());
    log.advance_log_start_offset(13).unwrap();
    assert_eq!(log.log_start_offset(), 13);
    assert_eq!(log.segment_base_offsets(), vec![9, 18]);
    assert!(log.read(12, 100, i64::MAX, true).is_err());
    // Reading at the start returns the batch that contains it.
    let first = read_all(&log, 13);
    assert_eq!(first[0].offset, 13);
    // Going backwards is a no-op.
    log.advance_log_start_offset(5).unwrap();
    assert_eq!(log.log_start_offset(), 13);
    // The earliest offset by time does not go below the start.
    assert_eq!(
        log.offset_for_timestamp(0).unwrap().map(|(o, _)| o),
        Some(13)
    );
    log.close().unwrap();
    let log = open(dir.path(), LogConfig::default(), false);
    assert_eq!(log.log_start_offset(), 13);
}

#[test]
fn truncate_to_removes_the_tail_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = three_batch_segments(dir.path(), 8, LogConfig::default());
    assert_eq!(log.segment_base_offsets(), vec![0, 9, 18]);
    // Offset 13 is inside the batch [12, 14]: that batch goes whole.
    log.truncate_to(13).unwrap();
    assert_eq!(log.log_end_offset(), 12);
    assert_eq!(log.segment_base_offsets(), vec![0, 9]);
    assert_eq!(
        log.append(&batch("new", 2, 0), 0, 0).unwrap().base_offset,
        12
    );
    let records = read_all(&log, 0);
    assert_eq!(offsets(&records), (0..14).collect::<Vec<_>>());
    assert_eq!(values(&records)[12..], ["new-0", "new-1"]);

    log.close().unwrap();
    let mut log = open(dir.path(), LogConfig::default(), true);
    assert_eq!(log.log_end_offset(), 14);
    log.truncate_fully_and_start_at(100).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (100, 100));
    assert_eq!(
        log.append(&batch("z", 1, 0), 0, 0).unwrap().base_offset,
        100
    );
}

#[test]
fn a_slice_taken_before_retention_still_reads_its_deleted_segment() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = three_batch_segments(dir.path(), 10, LogConfig::default());
    let expected = log.read(0, 1 << 20, i64::MAX, true).unwrap().records;
    let slice = log.read_slice(0, 1 << 20, i64::MAX, true).unwrap().records;
    let mut config = log.config().clone();
    config.retention_bytes = 1;
    log.set_config(config);
    assert!(log.enforce_retention(0).unwrap() > 0);
    assert!(!dir.path().join(format!("{:020}.log", 0)).exists());
    // A fetch in flight keeps the unlinked file open: same bytes.
    assert_eq!(slice.to_vec().unwrap(), expected.to_vec());
}
