//! The log cleaner threads: every `log.cleaner.backoff.ms` each picks the
//! dirtiest compacted partition no other cleaner is working on and cleans
//! it on the blocking pool, off the request threads (Kafka's `LogCleaner`
//! with `log.cleaner.threads` `CleanerThread`s). A clean locks the log only
//! to start and to swap segments in; `log.cleaner.io.max.bytes.per.second`
//! paces it from inside, shared by all threads as Kafka's `Throttler`.

use crate::cleaner_throttle::Throttler;
use crate::clock::now_ms;
use crate::config::BrokerConfig;
use crate::replica_manager::ReplicaManager;
use gregor_log::cleaner::plan;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The broker's `log.cleaner.*` settings (read at startup).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CleanerSettings {
    pub enable: bool,
    pub threads: usize,
    pub backoff_ms: u64,
    /// Shared by all threads, as Kafka divides it among them.
    pub dedupe_buffer_bytes: usize,
    pub io_max_bytes_per_second: f64,
}

impl CleanerSettings {
    /// Kafka's defaults where a value is unset or unreadable.
    pub fn from_config(config: &BrokerConfig) -> CleanerSettings {
        let value = |key: &str| config.value(key).trim().to_string();
        CleanerSettings {
            enable: value("log.cleaner.enable") != "false",
            threads: value("log.cleaner.threads")
                .parse()
                .unwrap_or(1usize)
                .max(1),
            backoff_ms: value("log.cleaner.backoff.ms").parse().unwrap_or(15_000),
            dedupe_buffer_bytes: value("log.cleaner.dedupe.buffer.size")
                .parse()
                .unwrap_or(128 * 1024 * 1024),
            io_max_bytes_per_second: value("log.cleaner.io.max.bytes.per.second")
                .parse::<f64>()
                .ok()
                .filter(|r| *r > 0.0)
                .unwrap_or(f64::MAX),
        }
    }
}

type PartitionKey = (String, i32);

/// Starts `log.cleaner.threads` cleaner tasks (none when disabled).
pub fn spawn(
    replicas: Arc<ReplicaManager>,
    settings: CleanerSettings,
    shutdown: watch::Receiver<bool>,
) -> Vec<JoinHandle<()>> {
    if !settings.enable {
        return Vec::new();
    }
    let in_progress: Arc<Mutex<HashSet<PartitionKey>>> = Arc::default();
    let throttler = Arc::new(Throttler::new(settings.io_max_bytes_per_second));
    (0..settings.threads)
        .map(|_| {
            tokio::spawn(cleaner_loop(
                replicas.clone(),
                settings,
                in_progress.clone(),
                throttler.clone(),
                shutdown.clone(),
            ))
        })
        .collect()
}

async fn cleaner_loop(
    replicas: Arc<ReplicaManager>,
    settings: CleanerSettings,
    in_progress: Arc<Mutex<HashSet<PartitionKey>>>,
    throttler: Arc<Throttler>,
    mut shutdown: watch::Receiver<bool>,
) {
    let buffer = settings.dedupe_buffer_bytes / settings.threads;
    loop {
        let (replicas2, busy) = (replicas.clone(), in_progress.clone());
        let (throttler2, stop) = (throttler.clone(), shutdown.clone());
        let bytes = tokio::task::spawn_blocking(move || {
            let mut io = |bytes: u64| throttler2.maybe_throttle(bytes, &|| *stop.borrow());
            clean_dirtiest(&replicas2, &busy, buffer, &mut io)
        })
        .await
        .unwrap_or(None);
        // As Kafka's cleaner threads: straight on after a clean (it paced
        // itself), `log.cleaner.backoff.ms` when there was nothing to do.
        let pause = match bytes {
            Some(_) => Duration::ZERO,
            None => Duration::from_millis(settings.backoff_ms),
        };
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tokio::time::sleep(pause) => {}
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

/// Cleans the dirtiest eligible partition; the bytes read and written, or
/// `None` when nothing was cleaned.
fn clean_dirtiest(
    replicas: &ReplicaManager,
    in_progress: &Mutex<HashSet<PartitionKey>>,
    dedupe_buffer_bytes: usize,
    io: &mut dyn FnMut(u64),
) -> Option<u64> {
    let now = now_ms();
    let partitions = replicas.all_partitions();
    let mut candidates = Vec::new();
    {
        let busy = in_progress.lock().unwrap_or_else(|p| p.into_inner());
        for (i, partition) in partitions.iter().enumerate() {
            if busy.contains(&(partition.topic.clone(), partition.index)) {
                continue;
            }
            match partition.compaction_dirtiness(now) {
                Ok(Some((dirt, ratio))) => candidates.push((i, dirt, ratio)),
                Ok(None) => {}
                Err(err) => {
                    tracing::debug!(topic = %partition.topic, partition = partition.index, %err, "cannot assess compaction")
                }
            }
        }
    }
    let chosen = partitions.get(plan::choose(&candidates)?)?;
    let key = (chosen.topic.clone(), chosen.index);
    if !in_progress
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(key.clone())
    {
        return None;
    }
    let started = Instant::now();
    let result = chosen.clean(now, dedupe_buffer_bytes, io);
    in_progress
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&key);
    match result {
        Ok(Some(stats)) => {
            replicas
                .clean_history
                .record(&chosen.topic, chosen.index, now_ms(), &stats);
            tracing::info!(
                topic = %chosen.topic,
                partition = chosen.index,
                from = stats.first_dirty_offset,
                to = stats.end_offset,
                bytes_read = stats.bytes_read,
                bytes_written = stats.bytes_written,
                records_read = stats.records_read,
                records_kept = stats.records_kept,
                segments = stats.segments_after,
                locked_ms = stats.locked_us / 1000,
                ms = started.elapsed().as_millis() as u64,
                "cleaned log"
            );
            Some(stats.bytes_read + stats.bytes_written)
        }
        Ok(None) => None,
        Err(err) => {
            tracing::warn!(topic = %chosen.topic, partition = chosen.index, %err, "log clean failed");
            None
        }
    }
}
