//! ListConfigResources (API 74, formerly ListClientMetricsResources): the
//! names of config resources of the asked types, as Kafka 4.4 answers it.
//! Version 0 knows only CLIENT_METRICS; version 1 also GROUP (the groups
//! that have dynamic configs), BROKER_LOGGER and BROKER (the registered
//! brokers) and TOPIC. An empty type list means every type the version
//! knows; an unknown type fails the request with UNSUPPORTED_VERSION.

use super::str_bytes;
use gregor_metadata::MetadataImage;
use gregor_protocol::error_codes;
use kafka_protocol::messages::list_config_resources_response::ConfigResource;
use kafka_protocol::messages::{ListConfigResourcesRequest, ListConfigResourcesResponse};

const TOPIC: i8 = 2;
const BROKER: i8 = 4;
const BROKER_LOGGER: i8 = 8;
const CLIENT_METRICS: i8 = 16;
const GROUP: i8 = 32;

fn supported(version: i16) -> &'static [i8] {
    if version == 0 {
        &[CLIENT_METRICS]
    } else {
        &[TOPIC, BROKER, BROKER_LOGGER, CLIENT_METRICS, GROUP]
    }
}

pub fn handle(
    image: &MetadataImage,
    request: &ListConfigResourcesRequest,
    version: i16,
) -> ListConfigResourcesResponse {
    let supported = supported(version);
    let asked: Vec<i8> = if request.resource_types.is_empty() {
        supported.to_vec()
    } else {
        request.resource_types.clone()
    };
    if asked.iter().any(|t| !supported.contains(t)) {
        return ListConfigResourcesResponse::default()
            .with_error_code(error_codes::UNSUPPORTED_VERSION);
    }
    let mut resources = Vec::new();
    let mut add = |name: &str, resource_type: i8| {
        resources.push(
            ConfigResource::default()
                .with_resource_name(str_bytes(name))
                .with_resource_type(resource_type),
        );
    };
    // Kafka's order: groups, subscriptions, loggers, brokers, topics.
    if asked.contains(&GROUP) {
        image.group_configs.keys().for_each(|g| add(g, GROUP));
    }
    if asked.contains(&CLIENT_METRICS) {
        image
            .client_metrics_configs
            .keys()
            .for_each(|s| add(s, CLIENT_METRICS));
    }
    for kind in [BROKER_LOGGER, BROKER] {
        if asked.contains(&kind) {
            image
                .brokers
                .keys()
                .for_each(|id| add(&id.to_string(), kind));
        }
    }
    if asked.contains(&TOPIC) {
        image.topics.keys().for_each(|t| add(t, TOPIC));
    }
    ListConfigResourcesResponse::default().with_config_resources(resources)
}
