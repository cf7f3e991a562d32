//! Requests that change metadata, or ask about the quorum, are the active
//! controller's business. A broker that is not the active controller
//! forwards them to it over the controller listener and relays the answer,
//! as Kafka's brokers do, so a client may send them to any broker.

use super::Reply;
use crate::server::Broker;
use gregor_protocol::error_codes;
use gregor_protocol::request::Request;
use kafka_protocol::messages::{ApiKey, DescribeQuorumResponse, RequestKind, ResponseKind};

/// The APIs the active controller answers.
fn is_controller_api(key: ApiKey) -> bool {
    matches!(
        key,
        ApiKey::CreateTopics
            | ApiKey::DeleteTopics
            | ApiKey::CreatePartitions
            | ApiKey::AlterConfigs
            | ApiKey::IncrementalAlterConfigs
            | ApiKey::UpdateFeatures
            | ApiKey::DescribeQuorum
            | ApiKey::ElectLeaders
            | ApiKey::AlterPartitionReassignments
            | ApiKey::ListPartitionReassignments
            | ApiKey::CreateAcls
            | ApiKey::DeleteAcls
            | ApiKey::AlterUserScramCredentials
            | ApiKey::AlterClientQuotas
    )
}

/// Forwards `request` when another node is the active controller; hands it
/// back when this node should answer it itself.
pub async fn route(broker: &Broker, request: Request) -> Result<Option<Reply>, Request> {
    let key = request.api_key;
    if !is_controller_api(key) {
        return Err(request);
    }
    if names_another_broker(&request, broker.config.node_id) {
        // Refused here, as Kafka's broker checks the id before forwarding.
        return Err(request);
    }
    let controller = &broker.controller;
    if key == ApiKey::DescribeQuorum {
        return Ok(describe_quorum(broker, request).await);
    }
    if controller.is_active() {
        return Err(request);
    }
    let Some(leader) = controller.active_controller() else {
        // No controller known: answered here, each item NOT_CONTROLLER, and
        // the client retries.
        return Err(request);
    };
    if leader == broker.config.node_id {
        // Never to ourselves (a leadership change is under way).
        return Err(request);
    }
    let version = request.version();
    match controller
        .channel()
        .call(leader, key, version, request.body.clone())
        .await
    {
        Ok(response) => Ok(Some(Reply::Message(response))),
        Err(err) => {
            // Answered here instead: each item NOT_CONTROLLER, which
            // clients retry.
            tracing::debug!(?key, controller = leader, %err, "forwarding failed");
            Err(request)
        }
    }
}

/// Kafka's BROKER config resource type.
const BROKER_RESOURCE: i8 = 4;

/// Whether a config change names a broker other than this one (a broker
/// resource is changed through that broker, which forwards it).
fn names_another_broker(request: &Request, node_id: i32) -> bool {
    let other = |resource_type: i8, name: &str| {
        resource_type == BROKER_RESOURCE && !name.is_empty() && name != node_id.to_string()
    };
    match &request.body {
        RequestKind::IncrementalAlterConfigs(r) => r
            .resources
            .iter()
            .any(|c| other(c.resource_type, c.resource_name.as_str())),
        RequestKind::AlterConfigs(r) => r
            .resources
            .iter()
            .any(|c| other(c.resource_type, c.resource_name.as_str())),
        _ => false,
    }
}

/// DescribeQuorum: the quorum leader knows the replicas' progress, so the
/// answer is its own (from this node's quorum runtime when it leads).
async fn describe_quorum(broker: &Broker, request: Request) -> Option<Reply> {
    let controller = &broker.controller;
    let version = request.version();
    let leader = controller.active_controller();
    if leader == Some(broker.config.node_id) || leader.is_none() {
        let mut body = bytes::BytesMut::new();
        request.body.encode(&mut body, version).ok()?;
        let quorum = controller.plane().quorum().clone();
        let answer = quorum
            .handle_request(ApiKey::DescribeQuorum as i16, version, body.freeze())
            .await;
        return Some(Reply::Raw(answer));
    }
    let answer = match leader {
        Some(leader) => controller
            .channel()
            .call(leader, ApiKey::DescribeQuorum, version, request.body)
            .await
            .ok(),
        None => None,
    };
    match answer {
        Some(response @ ResponseKind::DescribeQuorum(_)) => Some(Reply::Message(response)),
        // The leader is out of reach: the client asks again later.
        _ => Some(Reply::Message(ResponseKind::DescribeQuorum(
            DescribeQuorumResponse::default().with_error_code(error_codes::NOT_LEADER_OR_FOLLOWER),
        ))),
    }
}
