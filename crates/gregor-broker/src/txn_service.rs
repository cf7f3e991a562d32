//! The edge around the pure transaction coordinator (`txn`), one shard per
//! `__transaction_state` partition this broker leads (Kafka's
//! `TransactionStateManager` with its coordinator epochs): a shard is
//! loaded (its partition replayed) when the broker becomes the partition's
//! leader and dropped when it stops being it; its coordinator epoch is the
//! partition's leader epoch at load.
//!
//! Each transition is appended to the shard's partition under the lock
//! (so records reach the log in the order the state machine made them)
//! and applied in memory; the caller is answered once the record is
//! committed (the high watermark passed it), waited for outside the lock.
//! A write that fails to commit reloads the shard from its log, so memory
//! never stays ahead of it. Markers of prepared transactions go out
//! through the marker channel (`txn_markers`) once the prepare record is
//! committed; the transaction completes when they are all written.
//!
//! A transactional produce to a partition this broker leads, for a
//! transaction this broker coordinates, is verified and appended under the
//! same lock, so no record can slip in after its transaction's marker (a
//! "hanging transaction", KIP-890). With a remote coordinator the
//! partition's verification guard does that job (`txn_verification`).

mod core;
mod load;

use self::core::Core;

use crate::clock::now_ms;
use crate::controller::Controller;
use crate::group_service::GroupService;
use crate::internal_topics::{self, OFFSETS_TOPIC, TXN_TOPIC};
use crate::replica::leader::AckState;
use crate::replica_manager::{Progress, ReplicaManager};
use crate::txn_markers::{MarkerJob, MarkerOutbox};
use gregor_coordinator::runtime::Shards;
use gregor_coordinator::txn::{
    Code, EndRequest, EndStep, InitStep, TxnConfig, TxnCoordinator, TxnMetadata,
};
use gregor_log::TxnMarker;
use gregor_metadata::MetadataImage;
use gregor_protocol::error_codes;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// How long a marker's write waits to be committed before answering
/// REQUEST_TIMED_OUT (below the 30 s inter-broker request timeout, so the
/// coordinator gets the answer and retries).
const MARKER_COMMIT_TIMEOUT: Duration = Duration::from_millis(5_000);

/// A marker appended at this leader, not yet known to be committed.
#[must_use = "a marker is written once committed"]
pub struct MarkerCommit {
    required_offset: i64,
    progress: watch::Receiver<Progress>,
}

impl MarkerCommit {
    /// Waits until the high watermark passes the marker, as an acks=all
    /// produce: the partition-level error otherwise.
    pub async fn committed(mut self) -> Result<(), Code> {
        let required = self.required_offset;
        let settled = |p: &Progress| p.ack_state(required) != Some(AckState::Waiting);
        // An error only means the partition is gone: decided below.
        let _ = tokio::time::timeout(MARKER_COMMIT_TIMEOUT, self.progress.wait_for(settled)).await;
        let state = self.progress.borrow().ack_state(required);
        match state {
            Some(AckState::Done) => Ok(()),
            Some(AckState::DoneUnderMinIsr) => Err(error_codes::NOT_ENOUGH_REPLICAS_AFTER_APPEND),
            Some(AckState::Waiting) => Err(error_codes::REQUEST_TIMED_OUT),
            None => Err(error_codes::NOT_LEADER_OR_FOLLOWER),
        }
    }
}

pub struct TxnService {
    core: Arc<Core>,
}

impl TxnService {
    /// Builds the service; shards load as this broker becomes the leader
    /// of `__transaction_state` partitions ([`Self::on_image`]). Must be
    /// called on the runtime loads should run on.
    pub fn load(
        config: TxnConfig,
        controller: Arc<Controller>,
        replicas: Arc<ReplicaManager>,
        partitions: i32,
        node_id: i32,
    ) -> anyhow::Result<TxnService> {
        let runtime = tokio::runtime::Handle::try_current()?;
        let service = TxnService {
            core: Arc::new(Core {
                shards: Mutex::new(Shards::new()),
                config,
                controller,
                replicas,
                partitions,
                replication: Mutex::new((1, 1)),
                node_id,
                outbox: MarkerOutbox::default(),
                runtime: runtime.clone(),
                led: tokio::sync::watch::channel(BTreeMap::new()).0,
            }),
        };
        let weak = Arc::downgrade(&service.core);
        let mut led = service.core.led.subscribe();
        runtime.spawn(async move {
            // Ends with the service (or when the sender is dropped with it).
            while led.changed().await.is_ok() {
                let Some(core) = weak.upgrade() else { return };
                let latest = led.borrow_and_update().clone();
                core.apply_leadership(&latest);
            }
        });
        Ok(service)
    }

