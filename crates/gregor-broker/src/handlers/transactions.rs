//! The transaction APIs: AddPartitionsToTxn, AddOffsetsToTxn, EndTxn,
//! TxnOffsetCommit, WriteTxnMarkers, DescribeTransactions and
//! ListTransactions, answered by the transaction coordinator
//! (`txn_service`) and, for offsets, the group coordinator.

use crate::clock::now_ms;
use crate::handlers::leader_hint::led_partition;
use crate::internal_topics::OFFSETS_TOPIC;
use crate::server::Broker;
use crate::txn_service::Marker;
use crate::txn_verification::{self, Verification};
use gregor_coordinator::txn::{EndRequest, TxnMetadata, TxnState};
use gregor_protocol::error_codes;
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::describe_transactions_response::{self, TopicData};
use kafka_protocol::messages::list_transactions_response;
use kafka_protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
};
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, AddPartitionsToTxnRequest,
    AddPartitionsToTxnResponse, DescribeTransactionsRequest, DescribeTransactionsResponse,
    EndTxnRequest, EndTxnResponse, ListTransactionsRequest, ListTransactionsResponse, TopicName,
    TxnOffsetCommitRequest, TxnOffsetCommitResponse, WriteTxnMarkersRequest,
    WriteTxnMarkersResponse,
};

use super::str_bytes;

/// From this version AddPartitionsToTxn batches transactions (broker to
/// broker, with `verify_only`).
const BATCHED_ADD_PARTITIONS: i16 = 4;
/// EndTxn v5+ and TxnOffsetCommit v5+ come from clients running
/// transaction version 2 (KIP-890 part 2).
const TRANSACTION_V2_VERSION: i16 = 5;
const CLIENT_TRANSACTION_V2: i16 = 2;

pub async fn add_partitions(
    broker: &Broker,
    request: AddPartitionsToTxnRequest,
    version: i16,
) -> AddPartitionsToTxnResponse {
    if version < BATCHED_ADD_PARTITIONS {
        let results = add_one(
            broker,
            &request.v3_and_below_transactional_id,
            request.v3_and_below_producer_id.0,
            request.v3_and_below_producer_epoch,
            false,
            &request.v3_and_below_topics,
        )
        .await;
        return AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(results);
    }
    let mut results = Vec::with_capacity(request.transactions.len());
    for txn in &request.transactions {
        let topics = add_one(
            broker,
            &txn.transactional_id,
            txn.producer_id.0,
            txn.producer_epoch,
            txn.verify_only,
            &txn.topics,
        )
        .await;
        results.push(
            AddPartitionsToTxnResult::default()
                .with_transactional_id(txn.transactional_id.clone())
                .with_topic_results(topics),
        );
    }
    AddPartitionsToTxnResponse::default().with_results_by_transaction(results)
}

/// One transaction's partitions: unknown ones get UNKNOWN_TOPIC_OR_PARTITION
/// and the rest error_codes::OPERATION_NOT_ATTEMPTED, as Kafka answers; otherwise one
/// code for all (or one per partition when only verifying).
async fn add_one(
    broker: &Broker,
    transactional_id: &str,
    producer_id: i64,
    epoch: i16,
    verify_only: bool,
    topics: &[AddPartitionsToTxnTopic],
) -> Vec<AddPartitionsToTxnTopicResult> {
    let partitions: Vec<(String, i32)> = topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| (t.name.to_string(), *p)))
        .collect();
    let image = broker.controller.image();
    let exists = |(topic, p): &(String, i32)| {
        image
            .topic(topic)
            .is_some_and(|t| t.partitions.contains_key(p))
    };
    let codes: Vec<i16> = if !partitions.iter().all(exists) {
        partitions
            .iter()
            .map(|p| {
                if exists(p) {
                    error_codes::OPERATION_NOT_ATTEMPTED
                } else {
                    error_codes::UNKNOWN_TOPIC_OR_PARTITION
                }
            })
            .collect()
    } else if verify_only {
        broker
            .txns
            .verify(transactional_id, producer_id, epoch, &partitions)
            .unwrap_or_else(|error| vec![error; partitions.len()])
    } else {
        let result = broker
            .txns
            .add_partitions(transactional_id, producer_id, epoch, &partitions)
            .await;
        vec![result.err().unwrap_or(error_codes::NONE); partitions.len()]
    };
    let mut codes = codes.into_iter();
    topics
        .iter()
        .map(|t| {
            let results = t
                .partitions
                .iter()
                .map(|p| {
                    AddPartitionsToTxnPartitionResult::default()
                        .with_partition_index(*p)
                        .with_partition_error_code(codes.next().unwrap_or(error_codes::NONE))
                })
                .collect();
            AddPartitionsToTxnTopicResult::default()
                .with_name(t.name.clone())
                .with_results_by_partition(results)
        })
        .collect()
}

