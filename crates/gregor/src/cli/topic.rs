//! `gregor topic create|list|describe|delete|alter-partitions`.

use super::DEFAULT_BOOTSTRAP;
use clap::{Args, Subcommand};
use gregor_client::{KafkaError, NewTopic};
use gregor_protocol::error_codes::{TOPIC_ALREADY_EXISTS, UNKNOWN_TOPIC_OR_PARTITION};

#[derive(Args)]
pub struct Connect {
    /// Broker(s) to bootstrap from, comma-separated host:port.
    #[arg(long, default_value = DEFAULT_BOOTSTRAP, global = true)]
    pub bootstrap_server: String,
}

#[derive(Subcommand)]
pub enum TopicCommand {
    /// Create a topic.
    Create {
        name: String,
        /// Partition count (default: the broker's num.partitions).
        #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
        partitions: i32,
        /// Replication factor (default: the broker's default.replication.factor).
        #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
        replication_factor: i16,
        /// A topic config, e.g. --config retention.ms=3600000 (repeatable).
        #[arg(long = "config", value_name = "KEY=VALUE")]
        configs: Vec<String>,
        /// Succeed without change if the topic exists.
        #[arg(long)]
        if_not_exists: bool,
        /// Only ask the broker to check the request; create nothing.
        #[arg(long)]
        validate_only: bool,
        #[command(flatten)]
        connect: Connect,
    },
    /// List topics, one per line.
    List {
        #[command(flatten)]
        connect: Connect,
    },
    /// Describe a topic (or all): id, partitions, leaders, replicas, ISR, configs set.
    Describe {
        name: Option<String>,
        #[command(flatten)]
        connect: Connect,
    },
    /// Delete a topic.
    Delete {
        name: String,
        /// Succeed without change if the topic does not exist.
        #[arg(long)]
        if_exists: bool,
        #[command(flatten)]
        connect: Connect,
    },
    /// Grow a topic to a new partition count.
    AlterPartitions {
        name: String,
        #[arg(long)]
        partitions: i32,
        #[command(flatten)]
        connect: Connect,
    },
}

fn is_code(err: &anyhow::Error, code: i16) -> bool {
    err.downcast_ref::<KafkaError>()
        .is_some_and(|e| e.code == code)
}

pub async fn run(cmd: TopicCommand) -> anyhow::Result<()> {
    match cmd {
        TopicCommand::Create {
            name,
            partitions,
            replication_factor,
            configs,
            if_not_exists,
            validate_only,
            connect,
        } => {
            let configs = configs
                .iter()
                .map(|c| {
                    c.split_once('=')
                        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                        .ok_or_else(|| anyhow::anyhow!("--config expects KEY=VALUE, got '{c}'"))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let spec = NewTopic {
                name: name.clone(),
                partitions,
                replication_factor,
                configs,
            };
            let mut client = super::security::connect(&connect.bootstrap_server).await?;
            match client.create_topic_with(&spec, validate_only).await {
                Ok(()) if validate_only => println!("Topic {name} can be created."),
                Ok(()) => println!("Created topic {name}."),
                Err(err) if if_not_exists && is_code(&err, TOPIC_ALREADY_EXISTS) => {}
                Err(err) => return Err(err),
            }
        }
        TopicCommand::List { connect } => {
            let mut client = super::security::connect(&connect.bootstrap_server).await?;
            for topic in client.metadata(None).await? {
                println!("{}", topic.name);
            }
        }
        TopicCommand::Describe { name, connect } => {
            let mut client = super::security::connect(&connect.bootstrap_server).await?;
            let topics = match &name {
                Some(name) => vec![client.topic(name).await?],
                None => client.metadata(None).await?,
            };
            let names: Vec<&str> = topics.iter().map(|t| t.name.as_str()).collect();
            // Configs are extra detail: a broker that refuses DescribeConfigs
            // (e.g. no ACL for it) still gets the partition table printed.
            let mut configs = client.topics_configs(&names).await.unwrap_or_default();
            for topic in &topics {
                let configs = configs
                    .remove(&topic.name)
                    .and_then(Result::ok)
                    .unwrap_or_default();
                let set: Vec<String> = configs
                    .iter()
                    .filter(|(_, (_, default))| !default)
                    .map(|(k, (v, _))| format!("{k}={v}"))
                    .collect();
                let replication = topic.partitions.first().map_or(0, |p| p.replicas.len());
                println!(
                    "Topic: {}\tTopicId: {}\tPartitionCount: {}\tReplicationFactor: {}\tConfigs: {}",
                    topic.name,
                    gregor_id(topic.id),
                    topic.partitions.len(),
                    replication,
                    set.join(",")
                );
                for p in &topic.partitions {
                    println!(
                        "\tTopic: {}\tPartition: {}\tLeader: {}\tReplicas: {}\tIsr: {}",
                        topic.name,
                        p.partition,
                        p.leader,
                        join(&p.replicas),
                        join(&p.isr)
                    );
                }
            }
        }
        TopicCommand::Delete {
            name,
            if_exists,
            connect,
        } => {
            let mut client = super::security::connect(&connect.bootstrap_server).await?;
            match client.delete_topic(&name).await {
                Ok(()) => println!("Deleted topic {name}."),
                Err(err) if if_exists && is_code(&err, UNKNOWN_TOPIC_OR_PARTITION) => {}
                Err(err) => return Err(err),
            }
        }
        TopicCommand::AlterPartitions {
            name,
            partitions,
            connect,
        } => {
            let mut client = super::security::connect(&connect.bootstrap_server).await?;
            client.create_partitions(&name, partitions).await?;
            println!("Topic {name} now has {partitions} partitions.");
        }
    }
    Ok(())
}

fn join(ids: &[i32]) -> String {
    ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}

/// Kafka prints topic ids as 22 characters of URL-safe base64.
fn gregor_id(id: uuid::Uuid) -> String {
    gregor_broker::meta_properties::kafka_uuid_string(id)
}
