//! `gregor group list|describe`: consumer and share groups, their members and lag.

use super::topic::Connect;
use clap::Subcommand;
use std::collections::BTreeMap;

#[derive(Subcommand)]
pub enum GroupCommand {
    /// List consumer groups with their state.
    List {
        #[command(flatten)]
        connect: Connect,
    },
    /// Members, assignments, committed offsets, log end offsets and lag per partition; for a
    /// share group, each share-partition's start offset and unacknowledged records.
    Describe {
        group: String,
        #[command(flatten)]
        connect: Connect,
    },
    /// Delete a group with no active members, and its offsets.
    Delete {
        group: String,
        #[command(flatten)]
        connect: Connect,
    },
    /// Delete a group's committed offsets for a topic (all its partitions).
    DeleteOffsets {
        group: String,
        #[arg(long)]
        topic: String,
        #[command(flatten)]
        connect: Connect,
    },
    /// Move a group's committed offsets; prints the plan, changes nothing without --execute.
    ResetOffsets(ResetArgs),
}

#[derive(clap::Args)]
pub struct ResetArgs {
    pub group: String,
    /// Reset only this topic.
    #[arg(
        long,
        required_unless_present = "all_topics",
        conflicts_with = "all_topics"
    )]
    pub topic: Option<String>,
    /// Reset every topic the group has offsets for.
    #[arg(long)]
    pub all_topics: bool,
    #[command(flatten)]
    pub target: ResetTarget,
    /// Apply the plan (otherwise it is only printed).
    #[arg(long)]
    pub execute: bool,
    #[command(flatten)]
    pub connect: Connect,
}

#[derive(clap::Args)]
#[group(required = true, multiple = false)]
pub struct ResetTarget {
    #[arg(long)]
    pub to_earliest: bool,
    #[arg(long)]
    pub to_latest: bool,
    #[arg(long, value_name = "OFFSET")]
    pub to_offset: Option<i64>,
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub shift_by: Option<i64>,
    /// e.g. 2024-05-01T12:00:00.000 (UTC unless an offset is given).
    #[arg(long, value_name = "DATETIME")]
    pub to_datetime: Option<String>,
    /// e.g. PT15M: the offsets of that long ago.
    #[arg(long, value_name = "DURATION")]
    pub by_duration: Option<String>,
}

pub async fn run(cmd: GroupCommand) -> anyhow::Result<()> {
    match cmd {
        GroupCommand::List { connect } => {
            let mut client = super::security::connect(&connect.bootstrap_server).await?;
            for group in client.list_groups().await? {
                println!("{}\t{}\t{}", group.group_id, group.state, group.group_type);
            }
        }
        GroupCommand::Describe { group, connect } => {
            let mut client = super::security::connect(&connect.bootstrap_server).await?;
            let listed = client.list_groups().await?;
            if listed
                .iter()
                .any(|g| g.group_id == group && g.group_type == "share")
            {
                return describe_share_group(&mut client, &group).await;
            }
            let description = client.describe_group(&group).await?;
            let committed = client.committed_offsets(&group).await?;
            if description.state == "Dead" && committed.is_empty() {
                anyhow::bail!("group '{group}' does not exist");
            }
            let mut owners: BTreeMap<(String, i32), (String, String, String)> = BTreeMap::new();
            for member in &description.members {
                for tp in &member.assignment {
                    owners.insert(
                        tp.clone(),
                        (
                            member.member_id.clone(),
                            member.host.clone(),
                            member.client_id.clone(),
                        ),
                    );
                }
            }
            let mut rows: BTreeMap<(String, i32), Option<i64>> = committed
                .iter()
                .map(|(t, p, o)| ((t.clone(), *p), Some(*o)))
                .collect();
            for tp in owners.keys() {
                rows.entry(tp.clone()).or_insert(None);
            }
            println!(
                "Group: {group}\tState: {}\tMembers: {}",
                description.state,
                description.members.len()
            );
            println!("TOPIC\tPARTITION\tCURRENT-OFFSET\tLOG-END-OFFSET\tLAG\tCONSUMER-ID\tHOST\tCLIENT-ID");
            for ((topic, partition), offset) in rows {
                let end = client.list_offset(&topic, partition, -1).await.ok();
                let current = offset.filter(|o| *o >= 0);
                let lag = match (current, end) {
                    (Some(c), Some(e)) => (e - c).max(0).to_string(),
                    _ => "-".to_string(),
                };
                let (member, host, client_id) = owners
                    .get(&(topic.clone(), partition))
                    .cloned()
                    .unwrap_or_else(|| ("-".into(), "-".into(), "-".into()));
                println!(
                    "{topic}\t{partition}\t{}\t{}\t{lag}\t{member}\t{host}\t{client_id}",
                    current.map_or("-".to_string(), |c| c.to_string()),
                    end.map_or("-".to_string(), |e| e.to_string()),
                );
            }
        }
        GroupCommand::Delete { group, connect } => {
            let mut client = super::security::connect(&connect.bootstrap_server).await?;
            client.delete_group(&group).await?;
            println!("Deleted group {group}.");
        }
        GroupCommand::DeleteOffsets {
            group,
            topic,
            connect,
        } => {
            let mut client = super::security::connect(&connect.bootstrap_server).await?;
            let partitions: Vec<i32> = client
                .topic(&topic)
                .await?
                .partitions
                .iter()
                .map(|p| p.partition)
                .collect();
            client
                .delete_group_offsets(&group, &topic, &partitions)
                .await?;
            println!("Deleted offsets of group {group} for topic {topic}.");
        }
        GroupCommand::ResetOffsets(args) => reset(args).await?,
    }
    Ok(())
}

