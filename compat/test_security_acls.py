"""ACLs with real clients (issue 14): StandardAuthorizer semantics
(authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer,
super.users=User:admin, allow.everyone.if.no.acl.found=false), managed with Kafka 4.4's
own kafka-acls (--add / --list / --remove, --producer / --consumer shortcuts,
--resource-pattern-type prefixed) as the super user admin.

* mTLS principals: the certificate subject as Java renders it (RFC 2253), and
  ssl.principal.mapping.rules, each checked through an ACL only that principal passes;
* producers (plain, idempotent, transactional), group consumers and admin operations
  (create topic, describe configs) are refused with the client's authorization error
  without ACLs and work once kafka-acls granted exactly what they need; DENY wins.

SASL users alice / bob (SCRAM-SHA-256) on SASL_PLAINTEXT, admin is the super user."""

import re
import time
import uuid

import pytest

from conftest import EXTERNAL, running
from sec_clients import CLIENTS, GROUP_CLIENTS, consume, java_admin, produce, values
from security import USERS, Certs, Sec, new_secure_server
from test_kafka_tools import tool


MAPPING_RULES = "RULE:^CN=([A-Za-z0-9]+),OU=Mapped,.*$/$1@mapped/L,DEFAULT"
ALICE_DN = "CN=alice,OU=Eng,O=Gregor Test,C=NO"


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    c = Certs(tmp_path_factory.mktemp("certs"))
    c.alice = c.issue("alice", [("CN", "alice"), ("OU", "Eng"), ("O", "Gregor Test"), ("C", "NO")])
    c.bob = c.issue("bob", [("CN", "bob"), ("OU", "Eng"), ("O", "Gregor Test"), ("C", "NO")])
    c.svc = c.issue("svc", [("CN", "Svc1"), ("OU", "Mapped"), ("O", "Gregor Test"), ("C", "NO")])
    return c


@pytest.fixture(scope="module")
def sbroker(tmp_path_factory, certs):
    if EXTERNAL:
        pytest.skip("needs its own broker (authorizer)")
    server = new_secure_server(tmp_path_factory.mktemp("sec-acl"), certs, client_auth="required", authorizer=True,
                               mapping_rules=MAPPING_RULES)
    with running(server):
        yield server


@pytest.fixture(scope="module")
def admin_cfg(tmp_path_factory, sbroker):
    p = tmp_path_factory.mktemp("acl-admin") / "admin.properties"
    props = Sec("SASL_PLAINTEXT", "SCRAM-SHA-256", "admin", USERS["admin"]).java()
    p.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
    return str(p)


def acls(sbroker, cfg, *args, check=True):
    """kafka-acls (AclCommand) as the super user."""
    return tool("AclCommand", "--command-config", cfg, *args, bootstrap=sbroker.addr("SASL_PLAINTEXT"), check=check)


def sasl(name, client=None):
    # kcat's librdkafka 2.0.2 cannot do SCRAM against Kafka 4.x (see test_security_sasl.py)
    return Sec("SASL_PLAINTEXT", "PLAIN" if client == "kcat" else "SCRAM-SHA-256", name, USERS[name])


def grant(sbroker, principal, *operations, topics=(), groups=(), txn_ids=(), cluster=False, prefixed=False,
          deny=False):
    """CreateAcls through confluent-kafka's AdminClient as admin (faster than a JVM per call;
    kafka-acls itself is exercised by the tests that name it)."""
    from confluent_kafka.admin import (AclBinding, AclOperation, AclPermissionType, AdminClient,
                                       ResourcePatternType, ResourceType)

    conf = {"bootstrap.servers": sbroker.addr("SASL_PLAINTEXT")}
    conf.update(sasl("admin").librdkafka())
    admin = AdminClient(conf)
    pattern = ResourcePatternType.PREFIXED if prefixed else ResourcePatternType.LITERAL
    perm = AclPermissionType.DENY if deny else AclPermissionType.ALLOW
    resources = ([(ResourceType.TOPIC, n) for n in topics] + [(ResourceType.GROUP, n) for n in groups]
                 + [(ResourceType.TRANSACTIONAL_ID, n) for n in txn_ids]
                 + ([(ResourceType.BROKER, "kafka-cluster")] if cluster else []))
    bindings = [AclBinding(rt, name, pattern, principal, "*", getattr(AclOperation, re.sub(r"(?<!^)(?=[A-Z])", "_", op).upper()), perm)
                for rt, name in resources for op in operations]
    for f in admin.create_acls(bindings, request_timeout=20).values():
        f.result(timeout=30)


