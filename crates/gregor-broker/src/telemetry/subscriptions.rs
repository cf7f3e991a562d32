//! KIP-714 client metrics subscriptions: Kafka's CLIENT_METRICS config
//! resource (type 16). Each named subscription has `metrics` (metric name
//! prefixes, `*` for all), `interval.ms` (push interval) and `match`
//! (`selector=regex` pairs on the client's identity); a client gets every
//! subscription whose selectors all match it. Names, defaults, validation
//! and messages are Kafka 4.4.0's `ClientMetricsConfigs`.

use gregor_metadata::topic_config::ConfigType;
use gregor_protocol::error_codes;
use regex::Regex;
use std::collections::BTreeMap;

pub const METRICS: &str = "metrics";
pub const INTERVAL_MS: &str = "interval.ms";
pub const MATCH: &str = "match";

pub const DEFAULT_INTERVAL_MS: i32 = 300_000;
const MIN_INTERVAL_MS: i64 = 100;
const MAX_INTERVAL_MS: i64 = 3_600_000;

/// The client identity selectors `match` may use.
pub const SELECTORS: [&str; 6] = [
    "client_instance_id",
    "client_id",
    "client_software_name",
    "client_software_version",
    "client_source_address",
    "client_source_port",
];

/// (name, type, default, documentation), in Kafka's order.
pub const CONFIGS: [(&str, ConfigType, &str, &str); 3] = [
    (
        METRICS,
        ConfigType::List,
        "",
        "Telemetry metric name prefix list",
    ),
    (
        INTERVAL_MS,
        ConfigType::Int,
        "300000",
        "Metrics push interval in milliseconds",
    ),
    (MATCH, ConfigType::List, "", "Client match criteria"),
];

/// A refusal: (error code, message).
pub type Refusal = (i16, String);

pub fn config_type(name: &str) -> Option<ConfigType> {
    CONFIGS.iter().find(|c| c.0 == name).map(|c| c.1)
}

fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// Kafka's `ClientMetricsConfigs.validate` of a subscription's configs as
/// they would be after a change.
pub fn validate(name: &str, configs: &BTreeMap<String, String>) -> Result<(), Refusal> {
    if name.is_empty() {
        return Err((
            error_codes::INVALID_REQUEST,
            "Subscription name can't be empty".to_string(),
        ));
    }
    for key in configs.keys() {
        if config_type(key).is_none() {
            return Err((
                error_codes::INVALID_REQUEST,
                format!("Unknown client metrics configuration: {key}"),
            ));
        }
    }
    if let Some(value) = configs.get(INTERVAL_MS) {
        let interval: i64 = value.trim().parse::<i32>().map(i64::from).map_err(|_| {
            (
                error_codes::INVALID_CONFIG,
                format!("Invalid value {value} for configuration {INTERVAL_MS}: Not a number of type INT"),
            )
        })?;
        if !(MIN_INTERVAL_MS..=MAX_INTERVAL_MS).contains(&interval) {
            return Err((
                error_codes::INVALID_REQUEST,
                format!(
                    "Invalid value {interval} for {INTERVAL_MS}, interval must be between 100 and 3600000 (1 hour)"
                ),
            ));
        }
    }
    for key in [METRICS, MATCH] {
        if let Some(value) = configs.get(key) {
            let items = list(value);
            let mut seen = std::collections::BTreeSet::new();
            if let Some(dup) = items.iter().find(|i| !seen.insert(i.as_str())) {
                return Err((
                    error_codes::INVALID_CONFIG,
                    format!(
                        "Invalid value {value} for configuration {key}: Configuration '{key}' values must not be duplicated: {dup}"
                    ),
                ));
            }
        }
    }
    if let Some(value) = configs.get(MATCH) {
        parse_match(&list(value)).map_err(|m| (error_codes::INVALID_CONFIG, m))?;
    }
    Ok(())
}

/// `selector=regex` pairs into compiled patterns.
fn parse_match(items: &[String]) -> Result<Vec<(String, Regex)>, String> {
    items
        .iter()
        .map(|item| {
            let illegal = || format!("Illegal client matching pattern: {item}");
            let (selector, pattern) = item.split_once('=').ok_or_else(illegal)?;
            let (selector, pattern) = (selector.trim(), pattern.trim());
            if !SELECTORS.contains(&selector) || pattern.is_empty() {
                return Err(illegal());
            }
            // Java's Matcher.matches(): the whole value must match.
            let regex = Regex::new(&format!("^(?:{pattern})$")).map_err(|_| illegal())?;
            Ok((selector.to_string(), regex))
        })
        .collect()
}

/// One subscription, parsed.
#[derive(Debug, Clone)]
pub struct Subscription {
    pub name: String,
    pub metrics: Vec<String>,
    pub interval_ms: i32,
    matchers: Vec<(String, Regex)>,
}

/// Who a client is, for matching (KIP-714's selectors).
#[derive(Debug, Clone, Default)]
pub struct ClientIdentity {
    pub client_instance_id: String,
    pub client_id: String,
    pub software_name: String,
    pub software_version: String,
    pub source_address: String,
    pub source_port: String,
}

