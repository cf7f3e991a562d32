//! Kafka's broker connection limits over TCP: `max.connections` (the
//! listener stops accepting while full), `max.connections.per.ip` with its
//! overrides (one more is closed at once), `max.connection.creation.rate`
//! (served after the throttle time), static and as dynamic broker configs.

// Tests fail by panicking: unwrap and expect are how they say so.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use std::time::{Duration, Instant};
use support::{Connection, TestBroker};

const BROKER_RESOURCE: i8 = 4;
const SET: i8 = 0;
const INVALID_REQUEST: i16 = 42;

fn api_versions(conn: &mut Connection) -> Bytes {
    let frame = conn.encode(
        ApiKey::ApiVersions,
        3,
        &RequestKind::ApiVersions(ApiVersionsRequest::default()),
    );
    conn.send_raw(&frame);
    conn.read_frame().expect("an ApiVersions answer")
}

type Bytes = bytes::Bytes;

/// Whether an ApiVersions request sent on `conn` is answered within `wait`.
fn answered_within(conn: &mut Connection, wait: Duration) -> bool {
    let frame = conn.encode(
        ApiKey::ApiVersions,
        3,
        &RequestKind::ApiVersions(ApiVersionsRequest::default()),
    );
    conn.send_raw(&frame);
    conn.stream.set_read_timeout(Some(wait)).unwrap();
    let answered = conn.read_frame().is_some();
    conn.stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    answered
}

/// A connection the broker serves, retried for a while: the start-up
/// probes' connections count against the limits until the broker has seen
/// them closed.
fn connect_served(broker: &TestBroker) -> Connection {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut conn = broker.connect();
        if answered_within(&mut conn, Duration::from_secs(2)) {
            return conn;
        }
        assert!(Instant::now() < deadline, "no connection was served");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Sets one cluster-wide dynamic broker config; the error code.
fn set_cluster_default(conn: &mut Connection, name: &str, value: &str) -> i16 {
    let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(BROKER_RESOURCE)
            .with_resource_name(StrBytes::from_static_str(""))
            .with_configs(vec![AlterableConfig::default()
                .with_name(StrBytes::from_string(name.to_string()))
                .with_config_operation(SET)
                .with_value(Some(StrBytes::from_string(value.to_string())))]),
    ]);
    let ResponseKind::IncrementalAlterConfigs(response) = conn.request(
        ApiKey::IncrementalAlterConfigs,
        1,
        RequestKind::IncrementalAlterConfigs(request),
    ) else {
        panic!("not an IncrementalAlterConfigs response")
    };
    response.responses[0].error_code
}

#[test]
fn a_connection_over_the_per_address_maximum_is_closed_at_once() {
    let broker = TestBroker::start(&[
        "max.connections.per.ip=2",
        // Another address of the loopback network gets more.
        "max.connections.per.ip.overrides=127.0.0.2:3",
    ]);
    let mut first = connect_served(&broker);
    let second = connect_served(&broker);
    // (connect_served may have been refused while start-up probes counted.)
    let logged_before = broker.log().matches("rejected connection").count();
    let mut third = broker.connect();
    let started = Instant::now();
    assert!(third.is_closed(), "the third connection is closed");
    assert!(started.elapsed() < Duration::from_secs(5));
    // A client retrying in a loop is refused each time and logged once.
    for _ in 0..4 {
        assert!(broker.connect().is_closed());
    }
    let refusals = broker.log().matches("rejected connection").count() - logged_before;
    assert_eq!(refusals, 1, "{}", broker.log());
    // Open connections go on; a closed one frees its place.
    api_versions(&mut first);
    drop(second);
    // The broker counts it closed once it reads the end of the stream.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut again = broker.connect();
        if answered_within(&mut again, Duration::from_secs(2)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the freed place was not given back"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_full_broker_accepts_no_more_until_a_connection_closes() {
    let broker = TestBroker::start(&["max.connections=2"]);
    let first = connect_served(&broker);
    let mut second = connect_served(&broker);
    // The kernel completes the handshake; the broker does not take it.
    let mut waiting = broker.connect();
    assert!(!answered_within(&mut waiting, Duration::from_millis(800)));
    drop(first);
    // Its request was sent already: the answer comes once it is taken.
    waiting
        .stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    assert!(
        waiting.read_frame().is_some(),
        "served once a slot was free"
    );
    api_versions(&mut second);
}

#[test]
fn connections_over_the_listener_creation_rate_are_served_after_the_throttle() {
    let broker = TestBroker::start(&[
        "quota.window.num=2",
        "quota.window.size.seconds=1",
        "listener.name.plaintext.max.connection.creation.rate=2",
    ]);
    // The start-up probes' connections count too: let them age out of
    // the two windows first.
    std::thread::sleep(Duration::from_millis(2100));
    // Two per second over at least one window: the first two are served
    // at once, a burst beyond waits.
    let mut conns: Vec<Connection> = (0..2).map(|_| broker.connect()).collect();
    for conn in &mut conns {
        assert!(answered_within(conn, Duration::from_millis(500)));
    }
    let mut late = broker.connect();
    let started = Instant::now();
    api_versions(&mut late);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(300),
        "served after {waited:?}"
    );
}