def t(name):
    return f"acl-{name}-{uuid.uuid4().hex[:8]}"


def eventually(fn, tries=10, delay=0.5, done=lambda out: True):
    """ACL changes reach the broker's authorizer through the metadata log: retry briefly.
    `done` also retries an error-free outcome that is not there yet."""
    for _ in range(tries - 1):
        out = fn()
        if out.error is None and done(out):
            return out
        time.sleep(delay)
    return fn()


def admin_create(sbroker, topic, partitions=1):
    from confluent_kafka.admin import AdminClient, NewTopic

    conf = {"bootstrap.servers": sbroker.addr("SASL_PLAINTEXT")}
    conf.update(sasl("admin").librdkafka())
    admin = AdminClient(conf)
    admin.create_topics([NewTopic(topic, partitions, 1)], request_timeout=20)[topic].result(timeout=30)


# How each client reports an authorization failure (error codes 29 / 30 / 53 / 31).
TOPIC_DENIED = {
    "java": ["TopicAuthorizationException"],
    "confluent": ["TOPIC_AUTHORIZATION_FAILED"],
    "kafka-python": ["TopicAuthorizationFailedError"],
    "franz": ["TOPIC_AUTHORIZATION_FAILED"],
    "kafkajs": ["Not authorized to access topics", "TOPIC_AUTHORIZATION_FAILED"],
    "kcat": ["Topic authorization failed"],
}
GROUP_DENIED = {
    "java": ["GroupAuthorizationException"],
    "confluent": ["GROUP_AUTHORIZATION_FAILED"],
    "kafka-python": ["GroupAuthorizationFailedError"],
    "franz": ["GROUP_AUTHORIZATION_FAILED"],
    "kafkajs": ["Not authorized to access group", "GROUP_AUTHORIZATION_FAILED"],
}
TXN_DENIED = {
    "java": ["TransactionalIdAuthorizationException"],
    "confluent": ["TRANSACTIONAL_ID_AUTHORIZATION_FAILED"],
}


def assert_denied(table, client, outcome):
    assert outcome.error is not None, f"{client} was allowed: {outcome.values}"
    assert any(e in outcome.error for e in table[client]), f"{client}: {outcome.error}"


# ---- mTLS principals ----------------------------------------------------------------------------


def ssl_sec(certs, who):
    return Sec("SSL", ca=certs.ca, cert=getattr(certs, who))


def test_mtls_principal_is_the_certificate_dn_as_java_renders_it(sbroker, certs, admin_cfg):
    topic = t("mtls-dn")
    admin_create(sbroker, topic)
    acls(sbroker, admin_cfg, "--add", "--allow-principal", f"User:{ALICE_DN}", "--producer", "--consumer",
         "--topic", topic, "--group", "*")
    eventually(lambda: produce("java", sbroker.addr("SSL"), ssl_sec(certs, "alice"), topic, 3, "m")).ok(3)
    assert consume("confluent", sbroker.addr("SSL"), ssl_sec(certs, "alice"), topic, 3).ok(3).values == values(3, "m")
    # another certificate from the same CA is another principal
    assert_denied(TOPIC_DENIED, "java", produce("java", sbroker.addr("SSL"), ssl_sec(certs, "bob"), topic, 1, "b"))
    assert_denied(TOPIC_DENIED, "confluent",
                  produce("confluent", sbroker.addr("SSL"), ssl_sec(certs, "bob"), topic, 1, "b"))