pub async fn add_offsets(
    broker: &Broker,
    request: AddOffsetsToTxnRequest,
) -> AddOffsetsToTxnResponse {
    let result = match offsets_partition(broker, &request.group_id) {
        Ok(partition) => {
            broker
                .txns
                .add_partitions(
                    &request.transactional_id,
                    request.producer_id.0,
                    request.producer_epoch,
                    &[(OFFSETS_TOPIC.to_string(), partition)],
                )
                .await
        }
        Err(code) => Err(code),
    };
    AddOffsetsToTxnResponse::default().with_error_code(result.err().unwrap_or(error_codes::NONE))
}

fn offsets_partition(broker: &Broker, group_id: &str) -> Result<i32, i16> {
    broker.groups.offsets_partition(group_id).map_err(|err| {
        tracing::error!(%err, "cannot create the offsets topic");
        error_codes::COORDINATOR_NOT_AVAILABLE
    })
}

pub async fn end(broker: &Broker, request: EndTxnRequest, version: i16) -> EndTxnResponse {
    let client_version = if version >= TRANSACTION_V2_VERSION {
        CLIENT_TRANSACTION_V2
    } else {
        0
    };
    let end = EndRequest {
        transactional_id: &request.transactional_id,
        producer_id: request.producer_id.0,
        epoch: request.producer_epoch,
        commit: request.committed,
        client_version,
    };
    let result = broker.txns.end_txn(&end).await;
    match result {
        Ok((producer_id, epoch)) => EndTxnResponse::default()
            .with_producer_id(producer_id.into())
            .with_producer_epoch(epoch),
        Err(error) => EndTxnResponse::default()
            .with_error_code(error)
            .with_producer_id((-1).into())
            .with_producer_epoch(-1),
    }
}

