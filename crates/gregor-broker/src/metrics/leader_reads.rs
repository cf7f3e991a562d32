//! What lag in seconds needs from a partition's leader when this broker
//! has no replica of it: the log start and end offsets (ListOffsets
//! EARLIEST and LATEST) and the timestamp of the record at an offset
//! (Fetch of one batch from it). The transport is the caller's: `/metrics`
//! opens an inter-broker connection per scrape, the console asks as the
//! logged-in user (see [`AskLeader`]).
//!
//! Every read is best effort: a refused or failed request leaves its
//! partitions out of the answer, so the caller shows no value rather than
//! a made-up one.

use gregor_protocol::error_codes;
use gregor_protocol::records::decode_batches;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{
    ApiKey, FetchRequest, ListOffsetsRequest, RequestKind, ResponseKind, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;

/// A topic partition.
pub type Tp = (String, i32);

/// ListOffsets v7 and Fetch v12 (the last version naming topics rather
/// than ids): both served by every Gregor and Kafka 3+ broker.
const LIST_OFFSETS_VERSION: i16 = 7;
const FETCH_VERSION: i16 = 12;
const EARLIEST: i64 = -2;
const LATEST: i64 = -1;
/// A Fetch answers at least the first batch at the offset even when it is
/// larger (KIP-74): one batch is all a timestamp needs.
const PARTITION_MAX_BYTES: i32 = 1;
/// The offsets of one partition are read one per Fetch (a request names a
/// partition once); past this many rounds the rest stay unknown.
pub const MAX_FETCH_ROUNDS: usize = 8;

/// Sends one request to the leader; `None` when it failed (the reason is
/// the transport's to log).
pub trait AskLeader {
    fn send(
        &self,
        api_key: ApiKey,
        version: i16,
        body: RequestKind,
    ) -> impl Future<Output = Option<ResponseKind>>;
}

/// `(log start, high watermark)` of each partition the leader answered for.
pub async fn bounds(leader: &impl AskLeader, partitions: &[Tp]) -> HashMap<Tp, (i64, i64)> {
    let start = list(leader, partitions, EARLIEST).await;
    let end = list(leader, partitions, LATEST).await;
    start
        .into_iter()
        .filter_map(|(tp, s)| Some((tp.clone(), (s, *end.get(&tp)?))))
        .collect()
}

async fn list(leader: &impl AskLeader, partitions: &[Tp], timestamp: i64) -> HashMap<Tp, i64> {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (topic, partition) in partitions {
        by_topic.entry(topic).or_default().push(*partition);
    }
    let topics = by_topic
        .into_iter()
        .map(|(topic, indexes)| {
            ListOffsetsTopic::default()
                .with_name(name(topic))
                .with_partitions(
                    indexes
                        .into_iter()
                        .map(|p| {
                            ListOffsetsPartition::default()
                                .with_partition_index(p)
                                .with_current_leader_epoch(-1)
                                .with_timestamp(timestamp)
                        })
                        .collect(),
                )
        })
        .collect();
    let request = ListOffsetsRequest::default()
        .with_replica_id((-1).into())
        // READ_UNCOMMITTED: the high watermark, as the local reading uses.
        .with_isolation_level(0)
        .with_topics(topics);
    let response = leader
        .send(
            ApiKey::ListOffsets,
            LIST_OFFSETS_VERSION,
            RequestKind::ListOffsets(request),
        )
        .await;
    let Some(ResponseKind::ListOffsets(response)) = response else {
        return HashMap::new();
    };
    response
        .topics
        .into_iter()
        .flat_map(|t| {
            let topic = t.name.0.to_string();
            t.partitions
                .into_iter()
                .filter(|p| p.error_code == error_codes::NONE && p.offset >= 0)
                .map(move |p| ((topic.clone(), p.partition_index), p.offset))
        })
        .collect()
}

/// The timestamp of the record at each of `positions` (the first record at
/// or after the offset, as the local log's `timestamp_at`), in at most
/// [`MAX_FETCH_ROUNDS`] Fetches.
pub async fn timestamps(
    leader: &impl AskLeader,
    positions: &BTreeSet<(Tp, i64)>,
) -> HashMap<(Tp, i64), i64> {
    let mut by_partition: BTreeMap<&Tp, Vec<i64>> = BTreeMap::new();
    for (tp, offset) in positions {
        by_partition.entry(tp).or_default().push(*offset);
    }
    let mut out = HashMap::new();
    for round in 0..MAX_FETCH_ROUNDS {
        let wanted: Vec<(&Tp, i64)> = by_partition
            .iter()
            .filter_map(|(tp, offsets)| Some((*tp, *offsets.get(round)?)))
            .collect();
        if wanted.is_empty() {
            break;
        }
        let Some(found) = fetch_round(leader, &wanted).await else {
            // The leader failed: later rounds would too.
            break;
        };
        out.extend(found);
    }
    out
}

/// One Fetch of `wanted` (each partition once).
async fn fetch_round(
    leader: &impl AskLeader,
    wanted: &[(&Tp, i64)],
) -> Option<HashMap<(Tp, i64), i64>> {
    let mut by_topic: BTreeMap<&str, Vec<(i32, i64)>> = BTreeMap::new();
    for ((topic, partition), offset) in wanted {
        by_topic
            .entry(topic)
            .or_default()
            .push((*partition, *offset));
    }
    let asked: HashMap<Tp, i64> = wanted
        .iter()
        .map(|(tp, offset)| ((*tp).clone(), *offset))
        .collect();
    let topics = by_topic
        .into_iter()
        .map(|(topic, partitions)| {
            FetchTopic::default()
                .with_topic(name(topic))
                .with_partitions(
                    partitions
                        .into_iter()
                        .map(|(partition, offset)| {
                            FetchPartition::default()
                                .with_partition(partition)
                                .with_fetch_offset(offset)
                                .with_partition_max_bytes(PARTITION_MAX_BYTES)
                        })
                        .collect(),
                )
        })
        .collect();
    let request = FetchRequest::default()
        .with_replica_id((-1).into())
        .with_max_wait_ms(0)
        .with_min_bytes(0)
        .with_max_bytes(i32::MAX)
        .with_isolation_level(0)
        .with_session_epoch(-1)
        .with_topics(topics);
    let response = leader
        .send(ApiKey::Fetch, FETCH_VERSION, RequestKind::Fetch(request))
        .await?;
    let ResponseKind::Fetch(response) = response else {
        return None;
    };
    if response.error_code != error_codes::NONE {
        return None;
    }
    let mut out = HashMap::new();
    for topic in response.responses {
        let name = topic.topic.0.to_string();
        for p in topic.partitions {
            let tp = (name.clone(), p.partition_index);
            let (Some(offset), Some(records)) = (asked.get(&tp), p.records.as_ref()) else {
                continue;
            };
            if p.error_code != error_codes::NONE {
                continue;
            }
            if let Some(timestamp) = timestamp_in(records, *offset) {
                out.insert((tp, *offset), timestamp);
            }
        }
    }
    Some(out)
}

/// The timestamp of the first record at or after `offset` in fetched
/// record batches; `None` when there is none or they do not decode.
fn timestamp_in(records: &[u8], offset: i64) -> Option<i64> {
    decode_batches(records)
        .ok()?
        .iter()
        .flat_map(|b| b.records.iter())
        .find(|r| r.offset >= offset)
        .map(|r| r.timestamp)
}

/// The positions lag in seconds needs on a partition with `bounds`, for
/// committed offsets `committed`: the newest record (high watermark − 1)
/// and, for each group behind, the record at its committed offset (or the
/// oldest one left when retention removed it, as the local reading does).
pub fn positions(
    tp: &Tp,
    (log_start, high_watermark): (i64, i64),
    committed: impl IntoIterator<Item = i64>,
) -> Vec<(Tp, i64)> {
    let behind: Vec<i64> = committed
        .into_iter()
        .filter(|c| *c < high_watermark)
        .map(|c| c.max(log_start))
        .collect();
    if behind.is_empty() {
        return Vec::new();
    }
    behind
        .into_iter()
        .chain([high_watermark - 1])
        .map(|offset| (tp.clone(), offset))
        .collect()
}

/// Lag in seconds of a group at `committed` on a partition, from what the
/// leader answered: 0 when caught up, `None` when a timestamp is missing.
pub fn lag_seconds(
    tp: &Tp,
    committed: i64,
    (log_start, high_watermark): (i64, i64),
    timestamps: &HashMap<(Tp, i64), i64>,
) -> Option<f64> {
    if committed >= high_watermark {
        return Some(0.0);
    }
    let at = timestamps.get(&(tp.clone(), committed.max(log_start)))?;
    let newest = timestamps.get(&(tp.clone(), high_watermark - 1))?;
    Some((newest - at).max(0) as f64 / 1000.0)
}

fn name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use gregor_protocol::records::BatchBuilder;
    use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
    use kafka_protocol::messages::FetchResponse;
    use std::sync::Mutex;

    /// A leader holding one partition "t"-0 with records at offsets
    /// 10..20, record `o` written at `o * 1000` ms.
    struct FakeLeader {
        calls: Mutex<usize>,
    }

    fn batch(from: i64, to: i64) -> Vec<u8> {
        let mut builder = BatchBuilder::new(gregor_protocol::compression::Compression::None);
        for o in from..to {
            builder.push(o * 1000, None, Some(Bytes::from_static(b"v")), Vec::new());
        }
        let mut bytes = builder.build().unwrap_or_default().to_vec();
        // base offset
        bytes[0..8].copy_from_slice(&from.to_be_bytes());
        bytes
    }

    impl AskLeader for FakeLeader {
        async fn send(&self, _: ApiKey, _: i16, body: RequestKind) -> Option<ResponseKind> {
            *self.calls.lock().ok()? += 1;
            let RequestKind::Fetch(request) = body else {
                return None;
            };
            let partitions = request.topics[0]
                .partitions
                .iter()
                .map(|p| {
                    // Batches of 5 records: 10..15 and 15..20.
                    let base = if p.fetch_offset < 15 { 10 } else { 15 };
                    PartitionData::default()
                        .with_partition_index(p.partition)
                        .with_records(Some(Bytes::from(batch(base, base + 5))))
                })
                .collect();
            Some(ResponseKind::Fetch(
                FetchResponse::default().with_responses(vec![FetchableTopicResponse::default()
                    .with_topic(name("t"))
                    .with_partitions(partitions)]),
            ))
        }
    }

    #[tokio::test]
    async fn reads_each_position_of_a_partition_in_its_own_round() {
        let leader = FakeLeader {
            calls: Mutex::new(0),
        };
        let tp: Tp = ("t".to_string(), 0);
        let wanted: BTreeSet<(Tp, i64)> = positions(&tp, (10, 20), [12, 17, 20, 3])
            .into_iter()
            .collect();
        // 12, 17, the oldest left (10) for 3, and the newest (19).
        assert_eq!(wanted.len(), 4);
        let found = timestamps(&leader, &wanted).await;
        assert_eq!(*leader.calls.lock().unwrap(), 4);
        assert_eq!(lag_seconds(&tp, 12, (10, 20), &found), Some(7.0));
        assert_eq!(lag_seconds(&tp, 17, (10, 20), &found), Some(2.0));
        assert_eq!(lag_seconds(&tp, 3, (10, 20), &found), Some(9.0));
        assert_eq!(lag_seconds(&tp, 20, (10, 20), &found), Some(0.0));
        assert_eq!(lag_seconds(&tp, 14, (10, 20), &found), None);
    }

    #[test]
    fn caught_up_groups_need_no_reads() {
        let tp: Tp = ("t".to_string(), 0);
        assert!(positions(&tp, (0, 5), [5, 7]).is_empty());
        assert!(positions(&tp, (0, 0), [0]).is_empty());
    }
}
