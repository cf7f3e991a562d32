//! A real `gregor server` process for integration tests, on a free port in a
//! temporary directory, killed when the test ends (even on panic).

#![allow(dead_code)]
// Test support: a failed setup step should fail the test loudly, so helpers
// unwrap like the tests that call them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod certs;
pub mod cli;
pub mod cluster;
pub mod configs;
pub mod http;
pub mod scrape;
pub mod security;
pub mod share;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use gregor_protocol::compression::Compression;
use gregor_protocol::error_codes::NONE;
use gregor_protocol::records::BatchBuilder;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::list_offsets_response::ListOffsetsPartitionResponse;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, CreateTopicsRequest, ListOffsetsRequest, ProduceRequest, RequestHeader, RequestKind,
    ResponseHeader, ResponseKind, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub struct TestBroker {
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
    settings: Vec<String>,
    child: Option<Child>,
    /// `GREGOR_LOG` for the process, when a test reads its debug lines.
    log_filter: Option<String>,
}

/// A port nothing listens on, picked at random below the kernel's ephemeral
/// range (32768+): a port the kernel hands out (bind to 0) is also what
/// outgoing connections of other tests take, and one of them may hold it by
/// the time the server binds it. The port is claimed (see [`claim_port`]) so
/// no other test of this run picks it too.
pub fn free_port() -> u16 {
    loop {
        let port = 10_000 + (uuid::Uuid::new_v4().as_u128() % 22_000) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() && claim_port(port) {
            return port;
        }
    }
}

/// Claims `port` for one test: a file per port, created exclusively, in a
/// directory every test process shares (the compat suite's conftest claims
/// there too). Without it two tests running at once — threads of one test
/// binary, or another suite — could draw the same free port before either
/// server binds it. Claims older than an hour are left from finished runs
/// and are taken over.
pub fn claim_port(port: u16) -> bool {
    const STALE: Duration = Duration::from_secs(3600);
    let dir = std::env::temp_dir().join("gregor-test-ports");
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(port.to_string());
    let create = || {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .is_ok()
    };
    if create() {
        return true;
    }
    let stale = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .map(|at| at.elapsed().unwrap_or_default() > STALE)
        .unwrap_or(false);
    stale && std::fs::remove_file(&path).is_ok() && create()
}

pub fn gregor_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_gregor"))
}

impl TestBroker {
    pub fn start(extra: &[&str]) -> TestBroker {
        TestBroker::start_on(free_port(), extra)
    }

    /// A broker whose client (PLAINTEXT) listener is on `port`; `extra`
    /// may add listeners around it.
    pub fn start_on(port: u16, extra: &[&str]) -> TestBroker {
        TestBroker::start_logging(port, extra, None)
    }

    /// As [`TestBroker::start_on`], the process logging with `log_filter`
    /// (a `GREGOR_LOG` value) when given.
    pub fn start_logging(port: u16, extra: &[&str], log_filter: Option<&str>) -> TestBroker {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = vec![
            format!("listeners=PLAINTEXT://127.0.0.1:{port}"),
            format!("log.dirs={}", dir.path().join("data").display()),
        ];
        settings.extend(extra.iter().map(|s| s.to_string()));
        let mut broker = TestBroker {
            addr: format!("127.0.0.1:{port}").parse().unwrap(),
            dir,
            settings,
            child: None,
            log_filter: log_filter.map(str::to_string),
        };
        broker.spawn();
        broker
    }

    fn spawn(&mut self) {
        self.launch(&[]);
        self.wait_started();
    }

    /// Starts the process again (after [`TestBroker::kill`] or
    /// [`TestBroker::stop`]) with `env` set, without waiting for it to serve.
    pub fn launch(&mut self, env: &[(&str, &str)]) {
        let log = std::fs::File::create(self.dir.path().join("broker.log")).unwrap();
        let mut command = Command::new(gregor_bin());
        command.arg("server");
        if let Some(filter) = &self.log_filter {
            command.env("GREGOR_LOG", filter);
        }
        command.envs(env.iter().copied());
        for setting in &self.settings {
            command.arg("--set").arg(setting);
        }
        let child = command.stdout(Stdio::null()).stderr(log).spawn().unwrap();
        self.child = Some(child);
    }

