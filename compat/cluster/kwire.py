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
