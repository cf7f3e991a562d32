"""Issue 13: group and transaction coordinators that move with leadership, on
3-node clusters (RF 3 internal topics), with real clients and raw requests.

* a classic and a KIP-848 group (Java kafka-clients) consuming an RF 3 topic
  survive a kill -9 of their coordinator's node: they find the new coordinator,
  carry on with the same generation / member epoch or later, the offsets the
  new coordinator serves are the ones acknowledged before the kill, and Kafka's
  kafka-consumer-groups --describe works afterwards;
* offset expiry and group deletion on a coordinator that is not the bootstrap
  broker, and after a failover;
* bad input, raw (kwire), before and after a failover: NOT_COORDINATOR from a
  node that is not the coordinator, ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID,
  FENCED_MEMBER_EPOCH; none of them costs the group its state;
* transactions: a marker with a stale coordinator epoch is refused by the
  partition leader with TRANSACTION_COORDINATOR_FENCED; a producer whose
  coordinator died mid-transaction is fenced by the re-initialised one and
  read_committed consumers see nothing of its aborted transaction;
* an offset commit the followers lack is neither acknowledged nor served, nor is a
  group it alone created listed (Kafka reads coordinator state at the high
  watermark; so does Gregor).

Every test passes against Apache Kafka 4.4 (COMPAT_SERVER=kafka). The coordinator
of a key is the leader of partition Utils.abs(key.hashCode()) % partitions of
the internal topic: `coordinator()` checks FindCoordinator against that.
"""

import re
import time
import uuid

import pytest

import harness
import kwire
from jvm import client_cmd
from test_cluster import java_create, wait_for
from txn_clients import cf_read_all, procs  # noqa: F401 (procs: a fixture)

# Fewer coordinator partitions than Kafka's 50 (the layout is the same; clusters start faster).
PARTITIONS = 10
SETTINGS = {"offsets.topic.num.partitions": PARTITIONS, "transaction.state.log.num.partitions": PARTITIONS}
OFFSETS, TXN_STATE = "__consumer_offsets", "__transaction_state"
# Answers while a coordinator moves: ask again.
MOVING = (kwire.NOT_COORDINATOR, kwire.COORDINATOR_LOAD_IN_PROGRESS, kwire.COORDINATOR_NOT_AVAILABLE)


