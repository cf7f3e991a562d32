use clap::Args;

#[derive(Args)]
pub struct ConsumeArgs {
    pub topic: String,
}

pub async fn run(args: ConsumeArgs) -> anyhow::Result<()> {
    let _ = args;
    anyhow::bail!("not implemented yet")
}
