//! Offsets the group pages need, through the Kafka APIs: a group's
//! committed offsets (OffsetFetch) and the log's offsets by spec
//! (ListOffsets: earliest, latest, or the first at a timestamp).

use crate::console::call::{call_at, kafka_error, unexpected};
use crate::console::{ConsoleError, Ctx};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestGroup;
use kafka_protocol::messages::{
    BrokerId, GroupId, ListOffsetsRequest, OffsetFetchRequest, RequestKind, ResponseKind, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use std::collections::BTreeMap;

/// A partition of a topic, by name.
pub type TopicPartition = (String, i32);

/// ListOffsets' special timestamps.
pub const LATEST: i64 = -1;
pub const EARLIEST: i64 = -2;

/// Every committed offset of a group (partitions without one are absent).
pub async fn committed(
    ctx: &Ctx,
    group_id: &str,
) -> Result<BTreeMap<TopicPartition, i64>, ConsoleError> {
    let group = OffsetFetchRequestGroup::default()
        .with_group_id(GroupId(StrBytes::from_string(group_id.to_string())))
        // Not a member: the admin client's fetch.
        .with_member_id(None)
        .with_member_epoch(-1)
        .with_topics(None);
    let request = OffsetFetchRequest::default().with_groups(vec![group]);
    // The group's coordinator keeps its offsets.
    let coordinator = super::data::coordinator_of(ctx, group_id).await?;
    let response = match call_at(ctx, coordinator, RequestKind::OffsetFetch(request)).await? {
        ResponseKind::OffsetFetch(response) => response,
        _ => return Err(unexpected("OffsetFetch")),
    };
    let mut out = BTreeMap::new();
    for group in response.groups {
        if group.error_code != 0 {
            return Err(kafka_error(
                group.error_code,
                &format!("fetching the offsets of group {group_id}"),
            ));
        }
        for topic in group.topics {
            for p in topic.partitions {
                if p.error_code == 0 && p.committed_offset >= 0 {
                    out.insert(
                        (topic.name.to_string(), p.partition_index),
                        p.committed_offset,
                    );
                }
            }
        }
    }
    Ok(out)
}

/// The offset each partition has at `spec` ([`LATEST`], [`EARLIEST`] or a
/// timestamp in ms): `Err(code)` for a partition the broker refused, and
/// `Ok(None)` for a timestamp past the newest record.
pub async fn list(
    ctx: &Ctx,
    partitions: &[TopicPartition],
    spec: i64,
) -> Result<BTreeMap<TopicPartition, Result<Option<i64>, i16>>, ConsoleError> {
    // Each partition's leader answers for it, as the admin client asks.
    let image = ctx.broker().controller.image();
    let me = ctx.broker().config.node_id;
    let mut by_leader: BTreeMap<i32, BTreeMap<&str, Vec<i32>>> = BTreeMap::new();
    let mut out = BTreeMap::new();
    for (topic, partition) in partitions {
        let leader = image
            .topic(topic)
            .and_then(|t| t.partitions.get(partition))
            .map_or(-1, |p| p.leader);
        // No leader known here (or no such topic): this broker's handler
        // answers with the error (authorization first) a leader would.
        let leader = if leader < 0 { me } else { leader };
        by_leader
            .entry(leader)
            .or_default()
            .entry(topic)
            .or_default()
            .push(*partition);
    }
    for (leader, by_topic) in by_leader {
        let topics = by_topic
            .into_iter()
            .map(|(topic, indexes)| {
                ListOffsetsTopic::default()
                    .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                    .with_partitions(
                        indexes
                            .into_iter()
                            .map(|p| {
                                ListOffsetsPartition::default()
                                    .with_partition_index(p)
                                    .with_current_leader_epoch(-1)
                                    .with_timestamp(spec)
                            })
                            .collect(),
                    )
            })
            .collect();
        let request = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_isolation_level(0)
            .with_topics(topics);
        let response = match call_at(ctx, leader, RequestKind::ListOffsets(request)).await? {
            ResponseKind::ListOffsets(response) => response,
            _ => return Err(unexpected("ListOffsets")),
        };
        for topic in response.topics {
            for p in topic.partitions {
                let found = match p.error_code {
                    0 if p.offset < 0 => Ok(None),
                    0 => Ok(Some(p.offset)),
                    code => Err(code),
                };
                out.insert((topic.name.to_string(), p.partition_index), found);
            }
        }
    }
    Ok(out)
}