def test_mtls_principal_mapping_rule(sbroker, certs, admin_cfg):
    """CN=Svc1,OU=Mapped,... becomes User:svc1@mapped (rule with /L); the ACL names that."""
    topic = t("mtls-map")
    admin_create(sbroker, topic)
    grant(sbroker, "User:svc1@mapped", "Write", "Describe", topics=[topic])
    for client in ("java", "confluent", "franz"):
        eventually(lambda: produce(client, sbroker.addr("SSL"), ssl_sec(certs, "svc"), topic, 2, client)).ok(2)
    # the full DN is not the principal any more: an ACL for it lets nobody in
    other = t("mtls-map-dn")
    admin_create(sbroker, other)
    grant(sbroker, "User:CN=Svc1,OU=Mapped,O=Gregor Test,C=NO", "Write", "Describe", topics=[other])
    time.sleep(1)
    assert_denied(TOPIC_DENIED, "java", produce("java", sbroker.addr("SSL"), ssl_sec(certs, "svc"), other, 1, "n"))


# ---- producers -----------------------------------------------------------------------------------


def test_producer_denied_then_allowed_every_client(sbroker, admin_cfg):
    topics = {c: t(f"prod-{c}") for c in CLIENTS}
    for topic in topics.values():
        admin_create(sbroker, topic)
    for client, topic in topics.items():
        assert_denied(TOPIC_DENIED, client,
                      produce(client, sbroker.addr("SASL_PLAINTEXT"), sasl("alice", client), topic, 1, "n"))
    args = []
    for topic in topics.values():
        args += ["--topic", topic]
    _, out, _ = acls(sbroker, admin_cfg, "--add", "--allow-principal", "User:alice", "--producer", *args)
    assert "(principal=User:alice, host=*, operation=WRITE, permissionType=ALLOW)" in out, out
    for client, topic in topics.items():
        eventually(lambda: produce(client, sbroker.addr("SASL_PLAINTEXT"), sasl("alice", client), topic, 2, "ok")).ok(2)
    # bob still has nothing
    assert_denied(TOPIC_DENIED, "java", produce("java", sbroker.addr("SASL_PLAINTEXT"), sasl("bob"),
                                                topics["java"], 1, "n"))


@pytest.mark.parametrize("client", ["java", "confluent"])
def test_idempotent_producer_needs_only_write_on_the_topic(sbroker, admin_cfg, client):
    """KIP-679: InitProducerId without a transactional id passes with Write on any topic."""
    topic = t(f"idem-{client}")
    admin_create(sbroker, topic)
    extra = {"enable.idempotence": "true", "acks": "all"}
    assert_denied(TOPIC_DENIED, client,
                  produce(client, sbroker.addr("SASL_PLAINTEXT"), sasl("bob"), topic, 1, "n", **extra))
    grant(sbroker, "User:bob", "Write", topics=[topic])
    eventually(lambda: produce(client, sbroker.addr("SASL_PLAINTEXT"), sasl("bob"), topic, 3, "i", **extra)).ok(3)


@pytest.mark.parametrize("client", ["java", "confluent"])
def test_transactional_producer_needs_the_transactional_id(sbroker, admin_cfg, client):
    topic = t(f"txn-{client}")
    txn_id = f"tx-{uuid.uuid4().hex[:8]}"
    admin_create(sbroker, topic)
    grant(sbroker, "User:alice", "Write", "Describe", topics=[topic])
    extra = {"transactional.id": txn_id}
    if client == "confluent":
        extra["enable.idempotence"] = True
    out = eventually(lambda: produce(client, sbroker.addr("SASL_PLAINTEXT"), sasl("alice"), topic, 2, "t", **extra),
                     tries=1)
    assert_denied(TXN_DENIED, client, out)
    _, out, _ = acls(sbroker, admin_cfg, "--add", "--allow-principal", "User:alice", "--producer", "--topic", topic,
                     "--transactional-id", txn_id)
    assert f"ResourcePattern(resourceType=TRANSACTIONAL_ID, name={txn_id}, patternType=LITERAL)" in out, out
    eventually(lambda: produce(client, sbroker.addr("SASL_PLAINTEXT"), sasl("alice"), topic, 2, "t", **extra)).ok(2)
    got = consume("java", sbroker.addr("SASL_PLAINTEXT"), sasl("admin"), topic, 2, timeout_s=40,
                  **{"isolation.level": "read_committed"})
    assert got.ok(2).values == values(2, "t")


