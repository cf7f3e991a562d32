//! One module per Kafka API. Each takes the decoded request and returns the
//! response body; none of them can fail the connection.

pub mod acls;
pub mod alter_configs;
pub mod api_versions;
pub mod authorized_ops;
pub mod authz;
pub mod broker_configs;
pub mod client_metrics_configs;
pub mod client_quotas;
pub mod consumer_groups;
pub mod controller_apis;
pub mod controller_listener;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_records;
pub mod delete_topics;
pub mod describe_cluster;
pub mod describe_configs;
pub mod describe_log_dirs;
pub mod describe_producers;
pub mod describe_topic_partitions;
pub mod elect_leaders;
pub mod fetch;
pub mod find_coordinator;
pub mod forward;
pub mod group_configs;
pub mod groups;
pub mod init_producer_id;
pub mod leader_hint;
pub mod list_config_resources;
pub mod list_offsets;
pub mod metadata;
pub mod offset_for_leader_epoch;
pub mod own_frames;
pub mod produce;
pub mod reassignments;
pub mod scram_users;
pub mod share_fetch;
pub mod share_fetch_frame;
pub mod share_group_offsets;
pub mod share_groups;
pub mod share_offsets_frame;
pub mod share_state;
pub mod share_state_frames;
pub mod streams_groups;
pub mod telemetry;
pub mod transactions;
pub mod update_features;

use crate::security::Session;
use crate::server::Broker;
use gregor_protocol::request::Request;
use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};
use kafka_protocol::protocol::StrBytes;

/// A handler's answer: a `kafka-protocol` message, or a fetch response whose
/// records stay in segment files until the connection sends them.
// Moved once per request; boxing the large variant would add an allocation.
#[allow(clippy::large_enum_variant)]
pub enum Reply {
    Message(ResponseKind),
    Fetch(fetch::FetchReply),
    /// A body encoded elsewhere (the quorum runtime's KRaft answers).
    Raw(bytes::Bytes),
}

/// Routes a request to its handler. `None` means "send no response"
/// (produce with acks=0). `session` says who asks, from where, on which
/// listener.
pub async fn handle(broker: &Broker, request: Request, session: &Session) -> Option<Reply> {
    let ops = authorized_ops::wanted(&request);
    let (request, merge) = match authz::check(broker, request, session) {
        authz::Checked::Denied(reply) => return reply,
        authz::Checked::Go(request, merge) => (request, merge),
    };
    let mut reply = dispatch(broker, request, session).await;
    if let Some(Reply::Message(response)) = reply.as_mut() {
        if let Some(merge) = merge {
            authz::merge(broker, session, merge, response);
        }
        // After the merge: refused entries are in the response by then.
        if let Some(ops) = ops {
            authorized_ops::fill(broker, session, ops, response);
        }
    }
    reply
}

