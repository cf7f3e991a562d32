//! The CLI against a real broker: topic admin, produce from stdin, consume
//! with formats, and one-line errors.

// An integration test: unwrapping is how a failed step fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{Read, Write};
use std::process::{Command, Output, Stdio};
use support::cli::{self, ok};
use support::{gregor_bin, TestBroker};

fn gregor(broker: &TestBroker, args: &[&str], stdin: &str) -> Output {
    let addr = broker.addr.to_string();
    let mut all = args.to_vec();
    all.extend(["--bootstrap-server", &addr]);
    cli::run(&all, stdin)
}

#[test]
fn topics_produce_and_consume_through_the_cli() {
    let broker = TestBroker::start(&[]);
    ok(gregor(
        &broker,
        &[
            "topic",
            "create",
            "events",
            "--partitions",
            "4",
            "--config",
            "retention.ms=3600000",
        ],
        "",
    ));
    assert_eq!(ok(gregor(&broker, &["topic", "list"], "")), "events\n");
    let described = ok(gregor(&broker, &["topic", "describe", "events"], ""));
    assert!(described.contains("PartitionCount: 4"), "{described}");
    assert!(described.contains("retention.ms=3600000"), "{described}");
    assert_eq!(described.lines().count(), 5);

    let input: String = (0..100)
        .map(|i| format!("key{}|value-{i}\n", i % 10))
        .collect();
    let produced = gregor(
        &broker,
        &[
            "produce",
            "events",
            "--key-separator",
            "|",
            "--compression",
            "zstd",
            "--header",
            "origin=test",
        ],
        &input,
    );
    assert!(produced.status.success());
    assert!(String::from_utf8_lossy(&produced.stderr).contains("Produced 100 records"));

    let out = ok(gregor(
        &broker,
        &[
            "consume",
            "events",
            "--from-beginning",
            "--max-messages",
            "100",
            "--format",
            "%p %k %v %h",
        ],
        "",
    ));
    let mut lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 100);
    // Same key, same partition; every value exactly once.
    let mut partition_of_key = std::collections::HashMap::new();
    for line in &lines {
        let fields: Vec<&str> = line.split(' ').collect();
        assert_eq!(fields[3], "origin=test");
        let previous = partition_of_key.insert(fields[1].to_string(), fields[0].to_string());
        assert!(
            previous.is_none_or(|p| p == fields[0]),
            "key {} in two partitions",
            fields[1]
        );
    }
    lines.sort_by_key(|l| {
        l.split(' ')
            .nth(2)
            .unwrap()
            .trim_start_matches("value-")
            .parse::<u32>()
            .unwrap()
    });
    for (i, line) in lines.iter().enumerate() {
        assert!(
            line.ends_with(&format!("key{} value-{i} origin=test", i % 10)),
            "{line}"
        );
    }

    // One partition from an offset.
    let out = ok(gregor(
        &broker,
        &[
            "consume",
            "events",
            "--partition",
            "0",
            "--offset",
            "1",
            "--timeout-ms",
            "500",
            "--format",
            "%o",
        ],
        "",
    ));
    assert!(out.lines().all(|o| o.parse::<i64>().unwrap() >= 1));

    ok(gregor(
        &broker,
        &["topic", "alter-partitions", "events", "--partitions", "6"],
        "",
    ));
    assert!(ok(gregor(&broker, &["topic", "describe", "events"], "")).contains("PartitionCount: 6"));
    ok(gregor(&broker, &["topic", "delete", "events"], ""));
    assert_eq!(ok(gregor(&broker, &["topic", "list"], "")), "");
    ok(gregor(
        &broker,
        &["topic", "delete", "events", "--if-exists"],
        "",
    ));
}

