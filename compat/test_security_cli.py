"""The `gregor` CLI on a secured broker (issue 14): `--command-config` takes the very
properties file a Java client uses (Kafka's names: security.protocol, PEM ssl.*,
sasl.mechanism, sasl.jaas.config). What the CLI writes over SASL_SSL is read by the Java
client and confluent-kafka, and what they write the CLI reads; `gregor acl add` over
SASL_SSL grants a client certificate's DN, which then produces with the CLI over SSL;
a wrong password is a one-line error with a failing exit code. Runs against Gregor and,
with COMPAT_SERVER=kafka, Apache Kafka 4.4 (the CLI is just a client there)."""

import os
import subprocess
import uuid

import pytest

from conftest import EXTERNAL, GREGOR_BIN
from sec_clients import consume, produce, values
from security import USERS, Sec, new_secure_server


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    from security import Certs

    c = Certs(tmp_path_factory.mktemp("certs"))
    c.carol = c.issue("carol", [("CN", "carol"), ("OU", "cli")])
    return c


@pytest.fixture(scope="module")
def sbroker(tmp_path_factory, certs):
    if EXTERNAL:
        pytest.skip("needs its own broker (SSL and SASL_SSL listeners)")
    server = new_secure_server(tmp_path_factory.mktemp("sec-cli"), certs, client_auth="required", authorizer=True)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def t(name):
    return f"cli-{name}-{uuid.uuid4().hex[:8]}"


def admin(certs, mechanism="SCRAM-SHA-512", password=None):
    return Sec("SASL_SSL", mechanism, "admin", USERS["admin"] if password is None else password, certs.ca)


def config_file(tmp_path, sec):
    """The Java client's properties, written as a properties file."""
    path = tmp_path / f"client-{uuid.uuid4().hex[:6]}.properties"
    path.write_text("".join(f"{k}={v}\n" for k, v in sec.java().items()))
    return path


def gregor(addr, config, *args, input_text=None, check=True):
    if not os.path.exists(GREGOR_BIN):
        pytest.fail(f"gregor binary not found at {GREGOR_BIN}")
    p = subprocess.run([GREGOR_BIN, *map(str, args), "--bootstrap-server", addr, "--command-config", str(config)],
                       input=input_text, capture_output=True, text=True, timeout=90)
    if check:
        assert p.returncode == 0, f"gregor {' '.join(map(str, args))} exited {p.returncode}\n{p.stdout}\n{p.stderr}"
    return p


@pytest.mark.parametrize("reader", ["java", "confluent"])
def test_cli_writes_over_sasl_ssl_and_real_clients_read(sbroker, certs, tmp_path, reader):
    topic = t(reader)
    s = admin(certs)
    config = config_file(tmp_path, s)
    addr = sbroker.addr("SASL_SSL")
    gregor(addr, config, "topic", "create", topic, "--partitions", 1, "--replication-factor", 1)
    assert topic in gregor(addr, config, "topic", "list").stdout.split()
    gregor(addr, config, "produce", topic, "--acks", "all", input_text="".join(f"{v}\n" for v in values(5, "c")))
    assert consume(reader, addr, s, topic, 5).ok(5).values == values(5, "c")
    # and the other way: a real client writes, the CLI reads
    produce(reader, addr, s, topic, 3, "r").ok(3)
    out = gregor(addr, config, "consume", topic, "--from-beginning", "--max-messages", 8, "--timeout-ms", 20000).stdout
    assert out.split() == values(5, "c") + values(3, "r")


def test_cli_grants_a_certificate_and_produces_over_ssl(sbroker, certs, tmp_path):
    topic = t("mtls")
    s = admin(certs, mechanism="PLAIN")
    config = config_file(tmp_path, s)
    addr = sbroker.addr("SASL_SSL")
    gregor(addr, config, "topic", "create", topic, "--partitions", 1, "--replication-factor", 1)
    principal = f"User:{certs.carol.dn}"
    gregor(addr, config, "acl", "add", "--principal", principal, "--operation", "Write", "--operation", "Describe",
           "--topic", topic)
    listed = gregor(addr, config, "acl", "list", "--topic", topic).stdout
    assert principal in listed, listed
    cert_config = config_file(tmp_path, Sec("SSL", ca=certs.ca, cert=certs.carol))
    gregor(sbroker.addr("SSL"), cert_config, "produce", topic, "--acks", "all",
           input_text="".join(f"{v}\n" for v in values(4, "m")))
    assert consume("confluent", addr, s, topic, 4).ok(4).values == values(4, "m")
    # carol may not read: Kafka's authorization error, one line, exit != 0
    refused = gregor(sbroker.addr("SSL"), cert_config, "consume", topic, "--from-beginning", "--max-messages", 1,
                     "--timeout-ms", 5000, check=False)
    assert refused.returncode != 0
    assert "AUTHORIZATION_FAILED" in refused.stderr, refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr


def test_cli_wrong_password_is_one_line(sbroker, certs, tmp_path):
    config = config_file(tmp_path, admin(certs, password="wrong-secret"))
    p = gregor(sbroker.addr("SASL_SSL"), config, "topic", "list", check=False)
    assert p.returncode != 0
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "SASL_AUTHENTICATION_FAILED" in lines[0], p.stderr
    assert "wrong-secret" not in p.stderr
