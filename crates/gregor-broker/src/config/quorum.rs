//! KRaft quorum settings (`process.roles`, `controller.quorum.*`,
//! `controller.listener.names`, ...), checked as Kafka's `KafkaConfig`
//! checks them, so a Kafka server.properties that Kafka would refuse is
//! refused here too, with a one-line error naming the setting.
//!
//! Every KRaft shape runs: combined broker+controller nodes, dedicated
//! controllers (`process.roles=controller`) and dedicated brokers
//! (`process.roles=broker`, an observer of the quorum). Only a dynamic
//! quorum (KIP-853, several bootstrap servers) is refused, after Kafka's
//! checks, with a message saying so.

use super::listeners::{self, ListenerSettings, PROTOCOL_MAP};
use super::{invalid, list, BrokerConfig, ConfigError};

const ROLES: &str = "process.roles";
const VOTERS: &str = "controller.quorum.voters";
const BOOTSTRAP: &str = "controller.quorum.bootstrap.servers";
const CONTROLLER_NAMES: &str = "controller.listener.names";

/// One `controller.quorum.voters` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voter {
    pub id: i32,
    pub host: String,
    pub port: u16,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuorumSettings {
    pub broker: bool,
    pub controller: bool,
    pub voters: Vec<Voter>,
    pub bootstrap_servers: Vec<(String, u16)>,
    pub controller_listener_names: Vec<String>,
    pub election_timeout_ms: i32,
    pub fetch_timeout_ms: i32,
    pub broker_heartbeat_interval_ms: i32,
    pub broker_session_timeout_ms: i32,
    /// `metadata.log.max.record.bytes.between.snapshots` (at least 1).
    pub snapshot_max_bytes_between: i64,
    /// `metadata.log.max.snapshot.interval.ms` (at least 0; 0 = off).
    pub snapshot_max_interval_ms: i64,
}

fn parse_host_port(key: &str, value: &str, text: &str) -> Result<(String, u16), ConfigError> {
    let (host, port) = text
        .rsplit_once(':')
        .ok_or_else(|| invalid(key, value, format!("'{text}' is not of the form host:port")))?;
    let port: u16 = port
        .parse()
        .map_err(|_| invalid(key, value, format!("'{text}' has no valid port")))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(invalid(key, value, format!("'{text}' has no host")));
    }
    Ok((host.to_string(), port))
}

fn voters(config: &BrokerConfig) -> Result<Vec<Voter>, ConfigError> {
    let value = config.value(VOTERS);
    let mut voters: Vec<Voter> = Vec::new();
    for entry in list(value) {
        let (id, address) = entry.split_once('@').ok_or_else(|| {
            invalid(
                VOTERS,
                value,
                format!("'{entry}' is not of the form id@host:port"),
            )
        })?;
        let id: i32 = id
            .trim()
            .parse()
            .ok()
            .filter(|id| *id >= 0)
            .ok_or_else(|| invalid(VOTERS, value, format!("'{id}' is not a valid node id")))?;
        let (host, port) = parse_host_port(VOTERS, value, address.trim())?;
        if voters.iter().any(|v| v.id == id) {
            return Err(invalid(
                VOTERS,
                value,
                format!("voter id {id} is listed more than once"),
            ));
        }
        voters.push(Voter { id, host, port });
    }
    Ok(voters)
}

