"""The fault tests' workload: real clients writing unique values with acks=all and
idempotence, a consumer group reading them, and OffsetFetch samples of the group's
committed offsets, all recorded into a history.History (history.py).

* producers: Java kafka-clients (`CompatClient fault-produce`, java/FaultModes.java),
  franz-go (`franz-compat fault-produce`, go/faults.go) as processes, and
  confluent-kafka (librdkafka) in a thread here. Each sends PREFIX-<seq> to partition
  seq % partitions at a fixed rate until stopped and reports every outcome with
  wall-clock send/ack times.
* consumers: confluent-kafka group members (subscribe, a synchronous commit of what was
  polled every 500 ms: replays after a rebalance are expected, never loss) in threads;
  every (re)assignment of a partition starts a new session of it; every commit the
  coordinator acknowledges is recorded.
* a sampler: the group's committed offsets (OffsetFetch) every 500 ms.
* drain(): after healing, every partition read from its start to its end offset.
"""

import json
import subprocess
import threading
import time
from pathlib import Path

from clients import FRANZ
from jvm import client_cmd
from history import ACK, INFO, OK, Commit, History, Poll, Send

PRODUCER_CONF = {"enable.idempotence": True, "acks": "all", "linger.ms": 5, "message.timeout.ms": 30000,
                 "request.timeout.ms": 5000, "retry.backoff.ms": 50}


def now_ms():
    return time.time() * 1000.0


class ProcessProducer:
    """A producer process printing one JSON line per outcome (FaultModes.java, faults.go)."""

    def __init__(self, name, cmd, workdir: Path):
        self.name = name
        self.out_path = workdir / f"producer-{name}.jsonl"
        self.err_path = workdir / f"producer-{name}.err"
        self._out = open(self.out_path, "wb")
        self._err = open(self.err_path, "wb")
        self.proc = subprocess.Popen(list(map(str, cmd)), stdin=subprocess.PIPE, stdout=self._out, stderr=self._err)

    def stop(self, timeout=90):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self._out.close()
        self._err.close()

    def sends(self, prefix, partitions):
        lines = [json.loads(l) for l in self.out_path.read_text().splitlines() if l.startswith("{")]
        done = next((l for l in lines if l.get("done")), None)
        by_seq = {}
        for l in lines:
            if "v" not in l:
                continue
            s = Send(self.name, l["v"], l["p"], l["seq"], t_send=l["ts"], t_done=l["tc"])
            if "o" in l:
                s.status, s.offset = OK, l["o"]
            else:
                s.status, s.error = INFO, l.get("err")
            by_seq[s.seq] = s
        # Sends without an outcome line (the process died or was cut short) may have landed.
        sent = done["sent"] if done else (max(by_seq) + 1 if by_seq else 0)
        for seq in range(sent):
            if seq not in by_seq:
                by_seq[seq] = Send(self.name, f"{prefix}-{seq}", seq % partitions, seq, INFO, error="no outcome")
        return [by_seq[k] for k in sorted(by_seq)], done is not None, self.err_path.read_text(errors="replace")[-2000:]


def java_producer(workdir, bootstrap, topic, partitions, rate, prefix="java"):
    cmd = client_cmd(bootstrap, "fault-produce", topic, partitions, rate, prefix, 3_600_000, jvm=["-Xmx256m"])
    return ProcessProducer(prefix, cmd, workdir)


def franz_producer(workdir, bootstrap, topic, partitions, rate, prefix="franz"):
    cmd = [FRANZ, "-b", bootstrap, "fault-produce", "-topic", topic, "-partitions", partitions, "-rate", rate,
           "-prefix", prefix, "-max-ms", 3_600_000]
    return ProcessProducer(prefix, cmd, workdir)


class CfProducer(threading.Thread):
    """confluent-kafka (librdkafka) idempotent producer in a thread."""

    def __init__(self, bootstrap, topic, partitions, rate, prefix="librdkafka"):
        super().__init__(daemon=True)
        self.name_ = prefix
        self.bootstrap, self.topic, self.partitions, self.rate = bootstrap, topic, partitions, rate
        self.stopped = threading.Event()
        self.lock = threading.Lock()
        self.records = {}
        self.error = None
        self.undelivered = 0

    def run(self):
        from confluent_kafka import Producer

        try:
            p = Producer({"bootstrap.servers": self.bootstrap, **PRODUCER_CONF})
            seq, nxt = 0, time.monotonic()
            while not self.stopped.is_set():
                t = time.monotonic()
                if t < nxt:
                    p.poll(min(0.05, nxt - t))
                    continue
                nxt = max(nxt + 1.0 / self.rate, t)
                v = f"{self.name_}-{seq}"
                s = Send(self.name_, v, seq % self.partitions, seq, INFO, t_send=now_ms())
                with self.lock:
                    self.records[seq] = s
                seq += 1

                def done(err, msg, s=s):
                    s.t_done = now_ms()
                    if err is None:
                        s.status, s.offset = OK, msg.offset()
                    else:
                        # Fatal or not, an idempotent producer's error leaves the outcome
                        # unknown (the record may be in the log).
                        s.status, s.error = INFO, f"{err.name()}: {err.str()}"

                try:
                    p.produce(self.topic, key=v.encode(), value=v.encode(), partition=s.partition, on_delivery=done)
                except BufferError as e:
                    s.error = f"BufferError: {e}"
                p.poll(0)
            self.undelivered = p.flush(40)
        except Exception as e:  # reported by sends()
            self.error = repr(e)

    def stop(self, timeout=90):
        self.stopped.set()
        self.join(timeout)

    def sends(self):
        with self.lock:
            return [self.records[k] for k in sorted(self.records)]