    /// The replication of `__transaction_state` when this broker creates it.
    pub fn with_replication(self, replication_factor: i16, min_isr: i32) -> Self {
        *self
            .core
            .replication
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = (replication_factor, min_isr);
        self
    }

    /// Loads and unloads shards to match the `__transaction_state`
    /// partitions this broker leads in `image` (on the service's runtime,
    /// soon after: this runs on the metadata thread).
    pub fn on_image(&self, image: &MetadataImage) {
        let led = internal_topics::led_partitions(
            image,
            &self.core.replicas,
            TXN_TOPIC,
            self.core.node_id,
        );
        self.core.led.send_if_modified(|current| {
            let changed = *current != led;
            *current = led;
            changed
        });
    }

    /// The `__transaction_state` partition of a transactional id.
    pub fn partition_for(&self, transactional_id: &str) -> i32 {
        self.core.partition_for(transactional_id)
    }

    /// Creates `__transaction_state` on first use (FindCoordinator).
    pub fn ensure_topic(&self) -> Result<(), Code> {
        let core = &self.core;
        let (replication_factor, min_isr) =
            *core.replication.lock().unwrap_or_else(|p| p.into_inner());
        internal_topics::ensure_topic(
            &core.controller,
            TXN_TOPIC,
            core.partitions,
            replication_factor,
            Some(min_isr),
        )
        .map_err(|e| {
            tracing::error!(error = %e.message, "cannot create {TXN_TOPIC}");
            error_codes::COORDINATOR_NOT_AVAILABLE
        })
    }

    /// InitProducerId with a transactional id: the producer id and epoch.
    pub async fn init_producer_id(
        &self,
        transactional_id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
    ) -> Result<(i64, i16), Code> {
        let core = &self.core;
        // Kafka checks the request before it looks for the coordinator.
        if transactional_id.is_empty() {
            return Err(error_codes::INVALID_REQUEST);
        }
        if timeout_ms <= 0 || timeout_ms > core.config.max_timeout_ms {
            return Err(error_codes::INVALID_TRANSACTION_TIMEOUT);
        }
        let partition = core.partition_for(transactional_id);
        let (written, outcome) = {
            let mut shards = core.lock();
            let now = now_ms();
            let coordinator = shards.get_mut(partition)?;
            let step = coordinator.init_producer_id(
                transactional_id,
                timeout_ms,
                expected,
                now,
                &mut core.allocate(),
            )?;
            match step {
                InitStep::Ready(txn) => {
                    let answer = (txn.producer_id, txn.producer_epoch);
                    (core.write(&mut shards, partition, txn)?, Ok(answer))
                }
                InitStep::AbortFirst(fenced) => (
                    core.write(&mut shards, partition, fenced.clone())?,
                    Err(fenced),
                ),
            }
        };
        let (partition, leader_epoch) = (written.partition, written.leader_epoch);
        core.committed(written).await?;
        match outcome {
            Ok(answer) => Ok(answer),
            Err(fenced) => {
                // The open transaction is aborted first; the client retries
                // and gets a fresh epoch once it is complete (Kafka).
                core.send_markers(partition, leader_epoch, &fenced);
                Err(error_codes::CONCURRENT_TRANSACTIONS)
            }
        }
    }

    /// AddPartitionsToTxn (and AddOffsetsToTxn): one code for all partitions.
    pub async fn add_partitions(
        &self,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        partitions: &[(String, i32)],
    ) -> Result<(), Code> {
        let core = &self.core;
        if transactional_id.is_empty() {
            return Err(error_codes::INVALID_REQUEST);
        }
        let partition = core.partition_for(transactional_id);
        let written = {
            let mut shards = core.lock();
            let step = shards.get_mut(partition)?.add_partitions(
                transactional_id,
                producer_id,
                epoch,
                partitions,
                now_ms(),
            )?;
            match step {
                Some(txn) => core.write(&mut shards, partition, txn)?,
                None => return Ok(()),
            }
        };
        core.committed(written).await
    }

