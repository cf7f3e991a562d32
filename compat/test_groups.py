"""Consumer groups with real clients: partitions split between members, a
killed member's partitions move after its session times out with nothing
skipped, fan-out to several groups, and committed offsets that survive both
consumer and broker restarts."""

import subprocess
import sys
import time
import uuid

import pytest

from clients import Rec, assert_all_sent, cf_create_topic, cf_produce, take

FAST = {"group.initial.rebalance.delay.ms": "0"}


def group_consumer(bootstrap, group, **conf):
    from confluent_kafka import Consumer

    base = {"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
            "enable.auto.commit": False, "session.timeout.ms": 6000, "heartbeat.interval.ms": 500,
            "fetch.wait.max.ms": 100}
    base.update(conf)
    return Consumer(base)


def values(n, prefix="v"):
    return [Rec(f"k{i}".encode(), f"{prefix}{i}".encode()) for i in range(n)]


def drain(consumers, want, timeout_s=40, already=frozenset()):
    """Polls every consumer in turn until `want` distinct values (counting
    `already`) were seen; returns what each consumer saw."""
    seen = {}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and len(set(already).union(*seen.values())) < want:
        for i, c in enumerate(consumers):
            m = c.poll(0.2)
            if m is not None and m.error() is None:
                seen.setdefault(i, set()).add(m.value())
    return seen


def test_members_split_partitions_and_cover_everything(broker_factory):
    srv = broker_factory(FAST)
    b = srv.bootstrap
    topic = f"split-{uuid.uuid4().hex[:6]}"
    cf_create_topic(b, topic, 4)
    assert_all_sent(cf_produce(b, topic, values(400)))
    group = f"g-{uuid.uuid4().hex[:6]}"
    c1, c2 = group_consumer(b, group), group_consumer(b, group)
    try:
        c1.subscribe([topic])
        c2.subscribe([topic])
        early = set()
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            for c in (c1, c2):
                m = c.poll(0.2)
                if m is not None and m.error() is None:
                    early.add(m.value())
            a1 = {tp.partition for tp in c1.assignment()}
            a2 = {tp.partition for tp in c2.assignment()}
            if a1 and a2 and a1 | a2 == {0, 1, 2, 3}:
                break
        assert a1 and a2, f"both members need partitions: {a1} {a2}"
        assert not (a1 & a2), f"a partition assigned twice: {a1} {a2}"
        assert a1 | a2 == {0, 1, 2, 3}
        seen = drain([c1, c2], 400, already=early)
        union = early.union(*seen.values())
        assert union == {f"v{i}".encode() for i in range(400)}
    finally:
        c1.close()
        c2.close()


def test_two_groups_each_see_everything(broker):
    b = broker.bootstrap
    topic = f"fanout-{uuid.uuid4().hex[:6]}"
    cf_create_topic(b, topic, 3)
    assert_all_sent(cf_produce(b, topic, values(150)))
    for group in ("fan-a", "fan-b"):
        c = group_consumer(b, f"{group}-{topic}")
        try:
            c.subscribe([topic])
            seen = drain([c], 150)
            assert set().union(*seen.values()) == {f"v{i}".encode() for i in range(150)}
        finally:
            c.close()


def test_committed_offsets_survive_consumer_and_broker_restarts(broker_factory):
    srv = broker_factory(FAST)
    b = srv.bootstrap
    topic = "resume"
    cf_create_topic(b, topic, 1)
    assert_all_sent(cf_produce(b, topic, values(100)))
    group = "resumers"

    c = group_consumer(b, group)
    c.subscribe([topic])
    got = take(c, 60)
    assert len(got) == 60
    c.commit(message=got[-1], asynchronous=False)
    c.close()

    assert srv.stop() in (0, 143)
    srv.start()

    from confluent_kafka import TopicPartition
    c = group_consumer(b, group)
    try:
        # Kafka loads coordinators asynchronously after a restart and answers
        # NOT_COORDINATOR meanwhile; clients retry, so does this test.
        deadline = time.monotonic() + 30
        while True:
            try:
                committed = c.committed([TopicPartition(topic, 0)], timeout=20)
                break
            except Exception as e:
                if time.monotonic() > deadline or "COORDINATOR" not in str(e).upper():
                    raise
                time.sleep(0.5)
        assert committed[0].offset == got[-1].offset() + 1
        c.subscribe([topic])
        rest = take(c, 40)
        assert [m.offset() for m in rest] == list(range(60, 100)), "resumed exactly after the commit"
        assert rest[0].value() == b"v60"
    finally:
        c.close()


