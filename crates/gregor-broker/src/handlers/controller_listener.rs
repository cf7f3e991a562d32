//! What a controller listener (`controller.listener.names`) serves: the APIs
//! Kafka's ApiMessageType puts in the "controller" scope, and of those only
//! the ones Gregor implements. Any other API is not exposed there: the
//! request fails to decode and the connection closes, as Kafka's
//! SocketServer does for an API outside the listener's scope (clients learn
//! the set from ApiVersions and never send the others).
//!
//! The KRaft RPCs (and DescribeQuorum) go to the quorum runtime, which
//! answers them from the node's own state; the broker-membership RPCs go to
//! the active controller. They are served from start-up on, before this
//! node's broker side is up: the quorum needs them to elect a leader.

use super::{controller_apis, Reply};
use crate::controller::Controller;
use crate::security::Session;
use crate::server::NodeContext;
use gregor_metadata::acl::AclOperation;
use gregor_protocol::request::Request;
use kafka_protocol::messages::{
    AllocateProducerIdsResponse, AlterPartitionResponse, ApiKey, BeginQuorumEpochResponse,
    BrokerHeartbeatResponse, BrokerRegistrationResponse, ControllerRegistrationResponse,
    DescribeQuorumResponse, EndQuorumEpochResponse, FetchResponse, FetchSnapshotResponse,
    RequestKind, ResponseKind, VoteResponse,
};
use kafka_protocol::protocol::VersionRange;

/// How a controller listener handles an API of Kafka's controller scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControllerApi {
    /// The same handler as on a broker listener (admin APIs Kafka's
    /// controller serves itself).
    Shared,
    /// A KRaft RPC between voters and observers: Vote, BeginQuorumEpoch,
    /// EndQuorumEpoch, the raft Fetch and FetchSnapshot, and the voter
    /// changes of KIP-853. Destined for gregor-raft's `QuorumHandle`.
    Raft,
    /// A broker or controller talking to the active controller:
    /// registration, heartbeats, producer id blocks, partition changes.
    Membership,
    /// In Kafka's controller scope but not implemented by Gregor (
    /// quotas, SCRAM, delegation tokens, SASL, Envelope).
    NotImplemented,
}

/// Kafka 4.4's controller scope (`"listeners": [... "controller" ...]` in
/// the request schemas), `None` for APIs a controller does not expose.
pub fn route(key: ApiKey) -> Option<ControllerApi> {
    use ApiKey::*;
    use ControllerApi::*;
    Some(match key {
        ApiVersions
        | CreateTopics
        | DeleteTopics
        | CreatePartitions
        | DescribeCluster
        | DescribeConfigs
        | AlterConfigs
        | IncrementalAlterConfigs
        | UpdateFeatures
        | ElectLeaders
        | AlterPartitionReassignments
        | ListPartitionReassignments
        | CreateAcls
        | DeleteAcls
        | DescribeAcls
        | SaslHandshake
        | SaslAuthenticate
        | AlterUserScramCredentials
        | AlterClientQuotas => Shared,
        Vote | BeginQuorumEpoch | EndQuorumEpoch | Fetch | FetchSnapshot | AddRaftVoter
        | RemoveRaftVoter | UpdateRaftVoter | DescribeQuorum => Raft,
        BrokerRegistration
        | BrokerHeartbeat
        | UnregisterBroker
        | ControllerRegistration
        | AllocateProducerIds
        | AlterPartition
        | AssignReplicasToDirs => Membership,
        CreateDelegationToken | RenewDelegationToken | ExpireDelegationToken | Envelope => {
            NotImplemented
        }
        _ => return None,
    })
}

/// Versions of the Raft and Membership RPCs served: the raft ones as far as
/// both the quorum runtime and the request decoder go.
const QUORUM_RPC_VERSIONS: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Fetch, 4, 17),
    (ApiKey::Vote, 0, 2),
    (ApiKey::BeginQuorumEpoch, 0, 1),
    (ApiKey::EndQuorumEpoch, 0, 1),
    (ApiKey::DescribeQuorum, 0, 2),
    (ApiKey::FetchSnapshot, 0, 1),
    (ApiKey::BrokerRegistration, 0, 4),
    (ApiKey::BrokerHeartbeat, 0, 1),
    (ApiKey::AllocateProducerIds, 0, 0),
    (ApiKey::ControllerRegistration, 0, 0),
    // Kafka 4 serves v2+ only (topic ids; KIP-896 removed v0-1).
    (ApiKey::AlterPartition, 2, 3),
];

