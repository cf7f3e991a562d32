"""Transactions across a broker crash: producers run transactions while the broker is
killed with SIGKILL and restarted on the same data dir. Every transaction a producer saw
commit must be visible exactly once to read_committed consumers, aborted ones never,
transactions whose commit was in flight all or nothing, and a transaction left open by
a producer that died with the broker is aborted by the restarted broker once it times out.
Needs process control (skipped with COMPAT_BOOTSTRAP); marked `txn`. Bounded well under 3 min.
"""

import time
import uuid

import pytest

from checker import ABORTED, COMMITTED, READ_COMMITTED, READ_UNCOMMITTED, UNKNOWN
from clients import Rec, assert_all_sent, cf_create_topic, cf_produce
from conftest import SERVER_KIND, kafka_ref_version
from txn_clients import History, assert_history_ok, cf_read_all, java_cmd, java_read_all, lines_with, procs  # noqa: F401

pytestmark = pytest.mark.txn

# Apache Kafka 4.4.0 (not 4.1.0, 2 of 2 runs clean) loses transaction markers across a
# SIGKILL restart: the restarted transaction coordinator aborts the timed-out
# transaction before the data topic is in the broker's metadata cache, logs "Couldn't
# find leader endpoint for partitions [...] likely deleted already and hence can be
# skipped" and drops those partitions' abort markers. The aborted records stay in the
# log unmarked: read_committed hangs behind them (the kill9 test, 4 of 6 runs), or the
# producer's next transaction's commit marker commits them (transaction.version 2; the
# copy test, 20-40 duplicates in 5 of 5 runs, seen with DumpLogSegments). The checks
# are right; the reference broker fails them. Gregor must still pass.
kafka_4_4_drops_markers = pytest.mark.xfail(
    SERVER_KIND == "kafka" and kafka_ref_version().startswith("4.4."),
    reason="Kafka 4.4.0 drops abort markers for partitions not yet in its metadata cache after a restart",
    strict=False)

BROKER_SETTINGS = {
    "transaction.abort.timed.out.transaction.cleanup.interval.ms": 1000,
    "group.initial.rebalance.delay.ms": 0,
}
OPEN_TIMEOUT_MS = 6000
OUTAGE_S = 4


def committed_since(start):
    return lambda ls: sum(o.get("outcome") == COMMITTED for o in ls[start:]) >= 3


@kafka_4_4_drops_markers
def test_broker_kill9_during_transactions(broker_factory, procs):
    srv = broker_factory(BROKER_SETTINGS)
    b, suffix = srv.bootstrap, uuid.uuid4().hex[:6]
    topic = f"txn-crash-{suffix}"
    cf_create_topic(b, topic, 3)

    # producer 0 rides out the outage on the client's own retries; producer 1 has timeouts
    # shorter than the outage, so its transaction in flight fails and it starts over with a
    # new producer (InitProducerId against the recovered coordinator)
    patient = ["request.timeout.ms=5000", "delivery.timeout.ms=30000", "max.block.ms=30000"]
    impatient = ["request.timeout.ms=1500", "delivery.timeout.ms=3000", "max.block.ms=2000"]
    workers = [procs(java_cmd(b, "txn-produce", topic, f"crash-{i}-{suffix}", f"w{i}", "CCA", 6, "--partitions=3",
                              "--until-stop", "--robust", "transaction.timeout.ms=15000", *conf), f"producer {i}")
               for i, conf in enumerate((patient, impatient))]
    doomed = procs(java_cmd(b, "txn-produce", topic, f"crash-open-{suffix}", "open", "O", 6, "--partitions=3",
                            f"transaction.timeout.ms={OPEN_TIMEOUT_MS}"), "open producer")
    for w in workers:
        w.wait_for(committed_since(0), 90, "3 commits before the crash")
    doomed.wait_for(lines_with("open"), 60, "an open transaction")

    doomed.kill9()  # its transaction stays open in the broker's state
    srv.kill9()
    time.sleep(OUTAGE_S)  # fault injection: stay down longer than producer 1's timeouts
    srv.start()
    marks = [len(w.snapshot()) for w in workers]
    for w, mark in zip(workers, marks):
        w.wait_for(committed_since(mark), 120, "3 commits after the restart")
    for w in workers:
        w.send("stop")
        w.close_stdin()
    for w in workers:
        w.wait_for(lines_with("done"), 60, "a clean stop")
        assert w.wait(30) == 0

    h = History()
    for w in workers:
        h.add(w.snapshot())
    h.add(doomed.snapshot())
    assert h.outcomes["open-t0"] == ABORTED

    # a committed sentinel after everything on every partition: once read_committed sees them
    # all, no transaction before them is open any more (the dead producer's one timed out)
    sentinels = [(f"sentinel-{p}", p) for p in range(3)]
    sent = cf_produce(b, topic, [Rec(v.encode(), v.encode(), partition=p) for v, p in sentinels])
    assert_all_sent(sent, 3)
    for (v, _), s in zip(sentinels, sent):
        h.plain(v, s.partition, s.offset)
    deadline = time.monotonic() + OPEN_TIMEOUT_MS / 1000 + 60
    while True:
        rc_cf = cf_read_all(b, topic, READ_COMMITTED)
        if {v for v, _ in sentinels} <= set(r.value for r in rc_cf.records):
            break
        assert time.monotonic() < deadline, "read_committed never got past the open transaction"
        time.sleep(0.5)

    rc_java = java_read_all(b, topic, READ_COMMITTED)
    ru = java_read_all(b, topic, READ_UNCOMMITTED)
    assert rc_cf.complete and rc_java.complete and ru.complete
    rep = assert_history_ok(h, [rc_cf, rc_java, ru])
    assert rep.ok
    # the open transaction's records survived the crash in the log, and were aborted
    ru_values = {r.value for r in ru.records}
    assert set(h.txns["open-t0"]) <= ru_values
    counts = {o: sum(v == o for t, v in h.outcomes.items() if t != "open-t0") for o in (COMMITTED, ABORTED, UNKNOWN)}
    assert counts[COMMITTED] >= 12, counts
    # producer 1 did lose its transaction in flight and re-initialised
    inits = [sum(o.get("init") is True for o in w.snapshot()) for w in workers]
    assert inits[1] >= 2, f"producer 1 never re-initialised: {inits}"
    errors = [o for w in workers for o in w.snapshot() if "error" in o]
    print(f"outcomes: {counts}; inits {inits}; errors seen by the producers: {len(errors)} {errors[:6]}")


