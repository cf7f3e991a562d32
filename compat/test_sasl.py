"""SASL on a SASL_PLAINTEXT listener with real clients: Java kafka-clients 4.4
(through Kafka's own tools and the CompatClient producer) and confluent-kafka,
with PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 against users from
`sasl.bootstrap.scram`; wrong passwords and unknown users are refused; users
are managed with Kafka 4.4's `kafka-configs --entity-type users`; Java
consumers re-authenticate (KIP-368) instead of being cut off.

Gregor-only settings (sasl.bootstrap.scram): the Kafka reference runs of the
security suite live in test_security_*.py."""

import os
import re
import subprocess
import time
import uuid

import pytest

from clients import JAVA_CP, java_produce, Rec, cf_consumer
from conftest import SERVER_KIND, free_port, second_listener
from jvm import tool_cmd
from test_kafka_tools import tool

pytestmark = pytest.mark.skipif(SERVER_KIND != "gregor", reason="uses Gregor's sasl.bootstrap.scram")

USERS = ";".join([
    "SCRAM-SHA-256=[name=alice,password=alice-secret]",
    "SCRAM-SHA-512=[name=bob,password=bob-secret,iterations=8192]",
    "SCRAM-SHA-256=[name=admin,password=admin-secret]",
])


@pytest.fixture(scope="module")
def sasl_broker(tmp_path_factory):
    from conftest import new_server
    sasl_port = free_port()
    server = new_server(tmp_path_factory.mktemp("gregor-sasl"), {
        **second_listener(sasl_port),
        "sasl.bootstrap.scram": USERS,
        "connections.max.reauth.ms": "3000",
    })
    # Debug lines of the SASL module show re-authentications.
    os.environ["GREGOR_LOG"] = "info,gregor_broker::security=debug"
    try:
        server.start()
    finally:
        del os.environ["GREGOR_LOG"]
    server.sasl_bootstrap = f"127.0.0.1:{sasl_port}"
    # The broker serves once it is unfenced: wait for that on PLAINTEXT.
    tool("TopicCommand", "--list", bootstrap=server.bootstrap)
    try:
        yield server
    finally:
        server.stop()


def jaas(mechanism, user, password):
    module = ("org.apache.kafka.common.security.plain.PlainLoginModule" if mechanism == "PLAIN"
              else "org.apache.kafka.common.security.scram.ScramLoginModule")
    return f'{module} required username="{user}" password="{password}";'


def java_props(mechanism, user, password):
    return {
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": mechanism,
        "sasl.jaas.config": jaas(mechanism, user, password),
    }


def command_config(tmp_path, mechanism, user, password):
    path = tmp_path / f"{mechanism}-{user}-{uuid.uuid4().hex[:6]}.properties"
    path.write_text("".join(f"{k}={v}\n" for k, v in java_props(mechanism, user, password).items()))
    return path


def list_topics(broker, tmp_path, mechanism, user, password):
    return tool("TopicCommand", "--list", "--command-config", command_config(tmp_path, mechanism, user, password),
                bootstrap=broker.sasl_bootstrap, check=False, timeout=60)


@pytest.mark.parametrize("mechanism,user,password", [
    ("PLAIN", "alice", "alice-secret"),
    ("PLAIN", "bob", "bob-secret"),
    ("SCRAM-SHA-256", "alice", "alice-secret"),
    ("SCRAM-SHA-512", "bob", "bob-secret"),
])
def test_java_tools_authenticate(sasl_broker, tmp_path, mechanism, user, password):
    topic = f"sasl-{uuid.uuid4().hex[:8]}"
    tool("TopicCommand", "--create", "--topic", topic, "--partitions", "1",
         "--command-config", command_config(tmp_path, mechanism, user, password),
         bootstrap=sasl_broker.sasl_bootstrap)
    rc, out, err = list_topics(sasl_broker, tmp_path, mechanism, user, password)
    assert rc == 0, err
    assert topic in out.split()


PLAIN_REFUSED = "Authentication failed: Invalid username or password"
SCRAM_REFUSED = "Authentication failed during authentication due to invalid credentials with SASL mechanism "


@pytest.mark.parametrize("mechanism,user,password", [
    ("PLAIN", "alice", "wrong"),
    ("PLAIN", "nobody", "alice-secret"),
    ("SCRAM-SHA-256", "alice", "wrong"),
    ("SCRAM-SHA-256", "nobody", "x"),
    ("SCRAM-SHA-512", "alice", "alice-secret"),  # alice has no SHA-512 credential
])
def test_java_tools_refused(sasl_broker, tmp_path, mechanism, user, password):
    """Kafka's messages; a wrong password and an unknown user read alike."""
    rc, out, err = list_topics(sasl_broker, tmp_path, mechanism, user, password)
    assert rc != 0
    expected = PLAIN_REFUSED if mechanism == "PLAIN" else SCRAM_REFUSED + mechanism
    assert f"Error while executing topic command : {expected}" in out + err, out + err


