"""Kafka Streams 4.4.0 runs on the broker (issue 15 item 4): the WordCount app of
compat/streams/StreamsWordCount.java (flatMap -> group by word through a repartition topic ->
count in a state store with a compacted changelog -> output topic) with
processing.guarantee=exactly_once_v2, driven as a child process (streams_app.py).

One scenario per group protocol: a known corpus is produced in three rounds; the app
is SIGKILLed mid-processing twice (restarted on its state dir, then on a wiped state
dir so it restores from the changelog), and finally runs as two instances sharing the
tasks. A read_committed read of the output must hold, for every word, exactly the
counts 1, 2, ... up to the number of times it was produced, in order (no record cache,
so each increment is emitted): no input counted twice, none lost. Also checked: the
repartition topic purged by DeleteRecords (its log start offset advanced), the
changelog created with
cleanup.policy=compact and compacted by the broker's cleaner (fewer records than the
count updates the output holds).

Both group protocols must pass: classic, and streams (KIP-1071)."""

import random
import shutil
import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from streams_app import OutputReader, StreamsApp

PARTITIONS = 2
VOCABULARY = [f"w{i:02d}" for i in range(40)]
LINES_PER_ROUND = 300

BROKER_SETTINGS = {
    "group.initial.rebalance.delay.ms": "0",
    # The wiped-state instance has a new process id, so a new transactional.id: the
    # transaction its SIGKILLed predecessor left open ends only by timeout.
    "transaction.abort.timed.out.transaction.cleanup.interval.ms": "1000",
    "log.cleaner.backoff.ms": "300",
}

# group.protocol=streams: a SIGKILLed member's tasks move only when its session times out
# on the broker (Kafka 4.4's default and minimum: 45 s), so lower both, as Kafka allows.
STREAMS_GROUP_SETTINGS = {
    "group.streams.min.session.timeout.ms": "6000",
    "group.streams.session.timeout.ms": "6000",
    "group.streams.min.heartbeat.interval.ms": "1000",
    "group.streams.heartbeat.interval.ms": "1000",
}

# Streams config (the app passes key=value through); changelog.* only for the changelog.
APP_CONFIG = {
    "producer.transaction.timeout.ms": "5000",
    # No record cache: every count update goes to the output (and the changelog), so each
    # word's counts in the output must read exactly 1, 2, 3, ... N.
    "statestore.cache.max.bytes": "0",
    # Time-rolled changelog segments and an eager cleaner, so the changelog gets compacted
    # during the test (Kafka 4 refuses segment.bytes below 1 MiB).
    "changelog.segment.ms": "1000",
    "changelog.min.cleanable.dirty.ratio": "0.01",
    # 2 ms per word when counting: a round (~1800 words) takes seconds, so a SIGKILL after
    # the round's first output lands mid-round.
    "app.slow.ms": "2",
}


def corpus(seed):
    rnd = random.Random(seed)
    return [" ".join(rnd.choice(VOCABULARY) for _ in range(rnd.randint(3, 9))) for _ in range(LINES_PER_ROUND)]


def add_counts(counts, lines):
    for line in lines:
        for w in line.split():
            counts[w] = counts.get(w, 0) + 1


def produce(bootstrap, topic, lines, transactional_id=None):
    """`lines` to `topic` (keyed by line number) with an idempotent producer, or in one
    transaction when `transactional_id` is given."""
    conf = {"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5}
    if transactional_id:
        conf["transactional.id"] = transactional_id
    p = Producer(conf)
    if transactional_id:
        p.init_transactions(30)
        p.begin_transaction()
    errors = []
    for i, line in enumerate(lines):
        p.produce(topic, key=str(i).encode(), value=line.encode(),
                  on_delivery=lambda err, msg: err and errors.append(err))
    if transactional_id:
        p.commit_transaction(30)
    assert p.flush(30) == 0
    assert not errors, errors


def describe_config(bootstrap, topic, name):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    configs = admin.describe_configs([res])[res].result(30)
    return configs[name].value


def log_start_offsets(bootstrap, topic, partitions):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "streams-offsets"})
    try:
        return [c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[0] for p in range(partitions)]
    finally:
        c.close()


def count_committed_records(bootstrap, topic, partitions):
    """Records a read_committed consumer reads from `topic`'s start to its end."""
    reader = OutputReader(bootstrap, topic, partitions)
    try:
        reader.read_to_end()
        return len(reader.records)
    finally:
        reader.close()


