"""MirrorMaker 2 (Apache Kafka's connect-mirror, unmodified) between two Gregor clusters.

Two single-node brokers, A and B, and MirrorMaker 2 in its dedicated mode
(`org.apache.kafka.connect.mirror.MirrorMaker` with an mm2.properties, what
`connect-mirror-maker.sh` runs) replicating A->B. One test per mode, in steps, because MirrorMaker
takes a while to start and pytest-xdist would start one per test:

* `orders` on A appears on B as `A.orders` (DefaultReplicationPolicy) with its partition
  count and its explicitly set configs; Connect's internal topics are compacted Gregor
  topics; A's DescribeAcls answers SECURITY_DISABLED (no authorizer), which MirrorMaker
  takes as "no ACL syncing".
* every record (keys, values, headers, timestamps, null key/value) is on B in the same
  order per partition, records written before and while MirrorMaker runs.
* a consumer group commits on A; checkpoints appear in `A.checkpoints.internal` on B;
  with sync.group.offsets.enabled the translated offsets are committed to the same group
  on B; RemoteClusterUtils.translateOffsets (connect-mirror-client) agrees; a consumer
  that fails over to B resumes at the translated offset: nothing lost, and re-reads only
  where MirrorMaker documents them (translation is conservative: the nearest preceding
  offset sync + 1; at the end of a partition it is exact).
* later config changes and new partitions on A reach B.

The same steps run with exactly-once MirrorMaker (`B.exactly.once.source.support=enabled`,
KIP-618: transactional writes to B, zombie fencing, read_committed) when COMPAT_MM2_EOS=1;
there transaction markers take offsets on B, so B's offsets are only checked to increase.

connect-mirror 4.3.1 is the newest version Maven Central serves (4.4.0 is not published
there); see compat/mirror/pom.xml.
"""

import json
import os
import signal
import struct
import subprocess
import time
from pathlib import Path

import pytest

from clients import DEPS, TS, Rec, cf_admin, cf_consumer, cf_produce, run, variety
from conftest import EXTERNAL

MIRROR_CP = f"{DEPS / 'mirror' / 'classes'}:{DEPS / 'mirror' / 'libs'}/*"
TOPIC = "orders"
REMOTE = "A.orders"
GROUP = "orders-app"
PARTITIONS = 3
# Explicitly set on A, so MirrorMaker syncs them (it copies non-default configs only).
CONFIGS = {"retention.ms": "7200000", "cleanup.policy": "delete", "max.message.bytes": "2000000"}

pytestmark = pytest.mark.skipif(EXTERNAL is not None, reason="needs two brokers of its own")


class MirrorMaker:
    """A MirrorMaker 2 process in dedicated mode; its log is attached to a failing test's report."""

    def __init__(self, workdir: Path, a, b, eos=False):
        self.workdir = workdir
        self.log_path = workdir / "mm2.log"
        self.props_path = workdir / "mm2.properties"
        props = {
            "clusters": "A, B",
            "A.bootstrap.servers": a.bootstrap,
            "B.bootstrap.servers": b.bootstrap,
            "A->B.enabled": "true",
            "A->B.topics": TOPIC,
            "A->B.groups": ".*",
            "B->A.enabled": "false",
            # single-node clusters: every internal topic with one replica
            "replication.factor": "1",
            "checkpoints.topic.replication.factor": "1",
            "heartbeats.topic.replication.factor": "1",
            "offset-syncs.topic.replication.factor": "1",
            "offset.storage.replication.factor": "1",
            "status.storage.replication.factor": "1",
            "config.storage.replication.factor": "1",
            "sync.group.offsets.enabled": "true",
            "emit.checkpoints.interval.seconds": "1",
            "sync.group.offsets.interval.seconds": "1",
            "emit.heartbeats.interval.seconds": "1",
            "refresh.topics.interval.seconds": "1",
            "refresh.groups.interval.seconds": "1",
            "sync.topic.configs.interval.seconds": "1",
            # Connect commits source offsets (and MirrorMaker sends its delayed offset syncs)
            # at this interval; the default 60 s would make translation wait a minute. A worker
            # setting, so under the target cluster's prefix (MirrorMakerConfig.workerConfig).
            "B.offset.flush.interval.ms": "1000",
            "tasks.max": "2",
            # every jar on the classpath declares its plugins; scanning the classpath for
            # them instead costs ~10 s per worker on two cores
            "A.plugin.discovery": "service_load",
            "B.plugin.discovery": "service_load",
        }
        if eos:
            # KIP-618: the target's worker writes records and source offsets in one
            # transaction per batch and fences zombie tasks' transactional ids
            props["B.exactly.once.source.support"] = "enabled"
        # extra settings for experiments, e.g. COMPAT_MM2_PROPS="offset.lag.max=10"
        for kv in os.environ.get("COMPAT_MM2_PROPS", "").split():
            k, _, v = kv.partition("=")
            props[k] = v
        self.props_path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        self.proc = None

    def start(self):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            ["java", "-Xms128m", "-Xmx512m", "-cp", MIRROR_CP,
             "-Dorg.slf4j.simpleLogger.defaultLogLevel=info",
             "-Dorg.slf4j.simpleLogger.showDateTime=true",
             "org.apache.kafka.connect.mirror.MirrorMaker", str(self.props_path)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, cwd=self.workdir)
        log.close()
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=15):
        if self.proc is None:
            return None
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
        rc = self.proc.returncode
        self.proc = None
        return rc

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines=120):
        # the config dumps are long and say nothing about what went wrong
        keep = [l for l in self.log_text().splitlines() if not l.startswith("\t")]
        return "\n".join(keep[-lines:])


