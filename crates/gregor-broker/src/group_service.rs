//! The edge around the pure group coordinator (`group`), sharded as
//! Kafka's coordinator runtime: one `GroupCoordinator` per partition of
//! `__consumer_offsets` this broker leads, loaded by replaying that
//! partition when the broker becomes its leader and dropped when it stops
//! being it. A request goes to the shard of its group's partition (absent:
//! NOT_COORDINATOR; loading: COORDINATOR_LOAD_IN_PROGRESS).
//!
//! Each step runs under the service lock and appends its records to the
//! shard's partition under it (so the log has them in the order the state
//! machine made them); the answers go out once those records are committed
//! (the high watermark passed them), waited for outside the lock. A write
//! that fails or is not committed in `offsets.commit.timeout.ms` reloads
//! the shard from its log, so memory never stays ahead of it.

mod core;
mod load;

use self::core::{Answer, Core, Delivery, Inner};
use crate::clock::now_ms;
use crate::controller::Controller;
use crate::internal_topics::{self, OFFSETS_TOPIC};
use crate::replica_manager::ReplicaManager;
use gregor_coordinator::group::{GroupConfig, GroupCoordinator, Outcome, Record};
use gregor_coordinator::runtime::Shards;
use gregor_metadata::MetadataImage;
use gregor_protocol::error_codes::{COORDINATOR_LOAD_IN_PROGRESS, NOT_COORDINATOR};
use kafka_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

/// Settings of the service besides the coordinator's own.
pub struct GroupServiceSettings {
    pub partitions: i32,
    pub replication_factor: i16,
    pub commit_timeout: Duration,
    pub node_id: i32,
}

/// Cheap to clone: every clone is a handle on the same shards.
#[derive(Clone)]
pub struct GroupService {
    core: Arc<Core>,
}

impl GroupService {
    /// An empty service: shards are loaded as this broker becomes leader
    /// of `__consumer_offsets` partitions (see [`GroupService::on_image`]).
    /// Must be called within the main runtime.
    pub fn new(
        config: GroupConfig,
        controller: Arc<Controller>,
        replicas: Arc<ReplicaManager>,
        settings: GroupServiceSettings,
    ) -> GroupService {
        GroupService {
            core: Arc::new(Core {
                inner: Mutex::new(Inner {
                    shards: Shards::new(),
                    next_request_id: 1,
                    markers_while_loading: BTreeMap::new(),
                }),
                controller,
                replicas,
                config,
                default_partitions: settings.partitions,
                replication_factor: settings.replication_factor,
                commit_timeout: settings.commit_timeout,
                node_id: settings.node_id,
                runtime: tokio::runtime::Handle::current(),
            }),
        }
    }

    /// A new metadata image was applied to the local replicas: load the
    /// shards of the partitions this broker now leads, drop the others.
    pub fn on_image(&self, image: &MetadataImage) {
        let led = internal_topics::led_partitions(
            image,
            &self.core.replicas,
            OFFSETS_TOPIC,
            self.core.node_id,
        );
        self.core.apply_leadership(&led);
    }

    /// The `__consumer_offsets` partition of a group.
    pub fn partition_of(&self, group_id: &str) -> i32 {
        self.core.partition_of(group_id)
    }

    /// Runs a step that may park the caller (JoinGroup, SyncGroup,
    /// Heartbeat, LeaveGroup) on the group's shard; waits for its answer,
    /// which goes out once the records it depends on are committed.
    pub async fn parked(
        &self,
        group_id: &str,
        step: impl FnOnce(&mut GroupCoordinator, u64, i64) -> Outcome,
    ) -> Answer {
        let (tx, rx) = oneshot::channel();
        let partition = self.core.partition_of(group_id);
        let delivery = {
            let mut inner = self.core.lock();
            let id = inner.next_request_id;
            inner.next_request_id += 1;
            let leader_epoch = inner.shards.leader_epoch(partition).unwrap_or(-1);
            let shard = inner.shards.get_mut(partition)?;
            self.core.catch_up(partition, shard);
            shard.waiting.insert(id, tx);
            let outcome = step(&mut shard.coordinator, id, now_ms());
            self.core
                .write_outcome(partition, leader_epoch, shard, outcome)
        };
        self.core.deliver(delivery).await;
        // A dropped sender means the shard went away meanwhile.
        rx.await.unwrap_or(Err(NOT_COORDINATOR))
    }

