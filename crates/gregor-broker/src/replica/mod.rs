//! Partition replication: followers fetching from leaders.

pub mod fetcher;
pub mod follower;
pub mod hw_checkpoint;
