//! What each Kafka API needs, as Kafka's `KafkaApis` checks it (docs
//! §"Operations and Resources on Protocols"). `handlers::authz` enforces
//! these; this table documents them in one place, is printed by
//! docs/security.md, and tests hold the two together (every API a broker
//! listener serves has a row; the over-the-wire test in
//! crates/gregor/tests/acls.rs checks each row's error code).

use gregor_metadata::acl::AclOperation::{self, *};
use gregor_metadata::acl::ResourceType::{self, *};
use gregor_protocol::error_codes::{
    CLUSTER_AUTHORIZATION_FAILED as CLUSTER_FAILED, GROUP_AUTHORIZATION_FAILED as GROUP_FAILED,
    NONE, TOPIC_AUTHORIZATION_FAILED as TOPIC_FAILED,
    TRANSACTIONAL_ID_AUTHORIZATION_FAILED as TXN_FAILED,
};
use kafka_protocol::messages::ApiKey;

/// One check an API makes: the operation on a resource type, and the
/// error a refusal gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Check {
    pub operation: AclOperation,
    pub resource: ResourceType,
    pub error: i16,
    /// How the check applies (alternatives, per item, filters).
    pub note: &'static str,
}

/// A check refused with its resource type's own error
/// (TOPIC/GROUP/CLUSTER/TRANSACTIONAL_ID_AUTHORIZATION_FAILED).
const fn check(operation: AclOperation, resource: ResourceType, note: &'static str) -> Check {
    let error = match resource {
        Topic => TOPIC_FAILED,
        Group => GROUP_FAILED,
        TransactionalId => TXN_FAILED,
        // Cluster: no row names another type.
        _ => CLUSTER_FAILED,
    };
    check_with(operation, resource, error, note)
}

/// A check with no error of its own: it filters what the response lists,
/// or is one of two alternatives (the next row's error applies).
const fn quiet(operation: AclOperation, resource: ResourceType, note: &'static str) -> Check {
    check_with(operation, resource, NONE, note)
}

/// A check refused with another error than its resource type's.
const fn check_with(
    operation: AclOperation,
    resource: ResourceType,
    error: i16,
    note: &'static str,
) -> Check {
    Check {
        operation,
        resource,
        error,
        note,
    }
}