def test_java_producer_over_scram(sasl_broker, tmp_path):
    topic = f"sasl-java-{uuid.uuid4().hex[:8]}"
    records = [Rec(key=f"k{i}".encode(), value=f"v{i}".encode()) for i in range(20)]
    sent = java_produce(sasl_broker.sasl_bootstrap, topic, records,
                        **{k.replace(".", "_"): v for k, v in java_props("SCRAM-SHA-512", "bob", "bob-secret").items()})
    assert [s.error for s in sent] == [None] * 20, sent
    got = consume(sasl_broker, topic, 20, "SCRAM-SHA-256", "alice", "alice-secret")
    assert got == [f"v{i}" for i in range(20)]


def consume(broker, topic, count, mechanism, user, password, security=None):
    conf = {
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": mechanism,
        "sasl.username": user,
        "sasl.password": password,
        "group.id": f"g-{uuid.uuid4().hex[:8]}",
    }
    consumer = cf_consumer(broker.sasl_bootstrap, **conf)
    try:
        consumer.subscribe([topic])
        values = []
        deadline = time.monotonic() + 30
        while len(values) < count and time.monotonic() < deadline:
            m = consumer.poll(0.5)
            if m is None or m.error():
                continue
            values.append(m.value().decode())
        return values
    finally:
        consumer.close()


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256"])
def test_confluent_kafka_roundtrip(sasl_broker, mechanism):
    from confluent_kafka import Producer
    topic = f"sasl-cf-{uuid.uuid4().hex[:8]}"
    producer = Producer({
        "bootstrap.servers": sasl_broker.sasl_bootstrap,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": mechanism,
        "sasl.username": "alice",
        "sasl.password": "alice-secret",
    })
    errors = []
    for i in range(10):
        producer.produce(topic, value=f"m{i}".encode(), on_delivery=lambda err, msg: err and errors.append(err))
    assert producer.flush(30) == 0
    assert errors == []
    assert consume(sasl_broker, topic, 10, "SCRAM-SHA-512", "bob", "bob-secret") == [f"m{i}" for i in range(10)]


def test_confluent_kafka_wrong_password(sasl_broker):
    from confluent_kafka import Producer, KafkaError
    seen = []
    producer = Producer({
        "bootstrap.servers": sasl_broker.sasl_bootstrap,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "SCRAM-SHA-256",
        "sasl.username": "alice",
        "sasl.password": "nope",
        "error_cb": lambda err: seen.append(err),
    })
    deadline = time.monotonic() + 20
    while not any(e.code() == KafkaError._AUTHENTICATION for e in seen) and time.monotonic() < deadline:
        producer.poll(0.2)
    assert any(e.code() == KafkaError._AUTHENTICATION for e in seen), seen
    assert any("Authentication failed" in e.str() for e in seen), seen


def configs(broker, *args, check=True):
    return tool("ConfigCommand", *args, bootstrap=broker.bootstrap, check=check)


def test_kafka_configs_manages_users(sasl_broker, tmp_path):
    # Add a user as the operator would, over the admin's SASL connection.
    admin = command_config(tmp_path, "SCRAM-SHA-256", "admin", "admin-secret")
    tool("ConfigCommand", "--command-config", admin, "--alter",
         "--add-config", "SCRAM-SHA-256=[iterations=8192,password=carol-secret]",
         "--entity-type", "users", "--entity-name", "carol", bootstrap=sasl_broker.sasl_bootstrap)
    # Two mechanisms for one user in one request are DUPLICATE_RESOURCE in
    # Kafka's ScramControlManager (it keys the request by user name).
    rc, out, err = configs(sasl_broker, "--alter", "--add-config",
                           "SCRAM-SHA-256=[password=x],SCRAM-SHA-512=[password=y]",
                           "--entity-type", "users", "--entity-name", "carol", check=False)
    assert rc != 0 and "DuplicateResourceException" in out + err, out + err
    configs(sasl_broker, "--alter", "--add-config", "SCRAM-SHA-512=[password=carol-512]",
            "--entity-type", "users", "--entity-name", "carol")
    _, out, _ = configs(sasl_broker, "--describe", "--entity-type", "users", "--entity-name", "carol")
    assert "SCRAM credential configs for user-principal 'carol' are" in out, out
    assert "SCRAM-SHA-256=iterations=8192" in out and "SCRAM-SHA-512=iterations=4096" in out, out
    assert list_topics(sasl_broker, tmp_path, "SCRAM-SHA-256", "carol", "carol-secret")[0] == 0
    assert list_topics(sasl_broker, tmp_path, "SCRAM-SHA-512", "carol", "carol-512")[0] == 0
    assert list_topics(sasl_broker, tmp_path, "PLAIN", "carol", "carol-secret")[0] == 0
    # Every user.
    _, out, _ = configs(sasl_broker, "--describe", "--entity-type", "users")
    for user in ("alice", "bob", "admin", "carol"):
        assert f"user-principal '{user}'" in out, out
    # Delete one mechanism: that login stops working, the other goes on.
    configs(sasl_broker, "--alter", "--delete-config", "SCRAM-SHA-256", "--entity-type", "users", "--entity-name", "carol")
    assert list_topics(sasl_broker, tmp_path, "SCRAM-SHA-256", "carol", "carol-secret")[0] != 0
    assert list_topics(sasl_broker, tmp_path, "SCRAM-SHA-512", "carol", "carol-512")[0] == 0
    _, out, _ = configs(sasl_broker, "--describe", "--entity-type", "users", "--entity-name", "carol")
    assert "SCRAM-SHA-256" not in out and "SCRAM-SHA-512=iterations=4096" in out, out
    # Kafka's refusals reach the tool.
    rc, out, err = configs(sasl_broker, "--alter", "--add-config", "SCRAM-SHA-256=[iterations=100,password=x]",
                           "--entity-type", "users", "--entity-name", "dave", check=False)
    # (Kafka's admin client refuses this one itself.)
    assert rc != 0 and "Iterations 100 is less than the minimum 4096" in out + err, out + err
    rc, out, err = configs(sasl_broker, "--alter", "--delete-config", "SCRAM-SHA-256",
                           "--entity-type", "users", "--entity-name", "nobody", check=False)
    assert rc != 0 and "does not exist" in out + err, out + err


