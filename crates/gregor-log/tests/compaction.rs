//! The log cleaner on real files: latest value per key, offsets kept,
//! tombstone and marker retention, aborted transactions, idempotent
//! producers' last batches, the dedupe buffer bound, and crash safety.

// An integration test: unwrapping is how a failed step fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bytes::Bytes;
use common::*;
use gregor_log::cleaner::CleanOptions;
use gregor_log::{LogConfig, LogError, PartitionLog, TxnMarker};
use gregor_protocol::compression::Compression;
use gregor_protocol::records::{delete_horizon, BatchBuilder, Record};
use proptest::prelude::*;
use std::collections::BTreeMap;

/// One batch of `(key, value)` records (`None` value: a tombstone).
fn keyed(records: &[(&str, Option<&str>)], ts: i64) -> Vec<u8> {
    keyed_with(BatchBuilder::new(Compression::None), records, ts)
}

fn keyed_with(mut builder: BatchBuilder, records: &[(&str, Option<&str>)], ts: i64) -> Vec<u8> {
    for (k, v) in records {
        builder.push(
            ts,
            Some(Bytes::from(k.to_string())),
            v.map(|v| Bytes::from(v.to_string())),
            vec![],
        );
    }
    builder.build().unwrap().to_vec()
}

fn clean_at(log: &mut PartitionLog, now_ms: i64) -> Option<gregor_log::cleaner::CleanStats> {
    log.clean(options(log, now_ms)).unwrap()
}

fn options(log: &PartitionLog, now_ms: i64) -> CleanOptions {
    CleanOptions {
        now_ms,
        upper_bound_offset: log.log_end_offset(),
        dedupe_buffer_bytes: 1 << 20,
    }
}

fn kv(r: &Record) -> (String, Option<String>) {
    (
        String::from_utf8(r.key.clone().unwrap().to_vec()).unwrap(),
        r.value
            .clone()
            .map(|v| String::from_utf8(v.to_vec()).unwrap()),
    )
}

/// key -> (offset, value) of the latest record per key.
fn latest(records: &[Record]) -> BTreeMap<String, (i64, Option<String>)> {
    records
        .iter()
        .map(|r| {
            let (k, v) = kv(r);
            (k, (r.offset, v))
        })
        .collect()
}

fn fill(log: &mut PartitionLog, rounds: usize) {
    for round in 0..rounds {
        for key in ["a", "b", "c"] {
            let value = format!("{key}{round}");
            log.append(&keyed(&[(key, Some(&value))], 1_000), 0, 1_000)
                .unwrap();
        }
    }
}

#[test]
fn keeps_the_latest_record_per_key_at_its_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), compact_config(), false);
    fill(&mut log, 10);
    let before = read_all(&log, 0);
    let end = log.log_end_offset();
    assert!(log.segment_count() > 3);
    let stats = clean_at(&mut log, 2_000).unwrap();
    assert!(stats.records_kept < stats.records_read);
    let after = read_all(&log, 0);
    assert_eq!(log.log_end_offset(), end);
    // Nothing lost: the latest record of every key is still there.
    assert_eq!(latest(&after), latest(&before));
    // Offsets only go up and each kept record is the original one.
    for r in &after {
        let original = before.iter().find(|b| b.offset == r.offset).unwrap();
        assert_eq!(kv(r), kv(original));
    }
    assert!(after.len() < before.len());
    // The cleaned segments (all but the active one) hold one record per key.
    let active_base = *log.segment_base_offsets().last().unwrap();
    let cleaned: Vec<_> = after.iter().filter(|r| r.offset < active_base).collect();
    let keys: std::collections::BTreeSet<_> = cleaned.iter().map(|r| kv(r).0).collect();
    assert_eq!(keys.len(), cleaned.len(), "{cleaned:?}");
    // A reopen serves the same.
    drop(log);
    let log = open(dir.path(), compact_config(), true);
    assert_eq!(read_all(&log, 0), after);
    // Nothing more to do until new data comes.
    let mut log = log;
    assert!(clean_at(&mut log, 2_000).is_none());
    // A clean shutdown and an open that trusts the indexes serve the same.
    log.close().unwrap();
    let log = open(dir.path(), compact_config(), false);
    assert_eq!(read_all(&log, 0), after);
    assert_eq!(
        log.offset_for_timestamp(0).unwrap().map(|(o, _)| o),
        after.first().map(|r| r.offset)
    );
}

