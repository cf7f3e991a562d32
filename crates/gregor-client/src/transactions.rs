//! Transaction administration: list the transactions coordinators know
//! (ListTransactions) and describe one (DescribeTransactions, asked of its
//! coordinator), as Kafka's `kafka-transactions.sh` does.

use crate::client::Client;
use crate::error::check;
use crate::groups::{is_coordinator_retriable, retrying, COORDINATOR_RETRY_BACKOFF};
use anyhow::bail;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use std::time::Instant;

/// FindCoordinator's key type for transactional ids.
const TRANSACTION_KEY: i8 = 1;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionListing {
    pub transactional_id: String,
    pub producer_id: i64,
    pub state: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionDescription {
    pub transactional_id: String,
    pub coordinator_id: i32,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub state: String,
    pub timeout_ms: i32,
    /// -1 when no transaction is open.
    pub start_time_ms: i64,
    /// (topic, partition) pairs in the open transaction.
    pub partitions: Vec<(String, i32)>,
}

impl Client {
    /// Transactions in the given states (all when empty), by id: each
    /// broker lists the transactions it coordinates, so all are asked (as
    /// Kafka's admin client does).
    pub async fn list_transactions(
        &mut self,
        states: &[String],
    ) -> anyhow::Result<Vec<TransactionListing>> {
        self.metadata(Some(&[])).await?;
        let mut ids = self.broker_ids();
        ids.sort();
        let mut listed = Vec::new();
        for id in ids {
            listed.extend(retrying!(self, self.list_transactions_of(id, states))?);
        }
        listed.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        listed.dedup_by(|a, b| a.transactional_id == b.transactional_id);
        Ok(listed)
    }

    async fn list_transactions_of(
        &mut self,
        broker: i32,
        states: &[String],
    ) -> anyhow::Result<Vec<TransactionListing>> {
        let request = ListTransactionsRequest::default()
            .with_state_filters(
                states
                    .iter()
                    .map(|s| StrBytes::from_string(s.clone()))
                    .collect(),
            )
            .with_duration_filter(-1);
        let (response, _) = self
            .broker(broker)
            .await?
            .send(
                ApiKey::ListTransactions,
                1,
                RequestKind::ListTransactions(request),
            )
            .await?;
        let ResponseKind::ListTransactions(response) = response else {
            bail!("unexpected answer to ListTransactions")
        };
        check(response.error_code, || {
            "cannot list transactions".to_string()
        })?;
        if !response.unknown_state_filters.is_empty() {
            let unknown: Vec<String> = response
                .unknown_state_filters
                .iter()
                .map(|s| s.to_string())
                .collect();
            bail!("unknown transaction state(s): {}", unknown.join(", "));
        }
        Ok(response
            .transaction_states
            .into_iter()
            .map(|t| TransactionListing {
                transactional_id: t.transactional_id.to_string(),
                producer_id: t.producer_id.0,
                state: t.transaction_state.to_string(),
            })
            .collect())
    }

    /// A transaction's state, asked of its coordinator (found again while
    /// it moves or loads).
    pub async fn describe_transaction(
        &mut self,
        transactional_id: &str,
    ) -> anyhow::Result<TransactionDescription> {
        retrying!(self, self.describe_transaction_once(transactional_id))
    }

    async fn describe_transaction_once(
        &mut self,
        transactional_id: &str,
    ) -> anyhow::Result<TransactionDescription> {
        let (coordinator_id, mut coordinator) = self
            .find_coordinator(transactional_id, TRANSACTION_KEY, "transactional id")
            .await?;
        let request =
            DescribeTransactionsRequest::default().with_transactional_ids(vec![TransactionalId(
                StrBytes::from_string(transactional_id.to_string()),
            )]);
        let (response, _) = coordinator
            .send(
                ApiKey::DescribeTransactions,
                0,
                RequestKind::DescribeTransactions(request),
            )
            .await?;
        let ResponseKind::DescribeTransactions(response) = response else {
            bail!("unexpected answer to DescribeTransactions")
        };
        let Some(state) = response.transaction_states.into_iter().next() else {
            bail!("empty DescribeTransactions answer")
        };
        check(state.error_code, || {
            format!("cannot describe transactional id '{transactional_id}'")
        })?;
        let partitions = state
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| (t.topic.to_string(), *p)))
            .collect();
        Ok(TransactionDescription {
            transactional_id: transactional_id.to_string(),
            coordinator_id,
            producer_id: state.producer_id.0,
            producer_epoch: state.producer_epoch,
            state: state.transaction_state.to_string(),
            timeout_ms: state.transaction_timeout_ms,
            start_time_ms: state.transaction_start_time_ms,
            partitions,
        })
    }
}
