"""Consumer groups of the KIP-848 protocol (`group.protocol=consumer`) with
real clients: librdkafka (confluent-kafka 2.16) and the Java kafka-clients
4.4 KafkaConsumer. The broker assigns (server-side `uniform` and `range`
assignors) and revokes partitions before handing them over; members
heartbeat with ConsumerGroupHeartbeat and commit at their member epoch.

Also checked against Apache Kafka 4.4.0 (COMPAT_SERVER=kafka)."""

import json
import subprocess
import sys
import time
import uuid

import pytest

from jvm import client_cmd
from clients import Rec, assert_all_sent, b64, cf_create_topic, cf_produce, take

# Short timeouts so a killed member is noticed quickly; Kafka's minimums
# must come down with them (Kafka refuses the same settings otherwise).
FAST = {
    "group.consumer.session.timeout.ms": "6000",
    "group.consumer.min.session.timeout.ms": "6000",
    "group.consumer.heartbeat.interval.ms": "500",
    "group.consumer.min.heartbeat.interval.ms": "500",
}


def member(bootstrap, group, **conf):
    from confluent_kafka import Consumer

    base = {"bootstrap.servers": bootstrap, "group.id": group, "group.protocol": "consumer",
            "auto.offset.reset": "earliest", "enable.auto.commit": False, "fetch.wait.max.ms": 100}
    base.update({k.replace("_", "."): v for k, v in conf.items()})
    return Consumer(base)


def values(n, prefix="v"):
    return [Rec(f"k{i}".encode(), f"{prefix}{i}".encode()) for i in range(n)]


def expected(n, prefix="v"):
    return {f"{prefix}{i}".encode() for i in range(n)}


def partitions(consumer):
    return {(tp.topic, tp.partition) for tp in consumer.assignment()}


def poll_until(consumers, done, timeout_s=40, seen=None):
    """Polls every consumer in turn until `done()`; returns {value: index of
    the consumer that read it}."""
    seen = {} if seen is None else seen
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not done():
        for i, c in enumerate(consumers):
            m = c.poll(0.1)
            if m is not None and m.error() is None:
                seen.setdefault(m.value(), i)
    return seen


def test_two_members_split_the_partitions_and_read_everything(broker_factory):
    srv = broker_factory(FAST)
    b = srv.bootstrap
    topic, group = f"split-{uuid.uuid4().hex[:6]}", f"cp-{uuid.uuid4().hex[:6]}"
    cf_create_topic(b, topic, 4)
    assert_all_sent(cf_produce(b, topic, values(400)))
    c1, c2 = member(b, group), member(b, group)
    try:
        c1.subscribe([topic])
        c2.subscribe([topic])
        everything = {(topic, p) for p in range(4)}
        split = lambda: partitions(c1) and partitions(c2) and partitions(c1) | partitions(c2) == everything
        seen = poll_until([c1, c2], split)
        a1, a2 = partitions(c1), partitions(c2)
        assert a1 and a2, f"both members need partitions: {a1} {a2}"
        assert not a1 & a2, f"a partition assigned twice: {a1} {a2}"
        assert a1 | a2 == everything
        poll_until([c1, c2], lambda: len(seen) == 400, seen=seen)
        assert set(seen) == expected(400)
    finally:
        c1.close()
        c2.close()


def test_a_closing_member_hands_over_and_nothing_is_skipped(broker_factory):
    srv = broker_factory(FAST)
    b = srv.bootstrap
    topic, group = f"handover-{uuid.uuid4().hex[:6]}", f"cp-{uuid.uuid4().hex[:6]}"
    cf_create_topic(b, topic, 4)
    assert_all_sent(cf_produce(b, topic, values(200)))
    c1, c2 = member(b, group), member(b, group)
    c1.subscribe([topic])
    c2.subscribe([topic])
    # Read about half, committing what was read, until both hold partitions.
    seen = {}
    poll_until([c1, c2], lambda: len(seen) >= 100 and partitions(c1) and partitions(c2), seen=seen)
    assert partitions(c1) and partitions(c2)
    c1.commit(asynchronous=False)
    c2.commit(asynchronous=False)
    c1.close()  # leaves the group (epoch -1): its partitions go to c2
    try:
        everything = {(topic, p) for p in range(4)}
        poll_until([c2], lambda: len(seen) == 200 and partitions(c2) == everything, seen=seen)
        assert partitions(c2) == everything
        assert set(seen) == expected(200), f"missing {sorted(expected(200) - set(seen))[:10]}"
    finally:
        c2.close()


