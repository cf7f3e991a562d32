"""Issue 17: a share group (KIP-932) on a 3-node cluster survives losing the node that
leads its partition, or the node of its share coordinator, with Java KafkaShareConsumers.

The topic has one partition (RF 3) led by a node that is not the share coordinator
(`__share_group_state` has one partition here, so every key has the same coordinator;
the topic's preferred leader is picked to differ from it). Member A gets the first 30
records and accepts or rejects most of them, releases two on their first delivery, and
holds the rest (and the two released ones, if they come back to it) without acknowledging
them. Then one node is lost: the partition leader (SIGKILL, or a controlled shutdown with
SIGTERM), or the share coordinator (SIGKILL). Member B joins, more records are produced, and:

* no record A accepted or rejected (its acknowledgements answered "ok") is delivered again;
* every record A held unacknowledged comes back (Kafka persists no acquisition locks:
  after a leader change they are available again; with the coordinator killed, the
  leader gives them back when their lock expires);
* the released records come back with delivery count 2 or more (the count survives);
* the records produced after the kill are delivered once each, with count 1: the group
  keeps consuming on the new leader.

Every case passes against Apache Kafka 4.4 (COMPAT_SERVER=kafka).
"""

import time
import uuid

import pytest

import harness
import kwire
from share_clients import deliveries, group_config_quick, produce_values, start_member, wait_values
from test_cluster import wait_for
from txn_clients import procs  # noqa: F401 (procs: a fixture)

STATE_TOPIC = "__share_group_state"
SETTINGS = {
    "offsets.topic.num.partitions": 3,
    "share.coordinator.state.topic.num.partitions": 1,
}
# Kafka's lower bound for a group's lock duration (group.share.min.record.lock.duration.ms).
LOCK_MS = 15000
FIRST = [f"a{i}" for i in range(30)]
LATER = [f"b{i}" for i in range(10)]
REJECTED = {"a3"}
RELEASED = {"a7", "a8"}
HELD = {f"a{i}" for i in range(20, 30)}
ACTS = ["a3=reject", "a7@1=release", "a8@1=release", "a7@2=hold", "a8@2=hold", *(f"{v}=hold" for v in HELD)]


def name(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def share_coordinator(cluster):
    """The node of the share coordinator: the leader of the one state partition (created
    by the first SHARE FindCoordinator), once every live broker's FindCoordinator says so."""
    key = f"probe:{kwire.topic_id_b64(bytes(16))}:0"

    def check():
        answers = {n.node_id: kwire.find_coordinator(n.host, key, kwire.SHARE_KEY) for n in cluster.live_brokers()}
        nodes = {node for err, node in answers.values() if err == 0}
        if len(nodes) != 1 or any(err != 0 for err, _ in answers.values()):
            return None
        node = nodes.pop()
        meta = cluster.nodes[node].metadata([STATE_TOPIC]).topics[STATE_TOPIC]
        return node if meta.partitions[0].leader == node else None

    return wait_for("the share coordinator", check, 90, 0.3)


def create_led_by(cluster, topic, leader):
    """The topic, one partition, RF 3, `leader` first in its replicas (its preferred
    leader), with kafka-topics; waits until every broker sees `leader` lead it."""
    others = [n for n in cluster.broker_ids() if n != leader]
    harness.kafka_tool("TopicCommand", "--bootstrap-server", cluster.bootstrap(), "--create", "--topic", topic,
                       "--replica-assignment", ":".join(map(str, [leader, *others])))

    def led():
        for n in cluster.live_brokers():
            t = n.metadata([topic]).topics.get(topic)
            if t is None or t.error != 0 or t.partitions[0].leader != leader:
                return None
        return t.topic_id

    return wait_for(f"{topic} led by {leader}", led, 60, 0.3)


def leader_of(cluster, topic, not_on):
    def check():
        for n in cluster.live_brokers():
            t = n.metadata([topic]).topics.get(topic)
            if t and t.error == 0 and t.partitions[0].leader not in (-1, *not_on):
                return t.partitions[0].leader
        return None

    return wait_for(f"a new leader of {topic}", check, 60, 0.3)


@pytest.mark.parametrize("victim", ["partition-leader", "partition-leader-stopped", "share-coordinator"])
def test_share_group_survives_losing_a_node(cluster_factory, procs, victim):  # noqa: F811
    cluster = cluster_factory(settings=SETTINGS)
    coordinator = share_coordinator(cluster)
    leader = next(n for n in cluster.broker_ids() if n != coordinator)
    topic, group = name("jobs"), name("workers")
    create_led_by(cluster, topic, leader)
    bootstrap = cluster.bootstrap()
    group_config_quick(bootstrap, group, share_auto_offset_reset="earliest", share_record_lock_duration_ms=LOCK_MS)
    produce_values(bootstrap, topic, FIRST, partition=0)

    a = start_member(procs, "java", bootstrap, topic, group, acts=ACTS, hold_ms=600_000, name="member-a")
    wait_values([a], FIRST, 120, "first records to member A")

    def acks_answered(lines):
        # Every record A accepted or rejected or released is in a commit answered after it.
        last_acked = max(i for i, o in enumerate(lines) if o.get("ack") in ("accept", "reject", "release"))
        return any("commit" in o for o in lines[last_acked:])

    lines = a.wait_for(acks_answered, 60, "A's acknowledgements answered")
    outcomes = [v for o in lines if "commit" in o for v in o["commit"].values()]
    assert outcomes and all(v == "ok" for v in outcomes), outcomes
    got_a = deliveries(a.snapshot())
    acked = {d.value for d in got_a if d.ack in ("accept", "reject")}
    assert REJECTED <= acked and not (acked & (HELD | RELEASED)), got_a
    assert {d.value for d in got_a if d.ack == "hold"} >= HELD

    killed = coordinator if victim == "share-coordinator" else leader
    if victim.endswith("-stopped"):
        cluster.nodes[killed].stop()
    else:
        cluster.nodes[killed].kill9()
    if killed == leader:
        leader_of(cluster, topic, not_on=(killed,))
    bootstrap = cluster.bootstrap(exclude=(killed,))

    b = start_member(procs, "java", bootstrap, topic, group, name="member-b")
    produce_values(bootstrap, topic, LATER, partition=0)
    # Held records come back at once after a leader change, after their lock otherwise.
    wait_values([b], HELD | RELEASED | set(LATER), 120 + LOCK_MS // 1000, "records to member B")
    # A little longer, to see anything delivered again that must not be.
    time.sleep(5)
    got_b = deliveries(b.snapshot())
    values_b = [d.value for d in got_b]

    again = sorted(acked & set(values_b))
    assert not again, f"acknowledged records delivered again after losing node {killed} ({victim}): {again}"
    for d in got_b:
        if d.value in RELEASED:
            assert d.delivery_count >= 2, f"{d.value} came back with delivery count {d.delivery_count}"
    later = [d for d in got_b if d.value in LATER]
    assert sorted(d.value for d in later) == sorted(LATER), later
    assert all(d.delivery_count == 1 for d in later), later
