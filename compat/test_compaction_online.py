"""Produce and fetch are not held up by a running clean: the cleaner locks
the partition only to start and to swap cleaned segments in, as Kafka's.
A clean paced by log.cleaner.io.max.bytes.per.second takes seconds; while
its .cleaned file is on disk, a confluent-kafka producer and consumer on the
same partition still see every record within a fraction of a second.
Gregor only: Kafka 4.4's Throttler checks the rate once per 300 ms window,
so its clean of these 2 MB finishes in ~0.4 s unthrottled and no .cleaned
file stays long enough to watch."""

import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import SERVER_KIND
from test_compaction import read_all, wait_for

pytestmark = pytest.mark.skipif(
    SERVER_KIND != "gregor", reason="Kafka's throttler lets this small clean finish unthrottled (see above)")

RATE = 256 * 1024  # bytes/s the cleaner may read + write
SETTINGS = {"log.cleaner.backoff.ms": "200", "log.cleaner.io.max.bytes.per.second": str(RATE)}
KEYS = 100
VALUE = b"v" * 1000
SEGMENT_BYTES = 1024 * 1024  # the smallest Kafka allows


@pytest.fixture
def server(broker_factory):
    return broker_factory(SETTINGS)


def cleaned_files(server, topic):
    return list((server.data_dir / f"{topic}-0").glob("*.cleaned"))


def test_produce_and_fetch_go_on_while_a_long_clean_runs(server, topic):
    b = server.bootstrap
    admin = AdminClient({"bootstrap.servers": b})
    configs = {"cleanup.policy": "compact", "segment.bytes": str(SEGMENT_BYTES),
               "min.cleanable.dirty.ratio": "0.01"}
    admin.create_topics([NewTopic(topic, 1, 1, config=configs)])[topic].result(30)

    # ~2.5 MB over 100 keys: two full segments to clean, ~4 s each at RATE.
    produced = 2500
    p = Producer({"bootstrap.servers": b, "linger.ms": 5, "enable.idempotence": False})
    for i in range(produced):
        p.produce(topic, key=f"k{i % KEYS}".encode(), value=VALUE + str(i).encode())
    assert p.flush(60) == 0

    wait_for("a clean to be writing its .cleaned file",
             lambda: (bool(cleaned_files(server, topic)), None), timeout=60)

    c = Consumer({"bootstrap.servers": b, "group.id": f"online-{uuid.uuid4().hex[:8]}",
                  "enable.auto.commit": False, "fetch.wait.max.ms": 50})
    _, end = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    c.assign([TopicPartition(topic, 0, end)])
    slowest_produce = slowest_fetch = 0.0
    try:
        for i in range(10):
            value = f"during-{i}".encode()
            started = time.monotonic()
            p.produce(topic, key=b"during", value=value)
            assert p.flush(10) == 0
            acked = time.monotonic()
            msg = None
            while msg is None and time.monotonic() - acked < 10:
                msg = c.poll(0.05)
            assert msg is not None and msg.error() is None, msg and msg.error()
            assert msg.value() == value
            slowest_produce = max(slowest_produce, acked - started)
            slowest_fetch = max(slowest_fetch, time.monotonic() - acked)
        # The same clean was still running when the last record came back.
        still_cleaning = bool(cleaned_files(server, topic))
    finally:
        c.close()
    assert still_cleaning, "the clean ended before the records came back: it was not long enough to tell"
    assert slowest_produce < 0.5, f"a produce waited {slowest_produce:.2f}s for the clean"
    assert slowest_fetch < 0.5, f"a fetch waited {slowest_fetch:.2f}s for the clean"

    # The clean still completes, and compacts.
    def compacted():
        records = read_all(b, topic)
        return len(records) < produced / 2, len(records)

    wait_for("the clean to finish", compacted, timeout=90)
    latest = {}
    for k, v in read_all(b, topic):
        latest[k] = v
    assert latest[b"during"] == b"during-9"
    assert latest[b"k0"] == VALUE + str(produced - KEYS).encode()
