//! Fetch from the closest replica (KIP-392). From Fetch v11 a consumer
//! sends its `client.rack`; as in Kafka, such a fetch may then be served by
//! any broker holding a replica (a follower up to its own high watermark),
//! and the leader, when `replica.selector.class` picks another replica,
//! answers with that `preferred_read_replica` and no records.

use super::read::{error_partition, Reader};
use crate::replica::selector::{self, ReplicaSelector, ReplicaView};
use crate::replica_manager::{Partition, ReplicaManager};
use gregor_log::FileSlice;
use gregor_metadata::MetadataImage;
use gregor_protocol::error_codes;
use gregor_protocol::fetch_response::PartitionOut;
use std::sync::Arc;

/// Fetch requests carry the client's rack from this version on.
pub const RACK_ID_VERSION: i16 = 11;

/// Kafka's `ClientMetadata` of a v11+ consumer fetch.
#[derive(Debug, Clone)]
pub struct FetchClient {
    pub rack: String,
    /// The listener the client came in on: replicas are named to it by
    /// their endpoints there.
    pub listener: String,
    pub selector: Option<ReplicaSelector>,
}

impl FetchClient {
    /// The client metadata of a fetch: only consumers' fetches from v11 on
    /// have it (Kafka's `fetchOnlyLeader` is false for exactly those).
    pub fn of(
        reader: Reader,
        version: i16,
        rack: &str,
        listener: &str,
        selector: Option<ReplicaSelector>,
    ) -> Option<FetchClient> {
        let consumer = matches!(reader, Reader::Consumer { .. });
        (consumer && version >= RACK_ID_VERSION).then(|| FetchClient {
            rack: rack.to_string(),
            listener: listener.to_string(),
            selector,
        })
    }
}

/// This broker's own replica of a partition another broker leads, when
/// the fetch may be served from it.
pub fn follower_copy(
    replicas: &ReplicaManager,
    client: Option<&FetchClient>,
    topic: &str,
    index: i32,
) -> Option<Arc<Partition>> {
    client?;
    let partition = replicas.partition(topic, index)?;
    let is_replica = partition
        .leadership()
        .replicas
        .contains(&replicas.node_id());
    if !is_replica {
        return None;
    }
    tracing::debug!(
        topic,
        partition = index,
        "consumer fetch served by a follower"
    );
    Some(partition)
}

/// The replica the selector sends a consumer at `fetch_offset` to, if not
/// this leader: ISR followers holding the offset and reachable on the
/// client's listener are the candidates, as in Kafka's
/// `findPreferredReadReplica`.
pub fn preferred_read_replica(
    client: Option<&FetchClient>,
    partition: &Partition,
    image: &MetadataImage,
    fetch_offset: i64,
    now_ms: i64,
) -> Option<i32> {
    let client = client?;
    let chosen_by = client.selector?;
    let views = partition.read_replica_views(now_ms)?;
    let rack_of = |id: i32| {
        let broker = image.brokers.get(&id)?;
        broker.endpoint(&client.listener)?;
        Some(broker.rack.clone())
    };
    let leader_id = partition.leadership().leader;
    let leader = ReplicaView {
        id: leader_id,
        rack: rack_of(leader_id).flatten(),
        log_end_offset: views.leader_log_end,
        time_since_caught_up_ms: 0,
    };
    let candidates: Vec<ReplicaView> = views
        .followers
        .into_iter()
        .filter(|f| f.log_end_offset >= fetch_offset)
        .filter_map(|f| {
            Some(ReplicaView {
                id: f.id,
                rack: rack_of(f.id)?,
                log_end_offset: f.log_end_offset,
                time_since_caught_up_ms: f.since_caught_up_ms,
            })
        })
        .collect();
    let chosen = selector::select(chosen_by, &client.rack, &leader, &candidates);
    if let Some(replica) = chosen {
        tracing::debug!(
            topic = %partition.topic,
            partition = partition.index,
            replica,
            rack = %client.rack,
            "preferred read replica"
        );
    }
    chosen
}

/// Kafka's answer naming the preferred read replica: the partition's
/// offsets and no records.
pub fn redirect(partition: &Partition, index: i32, replica: i32) -> PartitionOut<FileSlice> {
    let (start, end) = partition.offsets().unwrap_or((-1, -1));
    PartitionOut {
        high_watermark: end,
        last_stable_offset: partition.last_stable_offset().unwrap_or(end),
        log_start_offset: start,
        preferred_read_replica: replica,
        ..error_partition(index, error_codes::NONE)
    }
}
