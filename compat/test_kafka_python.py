"""kafka-python 2.x: producer, assign()-consumer without a group, codecs, big records,
offsets_for_times / end_offsets, and its KafkaAdminClient."""

import pytest

from clients import (TS, Rec, assert_all_sent, assert_contiguous, assert_roundtrip, kp_consume, kp_produce,
                     variety)

CODECS = ["gzip", "snappy", "lz4", "zstd"]


# kafka-python's producer refuses null header values (asserts bytes)
VARIETY = dict(null_header=False)


def test_roundtrip_variety(bootstrap, topic):
    recs = variety(**VARIETY)
    sent = kp_produce(bootstrap, topic, recs)
    assert [s.offset for s in sent] == list(range(len(recs)))
    assert_roundtrip(recs, sent, kp_consume(bootstrap, topic, len(recs)))


@pytest.mark.parametrize("codec", CODECS)
def test_compression(bootstrap, topic, codec):
    recs = [Rec(f"k{i}".encode(), (f"value {i} " * (i % 30 + 1)).encode(), [("i", str(i).encode())])
            for i in range(300)] + variety(**VARIETY)
    sent = kp_produce(bootstrap, topic, recs, compression_type=codec, linger_ms=50)
    got = kp_consume(bootstrap, topic, len(recs))
    assert_roundtrip(recs, sent, got)
    assert_contiguous(got)


def test_message_near_max_size(bootstrap, topic):
    big = bytes((i * 31) % 256 for i in range(1_000_000))
    recs = [Rec(b"big", big), Rec(None, b"tail")]
    sent = kp_produce(bootstrap, topic, recs, linger_ms=0)
    assert_roundtrip(recs, sent, kp_consume(bootstrap, topic, 2))


def test_message_over_max_size_rejected(bootstrap, topic):
    assert_all_sent(kp_produce(bootstrap, topic, [Rec(b"a", b"ok")]))
    sent = kp_produce(bootstrap, topic, [Rec(b"huge", b"q" * 1_100_000)], linger_ms=0, retries=0)
    assert sent[0].error is not None and "MessageSizeTooLarge" in sent[0].error, sent


def test_offsets_for_times_and_end_offsets(bootstrap, topic):
    from kafka import KafkaConsumer, TopicPartition

    recs = [Rec(None, f"v{i}".encode(), timestamp=TS + 10 * i) for i in range(10)]
    assert_all_sent(kp_produce(bootstrap, topic, recs, linger_ms=0), 10)
    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    try:
        tp = TopicPartition(topic, 0)
        r = c.offsets_for_times({tp: TS + 35})[tp]
        assert (r.offset, r.timestamp) == (4, TS + 40)
        assert c.offsets_for_times({tp: TS + 1000})[tp] is None
        assert c.beginning_offsets([tp]) == {tp: 0}
        assert c.end_offsets([tp]) == {tp: 10}
    finally:
        c.close()


def test_admin_client(bootstrap, topic):
    from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=20000)
    try:
        admin.create_topics([NewTopic(topic, 4, 1, topic_configs={"retention.ms": "7200000"})])
        assert topic in admin.list_topics()
        with pytest.raises(TopicAlreadyExistsError):
            admin.create_topics([NewTopic(topic, 4, 1)])
        (desc,) = admin.describe_topics([topic])
        assert desc["error_code"] == 0
        assert sorted(p["partition_index"] for p in desc["partitions"]) == [0, 1, 2, 3]  # kafka-python 3 uses the schema names
        res = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        # kafka-python 3 answers {resource type: {name: {config: {"value", "config_source", ...}}}}
        entry = res["topic"][topic]["retention.ms"]
        assert entry["value"] == "7200000" and entry["config_source"] == "DYNAMIC_TOPIC_CONFIG"
        admin.delete_topics([topic])
        assert topic not in admin.list_topics()
    finally:
        admin.close()
