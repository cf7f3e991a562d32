//! IncrementalAlterConfigs (SET, DELETE, APPEND, SUBTRACT per key) and the
//! legacy AlterConfigs (replace every dynamic config of a resource), for
//! topics and for the BROKER resource (this node's id, or the empty name for
//! the cluster-wide defaults). Broker changes are records in the metadata
//! log, validated as Kafka does; the `log.*` topic defaults among them take
//! effect on every partition at once.

use super::str_bytes;
use crate::config::dynamic;
use crate::server::Broker;
use gregor_metadata::topic_config::{self, ConfigType};
use gregor_metadata::ConfigResource;
use gregor_protocol::error_codes;
use kafka_protocol::messages::{
    alter_configs_response, incremental_alter_configs_response, AlterConfigsRequest,
    AlterConfigsResponse, IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
};
use kafka_protocol::protocol::StrBytes;

const TOPIC: i8 = 2;
const BROKER: i8 = 4;
const GROUP: i8 = 32;
const CLIENT_METRICS: i8 = 16;
const INVALID_CONFIG: i16 = error_codes::INVALID_CONFIG;

const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

/// A refusal for one resource: (error code, message).
type Refusal = (i16, String);
/// A resource's current dynamic configs, by name.
type CurrentConfigs = std::collections::BTreeMap<String, String>;
/// What a request does to them: a new value, or `None` to delete.
type Changes = Vec<(String, Option<String>)>;

/// `any_broker`: the request came in on a controller listener (forwarded
/// by the broker that checked the id, or an admin client bootstrapped to
/// the controllers), so a BROKER resource may name any broker.
pub fn incremental(
    broker: &Broker,
    request: IncrementalAlterConfigsRequest,
    any_broker: bool,
) -> IncrementalAlterConfigsResponse {
    let responses = request
        .resources
        .iter()
        .map(|resource| {
            let ops: Vec<(String, i8, Option<String>)> = resource
                .configs
                .iter()
                .map(|c| {
                    (
                        c.name.to_string(),
                        c.config_operation,
                        c.value.as_ref().map(|v| v.to_string()),
                    )
                })
                .collect();
            let outcome = apply(
                broker,
                any_broker,
                resource.resource_type,
                &resource.resource_name,
                request.validate_only,
                |current, kind| incremental_changes(current, &ops, kind),
            );
            let (code, message) = outcome.err().unwrap_or((error_codes::NONE, String::new()));
            incremental_alter_configs_response::AlterConfigsResourceResponse::default()
                .with_error_code(code)
                .with_error_message((code != error_codes::NONE).then(|| str_bytes(&message)))
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone())
        })
        .collect();
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}

pub fn legacy(
    broker: &Broker,
    request: AlterConfigsRequest,
    any_broker: bool,
) -> AlterConfigsResponse {
    let responses = request
        .resources
        .iter()
        .map(|resource| {
            let wanted: Vec<(String, Option<String>)> = resource
                .configs
                .iter()
                .map(|c| (c.name.to_string(), c.value.as_ref().map(|v| v.to_string())))
                .collect();
            let outcome = apply(
                broker,
                any_broker,
                resource.resource_type,
                &resource.resource_name,
                request.validate_only,
                |current, _| {
                    // Replace: every key given is set, every other dynamic key is removed.
                    let mut changes = Vec::new();
                    for (key, value) in &wanted {
                        let value = value.clone().ok_or_else(|| {
                            (
                                error_codes::INVALID_CONFIG,
                                format!("Null value not supported for {key}"),
                            )
                        })?;
                        changes.push((key.clone(), Some(value)));
                    }
                    for key in current.keys() {
                        if !wanted.iter().any(|(k, _)| k == key) {
                            changes.push((key.clone(), None));
                        }
                    }
                    Ok(changes)
                },
            );
            let (code, message) = outcome.err().unwrap_or((error_codes::NONE, String::new()));
            alter_configs_response::AlterConfigsResourceResponse::default()
                .with_error_code(code)
                .with_error_message((code != error_codes::NONE).then(|| str_bytes(&message)))
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone())
        })
        .collect();
    AlterConfigsResponse::default().with_responses(responses)
}

/// Which kind of resource the changes are for: decides how names are
/// typed (for APPEND and SUBTRACT) and whether unknown names are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Topic,
    Broker,
    Group,
    ClientMetrics,
}

impl Kind {
    fn type_of(self, name: &str) -> Option<ConfigType> {
        match self {
            Kind::Topic => topic_config::find(name).map(|def| def.kind),
            Kind::Broker => dynamic::synonym_type(name),
            Kind::Group => crate::config::group_resource::find(name).map(|def| def.kind),
            Kind::ClientMetrics => crate::telemetry::subscriptions::config_type(name),
        }
    }
}

