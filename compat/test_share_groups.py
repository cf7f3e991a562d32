"""Share groups (KIP-932, queues for Kafka) with real clients: Kafka 4.4's Java
`KafkaShareConsumer` (explicit acknowledgement: accept / release / reject per record, then
commitSync) and franz-go's share consumer (Record.Ack, FlushAcks), see share_clients.py;
group configs through kafka-configs --entity-type groups, offsets through
kafka-share-groups.

Every test passes against Apache Kafka 4.4.0 (COMPAT_SERVER=kafka). A freshly formatted 4.4
cluster has share groups on: `share.version` is finalized at level 2 by `kafka-storage
format` at metadata.version 4.4-IV2 (what the fixtures do), so no feature flag is set here.
Share-group defaults a user changes per group:
  * `share.auto.offset.reset` is `latest` unless set, so each test's group is set to
    `earliest` (kafka-configs --entity-type groups) before it consumes records produced
    earlier;
  * the lock-timeout test sets the group's `share.record.lock.duration.ms` to 2 s, which
    Kafka accepts only above the broker's `group.share.min.record.lock.duration.ms`
    (15 s by default), so this module's broker runs with that bound at 1 s.
"""

import subprocess
import time
import uuid

import pytest

from clients import FRANZ, cf_create_topic, json_lines, run
from conftest import EXTERNAL, ExternalBroker, new_server, running
from share_clients import (ack_results, acks_sent, deliveries, group_config, group_config_quick,
                           is_invalid_record_state, produce_values, share_groups, start_member, stop_members, table,
                           wait_settled, wait_values)
from txn_clients import procs  # noqa: F401  (procs is a fixture)

pytestmark = pytest.mark.xdist_group("share")

# The broker bound that lets a group's record lock be as short as 1 s (Kafka's default
# minimum is 15 s).
SHARE_BROKER = {"group.share.min.record.lock.duration.ms": "1000"}
LOCK_MS = 2000


@pytest.fixture(scope="module")
def sbroker(tmp_path_factory):
    if EXTERNAL:
        yield ExternalBroker(EXTERNAL)
        return
    with running(new_server(tmp_path_factory.mktemp("share"), SHARE_BROKER)) as server:
        yield server


def uid():
    return uuid.uuid4().hex[:8]


def new_topic(bootstrap, topic, partitions=1):
    cf_create_topic(bootstrap, topic, partitions)
    return topic


def earliest_group(bootstrap, tool=False, **cfg):
    """A new group set to share.auto.offset.reset=earliest (and `cfg`), with kafka-configs
    when `tool`, else with an AdminClient (quicker)."""
    group = f"share-{uid()}"
    (group_config if tool else group_config_quick)(bootstrap, group, share_auto_offset_reset="earliest", **cfg)
    return group


def vals(prefix, n, start=0):
    return [f"{prefix}-{i}" for i in range(start, start + n)]


def by_value(ds):
    out = {}
    for d in ds:
        out.setdefault(d.value, []).append(d)
    return out


def assert_each_once(got, values):
    """Across all members, every value delivered exactly once, on its first delivery."""
    all_ds = [d for ds in got.values() for d in ds]
    seen = by_value(all_ds)
    dup = {v: ds for v, ds in seen.items() if len(ds) > 1}
    assert not dup, f"delivered more than once: {dict(list(dup.items())[:5])}"
    assert set(seen) == set(values)
    assert {d.delivery_count for d in all_ds} == {1}
    assert len({(d.partition, d.offset) for d in all_ds}) == len(values)


# ---- (a) several members on one partition ----------------------------------------------

@pytest.mark.parametrize("kinds", [("java", "java", "java"), ("java", "franz", "franz")],
                         ids=["3-java", "java+2-franz"])
def test_members_on_one_partition_get_every_record_once(sbroker, procs, kinds):
    """Three members of one share group on a single partition: together they get every record
    exactly once (delivery count 1, no offset twice) when all accept, and the partition is
    shared (more than one member gets records). Records are produced in small batches while
    the members run, each member takes at most 5 per poll."""
    b = sbroker.bootstrap
    topic = new_topic(b, f"share-a-{uid()}")
    group = earliest_group(b)
    members = [start_member(procs, k, b, topic, group, props={"max.poll.records": 5}, name=f"{k}-{i}")
               for i, k in enumerate(kinds)]
    values = vals("a", 300)
    # Let every member join before records flow, so the partition is shared from the start.
    time.sleep(8)
    for i in range(0, len(values), 10):
        produce_values(b, topic, values[i:i + 10], linger_ms=0)
        time.sleep(0.05)
    got = wait_values(members, values, 40)
    stop_members(*members)
    got = {i: deliveries(m.snapshot()) for i, m in enumerate(members)}
    assert_each_once(got, values)
    busy = [i for i, ds in got.items() if ds]
    assert len(busy) >= 2, {i: len(ds) for i, ds in got.items()}
    for m in members:
        assert set(ack_results(m.snapshot())) <= {"ok"}, m.snapshot()[-5:]


