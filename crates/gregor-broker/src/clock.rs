//! The wall clock, in the milliseconds Kafka puts on the wire. A leaf module:
//! everything in the broker may use it, it uses nothing of the broker.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch; 0 if the clock is before it.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
