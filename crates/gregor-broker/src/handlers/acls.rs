//! CreateAcls, DescribeAcls and DeleteAcls. ACLs live in the metadata log:
//! the active controller writes them (a broker forwards Create/Delete to it,
//! as any metadata change) and every broker answers DescribeAcls from its
//! own image. Without an authorizer they answer SECURITY_DISABLED, as Kafka.

use super::str_bytes;
use crate::server::Broker;
use gregor_metadata::acl::{
    AclBinding, AclFilter, AclOperation, AclPermission, PatternType, ResourceType,
};
use gregor_protocol::error_codes::{self, SECURITY_DISABLED};
use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl,
};
use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::{
    CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse,
    DescribeAclsRequest, DescribeAclsResponse,
};
use std::collections::BTreeMap;

const NO_AUTHORIZER: &str = "No Authorizer is configured.";

pub fn create(broker: &Broker, request: CreateAclsRequest) -> CreateAclsResponse {
    if !broker.authorizer.enabled() {
        return create_error(&request, SECURITY_DISABLED, Some(NO_AUTHORIZER));
    }
    let acls: Vec<AclBinding> = request
        .creations
        .iter()
        .map(|c| {
            AclBinding::from_wire(
                c.resource_type,
                &c.resource_name,
                c.resource_pattern_type,
                &c.principal,
                &c.host,
                c.operation,
                c.permission_type,
            )
        })
        .collect();
    match broker.controller.create_acls(&acls) {
        Ok(results) => {
            for (acl, result) in acls.iter().zip(&results) {
                if result.is_none() {
                    tracing::info!(%acl, "ACL created");
                }
            }
            CreateAclsResponse::default().with_results(
                results
                    .into_iter()
                    .map(|r| match r {
                        None => AclCreationResult::default(),
                        Some((code, message)) => AclCreationResult::default()
                            .with_error_code(code)
                            .with_error_message(Some(str_bytes(&message))),
                    })
                    .collect(),
            )
        }
        Err(e) => create_error(&request, e.code, Some(&e.message)),
    }
}

/// Every creation answered with `code`.
pub fn create_error(
    request: &CreateAclsRequest,
    code: i16,
    message: Option<&str>,
) -> CreateAclsResponse {
    CreateAclsResponse::default().with_results(
        request
            .creations
            .iter()
            .map(|_| {
                AclCreationResult::default()
                    .with_error_code(code)
                    .with_error_message(message.map(str_bytes))
            })
            .collect(),
    )
}

fn filter(
    resource_type: i8,
    name: Option<&str>,
    pattern_type: i8,
    principal: Option<&str>,
    host: Option<&str>,
    operation: i8,
    permission: i8,
) -> AclFilter {
    AclFilter {
        resource_type: ResourceType::from_code(resource_type),
        resource_name: name.map(str::to_string),
        pattern_type: PatternType::from_code(pattern_type),
        principal: principal.map(str::to_string),
        host: host.map(str::to_string),
        operation: AclOperation::from_code(operation),
        permission: AclPermission::from_code(permission),
    }
}

pub fn describe(broker: &Broker, request: DescribeAclsRequest) -> DescribeAclsResponse {
    if !broker.authorizer.enabled() {
        return DescribeAclsResponse::default()
            .with_error_code(SECURITY_DISABLED)
            .with_error_message(Some(str_bytes(NO_AUTHORIZER)));
    }
    let filter = filter(
        request.resource_type_filter,
        request.resource_name_filter.as_deref(),
        request.pattern_type_filter,
        request.principal_filter.as_deref(),
        request.host_filter.as_deref(),
        request.operation,
        request.permission_type,
    );
    if let Err(message) = filter.validate() {
        return DescribeAclsResponse::default()
            .with_error_code(error_codes::INVALID_REQUEST)
            .with_error_message(Some(str_bytes(&message)));
    }
    let image = broker.controller.image();
    // Grouped by resource pattern, as Kafka answers.
    let mut by_resource: BTreeMap<(i8, String, i8), Vec<AclDescription>> = BTreeMap::new();
    for acl in image.acls.values().filter(|a| filter.matches(a)) {
        by_resource
            .entry((
                acl.resource_type.code(),
                acl.resource_name.clone(),
                acl.pattern_type.code(),
            ))
            .or_default()
            .push(
                AclDescription::default()
                    .with_principal(str_bytes(&acl.principal))
                    .with_host(str_bytes(&acl.host))
                    .with_operation(acl.operation.code())
                    .with_permission_type(acl.permission.code()),
            );
    }
    DescribeAclsResponse::default().with_resources(
        by_resource
            .into_iter()
            .map(|((resource_type, name, pattern_type), acls)| {
                DescribeAclsResource::default()
                    .with_resource_type(resource_type)
                    .with_resource_name(str_bytes(&name))
                    .with_pattern_type(pattern_type)
                    .with_acls(acls)
            })
            .collect(),
    )
}

pub fn delete(broker: &Broker, request: DeleteAclsRequest) -> DeleteAclsResponse {
    if !broker.authorizer.enabled() {
        return delete_error(&request, SECURITY_DISABLED, Some(NO_AUTHORIZER));
    }
    let filters: Vec<AclFilter> = request
        .filters
        .iter()
        .map(|f| {
            filter(
                f.resource_type_filter,
                f.resource_name_filter.as_deref(),
                f.pattern_type_filter,
                f.principal_filter.as_deref(),
                f.host_filter.as_deref(),
                f.operation,
                f.permission_type,
            )
        })
        .collect();
    match broker.controller.delete_acls(&filters) {
        Ok(results) => DeleteAclsResponse::default().with_filter_results(
            results
                .into_iter()
                .map(|r| match r {
                    Ok(acls) => {
                        for acl in &acls {
                            tracing::info!(%acl, "ACL deleted");
                        }
                        DeleteAclsFilterResult::default()
                            .with_matching_acls(acls.iter().map(matching).collect())
                    }
                    Err((code, message)) => DeleteAclsFilterResult::default()
                        .with_error_code(code)
                        .with_error_message(Some(str_bytes(&message))),
                })
                .collect(),
        ),
        Err(e) => delete_error(&request, e.code, Some(&e.message)),
    }
}

fn matching(acl: &AclBinding) -> DeleteAclsMatchingAcl {
    DeleteAclsMatchingAcl::default()
        .with_resource_type(acl.resource_type.code())
        .with_resource_name(str_bytes(&acl.resource_name))
        .with_pattern_type(acl.pattern_type.code())
        .with_principal(str_bytes(&acl.principal))
        .with_host(str_bytes(&acl.host))
        .with_operation(acl.operation.code())
        .with_permission_type(acl.permission.code())
}

/// Every filter answered with `code`.
pub fn delete_error(
    request: &DeleteAclsRequest,
    code: i16,
    message: Option<&str>,
) -> DeleteAclsResponse {
    DeleteAclsResponse::default().with_filter_results(
        request
            .filters
            .iter()
            .map(|_| {
                DeleteAclsFilterResult::default()
                    .with_error_code(code)
                    .with_error_message(message.map(str_bytes))
            })
            .collect(),
    )
}