def test_two_groups_on_three_partitions_each_get_everything_once(sbroker, procs):
    """Two share groups on a topic of 3 partitions, two members each (Java in one, franz-go in
    the other): each group gets every record of every partition exactly once, independently
    of the other group."""
    b = sbroker.bootstrap
    topic = new_topic(b, f"share-p-{uid()}", partitions=3)
    values = vals("p", 60)
    for p in range(3):
        produce_values(b, topic, values[p::3], partition=p)
    groups = {kind: earliest_group(b) for kind in ("java", "franz")}
    members = {kind: [start_member(procs, kind, b, topic, g, name=f"{kind}-{i}") for i in range(2)]
               for kind, g in groups.items()}
    for kind, ms in members.items():
        wait_values(ms, values, 40, f"{kind} group")
    for kind, ms in members.items():
        stop_members(*ms)
        got = {i: deliveries(m.snapshot()) for i, m in enumerate(ms)}
        assert_each_once(got, values)
        assert {d.partition for ds in got.values() for d in ds} == {0, 1, 2}
        for d in (d for ds in got.values() for d in ds):
            assert values.index(d.value) % 3 == d.partition


# ---- (b) release -> redelivery ---------------------------------------------------------

@pytest.mark.parametrize("kind", ["java", "franz"])
def test_released_record_is_redelivered_with_delivery_count_2(sbroker, procs, kind):
    b = sbroker.bootstrap
    topic = new_topic(b, f"share-b-{uid()}")
    group = earliest_group(b)
    values = vals("b", 10)
    produce_values(b, topic, values)
    m = start_member(procs, kind, b, topic, group, acts=["b-3@1=release", "b-7@1=release"])
    wait_values([m], values, 30)
    # b-3 and b-7 come back once more (delivery 2), then are accepted.
    m.wait_for(lambda ls: sum(1 for d in deliveries(ls) if d.delivery_count == 2) >= 2, 20, "redeliveries")
    time.sleep(1)
    stop_members(m)
    seen = by_value(deliveries(m.snapshot()))
    for v in ("b-3", "b-7"):
        assert [(d.delivery_count, d.ack) for d in seen[v]] == [(1, "release"), (2, "accept")], seen[v]
        assert len({d.offset for d in seen[v]}) == 1
    for v in set(values) - {"b-3", "b-7"}:
        assert [(d.delivery_count, d.ack) for d in seen[v]] == [(1, "accept")], seen[v]
    assert set(ack_results(m.snapshot())) == {"ok"}


# ---- (c) lock timeout -> redelivery ------------------------------------------------------

@pytest.mark.parametrize("kind", ["java", "franz"])
def test_record_held_past_its_lock_is_redelivered(sbroker, procs, kind):
    """The group's share.record.lock.duration.ms is 2 s; the member holds c-2 without
    acknowledging it for 5 s. The broker gives it back when the lock expires: the late
    accept is refused with INVALID_RECORD_STATE and c-2 comes again with a higher delivery
    count, is accepted, and is not delivered after that."""
    b = sbroker.bootstrap
    topic = new_topic(b, f"share-c-{uid()}")
    group = earliest_group(b, tool=True, share_record_lock_duration_ms=LOCK_MS)
    values = vals("c", 6)
    produce_values(b, topic, values)
    m = start_member(procs, kind, b, topic, group, acts=["c-2@1=hold"], hold_ms=LOCK_MS + 3000)
    m.wait_for(lambda ls: [d for d in deliveries(ls) if d.value == "c-2" and d.delivery_count >= 2
                           and d.ack == "accept"], 40, "c-2 redelivered")
    time.sleep(LOCK_MS / 1000 + 1)
    stop_members(m)
    lines = m.snapshot()
    if kind == "java":
        # The broker's lock duration as the client learnt it from ShareFetch.
        assert {"lockMs": LOCK_MS} in lines
    c2 = by_value(deliveries(lines))["c-2"]
    assert (c2[0].delivery_count, c2[0].ack) == (1, "hold")
    assert c2[-1].ack == "accept" and c2[-1].delivery_count >= 2
    assert [d.delivery_count for d in c2] == sorted(d.delivery_count for d in c2)
    # The late accept's partition result (franz-go may report other acks of that moment too).
    late = ack_results(lines, late=True)
    assert any(is_invalid_record_state(x) for x in late), late
    for v in set(values) - {"c-2"}:
        assert any(d.ack == "accept" for d in by_value(deliveries(lines))[v])


