"""Kafka Connect (issue 15 item 3): an unmodified Apache Kafka Connect 4.4.0 distributed
worker (connect-runtime from Maven Central, `ConnectDistributed` as connect-distributed.sh
runs it) against a real broker.

* The worker creates its config/offset/status topics itself; it checks with
  DescribeConfigs that they are `cleanup.policy=compact` and refuses to start otherwise
  (tested with a `delete` config topic made beforehand).
* `exactly.once.source.support=enabled` (KIP-618): every source task writes records and
  offsets in one transaction under its own transactional.id, the leader fences zombie
  tasks (Admin.fenceProducers) and the config topic is written by a transactional producer.
* The REST API: GET /, /connectors, /connector-plugins, POST connectors, status.
* FileStreamSource -> topic -> FileStreamSink across a `kill -9` of the worker: the topic
  read read_committed holds every input line exactly once, in order (exactly-once source).
  The sink file is at-least-once by Kafka's design: FileStreamSinkTask writes each record
  when it gets it and the worker commits the consumer offsets only after flush()
  (every offset.flush.interval.ms), so a kill -9 between the two replays the records
  since the last commit. The test asserts exactly that: every line, in order, only
  replays of already-written stretches, and the restarted sink resuming exactly at its
  group's committed offset.
* A chain of SMTs from connect-transforms on a source connector, checked on the topic.

The FileStream connectors are connect-file 4.3.1, installed as a plugin (see
compat/connect/file-plugin/pom.xml for why not 4.4.0). One worker JVM serves the whole
module (a module fixture; `xdist_group` keeps the tests on one pytest worker).
"""

import json
import os
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from clients import cf_admin, cf_consumer, cf_partitions
from conftest import ROOT, free_port

pytestmark = pytest.mark.xdist_group("connect")

DEPS = ROOT / "target" / "compat-deps" / "connect"
LIBS = DEPS / "libs"
PLUGINS = DEPS / "plugins"
START_TIMEOUT = 120.0


