#!/usr/bin/env python3
"""librdkafka (confluent-kafka) helpers for bench/run.sh. Each command prints one JSON line.

  rdkafka_load.py create-topics BOOTSTRAP NAME:PARTITIONS [NAME:PARTITIONS ...]
  rdkafka_load.py produce BOOTSTRAP TOPIC NUM_RECORDS RECORD_SIZE ACKS COMPRESSION
  rdkafka_load.py consume BOOTSTRAP TOPIC NUM_RECORDS
  rdkafka_load.py startup BOOTSTRAP TOPIC TIMEOUT_S
      waits for the port, then retries one produce until it is acknowledged;
      prints the wall-clock time (time.time()) of the acknowledgement, so the
      caller can subtract the time it started the broker process.

BENCH_RDKAFKA_CONFIG, if set, names a JSON file of librdkafka settings added to
every client (bench/run.sh --security sasl_ssl: security.protocol, SASL user, CA).

consume assign()s every partition from the beginning (the fetch path alone; the
Java consume rows go through a consumer group); librdkafka wants a group.id even
for assign(), nothing is committed. The producer keeps librdkafka's defaults
apart from the listed settings (so no idempotence: that is librdkafka's default).
"""
import json
import os
import socket
import sys
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def security_config():
    path = os.environ.get("BENCH_RDKAFKA_CONFIG")
    return json.load(open(path)) if path else {}


def cfg(settings):
    """`settings` plus the run's security settings."""
    return {**settings, **security_config()}


def out(obj):
    print(json.dumps(obj), flush=True)


def create_topics(bootstrap, specs):
    admin = AdminClient(cfg({"bootstrap.servers": bootstrap}))
    topics = []
    for spec in specs:
        name, parts = spec.rsplit(":", 1)
        topics.append(NewTopic(name, num_partitions=int(parts), replication_factor=1))
    futures = admin.create_topics(topics, operation_timeout=30, request_timeout=30)
    errors = {}
    for name, fut in futures.items():
        try:
            fut.result()
        except KafkaException as e:
            errors[name] = str(e)
    # wait until every topic has a leader for every partition
    deadline = time.time() + 30
    want = {t.topic: t.num_partitions for t in topics}
    # (per topic: an all-topics Metadata request from librdkafka 2.12 makes
    # Gregor close the connection, "3 unread bytes after Metadata v12 body")
    pending = dict(want)
    while pending and time.time() < deadline:
        for name, n in list(pending.items()):
            md = admin.list_topics(name, timeout=10)
            t = md.topics.get(name)
            if (t is not None and t.error is None and len(t.partitions) == n
                    and all(p.leader >= 0 for p in t.partitions.values())):
                del pending[name]
        if pending:
            time.sleep(0.1)
    if pending:
        errors.update({name: "not ready after 30 s" for name in pending})
    out({"created": len(topics) - len(errors), "errors": errors})
    return 1 if errors else 0


def produce(bootstrap, topic, n, size, acks, compression):
    state = {"errors": 0, "first_error": None, "acked": 0}

    def on_delivery(err, msg):
        if err is not None:
            state["errors"] += 1
            if state["first_error"] is None:
                state["first_error"] = str(err)
        else:
            state["acked"] += 1

    p = Producer(cfg({
        "bootstrap.servers": bootstrap,
        "acks": acks,
        "compression.type": compression,
        "linger.ms": 5,
        "batch.size": 65536,
        "queue.buffering.max.messages": 1000000,
        "queue.buffering.max.kbytes": 1048576,
        "on_delivery": on_delivery,
    }))
    # metadata first, so connection setup is not timed
    p.list_topics(topic, timeout=10)
    value = (b"0123456789abcdef" * (size // 16 + 1))[:size]
    start = time.perf_counter()
    for _ in range(n):
        while True:
            try:
                p.produce(topic, value)
                break
            except BufferError:
                p.poll(0.001)
    remaining = p.flush(120)
    secs = time.perf_counter() - start
    out({
        "records": n, "acked": state["acked"], "errors": state["errors"], "first_error": state["first_error"],
        "unflushed": remaining, "secs": round(secs, 4), "rec_per_s": round(n / secs, 1),
        "mb_per_s": round(n * size / secs / 1048576, 3),
    })
    return 0 if state["errors"] == 0 and remaining == 0 else 1


def consume(bootstrap, topic, n):
    c = Consumer(cfg({
        "bootstrap.servers": bootstrap,
        "group.id": "bench-unused",  # required by librdkafka even for assign(); nothing is committed
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
    }))
    md = c.list_topics(topic, timeout=10)
    parts = sorted(md.topics[topic].partitions)
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
    got = 0
    nbytes = 0
    errors = 0
    start = time.perf_counter()
    last = start
    while got < n:
        msgs = c.consume(10000, 0.2)
        now = time.perf_counter()
        if not msgs:
            if now - last > 10:
                break
            continue
        last = now
        for m in msgs:
            if m.error():
                errors += 1
                continue
            got += 1
            v = m.value()
            nbytes += len(v) if v else 0
    secs = time.perf_counter() - start
    c.close()
    out({"records": got, "expected": n, "bytes": nbytes, "errors": errors, "secs": round(secs, 4),
         "rec_per_s": round(got / secs, 1), "mb_per_s": round(nbytes / secs / 1048576, 3)})
    return 0 if got >= n else 1


def startup(bootstrap, topic, timeout_s):
    host, port = bootstrap.rsplit(":", 1)
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        try:
            socket.create_connection((host, int(port)), 0.2).close()
            break
        except OSError:
            time.sleep(0.005)
    connected = time.time()
    acked = {}

    def on_delivery(err, msg):
        if err is None:
            acked["t"] = time.time()
        else:
            acked["err"] = str(err)

    attempts = 0
    while time.time() < deadline and "t" not in acked:
        attempts += 1
        acked.pop("err", None)
        p = Producer(cfg({
            "bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": False,
            "linger.ms": 0, "message.timeout.ms": 2000,
            "retry.backoff.ms": 10, "retry.backoff.max.ms": 50,
            "reconnect.backoff.ms": 10, "reconnect.backoff.max.ms": 50,
            "topic.metadata.refresh.interval.ms": 1000,
        }))
        p.produce(topic, b"hello", on_delivery=on_delivery)
        p.flush(3)
    if "t" not in acked:
        out({"error": acked.get("err", "timeout"), "attempts": attempts})
        return 1
    out({"connected_at": connected, "acked_at": acked["t"], "attempts": attempts})
    return 0


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "create-topics":
        return create_topics(argv[2], argv[3:])
    if cmd == "produce":
        return produce(argv[2], argv[3], int(argv[4]), int(argv[5]), argv[6], argv[7])
    if cmd == "consume":
        return consume(argv[2], argv[3], int(argv[4]))
    if cmd == "startup":
        return startup(argv[2], argv[3], float(argv[4]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