/// Looks up the resource, turns the request into (key, new value) changes
/// against its current dynamic configs and hands them to the controller.
fn apply(
    broker: &Broker,
    any_broker: bool,
    resource_type: i8,
    name: &StrBytes,
    validate_only: bool,
    changes: impl FnOnce(&CurrentConfigs, Kind) -> Result<Changes, Refusal>,
) -> Result<(), Refusal> {
    match resource_type {
        TOPIC => {}
        BROKER => return apply_broker(broker, any_broker, name, validate_only, changes),
        GROUP => {
            return super::group_configs::alter(broker, name, validate_only, |current| {
                changes(current, Kind::Group)
            })
        }
        CLIENT_METRICS => {
            return super::client_metrics_configs::alter(broker, name, validate_only, |current| {
                changes(current, Kind::ClientMetrics)
            })
        }
        _ => {
            return Err((
                error_codes::INVALID_REQUEST,
                format!("Altering configs of resource type {resource_type} is not supported"),
            ))
        }
    }
    let image = broker.controller.image();
    let topic = image.topic(name).ok_or_else(|| {
        (
            error_codes::UNKNOWN_TOPIC_OR_PARTITION,
            format!("Topic '{}' does not exist.", name.as_str()),
        )
    })?;
    let changes = changes(&topic.configs, Kind::Topic)?;
    broker
        .controller
        .alter_topic_configs(name, &changes, validate_only)
        .map_err(|e| (e.code, e.message))
}

fn apply_broker(
    broker: &Broker,
    any_broker: bool,
    name: &StrBytes,
    validate_only: bool,
    changes: impl FnOnce(&CurrentConfigs, Kind) -> Result<Changes, Refusal>,
) -> Result<(), Refusal> {
    let node_id = broker.config.node_id;
    let resource = match name.as_str() {
        "" => ConfigResource::BrokerDefault,
        id if id == node_id.to_string() => ConfigResource::Broker(node_id),
        other => match other.parse::<i32>() {
            Ok(id) if any_broker && id >= 0 => ConfigResource::Broker(id),
            _ => {
                return Err((
                    error_codes::INVALID_REQUEST,
                    format!("Unexpected broker id, expected {node_id}, but received {other}"),
                ))
            }
        },
    };
    broker
        .controller
        .alter_broker_configs(&resource, validate_only, |current| {
            let changes = changes(current, Kind::Broker)?;
            let set: Vec<(&str, &str)> = changes
                .iter()
                .filter_map(|(k, v)| v.as_deref().map(|v| (k.as_str(), v)))
                .collect();
            dynamic::validate(&set, matches!(resource, ConfigResource::Broker(_)))?;
            Ok(changes)
        })
}

fn incremental_changes(
    current: &std::collections::BTreeMap<String, String>,
    ops: &[(String, i8, Option<String>)],
    resource: Kind,
) -> Result<Vec<(String, Option<String>)>, Refusal> {
    let mut changes = Vec::with_capacity(ops.len());
    for (key, op, value) in ops {
        let kind = resource.type_of(key);
        // Unknown topic configs are refused; unknown broker names pass
        // (Kafka stores them), caught below only for APPEND and SUBTRACT.
        if kind.is_none() && resource == Kind::Topic {
            return Err((INVALID_CONFIG, format!("Unknown topic config name: {key}")));
        }
        let change = match *op {
            SET => Some(value.clone().ok_or_else(|| {
                (
                    error_codes::INVALID_CONFIG,
                    format!("Null value not supported for {key}"),
                )
            })?),
            DELETE => None,
            APPEND | SUBTRACT => {
                if kind != Some(ConfigType::List) {
                    return Err((
                        error_codes::INVALID_CONFIG,
                        format!("Config {key} is not a list; APPEND and SUBTRACT need a list"),
                    ));
                }
                let default = topic_config::find(key).map_or("", |def| def.default);
                let base = current.get(key).map(String::as_str).unwrap_or(default);
                let mut items: Vec<String> = base
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect();
                let given: Vec<String> = value
                    .as_deref()
                    .unwrap_or("")
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect();
                if *op == APPEND {
                    for item in given {
                        if !items.contains(&item) {
                            items.push(item);
                        }
                    }
                } else {
                    items.retain(|i| !given.contains(i));
                }
                Some(items.join(","))
            }
            other => {
                return Err((
                    error_codes::INVALID_REQUEST,
                    format!("Unknown config operation {other}"),
                ))
            }
        };
        changes.push((key.clone(), change));
    }
    Ok(changes)
}
