//! `gregor server`: configuration loading and broker start-up.

use clap::Args;

#[derive(Args)]
pub struct ServerArgs {}

pub fn run(args: ServerArgs) -> anyhow::Result<()> {
    let _ = args;
    anyhow::bail!("not implemented yet")
}