KILLED_MEMBER = r"""
import sys, time
from confluent_kafka import Consumer
c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": sys.argv[2], "auto.offset.reset": "earliest",
              "enable.auto.commit": False, "session.timeout.ms": 6000, "heartbeat.interval.ms": 500})
c.subscribe([sys.argv[3]])
while True:
    c.poll(0.2)
    if c.assignment():
        print("assigned", flush=True)
"""


def test_killed_member_partitions_move_and_nothing_is_skipped(broker_factory):
    srv = broker_factory(FAST)
    b = srv.bootstrap
    topic, group = "handover", "survivors"
    cf_create_topic(b, topic, 4)
    assert_all_sent(cf_produce(b, topic, values(200)))
    victim = subprocess.Popen([sys.executable, "-c", KILLED_MEMBER, b, group, topic],
                              stdout=subprocess.PIPE, text=True)
    survivor = group_consumer(b, group)
    try:
        assert victim.stdout.readline().strip() == "assigned"
        survivor.subscribe([topic])
        # wait until the two share the partitions, then kill one without a LeaveGroup
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(survivor.assignment()) not in (1, 2, 3):
            survivor.poll(0.2)
        assert 0 < len(survivor.assignment()) < 4, "the survivor should start with a share"
        victim.kill()
        victim.wait()
        # after the session timeout the survivor gets everything, and reads all of it
        seen = drain([survivor], 200, timeout_s=60)
        assert set().union(*seen.values()) == {f"v{i}".encode() for i in range(200)}
        assert {tp.partition for tp in survivor.assignment()} == {0, 1, 2, 3}
    finally:
        victim.kill()
        survivor.close()


def test_kafka_python_group_consumer_commits(broker):
    from kafka import KafkaConsumer, TopicPartition
    b = broker.bootstrap
    topic = f"kp-group-{uuid.uuid4().hex[:6]}"
    cf_create_topic(b, topic, 2)
    assert_all_sent(cf_produce(b, topic, values(50)))
    consumer = KafkaConsumer(topic, bootstrap_servers=b, group_id="kp-group", auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=15000)
    try:
        seen = set()
        for m in consumer:
            seen.add(m.value)
            if len(seen) == 50:
                break
        assert seen == {f"v{i}".encode() for i in range(50)}
        consumer.commit()
        ends = consumer.end_offsets([TopicPartition(topic, 0), TopicPartition(topic, 1)])
        for tp, end in ends.items():
            assert consumer.committed(tp) == end
    finally:
        consumer.close()


def test_admin_lists_describes_and_deletes_groups(broker):
    from confluent_kafka.admin import AdminClient
    from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
    b = broker.bootstrap
    topic = f"adm-{uuid.uuid4().hex[:6]}"
    cf_create_topic(b, topic, 1)
    assert_all_sent(cf_produce(b, topic, values(10)))
    c = group_consumer(b, "admin-group")
    c.subscribe([topic])
    drain([c], 10)
    c.commit(offsets=[TopicPartition(topic, 0, 7)], asynchronous=False)
    admin = AdminClient({"bootstrap.servers": b})
    listed = {g.group_id for g in admin.list_consumer_groups().result().valid}
    assert "admin-group" in listed
    described = admin.describe_consumer_groups(["admin-group"])["admin-group"].result()
    assert len(described.members) == 1
    offsets = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions("admin-group")])["admin-group"].result()
    assert [(tp.partition, tp.offset) for tp in offsets.topic_partitions] == [(0, 7)]
    c.close()
    # an empty group can be deleted; afterwards it is gone
    deleted = admin.delete_consumer_groups(["admin-group"])
    deleted["admin-group"].result()
    assert "admin-group" not in {g.group_id for g in admin.list_consumer_groups().result().valid}


