//! `gregor storage`: `random-uuid` and `format`, as Kafka's `kafka-storage`
//! tool. Formatting writes a v1 `meta.properties` (cluster.id, node.id,
//! directory.id) into every `log.dirs` entry and `metadata.log.dir`, so the
//! node starts in the cluster chosen by the operator instead of a random one.

use anyhow::bail;
use clap::{Args, Subcommand};
use gregor_broker::meta_properties;
use gregor_broker::security::scram_bootstrap;
use gregor_broker::BrokerConfig;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum StorageCommand {
    /// Print a new random cluster id (22 characters of URL-safe base64).
    RandomUuid,
    /// Write meta.properties into the log dirs of a server.properties file.
    Format(FormatArgs),
}

#[derive(Args)]
pub struct FormatArgs {
    /// The cluster id, e.g. from `gregor storage random-uuid`.
    #[arg(short = 't', long = "cluster-id", value_name = "CLUSTER_ID")]
    cluster_id: String,
    /// The server.properties file `gregor server --config` will use.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    config: PathBuf,
    /// Skip dirs already formatted (for the same cluster) instead of failing.
    #[arg(short = 'g', long = "ignore-formatted")]
    ignore_formatted: bool,
    /// Bootstrap a dynamic quorum with this controller as its only voter.
    #[arg(short = 's', long = "standalone")]
    standalone: bool,
    /// A SCRAM user the new cluster starts with, as kafka-storage:
    /// 'SCRAM-SHA-256=[name=alice,password=alice-secret]' (optionally
    /// iterations=, salt=, or saltedpassword= with salt=). Repeatable.
    #[arg(short = 'S', long = "add-scram", value_name = "CREDENTIAL")]
    add_scram: Vec<String>,
}

pub fn run(command: StorageCommand) -> anyhow::Result<()> {
    match command {
        StorageCommand::RandomUuid => {
            println!("{}", meta_properties::random_id());
            Ok(())
        }
        StorageCommand::Format(args) => format(args),
    }
}

fn format(args: FormatArgs) -> anyhow::Result<()> {
    let settings = crate::server::load_settings(Some(&args.config), &[])?;
    let config = BrokerConfig::from_settings(settings)?;
    let cluster_id = args.cluster_id.trim();
    if meta_properties::parse_kafka_uuid(cluster_id).is_none() {
        bail!("Cluster ID string {cluster_id} does not appear to be a valid UUID");
    }
    check_quorum_flags(&config, args.standalone)?;
    let scram_users = args
        .add_scram
        .iter()
        .map(|text| scram_bootstrap::parse(text).map_err(anyhow::Error::msg))
        .collect::<anyhow::Result<Vec<_>>>()?;

    // Check every dir before writing any, so a refused run writes nothing.
    let mut unformatted = Vec::new();
    for dir in &config.formatted_dirs {
        let verified = meta_properties::verify(std::slice::from_ref(dir), config.node_id)
            .map_err(anyhow::Error::msg)?;
        match verified {
            None => unformatted.push(dir.clone()),
            Some(stored) if stored != cluster_id => bail!(
                "Invalid cluster.id in: {}. Expected {cluster_id}, but read {stored}",
                dir.join("meta.properties").display()
            ),
            Some(_) if !args.ignore_formatted => bail!(
                "Log directory {} is already formatted. Use --ignore-formatted to ignore this \
                 directory and format the others.",
                dir.display()
            ),
            Some(_) => {}
        }
    }
    if unformatted.is_empty() {
        println!("All of the log directories are already formatted.");
        return Ok(());
    }
    let metadata_dir = match config.value("metadata.log.dir").trim() {
        "" => config.log_dir.clone(),
        dir => PathBuf::from(dir),
    };
    for dir in unformatted {
        std::fs::create_dir_all(&dir)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
        meta_properties::write(&dir, cluster_id, config.node_id)
            .map_err(|e| anyhow::anyhow!("cannot format {}: {e}", dir.display()))?;
        if dir == metadata_dir && !scram_users.is_empty() {
            // Read by the first controller change of the new cluster.
            scram_bootstrap::write_file(&dir, &scram_users)
                .map_err(|e| anyhow::anyhow!("cannot format {}: {e}", dir.display()))?;
        }
        // Kafka's wording, less the metadata.version Gregor does not have.
        let kind = match (dir == metadata_dir, args.standalone) {
            (true, true) => "dynamic metadata voter",
            (true, false) => "metadata",
            (false, _) => "data",
        };
        println!("Formatting {kind} directory {}.", dir.display());
    }
    Ok(())
}

/// kafka-storage's rules for `--standalone`: a dynamic quorum (only
/// `controller.quorum.bootstrap.servers`) is bootstrapped by it; a static one
/// (`controller.quorum.voters`) must not be.
fn check_quorum_flags(config: &BrokerConfig, standalone: bool) -> anyhow::Result<()> {
    let quorum = &config.quorum;
    if standalone && !quorum.controller {
        bail!("You can only use --standalone on a controller.");
    }
    if standalone && !quorum.voters.is_empty() {
        bail!(
            "You cannot specify controller.quorum.voters and format the node with --standalone. \
             If you want to use dynamic quorum, please remove controller.quorum.voters and \
             specify controller.quorum.bootstrap.servers instead."
        );
    }
    if !standalone
        && quorum.controller
        && quorum.voters.is_empty()
        && !quorum.bootstrap_servers.is_empty()
    {
        bail!(
            "Because controller.quorum.voters is not set on this controller, you must specify \
             --standalone (Gregor does not support --initial-controllers or \
             --no-initial-controllers yet)."
        );
    }
    Ok(())
}
