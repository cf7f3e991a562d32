"""Cross-client: records produced by each client are read back byte for byte by every
other client (keys, null keys, null/empty values, headers, CreateTime timestamps)."""

import pytest

from clients import (Rec, assert_roundtrip, cf_consume, cf_produce, franz_consume, franz_produce,
                     java_consume, java_produce, kafkajs_consume, kafkajs_produce, kp_consume, kp_produce,
                     variety)

# The common denominator: kafka-python and kafkajs cannot send null header values and
# kafkajs groups duplicate header names.
RECORDS = variety(null_header=False, dup_interleaved=False) + [
    Rec(f"bulk-{i}".encode(), bytes([i % 256]) * (i * 37 % 2000)) for i in range(200)
]

PRODUCERS = {
    "java-lz4": lambda b, t, r: java_produce(b, t, r, compression_type="lz4", linger_ms=20),
    "franz-zstd": lambda b, t, r: franz_produce(b, t, r, compression="zstd"),
    "confluent-snappy": lambda b, t, r: cf_produce(b, t, r, compression_type="snappy", linger_ms=20),
    "kafka-python-gzip": lambda b, t, r: kp_produce(b, t, r, compression_type="gzip", linger_ms=20),
    "kafkajs-none": lambda b, t, r: kafkajs_produce(b, t, r),
}

CONSUMERS = {
    "java": lambda b, t, n: java_consume(b, t, n),
    "franz": lambda b, t, n: franz_consume(b, t, n),
    "confluent": lambda b, t, n: cf_consume(b, t, n),
    "kafka-python": lambda b, t, n: kp_consume(b, t, n),
    "kafkajs": lambda b, t, n: kafkajs_consume(b, t, n),
}


@pytest.mark.parametrize("producer", list(PRODUCERS))
def test_produce_then_consume_with_every_client(bootstrap, topic, producer):
    sent = PRODUCERS[producer](bootstrap, topic, RECORDS)
    failures = []
    for name, consume in CONSUMERS.items():
        if name == "kafkajs" and producer.endswith(("-lz4", "-zstd")):
            continue  # kafkajs has no lz4/zstd decoder without native add-ons
        try:
            assert_roundtrip(RECORDS, sent, consume(bootstrap, topic, len(RECORDS)))
        except AssertionError as e:
            failures.append(f"{producer} -> {name}: {str(e)[:500]}")
    assert not failures, "\n".join(failures)


def test_concurrent_producers_one_topic(bootstrap, topic):
    """Java, franz-go, librdkafka and kafka-python write into the same partitions at once:
    every record lands once, offsets stay contiguous."""
    import threading

    from clients import assert_contiguous, cf_create_topic

    cf_create_topic(bootstrap, topic, 4)
    batches = {
        name: [Rec(f"{name}-{i % 13}".encode(), f"{name}:{i}".encode()) for i in range(400)]
        for name in ("java-lz4", "franz-zstd", "confluent-snappy", "kafka-python-gzip")
    }
    results, errors = {}, []

    def run(name):
        try:
            results[name] = PRODUCERS[name](bootstrap, topic, batches[name])
        except Exception as e:  # reported below
            errors.append(f"{name}: {e}")

    threads = [threading.Thread(target=run, args=(n,)) for n in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert not errors, errors
    all_recs = [r for n in batches for r in batches[n]]
    all_sent = [s for n in batches for s in results[n]]
    got = cf_consume(bootstrap, topic, len(all_recs), timeout_s=40)
    assert_roundtrip(all_recs, all_sent, got)
    assert_contiguous(got)
    assert sorted(g.offset for g in got if g.partition == 0)[0] == 0
