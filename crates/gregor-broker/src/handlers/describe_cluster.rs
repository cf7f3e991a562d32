//! DescribeCluster: the brokers and the active controller.

use super::str_bytes;
use crate::server::Broker;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{DescribeClusterRequest, DescribeClusterResponse};

pub fn handle(broker: &Broker, request: DescribeClusterRequest) -> DescribeClusterResponse {
    let image = broker.controller.image();
    let listener = &broker.config.advertised.name;
    // Kafka lists fenced brokers only when asked (v2, KIP-1073), flagged.
    let brokers = image
        .brokers
        .values()
        .filter(|b| request.include_fenced_brokers || !b.fenced)
        .filter_map(|b| {
            let endpoint = b.endpoint(listener)?;
            Some(
                DescribeClusterBroker::default()
                    .with_broker_id(b.id.into())
                    .with_host(str_bytes(&endpoint.host))
                    .with_port(endpoint.port)
                    .with_rack(b.rack.as_deref().map(str_bytes))
                    .with_is_fenced(b.fenced),
            )
        })
        .collect();
    DescribeClusterResponse::default()
        .with_endpoint_type(request.endpoint_type.max(1))
        .with_cluster_id(str_bytes(&broker.cluster_id))
        .with_controller_id(broker.config.node_id.into())
        .with_brokers(brokers)
}
