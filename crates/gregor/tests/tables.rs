//! Compacted topics as tables against a real `gregor server`: `gregor topic
//! get --key` before and after a clean (overwrites and a tombstone), the
//! compaction status `gregor topic describe` prints changing with a clean,
//! the admin HTTP endpoint's 404 / 400 answers and the CLI's one-line
//! errors for bad input.

// An integration test: unwrapping is how a failed step fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use bytes::Bytes;
use gregor_client::partitioner::partition_for_key;
use gregor_protocol::compression::Compression;
use gregor_protocol::records::BatchBuilder;
use std::process::Output;
use std::time::{Duration, Instant};
use support::cli::{self, ok};
use support::{free_port, TestBroker};

const PARTITIONS: i32 = 3;

fn gregor(broker: &TestBroker, args: &[&str], stdin: &str) -> Output {
    gregor_at(&broker.addr.to_string(), args, stdin)
}

fn gregor_at(bootstrap: &str, args: &[&str], stdin: &str) -> Output {
    let mut all = args.to_vec();
    all.extend(["--bootstrap-server", bootstrap]);
    cli::run(&all, stdin)
}

/// A failure: exit code 1 and one line on stderr, which is returned.
fn fails(output: Output) -> String {
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    cli::one_line_failure(output)
}

fn get(broker: &TestBroker, topic: &str, key: &str) -> Output {
    gregor(broker, &["topic", "get", topic, "--key", key], "")
}

/// `(status code, body)` of a GET to the admin endpoint.
fn http_get(port: u16, path: &str) -> (u16, String) {
    let answer = support::http::get(port, path);
    (answer.status, answer.body)
}

fn start(admin_port: u16) -> TestBroker {
    TestBroker::start(&[
        &format!("gregor.admin.listener=127.0.0.1:{admin_port}"),
        "log.cleaner.backoff.ms=200",
    ])
}

/// A tombstone for `key`, written where the default partitioner puts it.
fn tombstone(broker: &TestBroker, topic: &str, key: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut client = gregor_client::Client::connect(&broker.addr.to_string())
            .await
            .unwrap();
        let mut batch = BatchBuilder::new(Compression::None);
        batch.push(0, Some(Bytes::from(key.to_string())), None, vec![]);
        let partition = partition_for_key(key.as_bytes(), PARTITIONS);
        client
            .produce(topic, partition, batch.build().unwrap().freeze(), -1)
            .await
            .unwrap();
    });
}

/// The describe line of `partition`'s compaction status, as
/// (dirty ratio, bytes reclaimed, last clean shown).
fn status(broker: &TestBroker, topic: &str, partition: i32) -> (f64, u64, bool) {
    let out = ok(gregor(broker, &["topic", "describe", topic], ""));
    let line = out
        .lines()
        .find(|l| l.contains(&format!("Partition: {partition}\tDirtyRatio:")))
        .unwrap_or_else(|| panic!("no compaction status in {out}"));
    let field = |name: &str| {
        line.split('\t')
            .find_map(|f| f.strip_prefix(&format!("{name}: ")))
            .unwrap()
            .to_string()
    };
    let reclaimed = field("BytesReclaimed");
    (
        field("DirtyRatio").parse().unwrap(),
        reclaimed.split(' ').next().unwrap().parse().unwrap(),
        field("LastClean") != "-",
    )
}

#[test]
fn get_and_compaction_status_before_and_after_a_clean() {
    let admin = free_port();
    let broker = start(admin);
    ok(gregor(
        &broker,
        &[
            "topic",
            "create",
            "orders",
            "--partitions",
            &PARTITIONS.to_string(),
            "--config",
            "cleanup.policy=compact",
            "--config",
            "segment.ms=1000",
            "--config",
            "min.cleanable.dirty.ratio=0.01",
            // Nothing is cleaned for a while, so the dirty state is seen.
            "--config",
            "min.compaction.lag.ms=10000",
        ],
        "",
    ));
    let produce = |lines: &str| {
        ok(gregor(
            &broker,
            &["produce", "orders", "--key-separator", ":"],
            lines,
        ))
    };
    // Three rounds in three segments (segment.ms rolls on the next append).
    produce("k1:v1\nk2:v1\nk3:v1\nk1:v2\n");
    assert_eq!(ok(get(&broker, "orders", "k1")), "v2\n");
    std::thread::sleep(Duration::from_millis(1_300));
    produce("k1:v3\nk2:v2\n");
    tombstone(&broker, "orders", "k3");
    std::thread::sleep(Duration::from_millis(1_300));
    produce("k1:v4\n");
    std::thread::sleep(Duration::from_millis(1_300));
    produce("k2:v3\n");

    // Before any clean: the latest values, the tombstone as "deleted".
    assert_eq!(ok(get(&broker, "orders", "k1")), "v4\n");
    assert_eq!(ok(get(&broker, "orders", "k2")), "v3\n");
    assert!(fails(get(&broker, "orders", "k3")).contains("deleted"));
    assert!(fails(get(&broker, "orders", "nope")).contains("not found"));
    let json = ok(gregor(
        &broker,
        &["topic", "get", "orders", "--key", "k1", "--json"],
        "",
    ));
    let record: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(record["value"], "v4");
    assert_eq!(
        record["partition"],
        partition_for_key(b"k1", PARTITIONS),
        "{json}"
    );
    // With --partition: another partition does not hold k1.
    let other = (partition_for_key(b"k1", PARTITIONS) + 1) % PARTITIONS;
    let other_get = gregor(
        &broker,
        &[
            "topic",
            "get",
            "orders",
            "--key",
            "k1",
            "--partition",
            &other.to_string(),
        ],
        "",
    );
    assert!(fails(other_get).contains("not found"));

    let p = partition_for_key(b"k1", PARTITIONS);
    let (dirty_before, reclaimed_before, cleaned_before) = status(&broker, "orders", p);
    assert!(dirty_before > 0.5, "{dirty_before}");
    assert_eq!(reclaimed_before, 0);
    assert!(!cleaned_before);

    // After min.compaction.lag.ms the cleaner takes it.
    let deadline = Instant::now() + Duration::from_secs(60);
    let (dirty_after, reclaimed_after) = loop {
        let (dirty, reclaimed, cleaned) = status(&broker, "orders", p);
        if cleaned {
            break (dirty, reclaimed);
        }
        assert!(Instant::now() < deadline, "never cleaned: {}", broker.log());
        std::thread::sleep(Duration::from_millis(300));
    };
    assert!(reclaimed_after > 0);
    assert!(
        dirty_after < dirty_before,
        "{dirty_after} vs {dirty_before}"
    );
    // The same answers from the cleaned log.
    assert_eq!(ok(get(&broker, "orders", "k1")), "v4\n");
    assert_eq!(ok(get(&broker, "orders", "k2")), "v3\n");
    assert!(fails(get(&broker, "orders", "k3")).contains("deleted"));

    // The admin endpoint directly.
    let (code, body) = http_get(admin, "/topics/orders/compaction");
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"total_bytes_reclaimed\""), "{body}");
    let (code, body) = http_get(admin, &format!("/topics/orders/partitions/{p}/keys/k1"));
    assert_eq!(code, 200);
    assert!(body.contains("\"value\":\"v4\""), "{body}");
    assert_eq!(
        http_get(admin, &format!("/topics/orders/partitions/{p}/keys/nope")).0,
        404
    );
    assert_eq!(
        http_get(admin, "/topics/orders/partitions/99/keys/k1").0,
        404
    );
    assert_eq!(http_get(admin, "/topics/missing/compaction").0, 404);
}

