"""One confluent-kafka (librdkafka) exactly-once pipeline member, run as its own process
by pipelines.CfMember: the loop of confluent-kafka's transactions example.

    python cf_pipeline.py BOOTSTRAP IN OUT GROUP TXN_ID BATCH ABORT_EVERY TXN_TIMEOUT_MS TAG

A read_committed group member of GROUP reads IN; each batch (at most BATCH records)
becomes one transaction copying every record to the same partition of OUT as
eos.copy_value(value, TAG, n), with send_offsets_to_transaction(offsets,
consumer_group_metadata()); every ABORT_EVERY-th transaction is flushed, aborted and
redone. An abortable error aborts and rewinds to the batch's first offsets; a retriable
commit error is retried; anything else ends the process (exit 1, the transaction's
outcome unknown) and the supervisor starts a new incarnation. Prints JSON lines like
`CompatClient txn-pipeline`: {"init"}, {"txn","records","committed"[,"offsets"|"reason"]},
{"alive"} at least every 2 s from the loop (the supervisor's watchdog), {"done"} after
stdin closes, {"error"} before exit 1. SIGUSR1 dumps the Python stacks to stderr.
"""

import faulthandler
import json
import signal
import sys
import threading
import time

import eos


def out(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main(bootstrap, src, dst, group, txn_id, batch, abort_every, txn_timeout_ms, tag):
    from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

    batch, abort_every, txn_timeout_ms = int(batch), int(abort_every), int(txn_timeout_ms)
    stopping = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stopping.set()), daemon=True).start()
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": txn_id, "linger.ms": 5,
                         "transaction.timeout.ms": txn_timeout_ms, "message.timeout.ms": min(txn_timeout_ms, 30000)})
    producer.init_transactions(60)
    out({"init": True})
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "isolation.level": "read_committed",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest", "fetch.wait.max.ms": 100,
                         "session.timeout.ms": 10000, "heartbeat.interval.ms": 500, "client.id": tag})
    consumer.subscribe([src])
    n, alive = 0, 0.0
    try:
        while not stopping.is_set():
            if time.monotonic() - alive > 2:
                out({"alive": True})
                alive = time.monotonic()
            msgs = [m for m in consumer.consume(batch, 0.5) if not m.error()]
            if not msgs:
                continue
            producer.begin_transaction()
            firsts, nexts = {}, {}
            for m in msgs:
                producer.produce(dst, key=m.key(), partition=m.partition(),
                                 value=eos.copy_value(m.value().decode(), tag, n).encode())
                firsts.setdefault(m.partition(), m.offset())
                nexts[m.partition()] = m.offset() + 1

            def rewind():
                for p, o in firsts.items():
                    consumer.seek(TopicPartition(src, p, o))

            if abort_every and n % abort_every == abort_every - 1:
                if producer.flush(30) != 0:
                    raise RuntimeError("flush before the deliberate abort timed out")
                producer.abort_transaction(30)
                rewind()
                out({"txn": n, "records": len(msgs), "committed": False, "reason": "deliberate"})
                n += 1
                continue
            try:
                producer.send_offsets_to_transaction([TopicPartition(src, p, o) for p, o in nexts.items()],
                                                     consumer.consumer_group_metadata(), 30)
                for attempt in range(3):
                    try:
                        producer.commit_transaction(30)
                        break
                    except KafkaException as e:
                        if not e.args[0].retriable() or attempt == 2:
                            raise
                out({"txn": n, "records": len(msgs), "committed": True,
                     "offsets": {str(p): o for p, o in nexts.items()}})
            except KafkaException as e:
                err = e.args[0]
                if not err.txn_requires_abort():
                    raise
                producer.abort_transaction(30)
                rewind()
                out({"txn": n, "records": len(msgs), "committed": False, "reason": err.name()})
            n += 1
    finally:
        consumer.close()
    out({"done": True, "txns": n})


if __name__ == "__main__":
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    try:
        main(*sys.argv[1:])
    except Exception as e:  # noqa: BLE001 - any failure ends this incarnation; a new one takes over
        out({"error": repr(e)})
        sys.exit(1)