    /// Waits until the launched process serves clients.
    pub fn wait_started(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        // Listening comes first; serving once the broker is unfenced.
        while TcpStream::connect(self.addr).is_err()
            || !self.log().contains("gregor broker started")
        {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("gregor exited with {status}: {}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "gregor did not start: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("broker.log")).unwrap_or_default()
    }

    /// The running process's id, if it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// SIGTERM and wait: a clean shutdown.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            unsafe_sigterm(child.id());
            let deadline = Instant::now() + Duration::from_secs(20);
            while child.try_wait().unwrap().is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                    panic!("gregor did not stop on SIGTERM: {}", self.log());
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// kill -9: an unclean stop.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    pub fn connect(&self) -> Connection {
        Connection::new(TcpStream::connect(self.addr).unwrap())
    }
}

/// Waits up to `secs` seconds for `child` to exit; if it is still running
/// then, kills it and fails the test with `what`.
pub fn wait_exit(child: &mut Child, secs: u64, what: &str) -> ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn unsafe_sigterm(pid: u32) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn exists(path: &Path) -> bool {
    path.exists()
}

/// A blocking Kafka connection for tests, speaking raw frames, over plain
/// TCP or TLS.
pub struct Connection {
    pub stream: TcpStream,
    /// The TLS session when the connection is encrypted.
    pub tls: Option<rustls::ClientConnection>,
    next_correlation: i32,
}

impl Connection {
    pub fn new(stream: TcpStream) -> Connection {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Connection {
            stream,
            tls: None,
            next_correlation: 1,
        }
    }

    /// A TLS connection; the handshake is finished (or has failed) on return.
    pub fn tls(
        stream: TcpStream,
        config: std::sync::Arc<rustls::ClientConfig>,
        server_name: &str,
    ) -> std::io::Result<Connection> {
        let mut conn = Connection::new(stream);
        let name = rustls_pki_types::ServerName::try_from(server_name.to_string()).unwrap();
        let mut tls = rustls::ClientConnection::new(config, name).unwrap();
        while tls.is_handshaking() {
            tls.complete_io(&mut conn.stream)?;
        }
        // TLS 1.3 servers check the client certificate after the client's
        // handshake ends: a round trip shows whether it was accepted.
        conn.tls = Some(tls);
        Ok(conn)
    }

    fn io(&mut self) -> Box<dyn ReadWrite + '_> {
        match &mut self.tls {
            Some(tls) => Box::new(rustls::Stream::new(tls, &mut self.stream)),
            None => Box::new(&mut self.stream),
        }
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        let mut io = self.io();
        io.write_all(bytes).unwrap();
        io.flush().unwrap();
    }

    /// Reads one response frame; `None` if the broker closed the connection.
    pub fn read_frame(&mut self) -> Option<Bytes> {
        let mut io = self.io();
        let mut prefix = [0u8; 4];
        io.read_exact(&mut prefix).ok()?;
        let mut body = vec![0u8; i32::from_be_bytes(prefix) as usize];
        io.read_exact(&mut body).ok()?;
        Some(Bytes::from(body))
    }

    /// True when the broker has closed this connection.
    pub fn is_closed(&mut self) -> bool {
        let mut io = self.io();
        let mut byte = [0u8; 1];
        matches!(io.read(&mut byte), Ok(0))
            || matches!(io.read(&mut byte), Err(ref e) if matches!(e.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::InvalidData))
    }

    pub fn encode(&mut self, key: ApiKey, version: i16, body: &RequestKind) -> Bytes {
        let mut buf = BytesMut::new();
        buf.put_i32(0);
        RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(self.next_correlation)
            .with_client_id(Some(StrBytes::from_static_str("gregor-test")))
            .encode(&mut buf, key.request_header_version(version))
            .unwrap();
        self.next_correlation += 1;
        body.encode(&mut buf, version).unwrap();
        let size = (buf.len() - 4) as i32;
        buf[..4].copy_from_slice(&size.to_be_bytes());
        buf.freeze()
    }

    /// Sends a request and decodes its response.
    pub fn request(&mut self, key: ApiKey, version: i16, body: RequestKind) -> ResponseKind {
        let frame = self.encode(key, version, &body);
        self.send_raw(&frame);
        let mut response = self.read_frame().expect("broker closed the connection");
        let header =
            ResponseHeader::decode(&mut response, key.response_header_version(version)).unwrap();
        assert_eq!(header.correlation_id, self.next_correlation - 1);
        let decoded = ResponseKind::decode(key, &mut response, version).unwrap();
        assert_eq!(
            response.remaining(),
            0,
            "trailing bytes in {key:?} response"
        );
        decoded
    }
}

