//! Produce and fetch through a real broker over TCP: offsets, byte-exact
//! round trips, long-poll wake-ups, restarts and crash recovery.

// An integration test: unwrapping is how a failed step fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use bytes::Bytes;
use gregor_protocol::compression::Compression;
use gregor_protocol::error_codes::{NONE, OFFSET_OUT_OF_RANGE};
use gregor_protocol::records::{decode_batches, BatchBuilder, Header};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use support::{create_topic, earliest_offset, topic_name, Connection, TestBroker};

fn record_batch(prefix: &str, count: usize, codec: Compression) -> Bytes {
    let mut builder = BatchBuilder::new(codec);
    for i in 0..count {
        builder.push(
            1_700_000_000_000 + i as i64,
            Some(Bytes::from(format!("{prefix}-key-{i}"))),
            Some(Bytes::from(format!("{prefix}-value-{i}"))),
            vec![Header {
                key: "h".into(),
                value: Some(Bytes::from_static(b"v")),
            }],
        );
    }
    builder.build().unwrap().freeze()
}

/// Returns (error code, base offset).
fn produce(
    conn: &mut Connection,
    topic: &str,
    partition: i32,
    records: Bytes,
    acks: i16,
) -> Option<(i16, i64)> {
    let request = ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(topic_name(topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(records))])]);
    if acks == 0 {
        let frame = conn.encode(ApiKey::Produce, 9, &RequestKind::Produce(request));
        conn.send_raw(&frame);
        return None;
    }
    let ResponseKind::Produce(response) =
        conn.request(ApiKey::Produce, 9, RequestKind::Produce(request))
    else {
        panic!()
    };
    let p = &response.responses[0].partition_responses[0];
    Some((p.error_code, p.base_offset))
}

fn fetch(
    conn: &mut Connection,
    topic: &str,
    partition: i32,
    offset: i64,
    max_wait_ms: i32,
) -> fetch_response::PartitionData {
    let request = FetchRequest::default()
        .with_replica_id((-1).into())
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(50 * 1024 * 1024)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(topic_name(topic))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(partition)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(1024 * 1024)])]);
    let ResponseKind::Fetch(response) =
        conn.request(ApiKey::Fetch, 12, RequestKind::Fetch(request))
    else {
        panic!()
    };
    assert_eq!(response.error_code, NONE);
    response.responses[0].partitions[0].clone()
}

/// Every (offset, key, value) readable from `offset` on.
fn read_all(conn: &mut Connection, topic: &str, partition: i32) -> Vec<(i64, Bytes, Bytes)> {
    let mut out = Vec::new();
    let mut next = 0;
    loop {
        let data = fetch(conn, topic, partition, next, 0);
        assert_eq!(data.error_code, NONE);
        let records = data.records.unwrap_or_default();
        if records.is_empty() {
            return out;
        }
        for batch in decode_batches(&records).unwrap() {
            for r in batch.records {
                if r.offset >= next {
                    out.push((r.offset, r.key.unwrap(), r.value.unwrap()));
                    next = r.offset + 1;
                }
            }
        }
    }
}

#[test]
fn produced_records_come_back_byte_for_byte_with_offsets() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    create_topic(&mut conn, "roundtrip", 2);
    let codecs = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];
    let mut expected_base = 0;
    for (i, codec) in codecs.iter().enumerate() {
        let (code, base) = produce(
            &mut conn,
            "roundtrip",
            1,
            record_batch(&format!("b{i}"), 10, *codec),
            1,
        )
        .unwrap();
        assert_eq!(code, NONE);
        assert_eq!(base, expected_base);
        expected_base += 10;
    }
    let records = read_all(&mut conn, "roundtrip", 1);
    assert_eq!(records.len(), 50);
    for (index, (offset, key, value)) in records.iter().enumerate() {
        assert_eq!(*offset, index as i64);
        assert_eq!(
            key,
            &Bytes::from(format!("b{}-key-{}", index / 10, index % 10))
        );
        assert_eq!(
            value,
            &Bytes::from(format!("b{}-value-{}", index / 10, index % 10))
        );
    }
    assert!(read_all(&mut conn, "roundtrip", 0).is_empty());
    // Fetching past the end is OFFSET_OUT_OF_RANGE.
    assert_eq!(
        fetch(&mut conn, "roundtrip", 1, 51, 0).error_code,
        OFFSET_OUT_OF_RANGE
    );
}