def assert_exactly_once(records, expected):
    """Every word's counts in the output, in order, are exactly 1, 2, ... its expected count
    (the app runs without a record cache, so every increment is emitted): a count emitted
    twice means an input counted twice (a crash replayed input already counted), a count
    missing means an update lost."""
    per_word = {}
    for _, _, word, count in records:
        per_word.setdefault(word, []).append(count)
    assert {w: cs[-1] for w, cs in per_word.items()} == expected
    bad = {w: cs for w, cs in per_word.items() if cs != list(range(1, expected[w] + 1))}
    assert not bad, f"counts not 1..N in order: {bad}"


@pytest.fixture
def apps():
    """Every StreamsApp a test starts, SIGKILLed at teardown (whatever happened)."""
    started = []
    yield started
    for app in started:
        app.kill9()


PROTOCOLS = ["classic", "streams"]


def wordcount_topics(bootstrap, topic):
    """The app id and the created input and output topics of a WordCount run."""
    input_topic, output_topic = f"{topic}-in", f"{topic}-out"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic(input_topic, PARTITIONS, 1), NewTopic(output_topic, PARTITIONS, 1)]).values():
        f.result(30)
    return f"wc-{topic}"[:100], input_topic, output_topic


def await_output(reader, app, nothing_yet, timeout, what):
    """Reads the output until nothing_yet() is false; fails after timeout
    seconds or as soon as the app reports a failure."""
    deadline = time.monotonic() + timeout
    while nothing_yet():
        assert time.monotonic() < deadline, f"{what}\n{app.log_tail()}"
        why = app.failure()
        assert why is None, f"{why}\n{app.log_tail()}"
        reader.poll(0.2)


@pytest.mark.txn
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_wordcount_exactly_once_across_kill9(broker_factory, apps, tmp_path, topic, protocol):
    server = broker_factory({**BROKER_SETTINGS, **(STREAMS_GROUP_SETTINGS if protocol == "streams" else {})})
    bootstrap = server.bootstrap
    app_id, input_topic, output_topic = wordcount_topics(bootstrap, topic)

    def start(name, state_dir):
        config = dict(APP_CONFIG)
        if protocol == "classic":
            # Static membership: a restarted instance takes its predecessor's place at once
            # instead of waiting out the dead member's session timeout.
            config["group.instance.id"] = name
        app = StreamsApp(bootstrap, app_id, input_topic, output_topic, state_dir, protocol,
                         tmp_path / f"app-{name}.log", **config)
        apps.append(app)
        return app

    state_a, state_b = tmp_path / "state-a", tmp_path / "state-b"
    expected = {}
    reader = OutputReader(bootstrap, output_topic, PARTITIONS)
    try:
        # Round 1; SIGKILL as soon as the first counts are committed, then restart on the same state dir.
        round1 = corpus(1)
        produce(bootstrap, input_topic, round1)
        add_counts(expected, round1)
        a = start("a", state_a)
        await_output(reader, a, lambda: not reader.records, 90, "no output in 90 s")
        a.kill9()
        reader.poll(0.5)
        assert reader.counts != expected, "the first kill came after the whole round was counted"
        a = start("a", state_a)
        reader.wait_counts(expected, [a], timeout=60)

        # Round 2 (transactional producer); SIGKILL mid-round, wipe the state: restore from the changelog.
        before = dict(expected)
        round2 = corpus(2)
        produce(bootstrap, input_topic, round2, transactional_id=f"{topic}-producer")
        add_counts(expected, round2)
        await_output(reader, a, lambda: reader.counts == before, 60, "round 2 not processed")
        a.kill9()
        reader.poll(0.5)
        assert reader.counts != expected, "the second kill came after the whole round was counted"
        shutil.rmtree(state_a)

        # Round 3: the wiped instance and a second one share the tasks.
        a = start("a", state_a)
        b = start("b", state_b)
        reader.wait_counts(expected, [a, b], timeout=60)
        round3 = corpus(3)
        produce(bootstrap, input_topic, round3)
        add_counts(expected, round3)
        reader.wait_counts(expected, [a, b], timeout=60)
        assert a.active_tasks() and b.active_tasks(), \
            f"two instances, tasks not shared: a={a.active_tasks()} b={b.active_tasks()}"
        assert a.stop(), f"instance a did not close cleanly\n{a.log_tail()}"
        assert b.stop(), f"instance b did not close cleanly\n{b.log_tail()}"
    finally:
        reader.close()

    # The whole output, read_committed from the start: exactly the corpus' counts.
    final = OutputReader(bootstrap, output_topic, PARTITIONS)
    try:
        final.read_to_end()
        assert_exactly_once(final.records, expected)
        output_records = len(final.records)
    finally:
        final.close()

    # The repartition topic: Streams purged what it had consumed (DeleteRecords).
    repartition = f"{app_id}-words-repartition"
    starts = log_start_offsets(bootstrap, repartition, PARTITIONS)
    assert sum(starts) > 0, f"repartition topic never purged: log start offsets {starts}"

    # The changelog: created compacted, and compacted: every count update went to it as
    # to the output, so once cleaned it holds fewer records than the output.
    changelog = f"{app_id}-counts-changelog"
    assert describe_config(bootstrap, changelog, "cleanup.policy") == "compact"
    deadline = time.monotonic() + 30
    while True:
        kept = count_committed_records(bootstrap, changelog, PARTITIONS)
        if kept < output_records:
            break
        assert time.monotonic() < deadline, \
            f"changelog not compacted: {kept} records, as many as the {output_records} count updates"
        time.sleep(1)


