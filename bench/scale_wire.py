"""A minimal Kafka wire client for the scale benchmark (bench/scale.py): a few non-flexible
request versions that Kafka 4.4 and Gregor both accept, encoded and decoded by hand so that a
measured round trip is the broker's time plus one socket read, not a client library's work.

Versions (all non-flexible, no tagged fields): ApiVersions v0, Metadata v4, CreateTopics v4,
FindCoordinator v1, OffsetCommit v2, OffsetFetch v1. Only the standard library.
"""

import socket
import struct

API_VERSIONS, METADATA, CREATE_TOPICS = (18, 0), (3, 4), (19, 4)
FIND_COORDINATOR, OFFSET_COMMIT, OFFSET_FETCH = (10, 1), (8, 2), (9, 1)
CLIENT_ID = b"gregor-scale-bench"


def string(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack(">h", len(b)) + b


def nullable_string(s):
    return struct.pack(">h", -1) if s is None else string(s)


def array(items, encode):
    return struct.pack(">i", len(items)) + b"".join(encode(x) for x in items)


def frame(api, correlation_id, body):
    """Size-prefixed request: header v1 (api key, version, correlation id, client id) + body."""
    key, version = api
    header = struct.pack(">hhi", key, version, correlation_id) + string(CLIENT_ID)
    payload = header + body
    return struct.pack(">i", len(payload)) + payload


class Reader:
    """Decodes big-endian Kafka primitives from a response body."""

    def __init__(self, data, pos=0):
        self.data, self.pos = data, pos

    def take(self, fmt):
        (value,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return value

    def int8(self):
        return self.take(">b")

    def int16(self):
        return self.take(">h")

    def int32(self):
        return self.take(">i")

    def int64(self):
        return self.take(">q")

    def string(self):
        n = self.int16()
        if n < 0:
            return None
        s = self.data[self.pos:self.pos + n].decode()
        self.pos += n
        return s

    def array(self, decode):
        n = self.int32()
        return [] if n < 0 else [decode(self) for _ in range(n)]


# --- request bodies -------------------------------------------------------------------------

def metadata_all_topics():
    """Metadata v4 for every topic (null topic array), no auto-creation."""
    return struct.pack(">i", -1) + struct.pack(">?", False)


def create_topics(topics, timeout_ms=60000):
    """CreateTopics v4: topics is [(name, partitions, replication factor)], no configs."""
    def topic(t):
        name, partitions, rf = t
        return string(name) + struct.pack(">ih", partitions, rf) + struct.pack(">ii", 0, 0)
    return array(topics, topic) + struct.pack(">i?", timeout_ms, False)


def find_coordinator(group):
    return string(group) + struct.pack(">b", 0)


def offset_commit(group, topic, offsets):
    """OffsetCommit v2 as a simple (non-member) group: generation -1, no member id, the
    broker's default retention; offsets is {partition: offset}."""
    def part(item):
        p, off = item
        return struct.pack(">iq", p, off) + nullable_string(None)
    return (string(group) + struct.pack(">i", -1) + string("") + struct.pack(">q", -1)
            + array([topic], lambda t: string(t) + array(sorted(offsets.items()), part)))


def offset_fetch(group, topic, partitions):
    return string(group) + array([topic], lambda t: string(t) + array(partitions, lambda p: struct.pack(">i", p)))


# --- response decoders ----------------------------------------------------------------------

def decode_metadata(body):
    """Metadata v4 -> {topic: [(partition, error, leader)]} and the topic-level errors."""
    r = Reader(body)
    r.int32()  # throttle
    r.array(lambda r: (r.int32(), r.string(), r.int32(), r.string()))  # brokers
    r.string()  # cluster id
    r.int32()  # controller id

    def partition(r):
        error, index, leader = r.int16(), r.int32(), r.int32()
        r.array(lambda r: r.int32())  # replicas
        r.array(lambda r: r.int32())  # isr
        return index, error, leader

    def topic(r):
        error, name = r.int16(), r.string()
        r.int8()  # is_internal
        return name, error, r.array(partition)

    return {name: (error, parts) for name, error, parts in r.array(topic)}


def decode_create_topics(body):
    """CreateTopics v4 -> {topic: (error code, message)}."""
    r = Reader(body)
    r.int32()  # throttle
    return dict(r.array(lambda r: (r.string(), (r.int16(), r.string()))))


def decode_find_coordinator(body):
    """FindCoordinator v1 -> (error code, node id, host, port)."""
    r = Reader(body)
    r.int32()  # throttle
    error = r.int16()
    r.string()  # message
    return error, r.int32(), r.string(), r.int32()


def decode_offset_commit(body):
    """OffsetCommit v2 -> [error code per partition]."""
    r = Reader(body)
    return [e for _, parts in r.array(lambda r: (r.string(), r.array(lambda r: (r.int32(), r.int16()))))
            for _, e in parts]


def decode_offset_fetch(body):
    """OffsetFetch v1 -> {partition: (offset, error code)}."""
    r = Reader(body)
    out = {}
    for _, parts in r.array(lambda r: (r.string(), r.array(lambda r: (r.int32(), r.int64(), r.string(), r.int16())))):
        for p, off, _meta, err in parts:
            out[p] = (off, err)
    return out


def java_string_hash(s):
    """java.lang.String#hashCode, for the __consumer_offsets partition of a group
    (Utils.abs(groupId.hashCode) % partitions, as Kafka's GroupCoordinator computes it)."""
    b = s.encode("utf-16-be")
    h = 0
    for unit in struct.unpack(f">{len(b) // 2}H", b):
        h = (31 * h + unit) & 0xFFFFFFFF
    return h - (1 << 32) if h & 0x80000000 else h


def offsets_partition(group, partitions=50):
    return (java_string_hash(group) & 0x7FFFFFFF) % partitions


class Connection:
    """One blocking connection; request() sends a frame and returns the response body (after the
    correlation id). Not thread-safe."""

    def __init__(self, host, port, timeout=60.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.correlation = 0

    def send(self, api, body):
        self.correlation += 1
        self.sock.sendall(frame(api, self.correlation, body))
        return self.correlation

    def receive(self, expect):
        size = struct.unpack(">i", self.recv_exact(4))[0]
        payload = self.recv_exact(size)
        correlation = struct.unpack_from(">i", payload)[0]
        if correlation != expect:
            raise RuntimeError(f"correlation id {correlation}, expected {expect}")
        return payload[4:]

    def request(self, api, body):
        return self.receive(self.send(api, body))

    def recv_exact(self, n):
        chunks, got = [], 0
        while got < n:
            chunk = self.sock.recv(min(n - got, 1 << 20))
            if not chunk:
                raise ConnectionError("connection closed by the broker")
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    def close(self):
        self.sock.close()
