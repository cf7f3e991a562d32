//! `gregor partition elect-leaders|reassign|reassignments`: leader
//! elections and replica moves, as Kafka's `kafka-leader-election` and
//! `kafka-reassign-partitions` do them.

use super::topic::Connect;
use clap::Subcommand;
use gregor_client::{error_name, PartitionOutcome};
use gregor_protocol::error_codes::{ELECTION_NOT_NEEDED, NONE};

#[derive(Subcommand)]
pub enum PartitionCommand {
    /// Elect leaders: the preferred replica, or (unclean) any live replica of
    /// a leaderless partition.
    ElectLeaders {
        /// preferred or unclean.
        #[arg(long, value_name = "TYPE")]
        election_type: String,
        /// Every partition of every topic.
        #[arg(long)]
        all_topic_partitions: bool,
        /// The topic (every partition unless --partition).
        #[arg(long)]
        topic: Option<String>,
        #[arg(long, allow_negative_numbers = true)]
        partition: Option<i32>,
        #[command(flatten)]
        connect: Connect,
    },
    /// Move a partition to new replicas (the first is the preferred leader),
    /// or cancel its reassignment in progress.
    Reassign {
        #[arg(long)]
        topic: String,
        #[arg(long, allow_negative_numbers = true)]
        partition: i32,
        /// The target replicas, comma-separated broker ids.
        #[arg(long, value_name = "IDS")]
        replicas: Option<String>,
        /// Cancel the reassignment in progress instead.
        #[arg(long)]
        cancel: bool,
        #[command(flatten)]
        connect: Connect,
    },
    /// List reassignments in progress (of one topic with --topic).
    Reassignments {
        #[arg(long)]
        topic: Option<String>,
        #[command(flatten)]
        connect: Connect,
    },
}

pub async fn run(cmd: PartitionCommand) -> anyhow::Result<()> {
    match cmd {
        PartitionCommand::ElectLeaders {
            election_type,
            all_topic_partitions,
            topic,
            partition,
            connect,
        } => {
            let unclean = match election_type.to_ascii_lowercase().as_str() {
                "preferred" => false,
                "unclean" => true,
                other => {
                    anyhow::bail!("--election-type must be preferred or unclean, not '{other}'")
                }
            };
            let partitions = match (all_topic_partitions, topic, partition) {
                (true, None, None) => None,
                (true, _, _) => {
                    anyhow::bail!(
                        "--all-topic-partitions cannot be combined with --topic or --partition"
                    )
                }
                (false, None, _) => {
                    anyhow::bail!("one of --all-topic-partitions or --topic is required")
                }
                (false, Some(topic), Some(p)) => Some(vec![(topic, vec![p])]),
                (false, Some(topic), None) => {
                    let mut client = super::security::connect(&connect.bootstrap_server).await?;
                    let info = client.topic(&topic).await?;
                    let all = info.partitions.iter().map(|p| p.partition).collect();
                    Some(vec![(topic, all)])
                }
            };
            let mut client = super::security::connect(&connect.bootstrap_server).await?;
            let outcomes = client.elect_leaders(unclean, partitions).await?;
            report_elections(if unclean { "UNCLEAN" } else { "PREFERRED" }, &outcomes)
        }
        PartitionCommand::Reassign {
            topic,
            partition,
            replicas,
            cancel,
            connect,
        } => {
            let target = match (replicas, cancel) {
                (Some(_), true) => anyhow::bail!("--replicas and --cancel cannot be combined"),
                (None, false) => anyhow::bail!("one of --replicas or --cancel is required"),
                (None, true) => None,
                (Some(list), false) => Some(parse_ids(&list)?),
            };
            let mut client = super::security::connect(&connect.bootstrap_server).await?;
            let items = [(topic.clone(), partition, target.clone())];
            let outcome = client.alter_reassignments(&items).await?;
            if let Some(failed) = outcome.iter().find(|o| o.code != NONE) {
                anyhow::bail!(
                    "cannot reassign {topic}-{partition}: {} ({})",
                    failed.message.as_deref().unwrap_or(""),
                    error_name(failed.code)
                );
            }
            match target {
                Some(ids) => println!(
                    "Reassignment of {topic}-{partition} to [{}] started.",
                    join(&ids)
                ),
                None => println!("Reassignment of {topic}-{partition} cancelled."),
            }
            Ok(())
        }
        PartitionCommand::Reassignments { topic, connect } => {
            let mut client = super::security::connect(&connect.bootstrap_server).await?;
            let wanted = match topic {
                Some(topic) => {
                    let info = client.topic(&topic).await?;
                    Some(vec![(
                        topic,
                        info.partitions.iter().map(|p| p.partition).collect(),
                    )])
                }
                None => None,
            };
            for r in client.list_reassignments(wanted).await? {
                println!(
                    "Topic: {}\tPartition: {}\tReplicas: {}\tAdding: {}\tRemoving: {}",
                    r.topic,
                    r.partition,
                    join(&r.replicas),
                    join(&r.adding),
                    join(&r.removing)
                );
            }
            Ok(())
        }
    }
}

/// Prints what Kafka's `kafka-leader-election` prints; fails when any
/// partition could not be elected.
fn report_elections(kind: &str, outcomes: &[PartitionOutcome]) -> anyhow::Result<()> {
    let names = |code: fn(i16) -> bool| {
        outcomes
            .iter()
            .filter(|o| code(o.code))
            .map(|o| format!("{}-{}", o.topic, o.partition))
            .collect::<Vec<_>>()
    };
    let succeeded = names(|c| c == NONE);
    let noop = names(|c| c == ELECTION_NOT_NEEDED);
    if !succeeded.is_empty() {
        println!(
            "Successfully completed leader election ({kind}) for partitions {}",
            succeeded.join(", ")
        );
    }
    if !noop.is_empty() {
        println!(
            "Valid replica already elected for partitions {}",
            noop.join(", ")
        );
    }
    let failed: Vec<&PartitionOutcome> = outcomes
        .iter()
        .filter(|o| o.code != NONE && o.code != ELECTION_NOT_NEEDED)
        .collect();
    for o in &failed {
        println!(
            "Error completing leader election ({kind}) for partition: {}-{}: {} ({})",
            o.topic,
            o.partition,
            o.message.as_deref().unwrap_or(""),
            error_name(o.code)
        );
    }
    if !failed.is_empty() {
        anyhow::bail!("{} replica(s) could not be elected", failed.len());
    }
    Ok(())
}

fn parse_ids(list: &str) -> anyhow::Result<Vec<i32>> {
    list.split(',')
        .map(|id| {
            id.trim().parse::<i32>().map_err(|_| {
                anyhow::anyhow!("--replicas expects comma-separated broker ids, got '{list}'")
            })
        })
        .collect()
}

fn join(ids: &[i32]) -> String {
    ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}
