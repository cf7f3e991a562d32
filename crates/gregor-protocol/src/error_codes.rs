//! Kafka's error codes, named as in Kafka's `org.apache.kafka.common.protocol.Errors`.
//!
//! The one place every Gregor crate takes an error code from: the numbers are
//! on the wire, so a typo is a protocol bug. Only the codes Gregor sends or
//! tests for are listed; add more here (never as a local constant).

/// The server hit an unexpected error.
pub const UNKNOWN_SERVER_ERROR: i16 = -1;
/// Success.
pub const NONE: i16 = 0;
/// The requested offset is outside the range the partition holds.
pub const OFFSET_OUT_OF_RANGE: i16 = 1;
/// A record batch failed its CRC or is otherwise corrupt.
pub const CORRUPT_MESSAGE: i16 = 2;
/// This broker does not host this topic-partition.
pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
/// The partition has no leader right now (election in progress).
pub const LEADER_NOT_AVAILABLE: i16 = 5;
/// This broker is not the leader (or a replica) of the partition.
pub const NOT_LEADER_OR_FOLLOWER: i16 = 6;
/// The request did not complete in time (here: a metadata change not committed).
pub const REQUEST_TIMED_OUT: i16 = 7;
/// The node is shutting down (KRaft requests during shutdown).
pub const BROKER_NOT_AVAILABLE: i16 = 8;
/// A record batch is larger than the topic allows.
pub const MESSAGE_TOO_LARGE: i16 = 10;
/// A committed offset's metadata string is too long.
pub const OFFSET_METADATA_TOO_LARGE: i16 = 12;
/// The coordinator is still loading its state.
pub const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
/// The coordinator is not available.
pub const COORDINATOR_NOT_AVAILABLE: i16 = 15;
/// This broker is not the coordinator for the key.
pub const NOT_COORDINATOR: i16 = 16;
/// The topic name is not valid.
pub const INVALID_TOPIC_EXCEPTION: i16 = 17;
/// A produce request's records exceed the segment size.
pub const RECORD_LIST_TOO_LARGE: i16 = 18;
/// Fewer in-sync replicas than `min.insync.replicas`.
pub const NOT_ENOUGH_REPLICAS: i16 = 19;
/// Appended, but the ISR fell below `min.insync.replicas` before acks=all
/// was satisfied.
pub const NOT_ENOUGH_REPLICAS_AFTER_APPEND: i16 = 20;
/// The produce request's `acks` is not -1, 0 or 1.
pub const INVALID_REQUIRED_ACKS: i16 = 21;
/// The member's generation is not the group's.
pub const ILLEGAL_GENERATION: i16 = 22;
/// The member's protocol type or protocols do not match the group's.
pub const INCONSISTENT_GROUP_PROTOCOL: i16 = 23;
/// The group id is empty or null.
pub const INVALID_GROUP_ID: i16 = 24;
/// The coordinator does not know this member id.
pub const UNKNOWN_MEMBER_ID: i16 = 25;
/// The session timeout is outside the broker's allowed range.
pub const INVALID_SESSION_TIMEOUT: i16 = 26;
/// The group is rebalancing; the member must rejoin.
pub const REBALANCE_IN_PROGRESS: i16 = 27;
/// The API version is not supported.
pub const UNSUPPORTED_VERSION: i16 = 35;
/// A topic with this name already exists.
pub const TOPIC_ALREADY_EXISTS: i16 = 36;
/// The number of partitions is not valid.
pub const INVALID_PARTITIONS: i16 = 37;
/// The replication factor is not valid.
pub const INVALID_REPLICATION_FACTOR: i16 = 38;
/// The replica assignment is not valid.
pub const INVALID_REPLICA_ASSIGNMENT: i16 = 39;
/// A configuration is not valid.
pub const INVALID_CONFIG: i16 = 40;
/// The principal may not perform the operation on this topic.
pub const TOPIC_AUTHORIZATION_FAILED: i16 = 29;
/// The principal may not perform the operation on this group.
pub const GROUP_AUTHORIZATION_FAILED: i16 = 30;
/// The principal may not perform the operation on the cluster.
pub const CLUSTER_AUTHORIZATION_FAILED: i16 = 31;
/// This node is not the active controller.
pub const NOT_CONTROLLER: i16 = 41;
/// The request is malformed or contradicts itself.
pub const INVALID_REQUEST: i16 = 42;
/// The request breaks a broker policy.
pub const POLICY_VIOLATION: i16 = 44;
/// The principal may not perform the operation on this transactional id.
pub const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: i16 = 53;
/// No authorizer is configured (the ACL APIs are disabled).
pub const SECURITY_DISABLED: i16 = 54;
/// The producer's sequence number is not the next one expected.
pub const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
/// The producer epoch is older than the current one (fenced).
pub const INVALID_PRODUCER_EPOCH: i16 = 47;
/// The operation is not allowed in the transaction's current state.
pub const INVALID_TXN_STATE: i16 = 48;
/// The producer id is not the one mapped to the transactional id.
pub const INVALID_PRODUCER_ID_MAPPING: i16 = 49;
/// The transaction timeout exceeds `transaction.max.timeout.ms`.
pub const INVALID_TRANSACTION_TIMEOUT: i16 = 50;
/// Another transaction on this producer is still completing.
pub const CONCURRENT_TRANSACTIONS: i16 = 51;
/// A newer transaction coordinator epoch fenced this marker.
pub const TRANSACTION_COORDINATOR_FENCED: i16 = 52;
/// Not attempted because another part of the request failed.
pub const OPERATION_NOT_ATTEMPTED: i16 = 55;
/// The log directory could not be read or written.
pub const KAFKA_STORAGE_ERROR: i16 = 56;
/// The group still has members.
pub const NON_EMPTY_GROUP: i16 = 68;
/// The group does not exist.
pub const GROUP_ID_NOT_FOUND: i16 = 69;
/// The fetch session id is not known.
pub const FETCH_SESSION_ID_NOT_FOUND: i16 = 70;
/// The fetch session epoch is not the next one expected.
pub const INVALID_FETCH_SESSION_EPOCH: i16 = 71;
/// The request's leader epoch is older than the broker's.
pub const FENCED_LEADER_EPOCH: i16 = 74;
/// The request's leader epoch is newer than the broker's.
pub const UNKNOWN_LEADER_EPOCH: i16 = 75;
/// PushTelemetry in a compression type the broker does not know.
pub const UNSUPPORTED_COMPRESSION_TYPE: i16 = 76;
/// The broker's epoch is not its current registration's (BrokerHeartbeat).
pub const STALE_BROKER_EPOCH: i16 = 77;
/// A new leader's high watermark has not reached the start of its epoch
/// yet: "latest" offsets are not known (ListOffsets).
pub const OFFSET_NOT_AVAILABLE: i16 = 78;
/// The joining member must rejoin with the member id it was given.
pub const MEMBER_ID_REQUIRED: i16 = 79;
/// ElectLeaders: the preferred replica cannot lead (not in sync or not live).
pub const PREFERRED_LEADER_NOT_AVAILABLE: i16 = 80;
/// The group has reached `group.max.size` members.
pub const GROUP_MAX_SIZE_REACHED: i16 = 81;
/// Another member took over this static group instance id.
pub const FENCED_INSTANCE_ID: i16 = 82;
/// ElectLeaders: no replica can lead.
pub const ELIGIBLE_LEADERS_NOT_AVAILABLE: i16 = 83;
/// ElectLeaders: the partition is already led as asked.
pub const ELECTION_NOT_NEEDED: i16 = 84;
/// Cancelling a reassignment of a partition that has none.
pub const NO_REASSIGNMENT_IN_PROGRESS: i16 = 85;
/// The group still has committed offsets on the topic that are in use.
pub const GROUP_SUBSCRIBED_TO_TOPIC: i16 = 86;
/// A record (or batch) breaks a broker rule.
pub const INVALID_RECORD: i16 = 87;
/// A pending transactional offset commit is not yet decided.
pub const UNSTABLE_OFFSET_COMMIT: i16 = 88;
/// A controller mutation quota (KIP-599) is exhausted.
pub const THROTTLING_QUOTA_EXCEEDED: i16 = 89;
/// A newer producer with the same transactional id fenced this one.
pub const PRODUCER_FENCED: i16 = 90;
/// A voter-only KRaft request came from or went to a non-voter.
pub const INCONSISTENT_VOTER_SET: i16 = 94;
/// A feature update is not valid (UpdateFeatures).
pub const INVALID_UPDATE_VERSION: i16 = 95;
/// FetchSnapshot asked for a snapshot the leader does not have (KIP-630).
pub const SNAPSHOT_NOT_FOUND: i16 = 98;
/// FetchSnapshot asked for a position past the snapshot's end (KIP-630).
pub const POSITION_OUT_OF_RANGE: i16 = 99;
/// The topic id is not known.
pub const UNKNOWN_TOPIC_ID: i16 = 100;
/// Another incarnation of this broker id still holds a live session.
pub const DUPLICATE_BROKER_REGISTRATION: i16 = 101;
/// The broker id is not registered (UnregisterBroker).
pub const BROKER_ID_NOT_REGISTERED: i16 = 102;
/// A KRaft request carries a cluster id that is not this node's.
pub const INCONSISTENT_CLUSTER_ID: i16 = 104;
/// The transactional id is not known.
pub const TRANSACTIONAL_ID_NOT_FOUND: i16 = 105;
/// The fetch session's topic ids are inconsistent with the request.
pub const FETCH_SESSION_TOPIC_ID_ERROR: i16 = 106;
/// The new ISR holds a fenced, shutting-down or unknown broker (AlterPartition).
pub const INELIGIBLE_REPLICA: i16 = 107;
/// AlterPartition: the change committed, but it moved leadership away from
/// the sender (it completed a reassignment that removed the leader).
pub const NEW_LEADER_ELECTED: i16 = 108;
/// The member epoch is fenced; the member must rejoin with epoch 0.
pub const FENCED_MEMBER_EPOCH: i16 = 110;
/// The static instance id is still held by another member.
pub const UNRELEASED_INSTANCE_ID: i16 = 111;
/// The server-side assignor is not supported.
pub const UNSUPPORTED_ASSIGNOR: i16 = 112;
/// The member epoch is stale (but not fenced).
pub const STALE_MEMBER_EPOCH: i16 = 113;
/// DescribeCluster asked a broker for controllers or a controller for
/// brokers (KIP-919).
pub const MISMATCHED_ENDPOINT_TYPE: i16 = 114;
/// DescribeCluster with an endpoint type that does not exist.
pub const UNSUPPORTED_ENDPOINT_TYPE: i16 = 115;
/// PushTelemetry with a subscription id that is not the client's current one (KIP-714).
pub const UNKNOWN_SUBSCRIPTION_ID: i16 = 117;
/// PushTelemetry metrics over `telemetry.max.bytes` (KIP-714).
pub const TELEMETRY_TOO_LARGE: i16 = 118;
/// The transaction must be aborted, then can be retried.
pub const TRANSACTION_ABORTABLE: i16 = 120;
/// A share-partition state write or initialize from an older state epoch
/// (the share coordinator's fencing, KIP-932).
pub const FENCED_STATE_EPOCH: i16 = 124;
/// The voter key in a KRaft request does not match the receiving replica.
pub const INVALID_VOTER_KEY: i16 = 125;
/// The subscription regular expression is not valid.
pub const INVALID_REGULAR_EXPRESSION: i16 = 128;
/// A share acknowledgement of records that are not acquired by this member (KIP-932).
pub const INVALID_RECORD_STATE: i16 = 121;
/// ShareFetch/ShareAcknowledge named a share session the broker does not hold.
pub const SHARE_SESSION_NOT_FOUND: i16 = 122;
/// ShareFetch/ShareAcknowledge with a share session epoch other than the expected one.
pub const INVALID_SHARE_SESSION_EPOCH: i16 = 123;
/// `group.share.max.share.sessions` share sessions are already open on this broker.
pub const SHARE_SESSION_LIMIT_REACHED: i16 = 133;

