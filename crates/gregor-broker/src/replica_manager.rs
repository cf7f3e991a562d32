//! The partitions this broker hosts (those it is a replica of), each a log
//! plus the waiters to wake when it grows, its leadership as the metadata
//! image last said and, where this broker leads, the leader's replication
//! state (`replica::leader`): consumers read up to the high watermark,
//! followers up to the log end. Partitions this broker follows are handed
//! to the fetchers (replica/fetcher.rs) through the fetch plan.

use crate::config::BrokerConfig;
use crate::log_config::{effective, log_config_for, BrokerLayers};
use crate::replica::fetcher::{FetchPlan, FetchSource, FollowedPartition};
use crate::replica::follower::{self, LocalOffsets, OutOfRangeFix};
use crate::replica::hw_checkpoint::{self, HighWatermarks};
use crate::replica::isr_churn::IsrChurn;
use crate::replica::isr_sender::{IsrOutbox, IsrWork};
use crate::replica::leader::{
    AckState, CommittedState, Effects, FollowerFetch, LeaderConfig, LeaderState,
};
use crate::replica::log_slot::LogSlot;
use crate::replica::throttle::{self, ReplicationQuotas};
use gregor_log::{
    AbortedTxn, AppendInfo, LogError, MarkerInfo, PartitionLog, ReadInfo, SliceInfo, TxnMarker,
    VerificationGuard,
};
use gregor_metadata::MetadataImage;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use tokio::sync::{watch, Notify};
use uuid::Uuid;

/// What a consumer's fetch of one partition returns: the batches as a
/// range of their segment file, sent from there without copying.
pub struct ConsumerRead {
    pub read: SliceInfo,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    /// Set for read_committed fetches.
    pub aborted: Option<Vec<AbortedTxn>>,
}

/// DeleteRecords' "up to the high watermark" offset.
pub const DELETE_TO_HIGH_WATERMARK: i64 = -1;

/// A partition's leadership as the metadata image last said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leadership {
    pub leader: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub isr: Vec<i32>,
    pub replicas: Vec<i32>,
}

/// What acks=all produces wait on, published whenever it changes so they
/// are woken rather than poll. Everything they decide on is here: the
/// closure of `watch::Receiver::wait_for` may take no other lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub high_watermark: i64,
    /// This broker leads the partition.
    pub leading: bool,
    /// The maximal ISR is below the effective `min.insync.replicas`.
    pub under_min_isr: bool,
}

impl Progress {
    /// Where an acks=all produce needing `required_offset` stands.
    pub fn ack_state(&self, required_offset: i64) -> Option<AckState> {
        if !self.leading {
            return None;
        }
        Some(if self.high_watermark < required_offset {
            AckState::Waiting
        } else if self.under_min_isr {
            AckState::DoneUnderMinIsr
        } else {
            AckState::Done
        })
    }
}

/// A follower's fetch of this partition, once the request was checked.
pub struct FollowerRead {
    pub read: SliceInfo,
    pub high_watermark: i64,
}

/// Kafka's answer to a follower whose last fetched epoch ends before its
/// fetch offset (or is unknown here): truncate to (epoch, end offset).
pub enum FollowerFetchCheck {
    Read,
    Diverging { epoch: i32, end_offset: i64 },
}

pub struct Partition {
    pub topic: String,
    pub topic_id: Uuid,
    pub index: i32,
    leadership: RwLock<Leadership>,
    /// The topic's `min.insync.replicas`, checked by acks=all produces.
    min_insync_replicas: AtomicUsize,
    log: Mutex<LogSlot>,
    /// Fetches parked until this partition grows or its high watermark
    /// moves (the fetch purgatory).
    waiters: Mutex<Vec<Weak<Notify>>>,
    /// This broker's id, to tell leading from following.
    local_id: i32,
    replica_lag_time_max_ms: i64,
    /// The leader's replication state while this broker leads. Lock order:
    /// `log`, then `leader`, then `progress`.
    leader: Mutex<Option<LeaderState>>,
    /// The high watermark (also a follower's, as its leader said) and what
    /// acks=all waits for.
    progress: watch::Sender<Progress>,
    /// Where ISR changes go to be sent to the controller.
    isr_outbox: IsrOutbox,
}

/// A partition whose log has been closed (topic deleted, shutdown).
fn closed() -> LogError {
    LogError::Io(std::io::Error::other("partition is closed"))
}

