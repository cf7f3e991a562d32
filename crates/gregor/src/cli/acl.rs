//! `gregor acl add|list|remove|explain`: ACL administration as Kafka's
//! `kafka-acls.sh` does it, and `explain`, which says which ACL decides a
//! question ("may User:alice Read topic orders?"), evaluated with the
//! broker's own authorizer code over the ACLs DescribeAcls returns.

use super::topic::Connect;
use anyhow::{anyhow, bail};
use clap::{Args, Subcommand};
use gregor_client::Client;
use gregor_metadata::acl::{
    self, AclBinding, AclFilter, AclOperation, AclPermission, Action, AuthorizerSettings,
    PatternType, ResourceType, CLUSTER_NAME,
};

#[derive(Args, Clone, Default)]
pub struct Resource {
    /// A topic name (or prefix with --resource-pattern-type prefixed; `*` for all topics).
    #[arg(long)]
    topic: Option<String>,
    /// A consumer group id.
    #[arg(long)]
    group: Option<String>,
    /// A transactional id.
    #[arg(long)]
    transactional_id: Option<String>,
    /// The cluster resource.
    #[arg(long)]
    cluster: bool,
}

impl Resource {
    fn get(&self) -> Option<(ResourceType, String)> {
        if let Some(t) = &self.topic {
            return Some((ResourceType::Topic, t.clone()));
        }
        if let Some(g) = &self.group {
            return Some((ResourceType::Group, g.clone()));
        }
        if let Some(t) = &self.transactional_id {
            return Some((ResourceType::TransactionalId, t.clone()));
        }
        self.cluster
            .then(|| (ResourceType::Cluster, CLUSTER_NAME.to_string()))
    }
}

#[derive(Subcommand)]
pub enum AclCommand {
    /// Add ACLs: each --operation for the principal on the resource.
    Add {
        /// The principal, e.g. User:alice (User:* for everyone).
        #[arg(long)]
        principal: String,
        /// Deny instead of allow.
        #[arg(long)]
        deny: bool,
        /// The client address it applies from (`*` for any).
        #[arg(long, default_value = "*")]
        host: String,
        /// Read, Write, Create, Delete, Alter, Describe, ClusterAction,
        /// DescribeConfigs, AlterConfigs, IdempotentWrite, All; repeatable.
        #[arg(long = "operation", required = true)]
        operations: Vec<String>,
        /// literal or prefixed.
        #[arg(long, default_value = "literal")]
        resource_pattern_type: String,
        #[command(flatten)]
        resource: Resource,
        #[command(flatten)]
        connect: Connect,
    },
    /// List ACLs (all, or those on a resource / of a principal).
    List {
        #[arg(long)]
        principal: Option<String>,
        /// any, match (every ACL that applies to the named resource),
        /// literal or prefixed.
        #[arg(long, default_value = "any")]
        resource_pattern_type: String,
        #[command(flatten)]
        resource: Resource,
        #[command(flatten)]
        connect: Connect,
    },
    /// Remove the ACLs matching the selection (as `list` selects them).
    Remove {
        #[arg(long)]
        principal: Option<String>,
        #[arg(long)]
        operation: Option<String>,
        #[arg(long, default_value = "any")]
        resource_pattern_type: String,
        #[command(flatten)]
        resource: Resource,
        #[command(flatten)]
        connect: Connect,
    },
    /// Say whether a principal may perform an operation on a resource, and
    /// which ACL (or rule) decides.
    Explain {
        #[arg(long)]
        principal: String,
        #[arg(long)]
        operation: String,
        /// The client address (ACLs may name hosts).
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// Decide with these super.users (`;`-separated) instead of the
        /// broker's (read with DescribeConfigs by default).
        #[arg(long)]
        super_users: Option<String>,
        /// Decide with this allow.everyone.if.no.acl.found instead of the
        /// broker's.
        #[arg(long, num_args = 0..=1, default_missing_value = "true")]
        allow_everyone_if_no_acl_found: Option<bool>,
        #[command(flatten)]
        resource: Resource,
        #[command(flatten)]
        connect: Connect,
    },
}

fn pattern(text: &str) -> anyhow::Result<PatternType> {
    PatternType::parse(text).ok_or_else(|| anyhow!("unknown resource pattern type '{text}'"))
}

fn operation(text: &str) -> anyhow::Result<AclOperation> {
    AclOperation::parse(text).ok_or_else(|| anyhow!("unknown operation '{text}'"))
}

