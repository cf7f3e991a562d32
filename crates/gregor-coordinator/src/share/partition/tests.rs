use super::*;
use crate::share::{DeliveryState, PersistedBatch, PersistedShareState};
use gregor_protocol::error_codes;

fn settings() -> PartitionSettings {
    PartitionSettings {
        record_lock_duration_ms: 1_000,
        delivery_count_limit: 3,
        max_in_flight: 10,
    }
}

fn partition() -> SharePartition {
    SharePartition::new(settings(), 0, 0, 0)
}

fn ack(first: i64, last: i64, types: &[i8]) -> AckBatch {
    AckBatch {
        first_offset: first,
        last_offset: last,
        types: types.to_vec(),
    }
}

fn range(first: i64, last: i64, count: i16) -> AcquiredRange {
    AcquiredRange {
        first_offset: first,
        last_offset: last,
        delivery_count: count,
    }
}

#[test]
fn new_records_are_acquired_once() {
    let mut p = partition();
    assert_eq!(p.acquire("a", 0, 4, 100, 0), vec![range(0, 4, 1)]);
    assert_eq!(p.acquire("b", 0, 4, 100, 0), vec![]);
    assert_eq!(p.next_fetch_offset(), 5);
    assert_eq!(p.acquire("b", 5, 6, 100, 0), vec![range(5, 6, 1)]);
    assert_eq!(
        p.record(5).and_then(|r| r.owner.clone()).as_deref(),
        Some("b")
    );
}

#[test]
fn max_records_and_window_limit_acquisition() {
    let mut p = partition();
    assert_eq!(p.acquire("a", 0, 99, 4, 0), vec![range(0, 3, 1)]);
    // the window holds 10 offsets: only 4..9 more
    assert_eq!(p.acquire("a", 4, 99, 100, 0), vec![range(4, 9, 1)]);
    assert!(!p.can_acquire());
    assert_eq!(p.acquire("b", 10, 20, 100, 0), vec![]);
    p.acknowledge("a", &[ack(0, 1, &[1])]).unwrap();
    assert_eq!(p.start_offset(), 2);
    assert_eq!(p.acquire("b", 10, 20, 100, 0), vec![range(10, 11, 1)]);
}

#[test]
fn accept_moves_start_offset_and_persists() {
    let mut p = partition();
    p.acquire("a", 0, 2, 100, 0);
    p.acknowledge("a", &[ack(0, 2, &[1])]).unwrap();
    assert_eq!(p.start_offset(), 3);
    let changes = p.take_changes().unwrap();
    assert_eq!(changes.start_offset, 3);
    assert!(changes.batches.is_empty());
    assert!(p.take_changes().is_none());
}

#[test]
fn release_redelivers_with_higher_count() {
    let mut p = partition();
    p.acquire("a", 0, 2, 100, 0);
    p.acknowledge("a", &[ack(0, 2, &[1, 2, 1])]).unwrap();
    assert_eq!(p.start_offset(), 1);
    assert_eq!(p.next_fetch_offset(), 1);
    let changes = p.take_changes().unwrap();
    assert_eq!(
        changes.batches,
        vec![
            PersistedBatch {
                first_offset: 1,
                last_offset: 1,
                delivery_state: DeliveryState::Available,
                delivery_count: 1
            },
            PersistedBatch {
                first_offset: 2,
                last_offset: 2,
                delivery_state: DeliveryState::Acknowledged,
                delivery_count: 1
            },
        ]
    );
    assert_eq!(p.acquire("b", 1, 2, 100, 0), vec![range(1, 1, 2)]);
}

#[test]
fn reject_and_gap_archive() {
    let mut p = partition();
    p.acquire("a", 0, 3, 100, 0);
    p.acknowledge("a", &[ack(0, 1, &[3]), ack(2, 3, &[0, 1])])
        .unwrap();
    assert_eq!(p.start_offset(), 4);
    assert!(p.acquire("a", 0, 3, 100, 0).is_empty());
}

#[test]
fn delivery_limit_archives_on_release_and_timeout() {
    let mut p = partition();
    for delivery in 1..=3 {
        assert_eq!(p.acquire("a", 0, 0, 100, 0), vec![range(0, 0, delivery)]);
        if delivery < 3 {
            p.acknowledge("a", &[ack(0, 0, &[2])]).unwrap();
        }
    }
    assert_eq!(p.next_deadline(), Some(1_000));
    assert_eq!(p.tick(999), 0);
    assert_eq!(p.tick(1_000), 1);
    assert_eq!(p.start_offset(), 1);
    assert!(p.acquire("a", 0, 0, 100, 0).is_empty());
}

