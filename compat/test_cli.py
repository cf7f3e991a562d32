"""The `gregor` command-line tools (topic / produce / consume), which talk to any
Kafka-protocol cluster; results are cross-checked with confluent-kafka and the Java
AdminClient. Flags as documented in README.md / docs/cli.md."""

import os
import subprocess

import pytest

from clients import assert_all_sent, cf_consume, cf_produce, java_admin, Rec
from conftest import GREGOR_BIN


def gregor(bootstrap, *args, input_text=None, check=True):
    if not os.path.exists(GREGOR_BIN):
        pytest.fail(f"gregor binary not found at {GREGOR_BIN}")
    p = subprocess.run([GREGOR_BIN, *map(str, args), "--bootstrap-server", bootstrap], input=input_text,
                       capture_output=True, text=True, timeout=60)
    if check:
        assert p.returncode == 0, f"gregor {' '.join(map(str, args))} exited {p.returncode}\n{p.stdout}\n{p.stderr}"
    return p


def test_topic_create_list_describe_delete(bootstrap, topic):
    gregor(bootstrap, "topic", "create", topic, "--partitions", 3, "--config", "retention.ms=86400000")
    d = java_admin(bootstrap, "describe-topic", topic)
    assert len(d["partitions"]) == 3
    cfg = java_admin(bootstrap, "describe-configs", "topic", topic)["configs"]
    assert cfg["retention.ms"]["value"] == "86400000"

    assert topic in gregor(bootstrap, "topic", "list").stdout.split()
    out = gregor(bootstrap, "topic", "describe", topic).stdout
    assert topic in out
    for p in range(3):
        assert str(p) in out

    again = gregor(bootstrap, "topic", "create", topic, "--partitions", 3, check=False)
    assert again.returncode != 0

    gregor(bootstrap, "topic", "delete", topic)
    assert topic not in java_admin(bootstrap, "list-topics")["topics"]


def test_topic_alter_partitions(bootstrap, topic):
    gregor(bootstrap, "topic", "create", topic, "--partitions", 2)
    gregor(bootstrap, "topic", "alter-partitions", topic, "--partitions", 5)
    assert len(java_admin(bootstrap, "describe-topic", topic)["partitions"]) == 5


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_produce_lines_with_keys(bootstrap, topic, codec):
    gregor(bootstrap, "topic", "create", topic, "--partitions", 1)
    lines = [f"k{i}:hello {i}" for i in range(50)]
    gregor(bootstrap, "produce", topic, "--key-separator", ":", "--compression", codec, "--acks", "all",
           input_text="\n".join(lines) + "\n")
    got = sorted(cf_consume(bootstrap, topic, 50), key=lambda g: g.offset)
    assert [(g.offset, g.key, g.value) for g in got] == [(i, f"k{i}".encode(), f"hello {i}".encode())
                                                         for i in range(50)]


def test_produce_without_key_with_headers(bootstrap, topic):
    gregor(bootstrap, "topic", "create", topic, "--partitions", 1)
    gregor(bootstrap, "produce", topic, "--acks", "1", "--header", "src=cli", "--header", "n=1",
           input_text="one\ntwo:2\n")
    got = sorted(cf_consume(bootstrap, topic, 2), key=lambda g: g.offset)
    assert [(g.key, g.value, g.headers) for g in got] == [
        (None, b"one", [("src", b"cli"), ("n", b"1")]), (None, b"two:2", [("src", b"cli"), ("n", b"1")])]


def test_produce_auto_creates_topic(bootstrap, topic):
    # like kafka-console-producer and kcat: the producer's metadata request asks the
    # broker to auto-create the topic (auto.create.topics.enable=true)
    gregor(bootstrap, "produce", topic, input_text="x\n")
    got = cf_consume(bootstrap, topic, 1)
    assert [(g.partition, g.offset, g.value) for g in got] == [(0, 0, b"x")]


def test_consume_partition_offset_and_timestamp_format(bootstrap, topic):
    from clients import TS
    recs = [Rec(f"k{i}".encode(), f"v{i}".encode(), timestamp=TS + i) for i in range(5)]
    assert_all_sent(cf_produce(bootstrap, topic, recs), 5)
    out = gregor(bootstrap, "consume", topic, "--partition", 0, "--offset", 3, "--max-messages", 2,
                 "--format", "%o %t %k %v").stdout
    assert out.splitlines() == [f"3 {TS + 3} k3 v3", f"4 {TS + 4} k4 v4"]


def test_consume_from_beginning_with_format(bootstrap, topic):
    recs = [Rec(b"a", b"1"), Rec(b"b", b"2"), Rec(b"c", b"3")]
    assert_all_sent(cf_produce(bootstrap, topic, recs), 3)
    out = gregor(bootstrap, "consume", topic, "--from-beginning", "--max-messages", 3,
                 "--format", "%p/%o %k=%v").stdout
    assert out.splitlines() == ["0/0 a=1", "0/1 b=2", "0/2 c=3"]
    two = gregor(bootstrap, "consume", topic, "--from-beginning", "--max-messages", 2,
                 "--format", "%v").stdout
    assert two.splitlines() == ["1", "2"]
