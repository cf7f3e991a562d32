//! Transactions in the log: open transactions hold back the last stable
//! offset, markers close them with Kafka's epoch rules, aborts are listed in
//! the `.txnindex` of the marker's segment, and all of it survives restarts,
//! crashes, truncation and retention.

// An integration test: unwrapping is how a failed step fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bytes::Bytes;
use common::*;
use gregor_log::{
    AbortedTxn, CompressionPolicy, LogConfig, MarkerInfo, PartitionLog, ProducerStateInfo,
    TxnMarker,
};
use gregor_protocol::batch::BatchHeader;
use gregor_protocol::compression::Compression;
use gregor_protocol::error_codes::TRANSACTION_COORDINATOR_FENCED;
use gregor_protocol::records::{decode_batches, BatchBuilder};
use proptest::prelude::*;
use std::fs::OpenOptions;
use std::path::Path;

/// A batch of `count` records from producer `pid` at `epoch`, starting at
/// sequence `seq`, transactional or not.
fn produced(pid: i64, epoch: i16, seq: i32, count: usize, transactional: bool) -> Vec<u8> {
    let mut b = BatchBuilder::new(Compression::None)
        .producer(pid, epoch, seq)
        .transactional(transactional);
    for i in 0..count {
        let value = Bytes::from(format!("{pid}-{seq}-{i}"));
        b.push(1_000 + i as i64, None, Some(value), vec![]);
    }
    b.build().unwrap().to_vec()
}

fn txn(pid: i64, epoch: i16, seq: i32, count: usize) -> Vec<u8> {
    produced(pid, epoch, seq, count, true)
}

fn marker(pid: i64, epoch: i16, coordinator_epoch: i32, commit: bool) -> TxnMarker {
    TxnMarker {
        producer_id: pid,
        producer_epoch: epoch,
        coordinator_epoch,
        commit,
        transaction_version: 0,
    }
}

fn append(log: &mut PartitionLog, batch: &[u8]) -> (i64, i64) {
    let info = log.append(batch, 0, 1_000).unwrap();
    (info.base_offset, info.last_offset)
}

fn end_txn(log: &mut PartitionLog, m: TxnMarker) -> MarkerInfo {
    log.append_txn_marker(m, 0, 2_000).unwrap()
}

/// The error code of a refused append, checking nothing was written.
fn refused(log: &mut PartitionLog, batch: &[u8]) -> i16 {
    let end = log.log_end_offset();
    let code = log.append(batch, 0, 1_000).unwrap_err().error_code();
    assert_eq!(
        log.log_end_offset(),
        end,
        "a refused batch must not be written"
    );
    code
}

fn refused_marker(log: &mut PartitionLog, m: TxnMarker) -> i16 {
    let end = log.log_end_offset();
    let code = log.append_txn_marker(m, 0, 2_000).unwrap_err().error_code();
    assert_eq!(
        log.log_end_offset(),
        end,
        "a refused marker must not be written"
    );
    code
}

fn aborted(log: &PartitionLog, from: i64, upper: i64) -> Vec<(i64, i64)> {
    log.aborted_transactions(from, upper)
        .iter()
        .map(|a| (a.producer_id, a.first_offset))
        .collect()
}

fn state_of(log: &PartitionLog, pid: i64) -> ProducerStateInfo {
    *log.producer_states()
        .iter()
        .find(|p| p.producer_id == pid)
        .unwrap()
}

/// The broker's last stable offset on a single node (HW = log end).
fn lso(log: &PartitionLog) -> i64 {
    let hw = log.log_end_offset();
    log.first_unstable_offset().map_or(hw, |o| o.min(hw))
}

/// Every `.txnindex` entry of the directory, oldest segment first, decoded
/// from the files: (producer id, first offset, last offset, LSO).
fn txn_index_files(dir: &Path) -> Vec<(i64, i64, i64, i64)> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".txnindex"))
        .collect();
    names.sort();
    let mut out = Vec::new();
    for name in names {
        let bytes = std::fs::read(dir.join(name)).unwrap();
        assert_eq!(bytes.len() % 34, 0);
        for e in bytes.chunks(34) {
            assert_eq!(&e[0..2], &[0, 0], "version 0");
            let f = |at: usize| i64::from_be_bytes(e[at..at + 8].try_into().unwrap());
            out.push((f(2), f(10), f(18), f(26)));
        }
    }
    out
}

fn headers(log: &PartitionLog) -> Vec<BatchHeader> {
    log.batch_headers().unwrap()
}