class ConnectWorker:
    """One Kafka Connect distributed worker process; restartable with the same config,
    REST port and worker id."""

    def __init__(self, workdir: Path, bootstrap: str):
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "worker.log"
        self.proc = None
        self.starts = 0
        run = uuid.uuid4().hex[:8]
        self.group = f"connect-{run}"
        self.topics = {k: f"connect-{run}-{k}" for k in ("configs", "offsets", "status")}
        props = {
            "bootstrap.servers": bootstrap,
            "group.id": self.group,
            "config.storage.topic": self.topics["configs"],
            "offset.storage.topic": self.topics["offsets"],
            "status.storage.topic": self.topics["status"],
            "config.storage.replication.factor": "1",
            "offset.storage.replication.factor": "1",
            "status.storage.replication.factor": "1",
            "offset.storage.partitions": "5",
            "status.storage.partitions": "1",
            "key.converter": "org.apache.kafka.connect.storage.StringConverter",
            "value.converter": "org.apache.kafka.connect.storage.StringConverter",
            "exactly.once.source.support": "enabled",
            "listeners": self.url,
            "rest.advertised.host.name": "127.0.0.1",
            "rest.advertised.port": str(self.port),
            "plugin.path": str(PLUGINS),
            # Every plugin here has ServiceLoader manifests: skip the slow reflective scan.
            "plugin.discovery": "service_load",
            # Sink tasks commit their consumer offsets (after flush) this often.
            "offset.flush.interval.ms": "1000",
            # Sink tasks must not see the records of a source transaction that the kill aborted.
            "consumer.isolation.level": "read_committed",
            # The restarted worker rejoins once the killed one's session expired (6 s, the
            # broker's minimum) and gets its connectors back without the default 5-minute
            # wait for a departed worker to return.
            "session.timeout.ms": "6000",
            "heartbeat.interval.ms": "2000",
            # Same for the sink tasks' consumer groups (the consumer's default is 45 s).
            "consumer.session.timeout.ms": "6000",
            "consumer.heartbeat.interval.ms": "2000",
            "scheduled.rebalance.max.delay.ms": "1000",
        }
        self.props_path = workdir / "worker.properties"
        self.props_path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        self.log4j_path = workdir / "log4j2.properties"
        self.log4j_path.write_text(
            "rootLogger.level=INFO\nrootLogger.appenderRef.out.ref=OUT\nappender.out.type=Console\n"
            "appender.out.name=OUT\nappender.out.layout.type=PatternLayout\n"
            "appender.out.layout.pattern=[%d] %p %m (%c)%n\n"
            # The REST access log and the clients' config dumps drown what matters.
            "logger.rest.name=org.apache.kafka.connect.runtime.rest.RestServer\nlogger.rest.level=WARN\n"
            "logger.cfg.name=org.apache.kafka.common.config.AbstractConfig\nlogger.cfg.level=WARN\n")

    def start(self):
        self.launch()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"connect worker exited with {self.proc.returncode}\n{self.log_tail()}")
            try:
                # /connectors answers only once the herder has read the config topic.
                self.get("/connectors", timeout=2)
                return self
            except (OSError, urllib.error.URLError, RestError):
                time.sleep(0.5)
        raise AssertionError(f"connect worker REST not ready within {START_TIMEOUT}s\n{self.log_tail()}")

    def launch(self):
        """Starts the JVM without waiting for it."""
        self.starts += 1
        log = open(self.log_path, "ab")
        log.write(f"\n===== worker start #{self.starts}\n".encode())
        log.flush()
        self.proc = subprocess.Popen(
            ["java", "-Xms128m", "-Xmx512m", f"-Dlog4j2.configurationFile={self.log4j_path}",
             "-cp", f"{LIBS}/*", "org.apache.kafka.connect.cli.ConnectDistributed", str(self.props_path)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, cwd=self.workdir)
        log.close()

    def _signal(self, sig):
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def kill9(self):
        if self.proc is None:
            return
        self._signal(signal.SIGKILL)
        self.proc.wait(10)
        self.proc = None

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                pass
        self._signal(signal.SIGKILL)
        self.proc.wait(10)
        self.proc = None

    def request(self, method, path, body=None, timeout=30):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json", "Accept": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                text = resp.read().decode()
                return resp.status, (json.loads(text) if text else None)
        except urllib.error.HTTPError as e:
            raise RestError(e.code, e.read().decode(errors="replace")) from None

    def get(self, path, timeout=30):
        return self.request("GET", path, timeout=timeout)[1]

    def create_connector(self, name, config):
        # 409 (rebalance in progress) is the worker asking to retry.
        deadline = time.monotonic() + 60
        while True:
            try:
                status, body = self.request("POST", "/connectors", {"name": name, "config": config})
                assert status == 201, (status, body)
                return body
            except RestError as e:
                if e.code != 409 or time.monotonic() > deadline:
                    raise

    def wait_running(self, name, tasks=1, timeout=60):
        """Status of connector `name` once it and `tasks` tasks are RUNNING (fails on FAILED)."""
        deadline = time.monotonic() + timeout
        status = None
        while time.monotonic() < deadline:
            try:
                status = self.get(f"/connectors/{name}/status")
            except RestError as e:
                status = e
            else:
                states = [status["connector"]["state"]] + [t["state"] for t in status["tasks"]]
                assert "FAILED" not in states, f"{name} failed: {json.dumps(status, indent=1)}\n{self.log_tail()}"
                if len(status["tasks"]) == tasks and set(states) == {"RUNNING"}:
                    return status
            time.sleep(0.3)
        raise AssertionError(f"{name} not RUNNING within {timeout}s: {status}\n{self.log_tail()}")

    def log_tail(self, lines=60):
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no worker log)"


class RestError(Exception):
    def __init__(self, code, body):
        super().__init__(f"HTTP {code}: {body}")
        self.code = code


@pytest.fixture(scope="module")
def connect(broker, tmp_path_factory):
    if not (LIBS / "connect-runtime-4.4.0.jar").exists() or not (PLUGINS / "connect-file").is_dir():
        pytest.fail(f"Kafka Connect jars missing under {DEPS}: run scripts/compat-deps.sh")
    worker = ConnectWorker(tmp_path_factory.mktemp("connect"), broker.bootstrap)
    try:
        worker.start()
        yield worker
    finally:
        worker.stop()


