"""Every client of the suite over TLS / SASL, behind two calls:

    produce(client, addr, sec, topic, n, prefix, **extra) -> Outcome(values acked, error)
    consume(client, addr, sec, topic, n, group=None)      -> Outcome(values read, error)

`sec` is a security.Sec. Values are PREFIX-0 .. PREFIX-(n-1) (key = value). `error`
is the client's own rendering of the first failure (exception class, librdkafka error
name, franz-go / kafkajs message ...) so tests can check each client reports the
failure the way its users see it. Clients: java (kafka-clients 4.4, java/SecClient.java),
confluent (confluent-kafka), kafka-python, franz (franz-go, go/security.go), kafkajs
(node/compat.js), kcat.
"""

import json
import logging
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from typing import List, Optional

from clients import FRANZ, JAVA_CP, NODE_DIR, ROOT, Rec, json_lines, json_records, unb64
from jvm import java_cmd

CLIENTS = ["java", "confluent", "kafka-python", "franz", "kafkajs", "kcat"]
# Clients whose drivers here consume as group members.
GROUP_CLIENTS = ["java", "confluent", "kafka-python", "franz", "kafkajs"]


@dataclass
class Outcome:
    values: List[str] = field(default_factory=list)
    error: Optional[str] = None

    def ok(self, n):
        assert self.error is None, f"client error: {self.error}"
        assert len(self.values) == n, f"{len(self.values)} of {n}: {self.values[:5]}"
        return self


def _run(cmd, env_extra=None, input_text=None, timeout=90):
    env = dict(os.environ)
    env.update(env_extra or {})
    try:
        p = subprocess.run(cmd, input=input_text, capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env)
    except subprocess.TimeoutExpired as e:
        return -1, (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or ""), \
            f"timed out after {timeout}s"
    return p.returncode, p.stdout, p.stderr


# ---- Java -------------------------------------------------------------------------------

def _java(addr, sec, args, props=None, timeout=90):
    p = {"bootstrap.servers": addr, "client.id": "sec-java"}
    p.update(sec.java())
    p.update(props or {})
    with tempfile.NamedTemporaryFile("w", suffix=".properties", delete=False) as f:
        for k, v in p.items():
            f.write(f"{k}={v}\n".replace("\\", "\\\\"))
        path = f.name
    try:
        rc, out, err = _run(java_cmd(JAVA_CP, "SecClient", path, *args), timeout=timeout)
    finally:
        os.unlink(path)
    lines = json_lines(out)
    if rc != 0 and not lines:
        return [{"error": "exit", "message": f"exit {rc}: {err[-2000:]}"}]
    return lines


def _java_outcome(lines):
    o = Outcome()
    for line in lines:
        if "error" in line:
            o.error = f"{line['error']}: {line.get('message')}"
            break
        if "value" in line:
            o.values.append(line["value"])
        elif "offset" in line:
            o.values.append(line["offset"])
    return o


def java_admin(addr, sec, *args, props=None):
    lines = _java(addr, sec, ["admin", *args], props)
    assert len(lines) == 1, lines
    return lines[0]


# ---- confluent-kafka ------------------------------------------------------------------------

FATAL_LOCAL = ("_AUTHENTICATION", "_SSL", "_TRANSPORT", "_ALL_BROKERS_DOWN", "_FATAL")


def _cf_conf(addr, sec, extra, errors):
    conf = {"bootstrap.servers": addr, "error_cb": lambda e: errors.append(e)}
    conf.update(sec.librdkafka())
    conf.update(extra or {})
    return conf


def _cf_err(e):
    return f"{e.name()}: {e.str()}"


