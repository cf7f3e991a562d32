"""Strimzi's alert expressions (deploy/prometheus/strimzi-kafka-alerts.yaml) evaluated by
a real Prometheus scraping every node of a 3-node Gregor cluster: quiet while healthy,
UnderReplicatedPartitions / UnderReplicatedPartition firing while one broker is down,
quiet again once it is back, and one active controller across the cluster throughout."""

import pytest

import harness
from clients import cf_admin
from metrics_prom import Prometheus

pytestmark = pytest.mark.skipif(harness.SERVER_KIND != "gregor", reason="Gregor's admin endpoint (Kafka has JMX)")

ADMIN_PORT = 9644


def test_under_replicated_alert_fires_with_a_broker_down(cluster_factory, tmp_path):
    from confluent_kafka.admin import NewTopic

    cluster = cluster_factory(settings={"gregor.admin.listener": f"{{host}}:{ADMIN_PORT}"})
    admin = cf_admin(cluster.bootstrap())
    admin.create_topics([NewTopic("alerted", num_partitions=3, replication_factor=3)])["alerted"].result(30)
    targets = [f"{n.host}:{ADMIN_PORT}" for n in cluster.nodes.values()]
    prom = Prometheus(tmp_path, targets, 9090).start()
    try:
        prom.wait(lambda: len(prom.query('up{job="gregor"} == 1') or []) == 3, 30, "every node scraped")
        prom.wait(lambda: prom.query("sum(kafka_topic_partition_replicas)") == [({}, 9.0)], 30,
                  "the topic's partitions in the scrapes")
        prom.wait(lambda: not prom.fires("UnderReplicatedPartitions"), 30, "a healthy cluster")
        for alert in ["AbnormalControllerState", "OfflinePartitions", "UnderReplicatedPartition",
                      "UnderMinIsrPartitionCount", "OfflineLogDirectoryCount"]:
            assert not prom.fires(alert), alert

        controller = cluster.active_controller()
        down = next(n for n in cluster.brokers() if n.node_id != controller)
        down.kill9()
        prom.wait(lambda: prom.fires("UnderReplicatedPartitions") and prom.fires("UnderReplicatedPartition"),
                  60, "the under-replicated alerts firing with a broker down")
        assert not prom.fires("AbnormalControllerState")
        assert not prom.fires("OfflinePartitions")

        down.start()
        cluster.wait_ready()
        prom.wait(lambda: not prom.fires("UnderReplicatedPartitions")
                  and not prom.fires("UnderReplicatedPartition"), 60, "the alerts quiet again")
        assert not prom.fires("AbnormalControllerState")
    finally:
        prom.stop()
