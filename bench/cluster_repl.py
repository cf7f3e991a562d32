"""Replication measures of bench/cluster.py (issue 12), on the same 3-node
cluster (Apache Kafka 4.4 or Gregor), every topic replication factor 3 with
min.insync.replicas=2, every producer acks=all:

(c) repl-produce: Kafka's ProducerPerformance (1 KiB records, linger.ms=5,
    batch.size=65536, idempotent as the 4.x client defaults) into a 3-partition
    topic after an unrecorded warm-up; throughput, and the CPU time
    (utime+stime from /proc) of the 3 node processes over the run divided by
    the GB (1e9 bytes of record values) acknowledged.
(d) repl-e2e: bench/java/FixedRateLatency at fixed rates (open loop, 100 B
    records, acks=all, linger.ms=0; the consumer only sees a record once the
    HW has passed it): p50/p99 of send -> receive.
(e) repl-failover: a librdkafka producer (acks=all, idempotent) writes to one
    partition every ~5 ms; kill -9 of that partition's leader (one that is not
    the active controller when there is one, so the controller's own failover
    stays out); the time from the kill to the first acknowledgement of a record
    produced after it. The node is restarted and every partition back to a
    full ISR between rounds; a fresh 3-partition topic per round spreads the
    leaders again.
"""

import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent / "compat" / "cluster"))

import harness  # noqa: E402
from report import PP_RE  # noqa: E402

CLASSES = harness.ROOT / "target" / "bench-deps" / "repl-classes"
TOOL_JVM = ["java", "-Xmx512M", "-server", "-XX:+UseG1GC", "-Djava.awt.headless=true"]
CLK_TCK = os.sysconf("SC_CLK_TCK")
# HotSpot's compiler threads as /proc names them (15 characters).
JIT_THREADS = ("C1 CompilerThre", "C2 CompilerThre")


def parse_stat_ticks(stat):
    """utime + stime (clock ticks) from the text of /proc/<pid>/stat. The command
    name in parentheses may hold spaces, so fields are counted after the last ')'."""
    fields = stat[stat.rindex(")") + 2:].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return int(fields[11]) + int(fields[12])


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        return parse_stat_ticks(f.read()) / CLK_TCK


def thread_group(comm):
    """A thread name without its trailing number / index, so the threads of one
    pool add up ("data-plane-kafka-request-handler-3" and "-5", "tokio-rt-worker")."""
    return comm.rstrip("0123456789-_ ") or comm


def threads_cpu(pid):
    """{thread group: CPU seconds so far} over the threads of one process."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                stat = f.read()
        except OSError:  # the thread ended meanwhile
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        g = thread_group(comm)
        out[g] = out.get(g, 0.0) + parse_stat_ticks(stat) / CLK_TCK
    return out


def top_threads(before, after, n=8):
    """The n thread groups that used the most CPU between two threads_cpu snapshots
    (summed over nodes: lists of per-node snapshots), seconds."""
    used = {}
    for b, a in zip(before, after):
        for g, secs in a.items():
            used[g] = used.get(g, 0.0) + secs - b.get(g, 0.0)
    return {g: round(s, 2) for g, s in sorted(used.items(), key=lambda kv: -kv[1])[:n]}


def nodes_cpu(cluster):
    """{node id: CPU seconds so far} of every running node process."""
    return {i: cpu_seconds(n.proc.pid) for i, n in cluster.nodes.items() if n.alive}


def parse_producer_perf(text, size):
    """ProducerPerformance's final summary line (the one with 99.9th) as a dict, or None."""
    lines = [l for l in text.splitlines() if "99.9th" in l]
    m = PP_RE.search(lines[-1]) if lines else None
    if not m:
        return None
    g = m.groupdict()
    return {"records": int(g["records"]), "size": int(size), "rec_per_s": float(g["rps"]),
            "mb_per_s": float(g["mbps"]), "p50_ms": int(g["p50"]), "p99_ms": int(g["p99"])}


def cpu_per_gb(cpu_before, cpu_after, records, size):
    """CPU seconds of all nodes over the run per GB (1e9 bytes of values) acknowledged.
    A node missing from either snapshot (not running) is left out."""
    used = sum(cpu_after[i] - cpu_before[i] for i in cpu_after if i in cpu_before)
    gb = records * size / 1e9
    return round(used, 2), round(used / gb, 1) if gb else None


def percentile(sorted_vals, q):
    return sorted_vals[min(len(sorted_vals) - 1, int(round(q * (len(sorted_vals) - 1))))]


def create_topic(cluster, topic, partitions, rf=3):
    from confluent_kafka.admin import AdminClient, NewTopic

    client = AdminClient({"bootstrap.servers": cluster.bootstrap()})
    fs = client.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=rf,
                                        config={"min.insync.replicas": str(min(2, rf))})],
                              operation_timeout=30, request_timeout=30)
    fs[topic].result(timeout=40)
    wait_full_isr(cluster, topic, partitions, rf)


