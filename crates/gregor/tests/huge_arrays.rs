//! Tiny requests whose length prefixes claim billions of elements. The
//! decoder (kafka-protocol 0.18) reserves capacity for the claimed count before
//! reading anything; without the broker's allocation guard (src/alloc_guard.rs)
//! that allocation fails and the process aborts. Each request must only close
//! its own connection, and the broker must keep serving.

// An integration test: unwrapping is how a failed step fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use gregor_protocol::error_codes::NONE;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, RequestKind, ResponseKind};
use support::{Connection, TestBroker};

/// Sends ApiVersions v3 and checks the broker answers it without error.
fn api_versions_ok(conn: &mut Connection) {
    let ResponseKind::ApiVersions(response) = conn.request(
        ApiKey::ApiVersions,
        3,
        RequestKind::ApiVersions(ApiVersionsRequest::default()),
    ) else {
        panic!("wrong response type")
    };
    assert_eq!(response.error_code, NONE);
    assert!(!response.api_keys.is_empty());
}

/// A request frame, length prefix included. `flexible` selects request header
/// v2 (with an empty tagged-field section) over v1; both carry a null client id.
fn frame(key: ApiKey, version: i16, flexible: bool, body: &[u8]) -> Vec<u8> {
    let mut payload = Vec::new();
    payload.extend_from_slice(&(key as i16).to_be_bytes());
    payload.extend_from_slice(&version.to_be_bytes());
    payload.extend_from_slice(&7i32.to_be_bytes()); // correlation id
    payload.extend_from_slice(&(-1i16).to_be_bytes()); // null client id
    if flexible {
        payload.push(0); // no tagged fields
    }
    payload.extend_from_slice(body);
    let mut out = (payload.len() as i32).to_be_bytes().to_vec();
    out.extend_from_slice(&payload);
    out
}

/// An unsigned varint, as compact arrays and strings prefix their length.
fn varint(mut value: u32) -> Vec<u8> {
    let mut out = Vec::new();
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
    out
}

/// A compact length of about 2^31 elements (the wire value is count + 1).
fn huge_compact_count() -> Vec<u8> {
    varint(0x8000_0001)
}

/// A few zero bytes after the count: the decoder reads some (empty) elements
/// into its huge vector before it runs out of input.
const TAIL: [u8; 40] = [0; 40];

fn cases() -> Vec<(&'static str, Vec<u8>)> {
    let mut cases = Vec::new();

    // Metadata v1: the body is the topics array (i32 count).
    let mut body = i32::MAX.to_be_bytes().to_vec();
    body.extend_from_slice(&TAIL);
    cases.push((
        "Metadata v1, i32::MAX topics",
        frame(ApiKey::Metadata, 1, false, &body),
    ));

    // Metadata v12 (flexible): topics is a compact array.
    let mut body = huge_compact_count();
    body.extend_from_slice(&TAIL);
    cases.push((
        "Metadata v12, 2^31 topics",
        frame(ApiKey::Metadata, 12, true, &body),
    ));

    // CreateTopics v7 (flexible): the body starts with the topics array.
    let mut body = huge_compact_count();
    body.extend_from_slice(&TAIL);
    cases.push((
        "CreateTopics v7, 2^31 topics",
        frame(ApiKey::CreateTopics, 7, true, &body),
    ));

    // Produce v9 (flexible): null transactional id, acks, timeout, topic_data.
    let mut body = vec![0];
    body.extend_from_slice(&1i16.to_be_bytes());
    body.extend_from_slice(&30_000i32.to_be_bytes());
    let prefix = body.clone();
    body.extend_from_slice(&huge_compact_count());
    body.extend_from_slice(&TAIL);
    cases.push((
        "Produce v9, 2^31 topics",
        frame(ApiKey::Produce, 9, true, &body),
    ));

    // Produce v9 again, one topic holding 2^31 partitions: a nested huge
    // array inside an outer one that decodes fine.
    let mut body = prefix;
    body.extend_from_slice(&varint(2)); // one topic
    body.extend_from_slice(&varint(2)); // name "t"
    body.push(b't');
    body.extend_from_slice(&huge_compact_count());
    body.extend_from_slice(&TAIL);
    cases.push((
        "Produce v9, 2^31 partitions",
        frame(ApiKey::Produce, 9, true, &body),
    ));

    // ApiVersions v3: a client software name claiming ~4 GiB.
    let mut body = varint(u32::MAX);
    body.extend_from_slice(&TAIL);
    cases.push((
        "ApiVersions v3, 4 GiB name",
        frame(ApiKey::ApiVersions, 3, true, &body),
    ));

    cases
}

/// A fresh connection still gets a valid ApiVersions answer; on failure the
/// broker's log (where an abort shows as "memory allocation of N bytes
/// failed") is part of the message.
fn still_serving(broker: &TestBroker, after: &str) {
    let answered = std::panic::catch_unwind(|| {
        let stream = std::net::TcpStream::connect(broker.addr).expect("connect");
        api_versions_ok(&mut Connection::new(stream));
    });
    if answered.is_err() {
        panic!(
            "broker stopped serving after {after}; its log:\n{}",
            broker.log()
        );
    }
}

#[test]
fn huge_counts_close_the_connection_and_the_broker_survives() {
    let broker = TestBroker::start(&[]);
    let mut bystander = broker.connect();
    api_versions_ok(&mut bystander);
    for (name, bytes) in cases() {
        let mut conn = broker.connect();
        conn.send_raw(&bytes);
        assert!(conn.is_closed(), "{name}: connection left open");
        still_serving(&broker, name);
    }
    // A connection that was open all along is unaffected too.
    api_versions_ok(&mut bystander);
}

#[test]
fn many_huge_requests_in_a_row_and_in_parallel() {
    // Each of these requests reserves 128 to 224 GiB of address space (the
    // claimed count times the element size). 2,000 of them add up to more
    // than the 128 TiB a process has, so a leaked reservation would soon
    // make mmap fail and the broker abort: they must all be returned.
    let broker = TestBroker::start(&[]);
    let cases = cases();
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for _ in 0..100 {
                    for (name, bytes) in &cases {
                        let mut conn = broker.connect();
                        conn.send_raw(bytes);
                        assert!(conn.is_closed(), "{name}: connection left open");
                    }
                }
            });
        }
    });
    still_serving(&broker, "many huge requests");
}