pub async fn txn_offset_commit(
    broker: &Broker,
    request: TxnOffsetCommitRequest,
    version: i16,
) -> TxnOffsetCommitResponse {
    // Only the group's coordinator takes it (NOT_COORDINATOR /
    // COORDINATOR_LOAD_IN_PROGRESS first, as Kafka's group coordinator
    // answers before it verifies the transaction).
    if request.group_id.is_empty() {
        return txn_commit_failed(&request, error_codes::INVALID_GROUP_ID);
    }
    if let Err(code) = broker.groups.read(&request.group_id, |_| ()) {
        return txn_commit_failed(&request, code);
    }
    // Transaction version 2 clients skip AddOffsetsToTxn: the offsets
    // partition joins the transaction with the commit.
    if version >= TRANSACTION_V2_VERSION {
        let added = match offsets_partition(broker, &request.group_id) {
            Ok(partition) if broker.txns.is_local(&request.transactional_id) => {
                broker
                    .txns
                    .add_partitions(
                        &request.transactional_id,
                        request.producer_id.0,
                        request.producer_epoch,
                        &[(OFFSETS_TOPIC.to_string(), partition)],
                    )
                    .await
            }
            // The transaction coordinator is another broker: this group
            // coordinator adds the partition there, as a partition leader
            // does for Produce v12+.
            Ok(partition) => {
                let verification = Verification {
                    transactional_id: &request.transactional_id,
                    producer_id: request.producer_id.0,
                    producer_epoch: request.producer_epoch,
                    topic: OFFSETS_TOPIC,
                    partition,
                    add: true,
                };
                match txn_verification::verify(broker, verification).await {
                    error_codes::NONE => Ok(()),
                    code => Err(code),
                }
            }
            Err(code) => Err(code),
        };
        if let Err(error) = added {
            return txn_commit_failed(&request, error);
        }
    }
    let image = broker.controller.image();
    let unknown = request.topics.iter().any(|t| {
        image.topic(&t.name).is_none_or(|topic| {
            t.partitions
                .iter()
                .any(|p| !topic.partitions.contains_key(&p.partition_index))
        })
    });
    if unknown {
        return txn_commit_failed(&request, error_codes::UNKNOWN_TOPIC_OR_PARTITION);
    }
    match broker.groups.txn_commit(&request).await {
        Ok(response) => response,
        Err(code) => txn_commit_failed(&request, code),
    }
}

fn txn_commit_failed(request: &TxnOffsetCommitRequest, error: i16) -> TxnOffsetCommitResponse {
    use kafka_protocol::messages::txn_offset_commit_response::{
        TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
    };
    let topics = request
        .topics
        .iter()
        .map(|t| {
            TxnOffsetCommitResponseTopic::default()
                .with_name(t.name.clone())
                .with_partitions(
                    t.partitions
                        .iter()
                        .map(|p| {
                            TxnOffsetCommitResponsePartition::default()
                                .with_partition_index(p.partition_index)
                                .with_error_code(error)
                        })
                        .collect(),
                )
        })
        .collect();
    TxnOffsetCommitResponse::default().with_topics(topics)
}

/// WriteTxnMarkers: sent by a transaction coordinator to partition leaders.
/// Gregor's own coordinator writes markers directly; this serves tools and
/// other coordinators. `transaction_versions` holds each marker's
/// transaction version (KIP-1228) for a v2 request; a v1 one has none and
/// its markers are checked as legacy (TV0/1) ones.
pub async fn write_markers(
    broker: &Broker,
    request: WriteTxnMarkersRequest,
    transaction_versions: &[i8],
) -> WriteTxnMarkersResponse {
    // Every marker is appended first, then each answer waits for its
    // marker to be committed (acks=all, as Kafka writes markers).
    let mut appended = Vec::with_capacity(request.markers.len());
    for (i, m) in request.markers.iter().enumerate() {
        let marker = Marker {
            producer_id: m.producer_id.0,
            producer_epoch: m.producer_epoch,
            coordinator_epoch: m.coordinator_epoch,
            commit: m.transaction_result,
            transaction_version: transaction_versions
                .get(i)
                .copied()
                .unwrap_or(gregor_log::LEGACY_TRANSACTION_VERSION),
        };
        let mut topics = Vec::with_capacity(m.topics.len());
        for t in &m.topics {
            let partitions: Vec<_> = t
                .partition_indexes
                .iter()
                .map(|p| {
                    let written = match led_partition(broker, &t.name, *p) {
                        Err(not_led) => Err(not_led.code),
                        Ok(_) => {
                            broker
                                .txns
                                .append_local_marker(&broker.groups, &t.name, *p, marker)
                        }
                    };
                    (*p, written)
                })
                .collect();
            topics.push((t.name.clone(), partitions));
        }
        appended.push((m.producer_id, topics));
    }
    let mut markers = Vec::with_capacity(appended.len());
    for (producer_id, topics) in appended {
        let mut results = Vec::with_capacity(topics.len());
        for (name, partitions) in topics {
            let mut answers = Vec::with_capacity(partitions.len());
            for (partition, written) in partitions {
                let code = match written {
                    Ok(pending) => pending.committed().await.err().unwrap_or(error_codes::NONE),
                    Err(code) => code,
                };
                answers.push(
                    WritableTxnMarkerPartitionResult::default()
                        .with_partition_index(partition)
                        .with_error_code(code),
                );
            }
            results.push(
                WritableTxnMarkerTopicResult::default()
                    .with_name(name)
                    .with_partitions(answers),
            );
        }
        markers.push(
            WritableTxnMarkerResult::default()
                .with_producer_id(producer_id)
                .with_topics(results),
        );
    }
    WriteTxnMarkersResponse::default().with_markers(markers)
}