def server_log(broker):
    """The server's log without terminal colours."""
    return re.sub(r"\x1b\[[0-9;]*m", "", broker.log_path.read_text(errors="replace"))


def test_java_consumer_reauthenticates(sasl_broker, tmp_path):
    """connections.max.reauth.ms=3000: a Java consumer polling for 10 s
    re-authenticates on its open connections; none is closed as expired."""
    topic = f"sasl-reauth-{uuid.uuid4().hex[:8]}"
    props = {k.replace(".", "_"): v for k, v in java_props("SCRAM-SHA-256", "alice", "alice-secret").items()}
    java_produce(sasl_broker.sasl_bootstrap, topic, [Rec(key=None, value=b"x")], **props)
    before = server_log(sasl_broker).count("SASL session expired")
    reauths_before = server_log(sasl_broker).count("reauthentication=true")
    config = tmp_path / "consumer.properties"
    config.write_text("".join(f"{k}={v}\n" for k, v in java_props("SCRAM-SHA-256", "alice", "alice-secret").items()))
    p = subprocess.run(
        [*tool_cmd("consumer.ConsoleConsumer"),
         "--bootstrap-server", sasl_broker.sasl_bootstrap, "--topic", topic, "--from-beginning",
         "--max-messages", "2", "--timeout-ms", "10000", "--consumer.config", str(config)],
        capture_output=True, text=True, timeout=90)
    assert "x" in p.stdout.split(), p.stdout + p.stderr
    assert "Processed a total of 1 messages" in p.stderr, p.stderr
    log = server_log(sasl_broker)
    assert log.count("SASL session expired") == before, sasl_broker.log_tail()
    # Kafka's Java client re-authenticated on its open connections.
    assert log.count("reauthentication=true") >= reauths_before + 2, sasl_broker.log_tail()


@pytest.mark.parametrize("mechanism", ["PLAIN"])
def test_kcat_over_sasl(sasl_broker, mechanism):
    """kcat (Debian's librdkafka 2.0.2): SaslHandshake v1 + SaslAuthenticate. (Its
    SCRAM is refused by Kafka 4.x and Gregor alike: test_security_sasl.py.)"""
    topic = f"sasl-kcat-{uuid.uuid4().hex[:8]}"
    auth = ["-X", "security.protocol=SASL_PLAINTEXT", "-X", f"sasl.mechanism={mechanism}",
            "-X", "sasl.username=bob", "-X", "sasl.password=bob-secret"]
    p = subprocess.run(["kcat", "-b", sasl_broker.sasl_bootstrap, *auth, "-P", "-t", topic],
                       input="one\ntwo\n", capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    p = subprocess.run(["kcat", "-b", sasl_broker.sasl_bootstrap, *auth, "-C", "-t", topic, "-o", "beginning",
                        "-c", "2", "-e", "-q"], capture_output=True, text=True, timeout=60)
    assert p.stdout.split() == ["one", "two"], p.stdout + p.stderr
    bad = ["-X", "security.protocol=SASL_PLAINTEXT", "-X", f"sasl.mechanism={mechanism}",
           "-X", "sasl.username=bob", "-X", "sasl.password=wrong"]
    p = subprocess.run(["kcat", "-b", sasl_broker.sasl_bootstrap, *bad, "-L", "-m", "5"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    assert "Authentication failed" in p.stderr, p.stderr
