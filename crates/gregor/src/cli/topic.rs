use clap::Subcommand;

#[derive(Subcommand)]
pub enum TopicCommand {
    /// List topics.
    List,
}

pub async fn run(cmd: TopicCommand) -> anyhow::Result<()> {
    let _ = cmd;
    anyhow::bail!("not implemented yet")
}
