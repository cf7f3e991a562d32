//! The node's part in the cluster: the metadata plane (quorum runtime and
//! metadata loader on their own thread), the line to the active controller,
//! and the broker's membership lifecycle.

pub mod broker_channel;
pub mod controller_channel;
pub mod lifecycle;
pub mod metadata_plane;
