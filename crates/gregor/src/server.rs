//! `gregor server`: configuration loading and broker start-up.
//!
//! Settings use Kafka's names. They come from an optional Kafka-style
//! `.properties` file (`--config`), then from `--set key=value` flags, which
//! win. With neither, a single-node cluster starts on 127.0.0.1:9092 with
//! data under ./gregor-data.

use anyhow::Context;
use clap::Args;
use gregor_broker::config::{parse_assignment, parse_properties};
use gregor_broker::{Broker, BrokerConfig};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct ServerArgs {
    /// A Kafka server.properties-style file (key=value lines, # comments).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Set one configuration, e.g. --set log.retention.hours=24 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    settings: Vec<String>,
}

/// Reads settings from a Kafka-style properties file, then `--set` flags
/// (which win). `gregor storage format` uses the same loader.
pub fn load_settings(
    config: Option<&Path>,
    flags: &[String],
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut settings = match config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            parse_properties(&text).with_context(|| format!("in {}", path.display()))?
        }
        None => Default::default(),
    };
    for assignment in flags {
        let (key, value) = parse_assignment(assignment)
            .map_err(|_| anyhow::anyhow!("--set expects KEY=VALUE, got '{assignment}'"))?;
        settings.insert(key, value);
    }
    Ok(settings)
}

pub fn run(args: ServerArgs) -> anyhow::Result<()> {
    let settings = load_settings(args.config.as_deref(), &args.settings)?;
    let config = BrokerConfig::from_settings(settings)?;

    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("GREGOR_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    gregor_broker::fd_limit::raise_open_files_limit();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let broker = Broker::start(config).await?;
        wait_for_signal().await?;
        broker.shutdown().await
    })
}

/// SIGTERM or Ctrl-C.
async fn wait_for_signal() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => {}
        result = tokio::signal::ctrl_c() => result?,
    }
    Ok(())
}
