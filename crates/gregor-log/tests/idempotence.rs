//! Idempotent-producer state: duplicates, sequence and epoch checks as
//! Kafka 4's broker makes them, and the state's survival across restarts,
//! truncation, retention and replication.

// An integration test: unwrapping is how a failed step fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bytes::Bytes;
use common::*;
use gregor_log::{AppendInfo, LogConfig, LogError, PartitionLog, ProducerStateInfo, TimestampType};
use gregor_protocol::compression::Compression;
use gregor_protocol::error_codes::{
    INVALID_PRODUCER_EPOCH, INVALID_RECORD, OUT_OF_ORDER_SEQUENCE_NUMBER,
};
use gregor_protocol::records::BatchBuilder;

const EXPIRATION_MS: i64 = 86_400_000;

/// A batch of `count` records from producer `pid` at `epoch`, starting at
/// sequence `seq`, with timestamps `ts, ts+1, ...`.
fn idem(pid: i64, epoch: i16, seq: i32, count: usize, ts: i64) -> Vec<u8> {
    let mut b = BatchBuilder::new(Compression::None).producer(pid, epoch, seq);
    for i in 0..count {
        b.push(
            ts + i as i64,
            None,
            Some(Bytes::from(format!("{pid}-{seq}-{i}"))),
            vec![],
        );
    }
    b.build().unwrap().to_vec()
}

fn append(log: &mut PartitionLog, batch: &[u8]) -> AppendInfo {
    log.append(batch, 0, 1_000).unwrap()
}

fn code(log: &mut PartitionLog, batch: &[u8]) -> i16 {
    let end = log.log_end_offset();
    let err = log.append(batch, 0, 1_000).unwrap_err();
    assert_eq!(
        log.log_end_offset(),
        end,
        "a refused batch must not be written"
    );
    err.error_code()
}

fn state_of(log: &PartitionLog, pid: i64) -> ProducerStateInfo {
    *log.producer_states()
        .iter()
        .find(|p| p.producer_id == pid)
        .unwrap()
}

/// Ten batches of two records from producer 7, epoch 0: seqs 0, 2, 4, ...
fn ten_batches() -> Vec<Vec<u8>> {
    (0..10)
        .map(|i| idem(7, 0, i * 2, 2, 100 + i64::from(i)))
        .collect()
}

#[test]
fn sequential_batches_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default(), false);
    let a = append(&mut log, &idem(7, 0, 0, 3, 10));
    let b = append(&mut log, &idem(7, 0, 3, 2, 20));
    assert_eq!((a.base_offset, a.last_offset, a.duplicate), (0, 2, false));
    assert_eq!((b.base_offset, b.last_offset, b.record_count), (3, 4, 2));
    assert_eq!(
        log.producer_states(),
        vec![ProducerStateInfo {
            producer_id: 7,
            producer_epoch: 0,
            last_sequence: 4,
            last_timestamp: 21,
            coordinator_epoch: -1,
            current_txn_start_offset: -1,
        }]
    );
}

#[test]
fn retries_of_the_last_five_batches_return_the_original_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default(), false);
    let batches = ten_batches();
    let originals: Vec<AppendInfo> = batches.iter().map(|b| append(&mut log, b)).collect();
    let end = log.log_end_offset();
    let size = log.size_bytes();
    for i in 5..10 {
        let retry = log.append(&batches[i], 3, 9_999).unwrap();
        assert!(retry.duplicate);
        assert_eq!(retry.base_offset, originals[i].base_offset);
        assert_eq!(retry.last_offset, originals[i].last_offset);
        assert_eq!(retry.record_count, 0);
        // Kafka answers with the original batch's max timestamp.
        assert_eq!(retry.log_append_time, 100 + i as i64 + 1);
    }
    assert_eq!((log.log_end_offset(), log.size_bytes()), (end, size));
    // The sixth-oldest batch has left the cache: Kafka calls it out of order.
    assert_eq!(code(&mut log, &batches[4]), OUT_OF_ORDER_SEQUENCE_NUMBER);
    assert_eq!(code(&mut log, &batches[0]), OUT_OF_ORDER_SEQUENCE_NUMBER);
    // A retry that overlaps a cached batch without matching it exactly is
    // not a duplicate either.
    assert_eq!(
        code(&mut log, &idem(7, 0, 18, 1, 0)),
        OUT_OF_ORDER_SEQUENCE_NUMBER
    );
    // The producer carries on.
    assert_eq!(append(&mut log, &idem(7, 0, 20, 1, 0)).base_offset, end);
}

