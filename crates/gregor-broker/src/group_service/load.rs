//! Loading one group shard: every record and marker of its
//! `__consumer_offsets` partition replayed into a fresh coordinator.

use crate::clock::now_ms;
use crate::internal_topics::{self, Replayed, OFFSETS_TOPIC};
use crate::replica_manager::ReplicaManager;
use gregor_coordinator::group::{GroupConfig, GroupCoordinator, Record};

/// A replayed shard.
pub struct Loaded {
    pub coordinator: GroupCoordinator,
    /// Records applied.
    pub records: usize,
    /// The last offset of the log when it was read (records there may not
    /// be committed yet: the first answers wait for them).
    pub last_offset: Option<i64>,
}

/// How long a load waits for the high watermark to reach the log end.
const HIGH_WATERMARK_CATCH_UP: std::time::Duration = std::time::Duration::from_secs(1);

/// Replays `__consumer_offsets-<partition>` from the local log. Changes
/// of committed offsets made by records at or past the high watermark
/// (read before the log: it only grows) are tracked as uncommitted, so
/// reads do not show them until they are committed — a write that failed
/// to replicate is still in this log, and a new leader may drop it.
pub fn replay_shard(
    replicas: &ReplicaManager,
    partition: i32,
    config: GroupConfig,
) -> anyhow::Result<Loaded> {
    let mut coordinator = GroupCoordinator::new(config);
    // Reads at the committed state (committed.rs): plain OffsetFetch,
    // DescribeGroups and ListGroups do not show writes past the high
    // watermark.
    coordinator.track_uncommitted();
    let now = now_ms();
    // A new leader learns its high watermark from its followers' next
    // fetches, so right after an election it can lag records the old leader
    // had already committed (and served). Waiting briefly for it to reach
    // the log end keeps reads from going back; if followers stay away the
    // load goes on and later records count as uncommitted.
    let deadline = std::time::Instant::now() + HIGH_WATERMARK_CATCH_UP;
    let (end, high_watermark) = loop {
        let (end, high_watermark) = match replicas.partition(OFFSETS_TOPIC, partition) {
            Some(local) => (local.log_end_offset()?, local.high_watermark()),
            None => (0, 0),
        };
        if high_watermark >= end || std::time::Instant::now() >= deadline {
            break (end, high_watermark);
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    let mut records = 0usize;
    for item in internal_topics::replay(replicas, OFFSETS_TOPIC, partition)? {
        let batch_end = match item {
            Replayed::Record {
                key,
                value,
                producer,
                batch_end,
            } => {
                match Record::decode(&key, value.as_deref()) {
                    Ok(record) => {
                        match producer {
                            Some(pid) => coordinator.replay_pending_offset(pid, record, now),
                            None => coordinator.replay(record, now),
                        }
                        records += 1;
                    }
                    // Records of kinds we do not model (Kafka 4.0's streams partition metadata) are skipped.
                    Err(err) => {
                        tracing::debug!(partition, %err, "skipping __consumer_offsets record")
                    }
                }
                batch_end
            }
            Replayed::Marker {
                producer_id,
                commit,
                batch_end,
            } => {
                // Every group of this partition is in the shard.
                coordinator.complete_txn_offsets(producer_id, commit, |_| true, now);
                batch_end
            }
        };
        if batch_end >= high_watermark {
            coordinator.place_changes(batch_end);
        } else {
            coordinator.discard_changes();
        }
    }
    tracing::info!(
        partition,
        end,
        high_watermark,
        tracked = !coordinator.uncommitted().is_empty(),
        "replayed consumer group shard"
    );
    Ok(Loaded {
        coordinator,
        records,
        last_offset: (end > 0).then_some(end - 1),
    })
}
