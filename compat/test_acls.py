"""ACLs with Kafka 4.4's own tools and Java clients against Gregor's authorizer
(authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer):
kafka-acls --add/--list/--remove (plain operations, the --producer / --consumer
shortcuts, --resource-pattern-type prefixed, DENY), SecurityDisabledException
without an authorizer, and the Java producer/consumer of a SASL PLAIN user refused
with TopicAuthorizationException / GroupAuthorizationException until kafka-acls
grants exactly what they need, and refused again once a DENY is added.

The PLAINTEXT listener is User:ANONYMOUS, made a super user (a broker's principal
must be one); alice authenticates with SASL PLAIN on a SASL_PLAINTEXT listener.
The broad multi-client security matrix is test_security_*.py; this file is focused."""

import uuid

import pytest

from conftest import EXTERNAL, SERVER_KIND, free_port, new_server, running, second_listener
from clients import java
from test_kafka_tools import create, tool

pytestmark = pytest.mark.skipif(
    EXTERNAL or SERVER_KIND != "gregor",
    reason="starts its own Gregor with an authorizer and a SASL listener (Kafka would need JAAS)")

ALICE_PROPS = ["security.protocol=SASL_PLAINTEXT", "sasl.mechanism=PLAIN",
               "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required "
               'username="alice" password="alice-pw";']
KAFKA_AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"


@pytest.fixture(scope="module")
def secure(tmp_path_factory):
    sasl_port = free_port()
    server = new_server(tmp_path_factory.mktemp("acl"), {
        **second_listener(sasl_port, "SASL"),
        "sasl.bootstrap.scram": "SCRAM-SHA-256=[name=alice,password=alice-pw]",
        "authorizer.class.name": KAFKA_AUTHORIZER,
        "super.users": "User:ANONYMOUS",
        "auto.create.topics.enable": "false",
    })
    server.sasl = f"127.0.0.1:{sasl_port}"
    with running(server):
        yield server


@pytest.fixture(scope="module")
def alice_cfg(tmp_path_factory):
    p = tmp_path_factory.mktemp("alice") / "alice.properties"
    p.write_text(
        "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\n"
        "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required "
        'username="alice" password="alice-pw";\n')
    return str(p)


def acls(server, *args, check=True):
    """kafka-acls as the super user (PLAINTEXT, User:ANONYMOUS)."""
    return tool("AclCommand", *args, bootstrap=server.bootstrap, check=check)


def name(kind):
    return f"acl-{kind}-{uuid.uuid4().hex[:8]}"


def alice_produce(server, cfg, topic, lines, *extra):
    return tool("ConsoleProducer", "--topic", topic, "--command-config", cfg, *extra,
                "--producer-property", "max.block.ms=10000", "--producer-property", "delivery.timeout.ms=15000",
                "--producer-property", "request.timeout.ms=5000", "--sync",
                bootstrap=server.sasl, input_text="".join(f"{l}\n" for l in lines), check=False)


def alice_consume(server, cfg, topic, group, count):
    return tool("consumer.ConsoleConsumer", "--topic", topic, "--group", group, "--from-beginning",
                "--max-messages", count, "--timeout-ms", 15000, "--command-config", cfg,
                bootstrap=server.sasl, check=False)


def test_kafka_acls_add_list_remove(secure):
    topic, prefix, group = name("t"), name("p"), name("g")
    _, out, _ = acls(secure, "--add", "--allow-principal", "User:alice", "--operation", "Read",
                     "--operation", "Describe", "--topic", topic)
    assert "User:alice" in out
    acls(secure, "--add", "--deny-principal", "User:bob", "--deny-host", "10.0.0.1", "--operation", "Write",
         "--topic", prefix, "--resource-pattern-type", "prefixed")
    acls(secure, "--add", "--allow-principal", "User:alice", "--consumer", "--topic", topic, "--group", group)
    _, out, _ = acls(secure, "--list", "--topic", topic)
    assert "principal=User:alice, host=*, operation=READ, permissionType=ALLOW" in out
    assert "operation=DESCRIBE" in out
    _, out, _ = acls(secure, "--list", "--topic", prefix, "--resource-pattern-type", "prefixed")
    assert "principal=User:bob, host=10.0.0.1, operation=WRITE, permissionType=DENY" in out
    assert "PREFIXED" in out
    # MATCH lists every ACL that applies to a topic under the prefix.
    _, out, _ = acls(secure, "--list", "--topic", prefix + "-x", "--resource-pattern-type", "match")
    assert "User:bob" in out
    _, out, _ = acls(secure, "--list", "--group", group)
    assert "principal=User:alice, host=*, operation=READ, permissionType=ALLOW" in out
    acls(secure, "--remove", "--force", "--topic", topic)
    _, out, _ = acls(secure, "--list", "--topic", topic)
    assert "User:alice" not in out
    _, out, _ = acls(secure, "--list", "--group", group)
    assert "User:alice" in out
    acls(secure, "--remove", "--force", "--group", group)
    acls(secure, "--remove", "--force", "--topic", prefix, "--resource-pattern-type", "prefixed")
    _, out, _ = acls(secure, "--list")
    assert group not in out and prefix not in out


def test_java_clients_denied_then_allowed(secure, alice_cfg):
    topic, group = name("t"), name("g")
    create(secure.bootstrap, topic)
    rc, out, err = alice_produce(secure, alice_cfg, topic, ["a", "b"])
    assert "TopicAuthorizationException" in out + err, out + err

    acls(secure, "--add", "--allow-principal", "User:alice", "--producer", "--topic", topic)
    rc, out, err = alice_produce(secure, alice_cfg, topic, ["a", "b"])
    assert rc == 0 and "AuthorizationException" not in out + err, out + err

    # The group is refused: the Java consumer's poll throws.
    out = java(secure.sasl, "group-consume", topic, group, 30000, *ALICE_PROPS)
    assert {"error": "GroupAuthorizationException"}.items() <= out[0].items(), out

    acls(secure, "--add", "--allow-principal", "User:alice", "--consumer", "--topic", topic, "--group", group)
    rc, out, err = alice_consume(secure, alice_cfg, topic, group, 2)
    assert rc == 0, out + err
    assert out.split() == ["a", "b"]

    # DENY wins over the ALLOW the shortcut added. The idempotent producer
    # now fails earlier, at InitProducerId: its only Write ALLOW is dominated
    # by a DENY of the same literal name (KIP-679's authorizeByResourceType),
    # so the cluster check fails, as on Kafka.
    acls(secure, "--add", "--deny-principal", "User:alice", "--operation", "Write", "--topic", topic)
    rc, out, err = alice_produce(secure, alice_cfg, topic, ["c"])
    assert "ClusterAuthorizationException" in out + err, out + err
    # Without idempotence the produce request itself is refused.
    rc, out, err = alice_produce(secure, alice_cfg, topic, ["c"], "--producer-property", "enable.idempotence=false")
    assert "TopicAuthorizationException" in out + err, out + err


def test_kafka_acls_without_an_authorizer(broker_factory):
    server = broker_factory()
    rc, out, err = tool("AclCommand", "--list", bootstrap=server.bootstrap, check=False)
    assert "SecurityDisabledException" in out + err or "No Authorizer is configured" in out + err, out + err
