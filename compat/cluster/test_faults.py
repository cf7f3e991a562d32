"""Issue 12 item 6: replication under faults, checked from the recorded history.

Real clients (Java kafka-clients, librdkafka, franz-go) produce unique values with
acks=all and idempotence to an RF=3, min.insync.replicas=2 topic while a
confluent-kafka consumer group reads it and its committed offsets are sampled; the
nemesis (nemesis.py) kills -9 partition leaders, SIGSTOPs a broker, isolates a broker
and the active controller with nftables rules in the test's own namespace, and restarts
nodes (or restarts every node in turn, cleanly, under load). Afterwards: every
partition is drained, the history is checked (history.py: nothing acknowledged lost,
no offset with two values, no duplicate, acknowledged records in order, committed
offsets never back, consumers neither skip nor go back), the cluster must be back to
full ISR within a bound, and, with every node stopped cleanly, every replica's
committed prefix on disk must be byte-identical (segments.py) and hold every record
read or acknowledged.

Bounded by default (one fault of each kind, ~2 min each on Kafka on 2 cores); long
randomised runs: GREGOR_FAULT_SECONDS=600 [GREGOR_FAULT_SEED=n]. Each run writes its
figures to target/fault-tests/<test>-<server>-<time>.json and prints them.
The group-side invariants (committed offsets never back, consumers keeping up) are
asserted on Gregor too since its coordinators follow leadership (issue 13); with
harness.GREGOR_COORDINATOR_FAILOVER = False they are only reported.
"""

import json
import os
import time
import uuid

import pytest

import harness
import history
import segments
from clients import java_admin
from nemesis import Nemesis, log_dirs, stop_all_cleanly
from workload import Workload, build_history, drain

PARTITIONS = 3
RF = 3
# After the last heal the cluster must be back to full ISR within this many seconds
# (Kafka needs a node restart plus replica catch-up; measured 5-20 s on 2 cores).
ISR_BOUND_S = float(os.environ.get("GREGOR_FAULT_ISR_BOUND", "90"))
RATE = float(os.environ.get("GREGOR_FAULT_RATE", "100"))  # records/s per producer
FAULT_SECONDS = float(os.environ.get("GREGOR_FAULT_SECONDS", "0"))
SEED = int(os.environ.get("GREGOR_FAULT_SEED", str(int(time.time()))))
CLIENTS = tuple(os.environ.get("GREGOR_FAULT_CLIENTS", "java,librdkafka,franz").split(","))
FIGURES_DIR = harness.ROOT / "target" / "fault-tests"
# Anomalies that need a group coordinator surviving its broker's failure (issue 13).
GROUP_SIDE = {"commit_regression"}


@pytest.fixture
def fault_cluster(cluster_factory):
    return cluster_factory()


def create_topic(cluster):
    topic = f"faults-{uuid.uuid4().hex[:8]}"
    out = java_admin(cluster.bootstrap(), "create-topic", topic, PARTITIONS, RF, "min.insync.replicas=2")
    assert out.get("created") == topic, out
    return topic


# How long the group consumers get, after the final heal, to read what was acknowledged.
TAIL_READ_BOUND_S = 30