KILLED_MEMBER = r"""
import sys
from confluent_kafka import Consumer
c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": sys.argv[2], "group.protocol": "consumer",
              "auto.offset.reset": "earliest", "enable.auto.commit": False})
c.subscribe([sys.argv[3]])
while True:
    c.poll(0.2)
    if c.assignment():
        print("assigned", flush=True)
"""


def test_a_killed_members_partitions_move_after_the_session_timeout(broker_factory):
    srv = broker_factory(FAST)
    b = srv.bootstrap
    topic, group = f"killed-{uuid.uuid4().hex[:6]}", f"cp-{uuid.uuid4().hex[:6]}"
    cf_create_topic(b, topic, 4)
    assert_all_sent(cf_produce(b, topic, values(200)))
    victim = subprocess.Popen([sys.executable, "-c", KILLED_MEMBER, b, group, topic],
                              stdout=subprocess.PIPE, text=True)
    survivor = member(b, group)
    try:
        assert victim.stdout.readline().strip() == "assigned"
        survivor.subscribe([topic])
        seen = poll_until([survivor], lambda: 0 < len(partitions(survivor)) < 4, timeout_s=30)
        assert 0 < len(partitions(survivor)) < 4, "the survivor should start with a share"
        victim.kill()  # no leave: only the session timeout can tell
        victim.wait()
        killed_at = time.monotonic()
        everything = {(topic, p) for p in range(4)}
        poll_until([survivor], lambda: partitions(survivor) == everything, timeout_s=40, seen=seen)
        assert partitions(survivor) == everything
        assert time.monotonic() - killed_at > 4, "moved before the session could expire"
        poll_until([survivor], lambda: len(seen) == 200, seen=seen)
        assert set(seen) == expected(200)
    finally:
        victim.kill()
        survivor.close()


def committed(consumer, tps, timeout_s=30):
    # A restarted Kafka loads its coordinator asynchronously and answers
    # NOT_COORDINATOR meanwhile; clients retry, so does this.
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return consumer.committed(tps, timeout=20)
        except Exception as e:
            if time.monotonic() > deadline or "COORDINATOR" not in str(e).upper():
                raise
            time.sleep(0.5)


def test_committed_offsets_survive_consumer_and_broker_restarts(broker_factory):
    from confluent_kafka import TopicPartition
    srv = broker_factory(FAST)
    b = srv.bootstrap
    topic, group = "resume-cp", "resumers-cp"
    cf_create_topic(b, topic, 1)
    assert_all_sent(cf_produce(b, topic, values(100)))

    c = member(b, group)
    c.subscribe([topic])
    got = take(c, 40)
    assert len(got) == 40
    c.commit(message=got[-1], asynchronous=False)
    c.close()
    # A new consumer of the same group resumes after the commit...
    c = member(b, group)
    c.subscribe([topic])
    got = take(c, 20)
    assert [m.offset() for m in got] == list(range(40, 60))
    c.commit(message=got[-1], asynchronous=False)
    c.close()

    # ...and so does one after a broker restart.
    assert srv.stop() in (0, 143)
    srv.start()
    c = member(b, group)
    try:
        assert committed(c, [TopicPartition(topic, 0)])[0].offset == 60
        c.subscribe([topic])
        rest = take(c, 40)
        assert [m.offset() for m in rest] == list(range(60, 100)), "resumed exactly after the commit"
    finally:
        c.close()


def stable_split(consumers, everything, timeout_s=40):
    """Polls until the members hold disjoint shares covering `everything`."""
    def split():
        shares = [partitions(c) for c in consumers]
        return all(shares) and set().union(*shares) == everything and sum(map(len, shares)) == len(everything)
    poll_until(consumers, split, timeout_s=timeout_s)
    return [partitions(c) for c in consumers]


