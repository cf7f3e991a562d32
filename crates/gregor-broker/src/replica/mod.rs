//! Partition replication. `leader` is the leader's side as a pure state
//! machine (follower log ends, the high watermark, ISR changes);
//! `follower` the follower's decisions on its leader's answers, run by the
//! per-leader fetchers in `fetcher`; `hw_checkpoint` keeps the high
//! watermarks across restarts.

pub mod fetcher;
pub mod follower;
pub mod hw_checkpoint;
pub mod isr_churn;
pub mod isr_sender;
pub mod leader;
pub mod log_opener;
pub mod log_slot;
pub mod selector;
pub mod throttle;
pub mod throttled_fetch;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod transition_tests;