#[test]
fn small_segments_are_merged() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), compact_config(), false);
    fill(&mut log, 20);
    // As Kafka groups by the segments' sizes before cleaning, full segments
    // shrink in a first clean and merge in the next.
    clean_at(&mut log, 2_000).unwrap();
    fill(&mut log, 20);
    let segments = log.segment_count();
    let stats = clean_at(&mut log, 2_000).unwrap();
    assert!(log.segment_count() < segments, "{stats:?}");
}

#[test]
fn never_cleans_past_the_upper_bound_or_the_active_segment() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), compact_config(), false);
    fill(&mut log, 10);
    let before = read_all(&log, 0);
    let mut opts = options(&log, 2_000);
    opts.upper_bound_offset = 0;
    assert!(log.clean(opts).unwrap().is_none());
    assert_eq!(read_all(&log, 0), before);
    let active_base = *log.segment_base_offsets().last().unwrap();
    clean_at(&mut log, 2_000).unwrap();
    let after = read_all(&log, 0);
    let active_before: Vec<_> = before.iter().filter(|r| r.offset >= active_base).collect();
    let active_after: Vec<_> = after.iter().filter(|r| r.offset >= active_base).collect();
    assert_eq!(active_before, active_after);
}

#[test]
fn records_younger_than_min_compaction_lag_stay() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        min_compaction_lag_ms: 10_000,
        ..compact_config()
    };
    let mut log = open(dir.path(), config, false);
    fill(&mut log, 10);
    let before = read_all(&log, 0);
    // Records are stamped 1 000: at 5 000 they are too young.
    assert!(clean_at(&mut log, 5_000).is_none());
    assert_eq!(read_all(&log, 0), before);
    assert!(clean_at(&mut log, 20_000).is_some());
    assert!(read_all(&log, 0).len() < before.len());
}

#[test]
fn tombstones_stay_for_delete_retention_ms_after_the_first_clean() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), compact_config(), false);
    fill(&mut log, 5);
    log.append(&keyed(&[("a", None)], 1_000), 0, 1_000).unwrap();
    fill_other(&mut log);
    clean_at(&mut log, 10_000).unwrap();
    let after = read_all(&log, 0);
    let a: Vec<_> = after.iter().filter(|r| kv(r).0 == "a").collect();
    assert_eq!(a.len(), 1);
    assert_eq!(kv(a[0]).1, None, "the tombstone is the only record of a");
    // Its batch carries the delete horizon: first clean + delete.retention.ms.
    let header = log
        .batch_headers()
        .unwrap()
        .into_iter()
        .find(|h| h.base_offset == a[0].offset)
        .unwrap();
    assert_eq!(delete_horizon(&header), Some(11_000));
    // The record keeps its timestamp through the rewritten delta.
    assert_eq!(a[0].timestamp, 1_000);
    // Before the horizon nothing is due; after it the tombstone goes.
    assert!(
        !log.dirtiness(10_500, log.log_end_offset())
            .unwrap()
            .horizon_due
    );
    assert!(
        log.dirtiness(11_000, log.log_end_offset())
            .unwrap()
            .horizon_due
    );
    // A restart finds the horizon again in the batch headers.
    drop(log);
    let mut log = open(dir.path(), compact_config(), false);
    let due = |log: &PartitionLog, now| {
        log.dirtiness(now, log.log_end_offset())
            .unwrap()
            .horizon_due
    };
    assert!(!due(&log, 10_500));
    assert!(due(&log, 11_000));
    clean_at(&mut log, 11_000).unwrap();
    let after = read_all(&log, 0);
    assert!(after.iter().all(|r| kv(r).0 != "a"), "{after:?}");
}

/// Keys other than `a` so the tombstone's segment is not the active one.
fn fill_other(log: &mut PartitionLog) {
    for i in 0..12 {
        let value = format!("x{i}");
        log.append(&keyed(&[("x", Some(&value))], 1_000), 0, 1_000)
            .unwrap();
    }
}