#[test]
fn an_open_transaction_holds_the_last_stable_offset_until_its_commit() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default(), false);
    assert_eq!(log.first_unstable_offset(), None);
    assert_eq!(append(&mut log, &txn(1, 0, 0, 3)), (0, 2));
    // Other producers' data keeps coming after it.
    append(&mut log, &produced(2, 0, 0, 2, false));
    append(&mut log, &batch("plain", 2, 0));
    append(&mut log, &txn(1, 0, 3, 1));
    assert_eq!(log.first_unstable_offset(), Some(0));
    assert_eq!(lso(&log), 0);
    assert_eq!(state_of(&log, 1).current_txn_start_offset, 0);
    assert_eq!(state_of(&log, 2).current_txn_start_offset, -1);
    // read_committed reads stop at the LSO.
    assert!(log
        .read(0, 1 << 20, lso(&log), true)
        .unwrap()
        .records
        .is_empty());

    let info = end_txn(&mut log, marker(1, 0, 3, true));
    assert_eq!(
        info,
        MarkerInfo {
            offset: 8,
            completed_txn_first_offset: Some(0),
            log_start_offset: 0,
        }
    );
    assert_eq!(log.log_end_offset(), 9);
    assert_eq!(log.first_unstable_offset(), None);
    assert_eq!(lso(&log), 9);
    assert_eq!(aborted(&log, 0, 9), vec![]);
    assert!(
        txn_index_files(dir.path()).is_empty(),
        "a commit is not indexed"
    );
    let p1 = state_of(&log, 1);
    assert_eq!((p1.coordinator_epoch, p1.current_txn_start_offset), (3, -1));
    // The whole log is now readable up to the LSO, marker included.
    let read = log.read(0, 1 << 20, lso(&log), true).unwrap();
    let batches = decode_batches(&read.records).unwrap();
    assert_eq!(batches.len(), 5);
    assert!(batches[4].header.is_control());
}

#[test]
fn the_marker_batch_is_kafkas_control_batch() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        compression: CompressionPolicy::Codec(Compression::Gzip),
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config, false);
    append(&mut log, &txn(5, 2, 0, 1));
    log.append_txn_marker(marker(5, 2, 7, false), 4, 2_000)
        .unwrap();
    let h = headers(&log)[1];
    assert!(h.is_control() && h.is_transactional());
    // Not recompressed to the topic's codec, as Kafka leaves markers.
    assert_eq!(h.compression().unwrap(), Compression::None);
    assert_eq!(
        (h.producer_id, h.producer_epoch, h.base_sequence),
        (5, 2, -1)
    );
    assert_eq!(
        (h.base_offset, h.records_count, h.partition_leader_epoch),
        (1, 1, 4)
    );
    assert_eq!(h.max_timestamp, 2_000);
    let read = log.read(1, 1 << 20, i64::MAX, true).unwrap();
    let record = &decode_batches(&read.records).unwrap()[0].records[0];
    assert_eq!(record.key.as_deref(), Some(&[0u8, 0, 0, 0][..]));
    assert_eq!(record.value.as_deref(), Some(&[0u8, 0, 0, 0, 0, 7][..]));
}

#[test]
fn an_abort_is_listed_for_overlapping_ranges_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default(), false);
    append(&mut log, &txn(1, 0, 0, 3));
    let info = end_txn(&mut log, marker(1, 0, 0, false));
    assert_eq!((info.offset, info.completed_txn_first_offset), (3, Some(0)));
    append(&mut log, &batch("after", 6, 0));
    let expected = vec![(1, 0)];
    assert_eq!(aborted(&log, 0, 1), expected);
    assert_eq!(aborted(&log, 2, 3), expected);
    // The marker's offset is still inside the transaction's range.
    assert_eq!(aborted(&log, 3, 10), expected);
    assert_eq!(aborted(&log, 4, 10), vec![]);
    assert_eq!(
        log.aborted_transactions(0, 10),
        vec![AbortedTxn {
            producer_id: 1,
            first_offset: 0
        }]
    );
    // Kafka's file: version 0, pid, first offset, marker offset, LSO.
    assert_eq!(txn_index_files(dir.path()), vec![(1, 0, 3, 4)]);
    assert!(dir.path().join("00000000000000000000.txnindex").exists());
}

#[test]
fn interleaved_producers_and_the_abort_entries_last_stable_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default(), false);
    append(&mut log, &txn(1, 0, 0, 2)); // 0-1
    append(&mut log, &txn(2, 0, 0, 2)); // 2-3
    append(&mut log, &txn(1, 0, 2, 2)); // 4-5
    assert_eq!(end_txn(&mut log, marker(2, 0, 0, false)).offset, 6);
    assert_eq!(log.first_unstable_offset(), Some(0));
    append(&mut log, &txn(2, 0, 2, 1)); // 7: a new transaction of 2
    assert_eq!(end_txn(&mut log, marker(1, 0, 0, true)).offset, 8);
    assert_eq!(log.first_unstable_offset(), Some(7));
    assert_eq!(end_txn(&mut log, marker(2, 0, 0, false)).offset, 9);
    assert_eq!(log.first_unstable_offset(), None);
    // Producer 2's first abort happened while 1 was open from 0.
    assert_eq!(
        txn_index_files(dir.path()),
        vec![(2, 2, 6, 0), (2, 7, 9, 10)]
    );
    assert_eq!(aborted(&log, 0, 10), vec![(2, 2), (2, 7)]);
    assert_eq!(aborted(&log, 0, 2), vec![]);
    assert_eq!(aborted(&log, 7, 8), vec![(2, 7)]);
}

