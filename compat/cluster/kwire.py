"""A Metadata (v12) request sent to one chosen node over a raw socket.

Every client library routes metadata requests to whichever broker it likes;
the cluster tests need to ask *each node on its own* what it believes
(brokers, topic ids, leaders), so they speak the wire format directly. Only
the fields the tests read are decoded; the rest is skipped by the schema
(kafka clients/src/main/resources/common/message/MetadataResponse.json).
"""

import socket
import struct
import uuid
from dataclasses import dataclass, field
from typing import Dict, List, Optional

METADATA_KEY = 3
METADATA_VERSION = 12  # flexible, topic ids; Kafka 4.4 serves 0..13


@dataclass
class PartitionMeta:
    index: int
    error: int
    leader: int
    leader_epoch: int
    replicas: List[int]
    isr: List[int]


@dataclass
class TopicMeta:
    name: Optional[str]
    error: int
    topic_id: str  # Kafka's base64 form, as kafka-topics prints it
    internal: bool
    partitions: Dict[int, PartitionMeta] = field(default_factory=dict)


@dataclass
class Metadata:
    brokers: Dict[int, tuple]  # node id -> (host, port)
    cluster_id: Optional[str]
    controller_id: int
    topics: Dict[str, TopicMeta]


def _uvarint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _compact_str(s):
    if s is None:
        return _uvarint(0)
    b = s.encode()
    return _uvarint(len(b) + 1) + b


def topic_id_b64(raw: bytes) -> str:
    """Kafka prints Uuids as URL-safe base64 without padding."""
    import base64

    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def encode_request(correlation_id, topics=None, client_id="cluster-harness"):
    """topics=None asks for every topic (a null array)."""
    cid = client_id.encode()
    header = struct.pack(">hhih", METADATA_KEY, METADATA_VERSION, correlation_id, len(cid)) + cid + _uvarint(0)
    if topics is None:
        body = _uvarint(0)
    else:
        body = _uvarint(len(topics) + 1)
        for t in topics:
            body += uuid.UUID(int=0).bytes + _compact_str(t) + _uvarint(0)
    body += b"\x00\x00" + _uvarint(0)  # allow_auto_topic_creation, include_topic_authorized_operations
    msg = header + body
    return struct.pack(">i", len(msg)) + msg


class _Reader:
    def __init__(self, buf):
        self.buf = buf
        self.pos = 0

    def take(self, n):
        b = self.buf[self.pos:self.pos + n]
        if len(b) != n:
            raise ValueError("truncated Metadata response")
        self.pos += n
        return b

    def i8(self):
        return struct.unpack(">b", self.take(1))[0]

    def i16(self):
        return struct.unpack(">h", self.take(2))[0]

    def i32(self):
        return struct.unpack(">i", self.take(4))[0]

    def uvarint(self):
        shift = result = 0
        while True:
            b = self.take(1)[0]
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7

    def compact_str(self):
        n = self.uvarint()
        return None if n == 0 else self.take(n - 1).decode()

    def compact_len(self):
        n = self.uvarint()
        return 0 if n == 0 else n - 1

    def int_array(self):
        return [self.i32() for _ in range(self.compact_len())]

    def skip_tags(self):
        for _ in range(self.uvarint()):
            self.uvarint()
            self.take(self.uvarint())


def decode_response(buf, correlation_id) -> Metadata:
    r = _Reader(buf)
    got = r.i32()
    if got != correlation_id:
        raise ValueError(f"correlation id {got}, expected {correlation_id}")
    r.skip_tags()
    r.i32()  # throttle_time_ms
    brokers = {}
    for _ in range(r.compact_len()):
        node, host, port = r.i32(), r.compact_str(), r.i32()
        r.compact_str()  # rack
        r.skip_tags()
        brokers[node] = (host, port)
    cluster_id = r.compact_str()
    controller_id = r.i32()
    topics = {}
    for _ in range(r.compact_len()):
        error, name, tid, internal = r.i16(), r.compact_str(), r.take(16), r.i8() != 0
        t = TopicMeta(name, error, topic_id_b64(tid), internal)
        for _ in range(r.compact_len()):
            p_err, idx, leader, epoch = r.i16(), r.i32(), r.i32(), r.i32()
            replicas, isr = r.int_array(), r.int_array()
            r.int_array()  # offline_replicas
            r.skip_tags()
            t.partitions[idx] = PartitionMeta(idx, p_err, leader, epoch, replicas, isr)
        r.i32()  # topic_authorized_operations
        r.skip_tags()
        topics[name] = t
    r.skip_tags()
    return Metadata(brokers, cluster_id, controller_id, topics)


