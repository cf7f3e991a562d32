//! `gregor quota set|list|remove`: client quotas (producer_byte_rate,
//! consumer_byte_rate, request_percentage, controller_mutation_rate) of
//! users, client ids, both, or their defaults, as `kafka-configs.sh
//! --entity-type users|clients` manages them.

use super::topic::Connect;
use anyhow::{anyhow, bail};
use clap::{Args, Subcommand};
use gregor_client::{QuotaEntity, MATCH_ANY, MATCH_DEFAULT, MATCH_EXACT};

#[derive(Args, Clone, Default)]
pub struct Entity {
    /// A user principal's name.
    #[arg(long)]
    user: Option<String>,
    /// The default of every user.
    #[arg(long, conflicts_with = "user")]
    user_default: bool,
    /// A client id.
    #[arg(long)]
    client_id: Option<String>,
    /// The default of every client id.
    #[arg(long, conflicts_with = "client_id")]
    client_default: bool,
}

impl Entity {
    fn user(&self) -> Option<Option<String>> {
        match (&self.user, self.user_default) {
            (Some(u), _) => Some(Some(u.clone())),
            (None, true) => Some(None),
            (None, false) => None,
        }
    }

    fn client(&self) -> Option<Option<String>> {
        match (&self.client_id, self.client_default) {
            (Some(c), _) => Some(Some(c.clone())),
            (None, true) => Some(None),
            (None, false) => None,
        }
    }

    fn entity(&self) -> anyhow::Result<QuotaEntity> {
        let mut entity = Vec::new();
        if let Some(u) = self.user() {
            entity.push(("user".to_string(), u));
        }
        if let Some(c) = self.client() {
            entity.push(("client-id".to_string(), c));
        }
        if entity.is_empty() {
            bail!("name an entity: --user, --user-default, --client-id or --client-default");
        }
        Ok(entity)
    }
}

#[derive(Subcommand)]
pub enum QuotaCommand {
    /// Set quotas, e.g. --config producer_byte_rate=1048576 (repeatable).
    Set {
        #[command(flatten)]
        entity: Entity,
        #[arg(long = "config", value_name = "KEY=VALUE", required = true)]
        configs: Vec<String>,
        /// Only ask the broker to check the change.
        #[arg(long)]
        validate_only: bool,
        #[command(flatten)]
        connect: Connect,
    },
    /// List quotas: all, or those of the named user and/or client id.
    List {
        #[command(flatten)]
        entity: Entity,
        #[command(flatten)]
        connect: Connect,
    },
    /// Remove quota keys, e.g. --config producer_byte_rate (repeatable).
    Remove {
        #[command(flatten)]
        entity: Entity,
        #[arg(long = "config", value_name = "KEY", required = true)]
        configs: Vec<String>,
        #[command(flatten)]
        connect: Connect,
    },
}

fn describe(entity: &QuotaEntity) -> String {
    entity
        .iter()
        .map(|(kind, name)| format!("{kind}={}", name.as_deref().unwrap_or("<default>")))
        .collect::<Vec<_>>()
        .join(",")
}

pub async fn run(cmd: QuotaCommand) -> anyhow::Result<()> {
    match cmd {
        QuotaCommand::Set {
            entity,
            configs,
            validate_only,
            connect,
        } => {
            let entity = entity.entity()?;
            let ops = configs
                .iter()
                .map(|c| {
                    let (key, value) = c
                        .split_once('=')
                        .ok_or_else(|| anyhow!("--config {c}: expected KEY=VALUE"))?;
                    let value: f64 = value
                        .parse()
                        .map_err(|_| anyhow!("--config {c}: the value is not a number"))?;
                    Ok((key.to_string(), Some(value)))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let mut client = super::security::connect(&connect.bootstrap_server).await?;
            client
                .alter_client_quotas(&entity, &ops, validate_only)
                .await?;
            let verb = if validate_only { "Validated" } else { "Set" };
            println!("{verb} quotas of {}", describe(&entity));
        }
        QuotaCommand::Remove {
            entity,
            configs,
            connect,
        } => {
            let entity = entity.entity()?;
            let ops: Vec<_> = configs.into_iter().map(|k| (k, None)).collect();
            let mut client = super::security::connect(&connect.bootstrap_server).await?;
            client.alter_client_quotas(&entity, &ops, false).await?;
            println!("Removed quotas of {}", describe(&entity));
        }
        QuotaCommand::List { entity, connect } => {
            let component = |kind: &str, named: Option<Option<String>>| match named {
                Some(Some(name)) => (kind.to_string(), MATCH_EXACT, Some(name)),
                Some(None) => (kind.to_string(), MATCH_DEFAULT, None),
                None => (kind.to_string(), MATCH_ANY, None),
            };
            let mut components = Vec::new();
            if entity.user().is_some() {
                components.push(component("user", entity.user()));
            }
            if entity.client().is_some() {
                components.push(component("client-id", entity.client()));
            }
            let mut client = super::security::connect(&connect.bootstrap_server).await?;
            let found = client.describe_client_quotas(&components, false).await?;
            for (entity, values) in found {
                let values: Vec<String> = values.iter().map(|(k, v)| format!("{k}={v}")).collect();
                println!("{} {}", describe(&entity), values.join(","));
            }
        }
    }
    Ok(())
}