/// The quorum settings and the listeners, with every check Kafka makes.
pub fn settings(config: &BrokerConfig) -> Result<(QuorumSettings, ListenerSettings), ConfigError> {
    let roles_value = config.value(ROLES);
    let roles = list(roles_value);
    if roles.is_empty() {
        return Err(invalid(
            ROLES,
            roles_value,
            "must contain broker, controller or both",
        ));
    }
    let mut settings = QuorumSettings::default();
    for role in &roles {
        let seen = match role.as_str() {
            "broker" => std::mem::replace(&mut settings.broker, true),
            "controller" => std::mem::replace(&mut settings.controller, true),
            other => {
                return Err(invalid(
                    ROLES,
                    roles_value,
                    format!(
                        "unknown process role '{other}' (only 'broker' and 'controller' are allowed roles)"
                    ),
                ))
            }
        };
        if seen {
            return Err(invalid(ROLES, roles_value, "duplicate role names found"));
        }
    }
    let node_id = config.int("node.id")?;
    if node_id < 0 {
        return Err(invalid(
            "node.id",
            config.value("node.id"),
            "must be at least 0",
        ));
    }
    settings.voters = voters(config)?;
    let bootstrap_value = config.value(BOOTSTRAP);
    settings.bootstrap_servers = list(bootstrap_value)
        .iter()
        .map(|s| parse_host_port(BOOTSTRAP, bootstrap_value, s))
        .collect::<Result<_, _>>()?;
    settings.controller_listener_names = list(config.value(CONTROLLER_NAMES))
        .into_iter()
        .map(|n| n.to_ascii_uppercase())
        .collect();
    // Kafka's QuorumConfig takes these at least 0; the broker.* pair it
    // leaves unchecked, but Gregor will act on them, so they must be positive.
    settings.election_timeout_ms = at_least_zero(config, "controller.quorum.election.timeout.ms")?;
    settings.fetch_timeout_ms = at_least_zero(config, "controller.quorum.fetch.timeout.ms")?;
    settings.broker_heartbeat_interval_ms = config.positive("broker.heartbeat.interval.ms")? as i32;
    settings.broker_session_timeout_ms = config.positive("broker.session.timeout.ms")? as i32;
    // Kafka's KRaftConfigs: atLeast(1) and atLeast(0).
    settings.snapshot_max_bytes_between =
        config.positive("metadata.log.max.record.bytes.between.snapshots")?;
    settings.snapshot_max_interval_ms = config.int("metadata.log.max.snapshot.interval.ms")?;
    if settings.snapshot_max_interval_ms < 0 {
        let key = "metadata.log.max.snapshot.interval.ms";
        return Err(invalid(key, config.value(key), "must be at least 0"));
    }

    if let Some(dup) = settings
        .controller_listener_names
        .iter()
        .enumerate()
        .find(|(i, n)| settings.controller_listener_names[..*i].contains(n))
        .map(|(_, n)| n)
    {
        return Err(invalid(
            CONTROLLER_NAMES,
            config.value(CONTROLLER_NAMES),
            format!("duplicate listener name {dup}"),
        ));
    }
    let protocols = listeners::protocol_map(config)?;
    let names_value = config.value(CONTROLLER_NAMES);
    for name in &settings.controller_listener_names {
        if !protocols.contains_key(name) {
            return Err(invalid(
                CONTROLLER_NAMES,
                names_value,
                format!(
                    "controller listener with name {name} not found in {PROTOCOL_MAP} (an explicit \
                     security mapping for each controller listener is required if {PROTOCOL_MAP} is set)"
                ),
            ));
        }
    }
    let listener_settings = listeners::settings(
        config,
        &protocols,
        &settings.controller_listener_names,
        settings.broker,
    )?;
    let names: Vec<String> = listener_settings
        .bound
        .iter()
        .map(|l| l.name.clone())
        .collect();
    // With neither voters nor bootstrap servers this is Gregor's embedded
    // single-node mode (its own sole voter); Kafka would require one of them.
    let quorum_configured = !settings.voters.is_empty() || !settings.bootstrap_servers.is_empty();
    // A dedicated broker or controller is one node of many: it must be told
    // where the quorum is (Kafka requires this of every KRaft node).
    let combined = settings.broker && settings.controller;
    if !quorum_configured && !combined {
        return Err(invalid(
            VOTERS,
            config.value(VOTERS),
            format!(
                "if using {ROLES}, either {BOOTSTRAP} must contain the set of bootstrap \
                 controllers or {VOTERS} must contain a parseable set of controllers"
            ),
        ));
    }
    if quorum_configured {
        check_kraft(config, &settings, node_id as i32, &names)?;
    }
    Ok((settings, listener_settings))
}

/// Gregor's own limits, checked only once every Kafka check has passed, so
/// a configuration Kafka would refuse gets Kafka's reason first.
pub fn check_supported(config: &BrokerConfig, quorum: &QuorumSettings) -> Result<(), ConfigError> {
    check_static_quorum(config, quorum)
}

fn at_least_zero(config: &BrokerConfig, key: &str) -> Result<i32, ConfigError> {
    let n = config.int(key)?;
    if n < 0 {
        return Err(invalid(key, config.value(key), "must be at least 0"));
    }
    Ok(n as i32)
}

