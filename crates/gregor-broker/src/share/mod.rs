//! Share groups (KIP-932) on the broker: the persister that keeps each
//! share-partition's delivery state durable with the share coordinator
//! service behind it (`__share_group_state`), and the share-partition
//! leader (share sessions, acquiring and acknowledging records). The
//! membership side lives in the group coordinator; the pure share-partition
//! state in `gregor_coordinator::share`.

pub mod batches;
pub mod fetch;
pub mod partitions;
pub mod persister;
pub mod session;
pub mod settings;
pub mod state_service;

pub use fetch::ShareFetchService;
pub use persister::Persister;

use crate::server::NodeContext;
use std::net::SocketAddr;
use std::sync::Arc;

/// Held by a connection: when it drops, the share sessions opened over it
/// close and their members' records are released (Kafka's
/// `ClientConnectionDisconnectListener`).
pub struct ConnectionShares {
    pub node: Arc<NodeContext>,
    pub peer: SocketAddr,
}

impl Drop for ConnectionShares {
    fn drop(&mut self) {
        let Some(broker) = self.node.broker() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if broker.share_fetch.sessions().is_empty() {
            return;
        }
        let peer = self.peer;
        runtime.spawn(async move { fetch::connection_closed(&broker, peer).await });
    }
}