#[test]
fn a_transaction_spanning_segments_is_found_from_its_first_segment() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_bytes: 200,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config, false);
    let mut seq = 0;
    for _ in 0..6 {
        append(&mut log, &txn(1, 0, seq, 2));
        seq += 2;
    }
    let m = end_txn(&mut log, marker(1, 0, 0, false)).offset;
    assert!(log.segment_count() >= 3, "{:?}", log.segment_base_offsets());
    let bases = log.segment_base_offsets();
    // The entry is in the marker's segment only.
    let marker_segment = *bases.iter().rev().find(|b| **b <= m).unwrap();
    assert!(dir
        .path()
        .join(format!("{marker_segment:020}.txnindex"))
        .exists());
    assert!(!dir.path().join("00000000000000000000.txnindex").exists());
    // A fetch from any segment of the transaction sees it.
    for from in [0, bases[1], m] {
        assert_eq!(aborted(&log, from, from + 1), vec![(1, 0)], "from {from}");
    }
    assert_eq!(aborted(&log, m + 1, m + 2), vec![]);
}

#[test]
fn a_newer_marker_epoch_restarts_sequences_and_fences_the_old_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default(), false);
    append(&mut log, &txn(1, 0, 0, 3));
    // KIP-890: EndTxn bumps the epoch and the marker carries the new one.
    end_txn(&mut log, marker(1, 1, 0, true));
    let p = state_of(&log, 1);
    assert_eq!((p.producer_epoch, p.last_sequence), (1, -1));
    assert_eq!(refused(&mut log, &txn(1, 1, 3, 1)), 45);
    assert_eq!(refused(&mut log, &txn(1, 0, 3, 1)), 47);
    assert_eq!(refused(&mut log, &produced(1, 0, 3, 1, false)), 47);
    assert_eq!(append(&mut log, &txn(1, 1, 0, 2)), (4, 5));
    assert_eq!(log.first_unstable_offset(), Some(4));
    // A marker older than the producer's epoch is refused.
    assert_eq!(refused_marker(&mut log, marker(1, 0, 0, false)), 47);
    assert_eq!(log.first_unstable_offset(), Some(4));
    end_txn(&mut log, marker(1, 2, 0, false));
    assert_eq!(aborted(&log, 0, 10), vec![(1, 4)]);
    assert_eq!(append(&mut log, &produced(1, 2, 0, 1, false)).0, 7);
}

#[test]
fn a_stale_coordinator_epoch_is_fenced() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default(), false);
    append(&mut log, &txn(1, 0, 0, 1));
    end_txn(&mut log, marker(1, 0, 5, true));
    append(&mut log, &txn(1, 0, 1, 1));
    assert_eq!(refused_marker(&mut log, marker(1, 0, 4, false)), 52);
    assert_eq!(log.first_unstable_offset(), Some(2));
    assert_eq!(state_of(&log, 1).coordinator_epoch, 5);
    end_txn(&mut log, marker(1, 0, 5, false));
    end_txn(&mut log, marker(1, 0, 6, true));
    assert_eq!(refused_marker(&mut log, marker(1, 0, 5, true)), 52);
}

#[test]
fn a_plain_batch_inside_an_open_transaction_is_invalid_txn_state() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default(), false);
    append(&mut log, &txn(1, 0, 0, 2));
    assert_eq!(refused(&mut log, &produced(1, 0, 2, 1, false)), 48);
    // The transaction and the sequence are untouched by the refusal.
    append(&mut log, &txn(1, 0, 2, 1));
    end_txn(&mut log, marker(1, 0, 0, true));
    append(&mut log, &produced(1, 0, 3, 1, false));
    assert_eq!(log.first_unstable_offset(), None);
}

#[test]
fn a_marker_without_an_open_transaction_is_written_and_closes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default(), false);
    append(&mut log, &batch("x", 2, 0));
    let info = end_txn(&mut log, marker(9, 3, 1, false));
    assert_eq!((info.offset, info.completed_txn_first_offset), (2, None));
    assert_eq!(log.log_end_offset(), 3);
    assert_eq!(aborted(&log, 0, 3), vec![]);
    let p = state_of(&log, 9);
    assert_eq!((p.producer_epoch, p.coordinator_epoch), (3, 1));
}

