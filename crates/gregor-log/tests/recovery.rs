//! Reopening: clean restarts trust the indexes, unclean ones validate the
//! active segment and cut torn or corrupt tails.

// An integration test: unwrapping is how a failed step fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use gregor_log::LogConfig;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

fn segment_file(dir: &Path, base: i64, suffix: &str) -> PathBuf {
    dir.join(format!("{base:020}.{suffix}"))
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().len()
}

/// A log of `n` single-record-per-offset batches of 3 records, then dropped
/// without close (as a crash would leave it).
fn crashed_log(dir: &Path, n: usize, config: LogConfig) -> Vec<u64> {
    let mut log = open(dir, config, false);
    let mut ends = Vec::new();
    for i in 0..n {
        log.append(&batch(&format!("b{i}"), 3, i as i64), 0, 0)
            .unwrap();
        ends.push(log.size_bytes());
    }
    drop(log);
    ends
}

#[test]
fn clean_reopen_keeps_the_log_end_and_continues() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_config(), false);
    for i in 0..30 {
        log.append(&batch(&format!("b{i}"), 2, 100 + i), 0, 0)
            .unwrap();
    }
    let segments = log.segment_base_offsets();
    let max_ts = log.max_timestamp().unwrap();
    log.close().unwrap();

    let mut log = open(dir.path(), small_config(), false);
    assert_eq!(log.log_end_offset(), 60);
    assert_eq!(log.segment_base_offsets(), segments);
    assert_eq!(log.max_timestamp().unwrap(), max_ts);
    let info = log.append(&batch("after", 1, 0), 0, 0).unwrap();
    assert_eq!(info.base_offset, 60);
    assert_eq!(offsets(&read_all(&log, 0)), (0..61).collect::<Vec<_>>());
}

#[test]
fn flushed_appends_survive_a_crash_without_close() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        flush_messages: 1,
        ..small_config()
    };
    let ends = crashed_log(dir.path(), 12, config.clone());
    assert!(!ends.is_empty());

    let log = open(dir.path(), config, true);
    assert_eq!(log.log_end_offset(), 36);
    let records = read_all(&log, 0);
    assert_eq!(offsets(&records), (0..36).collect::<Vec<_>>());
    assert_eq!(values(&records)[33..], ["b11-0", "b11-1", "b11-2"]);
}

#[test]
fn recovery_truncates_a_torn_tail_and_appends_continue() {
    let dir = tempfile::tempdir().unwrap();
    let ends = crashed_log(dir.path(), 5, LogConfig::default());
    let log_path = segment_file(dir.path(), 0, "log");
    // Cut the last batch in half, as a crash mid-write would.
    let cut = ends[3] + (ends[4] - ends[3]) / 2;
    OpenOptions::new()
        .write(true)
        .open(&log_path)
        .unwrap()
        .set_len(cut)
        .unwrap();

    let mut log = open(dir.path(), LogConfig::default(), true);
    assert_eq!(log.log_end_offset(), 12);
    assert_eq!(file_len(&log_path), ends[3]);
    assert_eq!(
        log.append(&batch("new", 2, 0), 0, 0).unwrap().base_offset,
        12
    );
    let records = read_all(&log, 0);
    assert_eq!(offsets(&records), (0..14).collect::<Vec<_>>());
    assert_eq!(values(&records)[12..], ["new-0", "new-1"]);
}

#[test]
fn recovery_truncates_trailing_garbage() {
    let dir = tempfile::tempdir().unwrap();
    let ends = crashed_log(dir.path(), 3, LogConfig::default());
    let log_path = segment_file(dir.path(), 0, "log");
    let mut file = OpenOptions::new().append(true).open(&log_path).unwrap();
    file.write_all(&[0xAB; 100]).unwrap();
    // A zero-filled tail, as a filesystem may leave after power loss.
    file.write_all(&[0u8; 4096]).unwrap();
    drop(file);

    let log = open(dir.path(), LogConfig::default(), true);
    assert_eq!(log.log_end_offset(), 9);
    assert_eq!(file_len(&log_path), ends[2]);
}

