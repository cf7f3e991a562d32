//! The share-partitions this broker leads, loaded lazily on first fetch
//! from the persister, each with a lock timer that releases expired
//! acquisitions. Every state change is written through the persister while
//! the partition is locked, so writes stay in order and an acknowledgement
//! is durable before it is answered.

use super::persister::Persister;
use super::settings::{self, OffsetReset};
use crate::clock::now_ms;
use crate::replica_manager::Partition;
use gregor_coordinator::share::partition::SharePartition;
use gregor_coordinator::share::{PersistedShareState, ShareGroupConfig, ShareKey};
use gregor_metadata::MetadataImage;
use gregor_protocol::error_codes;
use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::{Mutex, Notify};

/// One loaded share-partition.
pub struct LoadedPartition {
    pub key: ShareKey,
    /// The leader epoch it was loaded under; a new epoch reloads it.
    pub leader_epoch: i32,
    pub state: Mutex<SharePartition>,
    /// Wakes the lock timer when acquisitions change.
    timer: Notify,
    /// Long-polling fetches that found nothing to acquire here: woken when
    /// records become available again (released, lock expired), not only
    /// by appends.
    waiting_fetches: std::sync::Mutex<Vec<Weak<Notify>>>,
}

impl LoadedPartition {
    /// Tell the lock timer the earliest deadline may have moved.
    pub fn wake_timer(&self) {
        self.timer.notify_one();
    }

    /// Wake `fetch` when records here may be acquirable again.
    pub fn wait_for_release(&self, fetch: &Arc<Notify>) {
        self.waiters().push(Arc::downgrade(fetch));
    }

    /// Records were released: the waiting fetches try again.
    pub fn wake_fetches(&self) {
        for waiter in self.waiters().drain(..) {
            if let Some(fetch) = waiter.upgrade() {
                fetch.notify_one();
            }
        }
    }

    fn waiters(&self) -> std::sync::MutexGuard<'_, Vec<Weak<Notify>>> {
        // A poisoned list is still a list of waiters.
        self.waiting_fetches
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }
}

#[derive(Default)]
pub struct SharePartitions {
    loaded: std::sync::Mutex<HashMap<ShareKey, Arc<LoadedPartition>>>,
    /// Serializes loads so a partition is read from the persister once.
    loading: Mutex<()>,
}

impl SharePartitions {
    /// The loaded share-partition, if this broker has it under the
    /// partition's current leader epoch.
    pub fn get(&self, key: &ShareKey, leader_epoch: i32) -> Option<Arc<LoadedPartition>> {
        self.map()
            .get(key)
            .filter(|p| p.leader_epoch == leader_epoch)
            .cloned()
    }

    /// The share-partition, loading it from the persister the first time
    /// (or under a new leader epoch).
    pub async fn get_or_load(
        &self,
        persister: &Arc<Persister>,
        image: &MetadataImage,
        defaults: &ShareGroupConfig,
        key: &ShareKey,
        log: &Partition,
    ) -> Result<Arc<LoadedPartition>, i16> {
        let leader_epoch = log.leader_epoch();
        if let Some(p) = self.get(key, leader_epoch) {
            return Ok(p);
        }
        let _loading = self.loading.lock().await;
        if let Some(p) = self.get(key, leader_epoch) {
            return Ok(p);
        }
        let group = settings::for_group(image, &key.group_id, defaults);
        let stored = persister.read(key, leader_epoch).await?;
        let (log_start, _) = log
            .log_bounds()
            .map_err(|_| error_codes::KAFKA_STORAGE_ERROR)?;
        let mut state = match stored {
            Some(stored) if stored.start_offset >= 0 => {
                SharePartition::from_persisted(group.partition.clone(), &stored, leader_epoch)
            }
            stored => {
                let start = reset_offset(log, group.offset_reset, log_start)?;
                let state_epoch = stored.map_or(0, |s| s.state_epoch);
                SharePartition::new(group.partition.clone(), start, state_epoch, leader_epoch)
            }
        };
        state.advance_log_start(log_start);
        // The chosen start offset is stored at once, so a reload (or the
        // group's offsets as admins see them) agrees with it.
        let initial = PersistedShareState {
            batches: Vec::new(),
            ..state.persisted_state()
        };
        persister.write(key, initial).await?;
        let _ = state.take_changes();
        let loaded = Arc::new(LoadedPartition {
            key: key.clone(),
            leader_epoch,
            state: Mutex::new(state),
            timer: Notify::new(),
            waiting_fetches: Default::default(),
        });
        let mut map = self.map();
        // Share-partitions of deleted topics go (their lock timers end).
        map.retain(|k, _| image.topic_by_id(&k.topic_id).is_some());
        map.insert(key.clone(), loaded.clone());
        drop(map);
        tokio::spawn(lock_timer(Arc::downgrade(&loaded), persister.clone()));
        tracing::debug!(?key, leader_epoch, "share-partition loaded");
        Ok(loaded)
    }

