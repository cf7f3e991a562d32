"""bench/cluster_repl.py's parsers and arithmetic (the numbers NOTES.md quotes)."""

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent / "compat" / "cluster"))

import cluster_repl  # noqa: E402

# A real /proc/<pid>/stat line of a java process; the comm field may hold spaces and ')'.
STAT = ("4242 (java) S 1 4242 4242 0 -1 4194560 146313 0 12 0 5123 877 0 0 20 0 61 0 10311 "
        "4712108032 131072 18446744073709551615 1 1 0 0 0 0 0 4096 16796879 0 0 0 17 1 0 0 0 0 0")


def test_stat_ticks_are_utime_plus_stime():
    assert cluster_repl.parse_stat_ticks(STAT) == 5123 + 877
    tricky = STAT.replace("(java)", "(tokio rt) x)")
    assert cluster_repl.parse_stat_ticks(tricky) == 6000


def test_cpu_of_own_process_grows():
    import os

    a = cluster_repl.cpu_seconds(os.getpid())
    sum(i * i for i in range(200000))
    assert cluster_repl.cpu_seconds(os.getpid()) >= a


# Kafka 4.4 ProducerPerformance output: progress lines, a deprecation warning, the summary.
PP_OUT = """\
Warning: --producer-props is deprecated and will be removed in Apache Kafka 5.0.
64273 records sent, 12854.6 records/sec (12.55 MB/sec), 1570.2 ms avg latency, 2313.0 ms max latency.
131072 records sent, 14398.2 records/sec (14.06 MB/sec), 1446.91 ms avg latency, 2313.00 ms max latency, \
1490 ms 50th, 2110 ms 95th, 2250 ms 99th, 2301 ms 99.9th.
"""


def test_producer_perf_summary():
    r = cluster_repl.parse_producer_perf(PP_OUT, 1024)
    assert r == {"records": 131072, "size": 1024, "rec_per_s": 14398.2, "mb_per_s": 14.06, "p50_ms": 1490,
                 "p99_ms": 2250}
    assert cluster_repl.parse_producer_perf(PP_OUT.splitlines()[1], 1024) is None


def test_cpu_per_gb():
    before = {1: 10.0, 2: 20.0, 3: 30.0}
    after = {1: 13.0, 2: 21.5, 3: 31.5}
    # 6 s over 1e6 records of 1000 B = 1 GB
    assert cluster_repl.cpu_per_gb(before, after, 1_000_000, 1000) == (6.0, 6.0)
    # a node not running at one of the snapshots is left out
    assert cluster_repl.cpu_per_gb(before, {1: 12.0, 3: 31.0}, 500_000, 1000) == (3.0, 6.0)


def test_summarize_rows_medians():
    rows = [{"p99_ms": 3.0, "p50_ms": 1.0}, {"p99_ms": 9.0, "p50_ms": 2.0}, {"p99_ms": 4.0, "p50_ms": None}]
    s = cluster_repl.summarize_rows(rows, "repl-e2e", "gregor", ["p50_ms", "p99_ms", "p999_ms"])
    assert s == {"measure": "repl-e2e", "server": "gregor", "n": 3, "p50_ms": 1.5, "p99_ms": 4.0}


def test_thread_groups_and_top_threads():
    assert cluster_repl.thread_group("data-plane-kafka-request-handler-3") == "data-plane-kafka-request-handler"
    assert cluster_repl.thread_group("tokio-rt-worker") == "tokio-rt-worker"
    assert cluster_repl.thread_group("G1 Conc#0") == "G1 Conc#"
    before = [{"a": 1.0, "b": 5.0}, {"a": 2.0}]
    after = [{"a": 2.5, "b": 5.5, "c": 0.25}, {"a": 4.0}]
    assert cluster_repl.top_threads(before, after, n=2) == {"a": 3.5, "b": 0.5}


def test_threads_cpu_of_own_process():
    import os

    groups = cluster_repl.threads_cpu(os.getpid())
    assert groups and all(v >= 0 for v in groups.values())


RUN_LINES = [
    '{"measure": "startup", "server": "kafka", "ms": 1.0}',
    '{"measure": "repl-produce", "server": "kafka", "n": 1, "mb_per_s": 2.0, "cpu_s_per_gb": 200.0, "p99_ms": 6000}',
    '{"measure": "repl-e2e", "server": "kafka", "n": 1, "p50_ms": 60.0, "p99_ms": 300.0, "rate": 1000}',
    '{"measure": "repl-e2e", "server": "kafka", "rate": 1000, "p99_ms": 999.0}',
    '{"measure": "repl-failover", "server": "kafka", "n": 5, "median_ms": 5000.0, "p90_ms": 6000.0}',
    'not json: a librdkafka log line',
    '{"measure": "repl-produce", "server": "gregor", "n": 1, "mb_per_s": 4.0, "cpu_s_per_gb": 50.0, "p99_ms": 10,'
    ' "cpu_s_per_gb_excl_jit": 50.0}',
    '{"measure": "repl-e2e", "server": "gregor", "n": 1, "p50_ms": 6.0, "p99_ms": 200.0, "rate": 1000}',
    '{"measure": "repl-failover", "server": "gregor", "n": 5, "median_ms": 4000.0, "p90_ms": 4500.0}',
    '{"measure": "repl-e2e-floor", "server": "gregor", "n": 1, "p50_ms": 2.0, "p99_ms": 150.0, "rate": 1000}',
    '{"measure": "repl-failover-leader-moved", "server": "kafka", "n": 5, "median_ms": 4100.0}',
]


def test_summaries_keep_only_replication_summaries():
    s = cluster_repl.summaries(RUN_LINES)
    assert set(s) == {("repl-produce", "kafka", None), ("repl-e2e", "kafka", 1000), ("repl-failover", "kafka", None),
                      ("repl-produce", "gregor", None), ("repl-e2e", "gregor", 1000), ("repl-failover", "gregor", None),
                      ("repl-e2e-floor", "gregor", 1000), ("repl-failover-leader-moved", "kafka", None)}
    assert s[("repl-e2e", "kafka", 1000)]["p99_ms"] == 300.0  # the per-run line is not a summary


def test_comparison_table():
    t = cluster_repl.table(RUN_LINES, rates=(1000, 5000)).splitlines()
    assert t[2] == "| acks=all produce, 1 KiB, 3 partitions: MB/s | 4.0 | 2.0 | 2.00 |  |"
    assert t[3] == "| broker CPU s per GB acknowledged (3 nodes) | 50.0 | 200.0 | 0.25 | <= 0.3 (met) |"
    assert t[4] == "| the same without the JIT compiler threads | 50.0 |  |  | <= 0.3 |"
    assert t[6] == "| end-to-end p99 at 1000/s, acks=all (ms) | 200.0 | 300.0 | 0.67 | <= 0.5 (not met) |"
    assert t[7] == "| floor: p99 at 1000/s, acks=1, RF 1 (ms) | 150.0 |  |  |  |"
    assert t[9] == "| end-to-end p99 at 5000/s, acks=all (ms) |  |  |  | <= 0.5 |"
    assert t[13] == "| kill -9 -> new leader in a survivor's Metadata, median (ms) |  | 4100.0 |  |  |"
    assert t[11] == "| kill -9 partition leader -> next ack, median (ms) | 4000.0 | 5000.0 | 0.80 | <= 0.5 (not met) |"
