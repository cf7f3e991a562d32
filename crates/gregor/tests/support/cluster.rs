//! A cluster of real `gregor server` processes, each with its own Kafka-style
//! server.properties and data dir, formatted with one cluster id; killed when
//! the test ends, even on panic. The tests say what each node is (its
//! properties); this module starts, stops, pauses and asks them.

use super::{gregor_bin, topic_name, wait_exit, Connection};
use gregor_protocol::error_codes::NONE;
use kafka_protocol::messages::create_topics_request::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig,
};
use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
use kafka_protocol::messages::describe_quorum_response::PartitionData as QuorumPartition;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiKey, BrokerId, CreateTopicsRequest, DescribeQuorumRequest, FindCoordinatorRequest,
    MetadataRequest, MetadataResponse, RequestKind, ResponseKind,
};
use kafka_protocol::protocol::StrBytes;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What one node is: the port tests reach it on (a broker's client
/// listener, a dedicated controller's controller listener) and its
/// server.properties without `node.id` and `log.dirs`, which the cluster adds.
pub struct NodeSpec {
    pub port: u16,
    pub properties: String,
    pub is_controller_only: bool,
}

pub struct ClusterNode {
    /// `node.id`: the node's index + 1.
    pub id: i32,
    /// How many times its server.log said it started, before the last spawn.
    starts_before: usize,
    pub port: u16,
    pub is_controller_only: bool,
    pub dir: PathBuf,
    pub child: Option<Child>,
}

pub struct ProcessCluster {
    _root: tempfile::TempDir,
    pub nodes: Vec<ClusterNode>,
}

/// A new cluster id, from `gregor storage random-uuid`.
/// `size` combined broker+controller nodes, all voters, each with a client
/// (PLAINTEXT, also inter-broker) and a controller listener on free ports of
/// 127.0.0.1; `extra(i)` adds node `i`'s own properties (a rack, ...).
pub fn combined_specs(size: usize, extra: impl Fn(usize) -> String) -> Vec<NodeSpec> {
    let ports: Vec<(u16, u16)> = (0..size)
        .map(|_| (super::free_port(), super::free_port()))
        .collect();
    let voters = ports
        .iter()
        .enumerate()
        .map(|(i, (_, controller))| format!("{}@127.0.0.1:{controller}", i + 1))
        .collect::<Vec<_>>()
        .join(",");
    ports
        .iter()
        .enumerate()
        .map(|(i, (client, controller))| NodeSpec {
            port: *client,
            properties: format!(
                "process.roles=broker,controller\ncontroller.quorum.voters={voters}\n\
                 listeners=PLAINTEXT://127.0.0.1:{client},CONTROLLER://127.0.0.1:{controller}\n\
                 advertised.listeners=PLAINTEXT://127.0.0.1:{client}\n\
                 controller.listener.names=CONTROLLER\ninter.broker.listener.name=PLAINTEXT\n\
                 listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n{}",
                extra(i)
            ),
            is_controller_only: false,
        })
        .collect()
}

/// One dedicated controller (node 1, the only voter) and `brokers`
/// broker-only nodes (2, 3, ...), on free ports of 127.0.0.1.
pub fn controller_and_brokers_specs(brokers: usize) -> Vec<NodeSpec> {
    let ports: Vec<u16> = (0..=brokers).map(|_| super::free_port()).collect();
    let voters = format!("1@127.0.0.1:{}", ports[0]);
    ports
        .iter()
        .enumerate()
        .map(|(i, port)| {
            let role = if i == 0 {
                format!(
                    "process.roles=controller\nlisteners=CONTROLLER://127.0.0.1:{port}\n\
                     listener.security.protocol.map=CONTROLLER:PLAINTEXT\n"
                )
            } else {
                format!(
                    "process.roles=broker\nlisteners=PLAINTEXT://127.0.0.1:{port}\n\
                     advertised.listeners=PLAINTEXT://127.0.0.1:{port}\n\
                     inter.broker.listener.name=PLAINTEXT\n\
                     listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n"
                )
            };
            NodeSpec {
                port: *port,
                properties: format!(
                    "{role}controller.quorum.voters={voters}\ncontroller.listener.names=CONTROLLER\n"
                ),
                is_controller_only: i == 0,
            }
        })
        .collect()
}

pub fn random_cluster_id() -> String {
    let output = Command::new(gregor_bin())
        .args(["storage", "random-uuid"])
        .output()
        .unwrap();
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

/// Formats `properties`' log dirs for `cluster_id`.
pub fn format(properties: &std::path::Path, cluster_id: &str) {
    let status = Command::new(gregor_bin())
        .args(["storage", "format", "-t", cluster_id, "-c"])
        .arg(properties)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "formatting {}", properties.display());
}

impl ProcessCluster {
    /// Writes every node's server.properties (plus `extra` settings),
    /// formats them with one new cluster id, starts them all and waits
    /// until each listens on its port.
    pub fn start(specs: Vec<NodeSpec>, extra: &[&str]) -> ProcessCluster {
        let root = tempfile::tempdir().unwrap();
        let cluster_id = random_cluster_id();
        let mut nodes = Vec::new();
        for (i, spec) in specs.into_iter().enumerate() {
            let id = i as i32 + 1;
            let dir = root.path().join(format!("node-{id}"));
            std::fs::create_dir_all(&dir).unwrap();
            let mut properties = format!(
                "{}node.id={id}\nlog.dirs={}\n",
                spec.properties,
                dir.join("data").display()
            );
            for setting in extra {
                properties.push_str(setting);
                properties.push('\n');
            }
            std::fs::write(dir.join("server.properties"), properties).unwrap();
            format(&dir.join("server.properties"), &cluster_id);
            nodes.push(ClusterNode {
                id,
                starts_before: 0,
                port: spec.port,
                is_controller_only: spec.is_controller_only,
                dir,
                child: None,
            });
        }
        let mut cluster = ProcessCluster { _root: root, nodes };
        for i in 0..cluster.nodes.len() {
            cluster.spawn(i);
        }
        for i in 0..cluster.nodes.len() {
            cluster.wait_listening(i);
        }
        cluster
    }

    /// Starts node `i` (again), appending to its server.log.
    pub fn spawn(&mut self, i: usize) {
        let starts = self.starts(i);
        let node = &mut self.nodes[i];
        node.starts_before = starts;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(node.dir.join("server.log"))
            .unwrap();
        let child = Command::new(gregor_bin())
            .arg("server")
            .arg("--config")
            .arg(node.dir.join("server.properties"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        node.child = Some(child);
    }

    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.nodes[i].dir.join("server.log")).unwrap_or_default()
    }

    /// How many times node `i`'s server.log says it started serving.
    fn starts(&self, i: usize) -> usize {
        let log = self.log(i);
        log.matches("gregor broker started").count()
            + log.matches("gregor controller started").count()
    }

    /// Waits until node `i` serves: a broker once it caught up and was
    /// unfenced, a dedicated controller once it knows a leader.
    pub fn wait_listening(&mut self, i: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let port = self.nodes[i].port;
        while TcpStream::connect(("127.0.0.1", port)).is_err()
            || self.starts(i) <= self.nodes[i].starts_before
        {
            if let Some(status) = self.nodes[i].child.as_mut().unwrap().try_wait().unwrap() {
                panic!("node {} exited with {status}: {}", i + 1, self.log(i));
            }
            assert!(
                Instant::now() < deadline,
                "node {} did not start listening: {}",
                i + 1,
                self.log(i)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn connect(&self, i: usize) -> Connection {
        Connection::new(TcpStream::connect(("127.0.0.1", self.nodes[i].port)).unwrap())
    }

    /// kill -9.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn signal(&self, i: usize, signal: &str) {
        let pid = self.nodes[i].child.as_ref().unwrap().id();
        Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()
            .unwrap();
    }

    /// DescribeQuorum's partition through node `via` (a broker forwards it
    /// to the active controller).
    pub fn quorum(&self, via: usize) -> Option<QuorumPartition> {
        let request = DescribeQuorumRequest::default().with_topics(vec![TopicData::default()
            .with_topic_name(topic_name("__cluster_metadata"))
            .with_partitions(vec![PartitionData::default().with_partition_index(0)])]);
        let ResponseKind::DescribeQuorum(response) = self.connect(via).request(
            ApiKey::DescribeQuorum,
            1,
            RequestKind::DescribeQuorum(request),
        ) else {
            panic!("wrong response type")
        };
        let partition = response
            .topics
            .into_iter()
            .next()?
            .partitions
            .into_iter()
            .next()?;
        (partition.error_code == NONE && partition.leader_id.0 >= 0).then_some(partition)
    }

    /// The active controller, as DescribeQuorum through node `via` says.
    pub fn leader(&self, via: usize) -> Option<i32> {
        self.quorum(via).map(|p| p.leader_id.0)
    }
}

impl Drop for ProcessCluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            if let Some(child) = self.nodes[i].child.as_ref() {
                // A paused node cannot die until it is resumed.
                let _ = Command::new("kill")
                    .arg("-CONT")
                    .arg(child.id().to_string())
                    .status();
            }
            self.kill(i);
        }
    }
}

