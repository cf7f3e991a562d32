//! KIP-890 verification when the transaction coordinator is another
//! broker (Kafka's `AddPartitionsToTxnManager`): before a producer's first
//! transactional batch goes into a partition, its leader asks the
//! coordinator, with AddPartitionsToTxn v5 between brokers, whether the
//! partition is in the producer's open transaction (`verify_only`, for
//! transaction version 1 clients) or to add it (Produce v12+, transaction
//! version 2 clients, which send no AddPartitionsToTxn themselves). The
//! partition's verification guard, taken before asking, must still hold
//! when the batch is appended.

use crate::internal_topics::{self, TXN_TOPIC};
use crate::server::Broker;
use gregor_protocol::error_codes;
use kafka_protocol::messages::add_partitions_to_txn_request::{
    AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction,
};
use kafka_protocol::messages::{
    AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, ApiKey, RequestKind, ResponseKind,
    TopicName,
};
use kafka_protocol::protocol::StrBytes;

/// The broker-to-broker version (batched, with `verify_only`).
pub const ADD_PARTITIONS_TO_TXN_VERSION: i16 = 5;

/// What to ask the coordinator about one partition.
#[derive(Debug, Clone, Copy)]
pub struct Verification<'a> {
    pub transactional_id: &'a str,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub topic: &'a str,
    pub partition: i32,
    /// Add the partition (transaction version 2) rather than only verify.
    pub add: bool,
}

/// Asks the transaction coordinator of `v.transactional_id`: NONE when the
/// partition is (now) in the open transaction, else the coordinator's code
/// (COORDINATOR_NOT_AVAILABLE when it cannot be reached, which producers
/// hear as NOT_ENOUGH_REPLICAS and retry).
pub async fn verify(broker: &Broker, v: Verification<'_>) -> i16 {
    let image = broker.controller.image();
    let partitions = image
        .topic(TXN_TOPIC)
        .map_or(0, |t| t.partitions.len() as i32);
    if partitions == 0 {
        return error_codes::COORDINATOR_NOT_AVAILABLE;
    }
    let txn_partition = internal_topics::partition_for(v.transactional_id, partitions);
    let leader = image
        .topic(TXN_TOPIC)
        .and_then(|t| t.partitions.get(&txn_partition))
        .map_or(-1, |p| p.leader);
    if leader < 0 {
        return error_codes::COORDINATOR_NOT_AVAILABLE;
    }
    if leader == broker.config.node_id {
        // The coordinator moved here since the caller looked: retried.
        return error_codes::NOT_COORDINATOR;
    }
    let result = broker
        .verify_channel
        .call(
            &image,
            leader,
            ApiKey::AddPartitionsToTxn,
            ADD_PARTITIONS_TO_TXN_VERSION,
            RequestKind::AddPartitionsToTxn(request_for(&v)),
        )
        .await;
    match result {
        Ok(ResponseKind::AddPartitionsToTxn(response)) => code_in(&response, &v),
        Ok(_) => error_codes::COORDINATOR_NOT_AVAILABLE,
        Err(err) => {
            tracing::debug!(coordinator = leader, %err, "cannot verify a transactional produce");
            error_codes::COORDINATOR_NOT_AVAILABLE
        }
    }
}

fn request_for(v: &Verification<'_>) -> AddPartitionsToTxnRequest {
    let topic = AddPartitionsToTxnTopic::default()
        .with_name(TopicName(StrBytes::from_string(v.topic.to_string())))
        .with_partitions(vec![v.partition]);
    AddPartitionsToTxnRequest::default().with_transactions(vec![
        AddPartitionsToTxnTransaction::default()
            .with_transactional_id(StrBytes::from_string(v.transactional_id.to_string()).into())
            .with_producer_id(v.producer_id.into())
            .with_producer_epoch(v.producer_epoch)
            .with_verify_only(!v.add)
            .with_topics(vec![topic]),
    ])
}

/// The partition's code in the answer; the request-level code wins.
fn code_in(response: &AddPartitionsToTxnResponse, v: &Verification<'_>) -> i16 {
    if response.error_code != error_codes::NONE {
        return response.error_code;
    }
    response
        .results_by_transaction
        .iter()
        .filter(|r| r.transactional_id.as_str() == v.transactional_id)
        .flat_map(|r| r.topic_results.iter())
        .filter(|t| t.name.as_str() == v.topic)
        .flat_map(|t| t.results_by_partition.iter())
        .find(|p| p.partition_index == v.partition)
        .map_or(error_codes::COORDINATOR_NOT_AVAILABLE, |p| {
            p.partition_error_code
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::add_partitions_to_txn_response::{
        AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
    };

    fn verification(add: bool) -> Verification<'static> {
        Verification {
            transactional_id: "t",
            producer_id: 4,
            producer_epoch: 2,
            topic: "data",
            partition: 1,
            add,
        }
    }

    fn answer(partition: i32, code: i16) -> AddPartitionsToTxnResponse {
        AddPartitionsToTxnResponse::default().with_results_by_transaction(vec![
            AddPartitionsToTxnResult::default()
                .with_transactional_id(StrBytes::from_static_str("t").into())
                .with_topic_results(vec![AddPartitionsToTxnTopicResult::default()
                    .with_name(TopicName(StrBytes::from_static_str("data")))
                    .with_results_by_partition(vec![
                        AddPartitionsToTxnPartitionResult::default()
                            .with_partition_index(partition)
                            .with_partition_error_code(code),
                    ])]),
        ])
    }

    #[test]
    fn transaction_version_2_adds_and_version_1_only_verifies() {
        let add = request_for(&verification(true));
        assert!(!add.transactions[0].verify_only);
        let only = request_for(&verification(false));
        let txn = &only.transactions[0];
        assert!(txn.verify_only);
        assert_eq!((txn.producer_id.0, txn.producer_epoch), (4, 2));
        assert_eq!(txn.topics[0].partitions, vec![1]);
    }

    #[test]
    fn the_partitions_code_is_read_and_a_missing_one_is_retriable() {
        let v = verification(false);
        assert_eq!(
            code_in(&answer(1, error_codes::NONE), &v),
            error_codes::NONE
        );
        assert_eq!(
            code_in(&answer(1, error_codes::TRANSACTION_ABORTABLE), &v),
            error_codes::TRANSACTION_ABORTABLE
        );
        assert_eq!(
            code_in(&answer(0, error_codes::NONE), &v),
            error_codes::COORDINATOR_NOT_AVAILABLE
        );
        let refused = answer(1, error_codes::NONE).with_error_code(error_codes::INVALID_REQUEST);
        assert_eq!(code_in(&refused, &v), error_codes::INVALID_REQUEST);
    }
}
