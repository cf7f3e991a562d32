"""Exactly-once consume -> transform -> produce pipelines whose group rebalances mid-stream.

Several pipeline members (each its own process, transactional id and group member) join
and leave a consumer group while input records keep arriving. Each member copies what it
is assigned, record by record, into an output topic inside transactions that also commit
the consumed offsets (KIP-447: the group's generation / member epoch fences a member that
lost its partitions). Whatever the rebalances do, a read_committed reader of the output
must see every input record exactly once, and nothing from an aborted transaction.

Drivers: franz-go's ``GroupTransactSession`` (``franz-compat txn-pipeline``, go/pipeline.go)
and the Java client's ``sendOffsetsToTransaction(offsets, consumer.groupMetadata())``
(``CompatClient txn-pipeline``, java/TxnModes.java). Judged by compat/checker.py.
"""

import threading
import time

import pytest

from checker import COMMITTED, READ_COMMITTED, READ_UNCOMMITTED, Write
from clients import FRANZ, Rec, assert_all_sent, cf_create_topic, cf_produce
from test_transactions import broker, committed_offsets, uid  # noqa: F401  (broker is a fixture)
from txn_clients import History, assert_history_ok, cf_read_all, java_cmd, java_read_all, procs  # noqa: F401

pytestmark = pytest.mark.txn

PARTITIONS = 6


class Feeder:
    """Writes input records at a steady pace from a thread until stopped, so members join
    and leave while records flow; value i goes to partition i % PARTITIONS."""

    def __init__(self, bootstrap, topic, first, per_second, limit=20000):
        self.bootstrap, self.topic = bootstrap, topic
        self.first, self.per_second, self.limit = first, per_second, limit
        self.written = 0
        self.error = None
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            step = 20
            while not self.stopping.is_set() and self.written < self.limit:
                at = self.first + self.written
                recs = [Rec(f"in-{i:05d}".encode(), f"in-{i:05d}".encode(), partition=i % PARTITIONS)
                        for i in range(at, at + step)]
                assert_all_sent(cf_produce(self.bootstrap, self.topic, recs), len(recs))
                self.written += step
                self.stopping.wait(step / self.per_second)
        except Exception as e:  # reported by stop()
            self.error = e

    def stop(self, timeout=60):
        """Stops writing; returns how many records it wrote."""
        self.stopping.set()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "input feeder did not stop"
        assert self.error is None, self.error
        return self.written


def franz_member(b, src, dst, group, name, balancer, protocol, static):
    cmd = [FRANZ, "-b", b, "txn-pipeline", "-topic", src, "-out", dst, "-group", group,
           "-txn-id", f"{group}-{name}", "-balancer", balancer, "-protocol", protocol, "-batch", 20]
    if static:
        cmd += ["-instance-id", name]
    return cmd


def java_member(b, src, dst, group, name, balancer, protocol, static):
    props = [f"group.protocol={protocol}"]
    if protocol == "classic":
        strategy = {"range": "org.apache.kafka.clients.consumer.RangeAssignor",
                    "cooperative-sticky": "org.apache.kafka.clients.consumer.CooperativeStickyAssignor"}[balancer]
        props.append(f"partition.assignment.strategy={strategy}")
    else:
        props.append(f"group.remote.assignor={'uniform' if balancer == 'cooperative-sticky' else balancer}")
    if static:
        props.append(f"group.instance.id={name}")
    return java_cmd(b, "txn-pipeline", src, dst, group, f"{group}-{name}", "--batch=20", *props)


def committed_txns(pr):
    return sum(1 for o in pr.snapshot() if o.get("committed") is True)


