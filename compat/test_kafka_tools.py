"""Apache Kafka 4.4's own command-line tools against the broker, driven as an
operator would: `java -cp <kafka-tools jars> <main class> --bootstrap-server ...`,
the classes behind kafka-topics.sh, kafka-configs.sh, kafka-consumer-groups.sh,
kafka-console-producer/consumer.sh, kafka-get-offsets.sh, kafka-delete-records.sh,
kafka-log-dirs.sh, kafka-features.sh, kafka-cluster.sh, kafka-broker-api-versions.sh,
kafka-transactions.sh and kafka-metadata-quorum.sh. Their printed output is checked.
The jars come from Maven Central (compat/tools/pom.xml, scripts/compat-deps.sh).
Passes against real Kafka 4.4.0 too (COMPAT_BOOTSTRAP, compat/kafka_ref.sh)."""

import json
import re
import subprocess
import uuid

import pytest

import jvm

TOOLS_CP = jvm.TOOLS_CP


def tool(main_class, *args, bootstrap=None, input_text=None, check=True, timeout=90):
    """Runs one Kafka tool; returns (exit code, stdout, stderr). kafka-cluster
    takes --bootstrap-server after its sub-command, the others before."""
    cmd = jvm.tool_cmd(main_class)
    where = ["--bootstrap-server", bootstrap] if bootstrap is not None else []
    if main_class == "ClusterTool":
        cmd += [str(a) for a in args] + where
    else:
        cmd += where + [str(a) for a in args]
    p = subprocess.run(cmd, input=input_text, capture_output=True, text=True, timeout=timeout)
    if check:
        assert p.returncode == 0, f"{main_class} {' '.join(map(str, args))} exited {p.returncode}\n{p.stdout}\n{p.stderr}"
    return p.returncode, p.stdout, p.stderr


def topics(bootstrap, *args, check=True):
    return tool("TopicCommand", *args, bootstrap=bootstrap, check=check)


def configs(bootstrap, *args, check=True):
    return tool("ConfigCommand", *args, bootstrap=bootstrap, check=check)


def create(bootstrap, topic, partitions=1, *extra):
    _, out, _ = topics(bootstrap, "--create", "--topic", topic, "--partitions", partitions, *extra)
    assert f"Created topic {topic}." in out


def produce_lines(bootstrap, topic, lines, *extra):
    tool("ConsoleProducer", "--topic", topic, *extra, bootstrap=bootstrap, input_text="".join(f"{l}\n" for l in lines))


def consume_lines(bootstrap, topic, count, *extra):
    _, out, _ = tool("consumer.ConsoleConsumer", "--topic", topic, "--from-beginning", "--max-messages", count,
                     "--timeout-ms", 30000, *extra, bootstrap=bootstrap)
    return out.splitlines()


def offsets(bootstrap, topic, *extra):
    """{partition: offset} from kafka-get-offsets."""
    _, out, _ = tool("GetOffsetShell", "--topic", topic, *extra, bootstrap=bootstrap)
    result = {}
    for line in out.splitlines():
        name, partition, offset = line.rsplit(":", 2)
        assert name == topic
        result[int(partition)] = int(offset)
    return result


def node_id(bootstrap):
    _, out, _ = tool("BrokerApiVersionsCommand", bootstrap=bootstrap)
    return int(re.search(r"\(id: (\d+) ", out).group(1))


def test_topics_create_describe_alter(bootstrap, topic):
    create(bootstrap, topic, 3, "--config", "retention.ms=86400000")
    _, out, _ = topics(bootstrap, "--list")
    assert topic in out.split()

    _, out, _ = topics(bootstrap, "--describe", "--topic", topic)
    header = out.splitlines()[0]
    assert re.search(rf"Topic: {re.escape(topic)}\s+TopicId: \S+\s+PartitionCount: 3\s+ReplicationFactor: 1", header), out
    assert "retention.ms=86400000" in header
    rows = [l for l in out.splitlines()[1:] if l.strip()]
    assert [int(re.search(r"Partition: (\d+)", r).group(1)) for r in rows] == [0, 1, 2]
    for r in rows:
        assert re.search(r"Leader: \d+\s+Replicas: \d+\s+Isr: \d+", r), r

    topics(bootstrap, "--alter", "--topic", topic, "--partitions", 5)
    _, out, _ = topics(bootstrap, "--describe", "--topic", topic)
    assert "PartitionCount: 5" in out

    code, out, err = topics(bootstrap, "--describe", "--topic", f"missing-{topic}", check=False)
    assert code != 0 and "does not exist" in out + err
    code, out, err = topics(bootstrap, "--create", "--topic", topic, "--partitions", 1, check=False)
    assert code != 0 and "already exists" in out + err

    topics(bootstrap, "--delete", "--topic", topic)


