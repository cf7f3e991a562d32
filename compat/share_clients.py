"""Share-group (KIP-932) drivers for the compat suite.

A share-group member is a long-running process (``Proc`` from txn_clients, started
through the ``procs`` fixture so whatever is left is killed when the test ends): the
Java ``KafkaShareConsumer`` (``share-consume`` in java/ShareModes.java) or franz-go's
share consumer (``share-consume`` in go/share.go). Both print the same JSON lines and
take the same acknowledgement rules, ``VALUE[@N]=ACTION``: the record whose value is
VALUE (on its N-th delivery only, with @N) is accepted, released, rejected or held
(left unacknowledged past its lock, then accepted late); every other record is accepted.

Group configs (``share.auto.offset.reset``, ``share.record.lock.duration.ms``, ...) are
set with Kafka 4.4's kafka-configs (``--entity-type groups``), offsets are managed with
kafka-share-groups (``ShareGroupCommand``), both from target/compat-deps/kafka-tools.
"""

import base64
import subprocess
import time
from dataclasses import dataclass
from typing import Optional

from clients import FRANZ, Rec, cf_admin, cf_produce
from jvm import client_cmd, tool_cmd


@dataclass(frozen=True)
class Delivery:
    """One record as a member got it."""
    partition: int
    offset: int
    delivery_count: int
    key: Optional[str]
    value: Optional[str]
    ack: str


def deliveries(lines):
    out = []
    for o in lines:
        if "offset" in o and "ack" in o:
            dec = lambda s: None if s is None else base64.b64decode(s).decode()
            out.append(Delivery(o["partition"], o["offset"], o["deliveryCount"], dec(o["key"]), dec(o["value"]),
                                o["ack"]))
    return out


def ack_results(lines, late=None):
    """The per-partition acknowledgement outcomes a member reported ("ok" or an error name),
    optionally only the late ones (held records) or only the others."""
    out = []
    for o in lines:
        if "commit" in o and (late is None or o["late"] == late):
            out.extend(o["commit"].values())
    return out


def is_invalid_record_state(outcome):
    """Java prints the exception class, franz-go the Kafka error name."""
    return outcome in ("InvalidRecordStateException", "INVALID_RECORD_STATE")


def member_cmd(kind, bootstrap, topic, group, acts=(), hold_ms=0, props=None):
    """The command line of a share-group member of `kind` ("java" or "franz").
    `props` are consumer properties (Java) / the driver's -max-records (franz)."""
    props = dict(props or {})
    if kind == "java":
        return client_cmd(bootstrap, "share-consume", topic, group, *[f"act:{a}" for a in acts],
                          f"hold.ms={hold_ms}", *[f"{k}={v}" for k, v in props.items()])
    if kind == "franz":
        cmd = [str(FRANZ), "-b", bootstrap, "share-consume", "-topic", topic, "-group", group,
               "-hold-ms", str(hold_ms)]
        for a in acts:
            cmd += ["-act", a]
        if "max.poll.records" in props:
            cmd += ["-max-records", str(props["max.poll.records"])]
        if "renew.ms" in props:
            cmd += ["-renew-ms", str(props["renew.ms"])]
        return cmd
    raise ValueError(kind)


def start_member(procs, kind, bootstrap, topic, group, acts=(), hold_ms=0, props=None, name=None):
    return procs(member_cmd(kind, bootstrap, topic, group, acts, hold_ms, props), name or f"{kind}-member")


def values_seen(proc):
    return [d.value for d in deliveries(proc.snapshot())]


def wait_values(members, expected, timeout, what="records"):
    """Waits until the members together got every value in `expected`; returns
    {member index: [Delivery]}."""
    expected = set(expected)
    deadline = time.monotonic() + timeout
    while True:
        got = {i: deliveries(m.snapshot()) for i, m in enumerate(members)}
        seen = {d.value for ds in got.values() for d in ds}
        if expected <= seen:
            return got
        if time.monotonic() > deadline:
            missing = sorted(expected - seen)
            raise AssertionError(f"{what}: {len(missing)} never delivered within {timeout}s, e.g. {missing[:10]}\n"
                                 + "\n".join(f"member {i} ({m.name}) last lines: {m.snapshot()[-6:]}\n"
                                             f"stderr: {''.join(m.stderr)[-1500:]}" for i, m in enumerate(members)))
        for m in members:
            if m.p.poll() is not None:
                raise AssertionError(f"{m.name} exited {m.p.poll()}: {m.snapshot()[-6:]}\n{''.join(m.stderr)[-2000:]}")
        time.sleep(0.1)


