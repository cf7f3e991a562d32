//! DescribeCluster: the brokers and the active controller.

use super::str_bytes;
use crate::server::Broker;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{DescribeClusterRequest, DescribeClusterResponse};

pub fn handle(broker: &Broker, request: DescribeClusterRequest) -> DescribeClusterResponse {
    let image = broker.controller.image();
    let brokers = image
        .brokers
        .values()
        .map(|b| {
            DescribeClusterBroker::default()
                .with_broker_id(b.id.into())
                .with_host(str_bytes(&b.host))
                .with_port(b.port)
                .with_rack(b.rack.as_deref().map(str_bytes))
        })
        .collect();
    DescribeClusterResponse::default()
        .with_endpoint_type(request.endpoint_type.max(1))
        .with_cluster_id(str_bytes(&broker.cluster_id))
        .with_controller_id(broker.config.node_id.into())
        .with_brokers(brokers)
}