/// Routes an authorized request to its handler.
async fn dispatch(broker: &Broker, request: Request, session: &Session) -> Option<Reply> {
    let peer = session.peer;
    let listener = &*session.listener;
    let request = match forward::route(broker, request).await {
        Ok(reply) => return reply,
        Err(local) => local,
    };
    let version = request.version();
    let client_id = request.client_id().to_string();
    let user = session.principal.name.clone();
    let mutation_quota = |api_key| {
        crate::quota::mutation::MutationQuota::for_request(
            broker, &user, &client_id, api_key, version,
        )
    };
    let response = match request.body {
        RequestKind::JoinGroup(req) => {
            ResponseKind::JoinGroup(groups::join(broker, req, version, &client_id, peer).await)
        }
        RequestKind::SyncGroup(req) => {
            ResponseKind::SyncGroup(groups::sync(broker, req, version).await)
        }
        RequestKind::Heartbeat(req) => {
            ResponseKind::Heartbeat(groups::heartbeat(broker, req).await)
        }
        RequestKind::LeaveGroup(req) => {
            ResponseKind::LeaveGroup(groups::leave(broker, req, version).await)
        }
        RequestKind::OffsetCommit(req) => {
            ResponseKind::OffsetCommit(groups::commit(broker, req, version).await)
        }
        RequestKind::OffsetFetch(req) => {
            ResponseKind::OffsetFetch(groups::fetch_offsets(broker, req, version).await)
        }
        RequestKind::DescribeGroups(req) => {
            ResponseKind::DescribeGroups(groups::describe(broker, req, version))
        }
        RequestKind::ConsumerGroupHeartbeat(req) => ResponseKind::ConsumerGroupHeartbeat(
            consumer_groups::heartbeat(broker, req, version, &client_id, session).await,
        ),
        RequestKind::ConsumerGroupDescribe(req) => {
            ResponseKind::ConsumerGroupDescribe(consumer_groups::describe(broker, req, version))
        }
        RequestKind::ShareGroupHeartbeat(req) => ResponseKind::ShareGroupHeartbeat(
            share_groups::heartbeat(broker, req, &client_id, session).await,
        ),
        RequestKind::ShareGroupDescribe(req) => {
            ResponseKind::ShareGroupDescribe(share_groups::describe(broker, req))
        }
        RequestKind::AlterShareGroupOffsets(req) => ResponseKind::AlterShareGroupOffsets(
            share_group_offsets::alter(broker, req, session).await,
        ),
        RequestKind::DeleteShareGroupOffsets(req) => ResponseKind::DeleteShareGroupOffsets(
            share_group_offsets::delete(broker, req, session).await,
        ),
        RequestKind::ListGroups(req) => ResponseKind::ListGroups(groups::list(broker, req)),
        RequestKind::DeleteGroups(req) => {
            ResponseKind::DeleteGroups(groups::delete(broker, req).await)
        }
        RequestKind::OffsetDelete(req) => {
            ResponseKind::OffsetDelete(groups::delete_offsets(broker, req).await)
        }
        RequestKind::ApiVersions(req) => {
            broker.telemetry.note_software(
                peer,
                req.client_software_name.as_str(),
                req.client_software_version.as_str(),
            );
            let image = broker.controller.image();
            let mut response = api_versions::handle_for(listener.is_controller, &image);
            telemetry::advertise(broker, &mut response);
            ResponseKind::ApiVersions(response)
        }
        RequestKind::GetTelemetrySubscriptions(req) => {
            let image = broker.controller.image();
            let caller = crate::telemetry::Caller {
                client_id: &client_id,
                peer,
                resources: &image.client_metrics_configs,
            };
            ResponseKind::GetTelemetrySubscriptions(
                broker.telemetry.get_subscriptions(&req, &caller),
            )
        }
        RequestKind::PushTelemetry(req) => {
            let image = broker.controller.image();
            let caller = crate::telemetry::Caller {
                client_id: &client_id,
                peer,
                resources: &image.client_metrics_configs,
            };
            ResponseKind::PushTelemetry(broker.telemetry.push(&req, &caller))
        }
        RequestKind::Metadata(req) => {
            ResponseKind::Metadata(metadata::handle(broker, req, version, listener))
        }
        RequestKind::Produce(req) => {
            return produce::handle(broker, req, version, &listener.name)
                .await
                .map(|r| Reply::Message(ResponseKind::Produce(r)))
        }
        RequestKind::Fetch(req) => {
            return Some(Reply::Fetch(
                fetch::handle(broker, req, version, session).await,
            ))
        }
        RequestKind::CreateAcls(req) => ResponseKind::CreateAcls(acls::create(broker, req)),
        RequestKind::DescribeAcls(req) => ResponseKind::DescribeAcls(acls::describe(broker, req)),
        RequestKind::DeleteAcls(req) => ResponseKind::DeleteAcls(acls::delete(broker, req)),
        RequestKind::ListOffsets(req) => {
            ResponseKind::ListOffsets(list_offsets::handle(broker, req, version))
        }
        RequestKind::CreateTopics(req) => {
            let mut quota = mutation_quota(ApiKey::CreateTopics);
            let response = create_topics::handle(broker, req, version, &mut quota);
            ResponseKind::CreateTopics(response.with_throttle_time_ms(quota.throttle_time_ms()))
        }
        RequestKind::DeleteTopics(req) => {
            let mut quota = mutation_quota(ApiKey::DeleteTopics);
            let response = delete_topics::handle(broker, req, version, &mut quota);
            ResponseKind::DeleteTopics(response.with_throttle_time_ms(quota.throttle_time_ms()))
        }
        RequestKind::CreatePartitions(req) => {
            let mut quota = mutation_quota(ApiKey::CreatePartitions);
            let response = create_partitions::handle(broker, req, &mut quota);
            ResponseKind::CreatePartitions(response.with_throttle_time_ms(quota.throttle_time_ms()))
        }
        RequestKind::DescribeCluster(req) => {
            ResponseKind::DescribeCluster(describe_cluster::handle(broker, req, version, listener))
        }
        RequestKind::DescribeConfigs(req) => {
            ResponseKind::DescribeConfigs(describe_configs::handle(broker, req, version))
        }
        RequestKind::IncrementalAlterConfigs(req) => ResponseKind::IncrementalAlterConfigs(
            alter_configs::incremental(broker, req, listener.is_controller),
        ),
        RequestKind::FindCoordinator(req) => {
            ResponseKind::FindCoordinator(find_coordinator::handle(broker, req, version, listener))
        }
        RequestKind::DescribeProducers(req) => {
            ResponseKind::DescribeProducers(describe_producers::handle(broker, req))
        }
        RequestKind::InitProducerId(req) => {
            ResponseKind::InitProducerId(init_producer_id::handle(broker, req).await)
        }
        RequestKind::AddPartitionsToTxn(req) => ResponseKind::AddPartitionsToTxn(
            transactions::add_partitions(broker, req, version).await,
        ),
        RequestKind::AddOffsetsToTxn(req) => {
            ResponseKind::AddOffsetsToTxn(transactions::add_offsets(broker, req).await)
        }
        RequestKind::EndTxn(req) => {
            ResponseKind::EndTxn(transactions::end(broker, req, version).await)
        }
        RequestKind::TxnOffsetCommit(req) => ResponseKind::TxnOffsetCommit(
            transactions::txn_offset_commit(broker, req, version).await,
        ),
        RequestKind::WriteTxnMarkers(req) => ResponseKind::WriteTxnMarkers(
            transactions::write_markers(broker, req, &request.marker_txn_versions).await,
        ),
        RequestKind::InitializeShareGroupState(req) => ResponseKind::InitializeShareGroupState(
            share_state::initialize(broker, req, session).await,
        ),
        RequestKind::ReadShareGroupState(req) => {
            ResponseKind::ReadShareGroupState(share_state::read(broker, req, session).await)
        }
        RequestKind::DeleteShareGroupState(req) => {
            ResponseKind::DeleteShareGroupState(share_state::delete(broker, req, session).await)
        }
        RequestKind::DescribeTransactions(req) => {
            ResponseKind::DescribeTransactions(transactions::describe(broker, req))
        }
        RequestKind::ListTransactions(req) => {
            ResponseKind::ListTransactions(transactions::list(broker, req))
        }
        RequestKind::DescribeTopicPartitions(req) => {
            ResponseKind::DescribeTopicPartitions(describe_topic_partitions::handle(broker, req))
        }
        RequestKind::UpdateFeatures(req) => {
            ResponseKind::UpdateFeatures(update_features::handle(broker, req, version))
        }
        RequestKind::DeleteRecords(req) => {
            ResponseKind::DeleteRecords(delete_records::handle(broker, req))
        }
        RequestKind::DescribeLogDirs(req) => {
            ResponseKind::DescribeLogDirs(describe_log_dirs::handle(broker, req))
        }
        RequestKind::ElectLeaders(req) => {
            ResponseKind::ElectLeaders(elect_leaders::handle(broker, req))
        }
        RequestKind::AlterPartitionReassignments(req) => {
            ResponseKind::AlterPartitionReassignments(reassignments::alter(broker, req, version))
        }
        RequestKind::ListPartitionReassignments(req) => {
            ResponseKind::ListPartitionReassignments(reassignments::list(broker, req))
        }
        RequestKind::AlterConfigs(req) => {
            ResponseKind::AlterConfigs(alter_configs::legacy(broker, req, listener.is_controller))
        }
        RequestKind::OffsetForLeaderEpoch(req) => {
            ResponseKind::OffsetForLeaderEpoch(offset_for_leader_epoch::handle(broker, req))
        }
        RequestKind::DescribeUserScramCredentials(req) => {
            let image = broker.controller.image();
            ResponseKind::DescribeUserScramCredentials(scram_users::describe(&image, req))
        }
        RequestKind::AlterUserScramCredentials(req) => {
            ResponseKind::AlterUserScramCredentials(scram_users::alter(broker, req))
        }
        RequestKind::DescribeClientQuotas(req) => {
            let image = broker.controller.image();
            ResponseKind::DescribeClientQuotas(client_quotas::describe(&image, req))
        }
        RequestKind::AlterClientQuotas(req) => {
            ResponseKind::AlterClientQuotas(client_quotas::alter(broker, req))
        }
        RequestKind::ListConfigResources(req) => {
            let image = broker.controller.image();
            ResponseKind::ListConfigResources(list_config_resources::handle(&image, &req, version))
        }
        RequestKind::SaslHandshake(_) => {
            ResponseKind::SaslHandshake(crate::security::sasl::handshake_not_expected())
        }
        RequestKind::SaslAuthenticate(_) => {
            ResponseKind::SaslAuthenticate(crate::security::sasl::authenticate_not_expected())
        }
        // decode_request only lets through the APIs listed in api_versions.
        other => {
            tracing::error!(request = ?std::mem::discriminant(&other), "request without handler");
            return None;
        }
    };
    Some(Reply::Message(response))
}

pub fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}
