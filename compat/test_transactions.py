"""Transactions with real clients (Java kafka-clients, confluent-kafka/librdkafka, franz-go),
judged by compat/checker.py: committed records are read exactly once, aborted and open ones
never by read_committed consumers (but they are in the log for read_uncommitted ones),
an open transaction holds read_committed consumers back at the last stable offset, a
zombie producer is fenced, the broker aborts a transaction whose producer died once the
transaction times out, and consume-transform-produce is exactly-once across SIGKILLs.

Proven against Apache Kafka 4.4.0 (COMPAT_SERVER=kafka) and run against gregor. Marked `txn`.

The module broker runs with
  transaction.abort.timed.out.transaction.cleanup.interval.ms=1000  (timeout test)
  group.initial.rebalance.delay.ms=0                                 (copier restarts)
"""

import random
import time
import uuid

import pytest

from checker import ABORTED, COMMITTED, READ_COMMITTED, READ_UNCOMMITTED, Read, Write
from clients import Rec, assert_all_sent, cf_consumer, cf_create_topic, cf_produce
from conftest import EXTERNAL, ExternalBroker, new_server
from txn_clients import (History, assert_history_ok, cf_read_all, cf_txn_produce, franz_txn_produce, java_cmd,
                         java_read_all, java_txn_admin, java_txn_fence, java_txn_produce, lines_with,
                         procs)  # noqa: F401  (procs is a fixture)

pytestmark = pytest.mark.txn

BROKER_SETTINGS = {
    "transaction.abort.timed.out.transaction.cleanup.interval.ms": 1000,
    "group.initial.rebalance.delay.ms": 0,
}


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    """The module broker, with the transaction settings above."""
    if EXTERNAL:
        yield ExternalBroker(EXTERNAL)
        return
    server = new_server(tmp_path_factory.mktemp("gregor"), BROKER_SETTINGS)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def uid():
    return uuid.uuid4().hex[:8]


def plain(bootstrap, topic, history, *values_partitions):
    """Non-transactional acknowledged writes, recorded in the history."""
    recs = [Rec(v.encode(), v.encode(), partition=p) for v, p in values_partitions]
    sent = cf_produce(bootstrap, topic, recs)
    assert_all_sent(sent, len(recs))
    for (v, _), s in zip(values_partitions, sent):
        history.plain(v, s.partition, s.offset)
    return sent


def values(read):
    return [r.value for r in read.records]


# ---- commit and abort, per client ------------------------------------------------------------

PATTERN = "CACCA"
PER_TXN = 6


def check_commit_abort(b, topic, lines):
    h = History().add(lines)
    assert [h.outcomes[t] for t in sorted(h.txns)] == [COMMITTED if k == "C" else ABORTED for k in PATTERN], lines
    assert all(w.acked for w in h.writes.values()), "every record was flushed before commit/abort"
    committed, aborted = h.values(COMMITTED), h.values(ABORTED)
    assert len(committed) == 3 * PER_TXN and len(aborted) == 2 * PER_TXN

    rc_java = java_read_all(b, topic, READ_COMMITTED)
    rc_cf = cf_read_all(b, topic, READ_COMMITTED)
    ru_java = java_read_all(b, topic, READ_UNCOMMITTED)
    ru_cf = cf_read_all(b, topic, READ_UNCOMMITTED)
    for r in (rc_java, rc_cf, ru_java, ru_cf):
        assert r.complete, f"{r.name} did not reach the end"
    assert_history_ok(h, [rc_java, rc_cf, ru_java, ru_cf])
    # exactly the committed records, each once, for read_committed ...
    assert sorted(values(rc_java)) == sorted(committed)
    assert sorted(values(rc_cf)) == sorted(committed)
    # ... and the aborted ones too for read_uncommitted: they are in the log
    assert sorted(values(ru_java)) == sorted(committed | aborted)
    assert sorted(values(ru_cf)) == sorted(committed | aborted)
    # and the checker does flag the aborted records when a read_committed consumer shows them
    exposed = h.check([Read("ru-as-rc", READ_COMMITTED, ru_java.records)])
    assert sorted(v for _, v, _ in exposed.aborted) == sorted(aborted), exposed
    # control records (commit/abort markers) take offsets: each partition's log end is past its last record
    for p, end in ru_java.end.items():
        last = max((r.offset for r in ru_java.records if r.partition == p), default=-1)
        assert end > last + 1, f"partition {p}: no transaction marker after offset {last} (end {end})"


