//! Fetch over TCP beyond one partition: responses of many partitions whose
//! records are sent from the segment files, and incremental fetch sessions
//! (KIP-227): ids and epochs, partitions left out when nothing changed,
//! forgotten partitions, session errors, long polls inside a session.

// An integration test: unwrapping is how a failed step fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use gregor_protocol::error_codes::{
    FETCH_SESSION_ID_NOT_FOUND, INVALID_FETCH_SESSION_EPOCH, NONE, UNKNOWN_TOPIC_OR_PARTITION,
};
use gregor_protocol::records::decode_batches;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic, ForgottenTopic};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::*;
use support::{create_topic, produce_values, topic_name, Connection, TestBroker};
use uuid::Uuid;

/// A topic of a fetch request: `(topic, partitions with their fetch offsets)`.
type Wanted<'a> = &'a [(&'a str, &'a [(i32, i64)])];

fn fetch_topics(wanted: Wanted, ids: &[(&str, Uuid)], version: i16) -> Vec<FetchTopic> {
    wanted
        .iter()
        .map(|(topic, partitions)| {
            let base = if version >= 13 {
                let id = ids.iter().find(|(n, _)| n == topic).map(|(_, id)| *id);
                FetchTopic::default().with_topic_id(id.unwrap_or_default())
            } else {
                FetchTopic::default().with_topic(topic_name(topic))
            };
            base.with_partitions(
                partitions
                    .iter()
                    .map(|(p, offset)| {
                        FetchPartition::default()
                            .with_partition(*p)
                            .with_fetch_offset(*offset)
                            .with_partition_max_bytes(1 << 20)
                    })
                    .collect(),
            )
        })
        .collect()
}

struct Fetch {
    version: i16,
    session_id: i32,
    epoch: i32,
    max_wait_ms: i32,
    forgotten: Vec<ForgottenTopic>,
}

impl Fetch {
    fn new(version: i16, session_id: i32, epoch: i32) -> Fetch {
        Fetch {
            version,
            session_id,
            epoch,
            max_wait_ms: 0,
            forgotten: Vec::new(),
        }
    }

    fn request(&self, wanted: Wanted, ids: &[(&str, Uuid)]) -> FetchRequest {
        FetchRequest::default()
            .with_replica_id((-1).into())
            .with_max_wait_ms(self.max_wait_ms)
            .with_min_bytes(1)
            .with_max_bytes(50 << 20)
            .with_session_id(self.session_id)
            .with_session_epoch(self.epoch)
            .with_topics(fetch_topics(wanted, ids, self.version))
            .with_forgotten_topics_data(self.forgotten.clone())
    }

    fn send(&self, conn: &mut Connection, wanted: Wanted, ids: &[(&str, Uuid)]) -> FetchResponse {
        let request = self.request(wanted, ids);
        let ResponseKind::Fetch(response) =
            conn.request(ApiKey::Fetch, self.version, RequestKind::Fetch(request))
        else {
            panic!()
        };
        response
    }
}

/// `(partition index, values of its records)` for every partition answered.
fn answered(response: &FetchResponse) -> Vec<(i32, Vec<String>)> {
    response
        .responses
        .iter()
        .flat_map(|t| t.partitions.iter())
        .map(|p| (p.partition_index, values(p)))
        .collect()
}

fn values(p: &PartitionData) -> Vec<String> {
    decode_batches(p.records.as_deref().unwrap_or_default())
        .unwrap()
        .into_iter()
        .flat_map(|b| b.records)
        .map(|r| String::from_utf8(r.value.unwrap().to_vec()).unwrap())
        .collect()
}

#[test]
fn one_response_carries_many_partitions_of_several_topics() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    let a = create_topic(&mut conn, "many-a", 3);
    let b = create_topic(&mut conn, "many-b", 1);
    for p in 0..3 {
        let v = format!("a{p}");
        produce_values(&mut conn, "many-a", p, 0, [v.clone(), v.clone()]);
    }
    produce_values(&mut conn, "many-b", 0, 0, ["b0"]);
    let ids = [("many-a", a), ("many-b", b)];
    for version in [4, 11, 12, 13, 17] {
        // A partition that does not exist sits between ones that do.
        let wanted: Wanted = &[
            ("many-a", &[(0, 0), (7, 0), (1, 1), (2, 0)]),
            ("many-b", &[(0, 0)]),
        ];
        let response = Fetch::new(version, 0, -1).send(&mut conn, wanted, &ids);
        assert_eq!(response.error_code, NONE, "v{version}");
        assert_eq!(response.session_id, 0, "v{version}");
        let got = answered(&response);
        let expected = vec![
            (0, vec!["a0".to_string(), "a0".to_string()]),
            (7, vec![]),
            // Fetching from offset 1 returns its whole batch.
            (1, vec!["a1".to_string(), "a1".to_string()]),
            (2, vec!["a2".to_string(), "a2".to_string()]),
            (0, vec!["b0".to_string()]),
        ];
        assert_eq!(got, expected, "v{version}");
        let missing = &response.responses[0].partitions[1];
        assert_eq!(missing.error_code, UNKNOWN_TOPIC_OR_PARTITION, "v{version}");
        assert_eq!(response.responses[1].partitions[0].high_watermark, 1);
    }
}

