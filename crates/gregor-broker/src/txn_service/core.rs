//! The transaction coordinator's shards and their writes: the lock over
//! every shard this broker holds, appending a transition at the shard's
//! epoch and waiting for its commit, loading and unloading shards as the
//! leadership of `__transaction_state` partitions moves, and queueing the
//! markers of prepared transactions.

use super::load;
use crate::controller::Controller;
use crate::internal_topics::{self, PendingCommit, TXN_TOPIC};
use crate::replica_manager::ReplicaManager;
use crate::txn_markers::{MarkerJob, MarkerOutbox};
use gregor_coordinator::runtime::{ShardChange, Shards};
use gregor_coordinator::txn::{Code, Record, TxnConfig, TxnCoordinator, TxnMetadata, TxnState};
use gregor_protocol::error_codes;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// How long a transition waits for its record to be committed (Kafka's
/// transaction coordinator uses the request timeout; its default).
const COMMIT_TIMEOUT: Duration = Duration::from_millis(5_000);

pub(super) struct Core {
    pub(super) shards: Mutex<Shards<TxnCoordinator>>,
    pub(super) config: TxnConfig,
    pub(super) controller: Arc<Controller>,
    pub(super) replicas: Arc<ReplicaManager>,
    /// `transaction.state.log.num.partitions`, for a topic not created yet.
    pub(super) partitions: i32,
    /// `transaction.state.log.replication.factor` and `.min.isr`.
    pub(super) replication: Mutex<(i16, i32)>,
    pub(super) node_id: i32,
    pub(super) outbox: MarkerOutbox,
    /// Where shard loads run.
    pub(super) runtime: tokio::runtime::Handle,
    /// The latest `__transaction_state` partitions led here, with their
    /// leader epochs, from the metadata thread to the task that loads and
    /// unloads shards (the metadata thread must never wait for the
    /// coordinator's lock: a request holding it may wait for a metadata
    /// commit, a producer id block).
    pub(super) led: tokio::sync::watch::Sender<BTreeMap<i32, i32>>,
}

/// A record appended by a transition, to be waited for outside the lock.
pub(super) struct Written {
    pub(super) partition: i32,
    pub(super) leader_epoch: i32,
    pub(super) pending: PendingCommit,
}

impl Core {
    pub(super) fn lock(&self) -> MutexGuard<'_, Shards<TxnCoordinator>> {
        self.shards.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The topic's partition count once it exists, the configured one
    /// before.
    pub(super) fn partition_count(&self) -> i32 {
        self.controller
            .image()
            .topic(TXN_TOPIC)
            .map_or(self.partitions, |t| t.partitions.len() as i32)
    }

    pub(super) fn partition_for(&self, transactional_id: &str) -> i32 {
        internal_topics::partition_for(transactional_id, self.partition_count())
    }

