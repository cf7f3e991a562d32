//! The leader side of the replication throttle (Kafka's
//! `shouldLeaderThrottle`): a follower outside the ISR fetching a
//! throttled replica while the leader's rate is exceeded gets the
//! partition without records; the bytes sent for throttled replicas count
//! against the rate.

use crate::replica::throttle::{ReplicationQuotas, Side};
use crate::replica_manager::Partition;
use gregor_log::FileSlice;
use gregor_protocol::fetch_response::PartitionOut;

pub fn limit(
    quotas: &ReplicationQuotas,
    partition: &Partition,
    replica_id: i32,
    mut answer: PartitionOut<FileSlice>,
) -> PartitionOut<FileSlice> {
    if !quotas.is_throttled(Side::Leader, &partition.topic, partition.index) {
        return answer;
    }
    let now = crate::clock::now_ms();
    let in_sync = partition.leadership().isr.contains(&replica_id);
    let over = quotas.should_throttle(Side::Leader, &partition.topic, partition.index, now);
    if !in_sync && over {
        answer.records = Some(FileSlice::empty());
        return answer;
    }
    let bytes = answer.records.as_ref().map_or(0, |r| r.len());
    quotas.record(Side::Leader, bytes as u64, now);
    answer
}
