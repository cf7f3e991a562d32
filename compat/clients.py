"""Drivers for every client in the suite, all speaking one record model.

A record to produce is a ``Rec``; what a consumer read back is a ``Got``.
Each ``*_produce`` returns one ``Sent`` per input record (partition/offset or
error) in input order; each ``*_consume`` returns the list of ``Got``.
"""

import base64
import json
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Tuple

import jvm

ROOT = Path(__file__).resolve().parent.parent
DEPS = ROOT / "target" / "compat-deps"
JAVA_CP = jvm.CLIENTS_CP
FRANZ = DEPS / "bin" / "franz-compat"
NODE_DIR = ROOT / "compat" / "node"

Header = Tuple[str, Optional[bytes]]


@dataclass
class Rec:
    key: Optional[bytes]
    value: Optional[bytes]
    headers: List[Header] = field(default_factory=list)
    timestamp: Optional[int] = None
    partition: Optional[int] = None


@dataclass
class Sent:
    partition: Optional[int] = None
    offset: Optional[int] = None
    error: Optional[str] = None


@dataclass
class Got:
    partition: int
    offset: int
    timestamp: int
    key: Optional[bytes]
    value: Optional[bytes]
    headers: List[Header]


def b64(b):
    return None if b is None else base64.b64encode(b).decode()


def unb64(s):
    return None if s is None else base64.b64decode(s)


def run(cmd, input_text=None, timeout=120):
    p = subprocess.run(
        cmd, input=input_text, capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )
    if p.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, cmd[:4]))}... exited {p.returncode}\nstdout:\n{p.stdout[-3000:]}\nstderr:\n{p.stderr[-3000:]}"
        )
    return p


def json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.strip().startswith("{")]


def _sent(objs):
    return [Sent(o.get("partition"), o.get("offset"), o.get("error") and f"{o['error']}: {o.get('message', '')}")
            for o in objs]


def _got(objs):
    out = []
    for o in objs:
        if o.get("done"):
            continue
        if "error" in o:
            raise AssertionError(f"consumer error: {o}")
        out.append(Got(o["partition"], o["offset"], o["timestamp"], unb64(o["key"]), unb64(o["value"]),
                       [(h[0], unb64(h[1])) for h in o["headers"]]))
    return out


def json_records(records):
    return "".join(
        json.dumps({
            "key": b64(r.key), "value": b64(r.value),
            "headers": [[k, b64(v)] for k, v in r.headers],
            "timestamp": r.timestamp, "partition": r.partition,
        }) + "\n"
        for r in records
    )


# ---- Java kafka-clients ------------------------------------------------------------

def java(bootstrap, *args, input_text=None, timeout=120):
    p = run(jvm.client_cmd(bootstrap, *args), input_text, timeout)
    return json_lines(p.stdout)


def java_produce(bootstrap, topic, records, **props):
    lines = []
    for r in records:
        hs = ",".join(f"{b64(k.encode())}:{'-' if v is None else b64(v)}" for k, v in r.headers) or "-"
        f = [b64(r.key) or "-", b64(r.value) if r.value is not None else "-",
             "-" if r.timestamp is None else str(r.timestamp),
             "-" if r.partition is None else str(r.partition), hs]
        # an empty key/value encodes as "" which is not "-": keep it distinct
        if r.key == b"":
            f[0] = ""
        if r.value == b"":
            f[1] = ""
        lines.append("\t".join(f))
    args = [f"{k.replace('_', '.')}={v}" for k, v in props.items()]
    return _sent(java(bootstrap, "produce", topic, *args, input_text="\n".join(lines) + "\n"))


def java_consume(bootstrap, topic, count, timeout_ms=20000):
    return _got(java(bootstrap, "consume", topic, count, timeout_ms, timeout=timeout_ms / 1000 + 60))


def java_admin(bootstrap, *args):
    out = java(bootstrap, "admin", *args)
    assert len(out) == 1, out
    return out[0]


def java_offsets_for_times(bootstrap, topic, ts):
    return java(bootstrap, "offsets-for-times", topic, ts)


# ---- franz-go ------------------------------------------------------------------------