# ---- consumers in groups -------------------------------------------------------------------------


def test_group_consumer_needs_group_and_topic_acls(sbroker, admin_cfg):
    topics = {c: t(f"grp-{c}") for c in GROUP_CLIENTS}
    groups = {c: f"g-{c}-{uuid.uuid4().hex[:6]}" for c in GROUP_CLIENTS}
    for topic in topics.values():
        admin_create(sbroker, topic)
        produce("confluent", sbroker.addr("SASL_PLAINTEXT"), sasl("admin"), topic, 3, "g").ok(3)
    # Read on the topics but nothing on the groups: GROUP_AUTHORIZATION_FAILED
    args = []
    for topic in topics.values():
        args += ["--topic", topic]
    grant(sbroker, "User:alice", "Read", topics=list(topics.values()))
    time.sleep(1)
    for client in GROUP_CLIENTS:
        out = consume(client, sbroker.addr("SASL_PLAINTEXT"), sasl("alice"), topics[client], 3, group=groups[client],
                      timeout_s=25)
        assert_denied(GROUP_DENIED, client, out)
    # the --consumer shortcut grants the group (Read) too
    gargs = []
    for g in groups.values():
        gargs += ["--group", g]
    _, out, _ = acls(sbroker, admin_cfg, "--add", "--allow-principal", "User:alice", "--consumer", *args, *gargs)
    for client in GROUP_CLIENTS:
        # kafka-python's group leader may assign before its first Metadata response is back
        # ("No partition metadata for topic"): nothing consumed, no error, nothing committed
        got = eventually(lambda: consume(client, sbroker.addr("SASL_PLAINTEXT"), sasl("alice"), topics[client], 3,
                                         group=groups[client]), tries=3, done=lambda out: len(out.values) == 3)
        assert sorted(got.ok(3).values) == values(3, "g"), client


def test_group_read_without_topic_read_is_a_topic_error(sbroker, admin_cfg):
    topic, group = t("grp-notopic"), f"g-{uuid.uuid4().hex[:6]}"
    admin_create(sbroker, topic)
    produce("confluent", sbroker.addr("SASL_PLAINTEXT"), sasl("admin"), topic, 1, "secret").ok(1)
    grant(sbroker, "User:bob", "Read", groups=[group])
    time.sleep(1)
    out = consume("confluent", sbroker.addr("SASL_PLAINTEXT"), sasl("bob"), topic, 1, group=group, timeout_s=10)
    assert_denied(TOPIC_DENIED, "confluent", out)
    # the Java consumer (subscribe) raises nothing within its poll loop here: it just never
    # gets the partitions, so nothing is read
    out = consume("java", sbroker.addr("SASL_PLAINTEXT"), sasl("bob"), topic, 1, group=group, timeout_s=8)
    assert out.values == [], out
    assert out.error is None or any(e in out.error for e in TOPIC_DENIED["java"]), out


def test_deny_wins_over_allow(sbroker, admin_cfg):
    topic = t("deny")
    admin_create(sbroker, topic)
    grant(sbroker, "User:*", "Write", "Describe", topics=[topic])
    grant(sbroker, "User:bob", "Write", topics=[topic], deny=True)
    eventually(lambda: produce("java", sbroker.addr("SASL_PLAINTEXT"), sasl("alice"), topic, 1, "a")).ok(1)
    assert_denied(TOPIC_DENIED, "confluent",
                  produce("confluent", sbroker.addr("SASL_PLAINTEXT"), sasl("bob"), topic, 1, "b"))
    # With only Write denied, Kafka 4.4's Java producer does not raise: it times out
    # waiting for metadata (max.block.ms). Denying All (Describe too) makes it raise.
    grant(sbroker, "User:bob", "All", topics=[topic], deny=True)
    time.sleep(1)
    assert_denied(TOPIC_DENIED, "java", produce("java", sbroker.addr("SASL_PLAINTEXT"), sasl("bob"), topic, 1, "b"))


