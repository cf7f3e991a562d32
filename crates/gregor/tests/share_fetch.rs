//! ShareFetch / ShareAcknowledge (KIP-932) over TCP against a real gregor,
//! driven with raw kafka-protocol frames (no group membership is needed at
//! the share-partition leader, as in Kafka): records delivered once across
//! members, released and rejected records, the delivery count limit,
//! releases when a session closes or its connection drops, and Kafka's
//! error codes for bad acknowledgements and session epochs.

// An integration test: unwrapping is how a failed step fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use gregor_protocol::error_codes::{
    INVALID_RECORD_STATE, INVALID_REQUEST, INVALID_SHARE_SESSION_EPOCH, NONE,
    SHARE_SESSION_NOT_FOUND,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use support::share::{self, Ack, ACCEPT, REJECT, RELEASE};
use support::{create_topic, produce_values, Connection, TestBroker};
use uuid::Uuid;

const GROUP: &str = "share-g";

struct Member {
    id: &'static str,
    epoch: i32,
}

impl Member {
    fn new(id: &'static str) -> Member {
        Member { id, epoch: 0 }
    }

    fn session(&self, epoch: i32) -> share::Session<'static> {
        share::Session {
            group: GROUP,
            member: self.id,
            epoch,
        }
    }

    /// A ShareFetch of partition 0 of `topic` with piggy-backed `acks`;
    /// the epoch advances when the answer has no top-level error.
    fn fetch(
        &mut self,
        conn: &mut Connection,
        topic: Uuid,
        acks: &[Ack],
        wait_ms: i32,
    ) -> ShareFetchResponse {
        let response = share::fetch(conn, &self.session(self.epoch), topic, acks, wait_ms);
        if response.error_code == NONE {
            self.epoch += 1;
        }
        response
    }

    /// A ShareAcknowledge of partition 0 at `epoch` (the member's own when
    /// `None`).
    fn acknowledge(
        &mut self,
        conn: &mut Connection,
        topic: Uuid,
        acks: &[Ack],
        epoch: Option<i32>,
    ) -> ShareAcknowledgeResponse {
        let session = self.session(epoch.unwrap_or(self.epoch));
        let response = share::acknowledge(conn, &session, topic, acks);
        if response.error_code == NONE && epoch.is_none() {
            self.epoch += 1;
        }
        response
    }
}

/// (first, last, delivery count) of every acquired range, and the
/// partition's fetch and acknowledge error codes.
fn acquired(response: &ShareFetchResponse) -> (Vec<(i64, i64, i16)>, i16, i16) {
    assert_eq!(response.error_code, NONE, "top-level error");
    let p = &response.responses[0].partitions[0];
    let ranges = p
        .acquired_records
        .iter()
        .map(|r| (r.first_offset, r.last_offset, r.delivery_count))
        .collect();
    if !p.acquired_records.is_empty() {
        let bytes = p.records.as_ref().expect("records with acquired offsets");
        let batches = gregor_protocol::records::decode_batches(bytes).unwrap();
        assert!(!batches.is_empty());
    }
    (ranges, p.error_code, p.acknowledge_error_code)
}

fn ack_code(response: &ShareAcknowledgeResponse) -> i16 {
    assert_eq!(response.error_code, NONE, "top-level error");
    response.responses[0].partitions[0].error_code
}