@kafka_4_4_drops_markers
def test_copy_is_exactly_once_across_broker_kills(broker_factory, procs):
    """Consume-transform-produce (Java, one transaction per batch with its offsets) while the
    broker is killed with SIGKILL twice mid-copy; a copier that dies of the outage is
    restarted, as a supervisor would. Every input is in the output exactly once for
    read_committed consumers, and the group ends at the input's end."""
    from test_transactions import committed_offsets, copy_history, input_topic

    srv = broker_factory(BROKER_SETTINGS)
    b, suffix = srv.bootstrap, uuid.uuid4().hex[:6]
    src, dst, group, txn_id = f"ectp-in-{suffix}", f"ectp-out-{suffix}", f"ectp-{suffix}", f"ecopier-{suffix}"
    k = 4000
    vals = input_topic(b, src, k)
    cf_create_topic(b, dst, 3)
    conf = ["request.timeout.ms=5000", "delivery.timeout.ms=20000", "max.block.ms=20000",
            "transaction.timeout.ms=10000"]
    kills, runs = 0, 0
    while True:
        runs += 1
        assert runs <= 10, "the copier never finished"
        pr = procs(java_cmd(b, "txn-copy", src, dst, group, txn_id, "--batch=20", *conf), f"copier #{runs}")
        mark = 0
        while kills < 2:
            # a few more batches flushed since the last kill: transactions are in flight
            lines = pr.wait_for(
                lambda ls: sum("sent" in o for o in ls) >= mark + 3 or any(o.get("done") or o.get("error") for o in ls),
                90, "copying under way")
            if any(o.get("done") or o.get("error") for o in lines):
                break
            srv.kill9()
            kills += 1
            time.sleep(1)
            srv.start()
            mark = sum("sent" in o for o in pr.snapshot())
        # the copier either rides out the outages or exits with an error; either way it is
        # done with this run once it has said so
        finished = pr.wait_for(lambda ls: any(o.get("done") or o.get("error") for o in ls), 150,
                               "the copier to finish or fail")
        code = pr.wait(30)
        if any(o.get("done") for o in finished) and code == 0:
            break
    assert kills == 2, "the copier finished before the broker could be killed twice"

    h = copy_history(vals)
    rc_java, rc_cf = java_read_all(b, dst, READ_COMMITTED), cf_read_all(b, dst, READ_COMMITTED)
    assert rc_java.complete and rc_cf.complete
    rep = assert_history_ok(h, [rc_java, rc_cf])  # no loss, no duplicates, nothing foreign
    assert rep.ok and len(rc_java.records) == k
    ends = java_read_all(b, src, READ_UNCOMMITTED).end
    assert committed_offsets(b, group, src) == ends
