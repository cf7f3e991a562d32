"""Drives compat/streams/StreamsWordCount.java (Kafka Streams 4.4.0) as a child
process for test_streams.py, and reads its output topic back."""

import json
import os
import signal
import struct
import subprocess
import threading
import time
import uuid

from confluent_kafka import Consumer, KafkaError, TopicPartition

from clients import DEPS

STREAMS_CP = f"{DEPS / 'streams' / 'classes'}:{DEPS / 'streams' / 'libs'}/*"


class StreamsApp:
    """One StreamsWordCount instance: its JSON events collected from stdout, its log
    (slf4j-simple, stderr) in `log_path`. Always `kill9()` or `stop()` it."""

    def __init__(self, bootstrap, app_id, input_topic, output_topic, state_dir, protocol, log_path, **config):
        self.log_path = log_path
        self.events = []
        self.cond = threading.Condition()
        args = [f"{k}={v}" for k, v in config.items()]
        cmd = ["java", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
               "-Dorg.slf4j.simpleLogger.defaultLogLevel=info",
               "-Dorg.slf4j.simpleLogger.showDateTime=true",
               "-cp", STREAMS_CP, "StreamsWordCount",
               bootstrap, app_id, input_topic, output_topic, str(state_dir), protocol, *args]
        self.log = open(log_path, "ab")
        self.log.write(f"\n===== {' '.join(cmd)}\n".encode())
        self.log.flush()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.log, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            with self.cond:
                self.events.append(ev)
                self.cond.notify_all()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def failure(self):
        """Why this app cannot make progress (died, or reported an error), or None."""
        with self.cond:
            errors = [e for e in self.events if e["event"] == "error"]
            states = [e["state"] for e in self.events if e["event"] == "state"]
        if errors:
            return f"streams app error: {errors[0]['error']}"
        if states and states[-1] in ("ERROR", "PENDING_ERROR"):
            return f"streams app in state {states[-1]}"
        if self.proc is not None and self.proc.poll() is not None:
            return f"streams app exited with {self.proc.returncode}"
        return None

    def wait_running(self, timeout=60):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                states = [e["state"] for e in self.events if e["event"] == "state"]
                if states and states[-1] == "RUNNING":
                    return
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"streams app not RUNNING after {timeout}s (states {states})\n{self.log_tail()}")
                self.cond.wait(min(left, 0.5))
                if self.proc.poll() is not None:
                    raise AssertionError(f"streams app exited with {self.proc.returncode}\n{self.log_tail()}")

    def active_tasks(self):
        """Task ids this instance reported as active the last time it was RUNNING."""
        with self.cond:
            tasks = [e["active"] for e in self.events if e["event"] == "tasks"]
        return [t for t in tasks[-1].split(",") if t] if tasks else []

    def meta(self):
        """The last "meta" event (app.report.ms) as a dict, or None."""
        with self.cond:
            metas = [e["json"] for e in self.events if e["event"] == "meta"]
        return json.loads(metas[-1]) if metas else None

    def wait_meta(self, accept, timeout, what):
        """Waits for a "meta" event that `accept` takes; returns it. Fails when the app
        fails or after `timeout` seconds, with the last one seen."""
        deadline = time.monotonic() + timeout
        while True:
            meta = self.meta()
            if meta is not None and accept(meta):
                return meta
            why = self.failure()
            assert why is None, f"{why}\n{self.log_tail()}"
            assert time.monotonic() < deadline, f"{what} after {timeout}s; last meta: {meta}\n{self.log_tail(30)}"
            time.sleep(0.3)

    def kill9(self):
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(10)
        self.reader.join(5)
        self.proc = None
        self.log.close()

    def stop(self, timeout=30):
        """SIGTERM (the app closes Kafka Streams cleanly), SIGKILL after `timeout`. True when it
        closed cleanly: the JVM's exit code for SIGTERM (143) after the app said "closed"."""
        if self.proc is None:
            return False
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            rc = self.proc.wait(timeout)
        except ProcessLookupError:
            rc = self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.kill9()
            return False
        self.reader.join(5)
        self.proc = None
        self.log.close()
        with self.cond:
            closed = any(e["event"] == "closed" for e in self.events)
        return closed and rc in (0, 128 + signal.SIGTERM)

    def log_tail(self, lines=60):
        try:
            self.log.flush()
        except ValueError:
            pass
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no app log)"
        return "\n".join(text.splitlines()[-lines:])


class OutputReader:
    """A read_committed (or read_uncommitted) reader of a WordCount output topic from its
    start: `records` in order per partition, `counts` the last count per word."""

    def __init__(self, bootstrap, topic, partitions, isolation="read_committed"):
        self.consumer = Consumer({
            "bootstrap.servers": bootstrap,
            "group.id": f"streams-check-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "isolation.level": isolation,
            "enable.partition.eof": True,
        })
        self.partitions = partitions
        self.consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        self.records = []  # (partition, offset, word, count)
        self.counts = {}
        self.eof = set()

    def poll(self, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            msg = self.consumer.poll(0.2)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    self.eof.add(msg.partition())
                    continue
                raise AssertionError(f"output consumer: {msg.error()}")
            self.eof.discard(msg.partition())
            word = msg.key().decode()
            # Output values are 8-byte longs; other topics (the changelog) are only counted.
            value = msg.value()
            count = struct.unpack(">q", value)[0] if value is not None and len(value) == 8 else None
            self.records.append((msg.partition(), msg.offset(), word, count))
            self.counts[word] = count

    def read_to_end(self, timeout=30):
        """Polls until every partition reported its end (the last stable offset)."""
        deadline = time.monotonic() + timeout
        while len(self.eof) < self.partitions:
            if time.monotonic() > deadline:
                raise AssertionError(f"output not read to its end in {timeout}s (eof on {sorted(self.eof)})")
            self.poll(0.5)
        return self.counts

    def wait_counts(self, expected, apps, timeout=60):
        """Polls until the last count of every word is `expected`'s; fails early when an app
        died or errored, and at once when a count went past the expected one (double counting)."""
        deadline = time.monotonic() + timeout
        while self.counts != expected:
            over = {w: (c, expected.get(w)) for w, c in self.counts.items() if c > expected.get(w, 0)}
            assert not over, f"counted more than was produced (word: (count, expected)): {over}"
            for app in apps:
                why = app.failure()
                assert why is None, f"{why}\n{app.log_tail()}"
            if time.monotonic() > deadline:
                missing = {w: (self.counts.get(w), c) for w, c in expected.items() if self.counts.get(w) != c}
                raise AssertionError(f"counts not reached in {timeout}s (word: (got, expected)): {missing}\n"
                                     + "\n".join(a.log_tail(30) for a in apps))
            self.poll(0.5)

    def close(self):
        self.consumer.close()
