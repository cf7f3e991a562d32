//! The edge around the pure group coordinator (`group`): maps parked
//! requests to the connections waiting for them, persists the records each
//! step produces to `__consumer_offsets` before answering, drives the
//! coordinator's timers, and replays its state at start-up.

use crate::clock::now_ms;
use crate::controller::Controller;
use crate::internal_topics::{self, Replayed, OFFSETS_TOPIC};
use crate::replica_manager::ReplicaManager;
use bytes::Bytes;
use gregor_coordinator::group::{GroupConfig, GroupCoordinator, Outcome, Record, Response};
use gregor_protocol::error_codes::COORDINATOR_NOT_AVAILABLE;
use kafka_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

struct Inner {
    coordinator: GroupCoordinator,
    waiting: HashMap<u64, oneshot::Sender<Response>>,
    next_request_id: u64,
}

pub struct GroupService {
    inner: Mutex<Inner>,
    controller: Arc<Controller>,
    replicas: Arc<ReplicaManager>,
    partitions: i32,
}

impl GroupService {
    /// Builds the coordinator and replays `__consumer_offsets` if it exists.
    pub fn load(
        config: GroupConfig,
        controller: Arc<Controller>,
        replicas: Arc<ReplicaManager>,
        partitions: i32,
    ) -> anyhow::Result<GroupService> {
        let mut coordinator = GroupCoordinator::new(config);
        let now = now_ms();
        let existing = controller
            .image()
            .topic(OFFSETS_TOPIC)
            .map(|t| t.partitions.len() as i32)
            .unwrap_or(0);
        let mut replayed = 0usize;
        for partition in 0..existing {
            let in_partition =
                |group: &str| internal_topics::partition_for(group, existing) == partition;
            for item in internal_topics::replay(&replicas, OFFSETS_TOPIC, partition)? {
                let (key, value, producer) = match item {
                    Replayed::Record {
                        key,
                        value,
                        producer,
                    } => (key, value, producer),
                    Replayed::Marker {
                        producer_id,
                        commit,
                    } => {
                        coordinator.complete_txn_offsets(producer_id, commit, in_partition, now);
                        continue;
                    }
                };
                match Record::decode(&key, value.as_deref()) {
                    Ok(record) => {
                        match producer {
                            Some(pid) => coordinator.replay_pending_offset(pid, record, now),
                            None => coordinator.replay(record, now),
                        }
                        replayed += 1;
                    }
                    // Records of kinds we do not model (share or streams groups') are skipped.
                    Err(err) => {
                        tracing::debug!(partition, %err, "skipping __consumer_offsets record")
                    }
                }
            }
        }
        if replayed > 0 {
            tracing::info!(records = replayed, "loaded consumer group state");
        }
        let partitions = if existing > 0 { existing } else { partitions };
        Ok(GroupService {
            inner: Mutex::new(Inner {
                coordinator,
                waiting: HashMap::new(),
                next_request_id: 1,
            }),
            controller,
            replicas,
            partitions,
        })
    }

    /// Runs a step that may park the caller; waits for its answer.
    pub async fn parked(
        &self,
        step: impl FnOnce(&mut GroupCoordinator, u64, i64) -> Outcome,
    ) -> Option<Response> {
        let (tx, rx) = oneshot::channel();
        {
            let mut inner = self.lock();
            let id = inner.next_request_id;
            inner.next_request_id += 1;
            inner.waiting.insert(id, tx);
            let outcome = step(&mut inner.coordinator, id, now_ms());
            self.finish(&mut inner, outcome);
        }
        rx.await.ok()
    }

    /// Runs a step answered at once; `Err` when its records could not be persisted.
    pub fn immediate<T>(
        &self,
        step: impl FnOnce(&mut GroupCoordinator, i64) -> (T, Vec<Record>),
    ) -> Result<T, i16> {
        let mut inner = self.lock();
        let (answer, records) = step(&mut inner.coordinator, now_ms());
        match self.persist(&records) {
            Ok(()) => Ok(answer),
            Err(err) => {
                tracing::error!(%err, "cannot persist group records");
                Err(COORDINATOR_NOT_AVAILABLE)
            }
        }
    }