#[test]
fn a_record_without_a_key_is_refused_on_a_compacted_topic() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), compact_config(), false);
    let mut builder = BatchBuilder::new(Compression::Lz4);
    builder.push(
        0,
        Some(Bytes::from_static(b"k")),
        Some(Bytes::from_static(b"v")),
        vec![],
    );
    builder.push(0, None, Some(Bytes::from_static(b"v")), vec![]);
    let err = log.append(&builder.build().unwrap(), 0, 0).unwrap_err();
    assert_eq!(err.error_code(), 87);
    assert!(matches!(
        err,
        LogError::KeylessRecordOnCompactedTopic { ref batch_indexes, .. } if batch_indexes == &[1]
    ));
    assert_eq!(log.log_end_offset(), 0);
    // Without compaction the same batch is fine.
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default(), false);
    let mut builder = BatchBuilder::new(Compression::None);
    builder.push(0, None, Some(Bytes::from_static(b"v")), vec![]);
    log.append(&builder.build().unwrap(), 0, 0).unwrap();
}

fn marker(pid: i64, commit: bool) -> TxnMarker {
    TxnMarker {
        producer_id: pid,
        producer_epoch: 0,
        coordinator_epoch: 0,
        commit,
        transaction_version: 0,
    }
}

#[test]
fn aborted_transactions_go_and_their_marker_after_the_horizon() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), compact_config(), false);
    let txn = BatchBuilder::new(Compression::None)
        .producer(7, 0, 0)
        .transactional(true);
    let first = log
        .append(&keyed_with(txn, &[("t", Some("aborted"))], 1_000), 0, 1_000)
        .unwrap()
        .base_offset;
    let abort = log
        .append_txn_marker(marker(7, false), 0, 1_000)
        .unwrap()
        .offset;
    let txn = BatchBuilder::new(Compression::None)
        .producer(7, 0, 1)
        .transactional(true);
    log.append(
        &keyed_with(txn, &[("u", Some("committed"))], 1_000),
        0,
        1_000,
    )
    .unwrap();
    let commit = log
        .append_txn_marker(marker(7, true), 0, 1_000)
        .unwrap()
        .offset;
    fill(&mut log, 8);
    assert_eq!(log.aborted_transactions(0, 100).len(), 1);
    clean_at(&mut log, 10_000).unwrap();
    let after = read_all(&log, 0);
    assert!(
        after.iter().all(|r| r.offset != first),
        "aborted data removed"
    );
    assert!(after
        .iter()
        .any(|r| kv(r).1.as_deref() == Some("committed")));
    let headers = log.batch_headers().unwrap();
    // The abort marker stays this time (its transaction had data), and the
    // index still lists it for read_committed readers.
    assert!(headers
        .iter()
        .any(|h| h.base_offset == abort && h.is_control()));
    assert!(headers
        .iter()
        .any(|h| h.base_offset == commit && h.is_control()));
    assert_eq!(log.aborted_transactions(0, 100).len(), 1);
    // Next clean (of new dirty data): the abort marker is alone, gets a
    // horizon; a clean after the horizon removes it.
    fill(&mut log, 8);
    clean_at(&mut log, 20_000).unwrap();
    let headers = log.batch_headers().unwrap();
    let m = headers.iter().find(|h| h.base_offset == abort).unwrap();
    assert_eq!(delete_horizon(m), Some(21_000));
    clean_at(&mut log, 21_000).unwrap();
    let headers = log.batch_headers().unwrap();
    assert!(headers.iter().all(|h| h.base_offset != abort));
    assert!(log.aborted_transactions(0, 100).is_empty());
    // The commit marker's transaction still has its record: kept.
    assert!(headers.iter().any(|h| h.base_offset == commit));
}

#[test]
fn an_idempotent_producers_last_batch_stays_as_an_empty_batch() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), compact_config(), false);
    let idem = BatchBuilder::new(Compression::None).producer(9, 0, 0);
    let first = log
        .append(
            &keyed_with(idem, &[("a", Some("old")), ("b", Some("old"))], 1_000),
            0,
            1_000,
        )
        .unwrap();
    fill(&mut log, 10);
    clean_at(&mut log, 2_000).unwrap();
    let headers = log.batch_headers().unwrap();
    let h = headers
        .iter()
        .find(|h| h.base_offset == first.base_offset)
        .expect("empty batch kept");
    assert_eq!(h.records_count, 0);
    assert_eq!(
        (h.producer_id, h.base_sequence, h.last_offset()),
        (9, 0, first.last_offset)
    );
    // The producer goes on after a restart that rebuilds its state.
    drop(log);
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "snapshot") {
            std::fs::remove_file(path).unwrap();
        }
    }
    let mut log = open(dir.path(), compact_config(), true);
    let next = BatchBuilder::new(Compression::None).producer(9, 0, 2);
    log.append(&keyed_with(next, &[("a", Some("new"))], 1_000), 0, 1_000)
        .unwrap();
}