#[test]
fn markers_through_append_as_coordinator_follow_the_same_rules() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default(), false);
    append(&mut log, &txn(1, 0, 0, 1));
    end_txn(&mut log, marker(1, 0, 5, true));
    append(&mut log, &txn(1, 0, 1, 1));
    // Build a marker batch as another component would and write it as
    // coordinator batches.
    let other = tempfile::tempdir().unwrap();
    let mut scratch = open(other.path(), LogConfig::default(), false);
    scratch
        .append_txn_marker(marker(1, 0, 4, false), 0, 0)
        .unwrap();
    scratch
        .append_txn_marker(marker(1, 0, 5, false), 0, 0)
        .unwrap();
    let raw = |log: &PartitionLog, offset: i64| {
        log.read(offset, 1 << 20, offset + 1, true).unwrap().records
    };
    let (stale, good) = (raw(&scratch, 0), raw(&scratch, 1));
    let end = log.log_end_offset();
    let err = log.append_as_coordinator(&stale, 0, 0).unwrap_err();
    assert_eq!(
        (err.error_code(), log.log_end_offset()),
        (TRANSACTION_COORDINATOR_FENCED, end)
    );
    let info = log.append_as_coordinator(&good, 0, 0).unwrap();
    assert_eq!(info.base_offset, 3);
    assert_eq!(log.first_unstable_offset(), None);
    assert_eq!(aborted(&log, 0, 4), vec![(1, 2)]);
    assert_eq!(txn_index_files(dir.path()), vec![(1, 2, 3, 4)]);
}

#[test]
fn replicated_markers_rebuild_the_leaders_state_and_index() {
    let leader_dir = tempfile::tempdir().unwrap();
    let mut leader = open(leader_dir.path(), LogConfig::default(), false);
    append(&mut leader, &txn(1, 0, 0, 2));
    append(&mut leader, &txn(2, 0, 0, 1));
    end_txn(&mut leader, marker(1, 0, 0, false));
    append(&mut leader, &batch("x", 1, 0));
    end_txn(&mut leader, marker(2, 1, 3, true));
    append(&mut leader, &txn(1, 0, 2, 1));

    let follower_dir = tempfile::tempdir().unwrap();
    let mut follower = open(follower_dir.path(), LogConfig::default(), false);
    let all = leader.read(0, 1 << 20, i64::MAX, true).unwrap().records;
    follower.append_replicated(&all, 0).unwrap();
    assert_eq!(follower.producer_states(), leader.producer_states());
    assert_eq!(follower.first_unstable_offset(), Some(6));
    assert_eq!(
        follower.first_unstable_offset(),
        leader.first_unstable_offset()
    );
    assert_eq!(aborted(&follower, 0, 8), vec![(1, 0)]);
    assert_eq!(
        txn_index_files(follower_dir.path()),
        txn_index_files(leader_dir.path())
    );
}

#[test]
fn the_index_and_open_transactions_survive_a_clean_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default(), false);
    append(&mut log, &txn(1, 0, 0, 2));
    append(&mut log, &txn(2, 0, 0, 2));
    end_txn(&mut log, marker(1, 0, 3, false));
    append(&mut log, &txn(3, 0, 0, 1));
    let states = log.producer_states();
    log.close().unwrap();

    let mut log = open(dir.path(), LogConfig::default(), false);
    assert_eq!(log.producer_states(), states);
    assert_eq!(log.first_unstable_offset(), Some(2));
    assert_eq!(aborted(&log, 0, 10), vec![(1, 0)]);
    // Still enforced after the restart.
    assert_eq!(refused(&mut log, &produced(2, 0, 2, 1, false)), 48);
    assert_eq!(refused_marker(&mut log, marker(1, 0, 2, true)), 52);
    end_txn(&mut log, marker(2, 0, 0, false));
    assert_eq!(aborted(&log, 0, 10), vec![(1, 0), (2, 2)]);
    assert_eq!(
        txn_index_files(dir.path()),
        vec![(1, 0, 4, 2), (2, 2, 6, 5)]
    );
}