/// Read + Write, as one trait object.
pub trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// A topic name as request bodies carry it.
/// OffsetForLeaderEpoch v4 for partition 0 of `topic`, as a consumer asks
/// it: (error, epoch, end offset).
pub fn end_offset_for_epoch(
    conn: &mut Connection,
    topic: &str,
    current_leader_epoch: i32,
    leader_epoch: i32,
) -> (i16, i32, i64) {
    use kafka_protocol::messages::offset_for_leader_epoch_request::{
        OffsetForLeaderPartition, OffsetForLeaderTopic,
    };
    let request = kafka_protocol::messages::OffsetForLeaderEpochRequest::default()
        .with_replica_id((-1).into())
        .with_topics(vec![OffsetForLeaderTopic::default()
            .with_topic(topic_name(topic))
            .with_partitions(vec![OffsetForLeaderPartition::default()
                .with_partition(0)
                .with_current_leader_epoch(current_leader_epoch)
                .with_leader_epoch(leader_epoch)])]);
    let ResponseKind::OffsetForLeaderEpoch(response) = conn.request(
        ApiKey::OffsetForLeaderEpoch,
        4,
        RequestKind::OffsetForLeaderEpoch(request),
    ) else {
        panic!("wrong response type to OffsetForLeaderEpoch")
    };
    let p = &response.topics[0].partitions[0];
    (p.error_code, p.leader_epoch, p.end_offset)
}

pub fn topic_name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_string()))
}

/// Creates a topic with replication factor 1 and returns its id; a refusal
/// fails the test with the broker's message.
pub fn create_topic(conn: &mut Connection, topic: &str, partitions: i32) -> uuid::Uuid {
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(topic_name(topic))
            .with_num_partitions(partitions)
            .with_replication_factor(1)]);
    let ResponseKind::CreateTopics(response) =
        conn.request(ApiKey::CreateTopics, 7, RequestKind::CreateTopics(request))
    else {
        panic!("wrong response type to CreateTopics")
    };
    let created = &response.topics[0];
    assert_eq!(created.error_code, NONE, "{:?}", created.error_message);
    created.topic_id
}

/// Produces one uncompressed batch of `values`, all stamped `timestamp_ms`,
/// with acks=1; anything but success fails the test.
pub fn produce_values<V: Into<Bytes>>(
    conn: &mut Connection,
    topic: &str,
    partition: i32,
    timestamp_ms: i64,
    values: impl IntoIterator<Item = V>,
) {
    assert_eq!(
        produce_batch(conn, topic, partition, 1, timestamp_ms, values),
        NONE,
        "produce to {topic}-{partition}"
    );
}

/// Produces one uncompressed batch of `values`, all stamped `timestamp_ms`,
/// with `acks`; the partition's error code. The 20 s timeout leaves acks=all
/// time for followers that are slow to fetch.
pub fn produce_batch<V: Into<Bytes>>(
    conn: &mut Connection,
    topic: &str,
    partition: i32,
    acks: i16,
    timestamp_ms: i64,
    values: impl IntoIterator<Item = V>,
) -> i16 {
    let mut builder = BatchBuilder::new(Compression::None);
    for value in values {
        builder.push(timestamp_ms, None, Some(value.into()), vec![]);
    }
    send_batch(
        conn,
        topic,
        partition,
        acks,
        builder.build().unwrap().freeze(),
    )
}

/// Produces one record batch as built, with `acks`; the partition's error
/// code.
pub fn send_batch(
    conn: &mut Connection,
    topic: &str,
    partition: i32,
    acks: i16,
    batch: Bytes,
) -> i16 {
    let request = ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(20_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(topic_name(topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(batch))])]);
    let ResponseKind::Produce(response) =
        conn.request(ApiKey::Produce, 9, RequestKind::Produce(request))
    else {
        panic!("wrong response type to Produce")
    };
    response.responses[0].partition_responses[0].error_code
}

