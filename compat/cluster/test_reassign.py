"""Issue 12: Kafka 4.4's kafka-leader-election and kafka-reassign-partitions
against a 3-node cluster (Gregor, or Apache Kafka with COMPAT_SERVER=kafka).

Most of these need no data replication: reorders and shrinks of in-sync replica
sets complete at once, and a reassignment onto a paused broker stays in progress
whatever the replication. test_reassign_partitions_grows_replication_factor needs
followers to catch up and join the ISR.
"""

import json
import re
import uuid

import harness
from test_cluster import same_id_everywhere, wait_for


def name(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def topics_tool(boot, *args):
    return harness.kafka_tool("TopicCommand", "--bootstrap-server", boot, *args)


def reassign_tool(boot, *args, check=True):
    return harness.kafka_tool("reassign.ReassignPartitionsCommand", "--bootstrap-server", boot, *args,
                              check=check)


def election_tool(boot, *args, check=True):
    return harness.kafka_tool("LeaderElectionCommand", "--bootstrap-server", boot, *args, check=check)


def plan(tmp_path, topic, moves):
    """A --reassignment-json-file moving partition -> replicas."""
    path = tmp_path / f"plan-{uuid.uuid4().hex[:6]}.json"
    path.write_text(json.dumps({"version": 1, "partitions": [
        {"topic": topic, "partition": p, "replicas": r, "log_dirs": ["any"] * len(r)} for p, r in moves.items()]}))
    return path


def partition_state(cluster, topic, partition):
    """(replicas, sorted isr, leader) as every live broker sees it, or None while they differ."""
    seen = set()
    for n in cluster.live_brokers():
        t = n.metadata([topic]).topics.get(topic)
        if t is None or partition not in t.partitions:
            return None
        p = t.partitions[partition]
        seen.add((tuple(p.replicas), tuple(sorted(p.isr)), p.leader))
    return seen.pop() if len(seen) == 1 else None


def wait_partition(cluster, topic, partition, replicas, isr, leader, timeout=30):
    want = (tuple(replicas), tuple(sorted(isr)), leader)
    wait_for(f"{topic}-{partition} at {want}", lambda: partition_state(cluster, topic, partition) == want,
             timeout=timeout)


def test_leader_election_tool_preferred_and_unclean(cluster_factory, tmp_path):
    cluster = cluster_factory(settings={"auto.leader.rebalance.enable": "false"})
    boot = cluster.bootstrap()
    topic = name("elect")
    topics_tool(boot, "--create", "--topic", topic, "--replica-assignment", "1:2:3,2:3:1")
    same_id_everywhere(cluster, topic, 2, rf=3)
    wait_partition(cluster, topic, 0, [1, 2, 3], [1, 2, 3], 1)

    # A reorder of in-sync replicas completes at once; leadership stays with 1.
    _, out, _ = reassign_tool(boot, "--execute", "--reassignment-json-file", plan(tmp_path, topic, {0: [3, 2, 1]}))
    assert f"Successfully started partition reassignment for {topic}-0" in out, out
    wait_partition(cluster, topic, 0, [3, 2, 1], [1, 2, 3], 1)

    _, out, _ = election_tool(boot, "--election-type", "preferred", "--topic", topic, "--partition", 0)
    assert out.strip() == f"Successfully completed leader election (PREFERRED) for partitions {topic}-0", out
    wait_partition(cluster, topic, 0, [3, 2, 1], [1, 2, 3], 3)

    election_file = tmp_path / "election.json"
    election_file.write_text(json.dumps({"partitions": [{"topic": topic, "partition": 1}]}))
    _, out, _ = election_tool(boot, "--election-type", "preferred", "--path-to-json-file", election_file)
    assert out.strip() == f"Valid replica already elected for partitions {topic}-1", out
    _, out, _ = election_tool(boot, "--election-type", "unclean", "--topic", topic, "--partition", 1)
    assert out.strip() == f"Valid replica already elected for partitions {topic}-1", out
    rc, out, _ = election_tool(boot, "--election-type", "preferred", "--all-topic-partitions")
    assert rc == 0 and "Error" not in out, out

    rc, out, err = election_tool(boot, "--election-type", "preferred", "--topic", topic, "--partition", 9,
                                 check=False)
    assert rc != 0
    assert f"Error completing leader election (PREFERRED) for partition: {topic}-9: " \
           "org.apache.kafka.common.errors.UnknownTopicOrPartitionException" in out, (out, err)


def test_reassign_partitions_generate_execute_verify_cancel(cluster, tmp_path):
    boot = cluster.bootstrap()
    a, b, c = cluster.broker_ids()
    topic = name("move")
    topics_tool(boot, "--create", "--topic", topic, "--replica-assignment", f"{a}:{b}")
    same_id_everywhere(cluster, topic, 1, rf=2)

    to_move = tmp_path / "topics.json"
    to_move.write_text(json.dumps({"version": 1, "topics": [{"topic": topic}]}))
    _, out, _ = reassign_tool(boot, "--generate", "--topics-to-move-json-file", to_move, "--broker-list", "1,2,3")
    assert "Current partition replica assignment" in out and "Proposed partition reassignment configuration" in out
    current, proposed = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    assert current["partitions"][0]["replicas"] == [a, b], out
    assert len(proposed["partitions"][0]["replicas"]) == 2

    # Reorder, with a throttle: complete at once; --verify clears the throttles.
    move = plan(tmp_path, topic, {0: [b, a]})
    _, out, _ = reassign_tool(boot, "--execute", "--reassignment-json-file", move, "--throttle", 50000000)
    assert f"Successfully started partition reassignment for {topic}-0" in out, out
    assert "The inter-broker throttle limit was set to 50000000 B/s" in out, out
    wait_partition(cluster, topic, 0, [b, a], [a, b], a)
    _, out, _ = reassign_tool(boot, "--verify", "--reassignment-json-file", move)
    assert f"Reassignment of partition {topic}-0 is completed." in out, out
    assert "Clearing broker-level throttles on brokers" in out, out
    assert f"Clearing topic-level throttles on topic {topic}" in out, out

    # Onto the third broker with a 1 B/s throttle and more data than one fetch
    # carries: it cannot catch up, so the reassignment stays in progress (with
    # or without replication) until cancelled.
    harness.kafka_tool("ProducerPerformance", "--topic", topic, "--num-records", 3000, "--record-size", 1000,
                       "--throughput", -1, "--producer-props", f"bootstrap.servers={boot}", "acks=all",
                       "batch.size=100000", "linger.ms=5", timeout=120)
    onto = plan(tmp_path, topic, {0: [c, b]})
    _, out, _ = reassign_tool(boot, "--execute", "--reassignment-json-file", onto, "--throttle", 1)
    assert f"Successfully started partition reassignment for {topic}-0" in out, out
    _, out, _ = reassign_tool(boot, "--list")
    assert re.search(rf"{topic}-0: replicas: {c},{b},{a}\. adding: {c}\. removing: {a}\.", out), out
    rc, out, _ = reassign_tool(boot, "--verify", "--reassignment-json-file", onto, check=False)
    assert f"Reassignment of partition {topic}-0 is still in progress." in out, out
    _, out, _ = reassign_tool(boot, "--cancel", "--reassignment-json-file", onto)
    assert f"Successfully cancelled partition reassignment for: {topic}-0" in out, out
    wait_partition(cluster, topic, 0, [b, a], [a, b], a)
    _, out, _ = reassign_tool(boot, "--list")
    assert "No partition reassignments found." in out, out

    # Bad plans get Kafka's errors.
    rc, out, err = reassign_tool(boot, "--execute", "--reassignment-json-file",
                                 plan(tmp_path, topic, {0: [a, 77]}), check=False)
    assert rc != 0 and "Unknown broker id 77" in out + err, (out, err)


def test_reassign_partitions_grows_replication_factor(cluster, tmp_path):
    """Needs replication: the new replicas catch up and join the ISR."""
    boot = cluster.bootstrap()
    topic = name("grow")
    topics_tool(boot, "--create", "--topic", topic, "--replica-assignment", "1")
    same_id_everywhere(cluster, topic, 1, rf=1)
    grow = plan(tmp_path, topic, {0: [1, 2, 3]})
    _, out, _ = reassign_tool(boot, "--execute", "--reassignment-json-file", grow, "--throttle", 50000000)
    assert f"Successfully started partition reassignment for {topic}-0" in out, out

    def done():
        _, out, _ = reassign_tool(boot, "--verify", "--reassignment-json-file", grow, check=False)
        return f"Reassignment of partition {topic}-0 is completed." in out

    wait_for("the reassignment to complete", done, timeout=60, interval=1)
    wait_partition(cluster, topic, 0, [1, 2, 3], [1, 2, 3], 1)


def listed_partitions(out, topic):
    """The partition numbers of `topic` in a kafka-topics --describe listing."""
    return sorted(int(m) for m in re.findall(rf"Topic: {re.escape(topic)}\s+Partition: (\d+)", out))


def test_topic_health_filters_and_log_dirs(cluster):
    """kafka-topics --describe --under-replicated-partitions / --under-min-isr-partitions /
    --unavailable-partitions while a broker is away, and kafka-log-dirs per broker."""
    boot = cluster.bootstrap()
    active = cluster.active_controller()
    away = next(n for n in cluster.brokers() if n.node_id != active)
    a, b = [i for i in cluster.broker_ids() if i != away.node_id]
    strict, relaxed, single = name("strict"), name("relaxed"), name("single")
    topics_tool(boot, "--create", "--topic", strict, "--partitions", 2, "--replication-factor", 3,
                "--config", "min.insync.replicas=3")
    topics_tool(boot, "--create", "--topic", relaxed, "--partitions", 2, "--replication-factor", 3)
    topics_tool(boot, "--create", "--topic", single, "--replica-assignment", str(away.node_id))
    for t, parts, rf in [(strict, 2, 3), (relaxed, 2, 3), (single, 1, 1)]:
        same_id_everywhere(cluster, t, parts, rf=rf)

    _, out, _ = topics_tool(boot, "--describe", "--under-replicated-partitions")
    assert listed_partitions(out, strict) == [] and listed_partitions(out, relaxed) == [], out

    away.pause()
    try:
        live = f"{harness.node_host(a)}:{harness.BROKER_PORT},{harness.node_host(b)}:{harness.BROKER_PORT}"

        def away_out_of_isrs():
            for n in (cluster.nodes[a], cluster.nodes[b]):
                md = n.metadata([strict, relaxed, single])
                if away.node_id in md.brokers:
                    return False
                for t in (strict, relaxed):
                    if any(away.node_id in p.isr for p in md.topics[t].partitions.values()):
                        return False
                if md.topics[single].partitions[0].leader != -1:
                    return False
            return True

        wait_for("the paused broker out of every ISR", away_out_of_isrs, timeout=30)
        _, out, _ = topics_tool(live, "--describe", "--under-replicated-partitions")
        assert listed_partitions(out, strict) == [0, 1] and listed_partitions(out, relaxed) == [0, 1], out
        _, out, _ = topics_tool(live, "--describe", "--under-min-isr-partitions")
        assert listed_partitions(out, strict) == [0, 1] and listed_partitions(out, relaxed) == [], out
        _, out, _ = topics_tool(live, "--describe", "--unavailable-partitions")
        assert listed_partitions(out, single) == [0], out
        assert listed_partitions(out, strict) == [] and listed_partitions(out, relaxed) == [], out

        _, out, _ = harness.kafka_tool("LogDirsCommand", "--bootstrap-server", live, "--describe",
                                       "--broker-list", f"{a},{b}", "--topic-list", relaxed)
        report = json.loads(next(l for l in out.splitlines() if l.startswith("{")))
        assert sorted(br["broker"] for br in report["brokers"]) == sorted([a, b]), report
        for br in report["brokers"]:
            parts = {p["partition"] for d in br["logDirs"] for p in d["partitions"]}
            assert parts == {f"{relaxed}-0", f"{relaxed}-1"}, br
    finally:
        away.resume()
    cluster.wait_ready(timeout=60)
