"""Cluster benchmark: controller failover and metadata propagation on a 3-node
cluster (Apache Kafka 4.4 or Gregor) on this machine, reusing the cluster test
harness (compat/cluster/harness.py). Run through bench/cluster.sh, which puts
it in a private network namespace (nodes on 127.0.0.11-13).

(a) failover: kill -9 the active controller, then retry CreateTopics
    (librdkafka, RF 2, through the survivors) until one succeeds; the time from
    the kill to that acknowledgement. Between rounds the node is restarted and
    the quorum waits until it has caught up.
(b) propagation: CreateTopics (RF 3, 1 partition) acknowledged -> the partition
    visible with a leader on every broker, each polled on its own with raw
    Metadata requests every ~2 ms; per topic the slowest broker counts.

--replication runs instead the replication measures of bench/cluster_repl.py
(acks=all throughput and broker CPU per GB, end-to-end latency at fixed rates,
kill -9 of a partition leader -> next acknowledged write; RF 3,
min.insync.replicas 2).

Prints one JSON line per sample and a summary line per measure; --out FILE
also writes them there.
"""

import argparse
import json
import signal
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "compat" / "cluster"))
sys.path.insert(0, str(ROOT / "compat"))

import harness  # noqa: E402


def summarize(measure, kind, samples_ms):
    """Median / p90 / max of a list of milliseconds (the summary line's fields)."""
    s = sorted(samples_ms)
    if not s:
        return {"measure": measure, "server": kind, "n": 0}
    p90 = s[min(len(s) - 1, int(round(0.9 * (len(s) - 1))))]
    return {"measure": measure, "server": kind, "n": len(s), "median_ms": round(statistics.median(s), 1),
            "p90_ms": round(p90, 1), "min_ms": round(s[0], 1), "max_ms": round(s[-1], 1)}


def admin(bootstrap):
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": bootstrap, "socket.connection.setup.timeout.ms": 1000,
                        "reconnect.backoff.max.ms": 200})


def create(client, topic, rf, timeout):
    from confluent_kafka.admin import NewTopic

    fs = client.create_topics([NewTopic(topic, num_partitions=1, replication_factor=rf)],
                              operation_timeout=timeout, request_timeout=timeout)
    fs[topic].result(timeout=timeout + 2)


def failover_round(cluster, emit):
    old = cluster.active_controller()
    survivors = cluster.bootstrap(exclude=[old])
    topic = f"failover-{uuid.uuid4().hex[:8]}"
    attempts = 0
    t0 = time.monotonic()
    cluster.nodes[old].kill9()
    while True:
        attempts += 1
        try:
            # A fresh client per attempt: a long-lived librdkafka admin keeps sending
            # CreateTopics to the dead node while its Metadata still names it.
            create(admin(survivors), topic, 2, 3)
            break
        except Exception as e:  # any failure: the quorum is still moving; retry
            if "TOPIC_ALREADY_EXISTS" in str(e):
                break
            if time.monotonic() - t0 > 120:
                raise
            time.sleep(0.02)
    took = (time.monotonic() - t0) * 1000
    new = cluster.active_controller()
    emit({"measure": "failover", "server": cluster.kind, "ms": round(took, 1), "attempts": attempts,
          "old_leader": old, "new_leader": new})
    cluster.nodes[old].start()
    cluster.wait_ready()
    wait_caught_up(cluster)
    return took