/// `KafkaConfig`'s KRaft role checks.
fn check_kraft(
    config: &BrokerConfig,
    settings: &QuorumSettings,
    node_id: i32,
    listeners: &[String],
) -> Result<(), ConfigError> {
    let names = &settings.controller_listener_names;
    let names_value = config.value(CONTROLLER_NAMES);
    let voter_ids: Vec<String> = settings.voters.iter().map(|v| v.id.to_string()).collect();
    let in_voters = settings.voters.iter().any(|v| v.id == node_id);
    if settings.controller {
        if !settings.voters.is_empty() && !in_voters {
            return Err(invalid(
                VOTERS,
                config.value(VOTERS),
                format!(
                    "if {ROLES} contains the 'controller' role, the node id {node_id} must be \
                     included in the set of voters {{{}}}",
                    voter_ids.join(", ")
                ),
            ));
        }
        if !names.iter().any(|n| listeners.contains(n)) {
            return Err(invalid(
                CONTROLLER_NAMES,
                names_value,
                "must contain at least one value appearing in the 'listeners' configuration \
                 when running the KRaft controller role",
            ));
        }
        if let Some(missing) = names.iter().find(|n| !listeners.contains(n)) {
            return Err(invalid(
                CONTROLLER_NAMES,
                names_value,
                format!(
                    "must only contain values appearing in the 'listeners' configuration when \
                     running the KRaft controller role ({missing} is not)"
                ),
            ));
        }
        if !settings.broker {
            // Kafka: a controller-only node advertises no broker endpoint.
            let advertised = config.value("advertised.listeners");
            if let Some(other) = listeners::names_of(advertised)
                .into_iter()
                .find(|l| !names.contains(l))
            {
                return Err(invalid(
                    "advertised.listeners",
                    advertised,
                    format!(
                        "must only contain KRaft controller listeners from {CONTROLLER_NAMES} \
                         when {ROLES}=controller ({other} is not)"
                    ),
                ));
            }
            if let Some(other) = listeners.iter().find(|l| !names.contains(l)) {
                return Err(invalid(
                    "listeners",
                    config.value("listeners"),
                    format!(
                        "must only contain KRaft controller listeners from {CONTROLLER_NAMES} \
                         when {ROLES}=controller ({other} is not)"
                    ),
                ));
            }
        }
    } else {
        if in_voters {
            return Err(invalid(
                VOTERS,
                config.value(VOTERS),
                format!(
                    "if {ROLES} contains just the 'broker' role, the node id {node_id} must not \
                     be included in the set of voters"
                ),
            ));
        }
        if names.is_empty() {
            return Err(invalid(
                CONTROLLER_NAMES,
                names_value,
                "must contain at least one value when running KRaft with just the broker role",
            ));
        }
        if let Some(name) = names.iter().find(|n| listeners.contains(n)) {
            return Err(invalid(
                CONTROLLER_NAMES,
                names_value,
                format!(
                    "must not contain a value appearing in the 'listeners' configuration when \
                     running KRaft with just the broker role ({name} does)"
                ),
            ));
        }
    }
    Ok(())
}

