//! ACL administration (CreateAcls, DescribeAcls, DeleteAcls), as Kafka's
//! `kafka-acls.sh` uses them. Create and delete go to the bootstrap broker,
//! which forwards them to the active controller.

use crate::client::{text, Client};
use crate::error::check;
use anyhow::bail;
use gregor_metadata::acl::{AclBinding, AclFilter};
use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::*;

/// A filter's seven fields on a DescribeAcls request or a DeleteAcls
/// filter: the two messages name them alike but share no type.
macro_rules! with_filter {
    ($message:expr, $filter:expr) => {{
        let filter: &AclFilter = $filter;
        $message
            .with_resource_type_filter(filter.resource_type.code())
            .with_resource_name_filter(filter.resource_name.as_deref().map(text))
            .with_pattern_type_filter(filter.pattern_type.code())
            .with_principal_filter(filter.principal.as_deref().map(text))
            .with_host_filter(filter.host.as_deref().map(text))
            .with_operation(filter.operation.code())
            .with_permission_type(filter.permission.code())
    }};
}

impl Client {
    /// Creates ACLs; fails on the first refused one.
    pub async fn create_acls(&mut self, acls: &[AclBinding]) -> anyhow::Result<()> {
        let request = CreateAclsRequest::default().with_creations(
            acls.iter()
                .map(|a| {
                    AclCreation::default()
                        .with_resource_type(a.resource_type.code())
                        .with_resource_name(text(&a.resource_name))
                        .with_resource_pattern_type(a.pattern_type.code())
                        .with_principal(text(&a.principal))
                        .with_host(text(&a.host))
                        .with_operation(a.operation.code())
                        .with_permission_type(a.permission.code())
                })
                .collect(),
        );
        let (response, _) = self
            .bootstrap()
            .await?
            .send(ApiKey::CreateAcls, 3, RequestKind::CreateAcls(request))
            .await?;
        let ResponseKind::CreateAcls(response) = response else {
            bail!("unexpected answer to CreateAcls")
        };
        for (acl, result) in acls.iter().zip(&response.results) {
            check(result.error_code, || {
                format!(
                    "cannot create ACL {acl}{}",
                    detail(result.error_message.as_deref())
                )
            })?;
        }
        Ok(())
    }

    /// The ACLs matching `filter`.
    pub async fn describe_acls(&mut self, filter: &AclFilter) -> anyhow::Result<Vec<AclBinding>> {
        let request = with_filter!(DescribeAclsRequest::default(), filter);
        let (response, _) = self
            .bootstrap()
            .await?
            .send(ApiKey::DescribeAcls, 3, RequestKind::DescribeAcls(request))
            .await?;
        let ResponseKind::DescribeAcls(response) = response else {
            bail!("unexpected answer to DescribeAcls")
        };
        check(response.error_code, || {
            format!(
                "cannot describe ACLs{}",
                detail(response.error_message.as_deref())
            )
        })?;
        let mut acls = Vec::new();
        for resource in &response.resources {
            for acl in &resource.acls {
                acls.push(AclBinding::from_wire(
                    resource.resource_type,
                    &resource.resource_name,
                    resource.pattern_type,
                    &acl.principal,
                    &acl.host,
                    acl.operation,
                    acl.permission_type,
                ));
            }
        }
        Ok(acls)
    }

    /// Deletes the ACLs matching `filter`; returns them.
    pub async fn delete_acls(&mut self, filter: &AclFilter) -> anyhow::Result<Vec<AclBinding>> {
        let request = DeleteAclsRequest::default()
            .with_filters(vec![with_filter!(DeleteAclsFilter::default(), filter)]);
        let (response, _) = self
            .bootstrap()
            .await?
            .send(ApiKey::DeleteAcls, 3, RequestKind::DeleteAcls(request))
            .await?;
        let ResponseKind::DeleteAcls(response) = response else {
            bail!("unexpected answer to DeleteAcls")
        };
        let Some(result) = response.filter_results.first() else {
            bail!("DeleteAcls answered no result")
        };
        check(result.error_code, || {
            format!(
                "cannot delete ACLs{}",
                detail(result.error_message.as_deref())
            )
        })?;
        Ok(result
            .matching_acls
            .iter()
            .map(|m| {
                AclBinding::from_wire(
                    m.resource_type,
                    &m.resource_name,
                    m.pattern_type,
                    &m.principal,
                    &m.host,
                    m.operation,
                    m.permission_type,
                )
            })
            .collect())
    }
}

fn detail(message: Option<&str>) -> String {
    match message {
        Some(m) if !m.is_empty() => format!(": {m}"),
        _ => String::new(),
    }
}
