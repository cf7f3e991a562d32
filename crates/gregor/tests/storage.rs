//! `gregor storage random-uuid` / `format` and the quorum settings, run as
//! the real binary: a formatted dir starts in the chosen cluster (checked
//! over the wire with DescribeCluster), re-formatting is refused as
//! kafka-storage refuses it, and each misconfiguration stops start-up with
//! one line naming the setting.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use kafka_protocol::messages::{ApiKey, DescribeClusterRequest, RequestKind, ResponseKind};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use support::{free_port, gregor_bin, Connection};

fn gregor(args: &[&str]) -> Output {
    Command::new(gregor_bin()).args(args).output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The one stderr line of a failed run.
fn failure(output: &Output) -> String {
    assert!(!output.status.success(), "succeeded: {}", stdout(output));
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    stderr
}

/// Kafka 4's stock combined-mode server.properties, on test ports and dirs.
fn kafka_style_properties(dir: &Path, port: u16, log_dirs: &str) -> PathBuf {
    let controller = free_port();
    let text = format!(
        "process.roles=broker,controller\n\
         node.id=1\n\
         controller.quorum.bootstrap.servers=127.0.0.1:{controller}\n\
         listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}\n\
         inter.broker.listener.name=PLAINTEXT\n\
         advertised.listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}\n\
         controller.listener.names=CONTROLLER\n\
         listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL\n\
         log.dirs={log_dirs}\n"
    );
    let path = dir.join("server.properties");
    std::fs::write(&path, text).unwrap();
    path
}

fn random_uuid() -> String {
    let output = gregor(&["storage", "random-uuid"]);
    assert!(output.status.success());
    stdout(&output).trim().to_string()
}

fn meta_value(dir: &Path, key: &str) -> String {
    let text = std::fs::read_to_string(dir.join("meta.properties")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key} in {text}"))
        .to_string()
}

/// A `gregor server --config` process, killed when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_server(config: &Path, port: u16) -> Server {
    let mut server = Server(
        Command::new(gregor_bin())
            .arg("server")
            .arg("--config")
            .arg(config)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = server.0.try_wait().unwrap() {
            panic!("gregor server exited with {status}");
        }
        assert!(Instant::now() < deadline, "gregor server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    server
}

#[test]
fn random_uuid_prints_a_kafka_cluster_id() {
    let first = random_uuid();
    assert_eq!(first.len(), 22, "{first}");
    assert!(
        first
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "{first}"
    );
    assert!(!first.starts_with('-'));
    // 16 bytes in 22 base64 chars: the last char carries 2 bits only.
    assert!("AQgw".contains(first.chars().last().unwrap()), "{first}");
    assert_ne!(first, random_uuid());
}

#[test]
fn formatted_dir_starts_in_that_cluster() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let port = free_port();
    let config = kafka_style_properties(tmp.path(), port, data.to_str().unwrap());
    let cluster_id = random_uuid();

    let output = gregor(&[
        "storage",
        "format",
        "-t",
        &cluster_id,
        "-c",
        config.to_str().unwrap(),
        "--standalone",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout(&output).contains(&format!(
            "Formatting dynamic metadata voter directory {}.",
            data.display()
        )),
        "{}",
        stdout(&output)
    );
    assert_eq!(meta_value(&data, "version"), "1");
    assert_eq!(meta_value(&data, "cluster.id"), cluster_id);
    assert_eq!(meta_value(&data, "node.id"), "1");
    assert_eq!(meta_value(&data, "directory.id").len(), 22);

    let server = start_server(&config, port);
    let mut conn = Connection::new(TcpStream::connect(("127.0.0.1", port)).unwrap());
    let ResponseKind::DescribeCluster(cluster) = conn.request(
        ApiKey::DescribeCluster,
        1,
        RequestKind::DescribeCluster(DescribeClusterRequest::default()),
    ) else {
        panic!("not a DescribeCluster response")
    };
    assert_eq!(cluster.error_code, 0);
    assert_eq!(cluster.cluster_id.as_str(), cluster_id);
    drop(server);
    // The server kept the formatted identity.
    assert_eq!(meta_value(&data, "cluster.id"), cluster_id);
}

#[test]
fn reformatting_is_refused_unless_ignore_formatted() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let config = kafka_style_properties(
        tmp.path(),
        free_port(),
        &format!("{},{}", a.display(), b.display()),
    );
    let config = config.to_str().unwrap();
    let cluster_id = random_uuid();
    let format = |id: &str, extra: &[&str]| {
        let mut args = vec!["storage", "format", "-t", id, "-c", config, "-s"];
        args.extend(extra);
        gregor(&args)
    };
    assert!(format(&cluster_id, &[]).status.success());
    let directory_id = meta_value(&a, "directory.id");
    assert_ne!(directory_id, meta_value(&b, "directory.id"));

    let err = failure(&format(&cluster_id, &[]));
    assert!(
        err.contains(&format!(
            "Log directory {} is already formatted. Use --ignore-formatted",
            a.display()
        )),
        "{err}"
    );

    let ok = format(&cluster_id, &["--ignore-formatted"]);
    assert!(ok.status.success());
    assert!(stdout(&ok).contains("All of the log directories are already formatted."));
    assert_eq!(meta_value(&a, "directory.id"), directory_id, "left alone");

    // -g formats the dirs that are new and leaves the others.
    std::fs::remove_dir_all(&b).unwrap();
    assert!(format(&cluster_id, &["-g"]).status.success());
    assert_eq!(meta_value(&b, "cluster.id"), cluster_id);
    assert_eq!(meta_value(&a, "directory.id"), directory_id);

    // Another cluster's id is refused even with -g.
    let err = failure(&format(&random_uuid(), &["-g"]));
    assert!(err.contains("Invalid cluster.id in: "), "{err}");
    let err = failure(&format("not-a-uuid", &[]));
    assert!(err.contains("does not appear to be a valid UUID"), "{err}");
}

#[test]
fn format_flags_follow_kafka_storage() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let config = kafka_style_properties(tmp.path(), free_port(), data.to_str().unwrap());
    let config = config.to_str().unwrap();
    let id = random_uuid();
    // A dynamic quorum (bootstrap servers only) must be bootstrapped.
    let err = failure(&gregor(&["storage", "format", "-t", &id, "-c", config]));
    assert!(err.contains("--standalone"), "{err}");
    assert!(!data.exists(), "a refused run writes nothing");
    // A static quorum must not be.
    let mut text = std::fs::read_to_string(config).unwrap();
    text = text.replace("controller.quorum.bootstrap.servers", "#");
    text.push_str("controller.quorum.voters=1@127.0.0.1:9093\n");
    std::fs::write(config, text).unwrap();
    let err = failure(&gregor(&[
        "storage", "format", "-t", &id, "-c", config, "-s",
    ]));
    assert!(err.contains("controller.quorum.voters"), "{err}");
    let output = gregor(&["storage", "format", "-t", &id, "-c", config]);
    assert!(output.status.success());
    assert_eq!(
        stdout(&output),
        format!("Formatting metadata directory {}.\n", data.display())
    );
}

