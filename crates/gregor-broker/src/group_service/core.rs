//! The shards of the group service and how they change: loading and
//! reloading from the log, writing a step's records under the lock and
//! delivering its answers once they are committed.

use super::load;
use crate::clock::now_ms;
use crate::controller::Controller;
use crate::internal_topics::{self, PendingCommit, OFFSETS_TOPIC};
use crate::replica_manager::ReplicaManager;
use bytes::Bytes;
use gregor_coordinator::group::{GroupConfig, GroupCoordinator, Outcome, Record, Response};
use gregor_coordinator::runtime::{ShardChange, ShardState, Shards};
use gregor_protocol::error_codes::{
    COORDINATOR_LOAD_IN_PROGRESS, NOT_COORDINATOR, UNKNOWN_SERVER_ERROR,
};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::oneshot;

/// A parked request's answer, or the error it gets instead.
pub(super) type Answer = Result<Response, i16>;

/// One `__consumer_offsets` partition's coordinator.
pub(super) struct Shard {
    pub(super) coordinator: GroupCoordinator,
    /// Parked requests (JoinGroup, SyncGroup, ...) by request id.
    pub(super) waiting: HashMap<u64, oneshot::Sender<Answer>>,
    /// The last offset this shard appended (or found at load): an answer
    /// that wrote nothing may still depend on it, so it waits for it too.
    pub(super) last_written: Option<i64>,
}

impl Shard {
    pub(super) fn new(coordinator: GroupCoordinator, last_written: Option<i64>) -> Shard {
        Shard {
            coordinator,
            waiting: HashMap::new(),
            last_written,
        }
    }

    /// The parked requests of a dropped shard get `code`.
    pub(super) fn fail_waiting(self, code: i16) {
        for (_, tx) in self.waiting {
            let _ = tx.send(Err(code));
        }
    }
}

pub(super) struct Inner {
    pub(super) shards: Shards<Shard>,
    pub(super) next_request_id: u64,
    /// Transaction markers (producer id, commit, marker offset) that
    /// reached a partition while its shard was loading: the replay may
    /// have read the log before them.
    pub(super) markers_while_loading: BTreeMap<i32, Vec<(i64, bool, i64)>>,
}

pub(super) struct Core {
    pub(super) inner: Mutex<Inner>,
    pub(super) controller: Arc<Controller>,
    pub(super) replicas: Arc<ReplicaManager>,
    pub(super) config: GroupConfig,
    /// `offsets.topic.num.partitions`, until the topic exists.
    pub(super) default_partitions: i32,
    /// `offsets.topic.replication.factor`.
    pub(super) replication_factor: i16,
    /// `offsets.commit.timeout.ms`.
    pub(super) commit_timeout: Duration,
    pub(super) node_id: i32,
    /// Where loads and deferred answers run (the main runtime).
    pub(super) runtime: tokio::runtime::Handle,
}

/// What a step left to do once the lock is released: wait for its records
/// to be committed, then send the answers that became ready.
pub(super) struct Delivery {
    pub(super) partition: i32,
    pub(super) leader_epoch: i32,
    /// Records of this step itself were appended (a failure reloads).
    pub(super) wrote: bool,
    pub(super) commit: Result<Option<PendingCommit>, i16>,
    pub(super) answers: Vec<(oneshot::Sender<Answer>, Response)>,
}

impl Core {
    pub(super) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Kafka's partition of a group: by the existing topic's partition
    /// count, else the configured one.
    pub(super) fn partition_of(&self, group_id: &str) -> i32 {
        let partitions = self
            .controller
            .image()
            .topic(OFFSETS_TOPIC)
            .map(|t| t.partitions.len() as i32)
            .unwrap_or(self.default_partitions);
        internal_topics::partition_for(group_id, partitions)
    }