/// What Gregor cannot run yet: a dynamic quorum.
fn check_static_quorum(
    config: &BrokerConfig,
    settings: &QuorumSettings,
) -> Result<(), ConfigError> {
    const STATIC_ONLY: &str = "a dynamic quorum (KIP-853) is not supported yet; list every \
                               controller in controller.quorum.voters";
    if settings.bootstrap_servers.len() > 1 {
        return Err(invalid(BOOTSTRAP, config.value(BOOTSTRAP), STATIC_ONLY));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{parse_properties, BrokerConfig};

    /// Kafka 4's config/server.properties (combined, dynamic quorum).
    const KAFKA_SERVER_PROPERTIES: &str = "process.roles=broker,controller\nnode.id=1\n\
        controller.quorum.bootstrap.servers=localhost:9093\n\
        listeners=PLAINTEXT://:9092,CONTROLLER://:9093\ninter.broker.listener.name=PLAINTEXT\n\
        advertised.listeners=PLAINTEXT://localhost:9092,CONTROLLER://localhost:9093\n\
        controller.listener.names=CONTROLLER\n\
        listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL\n\
        log.dirs=/tmp/kraft-combined-logs\n";

    fn config(extra: &[(&str, &str)]) -> Result<BrokerConfig, String> {
        let mut settings = parse_properties(KAFKA_SERVER_PROPERTIES).unwrap();
        for (k, v) in extra {
            settings.insert(k.to_string(), v.to_string());
        }
        BrokerConfig::from_settings(settings).map_err(|e| e.to_string())
    }

    #[test]
    fn kafkas_stock_combined_config_is_accepted() {
        let stock = config(&[]).unwrap();
        assert_eq!(stock.listener.port, 9092);
        assert_eq!(stock.advertised.host, "localhost");
        assert_eq!(stock.quorum.controller_listener_names, ["CONTROLLER"]);
        assert_eq!(stock.quorum.election_timeout_ms, 1000);
        assert_eq!(stock.quorum.broker_session_timeout_ms, 9000);
        let l = &stock.listeners;
        assert_eq!(l.inter_broker, "PLAINTEXT");
        let bound: Vec<_> = l
            .bound
            .iter()
            .map(|l| (l.name.as_str(), l.bind_address(), l.is_controller))
            .collect();
        assert_eq!(
            bound,
            [
                ("PLAINTEXT", "0.0.0.0:9092".to_string(), false),
                ("CONTROLLER", "0.0.0.0:9093".to_string(), true)
            ]
        );
        // Clients never get the controller listener.
        assert_eq!(l.advertised.len(), 1);
        assert_eq!(l.advertised[0].name, "PLAINTEXT");
        assert_eq!(l.advertised_controllers.len(), 1);
        assert_eq!(l.advertised_controllers[0].host, "localhost");
        assert_eq!(l.advertised_controllers[0].port, 9093);
        // The static-quorum variant of the same file.
        let static_quorum = config(&[
            ("controller.quorum.bootstrap.servers", ""),
            ("controller.quorum.voters", "1@localhost:9093"),
        ])
        .unwrap();
        assert_eq!(static_quorum.quorum.voters.len(), 1);
    }

    #[test]
    fn several_named_listeners_are_parsed_and_defaults_follow_kafka() {
        let several = config(&[
            (
                "listeners",
                "PLAINTEXT://127.0.0.1:9092,INTERNAL://127.0.0.1:9094,CONTROLLER://127.0.0.1:9093",
            ),
            ("advertised.listeners", ""),
            ("inter.broker.listener.name", "INTERNAL"),
            (
                "listener.security.protocol.map",
                "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT",
            ),
        ])
        .unwrap();
        let l = &several.listeners;
        assert_eq!(l.bound.len(), 3);
        // advertised.listeners defaults to listeners, minus the controller.
        let advertised: Vec<_> = l.advertised.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(advertised, ["PLAINTEXT", "INTERNAL"]);
        assert_eq!(several.advertised.port, 9094, "the inter-broker listener");
        assert_eq!(l.advertised_controllers[0].host, "127.0.0.1");
        // security.inter.broker.protocol picks the listener of that name.
        let err = config(&[
            ("inter.broker.listener.name", ""),
            ("security.inter.broker.protocol", "SSL"),
        ])
        .unwrap_err();
        assert!(err.contains("'security.inter.broker.protocol'"), "{err}");
    }

    #[test]
    fn listener_checks_name_the_setting() {
        for (extra, key, words) in [
            (
                vec![("listeners", "PLAINTEXT://:9092,CONTROLLER://:9092")],
                "listeners",
                "different port",
            ),
            (
                vec![(
                    "listeners",
                    "PLAINTEXT://:9092,plaintext://:9094,CONTROLLER://:9093",
                )],
                "listeners",
                "different name",
            ),
            (
                vec![(
                    "listeners",
                    "PLAINTEXT://:9092,CONTROLLER://:9093,EXTRA://:9095",
                )],
                "listeners",
                "no security protocol defined for listener EXTRA",
            ),
            (
                vec![(
                    "advertised.listeners",
                    "PLAINTEXT://0.0.0.0:9092,CONTROLLER://localhost:9093",
                )],
                "advertised.listeners",
                "0.0.0.0",
            ),
            (
                vec![(
                    "advertised.listeners",
                    "SSL://localhost:9092,PLAINTEXT://localhost:9094",
                )],
                "advertised.listeners",
                "subset",
            ),
            (
                vec![("advertised.listeners", "CONTROLLER://localhost:9093")],
                "advertised.listeners",
                "at least one broker advertised listener",
            ),
            (
                vec![("security.inter.broker.protocol", "PLAINTEXT")],
                "inter.broker.listener.name",
                "only one of",
            ),
            (
                vec![("inter.broker.listener.name", "SSL")],
                "inter.broker.listener.name",
                "must be a listener name defined in advertised.listeners",
            ),
            (
                vec![("inter.broker.listener.name", "NOPE")],
                "inter.broker.listener.name",
                "not found in listener.security.protocol.map",
            ),
            (
                vec![(
                    "listener.security.protocol.map",
                    "PLAINTEXT:PLAINTEXT,CONTROLLER:TLS",
                )],
                "listener.security.protocol.map",
                "invalid security protocol",
            ),
        ] {
            let err = config(&extra).unwrap_err();
            assert!(err.contains(&format!("'{key}'")), "{extra:?}: {err}");
            assert!(err.contains(words), "{extra:?}: {err}");
            assert_eq!(err.lines().count(), 1, "{err}");
        }
    }

    #[test]
    fn kafkas_checks_run_before_the_multi_node_refusal() {
        let three = "1@localhost:9093,2@localhost:9094,3@localhost:9095";
        for (extra, key, words) in [
            (
                vec![("node.id", "4")],
                "controller.quorum.voters",
                "must be included in the set of voters",
            ),
            (
                vec![("controller.listener.names", "CONTROLLER,OTHER")],
                "controller.listener.names",
                "",
            ),
            (
                vec![("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT")],
                "controller.listener.names",
                "not found in listener.security.protocol.map",
            ),
            (
                vec![("listeners", "PLAINTEXT://:9092,CONTROLLER://:9092")],
                "listeners",
                "different port",
            ),
            (
                vec![("process.roles", "broker"), ("node.id", "4")],
                "controller.listener.names",
                "must not contain a value appearing in the 'listeners'",
            ),
            (
                vec![
                    ("process.roles", "controller"),
                    ("advertised.listeners", ""),
                ],
                "listeners",
                "must only contain KRaft controller listeners",
            ),
        ] {
            let mut all = vec![
                ("controller.quorum.bootstrap.servers", ""),
                ("controller.quorum.voters", three),
            ];
            all.extend(extra.iter().cloned());
            let err = config(&all).unwrap_err();
            assert!(err.contains(&format!("'{key}'")), "{extra:?}: {err}");
            assert!(err.contains(words), "{extra:?}: {err}");
            assert!(!err.contains("not supported yet"), "{extra:?}: {err}");
        }
        let err = config(&[
            ("controller.quorum.bootstrap.servers", ""),
            (
                "controller.quorum.voters",
                "1@localhost:9093,1@localhost:9094",
            ),
        ])
        .unwrap_err();
        assert!(err.contains("listed more than once"), "{err}");
    }

    #[test]
    fn kafkas_checks_name_the_setting() {
        for (extra, key) in [
            (vec![("process.roles", "broker,zookeeper")], "process.roles"),
            (vec![("process.roles", "broker,broker")], "process.roles"),
            (
                vec![("controller.quorum.voters", "2@localhost:9093")],
                "controller.quorum.voters",
            ),
            (
                vec![("controller.quorum.voters", "1@localhost:9093,1@other:9093")],
                "controller.quorum.voters",
            ),
            (
                vec![("controller.quorum.voters", "1@localhost")],
                "controller.quorum.voters",
            ),
            (
                vec![("controller.listener.names", "")],
                "controller.listener.names",
            ),
            (
                vec![("controller.listener.names", "CONTROLLER,OTHER")],
                "controller.listener.names",
            ),
            (
                vec![("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT")],
                "controller.listener.names",
            ),
            (
                vec![("inter.broker.listener.name", "CONTROLLER")],
                "inter.broker.listener.name",
            ),
            (
                vec![("broker.session.timeout.ms", "0")],
                "broker.session.timeout.ms",
            ),
            (
                vec![("process.roles", "broker")],
                "controller.listener.names",
            ),
            (vec![("node.id", "-1")], "node.id"),
        ] {
            let err = config(&extra).unwrap_err();
            assert!(err.contains(&format!("'{key}'")), "{extra:?}: {err}");
        }
        // A static quorum of combined nodes is accepted.
        assert!(config(&[(
            "controller.quorum.voters",
            "1@localhost:9093,2@localhost:9094,3@localhost:9095",
        )])
        .is_ok());
    }

    const THREE: &str = "1@localhost:9093,2@localhost:9094,3@localhost:9095";

    fn controller_only(extra: &[(&str, &str)]) -> Result<BrokerConfig, String> {
        let mut all = vec![
            ("process.roles", "controller"),
            ("controller.quorum.bootstrap.servers", ""),
            ("controller.quorum.voters", THREE),
            ("listeners", "CONTROLLER://127.0.0.1:9093"),
            ("advertised.listeners", ""),
        ];
        all.extend(extra.iter().cloned());
        config(&all)
    }

    fn broker_only(extra: &[(&str, &str)]) -> Result<BrokerConfig, String> {
        let mut all = vec![
            ("process.roles", "broker"),
            ("node.id", "4"),
            ("controller.quorum.bootstrap.servers", ""),
            ("controller.quorum.voters", THREE),
            ("listeners", "PLAINTEXT://127.0.0.1:9092"),
            ("advertised.listeners", "PLAINTEXT://localhost:9092"),
        ];
        all.extend(extra.iter().cloned());
        config(&all)
    }

    #[test]
    fn dedicated_controllers_and_brokers_are_accepted() {
        let controller = controller_only(&[]).unwrap();
        assert!(controller.quorum.controller && !controller.quorum.broker);
        // Its own endpoint is its controller listener; it advertises no broker one.
        assert_eq!(controller.listener.name, "CONTROLLER");
        assert_eq!(controller.listener.port, 9093);
        assert!(controller.listeners.advertised.is_empty());
        assert_eq!(controller.listeners.advertised_controllers.len(), 1);
        // What it registers (ControllerRegistration) is its advertised one.
        let advertised = controller_only(&[("advertised.listeners", "CONTROLLER://ctl:9093")])
            .unwrap()
            .listeners
            .advertised_controllers;
        assert_eq!(advertised[0].host, "ctl");

        let broker = broker_only(&[]).unwrap();
        assert!(broker.quorum.broker && !broker.quorum.controller);
        assert_eq!(broker.listener.name, "PLAINTEXT");
        assert_eq!(broker.advertised.host, "localhost");
        assert_eq!(broker.quorum.voters.len(), 3);
        assert!(broker.listeners.bound.iter().all(|l| !l.is_controller));
        // Kafka's single bootstrap server also names the quorum.
        assert!(broker_only(&[
            ("controller.quorum.voters", ""),
            ("controller.quorum.bootstrap.servers", "localhost:9093"),
        ])
        .is_ok());
    }

    #[test]
    fn dedicated_role_checks_name_the_setting_in_one_line() {
        let cases: Vec<(Result<BrokerConfig, String>, &str, &str)> = vec![
            (
                controller_only(&[("advertised.listeners", "PLAINTEXT://localhost:9092")]),
                "advertised.listeners",
                "must only contain KRaft controller listeners",
            ),
            (
                controller_only(&[("listeners", "CONTROLLER://:9093,PLAINTEXT://:9092")]),
                "listeners",
                "must only contain KRaft controller listeners",
            ),
            (
                controller_only(&[("node.id", "7")]),
                "controller.quorum.voters",
                "must be included in the set of voters",
            ),
            (
                controller_only(&[("controller.quorum.voters", "")]),
                "controller.quorum.voters",
                "either controller.quorum.bootstrap.servers",
            ),
            (
                broker_only(&[("node.id", "1")]),
                "controller.quorum.voters",
                "must not be included in the set of voters",
            ),
            (
                broker_only(&[("controller.listener.names", "")]),
                "controller.listener.names",
                "",
            ),
            (
                broker_only(&[
                    ("listeners", "PLAINTEXT://:9092,CONTROLLER://:9093"),
                    ("advertised.listeners", "PLAINTEXT://localhost:9092"),
                ]),
                "controller.listener.names",
                "must not contain a value appearing in the 'listeners'",
            ),
            (
                broker_only(&[("controller.quorum.voters", "")]),
                "controller.quorum.voters",
                "either controller.quorum.bootstrap.servers",
            ),
            (
                broker_only(&[
                    ("controller.quorum.voters", ""),
                    ("controller.quorum.bootstrap.servers", "a:9093,b:9093"),
                ]),
                "controller.quorum.bootstrap.servers",
                "dynamic quorum (KIP-853) is not supported yet",
            ),
        ];
        for (result, key, words) in cases {
            let err = result.unwrap_err();
            assert!(err.contains(&format!("'{key}'")), "{key}: {err}");
            assert!(err.contains(words), "{key}: {err}");
            assert_eq!(err.lines().count(), 1, "{err}");
        }
    }
}