#[test]
fn the_dedupe_buffer_bounds_one_clean() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), compact_config(), false);
    for i in 0..60 {
        let key = format!("k{i}");
        log.append(&keyed(&[(&key, Some("v"))], 1_000), 0, 1_000)
            .unwrap();
    }
    let full = log.dirtiness(2_000, log.log_end_offset()).unwrap();
    let mut opts = options(&log, 2_000);
    opts.dedupe_buffer_bytes = 24 * 10;
    let stats = log.clean(opts).unwrap().unwrap();
    assert!(stats.end_offset < full.cleanable_end_offset, "{stats:?}");
    assert!(stats.end_offset > 0);
    // The next clean goes on from there.
    let next = log.dirtiness(2_000, log.log_end_offset()).unwrap();
    assert_eq!(next.first_dirty_offset, stats.end_offset);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    /// Whatever step a clean is cut at, a reopen serves the latest value of
    /// every key at its offset, the same log end, and can clean again.
    #[test]
    fn a_crash_anywhere_in_a_clean_loses_nothing(
        keys in prop::collection::vec(0u8..6, 20..80),
        tombstone_every in 3usize..9,
        crash_after in 0u32..40,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(dir.path(), compact_config(), false);
        for (i, k) in keys.iter().enumerate() {
            let key = format!("k{k}");
            let value = format!("v{i}");
            let value = (i % tombstone_every != 0).then_some(value.as_str());
            log.append(&keyed(&[(&key, value)], 1_000), 0, 1_000).unwrap();
        }
        let before = read_all(&log, 0);
        let end = log.log_end_offset();
        let opts = options(&log, 2_000);
        let crashed = log.clean_crashing_after(opts, crash_after).is_err();
        drop(log);
        let mut log = open(dir.path(), compact_config(), true);
        let after = read_all(&log, 0);
        prop_assert_eq!(log.log_end_offset(), end);
        prop_assert_eq!(latest(&after), latest(&before));
        let mut last = -1;
        for r in &after {
            prop_assert!(r.offset > last);
            last = r.offset;
            let original = before.iter().find(|b| b.offset == r.offset).unwrap();
            prop_assert_eq!(kv(r), kv(original));
        }
        let leftovers = std::fs::read_dir(dir.path()).unwrap()
            .filter_map(|e| e.unwrap().file_name().into_string().ok())
            .filter(|n| n.ends_with(".cleaned") || n.ends_with(".swap") || n.ends_with(".deleted"))
            .count();
        prop_assert_eq!(leftovers, 0);
        if crashed {
            log.clean(options(&log, 2_000)).unwrap();
            prop_assert_eq!(latest(&read_all(&log, 0)), latest(&before));
        }
    }
}

#[test]
fn a_truncation_below_the_cleaner_checkpoint_moves_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), compact_config(), false);
    fill(&mut log, 10);
    let stats = clean_at(&mut log, 2_000).unwrap();
    assert!(stats.end_offset > 5);
    log.truncate_to(5).unwrap();
    let dirt = log.dirtiness(2_000, log.log_end_offset()).unwrap();
    assert!(dirt.first_dirty_offset <= 5, "{dirt:?}");
}

/// The broker's way in: a mutex around the log, taken only for the steps
/// of a clean that need the log.
struct Locked<'a>(&'a std::sync::Mutex<PartitionLog>);

impl gregor_log::cleaner::LogAccess for Locked<'_> {
    fn with_log<T>(
        &mut self,
        f: impl FnOnce(&mut PartitionLog) -> Result<T, LogError>,
    ) -> Result<T, LogError> {
        f(&mut self.0.lock().unwrap())
    }
}

fn staged_files(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".cleaned") || n.ends_with(".swap") || n.ends_with(".deleted"))
        .collect()
}