impl Partition {
    pub fn leadership(&self) -> Leadership {
        self.leadership
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn leader_epoch(&self) -> i32 {
        self.leadership
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .leader_epoch
    }

    /// The in-sync replica set's size: the leader's latest committed ISR
    /// (an AlterPartition answer may be ahead of the image).
    pub fn isr_size(&self) -> usize {
        if let Some(leader) = self.leader_state().as_ref() {
            return leader.committed().isr.len();
        }
        self.leadership
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .isr
            .len()
    }

    fn leader_state(&self) -> std::sync::MutexGuard<'_, Option<LeaderState>> {
        self.leader.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn leader_config(&self) -> LeaderConfig {
        LeaderConfig {
            min_insync_replicas: self.min_insync_replicas(),
            replica_lag_time_max_ms: self.replica_lag_time_max_ms,
        }
    }

    /// Applies the image's leadership: a leader state for a new leader
    /// epoch led here, the committed ISR for the current one, none when
    /// another broker leads.
    fn set_leadership(&self, leadership: Leadership, now_ms: i64) {
        *self.leadership.write().unwrap_or_else(|p| p.into_inner()) = leadership.clone();
        let log_end = self.log_end_offset().unwrap_or(0);
        let mut leader = self.leader_state();
        let committed = CommittedState {
            leader_epoch: leadership.leader_epoch,
            partition_epoch: leadership.partition_epoch,
            replicas: leadership.replicas,
            isr: leadership.isr,
        };
        let mut effects = Effects::default();
        if leadership.leader != self.local_id {
            *leader = None;
        } else {
            let same_epoch = match leader.as_mut() {
                Some(state) => {
                    let (same, applied) = state.apply_committed(committed.clone(), now_ms);
                    effects = applied;
                    same
                }
                None => false,
            };
            if !same_epoch {
                let known = self.high_watermark();
                let state = LeaderState::new(
                    self.local_id,
                    committed,
                    log_end,
                    known,
                    self.leader_config(),
                    now_ms,
                );
                *leader = Some(state);
            }
        }
        self.publish(&leader, effects);
    }

    /// Publishes the leader state's high watermark and ISR health, waking
    /// acks=all produces and parked fetches when they changed, and queues
    /// an ISR change for the controller. Called with the leader lock held
    /// so publications keep the state's order.
    fn publish(&self, leader: &Option<LeaderState>, effects: Effects) {
        let changed = self.progress.send_if_modified(|progress| {
            let next = match leader {
                Some(state) => Progress {
                    high_watermark: state.high_watermark().max(progress.high_watermark),
                    leading: true,
                    under_min_isr: state.maximal_isr().len() < state.effective_min_isr(),
                },
                None => Progress {
                    leading: false,
                    ..*progress
                },
            };
            let changed = next != *progress;
            *progress = next;
            changed
        });
        if changed || effects.high_watermark_moved {
            self.wake_waiters();
        }
        if let (Some(request), Some(state)) = (effects.isr_request, leader.as_ref()) {
            self.isr_outbox.send(IsrWork {
                topic: self.topic.clone(),
                topic_id: self.topic_id,
                partition: self.index,
                leader_epoch: state.leader_epoch(),
                committed_isr: state.committed().isr.clone(),
                request,
            });
        }
    }

    /// Runs `f` on the leader state (if leading) and publishes its effects.
    fn with_leader_state(&self, f: impl FnOnce(&mut LeaderState) -> Effects) {
        let mut leader = self.leader_state();
        let effects = match leader.as_mut() {
            Some(state) => f(state),
            None => return,
        };
        self.publish(&leader, effects);
    }

    /// The high watermark: consumers read below it.
    pub fn high_watermark(&self) -> i64 {
        self.progress.borrow().high_watermark
    }

    /// Waits for acks=all produces: what they decide on, as it changes.
    pub fn progress(&self) -> watch::Receiver<Progress> {
        self.progress.subscribe()
    }

    /// A follower's high watermark from its leader's fetch answer, bounded
    /// by its own log end (for the follower side's fetcher).
    pub fn set_follower_high_watermark(&self, high_watermark: i64) -> Result<(), LogError> {
        let log_end = self.log_end_offset()?;
        let leader = self.leader_state();
        if leader.is_some() {
            return Ok(());
        }
        let bounded = high_watermark.min(log_end);
        let changed = self.progress.send_if_modified(|p| {
            let changed = p.high_watermark != bounded;
            p.high_watermark = bounded;
            changed
        });
        if changed {
            self.wake_waiters();
        }
        Ok(())
    }

    /// KIP-392: the leader's log end and its ISR followers; `None` when
    /// not leading.
    pub fn read_replica_views(
        &self,
        now_ms: i64,
    ) -> Option<crate::replica::leader::ReadReplicaViews> {
        self.leader_state()
            .as_ref()
            .map(|state| state.read_replica_views(now_ms))
    }

    /// The leader's periodic ISR check (shrinks after the lag time).
    pub fn tick(&self, now_ms: i64) {
        self.with_leader_state(|state| state.tick(now_ms));
    }

    /// A committed partition state from an AlterPartition answer.
    pub fn apply_isr_answer(&self, leader_epoch: i32, committed: CommittedState, now_ms: i64) {
        self.with_leader_state(|state| {
            if state.leader_epoch() != leader_epoch {
                return Effects::default();
            }
            state.apply_committed(committed, now_ms).1
        });
    }

    /// The AlterPartition in flight was refused: the leader proposes again
    /// later from its committed ISR.
    pub fn isr_change_failed(&self, leader_epoch: i32, now_ms: i64) {
        self.with_leader_state(|state| {
            if state.leader_epoch() != leader_epoch {
                return Effects::default();
            }
            state.isr_change_failed(now_ms)
        });
    }

    /// Where the current leader epoch began, while this broker leads.
    pub fn leader_epoch_start_offset(&self) -> Option<i64> {
        self.leader_state().as_ref().map(|s| s.epoch_start_offset())
    }

    /// The leader's committed partition state (tests, the ISR sender).
    pub fn committed_state(&self) -> Option<CommittedState> {
        self.leader_state().as_ref().map(|s| s.committed().clone())
    }

    /// Whether a follower fetch may read from `fetch_offset` after last
    /// fetching `last_fetched_epoch` (Kafka's `Partition.readRecords`): an
    /// epoch this log cannot place, or an offset below the log start, is
    /// OFFSET_OUT_OF_RANGE; a fetch past the end of that epoch here (or
    /// from an epoch this log skipped) must truncate first.
    pub fn check_follower_fetch(
        &self,
        fetch_offset: i64,
        last_fetched_epoch: i32,
    ) -> Result<FollowerFetchCheck, LogError> {
        if last_fetched_epoch < 0 {
            return Ok(FollowerFetchCheck::Read);
        }
        self.with_log(|log| {
            let (epoch, end_offset) = log.end_offset_for_epoch(last_fetched_epoch);
            let out_of_range = || LogError::OffsetOutOfRange {
                requested: fetch_offset,
                log_start: log.log_start_offset(),
                log_end: log.log_end_offset(),
            };
            if epoch < 0 || end_offset < 0 || fetch_offset < log.log_start_offset() {
                return Err(out_of_range());
            }
            if epoch < last_fetched_epoch || end_offset < fetch_offset {
                Ok(FollowerFetchCheck::Diverging { epoch, end_offset })
            } else {
                Ok(FollowerFetchCheck::Read)
            }
        })
    }

    /// A follower's read, up to the log end; its fetch offset becomes its
    /// log end offset in the leader's state.
    pub fn read_for_follower(
        &self,
        fetch: FollowerFetch,
        max_bytes: usize,
        min_one: bool,
        now_ms: i64,
    ) -> Result<FollowerRead, LogError> {
        let read = self.with_log(|log| {
            let log_end = log.log_end_offset();
            log.read_slice(fetch.fetch_offset, max_bytes, log_end, min_one)
        })?;
        self.with_leader_state(|state| state.on_follower_fetch(fetch, now_ms));
        Ok(FollowerRead {
            read,
            high_watermark: self.high_watermark(),
        })
    }

    pub fn log_end_offset(&self) -> Result<i64, LogError> {
        self.with_log_or_empty(|_| 0, |log| Ok(log.log_end_offset()))
    }

    /// The leader's log grew: the high watermark may follow.
    fn after_local_write(&self, log_end_offset: i64, now_ms: i64) {
        self.with_leader_state(|state| state.on_local_append(log_end_offset, now_ms));
        self.wake_waiters();
    }

    /// Runs `f` on the log, opening it first if this is its first use.
    fn with_log<T>(
        &self,
        f: impl FnOnce(&mut PartitionLog) -> Result<T, LogError>,
    ) -> Result<T, LogError> {
        let mut guard = self.log.lock().unwrap_or_else(|p| p.into_inner());
        let opened = guard.open(|log| {
            // Kafka's makeLeader, deferred from when this broker became
            // leader of the then unopened (empty) log.
            let leadership = self.leadership();
            if leadership.leader == self.local_id {
                log.assign_epoch(leadership.leader_epoch, log.log_end_offset())?;
            }
            Ok(())
        })?;
        match opened {
            Some(log) => f(log),
            None => Err(closed()),
        }
    }

    /// Like `with_log`, but a log not opened yet (so empty) is answered by
    /// `empty` from its config, without touching the disk.
    fn with_log_or_empty<T>(
        &self,
        empty: impl FnOnce(&gregor_log::LogConfig) -> T,
        f: impl FnOnce(&mut PartitionLog) -> Result<T, LogError>,
    ) -> Result<T, LogError> {
        {
            let guard = self.log.lock().unwrap_or_else(|p| p.into_inner());
            if let (true, Some(config)) = (guard.is_unopened(), guard.config()) {
                return Ok(empty(config));
            }
        }
        self.with_log(f)
    }

    pub fn min_insync_replicas(&self) -> usize {
        self.min_insync_replicas.load(Ordering::Relaxed)
    }

    /// The ISR size acks=all needs: `min.insync.replicas`, bounded by the
    /// replica count. Kafka's `Partition.effectiveMinIsr` does the same, so
    /// a setting above the replication factor does not refuse every write.
    pub fn effective_min_insync_replicas(&self) -> usize {
        let replica_count = self
            .leadership
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .replicas
            .len();
        self.min_insync_replicas().min(replica_count.max(1))
    }

    pub fn append(&self, records: &[u8], now_ms: i64) -> Result<AppendInfo, LogError> {
        let epoch = self.leader_epoch();
        let (info, log_end) =
            self.with_log(|log| Ok((log.append(records, epoch, now_ms)?, log.log_end_offset())))?;
        self.after_local_write(log_end, now_ms);
        Ok(info)
    }

    /// KIP-890: the guard a transactional batch needs after the remote
    /// transaction coordinator verified it (`None`: its transaction is
    /// already open here).
    /// `epoch_bump`: the client runs transaction version 2 (Produce v12+).
    pub fn start_verification(
        &self,
        producer_id: i64,
        epoch: i16,
        epoch_bump: bool,
    ) -> Result<Option<VerificationGuard>, LogError> {
        self.with_log(|log| Ok(log.start_verification_for(producer_id, epoch, epoch_bump)))
    }

    /// [`Self::append`] of a batch verified with a remote coordinator; the
    /// guard is checked under the log lock.
    pub fn append_verified(
        &self,
        records: &[u8],
        guard: Option<VerificationGuard>,
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        let epoch = self.leader_epoch();
        let (info, log_end) = self.with_log(|log| {
            Ok((
                log.append_verified(records, guard, epoch, now_ms)?,
                log.log_end_offset(),
            ))
        })?;
        self.after_local_write(log_end, now_ms);
        Ok(info)
    }

    /// Batches the broker writes itself (coordinator records): several
    /// batches and control batches allowed, no producer-state checks.
    pub fn append_as_coordinator(
        &self,
        records: &[u8],
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        let epoch = self.leader_epoch();
        let (info, log_end) = self.with_log(|log| {
            Ok((
                log.append_as_coordinator(records, epoch, now_ms)?,
                log.log_end_offset(),
            ))
        })?;
        self.after_local_write(log_end, now_ms);
        Ok(info)
    }

    /// Writes a transaction marker (a control batch) for a producer: its
    /// open transaction here ends, committed or aborted.
    pub fn append_txn_marker(
        &self,
        marker: TxnMarker,
        now_ms: i64,
    ) -> Result<MarkerInfo, LogError> {
        let epoch = self.leader_epoch();
        let (info, log_end) = self.with_log(|log| {
            Ok((
                log.append_txn_marker(marker, epoch, now_ms)?,
                log.log_end_offset(),
            ))
        })?;
        self.after_local_write(log_end, now_ms);
        Ok(info)
    }

    /// The broker's own read (coordinator loading): up to the log end, as
    /// Kafka's coordinator loaders read.
    pub fn read(&self, offset: i64, max_bytes: usize, min_one: bool) -> Result<ReadInfo, LogError> {
        self.with_log(|log| {
            let log_end = log.log_end_offset();
            log.read(offset, max_bytes, log_end, min_one)
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
        let high_watermark = self.high_watermark();
        self.with_log(|log| {
            let high_watermark = high_watermark.min(log.log_end_offset());
            let last_stable = log.last_stable_offset(high_watermark);
            if !read_committed {
                let read = log.read_slice(offset, max_bytes, high_watermark, min_one)?;
                return Ok(ConsumerRead {
                    read,
                    high_watermark,
                    last_stable_offset: last_stable,
                    aborted: None,
                });
            }
            let read = log.read_slice(offset, max_bytes, last_stable, min_one)?;
            let upper_bound = read.records.next_offset().unwrap_or(last_stable);
            let aborted = log.aborted_transactions(offset, upper_bound);
            Ok(ConsumerRead {
                read,
                high_watermark,
                last_stable_offset: last_stable,
                aborted: Some(aborted),
            })
        })
    }

    /// The last stable offset: no open transaction below it.
    pub fn last_stable_offset(&self) -> Result<i64, LogError> {
        let high_watermark = self.high_watermark();
        self.with_log_or_empty(|_| 0, |log| Ok(log.last_stable_offset(high_watermark)))
    }

    /// (log start offset, high watermark).
    pub fn offsets(&self) -> Result<(i64, i64), LogError> {
        let high_watermark = self.high_watermark();
        self.with_log_or_empty(
            |_| (0, 0),
            |log| {
                let high_watermark = high_watermark.min(log.log_end_offset());
                Ok((log.log_start_offset(), high_watermark))
            },
        )
    }

    /// (log start offset, log end offset): the broker's own replays.
    pub fn log_bounds(&self) -> Result<(i64, i64), LogError> {
        self.with_log_or_empty(
            |_| (0, 0),
            |log| Ok((log.log_start_offset(), log.log_end_offset())),
        )
    }

    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<(i64, i64)>, LogError> {
        self.with_log(|log| log.offset_for_timestamp(timestamp))
    }

    /// Active idempotent producers (DescribeProducers).
    pub fn producer_states(&self) -> Result<Vec<gregor_log::ProducerStateInfo>, LogError> {
        self.with_log(|log| Ok(log.producer_states()))
    }

    pub fn max_timestamp(&self) -> Result<Option<(i64, i64)>, LogError> {
        self.with_log_or_empty(|_| None, |log| log.max_timestamp())
    }

    /// DeleteRecords: moves the log start offset up to `offset` (-1 means
    /// the high watermark) and deletes the segments wholly below it.
    /// Returns the new log start offset (the "low watermark"). Offsets past
    /// the high watermark, or negative ones, are out of range as in Kafka.
    pub fn delete_records(&self, offset: i64) -> Result<i64, LogError> {
        let high_watermark = self.high_watermark();
        self.with_log(|log| {
            let high_watermark = high_watermark.min(log.log_end_offset());
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

    /// How dirty this partition's log is, with its `min.cleanable.dirty.ratio`;
    /// `None` unless its topic is compacted.
    pub fn compaction_dirtiness(
        &self,
        now_ms: i64,
    ) -> Result<Option<(gregor_log::cleaner::Dirtiness, f64)>, LogError> {
        let high_watermark = self.high_watermark();
        self.with_log_or_empty(
            |_| None,
            |log| {
                if !log.config().compact {
                    return Ok(None);
                }
                let bound = log.last_stable_offset(high_watermark);
                let ratio = log.config().min_cleanable_dirty_ratio;
                Ok(Some((log.dirtiness(now_ms, bound)?, ratio)))
            },
        )
    }

    /// Cleans this partition's log (compaction), never past its last
    /// stable offset or high watermark. The log is locked only to start the
    /// clean and to swap cleaned segments in, so produce and fetch go on
    /// meanwhile; `io` sees the bytes read and written (throttling).
    pub fn clean(
        &self,
        now_ms: i64,
        dedupe_buffer_bytes: usize,
        io: &mut dyn FnMut(u64),
    ) -> Result<Option<gregor_log::cleaner::CleanStats>, LogError> {
        let high_watermark = self.high_watermark();
        let cleaning = self.with_log_or_empty(
            |_| None,
            |log| {
                if !log.config().compact {
                    return Ok(None);
                }
                let bound = log.last_stable_offset(high_watermark);
                log.begin_clean(gregor_log::cleaner::CleanOptions {
                    now_ms,
                    upper_bound_offset: bound,
                    dedupe_buffer_bytes,
                })
            },
        )?;
        match cleaning {
            Some(cleaning) => cleaning.run(&mut LockedLog(self), io),
            None => Ok(None),
        }
    }

    /// The compaction status of this partition's log; `None` unless its
    /// topic is compacted.
    pub fn compaction_status(
        &self,
        now_ms: i64,
    ) -> Result<Option<gregor_log::cleaner::CompactionStatus>, LogError> {
        let high_watermark = self.high_watermark();
        self.with_log(|log| {
            if !log.config().compact {
                return Ok(None);
            }
            let bound = log.last_stable_offset(high_watermark);
            Ok(Some(log.compaction_status(now_ms, bound)?))
        })
    }

    /// The latest committed record of `key` (compacted topics as tables);
    /// `None` unless the topic is compacted. Records past the last stable
    /// offset or high watermark are not visible, as to a read_committed
    /// consumer. Holds the log while the index catches up.
    pub fn lookup_key(
        &self,
        index: &mut gregor_log::cleaner::KeyIndex,
        key: &[u8],
    ) -> Result<Option<gregor_log::cleaner::KeyLookup>, LogError> {
        let high_watermark = self.high_watermark();
        self.with_log(|log| {
            if !log.config().compact {
                return Ok(None);
            }
            let bound = log.last_stable_offset(high_watermark);
            Ok(Some(log.lookup_key(index, key, bound)?))
        })
    }

    /// The timestamp of the record at `offset` (consumer lag in seconds).
    pub fn timestamp_at(&self, offset: i64) -> Result<Option<i64>, LogError> {
        self.with_log(|log| log.timestamp_at(offset))
    }

    /// How many segments the log has (metrics).
    pub fn segment_count(&self) -> Result<usize, LogError> {
        // Kafka's new partition has one (empty) segment.
        self.with_log_or_empty(|_| 1, |log| Ok(log.segment_count()))
    }

    /// Bytes on disk of this partition's segments (DescribeLogDirs).
    pub fn size_bytes(&self) -> Result<u64, LogError> {
        self.with_log_or_empty(|_| 0, |log| Ok(log.size_bytes()))
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
        // Nothing to roll, flush, expire or delete in a log never opened.
        let result = self.with_log_or_empty(|_| (), |log| {
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
        // Waiting acks=all produces learn the partition is gone.
        let mut leader = self.leader_state();
        *leader = None;
        self.publish(&leader, Effects::default());
        drop(leader);
        self.wake_waiters();
        log
    }
}

/// Where requests for a partition that only its leader serves must go.
pub enum LeaderLookup {
    /// This broker leads it.
    Leader(Arc<Partition>),
    /// The partition exists but another broker leads it (or none does):
    /// NOT_LEADER_OR_FOLLOWER, with the leader and its epoch when there is
    /// one so the client can move at once (KIP-951).
    NotLeader { leader: Option<(i32, i32)> },
    /// No such topic or partition.
    Unknown,
}

pub struct ReplicaManager {
    config: BrokerConfig,
    log_dir: PathBuf,
    /// True when the previous run did not shut down cleanly.
    recover: bool,
    partitions: RwLock<HashMap<(String, i32), Arc<Partition>>>,
    /// The high watermarks checkpointed by the previous run.
    checkpointed: HighWatermarks,
    /// One checkpoint writer at a time (the timer and shutdown).
    checkpoint_lock: Mutex<()>,
    fetch_plan: watch::Sender<Arc<FetchPlan>>,
    /// ISR changes the partitions this broker leads want sent.
    isr_outbox: IsrOutbox,
    /// Replication throttles, refreshed from every image.
    quotas: Arc<ReplicationQuotas>,
    /// What the log cleaner did per partition (compaction status).
    pub clean_history: crate::clean_history::CleanHistory,
    /// ISR shrinks and expands of the partitions led here (metrics).
    isr_churn: Arc<IsrChurn>,
    /// What the last reconcile applied, to visit only what changed since.
    reconciled: Mutex<Option<Reconciled>>,
}

impl ReplicaManager {
    pub fn new(config: BrokerConfig, recover: bool) -> ReplicaManager {
        let checkpointed = hw_checkpoint::read(&config.log_dir).unwrap_or_else(|err| {
            tracing::warn!(%err, "cannot read {}", hw_checkpoint::FILE_NAME);
            HighWatermarks::new()
        });
        ReplicaManager {
            log_dir: config.log_dir.clone(),
            recover,
            partitions: RwLock::new(HashMap::new()),
            checkpointed,
            checkpoint_lock: Mutex::new(()),
            fetch_plan: watch::Sender::new(Arc::new(FetchPlan::default())),
            isr_outbox: IsrOutbox::default(),
            quotas: Arc::new(throttle::quotas_for(&config)),
            clean_history: Default::default(),
            isr_churn: Arc::default(),
            reconciled: Mutex::new(None),
            config,
        }
    }

    pub fn quotas(&self) -> &Arc<ReplicationQuotas> {
        &self.quotas
    }

    pub fn isr_outbox(&self) -> &IsrOutbox {
        &self.isr_outbox
    }

    pub fn isr_churn(&self) -> &IsrChurn {
        &self.isr_churn
    }

    /// The ISR check of every partition led here.
    pub fn tick_leaders(&self, now_ms: i64) {
        for partition in self.all_partitions() {
            partition.tick(now_ms);
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

    /// The partition if this broker leads it, else who does.
    pub fn lookup_leader(&self, image: &MetadataImage, topic: &str, index: i32) -> LeaderLookup {
        let node_id = self.config.node_id;
        if let Some(partition) = self.partition(topic, index) {
            let leadership = partition.leadership();
            if leadership.leader == node_id {
                return LeaderLookup::Leader(partition);
            }
            return LeaderLookup::NotLeader {
                leader: (leadership.leader >= 0)
                    .then_some((leadership.leader, leadership.leader_epoch)),
            };
        }
        match image.topic(topic).and_then(|t| t.partitions.get(&index)) {
            Some(state) => LeaderLookup::NotLeader {
                leader: (state.leader >= 0).then_some((state.leader, state.leader_epoch)),
            },
            None => LeaderLookup::Unknown,
        }
    }

    /// This broker's node id.
    pub fn node_id(&self) -> i32 {
        self.config.node_id
    }

    /// Makes the hosted partitions match the image: opens logs of new
    /// partitions this broker is a replica of, applies config and
    /// leadership changes, deletes logs of removed topics and of partitions
    /// reassigned away.
    ///
    /// Only topics that changed since the last image are visited (a topic
    /// the image did not touch is the same `Arc`), unless something every
    /// partition depends on changed (brokers, broker configs): one metadata
    /// change costs what it changed, not what the broker hosts.
    fn partition_dir(&self, topic: &str, index: i32) -> PathBuf {
        self.log_dir
            .join(gregor_log::partition_dir_name(topic, index))
    }

    /// Opens the logs, left by an earlier run, of the partitions in `visit`
    /// hosted here and not yet known: all of them at start-up. Up to
    /// `num.recovery.threads.per.data.dir` at once, as Kafka's recovery
    /// threads: after an unclean stop each open re-validates the log's
    /// unflushed segment, which is most of a restart's time.
    fn open_existing_logs(
        &self,
        known: &HashMap<(String, i32), Arc<Partition>>,
        visit: &[&Arc<gregor_metadata::TopicImage>],
        layers: &BrokerLayers,
    ) -> HashMap<(String, i32), Result<PartitionLog, LogError>> {
        let node_id = self.config.node_id;
        let mut jobs = Vec::new();
        for topic in visit {
            let mut config = None;
            for (&index, state) in &topic.partitions {
                let key = (topic.name.clone(), index);
                if !state.replicas.contains(&node_id) || known.contains_key(&key) {
                    continue;
                }
                let dir = self.partition_dir(&topic.name, index);
                if dir.exists() {
                    let config = config.get_or_insert_with(|| log_config_for(topic, layers));
                    jobs.push((key, dir, config.clone()));
                }
            }
        }
        crate::replica::log_opener::open_all(jobs, self.recover, self.config.recovery_threads)
    }

    pub fn reconcile(&self, image: &MetadataImage) -> Result<(), LogError> {
        self.quotas.refresh(image);
        let node_id = self.config.node_id;
        let now = crate::clock::now_ms();
        let mut partitions = self.partitions.write().unwrap_or_else(|p| p.into_inner());
        let mut last = self.reconciled.lock().unwrap_or_else(|p| p.into_inner());
        let delta = last.as_ref().and_then(|last| last.delta_to(image));
        let candidates: Vec<(String, i32)> = match &delta {
            None => partitions.keys().cloned().collect(),
            Some(delta) => delta
                .before
                .iter()
                .flat_map(|t| t.partitions.keys().map(|&i| (t.name.clone(), i)))
                .collect(),
        };
        let removed: Vec<(String, i32)> = candidates
            .into_iter()
            .filter(|key| {
                partitions.get(key).is_some_and(|p| {
                    image.topic(&key.0).is_none_or(|t| {
                        t.id != p.topic_id
                            || t.partitions
                                .get(&key.1)
                                .is_none_or(|state| !state.replicas.contains(&node_id))
                    })
                })
            })
            .collect();
        for key in removed {
            if let Some(partition) = partitions.remove(&key) {
                if let Some(log) = partition.take_log() {
                    log.delete()?;
                }
                self.clean_history.forget(&key.0, key.1);
                tracing::info!(topic = %key.0, partition = key.1, "deleted partition");
            }
        }
        let layers = BrokerLayers::new(image, &self.config);
        let visit: Vec<&Arc<gregor_metadata::TopicImage>> = match &delta {
            None => image.topics.values().collect(),
            Some(delta) => delta.after.clone(),
        };
        let replan = delta.as_ref().is_none_or(|d| d.touches_followed(node_id));
        let mut opened = self.open_existing_logs(&partitions, &visit, &layers);
        let mut new_leaders = Vec::new();
        for topic in visit {
            let config = log_config_for(topic, &layers);
            let min_isr = min_insync_replicas(topic, &layers);
            for (&index, state) in &topic.partitions {
                if !state.replicas.contains(&node_id) {
                    continue;
                }
                let key = (topic.name.clone(), index);
                let leadership = Leadership {
                    leader: state.leader,
                    leader_epoch: state.leader_epoch,
                    partition_epoch: state.partition_epoch,
                    isr: state.isr.clone(),
                    replicas: state.replicas.clone(),
                };
                if let Some(existing) = partitions.get(&key) {
                    let old_min_isr = existing
                        .min_insync_replicas
                        .swap(min_isr, Ordering::Relaxed);
                    if old_min_isr != min_isr {
                        let config = existing.leader_config();
                        existing.with_leader_state(|s| s.set_config(config, now));
                    }
                    let previous = existing.leadership();
                    if previous != leadership {
                        let new_leader_epoch = leadership.leader == node_id
                            && (previous.leader != node_id
                                || previous.leader_epoch != leadership.leader_epoch);
                        let epoch = leadership.leader_epoch;
                        existing.set_leadership(leadership, now);
                        if new_leader_epoch {
                            new_leaders.push((existing.clone(), epoch));
                        }
                        // Parked fetches re-check who leads.
                        existing.wake_waiters();
                    }
                    if leadership_led_here(existing, node_id) {
                        existing.with_leader_state(|s| {
                            s.refresh_eligibility(
                                |id, epoch| {
                                    image.brokers.get(&id).is_some_and(|b| {
                                        b.is_active() && epoch.is_none_or(|e| e < 0 || e == b.epoch)
                                    })
                                },
                                now,
                            )
                        });
                    }
                    existing
                        .log
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .set_config(&config);
                    continue;
                }
                // A new partition (no directory yet) is opened by its first
                // use; one with files from an earlier run was opened above,
                // as its bounds are only known from them.
                let (slot, log_start, log_end) = match opened.remove(&key) {
                    Some(log) => {
                        let log = log?;
                        let bounds = (log.log_start_offset(), log.log_end_offset());
                        (LogSlot::Open(Box::new(log)), bounds.0, bounds.1)
                    }
                    None => {
                        let dir = self.partition_dir(&topic.name, index);
                        let config = config.clone();
                        (LogSlot::Unopened { dir, config }, 0, 0)
                    }
                };
                // A restarted replica starts from its checkpointed high
                // watermark, never past what its log holds; without one,
                // only what is below the log start is known committed.
                let high_watermark = self
                    .checkpointed
                    .get(&key)
                    .copied()
                    .unwrap_or(0)
                    .min(log_end)
                    .max(log_start);
                let progress = Progress {
                    high_watermark,
                    leading: false,
                    under_min_isr: false,
                };
                let partition = Arc::new(Partition {
                    topic: topic.name.clone(),
                    topic_id: topic.id,
                    index,
                    leadership: RwLock::new(leadership.clone()),
                    min_insync_replicas: AtomicUsize::new(min_isr),
                    log: Mutex::new(slot),
                    waiters: Mutex::new(Vec::new()),
                    local_id: node_id,
                    replica_lag_time_max_ms: self.config.replica_lag_time_max_ms,
                    leader: Mutex::new(None),
                    progress: watch::channel(progress).0,
                    isr_outbox: self.isr_outbox.clone(),
                });
                let (leads, epoch) = (leadership.leader == node_id, leadership.leader_epoch);
                partition.set_leadership(leadership, now);
                if leads {
                    new_leaders.push((partition.clone(), epoch));
                }
                partitions.insert(key, partition);
            }
        }
        become_leaders(new_leaders);
        if replan {
            self.publish_fetch_plan(image, &partitions);
        }
        *last = Some(Reconciled::of(image));
        Ok(())
    }

    /// Hands the fetchers the partitions this broker follows, by leader.
    /// Sent only when it changed, so fetchers take a new plan as news.
    fn publish_fetch_plan(
        &self,
        image: &MetadataImage,
        partitions: &HashMap<(String, i32), Arc<Partition>>,
    ) {
        let node_id = self.config.node_id;
        let mut sources: BTreeMap<i32, FetchSource> = BTreeMap::new();
        for partition in partitions.values() {
            let leadership = partition.leadership();
            if leadership.leader < 0 || leadership.leader == node_id {
                continue;
            }
            let source = sources
                .entry(leadership.leader)
                .or_insert_with(|| FetchSource {
                    address: image
                        .brokers
                        .get(&leadership.leader)
                        .and_then(|b| b.endpoint(&self.config.listeners.inter_broker))
                        .map(|e| format!("{}:{}", e.host, e.port)),
                    partitions: Vec::new(),
                });
            source.partitions.push(FollowedPartition {
                partition: partition.clone(),
                leader_epoch: leadership.leader_epoch,
            });
        }
        for source in sources.values_mut() {
            source.partitions.sort_by(|a, b| {
                (&a.partition.topic, a.partition.index)
                    .cmp(&(&b.partition.topic, b.partition.index))
            });
        }
        let plan = FetchPlan {
            broker_epoch: image.brokers.get(&node_id).map_or(-1, |b| b.epoch),
            sources,
        };
        self.fetch_plan.send_if_modified(|current| {
            if **current == plan {
                return false;
            }
            *current = Arc::new(plan);
            true
        });
    }

    /// The fetchers' view of what to follow; it changes with the image.
    pub fn fetch_plan(&self) -> watch::Receiver<Arc<FetchPlan>> {
        self.fetch_plan.subscribe()
    }

    /// Writes every hosted partition's high watermark to the log dir's
    /// `replication-offset-checkpoint`.
    pub fn checkpoint_high_watermarks(&self) -> std::io::Result<()> {
        let partitions = self.all_partitions();
        let mut entries = HighWatermarks::with_capacity(partitions.len());
        for partition in partitions {
            entries.insert(
                (partition.topic.clone(), partition.index),
                partition.high_watermark(),
            );
        }
        let _guard = self
            .checkpoint_lock
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        hw_checkpoint::write(&self.log_dir, &entries)
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

    /// Checkpoints the high watermarks, then flushes and closes every log.
    pub fn shutdown(&self) -> Result<(), LogError> {
        if let Err(err) = self.checkpoint_high_watermarks() {
            tracing::error!(%err, "cannot write {}", hw_checkpoint::FILE_NAME);
        }
        let partitions: Vec<Arc<Partition>> = self
            .partitions
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
            .map(|(_, p)| p)
            .collect();
        // A few fsyncs per log and little else: waits on the disk, which
        // takes many fsyncs at once, so more threads than Kafka's recovery
        // threads (which close its logs) shorten a stop with many used
        // partitions (43 s for 50,000 on 2 threads).
        let closed = crate::replica::log_opener::on_threads(
            partitions,
            self.config.recovery_threads.max(FSYNC_WRITERS),
            |partition| {
                let log = partition.take_log()?;
                let err = log.close().err()?;
                tracing::error!(topic = %partition.topic, partition = partition.index, %err, "close failed");
                Some(err)
            },
        );
        closed.into_iter().flatten().next().map_or(Ok(()), Err)
    }
}

fn min_insync_replicas(topic: &gregor_metadata::TopicImage, config: &BrokerLayers) -> usize {
    gregor_metadata::topic_config::find("min.insync.replicas")
        .and_then(|def| effective(topic, config, def).0.parse().ok())
        .unwrap_or(1)
}

/// How many partitions record their new leader epoch, or close their log,
/// at once. Each is a few fsyncs and little else: a broker that comes back
/// (or takes over) as leader of 10,000 partitions spent seconds on them one
/// at a time, while the disk can take many fsyncs at once.
const FSYNC_WRITERS: usize = 8;

/// Kafka's makeLeader for every partition this reconcile made this broker
/// lead. Their leadership is already set, so they may take appends before
/// their epoch is recorded; the append records the same epoch at the same
/// offset (the log end), and this then changes nothing.
fn become_leaders(new_leaders: Vec<(Arc<Partition>, i32)>) {
    crate::replica::log_opener::on_threads(new_leaders, FSYNC_WRITERS, |(p, epoch)| {
        p.become_leader(epoch)
    });
}

/// What a follower's fetch of one partition asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchPosition {
    pub fetch_offset: i64,
    pub last_fetched_epoch: i32,
    pub log_start_offset: i64,
}

/// What applying a leader's answer did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Done; the log now ends at this offset.
    Done { log_end: i64 },
    /// The partition is no longer followed from that leader at that epoch
    /// (the image moved on while the fetch was out): nothing was changed.
    Stale,
}

/// The follower side of a partition (Kafka's Partition.makeFollower /
/// ReplicaFetcherThread.processPartitionData). Every change happens under
/// the log lock after checking that the partition is still followed from
/// `leader` at `leader_epoch`, so an answer that raced a leadership change
/// never writes into a log this broker now leads.
impl Partition {
    /// Kafka's makeLeader: the new leader epoch starts at our log end
    /// offset, so followers that wrote past it under an older epoch are told
    /// to truncate there. Called once the leadership says this broker
    /// leads, so no fetcher answer can be appended after it.
    fn become_leader(&self, epoch: i32) {
        // An unopened log gets the epoch when it opens (`with_log`).
        let result = self.with_log_or_empty(
            |_| (),
            |log| {
                let log_end = log.log_end_offset();
                log.assign_epoch(epoch, log_end)
            },
        );
        if let Err(err) = result {
            tracing::error!(topic = %self.topic, partition = self.index, %err, "cannot record the new leader epoch");
        }
    }

    fn is_following(&self, leader: i32, leader_epoch: i32) -> bool {
        let leadership = self.leadership();
        leadership.leader == leader && leadership.leader_epoch == leader_epoch
    }

    /// OffsetForLeaderEpoch: the largest epoch at or below `epoch` this log
    /// knows and where it ends; (-1, -1) when it knows none.
    pub fn end_offset_for_epoch(&self, epoch: i32) -> Result<(i32, i64), LogError> {
        self.with_log(|log| Ok(log.end_offset_for_epoch(epoch)))
    }

    /// The leader epoch in force at `offset`, if the epoch cache knows it.
    pub fn epoch_for_offset(&self, offset: i64) -> Result<Option<i32>, LogError> {
        self.with_log(|log| Ok(log.epoch_for_offset(offset)))
    }

    /// Where the next fetch from the leader starts.
    pub fn fetch_position(&self) -> Result<FetchPosition, LogError> {
        self.with_log(|log| {
            Ok(FetchPosition {
                fetch_offset: log.log_end_offset(),
                last_fetched_epoch: log.latest_epoch().unwrap_or(-1),
                log_start_offset: log.log_start_offset(),
            })
        })
    }

    /// Appends the leader's batches as they are (offsets and epochs kept;
    /// the epoch cache learns theirs), then takes the leader's high
    /// watermark (bounded by our log end) and log start offset.
    pub fn append_fetched(
        &self,
        leader: i32,
        leader_epoch: i32,
        records: &[u8],
        leader_high_watermark: i64,
        leader_log_start: i64,
        now_ms: i64,
    ) -> Result<Applied, LogError> {
        let applied = self.with_log(|log| {
            if !self.is_following(leader, leader_epoch) {
                return Ok(Applied::Stale);
            }
            let whole = follower::complete_batches_len(records);
            if whole > 0 {
                log.append_replicated(&records[..whole], now_ms)?;
            }
            let log_end = log.log_end_offset();
            let high_watermark = follower::next_high_watermark(
                self.high_watermark(),
                leader_high_watermark,
                log_end,
            );
            self.set_follower_high_watermark_locked(high_watermark);
            log.forget_replicated_txns(high_watermark);
            if let Some(start) = follower::follower_log_start(
                log.log_start_offset(),
                leader_log_start,
                high_watermark,
            ) {
                log.advance_log_start_offset(start)?;
            }
            Ok(Applied::Done { log_end })
        })?;
        if matches!(applied, Applied::Done { .. }) && !records.is_empty() {
            self.wake_waiters();
        }
        Ok(applied)
    }

    /// The leader says our log diverged after its epoch `epoch`, which ends
    /// at `end_offset` in its log: truncate as Kafka's truncateOnFetch does.
    pub fn truncate_diverged(
        &self,
        leader: i32,
        leader_epoch: i32,
        epoch: i32,
        end_offset: i64,
    ) -> Result<Applied, LogError> {
        self.with_log(|log| {
            if !self.is_following(leader, leader_epoch) {
                return Ok(Applied::Stale);
            }
            let (local_epoch, local_end) = log.end_offset_for_epoch(epoch);
            let local = (local_epoch >= 0 && local_end >= 0).then_some((local_epoch, local_end));
            let log_end = log.log_end_offset();
            let target = follower::diverging_truncation(epoch, end_offset, local, log_end);
            if target < log_end {
                tracing::info!(topic = %self.topic, partition = self.index, from = log_end, to = target, epoch, "truncating a diverged log");
                log.truncate_to(target)?;
            }
            self.cap_high_watermark(log.log_end_offset());
            Ok(Applied::Done {
                log_end: log.log_end_offset(),
            })
        })
    }

    /// Resolves an OFFSET_OUT_OF_RANGE answer with the leader's log start
    /// and end offsets.
    pub fn resolve_out_of_range(
        &self,
        leader: i32,
        leader_epoch: i32,
        leader_start: i64,
        leader_end: i64,
    ) -> Result<Applied, LogError> {
        self.with_log(|log| {
            if !self.is_following(leader, leader_epoch) {
                return Ok(Applied::Stale);
            }
            let local = LocalOffsets {
                log_start: log.log_start_offset(),
                log_end: log.log_end_offset(),
            };
            match follower::out_of_range(local, leader_start, leader_end) {
                OutOfRangeFix::TruncateTo(offset) => {
                    tracing::warn!(topic = %self.topic, partition = self.index, from = local.log_end, to = offset, "leader's log ends below ours: truncating");
                    log.truncate_to(offset)?;
                }
                OutOfRangeFix::StartAt(offset) => {
                    tracing::info!(topic = %self.topic, partition = self.index, offset, "leader's log starts after ours ends: starting over there");
                    log.truncate_fully_and_start_at(offset)?;
                    self.set_follower_high_watermark_locked(offset);
                }
                OutOfRangeFix::Retry => {}
            }
            self.cap_high_watermark(log.log_end_offset());
            Ok(Applied::Done {
                log_end: log.log_end_offset(),
            })
        })
    }

    fn cap_high_watermark(&self, log_end: i64) {
        let high_watermark = self.high_watermark();
        if high_watermark > log_end {
            self.set_follower_high_watermark_locked(log_end);
        }
    }

    /// Publishes a follower's high watermark; the caller holds the log lock
    /// (lock order: log, leader, progress). Ignored if this broker leads.
    fn set_follower_high_watermark_locked(&self, high_watermark: i64) {
        if self.leader_state().is_some() {
            return;
        }
        let changed = self.progress.send_if_modified(|p| {
            let changed = p.high_watermark != high_watermark;
            p.high_watermark = high_watermark;
            changed
        });
        if changed {
            self.wake_waiters();
        }
    }
}

/// The parts of an image a reconcile depends on, kept to compare the next
/// image with (cheap: topics are shared `Arc`s).
struct Reconciled {
    topics: BTreeMap<String, Arc<gregor_metadata::TopicImage>>,
    brokers: BTreeMap<i32, gregor_metadata::BrokerImage>,
    broker_configs: BTreeMap<i32, BTreeMap<String, String>>,
    broker_default_configs: BTreeMap<String, String>,
}

/// The topics that differ between the last reconciled image and the next.
struct TopicDelta<'a> {
    /// Changed or removed topics, as they were.
    before: Vec<Arc<gregor_metadata::TopicImage>>,
    /// Changed or new topics, as they are now.
    after: Vec<&'a Arc<gregor_metadata::TopicImage>>,
}

impl Reconciled {
    fn of(image: &MetadataImage) -> Reconciled {
        Reconciled {
            topics: image.topics.clone(),
            brokers: image.brokers.clone(),
            broker_configs: image.broker_configs.clone(),
            broker_default_configs: image.broker_default_configs.clone(),
        }
    }

    /// `None` when every partition must be visited: what they all depend
    /// on (brokers, broker-level configs) changed.
    fn delta_to<'a>(&self, image: &'a MetadataImage) -> Option<TopicDelta<'a>> {
        if self.brokers != image.brokers
            || self.broker_configs != image.broker_configs
            || self.broker_default_configs != image.broker_default_configs
        {
            return None;
        }
        let same = |a: &Arc<gregor_metadata::TopicImage>, b: Option<&Arc<_>>| {
            b.is_some_and(|b| Arc::ptr_eq(a, b))
        };
        let before = self
            .topics
            .iter()
            .filter(|(name, t)| !same(t, image.topics.get(*name)))
            .map(|(_, t)| t.clone())
            .collect();
        let after = image
            .topics
            .iter()
            .filter(|(name, t)| !same(t, self.topics.get(*name)))
            .map(|(_, t)| t)
            .collect();
        Some(TopicDelta { before, after })
    }
}

impl TopicDelta<'_> {
    /// Whether a changed topic has (or had) a partition this broker
    /// follows: only then can the fetchers' plan change.
    fn touches_followed(&self, node_id: i32) -> bool {
        let followed = |t: &gregor_metadata::TopicImage| {
            t.partitions
                .values()
                .any(|p| p.leader != node_id && p.replicas.contains(&node_id))
        };
        self.before.iter().any(|t| followed(t)) || self.after.iter().any(|t| followed(t))
    }
}

/// Whether this broker leads `partition` as its leadership last said.
fn leadership_led_here(partition: &Partition, node_id: i32) -> bool {
    partition.leadership().leader == node_id
}

/// A partition's log for the steps of a clean that need it: locked per call.
struct LockedLog<'a>(&'a Partition);

impl gregor_log::cleaner::LogAccess for LockedLog<'_> {
    fn with_log<T>(
        &mut self,
        f: impl FnOnce(&mut PartitionLog) -> Result<T, LogError>,
    ) -> Result<T, LogError> {
        self.0.with_log(f)
    }
}