def wait_caught_up(cluster, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            rows = cluster.quorum_replication()
            if all(r["Lag"] == "0" for i, r in rows.items() if i in cluster.nodes and cluster.nodes[i].is_controller):
                return
        except (AssertionError, KeyError, ValueError, IndexError):
            pass
        time.sleep(0.5)
    raise TimeoutError("voters did not catch up")


def propagation_round(cluster, client, emit):
    topic = f"prop-{uuid.uuid4().hex[:8]}"
    seen = {}
    stop = threading.Event()

    def poll(node):
        while not stop.is_set():
            try:
                t = node.metadata([topic], timeout=2).topics.get(topic)
                if t is not None and t.error == 0 and 0 in t.partitions and t.partitions[0].leader >= 0:
                    seen[node.node_id] = time.monotonic()
                    return
            except (OSError, ValueError):
                pass
            time.sleep(0.002)

    threads = [threading.Thread(target=poll, args=(n,), daemon=True) for n in cluster.brokers()]
    for th in threads:
        th.start()
    sent = time.monotonic()
    create(client, topic, 3, 30)
    acked = time.monotonic()
    for th in threads:
        th.join(30)
    stop.set()
    missing = [n.node_id for n in cluster.brokers() if n.node_id not in seen]
    if missing:
        raise TimeoutError(f"{topic} never visible on {missing}")
    per_node = {i: round((t - acked) * 1000, 1) for i, t in sorted(seen.items())}
    took = max(0.0, max(seen.values()) - acked) * 1000
    emit({"measure": "propagation", "server": cluster.kind, "ms": round(took, 1),
          "create_rtt_ms": round((acked - sent) * 1000, 1), "per_node_ms": per_node})
    return took


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", choices=["kafka", "gregor"], default=harness.SERVER_KIND)
    ap.add_argument("--failovers", type=int, default=5)
    ap.add_argument("--topics", type=int, default=30, help="propagation samples")
    ap.add_argument("--out", help="also append the JSON lines to this file")
    ap.add_argument("--replication", action="store_true", help="the replication measures (issue 12) instead")
    ap.add_argument("--repl-mb", type=int, default=128, help="MiB per acks=all ProducerPerformance run")
    ap.add_argument("--repl-runs", type=int, default=1, help="produce and e2e runs each")
    ap.add_argument("--e2e-rates", type=int, nargs="+", default=[1000, 5000], help="records/s")
    ap.add_argument("--e2e-seconds", type=int, default=15)
    ap.add_argument("--e2e-floor", action="store_true",
                    help="also each rate with acks=1 into an RF 1 topic (the latency floor without replication)")
    ap.add_argument("--repl-failovers", type=int, default=5, help="partition leader kill -9 rounds")
    ap.add_argument("--repl-measures", default="produce,e2e,failover", help="which replication measures")
    args = ap.parse_args(argv)

    problem = harness.netns_problem()
    if problem:
        sys.exit(f"bench/cluster.py: {problem} (run bench/cluster.sh)")
    harness.SERVER_KIND = args.server
    if args.server == "gregor" and not harness.GREGOR_CLUSTER_READY:
        sys.exit(f"bench/cluster.py: {harness.GREGOR_SKIP_REASON}")

    out = open(args.out, "a") if args.out else None
    # As PID 1 of its namespace a SIGTERM would be ignored: make it unwind (and stop the nodes).
    signal.signal(signal.SIGTERM, signal.default_int_handler)

    def emit(obj):
        line = json.dumps(obj)
        print(line, flush=True)
        if out:
            out.write(line + "\n")
            out.flush()

    with tempfile.TemporaryDirectory(prefix="cluster-bench-", dir=ROOT / "target") as tmp:
        cluster = harness.Cluster(Path(tmp), kind=args.server)
        if args.server == "kafka":
            # Kafka's own default JVM flags (kafka-server-start.sh), as bench/run.sh uses.
            harness.KafkaNode.jvm_opts = ["-Xms1G", "-Xmx1G", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
                                          "-XX:InitiatingHeapOccupancyPercent=35", "-XX:+ExplicitGCInvokesConcurrent",
                                          "-Djava.awt.headless=true"]
        try:
            t = time.monotonic()
            cluster.start()
            emit({"measure": "startup", "server": args.server, "ms": round((time.monotonic() - t) * 1000, 1)})
            if args.replication:
                import cluster_repl

                cluster_repl.run(cluster, args, emit, summarize)
                return
            client = admin(cluster.bootstrap())
            create(client, f"warm-{uuid.uuid4().hex[:8]}", 3, 30)
            prop = [propagation_round(cluster, client, emit) for _ in range(args.topics)]
            emit(summarize("propagation", args.server, prop))
            fail = [failover_round(cluster, emit) for _ in range(args.failovers)]
            emit(summarize("failover", args.server, fail))
        finally:
            cluster.close()
            if out:
                out.close()


if __name__ == "__main__":
    main()