def _cf_produce(addr, sec, topic, n, prefix, extra, timeout_s=25):
    from confluent_kafka import Producer

    errors = []
    conf = _cf_conf(addr, sec, {"acks": "all", "linger.ms": 5, "message.timeout.ms": 20000,
                                "enable.idempotence": False, **(extra or {})}, errors)
    txn = "transactional.id" in conf
    o = Outcome()
    try:
        p = Producer(conf)
        if txn:
            p.init_transactions(20)
            p.begin_transaction()
        delivered = []

        def cb(err, msg):
            delivered.append((err, msg))

        for i in range(n):
            v = f"{prefix}-{i}".encode()
            p.produce(topic, key=v, value=v, on_delivery=cb)
        deadline = time.monotonic() + timeout_s
        while len(delivered) < n and time.monotonic() < deadline:
            p.poll(0.2)
            fatal = [e for e in errors if e.name() in FATAL_LOCAL or e.fatal()]
            if fatal:
                o.error = _cf_err(fatal[0])
                return o
        for err, msg in delivered:
            if err is not None:
                o.error = _cf_err(err)
                return o
            o.values.append(msg.offset())
        if len(delivered) < n:
            o.error = "timeout: " + "; ".join(_cf_err(e) for e in errors[:3])
            return o
        if txn:
            p.commit_transaction(20)
    except Exception as e:  # KafkaException from the transactional API
        err = e.args[0] if e.args and hasattr(e.args[0], "name") else None
        o.error = _cf_err(err) if err is not None else f"{type(e).__name__}: {e}"
    return o


def _cf_consume(addr, sec, topic, n, group, extra, timeout_s=20):
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    errors = []
    conf = _cf_conf(addr, sec, {"group.id": group or "sec-unused", "enable.auto.commit": False,
                                "auto.offset.reset": "earliest", "fetch.wait.max.ms": 100, **(extra or {})}, errors)
    o = Outcome()
    c = Consumer(conf)
    try:
        if group:
            c.subscribe([topic])
        else:
            md = c.list_topics(topic, timeout=15)
            t = md.topics.get(topic)
            if t is None or t.error is not None:
                o.error = _cf_err(t.error) if t is not None else "no metadata"
                return o
            c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in sorted(t.partitions)])
        deadline = time.monotonic() + timeout_s
        while len(o.values) < n and time.monotonic() < deadline:
            m = c.poll(0.2)
            fatal = [e for e in errors if e.name() in FATAL_LOCAL or e.fatal()]
            if fatal:
                o.error = _cf_err(fatal[0])
                return o
            if m is None:
                continue
            if m.error():
                o.error = _cf_err(m.error())
                return o
            o.values.append(m.value().decode())
            if group:
                c.commit(m, asynchronous=False)
        return o
    except Exception as e:
        err = e.args[0] if e.args and hasattr(e.args[0], "name") else None
        o.error = _cf_err(err) if err is not None else f"{type(e).__name__}: {e}"
        return o
    finally:
        c.close()


# ---- kafka-python ----------------------------------------------------------------------------