#[test]
fn dirs_of_two_clusters_stop_start_up() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    for dir in [&a, &b] {
        let config = kafka_style_properties(tmp.path(), free_port(), dir.to_str().unwrap());
        let output = gregor(&[
            "storage",
            "format",
            "-t",
            &random_uuid(),
            "-c",
            config.to_str().unwrap(),
            "-s",
        ]);
        assert!(output.status.success());
    }
    let output = gregor(&[
        "server",
        "--set",
        &format!("listeners=PLAINTEXT://127.0.0.1:{}", free_port()),
        "--set",
        &format!("log.dirs={},{}", a.display(), b.display()),
    ]);
    let err = failure(&output);
    assert!(
        err.contains(&format!(
            "Invalid cluster.id in: {}. Expected {}, but read {}",
            b.join("meta.properties").display(),
            meta_value(&a, "cluster.id"),
            meta_value(&b, "cluster.id")
        )),
        "{err}"
    );
}

#[test]
fn quorum_misconfigurations_stop_start_up_naming_the_setting() {
    let tmp = tempfile::tempdir().unwrap();
    let dirs = format!("log.dirs={}", tmp.path().join("never").display());
    let quorum = [
        "controller.quorum.voters=1@127.0.0.1:9093",
        "listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093",
        "controller.listener.names=CONTROLLER",
    ];
    let cases: &[(&[&str], &str)] = &[
        (&["process.roles=broker,zookeeper"], "process.roles"),
        (&["process.roles=controller,controller"], "process.roles"),
        (&["process.roles="], "process.roles"),
        (&["node.id=-1"], "node.id"),
        (&["node.id=one"], "node.id"),
        (
            &["controller.quorum.voters=1@nowhere"],
            "controller.quorum.voters",
        ),
        (
            &["controller.quorum.voters=one@host:9093"],
            "controller.quorum.voters",
        ),
        (
            &["controller.quorum.voters=1@a:9093,1@b:9093"],
            "controller.quorum.voters",
        ),
        (
            &["controller.quorum.bootstrap.servers=nohostport"],
            "controller.quorum.bootstrap.servers",
        ),
        (
            &["controller.quorum.election.timeout.ms=-1"],
            "controller.quorum.election.timeout.ms",
        ),
        (
            &["controller.quorum.fetch.timeout.ms=soon"],
            "controller.quorum.fetch.timeout.ms",
        ),
        (
            &["broker.heartbeat.interval.ms=-5"],
            "broker.heartbeat.interval.ms",
        ),
        (
            &["broker.session.timeout.ms=0"],
            "broker.session.timeout.ms",
        ),
        (
            &["metadata.log.max.record.bytes.between.snapshots=0"],
            "metadata.log.max.record.bytes.between.snapshots",
        ),
        (
            &["metadata.log.max.snapshot.interval.ms=-1"],
            "metadata.log.max.snapshot.interval.ms",
        ),
        (
            &["listener.security.protocol.map=PLAINTEXT"],
            "listener.security.protocol.map",
        ),
        (
            &["listener.security.protocol.map=PLAINTEXT:TLS"],
            "listener.security.protocol.map",
        ),
        (&["listeners=BROKER://127.0.0.1:9092"], "listeners"),
        (
            &["inter.broker.listener.name=INTERNAL"],
            "inter.broker.listener.name",
        ),
    ];
    // Checks that apply once a quorum is configured, on top of `quorum`.
    let kraft_cases: &[(&[&str], &str)] = &[
        // The node's id must be a voter.
        (&["node.id=2"], "controller.quorum.voters"),
        // A controller needs a controller listener that it listens on.
        (
            &[
                "controller.listener.names=",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            ],
            "controller.listener.names",
        ),
        // Without the name, CONTROLLER gets no implicit PLAINTEXT mapping.
        (&["controller.listener.names="], "listeners"),
        (
            &["controller.listener.names=CONTROLLER,controller"],
            "controller.listener.names",
        ),
        (
            &["controller.listener.names=CONTROLLER,OTHER"],
            "controller.listener.names",
        ),
        (
            &["listener.security.protocol.map=PLAINTEXT:PLAINTEXT"],
            "controller.listener.names",
        ),
        (
            &["inter.broker.listener.name=CONTROLLER"],
            "inter.broker.listener.name",
        ),
        // Listener checks, as Kafka's KafkaConfig.
        (
            &["listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9092"],
            "listeners",
        ),
        (
            &["advertised.listeners=PLAINTEXT://0.0.0.0:9092"],
            "advertised.listeners",
        ),
        (
            &["advertised.listeners=CONTROLLER://127.0.0.1:9093"],
            "advertised.listeners",
        ),
        (
            &[
                "inter.broker.listener.name=PLAINTEXT",
                "security.inter.broker.protocol=PLAINTEXT",
            ],
            "inter.broker.listener.name",
        ),
        (
            &["security.inter.broker.protocol=SSL"],
            "security.inter.broker.protocol",
        ),
        // An SSL listener needs a key store.
        (
            &[
                "listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093,SSL://127.0.0.1:9094",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SSL:SSL",
            ],
            "ssl.keystore.location",
        ),
        // Kafka's checks come before the multi-node refusal.
        (
            &[
                "controller.quorum.voters=1@127.0.0.1:9093,2@127.0.0.1:9094,3@127.0.0.1:9095",
                "listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9092",
            ],
            "listeners",
        ),
        (
            &[
                "controller.quorum.voters=",
                "controller.quorum.bootstrap.servers=a:9093,b:9093",
            ],
            "controller.quorum.bootstrap.servers",
        ),
        // A dedicated broker must not be a voter (Kafka's rule).
        (
            &[
                "process.roles=broker",
                "controller.quorum.voters=1@127.0.0.1:9093",
                "listeners=PLAINTEXT://127.0.0.1:9092",
            ],
            "controller.quorum.voters",
        ),
        // A dedicated controller advertises no broker listener.
        (
            &[
                "process.roles=controller",
                "listeners=CONTROLLER://127.0.0.1:9093",
                "advertised.listeners=PLAINTEXT://127.0.0.1:9092",
            ],
            "advertised.listeners",
        ),
    ];
    let run = |settings: Vec<&str>, key: &str| {
        let mut args = vec!["server", "--set", dirs.as_str()];
        for setting in &settings {
            args.extend(["--set", setting]);
        }
        let err = failure(&gregor(&args));
        assert!(err.contains(&format!("'{key}'")), "{settings:?}: {err}");
        err
    };
    for (settings, key) in cases {
        run(settings.to_vec(), key);
    }
    for (settings, key) in kraft_cases {
        let mut all = quorum.to_vec();
        all.extend(settings.iter());
        run(all, key);
    }
    // A voter whose host does not resolve stops start-up, naming the setting.
    let err = run(
        [
            &quorum[..],
            &[
                "controller.quorum.voters=1@127.0.0.1:9093,2@no-such-host.invalid:9093",
                // Free ports: this start gets as far as binding them.
                "listeners=PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:0",
            ],
        ]
        .concat(),
        "controller.quorum.voters",
    );
    assert!(err.contains("no-such-host.invalid"), "{err}");
    // A three-voter quorum this node is not part of: Kafka's reason, not
    // Gregor's multi-node refusal.
    let err = run(
        [
            &quorum[..],
            &[
                "controller.quorum.voters=1@a:9093,2@b:9093,3@c:9093",
                "node.id=4",
            ],
        ]
        .concat(),
        "controller.quorum.voters",
    );
    assert!(
        err.contains("the node id 4 must be included in the set of voters"),
        "{err}"
    );
    assert!(!tmp.path().join("never").exists(), "nothing written");
}

