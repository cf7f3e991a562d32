//! Compacted topics as tables: `lookup_key` finds the latest committed
//! record of a key through its index, across appends, cleans, tombstones,
//! truncation and an index too small for the partition.

// An integration test: unwrapping is how a failed step fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bytes::Bytes;
use common::*;
use gregor_log::cleaner::{CleanOptions, KeyIndex, KeyLookup};
use gregor_log::{PartitionLog, TxnMarker};
use gregor_protocol::compression::Compression;
use gregor_protocol::records::BatchBuilder;

fn put(log: &mut PartitionLog, key: &str, value: Option<&str>) {
    let mut builder = BatchBuilder::new(Compression::None);
    builder.push(
        1_000,
        Some(Bytes::from(key.to_string())),
        value.map(|v| Bytes::from(v.to_string())),
        vec![],
    );
    log.append(&builder.build().unwrap(), 0, 1_000).unwrap();
}

fn get(log: &PartitionLog, index: &mut KeyIndex, key: &str) -> Option<String> {
    match log
        .lookup_key(index, key.as_bytes(), log.log_end_offset())
        .unwrap()
    {
        KeyLookup::Found(r) => Some(String::from_utf8(r.value.unwrap().to_vec()).unwrap()),
        KeyLookup::Deleted { .. } | KeyLookup::Absent => None,
    }
}

fn fill(log: &mut PartitionLog, rounds: usize) {
    for round in 0..rounds {
        for key in ["a", "b", "c"] {
            put(log, key, Some(&format!("{key}{round}")));
        }
    }
}

#[test]
fn latest_value_across_appends_cleans_and_tombstones() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), compact_config(), false);
    let mut index = KeyIndex::new(1 << 20);
    fill(&mut log, 10);
    assert_eq!(get(&log, &mut index, "a").as_deref(), Some("a9"));
    assert_eq!(index.keys(), 3);
    put(&mut log, "b", Some("b-new"));
    put(&mut log, "c", None);
    // The index catches up with the appends since the last lookup.
    assert_eq!(get(&log, &mut index, "b").as_deref(), Some("b-new"));
    assert!(matches!(
        log.lookup_key(&mut index, b"c", log.log_end_offset())
            .unwrap(),
        KeyLookup::Deleted { .. }
    ));
    assert_eq!(get(&log, &mut index, "zzz"), None);
    fill(&mut log, 2); // a1, b1, c1 newest; rolls segments
    log.clean(CleanOptions {
        now_ms: 2_000,
        upper_bound_offset: log.log_end_offset(),
        dedupe_buffer_bytes: 1 << 20,
    })
    .unwrap()
    .unwrap();
    // The same index still answers after the clean moved records.
    for key in ["a", "b", "c"] {
        assert_eq!(get(&log, &mut index, key), Some(format!("{key}1")));
    }
    // Only what is below the bound (LSO / high watermark) is visible.
    let mut fresh = KeyIndex::new(1 << 20);
    assert!(matches!(
        log.lookup_key(&mut fresh, b"a", 0).unwrap(),
        KeyLookup::Absent
    ));
}

#[test]
fn truncation_rebuilds_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), compact_config(), false);
    let mut index = KeyIndex::new(1 << 20);
    put(&mut log, "k", Some("one"));
    let end = log.log_end_offset();
    put(&mut log, "k", Some("two"));
    assert_eq!(get(&log, &mut index, "k").as_deref(), Some("two"));
    log.truncate_to(end).unwrap();
    put(&mut log, "other", Some("x"));
    assert_eq!(get(&log, &mut index, "k").as_deref(), Some("one"));
}

#[test]
fn an_index_too_small_falls_back_to_a_scan() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), compact_config(), false);
    // Room for one key (24 bytes * 0.9 rounds down; at least one entry).
    let mut index = KeyIndex::new(24);
    fill(&mut log, 3);
    assert_eq!(get(&log, &mut index, "b").as_deref(), Some("b2"));
    assert!(index.overflowed());
    assert_eq!(index.memory_bytes(), 0);
    assert_eq!(get(&log, &mut index, "c").as_deref(), Some("c2"));
}

fn txn_put(log: &mut PartitionLog, seq: i32, key: &str, value: &str) {
    let mut builder = BatchBuilder::new(Compression::None)
        .producer(7, 0, seq)
        .transactional(true);
    builder.push(
        1_000,
        Some(Bytes::from(key.to_string())),
        Some(Bytes::from(value.to_string())),
        vec![],
    );
    log.append(&builder.build().unwrap(), 0, 1_000).unwrap();
}

fn end_txn(log: &mut PartitionLog, commit: bool) {
    let marker = TxnMarker {
        producer_id: 7,
        producer_epoch: 0,
        coordinator_epoch: 0,
        commit,
        transaction_version: 0,
    };
    log.append_txn_marker(marker, 0, 1_000).unwrap();
}

#[test]
fn aborted_and_open_transactions_are_not_visible() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), compact_config(), false);
    let mut index = KeyIndex::new(1 << 20);
    put(&mut log, "k", Some("plain"));
    txn_put(&mut log, 0, "k", "aborted");
    end_txn(&mut log, false);
    assert_eq!(get(&log, &mut index, "k").as_deref(), Some("plain"));
    // An open transaction: the caller's bound (the last stable offset)
    // stops before it.
    let lso = log.log_end_offset();
    txn_put(&mut log, 1, "k", "open");
    let found = log.lookup_key(&mut index, b"k", lso).unwrap();
    assert!(matches!(found, KeyLookup::Found(ref r) if r.value.as_deref() == Some(&b"plain"[..])));
    end_txn(&mut log, true);
    assert_eq!(get(&log, &mut index, "k").as_deref(), Some("open"));
}