#[test]
fn bad_input_gets_one_line_errors() {
    let admin = free_port();
    let broker = start(admin);
    ok(gregor(&broker, &["topic", "create", "plain"], ""));
    ok(gregor(
        &broker,
        &[
            "topic",
            "create",
            "table",
            "--config",
            "cleanup.policy=compact",
        ],
        "",
    ));
    assert!(fails(get(&broker, "plain", "k")).contains("not compacted"));
    assert_eq!(http_get(admin, "/topics/plain/compaction").0, 400);
    assert_eq!(http_get(admin, "/topics/plain/partitions/0/keys/k").0, 400);
    assert!(fails(get(&broker, "missing", "k")).contains("does not exist"));
    let out = gregor(
        &broker,
        &["topic", "get", "table", "--key", "k", "--partition", "7"],
        "",
    );
    assert!(fails(out).contains("has no partition 7"));
    // Missing --key: clap's usage error, not a lookup.
    let out = gregor(&broker, &["topic", "get", "table"], "");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--key"));

    // A broker without the admin endpoint says how to get one.
    let bare = TestBroker::start(&[]);
    ok(gregor(
        &bare,
        &["topic", "create", "t", "--config", "cleanup.policy=compact"],
        "",
    ));
    assert!(fails(get(&bare, "t", "k")).contains("gregor.admin.listener"));
    // ... and describe still works, without a status.
    let out = ok(gregor(&bare, &["topic", "describe", "t"], ""));
    assert!(!out.contains("DirtyRatio"), "{out}");
}

#[test]
fn each_partition_is_asked_of_its_leaders_endpoint() {
    use support::cluster::{combined_specs, eventually, ProcessCluster};
    let admin: Vec<u16> = (0..2).map(|_| free_port()).collect();
    let specs = combined_specs(2, |i| {
        format!("gregor.admin.listener=127.0.0.1:{}\n", admin[i])
    });
    let cluster = ProcessCluster::start(specs, &[]);
    let bootstrap = format!("127.0.0.1:{}", cluster.nodes[0].port);
    eventually(30, "topic created", || {
        gregor_at(
            &bootstrap,
            &[
                "topic",
                "create",
                "spread",
                "--partitions",
                "4",
                "--replication-factor",
                "1",
                "--config",
                "cleanup.policy=compact",
            ],
            "",
        )
        .status
        .success()
        .then_some(())
    });
    let keys: Vec<String> = (0..16).map(|i| format!("key-{i}")).collect();
    let lines: String = keys.iter().map(|k| format!("{k}:value-of-{k}\n")).collect();
    ok(gregor_at(
        &bootstrap,
        &["produce", "spread", "--key-separator", ":"],
        &lines,
    ));
    // Every key, whichever node leads its partition, through node 1.
    for key in &keys {
        let out = ok(gregor_at(
            &bootstrap,
            &["topic", "get", "spread", "--key", key],
            "",
        ));
        assert_eq!(out, format!("value-of-{key}\n"));
    }
    // Both nodes lead some partition, so both endpoints were asked.
    let describe = ok(gregor_at(&bootstrap, &["topic", "describe", "spread"], ""));
    let leaders: std::collections::BTreeSet<&str> = describe
        .lines()
        .filter_map(|l| l.split("\tLeader: ").nth(1))
        .filter_map(|l| l.split('\t').next())
        .collect();
    assert_eq!(leaders.len(), 2, "{describe}");
    for p in 0..4 {
        assert!(
            describe.contains(&format!("Partition: {p}\tDirtyRatio:")),
            "{describe}"
        );
    }
    // Each endpoint serves only what its broker hosts.
    let hosted: usize = admin
        .iter()
        .map(|port| {
            let (code, body) = http_get(*port, "/topics/spread/compaction");
            assert_eq!(code, 200, "{body}");
            body.matches("\"partition\":").count()
        })
        .sum();
    assert_eq!(hosted, 4);
}
