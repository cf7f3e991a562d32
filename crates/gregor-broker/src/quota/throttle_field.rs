//! The `throttle_time_ms` field of every client response that has one:
//! Kafka writes a quota's throttle time into whatever response the
//! throttled request gets, not only Produce and Fetch. (Versions that lack
//! the field simply do not encode it.)

use kafka_protocol::messages::ResponseKind;

macro_rules! throttle_field {
    ($($variant:ident),* $(,)?) => {
        /// The response's throttle time, 0 for responses without the field.
        pub fn get(response: &ResponseKind) -> i32 {
            match response {
                $(ResponseKind::$variant(r) => r.throttle_time_ms,)*
                _ => 0,
            }
        }

        /// Sets the response's throttle time where it has the field.
        pub fn set(response: &mut ResponseKind, ms: i32) {
            match response {
                $(ResponseKind::$variant(r) => r.throttle_time_ms = ms,)*
                _ => {}
            }
        }
    };
}

throttle_field!(
    AddOffsetsToTxn,
    AddPartitionsToTxn,
    AlterClientQuotas,
    AlterConfigs,
    AlterPartitionReassignments,
    AlterReplicaLogDirs,
    AlterUserScramCredentials,
    ApiVersions,
    ConsumerGroupDescribe,
    ConsumerGroupHeartbeat,
    CreateAcls,
    CreateDelegationToken,
    CreatePartitions,
    CreateTopics,
    DeleteAcls,
    DeleteGroups,
    DeleteRecords,
    DeleteTopics,
    DescribeAcls,
    DescribeClientQuotas,
    DescribeCluster,
    DescribeConfigs,
    DescribeDelegationToken,
    DescribeGroups,
    DescribeLogDirs,
    DescribeProducers,
    DescribeTopicPartitions,
    DescribeTransactions,
    DescribeUserScramCredentials,
    ElectLeaders,
    EndTxn,
    ExpireDelegationToken,
    Fetch,
    FindCoordinator,
    GetTelemetrySubscriptions,
    Heartbeat,
    IncrementalAlterConfigs,
    InitProducerId,
    JoinGroup,
    LeaveGroup,
    ListConfigResources,
    ListGroups,
    ListOffsets,
    ListPartitionReassignments,
    ListTransactions,
    Metadata,
    OffsetCommit,
    OffsetDelete,
    OffsetFetch,
    OffsetForLeaderEpoch,
    Produce,
    PushTelemetry,
    RenewDelegationToken,
    ShareAcknowledge,
    ShareFetch,
    ShareGroupDescribe,
    ShareGroupHeartbeat,
    SyncGroup,
    TxnOffsetCommit,
    UpdateFeatures,
);

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::{CreateTopicsResponse, MetadataResponse};

    #[test]
    fn sets_and_reads_the_field_of_any_response_that_has_one() {
        let mut metadata = ResponseKind::Metadata(MetadataResponse::default());
        set(&mut metadata, 250);
        assert_eq!(get(&metadata), 250);
        let topics =
            ResponseKind::CreateTopics(CreateTopicsResponse::default().with_throttle_time_ms(7));
        assert_eq!(get(&topics), 7);
    }
}
