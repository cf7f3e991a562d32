//! `gregor cluster describe|quorum`: the cluster's brokers (or, KIP-919,
//! its controllers) and the KRaft metadata quorum, as `kafka-cluster` and
//! `kafka-metadata-quorum describe --status --replication` show them.

use super::DEFAULT_BOOTSTRAP;
use clap::{Args, Subcommand};
use gregor_client::{QuorumDescription, QuorumReplica};
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Args)]
pub struct ClusterConnect {
    /// Broker(s) to bootstrap from, comma-separated host:port.
    #[arg(long, global = true, conflicts_with = "bootstrap_controller")]
    pub bootstrap_server: Option<String>,
    /// Controller(s) to bootstrap from instead (their controller listener),
    /// comma-separated host:port.
    #[arg(long, global = true)]
    pub bootstrap_controller: Option<String>,
}

impl ClusterConnect {
    /// The servers to connect to and whether they are controllers.
    fn target(&self) -> (&str, bool) {
        match (&self.bootstrap_controller, &self.bootstrap_server) {
            (Some(controllers), _) => (controllers, true),
            (None, Some(brokers)) => (brokers, false),
            (None, None) => (DEFAULT_BOOTSTRAP, false),
        }
    }
}

#[derive(Subcommand)]
pub enum ClusterCommand {
    /// Cluster id, controller id and the brokers (with --bootstrap-controller:
    /// the controllers) with host:port and rack.
    Describe {
        #[command(flatten)]
        connect: ClusterConnect,
    },
    /// The metadata quorum: leader, epoch, high watermark, and every voter
    /// and observer with its log end offset and lag.
    Quorum {
        #[command(flatten)]
        connect: ClusterConnect,
    },
}

pub async fn run(cmd: ClusterCommand) -> anyhow::Result<()> {
    match cmd {
        ClusterCommand::Describe { connect } => {
            let (servers, controllers) = connect.target();
            let mut client = super::security::connect(servers).await?;
            let cluster = client.describe_cluster(controllers).await?;
            println!("ClusterId:\t{}", cluster.cluster_id);
            println!("ControllerId:\t{}", cluster.controller_id);
            println!(
                "{}",
                if controllers {
                    "Controllers:"
                } else {
                    "Brokers:"
                }
            );
            println!("Id\tHost:Port\tRack");
            for node in &cluster.nodes {
                println!(
                    "{}\t{}:{}\t{}",
                    node.id,
                    node.host,
                    node.port,
                    node.rack.as_deref().unwrap_or("-")
                );
            }
        }
        ClusterCommand::Quorum { connect } => {
            let (servers, controllers) = connect.target();
            let mut client = super::security::connect(servers).await?;
            let cluster = client.describe_cluster(controllers).await?;
            let quorum = client.describe_quorum().await?;
            print_quorum(&cluster.cluster_id, &quorum, now_ms());
        }
    }
    Ok(())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// `describe --status` then `describe --replication`, in Kafka's words.
fn print_quorum(cluster_id: &str, quorum: &QuorumDescription, now: i64) {
    let followers = quorum.voters.iter().filter(|v| v.id != quorum.leader_id);
    let max_lag = followers.clone().map(|v| quorum.lag(v)).max().unwrap_or(0);
    // As Kafka: how long ago the most lagging follower was last caught up.
    let max_lag_time = followers
        .filter(|v| v.last_caught_up_timestamp >= 0)
        .map(|v| (now - v.last_caught_up_timestamp).max(0))
        .max()
        .unwrap_or(0);
    println!("ClusterId:\t{cluster_id}");
    println!("LeaderId:\t{}", quorum.leader_id);
    println!("LeaderEpoch:\t{}", quorum.leader_epoch);
    println!("HighWatermark:\t{}", quorum.high_watermark);
    println!("MaxFollowerLag:\t{max_lag}");
    println!("MaxFollowerLagTimeMs:\t{max_lag_time}");
    println!("CurrentVoters:\t{}", ids(&quorum.voters));
    println!("CurrentObservers:\t{}", ids(&quorum.observers));
    println!();
    println!("NodeId\tDirectoryId\tLogEndOffset\tLag\tLastFetchTimestamp\tLastCaughtUpTimestamp\tStatus\tEndpoints");
    let rows = quorum
        .voters
        .iter()
        .map(|r| {
            (
                r,
                if r.id == quorum.leader_id {
                    "Leader"
                } else {
                    "Follower"
                },
            )
        })
        .chain(quorum.observers.iter().map(|r| (r, "Observer")));
    for (replica, status) in rows {
        let endpoints = quorum
            .endpoints
            .iter()
            .find(|(id, _)| *id == replica.id)
            .map_or(String::from("-"), |(_, e)| e.join(","));
        println!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            replica.id,
            directory_id(replica),
            replica.log_end_offset,
            quorum.lag(replica),
            ago(replica.last_fetch_timestamp, now),
            ago(replica.last_caught_up_timestamp, now),
            status,
            endpoints
        );
    }
}

fn ids(replicas: &[QuorumReplica]) -> String {
    let ids: Vec<String> = replicas.iter().map(|r| r.id.to_string()).collect();
    format!("[{}]", ids.join(","))
}

/// Kafka prints directory ids in its base64 form; zero is a static voter's.
fn directory_id(replica: &QuorumReplica) -> String {
    gregor_broker::meta_properties::kafka_uuid_string(replica.directory_id)
}

/// "N ms ago", as kafka-metadata-quorum --replication prints timestamps.
fn ago(timestamp: i64, now: i64) -> String {
    if timestamp < 0 {
        "-1".to_string()
    } else {
        format!("{} ms ago", (now - timestamp).max(0))
    }
}
