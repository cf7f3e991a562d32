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
import traceback

import eos
from clients import FRANZ, JAVA_CP


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
        return ["java", "-Xmx192m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-cp", JAVA_CP, "CompatClient",
                *self.args, f"--tag={tag}"]


class FranzMember(ProcessMember):
    def __init__(self, pipeline, name, workdir, bootstrap, src, dst, group, txn_id, batch, abort_every, txn_timeout_ms):
        super().__init__(pipeline, name, workdir)
        self.args = ["-b", bootstrap, "txn-pipeline", "-topic", src, "-out", dst, "-group", group, "-txn-id", txn_id,
                     "-batch", batch, "-abort-every", abort_every, "-txn-timeout-ms", txn_timeout_ms,
                     "-balancer", "cooperative-sticky"]

    def command(self, tag):
        return [FRANZ, *self.args, "-tag", tag]


class CfMember(Member):
    """confluent-kafka (librdkafka): the loop of its transactions example. An abortable
    error aborts and rewinds to the batch's first offsets; a retriable one retries the
    commit; anything else ends this incarnation (its transaction's outcome unknown) and a
    new producer and consumer take over."""

    def __init__(self, pipeline, name, workdir, bootstrap, src, dst, group, txn_id, batch, abort_every, txn_timeout_ms):
        super().__init__(pipeline, name, workdir)
        self.bootstrap, self.src, self.dst, self.group, self.txn_id = bootstrap, src, dst, group, txn_id
        self.batch, self.abort_every, self.txn_timeout_ms = batch, abort_every, txn_timeout_ms

    def run_once(self, tag):
        from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

        producer = consumer = None
        try:
            producer = Producer({"bootstrap.servers": self.bootstrap, "transactional.id": self.txn_id,
                                 "linger.ms": 5, "transaction.timeout.ms": self.txn_timeout_ms,
                                 "message.timeout.ms": min(self.txn_timeout_ms, 30000)})
            producer.init_transactions(60)
            self.record(tag, {"init": True})
            consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": self.group,
                                 "isolation.level": "read_committed", "enable.auto.commit": False,
                                 "auto.offset.reset": "earliest", "fetch.wait.max.ms": 100,
                                 "session.timeout.ms": 10000, "heartbeat.interval.ms": 500,
                                 "client.id": tag})
            consumer.subscribe([self.src])
            n = 0
            while not self.stopping.is_set():
                msgs = [m for m in consumer.consume(self.batch, 0.5) if not m.error()]
                if not msgs:
                    continue
                producer.begin_transaction()
                firsts, nexts = {}, {}
                for m in msgs:
                    producer.produce(self.dst, key=m.key(), partition=m.partition(),
                                     value=eos.copy_value(m.value().decode(), tag, n).encode())
                    firsts.setdefault(m.partition(), m.offset())
                    nexts[m.partition()] = m.offset() + 1

                def rewind():
                    for p, o in firsts.items():
                        consumer.seek(TopicPartition(self.src, p, o))

                if self.abort_every and n % self.abort_every == self.abort_every - 1:
                    if producer.flush(30) != 0:
                        raise RuntimeError("flush before the deliberate abort timed out")
                    producer.abort_transaction(30)
                    rewind()
                    self.record(tag, {"txn": n, "records": len(msgs), "committed": False, "reason": "deliberate"})
                    n += 1
                    continue
                try:
                    producer.send_offsets_to_transaction(
                        [TopicPartition(self.src, p, o) for p, o in nexts.items()],
                        consumer.consumer_group_metadata(), 30)
                    for attempt in range(3):
                        try:
                            producer.commit_transaction(30)
                            break
                        except KafkaException as e:
                            if not e.args[0].retriable() or attempt == 2:
                                raise
                    self.record(tag, {"txn": n, "records": len(msgs), "committed": True,
                                      "offsets": {str(p): o for p, o in nexts.items()}})
                except KafkaException as e:
                    err = e.args[0]
                    if not err.txn_requires_abort():
                        raise
                    producer.abort_transaction(30)
                    rewind()
                    self.record(tag, {"txn": n, "records": len(msgs), "committed": False, "reason": err.name()})
                n += 1
            self.record(tag, {"done": True, "txns": n})
            return 0, ""
        except Exception as e:  # noqa: BLE001 - any failure ends this incarnation; a new one takes over
            self.record(tag, {"error": repr(e)})
            return 1, repr(e)
        finally:
            if consumer is not None:
                try:
                    consumer.close()
                except Exception:  # noqa: BLE001
                    pass
            if producer is not None:
                producer.flush(0)

    def stop(self, timeout=60):
        self.stopping.set()
        self.thread.join(timeout)
        if self.thread.is_alive():
            # Stuck in a librdkafka call: say where, for the report.
            frame = sys._current_frames().get(self.thread.ident)
            stack = "".join(traceback.format_stack(frame)) if frame is not None else "?"
            self.record(self.tag(), {"error": f"did not stop within {timeout}s; stack:\n{stack[-1500:]}"})

    def kill(self):
        self.stopping.set()


KINDS = {"java": JavaMember, "franz": FranzMember, "librdkafka": CfMember}
