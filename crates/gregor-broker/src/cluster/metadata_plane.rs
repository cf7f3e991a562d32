//! The node's side of the metadata quorum: the KRaft runtime and the
//! metadata loader, on a thread of their own.
//!
//! The loader applies committed entries (one metadata change each) to the
//! image in log order, publishes the new image and brings the local
//! partitions in line with it. A snapshot event (a restart, or a follower
//! that fetched the leader's snapshot) replaces the image whole. Every
//! `metadata.log.max.record.bytes.between.snapshots` applied bytes (or
//! `metadata.log.max.snapshot.interval.ms` after the last one, when there
//! is anything new) the loader hands the quorum a snapshot of its image,
//! so restarts and lagging nodes do not replay the whole log.
//! Everything here runs on the metadata thread,
//! so a request handler may block on "committed and applied" without
//! starving the quorum, even on a single-threaded runtime.

use crate::replica_manager::ReplicaManager;
use bytes::Bytes;
use gregor_metadata::{decode_batch, MetadataImage};
use gregor_raft::runtime::{
    self, AppendError, CommittedEvent, QuorumHandle, QuorumStatus, RuntimeConfig,
};
use std::future::Future;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// When the loader snapshots its image, as Kafka's settings of these names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotPolicy {
    /// `metadata.log.max.record.bytes.between.snapshots` (20 MiB).
    pub max_bytes_between: u64,
    /// `metadata.log.max.snapshot.interval.ms` (1 hour); 0 turns the
    /// time-based trigger off.
    pub max_interval_ms: u64,
}

impl Default for SnapshotPolicy {
    fn default() -> Self {
        SnapshotPolicy {
            max_bytes_between: 20 * 1024 * 1024,
            max_interval_ms: 60 * 60 * 1000,
        }
    }
}

/// The loader's start-up replay: the image built so far and the offset it
/// stands for, held back until the loader reaches the high watermark.
#[derive(Default)]
struct CatchUp {
    pending: Option<(MetadataImage, u64)>,
    /// Caught up once: from then on every image is published.
    done: bool,
}

impl CatchUp {
    /// The held-back image, once `behind` says its offset is no longer
    /// behind the log: the replay is over.
    fn take_if_caught_up(&mut self, behind: impl Fn(u64) -> bool) -> Option<(MetadataImage, u64)> {
        match &self.pending {
            Some((_, applied)) if !behind(*applied) => {
                self.done = true;
                self.pending.take()
            }
            _ => None,
        }
    }
}

/// Bytes applied since the last snapshot and when that was.
struct SnapshotTrigger {
    policy: SnapshotPolicy,
    bytes: u64,
    since: Instant,
}

impl SnapshotTrigger {
    fn due(&self) -> bool {
        self.bytes >= self.policy.max_bytes_between
            || (self.bytes > 0
                && self.policy.max_interval_ms > 0
                && self.since.elapsed() >= Duration::from_millis(self.policy.max_interval_ms))
    }

    fn reset(&mut self) {
        self.bytes = 0;
        self.since = Instant::now();
    }
}

/// Why a change could not be committed.
#[derive(Debug)]
pub enum CommitError {
    /// This node does not lead the quorum (the leader, if known).
    NotLeader(Option<i32>),
    /// The quorum did not commit it in time (it may still commit later).
    TimedOut,
    /// The metadata thread is gone (shutting down) or the log failed.
    Unavailable(String),
}

/// Called with each image once the local replicas follow it (the
/// coordinators load and unload their shards from it).
pub type ImageHook = Arc<dyn Fn(&MetadataImage) + Send + Sync>;

pub struct MetadataPlane {
    node_id: i32,
    /// Held while the hook runs, so images reach it in order.
    hook: Mutex<Option<ImageHook>>,
    quorum: QuorumHandle,
    /// The metadata thread's runtime, where quorum calls run.
    runtime: tokio::runtime::Handle,
    image: RwLock<Arc<MetadataImage>>,
    /// The offset just past the last applied entry.
    applied: Mutex<u64>,
    applied_changed: Condvar,
    /// Kept so the metadata thread stops when the plane is dropped.
    stop: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl MetadataPlane {
    /// Starts the metadata thread, the quorum runtime and the loader.
    pub fn start(
        config: RuntimeConfig,
        snapshots: SnapshotPolicy,
        replicas: Arc<ReplicaManager>,
    ) -> anyhow::Result<Arc<MetadataPlane>> {
        let node_id = config.node_id;
        let (ready_tx, ready_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("gregor-metadata".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(err) => {
                        let _ = ready_tx.send(Err(anyhow::anyhow!(err)));
                        return;
                    }
                };
                rt.block_on(async move {
                    match runtime::start(config).await {
                        Ok(quorum) => {
                            let handle = tokio::runtime::Handle::current();
                            let _ = ready_tx.send(Ok((quorum, handle)));
                            let _ = stop_rx.await;
                        }
                        Err(err) => {
                            let _ = ready_tx.send(Err(anyhow::anyhow!(err)));
                        }
                    }
                });
            })?;
        let (quorum, runtime) = ready_rx
            .recv()
            .map_err(|_| anyhow::anyhow!("the metadata thread died at start-up"))??;
        let plane = Arc::new(MetadataPlane {
            node_id,
            hook: Mutex::new(None),
            quorum,
            runtime,
            image: RwLock::new(Arc::new(MetadataImage::default())),
            applied: Mutex::new(0),
            applied_changed: Condvar::new(),
            stop: Mutex::new(Some(stop_tx)),
            thread: Mutex::new(Some(thread)),
        });
        let loader = plane.clone();
        plane
            .runtime
            .spawn(async move { loader.load(replicas, snapshots).await });
        Ok(plane)
    }