def topic_config(bootstrap, topic, name):
    from confluent_kafka.admin import ConfigResource, ResourceType

    admin = cf_admin(bootstrap)
    res = ConfigResource(ResourceType.TOPIC, topic)
    entries = admin.describe_configs([res], request_timeout=20)[res].result(timeout=30)
    return entries[name].value


def read_committed(bootstrap, topic, at_least, timeout_s=40):
    """Every record of single-partition `topic` as (offset, key, value), read read_committed
    up to the partition's end once at least `at_least` records arrived."""
    from confluent_kafka import OFFSET_BEGINNING, KafkaError, TopicPartition

    c = cf_consumer(bootstrap, **{"isolation.level": "read_committed", "enable.partition.eof": True})
    try:
        parts = cf_partitions(c, topic)
        assert parts == [0], f"{topic} should have one partition: {parts}"
        c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        got = []
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    if len(got) >= at_least:
                        return got
                    continue
                raise AssertionError(f"consume error: {m.error()}")
            got.append((m.offset(), None if m.key() is None else m.key().decode(), m.value().decode()))
        raise AssertionError(f"{topic}: {len(got)} committed records within {timeout_s}s, expected {at_least}")
    finally:
        c.close()


def test_rest_api_and_compacted_internal_topics(connect, broker):
    root = connect.get("/")
    assert root["version"] == "4.4.0"
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": broker.bootstrap})  # the future dies with its handle
    cluster = admin.describe_cluster(request_timeout=20).result(30)
    assert root["kafka_cluster_id"] == cluster.cluster_id
    assert isinstance(connect.get("/connectors"), list)
    plugins = {p["class"] for p in connect.get("/connector-plugins")}
    assert {"org.apache.kafka.connect.file.FileStreamSourceConnector",
            "org.apache.kafka.connect.file.FileStreamSinkConnector"} <= plugins
    # The worker created its topics compacted (and checked them with DescribeConfigs).
    for topic in connect.topics.values():
        assert topic_config(broker.bootstrap, topic, "cleanup.policy") == "compact", topic
    # Unknown connector: Connect's own 404 body.
    with pytest.raises(RestError) as e:
        connect.get("/connectors/no-such-connector/status")
    assert e.value.code == 404


def test_worker_refuses_a_config_topic_that_is_not_compacted(broker, tmp_path):
    """Connect reads the config topic's cleanup.policy with DescribeConfigs and refuses to
    start on a `delete` topic (TopicAdmin.verifyTopicCleanupPolicyOnlyCompact): the broker
    must report the policy as Kafka does, or the worker would run on a topic that loses
    its connector configs."""
    from clients import cf_create_topic

    worker = ConnectWorker(tmp_path, broker.bootstrap)
    cf_create_topic(broker.bootstrap, worker.topics["configs"], 1, {"cleanup.policy": "delete"})
    refusal = (f"Topic '{worker.topics['configs']}' supplied via the 'config.storage.topic' property is "
               "required to have 'cleanup.policy=compact'")
    try:
        worker.launch()
        deadline = time.monotonic() + START_TIMEOUT
        while refusal not in worker.log_path.read_text(errors="replace"):
            assert time.monotonic() < deadline, f"worker did not refuse the topic\n{worker.log_tail()}"
            assert "Herder started" not in worker.log_path.read_text(errors="replace"), worker.log_tail()
            time.sleep(0.3)
        # Its herder has exited: no REST answer for connectors ever comes.
        with pytest.raises((OSError, urllib.error.URLError, RestError)):
            worker.get("/connectors", timeout=2)
    finally:
        # The refusing worker takes ~45 s to wind down its executors; nothing to keep.
        worker.kill9()


def source_config(path, topic, **extra):
    cfg = {
        "connector.class": "FileStreamSource", "file": str(path), "topic": topic, "tasks.max": "1",
        # Connect creates the topic (CreateTopics with these settings) before the first send.
        "topic.creation.default.partitions": "1", "topic.creation.default.replication.factor": "1",
        # Refuse to run unless the worker can give this connector exactly-once delivery.
        "exactly.once.support": "required",
    }
    cfg.update(extra)
    return cfg


