//! Append and read: offsets, batch boundaries, limits, policies, errors.

// An integration test: unwrapping is how a failed step fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use gregor_log::{CompressionPolicy, LogConfig, LogError, TimestampType};
use gregor_protocol::batch::BatchError;
use gregor_protocol::compression::Compression;
use gregor_protocol::error_codes::{
    CORRUPT_MESSAGE, INVALID_RECORD, MESSAGE_TOO_LARGE, OFFSET_OUT_OF_RANGE, RECORD_LIST_TOO_LARGE,
};
use gregor_protocol::records::decode_batches;

#[test]
fn append_assigns_contiguous_offsets_and_reads_them_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default(), false);
    assert_eq!(log.log_end_offset(), 0);

    let first = log.append(&batch("a", 3, 1000), 7, 5000).unwrap();
    assert_eq!(
        (first.base_offset, first.last_offset, first.record_count),
        (0, 2, 3)
    );
    assert_eq!(first.log_append_time, -1);
    assert_eq!(first.log_start_offset, 0);
    let second = log.append(&batch("b", 2, 2000), 7, 5000).unwrap();
    assert_eq!((second.base_offset, second.last_offset), (3, 4));
    assert_eq!(log.log_end_offset(), 5);

    let info = log.read(0, 1 << 20, i64::MAX, false).unwrap();
    assert_eq!(info.log_end_offset, 5);
    let batches = decode_batches(&info.records).unwrap();
    assert_eq!(batches.len(), 2);
    assert_eq!(batches[0].header.base_offset, 0);
    assert_eq!(batches[0].header.partition_leader_epoch, 7);
    assert_eq!(batches[1].header.base_offset, 3);
    let records: Vec<_> = batches.into_iter().flat_map(|b| b.records).collect();
    assert_eq!(offsets(&records), vec![0, 1, 2, 3, 4]);
    assert_eq!(values(&records), vec!["a-0", "a-1", "a-2", "b-0", "b-1"]);
    assert_eq!(records[3].timestamp, 2000);
    assert_eq!(log.size_bytes() as usize, info.records.len());
}

#[test]
fn read_in_the_middle_of_a_batch_returns_the_whole_batch() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default(), false);
    log.append(&batch("a", 5, 0), 0, 0).unwrap();
    log.append(&batch("b", 5, 0), 0, 0).unwrap();
    let info = log.read(7, 1 << 20, i64::MAX, false).unwrap();
    let batches = decode_batches(&info.records).unwrap();
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0].header.base_offset, 5);
}

#[test]
fn reads_respect_max_bytes_min_one_and_max_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default(), false);
    let b = batch("a", 4, 0);
    for _ in 0..3 {
        log.append(&b, 0, 0).unwrap();
    }
    let one = b.len();
    // Only whole batches fit.
    let info = log.read(0, one * 2 + one / 2, i64::MAX, false).unwrap();
    assert_eq!(info.records.len(), one * 2);
    // Too small for even one batch: nothing, unless min_one.
    assert!(log.read(0, 10, i64::MAX, false).unwrap().records.is_empty());
    assert_eq!(log.read(0, 10, i64::MAX, true).unwrap().records.len(), one);
    // The high watermark (exclusive) cuts off batches that reach it.
    assert_eq!(
        log.read(0, 1 << 20, 8, false).unwrap().records.len(),
        one * 2
    );
    assert_eq!(log.read(0, 1 << 20, 6, false).unwrap().records.len(), one);
    assert!(log.read(8, 1 << 20, 8, false).unwrap().records.is_empty());
    // At the log end: empty, not an error.
    assert!(log
        .read(12, 1 << 20, i64::MAX, true)
        .unwrap()
        .records
        .is_empty());
}

#[test]
fn out_of_range_offsets_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default(), false);
    log.append(&batch("a", 2, 0), 0, 0).unwrap();
    let err = log.read(3, 100, i64::MAX, true).unwrap_err();
    assert!(matches!(
        err,
        LogError::OffsetOutOfRange {
            requested: 3,
            log_start: 0,
            log_end: 2
        }
    ));
    assert_eq!(err.error_code(), OFFSET_OUT_OF_RANGE);
    assert_eq!(
        log.read(-1, 100, i64::MAX, true).unwrap_err().error_code(),
        OFFSET_OUT_OF_RANGE
    );
}

#[test]
fn reads_cross_segment_rolls() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_config(), false);
    for i in 0..40 {
        log.append(&batch(&format!("b{i}"), 2, i), 0, 0).unwrap();
    }
    assert!(
        log.segment_count() > 3,
        "expected several segments, got {}",
        log.segment_count()
    );
    let records = read_all(&log, 0);
    assert_eq!(offsets(&records), (0..80).collect::<Vec<_>>());
    // A read in the middle of a later segment.
    let base = log.segment_base_offsets()[2];
    let info = log.read(base + 1, 1 << 20, i64::MAX, false).unwrap();
    let batches = decode_batches(&info.records).unwrap();
    let target = base + 1;
    let first = batches[0].header;
    assert!((first.base_offset..=first.last_offset()).contains(&target));
    assert_eq!(log.batch_headers().unwrap().len(), 40);
}