def franz_produce(bootstrap, topic, records, compression="none", acks="all"):
    p = run([str(FRANZ), "-b", bootstrap, "produce", "-topic", topic, "-compression", compression,
             "-acks", acks], json_records(records))
    return _sent(json_lines(p.stdout))


def franz_consume(bootstrap, topic, count, timeout_ms=20000):
    p = run([str(FRANZ), "-b", bootstrap, "consume", "-topic", topic, "-count", str(count),
             "-timeout-ms", str(timeout_ms)], timeout=timeout_ms / 1000 + 60)
    return _got(json_lines(p.stdout))


# ---- kafkajs ---------------------------------------------------------------------------

def kafkajs_produce(bootstrap, topic, records, compression="none", acks="-1"):
    p = run(["node", str(NODE_DIR / "compat.js"), bootstrap, "produce", topic,
             "--compression", compression, "--acks", acks], json_records(records))
    return _sent(json_lines(p.stdout))


def kafkajs_consume(bootstrap, topic, count, timeout_ms=20000):
    p = run(["node", str(NODE_DIR / "compat.js"), bootstrap, "consume", topic, str(count), str(timeout_ms)],
            timeout=timeout_ms / 1000 + 60)
    return _got(json_lines(p.stdout))


# ---- kcat --------------------------------------------------------------------------------

def kcat(bootstrap, *args, input_text=None, timeout=60):
    return run(["kcat", "-b", bootstrap, *map(str, args)], input_text, timeout)


def kcat_consume(bootstrap, topic, count, timeout_s=20):
    """kcat -C -J from the beginning of every partition until `count` records."""
    p = kcat(bootstrap, "-C", "-t", topic, "-o", "beginning", "-c", count, "-J", "-m", timeout_s,
             "-X", "fetch.wait.max.ms=100", "-q", timeout=timeout_s + 60)
    got = []
    for o in json_lines(p.stdout):
        headers = []
        hs = o.get("headers") or []
        for i in range(0, len(hs), 2):
            headers.append((hs[i], None if hs[i + 1] is None else hs[i + 1].encode()))
        got.append(Got(o["partition"], o["offset"], o["ts"],
                       None if o["key"] is None else o["key"].encode(),
                       None if o["payload"] is None else o["payload"].encode(), headers))
    return got


# ---- confluent-kafka (librdkafka) -----------------------------------------------------------

def take(consumer, n, timeout_s=30):
    """Polls one consumer until it returned `n` records (or time runs out)."""
    got = []
    deadline = time.monotonic() + timeout_s
    while len(got) < n and time.monotonic() < deadline:
        m = consumer.poll(0.5)
        if m is not None and m.error() is None:
            got.append(m)
    return got


def cf_produce(bootstrap, topic, records, flush_timeout=60, **conf):
    from confluent_kafka import Producer

    base = {"bootstrap.servers": bootstrap, "enable.idempotence": False, "acks": "all",
            "linger.ms": 5, "message.timeout.ms": 30000}
    base.update({k.replace("_", "."): v for k, v in conf.items()})
    producer = Producer(base)
    results = [Sent() for _ in records]

    def cb(i):
        def done(err, msg):
            if err is not None:
                results[i].error = f"{err.name()}: {err.str()}"
            else:
                results[i].partition, results[i].offset = msg.partition(), msg.offset()
        return done

    for i, r in enumerate(records):
        kw = {}
        if r.partition is not None:
            kw["partition"] = r.partition
        if r.timestamp is not None:
            kw["timestamp"] = r.timestamp
        if r.headers:
            kw["headers"] = list(r.headers)
        try:
            producer.produce(topic, value=r.value, key=r.key, on_delivery=cb(i), **kw)
        except Exception as e:  # e.g. MSG_SIZE_TOO_LARGE raised locally
            results[i].error = f"{type(e).__name__}: {e}"
        producer.poll(0)
    remaining = producer.flush(flush_timeout)
    assert remaining == 0, f"{remaining} records not delivered within {flush_timeout}s"
    return results


