//! What a controller listener (`controller.listener.names`) serves: the APIs
//! Kafka's ApiMessageType puts in the "controller" scope, and of those only
//! the ones Gregor implements. Any other API is not exposed there: the
//! request fails to decode and the connection closes, as Kafka's
//! SocketServer does for an API outside the listener's scope (clients learn
//! the set from ApiVersions and never send the others).
//!
//! The KRaft RPCs and the broker-membership RPCs have no handler yet: they
//! are routed to [`quorum_rpc`], the one place the quorum runtime and the
//! active controller will plug in, and are not advertised until then.

use super::Reply;
use crate::connection::ConnectionListener;
use crate::server::Broker;
use gregor_protocol::request::Request;
use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::VersionRange;
use std::net::SocketAddr;

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
    /// In Kafka's controller scope but not implemented by Gregor (ACLs,
    /// quotas, SCRAM, delegation tokens, reassignments, SASL, Envelope).
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
        | DescribeQuorum => Shared,
        Vote | BeginQuorumEpoch | EndQuorumEpoch | Fetch | FetchSnapshot | AddRaftVoter
        | RemoveRaftVoter | UpdateRaftVoter => Raft,
        BrokerRegistration
        | BrokerHeartbeat
        | UnregisterBroker
        | ControllerRegistration
        | AllocateProducerIds
        | AlterPartition
        | AssignReplicasToDirs => Membership,
        AlterClientQuotas
        | AlterUserScramCredentials
        | CreateAcls
        | DeleteAcls
        | DescribeAcls
        | CreateDelegationToken
        | RenewDelegationToken
        | ExpireDelegationToken
        | ElectLeaders
        | AlterPartitionReassignments
        | ListPartitionReassignments
        | SaslHandshake
        | SaslAuthenticate
        | Envelope => NotImplemented,
        _ => return None,
    })
}

/// Versions of the Raft and Membership RPCs served so far: none. The lead
/// adds each one here when [`quorum_rpc`] answers it; ApiVersions on a
/// controller listener then advertises it.
const QUORUM_RPC_VERSIONS: &[(ApiKey, i16, i16)] = &[];

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
pub async fn handle(
    broker: &Broker,
    request: Request,
    peer: SocketAddr,
    listener: &ConnectionListener,
) -> Option<Reply> {
    match route(request.api_key) {
        Some(ControllerApi::Shared) => super::handle(broker, request, peer, listener).await,
        Some(ControllerApi::Raft | ControllerApi::Membership) => {
            quorum_rpc(broker, request, peer).await
        }
        // decode_request lets through only what `supported` lists.
        Some(ControllerApi::NotImplemented) | None => {
            tracing::error!(api_key = ?request.api_key, "controller listener request without handler");
            None
        }
    }
}

/// THE HOOK: Raft and Membership RPCs on a controller listener. Raft RPCs go
/// to the quorum runtime (re-encode `request.body` at `request.version()`
/// for `QuorumHandle::handle_request`), membership RPCs to the active
/// controller. Unreachable until their versions are in
/// `QUORUM_RPC_VERSIONS`.
async fn quorum_rpc(_broker: &Broker, request: Request, peer: SocketAddr) -> Option<Reply> {
    tracing::error!(%peer, api_key = ?request.api_key, "quorum RPC without handler");
    None
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
        assert_eq!(supported(ApiKey::Fetch), None);
        assert_eq!(
            supported(ApiKey::DescribeQuorum),
            super::super::api_versions::supported(ApiKey::DescribeQuorum)
        );
    }
}
