use super::combiner::combine;
use super::records::{ShareRecord, SnapshotValue, UpdateValue};
use super::shard::{ShareCoordinatorShard, WriteRequest};
use super::{coordinator_key, kafka_uuid_string};
use crate::share::{DeliveryState, PersistedBatch, ShareKey};
use gregor_protocol::error_codes::{
    FENCED_LEADER_EPOCH, FENCED_STATE_EPOCH, INVALID_REQUEST, UNKNOWN_TOPIC_OR_PARTITION,
};
use uuid::Uuid;

pub(super) const TOPIC: Uuid = Uuid::from_u128(0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10);

pub(super) fn topics(id: &Uuid) -> Option<i32> {
    (*id == TOPIC).then_some(4)
}

pub(super) fn key(group: &str, partition: i32) -> ShareKey {
    ShareKey {
        group_id: group.to_string(),
        topic_id: TOPIC,
        partition,
    }
}

pub(super) fn b(first: i64, last: i64, state: i8, count: i16) -> PersistedBatch {
    PersistedBatch {
        first_offset: first,
        last_offset: last,
        delivery_state: DeliveryState::from_code(state).unwrap(),
        delivery_count: count,
    }
}

fn parse_batches(text: &str) -> Vec<PersistedBatch> {
    text.split_whitespace()
        .map(|t| {
            let (range, rest) = t.split_once('/').unwrap();
            let (state, count) = rest.split_once('/').unwrap();
            let (first, last) = range.split_once('-').unwrap();
            b(
                first.parse().unwrap(),
                last.parse().unwrap(),
                state.parse().unwrap(),
                count.parse().unwrap(),
            )
        })
        .collect()
}

/// Every case Kafka 4.4's PersisterStateBatchCombiner computed.
#[test]
fn combine_matches_kafka_vectors() {
    let text = include_str!("vectors/combine_vectors.txt");
    let mut cases = 0;
    for line in text.lines() {
        let parts: Vec<&str> = line.split('|').collect();
        assert_eq!(parts.len(), 4, "{line}");
        let stored = parse_batches(parts[0]);
        let written = parse_batches(parts[1]);
        let start: i64 = parts[2].trim().parse().unwrap();
        let expected = parse_batches(parts[3]);
        assert_eq!(combine(&stored, &written, start), expected, "case: {line}");
        cases += 1;
    }
    assert_eq!(cases, 2000);
}

