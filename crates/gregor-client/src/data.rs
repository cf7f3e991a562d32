//! Reading and writing partitions: ListOffsets, Produce and Fetch, each sent
//! to the partition's leader, asking metadata again when the leader moved.

use crate::admin::detail;
use crate::client::{is_stale_metadata, name, Client};
use crate::error::{check, is_stale_metadata_code, KafkaError};
use anyhow::{anyhow, bail};
use bytes::Bytes;
use gregor_protocol::error_codes::{MESSAGE_TOO_LARGE, NOT_ENOUGH_REPLICAS};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use std::collections::BTreeMap;
use std::time::Duration;

/// ListOffsets query for the next offset to be written (the end).
pub const LATEST: i64 = -1;
/// ListOffsets query for the first offset still in the log.
pub const EARLIEST: i64 = -2;

/// Tries per request when the leader moved or the ISR is short, and the
/// pause before the first retry (doubling after).
const ATTEMPTS: u32 = 5;
const RETRY_BACKOFF: Duration = Duration::from_millis(100);
/// Fetch sizes: per partition and per response, as Java consumers default.
const PARTITION_MAX_BYTES: i32 = 1024 * 1024;
const FETCH_MAX_BYTES: i32 = 50 * 1024 * 1024;

/// What one partition gave in a Fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedPartition {
    pub partition: i32,
    /// Raw record batches (decode with `gregor_protocol::records`); empty when
    /// there was nothing new or the leader moved (try again).
    pub records: Bytes,
    pub high_watermark: i64,
}

impl Client {
    /// Offset for a ListOffsets query (`LATEST`, `EARLIEST`, or a timestamp
    /// in ms); -1 when no record matches the timestamp.
    pub async fn list_offset(
        &mut self,
        topic: &str,
        partition: i32,
        query: i64,
    ) -> anyhow::Result<i64> {
        let offsets = self.list_offsets(topic, &[(partition, query)]).await?;
        offsets
            .get(&partition)
            .copied()
            .ok_or_else(|| anyhow!("ListOffsets did not answer for {topic}-{partition}"))
    }

