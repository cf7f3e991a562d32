"""Java kafka-clients 4.x (the reference client): producer, assign()-consumer,
offsetsForTimes, and the AdminClient (topics, configs, partitions, cluster)."""

import pytest

from clients import (TS, Rec, assert_all_sent, assert_contiguous, assert_roundtrip, java_admin,
                     java_consume, java_offsets_for_times, java_produce, murmur2_partition, variety)

CODECS = ["gzip", "snappy", "lz4", "zstd"]


def test_roundtrip_variety(bootstrap, topic):
    recs = variety()
    sent = java_produce(bootstrap, topic, recs)
    assert [s.offset for s in sent] == list(range(len(recs)))
    got = java_consume(bootstrap, topic, len(recs))
    assert_roundtrip(recs, sent, got)


@pytest.mark.parametrize("codec", CODECS)
def test_compression(bootstrap, topic, codec):
    recs = [Rec(f"k{i}".encode(), (f"value {i} " * (i % 40 + 1)).encode(), [("i", str(i).encode())])
            for i in range(400)] + variety()
    sent = java_produce(bootstrap, topic, recs, compression_type=codec, linger_ms=50)
    got = java_consume(bootstrap, topic, len(recs))
    assert_roundtrip(recs, sent, got)
    assert_contiguous(got)


def test_message_near_max_size(bootstrap, topic):
    big = bytes((i * 13) % 256 for i in range(1_000_000))
    recs = [Rec(b"big", big, [("h", b"v")]), Rec(b"small", b"x")]
    sent = java_produce(bootstrap, topic, recs, linger_ms=0)
    got = java_consume(bootstrap, topic, 2)
    assert_roundtrip(recs, sent, got)


def test_message_over_max_size_rejected(bootstrap, topic):
    assert_all_sent(java_produce(bootstrap, topic, [Rec(b"a", b"ok")]))
    sent = java_produce(bootstrap, topic, [Rec(b"huge", b"z" * 1_100_000)], linger_ms=0, retries=0)
    assert sent[0].error is not None and sent[0].error.startswith("RecordTooLargeException"), sent


def test_keyed_partitioning_matches_murmur2(bootstrap, topic):
    assert "created" in java_admin(bootstrap, "create-topic", topic, 12, 1)
    recs = [Rec(f"order-{i}".encode(), f"payload {i}".encode()) for i in range(200)]
    sent = java_produce(bootstrap, topic, recs)
    assert_all_sent(sent, 200)
    for r, s in zip(recs, sent):
        assert s.partition == murmur2_partition(r.key, 12)
    got = java_consume(bootstrap, topic, 200)
    assert_roundtrip(recs, sent, got)
    assert_contiguous(got)


def test_offsets_for_times(bootstrap, topic):
    recs = [Rec(None, f"v{i}".encode(), timestamp=TS + 100 * i) for i in range(20)]
    assert_all_sent(java_produce(bootstrap, topic, recs, linger_ms=0), 20)
    for ts, want in ((TS - 1, 0), (TS + 550, 6), (TS + 1900, 19)):
        res = java_offsets_for_times(bootstrap, topic, ts)
        assert res == [{"partition": 0, "offset": want, "timestamp": TS + 100 * want}], (ts, res)
    assert java_offsets_for_times(bootstrap, topic, TS + 5000) == [
        {"partition": 0, "offset": None, "timestamp": None}]


def test_admin_create_describe_delete(bootstrap, topic):
    res = java_admin(bootstrap, "create-topic", topic, 3, 1, "retention.ms=3600000", "cleanup.policy=delete")
    assert res["created"] == topic and res["partitions"] == 3 and res["replicationFactor"] == 1
    topic_id = res["topicId"]

    d = java_admin(bootstrap, "describe-topic", topic)
    assert d["name"] == topic and d["internal"] is False and d["topicId"] == topic_id
    assert [p["partition"] for p in d["partitions"]] == [0, 1, 2]
    for p in d["partitions"]:
        assert p["leader"] == 1 and p["replicas"] == [1] and p["isr"] == [1]

    assert topic in java_admin(bootstrap, "list-topics")["topics"]

    again = java_admin(bootstrap, "create-topic", topic, 3, 1)
    assert again["error"] == "TopicExistsException", again

    assert java_admin(bootstrap, "delete-topic", topic) == {"deleted": topic}
    gone = java_admin(bootstrap, "describe-topic", topic)
    assert gone["error"] == "UnknownTopicOrPartitionException", gone
    assert topic not in java_admin(bootstrap, "list-topics")["topics"]