def test_java_commit_and_abort(broker):
    b, topic = broker.bootstrap, f"txn-java-{uid()}"
    cf_create_topic(b, topic, 3)
    lines = java_txn_produce(b, topic, f"java-{uid()}", f"j{uid()}", PATTERN, PER_TXN, "--partitions=3")
    assert lines[-1] == {"done": True, "committed": 3, "aborted": 2, "unknown": 0}, lines[-3:]
    check_commit_abort(b, topic, lines)


def test_confluent_commit_and_abort(broker):
    b, topic = broker.bootstrap, f"txn-cf-{uid()}"
    cf_create_topic(b, topic, 3)
    lines = cf_txn_produce(b, topic, f"cf-{uid()}", f"c{uid()}", PATTERN, PER_TXN, partitions=3)
    check_commit_abort(b, topic, lines)


def test_franz_commit_and_abort(broker):
    b, topic = broker.bootstrap, f"txn-franz-{uid()}"
    cf_create_topic(b, topic, 3)
    lines = franz_txn_produce(b, topic, f"franz-{uid()}", f"f{uid()}", PATTERN, PER_TXN, partitions=3)
    assert lines[-1] == {"done": True, "committed": 3, "aborted": 2, "unknown": 0}, lines[-3:]
    check_commit_abort(b, topic, lines)


def test_franz_ends_a_transaction_whose_produce_was_refused(broker):
    """A franz-go transaction whose only produce is refused (MESSAGE_TOO_LARGE) ends with
    TryCommit, which franz-go turns into an abort because nothing landed; at transaction
    version 2 that abort may find the partition registered or not (the Produce itself
    registers it), so the broker must accept it in either case and bump the epoch, and the
    producer's next transactions must commit. (The idle-state "empty abort" itself is
    covered over the wire in crates/gregor/tests/transactions.rs.)"""
    b, topic, refused = broker.bootstrap, f"txn-ok-{uid()}", f"txn-refused-{uid()}"
    cf_create_topic(b, topic, 1)
    cf_create_topic(b, refused, 1, {"max.message.bytes": "200"})
    lines = franz_txn_produce(b, topic, f"franz-empty-{uid()}", f"fe{uid()}", "FCFFAC", 2, fail_topic=refused)
    assert lines[-1] == {"done": True, "committed": 2, "aborted": 4, "unknown": 0}, lines[-4:]
    assert sum(1 for o in lines if o.get("produce_failed")) == 3
    h = History().add(lines)
    rc = cf_read_all(b, topic, READ_COMMITTED)
    assert rc.complete
    assert_history_ok(h, [rc])
    assert sorted(values(rc)) == sorted(h.values(COMMITTED))


# ---- last stable offset -------------------------------------------------------------------------