def metadata(host, port, topics=None, timeout=5.0) -> Metadata:
    """One Metadata request to host:port, answered by that node alone.
    Raises OSError when the node does not answer within `timeout`."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.settimeout(timeout)
        s.sendall(encode_request(1, topics))
        size = struct.unpack(">i", _recv_exact(s, 4))[0]
        return decode_response(_recv_exact(s, size), 1)


def _recv_exact(s, n):
    chunks = []
    while n:
        b = s.recv(n)
        if not b:
            raise ConnectionError("connection closed mid-response")
        chunks.append(b)
        n -= len(b)
    return b"".join(chunks)


CREATE_TOPICS_KEY = 19
CREATE_TOPICS_VERSION = 7  # flexible, returns topic ids; Kafka 4.4 serves 2..7


def encode_create_topics(correlation_id, topic, partitions, rf, timeout_ms, client_id="cluster-harness"):
    cid = client_id.encode()
    header = struct.pack(">hhih", CREATE_TOPICS_KEY, CREATE_TOPICS_VERSION, correlation_id, len(cid)) + cid + _uvarint(0)
    body = (_uvarint(2) + _compact_str(topic) + struct.pack(">ih", partitions, rf)
            + _uvarint(1) + _uvarint(1) + _uvarint(0)  # no assignments, no configs, no tags
            + struct.pack(">ib", timeout_ms, 0) + _uvarint(0))
    msg = header + body
    return struct.pack(">i", len(msg)) + msg


def create_topic(host, port, topic, partitions, rf, timeout_ms=5000, socket_timeout=30.0):
    """CreateTopics for one topic sent to host:port only (no client-side routing to
    another broker). Returns (error_code, error_message)."""
    with socket.create_connection((host, port), timeout=socket_timeout) as s:
        s.settimeout(socket_timeout)
        s.sendall(encode_create_topics(7, topic, partitions, rf, timeout_ms))
        size = struct.unpack(">i", _recv_exact(s, 4))[0]
        r = _Reader(_recv_exact(s, size))
    if r.i32() != 7:
        raise ValueError("CreateTopics: wrong correlation id")
    r.skip_tags()
    r.i32()  # throttle_time_ms
    if r.compact_len() != 1:
        raise ValueError("CreateTopics: expected one topic result")
    r.compact_str()  # name
    r.take(16)  # topic id
    return r.i16(), r.compact_str()


LIST_OFFSETS_KEY = 2
LIST_OFFSETS_VERSION = 5  # not flexible; isolation level since v2, leader epochs since v4
LATEST = -1


def _str16(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def encode_list_offsets(correlation_id, topic, partitions, isolation, client_id="cluster-harness"):
    """ListOffsets for the latest offset of `partitions`: isolation 0 (read_uncommitted)
    answers the high watermark, 1 (read_committed) the last stable offset."""
    header = struct.pack(">hhi", LIST_OFFSETS_KEY, LIST_OFFSETS_VERSION, correlation_id) + _str16(client_id)
    body = struct.pack(">ibi", -1, isolation, 1) + _str16(topic) + struct.pack(">i", len(partitions))
    for p in partitions:
        body += struct.pack(">iiq", p, -1, LATEST)
    msg = header + body
    return struct.pack(">i", len(msg)) + msg


def list_offsets(host, port, topic, partitions, isolation, timeout=5.0):
    """{partition: (error code, offset)} from host:port alone (its own view as leader;
    NOT_LEADER_OR_FOLLOWER (6) from a follower)."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.settimeout(timeout)
        s.sendall(encode_list_offsets(9, topic, partitions, isolation))
        size = struct.unpack(">i", _recv_exact(s, 4))[0]
        buf = _recv_exact(s, size)
    off = 0

    def take(fmt):
        nonlocal off
        vals = struct.unpack_from(fmt, buf, off)
        off += struct.calcsize(fmt)
        return vals

    (corr,) = take(">i")
    if corr != 9:
        raise ValueError("ListOffsets: wrong correlation id")
    take(">i")  # throttle_time_ms
    out = {}
    for _ in range(take(">i")[0]):
        (n,) = take(">h")
        off += n  # topic name
        for _ in range(take(">i")[0]):
            p, err, _ts, offset, _epoch = take(">ihqqi")
            out[p] = (err, offset)
    return out