#[test]
fn a_crash_rebuilds_the_index_from_the_batches_that_survived() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default(), false);
    append(&mut log, &txn(1, 0, 0, 2)); // 0-1
    end_txn(&mut log, marker(1, 0, 0, false)); // 2
    append(&mut log, &txn(2, 0, 0, 2)); // 3-4
    let cut_at = headers(&log)
        .iter()
        .map(|h| h.total_size() as u64)
        .sum::<u64>();
    end_txn(&mut log, marker(2, 0, 0, false)); // 5
    append(&mut log, &txn(1, 0, 2, 1)); // 6
    assert_eq!(
        txn_index_files(dir.path()),
        vec![(1, 0, 2, 3), (2, 3, 5, 6)]
    );
    drop(log); // kill -9: no close, no snapshot at the log end

    // Unchanged files: the same state comes back.
    let log = open(dir.path(), LogConfig::default(), true);
    assert_eq!(log.first_unstable_offset(), Some(6));
    assert_eq!(aborted(&log, 0, 7), vec![(1, 0), (2, 3)]);
    drop(log);

    // The second abort's marker is torn off: its transaction is open again
    // and its entry is gone, on disk too.
    let path = dir.path().join("00000000000000000000.log");
    let file = OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(cut_at + 20).unwrap();
    let mut log = open(dir.path(), LogConfig::default(), true);
    assert_eq!(log.log_end_offset(), 5);
    assert_eq!(log.first_unstable_offset(), Some(3));
    assert_eq!(state_of(&log, 2).current_txn_start_offset, 3);
    assert_eq!(state_of(&log, 1).current_txn_start_offset, -1);
    assert_eq!(aborted(&log, 0, 5), vec![(1, 0)]);
    assert_eq!(txn_index_files(dir.path()), vec![(1, 0, 2, 3)]);
    // The coordinator retries the marker.
    assert_eq!(end_txn(&mut log, marker(2, 0, 0, false)).offset, 5);
    assert_eq!(
        txn_index_files(dir.path()),
        vec![(1, 0, 2, 3), (2, 3, 5, 6)]
    );
}

#[test]
fn a_lost_damaged_or_too_long_index_file_is_repaired_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default(), false);
    append(&mut log, &txn(1, 0, 0, 2));
    end_txn(&mut log, marker(1, 0, 0, false));
    append(&mut log, &txn(1, 0, 2, 1));
    end_txn(&mut log, marker(1, 0, 0, false));
    let index = std::fs::read(dir.path().join("00000000000000000000.txnindex")).unwrap();
    log.close().unwrap();
    // A lost index file is rebuilt by an unclean open...
    std::fs::remove_file(dir.path().join("00000000000000000000.txnindex")).unwrap();
    let log = open(dir.path(), LogConfig::default(), true);
    assert_eq!(aborted(&log, 0, 10), vec![(1, 0), (1, 3)]);
    drop(log);
    assert_eq!(
        std::fs::read(dir.path().join("00000000000000000000.txnindex")).unwrap(),
        index
    );
    // ...and garbage after the entries is ignored by any open.
    let mut garbage = index.clone();
    garbage.extend_from_slice(&[0, 0, 1, 2, 3]);
    std::fs::write(dir.path().join("00000000000000000000.txnindex"), &garbage).unwrap();
    let log = open(dir.path(), LogConfig::default(), false);
    assert_eq!(aborted(&log, 0, 10), vec![(1, 0), (1, 3)]);
    let last_marker = headers(&log)[3];
    assert_eq!(last_marker.base_offset, 4);
    drop(log);
    // The index entry reached the disk but the marker did not: whether the
    // shutdown is seen as clean or not, the abort did not happen.
    let kept: u64 = headers_len(dir.path(), 3);
    for recover in [false, true] {
        let path = dir.path().join("00000000000000000000.log");
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(kept)
            .unwrap();
        std::fs::write(dir.path().join("00000000000000000000.txnindex"), &index).unwrap();
        let log = open(dir.path(), LogConfig::default(), recover);
        assert_eq!(log.log_end_offset(), 4);
        assert_eq!(aborted(&log, 0, 10), vec![(1, 0)], "recover {recover}");
        assert_eq!(log.first_unstable_offset(), Some(3));
        assert_eq!(txn_index_files(dir.path()), vec![(1, 0, 2, 3)]);
    }
}

/// Bytes of the first `count` batches of the first segment.
fn headers_len(dir: &Path, count: usize) -> u64 {
    let log = open(dir, LogConfig::default(), false);
    let len = headers(&log)[..count]
        .iter()
        .map(|h| h.total_size() as u64)
        .sum();
    log.close().unwrap();
    len
}

#[test]
fn open_transactions_survive_a_crash_after_a_roll() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_bytes: 250,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config.clone(), false);
    append(&mut log, &txn(1, 0, 0, 1));
    append(&mut log, &txn(2, 0, 0, 1));
    end_txn(&mut log, marker(2, 0, 0, false));
    let mut seq = 1;
    while log.segment_count() < 3 {
        append(&mut log, &txn(1, 0, seq, 1));
        seq += 1;
    }
    let before = (log.producer_states(), log.first_unstable_offset());
    drop(log);
    let log = open(dir.path(), config, true);
    assert_eq!((log.producer_states(), log.first_unstable_offset()), before);
    assert_eq!(log.first_unstable_offset(), Some(0));
    assert_eq!(aborted(&log, 0, 3), vec![(2, 1)]);
}

