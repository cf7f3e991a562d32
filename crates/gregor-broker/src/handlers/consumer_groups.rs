//! KIP-848 consumer group APIs: ConsumerGroupHeartbeat and
//! ConsumerGroupDescribe, answered by the group coordinator against the
//! current topic metadata.

use crate::server::Broker;
use gregor_coordinator::group::consumer::HeartbeatContext;
use kafka_protocol::messages::{
    ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, ConsumerGroupHeartbeatRequest,
    ConsumerGroupHeartbeatResponse,
};
use std::net::SocketAddr;

pub fn heartbeat(
    broker: &Broker,
    request: ConsumerGroupHeartbeatRequest,
    version: i16,
    client_id: &str,
    peer: SocketAddr,
) -> ConsumerGroupHeartbeatResponse {
    let context = HeartbeatContext {
        client_id: client_id.to_string(),
        client_host: format!("/{}", peer.ip()),
        api_version: version,
    };
    let image = broker.controller.image();
    match broker
        .groups
        .immediate(|c, now| c.consumer_group_heartbeat(&request, &context, &*image, now))
    {
        Ok(response) => response,
        Err(code) => ConsumerGroupHeartbeatResponse::default().with_error_code(code),
    }
}

pub fn describe(
    broker: &Broker,
    request: ConsumerGroupDescribeRequest,
    version: i16,
) -> ConsumerGroupDescribeResponse {
    let image = broker.controller.image();
    broker
        .groups
        .read(|c| c.consumer_group_describe(&request, version, &*image))
}