#[test]
fn combine_higher_delivery_count_wins_overlap() {
    // Stored: 0-9 acknowledged once; written: 5-14 available, delivered twice.
    let out = combine(&[b(0, 9, 2, 1)], &[b(5, 14, 0, 2)], 0);
    assert_eq!(out, vec![b(0, 4, 2, 1), b(5, 14, 0, 2)]);
    // A lower count does not override.
    let out = combine(&[b(0, 9, 0, 3)], &[b(2, 4, 2, 1)], 0);
    assert_eq!(out, vec![b(0, 9, 0, 3)]);
    // Pruned at the start offset, touching equal runs joined.
    let out = combine(&[b(0, 9, 2, 1)], &[b(10, 12, 2, 1)], 5);
    assert_eq!(out, vec![b(5, 12, 2, 1)]);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// The records Kafka 4.4's serde wrote decode to these values and encode
/// back to the same bytes.
#[test]
fn records_match_kafka_bytes() {
    let t = TOPIC;
    let k = |g: &str, p| ShareKey {
        group_id: g.to_string(),
        topic_id: t,
        partition: p,
    };
    let expected = [
        ShareRecord::Snapshot {
            key: k("g1", 3),
            value: Some(SnapshotValue {
                snapshot_epoch: 2,
                state_epoch: 1,
                leader_epoch: 5,
                start_offset: 100,
                delivery_complete_count: 7,
                create_timestamp: 1_700_000_000_000,
                write_timestamp: 1_700_000_000_123,
                batches: vec![b(100, 109, 2, 1), b(110, 110, 0, 3)],
            }),
        },
        ShareRecord::Snapshot {
            key: k("g1", 3),
            value: Some(SnapshotValue {
                snapshot_epoch: 0,
                state_epoch: 0,
                leader_epoch: 0,
                start_offset: -1,
                delivery_complete_count: -1,
                create_timestamp: 5,
                write_timestamp: 5,
                batches: vec![],
            }),
        },
        ShareRecord::Update {
            key: k("group-é", 0),
            value: UpdateValue {
                snapshot_epoch: 2,
                leader_epoch: 6,
                start_offset: 111,
                delivery_complete_count: 0,
                batches: vec![b(111, 120, 4, 5)],
            },
        },
        ShareRecord::Snapshot {
            key: k("g1", 3),
            value: None,
        },
    ];
    let lines: Vec<&str> = include_str!("vectors/record_vectors.txt").lines().collect();
    assert_eq!(lines.len(), expected.len());
    for (line, record) in lines.iter().zip(&expected) {
        let (key_hex, value_hex) = line.split_once(' ').unwrap();
        let value = (value_hex != "-").then(|| unhex(value_hex));
        let decoded = ShareRecord::decode(&unhex(key_hex), value.as_deref())
            .unwrap()
            .unwrap();
        assert_eq!(&decoded, record);
        let (k, v) = record.encode().unwrap();
        assert_eq!(hex(&k), key_hex);
        assert_eq!(v.map(|v| hex(&v)).unwrap_or_else(|| "-".into()), value_hex);
    }
}

#[test]
fn unknown_record_types_are_skipped_and_garbage_refused() {
    assert_eq!(ShareRecord::decode(&[0, 9, 0, 0], Some(&[0, 0])), Ok(None));
    assert!(ShareRecord::decode(&[0], None).is_err());
    assert!(ShareRecord::decode(&[0, 0, 0, 5, b'a'], None).is_err());
    // A value version Kafka 4.4 does not write.
    let (k, _) = ShareRecord::Snapshot {
        key: key("g", 0),
        value: None,
    }
    .encode()
    .unwrap();
    assert!(ShareRecord::decode(&k, Some(&[0, 1, 0])).is_err());
}

#[test]
fn coordinator_key_is_kafkas() {
    assert_eq!(
        kafka_uuid_string(&Uuid::from_u128(1)),
        "AAAAAAAAAAAAAAAAAAAAAQ"
    );
    assert_eq!(
        kafka_uuid_string(&Uuid::from_u128(u128::MAX)),
        "_____________________w"
    );
    assert_eq!(
        coordinator_key(&ShareKey {
            group_id: "grp".into(),
            topic_id: Uuid::from_u128(1),
            partition: 7
        }),
        "grp:AAAAAAAAAAAAAAAAAAAAAQ:7"
    );
}

/// Applies an operation's records, as the broker does once committed.
pub(super) fn apply(shard: &mut ShareCoordinatorShard, records: &[ShareRecord]) {
    for r in records {
        shard.replay(r);
    }
}

fn write_req(
    state_epoch: i32,
    leader_epoch: i32,
    start: i64,
    batches: Vec<PersistedBatch>,
) -> WriteRequest {
    WriteRequest {
        state_epoch,
        leader_epoch,
        start_offset: start,
        delivery_complete_count: -1,
        batches,
    }
}

#[test]
fn write_before_initialize_is_invalid_request() {
    let shard = ShareCoordinatorShard::new(500);
    let err = shard
        .write(&key("g", 0), &write_req(0, 0, 0, vec![]), &topics, 1)
        .unwrap_err();
    assert_eq!(err.code, INVALID_REQUEST);
    let err = shard.read(&key("g", 0), 0, &topics, 1).unwrap_err();
    assert_eq!(err.code, INVALID_REQUEST);
}

#[test]
fn initialize_write_read_round_trip() {
    let mut shard = ShareCoordinatorShard::new(500);
    let k = key("g", 1);
    let ((), recs) = shard.initialize(&k, 0, -1, &topics, 10).unwrap();
    assert!(
        matches!(&recs[..], [ShareRecord::Snapshot { value: Some(v), .. }]
        if v.start_offset == -1 && v.delivery_complete_count == -1 && v.leader_epoch == 0)
    );
    apply(&mut shard, &recs);
    // The first leader (epoch 3) reads: the leader epoch moves to 3.
    let (answer, recs) = shard.read(&k, 3, &topics, 11).unwrap();
    assert_eq!(answer.start_offset, -1);
    assert_eq!(recs.len(), 1);
    apply(&mut shard, &recs);
    assert_eq!(shard.state(&k).unwrap().leader_epoch, 3);
    // Reading again at the same epoch writes nothing.
    assert!(shard.read(&k, 3, &topics, 12).unwrap().1.is_empty());

    let ((), recs) = shard
        .write(
            &k,
            &write_req(0, 3, 10, vec![b(10, 14, 2, 1), b(15, 19, 0, 1)]),
            &topics,
            13,
        )
        .unwrap();
    assert!(matches!(&recs[..], [ShareRecord::Update { .. }]));
    apply(&mut shard, &recs);
    let ((), recs) = shard
        .write(&k, &write_req(0, 3, 12, vec![b(15, 16, 4, 2)]), &topics, 14)
        .unwrap();
    apply(&mut shard, &recs);
    let state = shard.state(&k).unwrap();
    assert_eq!(state.start_offset, 12);
    assert_eq!(
        state.batches,
        vec![b(12, 14, 2, 1), b(15, 16, 4, 2), b(17, 19, 0, 1)]
    );
    // The start offset never goes back.
    let ((), recs) = shard
        .write(&k, &write_req(0, 3, 5, vec![]), &topics, 15)
        .unwrap();
    apply(&mut shard, &recs);
    assert_eq!(shard.state(&k).unwrap().start_offset, 12);
}

#[test]
fn older_leader_and_state_epochs_are_fenced() {
    let mut shard = ShareCoordinatorShard::new(500);
    let k = key("g", 0);
    let r = shard.initialize(&k, 2, 0, &topics, 1).unwrap().1;
    apply(&mut shard, &r);
    let r = shard.read(&k, 5, &topics, 1).unwrap().1;
    apply(&mut shard, &r);
    let err = shard
        .write(&k, &write_req(2, 4, 0, vec![]), &topics, 2)
        .unwrap_err();
    assert_eq!(err.code, FENCED_LEADER_EPOCH);
    let err = shard.read(&k, 4, &topics, 2).unwrap_err();
    assert_eq!(err.code, FENCED_LEADER_EPOCH);
    let err = shard
        .write(&k, &write_req(1, 5, 0, vec![]), &topics, 2)
        .unwrap_err();
    assert_eq!(err.code, FENCED_STATE_EPOCH);
    let err = shard.initialize(&k, 1, 0, &topics, 2).unwrap_err();
    assert_eq!(err.code, FENCED_STATE_EPOCH);
    // A newer state epoch re-initializes; the leader epoch fence stays.
    let r = shard.initialize(&k, 3, 50, &topics, 3).unwrap().1;
    apply(&mut shard, &r);
    let state = shard.state(&k).unwrap();
    assert_eq!(
        (
            state.state_epoch,
            state.start_offset,
            state.delivery_complete_count
        ),
        (3, 50, 0)
    );
    assert_eq!(
        shard.read(&k, 4, &topics, 3).unwrap_err().code,
        FENCED_LEADER_EPOCH
    );
}

#[test]
fn bad_input_gets_kafkas_errors() {
    let shard = ShareCoordinatorShard::new(500);
    let neg = key("g", -1);
    assert_eq!(
        shard.initialize(&neg, 0, 0, &topics, 0).unwrap_err().code,
        INVALID_REQUEST
    );
    assert_eq!(
        shard
            .initialize(&key("g", 0), -1, 0, &topics, 0)
            .unwrap_err()
            .code,
        INVALID_REQUEST
    );
    assert_eq!(
        shard.read(&key("g", 0), -1, &topics, 0).unwrap_err().code,
        INVALID_REQUEST
    );
    assert_eq!(
        shard.delete(&neg, &topics).unwrap_err().code,
        INVALID_REQUEST
    );
    assert_eq!(
        shard.read_summary(&neg, &topics).unwrap_err().code,
        INVALID_REQUEST
    );
    // Partition 4 of a 4-partition topic, and an unknown topic.
    let beyond = key("g", 4);
    assert_eq!(
        shard
            .initialize(&beyond, 0, 0, &topics, 0)
            .unwrap_err()
            .code,
        UNKNOWN_TOPIC_OR_PARTITION
    );
    let unknown = ShareKey {
        topic_id: Uuid::from_u128(99),
        ..key("g", 0)
    };
    assert_eq!(
        shard.read_summary(&unknown, &topics).unwrap_err().code,
        UNKNOWN_TOPIC_OR_PARTITION
    );
}

#[test]
fn summary_and_delete() {
    let mut shard = ShareCoordinatorShard::new(500);
    let k = key("g", 2);
    let s = shard.read_summary(&k, &topics).unwrap();
    assert_eq!(
        (
            s.initialized,
            s.start_offset,
            s.delivery_complete_count,
            s.leader_epoch,
            s.state_epoch
        ),
        (false, -1, -1, 0, 0)
    );
    // Deleting an unknown key writes nothing.
    assert!(shard.delete(&k, &topics).unwrap().1.is_empty());
    let r = shard.initialize(&k, 1, 7, &topics, 1).unwrap().1;
    apply(&mut shard, &r);
    let s = shard.read_summary(&k, &topics).unwrap();
    assert_eq!((s.initialized, s.start_offset, s.state_epoch), (true, 7, 1));
    let ((), recs) = shard.delete(&k, &topics).unwrap();
    assert_eq!(
        recs,
        vec![ShareRecord::Snapshot {
            key: k.clone(),
            value: None
        }]
    );
    apply(&mut shard, &recs);
    assert!(shard.state(&k).is_none());
    // The fences went with it: an epoch-0 initialize works again.
    assert!(shard.initialize(&k, 0, 0, &topics, 2).is_ok());
}

#[test]
fn a_snapshot_follows_every_n_updates() {
    let n = 3;
    let mut shard = ShareCoordinatorShard::new(n);
    let k = key("g", 0);
    let r = shard.initialize(&k, 0, 0, &topics, 1).unwrap().1;
    apply(&mut shard, &r);
    let mut kinds = String::new();
    for i in 0..10i64 {
        let ((), recs) = shard
            .write(&k, &write_req(0, 0, 0, vec![b(i, i, 2, 1)]), &topics, 2)
            .unwrap();
        kinds.push(match &recs[0] {
            ShareRecord::Snapshot { .. } => 'S',
            ShareRecord::Update { .. } => 'U',
        });
        apply(&mut shard, &recs);
    }
    // Kafka counts the first update as 0: n+1 updates, then a snapshot.
    assert_eq!(kinds, "UUUUSUUUSU");
    assert_eq!(shard.state(&k).unwrap().batches, vec![b(0, 9, 2, 1)]);
}
