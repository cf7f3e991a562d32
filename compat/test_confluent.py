"""confluent-kafka (librdkafka) against the broker: produce, assign()-consume, codecs,
big records, many partitions, ListOffsets by time, watermarks, auto-creation."""

import time

import pytest

from clients import (TS, Rec, assert_all_sent, assert_contiguous, assert_roundtrip, cf_consume,
                     cf_consumer, cf_create_topic, cf_partitions, cf_produce, murmur2_partition, variety)

CODECS = ["gzip", "snappy", "lz4", "zstd"]


def test_roundtrip_variety(bootstrap, topic):
    recs = variety()
    # One request in flight: the first produce to an auto-created topic can be retried
    # (Kafka creates topics asynchronously), and a non-idempotent librdkafka with more
    # in flight may then land it after later ones (once seen against Kafka 4.4.0 under
    # load: offsets [13, 0, 1, ...]); the offset check below is about the broker.
    sent = cf_produce(bootstrap, topic, recs, max_in_flight_requests_per_connection=1)
    got = cf_consume(bootstrap, topic, len(recs))
    assert_roundtrip(recs, sent, got)
    assert [s.offset for s in sent] == list(range(len(recs)))


@pytest.mark.parametrize("codec", CODECS)
def test_compression(bootstrap, topic, codec):
    recs = [Rec(f"k{i}".encode(), (f"value {i} " * (i % 50 + 1)).encode(), [("i", str(i).encode())])
            for i in range(500)]
    recs += variety()
    sent = cf_produce(bootstrap, topic, recs, compression_type=codec, linger_ms=50, batch_num_messages=200)
    got = cf_consume(bootstrap, topic, len(recs))
    assert_roundtrip(recs, sent, got)
    assert_contiguous(got)


def test_message_near_max_size(bootstrap, topic):
    big = bytes((i * 7) % 251 for i in range(1_000_000))
    recs = [Rec(b"big", big), Rec(b"small", b"after")]
    sent = cf_produce(bootstrap, topic, recs, message_max_bytes=4_000_000, linger_ms=0)
    got = cf_consume(bootstrap, topic, 2)
    assert_roundtrip(recs, sent, got)


def test_message_over_max_size_rejected(bootstrap, topic):
    cf_produce(bootstrap, topic, [Rec(b"first", b"ok")])  # the topic exists
    too_big = b"x" * 1_100_000
    sent = cf_produce(bootstrap, topic, [Rec(b"huge", too_big)], message_max_bytes=4_000_000,
                      linger_ms=0, message_timeout_ms=15000)
    assert sent[0].error is not None and "MSG_SIZE_TOO_LARGE" in sent[0].error, sent
    # the partition is unharmed: the next record gets the next offset
    after = cf_produce(bootstrap, topic, [Rec(b"second", b"ok")])
    assert_all_sent(after)
    assert after[0].offset == 1


def test_many_partitions_keyed(bootstrap, topic):
    n = 32
    cf_create_topic(bootstrap, topic, n)
    keys = [f"user-{i}".encode() for i in range(100)]
    recs = [Rec(k, f"{k.decode()} event {j}".encode()) for j in range(5) for k in keys]
    sent = cf_produce(bootstrap, topic, recs, partitioner="murmur2_random")
    assert_all_sent(sent, len(recs))
    for r, s in zip(recs, sent):
        assert s.partition == murmur2_partition(r.key, n), (r.key, s.partition)
    assert len({s.partition for s in sent}) > 20
    got = cf_consume(bootstrap, topic, len(recs), timeout_s=40)
    assert_roundtrip(recs, sent, got)
    assert_contiguous(got)
    # per key, the order of production is the order of offsets
    for k in keys:
        values = [g.value for g in sorted((g for g in got if g.key == k), key=lambda g: g.offset)]
        assert values == [f"{k.decode()} event {j}".encode() for j in range(5)]


def test_offsets_for_times(bootstrap, topic):
    from confluent_kafka import TopicPartition

    recs = [Rec(f"k{i}".encode(), f"v{i}".encode(), timestamp=TS + i * 1000) for i in range(10)]
    sent = cf_produce(bootstrap, topic, recs, linger_ms=0)
    assert_all_sent(sent, 10)
    c = cf_consumer(bootstrap)
    try:
        cf_partitions(c, topic)
        cases = {TS - 5: 0, TS: 0, TS + 1: 1, TS + 4500: 5, TS + 9000: 9, TS + 9001: -1}
        for ts, want in cases.items():
            res = c.offsets_for_times([TopicPartition(topic, 0, ts)], timeout=20)
            assert res[0].error is None
            assert res[0].offset == want, (ts, res[0].offset, want)
    finally:
        c.close()