#[test]
fn retention_removes_the_index_of_the_segments_it_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_bytes: 250,
        retention_ms: 1_000,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config.clone(), false);
    append(&mut log, &txn(1, 0, 0, 1));
    end_txn(&mut log, marker(1, 0, 0, false));
    let first_index = dir.path().join("00000000000000000000.txnindex");
    assert!(first_index.exists());
    while log.segment_count() < 3 {
        append(&mut log, &batch("filler", 3, 10_000_000));
    }
    // The first segment only holds old timestamps (1000, 2000).
    assert_eq!(log.enforce_retention(10_000).unwrap(), 1);
    assert!(!first_index.exists());
    assert!(log.log_start_offset() > 1);
    assert_eq!(aborted(&log, log.log_start_offset(), 100), vec![]);
    assert_eq!(log.first_unstable_offset(), None);
    log.close().unwrap();
    let log = open(dir.path(), config, true);
    assert_eq!(aborted(&log, log.log_start_offset(), 100), vec![]);
    assert_eq!(state_of(&log, 1).coordinator_epoch, 0);
}

#[test]
fn an_open_transaction_whose_start_was_deleted_is_clamped_to_the_log_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_bytes: 250,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config, false);
    append(&mut log, &txn(1, 0, 0, 1));
    while log.segment_count() < 3 {
        append(&mut log, &batch("filler", 2, 0));
    }
    let start = log.segment_base_offsets()[1];
    log.advance_log_start_offset(start).unwrap();
    assert_eq!(log.first_unstable_offset(), Some(start));
    assert_eq!(state_of(&log, 1).current_txn_start_offset, 0);
}

#[test]
fn truncation_drops_aborts_and_reopens_their_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default(), false);
    append(&mut log, &txn(1, 0, 0, 2)); // 0-1
    append(&mut log, &txn(2, 0, 0, 1)); // 2
    end_txn(&mut log, marker(2, 0, 0, false)); // 3
    end_txn(&mut log, marker(1, 0, 0, false)); // 4
    append(&mut log, &batch("x", 2, 0)); // 5-6
    assert_eq!(aborted(&log, 0, 7), vec![(2, 2), (1, 0)]);

    log.truncate_to(4).unwrap();
    assert_eq!(log.log_end_offset(), 4);
    assert_eq!(aborted(&log, 0, 7), vec![(2, 2)]);
    assert_eq!(txn_index_files(dir.path()), vec![(2, 2, 3, 0)]);
    assert_eq!(log.first_unstable_offset(), Some(0));
    assert_eq!(state_of(&log, 1).current_txn_start_offset, 0);
    // The leader's marker comes back through replication.
    let info = end_txn(&mut log, marker(1, 0, 0, false));
    assert_eq!(info.completed_txn_first_offset, Some(0));
    assert_eq!(
        txn_index_files(dir.path()),
        vec![(2, 2, 3, 0), (1, 0, 4, 5)]
    );

    log.truncate_to(2).unwrap();
    assert_eq!(aborted(&log, 0, 7), vec![]);
    assert!(txn_index_files(dir.path()).is_empty());
    assert_eq!(log.first_unstable_offset(), Some(0));
    assert!(log.producer_states().iter().all(|p| p.producer_id != 2));
    log.truncate_to(0).unwrap();
    assert_eq!(log.first_unstable_offset(), None);
}

#[test]
fn truncation_uses_snapshots_with_open_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_bytes: 250,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config, false);
    append(&mut log, &txn(1, 0, 0, 1));
    let mut seq = 1;
    while log.segment_count() < 3 {
        append(&mut log, &txn(1, 0, seq, 1));
        seq += 1;
    }
    let m = end_txn(&mut log, marker(1, 0, 0, true)).offset;
    assert_eq!(log.first_unstable_offset(), None);
    // The newest snapshot (at the last roll) has the transaction open.
    log.truncate_to(m).unwrap();
    assert_eq!(log.first_unstable_offset(), Some(0));
}

#[test]
fn expiry_keeps_producers_with_open_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default(), false);
    append(&mut log, &txn(1, 0, 0, 1));
    append(&mut log, &produced(2, 0, 0, 1, false));
    assert_eq!(log.expire_producers(i64::MAX / 2, 1), 1);
    assert_eq!(log.producer_states().len(), 1);
    assert_eq!(log.first_unstable_offset(), Some(0));
}