def check_at_least_once_in_order(out, expected):
    """`out` must be `expected` delivered at least once, in order: no line missing, nothing
    foreign, and a line only ever followed by its successor or by an earlier line that
    starts a replay (records since the last offset commit, delivered again). Returns
    (replayed lines, replays)."""
    index = {line: i for i, line in enumerate(expected)}
    foreign = [line for line in out if line not in index]
    assert not foreign, f"lines nobody wrote in the sink file: {foreign[:5]}"
    nxt, prev, rewinds, replayed = 0, -1, 0, 0
    for line in out:
        i = index[line]
        assert i <= nxt, f"sink skipped from {expected[nxt]!r} to {line!r}"
        if i != prev + 1:
            rewinds += 1
        if i < nxt:
            replayed += 1
        else:
            nxt += 1
        prev = i
    assert nxt == len(expected), f"sink file stops at {nxt} of {len(expected)} lines"
    return replayed, rewinds


class LineWriter(threading.Thread):
    """Appends numbered lines to a file at a steady pace until stopped."""

    def __init__(self, path, per_tick=20, tick_s=0.1):
        super().__init__(daemon=True)
        self.path, self.per_tick, self.tick_s = path, per_tick, tick_s
        self.lines = []
        self.halt = threading.Event()

    def run(self):
        with open(self.path, "a") as f:
            while not self.halt.is_set():
                batch = [f"line-{len(self.lines) + k:06d} {uuid.uuid4().hex}" for k in range(self.per_tick)]
                f.write("".join(x + "\n" for x in batch))
                f.flush()
                self.lines.extend(batch)
                time.sleep(self.tick_s)

    def stop(self):
        self.halt.set()
        self.join(10)
        return list(self.lines)


def sink_lines(path):
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    return text.splitlines()


def wait_sink(path, n, timeout_s, worker):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if len(set(sink_lines(path))) >= n:
            return
        time.sleep(0.2)
    raise AssertionError(f"sink file has {len(set(sink_lines(path)))} distinct lines, waited for {n}\n"
                         f"{worker.log_tail()}")


def committed_offset(bootstrap, group, topic):
    """The group's committed offset for partition 0 of `topic` (-1001 when none)."""
    from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition

    admin = cf_admin(bootstrap)
    req = ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0)])
    res = admin.list_consumer_group_offsets([req], request_timeout=20)[group].result(30)
    return res.topic_partitions[0].offset


