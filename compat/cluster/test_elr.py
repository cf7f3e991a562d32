"""Eligible leader replicas (KIP-966) as Kafka 4.4's own `kafka-topics --describe`
prints them (its `Elr:` and `LastKnownElr:` columns come from
DescribeTopicPartitions), on 3 controllers + 2 brokers, a new cluster (ELR on):
an RF=2, min.insync.replicas=2 partition whose brokers shut down cleanly one
after the other keeps them eligible, and the one that comes back leads."""

import re

import harness
from test_cluster import wait_for
from test_reassign import name, topics_tool


# A JVM stopped by SIGTERM exits 128 + 15 once its shutdown hooks ran.
CLEAN_EXIT = (0, 143)


def describe_row(boot, topic):
    _, out, _ = topics_tool(boot, "--describe", "--topic", topic)
    rows = [l for l in out.splitlines() if "Partition: 0" in l]
    return rows[0] if rows else ""


def test_kafka_topics_shows_the_elr(cluster_factory):
    cluster = cluster_factory(layout=harness.Cluster.SPLIT_3C_2B)
    b4, b5 = cluster.nodes[4], cluster.nodes[5]
    topic = name("elr")
    topics_tool(b4.bootstrap, "--create", "--topic", topic, "--replica-assignment", "4:5",
                "--config", "min.insync.replicas=2")
    _, out, _ = harness.kafka_tool("FeatureCommand", "--bootstrap-server", b4.bootstrap, "describe")
    assert re.search(r"Feature: eligible.leader.replicas.version\s+SupportedMinVersion: 0\s+"
                     r"SupportedMaxVersion: 1\s+FinalizedVersionLevel: 1", out), out

    def row_matches(boot, pattern):
        row = describe_row(boot, topic)
        return re.search(pattern, row) and row

    wait_for("all in sync", lambda: row_matches(
        b4.bootstrap, r"Leader: 4\s+Replicas: 4,5\s+Isr: 4,5\s+Elr:\s+LastKnownElr:\s*$"), 30)
    # 5 shuts down cleanly: the ISR drops below min.insync.replicas, 5 stays eligible.
    assert b5.stop() in CLEAN_EXIT
    wait_for("5 in the ELR", lambda: row_matches(
        b4.bootstrap, r"Leader: 4\s+Replicas: 4,5\s+Isr: 4\s+Elr: 5\s+LastKnownElr:\s*$"), 30)
    # 4 too: no ISR left, both eligible, nobody leads.
    assert b4.stop() in CLEAN_EXIT
    # 5 returns (cleanly stopped, in the ELR): it leads, alone in the ISR.
    b5.start()
    wait_for("5 leads from the ELR", lambda: row_matches(
        b5.bootstrap, r"Leader: 5\s+Replicas: 4,5\s+Isr: 5\s+Elr: 4\s+LastKnownElr:\s*$"), 60, 0.5)