#[test]
fn read_stops_at_the_last_stable_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default(), false);
    append(&mut log, &batch("a", 3, 0)); // 0-2
    append(&mut log, &txn(1, 0, 0, 2)); // 3-4
    append(&mut log, &batch("b", 2, 0)); // 5-6
    let stable = lso(&log);
    assert_eq!(stable, 3);
    let read = log.read(0, 1 << 20, stable, true).unwrap();
    assert_eq!(
        values(&decode_batches(&read.records).unwrap()[0].records).len(),
        3
    );
    assert_eq!(decode_batches(&read.records).unwrap().len(), 1);
    assert!(log
        .read(3, 1 << 20, stable, true)
        .unwrap()
        .records
        .is_empty());
    assert!(log
        .read(5, 1 << 20, stable, true)
        .unwrap()
        .records
        .is_empty());
}

/// One step of the random workload.
#[derive(Debug, Clone, Copy)]
enum Op {
    Txn(usize),
    Plain(usize),
    Commit(usize),
    Abort(usize),
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0usize..3).prop_map(Op::Txn),
        2 => (0usize..3).prop_map(Op::Plain),
        1 => (0usize..3).prop_map(Op::Commit),
        1 => (0usize..3).prop_map(Op::Abort),
        1 => Just(Op::Restart),
    ]
}

/// What the state must be after a prefix of the log: open transactions,
/// and the aborts (pid, first, marker, LSO) in marker order.
#[derive(Debug, Default, Clone, PartialEq)]
struct Model {
    open: [Option<i64>; 3],
    aborts: Vec<(i64, i64, i64, i64)>,
}

impl Model {
    fn first_unstable(&self) -> Option<i64> {
        self.open.iter().flatten().min().copied()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Whatever prefix of the active segment survives a crash, the
    /// recovered log has exactly the open transactions, LSO and aborted
    /// index of the batches that survived (computed by a model), and a
    /// producer breaking its transaction is refused all along.
    #[test]
    fn recovery_rebuilds_transactions_of_the_surviving_batches(
        ops in prop::collection::vec(op(), 1..40),
        segment_bytes in 300u64..1500,
        cut_permille in 0u64..=1000,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig { segment_bytes, ..LogConfig::default() };
        let mut log = open(dir.path(), config.clone(), false);
        let mut seqs = [0i32; 3];
        // The model after each batch, keyed by the offset after it.
        let mut model = Model::default();
        let mut history = vec![(0i64, model.clone())];
        for op in ops {
            match op {
                Op::Txn(p) => {
                    let (first, _) = append(&mut log, &txn(p as i64, 0, seqs[p], 2));
                    seqs[p] += 2;
                    model.open[p].get_or_insert(first);
                }
                Op::Plain(p) if model.open[p].is_some() => {
                    prop_assert_eq!(refused(&mut log, &produced(p as i64, 0, seqs[p], 1, false)), 48);
                    continue;
                }
                Op::Plain(p) => {
                    append(&mut log, &produced(p as i64, 0, seqs[p], 1, false));
                    seqs[p] += 1;
                }
                Op::Commit(p) | Op::Abort(p) => {
                    let commit = matches!(op, Op::Commit(_));
                    let info = end_txn(&mut log, marker(p as i64, 0, 0, commit));
                    let first = model.open[p].take();
                    prop_assert_eq!(info.completed_txn_first_offset, first);
                    if let (Some(first), false) = (first, commit) {
                        let stable = model.first_unstable().unwrap_or(info.offset + 1);
                        model.aborts.push((p as i64, first, info.offset, stable));
                    }
                }
                Op::Restart => {
                    log.close().unwrap();
                    log = open(dir.path(), config.clone(), false);
                    continue;
                }
            }
            history.push((log.log_end_offset(), model.clone()));
            prop_assert_eq!(log.first_unstable_offset(), model.first_unstable());
        }
        let last_base = *log.segment_base_offsets().last().unwrap();
        let active_bytes: u64 = headers(&log)
            .iter()
            .filter(|h| h.base_offset >= last_base)
            .map(|h| h.total_size() as u64)
            .sum();
        drop(log);

        let cut = active_bytes * cut_permille / 1000;
        let path = dir.path().join(format!("{last_base:020}.log"));
        OpenOptions::new().write(true).open(&path).unwrap().set_len(cut).unwrap();
        let log = open(dir.path(), config, true);
        let end = log.log_end_offset();
        let expected = &history.iter().rev().find(|(e, _)| *e <= end).unwrap().1;
        prop_assert_eq!(history.iter().filter(|(e, _)| *e == end).count(), 1, "cut between batches");
        prop_assert_eq!(log.first_unstable_offset(), expected.first_unstable());
        prop_assert_eq!(txn_index_files(dir.path()), expected.aborts.clone());
        let listed: Vec<(i64, i64)> = expected.aborts.iter().map(|a| (a.0, a.1)).collect();
        prop_assert_eq!(aborted(&log, 0, i64::MAX), listed);
        for p in 0..3 {
            let start = log
                .producer_states()
                .iter()
                .find(|s| s.producer_id == p as i64)
                .map_or(-1, |s| s.current_txn_start_offset);
            prop_assert_eq!(start, expected.open[p].unwrap_or(-1));
        }
    }
}

/// KIP-890: a verification started before a marker of its producer does
/// not let a late batch open a transaction after that marker; one started
/// after it does, and an open transaction needs no verification.
#[test]
fn a_marker_voids_the_verifications_started_before_it() {
    use gregor_protocol::error_codes::INVALID_TXN_STATE;
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default(), false);
    let stale = log.start_verification(1, 0).expect("nothing open yet");
    assert_eq!(
        log.start_verification(1, 0),
        Some(stale),
        "shared per producer"
    );
    log.append_txn_marker(marker(1, 0, 0, false), 0, 2_000)
        .unwrap();
    let end = log.log_end_offset();
    let err = log
        .append_verified(&txn(1, 0, 0, 1), Some(stale), 0, 1_000)
        .unwrap_err();
    assert_eq!(err.error_code(), INVALID_TXN_STATE);
    assert_eq!(log.log_end_offset(), end, "nothing written");
    assert_eq!(
        log.append_verified(&txn(1, 0, 0, 1), None, 0, 1_000)
            .unwrap_err()
            .error_code(),
        INVALID_TXN_STATE,
        "no guard, no open transaction"
    );