def name(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def live(cluster):
    return cluster.live_brokers()


def coordinator(cluster, key, key_type=kwire.GROUP_KEY, not_on=(), timeout=90):
    """(node id, internal partition, its leader epoch) of the coordinator of `key`, as
    every live broker's FindCoordinator answers it, once it is the leader of Kafka's
    partition for the key and not one of `not_on`."""
    topic = OFFSETS if key_type == kwire.GROUP_KEY else TXN_STATE
    part = kwire.partition_for(key, PARTITIONS)

    def check():
        answers = {n.node_id: kwire.find_coordinator(n.host, key, key_type) for n in live(cluster)}
        nodes = {node for err, node in answers.values() if err == 0}
        if len(nodes) != 1 or any(err != 0 for err, _ in answers.values()):
            return None
        node = nodes.pop()
        if node in not_on or not cluster.nodes[node].alive:
            return None
        meta = cluster.nodes[node].metadata([topic]).topics[topic]
        assert len(meta.partitions) == PARTITIONS, meta
        p = meta.partitions[part]
        assert p.leader == node, f"FindCoordinator says {node}, leader of {topic}-{part} is {p.leader}: {answers}"
        if key_type == kwire.GROUP_KEY and kwire.offset_fetch(cluster.nodes[node].host, key)[0] in MOVING:
            return None  # elected but still loading
        return node, part, p.leader_epoch

    return wait_for(f"the coordinator of {key}", check, timeout, 0.3)


def keys_coordinated_by(cluster, prefix, count, want=None, avoid=None, key_type=kwire.GROUP_KEY):
    """`count` fresh keys in one coordinator partition (so they move together), whose
    coordinator is node `want` (or any node but `avoid`)."""
    keys, node = [], want
    for _ in range(2000):
        k = name(prefix)
        if keys and kwire.partition_for(k, PARTITIONS) != kwire.partition_for(keys[0], PARTITIONS):
            continue
        err, n = kwire.find_coordinator(live(cluster)[0].host, k, key_type)
        assert err == 0, err
        if n == avoid or (node is not None and n != node):
            continue
        if coordinator(cluster, k, key_type)[0] != n:
            continue  # moved meanwhile
        node = n
        keys.append(k)
        if len(keys) == count:
            return keys, node
    raise AssertionError(f"no {count} keys on one coordinator")


def fetch_settled(cluster, node, group, topics=None, timeout=60):
    """OffsetFetch from `node`, asked again while the coordinator is still moving or loading."""
    def check():
        err, got = kwire.offset_fetch(cluster.nodes[node].host, group, topics)
        if err in MOVING or any(e in MOVING for _, e in got.values()):
            return None
        assert err == 0, err
        return ({(t, p): o for (t, p), (o, e) in got.items()},)
    return wait_for(f"offsets of {group} from node {node}", check, timeout)[0]


def loaded(ask, timeout=30):
    """ask() again while the answer is COORDINATOR_LOAD_IN_PROGRESS (clients retry it):
    Gregor reloads a shard from its log after a write that failed, Kafka does not.
    Takes (error, ...) answers and DescribeGroups' {group: (error, ...)}."""
    def check():
        got = ask()
        codes = [v[0] for v in got.values()] if isinstance(got, dict) else [got[0]]
        return None if kwire.COORDINATOR_LOAD_IN_PROGRESS in codes else (got,)
    return wait_for("an answer from a loaded coordinator", check, timeout)[0]


def committed(offsets):
    """Only partitions with a committed offset (a deleted / expired one reads -1)."""
    return {tp: o for tp, o in offsets.items() if o >= 0}


def produce(bootstrap, topic, n, prefix):
    """n acks=all records spread over the topic's partitions; {partition: end offset}."""
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5, "message.timeout.ms": 60000})
    ends, errors = {}, []

    def cb(err, msg):
        if err is not None:
            errors.append(err)
        else:
            ends[msg.partition()] = max(ends.get(msg.partition(), 0), msg.offset() + 1)

    for i in range(n):
        p.produce(topic, key=f"{prefix}-{i}".encode(), value=f"{prefix}-{i}".encode(), on_delivery=cb)
        p.poll(0)
    assert p.flush(90) == 0
    assert not errors, errors[:3]
    return ends


def groups_tool(bootstrap, *args, check=True):
    return harness.kafka_tool("consumer.group.ConsumerGroupCommand", "--bootstrap-server", bootstrap, *args,
                              check=check)