    pub(super) fn allocate(&self) -> impl FnMut() -> Result<i64, Code> + '_ {
        move || {
            self.controller
                .next_producer_id(self.node_id)
                .map_err(|e| e.code)
        }
    }

    /// Under the lock: appends `txn` to the shard's partition (at the
    /// shard's epoch) and applies it.
    pub(super) fn write(
        &self,
        shards: &mut Shards<TxnCoordinator>,
        partition: i32,
        txn: TxnMetadata,
    ) -> Result<Written, Code> {
        let record = Record {
            transactional_id: txn.transactional_id.clone(),
            value: Some(txn.clone()),
        };
        let written = self.append(shards, partition, &record)?;
        shards.get_mut(partition)?.apply(txn);
        Ok(written)
    }

    /// Under the lock: removes an idle transactional id.
    pub(super) fn write_tombstone(
        &self,
        shards: &mut Shards<TxnCoordinator>,
        partition: i32,
        transactional_id: &str,
    ) -> Result<Written, Code> {
        let record = Record {
            transactional_id: transactional_id.to_string(),
            value: None,
        };
        let written = self.append(shards, partition, &record)?;
        shards.get_mut(partition)?.replay(record);
        Ok(written)
    }

    pub(super) fn append(
        &self,
        shards: &Shards<TxnCoordinator>,
        partition: i32,
        record: &Record,
    ) -> Result<Written, Code> {
        let leader_epoch = shards
            .leader_epoch(partition)
            .ok_or(error_codes::NOT_COORDINATOR)?;
        let encoded = record.encode().map_err(|err| {
            tracing::error!(%err, "cannot encode transaction record");
            error_codes::COORDINATOR_NOT_AVAILABLE
        })?;
        let pending = internal_topics::append_local(
            &self.replicas,
            TXN_TOPIC,
            partition,
            Some(leader_epoch),
            &[encoded],
            None,
        )?;
        Ok(Written {
            partition,
            leader_epoch,
            pending,
        })
    }

    /// Outside the lock: waits for a written record to be committed. If
    /// it is not, the shard is reloaded from its log (memory is ahead).
    pub(super) async fn committed(self: &Arc<Self>, written: Written) -> Result<(), Code> {
        let Written {
            partition,
            leader_epoch,
            pending,
        } = written;
        match pending.wait(COMMIT_TIMEOUT).await {
            Ok(_) => Ok(()),
            Err(code) => {
                tracing::warn!(
                    partition,
                    leader_epoch,
                    code,
                    "transaction record not committed; reloading the shard"
                );
                self.reload(partition, leader_epoch);
                Err(code)
            }
        }
    }

    /// Queues the markers of a prepared transaction of a shard held at
    /// `leader_epoch` (the coordinator epoch they carry).
    pub(super) fn send_markers(&self, partition: i32, leader_epoch: i32, prepared: &TxnMetadata) {
        self.outbox.send(MarkerJob {
            transactional_id: prepared.transactional_id.clone(),
            txn_partition: partition,
            coordinator_epoch: leader_epoch,
            producer_id: prepared.producer_id,
            producer_epoch: prepared.producer_epoch,
            commit: prepared.state == TxnState::PrepareCommit,
            // Client versions are 0..=2; anything larger still means TV2.
            transaction_version: i8::try_from(prepared.client_version).unwrap_or(i8::MAX),
            partitions: prepared.partitions.clone(),
        });
    }

    pub(super) fn apply_leadership(self: &Arc<Self>, led: &BTreeMap<i32, i32>) {
        let mut shards = self.lock();
        for change in shards.plan(led) {
            match change {
                ShardChange::Unload { partition } => {
                    if shards.unload(partition).is_some() {
                        tracing::info!(partition, "unloading transaction coordinator shard");
                    }
                }
                ShardChange::Load {
                    partition,
                    leader_epoch,
                } => {
                    shards.begin_load(partition, leader_epoch);
                    tracing::info!(
                        partition,
                        leader_epoch,
                        "loading transaction coordinator shard"
                    );
                    self.spawn_load(partition, leader_epoch);
                }
            }
        }
    }

    /// Loads the shard again from its log if it is still held at
    /// `leader_epoch`.
    pub(super) fn reload(self: &Arc<Self>, partition: i32, leader_epoch: i32) {
        let mut shards = self.lock();
        if shards.leader_epoch(partition) == Some(leader_epoch) {
            shards.begin_load(partition, leader_epoch);
            self.spawn_load(partition, leader_epoch);
        }
    }

    /// Replays the partition on a blocking task, then activates the shard
    /// unless leadership moved on meanwhile, and finishes the transactions
    /// the previous coordinator left prepared (their markers).
    pub(super) fn spawn_load(self: &Arc<Self>, partition: i32, leader_epoch: i32) {
        let core = self.clone();
        self.runtime.spawn_blocking(move || {
            let loaded = load::replay_shard(&core.replicas, partition, core.config.clone());
            let mut shards = core.lock();
            if shards.leader_epoch(partition) != Some(leader_epoch) {
                return;
            }
            match loaded {
                Ok((coordinator, records)) => {
                    let prepared = coordinator.prepared();
                    if shards.finish_load(partition, leader_epoch, coordinator) {
                        tracing::info!(
                            partition,
                            leader_epoch,
                            records,
                            prepared = prepared.len(),
                            "loaded transaction coordinator shard"
                        );
                        for txn in &prepared {
                            core.send_markers(partition, leader_epoch, txn);
                        }
                    }
                }
                Err(err) => {
                    // Left loading: clients retry and the next leadership
                    // change (or restart) loads it again.
                    tracing::error!(partition, %err, "cannot load transaction coordinator shard");
                }
            }
        });
    }
}