#[test]
fn gaps_are_out_of_order_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default(), false);
    append(&mut log, &idem(7, 0, 0, 2, 0));
    assert_eq!(
        code(&mut log, &idem(7, 0, 3, 1, 0)),
        OUT_OF_ORDER_SEQUENCE_NUMBER
    );
    assert_eq!(
        code(&mut log, &idem(7, 0, 1, 1, 0)),
        OUT_OF_ORDER_SEQUENCE_NUMBER
    );
    assert_eq!(state_of(&log, 7).last_sequence, 1);
    assert_eq!(append(&mut log, &idem(7, 0, 2, 1, 0)).base_offset, 2);
}

#[test]
fn epochs_fence_and_restart_sequences() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default(), false);
    append(&mut log, &idem(7, 3, 0, 2, 0));
    append(&mut log, &idem(7, 3, 2, 2, 0));
    assert_eq!(code(&mut log, &idem(7, 2, 4, 1, 0)), INVALID_PRODUCER_EPOCH);
    assert_eq!(code(&mut log, &idem(7, 2, 0, 1, 0)), INVALID_PRODUCER_EPOCH);
    // A new epoch must start at sequence 0.
    assert_eq!(
        code(&mut log, &idem(7, 4, 4, 1, 0)),
        OUT_OF_ORDER_SEQUENCE_NUMBER
    );
    let bumped = append(&mut log, &idem(7, 4, 0, 1, 0));
    assert!(!bumped.duplicate);
    assert_eq!(bumped.base_offset, 4);
    let state = state_of(&log, 7);
    assert_eq!((state.producer_epoch, state.last_sequence), (4, 0));
    // Retries from the fenced epoch are refused, not deduplicated.
    assert_eq!(code(&mut log, &idem(7, 3, 2, 2, 0)), INVALID_PRODUCER_EPOCH);
}

#[test]
fn unknown_producers_may_start_at_any_sequence() {
    // KIP-360: a producer whose state expired or was deleted by retention
    // is accepted, Kafka 4 no longer answers UNKNOWN_PRODUCER_ID.
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default(), false);
    append(&mut log, &idem(9, 1, 500, 2, 0));
    assert_eq!(state_of(&log, 9).last_sequence, 501);
    assert_eq!(
        code(&mut log, &idem(9, 1, 503, 1, 0)),
        OUT_OF_ORDER_SEQUENCE_NUMBER
    );
}

#[test]
fn producers_do_not_interfere_and_plain_batches_are_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default(), false);
    let plain = batch("p", 2, 0);
    assert!(!append(&mut log, &plain).duplicate);
    append(&mut log, &idem(1, 0, 0, 1, 0));
    append(&mut log, &idem(2, 0, 0, 1, 0));
    // The same non-idempotent bytes twice are two appends.
    let again = append(&mut log, &plain);
    assert!(!again.duplicate);
    assert_eq!((again.base_offset, log.log_end_offset()), (4, 6));
    assert!(append(&mut log, &idem(1, 0, 0, 1, 0)).duplicate);
    assert_eq!(append(&mut log, &idem(2, 0, 1, 1, 0)).base_offset, 6);
    let pids: Vec<i64> = log
        .producer_states()
        .iter()
        .map(|p| p.producer_id)
        .collect();
    assert_eq!(pids, vec![1, 2]);
}

#[test]
fn sequences_wrap_at_i32_max() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default(), false);
    let wrapping = idem(7, 0, i32::MAX - 1, 4, 0);
    append(&mut log, &idem(7, 0, i32::MAX - 3, 2, 0));
    append(&mut log, &wrapping);
    assert_eq!(state_of(&log, 7).last_sequence, 1);
    assert!(append(&mut log, &wrapping).duplicate);
    assert_eq!(append(&mut log, &idem(7, 0, 2, 1, 0)).base_offset, 6);

    let dir2 = tempfile::tempdir().unwrap();
    let mut log2 = open(dir2.path(), LogConfig::default(), false);
    append(&mut log2, &idem(7, 0, i32::MAX, 1, 0));
    assert_eq!(code(&mut log2, &idem(7, 0, i32::MIN, 1, 0)), INVALID_RECORD);
    assert_eq!(append(&mut log2, &idem(7, 0, 0, 1, 0)).base_offset, 1);
}