def test_gregor_group_describe_shows_lag_of_a_group_that_is_behind(broker):
    from confluent_kafka import TopicPartition
    from conftest import GREGOR_BIN
    b = broker.bootstrap
    topic = f"lag-{uuid.uuid4().hex[:6]}"
    cf_create_topic(b, topic, 2)
    assert_all_sent(cf_produce(b, topic, [Rec(None, f"v{i}".encode(), partition=i % 2) for i in range(100)]))
    c = group_consumer(b, "laggards")
    c.subscribe([topic])
    drain([c], 10)
    c.commit(offsets=[TopicPartition(topic, 0, 30), TopicPartition(topic, 1, 45)], asynchronous=False)
    c.close()
    listed = subprocess.run([GREGOR_BIN, "group", "list", "--bootstrap-server", b], capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert "laggards\tEmpty\tclassic" in listed.stdout.splitlines()
    out = subprocess.run([GREGOR_BIN, "group", "describe", "laggards", "--bootstrap-server", b],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    rows = [line.split("\t") for line in out.stdout.splitlines()[2:]]
    assert [(r[0], r[1], r[2], r[3], r[4]) for r in rows] == [(topic, "0", "30", "50", "20"), (topic, "1", "45", "50", "5")]


def java_group_member(bootstrap, topic, group, run_ms, **props):
    from jvm import client_cmd
    args = [f"{k.replace('_', '.')}={v}" for k, v in props.items()]
    return subprocess.Popen(client_cmd(bootstrap, "group-consume", topic, group, run_ms, *args),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("assignor", ["range", "cooperative-sticky"])
def test_java_members_share_partitions_with_each_assignor(broker_factory, assignor):
    import json
    srv = broker_factory(FAST)
    b = srv.bootstrap
    topic, group = f"java-{assignor}", f"java-{assignor}"
    cf_create_topic(b, topic, 6)
    assert_all_sent(cf_produce(b, topic, values(600)))
    strategy = {"range": "org.apache.kafka.clients.consumer.RangeAssignor",
                "cooperative-sticky": "org.apache.kafka.clients.consumer.CooperativeStickyAssignor"}[assignor]
    members = [java_group_member(b, topic, group, 15000, partition_assignment_strategy=strategy) for _ in range(2)]
    outputs = [m.communicate(timeout=90) for m in members]
    seen, histories = set(), []
    for stdout, stderr in outputs:
        lines = [json.loads(l) for l in stdout.splitlines() if l.strip()]
        assert not [l for l in lines if "error" in l], stdout + stderr
        seen |= {l["value"] for l in lines if "value" in l}
        histories.append([set(l["assigned"]) for l in lines if "assigned" in l])
    from clients import b64
    assert seen == {b64(f"v{i}".encode()) for i in range(600)}
    # While both were members they held disjoint, complementary shares.
    shared = [(a, b) for a in histories[0] for b in histories[1] if a and b and not (a & b) and a | b == set(range(6))]
    assert shared, histories


def test_java_static_member_rejoins_without_a_rebalance(broker_factory):
    import json
    srv = broker_factory(FAST)
    b = srv.bootstrap
    topic, group = "static", "static-group"
    cf_create_topic(b, topic, 6)
    assert_all_sent(cf_produce(b, topic, values(60)))

    def member(instance, run_ms):
        return java_group_member(b, topic, group, run_ms, group_instance_id=instance, session_timeout_ms=30000)

    def assignments(proc):
        stdout, stderr = proc.communicate(timeout=120)
        lines = [json.loads(l) for l in stdout.splitlines() if l.strip()]
        assert not [l for l in lines if "error" in l], stdout + stderr
        return [set(l["assigned"]) for l in lines if "assigned" in l]

    stayer = member("stayer", 40000)
    time.sleep(3)
    first = assignments(member("bouncer", 10000))
    # The bouncer closed without leaving (static members do not send LeaveGroup);
    # it comes back with the same instance id well within its session timeout.
    second = assignments(member("bouncer", 10000))
    history = assignments(stayer)

    assert first and second
    share = first[-1]
    assert share and share != set(range(6)), first
    assert second[-1] == share, "the returning static member gets its old partitions back"
    # The stayer gave up the bouncer's share once and never got it back while
    # the bouncer was away: its assignment changed only when the bouncer first joined.
    after_split = history[history.index(set(range(6)) - share):]
    assert all(a == set(range(6)) - share for a in after_split), history


def test_gregor_reset_offsets_then_consume_reads_from_the_new_position(broker_factory):
    from confluent_kafka import TopicPartition
    from conftest import GREGOR_BIN
    srv = broker_factory(FAST)
    b = srv.bootstrap
    topic, group = "rewind", "rewinders"
    cf_create_topic(b, topic, 1)
    assert_all_sent(cf_produce(b, topic, [Rec(None, f"v{i}".encode(), timestamp=1_700_000_000_000 + i * 1000) for i in range(100)]))

    def gregor(*args):
        return subprocess.run([GREGOR_BIN, "group", *args, "--bootstrap-server", b], capture_output=True, text=True, timeout=60)

    def current():
        out = gregor("describe", group)
        assert out.returncode == 0, out.stderr
        return int(out.stdout.splitlines()[2].split("\t")[2])

    c = group_consumer(b, group)
    c.subscribe([topic])
    drain([c], 100)
    c.commit(offsets=[TopicPartition(topic, 0, 100)], asynchronous=False)
    refused = gregor("reset-offsets", group, "--topic", topic, "--to-earliest", "--execute")
    assert refused.returncode != 0 and "active member" in refused.stderr
    c.close()

    plan = gregor("reset-offsets", group, "--topic", topic, "--to-offset", "40")
    assert plan.returncode == 0 and f"{group}\t{topic}\t0\t40" in plan.stdout
    assert current() == 100, "a dry run changes nothing"
    assert gregor("reset-offsets", group, "--topic", topic, "--to-offset", "40", "--execute").returncode == 0
    assert current() == 40
    assert gregor("reset-offsets", group, "--all-topics", "--shift-by", "-15", "--execute").returncode == 0
    assert current() == 25
    assert gregor("reset-offsets", group, "--topic", topic, "--to-datetime", "2023-11-14T22:13:30.000Z", "--execute").returncode == 0
    assert current() == 10, "the first record at or after 1_700_000_010_000"

    c = group_consumer(b, group)
    c.subscribe([topic])
    try:
        got = take(c, 90)
        assert [m.offset() for m in got] == list(range(10, 100))
    finally:
        c.close()

    assert gregor("delete-offsets", group, "--topic", topic).returncode == 0
    assert gregor("delete", group).returncode == 0
    assert group not in gregor("list").stdout


def test_kafkajs_group_consumer_reads_and_commits(broker):
    from clients import NODE_DIR, b64, json_lines, run
    from conftest import GREGOR_BIN
    b = broker.bootstrap
    topic = f"kjs-group-{uuid.uuid4().hex[:6]}"
    cf_create_topic(b, topic, 3)
    assert_all_sent(cf_produce(b, topic, values(90)))
    p = run(["node", str(NODE_DIR / "compat.js"), b, "group-consume", topic, "kjs-group", "90", "30000"], timeout=90)
    lines = json_lines(p.stdout)
    assert {l["value"] for l in lines if "value" in l} == {b64(f"v{i}".encode()) for i in range(90)}
    described = subprocess.run([GREGOR_BIN, "group", "describe", "kjs-group", "--bootstrap-server", b],
                               capture_output=True, text=True, timeout=60)
    assert described.returncode == 0, described.stderr
    lags = [row.split("\t")[4] for row in described.stdout.splitlines()[2:]]
    assert lags == ["0", "0", "0"], described.stdout


def test_franz_go_cooperative_group_consumer(broker):
    from clients import FRANZ, b64, json_lines, run
    b = broker.bootstrap
    topic = f"franz-group-{uuid.uuid4().hex[:6]}"
    cf_create_topic(b, topic, 4)
    assert_all_sent(cf_produce(b, topic, values(120)))
    p = run([str(FRANZ), "-b", b, "consume", "-topic", topic, "-group", "franz-group", "-count", "120", "-timeout-ms", "30000"],
            timeout=90)
    lines = json_lines(p.stdout)
    assert not [l for l in lines if "error" in l], lines[-3:]
    assert {l["value"] for l in lines if "value" in l} == {b64(f"v{i}".encode()) for i in range(120)}
    from confluent_kafka.admin import AdminClient
    from confluent_kafka import ConsumerGroupTopicPartitions
    admin = AdminClient({"bootstrap.servers": b})
    committed = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions("franz-group")])["franz-group"].result()
    assert sum(tp.offset for tp in committed.topic_partitions) == 120, "every polled record was committed"
