"""/metrics of a real Gregor with real clients: kafka_exporter's consumer lag after a
confluent-kafka group consumed and committed part of a topic, and Strimzi's alert
expressions (deploy/prometheus/strimzi-kafka-alerts.yaml) evaluated by a real Prometheus
scraping the broker."""

import subprocess

import pytest

from clients import Rec, cf_consumer, cf_create_topic, cf_produce, take
from conftest import SERVER_KIND, free_port, new_server, running
from metrics_prom import ALERT_RULES, Prometheus, alert_exprs, sample, scrape

pytestmark = pytest.mark.skipif(SERVER_KIND != "gregor", reason="Gregor's admin endpoint (Kafka has JMX)")

N, M = 50, 20


@pytest.fixture(scope="module")
def metrics_broker(tmp_path_factory):
    admin = free_port()
    server = new_server(tmp_path_factory.mktemp("gregor"), {"gregor.admin.listener": f"127.0.0.1:{admin}"})
    server.admin = f"127.0.0.1:{admin}"
    with running(server):
        yield server


@pytest.fixture(scope="module")
def prometheus(metrics_broker, tmp_path_factory):
    prom = Prometheus(tmp_path_factory.mktemp("prometheus"), [metrics_broker.admin], free_port())
    try:
        yield prom.start()
    finally:
        prom.stop()


def test_vendored_rules_are_valid_prometheus_rules():
    out = subprocess.run(["promtool", "check", "rules", str(ALERT_RULES)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert len(alert_exprs()) == 8


def test_consumer_lag_is_high_watermark_minus_committed(metrics_broker, topic):
    bootstrap = metrics_broker.bootstrap
    cf_create_topic(bootstrap, topic, 1)
    cf_produce(bootstrap, topic, [Rec(b"k", f"v{i}".encode()) for i in range(N)])
    group = f"{topic}-group"
    consumer = cf_consumer(bootstrap, **{"group.id": group})
    try:
        consumer.subscribe([topic])
        got = take(consumer, M)
        assert len(got) == M
        consumer.commit(message=got[-1], asynchronous=False)
        text = scrape(metrics_broker.admin)
        labels = dict(consumergroup=group, topic=topic, partition=0)
        assert sample(text, "kafka_consumergroup_lag", **labels) == N - M, text
        assert sample(text, "kafka_consumergroup_current_offset", **labels) == M
        assert sample(text, "kafka_consumergroup_lag_sum", consumergroup=group, topic=topic) == N - M
        assert sample(text, "kafka_consumergroup_members", consumergroup=group) == 1
        assert sample(text, "kafka_topic_partition_current_offset", topic=topic, partition=0) == N
        # Produced within the last seconds: behind by less than a minute, not caught up.
        seconds = sample(text, "gregor_consumergroup_lag_seconds", **labels)
        assert seconds is not None and 0 <= seconds < 60
    finally:
        consumer.close()
    text = scrape(metrics_broker.admin)
    assert sample(text, "kafka_consumergroup_members", consumergroup=group) == 0


def test_strimzi_alerts_evaluate_against_a_real_scrape(metrics_broker, prometheus, topic):
    prometheus.wait(lambda: prometheus.query('up{job="gregor"} == 1'), 30, "a successful scrape")
    # Every name the rules use is scraped (an alert on a missing series never fires).
    for name in ["kafka_server_replicamanager_underreplicatedpartitions",
                 "kafka_controller_kafkacontroller_activecontrollercount",
                 "kafka_controller_kafkacontroller_offlinepartitionscount",
                 "kafka_server_replicamanager_underminisrpartitioncount",
                 "kafka_log_logmanager_offlinelogdirectorycount"]:
        assert prometheus.query(name), name
    # A healthy single broker: none of the broker and controller alerts fire.
    for alert in ["UnderReplicatedPartitions", "AbnormalControllerState", "OfflinePartitions",
                  "UnderMinIsrPartitionCount", "OfflineLogDirectoryCount", "UnderReplicatedPartition"]:
        assert not prometheus.fires(alert), alert
    assert prometheus.query("sum(kafka_controller_kafkacontroller_activecontrollercount)")[0][1] == 1

    # A group more than 1000 records behind: TooLargeConsumerGroupLag fires for it.
    bootstrap = metrics_broker.bootstrap
    cf_create_topic(bootstrap, topic, 1)
    cf_produce(bootstrap, topic, [Rec(None, b"x") for _ in range(1500)], linger_ms=20)
    group = f"{topic}-lagging"
    consumer = cf_consumer(bootstrap, **{"group.id": group})
    try:
        consumer.subscribe([topic])
        got = take(consumer, 10)
        consumer.commit(message=got[-1], asynchronous=False)
    finally:
        consumer.close()
    lagging = f'{alert_exprs()["TooLargeConsumerGroupLag"]}'
    prometheus.wait(lambda: any(m.get("consumergroup") == group and v == 1490
                                for m, v in prometheus.query(lagging) or []),
                    30, "TooLargeConsumerGroupLag firing for the lagging group")