    pub(super) fn apply_leadership(self: &Arc<Self>, led: &BTreeMap<i32, i32>) {
        let mut inner = self.lock();
        for change in inner.shards.plan(led) {
            match change {
                ShardChange::Unload { partition } => {
                    inner.markers_while_loading.remove(&partition);
                    if let Some(shard) = inner.shards.unload(partition) {
                        tracing::info!(partition, "unloading consumer group shard");
                        if let ShardState::Active(shard) = shard.state {
                            shard.fail_waiting(NOT_COORDINATOR);
                        }
                    }
                }
                ShardChange::Load {
                    partition,
                    leader_epoch,
                } => {
                    inner.markers_while_loading.remove(&partition);
                    if let Some(old) = inner.shards.begin_load(partition, leader_epoch) {
                        old.fail_waiting(NOT_COORDINATOR);
                    }
                    tracing::info!(partition, leader_epoch, "loading consumer group shard");
                    self.spawn_load(partition, leader_epoch);
                }
            }
        }
    }

    /// Replays the partition on a blocking task, then activates the shard
    /// unless leadership moved on meanwhile.
    pub(super) fn spawn_load(self: &Arc<Self>, partition: i32, leader_epoch: i32) {
        let core = self.clone();
        self.runtime.spawn_blocking(move || {
            let started = std::time::Instant::now();
            let loaded = load::replay_shard(&core.replicas, partition, core.config.clone());
            let mut inner = core.lock();
            let still_wanted = inner.shards.leader_epoch(partition) == Some(leader_epoch)
                && inner.shards.get(partition).err() == Some(COORDINATOR_LOAD_IN_PROGRESS);
            if !still_wanted {
                return;
            }
            match loaded {
                Ok(load::Loaded {
                    mut coordinator,
                    records,
                    last_offset,
                }) => {
                    let now = now_ms();
                    let markers = inner
                        .markers_while_loading
                        .remove(&partition)
                        .unwrap_or_default();
                    let mut last_offset = last_offset;
                    for (producer_id, commit, offset) in markers {
                        coordinator.complete_txn_offsets(producer_id, commit, |_| true, now);
                        coordinator.place_changes(offset);
                        last_offset = last_offset.max(Some(offset));
                    }
                    let shard = Shard::new(coordinator, last_offset);
                    if inner.shards.finish_load(partition, leader_epoch, shard) {
                        tracing::info!(
                            partition,
                            leader_epoch,
                            records,
                            elapsed_ms = started.elapsed().as_millis() as u64,
                            "loaded consumer group shard"
                        );
                    }
                }
                Err(err) => {
                    // Left unloaded (NOT_COORDINATOR): the next metadata
                    // change that still names this broker retries.
                    tracing::error!(partition, %err, "cannot load consumer group shard");
                    inner.shards.unload(partition);
                }
            }
        });
    }

    /// A write of this shard failed: its memory may be ahead of the log,
    /// so it is replayed again (if still held at that epoch and active).
    pub(super) fn reload(self: &Arc<Self>, partition: i32, leader_epoch: i32) {
        let mut inner = self.lock();
        if inner.shards.leader_epoch(partition) != Some(leader_epoch)
            || inner.shards.get(partition).is_err()
        {
            return;
        }
        tracing::warn!(
            partition,
            leader_epoch,
            "reloading consumer group shard after a failed write"
        );
        inner.markers_while_loading.remove(&partition);
        if let Some(old) = inner.shards.begin_load(partition, leader_epoch) {
            old.fail_waiting(NOT_COORDINATOR);
        }
        self.spawn_load(partition, leader_epoch);
    }

    /// The high watermark of a shard's partition: what reads show and
    /// what the shard stops tracking as uncommitted (`None` when the
    /// partition is not hosted here any more).
    pub(super) fn high_watermark(&self, partition: i32) -> Option<i64> {
        self.replicas
            .partition(OFFSETS_TOPIC, partition)
            .map(|local| local.high_watermark())
    }

    /// Forgets the shard's uncommitted changes the high watermark has
    /// passed (before each read and step, so what they see is current and
    /// the set stays as small as the writes in flight).
    pub(super) fn catch_up(&self, partition: i32, shard: &mut Shard) {
        if let Some(high_watermark) = self.high_watermark(partition) {
            shard.coordinator.committed_up_to(high_watermark);
        }
    }

