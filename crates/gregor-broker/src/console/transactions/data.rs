//! Transactions as `kafka-transactions` shows them: every transaction the
//! coordinators know (list + describe), hanging ones (`find-hanging`: a
//! partition holds a transaction open longer than the maximum timeout
//! and no coordinator says it is ongoing there), and `abort` of one
//! partition's open transaction by a WriteTxnMarkers abort, the admin
//! client's path.

use crate::clock::now_ms;
use crate::console::call::unexpected;
use crate::console::call::{call_at, kafka_error, live_brokers};
use crate::console::groups::offsets::TopicPartition;
use crate::console::{ConsoleError, Ctx};
use kafka_protocol::messages::describe_producers_request::TopicRequest;
use kafka_protocol::messages::write_txn_markers_request::{
    WritableTxnMarker, WritableTxnMarkerTopic,
};
use kafka_protocol::messages::{
    DescribeProducersRequest, DescribeTransactionsRequest, ListTransactionsRequest, RequestKind,
    ResponseKind, TopicName, TransactionalId, WriteTxnMarkersRequest,
};
use kafka_protocol::protocol::StrBytes;
use std::collections::BTreeMap;

/// The states in which a transaction holds its partitions open.
const OPEN_STATES: [&str; 3] = ["Ongoing", "PrepareCommit", "PrepareAbort"];

#[derive(Debug, Clone, PartialEq)]
pub struct TxnView {
    pub transactional_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub state: String,
    pub timeout_ms: i32,
    /// -1 when no transaction has started.
    pub start_time_ms: i64,
    /// How long the transaction has been open (open states only).
    pub duration_ms: Option<i64>,
    pub partitions: Vec<TopicPartition>,
}

impl TxnView {
    pub fn is_open(&self) -> bool {
        OPEN_STATES.contains(&self.state.as_str())
    }
}

/// A transaction a partition holds open with no coordinator behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HangingTxn {
    pub topic: String,
    pub partition: i32,
    pub producer_id: i64,
    pub producer_epoch: i32,
    pub coordinator_epoch: i32,
    pub start_offset: i64,
    pub last_timestamp: i64,
    pub duration_ms: i64,
}