def test_records_held_by_a_killed_member_go_to_another(sbroker, procs):
    """A member holding k-1 unacknowledged (the group's lock is Kafka's default 30 s) is killed
    with SIGKILL. Its connection closes, and the broker gives k-1 to the other member well
    before the lock would expire, as its second delivery; the records the killed member had
    accepted are not delivered again."""
    b = sbroker.bootstrap
    topic = new_topic(b, f"share-k-{uid()}")
    group = earliest_group(b)
    values = vals("k", 4)
    produce_values(b, topic, values)
    holder = start_member(procs, "java", b, topic, group, acts=["k-1@1=hold"], hold_ms=120_000, name="holder")
    holder.wait_for(lambda ls: [d for d in deliveries(ls) if d.value == "k-1"], 30, "k-1 held")
    holder.wait_for(acks_sent, 20, "the other records' acknowledgements")
    other = start_member(procs, "java", b, topic, group, name="other")
    other.wait_for(lambda ls: any(o.get("ready") for o in ls), 30, "ready")
    time.sleep(5)  # let it join; it gets nothing meanwhile: k-1 is held, the rest accepted
    killed_at = time.monotonic()
    holder.kill9()
    wait_values([other], ["k-1"], 25, "k-1 after the holder died")
    # Kafka releases a session's records when its connection closes (0.6 s here); the lock,
    # taken at least 13 s before the kill, would need 17 s more.
    assert time.monotonic() - killed_at < 8
    stop_members(other)
    got = deliveries(other.snapshot())
    assert [(d.value, d.delivery_count) for d in got] == [("k-1", 2)], got


# ---- (d) reject -> never again -----------------------------------------------------------

@pytest.mark.parametrize("kind", ["java", "franz"])
def test_rejected_record_is_never_redelivered(sbroker, procs, kind):
    """d-4 is rejected on its first delivery; d-6 is released twice, so the member keeps
    getting redeliveries of the partition after d-4 was rejected - d-4 never comes back."""
    b = sbroker.bootstrap
    topic = new_topic(b, f"share-d-{uid()}")
    group = earliest_group(b)
    values = vals("d", 10)
    produce_values(b, topic, values)
    m = start_member(procs, kind, b, topic, group, acts=["d-4=reject", "d-6@1=release", "d-6@2=release"])
    m.wait_for(lambda ls: [d for d in deliveries(ls) if d.value == "d-6" and d.delivery_count == 3], 30,
               "d-6's third delivery")
    time.sleep(2)
    stop_members(m)
    seen = by_value(deliveries(m.snapshot()))
    assert [(d.delivery_count, d.ack) for d in seen["d-4"]] == [(1, "reject")]
    assert [d.delivery_count for d in seen["d-6"]] == [1, 2, 3]
    assert set(seen) == set(values)
    assert set(ack_results(m.snapshot())) == {"ok"}


# ---- (e) delivery count limit -> archived ------------------------------------------------

def test_record_released_up_to_the_delivery_limit_is_archived(sbroker, procs):
    """share.delivery.count.limit=3 for the group: e-5, released on every delivery, is
    delivered 3 times and then archived - neither this member nor a new one gets it again,
    while records produced later still flow."""
    b = sbroker.bootstrap
    topic = new_topic(b, f"share-e-{uid()}")
    group = earliest_group(b, tool=True, share_delivery_count_limit=3)
    values = vals("e", 8)
    produce_values(b, topic, values)
    m = start_member(procs, "java", b, topic, group, acts=["e-5=release"])
    m.wait_for(lambda ls: [d for d in deliveries(ls) if d.value == "e-5" and d.delivery_count == 3], 30,
               "e-5's third delivery")
    time.sleep(2)
    produce_values(b, topic, ["e-late-1"])
    m.wait_for(lambda ls: [d for d in deliveries(ls) if d.value == "e-late-1"], 20, "a later record")
    stop_members(m)
    seen = by_value(deliveries(m.snapshot()))
    assert [(d.delivery_count, d.ack) for d in seen["e-5"]] == [(1, "release"), (2, "release"), (3, "release")]
    # A new member of the group: the archived record is not delivered, new ones are.
    m2 = start_member(procs, "java", b, topic, group, name="java-2")
    produce_values(b, topic, ["e-late-2"])
    wait_values([m2], ["e-late-2"], 30)
    stop_members(m2)
    assert "e-5" not in by_value(deliveries(m2.snapshot()))


# ---- (f) acknowledged state survives kill -9 -------------------------------------------

