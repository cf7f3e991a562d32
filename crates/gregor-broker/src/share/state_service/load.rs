//! Loading one share coordinator shard: every record of its
//! `__share_group_state` partition replayed into a fresh shard.

use super::SHARE_STATE_TOPIC;
use crate::internal_topics::{self, Replayed};
use crate::replica_manager::ReplicaManager;
use gregor_coordinator::share::coordinator::{ShareCoordinatorShard, ShareRecord};

/// Replays `__share_group_state-<partition>` from the local log: the shard
/// and the number of records applied.
pub fn replay_shard(
    replicas: &ReplicaManager,
    partition: i32,
    updates_per_snapshot: i32,
) -> anyhow::Result<(ShareCoordinatorShard, usize)> {
    let mut shard = ShareCoordinatorShard::new(updates_per_snapshot);
    let mut replayed = 0usize;
    for item in internal_topics::replay(replicas, SHARE_STATE_TOPIC, partition)? {
        let Replayed::Record { key, value, .. } = item else {
            continue;
        };
        match ShareRecord::decode(&key, value.as_deref()) {
            Ok(Some(record)) => {
                shard.replay(&record);
                replayed += 1;
            }
            // A record type of a newer Kafka: skipped, as Kafka's shard does.
            Ok(None) => {}
            Err(err) => {
                tracing::warn!(partition, %err, "skipping __share_group_state record")
            }
        }
    }
    Ok((shard, replayed))
}