/// Every API a broker listener serves, with its checks in the order made.
pub const API_ACLS: &[(ApiKey, &[Check])] = &[
    (ApiKey::ApiVersions, &[]),
    (ApiKey::SaslHandshake, &[]),
    (ApiKey::SaslAuthenticate, &[]),
    // KIP-714: any connected client may ask and push.
    (ApiKey::GetTelemetrySubscriptions, &[]),
    (ApiKey::PushTelemetry, &[]),
    (
        ApiKey::DescribeUserScramCredentials,
        &[check(Describe, Cluster, "")],
    ),
    (
        ApiKey::AlterUserScramCredentials,
        &[check(Alter, Cluster, "")],
    ),
    (
        ApiKey::DescribeClientQuotas,
        &[check(DescribeConfigs, Cluster, "")],
    ),
    (
        ApiKey::AlterClientQuotas,
        &[check(AlterConfigs, Cluster, "")],
    ),
    (
        ApiKey::ListConfigResources,
        &[check(DescribeConfigs, Cluster, "")],
    ),
    (
        ApiKey::Produce,
        &[
            check(Write, TransactionalId, "transactional producers only"),
            check(Write, Topic, "per topic"),
        ],
    ),
    (
        ApiKey::Fetch,
        &[
            check_with(
                ClusterAction,
                Cluster,
                TOPIC_FAILED,
                "followers: every partition refused",
            ),
            check(Read, Topic, "consumers: per topic"),
        ],
    ),
    (ApiKey::ListOffsets, &[check(Describe, Topic, "per topic")]),
    (
        ApiKey::Metadata,
        &[
            check(
                Describe,
                Topic,
                "named topics; all-topics requests leave them out",
            ),
            quiet(Create, Cluster, "auto-creation: Create on the cluster, or"),
            check(Create, Topic, "... Create on the topic"),
        ],
    ),
    (
        ApiKey::OffsetForLeaderEpoch,
        &[
            check(ClusterAction, Cluster, "followers"),
            check(Describe, Topic, "consumers: per topic"),
        ],
    ),
    (
        ApiKey::OffsetCommit,
        &[check(Read, Group, ""), check(Read, Topic, "per topic")],
    ),
    (
        ApiKey::OffsetFetch,
        &[
            check(Describe, Group, "per group"),
            check(
                Describe,
                Topic,
                "named topics; all-topics requests leave them out",
            ),
        ],
    ),
    (
        ApiKey::FindCoordinator,
        &[
            check(Describe, Group, "group keys"),
            check(Describe, TransactionalId, "transaction keys"),
            check(
                ClusterAction,
                Cluster,
                "share-partition keys (brokers only)",
            ),
        ],
    ),
    (ApiKey::JoinGroup, &[check(Read, Group, "")]),
    (ApiKey::SyncGroup, &[check(Read, Group, "")]),
    (ApiKey::Heartbeat, &[check(Read, Group, "")]),
    (ApiKey::LeaveGroup, &[check(Read, Group, "")]),
    (
        ApiKey::ConsumerGroupHeartbeat,
        &[
            check(Read, Group, ""),
            check(Describe, Topic, "every subscribed topic name"),
        ],
    ),
    (
        ApiKey::DescribeGroups,
        &[check(Describe, Group, "per group")],
    ),
    (
        ApiKey::ConsumerGroupDescribe,
        &[
            check(Describe, Group, "per group"),
            check(
                Describe,
                Topic,
                "per group: every topic its members are assigned",
            ),
        ],
    ),
    (
        ApiKey::ListGroups,
        &[
            quiet(Describe, Cluster, "all groups, else"),
            quiet(Describe, Group, "filtered per group"),
        ],
    ),
    (ApiKey::DeleteGroups, &[check(Delete, Group, "per group")]),
    (
        ApiKey::ShareGroupHeartbeat,
        &[
            check(Read, Group, ""),
            check(Describe, Topic, "every subscribed topic name"),
        ],
    ),
    (
        ApiKey::ShareFetch,
        &[check(Read, Group, ""), check(Read, Topic, "per partition")],
    ),
    (
        ApiKey::ShareAcknowledge,
        &[check(Read, Group, ""), check(Read, Topic, "per partition")],
    ),
    (
        ApiKey::ShareGroupDescribe,
        &[check(Describe, Group, "per group")],
    ),
    (
        ApiKey::DescribeShareGroupOffsets,
        &[
            check(Describe, Group, "per group"),
            check(Describe, Topic, "per topic"),
        ],
    ),
    (
        ApiKey::AlterShareGroupOffsets,
        &[check(Read, Group, ""), check(Read, Topic, "per topic")],
    ),
    (
        ApiKey::DeleteShareGroupOffsets,
        &[check(Delete, Group, ""), check(Read, Topic, "per topic")],
    ),
    (
        ApiKey::OffsetDelete,
        &[check(Delete, Group, ""), check(Read, Topic, "per topic")],
    ),
    (
        ApiKey::CreateTopics,
        &[
            quiet(Create, Cluster, "Create on the cluster, or"),
            check(Create, Topic, "... per topic"),
        ],
    ),
    (ApiKey::DeleteTopics, &[check(Delete, Topic, "per topic")]),
    (
        ApiKey::CreatePartitions,
        &[check(Alter, Topic, "per topic")],
    ),
    (ApiKey::DeleteRecords, &[check(Delete, Topic, "per topic")]),
    (
        ApiKey::DescribeConfigs,
        &[
            check(
                DescribeConfigs,
                Cluster,
                "broker and client-metrics resources",
            ),
            check(DescribeConfigs, Topic, "topic resources"),
            check(DescribeConfigs, Group, "group resources"),
        ],
    ),
    (
        ApiKey::AlterConfigs,
        &[
            check(AlterConfigs, Cluster, "broker and client-metrics resources"),
            check(AlterConfigs, Topic, "topic resources"),
            check(AlterConfigs, Group, "group resources"),
        ],
    ),
    (
        ApiKey::IncrementalAlterConfigs,
        &[
            check(AlterConfigs, Cluster, "broker and client-metrics resources"),
            check(AlterConfigs, Topic, "topic resources"),
            check(AlterConfigs, Group, "group resources"),
        ],
    ),
    (
        ApiKey::InitProducerId,
        &[
            check(Write, TransactionalId, "transactional producers"),
            quiet(
                IdempotentWrite,
                Cluster,
                "idempotent producers: IdempotentWrite, or",
            ),
            check_with(
                Write,
                Topic,
                CLUSTER_FAILED,
                "... Write on any topic (KIP-679)",
            ),
        ],
    ),
    (
        ApiKey::AddPartitionsToTxn,
        &[
            check(Write, TransactionalId, "v0-3 (producers)"),
            check(Write, Topic, "v0-3, per topic"),
            check(ClusterAction, Cluster, "v4+ (brokers verifying)"),
        ],
    ),
    (
        ApiKey::AddOffsetsToTxn,
        &[check(Write, TransactionalId, ""), check(Read, Group, "")],
    ),
    (ApiKey::EndTxn, &[check(Write, TransactionalId, "")]),
    (
        ApiKey::TxnOffsetCommit,
        &[
            check(Write, TransactionalId, ""),
            check(Read, Group, ""),
            check(Read, Topic, "per topic"),
        ],
    ),
    (
        ApiKey::WriteTxnMarkers,
        &[check(ClusterAction, Cluster, "")],
    ),
    (
        ApiKey::InitializeShareGroupState,
        &[check(ClusterAction, Cluster, "")],
    ),
    (
        ApiKey::ReadShareGroupState,
        &[check(ClusterAction, Cluster, "")],
    ),
    (
        ApiKey::WriteShareGroupState,
        &[check(ClusterAction, Cluster, "")],
    ),
    (
        ApiKey::DeleteShareGroupState,
        &[check(ClusterAction, Cluster, "")],
    ),
    (
        ApiKey::ReadShareGroupStateSummary,
        &[check(ClusterAction, Cluster, "")],
    ),
    (
        ApiKey::DescribeProducers,
        &[check(Read, Topic, "per topic")],
    ),
    (
        ApiKey::DescribeTransactions,
        &[check(Describe, TransactionalId, "per id")],
    ),
    (
        ApiKey::ListTransactions,
        &[quiet(Describe, TransactionalId, "filtered per id")],
    ),
    (
        ApiKey::DescribeTopicPartitions,
        &[check(
            Describe,
            Topic,
            "named topics; listings leave them out",
        )],
    ),
    (
        ApiKey::DescribeCluster,
        &[
            quiet(
                Describe,
                Cluster,
                "clusterAuthorizedOperations only (0 when denied)",
            ),
            check(Alter, Cluster, "controller listeners"),
        ],
    ),
    (ApiKey::DescribeLogDirs, &[check(Describe, Cluster, "")]),
    (ApiKey::DescribeQuorum, &[check(Describe, Cluster, "")]),
    (ApiKey::ElectLeaders, &[check(Alter, Cluster, "")]),
    (
        ApiKey::AlterPartitionReassignments,
        &[check(Alter, Cluster, "")],
    ),
    (
        ApiKey::ListPartitionReassignments,
        &[check(Describe, Cluster, "")],
    ),
    (ApiKey::UpdateFeatures, &[check(Alter, Cluster, "")]),
    (ApiKey::CreateAcls, &[check(Alter, Cluster, "")]),
    (ApiKey::DeleteAcls, &[check(Alter, Cluster, "")]),
    (ApiKey::DescribeAcls, &[check(Describe, Cluster, "")]),
];

