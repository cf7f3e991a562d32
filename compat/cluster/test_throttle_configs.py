"""Replication throttle configs as Kafka 4.4's kafka-configs writes them (the
same IncrementalAlterConfigs kafka-reassign-partitions --throttle sends):
broker-default rates and topic replica lists are accepted and described, bad
values refused. Runs against Gregor and Kafka (COMPAT_SERVER=kafka) alike."""

import uuid

import harness
from clients import java_admin


def configs(boot, *args, check=True):
    return harness.kafka_tool("ConfigCommand", "--bootstrap-server", boot, *args, check=check)


def test_kafka_configs_sets_and_refuses_replication_throttles(cluster):
    boot = cluster.bootstrap()
    topic = f"throttled-{uuid.uuid4().hex[:8]}"
    assert java_admin(boot, "create-topic", topic, 2, 3).get("created") == topic

    configs(boot, "--entity-type", "brokers", "--entity-default", "--alter", "--add-config",
            "leader.replication.throttled.rate=1048576,follower.replication.throttled.rate=2097152")
    configs(boot, "--entity-type", "topics", "--entity-name", topic, "--alter", "--add-config",
            "leader.replication.throttled.replicas=[0:1,1:2],follower.replication.throttled.replicas=*")

    _, out, _ = configs(boot, "--entity-type", "topics", "--entity-name", topic, "--describe")
    assert "leader.replication.throttled.replicas=0:1,1:2 " in out, out
    assert "follower.replication.throttled.replicas=* " in out, out
    _, out, _ = configs(boot, "--entity-type", "brokers", "--entity-default", "--describe")
    assert "leader.replication.throttled.rate=1048576 " in out, out
    assert "follower.replication.throttled.rate=2097152 " in out, out

    code, out, err = configs(boot, "--entity-type", "topics", "--entity-name", topic, "--alter",
                             "--add-config", "leader.replication.throttled.replicas=0-1", check=False)
    assert code != 0 and "must be the literal '*'" in out + err, (code, out, err)
    code, out, err = configs(boot, "--entity-type", "brokers", "--entity-default", "--alter",
                             "--add-config", "leader.replication.throttled.rate=-5", check=False)
    assert code != 0 and "leader.replication.throttled.rate" in out + err, (code, out, err)

    configs(boot, "--entity-type", "topics", "--entity-name", topic, "--alter", "--delete-config",
            "leader.replication.throttled.replicas,follower.replication.throttled.replicas")
    _, out, _ = configs(boot, "--entity-type", "topics", "--entity-name", topic, "--describe")
    assert "replication.throttled" not in out, out
