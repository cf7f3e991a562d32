//! Authorization of every request, before it reaches its handler (or is
//! forwarded to the active controller, which cannot see the client's
//! principal): the checks of Kafka's `KafkaApis`, per API.
//!
//! A request the principal may not make at all is answered here with the
//! API's authorization error ([`Checked::Denied`]). A request that names
//! several resources has the refused ones taken out ("stripped") and handed
//! to a [`Merge`] that adds their errors to the handler's response;
//! listings (Metadata for all topics, ListGroups, ...) are filtered after the
//! handler. The operation each API needs is listed once, in
//! `crate::security::api_acls`.

use super::Reply;
use crate::security::{Audit, Session};
use crate::server::Broker;
use gregor_metadata::acl::{AclOperation, Action, ResourceType};
use gregor_metadata::MetadataImage;
use gregor_protocol::error_codes::{
    self, CLUSTER_AUTHORIZATION_FAILED, GROUP_AUTHORIZATION_FAILED, TOPIC_AUTHORIZATION_FAILED,
    TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
};
use gregor_protocol::request::Request;
use kafka_protocol::messages::*;
use std::sync::Arc;

use AclOperation::*;

/// Adds the refused items' errors to the handler's response, or filters
/// what the principal may not see out of it.
pub type Merge = Box<dyn FnOnce(&Authz<'_>, &mut ResponseKind) + Send>;

pub enum Checked {
    /// Answered here: the principal may not make this request.
    Denied(Option<Reply>),
    /// Go on with this (possibly stripped) request, then merge.
    Go(Request, Option<Merge>),
}

/// One request's authorization context.
pub struct Authz<'a> {
    broker: &'a Broker,
    image: Arc<MetadataImage>,
    session: &'a Session,
    api: ApiKey,
}

impl Authz<'_> {
    fn allows(&self, operation: AclOperation, resource_type: ResourceType, name: &str) -> bool {
        self.allows_audited(operation, resource_type, name, Audit::Record)
    }

    fn allows_audited(
        &self,
        operation: AclOperation,
        resource_type: ResourceType,
        name: &str,
        audit: Audit,
    ) -> bool {
        self.broker.authorizer.allows(
            &self.image,
            self.session,
            self.api,
            Action::new(operation, resource_type, name),
            audit,
        )
    }

    fn cluster(&self, operation: AclOperation) -> bool {
        self.broker
            .authorizer
            .allows_cluster(&self.image, self.session, self.api, operation)
    }

    /// A cluster check that has a narrower fallback (Create on the topic,
    /// Describe on each group, Write on some topic): its denial is not
    /// audited, the fallback's is.
    fn cluster_alternative(&self, operation: AclOperation) -> bool {
        self.allows_audited(
            operation,
            ResourceType::Cluster,
            gregor_metadata::acl::CLUSTER_NAME,
            Audit::Quiet,
        )
    }

    fn topic(&self, operation: AclOperation, name: &str) -> bool {
        self.allows(operation, ResourceType::Topic, name)
    }

    fn group(&self, operation: AclOperation, name: &str) -> bool {
        self.allows(operation, ResourceType::Group, name)
    }

    fn txn(&self, operation: AclOperation, name: &str) -> bool {
        self.allows(operation, ResourceType::TransactionalId, name)
    }

    /// A listing filter: not audited as a denial (Kafka's `logIfDenied`
    /// is false for them).
    fn sees(&self, resource_type: ResourceType, name: &str) -> bool {
        self.allows_audited(Describe, resource_type, name, Audit::Quiet)
    }
}

/// Applies `merge` to the handler's response.
pub fn merge(broker: &Broker, session: &Session, merge: Merge, response: &mut ResponseKind) {
    let az = Authz {
        broker,
        image: broker.controller.image(),
        session,
        api: response_api(response),
    };
    merge(&az, response);
}

/// The API a response answers (for the audit records of filters).
fn response_api(response: &ResponseKind) -> ApiKey {
    match response {
        ResponseKind::Metadata(_) => ApiKey::Metadata,
        ResponseKind::ListGroups(_) => ApiKey::ListGroups,
        ResponseKind::OffsetFetch(_) => ApiKey::OffsetFetch,
        ResponseKind::ListTransactions(_) => ApiKey::ListTransactions,
        ResponseKind::DescribeTopicPartitions(_) => ApiKey::DescribeTopicPartitions,
        _ => ApiKey::ApiVersions,
    }
}

fn message(response: ResponseKind) -> Checked {
    Checked::Denied(Some(Reply::Message(response)))
}

fn go(request: Request, merge: Merge) -> Checked {
    Checked::Go(request, Some(merge))
}

/// `go`, with a merge that answers what [`strip`] took out of the request:
/// `$answer` makes the response entry of each denied item, appended to the
/// response's `$field` list, so the client gets one answer for everything
/// it asked as from Kafka (which leaves them out of the handler's request
/// the same way).
macro_rules! answer_denied {
    ($request:expr, $kind:ident, $field:ident, $denied:expr, $answer:expr) => {{
        let denied = $denied;
        go(
            $request,
            Box::new(move |_, resp| {
                if let ResponseKind::$kind(r) = resp {
                    r.$field.extend(denied.into_iter().map($answer));
                }
            }),
        )
    }};
}

