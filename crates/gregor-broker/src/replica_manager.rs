//! The partitions this broker hosts, each a log plus the waiters to wake
//! when it grows. On a single node every partition is led here and the high
//! watermark is the log end offset.

use crate::config::BrokerConfig;
use crate::log_config::{effective, log_config_for, BrokerLayers};
use gregor_log::{
    AbortedTxn, AppendInfo, LogError, MarkerInfo, PartitionLog, ReadInfo, SliceInfo, TxnMarker,
};
use gregor_metadata::MetadataImage;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use tokio::sync::Notify;
use uuid::Uuid;

/// What a consumer's fetch of one partition returns: the batches as a
/// range of their segment file, sent from there without copying.
pub struct ConsumerRead {
    pub read: SliceInfo,
    pub last_stable_offset: i64,
    /// Set for read_committed fetches.
    pub aborted: Option<Vec<AbortedTxn>>,
}

/// Kafka's LSO: the first offset of the oldest open transaction, or the
/// high watermark when none is open below it.
fn last_stable_offset(log: &PartitionLog, high_watermark: i64) -> i64 {
    log.first_unstable_offset()
        .map_or(high_watermark, |first| first.min(high_watermark))
}

/// DeleteRecords' "up to the high watermark" offset.
pub const DELETE_TO_HIGH_WATERMARK: i64 = -1;

pub struct Partition {
    pub topic: String,
    pub topic_id: Uuid,
    pub index: i32,
    /// The partition's leader epoch in the current metadata image: stamped
    /// on appended batches and reported by ListOffsets.
    leader_epoch: AtomicI32,
    /// The in-sync replica set's size (the whole replica set on one node).
    pub isr_size: usize,
    /// How many replicas the partition has (its replication factor).
    pub replica_count: usize,
    /// The topic's `min.insync.replicas`, checked by acks=all produces.
    min_insync_replicas: AtomicUsize,
    log: Mutex<Option<PartitionLog>>,
    /// Fetches parked until this partition grows (the fetch purgatory).
    waiters: Mutex<Vec<Weak<Notify>>>,
}

/// A partition whose log has been closed (topic deleted, shutdown).
fn closed() -> LogError {
    LogError::Io(std::io::Error::other("partition is closed"))
}

impl Partition {
    fn with_log<T>(
        &self,
        f: impl FnOnce(&mut PartitionLog) -> Result<T, LogError>,
    ) -> Result<T, LogError> {
        let mut guard = self.log.lock().unwrap_or_else(|p| p.into_inner());
        match guard.as_mut() {
            Some(log) => f(log),
            None => Err(closed()),
        }
    }

    pub fn min_insync_replicas(&self) -> usize {
        self.min_insync_replicas.load(Ordering::Relaxed)
    }