pub fn metadata(conn: &mut Connection, topics: Option<&[&str]>) -> MetadataResponse {
    let request = MetadataRequest::default().with_topics(topics.map(|names| {
        names
            .iter()
            .map(|n| MetadataRequestTopic::default().with_name(Some(topic_name(n))))
            .collect()
    }));
    let ResponseKind::Metadata(response) =
        conn.request(ApiKey::Metadata, 12, RequestKind::Metadata(request))
    else {
        panic!("wrong response type")
    };
    response
}

/// `combined_specs` with an admin listener (console, `/metrics`) on a free
/// port of each node: the specs, and those ports by node index.
pub fn combined_specs_with_admin(size: usize) -> (Vec<NodeSpec>, Vec<u16>) {
    let admins: Vec<u16> = (0..size).map(|_| super::free_port()).collect();
    let specs = combined_specs(size, |i| {
        format!("gregor.admin.listener=127.0.0.1:{}\n", admins[i])
    });
    (specs, admins)
}

/// Creates `topic` with `partitions` of one replica through the node
/// `connect` reaches, retried while the new cluster settles (a retry may
/// find it created: TOPIC_ALREADY_EXISTS).
pub fn create_topic_eventually(connect: impl Fn() -> Connection, topic: &str, partitions: i32) {
    eventually(30, "the topic created", || {
        let (code, _) = create_topic(&mut connect(), topic, partitions, 1);
        (code == 0 || code == 36).then_some(())
    });
}