def cf_commit(bootstrap, group, topic, offsets):
    """A standalone commit (no membership) by librdkafka bootstrapped at `bootstrap`."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        c.commit(offsets=[TopicPartition(topic, p, o) for p, o in offsets.items()], asynchronous=False)
    finally:
        c.close()


# ---- members carry on across a coordinator failover ----------------------------------------

def last_commits(lines, before=None):
    """{(topic-less) partition: offset} of the last acknowledged commit per partition."""
    out = {}
    for o in lines:
        if "commit" in o and (before is None or o["t"] < before):
            for p, off in o["commit"].items():
                out[int(p)] = off
    return out


@pytest.mark.parametrize("protocol", ["classic", "consumer"])
def test_group_members_follow_their_coordinator(cluster_factory, procs, protocol):
    cluster = cluster_factory(settings=SETTINGS)
    topic, group = name("follow"), name(f"follow-{protocol}")
    java_create(cluster.bootstrap(), topic, 3, 3)
    ends = produce(cluster.bootstrap(), topic, 300, "a")
    member = procs(client_cmd(cluster.bootstrap(), "group-follow", topic, group, f"group.protocol={protocol}"),
                   f"java {protocol} member")
    member.wait_for(lambda ls: last_commits(ls) == ends, 90, "commits of the first 300 records")
    old, part, epoch = coordinator(cluster, group)
    lines = member.wait_for(lambda ls: [o for o in ls if "assigned" in o and o["gen"] > 0], 10, "a status line")
    gen_before = max(o["gen"] for o in lines if "gen" in o)
    before = {(topic, p): o for p, o in last_commits(lines).items()}
    assert fetch_settled(cluster, old, group) == before

    killed_at = time.time() * 1000
    cluster.nodes[old].kill9()
    new, new_part, new_epoch = coordinator(cluster, group, not_on=(old,))
    assert new_part == part and new_epoch > epoch
    # Nothing acknowledged is lost: the new coordinator serves the same offsets.
    assert fetch_settled(cluster, new, group) == before == {(topic, p): o for p, o in
                                                           last_commits(member.snapshot(), killed_at).items()}

    more = produce(cluster.bootstrap(exclude=[old]), topic, 300, "b")
    ends_after = {p: max(ends.get(p, 0), more.get(p, 0)) for p in range(3)}
    lines = member.wait_for(lambda ls: last_commits(ls) == ends_after, 90, "commits of the next 300 records")
    after = [o for o in lines if "commit" in o and o["t"] > killed_at]
    assert after, "no commit acknowledged by the new coordinator"
    assert all(o["gen"] >= gen_before for o in after), (gen_before, after[:5])
    assert not [o for o in lines if "commitErr" in o or "error" in o], [o for o in lines if "commitErr" in o][:5]
    # Offsets never go back, partition by partition.
    seen = {}
    for o in lines:
        for p, off in o.get("commit", {}).items():
            assert off >= seen.get(p, 0), (p, off, seen)
            seen[p] = off
    assert fetch_settled(cluster, new, group) == {(topic, p): o for p, o in ends_after.items()}

    # Kafka's own tool, after the failover: every partition caught up, owned by the live member.
    boot = cluster.bootstrap(exclude=[old])
    _, out, _ = groups_tool(boot, "--describe", "--group", group)
    rows = {int(r[2]): r for r in (l.split() for l in out.splitlines()) if r and r[0] == group}
    assert sorted(rows) == [0, 1, 2], out
    for p, r in rows.items():
        assert (r[1], r[3], r[4], r[5]) == (topic, str(ends_after[p]), str(ends_after[p]), "0"), out
        assert r[6] != "-", out  # CONSUMER-ID: the member still owns it
    _, out, _ = groups_tool(boot, "--describe", "--group", group, "--state")
    assert re.search(rf"{re.escape(cluster.nodes[new].host)}:9092\s+\({new}\)", out), out
    assert "Stable" in out, out
    member.close_stdin()
    assert member.wait(60) == 0


# ---- offset expiry and group deletion away from the bootstrap broker ------------------------

def test_offsets_expire_on_a_remote_coordinator_and_after_failover(cluster_factory):
    cluster = cluster_factory(settings={**SETTINGS, "offsets.retention.minutes": 1,
                                        "offsets.retention.check.interval.ms": 1000})
    topic = name("expire")
    java_create(cluster.bootstrap(), topic, 2, 3)
    boot = cluster.nodes[1].bootstrap
    coordinator(cluster, name("warm-up"))
    (first, second), node = keys_coordinated_by(cluster, "expire", 2, avoid=1)
    retention_ms = 60000

    def commit_then_expire(group, kill=False):
        cf_commit(boot if not kill else cluster.bootstrap(exclude=[node]), group, topic, {0: 7, 1: 3})
        t0 = time.monotonic()
        coord = node
        if kill:
            cluster.nodes[node].kill9()
            coord = coordinator(cluster, group, not_on=(node,))[0]
        want = {(topic, 0): 7, (topic, 1): 3}
        got = committed(fetch_settled(cluster, coord, group))
        assert time.monotonic() - t0 < 50, "too slow to tell kept offsets from expired ones"
        assert got == want, got
        wait_for(f"offsets of {group} expired", lambda: committed(fetch_settled(cluster, coord, group)) == {},
                 retention_ms / 1000 + 60, 1.0)
        # They lived out their retention.
        assert time.monotonic() - t0 >= retention_ms / 1000 - 5

    commit_then_expire(first)
    commit_then_expire(second, kill=True)


def test_group_deletion_on_a_remote_coordinator_and_after_failover(cluster_factory):
    cluster = cluster_factory(settings=SETTINGS)
    topic = name("delete")
    java_create(cluster.bootstrap(), topic, 2, 3)
    boot = cluster.nodes[1].bootstrap
    coordinator(cluster, name("warm-up"))
    (gone, kept), node = keys_coordinated_by(cluster, "delete", 2, avoid=1)
    want = {(topic, 0): 5, (topic, 1): 9}
    for g in (gone, kept):
        cf_commit(boot, g, topic, {0: 5, 1: 9})
        assert committed(fetch_settled(cluster, node, g)) == want

    # Through the bootstrap broker, which is not the coordinator.
    _, out, _ = groups_tool(boot, "--delete", "--group", gone)
    assert f"Deletion of requested consumer groups ('{gone}') was successful." in out, out
    assert committed(fetch_settled(cluster, node, gone)) == {}
    # Kafka 4.4's tool: "Error: Executing consumer group command failed due to
    # org.apache.kafka.common.errors.GroupIdNotFoundException: Group X not found."
    rc, out, err = groups_tool(boot, "--describe", "--group", gone, check=False)
    assert f"GroupIdNotFoundException: Group {gone} not found." in out + err, out + err
    # Raw: DeleteGroups to a node that is not the coordinator; of a group that is not there.
    wrong = next(n for n in cluster.broker_ids() if n != node)
    assert kwire.delete_groups(cluster.nodes[wrong].host, [kept]) == {kept: kwire.NOT_COORDINATOR}
    assert kwire.delete_groups(cluster.nodes[node].host, [gone]) == {gone: kwire.GROUP_ID_NOT_FOUND}

    cluster.nodes[node].kill9()
    new = coordinator(cluster, kept, not_on=(node,))[0]
    assert coordinator(cluster, gone)[0] == new
    # The deletion survived the failover; the other group's offsets too.
    assert committed(fetch_settled(cluster, new, gone)) == {}
    assert committed(fetch_settled(cluster, new, kept)) == want
    live_boot = cluster.bootstrap(exclude=[node])
    _, out, _ = groups_tool(live_boot, "--delete", "--group", kept)
    assert f"Deletion of requested consumer groups ('{kept}') was successful." in out, out
    assert committed(fetch_settled(cluster, new, kept)) == {}
    _, out, _ = groups_tool(live_boot, "--list")
    assert kept not in out.split() and gone not in out.split(), out


# ---- bad input: wrong node, stale generations and epochs, before and after failover -------

def classic_member(host, group, topic):
    """A raw classic member, leader of its one-member group: (member id, generation)."""
    j = kwire.join_group(host, group, topics=[topic])
    assert j["error"] == kwire.MEMBER_ID_REQUIRED and j["member_id"], j
    j = kwire.join_group(host, group, member_id=j["member_id"], topics=[topic])
    assert j["error"] == 0 and j["leader"] == j["member_id"] and j["generation"] >= 1, j
    # ConsumerProtocolAssignment v0: the member gets partition 0 of the topic.
    assignment = (b"\x00\x00" + b"\x00\x00\x00\x01" + len(topic).to_bytes(2, "big") + topic.encode()
                  + b"\x00\x00\x00\x01\x00\x00\x00\x00" + b"\xff\xff\xff\xff")
    assert kwire.sync_group(host, group, j["generation"], j["member_id"], {j["member_id"]: assignment}) == 0
    return j["member_id"], j["generation"]


def check_group_requests(cluster, coord, wrong, classic, kip848, topic):
    """Every bad request gets Kafka's error and the members stay as they were."""
    group, member, gen, offsets = classic
    cgroup, cmember, epoch = kip848
    c, w = cluster.nodes[coord].host, cluster.nodes[wrong].host
    tp = (topic, 0)
    # A node that is not the coordinator.
    assert kwire.offset_fetch(w, group)[0] == kwire.NOT_COORDINATOR
    assert kwire.heartbeat(w, group, gen, member) == kwire.NOT_COORDINATOR
    assert kwire.join_group(w, group, member_id=member, topics=[topic])["error"] == kwire.NOT_COORDINATOR
    assert kwire.sync_group(w, group, gen, member) == kwire.NOT_COORDINATOR
    assert kwire.offset_commit(w, group, {tp: 1}, gen, member) == {tp: kwire.NOT_COORDINATOR}
    assert kwire.consumer_group_heartbeat(w, cgroup, cmember, epoch)["error"] == kwire.NOT_COORDINATOR
    # Stale or unknown members at the coordinator.
    assert kwire.heartbeat(c, group, gen - 1, member) == kwire.ILLEGAL_GENERATION
    assert kwire.heartbeat(c, group, gen + 1, member) == kwire.ILLEGAL_GENERATION
    assert kwire.heartbeat(c, group, gen, "intruder-" + member) == kwire.UNKNOWN_MEMBER_ID
    assert kwire.offset_commit(c, group, {tp: 1}, gen - 1, member) == {tp: kwire.ILLEGAL_GENERATION}
    assert kwire.offset_commit(c, group, {tp: 1}, gen, "intruder-" + member) == {tp: kwire.UNKNOWN_MEMBER_ID}
    assert kwire.sync_group(c, group, gen - 1, member) == kwire.ILLEGAL_GENERATION
    assert kwire.consumer_group_heartbeat(c, cgroup, cmember, epoch + 1)["error"] == kwire.FENCED_MEMBER_EPOCH
    assert kwire.consumer_group_heartbeat(c, cgroup, uuid.uuid4().hex[:22], 1)["error"] == kwire.UNKNOWN_MEMBER_ID
    # Nothing of that cost the group its state.
    assert kwire.heartbeat(c, group, gen, member) == 0
    assert fetch_settled(cluster, coord, group) == offsets
    hb = kwire.consumer_group_heartbeat(c, cgroup, cmember, epoch)
    assert hb["error"] == 0 and hb["epoch"] == epoch, hb