def wait_for(what, check, timeout, mm=None, interval=0.5):
    """Polls `check()` until it returns something truthy; fails with `what` and the last value."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if mm is not None and not mm.alive():
            raise AssertionError(f"MirrorMaker exited while waiting for {what}")
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


# ---- small admin / consumer helpers (confluent-kafka) --------------------------------------------

def topic_partitions(admin, topic):
    t = admin.list_topics(topic, timeout=10).topics.get(topic)
    if t is None or t.error is not None:
        return 0
    return len(t.partitions)


def topic_configs(admin, topic):
    """{name: (value, is_default)} of a topic, as DescribeConfigs answers."""
    from confluent_kafka.admin import ConfigResource

    res = ConfigResource("topic", topic)
    entries = admin.describe_configs([res])[res].result(timeout=30)
    return {k: (e.value, e.is_default) for k, e in entries.items()}


def end_offsets(bootstrap, topic, partitions):
    from confluent_kafka import TopicPartition

    c = cf_consumer(bootstrap)
    try:
        return [c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(partitions)]
    finally:
        c.close()


def read_partitions(bootstrap, topic, counts, timeout=30):
    """The first `counts[p]` records of each partition p of `topic` (read_committed), as
    {p: [(offset, key, value, headers, ts)]}; fewer when time runs out."""
    from confluent_kafka import OFFSET_BEGINNING, TopicPartition

    c = cf_consumer(bootstrap, **{"isolation.level": "read_committed"})
    out = {p: [] for p in range(len(counts))}
    try:
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(len(counts))])
        deadline = time.monotonic() + timeout
        while any(len(out[p]) < counts[p] for p in out) and time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is None:
                continue
            assert m.error() is None, f"consume error on {topic}: {m.error()}"
            if len(out[m.partition()]) < counts[m.partition()]:
                out[m.partition()].append((m.offset(), m.key(), m.value(), list(m.headers() or []),
                                           m.timestamp()[1]))
        return out
    finally:
        c.close()


def mirrored(a, b, counts, mm):
    """Waits until B has as many records in A.orders as A in orders, then returns both, checked
    equal record by record in order (offsets aside: with exactly-once, transaction markers take
    offsets on B), and the B offset of each A record."""
    def complete():
        dst = read_partitions(b.bootstrap, REMOTE, counts, timeout=3)
        return all(len(dst[p]) == counts[p] for p in dst) and dst
    dst = wait_for("every record mirrored", complete, 60, mm)
    src = read_partitions(a.bootstrap, TOPIC, counts)
    down = {}
    for p in range(len(counts)):
        assert len(src[p]) == counts[p]
        for s, d in zip(src[p], dst[p]):
            assert s[1:] == d[1:], f"partition {p}: A offset {s[0]} {s[1:]} is {d[1:]} at B offset {d[0]}"
        down[p] = [d[0] for d in dst[p]]
        assert down[p] == sorted(set(down[p])), f"partition {p}: B offsets not increasing"
    return src, down


def committed(admin, group):
    """{(topic, partition): offset} committed by `group`."""
    from confluent_kafka import ConsumerGroupTopicPartitions

    res = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result(timeout=30)
    return {(tp.topic, tp.partition): tp.offset for tp in res.topic_partitions if tp.offset >= 0}


def _str16(buf, pos):
    (n,) = struct.unpack_from(">h", buf, pos)
    return buf[pos + 2:pos + 2 + n].decode(), pos + 2 + n


def checkpoints(bootstrap):
    """The latest checkpoint per (group, topic, partition) in A.checkpoints.internal on B, decoded
    from MirrorMaker's format (key: group, topic, partition; value: version, upstream offset,
    downstream offset, metadata; strings int16-length-prefixed, big-endian)."""
    from confluent_kafka import OFFSET_BEGINNING, TopicPartition

    c = cf_consumer(bootstrap)
    latest = {}
    try:
        topic = "A.checkpoints.internal"
        if not topic_partitions(c, topic):
            return latest
        end = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[1]
        c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        deadline = time.monotonic() + 20
        pos = 0
        while pos < end and time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is None:
                continue
            assert m.error() is None, m.error()
            pos = m.offset() + 1
            group, i = _str16(m.key(), 0)
            topic_name, i = _str16(m.key(), i)
            (partition,) = struct.unpack_from(">i", m.key(), i)
            version, upstream, downstream = struct.unpack_from(">hqq", m.value(), 0)
            assert version == 0
            latest[(group, topic_name, partition)] = (upstream, downstream)
        return latest
    finally:
        c.close()


def mirror_client(bootstrap, group):
    out = run(["java", "-cp", MIRROR_CP, "MirrorClient", bootstrap, "A", group], timeout=90)
    lines = [l for l in out.stdout.splitlines() if l.startswith("{")]
    assert out.returncode == 0 and lines, f"MirrorClient failed: {out.stdout[-2000:]}{out.stderr[-2000:]}"
    return json.loads(lines[-1])


def records_for(partition, start, count, tag):
    """`count` records for `partition`: keys, values, two headers (one repeated name), CreateTimes."""
    return [Rec(f"k-{partition}-{i}".encode(), f"{tag}-{partition}-{i}".encode(),
                [("seq", str(i).encode()), ("src", b"A"), ("seq", b"again")],
                timestamp=TS + partition * 1_000_000 + i, partition=partition)
            for i in range(start, start + count)]


# ---- the test ---------------------------------------------------------------------------------------

# The exactly-once variant adds ~90 s; it runs with COMPAT_MM2_EOS=1 (the suite's budget).
EOS_VARIANT = pytest.param(True, id="exactly-once", marks=pytest.mark.skipif(
    not os.environ.get("COMPAT_MM2_EOS"), reason="exactly-once MirrorMaker runs with COMPAT_MM2_EOS=1"))


@pytest.mark.parametrize("eos", [pytest.param(False, id="at-least-once"), EOS_VARIANT])
def test_mirrormaker2_between_two_clusters(broker_factory, tmp_path, request, eos):
    from confluent_kafka.admin import NewTopic

    a = broker_factory()
    b = broker_factory()
    admin_a, admin_b = cf_admin(a.bootstrap), cf_admin(b.bootstrap)

    # orders on A with explicit configs; the first records (every client-visible shape:
    # null key, null value, empty bytes, binary, repeated and null headers) before MirrorMaker
    # starts, the rest while it runs.
    admin_a.create_topics([NewTopic(TOPIC, num_partitions=PARTITIONS, replication_factor=1,
                                    config=CONFIGS)])[TOPIC].result(timeout=30)
    first = []
    for p in range(PARTITIONS):
        first += [Rec(r.key, r.value, r.headers, r.timestamp, p) for r in variety()]
        first += records_for(p, 0, 30, "before")
    sent = cf_produce(a.bootstrap, TOPIC, first)
    assert all(s.error is None for s in sent), [s.error for s in sent if s.error][:3]

    mm = MirrorMaker(tmp_path, a, b, eos)
    # conftest attaches every registered process's log tail to a failing test and stops it
    request.node._gregor_servers.append(mm)
    mm.start()
    try:
        run_scenario(mm, a, b, admin_a, admin_b, eos)
    finally:
        mm.stop()


def run_scenario(mm, a, b, admin_a, admin_b, eos):
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, NewPartitions

    # ---- the topic appears on B as A.orders with A's partition count and configs
    wait_for("A.orders on B", lambda: topic_partitions(admin_b, REMOTE) == PARTITIONS, 120, mm)
    live = []
    for p in range(PARTITIONS):
        live += records_for(p, 30, 20, "live")
    sent = cf_produce(a.bootstrap, TOPIC, live)
    assert all(s.error is None for s in sent)

    def configs_synced():
        got = topic_configs(admin_b, REMOTE)
        return all(got.get(k) == (v, False) for k, v in CONFIGS.items()) and got
    wait_for("A.orders configs on B", configs_synced, 30, mm)

    # Connect refuses to run on internal topics that are not compacted; check what B holds,
    # and the offset syncs MirrorMaker keeps on the source.
    for internal in ("mm2-configs.A.internal", "mm2-offsets.A.internal", "mm2-status.A.internal",
                     "A.checkpoints.internal", "heartbeats"):
        assert topic_configs(admin_b, internal)["cleanup.policy"][0] == "compact", internal
    assert topic_configs(admin_a, "mm2-offset-syncs.B.internal")["cleanup.policy"][0] == "compact"
    # heartbeats emitted on A (every second) are mirrored to B as A.heartbeats
    wait_for("heartbeats mirrored", lambda: topic_partitions(admin_b, "A.heartbeats")
             and end_offsets(b.bootstrap, "A.heartbeats", 1)[0] > 0, 30, mm)

    # ---- every record, in order per partition, with key, value, headers and timestamp
    ends_a = end_offsets(a.bootstrap, TOPIC, PARTITIONS)
    assert sum(ends_a) == PARTITIONS * (len(variety()) + 50)
    src, down = mirrored(a, b, ends_a, mm)
    if not eos:
        # nothing written twice on a fresh target: the offsets match too
        assert down == {p: list(range(e)) for p, e in enumerate(ends_a)}

    # ---- a group on A: a real member reads everything, then commits the end of partitions
    # 0 and 1 and a position in the middle of partition 2, and leaves.
    mid = 20
    upstream = {0: ends_a[0], 1: ends_a[1], 2: mid}
    c = cf_consumer(a.bootstrap, **{"group.id": GROUP})
    try:
        c.subscribe([TOPIC])
        n, deadline = 0, time.monotonic() + 30
        while n < sum(ends_a) and time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is not None and m.error() is None:
                n += 1
        assert n == sum(ends_a), f"group member on A read {n} of {sum(ends_a)}"
        c.commit(offsets=[TopicPartition(TOPIC, p, o) for p, o in upstream.items()], asynchronous=False)
    finally:
        c.close()
    assert committed(admin_a, GROUP) == {(TOPIC, p): o for p, o in upstream.items()}

    # ---- checkpoints on B, for every partition at the group's upstream offset. At the end of
    # a partition the translation becomes exact (one past the last record's B offset) once
    # the last record's offset sync is in (checkpoints before it may be conservative, and
    # MirrorMaker only ever moves a checkpoint forward).
    exact = {0: down[0][-1] + 1, 1: down[1][-1] + 1}
    last = {}

    def checkpointed():
        cps = checkpoints(b.bootstrap)
        last.update({p: cps.get((GROUP, REMOTE, p)) for p in range(PARTITIONS)})
        return (all(last[p] and last[p][0] == upstream[p] for p in last)
                and all(last[p][1] == exact[p] for p in exact))
    try:
        wait_for("checkpoints of the group on B", checkpointed, 60, mm, interval=1)
    except AssertionError as e:
        raise AssertionError(f"{e}\nlast checkpoints {last}, exact at the end would be {exact}") from None
    translated = {p: last[p][1] for p in range(PARTITIONS)}
    # In the middle, MirrorMaker translates to 1 past the nearest offset sync at or before the
    # group's offset: never past the group's next record (that would lose records), never
    # before the first record's sync (the first record of a task's lifetime always gets one).
    assert down[2][0] + 1 <= translated[2] <= down[2][mid], (translated, down[2][:mid + 1])

    # ---- sync.group.offsets: the same group on B (it has no members there) gets them
    wanted = {(REMOTE, p): o for p, o in translated.items()}
    wait_for("translated offsets committed on B", lambda: committed(admin_b, GROUP) == wanted, 30, mm)

    # ---- connect-mirror-client reads the same from B
    mc = mirror_client(b.bootstrap, GROUP)
    assert {(o["topic"], o["partition"]): o["offset"] for o in mc["offsets"]} == wanted, mc
    assert mc["upstream_clusters"] == ["A"] and mc["hops"] == 1, mc

    # ---- failover: more records on A after the group's commit, then a member of the same
    # group on B reads A.orders from the committed (translated) offsets.
    after = []
    for p in range(PARTITIONS):
        after += records_for(p, 50, 5, "after")
    sent = cf_produce(a.bootstrap, TOPIC, after)
    assert all(s.error is None for s in sent)
    ends_a = end_offsets(a.bootstrap, TOPIC, PARTITIONS)
    src, down = mirrored(a, b, ends_a, mm)

    # what the member on B must read: every record at or after the translated offset
    want = {p: [i for i, d in enumerate(down[p]) if d >= translated[p]] for p in range(PARTITIONS)}
    expected = sum(map(len, want.values()))
    got = {p: [] for p in range(PARTITIONS)}
    c = cf_consumer(b.bootstrap, **{"group.id": GROUP, "auto.offset.reset": "error",
                                    "isolation.level": "read_committed"})
    try:
        c.subscribe([REMOTE])
        deadline = time.monotonic() + 40
        while sum(map(len, got.values())) < expected and time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is None:
                continue
            assert m.error() is None, f"failover consumer: {m.error()}"
            got[m.partition()].append((m.offset(), m.key(), m.value(), list(m.headers() or []),
                                       m.timestamp()[1]))
        # nothing beyond the end either
        extra = c.poll(1.0)
        assert extra is None or extra.error() is not None, "failover consumer read past the end"
    finally:
        c.close()
    for p in range(PARTITIONS):
        # resumes at the translated offset and reads on to the end, in order ...
        assert [r[0] for r in got[p]] == [down[p][i] for i in want[p]], (p, got[p][:3], translated[p])
        for i, d in zip(want[p], got[p]):
            assert src[p][i][1:] == d[1:], (p, src[p][i], d)
        # ... so nothing the group had not consumed on A is lost (it starts at or before the
        # group's next record), and the only re-reads are what the translation implies
        assert want[p] and want[p][0] <= upstream[p], (p, want[p][:3], upstream[p])
    assert want[0] == list(range(ends_a[0] - 5, ends_a[0])) and want[1] == list(range(ends_a[1] - 5, ends_a[1])), \
        "partitions 0 and 1 resume with only the new records"

    # ---- later changes on A reach B: a config and a new partition
    res = ConfigResource("topic", TOPIC, incremental_configs=[
        ConfigEntry("retention.ms", "10800000", incremental_operation=AlterConfigOpType.SET)])
    admin_a.incremental_alter_configs([res])[res].result(timeout=30)
    wait_for("the new retention.ms on B",
             lambda: topic_configs(admin_b, REMOTE)["retention.ms"] == ("10800000", False), 30, mm)
    admin_a.create_partitions([NewPartitions(TOPIC, PARTITIONS + 1)])[TOPIC].result(timeout=30)
    wait_for("the new partition on B", lambda: topic_partitions(admin_b, REMOTE) == PARTITIONS + 1, 30, mm)

    # A has no authorizer: DescribeAcls answers SECURITY_DISABLED, which MirrorMaker reports
    # as such (any other error would be logged as a failure to sync ACLs).
    log = mm.log_text()
    assert "No ACL authorizer is configured on the source Kafka cluster" in log
    errors = [l for l in log.splitlines() if " ERROR " in l]
    assert not errors, "\n".join(errors[:20])