@pytest.mark.parametrize("assignor", ["uniform", "range"])
def test_server_assignors_give_their_shapes(broker_factory, assignor):
    srv = broker_factory(FAST)
    b = srv.bootstrap
    t1, t2 = f"shape-a-{uuid.uuid4().hex[:6]}", f"shape-b-{uuid.uuid4().hex[:6]}"
    for t in (t1, t2):
        cf_create_topic(b, t, 3)
    group = f"shape-{assignor}-{uuid.uuid4().hex[:6]}"
    c1 = member(b, group, group_remote_assignor=assignor)
    c2 = member(b, group, group_remote_assignor=assignor)
    try:
        c1.subscribe([t1, t2])
        c2.subscribe([t1, t2])
        everything = {(t, p) for t in (t1, t2) for p in range(3)}
        shares = stable_split([c1, c2], everything)
        assert set().union(*shares) == everything and not shares[0] & shares[1], shares
        sizes = sorted(len(s) for s in shares)
        if assignor == "range":
            # Ranges of each topic, co-partitioned: partitions 0-1 of both
            # topics to one member, partition 2 of both to the other.
            assert sizes == [2, 4], shares
            big = max(shares, key=len)
            assert big == {(t, p) for t in (t1, t2) for p in (0, 1)}, shares
        else:
            assert sizes == [3, 3], shares
    finally:
        c1.close()
        c2.close()


