//! Config resources over the wire, as `kafka-configs` drives them:
//! IncrementalAlterConfigs (v1) and DescribeConfigs (v4) on one resource,
//! so each config test says what it changes and checks, not how the
//! request is framed.

use super::Connection;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::DescribeConfigsResult;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::{
    ApiKey, DescribeConfigsRequest, IncrementalAlterConfigsRequest, RequestKind, ResponseKind,
};
use kafka_protocol::protocol::StrBytes;

/// Resource types (Kafka's `ConfigResource.Type`).
pub const TOPIC: i8 = 2;
pub const BROKER: i8 = 4;
pub const CLIENT_METRICS: i8 = 16;
pub const GROUP: i8 = 32;

/// IncrementalAlterConfigs operations.
pub const SET: i8 = 0;
pub const DELETE: i8 = 1;

/// One change: (config name, operation, value).
pub type ConfigOp<'a> = (&'a str, i8, Option<&'a str>);

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// An error message as the tests compare it ("" for none).
pub fn message_of(message: &Option<StrBytes>) -> String {
    message.as_ref().map(|m| m.to_string()).unwrap_or_default()
}

/// (error code, message) of one IncrementalAlterConfigs on one resource.
pub fn alter(
    conn: &mut Connection,
    resource_type: i8,
    name: &str,
    ops: &[ConfigOp<'_>],
) -> (i16, String) {
    alter_checked(conn, resource_type, name, ops, false)
}

/// As [`alter`]; `validate_only` asks the broker to check and not apply.
/// The answer must name the resource asked about.
pub fn alter_checked(
    conn: &mut Connection,
    resource_type: i8,
    name: &str,
    ops: &[ConfigOp<'_>],
    validate_only: bool,
) -> (i16, String) {
    let request = IncrementalAlterConfigsRequest::default()
        .with_validate_only(validate_only)
        .with_resources(vec![AlterConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(s(name))
            .with_configs(
                ops.iter()
                    .map(|(k, op, v)| {
                        AlterableConfig::default()
                            .with_name(s(k))
                            .with_config_operation(*op)
                            .with_value(v.map(s))
                    })
                    .collect(),
            )]);
    let ResponseKind::IncrementalAlterConfigs(r) = conn.request(
        ApiKey::IncrementalAlterConfigs,
        1,
        RequestKind::IncrementalAlterConfigs(request),
    ) else {
        panic!("wrong response type")
    };
    let r = &r.responses[0];
    assert_eq!(
        (r.resource_type, r.resource_name.as_str()),
        (resource_type, name)
    );
    (r.error_code, message_of(&r.error_message))
}

/// DescribeConfigs (v4) of every config of one resource; the result as
/// the broker sent it (its error code unchecked).
pub fn describe(
    conn: &mut Connection,
    resource_type: i8,
    name: &str,
    include_synonyms: bool,
) -> DescribeConfigsResult {
    let request = DescribeConfigsRequest::default()
        .with_include_synonyms(include_synonyms)
        .with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(s(name))
            .with_configuration_keys(None)]);
    let ResponseKind::DescribeConfigs(r) = conn.request(
        ApiKey::DescribeConfigs,
        4,
        RequestKind::DescribeConfigs(request),
    ) else {
        panic!("wrong response type")
    };
    r.results.into_iter().next().expect("one result")
}