def test_admin_errors(bootstrap, topic):
    missing = java_admin(bootstrap, "delete-topic", topic + "-missing")
    assert missing["error"] == "UnknownTopicOrPartitionException", missing
    bad = java_admin(bootstrap, "create-topic", topic, 0, 1)
    assert bad["error"] == "InvalidPartitionsException", bad
    badcfg = java_admin(bootstrap, "create-topic", topic, 1, 1, "no.such.config=1")
    assert badcfg["error"] == "InvalidConfigurationException", badcfg
    badname = java_admin(bootstrap, "create-topic", "bad/name", 1, 1)
    assert badname["error"] == "InvalidTopicException", badname


def test_describe_topic_configs(bootstrap, topic):
    java_admin(bootstrap, "create-topic", topic, 1, 1, "retention.ms=3600000")
    cfg = java_admin(bootstrap, "describe-configs", "topic", topic)["configs"]
    assert cfg["retention.ms"]["value"] == "3600000"
    assert cfg["retention.ms"]["source"] == "DYNAMIC_TOPIC_CONFIG"
    assert cfg["retention.ms"]["default"] is False
    assert cfg["cleanup.policy"]["value"] == "delete"
    assert cfg["cleanup.policy"]["source"] == "DEFAULT_CONFIG"
    assert cfg["max.message.bytes"]["value"] == "1048588"
    assert cfg["segment.bytes"]["value"] == "1073741824"
    assert cfg["compression.type"]["value"] == "producer"
    assert cfg["message.timestamp.type"]["value"] == "CreateTime"

    other = topic + "-d"
    java_admin(bootstrap, "create-topic", other, 1, 1)
    cfg2 = java_admin(bootstrap, "describe-configs", "topic", other)["configs"]
    assert cfg2["retention.ms"]["value"] == "604800000"
    assert cfg2["retention.ms"]["source"] in ("DEFAULT_CONFIG", "STATIC_BROKER_CONFIG")


def test_alter_topic_config(bootstrap, topic):
    java_admin(bootstrap, "create-topic", topic, 1, 1)
    assert java_admin(bootstrap, "alter-config", topic, "retention.ms=120000") == {"altered": topic}
    cfg = java_admin(bootstrap, "describe-configs", "topic", topic)["configs"]
    assert cfg["retention.ms"]["value"] == "120000"
    assert cfg["retention.ms"]["source"] == "DYNAMIC_TOPIC_CONFIG"


def test_describe_broker_configs(bootstrap):
    cfg = java_admin(bootstrap, "describe-configs", "broker", "1")["configs"]
    assert cfg["message.max.bytes"]["value"] == "1048588"
    assert cfg["log.retention.hours"]["value"] == "168"
    assert cfg["auto.create.topics.enable"]["value"] == "true"
    assert cfg["node.id"]["value"] == "1"


def test_create_partitions(bootstrap, topic):
    java_admin(bootstrap, "create-topic", topic, 2, 1)
    assert java_admin(bootstrap, "create-partitions", topic, 5) == {"partitions": 5}
    d = java_admin(bootstrap, "describe-topic", topic)
    assert [p["partition"] for p in d["partitions"]] == [0, 1, 2, 3, 4]
    recs = [Rec(b"k", f"to {p}".encode(), partition=p) for p in range(5)]
    sent = java_produce(bootstrap, topic, recs)
    assert [(s.partition, s.offset) for s in sent] == [(p, 0) for p in range(5)]
    assert_roundtrip(recs, sent, java_consume(bootstrap, topic, 5))
    shrink = java_admin(bootstrap, "create-partitions", topic, 3)
    assert shrink["error"] == "InvalidPartitionsException", shrink


def test_describe_cluster(broker, bootstrap):
    c = java_admin(bootstrap, "describe-cluster")
    assert c["clusterId"]
    assert c["nodes"] == [{"id": 1, "host": broker.host, "port": broker.port}]


def test_auto_create_on_metadata(bootstrap, topic):
    # the Java producer's metadata request for an unknown topic creates it (auto.create.topics.enable)
    sent = java_produce(bootstrap, topic, [Rec(b"a", b"b")])
    assert [(s.partition, s.offset) for s in sent] == [(0, 0)]
    d = java_admin(bootstrap, "describe-topic", topic)
    assert len(d["partitions"]) == 1
