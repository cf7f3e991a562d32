"""Idempotent producers (the default of modern clients) against the broker:
InitProducerId, sequence numbers, no duplicates and no gaps."""

import uuid

from clients import Rec, assert_all_sent, assert_contiguous, cf_consume, cf_create_topic, cf_produce, java_consume, java_produce


def test_confluent_idempotent_producer_writes_each_record_once(broker):
    b = broker.bootstrap
    topic = f"idem-{uuid.uuid4().hex[:6]}"
    cf_create_topic(b, topic, 2)
    recs = [Rec(f"k{i % 13}".encode(), f"value-{i}".encode()) for i in range(3000)]
    sent = cf_produce(b, topic, recs, enable_idempotence=True, max_in_flight_requests_per_connection=5,
                      linger_ms=2, batch_num_messages=50)
    assert_all_sent(sent, len(recs))
    got = cf_consume(b, topic, len(recs), timeout_s=40)
    assert sorted(g.value for g in got) == sorted(r.value for r in recs)
    assert_contiguous(got)


def test_java_producer_with_default_idempotence(broker):
    b = broker.bootstrap
    topic = f"idem-java-{uuid.uuid4().hex[:6]}"
    cf_create_topic(b, topic, 3)
    recs = [Rec(f"k{i}".encode(), f"java-{i}".encode()) for i in range(500)]
    sent = java_produce(b, topic, recs, enable_idempotence="true")
    assert_all_sent(sent, len(recs))
    got = java_consume(b, topic, len(recs))
    assert sorted(g.value for g in got) == sorted(r.value for r in recs)
    assert_contiguous(got)
