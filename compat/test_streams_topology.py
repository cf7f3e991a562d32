"""Topology descriptions (KIP-1331) with Kafka Streams 4.4.0 and Kafka 4.4's
kafka-streams-groups.sh: with `group.streams.topology.description.plugin.class` set to
Kafka's in-memory plugin, the coordinator asks a group.protocol=streams member for its
topology description (StreamsGroupHeartbeat v1 TopologyDescriptionRequired), the
member pushes it (StreamsGroupTopologyDescriptionUpdate, API 93), and
`--describe --topology` prints it (StreamsGroupDescribe v1 IncludeTopologyDescription).
Without a plugin the tool finds no description."""

import time

import pytest

from test_streams import apps  # noqa: F401  (the fixture)
from test_streams import run_counted_streams_app

PLUGIN = "org.apache.kafka.server.streams.InMemoryTopologyDescriptionPlugin"


def run_app(broker_factory, apps, tmp_path, topic, settings):
    from test_kafka_tools import tool

    bootstrap, app_id, input_topic = run_counted_streams_app(broker_factory, apps, tmp_path, topic, settings)

    def describe_topology():
        return tool("streams.StreamsGroupCommand", "--describe", "--group", app_id, "--topology",
                    bootstrap=bootstrap, check=False)
    return app_id, input_topic, describe_topology


def test_topology_description_pushed_and_described(broker_factory, apps, tmp_path, topic):
    app_id, input_topic, describe_topology = run_app(
        broker_factory, apps, tmp_path, topic, {"group.streams.topology.description.plugin.class": PLUGIN})
    deadline = time.monotonic() + 30
    while True:
        rc, out, err = describe_topology()
        if rc == 0 and "Sub-topology: 0" in out:
            break
        assert time.monotonic() < deadline, f"no topology description in 30 s: rc={rc}\n{out}\n{err}"
        time.sleep(1)
    # What Topology.describe() prints, as the app pushed it.
    assert "Sub-topology: 1" in out, out
    assert "KSTREAM-SOURCE-0000000000" in out and input_topic in out, out
    assert "counts" in out, out  # the count store


def test_without_a_plugin_there_is_no_description(broker_factory, apps, tmp_path, topic):
    _, _, describe_topology = run_app(broker_factory, apps, tmp_path, topic, {})
    time.sleep(3)
    rc, out, err = describe_topology()
    assert "Sub-topology" not in out, out