def wait_full_isr(cluster, topic, partitions, rf=3, timeout=120):
    """Until every live broker's Metadata shows every partition led with all rf replicas in the ISR."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            ok = True
            for n in cluster.live_brokers():
                t = n.metadata([topic], timeout=3).topics.get(topic)
                if t is None or t.error != 0 or len(t.partitions) != partitions:
                    ok = False
                    break
                last = {p: (pm.leader, sorted(pm.isr)) for p, pm in t.partitions.items()}
                if any(pm.leader < 0 or len(pm.isr) != rf for pm in t.partitions.values()):
                    ok = False
                    break
            if ok:
                return last
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{topic}: ISR not full in {timeout}s (last {last})\n{cluster.logs(20)}")


def compile_tools():
    CLASSES.mkdir(parents=True, exist_ok=True)
    src = BENCH / "java" / "FixedRateLatency.java"
    out = CLASSES / "FixedRateLatency.class"
    if not out.exists() or out.stat().st_mtime < src.stat().st_mtime:
        subprocess.run(["javac", "-d", str(CLASSES), "-cp", harness.TOOLS_CP, str(src)], check=True, timeout=300)


def producer_perf(bootstrap, topic, records, size, timeout=900):
    cmd = [*TOOL_JVM, "-cp", harness.TOOLS_CP, "org.apache.kafka.tools.ProducerPerformance", "--topic", topic,
           "--num-records", str(records), "--record-size", str(size), "--throughput", "-1",
           "--producer-props", f"bootstrap.servers={bootstrap}", "acks=all", "linger.ms=5", "batch.size=65536"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    res = parse_producer_perf(p.stdout, size)
    if res is None:
        raise RuntimeError(f"ProducerPerformance failed ({p.returncode}): {p.stdout[-800:]}\n{p.stderr[-800:]}")
    return res


def produce_round(cluster, mb, size, partitions, emit):
    records = mb * 1024 * 1024 // size
    warm = f"warm-repl-{uuid.uuid4().hex[:8]}"
    create_topic(cluster, warm, partitions)
    producer_perf(cluster.bootstrap(), warm, max(1, records // 4), size)
    topic = f"repl-produce-{uuid.uuid4().hex[:8]}"
    create_topic(cluster, topic, partitions)
    load0 = os.getloadavg()[0]
    pids = [n.proc.pid for n in cluster.nodes.values()]
    threads_before = [threads_cpu(p) for p in pids]
    before = nodes_cpu(cluster)
    t0 = time.monotonic()
    res = producer_perf(cluster.bootstrap(), topic, records, size)
    wall = time.monotonic() - t0
    after = nodes_cpu(cluster)
    threads_after = [threads_cpu(p) for p in pids]
    cpu, per_gb = cpu_per_gb(before, after, res["records"], size)
    # The JVM's JIT compiler threads, still busy after the warm-up: the share of
    # Kafka's CPU a longer-running broker would not spend.
    jit = sum(top_threads(threads_before, threads_after, n=10 ** 6).get(g, 0.0) for g in JIT_THREADS)
    row = {"measure": "repl-produce", "server": cluster.kind, **res, "partitions": partitions,
           "cpu_s": cpu, "cpu_s_per_gb": per_gb, "wall_s": round(wall, 1), "jit_cpu_s": round(jit, 2),
           "cpu_s_per_gb_excl_jit": round((cpu - jit) / (res["records"] * size / 1e9), 1),
           "cpu_s_per_node": {i: round(after[i] - before[i], 2) for i in after if i in before},
           "top_threads_cpu_s": top_threads(threads_before, threads_after),
           "load1": [round(load0, 1), round(os.getloadavg()[0], 1)]}
    emit(row)
    return row


def e2e_round(cluster, rate, seconds, warmup, emit, floor=False):
    """floor: the same load with acks=1 into an RF 1 topic, no replication in the
    path: what the machine, the client and the broker's own fetch path cost."""
    topic = f"repl-e2e-{rate}-{uuid.uuid4().hex[:8]}"
    create_topic(cluster, topic, 1, rf=1 if floor else 3)
    cmd = [*TOOL_JVM, "-cp", f"{CLASSES}:{harness.TOOLS_CP}", "FixedRateLatency", cluster.bootstrap(), topic,
           "1" if floor else "all", str(rate), str(seconds), "100", str(warmup)]
    load0 = os.getloadavg()[0]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + warmup + 120)
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    if not lines:
        raise RuntimeError(f"FixedRateLatency failed ({p.returncode}): {p.stdout[-800:]}\n{p.stderr[-800:]}")
    res = json.loads(lines[-1])
    row = {"measure": "repl-e2e-floor" if floor else "repl-e2e", "server": cluster.kind, **res,
           "load1": [round(load0, 1), round(os.getloadavg()[0], 1)]}
    emit(row)
    return row