def test_watermarks(bootstrap, topic):
    recs = [Rec(None, f"v{i}".encode()) for i in range(25)]
    assert_all_sent(cf_produce(bootstrap, topic, recs), 25)
    c = cf_consumer(bootstrap)
    try:
        cf_partitions(c, topic)
        from confluent_kafka import TopicPartition
        assert c.get_watermark_offsets(TopicPartition(topic, 0), timeout=20) == (0, 25)
    finally:
        c.close()


def test_auto_create_on_produce(bootstrap, topic):
    sent = cf_produce(bootstrap, topic, [Rec(b"a", b"b")])
    assert_all_sent(sent, 1)
    assert sent[0].partition == 0 and sent[0].offset == 0
    c = cf_consumer(bootstrap)
    try:
        md = c.list_topics(topic, timeout=20).topics[topic]
        assert md.error is None
        assert sorted(md.partitions) == [0]  # num.partitions=1
        assert md.partitions[0].leader == 1
    finally:
        c.close()


def test_acks_variants(bootstrap, topic):
    for acks, n in (("1", 10), ("0", 10), ("all", 10)):
        recs = [Rec(acks.encode(), f"acks={acks} #{i}".encode()) for i in range(n)]
        sent = cf_produce(bootstrap, topic, recs, acks=acks)
        assert all(s.error is None for s in sent), sent
    got = cf_consume(bootstrap, topic, 30)
    assert sorted(g.value for g in got) == sorted(
        f"acks={a} #{i}".encode() for a in ("1", "0", "all") for i in range(10))


def test_assign_mid_batch_offset(bootstrap, topic):
    """Starting to read at an offset inside a compressed batch yields exactly that offset on."""
    from confluent_kafka import TopicPartition

    recs = [Rec(f"k{i}".encode(), f"v{i}".encode()) for i in range(100)]
    sent = cf_produce(bootstrap, topic, recs, compression_type="zstd", linger_ms=100, batch_num_messages=100)
    assert_all_sent(sent, 100)
    c = cf_consumer(bootstrap)
    try:
        cf_partitions(c, topic)
        c.assign([TopicPartition(topic, 0, 37)])
        got = []
        deadline = time.monotonic() + 20
        while len(got) < 63 and time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is not None and not m.error():
                got.append((m.offset(), m.value()))
        assert got == [(i, f"v{i}".encode()) for i in range(37, 100)]
    finally:
        c.close()


def test_long_poll_fetch_wakes_on_append(bootstrap, topic):
    """A consumer parked in a long Fetch (fetch.wait.max.ms=10s) gets a new record promptly."""
    from confluent_kafka import TopicPartition

    assert_all_sent(cf_produce(bootstrap, topic, [Rec(None, b"first")]))
    c = cf_consumer(bootstrap, **{"fetch.wait.max.ms": 10000, "fetch.min.bytes": 1})
    try:
        cf_partitions(c, topic)
        c.assign([TopicPartition(topic, 0, 1)])
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:  # let the consumer start its long polls
            assert c.poll(0.1) is None
        t0 = time.monotonic()
        assert_all_sent(cf_produce(bootstrap, topic, [Rec(None, b"second")], linger_ms=0))
        m = None
        while m is None and time.monotonic() - t0 < 15:
            m = c.poll(0.1)
        latency = time.monotonic() - t0
        assert m is not None and not m.error() and m.value() == b"second" and m.offset() == 1
        assert latency < 3.0, f"record arrived {latency:.2f}s after produce (fetch not woken by the append?)"
    finally:
        c.close()


def test_list_all_topics_metadata(broker):
    # librdkafka's all-topics Metadata request carries trailing bytes that the
    # Java broker ignores; a broker that refused them would drop the connection.
    from confluent_kafka.admin import AdminClient
    b = broker.bootstrap
    cf_create_topic(b, "listed-a", 1)
    cf_create_topic(b, "listed-b", 2)
    md = AdminClient({"bootstrap.servers": b}).list_topics(timeout=20)
    assert {"listed-a", "listed-b"} <= set(md.topics)
    assert len(md.topics["listed-b"].partitions) == 2