/// Authorizes `request` from `session`. Without an authorizer everything
/// passes untouched.
pub fn check(broker: &Broker, mut request: Request, session: &Session) -> Checked {
    if !broker.authorizer.enabled() {
        return Checked::Go(request, None);
    }
    let az = Authz {
        broker,
        image: broker.controller.image(),
        session,
        api: request.api_key,
    };
    let version = request.version();
    // These take the request whole.
    match request.api_key {
        ApiKey::Produce => return produce(&az, request),
        ApiKey::OffsetFetch => return offset_fetch(&az, version, request),
        ApiKey::DeleteTopics => return delete_topics(&az, request),
        ApiKey::AddPartitionsToTxn => return add_partitions(&az, version, request),
        _ => {}
    }
    match &mut request.body {
        // Before (and for) authentication: nothing to authorize.
        RequestKind::ApiVersions(_)
        | RequestKind::SaslHandshake(_)
        | RequestKind::SaslAuthenticate(_) => Checked::Go(request, None),
        // KIP-714: Kafka lets any authenticated client ask and push.
        RequestKind::GetTelemetrySubscriptions(_) | RequestKind::PushTelemetry(_) => {
            Checked::Go(request, None)
        }
        RequestKind::DescribeUserScramCredentials(_) => {
            if az.cluster(Describe) {
                return Checked::Go(request, None);
            }
            message(ResponseKind::DescribeUserScramCredentials(
                DescribeUserScramCredentialsResponse::default()
                    .with_error_code(CLUSTER_AUTHORIZATION_FAILED),
            ))
        }
        RequestKind::AlterUserScramCredentials(req) => {
            if az.cluster(Alter) {
                return Checked::Go(request, None);
            }
            let users: Vec<_> = req
                .deletions
                .iter()
                .map(|d| d.name.clone())
                .chain(req.upsertions.iter().map(|u| u.name.clone()))
                .collect();
            message(ResponseKind::AlterUserScramCredentials(
                AlterUserScramCredentialsResponse::default().with_results(
                    users
                        .into_iter()
                        .map(|user| {
                            alter_user_scram_credentials_response::AlterUserScramCredentialsResult::default()
                                .with_user(user)
                                .with_error_code(CLUSTER_AUTHORIZATION_FAILED)
                        })
                        .collect(),
                ),
            ))
        }
        RequestKind::ListConfigResources(_) => {
            if az.cluster(DescribeConfigs) {
                return Checked::Go(request, None);
            }
            message(ResponseKind::ListConfigResources(
                kafka_protocol::messages::ListConfigResourcesResponse::default()
                    .with_error_code(CLUSTER_AUTHORIZATION_FAILED),
            ))
        }
        RequestKind::DescribeClientQuotas(_) => {
            if az.cluster(DescribeConfigs) {
                return Checked::Go(request, None);
            }
            message(ResponseKind::DescribeClientQuotas(
                DescribeClientQuotasResponse::default()
                    .with_error_code(CLUSTER_AUTHORIZATION_FAILED),
            ))
        }
        RequestKind::AlterClientQuotas(req) => {
            if az.cluster(AlterConfigs) {
                return Checked::Go(request, None);
            }
            let entries = req
                .entries
                .iter()
                .map(|e| {
                    alter_client_quotas_response::EntryData::default()
                        .with_error_code(CLUSTER_AUTHORIZATION_FAILED)
                        .with_entity(super::client_quotas::response_entity(&e.entity))
                })
                .collect();
            message(ResponseKind::AlterClientQuotas(
                AlterClientQuotasResponse::default().with_entries(entries),
            ))
        }
        RequestKind::Metadata(req) => {
            let merge = metadata(&az, req, version);
            go(request, merge)
        }
        RequestKind::ListOffsets(req) => {
            let denied = strip(&mut req.topics, |t| !az.topic(Describe, &t.name));
            answer_denied!(request, ListOffsets, topics, denied, |t| {
                list_offsets_response::ListOffsetsTopicResponse::default()
                    .with_name(t.name)
                    .with_partitions(
                        t.partitions
                            .iter()
                            .map(|p| {
                                list_offsets_response::ListOffsetsPartitionResponse::default()
                                    .with_partition_index(p.partition_index)
                                    .with_error_code(TOPIC_AUTHORIZATION_FAILED)
                                    .with_timestamp(-1)
                                    .with_offset(-1)
                            })
                            .collect(),
                    )
            })
        }
        RequestKind::OffsetForLeaderEpoch(req) => {
            if req.replica_id.0 >= 0 && !az.cluster(ClusterAction) {
                return message(ResponseKind::OffsetForLeaderEpoch(
                    OffsetForLeaderEpochResponse::default().with_topics(
                        req.topics
                            .iter()
                            .map(|t| epoch_topic(t, CLUSTER_AUTHORIZATION_FAILED))
                            .collect(),
                    ),
                ));
            }
            let denied = strip(&mut req.topics, |t| !az.topic(Describe, &t.topic));
            answer_denied!(request, OffsetForLeaderEpoch, topics, denied, |t| {
                epoch_topic(&t, TOPIC_AUTHORIZATION_FAILED)
            })
        }
        RequestKind::OffsetCommit(req) => {
            if !az.group(Read, &req.group_id) {
                return message(ResponseKind::OffsetCommit(
                    OffsetCommitResponse::default().with_topics(
                        req.topics
                            .iter()
                            .map(|t| commit_topic(t, GROUP_AUTHORIZATION_FAILED))
                            .collect(),
                    ),
                ));
            }
            let denied = strip(&mut req.topics, |t| !az.topic(Read, &t.name));
            answer_denied!(request, OffsetCommit, topics, denied, |t| commit_topic(
                &t,
                TOPIC_AUTHORIZATION_FAILED
            ))
        }
        RequestKind::FindCoordinator(req) if req.key_type == 2 => {
            // Share-partition keys (KIP-932) are looked up by brokers only.
            if az.cluster(ClusterAction) {
                return Checked::Go(request, None);
            }
            let coordinators = req
                .coordinator_keys
                .iter()
                .map(|k| {
                    find_coordinator_response::Coordinator::default()
                        .with_key(k.clone())
                        .with_node_id(BrokerId(-1))
                        .with_host(super::str_bytes(""))
                        .with_port(-1)
                        .with_error_code(CLUSTER_AUTHORIZATION_FAILED)
                })
                .collect();
            // Batched keys from v4; older versions have the top-level fields.
            let response = if version >= 4 {
                FindCoordinatorResponse::default().with_coordinators(coordinators)
            } else {
                FindCoordinatorResponse::default()
                    .with_error_code(CLUSTER_AUTHORIZATION_FAILED)
                    .with_node_id(BrokerId(-1))
                    .with_host(super::str_bytes(""))
                    .with_port(-1)
            };
            message(ResponseKind::FindCoordinator(response))
        }
        // Checked per partition by the share coordinator's handlers, which
        // answer CLUSTER_AUTHORIZATION_FAILED as Kafka does.
        RequestKind::InitializeShareGroupState(_)
        | RequestKind::ReadShareGroupState(_)
        | RequestKind::DeleteShareGroupState(_) => Checked::Go(request, None),
        RequestKind::FindCoordinator(req) => {
            let (op_type, code) = if req.key_type == 1 {
                (
                    ResourceType::TransactionalId,
                    TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
                )
            } else {
                (ResourceType::Group, GROUP_AUTHORIZATION_FAILED)
            };
            if version < 4 {
                if !az.allows(Describe, op_type, &req.key) {
                    return message(ResponseKind::FindCoordinator(
                        FindCoordinatorResponse::default()
                            .with_error_code(code)
                            .with_node_id(BrokerId(-1))
                            .with_host(super::str_bytes(""))
                            .with_port(-1),
                    ));
                }
                return Checked::Go(request, None);
            }
            let denied = strip(&mut req.coordinator_keys, |k| {
                !az.allows(Describe, op_type, k)
            });
            answer_denied!(request, FindCoordinator, coordinators, denied, |k| {
                find_coordinator_response::Coordinator::default()
                    .with_key(k)
                    .with_node_id(BrokerId(-1))
                    .with_port(-1)
                    .with_error_code(code)
            })
        }
        RequestKind::JoinGroup(req) => {
            if az.group(Read, &req.group_id) {
                return Checked::Go(request, None);
            }
            message(ResponseKind::JoinGroup(
                JoinGroupResponse::default()
                    .with_error_code(GROUP_AUTHORIZATION_FAILED)
                    .with_generation_id(-1)
                    .with_member_id(req.member_id.clone()),
            ))
        }
        RequestKind::SyncGroup(req) => whole_group(&az, &req.group_id.clone(), request, |c| {
            ResponseKind::SyncGroup(SyncGroupResponse::default().with_error_code(c))
        }),
        RequestKind::Heartbeat(req) => whole_group(&az, &req.group_id.clone(), request, |c| {
            ResponseKind::Heartbeat(HeartbeatResponse::default().with_error_code(c))
        }),
        RequestKind::LeaveGroup(req) => whole_group(&az, &req.group_id.clone(), request, |c| {
            ResponseKind::LeaveGroup(LeaveGroupResponse::default().with_error_code(c))
        }),
        RequestKind::ConsumerGroupHeartbeat(req) => {
            if !az.group(Read, &req.group_id) {
                return message(ResponseKind::ConsumerGroupHeartbeat(
                    ConsumerGroupHeartbeatResponse::default()
                        .with_error_code(GROUP_AUTHORIZATION_FAILED)
                        .with_member_epoch(-1),
                ));
            }
            // KafkaApis: every subscribed topic name needs Describe (each
            // distinct name checked and audited); one refusal refuses the
            // heartbeat with a bare TOPIC_AUTHORIZATION_FAILED.
            let names: std::collections::BTreeSet<&str> = req
                .subscribed_topic_names
                .iter()
                .flatten()
                .map(|t| t.as_str())
                .collect();
            let refused = names
                .into_iter()
                .filter(|name| !az.topic(Describe, name))
                .count();
            if refused > 0 {
                return message(ResponseKind::ConsumerGroupHeartbeat(
                    ConsumerGroupHeartbeatResponse::default()
                        .with_error_code(TOPIC_AUTHORIZATION_FAILED),
                ));
            }
            Checked::Go(request, None)
        }
        // KafkaApis.handleShareGroupHeartbeatRequest: READ on the group,
        // then DESCRIBE on every subscribed topic (one refusal refuses it).
        RequestKind::ShareGroupHeartbeat(req) => {
            if !az.group(Read, &req.group_id) {
                return message(ResponseKind::ShareGroupHeartbeat(
                    ShareGroupHeartbeatResponse::default()
                        .with_error_code(GROUP_AUTHORIZATION_FAILED),
                ));
            }
            let names: std::collections::BTreeSet<&str> = req
                .subscribed_topic_names
                .iter()
                .flatten()
                .map(|t| t.as_str())
                .collect();
            let refused = names
                .into_iter()
                .filter(|name| !az.topic(Describe, name))
                .count();
            if refused > 0 {
                return message(ResponseKind::ShareGroupHeartbeat(
                    ShareGroupHeartbeatResponse::default()
                        .with_error_code(TOPIC_AUTHORIZATION_FAILED),
                ));
            }
            Checked::Go(request, None)
        }
        RequestKind::ShareGroupDescribe(req) => {
            let denied = strip(&mut req.group_ids, |g| !az.group(Describe, g));
            answer_denied!(request, ShareGroupDescribe, groups, denied, |g| {
                share_group_describe_response::DescribedGroup::default()
                    .with_group_id(g)
                    .with_error_code(GROUP_AUTHORIZATION_FAILED)
            })
        }
        // Checked group by group, topic by topic, in share_group_offsets.
        RequestKind::DescribeShareGroupOffsets(_)
        | RequestKind::AlterShareGroupOffsets(_)
        | RequestKind::DeleteShareGroupOffsets(_) => Checked::Go(request, None),
        RequestKind::DescribeGroups(req) => {
            let denied = strip(&mut req.groups, |g| !az.group(Describe, g));
            answer_denied!(request, DescribeGroups, groups, denied, |g| {
                describe_groups_response::DescribedGroup::default()
                    .with_group_id(g)
                    .with_error_code(GROUP_AUTHORIZATION_FAILED)
            })
        }
        RequestKind::ConsumerGroupDescribe(req) => {
            let denied = strip(&mut req.group_ids, |g| !az.group(Describe, g));
            go(
                request,
                Box::new(move |az, resp| {
                    if let ResponseKind::ConsumerGroupDescribe(r) = resp {
                        r.groups.extend(denied.into_iter().map(|g| {
                            consumer_group_describe_response::DescribedGroup::default()
                                .with_group_id(g)
                                .with_error_code(GROUP_AUTHORIZATION_FAILED)
                        }));
                        hide_groups_with_hidden_topics(az, &mut r.groups);
                    }
                }),
            )
        }
        RequestKind::ListGroups(_) => {
            if az.cluster_alternative(Describe) {
                return Checked::Go(request, None);
            }
            go(
                request,
                Box::new(|az, resp| {
                    if let ResponseKind::ListGroups(r) = resp {
                        r.groups
                            .retain(|g| az.sees(ResourceType::Group, &g.group_id));
                    }
                }),
            )
        }
        RequestKind::DeleteGroups(req) => {
            let denied = strip(&mut req.groups_names, |g| !az.group(Delete, g));
            answer_denied!(request, DeleteGroups, results, denied, |g| {
                delete_groups_response::DeletableGroupResult::default()
                    .with_group_id(g)
                    .with_error_code(GROUP_AUTHORIZATION_FAILED)
            })
        }
        RequestKind::OffsetDelete(req) => {
            if !az.group(Delete, &req.group_id) {
                return message(ResponseKind::OffsetDelete(
                    OffsetDeleteResponse::default().with_error_code(GROUP_AUTHORIZATION_FAILED),
                ));
            }
            let denied = strip(&mut req.topics, |t| !az.topic(Read, &t.name));
            answer_denied!(request, OffsetDelete, topics, denied, |t| {
                offset_delete_response::OffsetDeleteResponseTopic::default()
                    .with_name(t.name)
                    .with_partitions(
                        t.partitions
                            .iter()
                            .map(|p| {
                                offset_delete_response::OffsetDeleteResponsePartition::default()
                                    .with_partition_index(p.partition_index)
                                    .with_error_code(TOPIC_AUTHORIZATION_FAILED)
                            })
                            .collect(),
                    )
            })
        }
        RequestKind::CreateTopics(req) => {
            if az.cluster_alternative(Create) {
                return Checked::Go(request, None);
            }
            let denied = strip(&mut req.topics, |t| !az.topic(Create, &t.name));
            answer_denied!(request, CreateTopics, topics, denied, |t| {
                create_topics_response::CreatableTopicResult::default()
                    .with_name(t.name)
                    .with_error_code(TOPIC_AUTHORIZATION_FAILED)
                    .with_error_message(Some(super::str_bytes("Authorization failed.")))
                    .with_num_partitions(-1)
                    .with_replication_factor(-1)
            })
        }
        RequestKind::CreatePartitions(req) => {
            let denied = strip(&mut req.topics, |t| !az.topic(Alter, &t.name));
            answer_denied!(request, CreatePartitions, results, denied, |t| {
                create_partitions_response::CreatePartitionsTopicResult::default()
                    .with_name(t.name)
                    .with_error_code(TOPIC_AUTHORIZATION_FAILED)
            })
        }
        RequestKind::DeleteRecords(req) => {
            let denied = strip(&mut req.topics, |t| !az.topic(Delete, &t.name));
            answer_denied!(request, DeleteRecords, topics, denied, |t| {
                delete_records_response::DeleteRecordsTopicResult::default()
                    .with_name(t.name)
                    .with_partitions(
                        t.partitions
                            .iter()
                            .map(|p| {
                                delete_records_response::DeleteRecordsPartitionResult::default()
                                    .with_partition_index(p.partition_index)
                                    .with_low_watermark(-1)
                                    .with_error_code(TOPIC_AUTHORIZATION_FAILED)
                            })
                            .collect(),
                    )
            })
        }
        RequestKind::DescribeConfigs(req) => {
            let denied = strip(&mut req.resources, |r| {
                !configs_allowed(&az, DescribeConfigs, r.resource_type, &r.resource_name)
            });
            answer_denied!(request, DescribeConfigs, results, denied, |d| {
                describe_configs_response::DescribeConfigsResult::default()
                    .with_error_code(config_error(d.resource_type))
                    .with_resource_type(d.resource_type)
                    .with_resource_name(d.resource_name)
            })
        }
        RequestKind::AlterConfigs(req) => {
            let denied = strip(&mut req.resources, |r| {
                !configs_allowed(&az, AlterConfigs, r.resource_type, &r.resource_name)
            });
            answer_denied!(request, AlterConfigs, responses, denied, |d| {
                alter_configs_response::AlterConfigsResourceResponse::default()
                    .with_error_code(config_error(d.resource_type))
                    .with_resource_type(d.resource_type)
                    .with_resource_name(d.resource_name)
            })
        }
        RequestKind::IncrementalAlterConfigs(req) => {
            let denied = strip(&mut req.resources, |r| {
                !configs_allowed(&az, AlterConfigs, r.resource_type, &r.resource_name)
            });
            answer_denied!(request, IncrementalAlterConfigs, responses, denied, |d| {
                incremental_alter_configs_response::AlterConfigsResourceResponse::default()
                    .with_error_code(config_error(d.resource_type))
                    .with_resource_type(d.resource_type)
                    .with_resource_name(d.resource_name)
            })
        }
        RequestKind::InitProducerId(req) => {
            let allowed = match &req.transactional_id {
                Some(id) => az.txn(Write, id),
                None => {
                    az.cluster_alternative(IdempotentWrite)
                        || broker.authorizer.allows_any(
                            &az.image,
                            session,
                            az.api,
                            Write,
                            ResourceType::Topic,
                        )
                }
            };
            if allowed {
                return Checked::Go(request, None);
            }
            let code = if req.transactional_id.is_some() {
                TRANSACTIONAL_ID_AUTHORIZATION_FAILED
            } else {
                CLUSTER_AUTHORIZATION_FAILED
            };
            message(ResponseKind::InitProducerId(
                InitProducerIdResponse::default()
                    .with_error_code(code)
                    .with_producer_id(ProducerId(-1))
                    .with_producer_epoch(-1),
            ))
        }
        RequestKind::AddOffsetsToTxn(req) => {
            let code = if !az.txn(Write, &req.transactional_id) {
                TRANSACTIONAL_ID_AUTHORIZATION_FAILED
            } else if !az.group(Read, &req.group_id) {
                GROUP_AUTHORIZATION_FAILED
            } else {
                return Checked::Go(request, None);
            };
            message(ResponseKind::AddOffsetsToTxn(
                AddOffsetsToTxnResponse::default().with_error_code(code),
            ))
        }
        RequestKind::EndTxn(req) => {
            if az.txn(Write, &req.transactional_id) {
                return Checked::Go(request, None);
            }
            message(ResponseKind::EndTxn(
                EndTxnResponse::default()
                    .with_error_code(TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
                    .with_producer_id(ProducerId(-1))
                    .with_producer_epoch(-1),
            ))
        }
        RequestKind::TxnOffsetCommit(req) => {
            let code = if !az.txn(Write, &req.transactional_id) {
                Some(TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
            } else if !az.group(Read, &req.group_id) {
                Some(GROUP_AUTHORIZATION_FAILED)
            } else {
                None
            };
            if let Some(code) = code {
                return message(ResponseKind::TxnOffsetCommit(
                    TxnOffsetCommitResponse::default().with_topics(
                        req.topics
                            .iter()
                            .map(|t| txn_commit_topic(t, code))
                            .collect(),
                    ),
                ));
            }
            let denied = strip(&mut req.topics, |t| !az.topic(Read, &t.name));
            answer_denied!(request, TxnOffsetCommit, topics, denied, |t| {
                txn_commit_topic(&t, TOPIC_AUTHORIZATION_FAILED)
            })
        }
        RequestKind::WriteTxnMarkers(req) => {
            if az.cluster(ClusterAction) {
                return Checked::Go(request, None);
            }
            message(ResponseKind::WriteTxnMarkers(
                WriteTxnMarkersResponse::default().with_markers(
                    req.markers
                        .iter()
                        .map(|m| {
                            write_txn_markers_response::WritableTxnMarkerResult::default()
                                .with_producer_id(m.producer_id)
                                .with_topics(
                                    m.topics
                                        .iter()
                                        .map(|t| {
                                            write_txn_markers_response::WritableTxnMarkerTopicResult::default()
                                                .with_name(t.name.clone())
                                                .with_partitions(
                                                    t.partition_indexes
                                                        .iter()
                                                        .map(|&p| {
                                                            write_txn_markers_response::WritableTxnMarkerPartitionResult::default()
                                                                .with_partition_index(p)
                                                                .with_error_code(CLUSTER_AUTHORIZATION_FAILED)
                                                        })
                                                        .collect(),
                                                )
                                        })
                                        .collect(),
                                )
                        })
                        .collect(),
                ),
            ))
        }
        RequestKind::DescribeProducers(req) => {
            let denied = strip(&mut req.topics, |t| !az.topic(Read, &t.name));
            answer_denied!(request, DescribeProducers, topics, denied, |t| {
                describe_producers_response::TopicResponse::default()
                    .with_name(t.name)
                    .with_partitions(
                        t.partition_indexes
                            .iter()
                            .map(|&p| {
                                describe_producers_response::PartitionResponse::default()
                                    .with_partition_index(p)
                                    .with_error_code(TOPIC_AUTHORIZATION_FAILED)
                            })
                            .collect(),
                    )
            })
        }
        RequestKind::DescribeTransactions(req) => {
            let denied = strip(&mut req.transactional_ids, |t| !az.txn(Describe, t));
            answer_denied!(
                request,
                DescribeTransactions,
                transaction_states,
                denied,
                |t| {
                    describe_transactions_response::TransactionState::default()
                        .with_transactional_id(t)
                        .with_error_code(TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
                }
            )
        }
        RequestKind::ListTransactions(_) => go(
            request,
            Box::new(|az, resp| {
                if let ResponseKind::ListTransactions(r) = resp {
                    r.transaction_states
                        .retain(|t| az.sees(ResourceType::TransactionalId, &t.transactional_id));
                }
            }),
        ),
        RequestKind::DescribeTopicPartitions(req) => {
            let all = req.topics.is_empty();
            let denied = strip(&mut req.topics, |t| !az.topic(Describe, &t.name));
            let error_topics = move |denied: Vec<
                describe_topic_partitions_request::TopicRequest,
            >| {
                denied
                    .into_iter()
                    .map(|t| {
                        describe_topic_partitions_response::DescribeTopicPartitionsResponseTopic::default()
                            .with_name(Some(t.name))
                            .with_error_code(TOPIC_AUTHORIZATION_FAILED)
                    })
                    .collect::<Vec<_>>()
            };
            // Every named topic refused: the handler must not see an empty
            // list, which means "all topics".
            if !all && req.topics.is_empty() {
                return message(ResponseKind::DescribeTopicPartitions(
                    DescribeTopicPartitionsResponse::default().with_topics(error_topics(denied)),
                ));
            }
            go(
                request,
                Box::new(move |az, resp| {
                    if let ResponseKind::DescribeTopicPartitions(r) = resp {
                        if all {
                            r.topics.retain(|t| {
                                t.name
                                    .as_ref()
                                    .is_some_and(|n| az.sees(ResourceType::Topic, n))
                            });
                        }
                        r.topics.extend(error_topics(denied));
                    }
                }),
            )
        }
        // A broker answers anyone (Kafka's `computeDescribeClusterResponse`
        // checks Describe only for the authorized-operations field, see
        // `authorized_ops`); a controller wants Alter on the cluster
        // (ControllerApis, KIP-919).
        RequestKind::DescribeCluster(_) => {
            if !session.listener.is_controller || az.cluster(Alter) {
                return Checked::Go(request, None);
            }
            message(ResponseKind::DescribeCluster(
                DescribeClusterResponse::default()
                    .with_error_code(CLUSTER_AUTHORIZATION_FAILED)
                    .with_error_message(Some(super::str_bytes(&format!(
                        "Request {:?} is not authorized.",
                        az.api
                    ))))
                    .with_controller_id(BrokerId(-1)),
            ))
        }
        RequestKind::DescribeLogDirs(_) => {
            if az.cluster(Describe) {
                return Checked::Go(request, None);
            }
            message(ResponseKind::DescribeLogDirs(
                DescribeLogDirsResponse::default().with_error_code(CLUSTER_AUTHORIZATION_FAILED),
            ))
        }
        RequestKind::ElectLeaders(req) => {
            if az.cluster(Alter) {
                return Checked::Go(request, None);
            }
            let results = req
                .topic_partitions
                .as_ref()
                .map(|topics| {
                    topics
                        .iter()
                        .map(|t| {
                            elect_leaders_response::ReplicaElectionResult::default()
                                .with_topic(t.topic.clone())
                                .with_partition_result(
                                    t.partitions
                                        .iter()
                                        .map(|&p| {
                                            elect_leaders_response::PartitionResult::default()
                                                .with_partition_id(p)
                                                .with_error_code(CLUSTER_AUTHORIZATION_FAILED)
                                        })
                                        .collect(),
                                )
                        })
                        .collect()
                })
                .unwrap_or_default();
            message(ResponseKind::ElectLeaders(
                ElectLeadersResponse::default()
                    .with_error_code(CLUSTER_AUTHORIZATION_FAILED)
                    .with_replica_election_results(results),
            ))
        }
        RequestKind::AlterPartitionReassignments(_) => {
            if az.cluster(Alter) {
                return Checked::Go(request, None);
            }
            message(ResponseKind::AlterPartitionReassignments(
                AlterPartitionReassignmentsResponse::default()
                    .with_error_code(CLUSTER_AUTHORIZATION_FAILED),
            ))
        }
        RequestKind::ListPartitionReassignments(_) => {
            if az.cluster(Describe) {
                return Checked::Go(request, None);
            }
            message(ResponseKind::ListPartitionReassignments(
                ListPartitionReassignmentsResponse::default()
                    .with_error_code(CLUSTER_AUTHORIZATION_FAILED),
            ))
        }
        RequestKind::UpdateFeatures(_) => {
            if az.cluster(Alter) {
                return Checked::Go(request, None);
            }
            message(ResponseKind::UpdateFeatures(
                UpdateFeaturesResponse::default().with_error_code(CLUSTER_AUTHORIZATION_FAILED),
            ))
        }
        RequestKind::DescribeQuorum(_) => {
            if az.cluster(Describe) {
                return Checked::Go(request, None);
            }
            message(ResponseKind::DescribeQuorum(
                DescribeQuorumResponse::default().with_error_code(CLUSTER_AUTHORIZATION_FAILED),
            ))
        }
        RequestKind::CreateAcls(req) => {
            if az.cluster(Alter) {
                return Checked::Go(request, None);
            }
            message(ResponseKind::CreateAcls(super::acls::create_error(
                req,
                CLUSTER_AUTHORIZATION_FAILED,
                None,
            )))
        }
        RequestKind::DeleteAcls(req) => {
            if az.cluster(Alter) {
                return Checked::Go(request, None);
            }
            message(ResponseKind::DeleteAcls(super::acls::delete_error(
                req,
                CLUSTER_AUTHORIZATION_FAILED,
                None,
            )))
        }
        RequestKind::DescribeAcls(_) => {
            if az.cluster(Describe) {
                return Checked::Go(request, None);
            }
            message(ResponseKind::DescribeAcls(
                DescribeAclsResponse::default().with_error_code(CLUSTER_AUTHORIZATION_FAILED),
            ))
        }
        // Fetch is checked per partition by its handler (a fetch session
        // holds partitions the request does not name).
        RequestKind::Fetch(_) => Checked::Go(request, None),
        // Share fetches check Read on the group and each topic in their handler.
        RequestKind::ShareFetch(_) | RequestKind::ShareAcknowledge(_) => Checked::Go(request, None),
        // Anything else a broker listener serves is inter-broker.
        _ => {
            if az.cluster(ClusterAction) {
                Checked::Go(request, None)
            } else {
                tracing::warn!(api = ?az.api, "inter-broker request refused: ClusterAction denied");
                Checked::Denied(None)
            }
        }
    }
}

/// KafkaApis' ConsumerGroupDescribe rule: a group whose members are
/// assigned (or targeted) a topic the principal may not describe is
/// answered TOPIC_AUTHORIZATION_FAILED, without its members.
fn hide_groups_with_hidden_topics(
    az: &Authz<'_>,
    groups: &mut [consumer_group_describe_response::DescribedGroup],
) {
    let topics: std::collections::BTreeSet<String> = groups
        .iter()
        .flat_map(|g| g.members.iter())
        .flat_map(|m| [&m.assignment, &m.target_assignment])
        .flat_map(|a| a.topic_partitions.iter())
        .map(|tp| tp.topic_name.to_string())
        .collect();
    let refused: std::collections::BTreeSet<String> = topics
        .into_iter()
        .filter(|t| !az.topic(Describe, t))
        .collect();
    if refused.is_empty() {
        return;
    }
    for group in groups.iter_mut() {
        let hidden = group
            .members
            .iter()
            .flat_map(|m| [&m.assignment, &m.target_assignment])
            .flat_map(|a| a.topic_partitions.iter())
            .any(|tp| refused.contains(tp.topic_name.as_str()));
        if hidden {
            *group = consumer_group_describe_response::DescribedGroup::default()
                .with_group_id(group.group_id.clone())
                .with_error_code(TOPIC_AUTHORIZATION_FAILED)
                .with_error_message(Some(super::str_bytes(
                    "The group has described topic(s) that the client is not authorized to describe.",
                )));
        }
    }
}

/// Removes the items `denied` says are refused, returning them.
fn strip<T>(items: &mut Vec<T>, mut denied: impl FnMut(&T) -> bool) -> Vec<T> {
    let mut refused = Vec::new();
    let mut kept = Vec::with_capacity(items.len());
    for item in items.drain(..) {
        if denied(&item) {
            refused.push(item);
        } else {
            kept.push(item);
        }
    }
    *items = kept;
    refused
}

fn whole_group(
    az: &Authz<'_>,
    group: &str,
    request: Request,
    response: impl FnOnce(i16) -> ResponseKind,
) -> Checked {
    if az.group(Read, group) {
        Checked::Go(request, None)
    } else {
        message(response(GROUP_AUTHORIZATION_FAILED))
    }
}

fn produce(az: &Authz<'_>, mut request: Request) -> Checked {
    let RequestKind::Produce(req) = &mut request.body else {
        return Checked::Go(request, None);
    };
    let acks = req.acks;
    let respond = |response: ProduceResponse| {
        if acks == 0 {
            Checked::Denied(None)
        } else {
            message(ResponseKind::Produce(response))
        }
    };
    if let Some(id) = &req.transactional_id {
        if !az.txn(Write, id) {
            return respond(
                ProduceResponse::default().with_responses(
                    req.topic_data
                        .iter()
                        .map(|t| produce_topic(t, TRANSACTIONAL_ID_AUTHORIZATION_FAILED))
                        .collect(),
                ),
            );
        }
    }
    let denied = strip(&mut req.topic_data, |t| !az.topic(Write, &t.name));
    if denied.is_empty() {
        return Checked::Go(request, None);
    }
    if req.topic_data.is_empty() {
        return respond(
            ProduceResponse::default().with_responses(
                denied
                    .iter()
                    .map(|t| produce_topic(t, TOPIC_AUTHORIZATION_FAILED))
                    .collect(),
            ),
        );
    }
    answer_denied!(request, Produce, responses, denied, |t| produce_topic(
        &t,
        TOPIC_AUTHORIZATION_FAILED
    ))
}

fn produce_topic(
    t: &produce_request::TopicProduceData,
    code: i16,
) -> produce_response::TopicProduceResponse {
    produce_response::TopicProduceResponse::default()
        .with_name(t.name.clone())
        .with_topic_id(t.topic_id)
        .with_partition_responses(
            t.partition_data
                .iter()
                .map(|p| {
                    produce_response::PartitionProduceResponse::default()
                        .with_index(p.index)
                        .with_error_code(code)
                        .with_base_offset(-1)
                        .with_log_append_time_ms(-1)
                        .with_log_start_offset(-1)
                })
                .collect(),
        )
}

fn epoch_topic(
    t: &offset_for_leader_epoch_request::OffsetForLeaderTopic,
    code: i16,
) -> offset_for_leader_epoch_response::OffsetForLeaderTopicResult {
    offset_for_leader_epoch_response::OffsetForLeaderTopicResult::default()
        .with_topic(t.topic.clone())
        .with_partitions(
            t.partitions
                .iter()
                .map(|p| {
                    offset_for_leader_epoch_response::EpochEndOffset::default()
                        .with_partition(p.partition)
                        .with_error_code(code)
                        .with_leader_epoch(-1)
                        .with_end_offset(-1)
                })
                .collect(),
        )
}

fn commit_topic(
    t: &offset_commit_request::OffsetCommitRequestTopic,
    code: i16,
) -> offset_commit_response::OffsetCommitResponseTopic {
    offset_commit_response::OffsetCommitResponseTopic::default()
        .with_name(t.name.clone())
        .with_topic_id(t.topic_id)
        .with_partitions(
            t.partitions
                .iter()
                .map(|p| {
                    offset_commit_response::OffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code)
                })
                .collect(),
        )
}

fn txn_commit_topic(
    t: &txn_offset_commit_request::TxnOffsetCommitRequestTopic,
    code: i16,
) -> txn_offset_commit_response::TxnOffsetCommitResponseTopic {
    txn_offset_commit_response::TxnOffsetCommitResponseTopic::default()
        .with_name(t.name.clone())
        .with_partitions(
            t.partitions
                .iter()
                .map(|p| {
                    txn_offset_commit_response::TxnOffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code)
                })
                .collect(),
        )
}

/// Kafka's config resource types: TOPIC 2, BROKER 4, BROKER_LOGGER 8.
const TOPIC_RESOURCE: i8 = 2;

/// Kafka's GROUP config resource type: authorized on the group itself.
const GROUP_CONFIG_RESOURCE: i8 = 32;

fn configs_allowed(az: &Authz<'_>, operation: AclOperation, resource_type: i8, name: &str) -> bool {
    match resource_type {
        TOPIC_RESOURCE => az.topic(operation, name),
        GROUP_CONFIG_RESOURCE => az.group(operation, name),
        _ => az.cluster(operation),
    }
}

fn config_error(resource_type: i8) -> i16 {
    match resource_type {
        TOPIC_RESOURCE => TOPIC_AUTHORIZATION_FAILED,
        GROUP_CONFIG_RESOURCE => GROUP_AUTHORIZATION_FAILED,
        _ => CLUSTER_AUTHORIZATION_FAILED,
    }
}

/// Metadata: named topics the principal may not describe get
/// TOPIC_AUTHORIZATION_FAILED; with "all topics" they are left out. A
/// topic that would be auto-created needs Create on the cluster or topic.
fn metadata(az: &Authz<'_>, req: &mut MetadataRequest, version: i16) -> Merge {
    let all = match &req.topics {
        None => true,
        Some(topics) => version == 0 && topics.is_empty(),
    };
    let may_create =
        az.broker.config.auto_create_topics && (version < 4 || req.allow_auto_topic_creation);
    let mut denied: Vec<TopicName> = Vec::new();
    if let Some(topics) = &mut req.topics {
        let refused = strip(topics, |t| match &t.name {
            Some(name) => {
                if !az.topic(Describe, name) {
                    return true;
                }
                may_create
                    && az.image.topic(name).is_none()
                    && !az.cluster_alternative(Create)
                    && !az.topic(Create, name)
            }
            None => false,
        });
        denied = refused.into_iter().filter_map(|t| t.name).collect();
    }
    let named = !all;
    // v0 reads an empty list as "all topics": if every named topic was
    // refused, the handler listed them all, and none is wanted.
    let emptied = named && req.topics.as_ref().is_some_and(|t| t.is_empty());
    Box::new(move |az, resp| {
        if let ResponseKind::Metadata(r) = resp {
            if emptied {
                r.topics.clear();
            } else if all {
                r.topics.retain(|t| {
                    t.name
                        .as_ref()
                        .is_some_and(|n| az.sees(ResourceType::Topic, n))
                });
            } else if named {
                // Topics asked for by id: an unauthorized one is not
                // revealed (Kafka answers UNKNOWN_TOPIC_ID).
                for t in r.topics.iter_mut() {
                    if let Some(name) = &t.name {
                        if !az.sees(ResourceType::Topic, name) {
                            t.error_code = error_codes::UNKNOWN_TOPIC_ID;
                            t.name = None;
                            t.partitions.clear();
                        }
                    }
                }
            }
            r.topics.extend(denied.into_iter().map(|name| {
                metadata_response::MetadataResponseTopic::default()
                    .with_name(Some(name))
                    .with_error_code(TOPIC_AUTHORIZATION_FAILED)
            }));
        }
    })
}

fn offset_fetch(az: &Authz<'_>, version: i16, mut request: Request) -> Checked {
    let RequestKind::OffsetFetch(req) = &mut request.body else {
        return Checked::Go(request, None);
    };
    if version < 8 {
        if !az.group(Describe, &req.group_id) {
            return message(ResponseKind::OffsetFetch(
                OffsetFetchResponse::default().with_error_code(GROUP_AUTHORIZATION_FAILED),
            ));
        }
        let all = req.topics.is_none();
        let denied = req
            .topics
            .as_mut()
            .map(|topics| strip(topics, |t| !az.topic(Describe, &t.name)))
            .unwrap_or_default();
        return go(
            request,
            Box::new(move |az, resp| {
                if let ResponseKind::OffsetFetch(r) = resp {
                    if all {
                        r.topics.retain(|t| az.sees(ResourceType::Topic, &t.name));
                    }
                    r.topics.extend(denied.into_iter().map(|t| {
                        offset_fetch_response::OffsetFetchResponseTopic::default()
                            .with_name(t.name)
                            .with_partitions(
                                t.partition_indexes
                                    .iter()
                                    .map(|&p| {
                                        offset_fetch_response::OffsetFetchResponsePartition::default()
                                            .with_partition_index(p)
                                            .with_committed_offset(-1)
                                            .with_committed_leader_epoch(-1)
                                            .with_error_code(TOPIC_AUTHORIZATION_FAILED)
                                    })
                                    .collect(),
                            )
                    }));
                }
            }),
        );
    }
    let denied_groups = strip(&mut req.groups, |g| !az.group(Describe, &g.group_id));
    let mut denied_topics = Vec::new();
    let mut all_groups = Vec::new();
    for group in req.groups.iter_mut() {
        match group.topics.as_mut() {
            None => all_groups.push(group.group_id.clone()),
            Some(topics) => {
                let refused = strip(topics, |t| !az.topic(Describe, &t.name));
                if !refused.is_empty() {
                    denied_topics.push((group.group_id.clone(), refused));
                }
            }
        }
    }
    go(
        request,
        Box::new(move |az, resp| {
            if let ResponseKind::OffsetFetch(r) = resp {
                for group in r.groups.iter_mut() {
                    if all_groups.contains(&group.group_id) {
                        group
                            .topics
                            .retain(|t| az.sees(ResourceType::Topic, &t.name));
                    }
                    if let Some((_, refused)) =
                        denied_topics.iter().find(|(g, _)| *g == group.group_id)
                    {
                        group.topics.extend(refused.iter().map(|t| {
                            offset_fetch_response::OffsetFetchResponseTopics::default()
                                .with_name(t.name.clone())
                                .with_topic_id(t.topic_id)
                                .with_partitions(
                                    t.partition_indexes
                                        .iter()
                                        .map(|&p| {
                                            offset_fetch_response::OffsetFetchResponsePartitions::default()
                                                .with_partition_index(p)
                                                .with_committed_offset(-1)
                                                .with_committed_leader_epoch(-1)
                                                .with_error_code(TOPIC_AUTHORIZATION_FAILED)
                                        })
                                        .collect(),
                                )
                        }));
                    }
                }
                r.groups.extend(denied_groups.into_iter().map(|g| {
                    offset_fetch_response::OffsetFetchResponseGroup::default()
                        .with_group_id(g.group_id)
                        .with_error_code(GROUP_AUTHORIZATION_FAILED)
                }));
            }
        }),
    )
}

fn delete_topics(az: &Authz<'_>, mut request: Request) -> Checked {
    let RequestKind::DeleteTopics(req) = &mut request.body else {
        return Checked::Go(request, None);
    };
    let image = az.image.clone();
    // v6 names topics by name or id; older versions by name only.
    let denied_names = strip(&mut req.topic_names, |n| !az.topic(Delete, n));
    let denied_states = strip(&mut req.topics, |t| {
        let name = match &t.name {
            Some(name) => Some(name.to_string()),
            None => image.topic_by_id(&t.topic_id).map(|t| t.name.clone()),
        };
        // An unknown id is left to the handler (UNKNOWN_TOPIC_ID).
        name.is_some_and(|n| !az.topic(Delete, &n))
    });
    if denied_names.is_empty() && denied_states.is_empty() {
        return Checked::Go(request, None);
    }
    go(
        request,
        Box::new(move |_, resp| {
            if let ResponseKind::DeleteTopics(r) = resp {
                r.responses.extend(denied_names.into_iter().map(|n| {
                    delete_topics_response::DeletableTopicResult::default()
                        .with_name(Some(n))
                        .with_error_code(TOPIC_AUTHORIZATION_FAILED)
                }));
                r.responses.extend(denied_states.into_iter().map(|t| {
                    delete_topics_response::DeletableTopicResult::default()
                        .with_name(t.name)
                        .with_topic_id(t.topic_id)
                        .with_error_code(TOPIC_AUTHORIZATION_FAILED)
                }));
            }
        }),
    )
}

/// AddPartitionsToTxn: v0-3 come from producers (Write on the
/// transactional id, then Write on each topic; the other partitions get
/// OPERATION_NOT_ATTEMPTED); v4+ batches come from brokers verifying
/// transactions (ClusterAction).
fn add_partitions(az: &Authz<'_>, version: i16, mut request: Request) -> Checked {
    let RequestKind::AddPartitionsToTxn(req) = &mut request.body else {
        return Checked::Go(request, None);
    };
    if version >= 4 {
        if az.cluster(ClusterAction) {
            return Checked::Go(request, None);
        }
        return message(ResponseKind::AddPartitionsToTxn(
            AddPartitionsToTxnResponse::default().with_error_code(CLUSTER_AUTHORIZATION_FAILED),
        ));
    }
    let result = |topics: &[add_partitions_to_txn_request::AddPartitionsToTxnTopic],
                  code: &dyn Fn(&str) -> i16| {
        topics
            .iter()
            .map(|t| {
                add_partitions_to_txn_response::AddPartitionsToTxnTopicResult::default()
                    .with_name(t.name.clone())
                    .with_results_by_partition(
                        t.partitions
                            .iter()
                            .map(|&p| {
                                add_partitions_to_txn_response::AddPartitionsToTxnPartitionResult::default()
                                    .with_partition_index(p)
                                    .with_partition_error_code(code(&t.name))
                            })
                            .collect(),
                    )
            })
            .collect::<Vec<_>>()
    };
    let respond = |topics| {
        message(ResponseKind::AddPartitionsToTxn(
            AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(topics),
        ))
    };
    let txn_id = req.v3_and_below_transactional_id.clone();
    let topics = req.v3_and_below_topics.clone();
    if !az.txn(Write, &txn_id) {
        return respond(result(&topics, &|_| TRANSACTIONAL_ID_AUTHORIZATION_FAILED));
    }
    let denied: Vec<String> = topics
        .iter()
        .filter(|t| !az.topic(Write, &t.name))
        .map(|t| t.name.to_string())
        .collect();
    if denied.is_empty() {
        return Checked::Go(request, None);
    }
    respond(result(&topics, &|name| {
        if denied.iter().any(|d| d == name) {
            TOPIC_AUTHORIZATION_FAILED
        } else {
            error_codes::OPERATION_NOT_ATTEMPTED
        }
    }))
}