def run_counted_streams_app(broker_factory, apps, tmp_path, topic, settings):
    """A broker with streams groups (plus `settings`) and one group.protocol=streams
    WordCount app that has counted one corpus: (bootstrap, app id, input topic)."""
    server = broker_factory({**BROKER_SETTINGS, **STREAMS_GROUP_SETTINGS, **settings})
    bootstrap = server.bootstrap
    app_id, input_topic, output_topic = wordcount_topics(bootstrap, topic)
    lines = corpus(1)
    produce(bootstrap, input_topic, lines)
    expected = {}
    add_counts(expected, lines)
    app = StreamsApp(bootstrap, app_id, input_topic, output_topic, tmp_path / "state", "streams",
                     tmp_path / "app.log", **{k: v for k, v in APP_CONFIG.items() if k != "app.slow.ms"})
    apps.append(app)
    reader = OutputReader(bootstrap, output_topic, PARTITIONS)
    try:
        reader.wait_counts(expected, [app], timeout=90)
    finally:
        reader.close()
    return bootstrap, app_id, input_topic


def test_kafka_streams_groups_tool_lists_and_describes(broker_factory, apps, tmp_path, topic):
    """Kafka 4.4's kafka-streams-groups.sh (StreamsGroupCommand) against a running
    group.protocol=streams app: --list shows the group, --describe its state, members
    and their active tasks, and the committed offsets."""
    from test_kafka_tools import tool

    bootstrap, app_id, input_topic = run_counted_streams_app(broker_factory, apps, tmp_path, topic, {})

    cmd = "streams.StreamsGroupCommand"
    _, out, _ = tool(cmd, "--list", bootstrap=bootstrap)
    assert app_id in out.split(), out
    _, out, _ = tool(cmd, "--list", "--state", bootstrap=bootstrap)
    assert [app_id, "Stable"] in [line.split() for line in out.splitlines()], out

    _, out, _ = tool(cmd, "--describe", "--group", app_id, "--state", bootstrap=bootstrap)
    row = next(line.split() for line in out.splitlines() if line.startswith(app_id))
    # GROUP COORDINATOR (ID) ASSIGNOR STATE #MEMBERS
    assert row[-3:] == ["sticky", "Stable", "1"], out

    # One member running every task: 2 subtopologies x 2 partitions, target reached.
    _, out, _ = tool(cmd, "--describe", "--group", app_id, "--members", "--verbose", bootstrap=bootstrap)
    row = next(line for line in out.splitlines() if line.startswith(app_id))
    assert " streams " in row, out
    assert "ACTIVE: 0:[0,1]; 1:[0,1]; TARGET-ACTIVE: 0:[0,1]; 1:[0,1];" in row, out

    # Committed offsets of the input and repartition topics, all consumed.
    _, out, _ = tool(cmd, "--describe", "--group", app_id, "--offsets", bootstrap=bootstrap)
    rows = [line.split() for line in out.splitlines() if line.startswith(app_id)]
    assert {(r[1], r[2]) for r in rows} == {(t, str(p)) for t in (input_topic, f"{app_id}-words-repartition")
                                          for p in range(PARTITIONS)}, out
    assert all(r[-1] == "0" for r in rows), out
