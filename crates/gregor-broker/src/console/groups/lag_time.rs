//! Lag in seconds on the groups page: the timestamps of the record at the
//! committed offset and of the newest record, asked of each partition's
//! leader as the logged-in user (see [`crate::metrics::leader_reads`]), so
//! it is shown whichever broker coordinates the group or hosts the
//! partition, and only to users who may read the topic. Partitions led
//! by this broker are read from its log (its Fetch handler answers with
//! file regions, not bytes), after the same Read check as Fetch.

use super::offsets::TopicPartition;
use crate::console::Ctx;
use crate::metrics::leader_reads::{self, Tp};
use gregor_metadata::acl::{AclOperation, ResourceType};
use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A leader reached through the console's connection to it.
struct AsUser<'a> {
    ctx: &'a Ctx,
    node: i32,
}

impl leader_reads::AskLeader for AsUser<'_> {
    async fn send(&self, api_key: ApiKey, version: i16, body: RequestKind) -> Option<ResponseKind> {
        match self.ctx.kafka_at(self.node, api_key, version, body).await {
            Ok(response) => Some(response),
            Err(err) => {
                tracing::debug!(node = self.node, error = %err.message, "console lag read failed");
                None
            }
        }
    }
}

/// Lag in seconds by partition for a group `committed` there; partitions
/// whose leader is unknown or did not answer are absent.
pub async fn lag_seconds(
    ctx: &Ctx,
    committed: &BTreeMap<TopicPartition, i64>,
) -> BTreeMap<TopicPartition, f64> {
    let image = ctx.broker().controller.image();
    let mut by_leader: BTreeMap<i32, Vec<(&TopicPartition, i64)>> = BTreeMap::new();
    for (tp, offset) in committed {
        let leader = image
            .topic(&tp.0)
            .and_then(|t| t.partitions.get(&tp.1))
            .map_or(-1, |p| p.leader);
        if leader >= 0 {
            by_leader.entry(leader).or_default().push((tp, *offset));
        }
    }
    let mut out = BTreeMap::new();
    // One leader after the other: the console's calls share its
    // connections, each call bounded by the remote timeouts.
    for (node, partitions) in by_leader {
        let leader = AsUser { ctx, node };
        let tps: Vec<Tp> = partitions.iter().map(|(tp, _)| (*tp).clone()).collect();
        let bounds = leader_reads::bounds(&leader, &tps).await;
        let positions: BTreeSet<(Tp, i64)> = partitions
            .iter()
            .filter_map(|(tp, c)| Some(leader_reads::positions(tp, *bounds.get(*tp)?, [*c])))
            .flatten()
            .collect();
        let timestamps = match node == ctx.broker().config.node_id {
            true => local_timestamps(ctx, &positions),
            false => leader_reads::timestamps(&leader, &positions).await,
        };
        for (tp, c) in partitions {
            let Some(b) = bounds.get(tp) else { continue };
            if let Some(seconds) = leader_reads::lag_seconds(tp, c, *b, &timestamps) {
                out.insert(tp.clone(), seconds);
            }
        }
    }
    out
}

/// [`leader_reads::timestamps`] of partitions led here, from the log.
fn local_timestamps(ctx: &Ctx, positions: &BTreeSet<(Tp, i64)>) -> HashMap<(Tp, i64), i64> {
    let broker = ctx.broker();
    positions
        .iter()
        .filter(|((topic, _), _)| {
            ctx.allowed(
                ApiKey::Fetch,
                AclOperation::Read,
                ResourceType::Topic,
                topic,
            )
        })
        .filter_map(|((topic, index), offset)| {
            let partition = broker.replicas.partition(topic, *index)?;
            let timestamp = partition.timestamp_at(*offset).ok()??;
            Some((((topic.clone(), *index), *offset), timestamp))
        })
        .collect()
}
