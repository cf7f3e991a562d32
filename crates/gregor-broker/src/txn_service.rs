//! The edge around the pure transaction coordinator (`txn`): persists each
//! transition to `__transaction_state` before it takes effect, writes the
//! transaction markers to the partitions of a prepared transaction (telling
//! the group coordinator when a marker settles transactional offsets),
//! replays the state at start-up and finishes what a crash interrupted,
//! and aborts transactions that outlive their timeout.
//!
//! Every operation runs under one lock and writes to local logs directly:
//! on a single node the coordinator, the partition leaders and the group
//! coordinator are the same process, so Kafka's marker channel and
//! AddPartitionsToTxn verification round trips become function calls. A
//! transactional produce is verified and appended under the same lock, so
//! no record can slip in after its transaction's marker (a "hanging
//! transaction", KIP-890).

use crate::clock::now_ms;
use crate::controller::Controller;
use crate::group_service::GroupService;
use crate::internal_topics::{self, Replayed, OFFSETS_TOPIC, TXN_TOPIC};
use crate::replica_manager::ReplicaManager;
use gregor_coordinator::txn::{
    Code, EndRequest, EndStep, InitStep, Record, TxnConfig, TxnCoordinator, TxnMetadata,
};
use gregor_log::TxnMarker;
use gregor_protocol::error_codes;
use std::sync::{Arc, Mutex, MutexGuard};

/// Gregor is the only coordinator of its transaction state partitions and
/// never changes; markers carry this coordinator epoch.
const COORDINATOR_EPOCH: i32 = 0;

pub struct TxnService {
    inner: Mutex<TxnCoordinator>,
    controller: Arc<Controller>,
    replicas: Arc<ReplicaManager>,
    /// `transaction.state.log.num.partitions` (or the existing topic's count).
    partitions: i32,
    /// `transaction.state.log.replication.factor` and `.min.isr`.
    replication: (i16, i32),
    node_id: i32,
}

impl TxnService {
    /// Builds the coordinator and replays `__transaction_state` if it exists.
    pub fn load(
        config: TxnConfig,
        controller: Arc<Controller>,
        replicas: Arc<ReplicaManager>,
        partitions: i32,
        node_id: i32,
    ) -> anyhow::Result<TxnService> {
        let mut coordinator = TxnCoordinator::new(config);
        let existing = controller
            .image()
            .topic(TXN_TOPIC)
            .map(|t| t.partitions.len() as i32)
            .unwrap_or(0);
        let mut replayed = 0usize;
        for partition in 0..existing {
            for item in internal_topics::replay(&replicas, TXN_TOPIC, partition)? {
                let Replayed::Record { key, value, .. } = item else {
                    continue;
                };
                match Record::decode(&key, value.as_deref()) {
                    Ok(record) => {
                        coordinator.replay(record);
                        replayed += 1;
                    }
                    Err(err) => {
                        tracing::warn!(partition, %err, "skipping __transaction_state record")
                    }
                }
            }
        }
        if replayed > 0 {
            tracing::info!(records = replayed, "loaded transaction state");
        }
        Ok(TxnService {
            inner: Mutex::new(coordinator),
            controller,
            replicas,
            partitions: if existing > 0 { existing } else { partitions },
            replication: (1, 1),
            node_id,
        })
    }

    /// The replication of `__transaction_state` when this broker creates it.
    pub fn with_replication(mut self, replication_factor: i16, min_isr: i32) -> Self {
        self.replication = (replication_factor, min_isr);
        self
    }

    fn lock(&self) -> MutexGuard<'_, TxnCoordinator> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The `__transaction_state` partition of a transactional id.
    pub fn partition_for(&self, transactional_id: &str) -> i32 {
        internal_topics::partition_for(transactional_id, self.partitions)
    }

    /// Creates `__transaction_state` on first use (FindCoordinator).
    pub fn ensure_topic(&self) -> Result<(), Code> {
        let (replication_factor, min_isr) = self.replication;
        internal_topics::ensure_topic(
            &self.controller,
            TXN_TOPIC,
            self.partitions,
            replication_factor,
            Some(min_isr),
        )
        .map_err(|e| {
            tracing::error!(error = %e.message, "cannot create {TXN_TOPIC}");
            error_codes::COORDINATOR_NOT_AVAILABLE
        })
    }