fn filter(
    principal: Option<String>,
    operation: Option<AclOperation>,
    pattern_type: PatternType,
    resource: &Resource,
) -> AclFilter {
    let mut filter = AclFilter::any();
    filter.principal = principal;
    filter.pattern_type = pattern_type;
    if let Some(op) = operation {
        filter.operation = op;
    }
    if let Some((resource_type, name)) = resource.get() {
        filter.resource_type = resource_type;
        filter.resource_name = Some(name);
    }
    filter
}

fn print(acl: &AclBinding) {
    println!("{acl}");
}

pub async fn run(cmd: AclCommand) -> anyhow::Result<()> {
    match cmd {
        AclCommand::Add {
            principal,
            deny,
            host,
            operations,
            resource_pattern_type,
            resource,
            connect,
        } => {
            let Some((resource_type, resource_name)) = resource.get() else {
                bail!("name a resource: --topic, --group, --transactional-id or --cluster");
            };
            let pattern_type = pattern(&resource_pattern_type)?;
            let permission = if deny {
                AclPermission::Deny
            } else {
                AclPermission::Allow
            };
            let acls = operations
                .iter()
                .map(|op| {
                    Ok(AclBinding {
                        resource_type,
                        resource_name: resource_name.clone(),
                        pattern_type,
                        principal: principal.clone(),
                        host: host.clone(),
                        operation: operation(op)?,
                        permission,
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let mut client = super::security::connect(&connect.bootstrap_server).await?;
            client.create_acls(&acls).await?;
            for acl in &acls {
                println!("Added {acl}");
            }
        }
        AclCommand::List {
            principal,
            resource_pattern_type,
            resource,
            connect,
        } => {
            let filter = filter(principal, None, pattern(&resource_pattern_type)?, &resource);
            let mut client = super::security::connect(&connect.bootstrap_server).await?;
            for acl in client.describe_acls(&filter).await? {
                print(&acl);
            }
        }
        AclCommand::Remove {
            principal,
            operation: op,
            resource_pattern_type,
            resource,
            connect,
        } => {
            let op = op.as_deref().map(operation).transpose()?;
            let filter = filter(principal, op, pattern(&resource_pattern_type)?, &resource);
            let mut client = super::security::connect(&connect.bootstrap_server).await?;
            for acl in client.delete_acls(&filter).await? {
                println!("Removed {acl}");
            }
        }
        AclCommand::Explain {
            principal,
            operation: op,
            host,
            super_users,
            allow_everyone_if_no_acl_found,
            resource,
            connect,
        } => {
            let Some((resource_type, resource_name)) = resource.get() else {
                bail!("name a resource: --topic, --group, --transactional-id or --cluster");
            };
            let op = operation(&op)?;
            let mut client = super::security::connect(&connect.bootstrap_server).await?;
            let acls = client.describe_acls(&AclFilter::any()).await?;
            let settings = settings(&mut client, super_users, allow_everyone_if_no_acl_found).await;
            let decision = acl::authorize(
                &acls,
                &settings,
                &principal,
                &host,
                Action::new(op, resource_type, &resource_name),
            );
            println!(
                "{} {principal} from {host}: {op} on {resource_type}:{resource_name}",
                if decision.allowed {
                    "ALLOWED"
                } else {
                    "DENIED"
                }
            );
            println!("decided by: {}", decision.rule);
            let mut applicable = filter(None, None, PatternType::Match, &resource);
            applicable.resource_type = resource_type;
            let on_resource: Vec<&AclBinding> =
                acls.iter().filter(|a| applicable.matches(a)).collect();
            if !on_resource.is_empty() {
                println!("ACLs on the resource:");
                for acl in on_resource {
                    println!("  {acl}");
                }
            }
        }
    }
    Ok(())
}

/// The settings `explain` decides with: the broker's own (DescribeConfigs
/// of its broker resource), each overridden by its flag. If the broker
/// does not tell (the principal lacks DescribeConfigs on the cluster), the
/// flags' values or Kafka's defaults, with a warning.
async fn settings(
    client: &mut Client,
    super_users: Option<String>,
    allow_everyone: Option<bool>,
) -> AuthorizerSettings {
    let broker = if super_users.is_some() && allow_everyone.is_some() {
        None
    } else {
        match client.authorizer_settings().await {
            Ok(settings) => Some(settings),
            Err(err) => {
                eprintln!(
                    "warning: {err:#}; deciding with --super-users / --allow-everyone-if-no-acl-found (default: none / false)"
                );
                None
            }
        }
    };
    let broker = broker.unwrap_or_default();
    AuthorizerSettings {
        super_users: match super_users {
            Some(text) => AuthorizerSettings::parse_super_users(&text),
            None => broker.super_users,
        },
        allow_everyone_if_no_acl_found: allow_everyone
            .unwrap_or(broker.allow_everyone_if_no_acl_found),
    }
}
