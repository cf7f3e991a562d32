//! The share coordinator's broker edge (Kafka's `ShareCoordinatorService`
//! over the coordinator runtime): one shard per `__share_group_state`
//! partition this broker leads, loaded (its partition replayed) when the
//! broker becomes the partition's leader and dropped when it stops being
//! it.
//!
//! An operation runs the pure shard (`gregor_coordinator::share::
//! coordinator`) under the lock; the records it makes are appended to the
//! shard's partition at the shard's leader epoch and applied, and the
//! caller is answered once they are committed (the high watermark passed
//! them), waited for outside the lock. A write that fails to commit reloads
//! the shard from its log, so memory never stays ahead of it. An answer
//! that wrote nothing still waits for the records appended before it, as
//! Kafka's runtime defers such answers.
//!
//! The topic is created on first use as Kafka creates it: `cleanup.policy=
//! delete` with `retention.ms=-1` (records are never compacted away, since a
//! ShareUpdate is only meaningful after its ShareSnapshot).

mod load;

use crate::clock::now_ms;
use crate::controller::Controller;
use crate::internal_topics::{self, PendingCommit};
use crate::replica_manager::ReplicaManager;
use gregor_coordinator::runtime::{ShardChange, Shards};
use gregor_coordinator::share::coordinator::{
    coordinator_key, ReadAnswer, ShareCoordinatorShard, ShareRecord, ShareStateError,
    SummaryAnswer, TopicLookup, WriteRequest,
};
use gregor_coordinator::share::ShareKey;
use gregor_metadata::controller::{ControllerError, NewTopic};
use gregor_metadata::MetadataImage;
use gregor_protocol::error_codes;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use uuid::Uuid;

/// Where share-partition delivery state is kept.
pub const SHARE_STATE_TOPIC: &str = "__share_group_state";

/// The `share.coordinator.*` settings the service needs.
#[derive(Clone, Debug)]
pub struct ShareStateSettings {
    pub partitions: i32,
    pub replication_factor: i16,
    pub min_isr: i32,
    pub segment_bytes: i32,
    pub updates_per_snapshot: i32,
    pub write_timeout: Duration,
    pub node_id: i32,
}

/// A loaded shard and the last offset appended for it (answers that
/// write nothing wait for it to be committed).
struct Loaded {
    shard: ShareCoordinatorShard,
    last_appended: Option<i64>,
}

struct Core {
    shards: Mutex<Shards<Loaded>>,
    settings: ShareStateSettings,
    controller: Arc<Controller>,
    replicas: Arc<ReplicaManager>,
    runtime: tokio::runtime::Handle,
    /// The partitions led here with their leader epochs, from the metadata
    /// thread to the task that loads and unloads shards.
    led: tokio::sync::watch::Sender<BTreeMap<i32, i32>>,
}

pub struct ShareStateService {
    core: Arc<Core>,
}

fn error(code: i16) -> ShareStateError {
    ShareStateError {
        code,
        message: None,
    }
}

impl ShareStateService {
    /// Builds the service; must be called on the runtime loads run on.
    pub fn new(
        settings: ShareStateSettings,
        controller: Arc<Controller>,
        replicas: Arc<ReplicaManager>,
    ) -> anyhow::Result<ShareStateService> {
        let runtime = tokio::runtime::Handle::try_current()?;
        let service = ShareStateService {
            core: Arc::new(Core {
                shards: Mutex::new(Shards::new()),
                settings,
                controller,
                replicas,
                runtime: runtime.clone(),
                led: tokio::sync::watch::channel(BTreeMap::new()).0,
            }),
        };
        let weak = Arc::downgrade(&service.core);
        let mut led = service.core.led.subscribe();
        runtime.spawn(async move {
            while led.changed().await.is_ok() {
                let Some(core) = weak.upgrade() else { return };
                let latest = led.borrow_and_update().clone();
                core.apply_leadership(&latest);
            }
        });
        Ok(service)
    }

    /// Loads and unloads shards to match the `__share_group_state`
    /// partitions this broker leads in `image` (soon after, on the
    /// service's runtime: this runs on the metadata thread).
    pub fn on_image(&self, image: &MetadataImage) {
        let led = internal_topics::led_partitions(
            image,
            &self.core.replicas,
            SHARE_STATE_TOPIC,
            self.core.settings.node_id,
        );
        self.core.led.send_if_modified(|current| {
            let changed = *current != led;
            *current = led;
            changed
        });
    }

