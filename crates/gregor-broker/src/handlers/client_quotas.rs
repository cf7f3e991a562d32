//! AlterClientQuotas (the active controller's; other brokers forward it)
//! and DescribeClientQuotas (answered from this node's metadata image, as
//! Kafka's brokers answer from their ClientQuotasImage).

use super::str_bytes;
use crate::server::Broker;
use gregor_metadata::client_quota::{self, Alteration, FilterComponent};
use gregor_metadata::MetadataImage;
use gregor_protocol::error_codes::NONE;
use kafka_protocol::messages::{
    alter_client_quotas_request, alter_client_quotas_response, describe_client_quotas_response,
    AlterClientQuotasRequest, AlterClientQuotasResponse, DescribeClientQuotasRequest,
    DescribeClientQuotasResponse,
};

pub fn describe(
    image: &MetadataImage,
    request: DescribeClientQuotasRequest,
) -> DescribeClientQuotasResponse {
    let components: Vec<FilterComponent> = request
        .components
        .iter()
        .map(|c| FilterComponent {
            entity_type: c.entity_type.to_string(),
            match_type: c.match_type,
            name: c._match.as_ref().map(|m| m.to_string()),
        })
        .collect();
    match client_quota::describe(image, &components, request.strict) {
        Ok(found) => DescribeClientQuotasResponse::default()
            .with_error_code(NONE)
            .with_entries(Some(
                found
                    .into_iter()
                    .map(|(entity, values)| {
                        describe_client_quotas_response::EntryData::default()
                            .with_entity(
                                entity
                                    .iter()
                                    .map(|(kind, name)| {
                                        describe_client_quotas_response::EntityData::default()
                                            .with_entity_type(str_bytes(kind))
                                            .with_entity_name(name.as_deref().map(str_bytes))
                                    })
                                    .collect(),
                            )
                            .with_values(
                                values
                                    .iter()
                                    .map(|(key, value)| {
                                        describe_client_quotas_response::ValueData::default()
                                            .with_key(str_bytes(key))
                                            .with_value(value.0)
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            )),
        // Kafka answers a bad filter with the error and no entries.
        Err((code, message)) => DescribeClientQuotasResponse::default()
            .with_error_code(code)
            .with_error_message(Some(str_bytes(&message)))
            .with_entries(None),
    }
}

pub fn alter(broker: &Broker, request: AlterClientQuotasRequest) -> AlterClientQuotasResponse {
    let alterations: Vec<Alteration> = request
        .entries
        .iter()
        .map(|e| Alteration {
            entity: e
                .entity
                .iter()
                .map(|d| {
                    (
                        d.entity_type.to_string(),
                        d.entity_name.as_ref().map(|n| n.to_string()),
                    )
                })
                .collect(),
            ops: e
                .ops
                .iter()
                .map(|op| (op.key.to_string(), (!op.remove).then_some(op.value)))
                .collect(),
        })
        .collect();
    let results = broker
        .controller
        .alter_client_quotas(&alterations, request.validate_only);
    let entries = request
        .entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let (code, message) = match &results {
                Ok(results) => results
                    .get(i)
                    .map(|r| (r.code, r.message.clone()))
                    .unwrap_or((NONE, None)),
                // Not committed (e.g. NOT_CONTROLLER): every entry gets the error.
                Err(err) => (err.code, Some(err.message.clone())),
            };
            alter_client_quotas_response::EntryData::default()
                .with_error_code(code)
                .with_error_message(message.as_deref().map(str_bytes))
                .with_entity(response_entity(&e.entity))
        })
        .collect();
    AlterClientQuotasResponse::default().with_entries(entries)
}

/// An AlterClientQuotas entry's entity, echoed in its response entry.
pub fn response_entity(
    entity: &[alter_client_quotas_request::EntityData],
) -> Vec<alter_client_quotas_response::EntityData> {
    entity
        .iter()
        .map(|d| {
            alter_client_quotas_response::EntityData::default()
                .with_entity_type(d.entity_type.clone())
                .with_entity_name(d.entity_name.clone())
        })
        .collect()
}