#[test]
fn cli_errors_are_one_line_with_kafka_names() {
    let broker = TestBroker::start(&["auto.create.topics.enable=false"]);
    for (args, expected) in [
        (
            vec!["consume", "missing", "--from-beginning"],
            "UNKNOWN_TOPIC_OR_PARTITION",
        ),
        (
            vec!["topic", "describe", "missing"],
            "UNKNOWN_TOPIC_OR_PARTITION",
        ),
        (vec!["produce", "missing"], "UNKNOWN_TOPIC_OR_PARTITION"),
        (
            vec!["topic", "create", "bad/name"],
            "INVALID_TOPIC_EXCEPTION",
        ),
        (vec!["produce", "missing", "--acks", "7"], "--acks"),
        (
            vec!["produce", "missing", "--compression", "brotli"],
            "--compression",
        ),
    ] {
        let output = gregor(&broker, &args, "");
        assert!(!output.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    ok(gregor(
        &broker,
        &["topic", "create", "t", "--partitions", "1"],
        "",
    ));
    let output = gregor(&broker, &["topic", "create", "t"], "");
    assert!(String::from_utf8_lossy(&output.stderr).contains("TOPIC_ALREADY_EXISTS"));
    ok(gregor(
        &broker,
        &["topic", "create", "t", "--if-not-exists"],
        "",
    ));
    // Oversized line: the broker's MESSAGE_TOO_LARGE, as one line.
    let huge = format!("{}\n", "x".repeat(2_000_000));
    let output = gregor(&broker, &["produce", "t"], &huge);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("MESSAGE_TOO_LARGE"));

    let unreachable = Command::new(gregor_bin())
        .args(["topic", "list", "--bootstrap-server", "127.0.0.1:1"])
        .output()
        .unwrap();
    assert!(!unreachable.status.success());
    assert!(String::from_utf8_lossy(&unreachable.stderr).contains("127.0.0.1:1"));
}

#[test]
fn perf_produce_then_consume_moves_exactly_the_records_asked_for() {
    let broker = TestBroker::start(&[]);
    ok(gregor(
        &broker,
        &["topic", "create", "load", "--partitions", "3"],
        "",
    ));
    let out = ok(gregor(
        &broker,
        &[
            "perf",
            "produce",
            "load",
            "--num-records",
            "5003",
            "--record-size",
            "64",
            "--batch-records",
            "100",
            "--compression",
            "lz4",
            "--acks",
            "all",
        ],
        "",
    ));
    assert!(out.starts_with("5003 records sent"), "{out}");
    assert!(out.contains("p99.9"), "{out}");
    let out = ok(gregor(&broker, &["perf", "consume", "load"], ""));
    assert!(out.starts_with("5003 records consumed"), "{out}");
    let bad = gregor(
        &broker,
        &["perf", "produce", "load", "--batch-records", "0"],
        "",
    );
    assert!(!bad.status.success());
}

#[test]
fn produce_and_consume_edge_cases() {
    let broker = TestBroker::start(&[]);
    let bootstrap = broker.addr.to_string();

    // --validate-only checks and creates nothing.
    let out = ok(gregor(
        &broker,
        &[
            "topic",
            "create",
            "v",
            "--partitions",
            "2",
            "--validate-only",
        ],
        "",
    ));
    assert_eq!(out, "Topic v can be created.\n");
    assert_eq!(ok(gregor(&broker, &["topic", "list"], "")), "");

    // Input need not be UTF-8; "\r\n" ends a line like "\n"; a last line
    // without newline still counts.
    ok(gregor(
        &broker,
        &["topic", "create", "raw", "--partitions", "1"],
        "",
    ));
    let produced = cli::run_with_bytes(
        &["produce", "raw", "--bootstrap-server", &bootstrap],
        b"a\xffb\r\n\nlast",
    );
    assert!(produced.status.success());
    assert!(String::from_utf8_lossy(&produced.stderr).contains("Produced 3 records"));
    let out = ok(gregor(
        &broker,
        &[
            "consume",
            "raw",
            "--partition",
            "0",
            "--offset",
            "earliest",
            "--max-messages",
            "3",
            "--format",
            "%o[%v]",
        ],
        "",
    ));
    assert_eq!(out, "0[a\u{fffd}b]\n1[]\n2[last]\n");

    // A reader that goes away (`| head -1`) ends the consumer quietly.
    let lines: String = (0..50_000).map(|i| format!("record-{i}\n")).collect();
    ok(gregor(&broker, &["produce", "raw"], &lines));
    let mut child = Command::new(gregor_bin())
        .args([
            "consume",
            "raw",
            "--from-beginning",
            "--timeout-ms",
            "3000",
            "--bootstrap-server",
            &bootstrap,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 4];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(output.stderr.is_empty(), "{output:?}");

    // Ctrl-C ends a producer reading an open stdin, after sending what it read.
    let mut child = Command::new(gregor_bin())
        .args(["produce", "raw", "--bootstrap-server", &bootstrap])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"x\ny\n").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let output = child.wait_with_output().unwrap();
    drop(stdin);
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("Produced 2 records"));

    // An offset past the end names the range.
    let output = gregor(
        &broker,
        &["consume", "raw", "--partition", "0", "--offset", "999999"],
        "",
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("OFFSET_OUT_OF_RANGE"), "{stderr}");
    assert!(stderr.contains("offsets 0..50005"), "{stderr}");
}

#[test]
fn quotas_set_list_and_remove_through_the_cli() {
    let broker = TestBroker::start(&[]);
    let set = |args: &[&str]| {
        let mut all = vec!["quota", "set"];
        all.extend_from_slice(args);
        ok(gregor(&broker, &all, ""))
    };
    assert_eq!(
        set(&["--client-id", "app", "--config", "producer_byte_rate=1024"]),
        "Set quotas of client-id=app\n"
    );
    set(&[
        "--user",
        "alice",
        "--client-default",
        "--config",
        "consumer_byte_rate=2048",
    ]);
    set(&["--user-default", "--config", "request_percentage=12.5"]);
    // Validate-only stores nothing.
    set(&[
        "--client-id",
        "other",
        "--config",
        "producer_byte_rate=1",
        "--validate-only",
    ]);
    assert_eq!(
        ok(gregor(&broker, &["quota", "list"], "")),
        "client-id=app producer_byte_rate=1024\n\
         user=<default> request_percentage=12.5\n\
         user=alice,client-id=<default> consumer_byte_rate=2048\n"
    );
    assert_eq!(
        ok(gregor(&broker, &["quota", "list", "--user", "alice"], "")),
        "user=alice,client-id=<default> consumer_byte_rate=2048\n"
    );
    // Kafka's refusal, on one line.
    let bad = gregor(
        &broker,
        &[
            "quota",
            "set",
            "--client-id",
            "app",
            "--config",
            "producer_byte_rate=1.5",
        ],
        "",
    );
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("producer_byte_rate cannot be a fractional value."),
        "{stderr}"
    );
    ok(gregor(
        &broker,
        &[
            "quota",
            "remove",
            "--client-id",
            "app",
            "--config",
            "producer_byte_rate",
        ],
        "",
    ));
    assert!(!ok(gregor(&broker, &["quota", "list"], "")).contains("client-id=app"));
}