/// SaslHandshake named a mechanism this listener does not enable.
pub const UNSUPPORTED_SASL_MECHANISM: i16 = 33;
/// A SASL request arrived out of order.
pub const ILLEGAL_SASL_STATE: i16 = 34;
/// Bad SASL credentials (or a malformed SASL token).
pub const SASL_AUTHENTICATION_FAILED: i16 = 58;
/// DescribeUserScramCredentials/AlterUserScramCredentials: no such user or credential.
pub const RESOURCE_NOT_FOUND: i16 = 91;
/// A user named twice in one request.
pub const DUPLICATE_RESOURCE: i16 = 92;
/// A SCRAM credential Kafka would not store (iterations out of bounds, empty name).
pub const UNACCEPTABLE_CREDENTIAL: i16 = 93;

#[cfg(test)]
mod tests {
    use kafka_protocol::error::ResponseError;

    /// Every constant against `kafka-protocol`'s own table of Kafka's errors.
    #[test]
    fn codes_match_kafka_protocol() {
        assert_eq!(ResponseError::try_from_code(super::NONE), None);
        let table = [
            (
                super::UNSUPPORTED_SASL_MECHANISM,
                ResponseError::UnsupportedSaslMechanism,
            ),
            (super::ILLEGAL_SASL_STATE, ResponseError::IllegalSaslState),
            (
                super::SASL_AUTHENTICATION_FAILED,
                ResponseError::SaslAuthenticationFailed,
            ),
            (super::RESOURCE_NOT_FOUND, ResponseError::ResourceNotFound),
            (super::DUPLICATE_RESOURCE, ResponseError::DuplicateResource),
            (
                super::UNACCEPTABLE_CREDENTIAL,
                ResponseError::UnacceptableCredential,
            ),
            (
                super::UNKNOWN_SERVER_ERROR,
                ResponseError::UnknownServerError,
            ),
            (super::OFFSET_OUT_OF_RANGE, ResponseError::OffsetOutOfRange),
            (
                super::BROKER_NOT_AVAILABLE,
                ResponseError::BrokerNotAvailable,
            ),
            (
                super::INCONSISTENT_VOTER_SET,
                ResponseError::InconsistentVoterSet,
            ),
            (
                super::INCONSISTENT_CLUSTER_ID,
                ResponseError::InconsistentClusterId,
            ),
            (super::INVALID_VOTER_KEY, ResponseError::InvalidVoterKey),
            (super::CORRUPT_MESSAGE, ResponseError::CorruptMessage),
            (super::SNAPSHOT_NOT_FOUND, ResponseError::SnapshotNotFound),
            (
                super::POSITION_OUT_OF_RANGE,
                ResponseError::PositionOutOfRange,
            ),
            (
                super::UNKNOWN_TOPIC_OR_PARTITION,
                ResponseError::UnknownTopicOrPartition,
            ),
            (
                super::LEADER_NOT_AVAILABLE,
                ResponseError::LeaderNotAvailable,
            ),
            (
                super::NOT_LEADER_OR_FOLLOWER,
                ResponseError::NotLeaderOrFollower,
            ),
            (super::REQUEST_TIMED_OUT, ResponseError::RequestTimedOut),
            (super::MESSAGE_TOO_LARGE, ResponseError::MessageTooLarge),
            (
                super::OFFSET_METADATA_TOO_LARGE,
                ResponseError::OffsetMetadataTooLarge,
            ),
            (
                super::COORDINATOR_LOAD_IN_PROGRESS,
                ResponseError::CoordinatorLoadInProgress,
            ),
            (
                super::COORDINATOR_NOT_AVAILABLE,
                ResponseError::CoordinatorNotAvailable,
            ),
            (super::NOT_COORDINATOR, ResponseError::NotCoordinator),
            (
                super::INVALID_TOPIC_EXCEPTION,
                ResponseError::InvalidTopicException,
            ),
            (
                super::RECORD_LIST_TOO_LARGE,
                ResponseError::RecordListTooLarge,
            ),
            (super::NOT_ENOUGH_REPLICAS, ResponseError::NotEnoughReplicas),
            (
                super::NOT_ENOUGH_REPLICAS_AFTER_APPEND,
                ResponseError::NotEnoughReplicasAfterAppend,
            ),
            (
                super::INVALID_REQUIRED_ACKS,
                ResponseError::InvalidRequiredAcks,
            ),
            (super::ILLEGAL_GENERATION, ResponseError::IllegalGeneration),
            (
                super::INCONSISTENT_GROUP_PROTOCOL,
                ResponseError::InconsistentGroupProtocol,
            ),
            (super::INVALID_GROUP_ID, ResponseError::InvalidGroupId),
            (super::UNKNOWN_MEMBER_ID, ResponseError::UnknownMemberId),
            (
                super::INVALID_SESSION_TIMEOUT,
                ResponseError::InvalidSessionTimeout,
            ),
            (
                super::REBALANCE_IN_PROGRESS,
                ResponseError::RebalanceInProgress,
            ),
            (
                super::UNSUPPORTED_VERSION,
                ResponseError::UnsupportedVersion,
            ),
            (
                super::TOPIC_ALREADY_EXISTS,
                ResponseError::TopicAlreadyExists,
            ),
            (super::INVALID_PARTITIONS, ResponseError::InvalidPartitions),
            (
                super::INVALID_REPLICATION_FACTOR,
                ResponseError::InvalidReplicationFactor,
            ),
            (
                super::INVALID_REPLICA_ASSIGNMENT,
                ResponseError::InvalidReplicaAssignment,
            ),
            (super::INVALID_CONFIG, ResponseError::InvalidConfig),
            (super::INVALID_REQUEST, ResponseError::InvalidRequest),
            (
                super::INVALID_RECORD_STATE,
                ResponseError::InvalidRecordState,
            ),
            (
                super::SHARE_SESSION_NOT_FOUND,
                ResponseError::ShareSessionNotFound,
            ),
            (
                super::INVALID_SHARE_SESSION_EPOCH,
                ResponseError::InvalidShareSessionEpoch,
            ),
            (
                super::SHARE_SESSION_LIMIT_REACHED,
                ResponseError::ShareSessionLimitReached,
            ),
            (
                super::TOPIC_AUTHORIZATION_FAILED,
                ResponseError::TopicAuthorizationFailed,
            ),
            (
                super::GROUP_AUTHORIZATION_FAILED,
                ResponseError::GroupAuthorizationFailed,
            ),
            (
                super::CLUSTER_AUTHORIZATION_FAILED,
                ResponseError::ClusterAuthorizationFailed,
            ),
            (
                super::TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
                ResponseError::TransactionalIdAuthorizationFailed,
            ),
            (super::SECURITY_DISABLED, ResponseError::SecurityDisabled),
            (super::POLICY_VIOLATION, ResponseError::PolicyViolation),
            (
                super::OUT_OF_ORDER_SEQUENCE_NUMBER,
                ResponseError::OutOfOrderSequenceNumber,
            ),
            (
                super::INVALID_PRODUCER_EPOCH,
                ResponseError::InvalidProducerEpoch,
            ),
            (super::INVALID_TXN_STATE, ResponseError::InvalidTxnState),
            (
                super::INVALID_PRODUCER_ID_MAPPING,
                ResponseError::InvalidProducerIdMapping,
            ),
            (
                super::INVALID_TRANSACTION_TIMEOUT,
                ResponseError::InvalidTransactionTimeout,
            ),
            (
                super::CONCURRENT_TRANSACTIONS,
                ResponseError::ConcurrentTransactions,
            ),
            (
                super::TRANSACTION_COORDINATOR_FENCED,
                ResponseError::TransactionCoordinatorFenced,
            ),
            (
                super::OPERATION_NOT_ATTEMPTED,
                ResponseError::OperationNotAttempted,
            ),
            (super::KAFKA_STORAGE_ERROR, ResponseError::KafkaStorageError),
            (super::NON_EMPTY_GROUP, ResponseError::NonEmptyGroup),
            (
                super::INVALID_UPDATE_VERSION,
                ResponseError::InvalidUpdateVersion,
            ),
            (super::GROUP_ID_NOT_FOUND, ResponseError::GroupIdNotFound),
            (
                super::FETCH_SESSION_ID_NOT_FOUND,
                ResponseError::FetchSessionIdNotFound,
            ),
            (
                super::INVALID_FETCH_SESSION_EPOCH,
                ResponseError::InvalidFetchSessionEpoch,
            ),
            (super::FENCED_LEADER_EPOCH, ResponseError::FencedLeaderEpoch),
            (super::FENCED_STATE_EPOCH, ResponseError::FencedStateEpoch),
            (
                super::UNKNOWN_LEADER_EPOCH,
                ResponseError::UnknownLeaderEpoch,
            ),
            (super::MEMBER_ID_REQUIRED, ResponseError::MemberIdRequired),
            (
                super::GROUP_MAX_SIZE_REACHED,
                ResponseError::GroupMaxSizeReached,
            ),
            (super::FENCED_INSTANCE_ID, ResponseError::FencedInstanceId),
            (
                super::GROUP_SUBSCRIBED_TO_TOPIC,
                ResponseError::GroupSubscribedToTopic,
            ),
            (
                super::UNSUPPORTED_COMPRESSION_TYPE,
                ResponseError::UnsupportedCompressionType,
            ),
            (
                super::UNKNOWN_SUBSCRIPTION_ID,
                ResponseError::UnknownSubscriptionId,
            ),
            (super::TELEMETRY_TOO_LARGE, ResponseError::TelemetryTooLarge),
            (super::INVALID_RECORD, ResponseError::InvalidRecord),
            (
                super::UNSTABLE_OFFSET_COMMIT,
                ResponseError::UnstableOffsetCommit,
            ),
            (super::PRODUCER_FENCED, ResponseError::ProducerFenced),
            (super::UNKNOWN_TOPIC_ID, ResponseError::UnknownTopicId),
            (
                super::TRANSACTIONAL_ID_NOT_FOUND,
                ResponseError::TransactionalIdNotFound,
            ),
            (
                super::FETCH_SESSION_TOPIC_ID_ERROR,
                ResponseError::FetchSessionTopicIdError,
            ),
            (super::STALE_BROKER_EPOCH, ResponseError::StaleBrokerEpoch),
            (
                super::OFFSET_NOT_AVAILABLE,
                ResponseError::OffsetNotAvailable,
            ),
            (super::NOT_CONTROLLER, ResponseError::NotController),
            (
                super::MISMATCHED_ENDPOINT_TYPE,
                ResponseError::MismatchedEndpointType,
            ),
            (
                super::UNSUPPORTED_ENDPOINT_TYPE,
                ResponseError::UnsupportedEndpointType,
            ),
            (super::INELIGIBLE_REPLICA, ResponseError::IneligibleReplica),
            (super::NEW_LEADER_ELECTED, ResponseError::NewLeaderElected),
            (
                super::PREFERRED_LEADER_NOT_AVAILABLE,
                ResponseError::PreferredLeaderNotAvailable,
            ),
            (
                super::ELIGIBLE_LEADERS_NOT_AVAILABLE,
                ResponseError::EligibleLeadersNotAvailable,
            ),
            (super::ELECTION_NOT_NEEDED, ResponseError::ElectionNotNeeded),
            (
                super::NO_REASSIGNMENT_IN_PROGRESS,
                ResponseError::NoReassignmentInProgress,
            ),
            (
                super::DUPLICATE_BROKER_REGISTRATION,
                ResponseError::DuplicateBrokerRegistration,
            ),
            (
                super::BROKER_ID_NOT_REGISTERED,
                ResponseError::BrokerIdNotRegistered,
            ),
            (super::FENCED_MEMBER_EPOCH, ResponseError::FencedMemberEpoch),
            (
                super::UNRELEASED_INSTANCE_ID,
                ResponseError::UnreleasedInstanceId,
            ),
            (
                super::UNSUPPORTED_ASSIGNOR,
                ResponseError::UnsupportedAssignor,
            ),
            (super::STALE_MEMBER_EPOCH, ResponseError::StaleMemberEpoch),
            (
                super::MISMATCHED_ENDPOINT_TYPE,
                ResponseError::MismatchedEndpointType,
            ),
            (
                super::UNSUPPORTED_ENDPOINT_TYPE,
                ResponseError::UnsupportedEndpointType,
            ),
            (
                super::TRANSACTION_ABORTABLE,
                ResponseError::TransactionAbortable,
            ),
            (
                super::INVALID_REGULAR_EXPRESSION,
                ResponseError::InvalidRegularExpression,
            ),
        ];
        for (code, error) in table {
            assert_eq!(code, error.code(), "{error:?}");
        }
    }
}
