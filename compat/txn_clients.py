"""Transaction drivers for the compat suite, all feeding one ``History`` for compat/checker.py.

Every transactional producer (Java ``txn-produce``/``txn-fence`` in java/TxnModes.java,
franz-go ``txn-produce`` in go/main.go, and confluent-kafka here) reports the same JSON
lines: ``{"txn","begin","values"}``, ``{"txn","value","partition","offset"}`` per ack,
``{"txn","committing"}``, ``{"txn","outcome"}``. ``History.add`` turns them into checker
writes and outcomes: a transaction that began but printed no outcome counts as never
committed (ABORTED) unless it had started committing (UNKNOWN).

Long-running clients (a transaction held open, a copier that gets SIGKILLed) run as a
``Proc`` under the ``procs`` fixture, which kills whatever is left when the test ends.
"""

import json
import os
import signal
import subprocess
import threading
import time

import pytest

from checker import ABORTED, COMMITTED, READ_COMMITTED, UNKNOWN, Read, Record, Write
from jvm import client_cmd
from clients import FRANZ, ROOT, cf_consumer, cf_partitions, json_lines, run


class History:
    def __init__(self):
        self.writes = {}  # value -> Write
        self.outcomes = {}  # txn -> outcome
        self.committing = set()
        self.txns = {}  # txn -> [values]

    def add(self, objs, ns=""):
        """Feed driver lines; `ns` namespaces transaction names (e.g. the fencing driver's "A")."""
        for o in objs:
            txn = o.get("txn")
            if txn is None:
                continue
            txn = ns + txn
            if o.get("begin"):
                self.txns[txn] = list(o["values"])
                for v in o["values"]:
                    self.writes.setdefault(v, Write(v, txn=txn))
            elif "value" in o and "offset" in o:
                w = self.writes.setdefault(o["value"], Write(o["value"], txn=txn))
                w.partition, w.offset = o["partition"], o["offset"]
            elif o.get("committing"):
                self.committing.add(txn)
            elif "outcome" in o:
                self.outcomes[txn] = o["outcome"]
        for txn in self.txns:
            if txn not in self.outcomes:
                self.outcomes[txn] = UNKNOWN if txn in self.committing else ABORTED
        return self

    def plain(self, value, partition, offset):
        """A non-transactional acknowledged write."""
        self.writes[value] = Write(value, partition, offset)

    def values(self, outcome):
        return {v for v, w in self.writes.items() if w.txn is not None and self.outcomes.get(w.txn) == outcome}

    def check(self, reads, **kw):
        from checker import check
        return check(list(self.writes.values()), self.outcomes, reads, **kw)


def assert_history_ok(history, reads, **kw):
    rep = history.check(reads, **kw)
    assert rep.ok, str(rep)
    return rep


# ---- processes ---------------------------------------------------------------------------