# ---- coordinator requests (issue 13: test_coordinators.py) ------------------------------
# Flexible versions only (request header v2, response header v1); each encoder
# follows Kafka's clients/src/main/resources/common/message/<Name>Request.json
# for the version named next to it.

NONE = 0
NOT_COORDINATOR = 16
COORDINATOR_LOAD_IN_PROGRESS = 14
COORDINATOR_NOT_AVAILABLE = 15
ILLEGAL_GENERATION = 22
UNKNOWN_MEMBER_ID = 25
REBALANCE_IN_PROGRESS = 27
TRANSACTION_COORDINATOR_FENCED = 52
MEMBER_ID_REQUIRED = 79
GROUP_ID_NOT_FOUND = 69
FENCED_MEMBER_EPOCH = 110


class _W:
    """Builder of a flexible request body."""

    def __init__(self):
        self.b = bytearray()

    def i8(self, v):
        self.b += struct.pack(">b", v)
        return self

    def i16(self, v):
        self.b += struct.pack(">h", v)
        return self

    def i32(self, v):
        self.b += struct.pack(">i", v)
        return self

    def i64(self, v):
        self.b += struct.pack(">q", v)
        return self

    def s(self, v):
        self.b += _compact_str(v)
        return self

    def raw(self, v):
        self.b += v
        return self

    def bytes_(self, v):
        self.b += _uvarint(len(v) + 1) + v
        return self

    def n(self, count):
        """Compact array length (None: a null array)."""
        self.b += _uvarint(0 if count is None else count + 1)
        return self

    def tags(self):
        self.b += _uvarint(0)
        return self


def call(host, api_key, version, body, timeout=10.0, port=9092, client_id="cluster-coord"):
    """Sends one flexible request to host:port alone; returns a reader after the response header."""
    cid = client_id.encode()
    header = struct.pack(">hhih", api_key, version, 42, len(cid)) + cid + _uvarint(0)
    msg = header + bytes(body.b if isinstance(body, _W) else body)
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.settimeout(timeout)
        s.sendall(struct.pack(">i", len(msg)) + msg)
        size = struct.unpack(">i", _recv_exact(s, 4))[0]
        r = _Reader(_recv_exact(s, size))
    if r.i32() != 42:
        raise ValueError("wrong correlation id")
    r.skip_tags()
    return r


def _bytes(r):
    n = r.uvarint()
    return None if n == 0 else r.take(n - 1)


GROUP_KEY, TXN_KEY, SHARE_KEY = 0, 1, 2


def find_coordinator(host, key, key_type=GROUP_KEY):
    """FindCoordinator v4 (v6 for a SHARE key, "group:topicId:partition") -> (error_code, node_id)."""
    version = 6 if key_type == SHARE_KEY else 4
    r = call(host, 10, version, _W().i8(key_type).n(1).s(key).tags())
    r.i32()
    assert r.compact_len() == 1
    r.compact_str()
    node, _host, _port, err = r.i32(), r.compact_str(), r.i32(), r.i16()
    return err, node