def test_file_pipeline_every_line_once_across_worker_kill9(connect, broker, tmp_path):
    run = uuid.uuid4().hex[:8]
    topic, src, sink = f"connect-lines-{run}", f"file-src-{run}", f"file-sink-{run}"
    in_path, out_path = tmp_path / "in.txt", tmp_path / "out.txt"
    in_path.write_text("")
    writer = LineWriter(in_path)
    try:
        connect.create_connector(src, source_config(in_path, topic))
        connect.create_connector(sink, {"connector.class": "FileStreamSink", "file": str(out_path),
                                        "topics": topic, "tasks.max": "1"})
        assert {src, sink} <= set(connect.get("/connectors"))
        for name, kind in ((src, "source"), (sink, "sink")):
            status = connect.wait_running(name)
            assert status["type"] == kind and status["tasks"][0]["worker_id"] == f"127.0.0.1:{connect.port}"
        assert connect.get(f"/connectors/{src}/config")["file"] == str(in_path)
        writer.start()

        # Mid-stream, once the sink committed offsets (its consumer group is connect-<name>):
        # lines keep coming while the worker is killed and while it is down.
        wait_sink(out_path, 200, 60, connect)
        deadline = time.monotonic() + 30
        while committed_offset(broker.bootstrap, f"connect-{sink}", topic) <= 0:
            assert time.monotonic() < deadline, f"sink committed no offset\n{connect.log_tail()}"
            time.sleep(0.2)
        # Kill right after the sink wrote more lines: most likely before it committed them,
        # so the restarted sink has a stretch to replay.
        seen = len(sink_lines(out_path))
        while len(sink_lines(out_path)) <= seen:
            assert time.monotonic() < deadline, f"sink stopped writing\n{connect.log_tail()}"
            time.sleep(0.01)
        connect.kill9()
        killed_at = len(sink_lines(out_path))
        time.sleep(1)  # a commit the killed worker had already sent lands first
        resume_at = committed_offset(broker.bootstrap, f"connect-{sink}", topic)
        connect.start()
        for name in (src, sink):
            connect.wait_running(name, timeout=90)
        # More lines after the restart, then the input ends.
        target = len(writer.lines) + 200
        while len(writer.lines) < target:
            assert writer.is_alive()
            time.sleep(0.1)
    finally:
        expected = writer.stop() if writer.is_alive() else list(writer.lines)

    # The topic, read read_committed: every line exactly once, in file order.
    got = read_committed(broker.bootstrap, topic, len(expected), timeout_s=60)
    values = [v for _, _, v in got]
    assert len(values) == len(expected) and values == expected, (
        f"topic holds {len(values)} committed records for {len(expected)} lines; "
        f"duplicates: {len(values) - len(set(values))}, missing: {len(set(expected) - set(values))}")

    # The sink file: every line, in order; replayed after the kill are exactly the
    # records from the sink group's committed offset to what the killed worker had written.
    wait_sink(out_path, len(expected), 60, connect)
    out = sink_lines(out_path)
    replayed, rewinds = check_at_least_once_in_order(out, expected)
    # The restarted sink task resumed exactly at its group's committed offset.
    first_uncommitted = next(i for i, (off, _, _) in enumerate(got) if off >= resume_at)
    assert out[killed_at] == expected[first_uncommitted], (
        f"after the restart the sink wrote {out[killed_at]!r} first; its offsets were committed up to "
        f"line {first_uncommitted} ({expected[first_uncommitted]!r}, offset {resume_at})")
    print(f"{len(expected)} lines, sink had {killed_at} when killed, committed to {first_uncommitted}, "
          f"{replayed} replayed in {rewinds} replay(s)")

    for name in (src, sink):
        connect.request("DELETE", f"/connectors/{name}")


def test_transformation_chain(connect, broker, tmp_path):
    run = uuid.uuid4().hex[:8]
    name, raw, routed = f"smt-src-{run}", f"smt-{run}-raw", f"smt-{run}-routed"
    in_path = tmp_path / "in.txt"
    lines = [f"order-{i} secret-{uuid.uuid4().hex[:6]}" for i in range(20)]
    in_path.write_text("".join(x + "\n" for x in lines))
    chain = {
        "transforms": "hoist,insert,key,extract,mask,route",
        # "line" -> {"line": "..."}
        "transforms.hoist.type": "org.apache.kafka.connect.transforms.HoistField$Value",
        "transforms.hoist.field": "line",
        "transforms.insert.type": "org.apache.kafka.connect.transforms.InsertField$Value",
        "transforms.insert.static.field": "origin",
        "transforms.insert.static.value": "gregor-compat",
        "transforms.insert.topic.field": "from_topic",
        "transforms.key.type": "org.apache.kafka.connect.transforms.ValueToKey",
        "transforms.key.fields": "line",
        "transforms.extract.type": "org.apache.kafka.connect.transforms.ExtractField$Key",
        "transforms.extract.field": "line",
        "transforms.mask.type": "org.apache.kafka.connect.transforms.MaskField$Value",
        "transforms.mask.fields": "line",
        "transforms.mask.replacement": "****",
        "transforms.route.type": "org.apache.kafka.connect.transforms.RegexRouter",
        "transforms.route.regex": "(.*)-raw",
        "transforms.route.replacement": "$1-routed",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "false",
    }
    connect.create_connector(name, source_config(in_path, raw, **chain))
    connect.wait_running(name)
    got = read_committed(broker.bootstrap, routed, len(lines))
    assert [k for _, k, _ in got] == lines
    assert [json.loads(v) for _, _, v in got] == [
        {"line": "****", "origin": "gregor-compat", "from_topic": raw} for _ in lines]
    # RegexRouter renamed the topic before Connect created it: nothing went to the raw name.
    from confluent_kafka.admin import AdminClient

    assert raw not in AdminClient({"bootstrap.servers": broker.bootstrap}).list_topics(timeout=20).topics
    connect.request("DELETE", f"/connectors/{name}")