class CfConsumer(threading.Thread):
    """One confluent-kafka group member, recording every record it returns."""

    def __init__(self, name, bootstrap, topic, group, polls, commits, lock):
        super().__init__(daemon=True)
        self.name_, self.bootstrap, self.topic, self.group = name, bootstrap, topic, group
        self.polls, self.commits, self.lock = polls, commits, lock
        self.crashed = None
        self.sessions = {}  # partition -> session number, bumped on every assignment
        self.stopped = threading.Event()
        self.errors = []

    def run(self):
        try:
            self.consume()
        except BaseException as e:  # reported by Workload.stop_consumers
            self.crashed = repr(e)
            raise

    def consume(self):
        from confluent_kafka import Consumer

        c = Consumer({"bootstrap.servers": self.bootstrap, "group.id": self.group,
                      "auto.offset.reset": "earliest", "enable.auto.commit": False,
                      "session.timeout.ms": 10000, "heartbeat.interval.ms": 1000, "fetch.wait.max.ms": 100,
                      "client.id": self.name_})

        def assigned(consumer, parts):
            for tp in parts:
                self.sessions[tp.partition] = self.sessions.get(tp.partition, 0) + 1

        def revoked(consumer, parts):
            for tp in parts:
                self.sessions[tp.partition] = self.sessions.get(tp.partition, 0) + 1

        next_commit = time.monotonic() + 0.5
        try:
            c.subscribe([self.topic], on_assign=assigned, on_revoke=revoked)
            while not self.stopped.is_set():
                if time.monotonic() >= next_commit:
                    next_commit = time.monotonic() + 0.5
                    self.commit(c)
                m = c.poll(0.2)
                if m is None:
                    continue
                if m.error():
                    self.errors.append(str(m.error()))
                    continue
                q = Poll(self.name_, self.sessions.get(m.partition(), 0), m.partition(), m.offset(),
                         m.value().decode(), now_ms())
                with self.lock:
                    self.polls.append(q)
        finally:
            c.close()

    def commit(self, c):
        """A synchronous commit of what was polled, every 500 ms: one commit in flight
        per member, so acknowledged commits of one member come back in order (librdkafka's
        asynchronous auto-commits overlap under faults and their callbacks arrive out of
        order: 4814 acked, then 4803, then 4814 again, seen on Kafka 4.4). Replays after
        a rebalance are expected, never loss."""
        from confluent_kafka import KafkaException

        try:
            parts = c.commit(asynchronous=False)
        except KafkaException:  # nothing to commit, a rebalance, the coordinator moving
            return
        t = now_ms()
        with self.lock:
            for tp in parts or []:
                if tp.error is None and tp.offset >= 0:
                    self.commits.append(Commit(self.group, tp.partition, tp.offset, t, source=ACK))

    def stop(self, timeout=30):
        self.stopped.set()
        self.join(timeout)


class CommitSampler(threading.Thread):
    """The group's committed offsets, asked with OffsetFetch twice a second by a
    librdkafka consumer that carries the group id but never subscribes (so it is no
    member). Not AdminClient.list_consumer_group_offsets: librdkafka 2.16's admin aborts
    the process (rd_kafka_enq_once_del_source_return assertion) when the coordinator
    answers COORDINATOR_LOAD_IN_PROGRESS, which a new group's coordinator does."""

    def __init__(self, bootstrap, group, commits, lock, topic=None, partitions=0):
        super().__init__(daemon=True)
        self.bootstrap, self.group, self.commits, self.lock = bootstrap, group, commits, lock
        self.topic, self.partitions = topic, partitions
        self.stopped = threading.Event()
        self.failures = 0

    def run(self):
        from confluent_kafka import Consumer, TopicPartition

        c = Consumer({"bootstrap.servers": self.bootstrap, "group.id": self.group, "enable.auto.commit": False,
                      "client.id": "commit-sampler"})
        try:
            tps = [TopicPartition(self.topic, p) for p in range(self.partitions)]
            while not self.stopped.wait(0.5):
                t = now_ms()  # asked at t: it must show every commit acked before t
                try:
                    res = c.committed(tps, timeout=5)
                except Exception:  # the coordinator may be down mid-fault
                    self.failures += 1
                    continue
                with self.lock:
                    for tp in res:
                        if tp.error is None and tp.offset >= 0:
                            self.commits.append(Commit(self.group, tp.partition, tp.offset, t))
        finally:
            c.close()

    def stop(self, timeout=30):
        self.stopped.set()
        self.join(timeout)