def test_topic_and_broker_configs(bootstrap, topic):
    create(bootstrap, topic, 1)
    configs(bootstrap, "--alter", "--entity-type", "topics", "--entity-name", topic,
            "--add-config", "retention.ms=1234567,cleanup.policy=delete")
    _, out, _ = configs(bootstrap, "--describe", "--entity-type", "topics", "--entity-name", topic)
    assert "retention.ms=1234567" in out and "cleanup.policy=delete" in out
    configs(bootstrap, "--alter", "--entity-type", "topics", "--entity-name", topic, "--delete-config", "retention.ms")
    _, out, _ = configs(bootstrap, "--describe", "--entity-type", "topics", "--entity-name", topic)
    assert "retention.ms=1234567" not in out

    broker = str(node_id(bootstrap))
    # A dynamic topic default: large enough not to delete anything on a shared broker.
    retention = "987654321000"
    try:
        _, out, _ = configs(bootstrap, "--alter", "--entity-type", "brokers", "--entity-name", broker,
                            "--add-config", f"log.retention.ms={retention}")
        assert f"Completed updating config for broker {broker}." in out
        _, out, _ = configs(bootstrap, "--describe", "--entity-type", "brokers", "--entity-name", broker)
        assert f"log.retention.ms={retention} sensitive=false synonyms={{DYNAMIC_BROKER_CONFIG:log.retention.ms={retention}" in out, out
        # Topics without their own value follow it at once.
        _, out, _ = configs(bootstrap, "--describe", "--entity-type", "topics", "--entity-name", topic, "--all")
        assert f"retention.ms={retention} sensitive=false synonyms={{DYNAMIC_BROKER_CONFIG:log.retention.ms={retention}" in out, out
    finally:
        configs(bootstrap, "--alter", "--entity-type", "brokers", "--entity-name", broker,
                "--delete-config", "log.retention.ms")
    _, out, _ = configs(bootstrap, "--describe", "--entity-type", "brokers", "--entity-name", broker)
    assert f"log.retention.ms={retention}" not in out

    try:
        _, out, _ = configs(bootstrap, "--alter", "--entity-type", "brokers", "--entity-default",
                            "--add-config", "log.retention.ms=987654321001")
        assert "Completed updating default config for brokers in the cluster." in out
        _, out, _ = configs(bootstrap, "--describe", "--entity-type", "brokers", "--entity-default")
        assert "log.retention.ms=987654321001 sensitive=false synonyms={DYNAMIC_DEFAULT_BROKER_CONFIG:log.retention.ms=987654321001}" in out, out
    finally:
        configs(bootstrap, "--alter", "--entity-type", "brokers", "--entity-default",
                "--delete-config", "log.retention.ms")

    # Settings fixed at start-up are refused with Kafka's message.
    code, out, err = configs(bootstrap, "--alter", "--entity-type", "brokers", "--entity-name", broker,
                             "--add-config", "log.dirs=/tmp/elsewhere", check=False)
    assert code != 0
    assert "InvalidRequestException: Cannot update these configs dynamically: [log.dirs]" in out + err
    code, out, err = configs(bootstrap, "--alter", "--entity-type", "brokers", "--entity-name", broker,
                             "--add-config", "log.retention.ms=soon", check=False)
    assert code != 0
    assert "Invalid value soon for configuration log.retention.ms: Not a number of type LONG" in out + err


def test_console_roundtrip_and_group_lag(bootstrap, topic):
    create(bootstrap, topic, 1)
    sent = [f"k{i}:value-{i}" for i in range(10)]
    produce_lines(bootstrap, topic, sent, "--reader-property", "parse.key=true", "--reader-property", "key.separator=:")
    group = f"tools-{uuid.uuid4().hex[:8]}"
    got = consume_lines(bootstrap, topic, 10, "--group", group,
                        "--formatter-property", "print.key=true", "--formatter-property", "key.separator=:")
    assert got == sent

    produce_lines(bootstrap, topic, ["late-1", "late-2", "late-3"])
    _, out, _ = tool("consumer.group.ConsumerGroupCommand", "--describe", "--group", group, bootstrap=bootstrap)
    rows = [l.split() for l in out.splitlines() if l.startswith(group)]
    assert len(rows) == 1, out
    _, row_topic, partition, current, log_end, lag = rows[0][:6]
    assert (row_topic, partition, current, log_end, lag) == (topic, "0", "10", "13", "3"), out

    _, out, _ = tool("consumer.group.ConsumerGroupCommand", "--list", bootstrap=bootstrap)
    assert group in out.split()


