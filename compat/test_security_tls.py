"""TLS listeners with real clients (issue 14): certificates made here (security.Certs),
one broker for the module with PLAINTEXT, SSL (ssl.client.auth=required), SASL_PLAINTEXT
and SASL_SSL listeners. Every client keeps hostname verification on (the server
certificate's SANs are localhost and 127.0.0.1).

* each client produces and consumes over SSL with a client certificate;
* a client without a certificate, or with one the broker's CA did not sign, is refused
  on the SSL listener;
* a plaintext client on the TLS port and a TLS client on the plaintext port fail within
  their timeouts, and the broker keeps serving everybody else; so do truncated
  handshakes and garbage on the TLS port.
"""

import socket
import ssl
import struct
import uuid

import pytest

from conftest import EXTERNAL, running
from sec_clients import CLIENTS, consume, produce, values
from security import Certs, Sec, new_secure_server



@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    c = Certs(tmp_path_factory.mktemp("certs"))
    c.alice = c.issue("alice", [("CN", "alice"), ("OU", "Eng"), ("O", "Gregor Test"), ("C", "NO")])
    c.rogue = c.self_signed("rogue", [("CN", "rogue")])
    return c


@pytest.fixture(scope="module")
def sbroker(tmp_path_factory, certs):
    if EXTERNAL:
        pytest.skip("needs its own broker (TLS listeners)")
    server = new_secure_server(tmp_path_factory.mktemp("sec-tls"), certs, client_auth="required", sasl=False)
    with running(server):
        yield server


def ssl_sec(certs, cert="alice"):
    return Sec("SSL", ca=certs.ca, cert=getattr(certs, cert) if cert else None)


def t(name):
    return f"tls-{name}-{uuid.uuid4().hex[:8]}"


@pytest.mark.parametrize("client", CLIENTS)
def test_ssl_roundtrip_with_client_certificate(sbroker, certs, client):
    topic = t(client)
    sec = ssl_sec(certs)
    produce(client, sbroker.addr("SSL"), sec, topic, 5, "tls").ok(5)
    got = consume(client, sbroker.addr("SSL"), sec, topic, 5).ok(5)
    assert got.values == values(5, "tls")


def test_ssl_cross_client_roundtrip(sbroker, certs):
    """Java writes over TLS, librdkafka and franz-go read it back: one log, any client."""
    topic = t("cross")
    sec = ssl_sec(certs)
    produce("java", sbroker.addr("SSL"), sec, topic, 4, "x").ok(4)
    for client in ("confluent", "franz"):
        assert consume(client, sbroker.addr("SSL"), sec, topic, 4).ok(4).values == values(4, "x")


# Each client's own words for "the TLS handshake failed".
HANDSHAKE_FAILURE = {
    "java": ["SslAuthenticationException"],
    "confluent": ["_SSL", "_TRANSPORT", "_ALL_BROKERS_DOWN", "_AUTHENTICATION"],
    "kafka-python": ["NoBrokersAvailable", "KafkaTimeoutError"],
    "franz": ["certificate", "tls", "EOF", "connection reset", "broken pipe"],
    "kafkajs": ["KafkaJSConnectionError", "KafkaJSNumberOfRetriesExceeded", "KafkaJSNonRetriableError", "certificate",
                "socket hang up", "ECONNRESET", "Connection error"],
    "kcat": ["SSL", "ssl", "Broker transport failure", "Local: "],
}


def assert_failed(client, outcome, expected):
    assert outcome.error is not None, f"{client} succeeded: {outcome.values}"
    assert any(e in outcome.error for e in expected), f"{client}: {outcome.error}"


@pytest.mark.parametrize("client", ["java", "confluent", "franz", "kafkajs", "kafka-python"])
def test_ssl_without_client_certificate_is_refused(sbroker, certs, client):
    out = produce(client, sbroker.addr("SSL"), ssl_sec(certs, cert=None), t("nocert"), 1, "nope")
    assert_failed(client, out, HANDSHAKE_FAILURE[client])


@pytest.mark.parametrize("client", ["java", "confluent", "franz"])
def test_ssl_untrusted_client_certificate_is_refused(sbroker, certs, client):
    out = produce(client, sbroker.addr("SSL"), ssl_sec(certs, cert="rogue"), t("rogue"), 1, "nope")
    assert_failed(client, out, HANDSHAKE_FAILURE[client])