/// A share group: its members, then per share-partition where delivery
/// starts, the log end and how many records in between are not yet
/// acknowledged (acquired by a member, available again, or not yet
/// delivered), with the members assigned to it.
async fn describe_share_group(
    client: &mut gregor_client::Client,
    group: &str,
) -> anyhow::Result<()> {
    let description = client.describe_share_group(group).await?;
    let offsets = client.share_group_offsets(group).await?;
    let mut assigned: BTreeMap<(String, i32), Vec<String>> = BTreeMap::new();
    for member in &description.members {
        for tp in &member.assignment {
            assigned
                .entry(tp.clone())
                .or_default()
                .push(member.member_id.clone());
        }
    }
    println!(
        "Group: {group}\tState: {}\tMembers: {}\tType: share",
        description.state,
        description.members.len()
    );
    println!("MEMBER-ID\tCLIENT-ID\tHOST\tASSIGNMENT");
    for member in &description.members {
        let assignment: Vec<String> = member
            .assignment
            .iter()
            .map(|(t, p)| format!("{t}:{p}"))
            .collect();
        println!(
            "{}\t{}\t{}\t{}",
            member.member_id,
            member.client_id,
            member.host,
            assignment.join(",")
        );
    }
    println!("TOPIC\tPARTITION\tSTART-OFFSET\tLOG-END-OFFSET\tUNACKNOWLEDGED\tMEMBERS");
    for share in offsets {
        let end = client
            .list_offset(&share.topic, share.partition, -1)
            .await
            .ok();
        let members = assigned
            .get(&(share.topic.clone(), share.partition))
            .map_or("-".to_string(), |m| m.join(","));
        println!(
            "{}\t{}\t{}\t{}\t{}\t{members}",
            share.topic,
            share.partition,
            share.start_offset,
            end.map_or("-".to_string(), |e| e.to_string()),
            share.lag.map_or("-".to_string(), |l| l.to_string()),
        );
    }
    Ok(())
}

async fn reset(args: ResetArgs) -> anyhow::Result<()> {
    let mut client = super::security::connect(&args.connect.bootstrap_server).await?;
    let description = client.describe_group(&args.group).await?;
    if !description.members.is_empty() {
        anyhow::bail!(
            "group '{}' has {} active member(s) (state {}): stop its consumers before resetting offsets",
            args.group,
            description.members.len(),
            description.state
        );
    }
    let committed = client.committed_offsets(&args.group).await?;
    let topics: Vec<String> = match &args.topic {
        Some(topic) => vec![topic.clone()],
        None => {
            let mut names: Vec<String> = committed.iter().map(|(t, _, _)| t.clone()).collect();
            names.dedup();
            names
        }
    };
    let target = &args.target;
    let timestamp = match (&target.to_datetime, &target.by_duration) {
        (Some(text), _) => Some(super::when::parse_datetime(text)?),
        (_, Some(text)) => Some(now_ms() - super::when::parse_duration(text)?),
        _ => None,
    };
    let mut plan = Vec::new();
    for topic in topics {
        for p in client.topic(&topic).await?.partitions {
            let earliest = client.list_offset(&topic, p.partition, -2).await?;
            let latest = client.list_offset(&topic, p.partition, -1).await?;
            let current = committed
                .iter()
                .find(|(t, q, _)| *t == topic && *q == p.partition)
                .map(|(_, _, o)| *o);
            let wanted = if target.to_earliest {
                earliest
            } else if target.to_latest {
                latest
            } else if let Some(offset) = target.to_offset {
                offset
            } else if let Some(shift) = target.shift_by {
                current.unwrap_or(earliest) + shift
            } else if let Some(ts) = timestamp {
                match client.list_offset(&topic, p.partition, ts).await? {
                    -1 => latest,
                    offset => offset,
                }
            } else {
                anyhow::bail!("choose one of --to-earliest, --to-latest, --to-offset, --shift-by, --to-datetime, --by-duration");
            };
            // Like Kafka's tool: targets outside the log are clamped into it.
            plan.push((topic.clone(), p.partition, wanted.clamp(earliest, latest)));
        }
    }
    println!("GROUP\tTOPIC\tPARTITION\tNEW-OFFSET");
    for (topic, partition, offset) in &plan {
        println!("{}\t{topic}\t{partition}\t{offset}", args.group);
    }
    if args.execute {
        client.commit_group_offsets(&args.group, &plan).await?;
    } else {
        eprintln!("Dry run: nothing changed. Add --execute to apply.");
    }
    Ok(())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