def acks_sent(lines):
    """Whether the member's acknowledgements for every record it printed have been answered
    (its last record line is followed by an acknowledgement result)."""
    last_rec = max((i for i, o in enumerate(lines) if "ack" in o), default=-1)
    last_commit = max((i for i, o in enumerate(lines) if "commit" in o), default=-1)
    return last_commit > last_rec


def wait_settled(members, expected, timeout, what="records"):
    """wait_values, then until every member's acknowledgements have been answered."""
    got = wait_values(members, expected, timeout, what)
    for m in members:
        m.wait_for(acks_sent, 20, "acknowledgement results")
    return got


def stop_members(*members, timeout=40):
    """Closes each member's stdin (it acknowledges what it holds and leaves the group) and
    waits for it to exit; returns their final line lists."""
    for m in members:
        m.close_stdin()
    out = []
    for m in members:
        rc = m.wait(timeout)
        assert rc == 0, f"{m.name} exited {rc}: {m.snapshot()[-6:]}\n{''.join(m.stderr)[-2000:]}"
        out.append(m.snapshot())
    return out


def produce_values(bootstrap, topic, values, partition=None, **conf):
    """Each value as one record (key = value); asserts every one was acknowledged.
    Returns {value: (partition, offset)}."""
    sent = cf_produce(bootstrap, topic, [Rec(v.encode(), v.encode(), partition=partition) for v in values], **conf)
    bad = [s for s in sent if s.error]
    assert not bad, bad
    return {v: (s.partition, s.offset) for v, s in zip(values, sent)}


# ---- Kafka 4.4's tools ---------------------------------------------------------------------

def tool(main_class, *args, input_text=None, check=True, timeout=90):
    cmd = tool_cmd(main_class, *args)
    p = subprocess.run(cmd, input=input_text, capture_output=True, text=True, timeout=timeout)
    if check:
        assert p.returncode == 0, f"{main_class} {' '.join(map(str, args))} exited {p.returncode}\n{p.stdout}\n{p.stderr}"
    return p


def group_config(bootstrap, group, **cfg):
    """kafka-configs --alter --entity-type groups --entity-name GROUP --add-config k=v,...
    (keyword names with _ for .), as an operator sets a share group's configs."""
    add = ",".join(f"{k.replace('_', '.')}={v}" for k, v in cfg.items())
    p = tool("ConfigCommand", "--bootstrap-server", bootstrap, "--alter", "--entity-type", "groups",
             "--entity-name", group, "--add-config", add)
    assert f"Completed updating config for group {group}." in p.stdout, p.stdout
    return p


def group_config_quick(bootstrap, group, **cfg):
    """The same through confluent-kafka's AdminClient in this process (IncrementalAlterConfigs
    on a GROUP resource), where a test only needs the config and not the tool."""
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

    entries = [ConfigEntry(k.replace("_", "."), str(v), incremental_operation=AlterConfigOpType.SET)
               for k, v in cfg.items()]
    admin = cf_admin(bootstrap)
    for f in admin.incremental_alter_configs([ConfigResource(ResourceType.GROUP, group,
                                                             incremental_configs=entries)]).values():
        f.result(timeout=30)


def share_groups(bootstrap, *args, check=True):
    """kafka-share-groups.sh (org.apache.kafka.tools.consumer.group.ShareGroupCommand)."""
    return tool("consumer.group.ShareGroupCommand", "--bootstrap-server", bootstrap, *args, check=check)


def table(text, first_column):
    """The rows of a kafka-share-groups table (whitespace-separated columns) as dicts keyed by
    its header; the header is the line whose first column is `first_column`."""
    rows, header = [], None
    for line in text.splitlines():
        cols = line.split()
        if not cols:
            continue
        if cols[0] == first_column:
            header = cols
        elif header is not None and len(cols) >= len(header):
            rows.append(dict(zip(header, cols[:len(header) - 1] + [" ".join(cols[len(header) - 1:])])))
    return rows