def test_coordinator_errors_before_and_after_failover(cluster_factory):
    cluster = cluster_factory(settings=SETTINGS)
    topic = name("bad")
    java_create(cluster.bootstrap(), topic, 1, 3)
    coordinator(cluster, name("warm-up"))
    (group, cgroup), node = keys_coordinated_by(cluster, "bad", 2)
    coordinator(cluster, group)
    c = cluster.nodes[node].host
    member, gen = classic_member(c, group, topic)
    assert kwire.offset_commit(c, group, {(topic, 0): 11}, gen, member) == {(topic, 0): 0}
    offsets = {(topic, 0): 11}
    cmember = uuid.uuid4().hex[:22]
    hb = kwire.consumer_group_heartbeat(c, cgroup, cmember, 0, topics=[topic], rebalance_ms=30000)
    assert hb["error"] == 0 and hb["epoch"] >= 1, hb
    epoch = hb["epoch"]
    wrong = next(n for n in cluster.broker_ids() if n != node)
    check_group_requests(cluster, node, wrong, (group, member, gen, offsets), (cgroup, cmember, epoch), topic)

    cluster.nodes[node].kill9()
    new = coordinator(cluster, group, not_on=(node,))[0]
    assert coordinator(cluster, cgroup)[0] == new
    # The members live on at the new coordinator, with their generation and epoch.
    assert fetch_settled(cluster, new, group) == offsets
    assert wait_for("the classic member at the new coordinator",
                    lambda: kwire.heartbeat(cluster.nodes[new].host, group, gen, member) == 0, 30)
    hb = wait_for("the KIP-848 member at the new coordinator", lambda: (lambda h: h["error"] not in MOVING and h)(
        kwire.consumer_group_heartbeat(cluster.nodes[new].host, cgroup, cmember, epoch)), 30)
    assert hb["error"] == 0 and hb["epoch"] == epoch, hb
    wrong = next(n for n in cluster.broker_ids() if n not in (node, new))
    check_group_requests(cluster, new, wrong, (group, member, gen, offsets), (cgroup, cmember, epoch), topic)