    /// ListOffsets for several partitions of a topic, one request per leader.
    pub async fn list_offsets(
        &mut self,
        topic: &str,
        queries: &[(i32, i64)],
    ) -> anyhow::Result<BTreeMap<i32, i64>> {
        let mut out = BTreeMap::new();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let remaining: Vec<(i32, i64)> = queries
                .iter()
                .filter(|(p, _)| !out.contains_key(p))
                .copied()
                .collect();
            if remaining.is_empty() {
                return Ok(out);
            }
            // Metadata errors (no such topic) are final; `leader_id` already
            // waits out elections.
            let groups = self.by_leader(topic, &remaining).await?;
            match self.list_offsets_once(topic, groups, &mut out).await {
                Err(err) if attempt < ATTEMPTS && is_stale_metadata(&err) => {
                    tokio::time::sleep(backoff(attempt)).await;
                }
                Err(err) => return Err(err),
                Ok(()) => {}
            }
        }
    }

    async fn list_offsets_once(
        &mut self,
        topic: &str,
        groups: BTreeMap<i32, Vec<(i32, i64)>>,
        out: &mut BTreeMap<i32, i64>,
    ) -> anyhow::Result<()> {
        let mut stale = None;
        for (leader, group) in groups {
            let partitions = group
                .iter()
                .map(|(p, query)| {
                    ListOffsetsPartition::default()
                        .with_partition_index(*p)
                        .with_timestamp(*query)
                })
                .collect();
            let request = ListOffsetsRequest::default()
                .with_replica_id((-1).into())
                .with_topics(vec![ListOffsetsTopic::default()
                    .with_name(name(topic))
                    .with_partitions(partitions)]);
            let (response, _) = self
                .broker(leader)
                .await?
                .send(ApiKey::ListOffsets, 7, RequestKind::ListOffsets(request))
                .await?;
            let ResponseKind::ListOffsets(response) = response else {
                bail!("unexpected answer to ListOffsets")
            };
            for p in response.topics.iter().flat_map(|t| t.partitions.iter()) {
                let index = p.partition_index;
                match check(p.error_code, || {
                    format!("cannot list offsets of {topic}-{index}")
                }) {
                    Ok(()) => {
                        out.insert(index, p.offset);
                    }
                    Err(err) if is_stale_metadata_code(err.code) => {
                        self.forget_leader(topic, index);
                        stale = Some(err);
                    }
                    Err(err) => return Err(err.into()),
                }
            }
        }
        stale.map_or(Ok(()), |err| Err(err.into()))
    }

    /// Produces one record batch; returns the base offset (-1 with acks=0).
    /// Retries when the leader moved or the ISR was too small, both of
    /// which mean the batch was not written.
    pub async fn produce(
        &mut self,
        topic: &str,
        partition: i32,
        batch: Bytes,
        acks: i16,
    ) -> anyhow::Result<i64> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let leader = self.leader_id(topic, partition).await?;
            match self
                .produce_once(leader, topic, partition, batch.clone(), acks)
                .await
            {
                Err(err) if attempt < ATTEMPTS && produce_retriable(&err) => {
                    self.forget_leader(topic, partition);
                    tokio::time::sleep(backoff(attempt)).await;
                }
                outcome => return outcome,
            }
        }
    }

    async fn produce_once(
        &mut self,
        leader: i32,
        topic: &str,
        partition: i32,
        batch: Bytes,
        acks: i16,
    ) -> anyhow::Result<i64> {
        let batch_len = batch.len();
        let request = ProduceRequest::default()
            .with_acks(acks)
            .with_timeout_ms(self.timeout_ms())
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(name(topic))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(partition)
                    .with_records(Some(batch))])]);
        let connection = self.broker(leader).await?;
        if acks == 0 {
            connection
                .send_no_response(ApiKey::Produce, 9, RequestKind::Produce(request))
                .await?;
            return Ok(-1);
        }
        let (response, _) = connection
            .send(ApiKey::Produce, 9, RequestKind::Produce(request))
            .await?;
        let ResponseKind::Produce(response) = response else {
            bail!("unexpected answer to Produce")
        };
        let p = response
            .responses
            .first()
            .and_then(|t| t.partition_responses.first())
            .ok_or_else(|| anyhow!("empty Produce answer"))?;
        // The partition message, else the first per-record one (v8+).
        let message = p.error_message.clone().or_else(|| {
            p.record_errors
                .first()
                .and_then(|r| r.batch_index_error_message.clone())
        });
        let detail = match message {
            // Kafka says nothing more; the size is what the user can act on.
            None if p.error_code == MESSAGE_TOO_LARGE => {
                format!(": a record batch of {batch_len} bytes is more than the broker accepts")
            }
            message => detail(&message),
        };
        check(p.error_code, || {
            format!("cannot produce to {topic}-{partition}{detail}")
        })?;
        Ok(p.base_offset)
    }

    /// Fetches from one partition; returns (records, high watermark). Waits
    /// up to `max_wait_ms` for data.
    pub async fn fetch(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
        max_wait_ms: i32,
    ) -> anyhow::Result<(Bytes, i64)> {
        let mut fetched = self
            .fetch_partitions(topic, &[(partition, offset)], max_wait_ms)
            .await?;
        let p = fetched.pop().ok_or_else(|| anyhow!("empty Fetch answer"))?;
        Ok((p.records, p.high_watermark))
    }

    /// Fetches several partitions of a topic from (partition, offset), one
    /// request per leader; waits up to `max_wait_ms` in all for data. A
    /// partition whose leader moved comes back empty (its leader is looked
    /// up again next time); any other partition error is returned.
    pub async fn fetch_partitions(
        &mut self,
        topic: &str,
        positions: &[(i32, i64)],
        max_wait_ms: i32,
    ) -> anyhow::Result<Vec<FetchedPartition>> {
        let groups = self.by_leader(topic, positions).await?;
        // Leaders are asked one after the other, so they share the wait.
        let wait = max_wait_ms / i32::try_from(groups.len().max(1)).unwrap_or(i32::MAX);
        let mut out = Vec::with_capacity(positions.len());
        for (leader, group) in groups {
            let partitions = group
                .iter()
                .map(|(p, offset)| {
                    FetchPartition::default()
                        .with_partition(*p)
                        .with_fetch_offset(*offset)
                        .with_partition_max_bytes(PARTITION_MAX_BYTES)
                })
                .collect();
            let request = FetchRequest::default()
                .with_replica_id((-1).into())
                .with_max_wait_ms(wait)
                .with_min_bytes(1)
                .with_max_bytes(FETCH_MAX_BYTES)
                .with_session_epoch(-1)
                .with_topics(vec![FetchTopic::default()
                    .with_topic(name(topic))
                    .with_partitions(partitions)]);
            // Fetch v12 is the last version that names topics instead of ids.
            let (response, _) = self
                .broker(leader)
                .await?
                .send(ApiKey::Fetch, 12, RequestKind::Fetch(request))
                .await?;
            let ResponseKind::Fetch(response) = response else {
                bail!("unexpected answer to Fetch")
            };
            check(response.error_code, || format!("cannot fetch from {topic}"))?;
            for p in response.responses.iter().flat_map(|t| t.partitions.iter()) {
                let index = p.partition_index;
                let offset = group
                    .iter()
                    .find(|(q, _)| *q == index)
                    .map_or(-1, |(_, o)| *o);
                let records = match check(p.error_code, || {
                    format!("cannot fetch {topic}-{index} at offset {offset}")
                }) {
                    Ok(()) => p.records.clone().unwrap_or_default(),
                    Err(err) if is_stale_metadata_code(err.code) => {
                        tracing::debug!(%err, "leader moved; asking metadata again");
                        self.forget_leader(topic, index);
                        Bytes::new()
                    }
                    Err(err) => return Err(err.into()),
                };
                out.push(FetchedPartition {
                    partition: index,
                    records,
                    high_watermark: p.high_watermark,
                });
            }
        }
        Ok(out)
    }

    /// Groups (partition, x) pairs by the broker leading each partition.
    async fn by_leader(
        &mut self,
        topic: &str,
        items: &[(i32, i64)],
    ) -> anyhow::Result<BTreeMap<i32, Vec<(i32, i64)>>> {
        let mut groups: BTreeMap<i32, Vec<(i32, i64)>> = BTreeMap::new();
        for &(partition, x) in items {
            let leader = self.leader_id(topic, partition).await?;
            groups.entry(leader).or_default().push((partition, x));
        }
        Ok(groups)
    }
}

/// Produce errors after which the batch is known not to be written.
fn produce_retriable(err: &anyhow::Error) -> bool {
    is_stale_metadata(err)
        || err
            .downcast_ref::<KafkaError>()
            .is_some_and(|e| e.code == NOT_ENOUGH_REPLICAS)
}

fn backoff(attempt: u32) -> Duration {
    RETRY_BACKOFF * 2u32.saturating_pow(attempt.saturating_sub(1).min(5))
}

#[cfg(test)]
mod tests;
