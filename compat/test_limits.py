"""Broker connection limits as clients meet them: `connections.max.idle.ms` closes a
quiet connection and real clients carry on over a new one; `max.connections.per.ip`
(with an override) closes connections beyond an address's maximum at once while
clients from other addresses are served. Raw sockets stand in for a misbehaving
client where a test needs to hold connections open or watch one close.
Written to pass against Apache Kafka 4.4 too (COMPAT_SERVER=kafka)."""

import socket
import time
import urllib.request

from clients import Rec, assert_all_sent, cf_consume, cf_create_topic, cf_produce
from conftest import SERVER_KIND, free_port


def raw_connection(host, port, source="127.0.0.1"):
    s = socket.create_connection((host, port), timeout=10, source_address=(source, 0))
    s.settimeout(10)
    return s


def api_versions_answered(s):
    """Sends ApiVersions v0 (correlation id 7); whether an answer comes back."""
    client_id = b"limits-test"
    body = (18).to_bytes(2, "big") + (0).to_bytes(2, "big") + (7).to_bytes(4, "big")
    body += len(client_id).to_bytes(2, "big") + client_id
    try:
        s.sendall(len(body).to_bytes(4, "big") + body)
        size = int.from_bytes(recv_exactly(s, 4), "big")
        return len(recv_exactly(s, size)) == size
    except OSError:
        return False


def recv_exactly(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def closed_by_broker(s, within_s):
    s.settimeout(within_s)
    try:
        return s.recv(1) == b""
    except socket.timeout:
        return False
    except OSError:
        return True


def test_an_idle_connection_is_closed_and_clients_carry_on(broker_factory, topic):
    server = broker_factory({"connections.max.idle.ms": "2000"})
    host, port = server.bootstrap.split(":")
    cf_create_topic(server.bootstrap, topic, 1)
    quiet = raw_connection(host, int(port))
    assert api_versions_answered(quiet)
    started = time.monotonic()
    assert closed_by_broker(quiet, 15), "the quiet connection was not closed"
    assert time.monotonic() - started >= 1.0
    # Long-lived producers across quiet spells longer than the idle time: the broker
    # closes their connections, they reconnect and deliver.
    from confluent_kafka import Producer
    from kafka import KafkaProducer

    cf = Producer({"bootstrap.servers": server.bootstrap, "acks": "all"})
    kp = KafkaProducer(bootstrap_servers=server.bootstrap, acks="all", request_timeout_ms=20000)
    delivered = []
    try:
        for rnd in range(2):
            for i in range(3):
                cf.produce(topic, value=f"cf-{rnd}-{i}".encode(),
                           on_delivery=lambda err, msg: delivered.append(err or msg.value().decode()))
                kp.send(topic, value=f"kp-{rnd}-{i}".encode()).get(timeout=30)
            assert cf.flush(30) == 0
            time.sleep(4)
    finally:
        kp.close(10)
    assert delivered == [f"cf-{rnd}-{i}" for rnd in range(2) for i in range(3)], delivered
    got = cf_consume(server.bootstrap, topic, 12)
    assert sorted(r.value.decode() for r in got) == sorted(
        [f"{c}-{rnd}-{i}" for c in ("cf", "kp") for rnd in range(2) for i in range(3)])


def test_connections_over_an_address_maximum_are_closed_and_others_are_served(broker_factory, topic):
    # 127.0.0.2 may hold 2 connections; 127.0.0.1 (the clients below) is not limited.
    server = broker_factory({"max.connections.per.ip": "1000", "max.connections.per.ip.overrides": "127.0.0.2:2"})
    host, port = server.bootstrap.split(":")
    held = [raw_connection(host, int(port), source="127.0.0.2") for _ in range(2)]
    assert all(api_versions_answered(s) for s in held)
    for _ in range(3):
        extra = raw_connection(host, int(port), source="127.0.0.2")
        assert closed_by_broker(extra, 10), "a connection over the address's maximum was served"
        extra.close()
    # The held ones go on, and clients from another address are unaffected.
    assert all(api_versions_answered(s) for s in held)
    cf_create_topic(server.bootstrap, topic, 1)
    assert_all_sent(cf_produce(server.bootstrap, topic, [Rec(None, f"v-{i}".encode()) for i in range(5)]))
    assert len(cf_consume(server.bootstrap, topic, 5)) == 5
    # A freed place is taken again.
    held.pop().close()
    deadline = time.monotonic() + 10
    while True:
        again = raw_connection(host, int(port), source="127.0.0.2")
        if api_versions_answered(again):
            break
        assert time.monotonic() < deadline, "the freed place was not given back"
        time.sleep(0.2)
    for s in held + [again]:
        s.close()


def test_queued_request_bytes_hold_back_reads_until_memory_comes_back(broker_factory, topic):
    """`queued.max.request.bytes`: requests whose bytes are read and not yet answered take
    from one pool; while it is empty the broker reads no further request (Kafka mutes its
    channels), and a connection that goes away gives its bytes back."""
    limit = 1 << 20
    settings = {"socket.request.max.bytes": str(limit), "queued.max.request.bytes": str(limit)}
    admin = None
    if SERVER_KIND == "gregor":
        admin = f"127.0.0.1:{free_port()}"
        settings["gregor.admin.listener"] = admin
    server = broker_factory(settings)
    host, port = server.bootstrap.split(":")
    cf_create_topic(server.bootstrap, topic, 1)
    # Two requests announced and never finished: the first takes most of the pool, the
    # second (admitted while any memory is left) the rest.
    big = raw_connection(host, int(port))
    big.sendall((limit - 48).to_bytes(4, "big") + b"\x00\x12")
    other = raw_connection(host, int(port))
    other.sendall((200_000).to_bytes(4, "big") + b"\x00\x12")
    time.sleep(0.5)
    waiting = raw_connection(host, int(port))
    waiting.settimeout(2)
    assert not api_versions_answered(waiting), "answered with the request memory used up"
    if admin:
        # Kafka's MemoryPoolUsed / MemoryPoolAvailable: both announced requests are held.
        text = urllib.request.urlopen(f"http://{admin}/metrics", timeout=10).read().decode()
        series = dict(line.rsplit(" ", 1) for line in text.splitlines()
                      if line.startswith("kafka_network_socketserver_memorypool"))
        assert int(series["kafka_network_socketserver_memorypoolused"]) == limit - 48 + 200_000, series
        assert int(series["kafka_network_socketserver_memorypoolavailable"]) == 48 - 200_000, series
    # The connection holding most of it goes: its bytes come back and the request waiting
    # to be read is answered.
    big.close()
    waiting.settimeout(10)
    size = int.from_bytes(recv_exactly(waiting, 4), "big")
    assert size > 0 and len(recv_exactly(waiting, size)) == size
    waiting.close()
    other.close()
    # Real clients carry on.
    assert_all_sent(cf_produce(server.bootstrap, topic, [Rec(b"k", b"after")]), 1)
    assert [g.value for g in cf_consume(server.bootstrap, topic, 1)] == [b"after"]