class Writer:
    """A librdkafka producer writing one record every ~5 ms to one partition,
    remembering when each record was produced and when it was acknowledged."""

    def __init__(self, bootstrap, topic, partition):
        from confluent_kafka import Producer

        self.producer = Producer({
            "bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True, "linger.ms": 0,
            "message.timeout.ms": 120000, "retry.backoff.ms": 20, "retry.backoff.max.ms": 200,
            "reconnect.backoff.ms": 20, "reconnect.backoff.max.ms": 200,
            "socket.connection.setup.timeout.ms": 1000,
        })
        self.topic, self.partition = topic, partition
        self.acks = []  # (produced at, acknowledged at)
        self.errors = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self.stop.is_set():
            sent = time.monotonic()

            def done(err, _msg, sent=sent):
                with self.lock:
                    if err is None:
                        self.acks.append((sent, time.monotonic()))
                    else:
                        self.errors.append(str(err))

            try:
                self.producer.produce(self.topic, b"x" * 100, partition=self.partition, on_delivery=done)
            except BufferError:
                pass
            self.producer.poll(0.005)
        self.producer.flush(10)

    def first_ack_after(self, t0):
        """Acknowledgement time of the first record produced at or after t0, or None."""
        with self.lock:
            times = [a for s, a in self.acks if s >= t0]
        return min(times) if times else None