impl ClientIdentity {
    fn get(&self, selector: &str) -> &str {
        match selector {
            "client_instance_id" => &self.client_instance_id,
            "client_id" => &self.client_id,
            "client_software_name" => &self.software_name,
            "client_software_version" => &self.software_version,
            "client_source_address" => &self.source_address,
            "client_source_port" => &self.source_port,
            _ => "",
        }
    }
}

impl Subscription {
    /// The subscription from its stored configs; `None` when they do not
    /// parse (they were validated when set, so only a hand-made log).
    pub fn from_configs(name: &str, configs: &BTreeMap<String, String>) -> Option<Subscription> {
        let interval_ms = match configs.get(INTERVAL_MS) {
            Some(v) => v.trim().parse().ok()?,
            None => DEFAULT_INTERVAL_MS,
        };
        Some(Subscription {
            name: name.to_string(),
            metrics: configs.get(METRICS).map(|v| list(v)).unwrap_or_default(),
            interval_ms,
            matchers: parse_match(&configs.get(MATCH).map(|v| list(v)).unwrap_or_default()).ok()?,
        })
    }

    /// The static subscription of the broker settings: every client.
    pub fn everyone(metrics: Vec<String>, interval_ms: i32) -> Subscription {
        Subscription {
            name: String::new(),
            metrics,
            interval_ms,
            matchers: Vec::new(),
        }
    }

    /// Every selector matches (no selectors: every client).
    pub fn matches(&self, client: &ClientIdentity) -> bool {
        self.matchers
            .iter()
            .all(|(selector, regex)| regex.is_match(client.get(selector)))
    }
}

/// Every stored subscription, by name.
pub fn all(stored: &BTreeMap<String, BTreeMap<String, String>>) -> Vec<Subscription> {
    stored
        .iter()
        .filter_map(|(name, configs)| Subscription::from_configs(name, configs))
        .collect()
}

/// What a client is asked for: the union of the matching subscriptions'
/// metrics (in the order the subscriptions and their lists give them) and
/// the smallest of their intervals.
/// `None` when no subscription matches.
pub fn for_client(
    subscriptions: &[Subscription],
    client: &ClientIdentity,
) -> Option<(Vec<String>, i32)> {
    let matching: Vec<&Subscription> = subscriptions.iter().filter(|s| s.matches(client)).collect();
    if matching.is_empty() {
        return None;
    }
    let mut metrics: Vec<String> = Vec::new();
    for s in &matching {
        for m in &s.metrics {
            if !metrics.contains(m) {
                metrics.push(m.clone());
            }
        }
    }
    let interval = matching
        .iter()
        .map(|s| s.interval_ms)
        .min()
        .unwrap_or(DEFAULT_INTERVAL_MS);
    Some((metrics, interval))
}

/// DescribeConfigs' sources for CLIENT_METRICS resources.
pub const DYNAMIC_CLIENT_METRICS_CONFIG: i8 = 7;
pub const DEFAULT_CONFIG: i8 = 5;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn configs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn kafka_validation() {
        assert!(validate(
            "s",
            &configs(&[
                ("metrics", "org.apache.kafka.producer."),
                ("interval.ms", "1000")
            ])
        )
        .is_ok());
        assert_eq!(
            validate("", &configs(&[])).unwrap_err().0,
            error_codes::INVALID_REQUEST
        );
        assert_eq!(
            validate("s", &configs(&[("nope", "1")])).unwrap_err(),
            (
                error_codes::INVALID_REQUEST,
                "Unknown client metrics configuration: nope".to_string()
            )
        );
        assert_eq!(
            validate("s", &configs(&[("interval.ms", "99")]))
                .unwrap_err()
                .0,
            error_codes::INVALID_REQUEST
        );
        assert_eq!(
            validate("s", &configs(&[("interval.ms", "x")]))
                .unwrap_err()
                .0,
            error_codes::INVALID_CONFIG
        );
        assert_eq!(
            validate("s", &configs(&[("match", "client_colour=red")])).unwrap_err(),
            (
                error_codes::INVALID_CONFIG,
                "Illegal client matching pattern: client_colour=red".to_string()
            )
        );
        assert!(validate("s", &configs(&[("match", "client_id=(")])).is_err());
    }

    #[test]
    fn matching_clients_get_the_union() {
        let subs = all(&BTreeMap::from([
            (
                "a".to_string(),
                configs(&[
                    ("metrics", "org.apache.kafka.producer."),
                    ("interval.ms", "1000"),
                    ("match", "client_id=app-.*"),
                ]),
            ),
            (
                "b".to_string(),
                configs(&[
                    ("metrics", "org.apache.kafka.consumer."),
                    ("interval.ms", "5000"),
                ]),
            ),
        ]));
        let app = ClientIdentity {
            client_id: "app-1".into(),
            ..Default::default()
        };
        let other = ClientIdentity {
            client_id: "xapp-1".into(),
            ..Default::default()
        };
        assert_eq!(
            for_client(&subs, &app).unwrap(),
            (
                vec![
                    "org.apache.kafka.producer.".to_string(),
                    "org.apache.kafka.consumer.".to_string()
                ],
                1000
            )
        );
        assert_eq!(
            for_client(&subs, &other).unwrap(),
            (vec!["org.apache.kafka.consumer.".to_string()], 5000)
        );
    }
}
