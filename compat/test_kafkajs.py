"""kafkajs 2.x: producer (gzip, snappy, none), and reading back through kafkajs's own
Fetch/RecordBatch code (it has no group-less consumer; Gregor has no groups yet)."""

import pytest

from clients import (Rec, assert_all_sent, assert_contiguous, assert_roundtrip, cf_consume, java_admin,
                     kafkajs_consume, kafkajs_produce, variety)

# kafkajs' built-in codecs are none and gzip; snappy via kafkajs-snappy. Its lz4 and zstd
# codecs are native add-ons, so they are not exercised here.
CODECS = ["none", "gzip", "snappy"]
# kafkajs keeps headers in an object (name -> value or [values]): no null header values, and
# duplicate names come back grouped, so the duplicates are sent adjacent.
VARIETY = dict(null_header=False, dup_interleaved=False)


def test_roundtrip_variety(bootstrap, topic):
    recs = variety(**VARIETY)
    sent = kafkajs_produce(bootstrap, topic, recs)
    assert [s.offset for s in sent] == list(range(len(recs)))
    assert_roundtrip(recs, sent, kafkajs_consume(bootstrap, topic, len(recs)))


@pytest.mark.parametrize("codec", CODECS)
def test_compression(bootstrap, topic, codec):
    recs = [Rec(f"k{i}".encode(), (f"js {i} " * (i % 25 + 1)).encode(), [("i", str(i).encode())])
            for i in range(300)] + variety(**VARIETY)
    sent = kafkajs_produce(bootstrap, topic, recs, compression=codec)
    got = kafkajs_consume(bootstrap, topic, len(recs))
    assert_roundtrip(recs, sent, got)
    assert_contiguous(got)
    # and the same bytes through librdkafka
    assert_roundtrip(recs, sent, cf_consume(bootstrap, topic, len(recs)))


def test_keyed_partitioning(bootstrap, topic):
    assert "created" in java_admin(bootstrap, "create-topic", topic, 8, 1)
    recs = [Rec(f"js-key-{i % 40}".encode(), f"m{i}".encode()) for i in range(160)]
    sent = kafkajs_produce(bootstrap, topic, recs)
    assert_all_sent(sent, 160)
    got = kafkajs_consume(bootstrap, topic, 160)
    assert_roundtrip(recs, sent, got)
    assert_contiguous(got)
    by_key = {}
    for g in got:
        by_key.setdefault(g.key, set()).add(g.partition)
    assert all(len(ps) == 1 for ps in by_key.values())


def test_acks_1(bootstrap, topic):
    recs = [Rec(b"a1", f"acks1 {i}".encode()) for i in range(20)]
    sent = kafkajs_produce(bootstrap, topic, recs, acks="1")
    assert_roundtrip(recs, sent, kafkajs_consume(bootstrap, topic, 20))
