//! Replication throttles, as Kafka's `ReplicationQuotaManager`: a byte
//! rate per broker for leading (`leader.replication.throttled.rate`, what
//! this broker sends to followers) and for following
//! (`follower.replication.throttled.rate`, what it fetches), applied only
//! to the replicas the topics list in `leader.replication.throttled.replicas`
//! / `follower.replication.throttled.replicas` ("partition:broker,..." or
//! "*") for this broker, and only while those replicas are catching up.
//! `kafka-reassign-partitions --throttle` sets all four.

use gregor_metadata::topic_config;
use gregor_metadata::MetadataImage;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Mutex;

pub const LEADER_RATE: &str = "leader.replication.throttled.rate";
pub const FOLLOWER_RATE: &str = "follower.replication.throttled.rate";
pub const LEADER_REPLICAS: &str = "leader.replication.throttled.replicas";
pub const FOLLOWER_REPLICAS: &str = "follower.replication.throttled.replicas";

/// A topic's replicas throttled on `broker`, from its list's value.
fn partitions_on(name: &str, value: &str, broker: i32) -> Option<Throttled> {
    let list = topic_config::throttled_replicas(name, value).ok()?;
    Some(match list {
        None => Throttled::All,
        Some(set) => Throttled::Partitions(
            set.iter()
                .filter(|(_, b)| *b == broker)
                .map(|(p, _)| *p)
                .collect(),
        ),
    })
}

/// Checks a throttled rate: a non-negative long (bytes per second).
pub fn check_rate(name: &str, value: &str) -> Result<(), String> {
    match value.trim().parse::<i64>() {
        Ok(n) if n >= 0 => Ok(()),
        Ok(_) => Err(format!(
            "Invalid value {value} for configuration {name}: Value must be at least 0"
        )),
        Err(_) => Err(format!(
            "Invalid value {value} for configuration {name}: Not a number of type LONG"
        )),
    }
}

/// A topic's partitions throttled on this broker.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Throttled {
    All,
    Partitions(BTreeSet<i32>),
}

/// Bytes over the last `samples` windows of `window_ms`, measured as
/// Kafka's `Rate`: the elapsed time counts at least `samples - 1` full
/// windows, so a fresh window cannot burst far past the rate.
#[derive(Debug, Clone)]
pub struct RateWindow {
    samples: VecDeque<(i64, u64)>,
    count: usize,
    window_ms: i64,
}

impl RateWindow {
    pub fn new(count: usize, window_ms: i64) -> RateWindow {
        RateWindow {
            samples: VecDeque::new(),
            count: count.max(1),
            window_ms: window_ms.max(1),
        }
    }

    fn purge(&mut self, now_ms: i64) {
        let horizon = now_ms - self.count as i64 * self.window_ms;
        while self
            .samples
            .front()
            .is_some_and(|(start, _)| *start + self.window_ms <= horizon)
        {
            self.samples.pop_front();
        }
    }

    pub fn record(&mut self, bytes: u64, now_ms: i64) {
        self.purge(now_ms);
        match self.samples.back_mut() {
            Some((start, total)) if now_ms < *start + self.window_ms => *total += bytes,
            _ => self.samples.push_back((now_ms, bytes)),
        }
    }

    /// Bytes per second.
    pub fn rate(&mut self, now_ms: i64) -> f64 {
        self.purge(now_ms);
        let total: u64 = self.samples.iter().map(|(_, b)| b).sum();
        let oldest = self.samples.front().map_or(now_ms, |(start, _)| *start);
        let mut elapsed = now_ms - oldest;
        let full = elapsed / self.window_ms;
        let min_full = self.count as i64 - 1;
        if full < min_full {
            elapsed += (min_full - full) * self.window_ms;
        }
        total as f64 * 1000.0 / elapsed.max(1) as f64
    }
}

/// One direction's quota: the rate, the throttled partitions, the window.
#[derive(Debug)]
struct Quota {
    /// Bytes per second; `None`: unlimited (Kafka's Long.MAX_VALUE default).
    limit: Option<u64>,
    topics: BTreeMap<String, Throttled>,
    window: RateWindow,
}

impl Quota {
    fn is_throttled(&self, topic: &str, partition: i32) -> bool {
        match self.topics.get(topic) {
            Some(Throttled::All) => true,
            Some(Throttled::Partitions(set)) => set.contains(&partition),
            None => false,
        }
    }

    fn exceeded(&mut self, now_ms: i64) -> bool {
        match self.limit {
            Some(limit) => self.window.rate(now_ms) > limit as f64,
            None => false,
        }
    }
}

/// Which side of replication a quota is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Leader,
    Follower,
}

/// The quotas of a broker, with its `replication.quota.window.*` settings.
pub fn quotas_for(config: &crate::config::BrokerConfig) -> ReplicationQuotas {
    let samples = config
        .value("replication.quota.window.num")
        .trim()
        .parse::<usize>()
        .unwrap_or(11);
    let seconds = config
        .value("replication.quota.window.size.seconds")
        .trim()
        .parse::<i64>()
        .unwrap_or(1);
    ReplicationQuotas::new(config.node_id, samples, seconds.saturating_mul(1000))
}