    fn allocate(&self) -> impl FnMut() -> Result<i64, Code> + '_ {
        move || {
            self.controller
                .next_producer_id(self.node_id)
                .map_err(|e| e.code)
        }
    }

    /// InitProducerId with a transactional id: the producer id and epoch.
    pub fn init_producer_id(
        &self,
        groups: &GroupService,
        transactional_id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
    ) -> Result<(i64, i16), Code> {
        let mut coordinator = self.lock();
        let now = now_ms();
        let step = coordinator.init_producer_id(
            transactional_id,
            timeout_ms,
            expected,
            now,
            &mut self.allocate(),
        )?;
        match step {
            InitStep::Ready(txn) => {
                let answer = (txn.producer_id, txn.producer_epoch);
                self.persist_and_apply(&mut coordinator, txn)?;
                Ok(answer)
            }
            InitStep::AbortFirst(fenced) => {
                self.end(&mut coordinator, groups, fenced)?;
                Err(error_codes::CONCURRENT_TRANSACTIONS)
            }
        }
    }

    /// AddPartitionsToTxn (and AddOffsetsToTxn): one code for all partitions.
    pub fn add_partitions(
        &self,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        partitions: &[(String, i32)],
    ) -> Result<(), Code> {
        let mut coordinator = self.lock();
        let step = coordinator.add_partitions(
            transactional_id,
            producer_id,
            epoch,
            partitions,
            now_ms(),
        )?;
        match step {
            Some(txn) => self.persist_and_apply(&mut coordinator, txn),
            None => Ok(()),
        }
    }

    /// AddPartitionsToTxn v4+ `verify_only`: a code per partition.
    pub fn verify(
        &self,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        partitions: &[(String, i32)],
    ) -> Result<Vec<Code>, Code> {
        self.lock()
            .verify_partitions(transactional_id, producer_id, epoch, partitions)
    }

    /// Runs `append` (a transactional produce to `partition`) only if that
    /// partition is in the producer's open transaction, holding the
    /// coordinator so the transaction cannot end in between. With
    /// `implicit_add` (Produce v12+, transaction version 2 clients, which
    /// send no AddPartitionsToTxn) the partition joins the transaction
    /// first.
    pub fn with_verified<T>(
        &self,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        partition: (String, i32),
        implicit_add: bool,
        append: impl FnOnce() -> T,
    ) -> Result<T, Code> {
        let mut coordinator = self.lock();
        let partitions = [partition];
        if implicit_add {
            let step = coordinator.add_partitions(
                transactional_id,
                producer_id,
                epoch,
                &partitions,
                now_ms(),
            )?;
            if let Some(txn) = step {
                self.persist_and_apply(&mut coordinator, txn)?;
            }
        }
        let codes =
            coordinator.verify_partitions(transactional_id, producer_id, epoch, &partitions)?;
        match codes.first() {
            Some(&error_codes::NONE) => Ok(append()),
            Some(&other) => Err(other),
            None => Err(error_codes::INVALID_TXN_STATE),
        }
    }

    /// EndTxn: the producer id and epoch the client continues with.
    pub fn end_txn(&self, groups: &GroupService, request: &EndRequest) -> Result<(i64, i16), Code> {
        let mut coordinator = self.lock();
        let step = coordinator.end_txn(request, now_ms(), &mut self.allocate())?;
        match step {
            EndStep::AlreadyDone {
                producer_id,
                producer_epoch,
            } => Ok((producer_id, producer_epoch)),
            EndStep::Prepare(prepared) => {
                let id = prepared.transactional_id.clone();
                self.end(&mut coordinator, groups, prepared)?;
                let txn = coordinator.get(&id).ok_or(error_codes::INVALID_TXN_STATE)?;
                Ok((txn.producer_id, txn.producer_epoch))
            }
        }
    }

    /// Persists a prepared transaction, writes its markers and completes
    /// it. Once the prepare record is durable the outcome is decided: if a
    /// marker cannot be written the transaction stays prepared and
    /// [`Self::maintain`] retries.
    fn end(
        &self,
        coordinator: &mut TxnCoordinator,
        groups: &GroupService,
        prepared: TxnMetadata,
    ) -> Result<(), Code> {
        self.persist_and_apply(coordinator, prepared.clone())?;
        self.complete(coordinator, groups, &prepared);
        Ok(())
    }

    fn complete(
        &self,
        coordinator: &mut TxnCoordinator,
        groups: &GroupService,
        prepared: &TxnMetadata,
    ) {
        let commit = prepared.state == gregor_coordinator::txn::TxnState::PrepareCommit;
        let mut all_written = true;
        for (topic, partition) in &prepared.partitions {
            let marker = Marker {
                producer_id: prepared.producer_id,
                producer_epoch: prepared.producer_epoch,
                coordinator_epoch: COORDINATOR_EPOCH,
                commit,
            };
            if let Err(code) = self.write_marker(groups, topic, *partition, marker) {
                tracing::warn!(
                    transactional_id = %prepared.transactional_id,
                    topic, partition, code,
                    "cannot write transaction marker; will retry"
                );
                all_written = false;
            }
        }
        if !all_written {
            return;
        }
        if let Some(done) = coordinator.complete(&prepared.transactional_id, now_ms()) {
            if let Err(code) = self.persist_and_apply(coordinator, done) {
                tracing::warn!(transactional_id = %prepared.transactional_id, code, "cannot complete transaction; will retry");
            }
        }
    }

    /// Writes one marker (also the WriteTxnMarkers API). A partition that
    /// no longer exists (topic deleted) needs none.
    pub fn write_marker(
        &self,
        groups: &GroupService,
        topic: &str,
        partition: i32,
        marker: Marker,
    ) -> Result<(), Code> {
        let Some(target) = self.replicas.partition(topic, partition) else {
            return Ok(());
        };
        let marker = TxnMarker {
            producer_id: marker.producer_id,
            producer_epoch: marker.producer_epoch,
            coordinator_epoch: marker.coordinator_epoch,
            commit: marker.commit,
        };
        target
            .append_txn_marker(marker, now_ms())
            .map_err(|e| e.error_code())?;
        if topic == OFFSETS_TOPIC {
            groups.complete_txn(partition, marker.producer_id, marker.commit);
        }
        Ok(())
    }

    fn persist_and_apply(
        &self,
        coordinator: &mut TxnCoordinator,
        txn: TxnMetadata,
    ) -> Result<(), Code> {
        let record = Record {
            transactional_id: txn.transactional_id.clone(),
            value: Some(txn.clone()),
        };
        self.persist(&record)?;
        coordinator.apply(txn);
        Ok(())
    }

    fn persist(&self, record: &Record) -> Result<(), Code> {
        self.ensure_topic()?;
        let encoded = record.encode().map_err(|err| {
            tracing::error!(%err, "cannot encode transaction record");
            error_codes::COORDINATOR_NOT_AVAILABLE
        })?;
        let partition = self.partition_for(&record.transactional_id);
        internal_topics::append(&self.replicas, TXN_TOPIC, partition, &[encoded]).map_err(
            |err| {
                tracing::error!(%err, "cannot persist transaction record");
                error_codes::COORDINATOR_NOT_AVAILABLE
            },
        )?;
        Ok(())
    }

    /// Background duties: finish prepared transactions (after a restart or
    /// a failed marker write), abort timed-out ones, and, when
    /// `expiration_ms` is given, remove idle transactional ids.
    pub fn maintain(&self, groups: &GroupService, expiration_ms: Option<i64>) {
        let mut coordinator = self.lock();
        for prepared in coordinator.prepared() {
            self.complete(&mut coordinator, groups, &prepared);
        }
        let now = now_ms();
        for id in coordinator.timed_out(now) {
            if let Some(fenced) = coordinator.abort_timed_out(&id, now) {
                tracing::info!(transactional_id = %id, "aborting transaction past its timeout");
                if let Err(code) = self.end(&mut coordinator, groups, fenced) {
                    tracing::warn!(transactional_id = %id, code, "cannot abort timed-out transaction");
                }
            }
        }
        if let Some(expiration_ms) = expiration_ms {
            for id in coordinator.expired(now, expiration_ms) {
                let tombstone = Record {
                    transactional_id: id.clone(),
                    value: None,
                };
                if self.persist(&tombstone).is_ok() {
                    coordinator.replay(tombstone);
                    tracing::info!(transactional_id = %id, "expired idle transactional id");
                }
            }
        }
    }

    /// Read-only access (describe, list).
    pub fn read<T>(&self, f: impl FnOnce(&TxnCoordinator) -> T) -> T {
        f(&self.lock())
    }
}

/// A transaction marker to write to one partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Marker {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub coordinator_epoch: i32,
    pub commit: bool,
}
