"""Faults for the replication fault tests, injected on a harness.Cluster inside the
test's own network namespace: kill -9 of a partition's leader (found with Metadata),
SIGSTOP/SIGCONT of a broker, nftables isolation of one broker or of the active
controller, restarts, and a rolling restart. Every fault is logged as an event with its
wall-clock time (ms) so the history can measure what followed (failover_ms)."""

import random
import time
from collections import Counter

import harness


def now_ms():
    return time.time() * 1000.0


class Nemesis:
    def __init__(self, cluster, topic, partitions, rf=3, log=print):
        self.cluster, self.topic, self.partitions, self.rf = cluster, topic, partitions, rf
        self.events = []
        self.problems = []  # bounds missed (full ISR), reported by the test at the end
        self.log = log

    # ---- what the nodes say ---------------------------------------------------------

    def views(self):
        """{node id: {partition: PartitionMeta}} from every live, unpaused broker, each asked on its own."""
        out = {}
        for n in self.cluster.live_brokers():
            try:
                t = n.metadata([self.topic], timeout=3).topics.get(self.topic)
            except (OSError, ValueError):
                continue
            if t is not None and t.error == 0:
                out[n.node_id] = t.partitions
        return out

    def leader(self, partition):
        """The leader most live brokers report (-1 if none)."""
        votes = Counter(parts[partition].leader for parts in self.views().values() if partition in parts)
        votes.pop(-1, None)
        return votes.most_common(1)[0][0] if votes else -1

    def some_leader(self, partition):
        """The leader of `partition` (mod the count), or any node while it has none."""
        leader = self.leader(partition % self.partitions)
        return leader if leader in self.cluster.nodes else sorted(self.cluster.nodes)[partition % len(self.cluster.nodes)]

    def led_by(self, node_id):
        return [p for p in range(self.partitions) if self.leader(p) == node_id]

    def full_isr(self):
        """Every broker is live and every one, asked on its own, reports for every
        partition a live leader and ISR == replicas (RF of them)."""
        if len(self.cluster.live_brokers()) != len(self.cluster.brokers()):
            return False
        views = self.views()
        if len(views) != len(self.cluster.brokers()):
            return False
        for parts in views.values():
            for p in range(self.partitions):
                m = parts.get(p)
                if m is None or m.error != 0 or m.leader < 0 or len(m.replicas) != self.rf:
                    return False
                if sorted(m.isr) != sorted(m.replicas):
                    return False
        return True

    def wait_full_isr(self, timeout):
        """Seconds until full_isr(); raises AssertionError with the last views after `timeout`."""
        start = time.monotonic()
        while not self.full_isr():
            if time.monotonic() - start > timeout:
                raise AssertionError(f"ISR not full within {timeout}s: {self.views()}")
            time.sleep(0.25)
        return time.monotonic() - start

    def event(self, fault, node=None, partitions=(), **extra):
        e = {"t": now_ms(), "fault": fault, "node": node, "partitions": list(partitions), **extra}
        self.events.append(e)
        self.log(f"nemesis: {fault} node {node} (leader of {list(partitions)}) {extra or ''}")
        return e

    # ---- faults -----------------------------------------------------------------------

    def kill_leader(self, partition=0, down_s=5.0):
        victim = self.leader(partition)
        assert victim > 0, f"no leader of partition {partition}"
        led = self.led_by(victim)
        e = self.event("kill-leader", victim, led)
        self.cluster.nodes[victim].kill9()
        time.sleep(down_s)
        self.cluster.nodes[victim].start()
        self.cluster.wait_ready(timeout=120)
        e["restarted_after_s"] = round((now_ms() - e["t"]) / 1000, 1)
        return e

    def pause(self, node=None, secs=6.0):
        node = node or self.some_leader(1)
        e = self.event("pause", node, self.led_by(node), secs=secs)
        self.cluster.nodes[node].pause()
        time.sleep(secs)
        self.cluster.nodes[node].resume()
        return e

    def isolate(self, node=None, secs=8.0, fault="isolate"):
        node = node or self.some_leader(2)
        others = [i for i in self.cluster.nodes if i != node]
        e = self.event(fault, node, self.led_by(node), secs=secs)
        self.cluster.net.isolate([node], others)
        time.sleep(secs)
        self.cluster.net.heal()
        return e

    def isolate_controller(self, secs=8.0):
        return self.isolate(self.cluster.active_controller(), secs, fault="isolate-controller")

    def heal_all(self, timeout=120):
        """No rule left, nobody paused, every node running and registered."""
        self.cluster.net.heal()
        for n in self.cluster.nodes.values():
            if n.paused:
                n.resume()
            if not n.alive:
                n.start()
        self.cluster.wait_ready(timeout=timeout)

    def bounded_isr(self, bound, what):
        """Seconds to full ISR, or None (and a problem) when `bound` passes: the run goes
        on, so the history and the replicas are still checked and reported."""
        try:
            return round(self.wait_full_isr(bound), 1)
        except AssertionError as e:
            self.problems.append(f"{what}: {e}")
            return None

    def settle(self, bound):
        """After a fault: healed, then back to full ISR within `bound` seconds (recorded)."""
        self.heal_all()
        took = self.bounded_isr(bound, f"after {self.events[-1]['fault'] if self.events else 'start'}")
        if self.events:
            self.events[-1]["full_isr_after_heal_s"] = took
        return took

    def rolling_restart(self, bound):
        """Every node in turn: clean stop (SIGTERM: controlled shutdown), start, and wait
        until it is back in every ISR."""
        for node_id in sorted(self.cluster.nodes):
            n = self.cluster.nodes[node_id]
            e = self.event("rolling-stop", node_id, self.led_by(node_id))
            e["exit_code"] = n.stop(timeout=60)
            e["stopped_after_s"] = round((now_ms() - e["t"]) / 1000, 1)
            n.start()
            self.cluster.wait_ready(timeout=120)
            e["full_isr_after_start_s"] = self.bounded_isr(bound, f"after restarting node {node_id}")

    def random_schedule(self, seconds, seed, bound):
        rng = random.Random(seed)
        end = time.monotonic() + seconds
        faults = ["kill-leader", "pause", "isolate", "isolate-controller"]
        while time.monotonic() < end:
            f = rng.choice(faults)
            if f == "kill-leader":
                self.kill_leader(rng.randrange(self.partitions), down_s=rng.uniform(0, 8))
            elif f == "pause":
                self.pause(rng.choice(sorted(self.cluster.nodes)), secs=rng.uniform(1, 10))
            elif f == "isolate":
                self.isolate(rng.choice(sorted(self.cluster.nodes)), secs=rng.uniform(1, 12))
            else:
                self.isolate_controller(secs=rng.uniform(1, 12))
            self.settle(bound)
            time.sleep(rng.uniform(0, 3))


def stop_all_cleanly(cluster, timeout=40, last_timeout=10):
    """Every node down by SIGTERM, one at a time (exit codes by node id). The last one
    has no quorum left to shut down with (Kafka 4.4 then waits for the controller until
    SIGKILLed); by then it has been idle and its HW checkpoint (written every 5 s) and
    segments are on disk, so it gets `last_timeout` before SIGKILL (exit code -9)."""
    ids = sorted(cluster.nodes)
    return {i: cluster.nodes[i].stop(timeout=last_timeout if i == ids[-1] else timeout) for i in ids}


def log_dirs(cluster):
    return {i: n.data_dir for i, n in cluster.nodes.items() if n.is_broker}


__all__ = ["Nemesis", "stop_all_cleanly", "log_dirs", "harness"]
