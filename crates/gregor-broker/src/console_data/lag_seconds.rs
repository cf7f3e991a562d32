//! Lag in seconds until `metrics::lag` lands: the time between the record
//! at the committed offset and the newest record of the partition, read
//! from this broker's replica (None when it has none).

use crate::server::Broker;

/// Where a v2 batch header keeps its base timestamp.
const BASE_TIMESTAMP_AT: usize = 27;

pub fn lag_seconds(broker: &Broker, topic: &str, partition: i32, committed: i64) -> Option<f64> {
    let replica = broker.replicas.partition(topic, partition)?;
    let (_, log_end) = replica.offsets().ok()?;
    if committed >= log_end {
        return Some(0.0);
    }
    let (newest, _) = replica.max_timestamp().ok()??;
    let read = replica.read(committed, 1, true).ok()?;
    let header = read.records.get(BASE_TIMESTAMP_AT..BASE_TIMESTAMP_AT + 8)?;
    let mut ts = [0u8; 8];
    ts.copy_from_slice(header);
    let at_committed = i64::from_be_bytes(ts);
    Some((newest - at_committed).max(0) as f64 / 1000.0)
}
