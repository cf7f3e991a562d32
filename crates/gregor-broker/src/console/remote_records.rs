//! The message browser's read of a partition another broker leads:
//! ListOffsets and Fetch (isolation READ_COMMITTED) to its leader as the
//! logged-in user, decoded by the same [`Scanner`] as a local read.

use super::ctx::Ctx;
use super::error::ConsoleError;
use super::records::{resolve_in, Chunk, Scanned, Scanner, Start};
use gregor_log::AbortedTxn;
use gregor_protocol::records::Record;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{
    ApiKey, FetchRequest, ListOffsetsRequest, RequestKind, ResponseKind, TopicName,
};
use kafka_protocol::protocol::StrBytes;

/// Bytes one Fetch asks for.
const READ_BYTES: i32 = 1024 * 1024;
/// ListOffsets v7 has every field the browser needs; Fetch v12 is the
/// last version that names topics instead of ids.
const LIST_OFFSETS_VERSION: i16 = 7;
const FETCH_VERSION: i16 = 12;
/// Kafka's special ListOffsets timestamps.
const EARLIEST: i64 = -2;
const LATEST: i64 = -1;
/// Bounds the reads of one partition, on top of `max_scan` (a long run of
/// control batches or aborted records makes no progress in records).
const MAX_READS: usize = 1000;

/// Where a partition is: the broker leading it.
pub struct Leader<'a> {
    pub node: i32,
    pub topic: &'a str,
    pub partition: i32,
}

/// The read_committed offset ListOffsets answers for `timestamp` (the last
/// stable offset for LATEST); `None`: no offset (a timestamp after the end).
pub async fn list_offset(
    ctx: &Ctx,
    at: &Leader<'_>,
    timestamp: i64,
) -> Result<Option<i64>, ConsoleError> {
    let request = ListOffsetsRequest::default()
        .with_replica_id((-1).into())
        .with_isolation_level(1)
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(name(at.topic))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(at.partition)
                .with_timestamp(timestamp)])]);
    let response = ctx
        .kafka_at(
            at.node,
            ApiKey::ListOffsets,
            LIST_OFFSETS_VERSION,
            RequestKind::ListOffsets(request),
        )
        .await?;
    let ResponseKind::ListOffsets(response) = response else {
        return Err(super::call::unexpected("ListOffsets"));
    };
    let p = response
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter())
        .find(|p| p.partition_index == at.partition)
        .ok_or_else(|| ConsoleError::internal("ListOffsets answered without the partition"))?;
    if p.error_code != 0 {
        return Err(super::call::kafka_error(
            p.error_code,
            &format!("listing offsets of {}-{}", at.topic, at.partition),
        ));
    }
    Ok((p.offset >= 0).then_some(p.offset))
}

/// [`super::records::scan`] of a partition led by another broker.
pub async fn scan(
    ctx: &Ctx,
    at: &Leader<'_>,
    start: Start,
    limit: usize,
    max_scan: usize,
    keep_last: bool,
    keep: impl FnMut(&Record) -> bool,
) -> Result<Scanned, ConsoleError> {
    let log_start = list_offset(ctx, at, EARLIEST).await?.unwrap_or(0);
    let end = list_offset(ctx, at, LATEST).await?.unwrap_or(log_start);
    let by_time = match start {
        Start::Timestamp(ts) => list_offset(ctx, at, ts).await?,
        _ => None,
    };
    let from = resolve_in(start, log_start, end, by_time);
    let mut scanner = Scanner::new(from, limit, max_scan, keep_last, keep);
    let mut reads = 0;
    while let Some(offset) = scanner.wants() {
        reads += 1;
        if reads > MAX_READS {
            break;
        }
        let chunk = fetch(ctx, at, offset).await?;
        scanner
            .feed(chunk)
            .map_err(|e| ConsoleError::internal(format!("cannot decode the records: {e}")))?;
    }
    Ok(scanner.finish())
}

async fn fetch(ctx: &Ctx, at: &Leader<'_>, offset: i64) -> Result<Chunk, ConsoleError> {
    let request = FetchRequest::default()
        .with_replica_id((-1).into())
        .with_max_wait_ms(0)
        .with_min_bytes(0)
        .with_max_bytes(READ_BYTES)
        .with_isolation_level(1)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(name(at.topic))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(at.partition)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(READ_BYTES)])]);
    let response = ctx
        .kafka_at(
            at.node,
            ApiKey::Fetch,
            FETCH_VERSION,
            RequestKind::Fetch(request),
        )
        .await?;
    let ResponseKind::Fetch(response) = response else {
        return Err(super::call::unexpected("Fetch"));
    };
    let doing = format!("reading {}-{} at offset {offset}", at.topic, at.partition);
    if response.error_code != 0 {
        return Err(super::call::kafka_error(response.error_code, &doing));
    }
    let p = response
        .responses
        .iter()
        .flat_map(|t| t.partitions.iter())
        .find(|p| p.partition_index == at.partition)
        .ok_or_else(|| ConsoleError::internal("Fetch answered without the partition"))?;
    if p.error_code != 0 {
        return Err(super::call::kafka_error(p.error_code, &doing));
    }
    Ok(Chunk {
        bytes: p.records.as_ref().map(|b| b.to_vec()).unwrap_or_default(),
        aborted: p
            .aborted_transactions
            .iter()
            .flatten()
            .map(|a| AbortedTxn {
                producer_id: a.producer_id.0,
                first_offset: a.first_offset,
            })
            .collect(),
        last_stable_offset: p.last_stable_offset,
    })
}

fn name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_string()))
}