def cf_consumer(bootstrap, **conf):
    from confluent_kafka import Consumer

    base = {"bootstrap.servers": bootstrap, "group.id": "compat-unused", "enable.auto.commit": False,
            "auto.offset.reset": "earliest", "fetch.wait.max.ms": 100, "enable.partition.eof": False}
    base.update(conf)
    return Consumer(base)


def cf_partitions(consumer, topic, timeout=20):
    deadline = time.monotonic() + timeout
    while True:
        md = consumer.list_topics(topic, timeout=10)
        t = md.topics.get(topic)
        if t is not None and t.error is None and t.partitions:
            return sorted(t.partitions)
        if time.monotonic() > deadline:
            raise AssertionError(f"no metadata for {topic}: {t and t.error}")
        time.sleep(0.2)


def cf_consume(bootstrap, topic, count, timeout_s=20):
    from confluent_kafka import OFFSET_BEGINNING, TopicPartition

    c = cf_consumer(bootstrap)
    try:
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in cf_partitions(c, topic)])
        got = []
        deadline = time.monotonic() + timeout_s
        while len(got) < count and time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is None:
                continue
            if m.error():
                raise AssertionError(f"consume error: {m.error()}")
            got.append(Got(m.partition(), m.offset(), m.timestamp()[1], m.key(), m.value(),
                           list(m.headers() or [])))
        return got
    finally:
        c.close()


# ---- kafka-python ------------------------------------------------------------------------------

def kp_produce(bootstrap, topic, records, **conf):
    from kafka import KafkaProducer

    base = dict(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False, linger_ms=5,
                request_timeout_ms=20000, max_request_size=8 << 20)
    base.update(conf)
    producer = KafkaProducer(**base)
    futures = []
    try:
        for r in records:
            try:
                futures.append(producer.send(topic, value=r.value, key=r.key, headers=list(r.headers),
                                             partition=r.partition, timestamp_ms=r.timestamp))
            except Exception as e:
                futures.append(e)
        producer.flush(60)
        out = []
        for f in futures:
            if isinstance(f, Exception):
                out.append(Sent(error=f"{type(f).__name__}: {f}"))
                continue
            try:
                md = f.get(timeout=60)
                out.append(Sent(md.partition, md.offset))
            except Exception as e:
                out.append(Sent(error=f"{type(e).__name__}: {e}"))
        return out
    finally:
        producer.close(10)


def kp_consume(bootstrap, topic, count, timeout_s=20):
    from kafka import KafkaConsumer, TopicPartition

    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                      auto_offset_reset="earliest", fetch_max_wait_ms=100,
                      max_partition_fetch_bytes=16 << 20, fetch_max_bytes=64 << 20)
    try:
        deadline = time.monotonic() + timeout_s
        parts = None
        while not parts:
            parts = c.partitions_for_topic(topic)
            if not parts:
                if time.monotonic() > deadline:
                    raise AssertionError(f"no partitions for {topic}")
                time.sleep(0.2)
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        got = []
        while len(got) < count and time.monotonic() < deadline:
            for tp, msgs in c.poll(timeout_ms=200).items():
                for m in msgs:
                    got.append(Got(m.partition, m.offset, m.timestamp, m.key, m.value, list(m.headers or [])))
        return got
    finally:
        c.close()


# ---- assertions ---------------------------------------------------------------------------------

def assert_all_sent(sent, n=None):
    errors = [s.error for s in sent if s.error]
    assert not errors, f"produce errors: {errors[:5]}"
    if n is not None:
        assert len(sent) == n


def assert_roundtrip(records, sent, got, check_timestamps=True):
    """Every sent record is read back at the (partition, offset) it was acked at, byte for byte."""
    assert_all_sent(sent, len(records))
    by_pos = {}
    for g in got:
        assert (g.partition, g.offset) not in by_pos, f"duplicate record at {g.partition}/{g.offset}"
        by_pos[(g.partition, g.offset)] = g
    assert len(got) == len(records), f"read {len(got)} records, produced {len(records)}"
    for r, s in zip(records, sent):
        g = by_pos.get((s.partition, s.offset))
        assert g is not None, f"record acked at {s.partition}/{s.offset} not read back"
        assert g.key == r.key, (s, g.key, r.key)
        assert g.value == r.value, (s, g.value[:100] if g.value else g.value, r.value[:100] if r.value else r.value)
        assert g.headers == list(r.headers), (s, g.headers, r.headers)
        if check_timestamps and r.timestamp is not None:
            assert g.timestamp == r.timestamp, (s, g.timestamp, r.timestamp)