/// Retries of each of the last five batches are duplicates with their
/// original offsets, and the next sequence is accepted.
fn assert_dedups_after_restart(
    log: &mut PartitionLog,
    batches: &[Vec<u8>],
    originals: &[AppendInfo],
) {
    let end = log.log_end_offset();
    for i in batches.len() - 5..batches.len() {
        let retry = append(log, &batches[i]);
        assert!(retry.duplicate, "batch {i} not detected after restart");
        assert_eq!(retry.base_offset, originals[i].base_offset);
    }
    assert_eq!(log.log_end_offset(), end);
    let next = idem(7, 0, 2 * batches.len() as i32, 1, 0);
    assert_eq!(append(log, &next).base_offset, end);
}

/// Segments of a few batches each, so the batches span rolls and snapshots.
fn rolling_config() -> LogConfig {
    LogConfig {
        segment_bytes: 300,
        ..small_config()
    }
}

#[test]
fn state_survives_a_clean_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), rolling_config(), false);
    let batches = ten_batches();
    let originals: Vec<AppendInfo> = batches.iter().map(|b| append(&mut log, b)).collect();
    assert!(log.segment_count() > 2);
    log.close().unwrap();
    let mut log = open(dir.path(), rolling_config(), false);
    assert_dedups_after_restart(&mut log, &batches, &originals);
}

#[test]
fn state_survives_a_crash() {
    for config in [LogConfig::default(), rolling_config()] {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(dir.path(), config.clone(), false);
        let batches = ten_batches();
        let originals: Vec<AppendInfo> = batches.iter().map(|b| append(&mut log, b)).collect();
        drop(log);
        let mut log = open(dir.path(), config, true);
        assert_dedups_after_restart(&mut log, &batches, &originals);
    }
}

#[test]
fn state_is_rebuilt_from_the_log_without_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), rolling_config(), false);
    let batches = ten_batches();
    let originals: Vec<AppendInfo> = batches.iter().map(|b| append(&mut log, b)).collect();
    log.close().unwrap();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "snapshot") {
            std::fs::remove_file(path).unwrap();
        }
    }
    let mut log = open(dir.path(), rolling_config(), true);
    assert_dedups_after_restart(&mut log, &batches, &originals);
}

#[test]
fn a_damaged_snapshot_falls_back_to_an_older_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), rolling_config(), false);
    let batches = ten_batches();
    let originals: Vec<AppendInfo> = batches.iter().map(|b| append(&mut log, b)).collect();
    let end = log.log_end_offset();
    log.close().unwrap();
    let newest = dir.path().join(format!("{end:020}.snapshot"));
    std::fs::write(&newest, "0\n1\ngarbage\n").unwrap();
    let mut log = open(dir.path(), rolling_config(), false);
    assert_dedups_after_restart(&mut log, &batches, &originals);
}

#[test]
fn truncation_forgets_the_removed_batches() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), rolling_config(), false);
    let batches = ten_batches();
    let originals: Vec<AppendInfo> = batches.iter().map(|b| append(&mut log, b)).collect();
    log.close().unwrap();
    let mut log = open(dir.path(), rolling_config(), false);
    // Remove the last three batches: their retries are new appends again.
    log.truncate_to(originals[7].base_offset).unwrap();
    assert_eq!(state_of(&log, 7).last_sequence, 13);
    assert!(append(&mut log, &batches[6]).duplicate);
    assert_eq!(code(&mut log, &batches[8]), OUT_OF_ORDER_SEQUENCE_NUMBER);
    let again = append(&mut log, &batches[7]);
    assert!(!again.duplicate);
    assert_eq!(again.base_offset, originals[7].base_offset);
    // The snapshot taken at close described the removed batches; a crash
    // now must not resurrect them.
    drop(log);
    let mut log = open(dir.path(), rolling_config(), true);
    assert_eq!(state_of(&log, 7).last_sequence, 15);
    assert!(append(&mut log, &batches[7]).duplicate);
    assert!(!append(&mut log, &batches[8]).duplicate);

    log.truncate_fully_and_start_at(100).unwrap();
    assert!(log.producer_states().is_empty());
    drop(log);
    let log = open(dir.path(), rolling_config(), true);
    assert!(log.producer_states().is_empty());
}