#[test]
fn log_append_time_overrides_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        timestamp_type: TimestampType::LogAppendTime,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config, false);
    let info = log.append(&batch("a", 3, 1000), 0, 99_000).unwrap();
    assert_eq!(info.log_append_time, 99_000);
    let batches = decode_batches(&log.read(0, 1 << 20, i64::MAX, true).unwrap().records).unwrap();
    assert!(batches[0].header.is_log_append_time());
    assert_eq!(batches[0].header.max_timestamp, 99_000);
    assert!(batches[0].records.iter().all(|r| r.timestamp == 99_000));
}

#[test]
fn compression_policy_recompresses_and_keeps_records() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        compression: CompressionPolicy::Codec(Compression::Gzip),
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config, false);
    log.append(&batch("plain", 4, 10), 0, 0).unwrap();
    log.append(&batch_with(Compression::Lz4, "lz4", 3, 20), 0, 0)
        .unwrap();
    log.append(&batch_with(Compression::Gzip, "gz", 2, 30), 0, 0)
        .unwrap();
    let batches = decode_batches(&log.read(0, 1 << 20, i64::MAX, true).unwrap().records).unwrap();
    assert_eq!(batches.len(), 3);
    for b in &batches {
        assert_eq!(b.header.compression().unwrap(), Compression::Gzip);
    }
    let records: Vec<_> = batches.into_iter().flat_map(|b| b.records).collect();
    assert_eq!(offsets(&records), (0..9).collect::<Vec<_>>());
    assert_eq!(
        values(&records)[..4],
        ["plain-0", "plain-1", "plain-2", "plain-3"]
    );
    assert_eq!(values(&records)[4..7], ["lz4-0", "lz4-1", "lz4-2"]);
    assert_eq!(records[5].timestamp, 21);
}

#[test]
fn producer_compression_is_kept_as_sent() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default(), false);
    log.append(&batch_with(Compression::Snappy, "s", 3, 0), 0, 0)
        .unwrap();
    let batches = decode_batches(&log.read(0, 1 << 20, i64::MAX, true).unwrap().records).unwrap();
    assert_eq!(
        batches[0].header.compression().unwrap(),
        Compression::Snappy
    );
    assert_eq!(values(&batches[0].records), vec!["s-0", "s-1", "s-2"]);
}

#[test]
fn invalid_payloads_are_refused_with_kafka_codes() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        max_message_bytes: 200,
        segment_bytes: 300,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config, false);

    let mut corrupt = batch("a", 2, 0);
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    assert_eq!(
        log.append(&corrupt, 0, 0).unwrap_err().error_code(),
        CORRUPT_MESSAGE
    ); // CORRUPT_MESSAGE

    let big = batch("x".repeat(100).as_str(), 3, 0);
    assert_eq!(
        log.append(&big, 0, 0).unwrap_err().error_code(),
        MESSAGE_TOO_LARGE
    ); // MESSAGE_TOO_LARGE

    let mut v1 = batch("a", 1, 0);
    v1[16] = 1;
    let err = log.append(&v1, 0, 0).unwrap_err();
    assert!(matches!(
        err,
        LogError::Batch(BatchError::UnsupportedMagic(1))
    ));
    assert_eq!(err.error_code(), INVALID_RECORD); // Kafka 4 answers INVALID_RECORD for v0/v1

    assert_eq!(
        log.append(&[], 0, 0).unwrap_err().error_code(),
        INVALID_RECORD
    ); // INVALID_RECORD

    // Nothing was written by the refused appends.
    assert_eq!(log.log_end_offset(), 0);
    assert_eq!(log.size_bytes(), 0);
    log.append(&batch("ok", 1, 0), 0, 0).unwrap();
    assert_eq!(log.log_end_offset(), 1);
}

#[test]
fn payload_larger_than_a_segment_is_record_list_too_large() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_bytes: 100,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config, false);
    let err = log.append(&batch("abcdefghij", 5, 0), 0, 0).unwrap_err();
    assert!(matches!(err, LogError::RecordListTooLarge { max: 100, .. }));
    assert_eq!(err.error_code(), RECORD_LIST_TOO_LARGE);
}

#[test]
fn coordinator_appends_accept_several_batches() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default(), false);
    let mut payload = batch("a", 2, 0);
    payload.extend_from_slice(&batch("b", 3, 0));
    let info = log.append_as_coordinator(&payload, 4, 0).unwrap();
    assert_eq!(
        (info.base_offset, info.last_offset, info.record_count),
        (0, 4, 5)
    );
    let headers = log.batch_headers().unwrap();
    assert_eq!(
        headers.iter().map(|h| h.base_offset).collect::<Vec<_>>(),
        vec![0, 2]
    );
}

