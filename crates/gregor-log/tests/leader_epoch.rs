//! The leader epoch cache behind OffsetsForLeaderEpoch.

// An integration test: unwrapping is how a failed step fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use gregor_log::{EpochEntry, LogConfig, UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET};

fn entries(pairs: &[(i32, i64)]) -> Vec<EpochEntry> {
    pairs
        .iter()
        .map(|(epoch, start_offset)| EpochEntry {
            epoch: *epoch,
            start_offset: *start_offset,
        })
        .collect()
}

#[test]
fn epochs_are_recorded_truncated_and_persisted() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default(), false);
    for epoch in [0, 0, 2, 2, 5] {
        log.append(&batch("e", 2, 0), epoch, 0).unwrap();
    }
    assert_eq!(log.leader_epochs(), entries(&[(0, 0), (2, 4), (5, 8)]));
    assert_eq!(log.latest_epoch(), Some(5));
    assert_eq!(log.end_offset_for_epoch(5), (5, 10));
    assert_eq!(log.end_offset_for_epoch(2), (2, 8));
    assert_eq!(log.end_offset_for_epoch(1), (0, 4));
    assert_eq!(
        log.end_offset_for_epoch(9),
        (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET)
    );
    assert_eq!(log.epoch_for_offset(5), Some(2));

    // A follower truncating to the divergence point forgets later epochs.
    log.truncate_to(8).unwrap();
    assert_eq!(log.leader_epochs(), entries(&[(0, 0), (2, 4)]));
    log.close().unwrap();
    let log = open(dir.path(), LogConfig::default(), false);
    assert_eq!(log.leader_epochs(), entries(&[(0, 0), (2, 4)]));
    assert_eq!(log.end_offset_for_epoch(2), (2, 8));
}

#[test]
fn recovery_relearns_epochs_missing_from_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        flush_messages: 1,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config.clone(), false);
    log.append(&batch("e", 2, 0), 1, 0).unwrap();
    log.append(&batch("e", 2, 0), 4, 0).unwrap();
    drop(log);
    // As if the crash came before the checkpoint was written.
    std::fs::remove_file(dir.path().join("leader-epoch-checkpoint")).unwrap();
    let log = open(dir.path(), config, true);
    assert_eq!(log.leader_epochs(), entries(&[(1, 0), (4, 2)]));
}

#[test]
fn replicated_batches_carry_their_epochs_and_log_start_trims_the_cache() {
    let leader_dir = tempfile::tempdir().unwrap();
    let follower_dir = tempfile::tempdir().unwrap();
    let mut leader = open(leader_dir.path(), LogConfig::default(), false);
    for epoch in [3, 3, 6] {
        leader.append(&batch("r", 3, 0), epoch, 0).unwrap();
    }
    let fetched = leader.read(0, 1 << 20, i64::MAX, true).unwrap().records;
    let mut follower = open(follower_dir.path(), LogConfig::default(), false);
    follower.append_replicated(&fetched, 0).unwrap();
    assert_eq!(follower.leader_epochs(), entries(&[(3, 0), (6, 6)]));

    follower.advance_log_start_offset(7).unwrap();
    assert_eq!(follower.leader_epochs(), entries(&[(6, 7)]));
    follower.truncate_fully_and_start_at(20).unwrap();
    assert!(follower.leader_epochs().is_empty());
}

#[test]
fn a_new_leader_assigns_its_epoch_at_the_log_end_and_it_persists() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default(), false);
    log.append(&batch("e", 3, 0), 0, 0).unwrap();
    // Becoming leader at epoch 4 before writing anything: the epoch starts
    // at the log end, and epoch 0 now ends there.
    log.assign_epoch(4, 3).unwrap();
    assert_eq!(log.leader_epochs(), entries(&[(0, 0), (4, 3)]));
    assert_eq!(log.end_offset_for_epoch(0), (0, 3));
    assert_eq!(log.end_offset_for_epoch(4), (4, 3));
    // Its first write at that epoch keeps the entry where it is.
    log.append(&batch("e", 2, 0), 4, 0).unwrap();
    assert_eq!(log.leader_epochs(), entries(&[(0, 0), (4, 3)]));
    log.close().unwrap();
    let log = open(dir.path(), LogConfig::default(), false);
    assert_eq!(log.leader_epochs(), entries(&[(0, 0), (4, 3)]));
    assert_eq!(log.end_offset_for_epoch(4), (4, 5));
}

#[test]
fn an_epoch_starting_at_the_log_end_survives_a_reopen_without_a_rewrite() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default(), false);
    log.append(&batch("e", 3, 0), 0, 0).unwrap();
    log.assign_epoch(4, 3).unwrap();
    log.close().unwrap();
    let checkpoint = dir.path().join("leader-epoch-checkpoint");
    let written = std::fs::metadata(&checkpoint).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));

    for _ in 0..2 {
        let log = open(dir.path(), LogConfig::default(), false);
        assert_eq!(log.leader_epochs(), entries(&[(0, 0), (4, 3)]));
        assert_eq!(log.end_offset_for_epoch(4), (4, 3));
        assert_eq!(log.end_offset_for_epoch(0), (0, 3));
        log.close().unwrap();
        let now = std::fs::metadata(&checkpoint).unwrap().modified().unwrap();
        assert_eq!(now, written, "the checkpoint was rewritten");
    }
    // The next leader's epoch replaces it at the same offset.
    let mut log = open(dir.path(), LogConfig::default(), false);
    log.assign_epoch(5, 3).unwrap();
    assert_eq!(log.leader_epochs(), entries(&[(0, 0), (5, 3)]));
}

#[test]
fn epochs_past_a_torn_tail_are_dropped_at_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default(), false);
    log.append(&batch("e", 3, 0), 0, 0).unwrap();
    log.append(&batch("e", 2, 0), 4, 0).unwrap();
    log.close().unwrap();
    // The second batch (epoch 4, offsets 3-4) is torn off by a crash.
    let segment = dir.path().join("00000000000000000000.log");
    let len = std::fs::metadata(&segment).unwrap().len();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&segment)
        .unwrap();
    let first_batch = {
        let bytes = std::fs::read(&segment).unwrap();
        12 + u32::from_be_bytes(bytes[8..12].try_into().unwrap()) as u64
    };
    file.set_len(first_batch + (len - first_batch) / 2).unwrap();
    let log = open(dir.path(), LogConfig::default(), true);
    assert_eq!(log.log_end_offset(), 3);
    assert_eq!(log.leader_epochs(), entries(&[(0, 0)]));
}

#[test]
fn tmp_epoch_history_survives_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default(), false);
    log.assign_epoch(0, 0).unwrap();
    log.append(&batch("e", 1, 0), 0, 0).unwrap();
    log.close().unwrap();
    for epoch in [2, 4, 6] {
        let mut log = open(dir.path(), LogConfig::default(), false);
        log.assign_epoch(epoch, 1).unwrap();
        assert_eq!(log.leader_epochs(), entries(&[(0, 0), (epoch, 1)]));
        log.close().unwrap();
    }
}