/// This broker's two replication quotas, refreshed from each metadata
/// image (the configs are dynamic).
#[derive(Debug)]
pub struct ReplicationQuotas {
    node_id: i32,
    leader: Mutex<Quota>,
    follower: Mutex<Quota>,
}

impl ReplicationQuotas {
    pub fn new(node_id: i32, samples: usize, window_ms: i64) -> ReplicationQuotas {
        let quota = || {
            Mutex::new(Quota {
                limit: None,
                topics: BTreeMap::new(),
                window: RateWindow::new(samples, window_ms),
            })
        };
        ReplicationQuotas {
            node_id,
            leader: quota(),
            follower: quota(),
        }
    }

    fn quota(&self, side: Side) -> std::sync::MutexGuard<'_, Quota> {
        let quota = match side {
            Side::Leader => &self.leader,
            Side::Follower => &self.follower,
        };
        quota.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes the rates (this broker's, else the cluster default) and the
    /// topics' throttled replicas from the image. Values that do not parse
    /// were refused when set; should one get here, it throttles nothing.
    pub fn refresh(&self, image: &MetadataImage) {
        let broker = image.broker_configs.get(&self.node_id);
        for (side, rate, replicas) in [
            (Side::Leader, LEADER_RATE, LEADER_REPLICAS),
            (Side::Follower, FOLLOWER_RATE, FOLLOWER_REPLICAS),
        ] {
            let limit = broker
                .and_then(|c| c.get(rate))
                .or_else(|| image.broker_default_configs.get(rate))
                .and_then(|v| v.trim().parse::<u64>().ok());
            let topics = image
                .topics
                .values()
                .filter_map(|t| {
                    let value = t.configs.get(replicas)?;
                    let throttled = partitions_on(replicas, value, self.node_id)?;
                    Some((t.name.clone(), throttled))
                })
                .collect();
            let mut quota = self.quota(side);
            if quota.limit != limit || quota.topics != topics {
                tracing::info!(?side, ?limit, ?topics, "replication throttle changed");
            }
            quota.limit = limit;
            quota.topics = topics;
        }
    }

    pub fn is_throttled(&self, side: Side, topic: &str, partition: i32) -> bool {
        self.quota(side).is_throttled(topic, partition)
    }

    /// Kafka's `shouldLeaderThrottle` / `shouldFollowerThrottle` for a
    /// replica that is not in sync: throttled and over the rate.
    pub fn should_throttle(&self, side: Side, topic: &str, partition: i32, now_ms: i64) -> bool {
        let mut quota = self.quota(side);
        quota.is_throttled(topic, partition) && quota.exceeded(now_ms)
    }

    /// Counts bytes of a throttled replica against the rate.
    pub fn record(&self, side: Side, bytes: u64, now_ms: i64) {
        self.quota(side).window.record(bytes, now_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replica_lists() {
        assert_eq!(
            partitions_on(LEADER_REPLICAS, " * ", 1),
            Some(Throttled::All)
        );
        let on = |broker| partitions_on(LEADER_REPLICAS, "0:1, 1:2,0:3", broker);
        assert_eq!(on(3), Some(Throttled::Partitions([0].into())));
        assert_eq!(on(9), Some(Throttled::Partitions([].into())));
        assert!(partitions_on(LEADER_REPLICAS, "", 1).is_some());
        for bad in ["0", "a:1", "0:1,x", "-1:2", "*,0:1"] {
            let err = topic_config::throttled_replicas(FOLLOWER_REPLICAS, bad).unwrap_err();
            assert!(err.contains("must be the literal '*'"), "{bad}: {err}");
        }
    }

    #[test]
    fn rates() {
        assert!(check_rate(LEADER_RATE, "1048576").is_ok());
        assert!(check_rate(LEADER_RATE, "-1").is_err());
        assert!(check_rate(LEADER_RATE, "fast").is_err());
    }

    #[test]
    fn the_window_counts_at_least_samples_minus_one_windows() {
        let mut window = RateWindow::new(11, 1000);
        window.record(10_000, 0);
        // 10 KB over at least 10 s: 1 KB/s.
        assert_eq!(window.rate(0), 1000.0);
        window.record(10_000, 20_000);
        // The first sample aged out; the second counts over 10 s again.
        assert_eq!(window.rate(20_000), 1000.0);
    }

    #[test]
    fn a_quota_throttles_only_listed_partitions_over_the_rate() {
        let quotas = ReplicationQuotas::new(2, 2, 1000);
        {
            let mut q = quotas.quota(Side::Follower);
            q.limit = Some(1000);
            q.topics
                .insert("t".into(), Throttled::Partitions([0].into()));
        }
        assert!(!quotas.should_throttle(Side::Follower, "t", 0, 0));
        quotas.record(Side::Follower, 5000, 0);
        assert!(quotas.should_throttle(Side::Follower, "t", 0, 10));
        assert!(!quotas.should_throttle(Side::Follower, "t", 1, 10));
        assert!(!quotas.should_throttle(Side::Leader, "t", 0, 10));
        // Once the bytes age out of the window the rate is under again.
        assert!(!quotas.should_throttle(Side::Follower, "t", 0, 10_000));
    }
}
