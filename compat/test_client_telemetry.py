"""KIP-714 client telemetry from real clients: with a subscription set on the broker
(gregor.client.telemetry.metrics) a Java kafka-clients producer and consumer, and librdkafka
(confluent-kafka), push their metrics; the admin endpoint's /metrics shows them per client
instance as gregor_client_<metric name>{client_instance_id,client_id,...}. Gregor only: Kafka
needs a receiver plugin to do anything with pushed metrics."""

import re
import time
import urllib.request

import pytest

from clients import Rec, assert_all_sent, java_consume, java_produce
from conftest import SERVER_KIND, free_port

pytestmark = pytest.mark.skipif(SERVER_KIND != "gregor", reason="Gregor's own /metrics re-export")

INTERVAL_MS = 2000


@pytest.fixture
def server(broker_factory):
    admin = free_port()
    srv = broker_factory({
        "gregor.admin.listener": f"127.0.0.1:{admin}",
        "gregor.client.telemetry.metrics": "org.apache.kafka.",
        "gregor.client.telemetry.interval.ms": str(INTERVAL_MS),
    })
    srv.admin_port = admin
    return srv


def scrape(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        return r.read().decode()


def series(text, name, client_id):
    """{client_instance_id: value} of `name`'s series for `client_id`."""
    pattern = re.compile(
        r"^" + re.escape(name) + r"\{client_instance_id=\"([0-9a-f-]+)\",client_id=\"" + re.escape(client_id)
        + r"\"[^}]*\} (\S+)$", re.M)
    return {m.group(1): float(m.group(2)) for m in pattern.finditer(text)}


def wait_for(port, name, client_id, timeout=20):
    deadline = time.monotonic() + timeout
    while True:
        text = scrape(port)
        found = series(text, name, client_id)
        if found or time.monotonic() > deadline:
            return found, text
        time.sleep(0.3)


def test_java_producer_and_consumer_push_their_metrics(server, topic):
    recs = [Rec(f"k{i}".encode(), f"v{i}".encode()) for i in range(50)]
    # The Java producer closes without waiting for its terminating push, so keep it open
    # past a push interval or two: a last record for a partition the topic does not have
    # makes send() wait max.block.ms for it, while the producer's sender thread pushes.
    recs.append(Rec(b"k", b"never", partition=99))
    sent = java_produce(server.bootstrap, topic, recs, client_id="telemetry-java-producer",
                        max_block_ms=3 * INTERVAL_MS)
    assert_all_sent(sent[:50], 50)
    assert sent[50].error is not None and "TimeoutException" in sent[50].error, sent[50]
    found, text = wait_for(server.admin_port, "gregor_client_org_apache_kafka_producer_record_send_total",
                           "telemetry-java-producer")
    assert len(found) == 1, text
    (instance, count), = found.items()
    assert count == 50, text
    # A client instance id is a uuid the broker handed out.
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", instance)
    assert "# TYPE gregor_client_org_apache_kafka_producer_record_send counter" in text
    # Per-node and per-topic metrics keep their tags as labels.
    assert re.search(r'^gregor_client_org_apache_kafka_producer_topic_record_send_total\{client_instance_id="'
                     + instance + r'",client_id="telemetry-java-producer",[^}]*topic="' + re.escape(topic)
                     + r'"[^}]*\} 50\.0$', text, re.M), text

    # The consumer stays up for its whole timeout (it waits for more records than there
    # are) and pushes every interval, the last push when it closes.
    got = java_consume(server.bootstrap, topic, 51, timeout_ms=4 * INTERVAL_MS)
    assert len(got) == 50
    text = scrape(server.admin_port)
    consumed = re.findall(r'^gregor_client_org_apache_kafka_consumer_fetch_manager_records_consumed_total'
                          r'\{client_instance_id="([0-9a-f-]+)",client_id="([^"]+)"\} (\S+)$', text, re.M)
    assert consumed, text
    (consumer, _, value), = consumed
    assert consumer != instance and float(value) == 50, text


def test_librdkafka_pushes_its_metrics(server, topic):
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": server.bootstrap, "client.id": "telemetry-rdkafka",
                         "linger.ms": 5})
    for i in range(20):
        producer.produce(topic, key=b"k", value=f"v{i}".encode())
    assert producer.flush(30) == 0
    # librdkafka pushes a push interval after it got its subscription (a producer
    # destroyed before that has nothing to push), so it is kept alive meanwhile.
    deadline = time.monotonic() + 20
    while True:
        producer.poll(0.2)
        text = scrape(server.admin_port)
        connections = re.findall(
            r'^gregor_client_org_apache_kafka_producer_connection_creation_total\{client_instance_id="([0-9a-f-]+)",'
            r'client_id="telemetry-rdkafka"\} (\S+)$', text, re.M)
        if connections or time.monotonic() > deadline:
            break
    producer.flush(5)
    assert connections and float(connections[0][1]) >= 1, text
    # Per-broker metrics carry the broker's id.
    instance = connections[0][0]
    assert re.search(r'^gregor_client_org_apache_kafka_producer_node_request_latency_avg\{client_instance_id="'
                     + instance + r'",client_id="telemetry-rdkafka",node_id="1"\} ', text, re.M), text