def test_open_transaction_holds_back_read_committed_until_commit(broker, procs):
    b, topic = broker.bootstrap, f"txn-lso-{uid()}"
    cf_create_topic(b, topic, 2)
    h = History()
    plain(b, topic, h, ("before-0", 0), ("before-1", 1))
    pr = procs(java_cmd(b, "txn-produce", topic, f"lso-{uid()}", "lso", "W", 4, "--partitions=2"), "txn-produce W")
    h.add(pr.wait_for(lines_with("waiting"), 60, "open transaction"))
    # committed records written after the open transaction's first record, on the same partitions
    plain(b, topic, h, ("after-0", 0), ("after-1", 1))
    first = {p: min(w.offset for w in h.writes.values() if w.txn and w.partition == p) for p in (0, 1)}

    # read_committed stops at the last stable offset = the open transaction's first offset
    rc_java = java_read_all(b, topic, READ_COMMITTED)
    rc_cf = cf_read_all(b, topic, READ_COMMITTED)
    assert rc_java.complete and rc_cf.complete
    assert sorted(values(rc_java)) == ["before-0", "before-1"]
    assert sorted(values(rc_cf)) == ["before-0", "before-1"]
    assert rc_java.end == first, "read_committed end offsets must be the LSO"
    # read_uncommitted sees the open transaction and what follows it
    ru = cf_read_all(b, topic, READ_UNCOMMITTED)
    assert sorted(values(ru)) == sorted(h.writes)

    pr.send("commit")
    h.add(pr.wait_for(lines_with("done"), 60, "commit"))
    assert h.outcomes == {"lso-t0": COMMITTED}
    rc_java = java_read_all(b, topic, READ_COMMITTED)
    rc_cf = cf_read_all(b, topic, READ_COMMITTED)
    assert_history_ok(h, [rc_java, rc_cf])
    assert sorted(values(rc_java)) == sorted(h.writes)
    for p in (0, 1):  # in log order: before, the transaction's records, after
        vs = [r.value for r in rc_java.records if r.partition == p]
        assert vs[0] == f"before-{p}" and vs[-1] == f"after-{p}" and len(vs) == 4, vs


# ---- zombie fencing ----------------------------------------------------------------------------

FENCED = {"ProducerFencedException", "InvalidProducerEpochException"}


def test_java_zombie_producer_is_fenced(broker):
    b, topic = broker.bootstrap, f"txn-fence-{uid()}"
    cf_create_topic(b, topic, 1)
    prefix = f"z{uid()}"
    lines = java_txn_fence(b, topic, f"fence-{uid()}", prefix)
    steps = {o["step"]: o for o in lines if "step" in o}
    assert steps["b-init"].get("ok"), steps
    # the zombie's write and commit after the new producer's InitProducerId fail ...
    assert steps["a-send2"].get("error") in FENCED, steps["a-send2"]
    assert steps["a-commit"].get("error") in FENCED, steps["a-commit"]
    # ... its abort is answered with PRODUCER_FENCED by the coordinator, and it can't start over
    assert steps["a-abort"].get("error") == "ProducerFencedException", steps["a-abort"]
    assert steps["a-retry"].get("error") == "ProducerFencedException", steps["a-retry"]
    h = History().add(lines)
    assert h.outcomes == {"A": ABORTED, "A2": ABORTED, "B": COMMITTED}, lines
    rc, ru = java_read_all(b, topic, READ_COMMITTED), cf_read_all(b, topic, READ_UNCOMMITTED)
    assert_history_ok(h, [rc, ru])
    assert values(rc) == [f"{prefix}-b1"]
    # a1 reached the log before the fencing (and was aborted by it); a2/a3 never did
    assert values(ru) == [f"{prefix}-a1", f"{prefix}-b1"]


