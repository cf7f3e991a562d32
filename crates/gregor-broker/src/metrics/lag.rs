//! Consumer lag of the groups whose coordinator shards this broker holds,
//! as plain data for `/metrics` and the console: per committed partition,
//! the offset lag (high watermark − committed offset, as kafka_exporter
//! computes it from the newest offset) and the lag in seconds (the newest
//! record's timestamp − the timestamp of the record at the committed
//! offset, read from the log; 0 when caught up).
//!
//! The end offset comes from this broker's replica of the partition: its
//! leader's high watermark, or a follower's (which may trail the leader's
//! by a fetch). Partitions with no replica here have no lag here; for
//! `/metrics`, [`super::remote_lag`] then asks their leaders.

use crate::group_service::GroupService;
use crate::replica_manager::ReplicaManager;
use std::collections::HashMap;

/// At most this many timestamp reads (each decodes one batch) per call:
/// past it the remaining partitions have no lag in seconds.
pub const MAX_TIMESTAMP_READS: usize = 10_000;

#[derive(Debug, Clone, PartialEq)]
pub struct PartitionLag {
    pub topic: String,
    pub partition: i32,
    pub committed_offset: i64,
    /// The partition's high watermark; `None` without a replica here.
    pub end_offset: Option<i64>,
    /// `end_offset − committed_offset`, never below 0.
    pub lag: Option<i64>,
    /// How far behind the committed offset is in time; `None` when
    /// unknown (no replica here, records gone, or the read budget spent).
    pub lag_seconds: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GroupLag {
    pub group: String,
    pub members: usize,
    pub partitions: Vec<PartitionLag>,
}

/// The lag of every group coordinated here, in the shards loaded so far
/// (a loading shard's groups are not known yet).
pub fn consumer_lag(groups: &GroupService, replicas: &ReplicaManager) -> Vec<GroupLag> {
    // The group lock is held only to copy the committed offsets; the logs
    // are read after.
    let shards = groups.read_loaded(|coordinator| {
        coordinator
            .group_member_counts()
            .into_iter()
            .map(|(group, members)| {
                let offsets: Vec<(String, i32, i64)> = coordinator
                    .fetch_offsets(&group, None)
                    .into_iter()
                    .flat_map(|topic| {
                        let name = topic.name;
                        topic
                            .partitions
                            .into_iter()
                            .map(move |p| (name.clone(), p.partition, p.offset))
                    })
                    .filter(|(_, _, offset)| *offset >= 0)
                    .collect();
                (group, members, offsets)
            })
            .collect::<Vec<_>>()
    });
    let mut reader = TimestampReader::new(replicas);
    let mut out: Vec<GroupLag> = shards
        .into_iter()
        .flatten()
        .map(|(group, members, offsets)| GroupLag {
            group,
            members,
            partitions: offsets
                .into_iter()
                .map(|(topic, partition, committed)| reader.lag(topic, partition, committed))
                .collect(),
        })
        .collect();
    out.sort_by(|a, b| a.group.cmp(&b.group));
    out
}

/// A partition's (high watermark, newest record's timestamp), `None`
/// without a replica here.
type Newest = Option<(i64, Option<i64>)>;

/// Reads record timestamps for one call, the newest one of each
/// partition once.
struct TimestampReader<'a> {
    replicas: &'a ReplicaManager,
    /// (high watermark, newest record's timestamp) by partition.
    newest: HashMap<(String, i32), Newest>,
    reads_left: usize,
}

impl<'a> TimestampReader<'a> {
    fn new(replicas: &'a ReplicaManager) -> Self {
        TimestampReader {
            replicas,
            newest: HashMap::new(),
            reads_left: MAX_TIMESTAMP_READS,
        }
    }

    fn read(&mut self, partition: &crate::replica_manager::Partition, offset: i64) -> Option<i64> {
        if self.reads_left == 0 {
            return None;
        }
        self.reads_left -= 1;
        partition.timestamp_at(offset).ok().flatten()
    }

    fn lag(&mut self, topic: String, index: i32, committed: i64) -> PartitionLag {
        let partition = self.replicas.partition(&topic, index);
        let key = (topic.clone(), index);
        let newest = match self.newest.get(&key) {
            Some(known) => *known,
            None => {
                let known = partition.as_ref().and_then(|p| {
                    let (_, high_watermark) = p.offsets().ok()?;
                    let timestamp = match high_watermark > 0 {
                        true => self.read(p, high_watermark - 1),
                        false => None,
                    };
                    Some((high_watermark, timestamp))
                });
                self.newest.insert(key, known);
                known
            }
        };
        let end_offset = newest.map(|(high_watermark, _)| high_watermark);
        let lag = end_offset.map(|end| (end - committed).max(0));
        let lag_seconds = match (lag, newest, partition) {
            (Some(0), _, _) => Some(0.0),
            (Some(_), Some((_, Some(newest_ts))), Some(p)) => {
                // Records below the log start are gone: the oldest one left
                // is as far back as the group can be shown to be.
                let from = p
                    .log_bounds()
                    .map_or(committed, |(start, _)| committed.max(start));
                self.read(&p, from)
                    .map(|at| ((newest_ts - at).max(0)) as f64 / 1000.0)
            }
            _ => None,
        };
        PartitionLag {
            topic,
            partition: index,
            committed_offset: committed,
            end_offset,
            lag,
            lag_seconds,
        }
    }
}
