//! DescribeCluster: the brokers and the active controller.

use super::str_bytes;
use crate::server::Broker;
use gregor_protocol::error_codes;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{DescribeClusterRequest, DescribeClusterResponse};

/// KIP-919's endpoint types.
const BROKER_ENDPOINTS: i8 = 1;
const CONTROLLER_ENDPOINTS: i8 = 2;

pub fn handle(broker: &Broker, request: DescribeClusterRequest) -> DescribeClusterResponse {
    // A broker listener describes brokers; controllers are described by a
    // controller listener (v0 cannot ask: its endpoint type is always 1).
    match request.endpoint_type {
        BROKER_ENDPOINTS => {}
        CONTROLLER_ENDPOINTS => {
            return DescribeClusterResponse::default()
                .with_error_code(error_codes::MISMATCHED_ENDPOINT_TYPE)
                .with_error_message(Some(str_bytes(
                    "The request was sent to an endpoint of type BROKER, but we wanted an endpoint of type CONTROLLER",
                )))
        }
        other => {
            return DescribeClusterResponse::default()
                .with_error_code(error_codes::UNSUPPORTED_ENDPOINT_TYPE)
                .with_error_message(Some(str_bytes(&format!(
                    "Unsupported endpoint type {other}"
                ))))
        }
    }
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
        .with_endpoint_type(BROKER_ENDPOINTS)
        .with_cluster_id(str_bytes(&broker.cluster_id))
        .with_controller_id(broker.config.node_id.into())
        .with_brokers(brokers)
}