    let fresh = log.start_verification(1, 0).unwrap();
    assert_ne!(fresh, stale);
    log.append_verified(&txn(1, 0, 0, 1), Some(fresh), 0, 1_000)
        .unwrap();
    assert_eq!(log.start_verification(1, 0), None, "open here now");
    log.append_verified(&txn(1, 0, 1, 1), None, 0, 1_000)
        .unwrap();
    assert_eq!(log.first_unstable_offset(), Some(end));
}

/// KIP-890 with transaction version 2 (Kafka's `UnifiedLog`): EndTxn bumps
/// the epoch and the markers carry the bumped epoch, which is the epoch of
/// the producer's next transaction. A verification of that next transaction
/// started before the previous one's marker arrives still holds after it;
/// a transaction version 1 verification does not.
#[test]
fn a_transaction_version_2_marker_keeps_the_next_transactions_verification() {
    use gregor_protocol::error_codes::INVALID_TXN_STATE;
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default(), false);
    let first = log.start_verification_for(1, 0, true).unwrap();
    log.append_verified(&txn(1, 0, 0, 1), Some(first), 0, 1_000)
        .unwrap();
    // The client committed (epoch bumped to 1) and produces its next
    // transaction while the commit marker is still on its way here.
    let next = log.start_verification_for(1, 1, true).unwrap();
    log.append_txn_marker(marker(1, 1, 0, true), 0, 2_000)
        .unwrap();
    log.append_verified(&txn(1, 1, 0, 1), Some(next), 0, 2_000)
        .unwrap();
    assert!(
        log.first_unstable_offset().is_some(),
        "the next transaction is open"
    );

    // Transaction version 1: the same order voids the verification.
    let stale = log.start_verification_for(2, 0, false).unwrap();
    log.append_txn_marker(marker(2, 0, 0, false), 0, 3_000)
        .unwrap();
    let err = log
        .append_verified(&txn(2, 0, 0, 1), Some(stale), 0, 3_000)
        .unwrap_err();
    assert_eq!(err.error_code(), INVALID_TXN_STATE);
}

/// Kafka keeps a completed transaction unstable until the high watermark
/// passes its marker: with followers behind the leader's log end, the
/// records stay invisible to read_committed until the marker is committed.
#[test]
fn a_transaction_stays_unstable_until_the_high_watermark_passes_its_marker() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default(), false);
    append(&mut log, &txn(1, 0, 0, 2));
    assert_eq!(log.last_stable_offset(2), 0, "open");
    let info = end_txn(&mut log, marker(1, 0, 0, true));
    assert_eq!(info.offset, 2);
    assert_eq!(log.first_unstable_offset(), None);
    // The marker (offset 2) is not below the high watermark yet.
    assert_eq!(log.last_stable_offset(2), 0);
    assert_eq!(log.last_stable_offset(3), 3);
    // Once passed, it is forgotten: a lower high watermark later (a new
    // leader's, say) does not make it unstable again.
    assert_eq!(log.last_stable_offset(2), 2);
    // A second transaction behind an unreplicated first one.
    append(&mut log, &txn(2, 0, 0, 1));
    end_txn(&mut log, marker(2, 0, 0, false));
    assert_eq!(log.last_stable_offset(4), 3);
    assert_eq!(log.last_stable_offset(5), 5);
}
