//! The command-line tools. Each talks to any Kafka-protocol cluster.

pub mod acl;
pub mod cluster;
pub mod consume;
pub mod group;
pub mod partition;
pub mod perf;
pub mod produce;
pub mod quota;
pub mod security;
pub mod table;
pub mod topic;
pub mod txn;
pub mod when;

use std::future::Future;

/// Where the tools connect unless told otherwise.
pub const DEFAULT_BOOTSTRAP: &str = "127.0.0.1:9092";

/// Runs one CLI command on a small runtime.
pub fn run(fut: impl Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(fut);
    // tokio reads stdin on a blocking thread that a normal runtime drop
    // would wait for: a producer stopped by Ctrl-C would hang until EOF.
    runtime.shutdown_background();
    result
}

/// Runs a load generator on all cores, so the client is not the bottleneck.
pub fn run_parallel(fut: impl Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(fut)
}

/// Completes on Ctrl-C; never, if the handler cannot be installed. Tools
/// that buffer output or records wait on this to flush before exiting.
pub async fn ctrl_c() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}