pub fn describe(
    broker: &Broker,
    request: DescribeTransactionsRequest,
) -> DescribeTransactionsResponse {
    let states = request
        .transactional_ids
        .iter()
        .map(|id| {
            let base = describe_transactions_response::TransactionState::default()
                .with_transactional_id(id.clone())
                .with_producer_id((-1).into())
                .with_producer_epoch(-1)
                .with_transaction_start_time_ms(-1)
                .with_transaction_state(str_bytes(""));
            if id.is_empty() {
                return base.with_error_code(error_codes::INVALID_REQUEST);
            }
            // Each id is answered by its own shard (NOT_COORDINATOR when
            // another broker coordinates it).
            let found = broker.txns.read_shard(id, |c| match c.describe(id) {
                Ok(txn) => described(base.clone(), txn),
                Err(error) => base.clone().with_error_code(error),
            });
            found.unwrap_or_else(|error| base.with_error_code(error))
        })
        .collect();
    DescribeTransactionsResponse::default().with_transaction_states(states)
}

fn described(
    base: describe_transactions_response::TransactionState,
    txn: &TxnMetadata,
) -> describe_transactions_response::TransactionState {
    let topics = txn
        .partitions_by_topic()
        .into_iter()
        .map(|(topic, partitions)| {
            TopicData::default()
                .with_topic(TopicName(str_bytes(&topic)))
                .with_partitions(partitions)
        })
        .collect();
    base.with_producer_id(txn.producer_id.into())
        .with_producer_epoch(txn.producer_epoch)
        .with_transaction_state(str_bytes(txn.state.name()))
        .with_transaction_timeout_ms(txn.timeout_ms)
        .with_transaction_start_time_ms(txn.start_ms)
        .with_topics(topics)
}

pub fn list(broker: &Broker, request: ListTransactionsRequest) -> ListTransactionsResponse {
    let mut states = Vec::new();
    let mut unknown = Vec::new();
    for name in &request.state_filters {
        match TxnState::from_name(name) {
            Some(state) => states.push(state),
            None => unknown.push(name.clone()),
        }
    }
    // A filter that names only unknown states matches nothing.
    let matches_nothing = states.is_empty() && !unknown.is_empty();
    let producer_ids: Vec<i64> = request.producer_id_filters.iter().map(|p| p.0).collect();
    let listed = if matches_nothing {
        Ok(Vec::new())
    } else {
        broker.txns.read_all(|c| {
            c.list(&states, &producer_ids, request.duration_filter, now_ms())
                .into_iter()
                .map(|txn| {
                    list_transactions_response::TransactionState::default()
                        .with_transactional_id(str_bytes(&txn.transactional_id).into())
                        .with_producer_id(txn.producer_id.into())
                        .with_transaction_state(str_bytes(txn.state.name()))
                })
                .collect()
        })
    };
    let (error, listed) = match listed {
        Ok(listed) => (error_codes::NONE, listed),
        Err(error) => (error, Vec::new()),
    };
    ListTransactionsResponse::default()
        .with_error_code(error)
        .with_unknown_state_filters(unknown)
        .with_transaction_states(listed)
}
