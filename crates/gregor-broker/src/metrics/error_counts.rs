//! The error codes a response carries, as Kafka's `AbstractResponse.errorCounts`
//! counts them for ErrorsPerSec: one per partition, topic, group or member
//! entry that has an error code, NONE included; a response with only a
//! top-level code counts it once.
//!
//! Covered: the APIs clients use on the data path and for groups and
//! topics. Others (ACLs, configs, quotas, SCRAM, reassignments, ...) are
//! counted through their top-level code where they have one and otherwise
//! not at all.

use crate::handlers::fetch::FetchReply;
use kafka_protocol::messages::ResponseKind;

/// Calls `count` once per error code in `response`.
pub fn visit(response: &ResponseKind, count: &mut impl FnMut(i16)) {
    use ResponseKind as R;
    match response {
        R::Produce(r) => r
            .responses
            .iter()
            .flat_map(|t| &t.partition_responses)
            .for_each(|p| count(p.error_code)),
        R::Metadata(r) => {
            for t in &r.topics {
                count(t.error_code);
                t.partitions.iter().for_each(|p| count(p.error_code));
            }
        }
        R::ListOffsets(r) => r
            .topics
            .iter()
            .flat_map(|t| &t.partitions)
            .for_each(|p| count(p.error_code)),
        R::OffsetCommit(r) => r
            .topics
            .iter()
            .flat_map(|t| &t.partitions)
            .for_each(|p| count(p.error_code)),
        R::OffsetFetch(r) if !r.groups.is_empty() => {
            for g in &r.groups {
                count(g.error_code);
                g.topics
                    .iter()
                    .flat_map(|t| &t.partitions)
                    .for_each(|p| count(p.error_code));
            }
        }
        R::OffsetFetch(r) => {
            count(r.error_code);
            r.topics
                .iter()
                .flat_map(|t| &t.partitions)
                .for_each(|p| count(p.error_code));
        }
        R::FindCoordinator(r) if !r.coordinators.is_empty() => {
            r.coordinators.iter().for_each(|c| count(c.error_code))
        }
        R::FindCoordinator(r) => count(r.error_code),
        R::LeaveGroup(r) => {
            count(r.error_code);
            r.members.iter().for_each(|m| count(m.error_code));
        }
        R::DescribeGroups(r) => r.groups.iter().for_each(|g| count(g.error_code)),
        R::CreateTopics(r) => r.topics.iter().for_each(|t| count(t.error_code)),
        R::DeleteTopics(r) => r.responses.iter().for_each(|t| count(t.error_code)),
        R::CreatePartitions(r) => r.results.iter().for_each(|t| count(t.error_code)),
        R::DeleteRecords(r) => r
            .topics
            .iter()
            .flat_map(|t| &t.partitions)
            .for_each(|p| count(p.error_code)),
        R::OffsetForLeaderEpoch(r) => r
            .topics
            .iter()
            .flat_map(|t| &t.partitions)
            .for_each(|p| count(p.error_code)),
        R::TxnOffsetCommit(r) => r
            .topics
            .iter()
            .flat_map(|t| &t.partitions)
            .for_each(|p| count(p.error_code)),
        R::JoinGroup(r) => count(r.error_code),
        R::SyncGroup(r) => count(r.error_code),
        R::Heartbeat(r) => count(r.error_code),
        R::ListGroups(r) => count(r.error_code),
        R::ApiVersions(r) => count(r.error_code),
        R::InitProducerId(r) => count(r.error_code),
        R::EndTxn(r) => count(r.error_code),
        R::AddOffsetsToTxn(r) => count(r.error_code),
        R::DescribeCluster(r) => count(r.error_code),
        R::ConsumerGroupHeartbeat(r) => count(r.error_code),
        R::SaslHandshake(r) => count(r.error_code),
        R::SaslAuthenticate(r) => count(r.error_code),
        R::DescribeAcls(r) => count(r.error_code),
        R::ListPartitionReassignments(r) => count(r.error_code),
        R::AlterPartitionReassignments(r) => count(r.error_code),
        R::DescribeUserScramCredentials(r) => count(r.error_code),
        R::DescribeClientQuotas(r) => count(r.error_code),
        R::ElectLeaders(r) => count(r.error_code),
        R::UpdateFeatures(r) => count(r.error_code),
        R::DescribeLogDirs(r) => count(r.error_code),
        R::ListTransactions(r) => count(r.error_code),
        _ => {}
    }
}

/// A fetch response's codes: the top-level one, then one per partition
/// (Kafka's `FetchResponse.errorCounts`).
pub fn visit_fetch(reply: &FetchReply, count: &mut impl FnMut(i16)) {
    count(reply.error_code);
    reply
        .topics
        .iter()
        .flat_map(|t| &t.partitions)
        .for_each(|p| count(p.error_code));
}
