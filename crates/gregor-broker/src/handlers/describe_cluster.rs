//! DescribeCluster: on a broker listener the brokers and a controller id; on
//! a controller listener (KIP-919, endpoint type 2) the controllers and the
//! quorum leader, each at its endpoint for the listener asked.

use super::str_bytes;
use crate::connection::ConnectionListener;
use crate::server::Broker;
use gregor_protocol::error_codes;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{DescribeClusterRequest, DescribeClusterResponse};

/// KIP-919 endpoint types.
const BROKER: i8 = 1;
const CONTROLLER: i8 = 2;

pub fn handle(
    broker: &Broker,
    request: DescribeClusterRequest,
    version: i16,
    listener: &ConnectionListener,
) -> DescribeClusterResponse {
    let wanted = if listener.is_controller {
        CONTROLLER
    } else {
        BROKER
    };
    // v0 has no endpoint type field: it always means brokers.
    let asked = if version == 0 {
        BROKER
    } else {
        request.endpoint_type
    };
    let refuse = |v1_code: i16, message: String| {
        let code = if version == 0 {
            error_codes::INVALID_REQUEST
        } else {
            v1_code
        };
        DescribeClusterResponse::default()
            .with_error_code(code)
            .with_error_message(Some(str_bytes(&message)))
            .with_endpoint_type(asked)
    };
    if asked != BROKER && asked != CONTROLLER {
        return refuse(
            error_codes::UNSUPPORTED_ENDPOINT_TYPE,
            format!("Unsupported endpoint type {asked}"),
        );
    }
    if asked != wanted {
        let name = |t| if t == BROKER { "BROKER" } else { "CONTROLLER" };
        return refuse(
            error_codes::MISMATCHED_ENDPOINT_TYPE,
            format!(
                "The request was sent to an endpoint of type {}, but we wanted an endpoint of type {}",
                name(wanted),
                name(asked)
            ),
        );
    }
    let nodes = if listener.is_controller {
        controllers(broker, &listener.name)
    } else {
        brokers(broker, &listener.name, request.include_fenced_brokers)
    };
    DescribeClusterResponse::default()
        .with_endpoint_type(asked)
        .with_cluster_id(str_bytes(&broker.cluster_id))
        // The active controller on a controller listener (KIP-919); a
        // broker's answer names itself, as Kafka's KRaft brokers do.
        .with_controller_id(
            if listener.is_controller {
                broker
                    .controller
                    .active_controller()
                    .unwrap_or(broker.config.node_id)
            } else {
                broker.config.node_id
            }
            .into(),
        )
        .with_brokers(nodes)
}

/// The brokers, this one at its endpoint on the listener asked.
fn brokers(broker: &Broker, listener: &str, include_fenced: bool) -> Vec<DescribeClusterBroker> {
    let image = broker.controller.image();
    // Kafka lists fenced brokers only when asked (v2, KIP-1073), flagged.
    image
        .brokers
        .values()
        .filter(|b| include_fenced || !b.fenced)
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
        .collect()
}

/// The controllers at their endpoints for the controller listener the
/// request came in on: as they registered (ControllerRegistration), else
/// at their `controller.quorum.voters` address until they have.
fn controllers(broker: &Broker, listener: &str) -> Vec<DescribeClusterBroker> {
    let image = broker.controller.image();
    let registered = |id: i32| {
        let endpoint = image
            .controllers
            .get(&id)?
            .listeners
            .iter()
            .find(|l| l.name == listener)?;
        Some((endpoint.host.clone(), endpoint.port))
    };
    let node = |id: i32, (host, port): (String, i32)| {
        DescribeClusterBroker::default()
            .with_broker_id(id.into())
            .with_host(str_bytes(&host))
            .with_port(port)
    };
    let voters = &broker.config.quorum.voters;
    if !voters.is_empty() {
        return voters
            .iter()
            .map(|v| {
                let address =
                    registered(v.id).unwrap_or_else(|| (v.host.clone(), i32::from(v.port)));
                node(v.id, address)
            })
            .collect();
    }
    // The embedded single node: itself, at its advertised endpoint.
    let id = broker.config.node_id;
    broker
        .config
        .listeners
        .advertised_controllers
        .iter()
        .filter(|l| l.name == listener)
        .map(|l| {
            let address = registered(id).unwrap_or_else(|| (l.host.clone(), i32::from(l.port)));
            node(id, address)
        })
        .collect()
}