def test_confluent_zombie_producer_is_fenced(broker):
    from confluent_kafka import KafkaError, KafkaException, Producer

    b, topic = broker.bootstrap, f"txn-fence-cf-{uid()}"
    cf_create_topic(b, topic, 1)
    txn_id = f"cf-fence-{uid()}"
    conf = {"bootstrap.servers": b, "transactional.id": txn_id, "linger.ms": 5}
    zombie, successor = Producer(conf), Producer(conf)
    acks = []

    def on_delivery(err, msg):
        acks.append((msg.value().decode(), err, msg.offset()))

    zombie.init_transactions(30)
    zombie.begin_transaction()
    zombie.produce(topic, value=b"zombie-1", partition=0, on_delivery=on_delivery)
    assert zombie.flush(30) == 0
    assert acks[0][1] is None

    successor.init_transactions(30)  # fences the zombie and aborts its transaction

    fenced = (KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH)
    errors = []
    try:
        # No delivery callback here: with confluent-kafka 2.16 (not 2.12) the fenced
        # produce's fatal error is raised inside flush() before the delivery
        # callback runs, so any callback dies of a SystemError. That zombie-2 was
        # never written is checked on the log below (read_uncommitted).
        zombie.produce(topic, value=b"zombie-2", partition=0)
        zombie.flush(30)
        zombie.commit_transaction(30)
    except KafkaException as e:
        errors.append(e.args[0])
    assert errors, "the fenced producer committed"
    assert errors[0].code() in fenced and errors[0].fatal(), errors[0]
    with pytest.raises(KafkaException) as exc:
        zombie.abort_transaction(30)
    assert exc.value.args[0].fatal()
    assert len(acks) == 1, acks

    successor.begin_transaction()
    successor.produce(topic, value=b"successor-1", partition=0)
    successor.commit_transaction(30)

    h = History()
    h.writes["zombie-1"] = Write("zombie-1", 0, acks[0][2], "zombie")
    h.writes["zombie-2"] = Write("zombie-2", txn="zombie")
    h.writes["successor-1"] = Write("successor-1", txn="successor")
    h.outcomes.update(zombie=ABORTED, successor=COMMITTED)
    rc_cf, rc_java, ru = (cf_read_all(b, topic, READ_COMMITTED), java_read_all(b, topic, READ_COMMITTED),
                          cf_read_all(b, topic, READ_UNCOMMITTED))
    assert_history_ok(h, [rc_cf, rc_java, ru])
    assert values(rc_cf) == values(rc_java) == ["successor-1"]
    assert values(ru) == ["zombie-1", "successor-1"]


# ---- transaction timeout --------------------------------------------------------------------------

TXN_TIMEOUT_MS = 8000


def test_broker_aborts_transaction_of_killed_producer_after_timeout(broker, procs):
    b, topic = broker.bootstrap, f"txn-timeout-{uid()}"
    cf_create_topic(b, topic, 1)
    txn_id = f"timeout-{uid()}"
    h = History()
    plain(b, topic, h, ("before", 0))
    pr = procs(java_cmd(b, "txn-produce", topic, txn_id, "dead", "O", 3, "--partitions=1",
                        f"transaction.timeout.ms={TXN_TIMEOUT_MS}"), "txn-produce O")
    h.add(pr.wait_for(lines_with("open"), 60, "open transaction"))
    opened = time.monotonic()
    pr.kill9()
    plain(b, topic, h, ("after", 0))

    # held back while the dead producer's transaction is still open
    early = cf_read_all(b, topic, READ_COMMITTED)
    held_for = time.monotonic() - opened
    assert held_for < TXN_TIMEOUT_MS / 1000, f"too slow to observe the open transaction ({held_for:.1f}s)"
    assert early.complete and values(early) == ["before"]

    # the broker times it out and writes an abort marker: read_committed moves past it
    deadline = opened + TXN_TIMEOUT_MS / 1000 + 60
    while True:
        rc = cf_read_all(b, topic, READ_COMMITTED)
        if "after" in values(rc):
            break
        assert time.monotonic() < deadline, "the timed-out transaction was never aborted"
        time.sleep(0.5)
    released_after = time.monotonic() - opened
    assert released_after >= TXN_TIMEOUT_MS / 1000 / 2, f"aborted after {released_after:.1f}s, before its timeout"
    assert values(rc) == ["before", "after"]

    rc_java, ru = java_read_all(b, topic, READ_COMMITTED), java_read_all(b, topic, READ_UNCOMMITTED)
    assert_history_ok(h, [rc, rc_java, ru])
    assert values(rc_java) == ["before", "after"]
    assert values(ru) == ["before", "dead-t0-r0", "dead-t0-r1", "dead-t0-r2", "after"]
    desc = java_txn_admin(b, "describe", txn_id)[0]
    assert desc["state"] == "COMPLETE_ABORT" and desc["partitions"] == [], desc


