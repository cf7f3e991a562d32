//! KIP-848 consumer group APIs: ConsumerGroupHeartbeat and
//! ConsumerGroupDescribe, answered by the group coordinator against the
//! current topic metadata.

use crate::server::Broker;
use gregor_coordinator::group::consumer::HeartbeatContext;
use gregor_protocol::error_codes::INVALID_GROUP_ID;
use kafka_protocol::messages::consumer_group_describe_response::DescribedGroup;
use kafka_protocol::messages::{
    ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, ConsumerGroupHeartbeatRequest,
    ConsumerGroupHeartbeatResponse,
};
use std::net::SocketAddr;

pub async fn heartbeat(
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
    // Refused before routing, as Kafka's group coordinator service does.
    if request.group_id.is_empty() {
        return ConsumerGroupHeartbeatResponse::default().with_error_code(INVALID_GROUP_ID);
    }
    let image = broker.controller.image();
    match broker
        .groups
        .immediate(&request.group_id, |c, now| {
            c.consumer_group_heartbeat(&request, &context, &*image, now)
        })
        .await
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
    // Each group is answered by its own shard (or gets its error), as Kafka.
    let groups = request
        .group_ids
        .iter()
        .map(|id| {
            if id.is_empty() {
                return DescribedGroup::default()
                    .with_group_id(id.clone())
                    .with_error_code(INVALID_GROUP_ID);
            }
            let single = ConsumerGroupDescribeRequest::default()
                .with_group_ids(vec![id.clone()])
                .with_include_authorized_operations(request.include_authorized_operations);
            match broker
                .groups
                .read(id, |c| c.consumer_group_describe(&single, version, &*image))
            {
                Ok(answer) => answer.groups.into_iter().next().unwrap_or_default(),
                Err(code) => DescribedGroup::default()
                    .with_group_id(id.clone())
                    .with_error_code(code),
            }
        })
        .collect();
    ConsumerGroupDescribeResponse::default().with_groups(groups)
}