# ---- admin operations ---------------------------------------------------------------------------------


def test_create_topic_needs_create_and_prefixed_acls_match(sbroker, admin_cfg):
    prefix = f"team-{uuid.uuid4().hex[:6]}-"
    addr = sbroker.addr("SASL_PLAINTEXT")
    r = java_admin(addr, sasl("alice"), "create-topic", prefix + "a", 1)
    assert r.get("error") == "TopicAuthorizationException", r
    _, out, _ = acls(sbroker, admin_cfg, "--add", "--allow-principal", "User:alice", "--operation", "Create",
                     "--operation", "Describe", "--topic", prefix, "--resource-pattern-type", "prefixed")
    assert f"ResourcePattern(resourceType=TOPIC, name={prefix}, patternType=PREFIXED)" in out, out
    deadline = time.monotonic() + 5
    while True:
        r = java_admin(addr, sasl("alice"), "create-topic", prefix + "a", 1)
        if "ok" in r or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert r == {"ok": prefix + "a"}, r
    r = java_admin(addr, sasl("alice"), "create-topic", "other-" + prefix, 1)
    assert r.get("error") == "TopicAuthorizationException", r
    # the prefixed ACL is listed under its pattern, and a literal --list of a matching
    # name does not show it
    _, out, _ = acls(sbroker, admin_cfg, "--list", "--topic", prefix, "--resource-pattern-type", "prefixed")
    assert f"Current ACLs for resource `ResourcePattern(resourceType=TOPIC, name={prefix}, patternType=PREFIXED)`" \
        in out, out
    assert "principal=User:alice, host=*, operation=CREATE, permissionType=ALLOW" in out, out
    # listing is restricted to the pattern type asked for
    _, out, _ = acls(sbroker, admin_cfg, "--list", "--topic", prefix + "a")
    assert "operation=CREATE" not in out, out


def test_describe_configs_needs_describe_configs(sbroker, admin_cfg):
    addr = sbroker.addr("SASL_PLAINTEXT")
    topic = t("cfg")
    admin_create(sbroker, topic)
    r = java_admin(addr, sasl("bob"), "describe-configs", "topic", topic)
    assert r.get("error") == "TopicAuthorizationException", r
    r = java_admin(addr, sasl("bob"), "describe-configs", "broker", "1")
    assert r.get("error") == "ClusterAuthorizationException", r
    grant(sbroker, "User:bob", "DescribeConfigs", topics=[topic], cluster=True)
    time.sleep(1)
    assert "ok" in java_admin(addr, sasl("bob"), "describe-configs", "topic", topic)
    assert "ok" in java_admin(addr, sasl("bob"), "describe-configs", "broker", "1")
    # the super user needs no ACL
    assert "ok" in java_admin(addr, sasl("admin"), "describe-configs", "broker", "1")


def test_metadata_hides_unauthorized_topics(sbroker, admin_cfg):
    addr = sbroker.addr("SASL_PLAINTEXT")
    seen, hidden = t("seen"), t("hidden")
    admin_create(sbroker, seen)
    admin_create(sbroker, hidden)
    grant(sbroker, "User:bob", "Describe", topics=[seen])
    time.sleep(1)
    names = java_admin(addr, sasl("bob"), "list-topics")["ok"]
    assert seen in names and hidden not in names, names
    assert hidden in java_admin(addr, sasl("admin"), "list-topics")["ok"]


# ---- kafka-acls ----------------------------------------------------------------------------------------


