//! `listeners`, `advertised.listeners`, `inter.broker.listener.name` /
//! `security.inter.broker.protocol` and `listener.security.protocol.map`,
//! parsed into named endpoints and checked as Kafka's `KafkaConfig` checks
//! them. Which listeners are controller listeners comes from
//! `controller.listener.names` (see quorum.rs); Kafka never advertises those
//! to clients.

use super::{invalid, list, BrokerConfig, ConfigError};
use std::collections::BTreeMap;

pub const LISTENERS: &str = "listeners";
pub const ADVERTISED: &str = "advertised.listeners";
pub const INTER_BROKER: &str = "inter.broker.listener.name";
pub const INTER_BROKER_PROTOCOL: &str = "security.inter.broker.protocol";
pub const PROTOCOL_MAP: &str = "listener.security.protocol.map";
pub const CONTROLLER_NAMES: &str = "controller.listener.names";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SecurityProtocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    pub fn parse(name: &str) -> Option<SecurityProtocol> {
        Some(match name.to_ascii_uppercase().as_str() {
            "PLAINTEXT" => SecurityProtocol::Plaintext,
            "SSL" => SecurityProtocol::Ssl,
            "SASL_PLAINTEXT" => SecurityProtocol::SaslPlaintext,
            "SASL_SSL" => SecurityProtocol::SaslSsl,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }
}

/// One named endpoint of `listeners` or `advertised.listeners`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// Upper-cased, as Kafka normalises listener names.
    pub name: String,
    /// Empty for `NAME://:port`: every interface when bound.
    pub host: String,
    pub port: u16,
    pub protocol: SecurityProtocol,
    /// Named in `controller.listener.names`.
    pub is_controller: bool,
}