#[test]
fn replicated_batches_keep_their_offsets() {
    let leader_dir = tempfile::tempdir().unwrap();
    let follower_dir = tempfile::tempdir().unwrap();
    let mut leader = open(leader_dir.path(), LogConfig::default(), false);
    for i in 0..3 {
        leader.append(&batch("r", 2, i), 5, 0).unwrap();
    }
    let fetched = leader.read(0, 1 << 20, i64::MAX, true).unwrap().records;
    let mut follower = open(follower_dir.path(), LogConfig::default(), false);
    let info = follower.append_replicated(&fetched, 0).unwrap();
    assert_eq!((info.base_offset, info.last_offset), (0, 5));
    assert_eq!(
        follower.read(0, 1 << 20, i64::MAX, true).unwrap().records,
        fetched
    );
    // The same batches again would rewind the log: refused.
    assert!(follower.append_replicated(&fetched, 0).is_err());
}

#[test]
fn replicated_batches_with_impossible_offsets_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default(), false);
    let mut b = batch("a", 3, 0);
    gregor_protocol::batch::set_base_offset(&mut b, i64::MAX - 1);
    assert_eq!(
        log.append_replicated(&b, 0).unwrap_err().error_code(),
        CORRUPT_MESSAGE
    );
    let mut torn = batch("a", 3, 0);
    torn.truncate(torn.len() - 1);
    assert_eq!(
        log.append_replicated(&torn, 0).unwrap_err().error_code(),
        CORRUPT_MESSAGE
    );
    assert_eq!(log.log_end_offset(), 0);
}

#[test]
fn flush_if_due_and_flush_keep_data_readable() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        flush_ms: 1000,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config.clone(), false);
    log.append(&batch("a", 2, 0), 0, 5_000).unwrap();
    log.flush_if_due(5_500).unwrap();
    log.flush_if_due(6_000).unwrap();
    log.append(&batch("b", 2, 0), 0, 6_100).unwrap();
    log.flush().unwrap();
    drop(log);
    let log = open(dir.path(), config, true);
    assert_eq!(values(&read_all(&log, 0)), vec!["a-0", "a-1", "b-0", "b-1"]);
}

#[test]
fn replicated_fetch_larger_than_a_segment_is_split_across_segments() {
    let leader_dir = tempfile::tempdir().unwrap();
    let follower_dir = tempfile::tempdir().unwrap();
    let mut leader = open(leader_dir.path(), LogConfig::default(), false);
    for i in 0..10 {
        leader.append(&batch("r", 3, i), 1, 0).unwrap();
    }
    let fetched = leader.read(0, 1 << 20, i64::MAX, true).unwrap().records;
    let one = fetched.len() / 10;
    let config = LogConfig {
        segment_bytes: (one * 4) as u64,
        ..LogConfig::default()
    };
    let mut follower = open(follower_dir.path(), config, false);
    let info = follower.append_replicated(&fetched, 0).unwrap();
    assert_eq!(
        (info.base_offset, info.last_offset, info.record_count),
        (0, 29, 30)
    );
    assert_eq!(follower.segment_base_offsets(), vec![0, 12, 24]);
    assert_eq!(
        offsets(&read_all(&follower, 0)),
        (0..30).collect::<Vec<_>>()
    );
}

#[test]
fn a_slice_names_the_bytes_a_read_copies() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default(), false);
    let one = batch("a", 4, 0).len();
    for _ in 0..3 {
        log.append(&batch("a", 4, 0), 0, 0).unwrap();
    }
    for (offset, max_bytes, max_offset, min_one) in [
        (0, 1 << 20, i64::MAX, false),
        (5, one * 2, i64::MAX, false),
        (0, 10, i64::MAX, true),
        (0, 10, i64::MAX, false),
        (0, 1 << 20, 8, false),
        (12, 1 << 20, i64::MAX, true),
    ] {
        let slice = log
            .read_slice(offset, max_bytes, max_offset, min_one)
            .unwrap();
        let read = log.read(offset, max_bytes, max_offset, min_one).unwrap();
        assert_eq!(slice.records.to_vec().unwrap(), read.records.to_vec());
        assert_eq!(slice.log_end_offset, read.log_end_offset);
        // The next offset is the one after the slice's last batch.
        let last = decode_batches(&read.records)
            .unwrap()
            .last()
            .map(|b| b.header.last_offset() + 1);
        assert_eq!(slice.records.next_offset(), last);
    }
    assert!(matches!(
        log.read_slice(13, 100, i64::MAX, true),
        Err(LogError::OffsetOutOfRange { .. })
    ));
}
