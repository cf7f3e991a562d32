//! KIP-951: a broker that does not lead a partition names the leader and
//! where to reach it, so the client moves at once instead of refreshing its
//! metadata first.

use crate::replica_manager::{LeaderLookup, Partition};
use crate::server::Broker;
use gregor_metadata::MetadataImage;
use gregor_protocol::error_codes;
use std::sync::Arc;

/// A broker's client endpoint.
pub struct Endpoint {
    pub node_id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
}

/// Where clients of `listener` reach broker `id`, if the image knows it.
pub fn leader_endpoint(image: &MetadataImage, id: i32, listener: &str) -> Option<Endpoint> {
    let broker = image.brokers.get(&id)?;
    let endpoint = broker.endpoint(listener)?;
    Some(Endpoint {
        node_id: broker.id,
        host: endpoint.host.clone(),
        port: endpoint.port,
        rack: broker.rack.clone(),
    })
}

/// Why a leader-only request for a partition cannot be served here.
pub struct NotLed {
    /// NOT_LEADER_OR_FOLLOWER or UNKNOWN_TOPIC_OR_PARTITION.
    pub code: i16,
    /// The current leader and its epoch, when there is one.
    pub leader: Option<(i32, i32)>,
}

/// The local partition if this broker leads it.
pub fn led_partition(broker: &Broker, topic: &str, index: i32) -> Result<Arc<Partition>, NotLed> {
    match broker
        .replicas
        .lookup_leader(&broker.controller.image(), topic, index)
    {
        LeaderLookup::Leader(partition) => Ok(partition),
        LeaderLookup::NotLeader { leader } => Err(NotLed {
            code: error_codes::NOT_LEADER_OR_FOLLOWER,
            leader,
        }),
        LeaderLookup::Unknown => Err(NotLed {
            code: error_codes::UNKNOWN_TOPIC_OR_PARTITION,
            leader: None,
        }),
    }
}