#[test]
fn lock_timeout_makes_records_available() {
    let mut p = partition();
    p.acquire("a", 0, 1, 100, 500);
    assert_eq!(p.next_deadline(), Some(1_500));
    assert_eq!(p.tick(1_500), 2);
    assert_eq!(p.next_deadline(), None);
    assert_eq!(p.acquire("b", 0, 1, 100, 2_000), vec![range(0, 1, 2)]);
    // "a" no longer holds them
    assert_eq!(
        p.acknowledge("a", &[ack(0, 1, &[1])]),
        Err(error_codes::INVALID_RECORD_STATE)
    );
}

#[test]
fn release_member_frees_only_its_records() {
    let mut p = partition();
    p.acquire("a", 0, 1, 100, 0);
    p.acquire("b", 2, 3, 100, 0);
    assert_eq!(p.release_member("a"), 2);
    assert_eq!(p.record(2).map(|r| r.state), Some(RecordState::Acquired));
    assert_eq!(p.acquire("c", 0, 3, 100, 0), vec![range(0, 1, 2)]);
}

#[test]
fn acknowledgement_errors_are_kafkas() {
    let mut p = partition();
    assert_eq!(
        p.acknowledge("a", &[ack(0, 0, &[1])]),
        Err(error_codes::INVALID_RECORD_STATE),
        "nothing in flight"
    );
    p.acquire("a", 0, 4, 100, 0);
    let cases: Vec<(Vec<AckBatch>, i16, &str)> = vec![
        (
            vec![ack(3, 2, &[1])],
            error_codes::INVALID_REQUEST,
            "first > last",
        ),
        (
            vec![ack(0, 1, &[1, 1, 1])],
            error_codes::INVALID_REQUEST,
            "type count",
        ),
        (
            vec![ack(0, 1, &[4])],
            error_codes::INVALID_REQUEST,
            "unknown type",
        ),
        (
            vec![ack(2, 3, &[1]), ack(0, 1, &[1])],
            error_codes::INVALID_REQUEST,
            "out of order",
        ),
        (
            vec![ack(3, 7, &[1])],
            error_codes::INVALID_REQUEST,
            "past acquired",
        ),
        (
            vec![ack(9, 9, &[1])],
            error_codes::INVALID_REQUEST,
            "first past acquired",
        ),
    ];
    for (batches, code, why) in cases {
        assert_eq!(p.acknowledge("a", &batches), Err(code), "{why}");
    }
    assert_eq!(
        p.acknowledge("b", &[ack(0, 0, &[1])]),
        Err(error_codes::INVALID_RECORD_STATE),
        "another member's record"
    );
    // all or nothing: the valid first batch was not applied
    assert_eq!(
        p.acknowledge("a", &[ack(0, 0, &[1]), ack(3, 7, &[1])]),
        Err(error_codes::INVALID_REQUEST)
    );
    assert_eq!(p.record(0).map(|r| r.state), Some(RecordState::Acquired));
    p.acknowledge("a", &[ack(0, 0, &[1])]).unwrap();
    assert_eq!(
        p.acknowledge("a", &[ack(0, 0, &[1])]),
        Ok(()),
        "already acknowledged (below start): Kafka lets it pass"
    );
    p.acknowledge("a", &[ack(2, 2, &[1])]).unwrap();
    assert_eq!(
        p.acknowledge("a", &[ack(2, 2, &[1])]),
        Err(error_codes::INVALID_RECORD_STATE),
        "already acknowledged (in flight)"
    );
}

#[test]
fn log_start_moving_archives_below_it() {
    let mut p = partition();
    p.acquire("a", 0, 4, 100, 0);
    p.advance_log_start(3);
    assert_eq!(p.start_offset(), 3);
    // Below the start: archived already, so the acknowledgement is a no-op.
    assert_eq!(p.acknowledge("a", &[ack(1, 1, &[1])]), Ok(()));
    assert_eq!(p.record(1).map(|r| r.state), None);
    p.acknowledge("a", &[ack(3, 4, &[1])]).unwrap();
    assert_eq!(p.start_offset(), 5);
    p.advance_log_start(20);
    assert_eq!((p.start_offset(), p.end_offset()), (20, 20));
    assert_eq!(p.acquire("a", 20, 20, 100, 0), vec![range(20, 20, 1)]);
}

