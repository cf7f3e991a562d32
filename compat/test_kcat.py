"""kcat (librdkafka CLI): -P with keys, headers and each codec; -C -J from the beginning;
-L metadata."""

import json

import pytest

from clients import Rec, assert_contiguous, cf_consume, cf_produce, assert_all_sent, kcat, kcat_consume

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]


@pytest.mark.parametrize("codec", CODECS)
def test_produce_keys_headers_codec(bootstrap, topic, codec):
    lines = [f"key{i}:value {i} {'x' * (i % 17)}" for i in range(200)]
    kcat(bootstrap, "-P", "-t", topic, "-K:", "-z", codec, "-H", "source=kcat", "-H", "dup=1",
         "-H", "dup=2", input_text="\n".join(lines) + "\n")
    got = cf_consume(bootstrap, topic, 200)
    assert len(got) == 200
    got.sort(key=lambda g: g.offset)
    assert [g.offset for g in got] == list(range(200))
    for i, g in enumerate(got):
        assert g.key == f"key{i}".encode()
        assert g.value == f"value {i} {'x' * (i % 17)}".encode()
        assert g.headers == [("source", b"kcat"), ("dup", b"1"), ("dup", b"2")]


def test_consume_json(bootstrap, topic):
    recs = [Rec(f"k{i}".encode(), f"hello {i}".encode(), [("h", f"{i}".encode())], timestamp=1_700_000_000_000 + i)
            for i in range(30)] + [Rec(None, b"no key")]
    sent = cf_produce(bootstrap, topic, recs)
    assert_all_sent(sent, 31)
    got = kcat_consume(bootstrap, topic, 31)
    assert_contiguous(got)
    assert [(g.key, g.value, g.headers, g.timestamp) for g in sorted(got, key=lambda g: g.offset)] == [
        (r.key, r.value, r.headers, r.timestamp) if r.timestamp else (r.key, r.value, r.headers, got[-1].timestamp)
        for r in recs]


def test_consume_format(bootstrap, topic):
    recs = [Rec(b"a", b"1"), Rec(b"b", b"2"), Rec(b"c", b"3")]
    assert_all_sent(cf_produce(bootstrap, topic, recs), 3)
    p = kcat(bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", r"%k\t%s\t%p\t%o\n")
    assert p.stdout.splitlines() == ["a\t1\t0\t0", "b\t2\t0\t1", "c\t3\t0\t2"]


def test_metadata_list(broker, bootstrap, topic):
    assert_all_sent(cf_produce(bootstrap, topic, [Rec(None, b"x")]))
    md = json.loads(kcat(bootstrap, "-L", "-J", "-t", topic).stdout)
    assert md["brokers"] == [{"id": 1, "name": f"{broker.host}:{broker.port}"}]
    (t,) = md["topics"]
    assert t["topic"] == topic
    assert [p["partition"] for p in t["partitions"]] == [0]
    assert t["partitions"][0]["leader"] == 1