#[test]
fn retention_keeps_producer_state_until_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), rolling_config(), false);
    // Producer 8 writes only in the first segment, which retention deletes.
    append(&mut log, &idem(8, 0, 0, 3, 50));
    let batches = ten_batches();
    for b in &batches {
        append(&mut log, b);
    }
    let end = log.log_end_offset();
    append(&mut log, &batch("filler", 1, 0));
    log.advance_log_start_offset(end).unwrap();
    assert!(log.segment_base_offsets()[0] > 3);
    assert_eq!(state_of(&log, 8).last_sequence, 2);
    assert_eq!(state_of(&log, 7).last_sequence, 19);
    drop(log);
    // The snapshot taken when the surviving segment was rolled carries
    // producer 8 across the restart.
    let mut log = open(dir.path(), rolling_config(), true);
    assert_eq!(state_of(&log, 8).last_sequence, 2);
    assert_eq!(state_of(&log, 7).last_sequence, 19);
    assert!(append(&mut log, &batches[9]).duplicate);
    assert_eq!(
        code(&mut log, &idem(8, 0, 5, 1, 0)),
        OUT_OF_ORDER_SEQUENCE_NUMBER
    );
    assert!(!append(&mut log, &idem(8, 0, 3, 1, 0)).duplicate);
}

#[test]
fn producers_expire() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default(), false);
    append(&mut log, &idem(7, 0, 0, 1, 1_000));
    append(&mut log, &idem(8, 0, 0, 1, 5_000));
    assert_eq!(
        log.expire_producers(1_000 + EXPIRATION_MS - 1, EXPIRATION_MS),
        0
    );
    assert_eq!(
        log.expire_producers(1_000 + EXPIRATION_MS, EXPIRATION_MS),
        1
    );
    let pids: Vec<i64> = log
        .producer_states()
        .iter()
        .map(|p| p.producer_id)
        .collect();
    assert_eq!(pids, vec![8]);
    // Once forgotten, producer 7 is unknown again: any sequence is taken,
    // and a late retry is appended again, as in Kafka.
    assert!(!append(&mut log, &idem(7, 0, 0, 1, 1_000)).duplicate);
    // Expiry is persisted by the next snapshot.
    log.expire_producers(i64::MAX, EXPIRATION_MS);
    log.close().unwrap();
    let log = open(dir.path(), LogConfig::default(), false);
    assert!(log.producer_states().is_empty());
}

#[test]
fn log_append_time_topics_answer_duplicates_with_the_stored_time() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        timestamp_type: TimestampType::LogAppendTime,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config, false);
    let b = idem(7, 0, 0, 2, 10);
    let first = log.append(&b, 0, 5_000).unwrap();
    assert_eq!(first.log_append_time, 5_000);
    let retry = log.append(&b, 0, 6_000).unwrap();
    assert!(retry.duplicate);
    assert_eq!((retry.base_offset, retry.log_append_time), (0, 5_000));
    assert_eq!(state_of(&log, 7).last_timestamp, 5_000);
}

#[test]
fn followers_learn_producer_state_from_replicated_batches() {
    let leader_dir = tempfile::tempdir().unwrap();
    let follower_dir = tempfile::tempdir().unwrap();
    let mut leader = open(leader_dir.path(), LogConfig::default(), false);
    for b in ten_batches() {
        append(&mut leader, &b);
    }
    append(&mut leader, &idem(3, 2, 40, 1, 0));
    let fetched = leader.read(0, 1 << 20, i64::MAX, true).unwrap().records;
    let mut follower = open(follower_dir.path(), rolling_config(), false);
    follower.append_replicated(&fetched, 0).unwrap();
    assert_eq!(follower.producer_states(), leader.producer_states());
    // Were it to become leader, retries are still deduplicated.
    assert!(append(&mut follower, &ten_batches()[9]).duplicate);
}

#[test]
fn error_codes_match_kafka() {
    let epoch = LogError::InvalidProducerEpoch {
        producer_id: 1,
        epoch: 0,
        current: 1,
    };
    let order = LogError::OutOfOrderSequence {
        producer_id: 1,
        epoch: 0,
        sequence: 5,
        last_sequence: 2,
    };
    assert_eq!(
        (epoch.error_code(), order.error_code()),
        (INVALID_PRODUCER_EPOCH, OUT_OF_ORDER_SEQUENCE_NUMBER)
    );
}
