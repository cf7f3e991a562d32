//! `gregor txn list|describe`: the transactions coordinators know, as
//! Kafka's `kafka-transactions.sh list|describe` shows them.

use super::topic::Connect;
use clap::Subcommand;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Subcommand)]
pub enum TxnCommand {
    /// List transactional ids with their producer id and state.
    List {
        /// Only these states (Empty, Ongoing, PrepareCommit, PrepareAbort,
        /// CompleteCommit, CompleteAbort); repeatable.
        #[arg(long = "state")]
        states: Vec<String>,
        #[command(flatten)]
        connect: Connect,
    },
    /// One transactional id: producer, state, timeout, open partitions.
    Describe {
        /// The transactional id.
        #[arg(long)]
        transactional_id: String,
        #[command(flatten)]
        connect: Connect,
    },
}

pub async fn run(cmd: TxnCommand) -> anyhow::Result<()> {
    match cmd {
        TxnCommand::List { states, connect } => {
            let mut client = super::security::connect(&connect.bootstrap_server).await?;
            println!("TransactionalId\tProducerId\tTransactionState");
            for txn in client.list_transactions(&states).await? {
                println!(
                    "{}\t{}\t{}",
                    txn.transactional_id, txn.producer_id, txn.state
                );
            }
        }
        TxnCommand::Describe {
            transactional_id,
            connect,
        } => {
            let mut client = super::security::connect(&connect.bootstrap_server).await?;
            let txn = client.describe_transaction(&transactional_id).await?;
            let (start, duration) = if txn.start_time_ms < 0 {
                ("None".to_string(), "None".to_string())
            } else {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as i64);
                (
                    txn.start_time_ms.to_string(),
                    (now - txn.start_time_ms).max(0).to_string(),
                )
            };
            let partitions: Vec<String> = txn
                .partitions
                .iter()
                .map(|(topic, p)| format!("{topic}-{p}"))
                .collect();
            println!("CoordinatorId\tTransactionalId\tProducerId\tProducerEpoch\tTransactionState\tTransactionTimeoutMs\tCurrentTransactionStartTimeMs\tTransactionDurationMs\tTopicPartitions");
            println!(
                "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                txn.coordinator_id,
                txn.transactional_id,
                txn.producer_id,
                txn.producer_epoch,
                txn.state,
                txn.timeout_ms,
                start,
                duration,
                partitions.join(",")
            );
        }
    }
    Ok(())
}
