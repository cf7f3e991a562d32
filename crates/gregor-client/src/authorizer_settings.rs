//! The bootstrap broker's authorizer settings (`super.users`,
//! `allow.everyone.if.no.acl.found`), read with DescribeConfigs of its
//! broker resource, so `gregor acl explain` decides as that broker does.

use crate::client::{text, Client};
use anyhow::bail;
use gregor_metadata::acl::AuthorizerSettings;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::*;

/// ConfigResource type of a broker in DescribeConfigs.
const RESOURCE_BROKER: i8 = 4;
const SUPER_USERS: &str = "super.users";
const ALLOW_EVERYONE: &str = "allow.everyone.if.no.acl.found";

impl Client {
    /// The authorizer settings of the broker this client bootstrapped
    /// from. A broker describes only its own id, so each listed broker id
    /// is tried until one answers; fails if none does (e.g. the principal
    /// lacks DescribeConfigs on the cluster).
    pub async fn authorizer_settings(&mut self) -> anyhow::Result<AuthorizerSettings> {
        let nodes = self.describe_cluster(false).await?.nodes;
        let mut last_error = String::from("no broker listed");
        for node in nodes {
            let request = DescribeConfigsRequest::default().with_resources(vec![
                DescribeConfigsResource::default()
                    .with_resource_type(RESOURCE_BROKER)
                    .with_resource_name(text(&node.id.to_string()))
                    .with_configuration_keys(Some(vec![text(SUPER_USERS), text(ALLOW_EVERYONE)])),
            ]);
            let response = self.describe_configs(request).await?;
            let Some(result) = response.results.first() else {
                bail!("DescribeConfigs answered no resource")
            };
            if result.error_code != 0 {
                last_error = format!(
                    "error {}{}",
                    result.error_code,
                    crate::admin::detail(&result.error_message)
                );
                continue;
            }
            let value = |name: &str| {
                result
                    .configs
                    .iter()
                    .find(|c| c.name.as_str() == name)
                    .and_then(|c| c.value.as_ref().map(|v| v.to_string()))
                    .unwrap_or_default()
            };
            return Ok(AuthorizerSettings {
                super_users: AuthorizerSettings::parse_super_users(&value(SUPER_USERS)),
                allow_everyone_if_no_acl_found: value(ALLOW_EVERYONE).trim() == "true",
            });
        }
        bail!("cannot read the broker's authorizer settings: {last_error}")
    }
}
