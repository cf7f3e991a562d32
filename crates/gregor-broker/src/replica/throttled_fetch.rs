//! The follower side of the replication throttle: which followed
//! partitions are still catching up (Kafka throttles only those) and
//! counting the bytes of throttled ones.

use crate::replica::fetcher::FollowedPartition;
use crate::replica::throttle::{ReplicationQuotas, Side};
use std::collections::HashSet;

/// Partitions whose last answer left them behind the leader's high
/// watermark (Kafka's `!isReplicaInSync` of a fetch state).
#[derive(Debug, Default)]
pub struct Lagging {
    behind: HashSet<(String, i32)>,
}

fn key(p: &FollowedPartition) -> (String, i32) {
    (p.partition.topic.clone(), p.partition.index)
}

impl Lagging {
    /// Kafka's `shouldFollowerThrottle`: behind, throttled, over the rate.
    pub fn throttles(&self, quotas: &ReplicationQuotas, p: &FollowedPartition) -> bool {
        self.behind.contains(&key(p))
            && quotas.should_throttle(
                Side::Follower,
                &p.partition.topic,
                p.partition.index,
                crate::clock::now_ms(),
            )
    }

    /// Whether any of `partitions` is held back by the throttle now.
    pub fn throttled_any(
        &self,
        quotas: &ReplicationQuotas,
        partitions: &[FollowedPartition],
    ) -> bool {
        partitions.iter().any(|p| self.throttles(quotas, p))
    }

    /// Notes a leader's answer for `p`, once applied: its record bytes
    /// count against the rate when the partition is throttled, and the
    /// partition lags while the leader's high watermark is beyond its log end.
    pub fn observe(
        &mut self,
        quotas: &ReplicationQuotas,
        p: &FollowedPartition,
        bytes: usize,
        high_watermark: i64,
    ) {
        let (topic, index) = (&p.partition.topic, p.partition.index);
        if quotas.is_throttled(Side::Follower, topic, index) {
            quotas.record(Side::Follower, bytes as u64, crate::clock::now_ms());
        }
        let log_end = p
            .partition
            .fetch_position()
            .map_or(0, |pos| pos.fetch_offset);
        if high_watermark > log_end {
            self.behind.insert(key(p));
        } else {
            self.behind.remove(&key(p));
        }
    }
}