# ---- consume-transform-produce --------------------------------------------------------------------

def input_topic(b, name, k, partitions=3):
    cf_create_topic(b, name, partitions)
    vals = [f"in-{i:05d}" for i in range(k)]
    assert_all_sent(cf_produce(b, name, [Rec(v.encode(), v.encode(), partition=i % partitions)
                                         for i, v in enumerate(vals)]), k)
    return vals


def copy_history(vals, partitions=3):
    h = History()
    for i, v in enumerate(vals):
        h.writes["copy:" + v] = Write("copy:" + v, i % partitions, None, "copy")
    h.outcomes["copy"] = COMMITTED
    return h


def committed_offsets(b, group, topic, partitions=3):
    from confluent_kafka import TopicPartition

    c = cf_consumer(b, **{"group.id": group})
    try:
        return {tp.partition: tp.offset for tp in c.committed([TopicPartition(topic, p) for p in range(partitions)],
                                                               timeout=20)}
    finally:
        c.close()


def test_java_consume_transform_produce_exactly_once_across_sigkills(broker, procs):
    b, suffix = broker.bootstrap, uid()
    src, dst, group, txn_id = f"ctp-in-{suffix}", f"ctp-out-{suffix}", f"ctp-{suffix}", f"copier-{suffix}"
    k = 2000
    vals = input_topic(b, src, k)
    cf_create_topic(b, dst, 3)
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    kills, runs = 0, 0
    while True:
        runs += 1
        assert runs <= 12, f"copier never finished (seed {seed})"
        pr = procs(java_cmd(b, "txn-copy", src, dst, group, txn_id, "--batch=50"), f"copier #{runs}")
        if kills < 4:
            # SIGKILL right after a batch was flushed into the output topic, before its commit
            n = rng.randint(1, 4)
            lines = pr.wait_for(lambda ls: sum("sent" in o for o in ls) >= n or any(o.get("done") for o in ls),
                                90, f"{n} flushed batches")
            if not any(o.get("done") for o in lines):
                pr.kill9()
                kills += 1
                continue
        pr.wait_for(lines_with("done"), 120, "the end of the input")
        assert pr.wait(30) == 0
        break
    assert kills == 4, f"copier finished before it could be killed 4 times (seed {seed})"

    h = copy_history(vals)
    rc_java, rc_cf = java_read_all(b, dst, READ_COMMITTED), cf_read_all(b, dst, READ_COMMITTED)
    assert rc_java.complete and rc_cf.complete
    rep = assert_history_ok(h, [rc_java, rc_cf])  # no loss, no duplicates, nothing foreign
    assert rep.ok and len(rc_java.records) == k, f"seed {seed}"
    # the killed copiers' open transactions did reach the log, and were aborted
    ru = java_read_all(b, dst, READ_UNCOMMITTED)
    assert set(values(ru)) == set(h.writes)
    assert len(ru.records) > k, f"no aborted copy in the log: the kills missed every open transaction (seed {seed})"
    assert h.check([ru]).duplicate, "the checker must see the aborted copies as duplicates"
    # the consumed offsets were committed with the transactions: the group is at the input's end
    ends = java_read_all(b, src, READ_UNCOMMITTED).end
    assert committed_offsets(b, group, src) == ends