/// Creates the share-partition's state as the group coordinator does when
/// it first assigns the partition (InitializeShareGroupState, start -1):
/// a share-partition leader serves no fetch for an uninitialized one, as
/// Kafka's. Retried while the share coordinator creates and loads its topic.
fn initialize_share_partition(conn: &mut Connection, topic: Uuid) {
    use initialize_share_group_state_request::*;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    // FindCoordinator SHARE (key "group:topic id:partition") creates
    // __share_group_state on first use, as a client of the RPC finds it.
    use base64::Engine as _;
    let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(topic.as_bytes());
    let key = format!("{GROUP}:{id}:0");
    loop {
        let find = FindCoordinatorRequest::default()
            .with_key_type(2)
            .with_coordinator_keys(vec![StrBytes::from_string(key.clone())]);
        let ResponseKind::FindCoordinator(found) = conn.request(
            ApiKey::FindCoordinator,
            6,
            RequestKind::FindCoordinator(find),
        ) else {
            panic!("not a FindCoordinator response")
        };
        if found.coordinators[0].error_code != NONE {
            assert!(
                std::time::Instant::now() < deadline,
                "no share coordinator: error {}",
                found.coordinators[0].error_code
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
            continue;
        }
        let req = InitializeShareGroupStateRequest::default()
            .with_group_id(StrBytes::from_static_str(GROUP))
            .with_topics(vec![InitializeStateData::default()
                .with_topic_id(topic)
                .with_partitions(vec![PartitionData::default()
                    .with_partition(0)
                    .with_state_epoch(0)
                    .with_start_offset(-1)])]);
        let ResponseKind::InitializeShareGroupState(r) = conn.request(
            ApiKey::InitializeShareGroupState,
            0,
            RequestKind::InitializeShareGroupState(req),
        ) else {
            panic!("not an InitializeShareGroupState response")
        };
        let code = r.results[0].partitions[0].error_code;
        if code == NONE {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "share-partition not initialized: error {code}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// A topic whose share-partition is loaded (at the log end, the default
/// `latest`) before `values` are produced.
fn topic_with(conn: &mut Connection, name: &str, loader: &mut Member, values: usize) -> Uuid {
    let id = create_topic(conn, name, 1);
    initialize_share_partition(conn, id);
    let (ranges, code, _) = acquired(&loader.fetch(conn, id, &[], 0));
    assert_eq!((ranges, code), (vec![], NONE));
    produce_values(conn, name, 0, 1_000, (0..values).map(|i| format!("v{i}")));
    id
}

#[test]
fn records_are_delivered_once_released_redelivered_and_limited() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    let mut a = Member::new("member-a");
    let mut b = Member::new("member-b");
    let topic = topic_with(&mut conn, "share-flow", &mut a, 5);

    let (ranges, code, _) = acquired(&a.fetch(&mut conn, topic, &[], 2_000));
    assert_eq!((ranges, code), (vec![(0, 4, 1)], NONE));
    // b gets nothing: a holds every record
    let (ranges, _, _) = acquired(&b.fetch(&mut conn, topic, &[], 200));
    assert_eq!(ranges, vec![]);

    let acks = [
        (0, 1, ACCEPT),
        (2, 2, RELEASE),
        (3, 3, REJECT),
        (4, 4, ACCEPT),
    ];
    assert_eq!(
        ack_code(&a.acknowledge(&mut conn, topic, &acks, None)),
        NONE
    );
    // the released record goes to b, second delivery; the rejected one never again
    let (ranges, _, _) = acquired(&b.fetch(&mut conn, topic, &[], 2_000));
    assert_eq!(ranges, vec![(2, 2, 2)]);

    // piggy-backed releases up to the delivery count limit (5): then archived
    for delivery in 3..=5 {
        let (ranges, _, ack) = acquired(&b.fetch(&mut conn, topic, &[(2, 2, RELEASE)], 2_000));
        assert_eq!((ranges, ack), (vec![(2, 2, delivery)], NONE));
    }
    let (ranges, _, ack) = acquired(&b.fetch(&mut conn, topic, &[(2, 2, RELEASE)], 200));
    assert_eq!((ranges, ack), (vec![], NONE), "archived after 5 deliveries");

    // new records still flow, to whoever fetches first
    produce_values(&mut conn, "share-flow", 0, 2_000, ["late"]);
    let (ranges, _, _) = acquired(&a.fetch(&mut conn, topic, &[], 2_000));
    assert_eq!(ranges, vec![(5, 5, 1)]);
}

#[test]
fn a_waiting_fetch_gets_records_as_soon_as_they_are_released() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    let mut a = Member::new("member-a");
    let topic = topic_with(&mut conn, "share-wake", &mut a, 2);
    let (ranges, _, _) = acquired(&a.fetch(&mut conn, topic, &[], 2_000));
    assert_eq!(ranges, vec![(0, 1, 1)]);

    let mut other = broker.connect();
    let waiting = std::thread::spawn(move || {
        let mut b = Member::new("member-b");
        acquired(&b.fetch(&mut other, topic, &[], 0));
        let started = std::time::Instant::now();
        let (ranges, _, _) = acquired(&b.fetch(&mut other, topic, &[], 20_000));
        (ranges, started.elapsed())
    });
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(
        ack_code(&a.acknowledge(&mut conn, topic, &[(0, 1, RELEASE)], None)),
        NONE
    );
    let (ranges, waited) = waiting.join().unwrap();
    assert_eq!(ranges, vec![(0, 1, 2)]);
    assert!(
        waited < std::time::Duration::from_secs(10),
        "waited {waited:?}"
    );
}

#[test]
fn records_deleted_from_the_log_are_skipped() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    let mut a = Member::new("member-a");
    let topic = topic_with(&mut conn, "share-deleted", &mut a, 3);
    produce_values(&mut conn, "share-deleted", 0, 1_000, ["d", "e"]);
    let request = DeleteRecordsRequest::default()
        .with_timeout_ms(5_000)
        .with_topics(vec![delete_records_request::DeleteRecordsTopic::default()
            .with_name(support::topic_name("share-deleted"))
            .with_partitions(vec![
                delete_records_request::DeleteRecordsPartition::default()
                    .with_partition_index(0)
                    .with_offset(4),
            ])]);
    let ResponseKind::DeleteRecords(deleted) = conn.request(
        ApiKey::DeleteRecords,
        2,
        RequestKind::DeleteRecords(request),
    ) else {
        panic!("wrong response type to DeleteRecords")
    };
    assert_eq!(deleted.topics[0].partitions[0].error_code, NONE);
    // offsets 0..3 are gone: only 4 is delivered; an acknowledgement below
    // it finds them archived already and passes without effect, as Kafka's
    let (ranges, _, _) = acquired(&a.fetch(&mut conn, topic, &[], 2_000));
    assert_eq!(ranges, vec![(4, 4, 1)]);
    assert_eq!(
        ack_code(&a.acknowledge(&mut conn, topic, &[(2, 2, ACCEPT)], None)),
        NONE
    );
    let (ranges, _, _) = acquired(&a.fetch(&mut conn, topic, &[], 0));
    assert_eq!(ranges, vec![], "nothing below the log start comes back");
    assert_eq!(
        ack_code(&a.acknowledge(&mut conn, topic, &[(4, 4, ACCEPT)], None)),
        NONE
    );
}

#[test]
fn bad_acknowledgements_and_session_epochs_get_kafkas_codes() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    let mut a = Member::new("member-a");
    let mut b = Member::new("member-b");
    let topic = topic_with(&mut conn, "share-errors", &mut a, 4);
    let (ranges, _, _) = acquired(&a.fetch(&mut conn, topic, &[], 2_000));
    assert_eq!(ranges, vec![(0, 3, 1)]);
    acquired(&b.fetch(&mut conn, topic, &[], 0));

    // someone else's records
    assert_eq!(
        ack_code(&b.acknowledge(&mut conn, topic, &[(0, 0, ACCEPT)], None)),
        INVALID_RECORD_STATE
    );
    // past the acquired records
    assert_eq!(
        ack_code(&a.acknowledge(&mut conn, topic, &[(2, 9, ACCEPT)], None)),
        INVALID_REQUEST
    );
    // an unknown acknowledge type
    assert_eq!(
        ack_code(&a.acknowledge(&mut conn, topic, &[(0, 0, 7)], None)),
        INVALID_REQUEST
    );
    // nothing was applied: a can still accept everything
    assert_eq!(
        ack_code(&a.acknowledge(&mut conn, topic, &[(0, 3, ACCEPT)], None)),
        NONE
    );
    // already acknowledged, behind the start offset: passes, as in Kafka
    assert_eq!(
        ack_code(&a.acknowledge(&mut conn, topic, &[(0, 0, ACCEPT)], None)),
        NONE
    );

    // session epochs
    let wrong = a.acknowledge(&mut conn, topic, &[], Some(a.epoch + 5));
    assert_eq!(wrong.error_code, INVALID_SHARE_SESSION_EPOCH);
    let opening = a.acknowledge(&mut conn, topic, &[], Some(0));
    assert_eq!(opening.error_code, INVALID_SHARE_SESSION_EPOCH);
    let mut stranger = Member::new("member-unknown");
    stranger.epoch = 3;
    assert_eq!(
        stranger.fetch(&mut conn, topic, &[], 0).error_code,
        SHARE_SESSION_NOT_FOUND
    );
    assert_eq!(
        stranger
            .acknowledge(&mut conn, topic, &[], Some(-1))
            .error_code,
        SHARE_SESSION_NOT_FOUND
    );
    // member ids: non-empty, at most 36 characters
    for bad in ["", "0123456789012345678901234567890123456"] {
        let mut m = Member::new(bad);
        assert_eq!(
            m.fetch(&mut conn, topic, &[], 0).error_code,
            INVALID_REQUEST
        );
        assert_eq!(
            m.acknowledge(&mut conn, topic, &[], Some(1)).error_code,
            INVALID_REQUEST
        );
    }
    // an opening fetch may not acknowledge
    let mut fresh = Member::new("member-c");
    assert_eq!(
        fresh
            .fetch(&mut conn, topic, &[(0, 0, ACCEPT)], 0)
            .error_code,
        INVALID_REQUEST
    );
}