def java_member(bootstrap, topic, group, run_ms, **props):
    args = [f"{k.replace('_', '.')}={v}" for k, v in props.items()]
    return subprocess.Popen(client_cmd(bootstrap, "group-consume", topic, group, run_ms, "group.protocol=consumer", *args),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def java_histories(members):
    seen, histories = set(), []
    for proc in members:
        stdout, stderr = proc.communicate(timeout=120)
        lines = [json.loads(l) for l in stdout.splitlines() if l.strip().startswith("{")]
        assert not [l for l in lines if "error" in l], stdout[-2000:] + stderr[-2000:]
        seen |= {l["value"] for l in lines if "value" in l}
        histories.append([set(l["assigned"]) for l in lines if "assigned" in l])
    return seen, histories


@pytest.mark.parametrize("assignor", ["uniform", "range"])
def test_java_members_share_partitions_and_read_everything(broker_factory, assignor):
    srv = broker_factory(FAST)
    b = srv.bootstrap
    topic, group = f"java-cp-{assignor}", f"java-cp-{assignor}"
    cf_create_topic(b, topic, 6)
    assert_all_sent(cf_produce(b, topic, values(600)))
    members = [java_member(b, topic, group, 15000, group_remote_assignor=assignor) for _ in range(2)]
    seen, histories = java_histories(members)
    assert seen == {b64(v) for v in expected(600)}
    # While both were members they held disjoint, complementary shares.
    shared = [(x, y) for x in histories[0] for y in histories[1] if x and y and not x & y and x | y == set(range(6))]
    assert shared, histories
    if assignor == "range":
        assert any({frozenset(x), frozenset(y)} == {frozenset({0, 1, 2}), frozenset({3, 4, 5})}
                   for x, y in shared), histories


def test_gregor_group_describe_shows_members_and_lag(broker_factory):
    from confluent_kafka import TopicPartition
    from conftest import GREGOR_BIN
    srv = broker_factory(FAST)
    b = srv.bootstrap
    topic, group = f"lag-cp-{uuid.uuid4().hex[:6]}", "laggards-cp"
    cf_create_topic(b, topic, 2)
    assert_all_sent(cf_produce(b, topic, [Rec(None, f"v{i}".encode(), partition=i % 2) for i in range(100)]))
    c = member(b, group)
    try:
        c.subscribe([topic])
        poll_until([c], lambda: len(partitions(c)) == 2)
        c.commit(offsets=[TopicPartition(topic, 0, 30), TopicPartition(topic, 1, 45)], asynchronous=False)
        listed = subprocess.run([GREGOR_BIN, "group", "list", "--bootstrap-server", b],
                                capture_output=True, text=True, timeout=60)
        assert listed.returncode == 0, listed.stderr
        assert f"{group}\tStable\tconsumer" in listed.stdout.splitlines()
        out = subprocess.run([GREGOR_BIN, "group", "describe", group, "--bootstrap-server", b],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        lines = out.stdout.splitlines()
        assert lines[0] == f"Group: {group}\tState: Stable\tMembers: 1", out.stdout
        rows = [line.split("\t") for line in lines[2:]]
        assert [(r[0], r[1], r[2], r[3], r[4]) for r in rows] == [(topic, "0", "30", "50", "20"),
                                                                 (topic, "1", "45", "50", "5")]
        assert len({r[5] for r in rows}) == 1 and rows[0][5] != "-", "both rows name the member"
    finally:
        c.close()


def test_admin_sees_a_consumer_protocol_group(broker_factory):
    from confluent_kafka import ConsumerGroupType
    from confluent_kafka.admin import AdminClient
    srv = broker_factory(FAST)
    b = srv.bootstrap
    topic, group = f"adm-cp-{uuid.uuid4().hex[:6]}", f"adm-cp-{uuid.uuid4().hex[:6]}"
    cf_create_topic(b, topic, 2)
    c = member(b, group)
    admin = AdminClient({"bootstrap.servers": b})
    try:
        c.subscribe([topic])
        poll_until([c], lambda: len(partitions(c)) == 2)
        listed = admin.list_consumer_groups(types={ConsumerGroupType.CONSUMER}).result().valid
        assert [(g.group_id, g.type) for g in listed] == [(group, ConsumerGroupType.CONSUMER)]
        described = admin.describe_consumer_groups([group])[group].result()
        assert described.type == ConsumerGroupType.CONSUMER
        assert [{tp.partition for tp in m.assignment.topic_partitions} for m in described.members] == [{0, 1}]
    finally:
        c.close()
    # Once its member left, the empty group can be deleted.
    deadline = time.monotonic() + 20
    while True:
        try:
            admin.delete_consumer_groups([group])[group].result()
            break
        except Exception as e:
            if time.monotonic() > deadline or "NON_EMPTY" not in str(e).upper():
                raise
            time.sleep(0.5)
    assert group not in {g.group_id for g in admin.list_consumer_groups().result().valid}


def test_new_partitions_are_assigned_to_members(broker_factory):
    from confluent_kafka.admin import NewPartitions
    from clients import cf_admin
    srv = broker_factory(FAST)
    b = srv.bootstrap
    topic, group = f"grow-{uuid.uuid4().hex[:6]}", f"cp-{uuid.uuid4().hex[:6]}"
    cf_create_topic(b, topic, 2)
    c = member(b, group, topic_metadata_refresh_interval_ms=1000)
    try:
        c.subscribe([topic])
        poll_until([c], lambda: len(partitions(c)) == 2)
        assert partitions(c) == {(topic, 0), (topic, 1)}
        admin = cf_admin(b)
        admin.create_partitions([NewPartitions(topic, 4)])[topic].result(timeout=30)
        # The next heartbeat sees the new partition count: the group epoch
        # moves and the member gets the new partitions.
        poll_until([c], lambda: len(partitions(c)) == 4, timeout_s=40)
        assert partitions(c) == {(topic, p) for p in range(4)}
    finally:
        c.close()


def test_a_static_member_comes_back_to_its_partitions(broker_factory):
    srv = broker_factory(FAST)
    b = srv.bootstrap
    topic, group = f"static-{uuid.uuid4().hex[:6]}", f"cp-{uuid.uuid4().hex[:6]}"
    cf_create_topic(b, topic, 6)
    everything = {(topic, p) for p in range(6)}
    bouncer = member(b, group, group_instance_id="bouncer")
    stayer = member(b, group)
    try:
        bouncer.subscribe([topic])
        stayer.subscribe([topic])
        share, rest = stable_split([bouncer, stayer], everything)
        # A static member's close is a temporary leave (epoch -2): its
        # partitions wait for it for the session timeout.
        bouncer.close()
        bouncer = member(b, group, group_instance_id="bouncer")
        bouncer.subscribe([topic])
        again, rest_again = stable_split([bouncer, stayer], everything)
        assert again == share, "the returning static member gets its old partitions back"
        assert rest_again == rest, "the other member kept its share"
    finally:
        bouncer.close()
        stayer.close()