def test_get_offsets_and_delete_records(bootstrap, topic, tmp_path):
    create(bootstrap, topic, 1)
    produce_lines(bootstrap, topic, [f"v{i}" for i in range(10)])
    assert offsets(bootstrap, topic) == {0: 10}
    assert offsets(bootstrap, topic, "--time", -2) == {0: 0}

    spec = tmp_path / "delete.json"
    spec.write_text(json.dumps({"version": 1, "partitions": [{"topic": topic, "partition": 0, "offset": 4}]}))
    _, out, _ = tool("DeleteRecordsCommand", "--offset-json-file", spec, bootstrap=bootstrap)
    assert f"partition: {topic}-0\tlow_watermark: 4" in out, out
    assert offsets(bootstrap, topic, "--time", -2) == {0: 4}
    assert offsets(bootstrap, topic, "--time", "earliest") == {0: 4}
    # A new consumer from the beginning starts at the new log start.
    assert consume_lines(bootstrap, topic, 6) == [f"v{i}" for i in range(4, 10)]

    spec.write_text(json.dumps({"version": 1, "partitions": [{"topic": topic, "partition": 0, "offset": 11}]}))
    _, out, _ = tool("DeleteRecordsCommand", "--offset-json-file", spec, bootstrap=bootstrap)
    assert f"partition: {topic}-0\terror: org.apache.kafka.common.errors.OffsetOutOfRangeException" in out, out
    # -1: up to the high watermark.
    spec.write_text(json.dumps({"version": 1, "partitions": [{"topic": topic, "partition": 0, "offset": -1}]}))
    _, out, _ = tool("DeleteRecordsCommand", "--offset-json-file", spec, bootstrap=bootstrap)
    assert f"partition: {topic}-0\tlow_watermark: 10" in out, out
    assert offsets(bootstrap, topic, "--time", -2) == {0: 10}


def test_log_dirs_describe(bootstrap, topic):
    create(bootstrap, topic, 2)
    produce_lines(bootstrap, topic, ["a", "b", "c"],
                  "--command-property", "partitioner.class=org.apache.kafka.clients.producer.RoundRobinPartitioner")
    _, out, _ = tool("LogDirsCommand", "--describe", "--topic-list", topic, bootstrap=bootstrap)
    report = json.loads(next(l for l in out.splitlines() if l.startswith("{")))
    assert len(report["brokers"]) == 1
    dirs = report["brokers"][0]["logDirs"]
    assert len(dirs) == 1 and dirs[0]["error"] is None and dirs[0]["logDir"].startswith("/")
    parts = {p["partition"]: p for p in dirs[0]["partitions"]}
    assert set(parts) == {f"{topic}-0", f"{topic}-1"}, parts
    assert sum(p["size"] for p in parts.values()) > 0
    assert all(p["offsetLag"] == 0 and p["isFuture"] is False for p in parts.values())


def test_features_describe(bootstrap):
    _, out, _ = tool("FeatureCommand", "describe", bootstrap=bootstrap)
    features = {}
    for line in out.splitlines():
        m = re.match(r"Feature: (\S+)\s+SupportedMinVersion: (\S+)\s+SupportedMaxVersion: (\S+)\s+"
                     r"FinalizedVersionLevel: (\S+)\s+Epoch: (\S+)", line)
        if m:
            features[m.group(1)] = m.groups()[1:4]
    assert features["metadata.version"] == ("3.3-IV3", "4.4-IV2", "4.4-IV2"), out
    assert features["transaction.version"] == ("0", "2", "2"), out
    assert features["group.version"] == ("0", "1", "1"), out
    assert features["streams.version"] == ("0", "1", "1"), out
    assert features["kraft.version"] == ("0", "1", "0"), out
    # KIP-966: eligible leader replicas are on for a newly formatted cluster.
    assert features["eligible.leader.replicas.version"] == ("0", "1", "1"), out