# ---- transactions across a coordinator failover ---------------------------------------------

def txn_producer(bootstrap, txn_id):
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": bootstrap, "transactional.id": txn_id, "linger.ms": 5,
                  "transaction.timeout.ms": 60000})
    p.init_transactions(60)
    return p


def send(p, topic, values):
    for v in values:
        p.produce(topic, value=v.encode(), partition=0)
    assert p.flush(60) == 0


def describe_producer(bootstrap, topic, pid):
    """kafka-transactions describe-producers: the partition leader's state of one producer."""
    _, out, _ = harness.kafka_tool("TransactionsCommand", "--bootstrap-server", bootstrap, "describe-producers",
                                   "--topic", topic, "--partition", "0")
    lines = [l.split("\t") for l in out.splitlines() if l.strip()]
    header = [h.strip() for h in lines[0]]
    rows = [dict(zip(header, (f.strip() for f in r))) for r in lines[1:]]
    return next(r for r in rows if r["ProducerId"] == str(pid))


def describe_txn(bootstrap, txn_id):
    _, out, _ = harness.kafka_tool("TransactionsCommand", "--bootstrap-server", bootstrap, "describe",
                                   "--transactional-id", txn_id)
    lines = [l.split("\t") for l in out.splitlines() if l.strip()]
    return dict(zip([h.strip() for h in lines[0]], (f.strip() for f in lines[1])))