#[test]
fn recovery_truncates_from_a_batch_with_a_bad_crc() {
    let dir = tempfile::tempdir().unwrap();
    let ends = crashed_log(dir.path(), 4, LogConfig::default());
    let log_path = segment_file(dir.path(), 0, "log");
    // Flip a byte inside the records of the third batch.
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&log_path)
        .unwrap();
    let at = ends[2] - 3;
    let mut byte = [0u8; 1];
    file.read_exact_at(&mut byte, at).unwrap();
    file.write_all_at(&[byte[0] ^ 0x55], at).unwrap();
    drop(file);

    let mut log = open(dir.path(), LogConfig::default(), true);
    assert_eq!(log.log_end_offset(), 6);
    assert_eq!(file_len(&log_path), ends[1]);
    assert_eq!(log.batch_headers().unwrap().len(), 2);
    assert_eq!(log.append(&batch("x", 1, 0), 0, 0).unwrap().base_offset, 6);
}

#[test]
fn a_deleted_index_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        index_interval_bytes: 64,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config.clone(), false);
    for i in 0..50 {
        log.append(&batch(&format!("b{i}"), 2, i), 0, 0).unwrap();
    }
    log.close().unwrap();
    let index_path = segment_file(dir.path(), 0, "index");
    let index_len = file_len(&index_path);
    assert!(
        index_len >= 8 * 10,
        "expected a populated index, got {index_len} bytes"
    );
    std::fs::remove_file(&index_path).unwrap();

    // Even a clean open notices and rebuilds it.
    let log = open(dir.path(), config, false);
    assert_eq!(file_len(&index_path), index_len);
    assert_eq!(log.log_end_offset(), 100);
    let info = log.read(77, 1, i64::MAX, true).unwrap();
    let batches = gregor_protocol::records::decode_batches(&info.records).unwrap();
    assert_eq!(batches[0].header.base_offset, 76);
}

#[test]
fn an_index_pointing_past_the_data_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        index_interval_bytes: 0,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config.clone(), false);
    for _ in 0..10 {
        log.append(&batch("a", 1, 0), 0, 0).unwrap();
    }
    log.close().unwrap();
    // Chop the log without touching its index (clean marker or not).
    let log_path = segment_file(dir.path(), 0, "log");
    let len = file_len(&log_path);
    OpenOptions::new()
        .write(true)
        .open(&log_path)
        .unwrap()
        .set_len(len / 2 + 3)
        .unwrap();

    let log = open(dir.path(), config, false);
    assert!(log.log_end_offset() < 10 && log.log_end_offset() > 0);
    assert_eq!(
        offsets(&read_all(&log, 0)).len() as i64,
        log.log_end_offset()
    );
}

#[test]
fn unclean_reopen_of_a_multi_segment_log_keeps_older_segments() {
    let dir = tempfile::tempdir().unwrap();
    crashed_log(dir.path(), 40, small_config());
    let log = open(dir.path(), small_config(), true);
    assert_eq!(log.log_end_offset(), 120);
    assert!(log.segment_count() > 3);
    assert_eq!(offsets(&read_all(&log, 0)), (0..120).collect::<Vec<_>>());
}

#[test]
fn empty_dir_opens_an_empty_log_and_delete_removes_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("topic-0");
    let log = open(&path, LogConfig::default(), true);
    assert_eq!(
        (
            log.log_start_offset(),
            log.log_end_offset(),
            log.size_bytes()
        ),
        (0, 0, 0)
    );
    assert_eq!(log.max_timestamp().unwrap(), None);
    assert!(log.read(0, 100, i64::MAX, true).unwrap().records.is_empty());
    log.delete().unwrap();
    assert!(!path.exists());
}

#[test]
fn clean_open_trusts_the_data_and_unclean_open_checks_it() {
    let dir = tempfile::tempdir().unwrap();
    let ends = crashed_log(dir.path(), 4, LogConfig::default());
    let log_path = segment_file(dir.path(), 0, "log");
    // Corrupt a record byte of the first batch (its header stays sane).
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&log_path)
        .unwrap();
    let at = ends[0] - 2;
    let mut byte = [0u8; 1];
    file.read_exact_at(&mut byte, at).unwrap();
    file.write_all_at(&[byte[0] ^ 0x01], at).unwrap();
    drop(file);

    // A clean open only walks headers: nothing is cut.
    let log = open(dir.path(), LogConfig::default(), false);
    assert_eq!(log.log_end_offset(), 12);
    drop(log);
    // Recovery checks CRCs and cuts from the damaged batch on.
    let log = open(dir.path(), LogConfig::default(), true);
    assert_eq!(log.log_end_offset(), 0);
    assert_eq!(file_len(&log_path), 0);
}

#[test]
fn partition_log_can_be_shared_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<gregor_log::PartitionLog>();
}