    /// Every loaded share-partition of `group` in `topics`.
    pub fn of_group(&self, group_id: &str) -> Vec<Arc<LoadedPartition>> {
        self.map()
            .values()
            .filter(|p| p.key.group_id == group_id)
            .cloned()
            .collect()
    }

    /// Unloads every share-partition of `group_id` (Kafka's
    /// `ShareGroupListener.onGroupEmpty`): the next fetch reads the state
    /// again, so offsets an admin reset or deleted while the group was
    /// empty take effect. Their lock timers end with them.
    pub fn forget_group(&self, group_id: &str) {
        self.map().retain(|key, _| key.group_id != group_id);
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<ShareKey, Arc<LoadedPartition>>> {
        // A poisoned map is still consistent: every update is one insert.
        self.loaded.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Where a share-partition without a stored start begins
/// (`share.auto.offset.reset`).
fn reset_offset(log: &Partition, reset: OffsetReset, log_start: i64) -> Result<i64, i16> {
    match reset {
        OffsetReset::Latest => Ok(log.high_watermark()),
        OffsetReset::Earliest => Ok(log_start),
        OffsetReset::ByDuration(ms) => {
            let found = log
                .offset_for_timestamp(now_ms().saturating_sub(ms))
                .map_err(|_| error_codes::KAFKA_STORAGE_ERROR)?;
            Ok(found.map_or(log.high_watermark(), |(offset, _)| offset))
        }
    }
}

/// Writes what changed in `state` (if anything); a failed write is kept
/// for the next one and its error returned.
pub async fn persist(
    persister: &Persister,
    key: &ShareKey,
    state: &mut SharePartition,
) -> Result<(), i16> {
    let Some(changes) = state.take_changes() else {
        return Ok(());
    };
    match persister.write(key, changes.clone()).await {
        Ok(()) => Ok(()),
        Err(code) => {
            state.restore_changes(&changes);
            Err(code)
        }
    }
}

/// Releases acquisitions whose lock expired, then sleeps until the next
/// deadline (or until woken by a new acquisition). Ends when the partition
/// is dropped.
async fn lock_timer(partition: Weak<LoadedPartition>, persister: Arc<Persister>) {
    loop {
        let Some(loaded) = partition.upgrade() else {
            return;
        };
        let woken = loaded.timer.notified();
        tokio::pin!(woken);
        // Registered before reading the deadline so a wake-up in between
        // is not lost.
        woken.as_mut().enable();
        let deadline = loaded.state.lock().await.next_deadline();
        let wait = match deadline {
            Some(at) => Duration::from_millis(at.saturating_sub(now_ms()).max(0) as u64),
            // Nothing acquired: wait for an acquisition (checking now and
            // then whether the partition is still loaded).
            None => Duration::from_secs(30),
        };
        let _ = tokio::time::timeout(wait, woken).await;
        let mut state = loaded.state.lock().await;
        if state.tick(now_ms()) > 0 {
            if let Err(code) = persist(&persister, &loaded.key, &mut state).await {
                tracing::warn!(key = ?loaded.key, code, "share state write after lock timeout failed");
            }
            drop(state);
            loaded.wake_fetches();
        }
    }
}
