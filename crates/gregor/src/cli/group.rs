//! `gregor group list|describe`: consumer groups, their members and lag.

use super::topic::Connect;
use clap::Subcommand;
use gregor_client::Client;
use std::collections::BTreeMap;

#[derive(Subcommand)]
pub enum GroupCommand {
    /// List consumer groups with their state.
    List {
        #[command(flatten)]
        connect: Connect,
    },
    /// Members, assignments, committed offsets, log end offsets and lag per partition.
    Describe {
        group: String,
        #[command(flatten)]
        connect: Connect,
    },
}

pub async fn run(cmd: GroupCommand) -> anyhow::Result<()> {
    match cmd {
        GroupCommand::List { connect } => {
            let mut client = Client::connect(&connect.bootstrap_server).await?;
            for group in client.list_groups().await? {
                println!("{}\t{}", group.group_id, group.state);
            }
        }
        GroupCommand::Describe { group, connect } => {
            let mut client = Client::connect(&connect.bootstrap_server).await?;
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
    }
    Ok(())
}