#[test]
fn closing_a_session_or_dropping_its_connection_releases_records() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    let mut a = Member::new("member-a");
    let mut b = Member::new("member-b");
    let topic = topic_with(&mut conn, "share-release", &mut a, 3);
    let (ranges, _, _) = acquired(&a.fetch(&mut conn, topic, &[], 2_000));
    assert_eq!(ranges, vec![(0, 2, 1)]);

    // a closes its session (epoch -1), accepting offset 0 on the way out
    assert_eq!(
        ack_code(&a.acknowledge(&mut conn, topic, &[(0, 0, ACCEPT)], Some(-1))),
        NONE
    );
    let (ranges, _, _) = acquired(&b.fetch(&mut conn, topic, &[], 2_000));
    assert_eq!(ranges, vec![(1, 2, 2)]);

    // b's connection goes away without closing its session
    drop(conn);
    let mut conn = broker.connect();
    let mut c = Member::new("member-c");
    let mut got = vec![];
    for _ in 0..20 {
        let response = c.fetch(&mut conn, topic, &[], 500);
        got = acquired(&response).0;
        if !got.is_empty() {
            break;
        }
    }
    assert_eq!(got, vec![(1, 2, 3)]);
}

/// ShareFetch/ShareAcknowledge frames are decoded apart from the other
/// requests (both versions); they are still counted in RequestMetrics.
#[test]
fn share_requests_are_counted_in_request_metrics() {
    let admin = support::free_port();
    let broker = TestBroker::start(&[&format!("gregor.admin.listener=127.0.0.1:{admin}")]);
    let mut conn = broker.connect();
    let mut a = Member::new("member-m");
    let topic = topic_with(&mut conn, "share-metrics", &mut a, 2);
    let (ranges, _, _) = acquired(&a.fetch(&mut conn, topic, &[], 2_000));
    assert_eq!(ranges, vec![(0, 1, 1)]);
    assert_eq!(
        ack_code(&a.acknowledge(&mut conn, topic, &[(0, 1, ACCEPT)], None)),
        NONE
    );
    let text = support::scrape::scrape(admin).expect("metrics");
    let count = |request: &str| {
        support::scrape::samples(&text, "kafka_network_requestmetrics_requests_total")
            .into_iter()
            .filter(|(labels, _)| {
                labels.contains(&("request".to_string(), request.to_string()))
                    && labels.contains(&("version".to_string(), "1".to_string()))
            })
            .map(|(_, v)| v)
            .sum::<f64>()
    };
    assert!(count("ShareFetch") >= 2.0, "{}", count("ShareFetch"));
    assert_eq!(count("ShareAcknowledge"), 1.0);
}