class Workload:
    """Starts every client; stop() ends them and returns the history so far (drain apart)."""

    def __init__(self, workdir: Path, bootstrap, topic, partitions, rate=100, consumers=2, clients=("java", "librdkafka", "franz")):
        self.workdir, self.bootstrap, self.topic, self.partitions = Path(workdir), bootstrap, topic, partitions
        self.group = f"{topic}-group"
        self.lock = threading.Lock()
        self.polls, self.commits = [], []
        self.procs = {}
        self.threads = []
        self.cf = None
        self.clients = clients
        self.rate = rate
        self.n_consumers = consumers
        self.problems = []
        # Problems that need a group coordinator surviving a broker failure (issue 13).
        self.group_problems = []

    def start(self):
        self.workdir.mkdir(parents=True, exist_ok=True)
        if "java" in self.clients:
            self.procs["java"] = java_producer(self.workdir, self.bootstrap, self.topic, self.partitions, self.rate)
        if "franz" in self.clients:
            self.procs["franz"] = franz_producer(self.workdir, self.bootstrap, self.topic, self.partitions, self.rate)
        if "librdkafka" in self.clients:
            self.cf = CfProducer(self.bootstrap, self.topic, self.partitions, self.rate)
            self.cf.start()
        self.consumers = [CfConsumer(f"consumer{i}", self.bootstrap, self.topic, self.group, self.polls, self.commits,
                                     self.lock)
                          for i in range(self.n_consumers)]
        self.sampler = CommitSampler(self.bootstrap, self.group, self.commits, self.lock, self.topic, self.partitions)
        for t in (*self.consumers, self.sampler):
            t.start()
        return self

    def acked_since(self, t_ms):
        """Acknowledged sends so far whose ack came after t_ms (librdkafka's, live)."""
        if self.cf is None:
            return 0
        return sum(1 for s in self.cf.sends() if s.status == OK and s.t_done and s.t_done > t_ms)

    def stop_producers(self):
        """Stop every producer (they flush first); returns their sends."""
        sends = []
        for name, p in self.procs.items():
            p.stop()
            got, finished, err = p.sends(name, self.partitions)
            if not finished:
                self.problems.append(f"producer {name} did not finish: exit {p.proc.returncode}: {err}")
            sends.extend(got)
        if self.cf is not None:
            self.cf.stop()
            if self.cf.error:
                self.problems.append(f"librdkafka producer failed: {self.cf.error}")
            sends.extend(self.cf.sends())
        return sends

    def wait_consumers_read(self, sends, bound_s):
        """Waits until the consumers have polled every acknowledged value, or bound_s passed;
        returns whether they had."""
        acked = {s.value for s in sends if s.status == OK}
        deadline = time.monotonic() + bound_s
        while True:
            with self.lock:
                missing = acked - {q.value for q in self.polls}
            if not missing:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.5)

    def stop_consumers(self):
        for t in (*self.consumers, self.sampler):
            t.stop()
        for c in self.consumers:
            if c.crashed:
                self.problems.append(f"consumer {c.name_}: {c.crashed}")
            elif c.is_alive():
                # Closing waits for the group coordinator (LeaveGroup, last commit).
                self.group_problems.append(f"consumer {c.name_}: did not stop")
        with self.lock:
            return list(self.polls), list(self.commits)


def drain(bootstrap, topic, partitions, timeout=90):
    """Every partition from its start to its end offset (high watermark, asked once every
    node is back): {partition: [(offset, value)]}, and whether every end was reached."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{topic}-drain", "enable.auto.commit": False,
                  "auto.offset.reset": "earliest", "fetch.wait.max.ms": 100, "enable.partition.eof": False})
    try:
        ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=20)[1] for p in range(partitions)}
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        out = {p: [] for p in range(partitions)}
        pos = {p: -1 for p in range(partitions)}
        deadline = time.monotonic() + timeout
        while any(pos[p] + 1 < ends[p] for p in ends) and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None or m.error():
                continue
            out[m.partition()].append((m.offset(), m.value().decode()))
            pos[m.partition()] = max(pos[m.partition()], m.offset())
        return out, ends, all(pos[p] + 1 >= ends[p] for p in ends)
    finally:
        c.close()


def build_history(sends, polls, commits, drained):
    return History(sends=sends, polls=polls, commits=commits, drain=drained, idempotent=True)
