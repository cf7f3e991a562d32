//! The CLIENT_METRICS config resource (type 16, KIP-714) in
//! DescribeConfigs and (Incremental)AlterConfigs: named client metrics
//! subscriptions, kept as config records in the metadata log and applied
//! into `MetadataImage::client_metrics_configs`, from which
//! GetTelemetrySubscriptions answers.

use super::group_configs::merged;
use super::str_bytes;
use crate::server::Broker;
use crate::telemetry::subscriptions::{self, DEFAULT_CONFIG, DYNAMIC_CLIENT_METRICS_CONFIG};
use gregor_metadata::ConfigResource;
use gregor_protocol::error_codes;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use std::collections::BTreeMap;

type Refusal = (i16, String);
type Changes = Vec<(String, Option<String>)>;

/// Validates the subscription as it would be after the change and commits
/// it; a subscription whose last key is removed is gone.
pub fn alter(
    broker: &Broker,
    name: &str,
    validate_only: bool,
    changes: impl FnOnce(&BTreeMap<String, String>) -> Result<Changes, Refusal>,
) -> Result<(), Refusal> {
    if name.is_empty() {
        return Err((
            error_codes::INVALID_REQUEST,
            "Subscription name can't be empty".to_string(),
        ));
    }
    let resource = ConfigResource::ClientMetrics(name.to_string());
    broker
        .controller
        .alter_broker_configs(&resource, validate_only, |current| {
            let changes = changes(current)?;
            subscriptions::validate(name, &merged(current, &changes))?;
            Ok(changes)
        })
}

/// DescribeConfigs of one subscription: its three configs, set ones as
/// DYNAMIC_CLIENT_METRICS_CONFIG, the rest at Kafka's defaults.
pub fn describe(
    broker: &Broker,
    result: DescribeConfigsResult,
    name: &str,
    wanted: impl Fn(&str) -> bool,
    synonyms: bool,
    docs: bool,
) -> DescribeConfigsResult {
    if name.is_empty() {
        return result
            .with_error_code(error_codes::INVALID_REQUEST)
            .with_error_message(Some(str_bytes(
                "Client metrics subscription name must not be empty",
            )));
    }
    let image = broker.controller.image();
    let set = image.client_metrics_configs.get(name);
    let configs = subscriptions::CONFIGS
        .iter()
        .filter(|(key, ..)| wanted(key))
        .map(|(key, kind, default, doc)| {
            let own = set.and_then(|s| s.get(*key));
            let (value, source) = match own {
                Some(v) => (v.clone(), DYNAMIC_CLIENT_METRICS_CONFIG),
                None => (default.to_string(), DEFAULT_CONFIG),
            };
            let item = DescribeConfigsResourceResult::default()
                .with_name(str_bytes(key))
                .with_value(Some(str_bytes(&value)))
                .with_config_source(source)
                .with_config_type(kind.code())
                .with_documentation(docs.then(|| str_bytes(doc)));
            // Kafka lists a synonym only for a value the subscription sets.
            if !synonyms || own.is_none() {
                return item;
            }
            item.with_synonyms(vec![DescribeConfigsSynonym::default()
                .with_name(str_bytes(key))
                .with_value(Some(str_bytes(&value)))
                .with_source(source)])
        })
        .collect();
    result.with_configs(configs)
}