    /// Applies committed entries for as long as the quorum runs.
    ///
    /// Until it has caught up with the high watermark (a restart replaying
    /// its log), images are built but not published, as Kafka's
    /// MetadataLoader does: published one by one, the replayed history would
    /// make this broker lead again at epochs long gone, rewriting every
    /// partition's leader-epoch checkpoint (and cutting its history) once per
    /// old leadership. The replicas see the caught-up image once.
    async fn load(self: Arc<Self>, replicas: Arc<ReplicaManager>, policy: SnapshotPolicy) {
        let mut trigger = SnapshotTrigger {
            policy,
            bytes: 0,
            since: Instant::now(),
        };
        let mut catch_up = CatchUp::default();
        let mut committed = self.quorum.subscribe_committed(0);
        let mut status = self.quorum.status();
        loop {
            let event = if catch_up.pending.is_some() {
                // Held back while replaying; the quorum may then learn (a
                // leader, the high watermark) that nothing more is to come.
                tokio::select! {
                    event = committed.next_event() => event,
                    changed = status.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        if let Some((image, applied)) = catch_up.take_if_caught_up(|a| self.behind(a)) {
                            self.publish(&replicas, image);
                            self.set_applied(applied);
                        }
                        continue;
                    }
                }
            } else {
                committed.next_event().await
            };
            let Some(event) = event else {
                return;
            };
            let entry = match event {
                CommittedEvent::Entry(entry) => entry,
                CommittedEvent::Reached(offset) => {
                    match catch_up.pending.take() {
                        Some((image, _)) if !self.behind(offset) => {
                            catch_up.done = true;
                            self.publish(&replicas, image);
                        }
                        Some(pending) => {
                            catch_up.pending = Some(pending);
                            continue;
                        }
                        None => {}
                    }
                    self.set_applied(offset);
                    continue;
                }
                CommittedEvent::Snapshot { end_offset, data } => {
                    let image = match MetadataImage::decode_snapshot(&data) {
                        Ok(image) => image,
                        Err(err) => {
                            // The image it stands for cannot be rebuilt any
                            // other way: going on would serve a wrong one.
                            tracing::error!(end_offset, %err, "undecodable metadata snapshot: the metadata loader stops");
                            return;
                        }
                    };
                    tracing::info!(end_offset, "loaded the metadata snapshot");
                    trigger.reset();
                    if !catch_up.done && self.behind(end_offset) {
                        catch_up.pending = Some((image, end_offset));
                        continue;
                    }
                    catch_up.done = true;
                    self.publish(&replicas, image);
                    self.set_applied(end_offset);
                    continue;
                }
            };
            let records = match decode_batch(&entry.data) {
                Ok(records) => records,
                Err(err) => {
                    // Every node must apply a committed entry the same way:
                    // skipping it would fork this node's image, so stop.
                    tracing::error!(offset = entry.offset, %err, "undecodable metadata entry: the metadata loader stops");
                    return;
                }
            };
            let mut next = match catch_up.pending.take() {
                Some((image, _)) => image,
                None => (*self.image()).clone(),
            };
            next.apply_entry(entry.offset as i64, &records);
            let applied = entry.offset + 1;
            trigger.bytes += entry.data.len() as u64;
            if !catch_up.done && self.behind(applied) {
                if trigger.due() {
                    self.snapshot(applied, &next).await;
                    trigger.reset();
                }
                catch_up.pending = Some((next, applied));
                continue;
            }
            catch_up.done = true;
            let next = self.publish(&replicas, next);
            self.set_applied(applied);
            if trigger.due() {
                self.snapshot(applied, &next).await;
                trigger.reset();
            }
        }
    }

    /// Whether the committed log reaches past `applied`: the loader is
    /// still replaying (or does not know yet how far it must go).
    fn behind(&self, applied: u64) -> bool {
        let status = self.quorum.status().borrow().clone();
        status.leader.is_none() || applied < status.high_watermark
    }

    /// Makes `image` the current one and brings the local logs in line.
    fn publish(&self, replicas: &ReplicaManager, image: MetadataImage) -> Arc<MetadataImage> {
        let image = Arc::new(image);
        *self.image.write().unwrap_or_else(|p| p.into_inner()) = image.clone();
        if let Err(err) = replicas.reconcile(&image) {
            tracing::error!(%err, "could not apply a metadata change to the local logs");
        }
        let hook = self.hook.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(hook) = hook.as_ref() {
            hook(&image);
        }
        drop(hook);
        image
    }

    /// Sets the hook run after each image is applied to the local
    /// replicas, and runs it at once on the current image (which may have
    /// been applied before the hook existed).
    pub fn set_image_hook(&self, hook: ImageHook) {
        let mut slot = self.hook.lock().unwrap_or_else(|p| p.into_inner());
        hook(&self.image());
        *slot = Some(hook);
    }

    /// Hands the quorum the image as of `end_offset` (every entry below it
    /// applied) as a snapshot.
    async fn snapshot(&self, end_offset: u64, image: &MetadataImage) {
        match self
            .quorum
            .snapshot(end_offset, image.encode_snapshot())
            .await
        {
            Ok(()) => tracing::info!(end_offset, "metadata snapshot taken"),
            // A newer snapshot fetched from the leader already covers it.
            Err(err) => tracing::debug!(end_offset, %err, "no metadata snapshot taken"),
        }
    }

    fn set_applied(&self, offset: u64) {
        let mut applied = self.applied.lock().unwrap_or_else(|p| p.into_inner());
        if offset > *applied {
            *applied = offset;
            self.applied_changed.notify_all();
        }
    }

    pub fn node_id(&self) -> i32 {
        self.node_id
    }

    pub fn image(&self) -> Arc<MetadataImage> {
        self.image.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The offset just past the last applied entry.
    pub fn applied(&self) -> u64 {
        *self.applied.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn status(&self) -> QuorumStatus {
        self.quorum.status().borrow().clone()
    }

    pub fn watch_status(&self) -> watch::Receiver<QuorumStatus> {
        self.quorum.status()
    }

    /// The metadata thread's runtime.
    pub fn runtime(&self) -> &tokio::runtime::Handle {
        &self.runtime
    }

    pub fn quorum(&self) -> &QuorumHandle {
        &self.quorum
    }

    /// Runs `future` on the metadata thread and waits for its result from
    /// any thread (async contexts included).
    pub fn block_on<T: Send + 'static>(
        &self,
        future: impl Future<Output = T> + Send + 'static,
        timeout: Duration,
    ) -> Option<T> {
        let (tx, rx) = mpsc::channel();
        self.runtime.spawn(async move {
            let _ = tx.send(future.await);
        });
        rx.recv_timeout(timeout).ok()
    }

    /// Waits until every entry below `offset` is applied; false on timeout.
    pub fn wait_applied(&self, offset: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut applied = self.applied.lock().unwrap_or_else(|p| p.into_inner());
        while *applied < offset {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            applied = self
                .applied_changed
                .wait_timeout(applied, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        true
    }

    /// Commits one change (if this node leads the quorum) and waits until
    /// it is applied here; returns its offset.
    pub fn commit(&self, change: Bytes, timeout: Duration) -> Result<u64, CommitError> {
        let quorum = self.quorum.clone();
        let appended = self
            .block_on(async move { quorum.append(change).await }, timeout)
            .ok_or(CommitError::TimedOut)?;
        let offset = match appended {
            Ok(offset) => offset,
            Err(AppendError::NotLeader { leader }) => return Err(CommitError::NotLeader(leader)),
            Err(AppendError::Stopped) => {
                return Err(CommitError::Unavailable(
                    "the metadata quorum stopped".into(),
                ))
            }
        };
        if !self.wait_applied(offset + 1, timeout) {
            return Err(CommitError::TimedOut);
        }
        Ok(offset)
    }

    /// Resigns quorum leadership (if held) and stops the metadata thread.
    pub fn shutdown(&self) {
        let quorum = self.quorum.clone();
        let _ = self.block_on(
            async move {
                quorum.resign().await;
                quorum.shutdown().await;
            },
            Duration::from_secs(5),
        );
        if let Some(stop) = self.stop.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = thread.join();
        }
    }
}
