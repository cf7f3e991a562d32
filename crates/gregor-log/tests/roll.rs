//! When the active segment rolls: size, time, full index.

// An integration test: unwrapping is how a failed step fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use gregor_log::LogConfig;
use std::path::Path;

fn segment_files(dir: &Path, suffix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(suffix))
        .collect();
    names.sort();
    names
}

#[test]
fn rolls_when_the_next_append_would_exceed_segment_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let b = batch("a", 3, 0);
    let config = LogConfig {
        segment_bytes: (b.len() * 3) as u64,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config, false);
    for _ in 0..7 {
        log.append(&b, 0, 0).unwrap();
    }
    // Three batches fit exactly in a segment.
    assert_eq!(log.segment_base_offsets(), vec![0, 9, 18]);
    assert_eq!(
        segment_files(dir.path(), ".log"),
        vec![
            "00000000000000000000.log",
            "00000000000000000009.log",
            "00000000000000000018.log"
        ]
    );
    assert_eq!(segment_files(dir.path(), ".index").len(), 3);
    assert_eq!(segment_files(dir.path(), ".timeindex").len(), 3);
    let size = std::fs::metadata(dir.path().join("00000000000000000000.log"))
        .unwrap()
        .len();
    assert_eq!(size as usize, b.len() * 3);
}

#[test]
fn rolls_when_segment_ms_has_passed_at_append_and_on_demand() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_ms: 1000,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config, false);
    log.append(&batch("a", 1, 0), 0, 10_000).unwrap();
    log.append(&batch("a", 1, 0), 0, 10_900).unwrap();
    assert_eq!(log.segment_count(), 1);
    log.append(&batch("a", 1, 0), 0, 11_001).unwrap();
    assert_eq!(log.segment_base_offsets(), vec![0, 2]);

    log.roll_if_due(11_500).unwrap();
    assert_eq!(log.segment_count(), 2);
    log.roll_if_due(12_002).unwrap();
    assert_eq!(log.segment_base_offsets(), vec![0, 2, 3]);
    // An empty active segment never rolls on time.
    log.roll_if_due(99_999).unwrap();
    assert_eq!(log.segment_count(), 3);
    assert_eq!(offsets(&read_all(&log, 0)), vec![0, 1, 2]);
}

#[test]
fn rolls_when_the_offset_index_is_full() {
    let dir = tempfile::tempdir().unwrap();
    // Index an entry on every batch after the first; room for three offset
    // entries (and two time entries, but equal timestamps add only one).
    let config = LogConfig {
        index_interval_bytes: 0,
        segment_index_bytes: 24,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config, false);
    for _ in 0..6 {
        log.append(&batch("a", 1, 0), 0, 0).unwrap();
    }
    // Entries for batches 1, 2 and 3 fill the index; batch 4 starts a new segment.
    assert_eq!(log.segment_base_offsets(), vec![0, 4]);
    assert_eq!(offsets(&read_all(&log, 0)), (0..6).collect::<Vec<_>>());
}

#[test]
fn rolls_when_the_time_index_is_full() {
    let dir = tempfile::tempdir().unwrap();
    // Room for one time entry; growing timestamps add one per indexed batch.
    let config = LogConfig {
        index_interval_bytes: 0,
        segment_index_bytes: 16,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config, false);
    for i in 0..4 {
        log.append(&batch("a", 1, i), 0, 0).unwrap();
    }
    assert_eq!(log.segment_base_offsets(), vec![0, 2]);
}