    /// AddPartitionsToTxn v4+ `verify_only`: a code per partition.
    pub fn verify(
        &self,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        partitions: &[(String, i32)],
    ) -> Result<Vec<Code>, Code> {
        let partition = self.core.partition_for(transactional_id);
        self.core.lock().get(partition)?.verify_partitions(
            transactional_id,
            producer_id,
            epoch,
            partitions,
        )
    }

    /// Whether this broker coordinates the transactional id (its shard is
    /// held, loaded or loading): KIP-890 verification then stays
    /// in-process.
    pub fn is_local(&self, transactional_id: &str) -> bool {
        let partition = self.core.partition_for(transactional_id);
        self.core.lock().leader_epoch(partition).is_some()
    }

    /// Runs `append` (a transactional produce to `partition`) only if that
    /// partition is in the producer's open transaction, holding the
    /// coordinator so the transaction cannot end in between. With
    /// `implicit_add` (Produce v12+, transaction version 2 clients, which
    /// send no AddPartitionsToTxn) the partition joins the transaction
    /// first.
    pub async fn with_verified<T>(
        &self,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        partition: (String, i32),
        implicit_add: bool,
        append: impl FnOnce() -> T,
    ) -> Result<T, Code> {
        let partitions = [partition];
        if implicit_add {
            // CONCURRENT_TRANSACTIONS (the previous transaction's markers are
            // still being written) is retried briefly first, as Kafka's
            // broker does (see txn_verification::verify).
            let start = std::time::Instant::now();
            loop {
                match self
                    .add_partitions(transactional_id, producer_id, epoch, &partitions)
                    .await
                {
                    Err(error_codes::CONCURRENT_TRANSACTIONS)
                        if start.elapsed() < crate::txn_verification::CONCURRENT_RETRY_MAX =>
                    {
                        tokio::time::sleep(crate::txn_verification::CONCURRENT_RETRY_BACKOFF).await;
                    }
                    other => break other?,
                }
            }
        }
        let txn_partition = self.core.partition_for(transactional_id);
        let shards = self.core.lock();
        let codes = shards.get(txn_partition)?.verify_partitions(
            transactional_id,
            producer_id,
            epoch,
            &partitions,
        )?;
        match codes.first() {
            Some(&error_codes::NONE) => Ok(append()),
            Some(&other) => Err(other),
            None => Err(error_codes::INVALID_TXN_STATE),
        }
    }

    /// EndTxn: the producer id and epoch the client continues with,
    /// answered once the prepare record is committed (Kafka): the markers
    /// follow asynchronously and the transactional id answers
    /// CONCURRENT_TRANSACTIONS until they are all written.
    pub async fn end_txn(&self, request: &EndRequest<'_>) -> Result<(i64, i16), Code> {
        let core = &self.core;
        if request.transactional_id.is_empty() {
            return Err(error_codes::INVALID_REQUEST);
        }
        let partition = core.partition_for(request.transactional_id);
        let (written, prepared, next) = {
            let mut shards = core.lock();
            let step =
                shards
                    .get_mut(partition)?
                    .end_txn(request, now_ms(), &mut core.allocate())?;
            match step {
                EndStep::AlreadyDone {
                    producer_id,
                    producer_epoch,
                } => return Ok((producer_id, producer_epoch)),
                EndStep::Prepare(prepared) => {
                    // What the client continues with is what completing the
                    // transaction will leave (a rotated producer id included).
                    let next = prepared.completed(now_ms());
                    let written = core.write(&mut shards, partition, prepared.clone())?;
                    (written, prepared, next)
                }
            }
        };
        let leader_epoch = written.leader_epoch;
        core.committed(written).await?;
        core.send_markers(partition, leader_epoch, &prepared);
        Ok((next.producer_id, next.producer_epoch))
    }