def test_confluent_consume_transform_produce_with_an_aborted_batch(broker):
    from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

    b, suffix = broker.bootstrap, uid()
    src, dst, group = f"cfctp-in-{suffix}", f"cfctp-out-{suffix}", f"cfctp-{suffix}"
    k = 600
    vals = input_topic(b, src, k)
    cf_create_topic(b, dst, 3)
    producer = Producer({"bootstrap.servers": b, "transactional.id": f"cfcopy-{suffix}", "linger.ms": 5})
    producer.init_transactions(30)
    consumer = Consumer({"bootstrap.servers": b, "group.id": group, "isolation.level": "read_committed",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest", "fetch.wait.max.ms": 100})
    try:
        consumer.subscribe([src])
        copied, batches, aborted_batch = 0, 0, []
        deadline = time.monotonic() + 90
        while copied < k:
            assert time.monotonic() < deadline, f"copied {copied}/{k}"
            msgs = consumer.consume(100, 0.5)
            if not msgs:
                continue
            assert not [m.error() for m in msgs if m.error()]
            producer.begin_transaction()
            for m in msgs:
                producer.produce(dst, key=m.key(), value=b"copy:" + m.value(), partition=m.partition())
            producer.send_offsets_to_transaction(consumer.position(consumer.assignment()),
                                                 consumer.consumer_group_metadata(), 30)
            batches += 1
            if batches == 2:  # abort this one: its copies and offsets must vanish, then redo it
                assert producer.flush(30) == 0
                producer.abort_transaction(30)
                aborted_batch = [m.value().decode() for m in msgs]
                committed = consumer.committed(consumer.assignment(), timeout=20)
                for tp in committed:
                    consumer.seek(TopicPartition(tp.topic, tp.partition, tp.offset if tp.offset >= 0 else OFFSET_BEGINNING))
                continue
            producer.commit_transaction(30)
            copied += len(msgs)
    finally:
        consumer.close()
    assert aborted_batch

    h = copy_history(vals)
    rc_cf, rc_java = cf_read_all(b, dst, READ_COMMITTED), java_read_all(b, dst, READ_COMMITTED)
    assert_history_ok(h, [rc_cf, rc_java])
    assert len(rc_cf.records) == k
    ru = cf_read_all(b, dst, READ_UNCOMMITTED)
    assert len(ru.records) == k + len(aborted_batch)
    assert committed_offsets(b, group, src) == java_read_all(b, src, READ_UNCOMMITTED).end


# ---- admin --------------------------------------------------------------------------------------

def test_admin_lists_and_describes_an_ongoing_transaction(broker, procs):
    b, topic = broker.bootstrap, f"txn-admin-{uid()}"
    cf_create_topic(b, topic, 2)
    txn_id = f"admin-{uid()}"
    pr = procs(java_cmd(b, "txn-produce", topic, txn_id, "adm", "W", 4, "--partitions=2",
                        "transaction.timeout.ms=45000"), "txn-produce W")
    h = History().add(pr.wait_for(lines_with("waiting"), 60, "open transaction"))
    first = {p: min(w.offset for w in h.writes.values() if w.partition == p) for p in (0, 1)}

    listed = [t for t in java_txn_admin(b, "list")[0]["transactions"] if t["id"] == txn_id]
    assert len(listed) == 1 and listed[0]["state"] == "ONGOING", listed
    desc = java_txn_admin(b, "describe", txn_id)[0]
    assert desc["state"] == "ONGOING", desc
    assert sorted(map(tuple, desc["partitions"])) == [(topic, 0), (topic, 1)]
    assert desc["producerId"] == listed[0]["producerId"] >= 0
    assert desc["timeoutMs"] == 45000 and desc["startTimeMs"] is not None
    for p in (0, 1):
        prods = java_txn_admin(b, "producers", topic, p)[0]["producers"]
        mine = [x for x in prods if x["producerId"] == desc["producerId"]]
        assert len(mine) == 1, prods
        assert mine[0]["txnStartOffset"] == first[p], (mine, first)
        assert mine[0]["producerEpoch"] == desc["producerEpoch"]
        assert mine[0]["lastSequence"] == 1  # two records per partition: sequences 0 and 1

    pr.send("commit")
    pr.wait_for(lines_with("done"), 60, "commit")
    desc = java_txn_admin(b, "describe", txn_id)[0]
    assert desc["state"] == "COMPLETE_COMMIT" and desc["partitions"] == [], desc
    prods = java_txn_admin(b, "producers", topic, 0)[0]["producers"]
    assert [x["txnStartOffset"] for x in prods if x["producerId"] == desc["producerId"]] == [None], prods