/// The checks of `api`, if it has a row.
pub fn checks(api: ApiKey) -> Option<&'static [Check]> {
    API_ACLS.iter().find(|(k, _)| *k == api).map(|(_, c)| *c)
}

/// The table as Markdown rows (API | operation | resource | error | note).
pub fn markdown() -> String {
    let mut out = String::from(
        "| API | Operation | Resource | Refused with | When |\n|---|---|---|---|---|\n",
    );
    for (api, checks) in API_ACLS {
        if checks.is_empty() {
            out.push_str(&format!("| {api:?} | none | | | |\n"));
        }
        for c in *checks {
            let error = match c.error {
                TOPIC_FAILED => "TOPIC_AUTHORIZATION_FAILED",
                GROUP_FAILED => "GROUP_AUTHORIZATION_FAILED",
                CLUSTER_FAILED => "CLUSTER_AUTHORIZATION_FAILED",
                TXN_FAILED => "TRANSACTIONAL_ID_AUTHORIZATION_FAILED",
                _ => "(filtered, no error)",
            };
            out.push_str(&format!(
                "| {api:?} | {} | {} | {error} | {} |\n",
                c.operation, c.resource, c.note
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_broker_api_has_a_row() {
        for key in ApiKey::iter() {
            if crate::handlers::api_versions::supported(key).is_some() {
                assert!(checks(key).is_some(), "{key:?} has no authorization row");
            }
        }
        for (key, _) in API_ACLS {
            assert!(
                crate::handlers::api_versions::supported(*key).is_some()
                    || matches!(
                        key,
                        ApiKey::DescribeUserScramCredentials
                            | ApiKey::AlterUserScramCredentials
                            | ApiKey::DescribeClientQuotas
                            // Served by handlers::share_state_frames.
                            | ApiKey::WriteShareGroupState
                            | ApiKey::ReadShareGroupStateSummary
                    ),
                "{key:?} is not served"
            );
        }
    }

    /// docs/security.md carries the table as `markdown()` prints it.
    #[test]
    fn the_docs_list_the_table() {
        let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/security.md");
        let docs = std::fs::read_to_string(docs).unwrap_or_default();
        let table = markdown();
        assert!(
            docs.contains(&table),
            "docs/security.md must hold the per-API table:\n{table}"
        );
    }

    #[test]
    fn the_table_prints() {
        let table = markdown();
        assert!(
            table.contains("| Produce | Write | Topic | TOPIC_AUTHORIZATION_FAILED | per topic |")
        );
        assert!(table.contains("| InitProducerId | IdempotentWrite | Cluster |"));
    }
}
