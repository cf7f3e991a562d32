"""KIP-392 with the Java consumer: fetch from the closest replica.

Three nodes in racks r1..r3 with the rack-aware replica selector. A Java
consumer with `client.rack` set to a follower's rack reads every record, and
(Gregor) the follower's log shows it served the consumer's fetches while the
leader's shows it named that follower as the preferred read replica. Against
Kafka 4.4 (COMPAT_SERVER=kafka) only the records are checked.
"""

import base64
import json
import subprocess
import time
import uuid

import harness
from clients import Rec, java_admin, java_produce
from jvm import client_cmd

SELECTOR = "org.apache.kafka.common.replica.RackAwareReplicaSelector"


def racked(cluster_factory, monkeypatch):
    # The fetch path's debug lines are the observable of who served whom.
    monkeypatch.setenv("GREGOR_LOG", "info,gregor_broker::fetch::closest=debug")
    cluster = cluster_factory(settings={"replica.selector.class": SELECTOR}, start=False)
    for node in cluster.nodes.values():
        base = node.properties
        node.properties = lambda base=base, rack=f"r{node.node_id}": {**base(), "broker.rack": rack}
    return cluster.start()


def wait_for(what, check, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def group_consume(bootstrap, topic, rack, run_ms):
    group = f"rack-{uuid.uuid4().hex[:6]}"
    p = subprocess.run(client_cmd(bootstrap, "group-consume", topic, group, run_ms, f"client.rack={rack}",
                                  "metadata.max.age.ms=5000"),
                       capture_output=True, text=True, timeout=run_ms / 1000 + 60)
    got = {}
    for line in p.stdout.splitlines():
        o = json.loads(line)
        assert "error" not in o, o
        if "offset" in o:
            got[o["offset"]] = base64.b64decode(o["value"])
    return got


def test_java_consumer_reads_from_the_follower_in_its_rack(cluster_factory, monkeypatch):
    cluster = racked(cluster_factory, monkeypatch)
    bootstrap = cluster.bootstrap()
    topic = f"rack-{uuid.uuid4().hex[:8]}"
    assert java_admin(bootstrap, "create-topic", topic, 1, 3).get("created") == topic

    def leader():
        p = cluster.brokers()[0].metadata([topic]).topics[topic].partitions.get(0)
        return p.leader if p is not None and p.leader > 0 and len(p.isr) == 3 else None

    lead = wait_for("a leader with a full ISR", leader)
    follower = next(n for n in cluster.brokers() if n.node_id != lead)
    values = [f"v{i}".encode() for i in range(200)]
    sent = java_produce(bootstrap, topic, [Rec(None, v, partition=0) for v in values], acks="all")
    assert all(s.error is None for s in sent), sent

    got = group_consume(bootstrap, topic, f"r{follower.node_id}", 12000)
    assert [got.get(i) for i in range(len(values))] == values

    if cluster.kind != "kafka":
        served = follower.log_path.read_text(errors="replace").count("consumer fetch served by a follower")
        named = cluster.nodes[lead].log_path.read_text(errors="replace").count("preferred read replica")
        assert served > 0, follower.log_tail()
        assert named > 0, cluster.nodes[lead].log_tail()