/// The versions of `key` a controller listener serves.
pub fn supported(key: ApiKey) -> Option<VersionRange> {
    match route(key)? {
        ControllerApi::Shared => super::api_versions::supported(key),
        ControllerApi::Raft | ControllerApi::Membership => QUORUM_RPC_VERSIONS
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|&(_, min, max)| VersionRange { min, max }),
        ControllerApi::NotImplemented => None,
    }
}

/// Handles a request that arrived on a controller listener.
pub async fn handle(node: &NodeContext, request: Request, session: &Session) -> Option<Reply> {
    let peer = session.peer;
    match route(request.api_key) {
        // Peers ask for versions before any raft RPC: answered at once.
        Some(ControllerApi::Shared) if request.api_key == ApiKey::ApiVersions => Some(
            Reply::Message(ResponseKind::ApiVersions(super::api_versions::handle(true))),
        ),
        Some(ControllerApi::Shared) => {
            let Some(broker) = node.wait_for_broker().await else {
                tracing::debug!(%peer, api_key = ?request.api_key, "node not up yet; closing");
                return None;
            };
            // Controller listeners run on the metadata thread, which must
            // never wait for a commit: the handler runs on the main runtime.
            let session = session.clone();
            let handled = node
                .main
                .spawn(async move { super::handle(&broker, request, &session).await });
            handled.await.ok().flatten()
        }
        Some(ControllerApi::Raft | ControllerApi::Membership)
            if !authorized(node, session, request.api_key) =>
        {
            Some(Reply::Message(refusal(request.api_key)?))
        }
        Some(ControllerApi::Raft) => raft_rpc(node, request).await,
        Some(ControllerApi::Membership) => {
            // Decided on a blocking thread: the controller waits for the commit.
            let controller = node.controller.clone();
            let cluster_id = node.cluster_id.clone();
            let answered = tokio::task::spawn_blocking(move || {
                membership_rpc(&controller, &cluster_id, request)
            });
            Some(Reply::Message(answered.await.ok().flatten()?))
        }
        // decode_request lets through only what `supported` lists.
        Some(ControllerApi::NotImplemented) | None => {
            tracing::error!(api_key = ?request.api_key, "controller listener request without handler");
            None
        }
    }
}

/// The cluster operation Kafka's `ControllerApis` wants for a KRaft or
/// membership RPC: ClusterAction for what voters, observers and brokers
/// send each other; Describe for DescribeQuorum; Alter for the operator's
/// voter and broker removals.
pub fn required_operation(key: ApiKey) -> Option<AclOperation> {
    use ApiKey::*;
    Some(match key {
        Vote
        | BeginQuorumEpoch
        | EndQuorumEpoch
        | Fetch
        | FetchSnapshot
        | UpdateRaftVoter
        | BrokerRegistration
        | BrokerHeartbeat
        | ControllerRegistration
        | AllocateProducerIds
        | AlterPartition
        | AssignReplicasToDirs => AclOperation::ClusterAction,
        DescribeQuorum => AclOperation::Describe,
        AddRaftVoter | RemoveRaftVoter | UnregisterBroker => AclOperation::Alter,
        _ => return None,
    })
}

/// Whether the session may make this KRaft / membership RPC. Brokers and
/// controllers authenticate as super users, so a secured cluster keeps
/// electing and heartbeating whatever ACLs the cluster resource gets.
fn authorized(node: &NodeContext, session: &Session, key: ApiKey) -> bool {
    let Some(operation) = required_operation(key) else {
        return false;
    };
    node.authorizer
        .allows_cluster(&node.controller.image(), session, key, operation)
}

