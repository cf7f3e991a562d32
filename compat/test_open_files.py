"""More used partitions than open segment files (`gregor.log.open.files.max`): the broker
closes the segment files it has not used lately and reopens them on use, so producing
to, rolling, consuming from, restarting and recovering more partitions than the budget
works for real clients, and the broker's open segment files stay within the budget.
Gregor's own setting (Kafka keeps every segment file open), so Gregor only."""

import os
import random
import time

import pytest

from clients import Rec, assert_all_sent, assert_roundtrip, cf_consume, cf_create_topic, cf_produce, kp_consume
from conftest import SERVER_KIND

pytestmark = pytest.mark.skipif(SERVER_KIND != "gregor", reason="Gregor's own open-file budget")

BUDGET = 8
PARTITIONS = 40


def open_segment_files(server, topic):
    """The `.log` files of `topic` the broker process holds open right now."""
    fd_dir = f"/proc/{server.proc.pid}/fd"
    prefix = str(server.data_dir.resolve() / f"{topic}-")
    held = []
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(f"{fd_dir}/{fd}")
        except OSError:
            continue  # closed meanwhile
        if target.startswith(prefix) and target.endswith(".log"):
            held.append(target)
    return held


def one_round(rnd, rng):
    return [Rec(key=f"{p}-{rnd}-{i}".encode(), value=rng.randbytes(600), partition=p)
            for i in range(8) for p in range(PARTITIONS)]


def produce(server, topic, records):
    """In two halves more than `segment.ms` apart: every partition rolls its segment,
    mostly while the active segment's file is closed."""
    half = len(records) // 2
    sent = cf_produce(server.bootstrap, topic, records[:half], linger_ms=0, batch_num_messages=1)
    time.sleep(1.2)
    sent += cf_produce(server.bootstrap, topic, records[half:], linger_ms=0, batch_num_messages=1)
    assert_all_sent(sent, len(records))
    return sent


def test_more_partitions_than_open_segment_files(broker_factory, topic):
    server = broker_factory({"gregor.log.open.files.max": str(BUDGET)})
    cf_create_topic(server.bootstrap, topic, PARTITIONS, config={"segment.ms": "1000"})
    rng = random.Random(18)

    records = one_round(0, rng)
    sent = produce(server, topic, records)
    segments = sorted(p.name for p in (server.data_dir / f"{topic}-0").glob("*.log"))
    assert len(segments) >= 2, segments
    held = open_segment_files(server, topic)
    assert len(held) <= BUDGET, held

    assert_roundtrip(records, sent, kp_consume(server.bootstrap, topic, len(records), timeout_s=60))
    assert len(open_segment_files(server, topic)) <= BUDGET

    # A clean restart, then a kill -9 (recovery reopens every active segment):
    # each time every record is still there, and appends continue the offsets.
    for restart in ("stop", "kill9"):
        if restart == "stop":
            server.restart()
        else:
            server.kill9()
            server.start()
        more = one_round(len(records), rng)
        got_more = produce(server, topic, more)
        ends = {}
        for s in sent:
            ends[s.partition] = max(ends.get(s.partition, -1), s.offset)
        for s in got_more:
            assert s.offset > ends[s.partition], (s, ends[s.partition])
        records += more
        sent += got_more
        assert len(open_segment_files(server, topic)) <= BUDGET
        assert_roundtrip(records, sent, cf_consume(server.bootstrap, topic, len(records), timeout_s=60))
        assert len(open_segment_files(server, topic)) <= BUDGET, server.log_tail()
    assert "open segment file budget" in server.log_path.read_text()