def assert_contiguous(got):
    parts = {}
    for g in got:
        parts.setdefault(g.partition, []).append(g.offset)
    for p, offs in parts.items():
        offs.sort()
        assert offs == list(range(offs[0], offs[0] + len(offs))), f"partition {p} offsets not contiguous"


# ---- shared record sets -----------------------------------------------------------------------

TS = 1_700_000_000_000  # a fixed CreateTime in the past (2023-11-14)


def variety(headers=True, dup_headers=True, dup_interleaved=True, null_header=True, null_value=True, empty=True, timestamps=True):
    """Records exercising keys, null keys, null/empty values, binary data and headers."""
    recs = [
        Rec(b"key-1", b"hello"),
        Rec(None, b"no key"),
        Rec(b"bin", bytes(range(256)) * 4),
        Rec("ключ-ü-鍵".encode(), "värde 値 🚀".encode()),
        Rec(b"k" * 300, b"v" * 5000),
    ]
    if null_value:
        recs.append(Rec(b"tombstone", None))
    if empty:
        recs.append(Rec(b"empty-value", b""))
        recs.append(Rec(b"", b"empty key"))
    if headers:
        recs.append(Rec(b"h1", b"with headers", [("trace-id", b"abc123"), ("bin", bytes([0, 1, 255]))]))
        recs.append(Rec(b"h2", b"empty header value", [("e", b"")]))
    if dup_headers:
        hs = [("dup", b"first"), ("other", b"x"), ("dup", b"second")]
        if not dup_interleaved:  # clients that keep headers in a map of name -> [values]
            hs = [("dup", b"first"), ("dup", b"second"), ("other", b"x")]
        recs.append(Rec(b"h3", b"duplicate header keys", hs))
    if null_header:
        recs.append(Rec(b"h4", b"null header value", [("nullh", None)]))
    if timestamps:
        recs.append(Rec(b"ts1", b"create time", timestamp=TS))
        recs.append(Rec(b"ts2", b"create time 2", timestamp=TS + 12345))
    return recs


def murmur2_partition(key: bytes, num_partitions: int) -> int:
    """The Java client's default partitioner for keyed records: toPositive(murmur2(key)) % n."""
    length = len(key)
    seed = 0x9747B28C
    m = 0x5BD1E995
    r = 24
    h = (seed ^ length) & 0xFFFFFFFF
    length4 = length // 4
    for i in range(length4):
        i4 = i * 4
        k = key[i4] | (key[i4 + 1] << 8) | (key[i4 + 2] << 16) | (key[i4 + 3] << 24)
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
    extra = length % 4
    idx = length & ~3
    if extra == 3:
        h ^= key[idx + 2] << 16
    if extra >= 2:
        h ^= key[idx + 1] << 8
    if extra >= 1:
        h ^= key[idx]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return (h & 0x7FFFFFFF) % num_partitions


def cf_admin(bootstrap):
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": bootstrap})


def cf_create_topic(bootstrap, topic, partitions, config=None):
    from confluent_kafka.admin import NewTopic

    admin = cf_admin(bootstrap)  # keep a reference: the futures die with the handle
    fs = admin.create_topics(
        [NewTopic(topic, num_partitions=partitions, replication_factor=1, config=config or {})],
        operation_timeout=20, request_timeout=30)
    fs[topic].result(timeout=30)
    # wait until metadata shows every partition with a leader
    c = cf_consumer(bootstrap)
    try:
        deadline = time.monotonic() + 20
        while True:
            md = c.list_topics(topic, timeout=10).topics.get(topic)
            if md and md.error is None and len(md.partitions) == partitions and all(
                    p.leader >= 0 for p in md.partitions.values()):
                return
            assert time.monotonic() < deadline, f"topic {topic} not ready: {md}"
            time.sleep(0.1)
    finally:
        c.close()
