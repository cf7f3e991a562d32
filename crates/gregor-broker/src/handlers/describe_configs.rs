//! DescribeConfigs for topics and for this broker: effective values, their
//! sources and, on request, synonyms and documentation.

use super::{broker_configs, str_bytes};
use crate::log_config::{effective, BrokerLayers, ConfigSource};
use crate::server::Broker;
use gregor_metadata::topic_config::topic_configs;
use gregor_protocol::error_codes;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};

const TOPIC: i8 = 2;
const BROKER: i8 = 4;
const GROUP: i8 = 32;
const CLIENT_METRICS: i8 = 16;

pub fn handle(
    broker: &Broker,
    request: DescribeConfigsRequest,
    _version: i16,
) -> DescribeConfigsResponse {
    let results = request
        .resources
        .iter()
        .map(|resource| {
            describe(
                broker,
                resource,
                request.include_synonyms,
                request.include_documentation,
            )
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

fn describe(
    broker: &Broker,
    resource: &DescribeConfigsResource,
    synonyms: bool,
    docs: bool,
) -> DescribeConfigsResult {
    let result = DescribeConfigsResult::default()
        .with_resource_type(resource.resource_type)
        .with_resource_name(resource.resource_name.clone());
    let wanted = |name: &str| {
        resource
            .configuration_keys
            .as_ref()
            .is_none_or(|keys| keys.iter().any(|k| k.as_str() == name))
    };
    let entry = |name: &str, value: String, source: i8, kind: i8, doc: &str| {
        DescribeConfigsResourceResult::default()
            .with_name(str_bytes(name))
            .with_value(Some(str_bytes(&value)))
            .with_config_source(source)
            .with_config_type(kind)
            .with_documentation(docs.then(|| str_bytes(doc)))
    };
    match resource.resource_type {
        TOPIC => {
            let image = broker.controller.image();
            let Some(topic) = image.topic(&resource.resource_name) else {
                return result
                    .with_error_code(error_codes::UNKNOWN_TOPIC_OR_PARTITION)
                    .with_error_message(Some(str_bytes(&format!(
                        "Topic '{}' does not exist.",
                        resource.resource_name.as_str()
                    ))));
            };
            let layers = BrokerLayers::new(&image, &broker.config);
            let configs = topic_configs()
                .iter()
                .filter(|def| wanted(def.name))
                .map(|def| {
                    let (value, source) = effective(topic, &layers, def);
                    let mut item = entry(
                        def.name,
                        value.clone(),
                        source.code(),
                        def.kind.code(),
                        def.doc,
                    );
                    if synonyms {
                        item = item.with_synonyms(topic_synonyms(&layers, def, source, value));
                    }
                    item
                })
                .collect();
            result.with_configs(configs)
        }
        BROKER => {
            let name = resource.resource_name.as_str();
            if !name.is_empty() && name != broker.config.node_id.to_string() {
                return result
                    .with_error_code(error_codes::INVALID_REQUEST)
                    .with_error_message(Some(str_bytes(&format!(
                        "Unexpected broker id, expected {}",
                        broker.config.node_id
                    ))));
            }
            let image = broker.controller.image();
            let entries = if name.is_empty() {
                broker_configs::cluster_default(&image)
            } else {
                broker_configs::this_broker(&image, &broker.config)
            };
            let configs = entries
                .into_iter()
                .filter(|e| wanted(&e.name))
                .map(|e| {
                    let value = (!e.sensitive).then(|| str_bytes(&e.value));
                    let mut item = DescribeConfigsResourceResult::default()
                        .with_name(str_bytes(&e.name))
                        .with_value(value)
                        .with_config_source(e.source.code())
                        .with_config_type(e.kind)
                        .with_is_sensitive(e.sensitive)
                        .with_read_only(e.read_only)
                        .with_documentation(docs.then(|| str_bytes(e.doc)));
                    if synonyms {
                        item = item.with_synonyms(
                            e.chain
                                .iter()
                                .map(|(value, source)| {
                                    DescribeConfigsSynonym::default()
                                        .with_name(str_bytes(&e.name))
                                        .with_value((!e.sensitive).then(|| str_bytes(value)))
                                        .with_source(source.code())
                                })
                                .collect(),
                        );
                    }
                    item
                })
                .collect();
            result.with_configs(configs)
        }
        GROUP => super::group_configs::describe(
            broker,
            result,
            resource.resource_name.as_str(),
            wanted,
            synonyms,
            docs,
        ),
        CLIENT_METRICS => super::client_metrics_configs::describe(
            broker,
            result,
            resource.resource_name.as_str(),
            wanted,
            synonyms,
            docs,
        ),
        other => result
            .with_error_code(error_codes::INVALID_REQUEST)
            .with_error_message(Some(str_bytes(&format!(
                "Unsupported resource type {other}"
            )))),
    }
}

/// The chain Kafka reports: the topic override, then the broker synonym,
/// then the default, as far as each exists.
fn topic_synonyms(
    layers: &BrokerLayers,
    def: &gregor_metadata::topic_config::TopicConfigDef,
    source: ConfigSource,
    value: String,
) -> Vec<DescribeConfigsSynonym> {
    let mut chain = Vec::new();
    if source == ConfigSource::DynamicTopic {
        chain.push(
            DescribeConfigsSynonym::default()
                .with_name(str_bytes(def.name))
                .with_value(Some(str_bytes(&value)))
                .with_source(ConfigSource::DynamicTopic.code()),
        );
    }
    if let Some(synonym) = def.broker_synonym {
        for (broker_value, source) in layers.topic_default_chain(def.name) {
            chain.push(
                DescribeConfigsSynonym::default()
                    .with_name(str_bytes(synonym))
                    .with_value(Some(str_bytes(&broker_value)))
                    .with_source(source.code()),
            );
        }
    }
    chain.push(
        DescribeConfigsSynonym::default()
            .with_name(str_bytes(def.broker_synonym.unwrap_or(def.name)))
            .with_value(Some(str_bytes(def.default)))
            .with_source(ConfigSource::Default.code()),
    );
    chain
}