#[test]
fn the_limits_change_as_dynamic_broker_configs() {
    let broker = TestBroker::start(&[]);
    let mut admin = broker.connect();
    api_versions(&mut admin);
    assert_eq!(
        set_cluster_default(&mut admin, "max.connections.per.ip", "2"),
        0
    );
    let _second = connect_served(&broker);
    let mut third = broker.connect();
    assert!(third.is_closed(), "over the dynamic per-address maximum");
    assert_eq!(
        set_cluster_default(&mut admin, "max.connections.per.ip", "10"),
        0
    );
    api_versions(&mut broker.connect());
    // Kafka's checks of the values.
    assert_eq!(
        set_cluster_default(&mut admin, "max.connections.per.ip.overrides", "127.0.0.1"),
        INVALID_REQUEST
    );
    assert_eq!(
        set_cluster_default(&mut admin, "max.connections", "many"),
        INVALID_REQUEST
    );
}

/// `connections.max.idle.ms`: a connection that sends nothing for that long
/// is closed; one that keeps asking stays, and a request in progress (a
/// fetch long-polling for longer than the idle time) is answered, not cut.
#[test]
fn idle_connections_are_closed_after_connections_max_idle_ms() {
    let broker = TestBroker::start(&["connections.max.idle.ms=1500"]);
    let mut busy = connect_served(&broker);
    let mut idle = connect_served(&broker);
    let topic = "idle-fetch";
    support::create_topic(&mut busy, topic, 1);
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(4) {
        api_versions(&mut busy);
        std::thread::sleep(Duration::from_millis(400));
    }
    assert!(
        idle.is_closed(),
        "an idle connection outlived connections.max.idle.ms"
    );

    let fetch = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(3000)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_topics(vec![FetchTopic::default()
            .with_topic(support::topic_name(topic))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_partition_max_bytes(1 << 20)])]);
    let waited = Instant::now();
    let ResponseKind::Fetch(response) = busy.request(ApiKey::Fetch, 12, RequestKind::Fetch(fetch))
    else {
        panic!("wrong response type to Fetch")
    };
    assert!(
        waited.elapsed() >= Duration::from_millis(2500),
        "the fetch did not wait"
    );
    assert_eq!(response.responses[0].partitions[0].error_code, 0);
    // Quiet from now on: closed in its turn.
    assert!(busy.is_closed(), "the quiet connection stayed open");
}

/// The soft and hard "Max open files" of a running process, from /proc.
fn open_files_limits(pid: u32) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let fields: Vec<&str> = line.split_whitespace().collect();
    (fields[3].to_string(), fields[4].to_string())
}

/// Kills the spawned server however the test ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_open_files_limit_is_raised_to_the_hard_limit_as_the_jvm_does() {
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let port = support::free_port();
    let log_path = dir.path().join("broker.log");
    let mut command = std::process::Command::new(support::gregor_bin());
    command
        .arg("server")
        .arg("--set")
        .arg(format!("listeners=PLAINTEXT://127.0.0.1:{port}"))
        .arg("--set")
        .arg(format!("log.dirs={}", dir.path().join("data").display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap());
    // The server starts with a soft limit of 256, as under a default `ulimit -n`.
    unsafe {
        command.pre_exec(|| {
            let mut limit = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            limit.rlim_cur = limit.rlim_max.min(256);
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let server = KillOnDrop(command.spawn().unwrap());
    let deadline = Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(&log_path)
        .unwrap_or_default()
        .contains("gregor broker started")
    {
        assert!(Instant::now() < deadline, "gregor did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (soft, hard) = open_files_limits(server.0.id());
    assert_eq!(soft, hard, "soft limit {soft}, hard limit {hard}");
    if hard != "256" {
        let log = std::fs::read_to_string(&log_path).unwrap();
        assert!(
            log.contains("raised the open-file limit to its hard limit"),
            "{log}"
        );
    }
}