def test_marker_of_a_stale_coordinator_is_fenced(cluster_factory):
    cluster = cluster_factory(settings=SETTINGS)
    topic, txn_id = name("markers"), name("txn")
    java_create(cluster.bootstrap(), topic, 1, 3)
    p = txn_producer(cluster.bootstrap(), txn_id)
    old, part, old_epoch = coordinator(cluster, txn_id, kwire.TXN_KEY)
    p.begin_transaction()
    send(p, topic, ["one"])
    p.commit_transaction(60)

    cluster.nodes[old].kill9()
    new, _, new_epoch = coordinator(cluster, txn_id, kwire.TXN_KEY, not_on=(old,))
    assert new_epoch > old_epoch
    boot = cluster.bootstrap(exclude=[old])
    p = txn_producer(boot, txn_id)
    p.begin_transaction()
    send(p, topic, ["two"])
    p.commit_transaction(60)

    txn = describe_txn(boot, txn_id)
    assert txn["TransactionState"] == "CompleteCommit", txn
    pid = int(txn["ProducerId"])
    state = wait_for("the new coordinator's marker", lambda: (lambda r: int(r["LatestCoordinatorEpoch"]) == new_epoch
                                                              and r)(describe_producer(boot, topic, pid)), 30)
    leader = wait_for("a leader", lambda: (lambda m: m.leader > 0 and m.leader)(
        cluster.nodes[new].metadata([topic]).topics[topic].partitions[0]))
    epoch = int(state["ProducerEpoch"])
    host = cluster.nodes[leader].host
    # The old coordinator's epoch: refused, for an abort as for a commit.
    for commit in (False, True):
        got = kwire.write_txn_markers(host, pid, epoch, commit, old_epoch, {topic: [0]})
        assert got == {(topic, 0): kwire.TRANSACTION_COORDINATOR_FENCED}, got
    # Not the partition's leader.
    follower = next(n for n in cluster.broker_ids() if n not in (leader, old))
    got = kwire.write_txn_markers(cluster.nodes[follower].host, pid, epoch, False, new_epoch, {topic: [0]})
    assert got == {(topic, 0): 6}, got  # NOT_LEADER_OR_FOLLOWER
    assert describe_producer(boot, topic, pid) == state
    assert [r.value for r in cf_read_all(boot, topic).records] == ["one", "two"]


def test_producer_fenced_after_its_coordinator_died_mid_transaction(cluster_factory):
    from confluent_kafka import KafkaError, KafkaException

    cluster = cluster_factory(settings=SETTINGS)
    topic, txn_id = name("midtxn"), name("txn")
    java_create(cluster.bootstrap(), topic, 1, 3)
    p1 = txn_producer(cluster.bootstrap(), txn_id)
    old, _, old_epoch = coordinator(cluster, txn_id, kwire.TXN_KEY)
    p1.begin_transaction()
    send(p1, topic, [f"doomed-{i}" for i in range(5)])

    cluster.nodes[old].kill9()
    new, _, new_epoch = coordinator(cluster, txn_id, kwire.TXN_KEY, not_on=(old,))
    assert new_epoch > old_epoch
    boot = cluster.bootstrap(exclude=[old])
    p2 = txn_producer(boot, txn_id)  # aborts the open transaction, fences p1
    p2.begin_transaction()
    send(p2, topic, [f"kept-{i}" for i in range(5)])
    p2.commit_transaction(60)

    with pytest.raises(KafkaException) as e:
        p1.commit_transaction(60)
    err = e.value.args[0]
    assert err.code() in (KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH), err
    assert err.fatal(), err

    committed_read = cf_read_all(boot, topic)
    assert committed_read.complete
    assert [r.value for r in committed_read.records] == [f"kept-{i}" for i in range(5)]
    everything = cf_read_all(boot, topic, isolation="read_uncommitted")
    assert sorted(r.value for r in everything.records if r.value.startswith("doomed")) == \
        [f"doomed-{i}" for i in range(5)]
    assert describe_txn(boot, txn_id)["TransactionState"] == "CompleteCommit"


