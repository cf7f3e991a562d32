"""/metrics under Kafka's JMX-exporter names, checked against what a real client
(confluent-kafka / librdkafka) produced and consumed: bytes and messages in per topic,
bytes out, request counts by API, and /ready."""

import time
import urllib.error
import urllib.request

import pytest

from clients import Rec, assert_all_sent, cf_consume, cf_create_topic, cf_produce
from conftest import SERVER_KIND, free_port

pytestmark = pytest.mark.skipif(SERVER_KIND != "gregor", reason="the admin HTTP endpoint is Gregor's")


def http_get(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def wait_ready(port, timeout=20):
    """/ready's answer once it is 200; the client port listens before the broker serves,
    so the fixture may return before the admin endpoint is up."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            answer = http_get(port, "/ready")
            if answer[0] == 200 or time.monotonic() > deadline:
                return answer
        except urllib.error.URLError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.1)


def samples(text):
    """{series: value} of an OpenMetrics text exposition."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            out[series] = float(value)
    return out


def test_counters_match_what_confluent_kafka_sent(broker_factory, topic):
    admin = free_port()
    server = broker_factory({"gregor.admin.listener": f"127.0.0.1:{admin}"})
    bootstrap = server.bootstrap
    assert wait_ready(admin) == (200, "ready\n")
    cf_create_topic(bootstrap, topic, 1)
    values = [f"value-{i:04d}".encode() * (i % 7 + 1) for i in range(200)]
    recs = [Rec(None, v) for v in values]
    sent = cf_produce(bootstrap, topic, recs, compression_type="none", linger_ms=20)
    assert_all_sent(sent)
    got = cf_consume(bootstrap, topic, len(recs))
    assert [m.value for m in got] == values

    status, text = http_get(admin, "/metrics")
    assert status == 200 and text.endswith("# EOF\n")
    m = samples(text)
    label = f'{{topic="{topic}"}}'
    assert m[f"kafka_server_brokertopicmetrics_messagesin_total{label}"] == len(values)
    # Record batches carry headers and framing: at least the values' bytes, at most
    # a few dozen bytes of overhead per record.
    payload = sum(len(v) for v in values)
    bytes_in = m[f"kafka_server_brokertopicmetrics_bytesin_total{label}"]
    assert payload <= bytes_in <= payload + 70 * len(values)
    # The consumer read everything once (maybe a batch twice on a retry).
    assert m[f"kafka_server_brokertopicmetrics_bytesout_total{label}"] >= bytes_in
    assert m["kafka_server_brokertopicmetrics_messagesin_total"] >= len(values)
    produce_requests = sum(v for k, v in m.items()
                           if k.startswith('kafka_network_requestmetrics_requests_total{request="Produce"'))
    assert produce_requests >= 1
    assert m[f"kafka_server_brokertopicmetrics_totalproducerequests_total{label}"] == produce_requests
    assert any(k.startswith('kafka_network_requestmetrics_requests_total{request="FetchConsumer"') for k in m)
    assert m['kafka_network_requestmetrics_errors_total{request="Produce",error="NONE"}'] == produce_requests
    assert m['kafka_network_requestmetrics_totaltimems_count{request="Produce"}'] == produce_requests
    assert 0.0 <= m["kafka_network_socketserver_networkprocessoravgidle_percent"] <= 1.0
