"""Log compaction seen by a real client (confluent-kafka): a compacted topic
with small, time-rolled segments and min.cleanable.dirty.ratio=0.01 is
cleaned in the background; a consumer reading from the beginning then sees
only the latest value per key, a tombstone while delete.retention.ms has
not passed and not after; a record without a key is refused with
INVALID_RECORD. Passes against Gregor and against Kafka 4.4
(COMPAT_SERVER=kafka)."""

import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

SEGMENT_MS = 1000
DELETE_RETENTION_MS = 6000
# Kafka's cleaner only runs every log.cleaner.backoff.ms when idle.
SETTINGS = {"log.cleaner.backoff.ms": "300"}


@pytest.fixture
def server(broker_factory):
    return broker_factory(SETTINGS)


def create_compacted(bootstrap, topic):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    configs = {
        "cleanup.policy": "compact",
        "segment.ms": str(SEGMENT_MS),
        "min.cleanable.dirty.ratio": "0.01",
        "delete.retention.ms": str(DELETE_RETENTION_MS),
    }
    futures = admin.create_topics([NewTopic(topic, 1, 1, config=configs)])
    futures[topic].result(30)


def produce_round(bootstrap, topic, records):
    """Produces records and waits for them; then waits past segment.ms so
    the next round starts a new segment."""
    errors = []
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "enable.idempotence": False})
    for key, value in records:
        p.produce(topic, key=key, value=value, on_delivery=lambda err, msg: err and errors.append(err))
    assert p.flush(30) == 0
    assert not errors, errors
    time.sleep(SEGMENT_MS * 1.5 / 1000)


def read_all(bootstrap, topic):
    """Every record from the start to the high watermark, as (key, value)."""
    c = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": f"compaction-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
    })
    try:
        low, high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        c.assign([TopicPartition(topic, 0, low)])
        out = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            msg = c.poll(0.5)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            out.append((msg.key(), msg.value()))
            if msg.offset() >= high - 1:
                return out
        raise AssertionError(f"did not reach the high watermark {high}: {out}")
    finally:
        c.close()


def wait_for(what, check, timeout=90):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        ok, last = check()
        if ok:
            return last
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}; last read: {last}")


KEYS = [f"k{i}".encode() for i in range(10)]


def test_compacted_topic_keeps_the_latest_value_per_key_and_tombstones_expire(server, topic):
    b = server.bootstrap
    create_compacted(b, topic)
    for r in range(4):
        produce_round(b, topic, [(k, f"{k.decode()}-v{r}".encode()) for k in KEYS])
    # k0 deleted; the next round's key lives in the segment left active.
    produce_round(b, topic, [(b"k0", None)])
    produce_round(b, topic, [(b"filler", b"f")])

    expected = {k: f"{k.decode()}-v3".encode() for k in KEYS[1:]}

    def compacted():
        records = read_all(b, topic)
        keyed = [(k, v) for k, v in records if k != b"filler"]
        latest_only = sorted(keyed) == sorted(list(expected.items()) + [(b"k0", None)])
        return latest_only, records

    records = wait_for("the clean", compacted)
    # The tombstone is still there: delete.retention.ms has not passed.
    assert (b"k0", None) in records

    # After delete.retention.ms, new data makes the log dirty again and the
    # next clean drops the tombstone.
    time.sleep(DELETE_RETENTION_MS / 1000)

    def tombstone_gone():
        produce_round(b, topic, [(b"filler", b"g")])
        records = read_all(b, topic)
        keys = [k for k, _ in records]
        return b"k0" not in keys, records

    records = wait_for("the tombstone to go", tombstone_gone)
    got = {k: v for k, v in records if k != b"filler"}
    assert got == expected


def test_a_record_without_a_key_is_refused_on_a_compacted_topic(server, topic):
    b = server.bootstrap
    create_compacted(b, topic)
    results = []
    p = Producer({"bootstrap.servers": b, "linger.ms": 0, "retries": 0, "enable.idempotence": False})
    p.produce(topic, value=b"no key", on_delivery=lambda err, msg: results.append(err))
    # Flushed apart: the whole batch holding a keyless record is refused.
    p.flush(30)
    p.produce(topic, key=b"k", value=b"keyed", on_delivery=lambda err, msg: results.append(err))
    p.flush(30)
    assert len(results) == 2
    assert results[0] is not None and results[0].code() == KafkaError.INVALID_RECORD, results
    assert results[1] is None, results
    assert read_all(b, topic) == [(b"k", b"keyed")]


