//! `--command-config FILE` and `--command-property KEY=VALUE`: how the tools
//! reach SSL, SASL_PLAINTEXT and SASL_SSL listeners, with Kafka's client
//! setting names (as `kafka-topics --command-config`). Read once at start;
//! every client the command opens uses the result.

use clap::Args;
use gregor_client::properties::{connector_from, parse_properties};
use gregor_client::{Client, Connector, DEFAULT_REQUEST_TIMEOUT};
use std::path::PathBuf;
use std::sync::OnceLock;

#[derive(Args, Debug, Default)]
pub struct SecurityArgs {
    /// Kafka client settings (Java properties) for a secured cluster:
    /// security.protocol, ssl.* (PEM), sasl.mechanism, sasl.jaas.config.
    #[arg(long, global = true, value_name = "FILE")]
    pub command_config: Option<PathBuf>,
    /// One client setting, after (and over) those of --command-config (repeatable).
    #[arg(long = "command-property", global = true, value_name = "KEY=VALUE")]
    pub command_properties: Vec<String>,
}

impl SecurityArgs {
    pub fn is_empty(&self) -> bool {
        self.command_config.is_none() && self.command_properties.is_empty()
    }
}

static CONNECTOR: OnceLock<Connector> = OnceLock::new();

/// Reads the settings and keeps the connector for [`connect`].
pub fn configure(args: &SecurityArgs) -> anyhow::Result<()> {
    let mut settings = Vec::new();
    if let Some(path) = &args.command_config {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read --command-config {}: {e}", path.display()))?;
        settings = parse_properties(&text);
    }
    for property in &args.command_properties {
        let (key, value) = property.split_once('=').ok_or_else(|| {
            anyhow::anyhow!("--command-property expects KEY=VALUE, got '{property}'")
        })?;
        settings.push((key.trim().to_string(), value.to_string()));
    }
    let connector = connector_from(&settings)?;
    // Set once, before any command runs.
    let _ = CONNECTOR.set(connector);
    Ok(())
}

/// A client of the cluster at `bootstrap`, secured as configured.
pub async fn connect(bootstrap: &str) -> anyhow::Result<Client> {
    let connector = CONNECTOR.get().cloned().unwrap_or_default();
    Client::connect_using(bootstrap, DEFAULT_REQUEST_TIMEOUT, connector).await
}
