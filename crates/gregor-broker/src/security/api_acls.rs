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

const fn check(
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
    (
        ApiKey::DescribeUserScramCredentials,
        &[check(Describe, Cluster, CLUSTER_FAILED, "")],
    ),
    (
        ApiKey::AlterUserScramCredentials,
        &[check(Alter, Cluster, CLUSTER_FAILED, "")],
    ),
    (
        ApiKey::DescribeClientQuotas,
        &[check(DescribeConfigs, Cluster, CLUSTER_FAILED, "")],
    ),
    (
        ApiKey::Produce,
        &[
            check(
                Write,
                TransactionalId,
                TXN_FAILED,
                "transactional producers only",
            ),
            check(Write, Topic, TOPIC_FAILED, "per topic"),
        ],
    ),
    (
        ApiKey::Fetch,
        &[
            check(
                ClusterAction,
                Cluster,
                TOPIC_FAILED,
                "followers: every partition refused",
            ),
            check(Read, Topic, TOPIC_FAILED, "consumers: per topic"),
        ],
    ),
    (
        ApiKey::ListOffsets,
        &[check(Describe, Topic, TOPIC_FAILED, "per topic")],
    ),
    (
        ApiKey::Metadata,
        &[
            check(
                Describe,
                Topic,
                TOPIC_FAILED,
                "named topics; all-topics requests leave them out",
            ),
            check(
                Create,
                Cluster,
                NONE,
                "auto-creation: Create on the cluster, or",
            ),
            check(Create, Topic, TOPIC_FAILED, "... Create on the topic"),
        ],
    ),
    (
        ApiKey::OffsetForLeaderEpoch,
        &[
            check(ClusterAction, Cluster, CLUSTER_FAILED, "followers"),
            check(Describe, Topic, TOPIC_FAILED, "consumers: per topic"),
        ],
    ),
    (
        ApiKey::OffsetCommit,
        &[
            check(Read, Group, GROUP_FAILED, ""),
            check(Read, Topic, TOPIC_FAILED, "per topic"),
        ],
    ),
    (
        ApiKey::OffsetFetch,
        &[
            check(Describe, Group, GROUP_FAILED, "per group"),
            check(
                Describe,
                Topic,
                TOPIC_FAILED,
                "named topics; all-topics requests leave them out",
            ),
        ],
    ),
    (
        ApiKey::FindCoordinator,
        &[
            check(Describe, Group, GROUP_FAILED, "group keys"),
            check(Describe, TransactionalId, TXN_FAILED, "transaction keys"),
        ],
    ),
    (ApiKey::JoinGroup, &[check(Read, Group, GROUP_FAILED, "")]),
    (ApiKey::SyncGroup, &[check(Read, Group, GROUP_FAILED, "")]),
    (ApiKey::Heartbeat, &[check(Read, Group, GROUP_FAILED, "")]),
    (ApiKey::LeaveGroup, &[check(Read, Group, GROUP_FAILED, "")]),
    (
        ApiKey::ConsumerGroupHeartbeat,
        &[
            check(Read, Group, GROUP_FAILED, ""),
            check(Describe, Topic, TOPIC_FAILED, "every subscribed topic name"),
        ],
    ),
    (
        ApiKey::DescribeGroups,
        &[check(Describe, Group, GROUP_FAILED, "per group")],
    ),
    (
        ApiKey::ConsumerGroupDescribe,
        &[
            check(Describe, Group, GROUP_FAILED, "per group"),
            check(
                Describe,
                Topic,
                TOPIC_FAILED,
                "per group: every topic its members are assigned",
            ),
        ],
    ),
    (
        ApiKey::ListGroups,
        &[
            check(Describe, Cluster, NONE, "all groups, else"),
            check(Describe, Group, NONE, "filtered per group"),
        ],
    ),
    (
        ApiKey::DeleteGroups,
        &[check(Delete, Group, GROUP_FAILED, "per group")],
    ),
    (
        ApiKey::OffsetDelete,
        &[
            check(Delete, Group, GROUP_FAILED, ""),
            check(Read, Topic, TOPIC_FAILED, "per topic"),
        ],
    ),
    (
        ApiKey::CreateTopics,
        &[
            check(Create, Cluster, NONE, "Create on the cluster, or"),
            check(Create, Topic, TOPIC_FAILED, "... per topic"),
        ],
    ),
    (
        ApiKey::DeleteTopics,
        &[check(Delete, Topic, TOPIC_FAILED, "per topic")],
    ),
    (
        ApiKey::CreatePartitions,
        &[check(Alter, Topic, TOPIC_FAILED, "per topic")],
    ),
    (
        ApiKey::DeleteRecords,
        &[check(Delete, Topic, TOPIC_FAILED, "per topic")],
    ),
    (
        ApiKey::DescribeConfigs,
        &[
            check(DescribeConfigs, Cluster, CLUSTER_FAILED, "broker resources"),
            check(DescribeConfigs, Topic, TOPIC_FAILED, "topic resources"),
        ],
    ),
    (
        ApiKey::AlterConfigs,
        &[
            check(AlterConfigs, Cluster, CLUSTER_FAILED, "broker resources"),
            check(AlterConfigs, Topic, TOPIC_FAILED, "topic resources"),
        ],
    ),
    (
        ApiKey::IncrementalAlterConfigs,
        &[
            check(AlterConfigs, Cluster, CLUSTER_FAILED, "broker resources"),
            check(AlterConfigs, Topic, TOPIC_FAILED, "topic resources"),
        ],
    ),
    (
        ApiKey::InitProducerId,
        &[
            check(
                Write,
                TransactionalId,
                TXN_FAILED,
                "transactional producers",
            ),
            check(
                IdempotentWrite,
                Cluster,
                NONE,
                "idempotent producers: IdempotentWrite, or",
            ),
            check(
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
            check(Write, TransactionalId, TXN_FAILED, "v0-3 (producers)"),
            check(Write, Topic, TOPIC_FAILED, "v0-3, per topic"),
            check(
                ClusterAction,
                Cluster,
                CLUSTER_FAILED,
                "v4+ (brokers verifying)",
            ),
        ],
    ),
    (
        ApiKey::AddOffsetsToTxn,
        &[
            check(Write, TransactionalId, TXN_FAILED, ""),
            check(Read, Group, GROUP_FAILED, ""),
        ],
    ),
    (
        ApiKey::EndTxn,
        &[check(Write, TransactionalId, TXN_FAILED, "")],
    ),
    (
        ApiKey::TxnOffsetCommit,
        &[
            check(Write, TransactionalId, TXN_FAILED, ""),
            check(Read, Group, GROUP_FAILED, ""),
            check(Read, Topic, TOPIC_FAILED, "per topic"),
        ],
    ),
    (
        ApiKey::WriteTxnMarkers,
        &[check(ClusterAction, Cluster, CLUSTER_FAILED, "")],
    ),
    (
        ApiKey::DescribeProducers,
        &[check(Read, Topic, TOPIC_FAILED, "per topic")],
    ),
    (
        ApiKey::DescribeTransactions,
        &[check(Describe, TransactionalId, TXN_FAILED, "per id")],
    ),
    (
        ApiKey::ListTransactions,
        &[check(Describe, TransactionalId, NONE, "filtered per id")],
    ),
    (
        ApiKey::DescribeTopicPartitions,
        &[check(
            Describe,
            Topic,
            TOPIC_FAILED,
            "named topics; listings leave them out",
        )],
    ),
    (
        ApiKey::DescribeCluster,
        &[
            check(
                Describe,
                Cluster,
                NONE,
                "clusterAuthorizedOperations only (0 when denied)",
            ),
            check(Alter, Cluster, CLUSTER_FAILED, "controller listeners"),
        ],
    ),
    (
        ApiKey::DescribeLogDirs,
        &[check(Describe, Cluster, CLUSTER_FAILED, "")],
    ),
    (
        ApiKey::DescribeQuorum,
        &[check(Describe, Cluster, CLUSTER_FAILED, "")],
    ),
    (
        ApiKey::ElectLeaders,
        &[check(Alter, Cluster, CLUSTER_FAILED, "")],
    ),
    (
        ApiKey::AlterPartitionReassignments,
        &[check(Alter, Cluster, CLUSTER_FAILED, "")],
    ),
    (
        ApiKey::ListPartitionReassignments,
        &[check(Describe, Cluster, CLUSTER_FAILED, "")],
    ),
    (
        ApiKey::UpdateFeatures,
        &[check(Alter, Cluster, CLUSTER_FAILED, "")],
    ),
    (
        ApiKey::CreateAcls,
        &[check(Alter, Cluster, CLUSTER_FAILED, "")],
    ),
    (
        ApiKey::DeleteAcls,
        &[check(Alter, Cluster, CLUSTER_FAILED, "")],
    ),
    (
        ApiKey::DescribeAcls,
        &[check(Describe, Cluster, CLUSTER_FAILED, "")],
    ),
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