#[test]
fn incremental_fetches_send_only_changes_and_only_changed_partitions_come_back() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    for version in [12, 17] {
        let topic = format!("inc-v{version}");
        let tid = create_topic(&mut conn, &topic, 3);
        let ids = [(topic.as_str(), tid)];
        let all: &[(i32, i64)] = &[(0, 0), (1, 0), (2, 0)];
        let full = Fetch::new(version, 0, 0).send(&mut conn, &[(&topic, all)], &ids);
        assert_eq!(full.error_code, NONE);
        let session = full.session_id;
        assert!(
            session > 0,
            "v{version}: a full fetch at epoch 0 opens a session"
        );
        assert_eq!(answered(&full).len(), 3);

        // Nothing changed: an empty answer.
        let quiet = Fetch::new(version, session, 1).send(&mut conn, &[], &ids);
        assert_eq!((quiet.error_code, quiet.session_id), (NONE, session));
        assert!(answered(&quiet).is_empty(), "v{version}: {quiet:?}");

        // Partition 1 grows: only it comes back, read from the cached offset.
        produce_values(&mut conn, &topic, 1, 0, ["x", "y"]);
        let grown = Fetch::new(version, session, 2).send(&mut conn, &[], &ids);
        assert_eq!(
            answered(&grown),
            vec![(1, vec!["x".to_string(), "y".to_string()])]
        );
        assert_eq!(grown.responses[0].partitions[0].high_watermark, 2);

        // The client moves its offset; the partition is quiet again.
        let moved: &[(i32, i64)] = &[(1, 2)];
        let after = Fetch::new(version, session, 3).send(&mut conn, &[(&topic, moved)], &ids);
        assert!(answered(&after).is_empty(), "v{version}: {after:?}");

        // A stale epoch and an unknown session are refused.
        let stale = Fetch::new(version, session, 3).send(&mut conn, &[], &ids);
        assert_eq!(stale.error_code, INVALID_FETCH_SESSION_EPOCH);
        assert!(stale.responses.is_empty());
        let unknown =
            Fetch::new(version, session.wrapping_add(1).max(1), 1).send(&mut conn, &[], &ids);
        assert_eq!(unknown.error_code, FETCH_SESSION_ID_NOT_FOUND);
        assert_eq!(unknown.session_id, 0);

        // Forget partition 0: its new records no longer come back.
        let mut forget = Fetch::new(version, session, 4);
        forget.forgotten = vec![if version >= 13 {
            ForgottenTopic::default().with_topic_id(tid)
        } else {
            ForgottenTopic::default().with_topic(topic_name(&topic))
        }
        .with_partitions(vec![0])];
        assert!(answered(&forget.send(&mut conn, &[], &ids)).is_empty());
        produce_values(&mut conn, &topic, 0, 0, ["gone"]);
        produce_values(&mut conn, &topic, 2, 0, ["kept"]);
        let later = Fetch::new(version, session, 5).send(&mut conn, &[], &ids);
        assert_eq!(answered(&later), vec![(2, vec!["kept".to_string()])]);

        // Epoch -1 closes the session: it is gone afterwards.
        let close = Fetch::new(version, session, -1).send(&mut conn, &[], &ids);
        assert_eq!((close.error_code, close.session_id), (NONE, 0));
        let after_close = Fetch::new(version, session, 6).send(&mut conn, &[], &ids);
        assert_eq!(after_close.error_code, FETCH_SESSION_ID_NOT_FOUND);
    }
}

#[test]
fn a_long_poll_in_a_session_is_woken_by_an_append() {
    let broker = TestBroker::start(&[]);
    let mut setup = broker.connect();
    let id = create_topic(&mut setup, "inc-wake", 2);
    let mut consumer = broker.connect();
    let ids = [("inc-wake", id)];
    let all: &[(i32, i64)] = &[(0, 0), (1, 0)];
    let session = Fetch::new(13, 0, 0)
        .send(&mut consumer, &[("inc-wake", all)], &ids)
        .session_id;
    assert!(session > 0);
    let waiting = std::thread::spawn(move || {
        // Up to a minute (the test connection gives up after 10 s): only a
        // wake-up by the append can answer in time.
        let mut fetch = Fetch::new(13, session, 1);
        fetch.max_wait_ms = 60_000;
        let ids = [("inc-wake", id)];
        answered(&fetch.send(&mut consumer, &[], &ids))
    });
    // Give the fetch time to park (not an assertion: if it has not, the
    // test only proves less).
    std::thread::sleep(std::time::Duration::from_millis(300));
    produce_values(&mut setup, "inc-wake", 1, 0, ["woken"]);
    assert_eq!(
        waiting.join().unwrap(),
        vec![(1, vec!["woken".to_string()])]
    );
}

#[test]
fn zero_session_slots_turn_sessions_off() {
    let broker = TestBroker::start(&["max.incremental.fetch.session.cache.slots=0"]);
    let mut conn = broker.connect();
    create_topic(&mut conn, "nosess", 1);
    let full = Fetch::new(12, 0, 0).send(&mut conn, &[("nosess", &[(0, 0)])], &[]);
    assert_eq!((full.error_code, full.session_id), (NONE, 0));
    assert_eq!(answered(&full).len(), 1);
}