def test_client_distrusting_the_server_ca_fails(sbroker, certs, tmp_path):
    """The client verifies the server: with another CA in its trust store Java fails the handshake."""
    other = Certs(tmp_path / "other")
    out = produce("java", sbroker.addr("SSL"), Sec("SSL", ca=other.ca, cert=certs.alice), t("distrust"), 1, "n")
    assert_failed("java", out, ["SslAuthenticationException"])


@pytest.mark.parametrize("client", ["java", "confluent", "kcat"])
def test_plaintext_client_on_tls_port_fails_and_broker_keeps_serving(sbroker, certs, client):
    # Java only times out here: bound it (max.block.ms)
    extra = {"max.block.ms": 8000} if client == "java" else {}
    out = produce(client, sbroker.addr("SSL"), Sec("PLAINTEXT"), t("pt-on-tls"), 1, "n", **extra)
    assert out.error is not None, f"{client} produced plaintext to the TLS port: {out.values}"
    # raw: a plaintext ApiVersions request gets no Kafka answer (the server expects a ClientHello)
    with socket.create_connection(("127.0.0.1", sbroker.ports["SSL"]), timeout=5) as s:
        s.sendall(struct.pack(">ihhih1s", 11, 18, 0, 1, 1, b"c"))  # ApiVersions v0
        s.settimeout(5)
        try:
            data = s.recv(64)
        except (socket.timeout, ConnectionResetError):
            data = b""
        assert not data.startswith(b"\x00\x00"), data  # no Kafka response frame, only TLS alert or close
    topic = t("still-serving")
    produce("confluent", sbroker.addr("SSL"), ssl_sec(certs), topic, 2, "ok").ok(2)
    produce("confluent", sbroker.addr("PLAINTEXT"), Sec("PLAINTEXT"), topic, 2, "pt").ok(2)


@pytest.mark.parametrize("client", ["java", "confluent", "franz"])
def test_tls_client_on_plaintext_port_fails_and_broker_keeps_serving(sbroker, certs, client):
    extra = {"max.block.ms": 8000} if client == "java" else {}
    out = produce(client, sbroker.addr("PLAINTEXT"), ssl_sec(certs), t("tls-on-pt"), 1, "n", **extra)
    assert out.error is not None, f"{client} produced over TLS to the plaintext port: {out.values}"
    # raw: a TLS ClientHello to the plaintext port does not complete a handshake
    ctx = ssl.create_default_context(cafile=certs.ca)
    with socket.create_connection(("127.0.0.1", sbroker.ports["PLAINTEXT"]), timeout=5) as raw:
        with pytest.raises((ssl.SSLError, OSError, socket.timeout)):
            with ctx.wrap_socket(raw, server_hostname="localhost"):
                pass
    topic = t("still-serving")
    produce("java", sbroker.addr("PLAINTEXT"), Sec("PLAINTEXT"), topic, 2, "pt").ok(2)
    assert consume("confluent", sbroker.addr("SSL"), ssl_sec(certs), topic, 2).ok(2).values == values(2, "pt")


def test_truncated_handshakes_and_garbage_leave_the_broker_serving(sbroker, certs):
    """Half a ClientHello then a close, a ClientHello then silence, and random bytes on the
    TLS port: each connection ends without harm and TLS clients keep working."""
    import os
    import time

    ctx = ssl.create_default_context(cafile=certs.ca)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    hello = outgoing.read()
    assert hello[:1] == b"\x16", hello[:5]  # a TLS handshake record
    port = sbroker.ports["SSL"]
    held = []
    for payload in (hello[: len(hello) // 2], hello, os.urandom(4096), b"\x16\x03\x01\xff\xff" + os.urandom(64)):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(payload)
        if payload is hello:
            held.append(s)  # keep it open, mid-handshake, while others connect
        else:
            s.close()
    time.sleep(0.5)
    topic = t("after-garbage")
    produce("confluent", sbroker.addr("SSL"), ssl_sec(certs), topic, 2, "g").ok(2)
    assert consume("franz", sbroker.addr("SSL"), ssl_sec(certs), topic, 2).ok(2).values == values(2, "g")
    for s in held:
        s.close()