#[test]
fn log_read_past_the_window_archives_the_hole() {
    let mut p = partition();
    p.acquire("a", 0, 1, 100, 0);
    // offsets 2..4 were compacted away
    assert_eq!(p.acquire("a", 5, 5, 100, 0), vec![range(5, 5, 1)]);
    assert_eq!(p.record(3).map(|r| r.state), Some(RecordState::Archived));
    p.acknowledge("a", &[ack(0, 1, &[1]), ack(5, 5, &[1])])
        .unwrap();
    assert_eq!(p.start_offset(), 6);
}

#[test]
fn aborted_records_are_archived_undelivered() {
    let mut p = partition();
    p.archive_undelivered(0, 2);
    assert_eq!(p.start_offset(), 3);
    assert_eq!(p.acquire("a", 0, 4, 100, 0), vec![range(3, 4, 1)]);
}

#[test]
fn persisted_state_round_trips() {
    let mut p = partition();
    p.acquire("a", 0, 5, 100, 0);
    p.acknowledge("a", &[ack(1, 1, &[1]), ack(2, 2, &[2]), ack(3, 3, &[3])])
        .unwrap();
    let stored = p.persisted_state();
    assert_eq!(stored.start_offset, 0);
    assert_eq!(stored.delivery_complete_count, 2);
    let loaded = SharePartition::from_persisted(settings(), &stored, 1);
    assert_eq!(loaded.start_offset(), 0);
    assert_eq!(loaded.end_offset(), 6);
    // the leader died: acquired records are available again, counts kept
    assert_eq!(
        loaded.record(0).map(|r| (r.state, r.delivery_count)),
        Some((RecordState::Available, 1))
    );
    assert_eq!(
        loaded.record(1).map(|r| r.state),
        Some(RecordState::Acknowledged)
    );
    assert_eq!(
        loaded.record(3).map(|r| r.state),
        Some(RecordState::Archived)
    );
    assert_eq!(loaded.leader_epoch(), 1);
}

#[test]
fn loading_fills_holes_and_archives_exhausted_records() {
    let stored = PersistedShareState {
        state_epoch: 2,
        leader_epoch: 0,
        start_offset: 10,
        delivery_complete_count: -1,
        batches: vec![
            PersistedBatch {
                first_offset: 8,
                last_offset: 10,
                delivery_state: DeliveryState::Acknowledged,
                delivery_count: 1,
            },
            PersistedBatch {
                first_offset: 13,
                last_offset: 13,
                delivery_state: DeliveryState::Available,
                delivery_count: 3,
            },
        ],
    };
    let mut p = SharePartition::from_persisted(settings(), &stored, 0);
    assert_eq!(p.start_offset(), 11);
    assert_eq!(p.end_offset(), 14);
    assert_eq!(p.state_epoch(), 2);
    assert_eq!(
        p.acquire("a", 11, 20, 100, 0),
        vec![range(11, 12, 1), range(14, 20, 1)]
    );
    assert_eq!(p.record(13).map(|r| r.state), Some(RecordState::Archived));
}

const V2_RENEW: AckRules = AckRules {
    renew_in_version: true,
    renew_flagged: true,
    renew_enabled: true,
};

#[test]
fn record_limit_mode_splits_a_log_batch() {
    let mut p = partition();
    // log batches 0-4 and 5-9; max 2 records
    let got = p.acquire_in_mode("a", 0, 9, 2, AcquireMode::RecordLimit, &[4, 9], 0);
    assert_eq!(got, vec![range(0, 1, 1)]);
    // the rest of the batch stays available for another member
    let got = p.acquire_in_mode("b", 2, 9, 2, AcquireMode::RecordLimit, &[4, 9], 0);
    assert_eq!(got, vec![range(2, 3, 1)]);
}