    /// Runs a step answered at once on the group's shard; the answer is
    /// returned once its records are committed, else the coordinator error.
    pub async fn immediate<T>(
        &self,
        group_id: &str,
        step: impl FnOnce(&mut GroupCoordinator, i64) -> (T, Vec<Record>),
    ) -> Result<T, i16> {
        let partition = self.core.partition_of(group_id);
        self.immediate_on(partition, |c, now| {
            let (answer, records) = step(c, now);
            (answer, records, None)
        })
        .await
    }

    /// TxnOffsetCommit: the offsets are written as a transactional batch of
    /// the producer and stay pending until its transaction ends.
    pub async fn txn_commit(
        &self,
        req: &TxnOffsetCommitRequest,
    ) -> Result<TxnOffsetCommitResponse, i16> {
        // The metadata names the topic ids consumer-group members hold.
        let image = self.core.controller.image();
        let partition = self.core.partition_of(&req.group_id);
        let producer = (req.producer_id.0, req.producer_epoch);
        self.immediate_on(partition, |c, now| {
            let (response, records) = c.txn_commit_offsets(req, image.as_ref(), now);
            (response, records, Some(producer))
        })
        .await
    }

    async fn immediate_on<T>(
        &self,
        partition: i32,
        step: impl FnOnce(&mut GroupCoordinator, i64) -> (T, Vec<Record>, Option<(i64, i16)>),
    ) -> Result<T, i16> {
        let (answer, commit, leader_epoch, wrote) = {
            let mut inner = self.core.lock();
            let leader_epoch = inner.shards.leader_epoch(partition).unwrap_or(-1);
            let shard = inner.shards.get_mut(partition)?;
            self.core.catch_up(partition, shard);
            let (answer, records, producer) = step(&mut shard.coordinator, now_ms());
            let wrote = !records.is_empty();
            let commit = self
                .core
                .write(partition, leader_epoch, shard, &records, producer);
            (answer, commit, leader_epoch, wrote)
        };
        self.core
            .settle(partition, leader_epoch, wrote, commit)
            .await?;
        Ok(answer)
    }

    /// A transaction marker of `producer_id` was written to
    /// `__consumer_offsets-<partition>` at `marker_offset`: settle the
    /// offsets it covers (shown by reads once the marker is committed).
    pub fn complete_txn(&self, partition: i32, producer_id: i64, commit: bool, marker_offset: i64) {
        let mut inner = self.core.lock();
        match inner.shards.get_mut(partition) {
            Ok(shard) => {
                self.core.catch_up(partition, shard);
                shard.coordinator.complete_txn_offsets(
                    producer_id,
                    commit,
                    // Every group of the shard is in its partition.
                    |_| true,
                    now_ms(),
                );
                shard.coordinator.place_changes(marker_offset);
                tracing::debug!(
                    partition,
                    producer_id,
                    commit,
                    marker_offset,
                    high_watermark = self.core.high_watermark(partition),
                    last_written = shard.last_written,
                    "transaction marker settled group offsets"
                );
                // A require_stable read waits for the marker too.
                shard.last_written = shard.last_written.max(Some(marker_offset));
            }
            Err(COORDINATOR_LOAD_IN_PROGRESS) => inner
                .markers_while_loading
                .entry(partition)
                .or_default()
                .push((producer_id, commit, marker_offset)),
            // Not the coordinator: whoever loads the partition replays the marker.
            Err(_) => {
                tracing::debug!(partition, producer_id, "marker for a shard not held here")
            }
        }
    }

    /// The `__consumer_offsets` partition that holds a group (created on
    /// first use), for AddOffsetsToTxn.
    pub fn offsets_partition(&self, group_id: &str) -> anyhow::Result<i32> {
        self.ensure_topic()?;
        Ok(self.core.partition_of(group_id))
    }

    /// Creates `__consumer_offsets` on first use (FindCoordinator).
    pub fn ensure_topic(&self) -> anyhow::Result<()> {
        internal_topics::ensure_topic(
            &self.core.controller,
            OFFSETS_TOPIC,
            self.core.default_partitions,
            self.core.replication_factor,
            None,
        )
        .map_err(|e| anyhow::anyhow!("{}", e.message))
    }

    /// Read-only access to the group's shard (describe, fetch offsets), at
    /// the partition's current high watermark: committed offsets whose
    /// records are not committed yet read as before them, as Kafka's
    /// runtime reads at the last committed offset.
    pub fn read<T>(
        &self,
        group_id: &str,
        f: impl FnOnce(&GroupCoordinator) -> T,
    ) -> Result<T, i16> {
        let partition = self.core.partition_of(group_id);
        let mut inner = self.core.lock();
        let shard = inner.shards.get_mut(partition)?;
        self.core.catch_up(partition, shard);
        Ok(f(&shard.coordinator))
    }