def run_pipeline(broker, procs, member_cmd, balancer, protocol, static):
    b, suffix = broker.bootstrap, uid()
    src, dst, group = f"pipe-in-{suffix}", f"pipe-out-{suffix}", f"pipe-{suffix}"
    cf_create_topic(b, src, PARTITIONS)
    cf_create_topic(b, dst, PARTITIONS)
    initial = 300
    assert_all_sent(cf_produce(b, src, [Rec(f"in-{i:05d}".encode(), f"in-{i:05d}".encode(), partition=i % PARTITIONS)
                                        for i in range(initial)]), initial)
    feeder = Feeder(b, src, initial, per_second=100)  # input keeps arriving during the rebalances
    members = {}

    def start(name):
        members.setdefault(name, []).append(
            procs(member_cmd(b, src, dst, group, name, balancer, protocol, static), f"member {name}"))
        return members[name][-1]

    def everyone():
        return {f"{name}#{i}": (pr.snapshot()[-6:], "".join(pr.stderr)[-1500:])
                for name, runs in members.items() for i, pr in enumerate(runs)}

    def progress(pr, n, what):
        base = committed_txns(pr)
        try:
            pr.wait_for(lambda ls: sum(1 for o in ls if o.get("committed") is True) >= base + n, 90, what)
        except AssertionError as e:
            raise AssertionError(f"{e}\nall members: {everyone()}") from None

    def leave(pr):
        pr.close_stdin()
        pr.wait_for(lambda ls: any(o.get("done") for o in ls), 60, "a graceful leave")
        assert pr.wait(30) == 0, pr.snapshot()[-5:]

    a = start("a")
    progress(a, 2, "member a's first transactions")
    bm = start("b")
    progress(bm, 2, "member b's first transactions after joining")
    c = start("c")
    progress(c, 2, "member c's first transactions after joining")
    leave(a)
    progress(bm, 2, "member b's transactions after a left")
    if static:  # a static member comes back under its instance id (and its transactional id)
        a = start("a")
        progress(a, 2, "member a's transactions after coming back")
        leave(a)
    leave(bm)
    total = initial + feeder.stop()
    # c alone drains the rest; wait until the group's committed offsets reach the input's end
    ends = java_read_all(b, src, READ_UNCOMMITTED).end
    assert sum(ends.values()) == total
    deadline = time.monotonic() + 120
    while committed_offsets(b, group, src, PARTITIONS) != ends:
        assert time.monotonic() < deadline, (committed_offsets(b, group, src, PARTITIONS), ends,
                                             c.snapshot()[-5:], "".join(c.stderr)[-2000:])
        assert c.p.poll() is None, (c.snapshot()[-5:], "".join(c.stderr)[-2000:])
        time.sleep(1)
    leave(c)

    for name, runs in members.items():
        for pr in runs:
            errors = [o for o in pr.snapshot() if "error" in o]
            assert not errors, (name, errors, "".join(pr.stderr)[-2000:])

    history = History()
    for i in range(total):
        v = f"copy:in-{i:05d}"
        history.writes[v] = Write(v, i % PARTITIONS, None, "copy")
    history.outcomes["copy"] = COMMITTED
    rc_java, rc_cf = java_read_all(b, dst, READ_COMMITTED), cf_read_all(b, dst, READ_COMMITTED)
    assert rc_java.complete and rc_cf.complete
    assert_history_ok(history, [rc_java, rc_cf])  # every input exactly once, nothing aborted, nothing foreign
    assert len(rc_java.records) == total
    aborted = sum(1 for runs in members.values() for pr in runs for o in pr.snapshot() if o.get("committed") is False)
    return aborted


SHAPES = [
    ("range", "classic", False),
    ("cooperative-sticky", "classic", False),
    ("cooperative-sticky", "classic", True),
    ("range", "consumer", False),
]
IDS = ["range", "cooperative-sticky", "static", "kip848"]


@pytest.mark.parametrize("balancer,protocol,static", SHAPES, ids=IDS)
def test_franz_group_transact_session_across_rebalances(broker, procs, balancer, protocol, static):
    run_pipeline(broker, procs, franz_member, balancer, protocol, static)


@pytest.mark.parametrize("balancer,protocol,static", SHAPES, ids=IDS)
def test_java_send_offsets_to_transaction_across_rebalances(broker, procs, balancer, protocol, static):
    run_pipeline(broker, procs, java_member, balancer, protocol, static)