def run(cluster, tmp_path, name, schedule, max_indeterminate=None):
    """Workload + `schedule(nemesis)`, then heal, drain, check, stop, compare replicas."""
    topic = create_topic(cluster)
    nem = Nemesis(cluster, topic, PARTITIONS, RF)
    nem.wait_full_isr(60)
    wl = Workload(tmp_path / "clients", cluster.bootstrap(), topic, PARTITIONS, rate=RATE, clients=CLIENTS).start()
    started = time.monotonic()
    phases = {}
    mark = [started]

    def phase(what):
        t = time.monotonic()
        phases[what] = round(t - mark[0], 1)
        mark[0] = t

    try:
        time.sleep(6)  # warm-up: every client connected and acked
        schedule(nem)
        time.sleep(3)
        phase("faults")
    except BaseException:
        # No client may outlive this test (the next cluster reuses the addresses).
        wl.stop_producers()
        wl.stop_consumers()
        raise
    sends = wl.stop_producers()
    phase("stop_producers")
    nem.heal_all()
    isr_s = nem.bounded_isr(ISR_BOUND_S, "after the final heal")
    # The consumers read the tail: a rolling restart can leave the group rebalancing for a
    # while after the last node is back, so wait (bounded) until they have read every
    # acknowledged record rather than a fixed few seconds.
    # The 3 s also let followers learn the final high watermark (one more fetch round) before
    # the nodes stop: the replica check reads their HW checkpoints.
    time.sleep(3)
    wl.wait_consumers_read(sends, TAIL_READ_BOUND_S)
    polls, commits = wl.stop_consumers()
    phase("heal_and_stop_consumers")
    drained, ends, complete = drain(cluster.bootstrap(), topic, PARTITIONS)
    phase("drain")
    hist = build_history(sends, polls, commits, drained)
    rep = history.check(hist)
    phase("check")

    # Every node down cleanly, then the replicas on disk.
    exits = stop_all_cleanly(cluster)
    phase("stop_nodes")
    replicas = segments.read_topic(log_dirs(cluster), topic, PARTITIONS)
    phase("read_segments")
    must_cover = {}
    for s in sends:
        if s.status == history.OK and s.offset is not None:
            must_cover[s.partition] = max(must_cover.get(s.partition, 0), s.offset + 1)
    for p, recs in drained.items():
        if recs:
            must_cover[p] = max(must_cover.get(p, 0), recs[-1][0] + 1)
    replica_problems = history.compare_replicas(replicas, must_cover)

    failovers = []
    for e in nem.events:
        for p in e["partitions"]:
            ms = history.failover_ms(sends, e["t"], p)
            failovers.append({"fault": e["fault"], "node": e["node"], "partition": p,
                              "ms_to_next_ack": None if ms is None else round(ms)})
    kills = [f["ms_to_next_ack"] for f in failovers if f["fault"] == "kill-leader"]
    figures = {
        "test": name, "server": harness.SERVER_KIND, "seed": SEED, "rate_per_producer": RATE,
        "seconds": round(time.monotonic() - started), "topic": topic, "partitions": PARTITIONS,
        **{k: v for k, v in rep.figures.items()},
        "anomalies": {k: len(v) for k, v in rep.anomalies().items()},
        "failover_ms_kill_leader": kills,
        "failovers": failovers,
        "full_isr_after_final_heal_s": isr_s,
        "bounds_missed": nem.problems,
        "events": [{k: (round(v) if k == "t" else v) for k, v in e.items()} for e in nem.events],
        "drain_ends": ends, "commit_sample_failures": wl.sampler.failures,
        "consumer_errors": sum(len(c.errors) for c in wl.consumers),
        "clean_stop_exit_codes": exits,
        "phase_seconds": phases,
        "replicas": {p: {n: {"hw": r.high_watermark, "hw_source": r.hw_source, "batches": len(r.batches),
                             "log_end": r.log_end_offset} for n, r in by.items()} for p, by in replicas.items()},
        "replica_problems": [str(x) for x in replica_problems],
        "client_problems": wl.problems,
    }
    FIGURES_DIR.mkdir(parents=True, exist_ok=True)
    path = FIGURES_DIR / f"{name}-{harness.SERVER_KIND}-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(figures, indent=1, default=str))
    # The raw history too, to re-check offline: history.load(path) -> History.
    history.dump(hist, path.with_suffix(".history.json"))
    print(f"\nfault-test figures ({path}):")
    print(json.dumps({k: figures[k] for k in ("sent", "acknowledged", "indeterminate", "indeterminate_visible",
                                              "lost", "duplicated", "anomalies", "failover_ms_kill_leader",
                                              "full_isr_after_final_heal_s", "phase_seconds")}, default=str))

    # Every failure at once, so one run shows all that broke.
    failures = [*wl.problems, *nem.problems]
    if harness.group_invariants_asserted():
        failures += wl.group_problems
    elif wl.group_problems:
        print(f"group-side problems, not asserted (GREGOR_COORDINATOR_FAILOVER off): {wl.group_problems}")
    if not complete:
        failures.append(f"drain did not reach the end offsets {ends}")
    anomalies = rep.anomalies()
    group_side = {k: v for k, v in anomalies.items() if k in GROUP_SIDE}
    if group_side and not harness.group_invariants_asserted():
        # Issue 13 (coordinators follow leadership): shown, not asserted, yet.
        print(f"group-side anomalies, not asserted (GREGOR_COORDINATOR_FAILOVER off): "
              f"{ {k: len(v) for k, v in group_side.items()} }")
        anomalies = {k: v for k, v in anomalies.items() if k not in GROUP_SIDE}
    if anomalies:
        failures.append(f"history: {rep}")
    failures += [f"replicas: {p}" for p in replica_problems]
    assert not failures, "\n".join(failures)
    # The checks must have had something to check: every producer got acks, and the
    # consumers and the committed-offset sampler saw the data.
    for prod, f in rep.figures["per_producer"].items():
        assert f["acknowledged"] > RATE, (prod, f)
    if harness.group_invariants_asserted():
        assert rep.figures["polled_distinct"] >= rep.figures["acknowledged"] * 0.9, rep.figures
    else:
        # The group's consumers stall while its coordinator's broker is away
        # (issue 13); they must still have read something.
        assert rep.figures["polled_distinct"] > 0, rep.figures
    assert len({c.partition for c in commits if c.source == history.SAMPLE}) == PARTITIONS, "offsets never sampled"
    assert len({c.partition for c in commits if c.source == history.ACK}) == PARTITIONS, "no acknowledged commit"
    if max_indeterminate is not None:
        assert rep.figures["indeterminate"] <= max_indeterminate, rep.figures
    return figures, nem