def read_values(bootstrap, topic, isolation):
    c = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": f"compaction-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "isolation.level": isolation,
    })
    try:
        low, high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        c.assign([TopicPartition(topic, 0, low)])
        out = []
        idle_until = time.monotonic() + 5
        while time.monotonic() < idle_until:
            msg = c.poll(0.5)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            out.append((msg.offset(), msg.value()))
            idle_until = time.monotonic() + 3
        return out
    finally:
        c.close()


def test_the_cleaner_removes_aborted_transactions(server, topic):
    b = server.bootstrap
    create_compacted(b, topic)
    p = Producer({"bootstrap.servers": b, "transactional.id": f"tx-{topic}", "linger.ms": 0})
    p.init_transactions(30)
    p.begin_transaction()
    for i in range(5):
        p.produce(topic, key=f"a{i}".encode(), value=b"aborted")
    p.flush(30)
    p.abort_transaction(30)
    time.sleep(SEGMENT_MS * 1.5 / 1000)
    p.begin_transaction()
    for i in range(5):
        p.produce(topic, key=f"c{i}".encode(), value=b"committed")
    p.commit_transaction(30)
    time.sleep(SEGMENT_MS * 1.5 / 1000)
    produce_round(b, topic, [(b"filler", b"f")])
    produce_round(b, topic, [(b"filler2", b"f")])

    def aborted_gone():
        records = read_values(b, topic, "read_uncommitted")
        return b"aborted" not in [v for _, v in records], records

    records = wait_for("the aborted records to go", aborted_gone)
    values = [v for _, v in records]
    assert values.count(b"committed") == 5, records
    # The aborted records were written (offsets 0-4, their marker at 5) and
    # offsets do not move: the committed ones still start at 6.
    assert min(o for o, v in records if v == b"committed") == 6, records
    committed = read_values(b, topic, "read_committed")
    assert [v for _, v in committed].count(b"committed") == 5, committed
    assert b"aborted" not in [v for _, v in committed], committed


def test_java_producer_sees_kafkas_message_for_a_keyless_record(server, topic):
    from clients import Rec, java_produce

    b = server.bootstrap
    create_compacted(b, topic)
    sent = java_produce(b, topic, [Rec(key=None, value=b"no key", partition=0)], retries=0)
    assert len(sent) == 1 and sent[0].error, sent
    assert "InvalidRecordException" in sent[0].error, sent
    # Kafka 4.4's text, ending with the partition (no full stop).
    assert sent[0].error.endswith(
        f"Compacted topic cannot accept message without key in topic partition {topic}-0"), sent


def test_an_idempotent_producer_resumes_after_its_last_batch_was_compacted_empty(server, topic):
    """The cleaner removes every record of an idempotent producer's only batch
    (its key is overwritten) but keeps the batch, empty, so the producer's
    sequence state survives, even across a broker restart that rebuilds it
    from the log: the same producer then goes on without
    OutOfOrderSequence / UnknownProducerId errors or duplicates."""
    b = server.bootstrap
    create_compacted(b, topic)
    errors = []

    def report(err, msg):
        if err is not None:
            errors.append(err)

    idem = Producer({"bootstrap.servers": b, "enable.idempotence": True, "linger.ms": 0,
                     "message.timeout.ms": 60000})
    idem.produce(topic, key=b"a", value=b"first", on_delivery=report)
    assert idem.flush(30) == 0 and not errors, errors
    time.sleep(SEGMENT_MS * 1.5 / 1000)
    produce_round(b, topic, [(b"a", b"second")])
    produce_round(b, topic, [(b"filler", b"f")])

    def overwritten():
        records = read_all(b, topic)
        return (b"a", b"first") not in records, records

    wait_for("the first record to be cleaned away", overwritten)
    server.restart()
    b = server.bootstrap
    for i in range(3):
        idem.produce(topic, key=f"b{i}".encode(), value=b"after", on_delivery=report)
    assert idem.flush(60) == 0
    assert not errors, errors
    idem.produce(topic, key=b"c", value=b"last", on_delivery=report)
    assert idem.flush(60) == 0 and not errors, errors
    records = read_all(b, topic)
    assert [v for k, v in records if k.startswith(b"b")] == [b"after"] * 3, records
    assert (b"c", b"last") in records and (b"a", b"second") in records, records