/// `gregor server --config FILE`, killed if it is still running after 20 s
/// (a configuration that should have been refused started a server).
fn refused_start(config: &Path) -> Output {
    let mut child = Command::new(gregor_bin())
        .args(["server", "--config"])
        .arg(config)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!(
                "gregor server started with {}: {}",
                config.display(),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn a_misconfigured_properties_file_stops_start_up_with_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let never = tmp.path().join("never");
    let stock = kafka_style_properties(tmp.path(), free_port(), never.to_str().unwrap());
    let stock = std::fs::read_to_string(stock).unwrap();
    let cases = [
        // The node is not among the voters.
        (
            "controller.quorum.bootstrap.servers=\ncontroller.quorum.voters=1@127.0.0.1:9093\nnode.id=7",
            "controller.quorum.voters",
        ),
        // Duplicate voter ids.
        (
            "controller.quorum.bootstrap.servers=\ncontroller.quorum.voters=1@127.0.0.1:1,1@127.0.0.1:2",
            "controller.quorum.voters",
        ),
        // The controller listener has no security protocol.
        (
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT",
            "controller.listener.names",
        ),
        // A controller listener name that is not a listener.
        ("controller.listener.names=CONTROLLER,OTHER", "controller.listener.names"),
        // A broker-only node listening on the controller listener.
        (
            "process.roles=broker\nnode.id=2\ncontroller.quorum.bootstrap.servers=\ncontroller.quorum.voters=1@127.0.0.1:9093",
            "controller.listener.names",
        ),
        // An SSL listener without a key store.
        (
            "listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093,SSL://127.0.0.1:9094",
            "ssl.keystore.location",
        ),
    ];
    for (extra, key) in cases {
        let path = tmp.path().join("bad.properties");
        std::fs::write(&path, format!("{stock}{extra}\n")).unwrap();
        let err = failure(&refused_start(&path));
        assert!(err.contains(&format!("'{key}'")), "{extra}: {err}");
        assert!(err.starts_with("gregor: "), "{err}");
    }
    assert!(!never.exists(), "nothing written");
}