def offset_fetch(host, group, topics=None, require_stable=True):
    """OffsetFetch v8 for one group (topics: {name: [partitions]} or None for all).
    require_stable as the Java consumer always sends it (KIP-447): Kafka then answers
    once everything the coordinator wrote is committed, so a coordinator that was just
    elected cannot serve offsets older than those it acknowledged.
    Returns (group error, {(topic, partition): (offset, error)})."""
    w = _W().n(1).s(group)
    if topics is None:
        w.n(None)
    else:
        w.n(len(topics))
        for t, ps in topics.items():
            w.s(t).n(len(ps))
            for p in ps:
                w.i32(p)
            w.tags()
    w.tags().i8(1 if require_stable else 0).tags()
    r = call(host, 9, 8, w)
    r.i32()
    out, gerr = {}, None
    for _ in range(r.compact_len()):
        r.compact_str()
        for _ in range(r.compact_len()):
            t = r.compact_str()
            for _ in range(r.compact_len()):
                p, off, _epoch, _meta, err = r.i32(), struct.unpack(">q", r.take(8))[0], r.i32(), r.compact_str(), r.i16()
                r.skip_tags()
                out[(t, p)] = (off, err)
            r.skip_tags()
        gerr = r.i16()
        r.skip_tags()
    return gerr, out


def offset_commit(host, group, offsets, generation=-1, member_id="", instance_id=None):
    """OffsetCommit v8 (offsets {(topic, partition): offset}) -> {(topic, partition): error}."""
    by_topic = {}
    for (t, p), o in offsets.items():
        by_topic.setdefault(t, []).append((p, o))
    w = _W().s(group).i32(generation).s(member_id).s(instance_id).n(len(by_topic))
    for t, ps in by_topic.items():
        w.s(t).n(len(ps))
        for p, o in ps:
            w.i32(p).i64(o).i32(-1).s(None).tags()
        w.tags()
    r = call(host, 8, 8, w.tags())
    r.i32()
    out = {}
    for _ in range(r.compact_len()):
        t = r.compact_str()
        for _ in range(r.compact_len()):
            p, err = r.i32(), r.i16()
            r.skip_tags()
            out[(t, p)] = err
        r.skip_tags()
    return out


def join_group(host, group, member_id="", session_ms=45000, rebalance_ms=30000, topics=(), timeout=40.0):
    """JoinGroup v9 of a "consumer" protocol member with the range assignor.
    Returns dict(error, generation, leader, member_id, members)."""
    # ConsumerProtocolSubscription v0: topics, user data (null).
    meta = struct.pack(">hi", 0, len(topics))
    for t in topics:
        meta += struct.pack(">h", len(t)) + t.encode()
    meta += struct.pack(">i", -1)
    w = (_W().s(group).i32(session_ms).i32(rebalance_ms).s(member_id).s(None).s("consumer")
         .n(1).s("range").bytes_(meta).tags().s(None).tags())
    r = call(host, 11, 9, w, timeout=timeout)
    r.i32()
    err, gen, _ptype, _pname, leader = r.i16(), r.i32(), r.compact_str(), r.compact_str(), r.compact_str()
    r.i8()  # skip_assignment
    mid = r.compact_str()
    members = []
    for _ in range(r.compact_len()):
        members.append(r.compact_str())
        r.compact_str()
        _bytes(r)
        r.skip_tags()
    return {"error": err, "generation": gen, "leader": leader, "member_id": mid, "members": members}


def sync_group(host, group, generation, member_id, assignments=None, timeout=40.0):
    """SyncGroup v5 (assignments {member_id: bytes}) -> error code."""
    assignments = assignments or {}
    w = _W().s(group).i32(generation).s(member_id).s(None).s("consumer").s("range").n(len(assignments))
    for m, a in assignments.items():
        w.s(m).bytes_(a).tags()
    r = call(host, 14, 5, w.tags(), timeout=timeout)
    r.i32()
    return r.i16()


def heartbeat(host, group, generation, member_id):
    """Heartbeat v4 -> error code."""
    r = call(host, 12, 4, _W().s(group).i32(generation).s(member_id).s(None).tags())
    r.i32()
    return r.i16()