def test_kafka_acls_add_list_remove(sbroker, admin_cfg):
    topic = t("list")
    admin_create(sbroker, topic)
    _, out, _ = acls(sbroker, admin_cfg, "--add", "--allow-principal", "User:bob", "--producer", "--topic", topic)
    _, out, _ = acls(sbroker, admin_cfg, "--list", "--topic", topic)
    assert f"Current ACLs for resource `ResourcePattern(resourceType=TOPIC, name={topic}, patternType=LITERAL)`" \
        in out, out
    for op in ("WRITE", "DESCRIBE", "CREATE"):
        assert f"(principal=User:bob, host=*, operation={op}, permissionType=ALLOW)" in out, out
    _, out, _ = acls(sbroker, admin_cfg, "--list", "--principal", "User:bob")
    assert topic in out, out
    eventually(lambda: produce("confluent", sbroker.addr("SASL_PLAINTEXT"), sasl("bob"), topic, 1, "r")).ok(1)
    acls(sbroker, admin_cfg, "--remove", "--force", "--allow-principal", "User:bob", "--producer", "--topic", topic)
    _, out, _ = acls(sbroker, admin_cfg, "--list", "--topic", topic)
    assert "User:bob" not in out, out
    time.sleep(1)
    assert_denied(TOPIC_DENIED, "java", produce("java", sbroker.addr("SASL_PLAINTEXT"), sasl("bob"), topic, 1, "n"))


def test_kafka_acls_needs_alter_on_the_cluster(sbroker, tmp_path):
    cfg = tmp_path / "alice.properties"
    cfg.write_text("".join(f"{k}={v}\n" for k, v in sasl("alice").java().items()))
    rc, out, err = acls(sbroker, str(cfg), "--add", "--allow-principal", "User:alice", "--operation", "All",
                        "--topic", "*", check=False)
    assert "ClusterAuthorizationException" in out + err, (rc, out, err)


# ---- authorizedOperations ------------------------------------------------------------------------------


def _ops(addr, who, *what, want=None):
    """authorizedOperations through the Java AdminClient, retried while the ACLs travel."""
    deadline = time.monotonic() + 10
    while True:
        r = java_admin(addr, sasl(who), "authorized-ops", *what)
        if (want is None and "ok" in r) or r.get("ok") == want or time.monotonic() > deadline:
            return r
        time.sleep(0.5)


TOPIC_OPS = ["ALTER", "ALTER_CONFIGS", "CREATE", "DELETE", "DESCRIBE", "DESCRIBE_CONFIGS", "READ", "WRITE"]
GROUP_OPS = ["ALTER_CONFIGS", "DELETE", "DESCRIBE", "DESCRIBE_CONFIGS", "READ"]
CLUSTER_OPS = ["ALTER", "ALTER_CONFIGS", "CLUSTER_ACTION", "CREATE", "DESCRIBE", "DESCRIBE_CONFIGS",
               "IDEMPOTENT_WRITE"]


def test_authorized_operations_through_the_java_admin_client(sbroker, admin_cfg):
    """describeTopics / describeConsumerGroups / describeCluster with
    includeAuthorizedOperations(true): the operations among the resource type's supported
    ones the principal may perform (Kafka's AuthHelper.authorizedOperations, implied
    Describe included); the cluster's are given only with Describe on the cluster, else
    none (and describeCluster itself is not refused)."""
    addr = sbroker.addr("SASL_PLAINTEXT")
    topic = t("ops")
    group = "g-" + topic
    admin_create(sbroker, topic)
    produce("java", addr, sasl("admin"), topic, 1, "o").ok(1)
    consume("java", addr, sasl("admin"), topic, 1, group=group).ok(1)
    grant(sbroker, "User:alice", "Read", topics=[topic])
    grant(sbroker, "User:alice", "Describe", groups=[group])
    assert _ops(addr, "alice", "topic", topic, want=["DESCRIBE", "READ"]) == {"ok": ["DESCRIBE", "READ"]}
    assert _ops(addr, "alice", "group", group, want=["DESCRIBE"]) == {"ok": ["DESCRIBE"]}
    assert _ops(addr, "alice", "cluster") == {"ok": []}
    # the super user: every supported operation
    assert _ops(addr, "admin", "topic", topic) == {"ok": TOPIC_OPS}
    assert _ops(addr, "admin", "group", group) == {"ok": GROUP_OPS}
    assert _ops(addr, "admin", "cluster") == {"ok": CLUSTER_OPS}