#[test]
fn acks_zero_gets_no_response_but_is_stored() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    create_topic(&mut conn, "fire", 1);
    assert!(produce(
        &mut conn,
        "fire",
        0,
        record_batch("a", 3, Compression::None),
        0
    )
    .is_none());
    // The next request's answer is the next frame: no stray produce response in between.
    let (code, base) = produce(
        &mut conn,
        "fire",
        0,
        record_batch("b", 2, Compression::None),
        1,
    )
    .unwrap();
    assert_eq!((code, base), (NONE, 3));
}

#[test]
fn parked_fetch_is_woken_by_an_append() {
    let broker = TestBroker::start(&[]);
    let mut setup = broker.connect();
    create_topic(&mut setup, "wake", 1);
    let mut consumer = broker.connect();
    let waiting = std::thread::spawn(move || {
        // Up to a minute: if appends did not wake it, it would come back empty.
        let data = fetch(&mut consumer, "wake", 0, 0, 60_000);
        decode_batches(&data.records.unwrap_or_default()).unwrap()
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    produce(
        &mut setup,
        "wake",
        0,
        record_batch("w", 1, Compression::None),
        1,
    )
    .unwrap();
    let batches = waiting.join().unwrap();
    assert_eq!(batches.len(), 1);
    assert_eq!(
        batches[0].records[0].value.as_deref(),
        Some(&b"w-value-0"[..])
    );
}

#[test]
fn data_survives_a_clean_restart() {
    let mut broker = TestBroker::start(&["log.segment.bytes=2000"]);
    let mut conn = broker.connect();
    create_topic(&mut conn, "durable", 1);
    for i in 0..20 {
        produce(
            &mut conn,
            "durable",
            0,
            record_batch(&format!("r{i}"), 5, Compression::None),
            -1,
        )
        .unwrap();
    }
    let before = read_all(&mut conn, "durable", 0);
    assert_eq!(before.len(), 100);
    drop(conn);
    broker.restart();
    assert!(broker.log().contains("gregor broker started"));
    let mut conn = broker.connect();
    assert_eq!(read_all(&mut conn, "durable", 0), before);
    let (_, base) = produce(
        &mut conn,
        "durable",
        0,
        record_batch("after", 1, Compression::None),
        1,
    )
    .unwrap();
    assert_eq!(base, 100);
}

#[test]
fn kill_9_loses_no_acknowledged_record_with_flush_every_message() {
    let mut broker =
        TestBroker::start(&["log.flush.interval.messages=1", "log.segment.bytes=4096"]);
    let mut conn = broker.connect();
    create_topic(&mut conn, "crash", 1);
    let mut acknowledged = 0;
    for i in 0..50 {
        let (code, base) = produce(
            &mut conn,
            "crash",
            0,
            record_batch(&format!("c{i}"), 3, Compression::Lz4),
            -1,
        )
        .unwrap();
        assert_eq!((code, base), (NONE, acknowledged));
        acknowledged += 3;
    }
    drop(conn);
    broker.kill();
    assert!(!broker.data_dir().join(".kafka_cleanshutdown").exists());
    broker.restart();
    let mut conn = broker.connect();
    let records = read_all(&mut conn, "crash", 0);
    assert_eq!(records.len() as i64, acknowledged);
    for (index, (offset, _, value)) in records.iter().enumerate() {
        assert_eq!(*offset, index as i64);
        assert_eq!(
            value,
            &Bytes::from(format!("c{}-value-{}", index / 3, index % 3))
        );
    }
}

/// After kill -9 the logs are opened on `num.recovery.threads.per.data.dir`
/// threads: every partition is recovered on its own (its torn tail cut,
/// its records kept), none is lost or mixed up with another.
#[test]
fn kill_9_recovery_on_several_threads_recovers_every_partition() {
    const PARTITIONS: i32 = 6;
    let mut broker = TestBroker::start(&[
        "num.recovery.threads.per.data.dir=3",
        "log.flush.interval.messages=1",
    ]);
    let mut conn = broker.connect();
    create_topic(&mut conn, "spread", PARTITIONS);
    for partition in 0..PARTITIONS {
        for i in 0..=partition {
            let batch = record_batch(&format!("p{partition}b{i}"), 2, Compression::None);
            let (code, base) = produce(&mut conn, "spread", partition, batch, -1).unwrap();
            assert_eq!((code, base), (NONE, i64::from(i) * 2));
        }
    }
    drop(conn);
    broker.kill();
    // A torn write at the end of every partition's active segment.
    for partition in 0..PARTITIONS {
        let segment = broker
            .data_dir()
            .join(format!("spread-{partition}"))
            .join("00000000000000000000.log");
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&segment)
            .unwrap();
        std::io::Write::write_all(&mut file, &[0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 1, 0, 7]).unwrap();
    }
    broker.restart();
    assert!(broker.log().contains("recovering logs"));
    let mut conn = broker.connect();
    for partition in 0..PARTITIONS {
        let records = read_all(&mut conn, "spread", partition);
        let values: Vec<Bytes> = records.into_iter().map(|(_, _, value)| value).collect();
        let expected: Vec<Bytes> = (0..=partition)
            .flat_map(|i| (0..2).map(move |r| Bytes::from(format!("p{partition}b{i}-value-{r}"))))
            .collect();
        assert_eq!(values, expected, "partition {partition}");
    }
}

#[test]
fn size_retention_deletes_old_segments_and_moves_the_log_start() {
    let broker = TestBroker::start(&[
        "log.segment.bytes=4096",
        "log.retention.bytes=8192",
        "log.retention.check.interval.ms=100",
        // The test records carry 2023 timestamps: keep time retention out of it.
        "log.retention.ms=-1",
    ]);
    let mut conn = broker.connect();
    create_topic(&mut conn, "retained", 1);
    for i in 0..60 {
        produce(
            &mut conn,
            "retained",
            0,
            record_batch(&format!("r{i}"), 5, Compression::None),
            1,
        )
        .unwrap();
    }
    // Retention runs in the background; wait (bounded) for it to act.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut start = 0;
    while start == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
        start = earliest_offset(&mut conn, "retained", 0);
    }
    assert!(start > 0, "retention never advanced the log start offset");
    assert_eq!(
        fetch(&mut conn, "retained", 0, 0, 0).error_code,
        OFFSET_OUT_OF_RANGE,
        "OFFSET_OUT_OF_RANGE below the log start"
    );
    let data = fetch(&mut conn, "retained", 0, start, 0);
    assert_eq!(data.error_code, NONE);
    assert_eq!(data.log_start_offset, start);
    let segments = std::fs::read_dir(broker.data_dir().join("retained-0"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "log")
        })
        .count();
    let listing: Vec<_> = std::fs::read_dir(broker.data_dir().join("retained-0"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        (2..=4).contains(&segments),
        "{segments} segments left, start {start}: {listing:?}"
    );
}