    /// The `__share_group_state` partition of a share-partition key
    /// (Kafka's `ShareCoordinatorService.partitionFor`).
    pub fn partition_for(&self, key: &ShareKey) -> i32 {
        let count = self
            .core
            .controller
            .image()
            .topic(SHARE_STATE_TOPIC)
            .map_or(self.core.settings.partitions, |t| t.partitions.len() as i32);
        internal_topics::partition_for(&coordinator_key(key), count)
    }

    /// The broker leading the key's state partition, if the topic exists
    /// and the partition has a leader.
    pub fn coordinator_of(image: &MetadataImage, key: &ShareKey) -> Option<i32> {
        let topic = image.topic(SHARE_STATE_TOPIC)?;
        let partition =
            internal_topics::partition_for(&coordinator_key(key), topic.partitions.len() as i32);
        let leader = topic.partitions.get(&partition)?.leader;
        (leader >= 0).then_some(leader)
    }

    /// Creates `__share_group_state` unless it exists, with Kafka's
    /// topic configs (FindCoordinator key type SHARE, or first use).
    pub fn ensure_topic(&self) -> Result<(), i16> {
        let core = &self.core;
        if core.controller.image().topic(SHARE_STATE_TOPIC).is_some() {
            return Ok(());
        }
        let s = &core.settings;
        let topic = NewTopic {
            name: SHARE_STATE_TOPIC.to_string(),
            num_partitions: s.partitions,
            replication_factor: s.replication_factor,
            assignments: Vec::new(),
            configs: vec![
                ("cleanup.policy".to_string(), "delete".to_string()),
                ("compression.type".to_string(), "producer".to_string()),
                ("segment.bytes".to_string(), s.segment_bytes.to_string()),
                ("min.insync.replicas".to_string(), s.min_isr.to_string()),
                ("retention.ms".to_string(), "-1".to_string()),
            ],
        };
        match core.controller.create_topic(&topic, false) {
            Ok(_) => Ok(()),
            Err(ControllerError { code, .. }) if code == error_codes::TOPIC_ALREADY_EXISTS => {
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e.message, "cannot create {SHARE_STATE_TOPIC}");
                Err(error_codes::COORDINATOR_NOT_AVAILABLE)
            }
        }
    }

    pub async fn initialize(
        &self,
        key: &ShareKey,
        state_epoch: i32,
        start_offset: i64,
    ) -> Result<(), ShareStateError> {
        self.run(key, |shard, topics, now| {
            shard.initialize(key, state_epoch, start_offset, topics, now)
        })
        .await
    }

    pub async fn read(
        &self,
        key: &ShareKey,
        leader_epoch: i32,
    ) -> Result<ReadAnswer, ShareStateError> {
        self.run(key, |shard, topics, now| {
            shard.read(key, leader_epoch, topics, now)
        })
        .await
    }

    pub async fn write(
        &self,
        key: &ShareKey,
        request: &WriteRequest,
    ) -> Result<(), ShareStateError> {
        self.run(key, |shard, topics, now| {
            shard.write(key, request, topics, now)
        })
        .await
    }

    pub async fn read_summary(&self, key: &ShareKey) -> Result<SummaryAnswer, ShareStateError> {
        self.run(key, |shard, topics, _| {
            shard.read_summary(key, topics).map(|a| (a, Vec::new()))
        })
        .await
    }

    pub async fn delete(&self, key: &ShareKey) -> Result<(), ShareStateError> {
        self.run(key, |shard, topics, _| shard.delete(key, topics))
            .await
    }

    /// Runs one operation on the key's shard: its records appended and
    /// applied under the lock, the answer given once they are committed.
    async fn run<T>(
        &self,
        key: &ShareKey,
        op: impl FnOnce(
            &ShareCoordinatorShard,
            &dyn TopicLookup,
            i64,
        ) -> Result<(T, Vec<ShareRecord>), ShareStateError>,
    ) -> Result<T, ShareStateError> {
        let core = &self.core;
        let partition = self.partition_for(key);
        let image = core.controller.image();
        let topics = |id: &Uuid| image.topic_by_id(id).map(|t| t.partitions.len() as i32);
        let (answer, leader_epoch, pending) = {
            let mut shards = core.lock();
            let leader_epoch = shards.leader_epoch(partition);
            let loaded = shards.get_mut(partition).map_err(error)?;
            let (answer, records) = op(&loaded.shard, &topics, now_ms())?;
            let pending = if records.is_empty() {
                loaded.last_appended.and_then(|last| {
                    internal_topics::pending_at(&core.replicas, SHARE_STATE_TOPIC, partition, last)
                })
            } else {
                let mut encoded = Vec::with_capacity(records.len());
                for record in &records {
                    encoded.push(record.encode().map_err(|err| {
                        tracing::error!(%err, "cannot encode share state record");
                        error(error_codes::UNKNOWN_SERVER_ERROR)
                    })?);
                }
                let pending = internal_topics::append_local(
                    &core.replicas,
                    SHARE_STATE_TOPIC,
                    partition,
                    leader_epoch,
                    &encoded,
                    None,
                )
                .map_err(error)?;
                for record in &records {
                    loaded.shard.replay(record);
                }
                loaded.last_appended = Some(pending.last_offset());
                Some(pending)
            };
            (answer, leader_epoch, pending)
        };
        if let Some(pending) = pending {
            core.committed(partition, leader_epoch, pending).await?;
        }
        Ok(answer)
    }
}