    /// The marker channel wrote every marker of `job`: the transaction is
    /// complete, unless it moved on meanwhile or this broker no longer
    /// coordinates it at the job's epoch.
    pub async fn markers_written(&self, job: &MarkerJob) {
        let core = &self.core;
        let written = {
            let mut shards = core.lock();
            // The delivery is over: under the lock, so the next transaction
            // of this id (which can only end once this one is complete in
            // memory) is never mistaken for this one, and a transaction
            // left prepared below is queued again by the periodic retry.
            core.outbox.done(job);
            if shards.leader_epoch(job.txn_partition) != Some(job.coordinator_epoch) {
                return;
            }
            let Ok(coordinator) = shards.get_mut(job.txn_partition) else {
                return;
            };
            let current = coordinator.get(&job.transactional_id).is_some_and(|t| {
                t.state.is_prepare()
                    && t.producer_id == job.producer_id
                    && t.producer_epoch == job.producer_epoch
            });
            if !current {
                return;
            }
            let Some(done) = coordinator.complete(&job.transactional_id, now_ms()) else {
                return;
            };
            match core.write(&mut shards, job.txn_partition, done) {
                Ok(written) => written,
                Err(code) => {
                    tracing::warn!(transactional_id = %job.transactional_id, code, "cannot complete transaction; will retry");
                    return;
                }
            }
        };
        // A failed commit reloads the shard, which sends the markers again.
        let _ = core.committed(written).await;
    }

    /// The marker channel's queue.
    pub fn outbox(&self) -> &MarkerOutbox {
        &self.core.outbox
    }

    /// Whether this broker still coordinates `txn_partition` at `epoch`.
    pub fn still_coordinator(&self, txn_partition: i32, epoch: i32) -> bool {
        self.core.lock().leader_epoch(txn_partition) == Some(epoch)
    }

    /// Appends one marker to a partition this broker leads (the marker
    /// channel's local path and the WriteTxnMarkers handler); its answer
    /// ([`MarkerCommit::committed`]) waits until it is committed, as Kafka
    /// appends markers with acks=all: a
    /// marker only this leader holds is lost if a new leader truncates it,
    /// and the coordinator, told it was written, would complete the
    /// transaction without it (its offsets never applied, its records never
    /// committed on that partition). Markers on `__consumer_offsets` settle
    /// the transactional offsets in the group coordinator at once; reads at
    /// the committed state show them once the marker is committed. A
    /// partition not (yet) hosted here is NOT_LEADER_OR_FOLLOWER: the
    /// channel retries it at whichever broker leads it then, and skips it
    /// once the topic is gone. A marker not committed in time is
    /// REQUEST_TIMED_OUT (retried: a second marker of a finished
    /// transaction is an idempotent retry for the partition leader).
    pub fn append_local_marker(
        &self,
        groups: &GroupService,
        topic: &str,
        partition: i32,
        marker: Marker,
    ) -> Result<MarkerCommit, Code> {
        let Some(target) = self.core.replicas.partition(topic, partition) else {
            return Err(error_codes::NOT_LEADER_OR_FOLLOWER);
        };
        let progress = target.progress();
        if !progress.borrow().leading {
            return Err(error_codes::NOT_LEADER_OR_FOLLOWER);
        }
        let marker = TxnMarker {
            producer_id: marker.producer_id,
            producer_epoch: marker.producer_epoch,
            coordinator_epoch: marker.coordinator_epoch,
            commit: marker.commit,
            transaction_version: marker.transaction_version,
        };
        let written = target
            .append_txn_marker(marker, now_ms())
            .map_err(|e| e.error_code())?;
        if topic == OFFSETS_TOPIC {
            groups.complete_txn(partition, marker.producer_id, marker.commit, written.offset);
        }
        Ok(MarkerCommit {
            required_offset: written.offset + 1,
            progress,
        })
    }

