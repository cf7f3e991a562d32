"""Apache Kafka's own LogCompactionTester (org.apache.kafka.tools in the
kafka-tools 4.4.0 jar; 4.4 moved it there from the test sources, and 4.4.0
publishes no kafka-tools test jar) against Gregor: it produces keyed records
with duplicates and deletes, consumes the topic back and checks that the
latest value of every key survived. It passes on a broker that never
compacts, so the test also asserts a real reduction: far fewer records came
back than were produced. Small, time-rolled segments and an eager cleaner
make the clean happen within the run (~30 s, most of it the tester's own
20 s empty poll that ends its consume phase)."""

import re
import subprocess

import pytest

from jvm import tool_cmd

MESSAGES = 100_000
DUPLICATES = 10
SETTINGS = {
    # Every topic the tester creates gets small, time-rolled segments and
    # is cleaned as soon as anything is dirty.
    "log.roll.ms": "500",
    "log.cleaner.backoff.ms": "200",
    "log.cleaner.min.cleanable.ratio": "0.01",
}


@pytest.fixture
def server(broker_factory):
    return broker_factory(SETTINGS)


def test_kafkas_log_compaction_tester_passes_with_a_real_reduction(server):
    cmd = [
        *tool_cmd("LogCompactionTester"),
        "--bootstrap-server", server.bootstrap,
        "--messages", str(MESSAGES),
        "--duplicates", str(DUPLICATES),
        "--percent-deletes", "10",
        # Seconds (4.4's help says milliseconds, its code multiplies by 1000)
        # for the last segments to roll and be cleaned before it reads back.
        "--sleep", "5",
    ]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    assert "Data verification is completed" in out, out
    m = re.search(r"(\d+) rows of data produced, (\d+) rows of data consumed \(([\d.]+)% reduction\)", out)
    assert m, out
    produced, consumed, reduction = int(m.group(1)), int(m.group(2)), float(m.group(3))
    assert produced == MESSAGES, out
    # 10,000 keys, 10 writes each: a compacted log keeps about one record
    # per key, ~90 % reduction (measured: 90.0 %). Uncompacted: 0 %.
    assert reduction >= 50.0, f"only {reduction}% reduction ({consumed} of {produced}):\n{out}"