    /// The ISR size acks=all needs: `min.insync.replicas`, bounded by the
    /// replica count. Kafka's `Partition.effectiveMinIsr` does the same, so
    /// a setting above the replication factor does not refuse every write.
    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch.load(Ordering::Relaxed)
    }

    pub fn effective_min_insync_replicas(&self) -> usize {
        self.min_insync_replicas().min(self.replica_count.max(1))
    }

    pub fn append(&self, records: &[u8], now_ms: i64) -> Result<AppendInfo, LogError> {
        let info = self.with_log(|log| log.append(records, self.leader_epoch(), now_ms))?;
        self.wake_waiters();
        Ok(info)
    }

    /// Batches the broker writes itself (coordinator records): several
    /// batches and control batches allowed, no producer-state checks.
    pub fn append_as_coordinator(
        &self,
        records: &[u8],
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        let info =
            self.with_log(|log| log.append_as_coordinator(records, self.leader_epoch(), now_ms))?;
        self.wake_waiters();
        Ok(info)
    }

    /// Writes a transaction marker (a control batch) for a producer: its
    /// open transaction here ends, committed or aborted.
    pub fn append_txn_marker(
        &self,
        marker: TxnMarker,
        now_ms: i64,
    ) -> Result<MarkerInfo, LogError> {
        let info =
            self.with_log(|log| log.append_txn_marker(marker, self.leader_epoch(), now_ms))?;
        self.wake_waiters();
        Ok(info)
    }

    pub fn read(&self, offset: i64, max_bytes: usize, min_one: bool) -> Result<ReadInfo, LogError> {
        self.with_log(|log| {
            let high_watermark = log.log_end_offset();
            log.read(offset, max_bytes, high_watermark, min_one)
        })
    }

    /// A consumer's read: up to the high watermark, or for read_committed
    /// up to the last stable offset with the aborted transactions that
    /// overlap the data (the consumer drops their records).
    pub fn read_for_consumer(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
        read_committed: bool,
    ) -> Result<ConsumerRead, LogError> {
        self.with_log(|log| {
            let high_watermark = log.log_end_offset();
            let last_stable = last_stable_offset(log, high_watermark);
            if !read_committed {
                let read = log.read_slice(offset, max_bytes, high_watermark, min_one)?;
                return Ok(ConsumerRead {
                    read,
                    last_stable_offset: last_stable,
                    aborted: None,
                });
            }
            let read = log.read_slice(offset, max_bytes, last_stable, min_one)?;
            let upper_bound = read.records.next_offset().unwrap_or(last_stable);
            let aborted = log.aborted_transactions(offset, upper_bound);
            Ok(ConsumerRead {
                read,
                last_stable_offset: last_stable,
                aborted: Some(aborted),
            })
        })
    }

    /// The last stable offset: no open transaction below it.
    pub fn last_stable_offset(&self) -> Result<i64, LogError> {
        self.with_log(|log| Ok(last_stable_offset(log, log.log_end_offset())))
    }

    /// (log start offset, high watermark).
    pub fn offsets(&self) -> Result<(i64, i64), LogError> {
        self.with_log(|log| Ok((log.log_start_offset(), log.log_end_offset())))
    }

    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<(i64, i64)>, LogError> {
        self.with_log(|log| log.offset_for_timestamp(timestamp))
    }

    /// Active idempotent producers (DescribeProducers).
    pub fn producer_states(&self) -> Result<Vec<gregor_log::ProducerStateInfo>, LogError> {
        self.with_log(|log| Ok(log.producer_states()))
    }

    pub fn max_timestamp(&self) -> Result<Option<(i64, i64)>, LogError> {
        self.with_log(|log| log.max_timestamp())
    }

    /// DeleteRecords: moves the log start offset up to `offset` (-1 means
    /// the high watermark) and deletes the segments wholly below it.
    /// Returns the new log start offset (the "low watermark"). Offsets past
    /// the high watermark, or negative ones, are out of range as in Kafka.
    pub fn delete_records(&self, offset: i64) -> Result<i64, LogError> {
        self.with_log(|log| {
            let high_watermark = log.log_end_offset();
            let target = if offset == DELETE_TO_HIGH_WATERMARK {
                high_watermark
            } else {
                offset
            };
            if target < 0 || target > high_watermark {
                return Err(LogError::OffsetOutOfRange {
                    requested: offset,
                    log_start: log.log_start_offset(),
                    log_end: high_watermark,
                });
            }
            log.advance_log_start_offset(target)?;
            Ok(log.log_start_offset())
        })
    }

    /// Bytes on disk of this partition's segments (DescribeLogDirs).
    pub fn size_bytes(&self) -> Result<u64, LogError> {
        self.with_log(|log| Ok(log.size_bytes()))
    }

    /// Registers a parked fetch; it is notified on the next append.
    pub fn add_waiter(&self, waiter: &Arc<Notify>) {
        let mut waiters = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
        // Fetches that timed out leave dead entries behind on idle partitions.
        waiters.retain(|w| w.strong_count() > 0);
        waiters.push(Arc::downgrade(waiter));
    }

    fn wake_waiters(&self) {
        let waiters = std::mem::take(&mut *self.waiters.lock().unwrap_or_else(|p| p.into_inner()));
        for waiter in waiters.iter().filter_map(Weak::upgrade) {
            waiter.notify_one();
        }
    }

    fn maintain(&self, now_ms: i64, retention_due: bool, producer_id_expiration_ms: i64) {
        let result = self.with_log(|log| {
            log.roll_if_due(now_ms)?;
            log.flush_if_due(now_ms)?;
            log.expire_producers(now_ms, producer_id_expiration_ms);
            if retention_due {
                let deleted = log.enforce_retention(now_ms)?;
                if deleted > 0 {
                    tracing::info!(topic = %self.topic, partition = self.index, deleted, "retention deleted segments");
                }
            }
            Ok(())
        });
        if let Err(err) = result {
            tracing::warn!(topic = %self.topic, partition = self.index, %err, "log maintenance failed");
        }
    }

    fn take_log(&self) -> Option<PartitionLog> {
        let log = self.log.lock().unwrap_or_else(|p| p.into_inner()).take();
        self.wake_waiters();
        log
    }
}