def bounded_schedule(nem):
    """One of each fault, every one followed by recovery to full ISR (bound recorded)."""
    nem.kill_leader(0, down_s=5)
    nem.settle(ISR_BOUND_S)
    time.sleep(2)
    nem.pause(secs=6)
    nem.settle(ISR_BOUND_S)
    time.sleep(2)
    nem.isolate(secs=8)
    nem.settle(ISR_BOUND_S)
    time.sleep(2)
    nem.isolate_controller(secs=8)
    nem.settle(ISR_BOUND_S)


def test_replication_under_faults(fault_cluster, tmp_path):
    """kill -9 of a leader (restarted 5 s later), SIGSTOP of a broker for 6 s, a broker
    and then the active controller cut off for 8 s, under load; with
    GREGOR_FAULT_SECONDS a random schedule of the same faults for that long."""
    if FAULT_SECONDS > 0:
        print(f"fault schedule: random for {FAULT_SECONDS}s, seed {SEED}")
        schedule = lambda nem: nem.random_schedule(FAULT_SECONDS, SEED, ISR_BOUND_S)  # noqa: E731
    else:
        schedule = bounded_schedule
    figures, nem = run(fault_cluster, tmp_path, "faults", schedule)
    assert any(e["fault"] == "kill-leader" for e in nem.events) or FAULT_SECONDS > 0
    # A killed leader's partitions took writes again: the failover happened.
    assert all(ms is not None for ms in figures["failover_ms_kill_leader"]), figures["failovers"]


def test_rolling_restart_under_load(fault_cluster, tmp_path):
    """Every node in turn stopped cleanly (controlled shutdown moves its leaderships
    away first), started and waited for until it is back in every ISR, under load.
    Idempotent producers see nothing but retries: every send is acknowledged."""
    figures, nem = run(fault_cluster, tmp_path, "rolling-restart", lambda n: n.rolling_restart(ISR_BOUND_S),
                       max_indeterminate=0)
    stops = [e for e in nem.events if e["fault"] == "rolling-stop"]
    assert sorted(e["node"] for e in stops) == sorted(fault_cluster.nodes)
    # Exited by itself after SIGTERM (the JVM says 143), not SIGKILLed after the timeout.
    assert all(e["exit_code"] not in (None, -9) for e in stops), stops