#[test]
fn appends_and_reads_go_on_while_a_clean_runs() {
    use std::sync::mpsc;
    use std::sync::Mutex;
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), compact_config(), false);
    fill(&mut log, 10);
    let before_end = log.log_end_offset();
    let cleaning = log.begin_clean(options(&log, 2_000)).unwrap().unwrap();
    let log = Mutex::new(log);
    let (paused_tx, paused_rx) = mpsc::channel();
    let (resume_tx, resume_rx) = mpsc::channel::<()>();
    let shared = &log;
    let path = dir.path();
    std::thread::scope(|scope| {
        let cleaner = scope.spawn(move || {
            let mut paused = false;
            // The clean stops once it is writing its cleaned files, until
            // the test lets it go.
            let mut io = |_bytes: u64| {
                if !paused && !staged_files(path).is_empty() {
                    paused = true;
                    paused_tx.send(()).unwrap();
                    resume_rx.recv().unwrap();
                }
            };
            cleaning.run(&mut Locked(shared), &mut io).unwrap()
        });
        paused_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        // The clean is under way: the log must be free for appends and reads
        // (try_lock, so a clean holding it fails the test instead of hanging).
        let deadline = Instant::now() + Duration::from_secs(5);
        let guard = loop {
            if let Ok(guard) = log.try_lock() {
                break Some(guard);
            }
            if Instant::now() > deadline {
                break None;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let last_read = guard.map(|mut guard| {
            for i in 0..20 {
                let value = format!("during{i}");
                guard
                    .append(&keyed(&[("a", Some(&value))], 1_500), 0, 1_500)
                    .unwrap();
            }
            read_all(&guard, 0).last().map(kv)
        });
        let still_cleaning = !staged_files(dir.path()).is_empty();
        // Let the clean go before asserting, so a failure cannot hang it.
        resume_tx.send(()).unwrap();
        let stats = cleaner.join().unwrap().unwrap();
        let last_read = last_read.expect("the clean holds the log");
        assert_eq!(last_read, Some(("a".into(), Some("during19".into()))));
        assert!(still_cleaning, "the clean was still writing");
        assert!(stats.records_kept < stats.records_read);
        assert!(stats.end_offset <= before_end);
    });
    let log = log.into_inner().unwrap();
    let after = read_all(&log, 0);
    assert_eq!(log.log_end_offset(), before_end + 20);
    let latest = latest(&after);
    assert_eq!(latest["a"].1.as_deref(), Some("during19"));
    assert_eq!(latest["b"].1.as_deref(), Some("b9"));
    assert_eq!(latest["c"].1.as_deref(), Some("c9"));
    // Everything appended during the clean is still there, in order.
    let during: Vec<_> = after.iter().filter(|r| r.offset >= before_end).collect();
    assert_eq!(during.len(), 20);
    assert!(staged_files(dir.path()).is_empty());
}

#[test]
fn a_segment_deleted_while_cleaning_abandons_the_clean() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), compact_config(), false);
    fill(&mut log, 10);
    let cleaning = log.begin_clean(options(&log, 2_000)).unwrap().unwrap();
    // DeleteRecords past the first segment deletes it mid-clean.
    let second = log.segment_base_offsets()[1];
    log.advance_log_start_offset(second).unwrap();
    let before = read_all(&log, second);
    assert_eq!(cleaning.run(&mut log, &mut |_| {}).unwrap(), None);
    assert!(staged_files(dir.path()).is_empty());
    assert_eq!(read_all(&log, second), before, "nothing swapped in");
    // The next clean starts over from the log as it is now.
    let stats = clean_at(&mut log, 2_000).unwrap();
    assert!(stats.records_kept < stats.records_read);
    assert_eq!(latest(&read_all(&log, second)), latest(&before));
}

#[test]
fn a_truncation_while_cleaning_abandons_the_clean() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), compact_config(), false);
    fill(&mut log, 10);
    let cleaning = log.begin_clean(options(&log, 2_000)).unwrap().unwrap();
    // A follower truncation into a segment the clean is reading.
    let cut = log.segment_base_offsets()[2] + 1;
    log.truncate_to(cut).unwrap();
    let before = read_all(&log, 0);
    assert_eq!(cleaning.run(&mut log, &mut |_| {}).unwrap(), None);
    assert!(staged_files(dir.path()).is_empty());
    assert_eq!(read_all(&log, 0), before);
    assert_eq!(log.log_end_offset(), cut);
}