def watch_leader(node, topic, partition, old, moved, timeout=60):
    """Polls `node` with raw Metadata every ~10 ms until the partition has a leader
    other than `old`; appends the time it saw that to `moved` (the server side of
    a failover, without the client's rediscovery)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            pm = node.metadata([topic], timeout=2).topics[topic].partitions[partition]
            if pm.leader >= 0 and pm.leader != old:
                moved.append(time.monotonic())
                return
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.01)


def failover_round(cluster, emit, timeout=120):
    topic = f"repl-fo-{uuid.uuid4().hex[:8]}"
    create_topic(cluster, topic, 3)
    controller = cluster.active_controller()
    leaders = wait_full_isr(cluster, topic, 3)
    pick = [p for p, (leader, _) in sorted(leaders.items()) if leader != controller] or sorted(leaders)
    partition = pick[0]
    victim = leaders[partition][0]
    w = Writer(cluster.bootstrap(), topic, partition)
    w.thread.start()
    deadline = time.monotonic() + 30
    while w.first_ack_after(0) is None:  # the producer is connected and writing
        if time.monotonic() > deadline:
            raise TimeoutError(f"no acknowledged write to {topic}/{partition} before the kill: {w.errors[-3:]}")
        time.sleep(0.05)
    time.sleep(0.5)
    survivor = next(n for n in cluster.live_brokers() if n.node_id != victim)
    moved = []
    watching = threading.Thread(target=watch_leader, args=(survivor, topic, partition, victim, moved), daemon=True)
    # The clock starts once SIGKILL is sent: taken before it, a GIL switch could
    # delay the signal past a record produced and acknowledged by the old leader
    # meanwhile (a round of 0.3 ms was seen).
    os.killpg(cluster.nodes[victim].proc.pid, signal.SIGKILL)
    t0 = time.monotonic()
    watching.start()
    cluster.nodes[victim].kill9()
    acked = None
    while acked is None and time.monotonic() - t0 < timeout:
        time.sleep(0.01)
        acked = w.first_ack_after(t0)
    w.stop.set()
    w.thread.join(15)
    if acked is None:
        raise TimeoutError(f"no acknowledged write {timeout}s after killing node {victim}: {w.errors[-3:]}")
    took = (acked - t0) * 1000
    watching.join(5)
    new = None
    for n in cluster.live_brokers():
        try:
            new = n.metadata([topic], timeout=3).topics[topic].partitions[partition].leader
            break
        except (OSError, ValueError, KeyError):
            continue
    emit({"measure": "repl-failover", "server": cluster.kind, "ms": round(took, 1),
          "leader_moved_ms": round((moved[0] - t0) * 1000, 1) if moved else None, "killed": victim,
          "killed_was_controller": victim == controller, "new_leader": new, "errors": len(w.errors),
          "load1": round(os.getloadavg()[0], 1)})
    cluster.nodes[victim].start()
    cluster.wait_ready()
    wait_full_isr(cluster, topic, 3)
    return took, (moved[0] - t0) * 1000 if moved else None


def summarize_rows(rows, measure, kind, fields):
    """Median of each field over rows (the summary line of repeated produce / e2e runs)."""
    out = {"measure": measure, "server": kind, "n": len(rows)}
    for f in fields:
        vals = [r[f] for r in rows if r.get(f) is not None]
        if vals:
            out[f] = round(statistics.median(vals), 3)
    return out


def run(cluster, args, emit, summarize):
    """The replication measures named in args.repl_measures, each followed by its summary line."""
    compile_tools()
    if "produce" in args.repl_measures:
        produce = [produce_round(cluster, args.repl_mb, 1024, 3, emit) for _ in range(args.repl_runs)]
        emit(summarize_rows(produce, "repl-produce", cluster.kind,
                            ["mb_per_s", "cpu_s_per_gb", "cpu_s_per_gb_excl_jit", "p99_ms"]))
    for rate in args.e2e_rates if "e2e" in args.repl_measures else []:
        rows = [e2e_round(cluster, rate, args.e2e_seconds, 3, emit) for _ in range(args.repl_runs)]
        s = summarize_rows(rows, "repl-e2e", cluster.kind, ["p50_ms", "p99_ms", "p999_ms"])
        s["rate"] = rate
        emit(s)
        if args.e2e_floor:
            rows = [e2e_round(cluster, rate, args.e2e_seconds, 3, emit, floor=True) for _ in range(args.repl_runs)]
            s = summarize_rows(rows, "repl-e2e-floor", cluster.kind, ["p50_ms", "p99_ms", "p999_ms"])
            s["rate"] = rate
            emit(s)
    if "failover" in args.repl_measures:
        fail = [failover_round(cluster, emit) for _ in range(args.repl_failovers)]
        emit(summarize("repl-failover", cluster.kind, [t for t, _ in fail]))
        emit(summarize("repl-failover-leader-moved", cluster.kind, [m for _, m in fail if m is not None]))


def summaries(lines):
    """{(measure, server, rate or None): summary dict} from the JSON lines of runs
    (summary lines carry "n"); a later summary of the same key replaces an earlier one."""
    out = {}
    for line in lines:
        line = line.strip()
        if not line.startswith("{"):
            continue
        row = json.loads(line)
        if "n" in row and str(row.get("measure", "")).startswith("repl-"):
            out[(row["measure"], row["server"], row.get("rate"))] = row
    return out


GOALS = [  # (label, measure, rate, field, goal: Gregor at most this times Kafka's)
    ("acks=all produce, 1 KiB, 3 partitions: MB/s", "repl-produce", None, "mb_per_s", None),
    ("broker CPU s per GB acknowledged (3 nodes)", "repl-produce", None, "cpu_s_per_gb", 0.3),
    ("the same without the JIT compiler threads", "repl-produce", None, "cpu_s_per_gb_excl_jit", 0.3),
]


def table(lines, rates=(1000, 5000)):
    """The markdown comparison table of NOTES.md from the JSON lines of a Kafka
    and a Gregor run."""
    s = summaries(lines)
    rows = list(GOALS)
    for r in rates:
        rows.append((f"end-to-end p50 at {r}/s, acks=all (ms)", "repl-e2e", r, "p50_ms", None))
        rows.append((f"end-to-end p99 at {r}/s, acks=all (ms)", "repl-e2e", r, "p99_ms", 0.5))
        rows.append((f"floor: p99 at {r}/s, acks=1, RF 1 (ms)", "repl-e2e-floor", r, "p99_ms", None))
    rows.append(("kill -9 partition leader -> next ack, median (ms)", "repl-failover", None, "median_ms", 0.5))
    rows.append(("kill -9 partition leader -> next ack, p90 (ms)", "repl-failover", None, "p90_ms", None))
    rows.append(("kill -9 -> new leader in a survivor's Metadata, median (ms)", "repl-failover-leader-moved", None,
                 "median_ms", None))
    out = ["| measure | Gregor | Kafka 4.4.0 | Gregor / Kafka | goal |", "|---|---|---|---|---|"]
    for label, measure, rate, field, goal in rows:
        g = s.get((measure, "gregor", rate), {}).get(field)
        k = s.get((measure, "kafka", rate), {}).get(field)
        ratio = f"{g / k:.2f}" if g is not None and k else ""
        verdict = "" if goal is None else f"<= {goal} " + ("(met)" if ratio and g / k <= goal else "(not met)" if ratio else "")
        out.append(f"| {label} | {'' if g is None else g} | {'' if k is None else k} | {ratio} | {verdict.strip()} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    # python bench/cluster_repl.py table FILE.jsonl... : the comparison table.
    if len(sys.argv) >= 3 and sys.argv[1] == "table":
        text = []
        for path in sys.argv[2:]:
            with open(path) as f:
                text.extend(f.readlines())
        sys.stdout.write(table(text))
    else:
        sys.exit("usage: cluster_repl.py table RUN.jsonl...")