#[test]
fn batch_optimized_mode_takes_the_rest_of_the_batch() {
    let mut p = partition();
    let got = p.acquire_in_mode("a", 0, 9, 2, AcquireMode::BatchOptimized, &[4, 9], 0);
    assert_eq!(got, vec![range(0, 4, 1)]);
    // a limit reached exactly at a batch end takes nothing more
    let got = p.acquire_in_mode("b", 5, 9, 5, AcquireMode::BatchOptimized, &[4, 9], 0);
    assert_eq!(got, vec![range(5, 9, 1)]);
    // never past the window (max 10 in flight)
    let mut q = partition();
    let got = q.acquire_in_mode("a", 0, 20, 3, AcquireMode::BatchOptimized, &[20], 0);
    assert_eq!(got, vec![range(0, 9, 1)]);
}

#[test]
fn acquire_mode_codes() {
    assert_eq!(AcquireMode::from_code(0), Some(AcquireMode::BatchOptimized));
    assert_eq!(AcquireMode::from_code(1), Some(AcquireMode::RecordLimit));
    assert_eq!(AcquireMode::from_code(2), None);
    assert_eq!(AcquireMode::from_code(-1), None);
}

#[test]
fn renew_extends_the_lock_and_keeps_the_record() {
    let mut p = partition();
    p.acquire("a", 0, 2, 100, 0);
    p.acknowledge_with("a", &[ack(0, 1, &[4])], V2_RENEW, 800)
        .unwrap();
    let r = p.record(0).unwrap();
    assert_eq!(r.state, RecordState::Acquired);
    assert_eq!(r.owner.as_deref(), Some("a"));
    assert_eq!(r.delivery_count, 1);
    assert_eq!(r.lock_deadline_ms, 1_800);
    // not persisted: nothing changed durably
    assert!(p.take_changes().is_none_or(|c| c.batches.is_empty()));
    // at the old deadline only the record not renewed is released
    assert_eq!(p.tick(1_000), 1);
    assert_eq!(p.record(2).map(|r| r.state), Some(RecordState::Available));
    assert_eq!(p.record(0).map(|r| r.state), Some(RecordState::Acquired));
    assert_eq!(p.tick(1_800), 2);
    assert_eq!(p.record(0).map(|r| r.state), Some(RecordState::Available));
}

#[test]
fn renew_mixes_with_other_types_in_one_request() {
    let mut p = partition();
    p.acquire("a", 0, 2, 100, 0);
    p.acknowledge_with("a", &[ack(0, 2, &[1, 4, 2])], V2_RENEW, 500)
        .unwrap();
    assert_eq!(p.start_offset(), 1);
    assert_eq!(p.record(1).map(|r| r.lock_deadline_ms), Some(1_500));
    assert_eq!(p.record(2).map(|r| r.state), Some(RecordState::Available));
}

#[test]
fn renew_errors_are_kafkas() {
    let mut p = partition();
    p.acquire("a", 0, 2, 100, 0);
    // v1: 4 is an unknown type
    assert_eq!(
        p.acknowledge_with("a", &[ack(0, 0, &[4])], AckRules::V1, 0),
        Err(error_codes::INVALID_REQUEST)
    );
    // v2 without IsRenewAck
    let unflagged = AckRules {
        renew_flagged: false,
        ..V2_RENEW
    };
    assert_eq!(
        p.acknowledge_with("a", &[ack(0, 0, &[4])], unflagged, 0),
        Err(error_codes::INVALID_REQUEST)
    );
    // v2: 5 is unknown
    assert_eq!(
        p.acknowledge_with("a", &[ack(0, 0, &[5])], V2_RENEW, 0),
        Err(error_codes::INVALID_REQUEST)
    );
    // another member's record
    assert_eq!(
        p.acknowledge_with("b", &[ack(0, 0, &[4])], V2_RENEW, 0),
        Err(error_codes::INVALID_RECORD_STATE)
    );
    // the group does not allow renewing
    let disabled = AckRules {
        renew_enabled: false,
        ..V2_RENEW
    };
    assert_eq!(
        p.acknowledge_with("a", &[ack(0, 0, &[4])], disabled, 0),
        Err(error_codes::INVALID_RECORD_STATE)
    );
    // an expired lock cannot be renewed
    p.tick(1_000);
    assert_eq!(
        p.acknowledge_with("a", &[ack(0, 0, &[4])], V2_RENEW, 1_000),
        Err(error_codes::INVALID_RECORD_STATE)
    );
    // nothing of the failed requests was applied
    assert!(p
        .records
        .values()
        .all(|r| r.state == RecordState::Available));
}
