#!/usr/bin/env python3
"""Scale benchmark (issue 18): how a single broker's costs grow with partitions, idle
connections, consumer groups and data, Gregor (release build) vs Apache Kafka 4.4 (KRaft
combined mode, Kafka's own JVM flags), one broker at a time on this machine.

Run through bench/scale.sh (fetches jars, builds, raises what limits it can). Every measurement
is one JSON line appended to bench/results/scale/<stamp>.jsonl as soon as it is taken; the
tables and plots (bench/scale_report.py) are rebuilt from every jsonl in that folder at the end,
so runs of different dimensions and sizes add up.

Dimensions (--dims, sizes with --sizes, smallest first):
 * partitions (1k, 10k, 50k, 100k): topics of 1,000 partitions, 9 per CreateTopics (Kafka's
   limit of 10,000 metadata records per request: a topic record and one per partition); time until every partition has a leader in Metadata;
   RSS, open fds and disk of the empty partitions; Metadata for all topics (raw v4 round trip);
   produce then consume spread over every partition (librdkafka); graceful restart to the first
   acknowledged produce.
 * connections (1k, 10k): mostly idle connections (TCP + one ApiVersions each, then silent);
   accept rate, RSS per connection, produce latency p50/p99 of one active librdkafka producer
   (500 records/s) before and while they are open.
 * groups (1k, 10k): simple groups committing offsets for 4 partitions each (OffsetCommit v2);
   RSS, OffsetFetch p50/p99, graceful restart until every __consumer_offsets partition serves
   its groups' offsets again.
 * data (GiB, default 10): 1,000 partitions filled with 1 KiB records by `gregor perf produce`
   (the same client for both), kill -9, time to the first acknowledged produce and to a produce
   acknowledged on every partition.
"""

import argparse
import json
import os
import random
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import kafka_node  # noqa: E402
import scale_wire  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEPS = ROOT / "target" / "bench-deps"
TICK = os.sysconf("SC_CLK_TCK")
CLUSTER_ID = "MkU3OEVBNTcwNTJENDM2Qg"
TOPIC_PARTITIONS = 1000  # partitions per topic in the partitions and data dimensions
# Kafka's controller refuses a CreateTopics that makes more than 10,000 metadata records
# (POLICY_VIOLATION, "Unable to perform excessively large batch operation"): one TopicRecord plus one
# PartitionRecord per partition, so 9 topics of 1,000 partitions (9,009 records) per request.
TOPICS_PER_REQUEST = 9
DEFAULT_SIZES = {"partitions": [1000, 10000, 50000, 100000], "connections": [1000, 10000],
                 "groups": [1000, 10000], "data": [10]}


def log(msg):
    print(f"[scale {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def loadavg1():
    return float(Path("/proc/loadavg").read_text().split()[0])


def percentile(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q / 100 * (len(xs) - 1))))] if xs else None


def disk_bytes(path):
    """Allocated bytes under path (st_blocks, as du counts them: sparse index files count
    only what is written)."""
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_blocks * 512
            except FileNotFoundError:
                pass
    return total