def test_acknowledged_state_survives_broker_kill9(broker_factory, procs):
    """The member accepts f-0..f-9, rejects f-10..f-14 and releases f-15..f-19 on their first
    delivery (accepting any that come back before it stops), closes; the broker is killed with
    SIGKILL and restarted. A new member of the group gets the records still released again
    (delivery count 2 or more: the release was persisted) and the records produced after the restart,
    but none of the accepted or rejected ones."""
    server = broker_factory(SHARE_BROKER)
    b = server.bootstrap
    topic = new_topic(b, f"share-f-{uid()}")
    group = earliest_group(b)
    values = vals("f", 20)
    produce_values(b, topic, values)
    acts = [f"{v}=reject" for v in vals("f", 5, 10)] + [f"{v}@1=release" for v in vals("f", 5, 15)]
    m = start_member(procs, "java", b, topic, group, acts=acts)
    wait_values([m], values, 30)
    stop_members(m)
    assert set(ack_results(m.snapshot())) == {"ok"}
    # A released record may come back to the same member before it stops (a broker may
    # hand it out again at once); the member accepts it then (delivery count 2). Those
    # are done; the ones still released when it stopped must come back after the restart.
    first = by_value(deliveries(m.snapshot()))
    released = [v for v in vals("f", 5, 15) if [d.ack for d in first[v]] == ["release"]]
    reaccepted = [v for v in vals("f", 5, 15) if v not in released]
    for v in reaccepted:
        assert [(d.delivery_count, d.ack) for d in first[v]] == [(1, "release"), (2, "accept")], first[v]

    server.kill9()
    server.start()
    b = server.bootstrap
    after = vals("f", 5, 20)
    produce_values(b, topic, after)
    m2 = start_member(procs, "java", b, topic, group, name="java-after-restart")
    # Records come in offset order, so once f-24 is in, anything older that was still
    # deliverable has come too.
    wait_values([m2], released + after, 50)
    stop_members(m2)
    seen = by_value(deliveries(m2.snapshot()))
    assert set(seen) == set(released + after), sorted(seen)
    # Count 2 at least: the release was persisted. 3 when the first member's last fetch
    # acquired the record again while it was closing (it never saw that delivery, and its
    # closing session released it): a race Kafka has too.
    for v in released:
        assert [d.delivery_count for d in seen[v]] in ([2], [3]), seen[v]
    for v in after:
        assert [d.delivery_count for d in seen[v]] == [1], seen[v]


# ---- (g) kafka-share-groups ----------------------------------------------------------------

def consume_all(procs, b, topic, group, values, timeout=30, name="java"):
    """A Java member that gets `values` (accepting them) and leaves; its deliveries."""
    m = start_member(procs, "java", b, topic, group, name=name)
    wait_settled([m], values, timeout)
    stop_members(m)
    return deliveries(m.snapshot())


def test_share_groups_tool_describe_active_group(sbroker, procs):
    """With a member consuming: --list --state shows the group Stable, --describe --members
    the member's client id and its partition, --describe --state one member, --describe
    (offsets) the partition with no lag once everything was acknowledged."""
    b = sbroker.bootstrap
    topic = new_topic(b, f"share-g-{uid()}")
    group = earliest_group(b)
    produce_values(b, topic, vals("g", 10))
    m = start_member(procs, "java", b, topic, group, props={"client.id": "share-tool-member"})
    wait_settled([m], vals("g", 10), 30)

    states = {r["GROUP"]: r["STATE"] for r in table(share_groups(b, "--list", "--state").stdout, "GROUP")}
    assert states.get(group) == "Stable", states
    members = table(share_groups(b, "--describe", "--group", group, "--members").stdout, "GROUP")
    assert [(r["GROUP"], r["CLIENT-ID"], r["#PARTITIONS"], r["ASSIGNMENT"]) for r in members] == [
        (group, "share-tool-member", "1", f"{topic}:0")], members
    state = table(share_groups(b, "--describe", "--group", group, "--state").stdout, "GROUP")
    assert [(r["STATE"], r["#MEMBERS"]) for r in state] == [("Stable", "1")], state
    # Lag: records not yet delivered-and-completed. START-OFFSET is the persisted share-partition
    # start, which Kafka moves lazily (an acknowledgement's state write carries the start offset
    # from before it), so only its range is checked.
    offsets = table(share_groups(b, "--describe", "--group", group).stdout, "GROUP")
    assert [(r["TOPIC"], r["PARTITION"], r["LAG"]) for r in offsets] == [(topic, "0", "0")], offsets
    assert 0 <= int(offsets[0]["START-OFFSET"]) <= 10, offsets
    stop_members(m)


def test_share_groups_tool_describe_empty_group(sbroker, procs):
    """After its member left: --list --state shows the group Empty, --describe --members
    says it has no active members, and --describe --offsets --verbose counts the records
    produced since as lag (with the partition's leader epoch)."""
    b = sbroker.bootstrap
    topic = new_topic(b, f"share-ge-{uid()}")
    group = earliest_group(b)
    produce_values(b, topic, vals("ge", 4))
    consume_all(procs, b, topic, group, vals("ge", 4))
    produce_values(b, topic, vals("ge", 5, 4))

    offsets = table(share_groups(b, "--describe", "--group", group, "--offsets", "--verbose").stdout, "GROUP")
    assert [(r["TOPIC"], r["PARTITION"], r["LEADER-EPOCH"], r["LAG"]) for r in offsets] == [
        (topic, "0", "0", "5")], offsets
    states = {r["GROUP"]: r["STATE"] for r in table(share_groups(b, "--list", "--state").stdout, "GROUP")}
    assert states.get(group) == "Empty", states
    p = share_groups(b, "--describe", "--group", group, "--members")
    assert f"Share group '{group}' has no active members." in p.stdout + p.stderr, p.stdout + p.stderr