    /// TxnOffsetCommit: the offsets are written as a transactional batch of
    /// the producer and stay pending until its transaction ends.
    pub fn txn_commit(&self, req: &TxnOffsetCommitRequest) -> TxnOffsetCommitResponse {
        // The metadata names the topic ids consumer-group members hold.
        let image = self.controller.image();
        let mut inner = self.lock();
        let (response, records) =
            inner
                .coordinator
                .txn_commit_offsets(req, image.as_ref(), now_ms());
        let producer = (req.producer_id.0, req.producer_epoch);
        if let Err(err) = self.persist_transactional(&records, producer) {
            tracing::error!(%err, "cannot persist transactional offsets");
            inner.coordinator.abort_pending_append(producer.0, &records);
            return fail_txn_commit(response, COORDINATOR_NOT_AVAILABLE);
        }
        response
    }

    /// A transaction marker of `producer_id` was written to
    /// `__consumer_offsets-<partition>`: settle the offsets it covers.
    pub fn complete_txn(&self, partition: i32, producer_id: i64, commit: bool) {
        let partitions = self.partitions;
        self.lock().coordinator.complete_txn_offsets(
            producer_id,
            commit,
            |group| internal_topics::partition_for(group, partitions) == partition,
            now_ms(),
        );
    }

    /// The `__consumer_offsets` partition that holds a group (created on
    /// first use), for AddOffsetsToTxn.
    pub fn offsets_partition(&self, group_id: &str) -> anyhow::Result<i32> {
        internal_topics::ensure_topic(&self.controller, OFFSETS_TOPIC, self.partitions)
            .map_err(|e| anyhow::anyhow!("{}", e.message))?;
        Ok(internal_topics::partition_for(group_id, self.partitions))
    }

    /// Read-only access (describe, list, fetch offsets).
    pub fn read<T>(&self, f: impl FnOnce(&GroupCoordinator) -> T) -> T {
        f(&self.lock().coordinator)
    }

    /// Removes expired committed offsets (and groups left with none).
    pub fn expire_offsets(&self) {
        let mut inner = self.lock();
        let retention_ms = inner.coordinator.config().offsets_retention_ms;
        let records = inner.coordinator.expire_offsets(now_ms(), retention_ms);
        if !records.is_empty() {
            tracing::info!(records = records.len(), "expired committed offsets");
        }
        if let Err(err) = self.persist(&records) {
            tracing::error!(%err, "cannot persist expired offsets");
        }
    }

    /// Fires due timers (session expiry, rebalance and join delays).
    pub fn tick(&self) {
        let mut inner = self.lock();
        let outcome = inner.coordinator.tick(now_ms());
        self.finish(&mut inner, outcome);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Persists, then answers. If persisting fails the coordinator's memory
    /// is ahead of the log; the answers still go out (clients act on them)
    /// and the error is logged, as a restart replays only what was written.
    fn finish(&self, inner: &mut Inner, outcome: Outcome) {
        if let Err(err) = self.persist(&outcome.records) {
            tracing::error!(%err, "cannot persist group records");
        }
        for (id, response) in outcome.responses {
            if let Some(tx) = inner.waiting.remove(&id) {
                let _ = tx.send(response);
            }
        }
    }

    fn persist(&self, records: &[Record]) -> anyhow::Result<()> {
        self.persist_as(records, None)
    }

    fn persist_transactional(
        &self,
        records: &[Record],
        producer: (i64, i16),
    ) -> anyhow::Result<()> {
        self.persist_as(records, Some(producer))
    }

    fn persist_as(&self, records: &[Record], producer: Option<(i64, i16)>) -> anyhow::Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        internal_topics::ensure_topic(&self.controller, OFFSETS_TOPIC, self.partitions)
            .map_err(|e| anyhow::anyhow!("{}", e.message))?;
        let mut by_partition: BTreeMap<i32, Vec<(Bytes, Option<Bytes>)>> = BTreeMap::new();
        for record in records {
            let partition = internal_topics::partition_for(record.group_id(), self.partitions);
            by_partition
                .entry(partition)
                .or_default()
                .push(record.encode()?);
        }
        for (partition, batch) in by_partition {
            match producer {
                None => internal_topics::append(&self.replicas, OFFSETS_TOPIC, partition, &batch)?,
                Some((id, epoch)) => internal_topics::append_transactional(
                    &self.replicas,
                    OFFSETS_TOPIC,
                    partition,
                    &batch,
                    id,
                    epoch,
                )?,
            };
        }
        Ok(())
    }
}

/// Every partition of a TxnOffsetCommit answer set to `code`.
fn fail_txn_commit(mut response: TxnOffsetCommitResponse, code: i16) -> TxnOffsetCommitResponse {
    for topic in &mut response.topics {
        for partition in &mut topic.partitions {
            partition.error_code = code;
        }
    }
    response
}
