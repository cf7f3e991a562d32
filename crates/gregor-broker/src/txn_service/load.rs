//! Loading one transaction coordinator shard: every record of its
//! `__transaction_state` partition replayed into a fresh coordinator.

use crate::internal_topics::{self, Replayed, TXN_TOPIC};
use crate::replica_manager::ReplicaManager;
use gregor_coordinator::txn::{Record, TxnConfig, TxnCoordinator};

/// Replays `__transaction_state-<partition>` from the local log: the
/// coordinator and the number of records applied.
pub fn replay_shard(
    replicas: &ReplicaManager,
    partition: i32,
    config: TxnConfig,
) -> anyhow::Result<(TxnCoordinator, usize)> {
    let mut coordinator = TxnCoordinator::new(config);
    let mut replayed = 0usize;
    for item in internal_topics::replay(replicas, TXN_TOPIC, partition)? {
        let Replayed::Record { key, value, .. } = item else {
            continue;
        };
        match Record::decode(&key, value.as_deref()) {
            Ok(record) => {
                coordinator.replay(record);
                replayed += 1;
            }
            Err(err) => tracing::warn!(partition, %err, "skipping __transaction_state record"),
        }
    }
    Ok((coordinator, replayed))
}