impl Listener {
    /// The socket address to bind: an empty host means every interface.
    pub fn bind_address(&self) -> String {
        let host = if self.host.is_empty() {
            "0.0.0.0"
        } else {
            self.host.as_str()
        };
        if host.contains(':') {
            format!("[{host}]:{}", self.port)
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

/// The parsed listener settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListenerSettings {
    /// `listeners`, in the order given: every one is bound.
    pub bound: Vec<Listener>,
    /// Kafka's effective advertised broker listeners: `advertised.listeners`
    /// (or `listeners`) without the controller listeners.
    pub advertised: Vec<Listener>,
    /// Kafka's effective advertised controller listeners, one per
    /// `controller.listener.names` entry this node listens on (KIP-853).
    pub advertised_controllers: Vec<Listener>,
    /// The listener brokers talk to each other on.
    pub inter_broker: String,
}

impl ListenerSettings {
    /// What Kafka fills in once the sockets are bound: an advertised endpoint
    /// without a host gets this machine's `hostname`, and one on port 0 the
    /// port its listener actually got.
    pub fn resolve(&mut self, bound: &[(String, std::net::SocketAddr)], hostname: &str) {
        let fill = |l: &mut Listener| {
            if l.host.is_empty() {
                l.host = hostname.to_string();
            }
            if l.port == 0 {
                if let Some((_, addr)) = bound.iter().find(|(name, _)| *name == l.name) {
                    l.port = addr.port();
                }
            }
        };
        self.advertised.iter_mut().for_each(fill);
        self.advertised_controllers.iter_mut().for_each(fill);
    }
}

/// `listener.security.protocol.map`: listener name to security protocol,
/// with Kafka's implicit PLAINTEXT mapping of controller listeners when the
/// map was left at its default and nothing uses SSL or SASL.
pub fn protocol_map(
    config: &BrokerConfig,
) -> Result<BTreeMap<String, SecurityProtocol>, ConfigError> {
    let value = config.value(PROTOCOL_MAP);
    let mut map = BTreeMap::new();
    for entry in list(value) {
        let (name, protocol) = entry
            .split_once(':')
            .ok_or_else(|| invalid(PROTOCOL_MAP, value, "expected NAME:PROTOCOL,..."))?;
        let protocol = SecurityProtocol::parse(protocol.trim()).ok_or_else(|| {
            invalid(
                PROTOCOL_MAP,
                value,
                format!("invalid security protocol `{}`", protocol.trim()),
            )
        })?;
        let name = name.trim().to_ascii_uppercase();
        if map.insert(name.clone(), protocol).is_some() {
            return Err(invalid(
                PROTOCOL_MAP,
                value,
                format!("listener name '{name}' is mapped twice"),
            ));
        }
    }
    if !config.is_explicit(PROTOCOL_MAP) {
        let controller_names = upper(list(config.value(CONTROLLER_NAMES)));
        let is_secure =
            |n: &str| SecurityProtocol::parse(n).is_some_and(|p| p != SecurityProtocol::Plaintext);
        let secure_in_use = controller_names.iter().any(|n| is_secure(n))
            || names_of(config.value(LISTENERS))
                .iter()
                .any(|n| is_secure(n));
        if !secure_in_use {
            for name in controller_names {
                map.entry(name).or_insert(SecurityProtocol::Plaintext);
            }
        }
    }
    Ok(map)
}

fn upper(names: Vec<String>) -> Vec<String> {
    names.into_iter().map(|n| n.to_ascii_uppercase()).collect()
}

/// The listener names of a `NAME://host:port,...` value.
pub fn names_of(value: &str) -> Vec<String> {
    list(value)
        .iter()
        .filter_map(|l| l.split_once("://").map(|(n, _)| n.to_ascii_uppercase()))
        .collect()
}

/// Parses a `NAME://host:port,...` list with Kafka's rules: every name has a
/// protocol mapping, names are distinct and (for `listeners`) so are ports.
fn endpoints(
    key: &str,
    value: &str,
    protocols: &BTreeMap<String, SecurityProtocol>,
    controller_names: &[String],
    distinct_ports: bool,
) -> Result<Vec<Listener>, ConfigError> {
    let mut parsed: Vec<Listener> = Vec::new();
    for text in list(value) {
        let malformed = || {
            invalid(
                key,
                value,
                format!("'{text}' is not of the form NAME://host:port"),
            )
        };
        let (name, address) = text.split_once("://").ok_or_else(malformed)?;
        let (host, port) = address.rsplit_once(':').ok_or_else(malformed)?;
        let port: u16 = port
            .parse()
            .map_err(|_| invalid(key, value, format!("'{text}' has no valid port (0-65535)")))?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let name = name.trim().to_ascii_uppercase();
        if name.is_empty() {
            return Err(malformed());
        }
        let protocol = *protocols.get(&name).ok_or_else(|| {
            invalid(
                key,
                value,
                format!("no security protocol defined for listener {name} in {PROTOCOL_MAP}"),
            )
        })?;
        if parsed.iter().any(|l| l.name == name) {
            return Err(invalid(
                key,
                value,
                format!("each listener must have a different name ({name} is used twice)"),
            ));
        }
        // Port 0 (any free port) may repeat, as in Kafka; two listeners on
        // one port would have the second fail to bind.
        if distinct_ports && port != 0 && parsed.iter().any(|l| l.port == port) {
            return Err(invalid(
                key,
                value,
                format!("each listener must have a different port ({port} is used twice)"),
            ));
        }
        let is_controller = controller_names.contains(&name);
        parsed.push(Listener {
            name,
            host,
            port,
            protocol,
            is_controller,
        });
    }
    Ok(parsed)
}

/// Parses and checks the listener settings. `broker` is whether this node
/// has the broker role (Kafka checks the advertised and inter-broker
/// listeners only then).
pub fn settings(
    config: &BrokerConfig,
    protocols: &BTreeMap<String, SecurityProtocol>,
    controller_names: &[String],
    broker: bool,
) -> Result<ListenerSettings, ConfigError> {
    let listeners_value = config.value(LISTENERS);
    let bound = endpoints(
        LISTENERS,
        listeners_value,
        protocols,
        controller_names,
        true,
    )?;
    if bound.is_empty() {
        return Err(invalid(LISTENERS, listeners_value, "no listener given"));
    }
    let advertised_all = if config.value(ADVERTISED).trim().is_empty() {
        bound.clone()
    } else {
        endpoints(
            ADVERTISED,
            config.value(ADVERTISED),
            protocols,
            controller_names,
            false,
        )?
    };
    let inter_broker = inter_broker_name(config, protocols)?;
    let advertised: Vec<Listener> = advertised_all
        .iter()
        .filter(|l| !l.is_controller)
        .cloned()
        .collect();
    // A controller is reached at its advertised controller endpoint when
    // there is one, otherwise at the one it listens on.
    let advertised_controllers = controller_names
        .iter()
        .filter_map(|name| {
            advertised_all
                .iter()
                .chain(bound.iter())
                .find(|l| &l.name == name)
                .cloned()
        })
        .collect::<Vec<_>>();
    let advertised_value = match config.value(ADVERTISED) {
        "" => listeners_value,
        v => v,
    };
    if broker {
        if advertised.is_empty() {
            return Err(invalid(
                ADVERTISED,
                advertised_value,
                format!(
                    "there must be at least one broker advertised listener. Perhaps all listeners \
                     appear in {CONTROLLER_NAMES}?"
                ),
            ));
        }
        if !advertised.iter().any(|l| l.name == inter_broker) {
            let key = if config.value(INTER_BROKER).trim().is_empty() {
                INTER_BROKER_PROTOCOL
            } else {
                INTER_BROKER
            };
            return Err(invalid(
                key,
                &inter_broker,
                format!(
                    "{INTER_BROKER} must be a listener name defined in {ADVERTISED}. The valid \
                     options based on currently configured listeners are {}",
                    join_names(&advertised)
                ),
            ));
        }
        if let Some(stray) = advertised
            .iter()
            .find(|a| !bound.iter().any(|l| l.name == a.name))
        {
            return Err(invalid(
                ADVERTISED,
                advertised_value,
                format!(
                    "{ADVERTISED} listener names must be equal to or a subset of the ones defined \
                     in {LISTENERS} ({} is not). The valid options based on the current \
                     configuration are {}",
                    stray.name,
                    join_names(&bound)
                ),
            ));
        }
    }
    if advertised
        .iter()
        .chain(advertised_controllers.iter())
        .any(|l| l.host == "0.0.0.0")
    {
        return Err(invalid(
            ADVERTISED,
            advertised_value,
            "cannot use the nonroutable meta-address 0.0.0.0. Use a routable IP address.",
        ));
    }
    Ok(ListenerSettings {
        bound,
        advertised,
        advertised_controllers,
        inter_broker,
    })
}

fn join_names(listeners: &[Listener]) -> String {
    listeners
        .iter()
        .map(|l| l.name.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// `inter.broker.listener.name`, or else the listener named after
/// `security.inter.broker.protocol` (default PLAINTEXT); never both.
fn inter_broker_name(
    config: &BrokerConfig,
    protocols: &BTreeMap<String, SecurityProtocol>,
) -> Result<String, ConfigError> {
    let name = config.value(INTER_BROKER).trim().to_ascii_uppercase();
    if !name.is_empty() {
        if config.is_explicit(INTER_BROKER_PROTOCOL) {
            return Err(invalid(
                INTER_BROKER,
                &name,
                format!("only one of {INTER_BROKER} and {INTER_BROKER_PROTOCOL} should be set"),
            ));
        }
        if !protocols.contains_key(&name) {
            return Err(invalid(
                INTER_BROKER,
                &name,
                format!("listener with name {name} defined in {INTER_BROKER} not found in {PROTOCOL_MAP}"),
            ));
        }
        return Ok(name);
    }
    let protocol_value = config.value(INTER_BROKER_PROTOCOL);
    let protocol = SecurityProtocol::parse(protocol_value.trim()).ok_or_else(|| {
        invalid(
            INTER_BROKER_PROTOCOL,
            protocol_value,
            format!("invalid security protocol `{protocol_value}`"),
        )
    })?;
    Ok(protocol.name().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listener(name: &str, host: &str, port: u16) -> Listener {
        Listener {
            name: name.to_string(),
            host: host.to_string(),
            port,
            protocol: SecurityProtocol::Plaintext,
            is_controller: name == "CONTROLLER",
        }
    }

    #[test]
    fn resolving_fills_in_hostless_and_port_zero_endpoints() {
        let mut settings = ListenerSettings {
            bound: vec![
                listener("PLAINTEXT", "", 9092),
                listener("CONTROLLER", "", 0),
            ],
            advertised: vec![listener("PLAINTEXT", "", 9092)],
            advertised_controllers: vec![listener("CONTROLLER", "10.0.0.1", 0)],
            inter_broker: "PLAINTEXT".to_string(),
        };
        let bound = [
            ("PLAINTEXT".to_string(), "0.0.0.0:9092".parse().unwrap()),
            ("CONTROLLER".to_string(), "0.0.0.0:40001".parse().unwrap()),
        ];
        settings.resolve(&bound, "node-a");
        assert_eq!(settings.advertised[0].host, "node-a");
        assert_eq!(settings.advertised[0].port, 9092);
        assert_eq!(settings.advertised_controllers[0].host, "10.0.0.1");
        assert_eq!(settings.advertised_controllers[0].port, 40001);
        // What is bound stays as configured.
        assert_eq!(settings.bound[1].port, 0);
    }
}
