//! KIP-848 consumer group APIs: ConsumerGroupHeartbeat and
//! ConsumerGroupDescribe, answered by the group coordinator against the
//! current topic metadata.

use crate::security::{Audit, Session};
use crate::server::Broker;
use gregor_coordinator::group::consumer::{HeartbeatContext, TopicFilter};
use gregor_metadata::acl::{AclOperation, Action, ResourceType};
use gregor_metadata::MetadataImage;

use gregor_protocol::error_codes::INVALID_GROUP_ID;
use kafka_protocol::messages::consumer_group_describe_response::DescribedGroup;
use kafka_protocol::messages::{
    ApiKey, ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse,
    ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse,
};
use std::sync::Arc;

pub async fn heartbeat(
    broker: &Broker,
    request: ConsumerGroupHeartbeatRequest,
    version: i16,
    client_id: &str,
    session: &Session,
) -> ConsumerGroupHeartbeatResponse {
    let image = broker.controller.image();
    let context = HeartbeatContext {
        client_id: client_id.to_string(),
        client_host: format!("/{}", session.peer.ip()),
        api_version: version,
        describable: describable(broker, &image, session),
        group_config: crate::config::group_resource::consumer_config(
            &broker.config.group_consumer,
            image.group_configs.get(request.group_id.as_str()),
        ),
    };
    // Refused before routing, as Kafka's group coordinator service does.
    if request.group_id.is_empty() {
        return ConsumerGroupHeartbeatResponse::default().with_error_code(INVALID_GROUP_ID);
    }
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

/// With an authorizer: may the sender Describe a topic? Kafka resolves a
/// regex subscription through this check, unaudited (a filter, not a
/// refusal).
fn describable(
    broker: &Broker,
    image: &Arc<MetadataImage>,
    session: &Session,
) -> Option<TopicFilter> {
    if !broker.authorizer.enabled() {
        return None;
    }
    let authorizer = broker.authorizer.clone();
    let image = image.clone();
    let session = session.clone();
    Some(TopicFilter(Arc::new(move |name: &str| {
        authorizer.allows(
            &image,
            &session,
            ApiKey::ConsumerGroupHeartbeat,
            Action::new(AclOperation::Describe, ResourceType::Topic, name),
            Audit::Quiet,
        )
    })))
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
