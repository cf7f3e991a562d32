//! Partition replication. `leader` is the leader's side as a pure state
//! machine (follower log ends, the high watermark, ISR changes); the
//! follower's side (fetchers, truncation) lives beside it.

pub mod isr_sender;
pub mod leader;