pub struct ReplicaManager {
    config: BrokerConfig,
    log_dir: PathBuf,
    /// True when the previous run did not shut down cleanly.
    recover: bool,
    partitions: RwLock<HashMap<(String, i32), Arc<Partition>>>,
}

impl ReplicaManager {
    pub fn new(config: BrokerConfig, recover: bool) -> ReplicaManager {
        ReplicaManager {
            log_dir: config.log_dir.clone(),
            config,
            recover,
            partitions: RwLock::new(HashMap::new()),
        }
    }

    pub fn partition(&self, topic: &str, index: i32) -> Option<Arc<Partition>> {
        let partitions = self.partitions.read().unwrap_or_else(|p| p.into_inner());
        partitions.get(&(topic.to_string(), index)).cloned()
    }

    /// The directory holding every partition log (Gregor has one log dir).
    pub fn log_dir(&self) -> &std::path::Path {
        &self.log_dir
    }

    /// Every hosted partition, in no particular order.
    pub fn all_partitions(&self) -> Vec<Arc<Partition>> {
        let partitions = self.partitions.read().unwrap_or_else(|p| p.into_inner());
        partitions.values().cloned().collect()
    }

    /// Makes the hosted partitions match the image: opens logs of new
    /// partitions, applies config changes, deletes logs of removed topics.
    pub fn reconcile(&self, image: &MetadataImage) -> Result<(), LogError> {
        let mut partitions = self.partitions.write().unwrap_or_else(|p| p.into_inner());
        let removed: Vec<(String, i32)> = partitions
            .iter()
            .filter(|((topic, _), p)| image.topic(topic).is_none_or(|t| t.id != p.topic_id))
            .map(|(key, _)| key.clone())
            .collect();
        for key in removed {
            if let Some(partition) = partitions.remove(&key) {
                if let Some(log) = partition.take_log() {
                    log.delete()?;
                }
                tracing::info!(topic = %key.0, partition = key.1, "deleted partition");
            }
        }
        let layers = BrokerLayers::new(image, &self.config);
        for topic in image.topics.values() {
            let config = log_config_for(topic, &layers);
            let min_isr = min_insync_replicas(topic, &layers);
            for (&index, state) in &topic.partitions {
                let key = (topic.name.clone(), index);
                if let Some(existing) = partitions.get(&key) {
                    existing
                        .min_insync_replicas
                        .store(min_isr, Ordering::Relaxed);
                    existing
                        .leader_epoch
                        .store(state.leader_epoch, Ordering::Relaxed);
                    let _ = existing.with_log(|log| {
                        if log.config() != &config {
                            log.set_config(config.clone());
                        }
                        Ok(())
                    });
                    continue;
                }
                let dir = self
                    .log_dir
                    .join(gregor_log::partition_dir_name(&topic.name, index));
                let log = PartitionLog::open(&dir, config.clone(), self.recover)?;
                partitions.insert(
                    key,
                    Arc::new(Partition {
                        topic: topic.name.clone(),
                        topic_id: topic.id,
                        index,
                        leader_epoch: AtomicI32::new(state.leader_epoch),
                        isr_size: state.isr.len(),
                        replica_count: state.replicas.len(),
                        min_insync_replicas: AtomicUsize::new(min_isr),
                        log: Mutex::new(Some(log)),
                        waiters: Mutex::new(Vec::new()),
                    }),
                );
            }
        }
        Ok(())
    }

    /// Time-based roll, flush.ms and (when due) retention, for every partition.
    pub fn maintain(&self, now_ms: i64, retention_due: bool) {
        let partitions: Vec<Arc<Partition>> = self
            .partitions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        for partition in partitions {
            partition.maintain(
                now_ms,
                retention_due,
                self.config.txn.producer_id_expiration_ms,
            );
        }
    }

    /// Flushes and closes every log.
    pub fn shutdown(&self) -> Result<(), LogError> {
        let partitions: Vec<Arc<Partition>> = self
            .partitions
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
            .map(|(_, p)| p)
            .collect();
        let mut first_error = None;
        for partition in partitions {
            if let Some(log) = partition.take_log() {
                if let Err(err) = log.close() {
                    tracing::error!(topic = %partition.topic, partition = partition.index, %err, "close failed");
                    first_error.get_or_insert(err);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

fn min_insync_replicas(topic: &gregor_metadata::TopicImage, config: &BrokerLayers) -> usize {
    gregor_metadata::topic_config::find("min.insync.replicas")
        .and_then(|def| effective(topic, config, def).0.parse().ok())
        .unwrap_or(1)
}
