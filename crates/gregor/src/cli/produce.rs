use clap::Args;

#[derive(Args)]
pub struct ProduceArgs {
    pub topic: String,
}

pub async fn run(args: ProduceArgs) -> anyhow::Result<()> {
    let _ = args;
    anyhow::bail!("not implemented yet")
}