/// One partition's ListOffsets answer at `timestamp` (-1 latest, -2
/// earliest); an error fails the test.
pub fn list_offsets(
    conn: &mut Connection,
    topic: &str,
    partition: i32,
    timestamp: i64,
) -> ListOffsetsPartitionResponse {
    let request = ListOffsetsRequest::default()
        .with_replica_id((-1).into())
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(partition)
                .with_timestamp(timestamp)])]);
    let ResponseKind::ListOffsets(mut response) =
        conn.request(ApiKey::ListOffsets, 9, RequestKind::ListOffsets(request))
    else {
        panic!("wrong response type to ListOffsets")
    };
    let p = response.topics.remove(0).partitions.remove(0);
    assert_eq!(
        p.error_code, NONE,
        "ListOffsets {timestamp} of {topic}-{partition}"
    );
    p
}

/// ListOffsets earliest (the log start offset) of one partition.
pub fn earliest_offset(conn: &mut Connection, topic: &str, partition: i32) -> i64 {
    list_offsets(conn, topic, partition, -2).offset
}

/// What a Kafka client does before its first group request: FindCoordinator
/// (which creates `__consumer_offsets`), then retry until the coordinator
/// has loaded the group's shard (NOT_COORDINATOR / COORDINATOR_LOAD_IN_PROGRESS
/// while the new topic's leadership and the replay settle). Also after a
/// restart, whose shards load in the background.
pub fn wait_for_group_coordinator(conn: &mut Connection, group: &str) {
    use kafka_protocol::messages::{FindCoordinatorRequest, GroupId, OffsetFetchRequest};
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let find = FindCoordinatorRequest::default()
            .with_key(StrBytes::from_string(group.to_string()))
            .with_key_type(0);
        let ResponseKind::FindCoordinator(found) = conn.request(
            ApiKey::FindCoordinator,
            3,
            RequestKind::FindCoordinator(find),
        ) else {
            panic!("not a FindCoordinator response")
        };
        if found.error_code == NONE {
            let fetch = OffsetFetchRequest::default()
                .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
                .with_topics(None);
            let ResponseKind::OffsetFetch(fetched) =
                conn.request(ApiKey::OffsetFetch, 7, RequestKind::OffsetFetch(fetch))
            else {
                panic!("not an OffsetFetch response")
            };
            if fetched.error_code == NONE {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the coordinator of group {group} never became ready"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// ConsumerGroupHeartbeat v1 (KIP-848): the response (the tests' requests
/// need nothing later versions add).
pub fn consumer_group_heartbeat(
    conn: &mut Connection,
    request: kafka_protocol::messages::ConsumerGroupHeartbeatRequest,
) -> kafka_protocol::messages::ConsumerGroupHeartbeatResponse {
    let ResponseKind::ConsumerGroupHeartbeat(r) = conn.request(
        ApiKey::ConsumerGroupHeartbeat,
        1,
        RequestKind::ConsumerGroupHeartbeat(request),
    ) else {
        panic!("not a ConsumerGroupHeartbeat response")
    };
    r
}

/// A simple consumer's commit (no member), as the tools make one: the first
/// partition error code, or 0.
pub fn simple_commit(
    conn: &mut Connection,
    group: &str,
    topic: &str,
    offsets: &[(i32, i64)],
) -> i16 {
    use kafka_protocol::messages::offset_commit_request::{
        OffsetCommitRequestPartition, OffsetCommitRequestTopic,
    };
    let request = kafka_protocol::messages::OffsetCommitRequest::default()
        .with_group_id(kafka_protocol::messages::GroupId(StrBytes::from_string(
            group.to_string(),
        )))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(
                offsets
                    .iter()
                    .map(|&(p, o)| {
                        OffsetCommitRequestPartition::default()
                            .with_partition_index(p)
                            .with_committed_offset(o)
                    })
                    .collect(),
            )]);
    let ResponseKind::OffsetCommit(r) =
        conn.request(ApiKey::OffsetCommit, 8, RequestKind::OffsetCommit(request))
    else {
        panic!("not an OffsetCommit response")
    };
    r.topics[0]
        .partitions
        .iter()
        .map(|p| p.error_code)
        .find(|c| *c != 0)
        .unwrap_or(0)
}
