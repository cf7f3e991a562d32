//! What the TLS, SASL, OAUTHBEARER and ACL tests share: a broker with a
//! second, secured listener next to its PLAINTEXT one; the SASL requests a
//! client sends before it is served; the principal a broker logged for a
//! connection; three-listener cluster specs whose inter-broker and
//! controller listeners are secured; and `gregor server` runs that must
//! stop at start-up.

use super::certs::{Identity, TestCa};
use super::cluster::{broker_ids, create_topic, eventually, metadata, NodeSpec, ProcessCluster};
use super::{free_port, gregor_bin, list_offsets, wait_exit, Connection, TestBroker};
use bytes::Bytes;
use gregor_protocol::error_codes::NONE;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::DescribeConfigsResourceResult;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, DescribeConfigsRequest, MetadataRequest,
    RequestKind, ResponseKind, SaslAuthenticateRequest, SaslAuthenticateResponse,
    SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::protocol::StrBytes;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A broker with a PLAINTEXT listener (where the harness waits and admin
/// requests go) and a second listener, `port`, that the test secures.
pub struct SecureBroker {
    pub broker: TestBroker,
    pub port: u16,
}

impl SecureBroker {
    /// Listeners PLAINTEXT and `name`; when `name` is not itself a
    /// security protocol, the map says it speaks `protocol` and brokers
    /// talk to each other on PLAINTEXT. `settings` follow; `log_filter` is
    /// the process's `GREGOR_LOG` when given.
    pub fn start(
        name: &str,
        protocol: &str,
        settings: &[String],
        log_filter: Option<&str>,
    ) -> SecureBroker {
        let (plain, port) = (free_port(), free_port());
        let mut all = vec![format!(
            "listeners=PLAINTEXT://127.0.0.1:{plain},{name}://127.0.0.1:{port}"
        )];
        if name != protocol {
            all.push(format!(
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,{name}:{protocol}"
            ));
            all.push("inter.broker.listener.name=PLAINTEXT".to_string());
        }
        all.extend(settings.iter().cloned());
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        SecureBroker {
            broker: TestBroker::start_logging(plain, &all, log_filter),
            port,
        }
    }

    /// A plain TCP connection to the secured listener.
    pub fn connect(&self) -> Connection {
        connect_to(self.port)
    }

    /// A TLS connection to the secured listener, trusting `ca`, presenting
    /// `client` when given.
    pub fn tls(&self, ca: &TestCa, client: Option<&Identity>) -> std::io::Result<Connection> {
        let stream = TcpStream::connect(("127.0.0.1", self.port))?;
        Connection::tls(stream, ca.client_config(client), "localhost")
    }
}

/// A plain TCP connection to a port of 127.0.0.1.
pub fn connect_to(port: u16) -> Connection {
    Connection::new(TcpStream::connect(("127.0.0.1", port)).unwrap())
}

/// Writes the server's key store and the CA's trust store into `dir`; the
/// broker settings that name them (PEM files).
pub fn tls_settings(dir: &Path, ca: &TestCa, server: &Identity) -> Vec<String> {
    let keystore = server.write_keystore(&dir.join("server.pem"));
    let truststore = ca.write(&dir.join("ca.pem"));
    vec![
        "ssl.keystore.type=PEM".to_string(),
        format!("ssl.keystore.location={}", keystore.display()),
        "ssl.truststore.type=PEM".to_string(),
        format!("ssl.truststore.location={}", truststore.display()),
    ]
}

pub fn api_versions(conn: &mut Connection) -> ApiVersionsResponse {
    let ResponseKind::ApiVersions(response) = conn.request(
        ApiKey::ApiVersions,
        3,
        RequestKind::ApiVersions(ApiVersionsRequest::default()),
    ) else {
        panic!("not an ApiVersions response")
    };
    response
}

pub fn sasl_handshake(
    conn: &mut Connection,
    version: i16,
    mechanism: &str,
) -> SaslHandshakeResponse {
    let ResponseKind::SaslHandshake(r) = conn.request(
        ApiKey::SaslHandshake,
        version,
        RequestKind::SaslHandshake(
            SaslHandshakeRequest::default().with_mechanism(StrBytes::from_string(mechanism.into())),
        ),
    ) else {
        panic!("not a SaslHandshake response")
    };
    r
}

pub fn sasl_authenticate(
    conn: &mut Connection,
    version: i16,
    token: &[u8],
) -> SaslAuthenticateResponse {
    let ResponseKind::SaslAuthenticate(r) = conn.request(
        ApiKey::SaslAuthenticate,
        version,
        RequestKind::SaslAuthenticate(
            SaslAuthenticateRequest::default().with_auth_bytes(Bytes::copy_from_slice(token)),
        ),
    ) else {
        panic!("not a SaslAuthenticate response")
    };
    r
}

/// SASL PLAIN: a v1 handshake (which must succeed), then the token.
pub fn plain_login(conn: &mut Connection, user: &str, password: &str) -> SaslAuthenticateResponse {
    assert_eq!(sasl_handshake(conn, 1, "PLAIN").error_code, 0);
    sasl_authenticate(conn, 2, format!("\0{user}\0{password}").as_bytes())
}

/// Sends a request and expects the broker to close instead of answering.
pub fn expect_closed(conn: &mut Connection, key: ApiKey, version: i16, body: RequestKind) {
    let frame = conn.encode(key, version, &body);
    conn.send_raw(&frame);
    assert!(conn.read_frame().is_none(), "{key:?} was answered");
}

/// Sends an all-topics Metadata request and expects the broker to close
/// instead of answering (not authenticated, or no longer).
pub fn expect_metadata_closed(conn: &mut Connection) {
    expect_closed(
        conn,
        ApiKey::Metadata,
        12,
        RequestKind::Metadata(MetadataRequest::default().with_topics(None)),
    );
}

/// The log without its colour codes.
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The `principal=` of the first line of the broker's log about `peer`
/// that says `what`, waiting up to 10 s for it. The value runs to the next
/// ` field=` or the end of the line (a certificate's DN may hold spaces).
pub fn logged_principal(broker: &TestBroker, peer: &str, what: &str) -> String {
    let needle = format!("peer={peer}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = strip_ansi(&broker.log());
        if let Some(line) = log
            .lines()
            .find(|l| l.contains(&needle) && l.contains(what))
        {
            let at = line.find("principal=").unwrap() + "principal=".len();
            let rest = &line[at..];
            let end = next_field(rest).unwrap_or(rest.len());
            return rest[..end].trim_matches('"').to_string();
        }
        assert!(Instant::now() < deadline, "no `{what}` for {peer}: {log}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Where the next ` name=` field of a log line starts in `rest`.
fn next_field(rest: &str) -> Option<usize> {
    rest.match_indices(' ').map(|(i, _)| i).find(|&i| {
        let word: String = rest[i + 1..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '_')
            .collect();
        !word.is_empty() && rest[i + 1 + word.len()..].starts_with('=')
    })
}

/// `size` combined broker+controller nodes, all voters, each with three
/// listeners on free ports of 127.0.0.1: CLIENT (PLAINTEXT, where tests
/// connect), INTERNAL (inter-broker) speaking `internal` and CONTROLLER
/// speaking `controller`. Voters and INTERNAL are advertised as `host`
/// (`localhost` where certificates are checked against it); `extra(i)`
/// adds node `i`'s security properties.
pub fn secured_specs(
    size: usize,
    host: &str,
    internal: &str,
    controller: &str,
    extra: impl Fn(usize) -> String,
) -> Vec<NodeSpec> {
    let ports: Vec<(u16, u16, u16)> = (0..size)
        .map(|_| (free_port(), free_port(), free_port()))
        .collect();
    let voters = ports
        .iter()
        .enumerate()
        .map(|(i, (_, _, c))| format!("{}@{host}:{c}", i + 1))
        .collect::<Vec<_>>()
        .join(",");
    let (internal_protocol, controller_protocol) = (internal, controller);
    ports
        .iter()
        .enumerate()
        .map(|(i, (client, internal, controller))| NodeSpec {
            port: *client,
            properties: format!(
                "process.roles=broker,controller\ncontroller.quorum.voters={voters}\n\
                 listeners=CLIENT://127.0.0.1:{client},INTERNAL://127.0.0.1:{internal},\
                 CONTROLLER://127.0.0.1:{controller}\n\
                 advertised.listeners=CLIENT://127.0.0.1:{client},INTERNAL://{host}:{internal}\n\
                 controller.listener.names=CONTROLLER\ninter.broker.listener.name=INTERNAL\n\
                 listener.security.protocol.map=CLIENT:PLAINTEXT,INTERNAL:{internal_protocol},\
                 CONTROLLER:{controller_protocol}\n{}",
                extra(i)
            ),
            is_controller_only: false,
        })
        .collect()
}

/// A node's TLS properties: PEM key store and trust store files.
pub fn tls_properties(keystore: &Path, truststore: &Path) -> String {
    format!(
        "ssl.keystore.type=PEM\nssl.keystore.location={}\n\
         ssl.truststore.type=PEM\nssl.truststore.location={}\n",
        keystore.display(),
        truststore.display()
    )
}

/// A node's SASL properties: it logs in to INTERNAL as User:broker with
/// SCRAM-SHA-512 and to CONTROLLER as User:controller with PLAIN, both with
/// `password`; the cluster accepts `accepted` for both (a bootstrap SCRAM
/// user in the metadata log, and a static JAAS user: the quorum must elect
/// a leader before any SCRAM user exists).
pub fn sasl_properties(password: &str, accepted: &str) -> String {
    format!(
        "sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512\n\
         listener.name.internal.sasl.enabled.mechanisms=SCRAM-SHA-512\n\
         listener.name.internal.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"broker\" password=\"{password}\";\n\
         sasl.mechanism.controller.protocol=PLAIN\n\
         listener.name.controller.sasl.enabled.mechanisms=PLAIN\n\
         listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"controller\" password=\"{password}\" user_controller=\"{accepted}\";\n\
         sasl.bootstrap.scram=SCRAM-SHA-512=[name=broker,password={accepted}]\n"
    )
}

/// A server key store for `cn` (localhost, 127.0.0.1), written to
/// `dir/<cn>.pem`.
pub fn server_keystore(ca: &TestCa, dir: &Path, cn: &str) -> PathBuf {
    ca.server(cn).write_keystore(&dir.join(format!("{cn}.pem")))
}

/// Runs `gregor server` with `log.dirs` in a temporary directory and these
/// settings, which must make it exit within 20 s; its exit status and
/// standard error.
pub fn failed_start(settings: &[String]) -> (ExitStatus, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(gregor_bin());
    command.arg("server");
    command
        .arg("--set")
        .arg(format!("log.dirs={}", dir.path().join("data").display()));
    for setting in settings {
        command.arg("--set").arg(setting);
    }
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_exit(&mut child, 20, &format!("gregor started with {settings:?}"));
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (status, stderr)
}

/// True when the broker does not serve this TLS client: the handshake
/// failed, or its first request (ApiVersions) gets no answer (a TLS 1.3
/// server checks the client's certificate after the client's handshake
/// ends, so only a round trip shows a refusal).
pub fn refused_over_tls(conn: std::io::Result<Connection>) -> bool {
    let answered = conn.and_then(|mut conn| {
        let frame = conn.encode(
            ApiKey::ApiVersions,
            3,
            &RequestKind::ApiVersions(ApiVersionsRequest::default()),
        );
        let mut io = rustls::Stream::new(conn.tls.as_mut().unwrap(), &mut conn.stream);
        io.write_all(&frame)?;
        let mut byte = [0u8; 1];
        io.read(&mut byte)
    });
    !matches!(answered, Ok(n) if n > 0)
}

/// Waits (30 s for each) until every node of `nodes` lists `brokers`
/// registered brokers: their registrations and heartbeats went through the
/// secured controller listener.
pub fn wait_registered(
    cluster: &ProcessCluster,
    nodes: impl IntoIterator<Item = usize>,
    brokers: usize,
) {
    for i in nodes {
        eventually(30, &format!("{brokers} brokers registered"), || {
            (broker_ids(&metadata(&mut cluster.connect(i), None)).len() == brokers).then_some(())
        });
    }
}

/// Creates `topic` (one partition, `replicas` replicas) through node `via`
/// and waits (30 s) for a leader with every replica in sync: the followers
/// fetch over the secured inter-broker listener. The leader's node index.
pub fn create_in_sync(cluster: &ProcessCluster, via: usize, topic: &str, replicas: usize) -> usize {
    let (code, _) = create_topic(&mut cluster.connect(via), topic, 1, replicas as i16);
    assert_eq!(code, NONE, "creating {topic}");
    let leader = eventually(30, "a leader with a full ISR", || {
        let response = metadata(&mut cluster.connect(via), Some(&[topic]));
        let p = response.topics.first()?.partitions.first()?.clone();
        (p.leader_id.0 > 0 && p.isr_nodes.len() == replicas).then_some(p.leader_id.0)
    });
    // Node ids are the nodes' indexes + 1.
    leader as usize - 1
}

/// Waits (20 s) until partition 0 of `topic` on node `leader` has its high
/// watermark at `offset`: every in-sync follower has the records.
pub fn wait_high_watermark(cluster: &ProcessCluster, leader: usize, topic: &str, offset: i64) {
    eventually(20, &format!("the high watermark at {offset}"), || {
        (list_offsets(&mut cluster.connect(leader), topic, 0, -1).offset == offset).then_some(())
    });
}

/// Every config of broker 1 as DescribeConfigs (v4) describes them.
pub fn broker_configs(conn: &mut Connection) -> Vec<DescribeConfigsResourceResult> {
    let request =
        DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(4)
            .with_resource_name(StrBytes::from_static_str("1"))
            .with_configuration_keys(None)]);
    let ResponseKind::DescribeConfigs(mut r) = conn.request(
        ApiKey::DescribeConfigs,
        4,
        RequestKind::DescribeConfigs(request),
    ) else {
        panic!("not a DescribeConfigs response")
    };
    r.results.remove(0).configs
}

/// The config `name` among `configs`; missing fails the test.
pub fn config_entry(
    configs: &[DescribeConfigsResourceResult],
    name: &str,
) -> DescribeConfigsResourceResult {
    configs
        .iter()
        .find(|c| c.name.as_str() == name)
        .unwrap_or_else(|| panic!("{name} not described"))
        .clone()
}