def test_features_upgrade_and_downgrade_refusals(bootstrap):
    # Only requests that change nothing: the suite may share a real cluster.
    _, out, _ = tool("FeatureCommand", "upgrade", "--feature", "group.version=1", bootstrap=bootstrap)
    assert "group.version was upgraded to 1." in out, out
    prefix = "The update failed for all features since the following feature had an error: "
    _, out, _ = tool("FeatureCommand", "upgrade", "--feature", "transaction.version=3", bootstrap=bootstrap,
                     check=False)
    assert (f"Could not upgrade transaction.version to 3. {prefix}Invalid update version 3 for feature "
            "transaction.version. Local controller") in out and "only supports versions 0-2" in out, out
    _, out, _ = tool("FeatureCommand", "downgrade", "--metadata", "4.3-IV0", bootstrap=bootstrap, check=False)
    assert (f"{prefix}Unsupported metadata.version downgrade from 33 to 30. Refusing to perform the requested "
            "downgrade because it might delete metadata information.") in out, out
    _, out, _ = tool("FeatureCommand", "upgrade", "--feature", "transaction.version=1", "--dry-run",
                     bootstrap=bootstrap, check=False)
    assert "Can't downgrade the version of this feature without setting the upgrade type" in out, out


def test_cluster_id_and_api_versions(bootstrap):
    _, out, _ = tool("ClusterTool", "cluster-id", bootstrap=bootstrap)
    m = re.fullmatch(r"Cluster ID: (\S+)\n?", out)
    assert m, out
    _, out, _ = tool("ClusterTool", "list-endpoints", bootstrap=bootstrap)
    assert re.search(r"^\d+\s+127\.0\.0\.1\s+\d+", out, re.M), out

    _, out, _ = tool("BrokerApiVersionsCommand", bootstrap=bootstrap)
    for api in ("DeleteRecords(21): 0 to 2 [usable: 2]", "DescribeTopicPartitions(75): 0 [usable: 0]",
                "DescribeLogDirs(35): 1 to ", "IncrementalAlterConfigs(44): 0 to 1 [usable: 1]",
                "DescribeQuorum(55): 0 to 2 [usable: 2]", "UpdateFeatures(57): 0 to 2 [usable: 2]",
                # KIP-1071, served with types generated from Kafka's schemas.
                "StreamsGroupHeartbeat(88): 0 to 1 [usable: 1]", "StreamsGroupDescribe(89): 0 to 1 [usable: 1]",
                "StreamsGroupTopologyDescriptionUpdate(93): 0 [usable: 0]"):
        assert api in out, out


def test_metadata_quorum_status(bootstrap):
    _, out, _ = tool("MetadataQuorumCommand", "describe", "--status", bootstrap=bootstrap)
    fields = dict(re.findall(r"^(\w+):\s+(.*)$", out, re.M))
    node = node_id(bootstrap)
    assert fields["LeaderId"] == str(node), out
    assert int(fields["HighWatermark"]) >= 0
    assert f"id: {node}" in fields["CurrentVoters"] or f'"id": {node}' in fields["CurrentVoters"], out


def test_transactions_list_and_describe(bootstrap, topic):
    from confluent_kafka import Producer

    create(bootstrap, topic, 1)
    txn_id = f"tools-txn-{uuid.uuid4().hex[:8]}"
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": txn_id})
    producer.init_transactions(30)
    producer.begin_transaction()
    producer.produce(topic, value=b"in-a-transaction")
    producer.commit_transaction(30)

    _, out, _ = tool("TransactionsCommand", "list", bootstrap=bootstrap)
    rows = [[f.strip() for f in l.split("\t")] for l in out.splitlines() if l.startswith(txn_id)]
    assert len(rows) == 1, out
    assert rows[0][3] == "CompleteCommit", out
    _, out, _ = tool("TransactionsCommand", "describe", "--transactional-id", txn_id, bootstrap=bootstrap)
    assert txn_id in out and "CompleteCommit" in out, out


@pytest.fixture
def controller_node(broker_factory, tmp_path):
    """A combined node with Kafka's quorum settings and a CONTROLLER listener:
    (broker bootstrap, controller bootstrap)."""
    from conftest import SERVER_KIND, free_port

    if SERVER_KIND == "kafka":
        server = broker_factory()
        return server.bootstrap, f"127.0.0.1:{server.cport}"
    cport = free_port()
    server = broker_factory({
        "controller.quorum.voters": f"1@127.0.0.1:{cport}",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "inter.broker.listener.name": "PLAINTEXT",
        "listeners": f"PLAINTEXT://127.0.0.1:{{port}},CONTROLLER://127.0.0.1:{cport}",
    })
    return server.bootstrap, f"127.0.0.1:{cport}"


