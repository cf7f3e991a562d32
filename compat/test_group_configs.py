"""GROUP (type 32) and CLIENT_METRICS (type 16) config resources driven by Apache
Kafka 4.4's own tools: kafka-configs.sh --entity-type groups / client-metrics and
kafka-client-metrics.sh (--alter, --list, --describe, --delete), their printed output
checked line by line. Written against real Kafka 4.4.0 first (COMPAT_SERVER=kafka)."""

import uuid

from test_kafka_tools import tool


def configs(bootstrap, *args, check=True):
    return tool("ConfigCommand", *args, bootstrap=bootstrap, check=check)


def client_metrics(bootstrap, *args, check=True):
    return tool("ClientMetricsCommand", *args, bootstrap=bootstrap, check=check)


def name(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def lines(out):
    return [l.strip() for l in out.splitlines() if l.strip()]


def test_group_configs_alter_describe_delete(bootstrap):
    group = name("grp")
    _, out, _ = configs(bootstrap, "--entity-type", "groups", "--entity-name", group, "--alter",
                        "--add-config", "share.auto.offset.reset=earliest,consumer.session.timeout.ms=50000")
    assert f"Completed updating config for group {group}." in out

    _, out, _ = configs(bootstrap, "--entity-type", "groups", "--entity-name", group, "--describe")
    assert lines(out) == [
        f"Dynamic configs for group {group} are:",
        "consumer.session.timeout.ms=50000 sensitive=false synonyms={DYNAMIC_GROUP_CONFIG:consumer.session.timeout.ms=50000, "
        "DEFAULT_CONFIG:group.consumer.session.timeout.ms=45000}",
        "share.auto.offset.reset=earliest sensitive=false synonyms={DYNAMIC_GROUP_CONFIG:share.auto.offset.reset=earliest, "
        "DEFAULT_CONFIG:share.auto.offset.reset=latest}",
    ]

    _, out, _ = configs(bootstrap, "--entity-type", "groups", "--entity-name", group, "--describe", "--all")
    all_lines = lines(out)
    assert all_lines[0] == f"All configs for group {group} are:"
    assert "share.delivery.count.limit=5 sensitive=false synonyms={DEFAULT_CONFIG:group.share.delivery.count.limit=5}" in all_lines
    assert "streams.assignor.name=sticky sensitive=false synonyms={DEFAULT_CONFIG:group.streams.assignors=sticky}" in all_lines
    assert "share.isolation.level=read_uncommitted sensitive=false synonyms={DEFAULT_CONFIG:share.isolation.level=read_uncommitted}" in all_lines
    # Kafka's public group configs, and no internal one unless set.
    assert len(all_lines) == 1 + 21, all_lines

    # Without a name: every group that has configs (ListConfigResources).
    _, out, _ = configs(bootstrap, "--entity-type", "groups", "--describe")
    assert f"Dynamic configs for group {group} are:" in out

    configs(bootstrap, "--entity-type", "groups", "--entity-name", group, "--alter",
            "--delete-config", "consumer.session.timeout.ms")
    _, out, _ = configs(bootstrap, "--entity-type", "groups", "--entity-name", group, "--describe")
    assert "consumer.session.timeout.ms" not in out
    assert "share.auto.offset.reset=earliest" in out


def test_bad_group_configs_are_refused_with_kafkas_messages(bootstrap):
    group = name("bad")

    def refused(setting):
        code, out, err = configs(bootstrap, "--entity-type", "groups", "--entity-name", group, "--alter",
                                 "--add-config", setting, check=False)
        return out + err

    assert "InvalidConfigurationException: Unknown group config name: nope" in refused("nope=1")
    assert ("Invalid value abc for configuration share.delivery.count.limit: Not a number of type INT"
            in refused("share.delivery.count.limit=abc"))
    assert ("Invalid value 1 for configuration share.delivery.count.limit: Value must be at least 2"
            in refused("share.delivery.count.limit=1"))
    assert "share.delivery.count.limit must be in the range 2 to 10 inclusive." in refused("share.delivery.count.limit=11")
    assert ("consumer.heartbeat.interval.ms must be in the range 5000 to 15000 inclusive."
            in refused("consumer.heartbeat.interval.ms=50000"))
    assert "streams.num.standby.replicas must be less than or equal to 2" in refused("streams.num.standby.replicas=3")
    assert "The value must be either 'earliest', 'latest'" in refused("share.auto.offset.reset=sometimes")
    # Kafka compares the strategy names as they are: upper case is refused.
    assert "The value must be either 'earliest', 'latest'" in refused("share.auto.offset.reset=EARLIEST")
    assert "The value must be either 'earliest', 'latest'" in refused("share.auto.offset.reset=BY_DURATION:PT1H")
    # Nothing was stored: the tool finds neither the group nor configs for it.
    _, out, _ = configs(bootstrap, "--entity-type", "groups", "--entity-name", group, "--describe")
    assert lines(out) == [f"The group '{group}' doesn't exist and doesn't have dynamic config."]


def test_client_metrics_subscriptions(bootstrap):
    sub = name("sub")
    _, out, _ = client_metrics(bootstrap, "--alter", "--name", sub, "--metrics", "org.apache.kafka.producer.",
                               "--interval", "1000")
    assert f"Altered client metrics config for {sub}." in out
    _, out, _ = client_metrics(bootstrap, "--list")
    assert sub in lines(out)
    _, out, _ = client_metrics(bootstrap, "--describe", "--name", sub)
    assert lines(out) == [
        f"Client metrics configs for {sub} are:",
        "interval.ms=1000",
        "match=",
        "metrics=org.apache.kafka.producer.",
    ]
    client_metrics(bootstrap, "--alter", "--name", sub, "--match", "client_id=app-.*,client_software_name=apache-kafka-java")
    _, out, _ = client_metrics(bootstrap, "--describe", "--name", sub)
    assert "match=client_id=app-.*,client_software_name=apache-kafka-java" in lines(out)

    _, out, _ = configs(bootstrap, "--entity-type", "client-metrics", "--entity-name", sub, "--describe", "--all")
    assert "interval.ms=1000 sensitive=false synonyms={DYNAMIC_CLIENT_METRICS_CONFIG:interval.ms=1000}" in lines(out)

    code, out, err = client_metrics(bootstrap, "--alter", "--name", sub, "--interval", "50", check=False)
    assert code != 0 and "interval must be between 100 and 3600000 (1 hour)" in out + err
    code, out, err = client_metrics(bootstrap, "--alter", "--name", sub, "--match", "client_colour=red", check=False)
    assert code != 0 and "Illegal client matching pattern: client_colour=red" in out + err

    _, out, _ = client_metrics(bootstrap, "--delete", "--name", sub)
    assert f"Deleted client metrics config for {sub}." in out
    _, out, _ = client_metrics(bootstrap, "--list")
    assert sub not in lines(out)