    /// Background duties: (re)send the markers of prepared transactions
    /// not being delivered, abort timed-out ones, and, when
    /// `expiration_ms` is given, remove idle transactional ids.
    pub async fn maintain(&self, expiration_ms: Option<i64>) {
        let core = &self.core;
        let now = now_ms();
        let mut aborts = Vec::new();
        let mut tombstones = Vec::new();
        {
            let mut shards = core.lock();
            let held: Vec<(i32, i32)> = shards.active().map(|(p, e, _)| (p, e)).collect();
            for (partition, leader_epoch) in held {
                let Ok(coordinator) = shards.get_mut(partition) else {
                    continue;
                };
                for prepared in coordinator.prepared() {
                    core.send_markers(partition, leader_epoch, &prepared);
                }
                let fenced: Vec<TxnMetadata> = coordinator
                    .timed_out(now)
                    .iter()
                    .filter_map(|id| coordinator.abort_timed_out(id, now))
                    .collect();
                let expired = match expiration_ms {
                    Some(expiration_ms) => coordinator.expired(now, expiration_ms),
                    None => Vec::new(),
                };
                for txn in fenced {
                    tracing::info!(transactional_id = %txn.transactional_id, "aborting transaction past its timeout");
                    match core.write(&mut shards, partition, txn.clone()) {
                        Ok(written) => aborts.push((written, txn)),
                        Err(code) => {
                            tracing::warn!(transactional_id = %txn.transactional_id, code, "cannot abort timed-out transaction")
                        }
                    }
                }
                for id in expired {
                    if let Ok(written) = core.write_tombstone(&mut shards, partition, &id) {
                        tracing::info!(transactional_id = %id, "expired idle transactional id");
                        tombstones.push(written);
                    }
                }
            }
        }
        for (written, txn) in aborts {
            let (partition, leader_epoch) = (written.partition, written.leader_epoch);
            if core.committed(written).await.is_ok() {
                core.send_markers(partition, leader_epoch, &txn);
            }
        }
        for written in tombstones {
            let _ = core.committed(written).await;
        }
    }

    /// Read access to the shard of a transactional id (DescribeTransactions).
    pub fn read_shard<T>(
        &self,
        transactional_id: &str,
        f: impl FnOnce(&TxnCoordinator) -> T,
    ) -> Result<T, Code> {
        let partition = self.core.partition_for(transactional_id);
        Ok(f(self.core.lock().get(partition)?))
    }

    /// Read access to every loaded shard (ListTransactions), or
    /// COORDINATOR_LOAD_IN_PROGRESS while one loads (Kafka).
    pub fn read_all<T>(
        &self,
        mut f: impl FnMut(&TxnCoordinator) -> Vec<T>,
    ) -> Result<Vec<T>, Code> {
        let shards = self.core.lock();
        if shards.any_loading() {
            return Err(error_codes::COORDINATOR_LOAD_IN_PROGRESS);
        }
        Ok(shards.active().flat_map(|(_, _, c)| f(c)).collect())
    }
}

/// A transaction marker to write to one partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Marker {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub coordinator_epoch: i32,
    pub commit: bool,
    /// KIP-1228: the transaction's version (2: the epoch was bumped for the
    /// markers), which decides the leader's epoch check.
    pub transaction_version: i8,
}

#[cfg(test)]
mod marker_commit_tests {
    use super::*;

    fn progress(high_watermark: i64, leading: bool) -> Progress {
        Progress {
            high_watermark,
            leading,
            under_min_isr: false,
        }
    }

    /// A marker at offset 9 of a leader whose high watermark is 9.
    fn appended() -> (watch::Sender<Progress>, MarkerCommit) {
        let (tx, rx) = watch::channel(progress(9, true));
        let pending = MarkerCommit {
            required_offset: 10,
            progress: rx,
        };
        (tx, pending)
    }

    #[tokio::test]
    async fn a_marker_is_answered_once_the_high_watermark_passes_it() {
        let (tx, pending) = appended();
        let answer = tokio::spawn(pending.committed());
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!answer.is_finished(), "answered before it was committed");
        let _ = tx.send(progress(10, true));
        assert_eq!(answer.await.ok(), Some(Ok(())));
    }

    #[tokio::test]
    async fn a_marker_whose_leader_lost_the_partition_is_retried_elsewhere() {
        let (tx, pending) = appended();
        let answer = tokio::spawn(pending.committed());
        let _ = tx.send(progress(9, false));
        assert_eq!(
            answer.await.ok(),
            Some(Err(error_codes::NOT_LEADER_OR_FOLLOWER))
        );
    }

    #[tokio::test]
    async fn a_marker_never_replicated_times_out() {
        let (_tx, pending) = appended();
        assert_eq!(
            pending.committed().await,
            Err(error_codes::REQUEST_TIMED_OUT)
        );
    }
}