class _KpLog(logging.Handler):
    """kafka-python logs why a bootstrap connection failed (e.g. SaslAuthenticationFailedError)
    and raises only KafkaTimeoutError; the tests check the logged cause."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())

    def __enter__(self):
        logging.getLogger("kafka").addHandler(self)
        return self

    def __exit__(self, *a):
        logging.getLogger("kafka").removeHandler(self)

    def explain(self, o):
        if o.error is not None:
            causes = [l for l in self.lines if "failed" in l.lower() or "error" in l.lower()]
            if causes:
                o.error += " (logged: " + " | ".join(causes[:3]) + ")"
        return o


def _kp_produce(addr, sec, topic, n, prefix, extra):
    with _KpLog() as log:
        return log.explain(_kp_produce1(addr, sec, topic, n, prefix, extra))


def _kp_consume(addr, sec, topic, n, group, extra, timeout_s=20):
    with _KpLog() as log:
        return log.explain(_kp_consume1(addr, sec, topic, n, group, extra, timeout_s))


def _kp_produce1(addr, sec, topic, n, prefix, extra):
    from kafka import KafkaProducer

    o = Outcome()
    try:
        p = KafkaProducer(bootstrap_servers=addr, acks="all", linger_ms=5, max_block_ms=10000, bootstrap_timeout_ms=8000,
                          request_timeout_ms=10000, **sec.kafka_python(), **(extra or {}))
    except Exception as e:
        o.error = f"{type(e).__name__}: {e}"
        return o
    try:
        txn = (extra or {}).get("transactional_id")
        if txn:
            p.init_transactions()
            p.begin_transaction()
        fs = [p.send(topic, key=f"{prefix}-{i}".encode(), value=f"{prefix}-{i}".encode()) for i in range(n)]
        p.flush(20)
        for f in fs:
            o.values.append(f.get(timeout=20).offset)
        if txn:
            p.commit_transaction()
    except Exception as e:
        o.error = f"{type(e).__name__}: {e}"
    finally:
        p.close(5)
    return o


def _kp_consume1(addr, sec, topic, n, group, extra, timeout_s):
    from kafka import KafkaConsumer, TopicPartition

    o = Outcome()
    try:
        c = KafkaConsumer(bootstrap_servers=addr, group_id=group, enable_auto_commit=False,
                          auto_offset_reset="earliest", fetch_max_wait_ms=100, request_timeout_ms=10000,
                          bootstrap_timeout_ms=8000,
                          **sec.kafka_python(), **(extra or {}))
    except Exception as e:
        o.error = f"{type(e).__name__}: {e}"
        return o
    try:
        deadline = time.monotonic() + timeout_s
        if group:
            c.subscribe([topic])
        else:
            parts = None
            while not parts and time.monotonic() < deadline:
                parts = c.partitions_for_topic(topic)
                if not parts:
                    time.sleep(0.2)
            if not parts:
                o.error = "no partitions"
                return o
            tps = [TopicPartition(topic, p) for p in sorted(parts)]
            c.assign(tps)
            c.seek_to_beginning(*tps)
        while len(o.values) < n and time.monotonic() < deadline:
            for _tp, msgs in c.poll(timeout_ms=200).items():
                o.values += [m.value.decode() for m in msgs]
            if group and o.values:
                c.commit()
    except Exception as e:
        o.error = f"{type(e).__name__}: {e}"
    finally:
        c.close()
    return o


# ---- franz-go / kafkajs (COMPAT_SECURITY) ----------------------------------------------------

def _records(n, prefix):
    return json_records([Rec(f"{prefix}-{i}".encode(), f"{prefix}-{i}".encode()) for i in range(n)])


def _lines_outcome(rc, out, err, consume):
    o = Outcome()
    for line in json_lines(out):
        if line.get("done"):
            continue
        if "error" in line:
            o.error = o.error or line["error"]
            continue
        o.values.append(unb64(line["value"]).decode() if consume else line["offset"])
    if o.error is None and (rc != 0 or (consume and "error" in err)):
        o.error = f"exit {rc}: {err[-2000:]}"
    return o


def franz_probe(addr, sec):
    """franz-go's own error for the connection (one Metadata request), or None."""
    rc, out, err = _run([str(FRANZ), "-b", addr, "probe", "-topic", "-"], {"COMPAT_SECURITY": sec.env_json()})
    lines = json_lines(out)
    if rc != 0 or not lines:
        return f"exit {rc}: {err[-2000:]}"
    return lines[0].get("error")


def _franz_produce(addr, sec, topic, n, prefix):
    # franz-go retries a refused connection (TLS, SASL) until the produce deadline and then
    # says only "context deadline exceeded": one Metadata request first gives its real error.
    err = franz_probe(addr, sec)
    if err is not None:
        return Outcome(error=err)
    rc, out, err = _run([str(FRANZ), "-b", addr, "produce", "-topic", topic],
                        {"COMPAT_SECURITY": sec.env_json(), "COMPAT_PRODUCE_TIMEOUT_MS": "15000"},
                        _records(n, prefix))
    return _lines_outcome(rc, out, err, False)


def _franz_consume(addr, sec, topic, n, group, timeout_s=20):
    args = [str(FRANZ), "-b", addr, "consume", "-topic", topic, "-count", str(n), "-timeout-ms", str(timeout_s * 1000)]
    if group:
        args += ["-group", group]
    rc, out, err = _run(args, {"COMPAT_SECURITY": sec.env_json()})
    o = _lines_outcome(rc, out, err, True)
    if o.error is None and len(o.values) < n and err.strip():
        o.error = err[-2000:]
    return o


def _kafkajs_produce(addr, sec, topic, n, prefix):
    rc, out, err = _run(["node", str(NODE_DIR / "compat.js"), addr, "produce", topic],
                        {"COMPAT_SECURITY": sec.env_json()}, _records(n, prefix))
    return _lines_outcome(rc, out, err, False)