class Broker:
    """One single-node broker process on 127.0.0.1 with a data dir that survives restarts."""

    def __init__(self, kind, workdir, kafka_libs, gregor_bin):
        self.kind, self.dir = kind, workdir
        self.data = workdir / "data"
        self.data.mkdir(parents=True)
        self.port, self.cport = free_port(), free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.kafka_libs, self.gregor_bin = kafka_libs, gregor_bin
        self.proc, self.starts = None, 0
        if kind == "kafka":
            self.format_kafka()

    def format_kafka(self):
        props = kafka_node.single_node_props(self.bootstrap, self.cport, self.data)
        self.conf = self.dir / "server.properties"
        self.conf.write_text(kafka_node.properties_text(props))
        self.l4j = self.dir / "log4j2.properties"
        self.l4j.write_text("rootLogger.level=INFO\nrootLogger.appenderRef.out.ref=OUT\nappender.out.type=Console\n"
                            "appender.out.name=OUT\nappender.out.layout.type=PatternLayout\n"
                            "appender.out.layout.pattern=[%d] %p %m (%c)%n\nlogger.req.name=kafka.request.logger\n"
                            "logger.req.level=WARN\nlogger.state.name=state.change.logger\nlogger.state.level=WARN\n")
        subprocess.run(["java", "-cp", f"{self.kafka_libs}/*", "kafka.tools.StorageTool", "format", "-t", CLUSTER_ID,
                        "-c", str(self.conf)], check=True, capture_output=True, timeout=120)

    def command(self):
        if self.kind == "gregor":
            return [str(self.gregor_bin), "server", "--set", f"listeners=PLAINTEXT://{self.bootstrap}",
                    "--set", f"advertised.listeners=PLAINTEXT://{self.bootstrap}",
                    "--set", f"log.dirs={self.data}", "--set", "num.partitions=1"]
        return ["java", "-Xms1G", "-Xmx1G", "-server", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
                "-XX:InitiatingHeapOccupancyPercent=35", "-XX:+ExplicitGCInvokesConcurrent",
                "-Djava.awt.headless=true", f"-Dlog4j2.configurationFile={self.l4j}", "-cp", f"{self.kafka_libs}/*",
                "kafka.Kafka", str(self.conf)]

    def spawn(self):
        """Starts the process; returns the monotonic spawn time (restart clocks start here)."""
        self.starts += 1
        out = open(self.dir / f"server.{self.starts}.log", "wb")
        t = time.monotonic()
        self.proc = subprocess.Popen(self.command(), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        out.close()
        return t

    def wait_api(self, timeout=300):
        """Until an ApiVersions round trip succeeds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                c = scale_wire.Connection("127.0.0.1", self.port, timeout=5)
                try:
                    c.request(scale_wire.API_VERSIONS, b"")
                    return
                finally:
                    c.close()
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.kind} did not answer ApiVersions in {timeout} s")

    def check_alive(self):
        if self.proc.poll() is not None:
            tail = (self.dir / f"server.{self.starts}.log").read_bytes()[-1500:].decode(errors="replace")
            raise RuntimeError(f"{self.kind} exited {self.proc.returncode}: {tail}")

    def stop(self, timeout=180):
        """SIGTERM (a clean shutdown); SIGKILL after timeout. Returns seconds to exit."""
        if not self.proc or self.proc.poll() is not None:
            return 0.0
        t = time.monotonic()
        kafka_node.stop_group(self.proc, timeout)
        return time.monotonic() - t

    def kill9(self):
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def cpu(self):
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK

    def rss_mib(self):
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
        return None

    def fds(self):
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def disk_mib(self):
        return round(disk_bytes(self.data) / 2**20, 1)

    def conn(self, timeout=120):
        return scale_wire.Connection("127.0.0.1", self.port, timeout=timeout)


# --- librdkafka helpers ---------------------------------------------------------------------

def rdkafka():
    import confluent_kafka  # the bench venv (bench/requirements.txt)
    return confluent_kafka


QUIET = {"log_level": 0, "log.connection.close": False}


def first_produce(broker, t_spawn, targets, timeout=900):
    """Seconds from t_spawn until one record to every (topic, partition) of targets is
    acknowledged; the first acknowledgement's time too. The producer is created right after the
    spawn and retries until the broker serves."""
    ck = rdkafka()
    p = ck.Producer({"bootstrap.servers": broker.bootstrap, "acks": "1", "linger.ms": 0,
                     "message.timeout.ms": timeout * 1000, "reconnect.backoff.ms": 20,
                     "reconnect.backoff.max.ms": 200, "retry.backoff.ms": 20, "retry.backoff.max.ms": 200,
                     "topic.metadata.refresh.interval.ms": 1000, **QUIET})
    acked, errors = [], []

    def done(err, _msg):
        (errors if err else acked).append(time.monotonic())

    for topic, partition in targets:
        p.produce(topic, b"x" * 100, partition=partition, on_delivery=done)
    deadline = time.monotonic() + timeout
    while len(acked) + len(errors) < len(targets) and time.monotonic() < deadline:
        broker.check_alive()
        p.poll(0.01)
    p.flush(5)
    if errors or len(acked) < len(targets):
        raise RuntimeError(f"first produce: {len(acked)} of {len(targets)} acknowledged, {len(errors)} failed")
    return round(min(acked) - t_spawn, 3), round(max(acked) - t_spawn, 3)


def produce_spread(broker, targets, records, size=100):
    """records records of size bytes, round robin over targets; returns (seconds, failures)."""
    ck = rdkafka()
    p = ck.Producer({"bootstrap.servers": broker.bootstrap, "acks": "1", "linger.ms": 5,
                     "queue.buffering.max.messages": 2_000_000, "queue.buffering.max.kbytes": 2_000_000,
                     "message.timeout.ms": 600_000, **QUIET})
    failed = [0]

    def done(err, _msg):
        if err:
            failed[0] += 1

    value = b"v" * size
    t = time.monotonic()
    for i in range(records):
        topic, partition = targets[i % len(targets)]
        while True:
            try:
                p.produce(topic, value, partition=partition, on_delivery=done)
                break
            except BufferError:
                p.poll(0.01)
        if i % 10000 == 0:
            p.poll(0)
    left = p.flush(900)
    return time.monotonic() - t, failed[0] + left


def consume_spread(broker, targets, records, timeout=900):
    """assign() every target from the beginning and read until records have arrived."""
    ck = rdkafka()
    c = ck.Consumer({"bootstrap.servers": broker.bootstrap, "group.id": f"scale-read-{time.time_ns()}",
                     "enable.auto.commit": False, "auto.offset.reset": "earliest", **QUIET})
    c.assign([ck.TopicPartition(t, p, ck.OFFSET_BEGINNING) for t, p in targets])
    got, t = 0, time.monotonic()
    try:
        while got < records and time.monotonic() - t < timeout:
            got += sum(1 for m in c.consume(10000, 1.0) if not m.error())
    finally:
        c.close()
    return time.monotonic() - t, got


def latency_probe(broker, topic, seconds=10, rate=500):
    """One librdkafka producer at rate records/s (acks=1, linger 0): send -> ack latencies (ms)."""
    ck = rdkafka()
    p = ck.Producer({"bootstrap.servers": broker.bootstrap, "acks": "1", "linger.ms": 0, **QUIET})
    lat = []
    p.produce(topic, b"warm", partition=0)
    p.flush(30)
    start = time.monotonic()
    n = 0
    while time.monotonic() - start < seconds:
        due = start + n / rate
        now = time.monotonic()
        if now < due:
            p.poll(due - now)
            continue
        sent = time.monotonic()
        p.produce(topic, b"p" * 100, partition=0, on_delivery=lambda err, _m, s=sent: lat.append(
            None if err else (time.monotonic() - s) * 1000))
        n += 1
        p.poll(0)
    p.flush(30)
    ok = [x for x in lat if x is not None]
    return {"probe_records": len(ok), "probe_p50_ms": round(percentile(ok, 50), 2),
            "probe_p99_ms": round(percentile(ok, 99), 2)}


# --- raw protocol steps ---------------------------------------------------------------------

def create_topics(broker, names_partitions):
    """CreateTopics in requests of at most TOPICS_PER_REQUEST topics; raises on any error."""
    c = broker.conn(timeout=600)
    try:
        for i in range(0, len(names_partitions), TOPICS_PER_REQUEST):
            batch = [(n, p, 1) for n, p in names_partitions[i:i + TOPICS_PER_REQUEST]]
            result = scale_wire.decode_create_topics(c.request(scale_wire.CREATE_TOPICS, scale_wire.create_topics(batch, 600_000)))
            bad = {t: e for t, e in result.items() if e[0] != 0}
            if bad:
                raise RuntimeError(f"CreateTopics errors: {list(bad.items())[:3]}")
    finally:
        c.close()


def metadata(broker, conn=None):
    """(seconds, response bytes, decoded) of one Metadata request for every topic."""
    c = conn or broker.conn()
    try:
        t = time.monotonic()
        body = c.request(scale_wire.METADATA, scale_wire.metadata_all_topics())
        return time.monotonic() - t, len(body), scale_wire.decode_metadata(body)
    finally:
        if conn is None:
            c.close()


def wait_leaders(broker, prefix, expected, timeout=900):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, _, md = metadata(broker)
        led = sum(1 for name, (err, parts) in md.items() if name.startswith(prefix) and err == 0
                  for _, perr, leader in parts if perr == 0 and leader >= 0)
        if led >= expected:
            return
        time.sleep(0.2)
    raise RuntimeError(f"not every partition had a leader after {timeout} s")


def topic_layout(prefix, partitions):
    """[(topic, partitions)] of TOPIC_PARTITIONS each (one smaller topic for a remainder)."""
    out, left, i = [], partitions, 0
    while left > 0:
        n = min(TOPIC_PARTITIONS, left)
        out.append((f"{prefix}{i:04d}", n))
        left -= n
        i += 1
    return out


def targets_of(layout):
    return [(t, p) for t, n in layout for p in range(n)]


# --- dimensions -----------------------------------------------------------------------------

def dim_partitions(broker, size, a, r):
    prefix = "scale-"
    layout = topic_layout(prefix, size)
    targets = targets_of(layout)
    r.update(rss0_mib=broker.rss_mib(), fds0=broker.fds(), disk0_mib=broker.disk_mib())
    c0, t0 = broker.cpu(), time.monotonic()
    create_topics(broker, layout)
    r["create_ack_s"] = round(time.monotonic() - t0, 3)
    wait_leaders(broker, prefix, size)
    r["create_leaders_s"] = round(time.monotonic() - t0, 3)
    r["create_cpu_s"] = round(broker.cpu() - c0, 2)
    time.sleep(3)
    r.update(rss_mib=broker.rss_mib(), fds=broker.fds(), disk_mib=broker.disk_mib())
    r["rss_per_partition_kib"] = round((r["rss_mib"] - r["rss0_mib"]) * 1024 / size, 2)
    r["disk_per_partition_kib"] = round((r["disk_mib"] - r["disk0_mib"]) * 1024 / size, 2)
    conn = broker.conn()
    samples = []
    for _ in range(6):
        dt, nbytes, _ = metadata(broker, conn)
        samples.append(dt)
    conn.close()
    r["metadata_ms"] = round(statistics.median(samples[1:]) * 1000, 2)
    r["metadata_bytes"] = nbytes
    # Kafka holds a file descriptor (or more) per segment of every used partition; past the
    # hard limit the spread would measure EMFILE, not the broker. Creation, memory, Metadata
    # and the restart with empty partitions are still measured. Gregor keeps its segment
    # files open within a budget (gregor.log.open.files.max), so it runs the spread.
    fd_hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if broker.kind == "kafka" and fd_hard != resource.RLIM_INFINITY and size + 2000 > fd_hard:
        r["spread_skipped"] = f"{size} used partitions need more fds than ulimit -Hn {fd_hard}"
        log(f"{broker.kind} {size}: {r['spread_skipped']}; restarting with empty partitions")
        r["stop_s"] = round(broker.stop(), 2)
        t_spawn = broker.spawn()
        r["restart_first_produce_s"], _ = first_produce(broker, t_spawn, [targets[-1]])
        time.sleep(2)
        r["rss_restarted_mib"] = broker.rss_mib()
        return
    records = max(a.spread_records, 2 * size)
    log(f"{broker.kind} {size}: created, leaders in {r['create_leaders_s']} s; producing")
    c0 = broker.cpu()
    secs, failed = produce_spread(broker, targets, records)
    r.update(produce_records=records, produce_s=round(secs, 2), produce_failed=failed,
             produce_records_per_s=round(records / secs), produce_cpu_s=round(broker.cpu() - c0, 2))
    log(f"{broker.kind} {size}: produced {records} in {secs:.1f} s; consuming")
    c0 = broker.cpu()
    secs, got = consume_spread(broker, targets, records, a.spread_timeout)
    r.update(consume_s=round(secs, 2), consumed=got, consume_records_per_s=round(got / secs),
             consume_cpu_s=round(broker.cpu() - c0, 2))
    if got < records:
        r["consume_note"] = f"only {got} of {records} records in {a.spread_timeout} s (rate is of those)"
    log(f"{broker.kind} {size}: consumed {got} in {secs:.1f} s; restarting")
    r.update(rss_loaded_mib=broker.rss_mib(), fds_loaded=broker.fds(), disk_loaded_mib=broker.disk_mib())
    r["stop_s"] = round(broker.stop(), 2)
    t_spawn = broker.spawn()
    r["restart_first_produce_s"], _ = first_produce(broker, t_spawn, [targets[-1]])
    time.sleep(2)
    r["rss_restarted_mib"] = broker.rss_mib()


def open_idle(broker, n, threads=4):
    """n connections, each TCP + one ApiVersions round trip, threads at a time."""
    conns, lock, errors = [], threading.Lock(), []

    def worker(count):
        for _ in range(count):
            try:
                c = broker.conn(timeout=60)
                c.request(scale_wire.API_VERSIONS, b"")
                with lock:
                    conns.append(c)
            except OSError as e:
                with lock:
                    errors.append(repr(e))
    per = [n // threads + (1 if i < n % threads else 0) for i in range(threads)]
    ts = [threading.Thread(target=worker, args=(k,)) for k in per]
    t = time.monotonic()
    for th in ts:
        th.start()
    for th in ts:
        th.join()
    return conns, time.monotonic() - t, errors


def dim_connections(broker, size, a, r):
    create_topics(broker, [("probe", 1)])
    wait_leaders(broker, "probe", 1)
    latency_probe(broker, "probe", 5)  # unrecorded warm-up (a fresh JVM compiles its produce path)
    r.update(latency_probe(broker, "probe", a.probe_seconds))
    r["probe_idle_p99_ms"] = r.pop("probe_p99_ms")
    r["probe_idle_p50_ms"] = r.pop("probe_p50_ms")
    time.sleep(1)
    r.update(rss0_mib=broker.rss_mib(), fds0=broker.fds())
    c0 = broker.cpu()
    conns, secs, errors = open_idle(broker, size)
    r.update(opened=len(conns), open_errors=len(errors), open_s=round(secs, 2),
             accept_per_s=round(len(conns) / secs), open_cpu_s=round(broker.cpu() - c0, 2))
    if errors:
        r["open_error_sample"] = errors[:3]
    time.sleep(2)
    r.update(rss_mib=broker.rss_mib(), fds=broker.fds())
    r["rss_per_connection_kib"] = round((r["rss_mib"] - r["rss0_mib"]) * 1024 / max(1, len(conns)), 2)
    c0 = broker.cpu()
    r.update(latency_probe(broker, "probe", a.probe_seconds))
    r["probe_cpu_s"] = round(broker.cpu() - c0, 2)
    r["still_open"] = sum(1 for c in conns if alive(c))
    for c in conns:
        c.close()


def alive(conn):
    """True if the broker has not closed the connection (a non-blocking peek)."""
    try:
        conn.sock.setblocking(False)
        return conn.sock.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


RETRIABLE = {14, 15, 16}  # COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR


def commit_groups(broker, groups, topic, window=50):
    """OffsetCommit for every group (pipelined, window requests in flight), retrying those
    the coordinator is not ready for."""
    c = broker.conn()
    todo = list(groups)
    try:
        while todo:
            retry = []
            for i in range(0, len(todo), window):
                chunk = todo[i:i + window]
                ids = [c.send(scale_wire.OFFSET_COMMIT, scale_wire.offset_commit(g, topic, offsets_of(g))) for g in chunk]
                for g, cid in zip(chunk, ids):
                    errs = scale_wire.decode_offset_commit(c.receive(cid))
                    if any(e in RETRIABLE for e in errs):
                        retry.append(g)
                    elif any(errs):
                        raise RuntimeError(f"OffsetCommit {g}: {errs}")
            if retry:
                time.sleep(0.2)
            todo = retry
    finally:
        c.close()


def offsets_of(group):
    n = int(group.rsplit("-", 1)[1])
    return {p: 1000 + n + p for p in range(4)}


def fetch_ok(conn, group, topic):
    got = scale_wire.decode_offset_fetch(conn.request(scale_wire.OFFSET_FETCH, scale_wire.offset_fetch(group, topic, [0, 1, 2, 3])))
    return all(got.get(p) == (o, 0) for p, o in offsets_of(group).items())


def dim_groups(broker, size, a, r):
    topic = "committed"
    create_topics(broker, [(topic, 4)])
    wait_leaders(broker, topic, 4)
    groups = [f"scale-group-{i}" for i in range(size)]
    c = broker.conn()
    while True:  # Kafka creates __consumer_offsets on the first FindCoordinator
        err = scale_wire.decode_find_coordinator(c.request(scale_wire.FIND_COORDINATOR, scale_wire.find_coordinator(groups[0])))[0]
        if err == 0:
            break
        time.sleep(0.2)
    c.close()
    time.sleep(2)
    r.update(rss0_mib=broker.rss_mib(), disk0_mib=broker.disk_mib())
    c0, t0 = broker.cpu(), time.monotonic()
    commit_groups(broker, groups, topic)
    secs = time.monotonic() - t0
    r.update(commit_s=round(secs, 2), commits_per_s=round(size / secs), commit_cpu_s=round(broker.cpu() - c0, 2))
    time.sleep(2)
    r.update(rss_mib=broker.rss_mib(), disk_mib=broker.disk_mib())
    r["rss_per_group_kib"] = round((r["rss_mib"] - r["rss0_mib"]) * 1024 / size, 2)
    r.update(offset_fetch_latency(broker, groups, topic, a.fetch_samples))
    r["stop_s"] = round(broker.stop(), 2)
    # One group per __consumer_offsets partition (Kafka's hash) and the last one committed.
    sample = {}
    for g in groups:
        sample.setdefault(scale_wire.offsets_partition(g), g)
    sample = sorted(set(sample.values()) | {groups[-1]})
    t_spawn = broker.spawn()
    broker.wait_api()
    c = broker.conn()
    pending = list(sample)
    while pending:
        broker.check_alive()
        if time.monotonic() - t_spawn > 900:
            raise RuntimeError(f"{len(pending)} groups still not served 900 s after restart")
        pending = [g for g in pending if not fetch_ok(c, g, topic)]
        if pending:
            time.sleep(0.05)
    r["restart_groups_served_s"] = round(time.monotonic() - t_spawn, 3)
    r["restart_sampled_groups"] = len(sample)
    c.close()
    time.sleep(2)
    r["rss_restarted_mib"] = broker.rss_mib()
    r.update({f"after_restart_{k}": v for k, v in offset_fetch_latency(broker, groups, topic, a.fetch_samples).items()})


def offset_fetch_latency(broker, groups, topic, samples):
    c = broker.conn()
    rnd = random.Random(18)
    lat, wrong = [], 0
    for _ in range(samples):
        g = rnd.choice(groups)
        t = time.monotonic()
        ok = fetch_ok(c, g, topic)
        lat.append((time.monotonic() - t) * 1000)
        wrong += not ok
    c.close()
    return {"offset_fetch_p50_ms": round(percentile(lat, 50), 3), "offset_fetch_p99_ms": round(percentile(lat, 99), 3),
            "offset_fetch_wrong": wrong}


def dim_data(broker, size, a, r):
    layout = [("data", TOPIC_PARTITIONS)]
    targets = targets_of(layout)
    create_topics(broker, layout)
    wait_leaders(broker, "data", TOPIC_PARTITIONS)
    # Every partition writable first: Kafka answers NOT_LEADER_OR_FOLLOWER for a moment after its
    # Metadata shows the leader, and `gregor perf produce` does not retry.
    first_produce(broker, time.monotonic(), targets, timeout=300)
    records = size * 2**30 // 1024
    c0, t0 = broker.cpu(), time.monotonic()
    fill = subprocess.run([str(a.fill_bin or a.gregor_bin), "perf", "produce", "data", "--bootstrap-server",
                           broker.bootstrap, "--num-records", str(records), "--record-size", "1024",
                           "--batch-records", "500", "--concurrency", "4", "--acks", "1"],
                          capture_output=True, text=True, timeout=7200)
    if fill.returncode != 0:
        raise RuntimeError(f"gregor perf produce failed: {(fill.stdout + fill.stderr)[-800:]}")
    secs = time.monotonic() - t0
    r["fill_client"] = str(a.fill_bin or a.gregor_bin)
    r.update(fill_records=records, fill_s=round(secs, 1), fill_mb_per_s=round(records * 1024 / secs / 1e6, 1),
             fill_cpu_s=round(broker.cpu() - c0, 1))
    r.update(rss_mib=broker.rss_mib(), fds=broker.fds(), disk_mib=broker.disk_mib())
    broker.kill9()
    t_spawn = broker.spawn()
    r["restart_first_produce_s"], r["restart_all_partitions_s"] = first_produce(broker, t_spawn, targets)
    time.sleep(2)
    r["rss_restarted_mib"] = broker.rss_mib()
    r["recovery_log_lines"] = recovery_lines(broker)


def recovery_lines(broker):
    """The restart log's lines about recovery (what the broker says it scanned)."""
    text = (broker.dir / f"server.{broker.starts}.log").read_text(errors="replace")
    keys = ("recover", "Recover", "unflushed", "Loaded", "loaded")
    return [line[:300] for line in text.splitlines()
            if any(k in line for k in keys) and "partition change" not in line][-5:]


def server_errors(broker):
    """The last ERROR/FATAL lines of the broker's current log (why a failed run failed)."""
    try:
        text = (broker.dir / f"server.{broker.starts}.log").read_text(errors="replace")
    except OSError:
        return []
    return [line[:400] for line in text.splitlines() if "ERROR" in line or "FATAL" in line
            or "Exception" in line][-6:]


DIMS = {"partitions": dim_partitions, "connections": dim_connections, "groups": dim_groups, "data": dim_data}


def run_one(kind, dim, size, a, work, out):
    r = {"dim": dim, "size": size, "broker": kind, "stamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
         "commit": a.commit, "loadavg1_start": loadavg1()}
    if dim == "data":
        free_gib = shutil.disk_usage(ROOT).free / 2**30
        r["disk_free_gib"] = round(free_gib, 1)
        if size > 5 and free_gib < 18:
            r["note"] = f"{size} GiB asked, {free_gib:.1f} GiB free (< 18): run at 5 GiB"
            size = r["size"] = 5
    broker = Broker(kind, Path(tempfile.mkdtemp(dir=work, prefix=f"{kind}-{dim}-{size}.")), a.kafka_libs, a.gregor_bin)
    log(f"{kind} {dim} {size}: start")
    t0 = time.monotonic()
    try:
        t_spawn = broker.spawn()
        broker.wait_api()
        r["start_api_s"] = round(time.monotonic() - t_spawn, 2)
        DIMS[dim](broker, size, a, r)
    except Exception as e:  # a failure is a result too: recorded, then the next run
        r["error"] = f"{type(e).__name__}: {e}"[-1500:]
        r["server_log_errors"] = server_errors(broker)
        try:
            r["rss_at_error_mib"], r["fds_at_error"] = broker.rss_mib(), broker.fds()
        except Exception:
            pass
    finally:
        broker.stop()
        shutil.rmtree(broker.dir, ignore_errors=True)
    r["loadavg1_end"] = loadavg1()
    r["wall_s"] = round(time.monotonic() - t0, 1)
    with open(out, "a") as f:
        f.write(json.dumps(r) + "\n")
    log(f"{kind} {dim} {size}: {json.dumps(r)}")
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dims", default="partitions,connections,groups,data")
    ap.add_argument("--sizes", help="comma-separated sizes for every dimension given (default per dimension)")
    ap.add_argument("--only", choices=["gregor", "kafka"])
    ap.add_argument("--spread-records", type=int, default=200_000,
                    help="records produced and consumed over all partitions (at least 2 per partition)")
    ap.add_argument("--spread-timeout", type=int, default=300,
                    help="seconds the spread consume may take; fewer records are reported as such")
    ap.add_argument("--probe-seconds", type=int, default=10)
    ap.add_argument("--fetch-samples", type=int, default=2000)
    ap.add_argument("--kafka-libs", type=Path, default=DEPS / "kafka-4.4.0" / "broker")
    ap.add_argument("--gregor-bin", type=Path, default=ROOT / "target" / "release" / "gregor")
    ap.add_argument("--fill-bin", type=Path, help="the gregor binary whose `perf produce` fills the data "
                    "dimension (default --gregor-bin)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "scale")
    a = ap.parse_args()
    a.commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True).stdout.strip()
    brokers = [a.only] if a.only else ["gregor", "kafka"]
    a.out.mkdir(parents=True, exist_ok=True)
    out = a.out / f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}.jsonl"
    (DEPS / "tmp").mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=DEPS / "tmp", prefix="scale."))
    try:
        for dim in a.dims.split(","):
            sizes = [int(s) for s in a.sizes.split(",")] if a.sizes else DEFAULT_SIZES[dim]
            for size in sorted(sizes):
                for kind in brokers:
                    run_one(kind, dim, size, a, work, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    import scale_report
    scale_report.write(a.out)


if __name__ == "__main__":
    main()