    /// A `require_stable` read (read_committed consumers' OffsetFetch), as
    /// Kafka runs it: as a write operation that writes nothing. It reads the
    /// shard's latest state, then its answer waits until everything the
    /// shard has written so far is committed. Reading first matters: a
    /// transaction marker applied after a wait but before a read at the
    /// high watermark would be hidden (its offsets shown as before the
    /// transaction, no longer pending), though the transaction was
    /// acknowledged. A coordinator cut off from its followers (its image
    /// stale, still leading in its eyes) times out with
    /// COORDINATOR_NOT_AVAILABLE instead of answering from a state the new
    /// coordinator has moved past. Nothing is reloaded on failure (this
    /// step wrote nothing).
    pub async fn read_stable<T>(
        &self,
        group_id: &str,
        f: impl FnOnce(&GroupCoordinator) -> T,
    ) -> Result<T, i16> {
        let partition = self.core.partition_of(group_id);
        let (answer, pending) = {
            let mut inner = self.core.lock();
            let shard = inner.shards.get_mut(partition)?;
            self.core.catch_up(partition, shard);
            let answer = f(&shard.coordinator);
            let pending = shard.last_written.and_then(|last| {
                internal_topics::pending_at(&self.core.replicas, OFFSETS_TOPIC, partition, last)
            });
            (answer, pending)
        };
        if let Some(pending) = pending {
            pending.wait(self.core.commit_timeout).await?;
        }
        Ok(answer)
    }

    /// Read-only access to every loaded shard (ListGroups), each at its
    /// partition's high watermark as [`Self::read`]: refused with
    /// COORDINATOR_LOAD_IN_PROGRESS while any shard loads, as Kafka.
    pub fn read_all<T>(&self, mut f: impl FnMut(&GroupCoordinator) -> T) -> Result<Vec<T>, i16> {
        let mut inner = self.core.lock();
        if inner.shards.any_loading() {
            return Err(COORDINATOR_LOAD_IN_PROGRESS);
        }
        Ok(inner
            .shards
            .active_mut()
            .map(|(partition, _, shard)| {
                self.core.catch_up(partition, shard);
                f(&shard.coordinator)
            })
            .collect())
    }

    /// [`Self::read_all`] over the shards loaded so far, without waiting
    /// for the others (metrics: one loading shard must not hide the rest).
    pub fn read_loaded<T>(&self, mut f: impl FnMut(&GroupCoordinator) -> T) -> Vec<T> {
        let mut inner = self.core.lock();
        inner
            .shards
            .active_mut()
            .map(|(partition, _, shard)| {
                self.core.catch_up(partition, shard);
                f(&shard.coordinator)
            })
            .collect()
    }

    /// Removes expired committed offsets (and groups left with none), per shard.
    pub fn expire_offsets(&self) {
        let deliveries: Vec<Delivery> = {
            let mut inner = self.core.lock();
            let now = now_ms();
            let retention_ms = self.core.config.offsets_retention_ms;
            let mut out = Vec::new();
            for (partition, leader_epoch, shard) in inner.shards.active_mut() {
                self.core.catch_up(partition, shard);
                let records = shard.coordinator.expire_offsets(now, retention_ms);
                if records.is_empty() {
                    continue;
                }
                tracing::info!(
                    partition,
                    records = records.len(),
                    "expired committed offsets"
                );
                let outcome = Outcome {
                    responses: Vec::new(),
                    records,
                };
                out.push(
                    self.core
                        .write_outcome(partition, leader_epoch, shard, outcome),
                );
            }
            out
        };
        for delivery in deliveries {
            self.core.spawn_deliver(delivery);
        }
    }

    /// Fires due timers (session expiry, rebalance and join delays) of
    /// every shard.
    pub fn tick(&self) {
        let deliveries: Vec<Delivery> = {
            let mut inner = self.core.lock();
            let now = now_ms();
            let mut out = Vec::new();
            for (partition, leader_epoch, shard) in inner.shards.active_mut() {
                self.core.catch_up(partition, shard);
                let outcome = shard.coordinator.tick(now);
                if outcome.records.is_empty() && outcome.responses.is_empty() {
                    continue;
                }
                out.push(
                    self.core
                        .write_outcome(partition, leader_epoch, shard, outcome),
                );
            }
            out
        };
        for delivery in deliveries {
            self.core.spawn_deliver(delivery);
        }
    }
}