def _kafkajs_consume(addr, sec, topic, n, group, timeout_s=20):
    if group:
        args = ["group-consume", topic, group, str(n), str(timeout_s * 1000)]
    else:
        args = ["consume", topic, str(n), str(timeout_s * 1000)]
    rc, out, err = _run(["node", str(NODE_DIR / "compat.js"), addr, *args], {"COMPAT_SECURITY": sec.env_json()})
    o = _lines_outcome(rc, out, err, True)
    if o.error is None and len(o.values) < n and err.strip():
        o.error = err[-2000:]
    return o


# ---- kcat ----------------------------------------------------------------------------------------

def _kcat_x(sec):
    args = []
    for k, v in sec.librdkafka().items():
        args += ["-X", f"{k}={v}"]
    return args


def _kcat_produce(addr, sec, topic, n, prefix):
    lines = "".join(f"{prefix}-{i}\n" for i in range(n))
    rc, out, err = _run(["kcat", "-b", addr, "-P", "-t", topic, "-X", "message.timeout.ms=15000",
                         "-X", "socket.timeout.ms=10000", *_kcat_x(sec)], input_text=lines, timeout=40)
    o = Outcome()
    if rc != 0 or "ERROR" in err:
        o.error = f"exit {rc}: {err[-2000:]}"
    else:
        o.values = list(range(n))  # kcat -P does not print offsets; consume checks them
    return o


def _kcat_consume(addr, sec, topic, n, timeout_s=20):
    rc, out, err = _run(["kcat", "-b", addr, "-C", "-t", topic, "-o", "beginning", "-c", str(n), "-e", "-q",
                         "-m", str(timeout_s), "-f", "%s\\n", "-X", "fetch.wait.max.ms=100", *_kcat_x(sec)],
                        timeout=timeout_s + 20)
    o = Outcome(values=[l for l in out.splitlines() if l])
    if rc != 0 or "ERROR" in err:
        o.error = f"exit {rc}: {err[-2000:]}"
    return o


# ---- dispatch ------------------------------------------------------------------------------------

def produce(client, addr, sec, topic, n=5, prefix="v", **extra):
    """`extra`: client properties in Java's spelling (e.g. transactional.id, enable.idempotence);
    supported for java, confluent (same names) and kafka-python (underscored)."""
    if client == "java":
        return _java_outcome(_java(addr, sec, ["produce", topic, n, prefix], extra))
    if client == "confluent":
        return _cf_produce(addr, sec, topic, n, prefix, extra)
    if client == "kafka-python":
        return _kp_produce(addr, sec, topic, n, prefix, {k.replace(".", "_"): v for k, v in extra.items()})
    assert not extra, f"{client}: no extra settings here"
    if client == "franz":
        return _franz_produce(addr, sec, topic, n, prefix)
    if client == "kafkajs":
        return _kafkajs_produce(addr, sec, topic, n, prefix)
    if client == "kcat":
        return _kcat_produce(addr, sec, topic, n, prefix)
    raise ValueError(client)


def consume(client, addr, sec, topic, n=5, group=None, timeout_s=20, **extra):
    if client == "java":
        props = dict(extra)
        if group:
            props["group.id"] = group
        return _java_outcome(_java(addr, sec, ["consume", topic, n, timeout_s * 1000], props,
                                   timeout=timeout_s + 90))
    if client == "confluent":
        return _cf_consume(addr, sec, topic, n, group, extra, timeout_s)
    if client == "kafka-python":
        return _kp_consume(addr, sec, topic, n, group, {k.replace(".", "_"): v for k, v in extra.items()}, timeout_s)
    if client == "franz":
        return _franz_consume(addr, sec, topic, n, group, timeout_s)
    if client == "kafkajs":
        return _kafkajs_consume(addr, sec, topic, n, group, timeout_s)
    if client == "kcat":
        assert group is None
        return _kcat_consume(addr, sec, topic, n, timeout_s)
    raise ValueError(client)


def values(n, prefix="v"):
    return [f"{prefix}-{i}" for i in range(n)]