    /// Appends a step's records to the shard's partition (under the lock);
    /// what to wait for before answering. The step's changes of committed
    /// offsets stay hidden from reads until the records are committed.
    pub(super) fn write(
        &self,
        partition: i32,
        leader_epoch: i32,
        shard: &mut Shard,
        records: &[Record],
        producer: Option<(i64, i16)>,
    ) -> Result<Option<PendingCommit>, i16> {
        self.catch_up(partition, shard);
        if records.is_empty() {
            shard.coordinator.discard_changes();
            return Ok(shard.last_written.and_then(|last| {
                internal_topics::pending_at(&self.replicas, OFFSETS_TOPIC, partition, last)
            }));
        }
        match self.append(partition, leader_epoch, records, producer) {
            Ok(pending) => {
                shard.coordinator.place_changes(pending.last_offset());
                shard.last_written = Some(pending.last_offset());
                Ok(Some(pending))
            }
            Err(code) => {
                // Memory is ahead of the log now: the shard reloads.
                shard.coordinator.discard_changes();
                Err(code)
            }
        }
    }

    /// Encodes and appends records at this leader (not yet committed).
    fn append(
        &self,
        partition: i32,
        leader_epoch: i32,
        records: &[Record],
        producer: Option<(i64, i16)>,
    ) -> Result<PendingCommit, i16> {
        let encoded: Vec<(Bytes, Option<Bytes>)> = records
            .iter()
            .map(Record::encode)
            .collect::<Result<_, _>>()
            .map_err(|err| {
                tracing::error!(%err, "cannot encode group records");
                UNKNOWN_SERVER_ERROR
            })?;
        internal_topics::append_local(
            &self.replicas,
            OFFSETS_TOPIC,
            partition,
            Some(leader_epoch),
            &encoded,
            producer,
        )
    }

    /// `write` for an outcome, taking the answers that became ready.
    pub(super) fn write_outcome(
        &self,
        partition: i32,
        leader_epoch: i32,
        shard: &mut Shard,
        outcome: Outcome,
    ) -> Delivery {
        let wrote = !outcome.records.is_empty();
        let commit = self.write(partition, leader_epoch, shard, &outcome.records, None);
        let answers = outcome
            .responses
            .into_iter()
            .filter_map(|(id, response)| shard.waiting.remove(&id).map(|tx| (tx, response)))
            .collect();
        Delivery {
            partition,
            leader_epoch,
            wrote,
            commit,
            answers,
        }
    }

    /// Waits for a step's commit; a failure of its own write reloads the shard.
    pub(super) async fn settle(
        self: &Arc<Self>,
        partition: i32,
        leader_epoch: i32,
        wrote: bool,
        commit: Result<Option<PendingCommit>, i16>,
    ) -> Result<(), i16> {
        let result = match commit {
            Ok(None) => Ok(()),
            Ok(Some(pending)) => pending.wait(self.commit_timeout).await.map(|_| ()),
            Err(code) => Err(code),
        };
        if let Err(code) = result {
            tracing::debug!(partition, code, "group coordinator write not committed");
            if wrote {
                self.reload(partition, leader_epoch);
            }
        }
        result
    }

    pub(super) async fn deliver(self: &Arc<Self>, delivery: Delivery) {
        let Delivery {
            partition,
            leader_epoch,
            wrote,
            commit,
            answers,
        } = delivery;
        let result = self.settle(partition, leader_epoch, wrote, commit).await;
        for (tx, response) in answers {
            let _ = tx.send(match result {
                Ok(()) => Ok(response),
                Err(code) => Err(code),
            });
        }
    }

    /// Delivers on its own task (timers must not wait for commits).
    pub(super) fn spawn_deliver(self: &Arc<Self>, delivery: Delivery) {
        let core = self.clone();
        self.runtime
            .spawn(async move { core.deliver(delivery).await });
    }
}
