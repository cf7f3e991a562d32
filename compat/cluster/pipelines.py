"""Exactly-once consume-transform-produce pipeline members for test_eos.py.

Each member copies the records it is assigned from the input topic to its pipeline's
output topic, one transaction per poll batch that also commits the consumed offsets
(KIP-447: with the consumer's group metadata), every copy tagged with the transaction
that wrote it (eos.copy_value), and aborts every `abort_every`-th transaction on purpose
after flushing its copies (so aborted copies are in the log):

* java:       kafka-clients 4.4 (`CompatClient txn-pipeline`, java/TxnModes.java):
              sendOffsetsToTransaction(offsets, consumer.groupMetadata());
* franz:      franz-go's GroupTransactSession (`franz-compat txn-pipeline`, go/pipeline.go);
* librdkafka: confluent-kafka's send_offsets_to_transaction(..., consumer_group_metadata())
              in a thread here.

A member that dies of a fault (a fatal client error: a fenced or timed-out producer, a
coordinator that stayed away past a client timeout) is started again with the same
transactional id, as a supervisor would: the new incarnation's InitProducerId fences the
old one and aborts what it left open. Every incarnation has its own tag, so the checker
knows which transaction wrote each copy. Every reported line gets the wall-clock time
(ms) it arrived.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import eos
from clients import FRANZ
from jvm import client_cmd


def now_ms():
    return time.time() * 1000.0


class Member:
    """One pipeline member under supervision: incarnations started one after the other
    until stop(); lines of every incarnation collected as {"tag", "t", ...line}."""

    def __init__(self, pipeline, name, workdir, restart_delay_s=1.0):
        self.pipeline, self.name, self.workdir = pipeline, name, workdir
        self.lines = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.incarnations = []  # tags
        self.exits = []  # (tag, exit code, last stderr)
        self.restart_delay_s = restart_delay_s
        self.thread = threading.Thread(target=self._supervise, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def tag(self):
        return f"{self.pipeline}.{self.name}.{len(self.incarnations)}"

    def record(self, tag, obj):
        obj = dict(obj, tag=tag, t=now_ms())
        with self.lock:
            self.lines.append(obj)

    def snapshot(self):
        with self.lock:
            return list(self.lines)

    def _supervise(self):
        while not self.stopping.is_set():
            tag = self.tag()
            self.incarnations.append(tag)
            code, err = self.run_once(tag)
            self.exits.append((tag, code, err))
            if self.stopping.is_set():
                break
            self.record(tag, {"restart": True, "exit": code})
            self.stopping.wait(self.restart_delay_s)

    def run_once(self, tag):
        raise NotImplementedError

    def committed(self):
        return sum(1 for o in self.snapshot() if o.get("committed") is True)

    def txns(self):
        """eos.Txn of every reported transaction outcome."""
        out = []
        for o in self.snapshot():
            if "txn" not in o or "committed" not in o:
                continue
            committed = o["committed"] is True
            out.append(eos.Txn(self.pipeline, o["tag"], int(o["txn"]), eos.COMMITTED if committed else eos.ABORTED,
                               deliberate=o.get("reason") == "deliberate", records=o.get("records", 0),
                               offsets={int(p): v for p, v in (o.get("offsets") or {}).items()}, t=o["t"],
                               reason=o.get("reason")))
        return out

    def errors(self):
        return [o for o in self.snapshot() if "error" in o]


class ProcessMember(Member):
    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.proc = None

    def command(self, tag):
        raise NotImplementedError

    def run_once(self, tag):
        err_path = self.workdir / f"{tag}.err"
        with open(err_path, "wb") as err:
            self.proc = subprocess.Popen(list(map(str, self.command(tag))), stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=err, text=True, start_new_session=True)
            for line in self.proc.stdout:
                line = line.strip()
                if line.startswith("{"):
                    try:
                        self.record(tag, json.loads(line))
                    except ValueError:
                        pass
            code = self.proc.wait()
        return code, err_path.read_text(errors="replace")[-1500:]

    def stop(self, timeout=60):
        """Graceful: stdin closed, the member finishes its transaction and leaves."""
        self.stopping.set()
        proc = self.proc
        if proc is not None:
            try:
                proc.stdin.close()
            except OSError:
                pass
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        self.thread.join(30)

    def kill(self):
        self.stopping.set()
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)


class JavaMember(ProcessMember):
    def __init__(self, pipeline, name, workdir, bootstrap, src, dst, group, txn_id, batch, abort_every, txn_timeout_ms):
        super().__init__(pipeline, name, workdir)
        self.args = [bootstrap, "txn-pipeline", src, dst, group, txn_id, f"--batch={batch}",
                     f"--abort-every={abort_every}", f"--txn-timeout-ms={txn_timeout_ms}"]

    def command(self, tag):
        return client_cmd(*self.args, f"--tag={tag}", jvm=["-Xmx192m"])


class FranzMember(ProcessMember):
    def __init__(self, pipeline, name, workdir, bootstrap, src, dst, group, txn_id, batch, abort_every, txn_timeout_ms):
        super().__init__(pipeline, name, workdir)
        self.args = ["-b", bootstrap, "txn-pipeline", "-topic", src, "-out", dst, "-group", group, "-txn-id", txn_id,
                     "-batch", batch, "-abort-every", abort_every, "-txn-timeout-ms", txn_timeout_ms,
                     "-balancer", "cooperative-sticky"]

    def command(self, tag):
        return [FRANZ, *self.args, "-tag", tag]


class CfMember(ProcessMember):
    """confluent-kafka (librdkafka), cf_pipeline.py in its own process, so that a member
    stuck inside a librdkafka call can be killed and replaced: it prints {"alive"} at
    least every 2 s from its loop, and one silent for WATCHDOG_S gets SIGUSR1 (its
    Python stacks to its stderr, kept in the report) and then SIGKILL."""

    WATCHDOG_S = 90

    def __init__(self, pipeline, name, workdir, bootstrap, src, dst, group, txn_id, batch, abort_every, txn_timeout_ms):
        super().__init__(pipeline, name, workdir)
        self.args = [bootstrap, src, dst, group, txn_id, batch, abort_every, txn_timeout_ms]
        self.watchdog_kills = []
        threading.Thread(target=self._watchdog, daemon=True).start()

    def command(self, tag):
        return [sys.executable, Path(__file__).with_name("cf_pipeline.py"), *self.args, tag]

    def _watchdog(self):
        while not self.stopping.wait(5):
            proc = self.proc
            lines = self.snapshot()
            if proc is None or proc.poll() is not None or not lines:
                continue
            tag = self.incarnations[-1] if self.incarnations else None
            mine = [o for o in lines if o.get("tag") == tag]
            last = mine[-1]["t"] if mine else None
            if last is not None and now_ms() - last > self.WATCHDOG_S * 1000:
                self.watchdog_kills.append(tag)
                try:
                    os.kill(proc.pid, signal.SIGUSR1)
                    time.sleep(1)
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


KINDS = {"java": JavaMember, "franz": FranzMember, "librdkafka": CfMember}
