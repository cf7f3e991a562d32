//! `gregor`: the broker and the command-line tool in one binary.

mod cli;
mod dev_cluster;
mod server;
mod storage;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "gregor",
    version,
    about = "A Kafka-compatible event-streaming platform"
)]
struct Gregor {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    security: cli::security::SecurityArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Start a broker (single-node cluster with embedded defaults).
    Server(server::ServerArgs),
    /// Format log dirs (meta.properties) and make cluster ids, as kafka-storage.
    #[command(subcommand)]
    Storage(storage::StorageCommand),
    /// Create, list, describe, delete topics and add partitions.
    #[command(subcommand)]
    Topic(cli::topic::TopicCommand),
    /// Elect partition leaders and reassign partitions to other brokers.
    #[command(subcommand)]
    Partition(cli::partition::PartitionCommand),
    /// List and describe consumer groups (members, offsets, lag).
    #[command(subcommand)]
    Group(cli::group::GroupCommand),
    /// Add, list and remove ACLs; explain which ACL decides an access.
    #[command(subcommand)]
    Acl(cli::acl::AclCommand),
    /// Set, list and remove client quotas (users, client ids, defaults).
    #[command(subcommand)]
    Quota(cli::quota::QuotaCommand),
    /// Describe the cluster (brokers or controllers) and its metadata quorum.
    #[command(subcommand)]
    Cluster(cli::cluster::ClusterCommand),
    /// List and describe transactions.
    #[command(subcommand)]
    Txn(cli::txn::TxnCommand),
    /// Produce lines from stdin as records.
    Produce(cli::produce::ProduceArgs),
    /// Consume records and print them.
    Consume(cli::consume::ConsumeArgs),
    /// Load generators: produce or consume at full speed and report rates and latencies.
    #[command(subcommand)]
    Perf(cli::perf::PerfCommand),
    /// Run a local multi-node cluster (one process per node) for development.
    DevCluster(dev_cluster::DevClusterArgs),
}

/// Huge allocations become address-space reservations, so a request with a
/// lying array count cannot abort the process (see alloc_guard).
#[cfg(target_os = "linux")]
#[global_allocator]
static GLOBAL: gregor_protocol::alloc_guard::Guard = gregor_protocol::alloc_guard::Guard;

fn main() -> ExitCode {
    let args = Gregor::parse();
    let result = run(args);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // One line, as operators expect from a CLI.
            eprintln!("gregor: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Gregor) -> anyhow::Result<()> {
    let serves = matches!(
        args.command,
        Command::Server(_) | Command::Storage(_) | Command::DevCluster(_)
    );
    if serves && !args.security.is_empty() {
        anyhow::bail!("--command-config and --command-property are for the client commands");
    }
    cli::security::configure(&args.security)?;
    match args.command {
        Command::Server(args) => server::run(args),
        Command::Storage(cmd) => storage::run(cmd),
        Command::Topic(cmd) => cli::run(cli::topic::run(cmd)),
        Command::Produce(args) => cli::run(cli::produce::run(args)),
        Command::Consume(args) => cli::run(cli::consume::run(args)),
        Command::Group(cmd) => cli::run(cli::group::run(cmd)),
        Command::Partition(cmd) => cli::run(cli::partition::run(cmd)),
        Command::Txn(cmd) => cli::run(cli::txn::run(cmd)),
        Command::Acl(cmd) => cli::run(cli::acl::run(cmd)),
        Command::Quota(cmd) => cli::run(cli::quota::run(cmd)),
        Command::Cluster(cmd) => cli::run(cli::cluster::run(cmd)),
        Command::Perf(cmd) => cli::run_parallel(cli::perf::run(cmd)),
        Command::DevCluster(args) => dev_cluster::run(args),
    }
}