def controller_tool(main_class, controller, *args, check=True):
    """A Kafka tool talking to the controller listener (KIP-919)."""
    if main_class == "ClusterTool":
        return tool(main_class, *args, "--bootstrap-controller", controller, check=check)
    return tool(main_class, "--bootstrap-controller", controller, *args, check=check)


def test_metadata_quorum_via_bootstrap_controller(controller_node):
    bootstrap, controller = controller_node
    _, out, _ = controller_tool("MetadataQuorumCommand", controller, "describe", "--status")
    fields = dict(re.findall(r"^(\w+):\s+(.*)$", out, re.M))
    assert fields["LeaderId"] == "1", out
    assert int(fields["HighWatermark"]) >= 1, out
    port = controller.rsplit(":", 1)[1]
    # The voter is reached on its controller listener.
    assert '"id": 1' in fields["CurrentVoters"], out
    assert f"CONTROLLER://127.0.0.1:{port}" in fields["CurrentVoters"], out
    assert fields["CurrentObservers"] == "[]", out

    _, out, _ = controller_tool("MetadataQuorumCommand", controller, "describe", "--replication")
    rows = [l.split() for l in out.splitlines()[1:] if l.strip()]
    assert len(rows) == 1 and rows[0][0] == "1" and rows[0][-1] == "Leader", out

    # The same quorum through the broker listener.
    _, out, _ = tool("MetadataQuorumCommand", "describe", "--status", bootstrap=bootstrap)
    assert dict(re.findall(r"^(\w+):\s+(.*)$", out, re.M))["LeaderId"] == "1", out


def test_cluster_tool_via_bootstrap_controller(controller_node):
    bootstrap, controller = controller_node
    _, out, _ = controller_tool("ClusterTool", controller, "cluster-id")
    via_controller = re.fullmatch(r"Cluster ID: (\S+)\n?", out)
    assert via_controller, out
    _, out, _ = tool("ClusterTool", "cluster-id", bootstrap=bootstrap)
    assert out.strip() == f"Cluster ID: {via_controller.group(1)}"

    # KIP-919: the controllers, at their controller endpoint.
    _, out, _ = controller_tool("ClusterTool", controller, "list-endpoints")
    host, port = controller.rsplit(":", 1)
    assert re.search(rf"^1\s+{re.escape(host)}\s+{port}\b", out, re.M), out

    _, out, _ = controller_tool("FeatureCommand", controller, "describe")
    assert re.search(r"Feature: metadata.version\s+SupportedMinVersion: ", out), out


def test_gregor_cluster_cli_agrees_with_kafkas_tools(controller_node):
    import subprocess

    from conftest import GREGOR_BIN

    bootstrap, controller = controller_node

    def gregor(*args):
        p = subprocess.run([GREGOR_BIN, *args], capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        return p.stdout

    _, out, _ = controller_tool("ClusterTool", controller, "cluster-id")
    cluster_id = out.strip().removeprefix("Cluster ID: ")
    described = gregor("cluster", "describe", "--bootstrap-controller", controller)
    assert described.splitlines()[:3] == [f"ClusterId:\t{cluster_id}", "ControllerId:\t1", "Controllers:"]
    assert described.splitlines()[4] == f"1\t{controller}\t-", described

    _, kafka_status, _ = controller_tool("MetadataQuorumCommand", controller, "describe", "--status")
    kafka_fields = dict(re.findall(r"^(\w+):\s+(.*)$", kafka_status, re.M))
    ours = dict(l.split("\t", 1) for l in gregor("cluster", "quorum", "--bootstrap-controller", controller)
                .split("\n\n")[0].splitlines())
    for field in ("ClusterId", "LeaderId", "LeaderEpoch", "MaxFollowerLag"):
        assert ours[f"{field}:"] == kafka_fields[field], (field, ours, kafka_status)
    assert ours["CurrentVoters:"] == "[1]" and ours["CurrentObservers:"] == "[]"
    assert int(ours["HighWatermark:"]) >= int(kafka_fields["HighWatermark"])