/// The `.index` and `.timeindex` files of every segment but the active one.
fn index_files(dir: &std::path::Path) -> BTreeMap<String, Vec<u8>> {
    let mut files: BTreeMap<String, Vec<u8>> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("index" | "timeindex")
            )
        })
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    let last = files
        .keys()
        .filter(|n| n.ends_with(".index"))
        .max()
        .cloned()
        .unwrap();
    files.remove(&last);
    files.remove(&last.replace(".index", ".timeindex"));
    files
}

#[test]
fn a_cleaned_segment_is_swapped_in_with_the_indexes_written_while_cleaning() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), compact_config(), false);
    for round in 0..3 {
        for key in 0..40 {
            let value = format!("v{round}-{key}");
            let ts = 1_000 + key;
            log.append(&keyed(&[(&format!("k{key}"), Some(&value))], ts), 0, 1_000)
                .unwrap();
        }
    }
    // Each time the clean takes the log (to swap a group in, then for the
    // checkpoint), the staged indexes it is about to install are there.
    struct Watching<'a>(&'a mut PartitionLog, &'a std::path::Path, Vec<(usize, u64)>);
    impl gregor_log::cleaner::LogAccess for Watching<'_> {
        fn with_log<T>(
            &mut self,
            f: impl FnOnce(&mut PartitionLog) -> Result<T, LogError>,
        ) -> Result<T, LogError> {
            let staged: Vec<u64> = std::fs::read_dir(self.1)
                .unwrap()
                .map(|e| e.unwrap())
                .filter(|e| e.file_name().to_string_lossy().ends_with(".index.cleaned"))
                .map(|e| e.metadata().unwrap().len())
                .collect();
            self.2.push((staged.len(), staged.iter().sum()));
            f(self.0)
        }
    }
    let cleaning = log.begin_clean(options(&log, 2_000)).unwrap().unwrap();
    let mut watching = Watching(&mut log, dir.path(), Vec::new());
    cleaning.run(&mut watching, &mut |_| {}).unwrap().unwrap();
    let seen = watching.2;
    let (swaps, checkpoint) = seen.split_at(seen.len() - 1);
    assert!(
        !swaps.is_empty() && swaps.iter().all(|&(n, _)| n == 1),
        "{seen:?}"
    );
    assert!(swaps.iter().any(|&(_, bytes)| bytes > 0), "{seen:?}");
    assert_eq!(checkpoint, [(0, 0)]);
    assert!(staged_files(dir.path()).is_empty());
    let after = read_all(&log, 0);
    log.close().unwrap();
    // What the clean installed equals what a rebuild from the log makes.
    let written = index_files(dir.path());
    assert!(written.values().any(|bytes| bytes.len() > 8), "{written:?}");
    for name in written.keys() {
        std::fs::remove_file(dir.path().join(name)).unwrap();
    }
    let log = open(dir.path(), compact_config(), false);
    assert_eq!(read_all(&log, 0), after);
    log.close().unwrap();
    assert_eq!(index_files(dir.path()), written);
    // And the time index finds a cleaned record by its timestamp.
    let log = open(dir.path(), compact_config(), false);
    let first_kept = after.iter().find(|r| r.timestamp >= 1_020).unwrap();
    assert_eq!(
        log.offset_for_timestamp(1_020).unwrap().map(|(o, _)| o),
        Some(first_kept.offset)
    );
}

#[test]
fn a_crash_leaving_a_cleans_offset_indexes_staged_rebuilds_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), compact_config(), false);
    fill(&mut log, 10);
    clean_at(&mut log, 2_000).unwrap();
    let after = read_all(&log, 0);
    drop(log);
    // As a crash between installing the log and its offset indexes: the
    // installed indexes are gone, staged copies (maybe torn) are left.
    let base = index_files(dir.path()).keys().next().unwrap().clone();
    let stem = base
        .trim_end_matches(".index")
        .trim_end_matches(".timeindex")
        .to_string();
    for suffix in ["index", "timeindex"] {
        std::fs::remove_file(dir.path().join(format!("{stem}.{suffix}"))).unwrap();
        std::fs::write(dir.path().join(format!("{stem}.{suffix}.cleaned")), b"torn").unwrap();
    }
    let log = open(dir.path(), compact_config(), true);
    assert!(staged_files(dir.path()).is_empty());
    assert_eq!(read_all(&log, 0), after);
}
