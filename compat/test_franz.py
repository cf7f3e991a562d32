"""franz-go (kgo): producer with every codec, group-less direct partition consumption,
murmur2 key partitioning, big records."""

import pytest

from clients import (Rec, assert_all_sent, assert_contiguous, assert_roundtrip, cf_create_topic, franz_consume,
                     franz_produce, java_admin, murmur2_partition, variety)

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]


def test_roundtrip_variety(bootstrap, topic):
    recs = variety()
    sent = franz_produce(bootstrap, topic, recs)
    assert [s.offset for s in sent] == list(range(len(recs)))
    assert_roundtrip(recs, sent, franz_consume(bootstrap, topic, len(recs)))


@pytest.mark.parametrize("codec", CODECS)
def test_compression(bootstrap, topic, codec):
    recs = [Rec(f"k{i}".encode(), (f"franz {i} " * (i % 60 + 1)).encode(), [("n", str(i).encode())])
            for i in range(500)] + variety()
    sent = franz_produce(bootstrap, topic, recs, compression=codec)
    got = franz_consume(bootstrap, topic, len(recs))
    assert_roundtrip(recs, sent, got)
    assert_contiguous(got)


def test_keyed_partitioning_many_partitions(bootstrap, topic):
    cf_create_topic(bootstrap, topic, 32)
    recs = [Rec(f"device-{i % 150}".encode(), f"reading {i}".encode()) for i in range(600)]
    sent = franz_produce(bootstrap, topic, recs, compression="lz4")
    assert_all_sent(sent, 600)
    for r, s in zip(recs, sent):
        assert s.partition == murmur2_partition(r.key, 32)
    got = franz_consume(bootstrap, topic, 600, timeout_ms=40000)
    assert_roundtrip(recs, sent, got)
    assert_contiguous(got)


def test_message_near_max_size(bootstrap, topic):
    big = bytes((i * 17) % 256 for i in range(1_000_000))
    recs = [Rec(b"big", big)]
    sent = franz_produce(bootstrap, topic, recs)
    assert_roundtrip(recs, sent, franz_consume(bootstrap, topic, 1))


def test_message_over_max_size_rejected(bootstrap, topic):
    assert_all_sent(franz_produce(bootstrap, topic, [Rec(b"a", b"ok")]))
    sent = franz_produce(bootstrap, topic, [Rec(b"huge", b"w" * 1_100_000)])
    assert sent[0].error is not None and "MESSAGE_TOO_LARGE" in sent[0].error, sent


def test_explicit_partitions(bootstrap, topic):
    assert "created" in java_admin(bootstrap, "create-topic", topic, 4, 1)
    recs = [Rec(None, f"p{p}-{i}".encode(), partition=p) for i in range(3) for p in range(4)]
    sent = franz_produce(bootstrap, topic, recs)
    assert_all_sent(sent, 12)
    assert [(s.partition, s.offset) for s in sent] == [(p, i) for i in range(3) for p in range(4)]
    assert_roundtrip(recs, sent, franz_consume(bootstrap, topic, 12))