#[test]
fn share_requests_are_measured_against_the_request_quota() {
    let broker = TestBroker::start(&["quota.window.num=2", "quota.window.size.seconds=1"]);
    let mut conn = broker.connect();
    let mut a = Member::new("member-q");
    let topic = topic_with(&mut conn, "share-quota", &mut a, 2);
    // A millionth of a request thread: any request's handling exceeds it.
    let request = gregor_client::alter_client_quotas_request(
        &[("client-id", Some("gregor-test"))],
        &[("request_percentage", Some(0.0001))],
        false,
    );
    let ResponseKind::AlterClientQuotas(altered) = conn.request(
        ApiKey::AlterClientQuotas,
        1,
        RequestKind::AlterClientQuotas(request),
    ) else {
        panic!("not an AlterClientQuotas response")
    };
    assert_eq!(altered.entries[0].error_code, NONE);
    let fetched = a.fetch(&mut conn, topic, &[], 2_000);
    let (ranges, _, _) = acquired(&fetched);
    assert_eq!(ranges, vec![(0, 1, 1)]);
    let acked = a.acknowledge(&mut conn, topic, &[(0, 1, ACCEPT)], None);
    assert_eq!(ack_code(&acked), NONE);
    // Capped at one window, as Kafka's request quota; the records are
    // delivered all the same (a throttle delays, it does not refuse).
    for throttle in [fetched.throttle_time_ms, acked.throttle_time_ms] {
        assert!((1..=1000).contains(&throttle), "{throttle}");
    }
}