def consumer_group_heartbeat(host, group, member_id, member_epoch, topics=None, rebalance_ms=-1):
    """ConsumerGroupHeartbeat v1 (KIP-848; member ids chosen by the client).
    Returns dict(error, message, member_id, epoch, assignment={topic id: [partitions]} or None)."""
    w = _W().s(group).s(member_id).i32(member_epoch).s(None).s(None).i32(rebalance_ms)
    if topics is None:
        w.n(None)
    else:
        w.n(len(topics))
        for t in topics:
            w.s(t)
    w.s(None).s(None)  # subscribed_topic_regex, server_assignor
    w.n(None if topics is None else 0)  # topic_partitions: owned partitions (none yet when joining)
    r = call(host, 68, 1, w.tags())
    r.i32()
    err, msg, mid, epoch, _hb = r.i16(), r.compact_str(), r.compact_str(), r.i32(), r.i32()
    assignment = None
    if r.i8() >= 0:
        assignment = {}
        for _ in range(r.compact_len()):
            tid = topic_id_b64(r.take(16))
            assignment[tid] = r.int_array()
            r.skip_tags()
        r.skip_tags()
    return {"error": err, "message": msg, "member_id": mid, "epoch": epoch, "assignment": assignment}


def delete_groups(host, groups):
    """DeleteGroups v2 -> {group: error}."""
    w = _W().n(len(groups))
    for g in groups:
        w.s(g)
    r = call(host, 42, 2, w.tags())
    r.i32()
    out = {}
    for _ in range(r.compact_len()):
        g, err = r.compact_str(), r.i16()
        r.skip_tags()
        out[g] = err
    return out


def describe_groups(host, groups):
    """DescribeGroups v5 -> {group: (error, state, [member ids])} (v5 describes an
    unknown group as Dead without an error)."""
    w = _W().n(len(groups))
    for g in groups:
        w.s(g)
    r = call(host, 15, 5, w.i8(0).tags())
    r.i32()
    out = {}
    for _ in range(r.compact_len()):
        err, g, state = r.i16(), r.compact_str(), r.compact_str()
        r.compact_str()
        r.compact_str()
        members = []
        for _ in range(r.compact_len()):
            members.append(r.compact_str())
            r.compact_str()
            r.compact_str()
            r.compact_str()
            _bytes(r)
            _bytes(r)
            r.skip_tags()
        r.i32()
        r.skip_tags()
        out[g] = (err, state, members)
    return out


def list_groups(host):
    """ListGroups v4 (no filter) -> (error, {group: state})."""
    r = call(host, 16, 4, _W().n(0).tags())
    r.i32()
    err = r.i16()
    out = {}
    for _ in range(r.compact_len()):
        g, _protocol_type, state = r.compact_str(), r.compact_str(), r.compact_str()
        r.skip_tags()
        out[g] = state
    return err, out


def write_txn_markers(host, producer_id, producer_epoch, commit, coordinator_epoch, partitions):
    """WriteTxnMarkers v1, one marker (partitions {topic: [partition]}) -> {(topic, partition): error}."""
    w = _W().n(1).i64(producer_id).i16(producer_epoch).i8(1 if commit else 0).n(len(partitions))
    for t, ps in partitions.items():
        w.s(t).n(len(ps))
        for p in ps:
            w.i32(p)
        w.tags()
    w.i32(coordinator_epoch).tags().tags()
    r = call(host, 27, 1, w)
    out = {}
    for _ in range(r.compact_len()):
        struct.unpack(">q", r.take(8))
        for _ in range(r.compact_len()):
            t = r.compact_str()
            for _ in range(r.compact_len()):
                p, err = r.i32(), r.i16()
                r.skip_tags()
                out[(t, p)] = err
            r.skip_tags()
        r.skip_tags()
    return out


def java_hash(s):
    """Java's String.hashCode (a signed int), as Kafka's partitionFor(groupId / transactionalId) uses."""
    units = s.encode("utf-16-be")
    h = 0
    for i in range(0, len(units), 2):
        h = (31 * h + int.from_bytes(units[i:i + 2], "big")) & 0xFFFFFFFF
    return h - (1 << 32) if h & 0x80000000 else h


def partition_for(key, partitions):
    """Utils.abs(key.hashCode()) % partitions: the coordinator partition of a group /
    transactional id (Utils.abs maps Integer.MIN_VALUE to 0)."""
    h = java_hash(key)
    return (0 if h == -(1 << 31) else abs(h)) % partitions
