"""Kafka Streams 4.4.0 standby tasks and Interactive Queries on the broker (issue 15
item 4), with both group protocols: two WordCount instances (compat/streams/
StreamsWordCount.java) with one standby replica and `application.server` set.

- Each stateful task (count store) has a standby on the instance not running it, and
  the standby store is restored from the changelog: the local copy (stale stores
  allowed) holds every word's exact count.
- `metadataForAllStreamsClients()` shows both endpoints with their active and standby
  partitions, and `queryMetadataForKey` sends each word to the instance running its
  partition's task, naming the other as standby: with group.protocol=streams that map
  comes from the StreamsGroupHeartbeat response's PartitionsByUserEndpoint.
- Failover: the active instance is SIGKILLed; the survivor takes every task and counts
  the next round exactly once, from its standby state.

With group.protocol=streams the standby count is the broker's
`group.streams.num.standby.replicas`; with classic it is the client's
`num.standby.replicas`."""

import time

import pytest

from streams_app import OutputReader, StreamsApp
from test_streams import apps  # noqa: F401  (the fixture)
from test_streams import (APP_CONFIG, BROKER_SETTINGS, PARTITIONS, STREAMS_GROUP_SETTINGS, VOCABULARY,
                          add_counts, assert_exactly_once, corpus, produce, wordcount_topics)

ENDPOINTS = {"a": "localhost:17001", "b": "localhost:17002"}


def stateful_task(partition):
    """The count store's task of a partition (subtopology 1 reads the repartition topic)."""
    return f"1_{partition}"


@pytest.mark.txn
@pytest.mark.parametrize("protocol", ["classic", "streams"])
def test_standby_restored_iq_routes_and_failover(broker_factory, apps, tmp_path, topic, protocol):
    settings = dict(BROKER_SETTINGS)
    if protocol == "streams":
        settings.update(STREAMS_GROUP_SETTINGS)
        settings["group.streams.num.standby.replicas"] = "1"
    server = broker_factory(settings)
    bootstrap = server.bootstrap
    app_id, input_topic, output_topic = wordcount_topics(bootstrap, topic)

    def start(name):
        config = {k: v for k, v in APP_CONFIG.items() if k != "app.slow.ms"}
        config.update({"application.server": ENDPOINTS[name], "app.report.ms": "500",
                       "app.query.keys": ",".join(VOCABULARY)})
        if protocol == "classic":
            config["num.standby.replicas"] = "1"
            # A SIGKILLed classic member's tasks move when its session times out.
            config["session.timeout.ms"] = "6000"
            config["heartbeat.interval.ms"] = "1000"
        app = StreamsApp(bootstrap, app_id, input_topic, output_topic, tmp_path / f"state-{name}", protocol,
                         tmp_path / f"app-{name}.log", **config)
        apps.append(app)
        return app

    expected = {}
    round1 = corpus(1)
    produce(bootstrap, input_topic, round1)
    add_counts(expected, round1)
    a, b = start("a"), start("b")
    reader = OutputReader(bootstrap, output_topic, PARTITIONS)
    try:
        reader.wait_counts(expected, [a, b], timeout=90)

        # Standbys: every count task has one, on the instance not running it, and each
        # instance's copy (active or standby) of the store holds the exact counts.
        stateful = {stateful_task(p) for p in range(PARTITIONS)}

        def copies(meta):
            return set(meta["active"]) | set(meta["standby"])

        def restored(meta):
            return (len(meta["clients"]) == 2
                    and all(k["active"] in ENDPOINTS.values() for k in meta["keys"].values())
                    and all(k["local"] == expected[w] for w, k in meta["keys"].items()
                            if stateful_task(k["partition"]) in copies(meta)))

        deadline = time.monotonic() + 90
        while True:
            ma, mb = a.meta(), b.meta()
            if (ma and mb and restored(ma) and restored(mb)
                    and set(ma["standby"]) | set(mb["standby"]) == stateful
                    and not set(ma["standby"]) & set(mb["standby"])
                    and stateful <= copies(ma) | copies(mb)):
                break
            for app in (a, b):
                why = app.failure()
                assert why is None, f"{why}\n{app.log_tail()}"
            assert time.monotonic() < deadline, f"standbys not assigned and restored in 90 s: a={ma} b={mb}"
            time.sleep(0.3)
        for meta in (ma, mb):
            assert not set(meta["standby"]) & set(meta["active"]), meta
        # The standbys hold data: some word's count is read from a standby copy.
        assert any(stateful_task(k["partition"]) in m["standby"] and k["local"] == expected[w]
                   for m in (ma, mb) for w, k in m["keys"].items()), (ma, mb)

        # Interactive Queries routing, as both instances see it.
        for meta in (ma, mb):
            clients = {c["host"]: c for c in meta["clients"]}
            assert set(clients) == set(ENDPOINTS.values()), meta["clients"]
            assert any(c["standby"] for c in clients.values()), meta["clients"]
            for word, q in meta["keys"].items():
                runs_active = {"a": ma, "b": mb}
                owner = next(n for n, m in runs_active.items() if stateful_task(q["partition"]) in m["active"])
                other = "b" if owner == "a" else "a"
                assert q["active"] == ENDPOINTS[owner], (word, q)
                assert q["standbys"] == [ENDPOINTS[other]], (word, q)
        owner_of_0 = "a" if stateful_task(0) in ma["active"] else "b"

        # Failover: SIGKILL the instance running partition 0's count; the survivor, whose
        # standby has that state, takes over and counts the next round exactly once.
        assert stateful_task(0) in (mb if owner_of_0 == "a" else ma)["standby"]
        victim, survivor = (a, b) if owner_of_0 == "a" else (b, a)
        victim.kill9()
        round2 = corpus(2)
        produce(bootstrap, input_topic, round2)
        add_counts(expected, round2)
        started = time.monotonic()
        reader.wait_counts(expected, [survivor], timeout=30)
        took = time.monotonic() - started
        meta = survivor.wait_meta(lambda m: stateful <= set(m["active"]), 30, "survivor does not run every task")
        assert all(k["active"] == ENDPOINTS["b" if survivor is b else "a"] for k in meta["keys"].values()), meta
        assert survivor.stop(), f"survivor did not close cleanly\n{survivor.log_tail()}"
    finally:
        reader.close()

    final = OutputReader(bootstrap, output_topic, PARTITIONS)
    try:
        final.read_to_end()
        assert_exactly_once(final.records, expected)
    finally:
        final.close()
    # The dead member's session (6 s) plus catching up from the standby: well under the
    # minute a restore from scratch plus a rebalance could take.
    assert took < 30, f"failover took {took:.1f}s"