/// Every partition of `topic` with the index of the node leading it, once
/// the node `connect` reaches knows a leader for all `partitions` of them.
pub fn partition_leaders(
    connect: impl Fn() -> Connection,
    topic: &str,
    partitions: usize,
) -> Vec<(i32, usize)> {
    eventually(30, "leaders of every partition", || {
        let response = metadata(&mut connect(), Some(&[topic]));
        let t = response.topics.first()?;
        let leaders: Vec<(i32, usize)> = t
            .partitions
            .iter()
            .filter(|p| p.leader_id.0 > 0)
            .map(|p| (p.partition_index, p.leader_id.0 as usize - 1))
            .collect();
        (leaders.len() == partitions).then_some(leaders)
    })
}

/// CreateTopics of one topic: its error code and id.
pub fn create_topic(
    conn: &mut Connection,
    name: &str,
    partitions: i32,
    rf: i16,
) -> (i16, uuid::Uuid) {
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(15000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(topic_name(name))
            .with_num_partitions(partitions)
            .with_replication_factor(rf)]);
    let ResponseKind::CreateTopics(response) =
        conn.request(ApiKey::CreateTopics, 7, RequestKind::CreateTopics(request))
    else {
        panic!("wrong response type")
    };
    (response.topics[0].error_code, response.topics[0].topic_id)
}

/// CreateTopics of one topic of one partition placed on `replicas` (the
/// first leads), with `configs`: its id (any error fails the test).
pub fn create_placed_topic(
    conn: &mut Connection,
    name: &str,
    replicas: &[i32],
    configs: &[(&str, &str)],
) -> uuid::Uuid {
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(15000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(topic_name(name))
            .with_num_partitions(-1)
            .with_replication_factor(-1)
            .with_assignments(vec![CreatableReplicaAssignment::default()
                .with_partition_index(0)
                .with_broker_ids(replicas.iter().map(|&r| BrokerId(r)).collect())])
            .with_configs(
                configs
                    .iter()
                    .map(|(key, value)| {
                        CreatableTopicConfig::default()
                            .with_name(StrBytes::from_string(key.to_string()))
                            .with_value(Some(StrBytes::from_string(value.to_string())))
                    })
                    .collect(),
            )]);
    let ResponseKind::CreateTopics(created) =
        conn.request(ApiKey::CreateTopics, 7, RequestKind::CreateTopics(request))
    else {
        panic!("wrong response type")
    };
    let created = &created.topics[0];
    assert_eq!(
        created.error_code, NONE,
        "create {name} on {replicas:?}: {:?}",
        created.error_message
    );
    created.topic_id
}

/// CreateTopics of one topic of one partition whose only replica is
/// broker `leader`: its id (any error fails the test).
pub fn create_topic_on(conn: &mut Connection, name: &str, leader: i32) -> uuid::Uuid {
    create_placed_topic(conn, name, &[leader], &[])
}