class Proc:
    """A driver process whose JSON stdout lines are collected by a thread as they come."""

    def __init__(self, cmd, name):
        self.name = name
        self.lines = []
        self.cond = threading.Condition()
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, cwd=ROOT, start_new_session=True)
        self.stderr = []
        threading.Thread(target=self._pump, daemon=True).start()
        threading.Thread(target=lambda: self.stderr.extend(self.p.stderr), daemon=True).start()

    def _pump(self):
        for line in self.p.stdout:
            line = line.strip()
            if line.startswith("{"):
                with self.cond:
                    self.lines.append(json.loads(line))
                    self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def snapshot(self):
        with self.cond:
            return list(self.lines)

    def wait_for(self, pred, timeout, what="condition"):
        """Wait until pred(lines) is true; fail with the output so far if the deadline passes or the process exits."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while not pred(self.lines):
                left = deadline - time.monotonic()
                if left <= 0 or (self.p.poll() is not None and not pred(self.lines)):
                    if self.p.poll() is not None:  # let the pump drain
                        self.cond.wait(0.5)
                        if pred(self.lines):
                            return list(self.lines)
                    raise AssertionError(
                        f"{self.name}: no {what} within {timeout}s (exit {self.p.poll()})\n"
                        f"last lines: {self.lines[-8:]}\nstderr: {''.join(self.stderr)[-2000:]}")
                self.cond.wait(min(left, 0.5))
            return list(self.lines)

    def send(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()

    def close_stdin(self):
        try:
            self.p.stdin.close()
        except OSError:
            pass

    def wait(self, timeout):
        rc = self.p.wait(timeout)
        self.wait_for(lambda ls: True, 1)
        return rc

    def kill9(self):
        try:
            os.killpg(self.p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.p.wait(10)


@pytest.fixture
def procs():
    """Start driver processes; every one still running is SIGKILLed when the test ends."""
    started = []

    def start(cmd, name):
        pr = Proc([str(c) for c in cmd], name)
        started.append(pr)
        return pr

    yield start
    for pr in started:
        if pr.p.poll() is None:
            pr.kill9()


def java_cmd(bootstrap, *args):
    return client_cmd(bootstrap, *args)


def lines_with(key, value=True):
    return lambda ls: [o for o in ls if o.get(key) == value]


def outcomes_in(lines, outcome):
    return [o for o in lines if o.get("outcome") == outcome]


# ---- one-shot drivers ----------------------------------------------------------------------

def java_txn_produce(bootstrap, topic, txn_id, prefix, pattern, per_txn, *opts, timeout=120):
    p = run(java_cmd(bootstrap, "txn-produce", topic, txn_id, prefix, pattern, per_txn, *opts), timeout=timeout)
    return json_lines(p.stdout)


def java_txn_fence(bootstrap, topic, txn_id, prefix):
    return json_lines(run(java_cmd(bootstrap, "txn-fence", topic, txn_id, prefix)).stdout)


def java_txn_admin(bootstrap, *args):
    out = json_lines(run(java_cmd(bootstrap, "txn-admin", *args)).stdout)
    for o in out:
        assert "error" not in o, o
    return out


def franz_txn_produce(bootstrap, topic, txn_id, prefix, pattern, per_txn, partitions=0, fail_topic=None):
    extra = ["-fail-topic", fail_topic] if fail_topic else []
    p = run([str(FRANZ), "-b", bootstrap, "txn-produce", "-topic", topic, "-txn-id", txn_id, "-prefix", prefix,
             "-pattern", pattern, "-per-txn", str(per_txn), "-partitions", str(partitions), *extra])
    return json_lines(p.stdout)


def java_read_all(bootstrap, topic, isolation=READ_COMMITTED, timeout_ms=30000):
    """Read every partition from the beginning to its end offset (LSO for read_committed)."""
    objs = json_lines(run(java_cmd(bootstrap, "read-all", topic, isolation, timeout_ms),
                          timeout=timeout_ms / 1000 + 60).stdout)
    errors = [o for o in objs if "error" in o]
    assert not errors, errors
    done = objs[-1]
    assert done.get("done"), objs[-3:]
    read = Read(f"java-{isolation}", isolation, [Record(o["partition"], o["offset"], o["value"]) for o in objs[:-1]],
                complete=done["complete"])
    read.end = {int(p): o for p, o in done["end"].items()}
    return read


def cf_read_all(bootstrap, topic, isolation=READ_COMMITTED, timeout_s=30):
    """librdkafka: read every partition from the beginning until it reports EOF (at the LSO
    for read_committed, at the high watermark for read_uncommitted)."""
    from confluent_kafka import OFFSET_BEGINNING, KafkaError, TopicPartition

    c = cf_consumer(bootstrap, **{"isolation.level": isolation, "enable.partition.eof": True})
    try:
        parts = cf_partitions(c, topic)
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
        records, eof = [], set()
        deadline = time.monotonic() + timeout_s
        while len(eof) < len(parts) and time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    eof.add(m.partition())
                    continue
                raise AssertionError(f"consume error: {m.error()}")
            eof.discard(m.partition())
            records.append(Record(m.partition(), m.offset(), m.value().decode()))
        return Read(f"cf-{isolation}", isolation, records, complete=len(eof) == len(parts))
    finally:
        c.close()


def cf_txn_produce(bootstrap, topic, txn_id, prefix, pattern, per_txn, partitions=0, **conf):
    """confluent-kafka's transactions API, printing nothing but returning driver-style lines."""
    from confluent_kafka import Producer

    base = {"bootstrap.servers": bootstrap, "transactional.id": txn_id, "linger.ms": 5}
    base.update(conf)
    p = Producer(base)
    lines = []
    p.init_transactions(30)
    lines.append({"init": True})
    for i, kind in enumerate(pattern):
        txn = f"{prefix}-t{i}"
        values = [f"{txn}-r{j}" for j in range(per_txn)]
        p.begin_transaction()
        lines.append({"txn": txn, "begin": True, "values": values})
        acks = []

        def on_delivery(err, msg, acks=acks):
            assert err is None, err
            acks.append({"txn": txn, "value": msg.value().decode(), "partition": msg.partition(),
                         "offset": msg.offset()})

        for j, v in enumerate(values):
            kw = {"partition": j % partitions} if partitions else {}
            p.produce(topic, key=v.encode(), value=v.encode(), on_delivery=on_delivery, **kw)
        assert p.flush(30) == 0
        lines.extend(acks)
        if kind == "C":
            lines.append({"txn": txn, "committing": True})
            p.commit_transaction(30)
            lines.append({"txn": txn, "outcome": COMMITTED})
        else:
            p.abort_transaction(30)
            lines.append({"txn": txn, "outcome": ABORTED})
    return lines