impl Core {
    fn lock(&self) -> MutexGuard<'_, Shards<Loaded>> {
        self.shards.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Outside the lock: waits for appended records to be committed; if
    /// they are not, the shard is reloaded from its log (memory is ahead).
    async fn committed(
        self: &Arc<Self>,
        partition: i32,
        leader_epoch: Option<i32>,
        pending: PendingCommit,
    ) -> Result<(), ShareStateError> {
        match pending.wait(self.settings.write_timeout).await {
            Ok(_) => Ok(()),
            Err(code) => {
                tracing::warn!(
                    partition,
                    code,
                    "share state record not committed; reloading the shard"
                );
                if let Some(epoch) = leader_epoch {
                    self.reload(partition, epoch);
                }
                Err(error(code))
            }
        }
    }

    fn apply_leadership(self: &Arc<Self>, led: &BTreeMap<i32, i32>) {
        let mut shards = self.lock();
        for change in shards.plan(led) {
            match change {
                ShardChange::Unload { partition } => {
                    if shards.unload(partition).is_some() {
                        tracing::info!(partition, "unloading share coordinator shard");
                    }
                }
                ShardChange::Load {
                    partition,
                    leader_epoch,
                } => {
                    shards.begin_load(partition, leader_epoch);
                    tracing::info!(partition, leader_epoch, "loading share coordinator shard");
                    self.spawn_load(partition, leader_epoch);
                }
            }
        }
    }

    fn reload(self: &Arc<Self>, partition: i32, leader_epoch: i32) {
        let mut shards = self.lock();
        if shards.leader_epoch(partition) == Some(leader_epoch) {
            shards.begin_load(partition, leader_epoch);
            self.spawn_load(partition, leader_epoch);
        }
    }

    /// Replays the partition on a blocking task, then activates the shard
    /// unless leadership moved on meanwhile.
    fn spawn_load(self: &Arc<Self>, partition: i32, leader_epoch: i32) {
        let core = self.clone();
        self.runtime.spawn_blocking(move || {
            let loaded = load::replay_shard(
                &core.replicas,
                partition,
                core.settings.updates_per_snapshot,
            );
            let mut shards = core.lock();
            if shards.leader_epoch(partition) != Some(leader_epoch) {
                return;
            }
            match loaded {
                Ok((shard, records)) => {
                    let state = Loaded {
                        shard,
                        last_appended: None,
                    };
                    if shards.finish_load(partition, leader_epoch, state) {
                        tracing::info!(
                            partition,
                            leader_epoch,
                            records,
                            "loaded share coordinator shard"
                        );
                    }
                }
                Err(err) => {
                    // Left loading: the next leadership change loads it again.
                    tracing::error!(partition, %err, "cannot load share coordinator shard");
                }
            }
        });
    }
}
