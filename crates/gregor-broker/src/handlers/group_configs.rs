//! The GROUP config resource (type 32) in DescribeConfigs and
//! (Incremental)AlterConfigs: per-group overrides of the broker's
//! `group.*` settings, kept as config records in the metadata log and
//! applied into `MetadataImage::group_configs`. Any group name may carry
//! configs, whether or not the group exists (as in Kafka).

use super::str_bytes;
use crate::config::group_resource;
use crate::server::Broker;
use gregor_metadata::ConfigResource;
use gregor_protocol::error_codes;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use std::collections::BTreeMap;

/// A refusal: (error code, message).
pub type Refusal = (i16, String);
type Changes = Vec<(String, Option<String>)>;

/// `configs` with `changes` applied (`None` removes a key).
pub fn merged(configs: &BTreeMap<String, String>, changes: &Changes) -> BTreeMap<String, String> {
    let mut after = configs.clone();
    for (key, value) in changes {
        match value {
            Some(v) => after.insert(key.clone(), v.clone()),
            None => after.remove(key),
        };
    }
    after
}

/// Validates the group's configs as they would be after the change (all
/// keys, Kafka's `GroupConfig.validate`) and commits the change.
pub fn alter(
    broker: &Broker,
    group: &str,
    validate_only: bool,
    changes: impl FnOnce(&BTreeMap<String, String>) -> Result<Changes, Refusal>,
) -> Result<(), Refusal> {
    if group.is_empty() {
        return Err((
            error_codes::INVALID_REQUEST,
            "Default group resources are not allowed.".to_string(),
        ));
    }
    let resource = ConfigResource::Group(group.to_string());
    broker
        .controller
        .alter_broker_configs(&resource, validate_only, |current| {
            let changes = changes(current)?;
            group_resource::validate(&merged(current, &changes), &broker.config)?;
            Ok(changes)
        })
}

/// DescribeConfigs of one group: every public group config with the
/// group's value (DYNAMIC_GROUP_CONFIG) or the broker's (DEFAULT_CONFIG).
pub fn describe(
    broker: &Broker,
    result: DescribeConfigsResult,
    group: &str,
    wanted: impl Fn(&str) -> bool,
    synonyms: bool,
    docs: bool,
) -> DescribeConfigsResult {
    if group.is_empty() {
        return result
            .with_error_code(error_codes::INVALID_REQUEST)
            .with_error_message(Some(str_bytes("Group name must not be empty")));
    }
    let image = broker.controller.image();
    let configs = group_resource::describe(&broker.config, image.group_configs.get(group))
        .into_iter()
        .filter(|e| wanted(e.name))
        .map(|e| {
            let item = DescribeConfigsResourceResult::default()
                .with_name(str_bytes(e.name))
                .with_value(Some(str_bytes(&e.value)))
                .with_config_source(e.source)
                .with_config_type(e.kind.code())
                .with_documentation(docs.then(|| str_bytes(e.doc)));
            if !synonyms {
                return item;
            }
            item.with_synonyms(
                e.synonyms
                    .iter()
                    .map(|(name, value, source)| {
                        DescribeConfigsSynonym::default()
                            .with_name(str_bytes(name))
                            .with_value(Some(str_bytes(value)))
                            .with_source(*source)
                    })
                    .collect(),
            )
        })
        .collect();
    result.with_configs(configs)
}