# ---- what a coordinator serves is what it committed ----------------------------------------

def test_an_uncommitted_offset_is_never_served(cluster_factory):
    """An OffsetCommit the followers have not got is not acknowledged (Kafka: the write
    times out, COORDINATOR_NOT_AVAILABLE) and, as Kafka reads coordinator state at
    the high watermark, not served either, even to a non-require_stable OffsetFetch:
    a reader shown it could see the group's offset go back after a failover. A group
    whose only commit is such a write does not exist yet for DescribeGroups and
    ListGroups either, and one whose deletion is such a write still does. The unacknowledged write is indeterminate, as any timed-out
    write: on Kafka a paused follower may already hold the leader's answer to its
    pending fetch in its socket and the new coordinator then has it; either value is
    right there."""
    cluster = cluster_factory(settings=SETTINGS)
    topic = name("hw")
    java_create(cluster.bootstrap(), topic, 1, 3)
    group = name("hw")
    node, part, _ = coordinator(cluster, group)
    # Another group the same broker coordinates, never committed to before.
    fresh = next(g for g in (name("hw-fresh") for _ in range(60)) if coordinator(cluster, g)[0] == node)
    c = cluster.nodes[node].host
    tp = (topic, 0)
    assert kwire.offset_commit(c, group, {tp: 10}) == {tp: 0}
    assert fetch_settled(cluster, node, group) == {tp: 10}
    followers = [n for n in cluster.nodes[node].metadata([OFFSETS]).topics[OFFSETS].partitions[part].replicas
                 if n != node]
    assert len(followers) == 2
    for f in followers:
        cluster.nodes[f].pause()
    try:
        assert kwire.offset_commit(c, group, {tp: 50}) == {tp: kwire.COORDINATOR_NOT_AVAILABLE}
        err, got = loaded(lambda: kwire.offset_fetch(c, group, require_stable=False))
        assert err == 0 and got == {tp: (10, 0)}, got
        assert kwire.offset_commit(c, fresh, {tp: 7}) == {tp: kwire.COORDINATOR_NOT_AVAILABLE}
        err, got = loaded(lambda: kwire.offset_fetch(c, fresh, require_stable=False))
        assert err == 0 and got == {}, got
        described = loaded(lambda: kwire.describe_groups(c, [group, fresh]))
        assert described[group][:2] == (0, "Empty") and described[fresh][:2] == (0, "Dead"), described
        err, listed = loaded(lambda: kwire.list_groups(c))
        assert err == 0 and listed.get(group) == "Empty" and fresh not in listed, listed
        # A deletion that cannot commit: the group and its offset are still there.
        assert kwire.delete_groups(c, [group]) == {group: kwire.COORDINATOR_NOT_AVAILABLE}
        err, got = loaded(lambda: kwire.offset_fetch(c, group, require_stable=False))
        assert err == 0 and got == {tp: (10, 0)}, got
        assert loaded(lambda: kwire.describe_groups(c, [group]))[group][:2] == (0, "Empty")
        err, listed = loaded(lambda: kwire.list_groups(c))
        assert err == 0 and listed.get(group) == "Empty", listed
    finally:
        cluster.nodes[node].kill9()
        for f in followers:
            cluster.nodes[f].resume()
    new = coordinator(cluster, group, not_on=(node,))[0]
    assert fetch_settled(cluster, new, group) in ({tp: 10}, {tp: 50}, {})
    new = coordinator(cluster, fresh, not_on=(node,))[0]
    assert fetch_settled(cluster, new, fresh) in ({}, {tp: 7})