/// Kafka's answer to a refused controller RPC: the request's error
/// response, i.e. its top-level error code CLUSTER_AUTHORIZATION_FAILED.
fn refusal(key: ApiKey) -> Option<ResponseKind> {
    const CODE: i16 = gregor_protocol::error_codes::CLUSTER_AUTHORIZATION_FAILED;
    let message = || {
        Some(super::str_bytes(&format!(
            "Request {key:?} is not authorized."
        )))
    };
    Some(match key {
        ApiKey::Vote => ResponseKind::Vote(VoteResponse::default().with_error_code(CODE)),
        ApiKey::BeginQuorumEpoch => ResponseKind::BeginQuorumEpoch(
            BeginQuorumEpochResponse::default().with_error_code(CODE),
        ),
        ApiKey::EndQuorumEpoch => {
            ResponseKind::EndQuorumEpoch(EndQuorumEpochResponse::default().with_error_code(CODE))
        }
        ApiKey::Fetch => ResponseKind::Fetch(FetchResponse::default().with_error_code(CODE)),
        ApiKey::FetchSnapshot => {
            ResponseKind::FetchSnapshot(FetchSnapshotResponse::default().with_error_code(CODE))
        }
        ApiKey::DescribeQuorum => ResponseKind::DescribeQuorum(
            DescribeQuorumResponse::default()
                .with_error_code(CODE)
                .with_error_message(message()),
        ),
        ApiKey::BrokerRegistration => ResponseKind::BrokerRegistration(
            BrokerRegistrationResponse::default().with_error_code(CODE),
        ),
        ApiKey::BrokerHeartbeat => {
            ResponseKind::BrokerHeartbeat(BrokerHeartbeatResponse::default().with_error_code(CODE))
        }
        ApiKey::ControllerRegistration => ResponseKind::ControllerRegistration(
            ControllerRegistrationResponse::default()
                .with_error_code(CODE)
                .with_error_message(message()),
        ),
        ApiKey::AllocateProducerIds => ResponseKind::AllocateProducerIds(
            AllocateProducerIdsResponse::default().with_error_code(CODE),
        ),
        ApiKey::AlterPartition => {
            ResponseKind::AlterPartition(AlterPartitionResponse::default().with_error_code(CODE))
        }
        // Not served (decode_request refuses them before this point).
        other => {
            tracing::debug!(api_key = ?other, "no refusal for an unserved controller RPC");
            return None;
        }
    })
}

/// A KRaft RPC: the quorum runtime answers the request body as it came.
async fn raft_rpc(node: &NodeContext, request: Request) -> Option<Reply> {
    let version = request.version();
    let mut body = bytes::BytesMut::new();
    if let Err(err) = request.body.encode(&mut body, version) {
        tracing::warn!(api_key = ?request.api_key, %err, "cannot re-encode a raft request");
        return None;
    }
    let quorum = node.controller.plane().quorum().clone();
    let answer = quorum
        .handle_request(request.api_key as i16, version, body.freeze())
        .await;
    Some(Reply::Raw(answer))
}

/// A broker asking the active controller.
fn membership_rpc(
    controller: &Controller,
    cluster_id: &str,
    request: Request,
) -> Option<ResponseKind> {
    let version = request.version();
    Some(match request.body {
        RequestKind::BrokerRegistration(req) => ResponseKind::BrokerRegistration(
            controller_apis::register_broker(controller, cluster_id, req),
        ),
        RequestKind::BrokerHeartbeat(req) => {
            ResponseKind::BrokerHeartbeat(controller_apis::heartbeat(controller, req))
        }
        RequestKind::AllocateProducerIds(req) => ResponseKind::AllocateProducerIds(
            controller_apis::allocate_producer_ids(controller, req),
        ),
        RequestKind::ControllerRegistration(req) => ResponseKind::ControllerRegistration(
            controller_apis::register_controller(controller, req),
        ),
        RequestKind::AlterPartition(req) => {
            ResponseKind::AlterPartition(controller_apis::alter_partition(controller, req, version))
        }
        other => {
            tracing::debug!(request = ?std::mem::discriminant(&other), "membership RPC not served");
            return None;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controller_listener_serves_only_controller_scope_apis() {
        for key in [
            ApiKey::Produce,
            ApiKey::Metadata,
            ApiKey::FindCoordinator,
            ApiKey::JoinGroup,
            ApiKey::ListOffsets,
            ApiKey::DescribeTopicPartitions,
        ] {
            assert_eq!(route(key), None, "{key:?}");
            assert_eq!(supported(key), None, "{key:?}");
        }
        // Fetch on a controller listener is the raft Fetch, not the broker's.
        assert_eq!(route(ApiKey::Fetch), Some(ControllerApi::Raft));
        assert_eq!(route(ApiKey::DescribeQuorum), Some(ControllerApi::Raft));
        assert!(supported(ApiKey::Vote).is_some());
    }

    /// Every KRaft and membership RPC served has a required operation and
    /// a refusal (so a refused request is answered, not dropped).
    #[test]
    fn every_served_quorum_rpc_is_authorized() {
        for (key, _, _) in QUORUM_RPC_VERSIONS {
            assert!(required_operation(*key).is_some(), "{key:?}");
            assert!(refusal(*key).is_some(), "{key:?}");
        }
        assert_eq!(
            required_operation(ApiKey::BrokerHeartbeat),
            Some(AclOperation::ClusterAction)
        );
        assert_eq!(
            required_operation(ApiKey::DescribeQuorum),
            Some(AclOperation::Describe)
        );
    }
}