/// The partition's leader epoch as Metadata tells it.
fn leader_epoch(conn: &mut Connection, topic: &str) -> i32 {
    let ResponseKind::Metadata(response) = conn.request(
        ApiKey::Metadata,
        12,
        RequestKind::Metadata(MetadataRequest::default().with_topics(Some(vec![
            metadata_request::MetadataRequestTopic::default().with_name(Some(topic_name(topic))),
        ]))),
    ) else {
        panic!("wrong response type to Metadata")
    };
    response.topics[0].partitions[0].leader_epoch
}

/// A restart replays the metadata log; the leaderships it went through
/// before are history, not news: the broker must not lead again at each old
/// epoch (which once cut the partition's epoch history down to the last
/// one, so a consumer asking where an old epoch ended was told "unknown").
#[test]
fn leader_epoch_history_survives_restarts() {
    let mut broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    create_topic(&mut conn, "epochs", 1);
    let mut epochs = Vec::new();
    for round in 0..3 {
        let mut conn = broker.connect();
        let epoch = leader_epoch(&mut conn, "epochs");
        support::produce_values(&mut conn, "epochs", 0, 0, [format!("r{round}")]);
        epochs.push(epoch);
        drop(conn);
        broker.restart();
    }
    assert!(
        epochs.windows(2).all(|w| w[0] < w[1]),
        "each restart leads at a new epoch: {epochs:?}"
    );
    let mut conn = broker.connect();
    // Epoch k wrote offset k and ended where the next one began.
    for (offset, &epoch) in epochs.iter().enumerate() {
        assert_eq!(
            support::end_offset_for_epoch(&mut conn, "epochs", -1, epoch),
            (NONE, epoch, offset as i64 + 1),
            "where epoch {epoch} ended (epochs {epochs:?})"
        );
    }
}
