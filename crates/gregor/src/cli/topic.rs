//! `gregor topic create|list|describe|delete|alter-partitions`.

use super::{table, DEFAULT_BOOTSTRAP};
use anyhow::bail;
use clap::{Args, Subcommand};
use gregor_client::TopicInfo;
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
    /// Describe a topic (or all): id, partitions, leaders, replicas, ISR, configs set,
    /// and for compacted topics each partition's compaction status (from the
    /// leaders' admin HTTP endpoints, when they have one).
    Describe {
        name: Option<String>,
        /// The admin HTTP endpoint to ask (default: each leader's gregor.admin.listener).
        #[arg(long, value_name = "HOST:PORT")]
        admin: Option<String>,
        #[command(flatten)]
        connect: Connect,
    },
    /// Print the latest value of a key of a compacted topic, looked up by the
    /// broker (the topic is not read). Exit code 1 when the key is absent or deleted.
    Get {
        name: String,
        /// The key (UTF-8).
        #[arg(long)]
        key: String,
        /// The partition (default: Kafka's default partitioner, murmur2 of the key).
        #[arg(long)]
        partition: Option<i32>,
        /// Print the whole record (offset, timestamp, headers) as JSON.
        #[arg(long)]
        json: bool,
        /// The admin HTTP endpoint to ask (default: the leader's gregor.admin.listener).
        #[arg(long, value_name = "HOST:PORT")]
        admin: Option<String>,
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
        TopicCommand::Get {
            name,
            key,
            partition,
            json,
            admin,
            connect,
        } => {
            let mut client = super::security::connect(&connect.bootstrap_server).await?;
            let topic = client.topic(&name).await?;
            let count = topic.partitions.len() as i32;
            let partition = match partition {
                Some(p) if p < 0 || p >= count => {
                    bail!("topic '{name}' has no partition {p} (it has {count})")
                }
                Some(p) => p,
                None => gregor_client::partitioner::partition_for_key(key.as_bytes(), count),
            };
            let leader = topic
                .partitions
                .iter()
                .find(|p| p.partition == partition)
                .map_or(-1, |p| p.leader);
            if leader < 0 && admin.is_none() {
                bail!("partition {name}-{partition} has no leader");
            }
            let address = table::admin_address(&mut client, admin.as_deref(), leader).await?;
            let path = format!(
                "/topics/{}/partitions/{partition}/keys/{}",
                table::segment(&name),
                table::segment(&key)
            );
            let (status, body) = table::get_json(&address, &path).await?;
            if status != 200 {
                bail!("{}", table::error_message(&body));
            }
            if json {
                println!("{body}");
            } else {
                match body.get("value") {
                    Some(serde_json::Value::String(v)) => println!("{v}"),
                    _ => println!(
                        "{}",
                        body.get("value_base64")
                            .and_then(|v| v.as_str())
                            .unwrap_or("")
                    ),
                }
            }
        }
        TopicCommand::Describe {
            name,
            admin,
            connect,
        } => {
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
                let compacted = configs
                    .get("cleanup.policy")
                    .is_some_and(|(v, _)| v.split(',').any(|p| p.trim() == "compact"));
                if compacted {
                    print_compaction(&mut client, topic, admin.as_deref()).await;
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

/// The compaction status of each partition, from its leader's admin
/// endpoint. Nothing when the leaders have none; one line saying why when
/// one cannot be read (the rest of describe stays useful).
async fn print_compaction(
    client: &mut gregor_client::Client,
    topic: &TopicInfo,
    admin: Option<&str>,
) {
    let mut leaders: Vec<i32> = topic
        .partitions
        .iter()
        .map(|p| p.leader)
        .filter(|l| *l >= 0)
        .collect();
    leaders.sort_unstable();
    leaders.dedup();
    if admin.is_some() {
        leaders.truncate(1);
    }
    let mut lines = Vec::new();
    for leader in leaders {
        let address = match table::admin_address(client, admin, leader).await {
            Ok(a) => a,
            Err(_) if admin.is_none() => continue,
            Err(err) => {
                println!("\tCompaction: unavailable ({err:#})");
                return;
            }
        };
        let path = format!("/topics/{}/compaction", table::segment(&topic.name));
        match table::get_json(&address, &path).await {
            Ok((200, body)) => {
                let led: Vec<i32> = topic
                    .partitions
                    .iter()
                    .filter(|p| admin.is_some() || p.leader == leader)
                    .map(|p| p.partition)
                    .collect();
                lines.extend(
                    table::status_lines(&topic.name, &body)
                        .into_iter()
                        .filter(|(partition, _)| led.contains(partition)),
                );
            }
            Ok((_, body)) => println!(
                "\tCompaction: unavailable ({})",
                table::error_message(&body)
            ),
            Err(err) => println!("\tCompaction: unavailable ({err:#})"),
        }
    }
    lines.sort();
    for (_, line) in lines {
        println!("{line}");
    }
}

fn join(ids: &[i32]) -> String {
    ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}

/// Kafka prints topic ids as 22 characters of URL-safe base64.
fn gregor_id(id: uuid::Uuid) -> String {
    gregor_broker::meta_properties::kafka_uuid_string(id)
}