/// Retries `f` every 100 ms until it returns Some; None after `secs`.
fn poll_for<T>(secs: u64, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(value) = f() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Retries `f` until it returns Some, for up to `secs` seconds.
pub fn eventually<T>(secs: u64, what: &str, f: impl FnMut() -> Option<T>) -> T {
    poll_for(secs, f).unwrap_or_else(|| panic!("timed out waiting for {what}"))
}

/// [`eventually`], but a timeout panics with the tail of every node's log,
/// so a failure on a loaded CI machine says what the nodes were doing.
#[allow(dead_code)]
pub fn eventually_or_logs<T>(
    cluster: &ProcessCluster,
    secs: u64,
    what: &str,
    f: impl FnMut() -> Option<T>,
) -> T {
    poll_for(secs, f).unwrap_or_else(|| {
        let logs: Vec<String> = (0..cluster.nodes.len())
            .map(|i| {
                let log = cluster.log(i);
                let lines: Vec<&str> = log.lines().collect();
                let tail = &lines[lines.len().saturating_sub(40)..];
                format!("--- node {} ---\n{}", i + 1, tail.join("\n"))
            })
            .collect();
        panic!("timed out waiting for {what}\n{}", logs.join("\n"))
    })
}

/// The broker ids a Metadata response lists, sorted.
pub fn broker_ids(response: &MetadataResponse) -> Vec<i32> {
    let mut ids: Vec<i32> = response.brokers.iter().map(|b| b.node_id.0).collect();
    ids.sort();
    ids
}

impl ProcessCluster {
    /// Kills node `i`, wipes its data and formats it for `cluster_id`, then
    /// starts it and waits (at most 30 s) for it to give up on its own:
    /// returns the last line of its stderr.
    pub fn restart_formatted_for(&mut self, i: usize, cluster_id: &str) -> String {
        self.kill(i);
        let dir = self.nodes[i].dir.clone();
        std::fs::remove_dir_all(dir.join("data")).unwrap();
        format(&dir.join("server.properties"), cluster_id);
        let log = dir.join("refused.log");
        let mut child = Command::new(gregor_bin())
            .arg("server")
            .arg("--config")
            .arg(dir.join("server.properties"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let status = wait_exit(
            &mut child,
            30,
            &format!("node {} formatted for {cluster_id} kept running", i + 1),
        );
        let stderr = std::fs::read_to_string(&log).unwrap();
        assert!(!status.success(), "{stderr}");
        stderr.lines().last().unwrap_or_default().to_string()
    }
}

/// The first of `n` consecutive ports free now and claimed (see
/// `claim_port`; a run whose claim fails part-way leaves those ports
/// claimed, which only narrows the pool), below the ephemeral range, from a
/// start that differs per process.
pub fn consecutive_free_ports(n: u16) -> u16 {
    let mut base = 20_000 + (std::process::id() % 10_000) as u16;
    loop {
        let free = (base..base + n)
            .all(|port| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok())
            && (base..base + n).all(super::claim_port);
        if free {
            return base;
        }
        base = if base > 32_000 { 20_000 } else { base + n };
    }
}

/// FindCoordinator key types.
pub const GROUP_KEY: i8 = 0;
pub const TRANSACTION_KEY: i8 = 1;

/// FindCoordinator (v4) for one key through node `via`: (error, coordinator id).
pub fn find_coordinator(
    cluster: &ProcessCluster,
    via: usize,
    key_type: i8,
    key: &str,
) -> (i16, i32) {
    let request = FindCoordinatorRequest::default()
        .with_key_type(key_type)
        .with_coordinator_keys(vec![kafka_protocol::protocol::StrBytes::from_string(
            key.to_string(),
        )]);
    let ResponseKind::FindCoordinator(r) = cluster.connect(via).request(
        ApiKey::FindCoordinator,
        4,
        RequestKind::FindCoordinator(request),
    ) else {
        panic!("not a FindCoordinator response")
    };
    let c = &r.coordinators[0];
    (c.error_code, c.node_id.0)
}

/// [`find_coordinator`] retried until the coordinator is known: its node id.
pub fn known_coordinator(cluster: &ProcessCluster, via: usize, key_type: i8, key: &str) -> i32 {
    eventually(30, "a coordinator", || {
        let (code, id) = find_coordinator(cluster, via, key_type, key);
        (code == NONE).then_some(id)
    })
}

/// Produces one batch of `values` (acks=1) to a partition's leader, retried
/// while the leader has not yet learnt it leads (metadata from another node
/// can name it first): NOT_LEADER_OR_FOLLOWER, LEADER_NOT_AVAILABLE and
/// UNKNOWN_TOPIC_OR_PARTITION fail nothing, so a retry writes it once.
pub fn produce_once_led(
    conn: &mut super::Connection,
    topic: &str,
    partition: i32,
    timestamp_ms: i64,
    values: &[String],
) {
    eventually(30, "a produce the leader accepts", || {
        let code = super::produce_batch(conn, topic, partition, 1, timestamp_ms, values.to_vec());
        assert!(
            matches!(code, 0 | 3 | 5 | 6),
            "produce to {topic}-{partition}: {code}"
        );
        (code == 0).then_some(())
    });
}