def gregor_group(b, *args):
    from conftest import GREGOR_BIN
    p = subprocess.run([GREGOR_BIN, "group", *args, "--bootstrap-server", b],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout.splitlines()


def test_gregor_group_describes_a_share_group(sbroker, procs):
    """`gregor group list` shows the share type; `gregor group describe` shows the member with
    its assignment and, per share-partition, the start offset, the log end and the records not
    yet acknowledged: none while the member has accepted everything, then the 5 produced after
    it left (what kafka-share-groups calls LAG)."""
    b = sbroker.bootstrap
    topic = new_topic(b, f"share-gd-{uid()}")
    group = earliest_group(b)
    produce_values(b, topic, vals("gd", 10))
    m = start_member(procs, "java", b, topic, group, props={"client.id": "gregor-cli-member"})
    wait_settled([m], vals("gd", 10), 30)
    assert f"{group}\tStable\tshare" in gregor_group(b, "list")

    out = gregor_group(b, "describe", group)
    assert out[0] == f"Group: {group}\tState: Stable\tMembers: 1\tType: share", out
    members = [line.split("\t") for line in out[2:3]]
    assert [(r[1], r[3]) for r in members] == [("gregor-cli-member", f"{topic}:0")], out
    assert out[3].split("\t") == ["TOPIC", "PARTITION", "START-OFFSET", "LOG-END-OFFSET", "UNACKNOWLEDGED",
                                   "MEMBERS"], out
    row = out[4].split("\t")
    assert (row[0], row[1], row[3], row[4]) == (topic, "0", "10", "0"), out
    assert row[5] == members[0][0], out
    stop_members(m)

    produce_values(b, topic, vals("gd", 5, 10))
    out = gregor_group(b, "describe", group)
    assert out[0] == f"Group: {group}\tState: Empty\tMembers: 0\tType: share", out
    row = out[3].split("\t")
    assert (row[0], row[1], row[3], row[4], row[5]) == (topic, "0", "15", "5", "-"), out


def reset(b, group, topic, *how):
    out = share_groups(b, "--reset-offsets", "--group", group, "--topic", topic, *how, "--execute").stdout
    return table(out, "GROUP")


def test_share_groups_tool_reset_offsets(sbroker, procs):
    """--reset-offsets on an empty group takes effect for the next member: --to-earliest
    delivers everything again (as first deliveries), --to-offset 6 from offset 6 on,
    --to-latest nothing older than the records produced after the reset."""
    b = sbroker.bootstrap
    topic = new_topic(b, f"share-r-{uid()}")
    group = earliest_group(b)
    values = vals("r", 10)
    produce_values(b, topic, values)
    consume_all(procs, b, topic, group, values)

    rows = reset(b, group, topic, "--to-earliest")
    assert [(r["TOPIC"], r["PARTITION"], r["NEW-OFFSET"]) for r in rows] == [(topic, "0", "0")], rows
    again = consume_all(procs, b, topic, group, values, name="java-earliest")
    assert sorted(d.offset for d in again) == list(range(10))
    assert {d.delivery_count for d in again} == {1}

    rows = reset(b, group, topic, "--to-offset", "6")
    assert [r["NEW-OFFSET"] for r in rows] == ["6"], rows
    tail = consume_all(procs, b, topic, group, values[6:], name="java-offset-6")
    assert sorted(d.value for d in tail) == sorted(values[6:])

    rows = reset(b, group, topic, "--to-latest")
    assert [r["NEW-OFFSET"] for r in rows] == ["10"], rows
    newer = vals("r", 3, 10)
    produce_values(b, topic, newer)
    last = consume_all(procs, b, topic, group, newer, name="java-latest")
    assert sorted(d.value for d in last) == sorted(newer)


def test_share_groups_tool_reset_needs_an_empty_group(sbroker, procs):
    """While a member is in the group, --reset-offsets is refused and nothing changes."""
    b = sbroker.bootstrap
    topic = new_topic(b, f"share-rn-{uid()}")
    group = earliest_group(b)
    produce_values(b, topic, vals("rn", 4))
    m = start_member(procs, "java", b, topic, group)
    wait_settled([m], vals("rn", 4), 30)
    p = share_groups(b, "--reset-offsets", "--group", group, "--topic", topic, "--to-earliest", "--execute",
                     check=False)
    assert p.returncode != 0 and f"Share group '{group}' is not empty." in p.stdout + p.stderr, p.stdout + p.stderr
    stop_members(m)
    # Nothing was reset: the next member gets only a new record.
    produce_values(b, topic, ["rn-new"])
    after = consume_all(procs, b, topic, group, ["rn-new"], name="java-after")
    assert [d.value for d in after] == ["rn-new"]


def test_share_groups_tool_delete_offsets_and_delete(sbroker, procs):
    """--delete-offsets --topic removes the group's state for the topic: describe no longer
    lists it, and the next member starts again from share.auto.offset.reset (earliest: every
    record again). --delete removes the empty group: --list no longer shows it."""
    b = sbroker.bootstrap
    topic = new_topic(b, f"share-x-{uid()}")
    group = earliest_group(b)
    values = vals("x", 5)
    produce_values(b, topic, values)
    consume_all(procs, b, topic, group, values)

    out = share_groups(b, "--delete-offsets", "--group", group, "--topic", topic).stdout
    assert topic in out and "Successful" in out, out
    described = share_groups(b, "--describe", "--group", group).stdout
    assert topic not in described, described
    again = consume_all(procs, b, topic, group, values, name="java-after-delete-offsets")
    assert sorted(d.offset for d in again) == list(range(5))

    assert group in share_groups(b, "--list").stdout.split()
    out = share_groups(b, "--delete", "--group", group).stdout
    assert "successful" in out.lower(), out
    assert group not in share_groups(b, "--list").stdout.split()


# ---- (h) share.auto.offset.reset -------------------------------------------------------

def test_auto_offset_reset_latest_and_earliest(sbroker, procs):
    """A group left at the default (latest) starts at the end of the partition when its
    first member joins: records produced before are never delivered, records produced after
    are. A group set to earliest gets the older records too."""
    b = sbroker.bootstrap
    topic = new_topic(b, f"share-h-{uid()}")
    old = vals("old", 5)
    produce_values(b, topic, old)
    latest = f"share-latest-{uid()}"  # no group config: Kafka's default is latest
    earliest = earliest_group(b)
    m_latest = start_member(procs, "java", b, topic, latest, name="java-latest")
    m_earliest = start_member(procs, "franz", b, topic, earliest, name="franz-earliest")
    # Produce until the latest member got one: from then on its partition is initialised.
    deadline = time.monotonic() + 40
    i = 0
    while not deliveries(m_latest.snapshot()):
        assert time.monotonic() < deadline, f"latest member got nothing: {m_latest.snapshot()[-5:]}"
        produce_values(b, topic, [f"new-{i}"])
        i += 1
        time.sleep(0.3)
    final = vals("final", 5)
    produce_values(b, topic, final)
    wait_values([m_latest], final, 20)
    wait_values([m_earliest], old + final, 30)
    stop_members(m_latest, m_earliest)
    got_latest = {d.value for d in deliveries(m_latest.snapshot())}
    assert not got_latest & set(old), sorted(got_latest)
    assert set(final) <= got_latest
    got_earliest = [d.value for d in deliveries(m_earliest.snapshot())]
    assert got_earliest[:5] == old


def test_auto_offset_reset_by_duration(sbroker, procs):
    """share.auto.offset.reset=by_duration:PT1H starts at the first record not older than
    an hour (by record timestamp)."""
    from clients import Rec, cf_produce
    b = sbroker.bootstrap
    topic = new_topic(b, f"share-bd-{uid()}")
    now = int(time.time() * 1000)
    old = [Rec(f"bd-old-{i}".encode(), f"bd-old-{i}".encode(), timestamp=now - 3 * 3600_000 + i) for i in range(3)]
    recent = [Rec(f"bd-new-{i}".encode(), f"bd-new-{i}".encode(), timestamp=now - 60_000 + i) for i in range(3)]
    sent = cf_produce(b, topic, old + recent)
    assert not [s for s in sent if s.error], sent
    group = f"share-{uid()}"
    group_config(b, group, share_auto_offset_reset="by_duration:PT1H")
    m = start_member(procs, "java", b, topic, group)
    wait_values([m], [f"bd-new-{i}" for i in range(3)], 30)
    stop_members(m)
    got = [d.value for d in deliveries(m.snapshot())]
    assert got == [f"bd-new-{i}" for i in range(3)], got


# ---- bad input: raw requests -----------------------------------------------------------

def test_bad_share_requests_get_kafkas_error_codes(sbroker):
    """Raw ShareGroupHeartbeat / ShareFetch / ShareAcknowledge requests (franz-go kmsg,
    go/share_raw.go) that no well-behaved client sends, and the error each gets from Kafka
    4.4: unknown member and stale member epoch on heartbeat; no share session, a wrong
    session epoch, ShareAcknowledge with epoch 0; acknowledging records another member
    holds, offsets never fetched and an unknown acknowledge type (per partition); then the
    good path still works (accept, close the session, leave)."""
    b = sbroker.bootstrap
    topic = new_topic(b, f"share-raw-{uid()}")
    group = earliest_group(b)
    produce_values(b, topic, vals("raw", 4))
    p = run([str(FRANZ), "-b", b, "share-raw", "-topic", topic, "-group", group], timeout=90)
    steps = {o["step"]: o for o in json_lines(p.stdout)}
    answers = {name: (o["error"], o.get("partitionError")) for name, o in steps.items()}
    assert answers == {
        "joined": ("NONE", None),
        "hb-unknown-member": ("UNKNOWN_MEMBER_ID", None),
        "hb-fenced-epoch": ("FENCED_MEMBER_EPOCH", None),
        "fetch-no-session": ("SHARE_SESSION_NOT_FOUND", None),
        "ack-no-session": ("SHARE_SESSION_NOT_FOUND", None),
        "fetch-open": ("NONE", "NONE"),
        "fetch-bad-epoch": ("INVALID_SHARE_SESSION_EPOCH", None),
        "ack-epoch-0": ("INVALID_SHARE_SESSION_EPOCH", None),
        "fetch-other-member": ("NONE", "NONE"),
        "ack-foreign": ("NONE", "INVALID_RECORD_STATE"),
        "ack-out-of-range": ("NONE", "INVALID_REQUEST"),
        "ack-bad-type": ("NONE", "INVALID_REQUEST"),
        "ack-accept": ("NONE", "NONE"),
        # Kafka answers NONE: the accepted records are behind the share-partition start
        # offset by then, and acknowledgements there are ignored.
        "ack-again": ("NONE", "NONE"),
        "fetch-close": ("NONE", None),
        "hb-leave": ("NONE", None),
    }, answers
    assert steps["fetch-open"]["acquired"] == [[0, 3, 1]]
    assert "acquired" not in steps["fetch-other-member"]


# ---- ShareFetch / ShareAcknowledge v2: acquire modes (KIP-1206), renew (KIP-1222) ------------

def polls(lines):
    """A Java member's records poll by poll (ShareModes prints a commit line after each
    non-empty poll)."""
    out, current = [], []
    for o in lines:
        if "offset" in o and "ack" in o:
            current.append(o)
        elif "commit" in o and not o["late"] and current:
            out.append(current)
            current = []
    if current:
        out.append(current)
    return out


@pytest.mark.parametrize("mode", ["record_limit", "batch_optimized"])
def test_acquire_mode_bounds_each_poll(sbroker, procs, mode):
    """20 records in one producer batch, a Java member with max.poll.records=3. With
    share.acquire.mode=record_limit (ShareFetch v2, KIP-1206) the broker acquires at most 3
    per fetch, so no poll returns more; with batch_optimized (the default) it acquires whole
    log batches, so a poll returns more than 3. Either way every record comes once."""
    b = sbroker.bootstrap
    topic = new_topic(b, f"share-mode-{uid()}")
    group = earliest_group(b)
    values = vals("m", 20)
    produce_values(b, topic, values, linger_ms=200)
    m = start_member(procs, "java", b, topic, group,
                     props={"max.poll.records": 3, "share.acquire.mode": mode})
    wait_settled([m], values, 40)
    stop_members(m)
    lines = m.snapshot()
    assert_each_once({0: deliveries(lines)}, values)
    sizes = [len(p) for p in polls(lines)]
    if mode == "record_limit":
        assert max(sizes) <= 3, sizes
    else:
        assert max(sizes) > 3, sizes
    assert set(ack_results(lines)) == {"ok"}


@pytest.mark.parametrize("kind", ["java", "franz"])
def test_renewed_record_outlives_its_lock(sbroker, procs, kind):
    """The group's lock is 2 s. A member renews r-1 about every 0.7 s for 5 s, then accepts
    it (Java: acknowledge(record, RENEW) then commitSync, the client handing the record back
    on a later poll; franz-go: Record.Ack(AckRenew) then FlushAcks while it holds the record):
    every renewal and the final accept succeed, r-1 is never given to the other member of the
    group nor delivered again (its delivery count stays 1), while the same hold without
    renewing loses the record (the lock-timeout test)."""
    b = sbroker.bootstrap
    topic = new_topic(b, f"share-renew-{uid()}")
    group = earliest_group(b, share_record_lock_duration_ms=LOCK_MS)
    values = vals("r", 5)
    renewer = start_member(procs, kind, b, topic, group, acts=["r-1=renew"], hold_ms=5000,
                           props={"renew.ms": 700}, name="renewer")
    renewer.wait_for(lambda ls: {"ready": True} in [{"ready": o.get("ready")} for o in ls], 30, "ready")
    time.sleep(3)
    produce_values(b, topic, values)
    renewer.wait_for(lambda ls: [d for d in deliveries(ls) if d.value == "r-1" and d.ack == "accept"],
                     40, "r-1 accepted after renewing")
    other = start_member(procs, "java", b, topic, group, name="other")
    time.sleep(LOCK_MS / 1000 + 2)
    stop_members(renewer, other)
    mine = [d for d in deliveries(renewer.snapshot()) if d.value == "r-1"]
    assert {d.delivery_count for d in mine} == {1}, mine
    assert len({d.offset for d in mine}) == 1
    acks = [d.ack for d in mine]
    assert acks[-1] == "accept" and acks.count("accept") == 1, acks
    # renewed for 5 s at ~0.7 s intervals: well past the 2 s lock
    assert acks.count("renew") >= 4, acks
    assert set(ack_results(renewer.snapshot())) == {"ok"}, ack_results(renewer.snapshot())
    assert "r-1" not in [d.value for d in deliveries(other.snapshot())]


def test_share_v2_raw_requests(sbroker):
    """Raw ShareFetch / ShareAcknowledge v2 (franz-go kmsg, go/share_raw_v2.go) and the answers
    Kafka 4.4 gives: record_limit acquires exactly MaxRecords; a renewing ShareFetch that asks
    to wait or fetch is INVALID_REQUEST; RENEW without IsRenewAck, or at v1, is INVALID_REQUEST
    for the partition; another member's record cannot be renewed (INVALID_RECORD_STATE); a
    renewed lock holds past the original 2 s (the other member gets the records after it, not
    it) and the record is then accepted; a renewing ShareFetch fetches nothing; ShareAcknowledge
    v2 answers the group's lock duration."""
    b = sbroker.bootstrap
    topic = new_topic(b, f"share-v2-{uid()}")
    group = earliest_group(b, share_record_lock_duration_ms=LOCK_MS)
    produce_values(b, topic, vals("v2", 4))
    p = run([str(FRANZ), "-b", b, "share-raw-v2", "-topic", topic, "-group", group], timeout=90)
    steps = {o["step"]: o for o in json_lines(p.stdout)}
    answers = {name: (o["version"], o["error"], o.get("partitionError"), o.get("ackError"))
               for name, o in steps.items()}
    assert answers == {
        "joined": (0, "NONE", None, None),
        "a-fetch-record-limit": (2, "NONE", "NONE", "NONE"),
        "a-renew-fetch-waits": (2, "INVALID_REQUEST", None, None),
        "a-ack-renew-unflagged": (2, "NONE", "INVALID_REQUEST", None),
        "a-ack-renew-v1": (1, "NONE", "INVALID_REQUEST", None),
        "a-ack-renew": (2, "NONE", "NONE", None),
        "b-fetch-record-limit": (2, "NONE", "NONE", "NONE"),
        "b-renew-foreign": (2, "NONE", "INVALID_RECORD_STATE", None),
        "b-fetch-after-lock": (2, "NONE", "NONE", "NONE"),
        "a-renew-fetch": (2, "NONE", "NONE", "NONE"),
        "a-ack-accept": (2, "NONE", "NONE", None),
        "a-fetch-bad-mode": (2, "UNKNOWN_SERVER_ERROR", None, None),
        "a-close": (2, "NONE", None, None),
        "b-close": (2, "NONE", None, None),
    }, answers
    assert steps["a-fetch-record-limit"]["acquired"] == [[0, 0, 1]]
    assert steps["b-fetch-record-limit"]["acquired"] == [[1, 1, 1]]
    # offset 0 is still A's (renewed), offset 1 B's own: B gets the rest
    assert steps["b-fetch-after-lock"]["acquired"] == [[2, 3, 1]]
    assert "acquired" not in steps["a-renew-fetch"]
    assert steps["a-ack-renew"]["lockMs"] == LOCK_MS


# ---- malformed v2 frames ---------------------------------------------------------------------

def _uvarint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _compact_str(s):
    data = s.encode()
    return _uvarint(len(data) + 1) + data


def _share_frame(api_key, version, body, correlation_id=7):
    """Request header v2 (flexible) + body, size-prefixed."""
    import struct
    client = b"share-v2-test"
    header = struct.pack(">hhih", api_key, version, correlation_id, len(client)) + client + b"\x00"
    payload = header + body
    return struct.pack(">i", len(payload)) + payload


def _share_fetch_v2_body():
    import struct
    return (_compact_str("g") + _compact_str("member-1") +
            struct.pack(">iiiiiibb", 5, 100, 1, 1 << 20, 10, 10, 1, 0) +  # epoch 5: no session
            _uvarint(1) + _uvarint(1) + b"\x00")  # no topics, no forgotten topics, no tags


def _share_ack_v2_body():
    import struct
    return (_compact_str("g") + _compact_str("member-1") + struct.pack(">ib", 5, 0) +
            _uvarint(1) + b"\x00")


def _exchange(bootstrap, frame):
    """Sends one frame; returns the response frame, or None when the broker closes the
    connection without answering."""
    import socket
    import struct
    host, port = bootstrap.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(frame)
        data = b""
        while len(data) < 4 or len(data) < 4 + struct.unpack(">i", data[:4])[0]:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                return None
            if not chunk:
                return None
            data += chunk
        return data


@pytest.mark.parametrize("api_key,body", [(78, _share_fetch_v2_body), (79, _share_ack_v2_body)],
                         ids=["ShareFetch", "ShareAcknowledge"])
def test_truncated_share_v2_frames_close_the_connection(sbroker, api_key, body):
    """A whole v2 frame is answered (SHARE_SESSION_NOT_FOUND: there is no session at epoch 5);
    the same frame cut short, or at v3 (not served), closes the connection without an answer,
    as Kafka does with any request it cannot parse. The broker serves on."""
    import struct
    b = sbroker.bootstrap
    whole = body()
    resp = _exchange(b, _share_frame(api_key, 2, whole))
    assert resp is not None
    # size, correlation id, header tagged fields, throttle ms, error code
    correlation, tags, _throttle, error = struct.unpack(">ibih", resp[4:15])
    assert (correlation, tags, error) == (7, 0, 122)  # SHARE_SESSION_NOT_FOUND
    for cut in (len(whole) - 1, len(whole) // 2, 3):
        assert _exchange(b, _share_frame(api_key, 2, whole[:cut])) is None, cut
    assert _exchange(b, _share_frame(api_key, 3, whole)) is None
    assert _exchange(b, _share_frame(api_key, 2, whole)) is not None