/// Every transactional id the coordinators know, open ones first: each
/// broker lists and describes the ids it coordinates, as the admin
/// client's listTransactions asks every broker.
pub async fn list(ctx: &Ctx) -> Result<Vec<TxnView>, ConsoleError> {
    let mut states = Vec::new();
    for node in live_brokers(ctx) {
        states.extend(list_at(ctx, node).await?);
    }
    let now = now_ms();
    let mut out: Vec<TxnView> = states
        .into_iter()
        // One that ended meanwhile, or whose coordinator moved, is left out.
        .filter(|t| t.error_code == 0)
        .map(|t| {
            let state = t.transaction_state.to_string();
            let open = OPEN_STATES.contains(&state.as_str());
            TxnView {
                transactional_id: t.transactional_id.to_string(),
                producer_id: t.producer_id.0,
                producer_epoch: t.producer_epoch,
                timeout_ms: t.transaction_timeout_ms,
                start_time_ms: t.transaction_start_time_ms,
                duration_ms: (open && t.transaction_start_time_ms >= 0)
                    .then(|| (now - t.transaction_start_time_ms).max(0)),
                partitions: t
                    .topics
                    .into_iter()
                    .flat_map(|topic| {
                        let name = topic.topic.to_string();
                        topic.partitions.into_iter().map(move |p| (name.clone(), p))
                    })
                    .collect(),
                state,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        (!a.is_open(), &a.transactional_id).cmp(&(!b.is_open(), &b.transactional_id))
    });
    Ok(out)
}

/// The transactions broker `node` coordinates, described there.
async fn list_at(
    ctx: &Ctx,
    node: i32,
) -> Result<
    Vec<kafka_protocol::messages::describe_transactions_response::TransactionState>,
    ConsoleError,
> {
    let listed = match call_at(
        ctx,
        node,
        RequestKind::ListTransactions(ListTransactionsRequest::default()),
    )
    .await?
    {
        ResponseKind::ListTransactions(response) => response,
        _ => return Err(unexpected("ListTransactions")),
    };
    if listed.error_code != 0 {
        return Err(kafka_error(
            listed.error_code,
            &format!("listing the transactions of broker {node}"),
        ));
    }
    let ids: Vec<TransactionalId> = listed
        .transaction_states
        .into_iter()
        .map(|t| t.transactional_id)
        .collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let described = match call_at(
        ctx,
        node,
        RequestKind::DescribeTransactions(
            DescribeTransactionsRequest::default().with_transactional_ids(ids),
        ),
    )
    .await?
    {
        ResponseKind::DescribeTransactions(response) => response,
        _ => return Err(unexpected("DescribeTransactions")),
    };
    Ok(described.transaction_states)
}

/// `kafka-transactions find-hanging`: partitions (asked of their leaders) whose producer
/// holds a transaction open for longer than `max_timeout_ms` (the
/// broker's `transaction.max.timeout.ms` by default) while no open
/// transaction of that producer covers the partition.
pub async fn hanging(
    ctx: &Ctx,
    max_timeout_ms: Option<i64>,
) -> Result<Vec<HangingTxn>, ConsoleError> {
    let max_timeout_ms =
        max_timeout_ms.unwrap_or_else(|| i64::from(ctx.broker().config.txn.max_timeout_ms));
    let image = ctx.broker().controller.image();
    let topics: Vec<TopicRequest> = image
        .topics
        .iter()
        .map(|(name, topic)| {
            TopicRequest::default()
                .with_name(TopicName(StrBytes::from_string(name.to_string())))
                .with_partition_indexes(topic.partitions.keys().copied().collect())
        })
        .collect();
    let open = list(ctx).await?;
    let candidates = open_on_partitions(ctx, topics).await?;
    let now = now_ms();
    Ok(candidates
        .into_iter()
        .filter(|c| now - c.last_timestamp > max_timeout_ms)
        .filter(|c| {
            !open.iter().any(|t| {
                t.is_open()
                    && t.producer_id == c.producer_id
                    && t.partitions.contains(&(c.topic.clone(), c.partition))
            })
        })
        .map(|c| HangingTxn {
            duration_ms: (now - c.last_timestamp).max(0),
            ..c
        })
        .collect())
}

/// `kafka-transactions abort --topic --partition --start-offset`: writes an
/// abort marker for the producer whose open transaction on the partition
/// began at `start_offset`.
pub async fn abort(
    ctx: &Ctx,
    topic: &str,
    partition: i32,
    start_offset: i64,
) -> Result<HangingTxn, ConsoleError> {
    let request = TopicRequest::default()
        .with_name(TopicName(StrBytes::from_string(topic.to_string())))
        .with_partition_indexes(vec![partition]);
    let found = open_on_partitions(ctx, vec![request])
        .await?
        .into_iter()
        .find(|c| c.start_offset == start_offset)
        .ok_or_else(|| {
            ConsoleError::not_found(format!(
                "no open transaction starts at offset {start_offset} of {topic}-{partition}"
            ))
        })?;
    let epoch = i16::try_from(found.producer_epoch)
        .map_err(|_| ConsoleError::bad_request("the producer epoch is out of range"))?;
    let marker = WritableTxnMarker::default()
        .with_producer_id(found.producer_id.into())
        .with_producer_epoch(epoch)
        .with_transaction_result(false)
        .with_coordinator_epoch(found.coordinator_epoch)
        .with_topics(vec![WritableTxnMarkerTopic::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partition_indexes(vec![partition])]);
    let response = match call_at(
        ctx,
        leader_of(ctx, topic, partition),
        RequestKind::WriteTxnMarkers(WriteTxnMarkersRequest::default().with_markers(vec![marker])),
    )
    .await?
    {
        ResponseKind::WriteTxnMarkers(response) => response,
        _ => return Err(unexpected("WriteTxnMarkers")),
    };
    for marker in &response.markers {
        for t in &marker.topics {
            for p in &t.partitions {
                if p.error_code != 0 {
                    return Err(kafka_error(
                        p.error_code,
                        &format!("aborting the transaction on {topic}-{partition}"),
                    ));
                }
            }
        }
    }
    Ok(found)
}

/// The leader of a partition, or this broker when none is known (its
/// handler then answers with the error a leader would).
fn leader_of(ctx: &Ctx, topic: &str, partition: i32) -> i32 {
    ctx.broker()
        .controller
        .image()
        .topic(topic)
        .and_then(|t| t.partitions.get(&partition))
        .map(|p| p.leader)
        .filter(|l| *l >= 0)
        .unwrap_or(ctx.broker().config.node_id)
}

/// The producers holding a transaction open on the named partitions
/// (DescribeProducers, to each partition's leader); partitions whose
/// leader refuses are skipped.
async fn open_on_partitions(
    ctx: &Ctx,
    topics: Vec<TopicRequest>,
) -> Result<Vec<HangingTxn>, ConsoleError> {
    let mut by_leader: BTreeMap<i32, BTreeMap<String, Vec<i32>>> = BTreeMap::new();
    for topic in topics {
        let name = topic.name.to_string();
        for p in topic.partition_indexes {
            by_leader
                .entry(leader_of(ctx, &name, p))
                .or_default()
                .entry(name.clone())
                .or_default()
                .push(p);
        }
    }
    let mut out = Vec::new();
    for (leader, topics) in by_leader {
        let topics = topics
            .into_iter()
            .map(|(name, partitions)| {
                TopicRequest::default()
                    .with_name(TopicName(StrBytes::from_string(name)))
                    .with_partition_indexes(partitions)
            })
            .collect();
        out.extend(open_at(ctx, leader, topics).await?);
    }
    Ok(out)
}

async fn open_at(
    ctx: &Ctx,
    leader: i32,
    topics: Vec<TopicRequest>,
) -> Result<Vec<HangingTxn>, ConsoleError> {
    let response = match call_at(
        ctx,
        leader,
        RequestKind::DescribeProducers(DescribeProducersRequest::default().with_topics(topics)),
    )
    .await?
    {
        ResponseKind::DescribeProducers(response) => response,
        _ => return Err(unexpected("DescribeProducers")),
    };
    let mut out = Vec::new();
    for topic in response.topics {
        for p in topic.partitions {
            if p.error_code != 0 {
                continue;
            }
            for producer in p.active_producers {
                if producer.current_txn_start_offset < 0 {
                    continue;
                }
                out.push(HangingTxn {
                    topic: topic.name.to_string(),
                    partition: p.partition_index,
                    producer_id: producer.producer_id.0,
                    producer_epoch: producer.producer_epoch,
                    coordinator_epoch: producer.coordinator_epoch,
                    start_offset: producer.current_txn_start_offset,
                    last_timestamp: producer.last_timestamp,
                    duration_ms: 0,
                });
            }
        }
    }
    Ok(out)
}
