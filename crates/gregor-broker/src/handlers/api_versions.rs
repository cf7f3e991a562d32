//! ApiVersions: exactly the APIs and versions Gregor implements. The ranges
//! follow Apache Kafka 4.0 (whose floors come from KIP-896).

use gregor_protocol::error_codes;
use kafka_protocol::messages::api_versions_response::{
    ApiVersion, FinalizedFeatureKey, SupportedFeatureKey,
};
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse};
use kafka_protocol::protocol::{StrBytes, VersionRange};

const SUPPORTED: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 12),
    (ApiKey::Fetch, 4, 17),
    (ApiKey::ListOffsets, 1, 9),
    (ApiKey::OffsetForLeaderEpoch, 2, 4),
    (ApiKey::Metadata, 0, 12),
    (ApiKey::ApiVersions, 0, 4),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 6),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::DescribeCluster, 0, 2),
    (ApiKey::DescribeTopicPartitions, 0, 0),
    (ApiKey::DescribeQuorum, 0, 2),
    (ApiKey::UpdateFeatures, 0, 2),
    (ApiKey::DeleteRecords, 0, 2),
    // Kafka 4.4 serves up to 5; kafka-protocol 0.18 knows up to 4.
    (ApiKey::DescribeLogDirs, 1, 4),
    (ApiKey::AlterConfigs, 0, 2),
    (ApiKey::FindCoordinator, 0, 6),
    (ApiKey::InitProducerId, 0, 5),
    (ApiKey::DescribeProducers, 0, 0),
    (ApiKey::AddPartitionsToTxn, 0, 5),
    (ApiKey::AddOffsetsToTxn, 0, 4),
    (ApiKey::EndTxn, 0, 5),
    (ApiKey::TxnOffsetCommit, 0, 5),
    (ApiKey::WriteTxnMarkers, 1, 2),
    (ApiKey::DescribeTransactions, 0, 0),
    // The share coordinator (KIP-932), inter-broker. Write (85) and
    // ReadSummary (87) are served at 0-1 by handlers::share_state_frames.
    (ApiKey::InitializeShareGroupState, 0, 0),
    (ApiKey::ReadShareGroupState, 0, 0),
    (ApiKey::DeleteShareGroupState, 0, 0),
    (ApiKey::ListTransactions, 0, 1),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::OffsetCommit, 2, 9),
    (ApiKey::OffsetFetch, 1, 9),
    // v6 (KIP-1043, Kafka 4.0): an unknown group is GROUP_ID_NOT_FOUND, not Dead.
    (ApiKey::DescribeGroups, 0, 6),
    (ApiKey::ListGroups, 0, 5),
    (ApiKey::DeleteGroups, 0, 2),
    (ApiKey::OffsetDelete, 0, 0),
    (ApiKey::ConsumerGroupHeartbeat, 0, 1),
    (ApiKey::ConsumerGroupDescribe, 0, 1),
    // Share groups (KIP-932; share.version 1+, finalized on new clusters).
    (ApiKey::ShareGroupHeartbeat, 1, 1),
    (ApiKey::ShareGroupDescribe, 1, 1),
    // Kafka 4.4 serves DescribeShareGroupOffsets 0-1 (v1 adds the lag,
    // KIP-1226); handlers/share_offsets_frame.rs decodes both.
    (ApiKey::DescribeShareGroupOffsets, 0, 1),
    (ApiKey::AlterShareGroupOffsets, 0, 0),
    (ApiKey::DeleteShareGroupOffsets, 0, 0),
    // KIP-932 share-partition leader, v2 adding acquire modes (KIP-1206)
    // and renew acknowledgements (KIP-1222): handlers/share_fetch_frame.rs
    // decodes both versions (kafka-protocol 0.18 has v1 only).
    (ApiKey::ShareFetch, 1, 2),
    (ApiKey::ShareAcknowledge, 1, 2),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    (ApiKey::ElectLeaders, 0, 2),
    (ApiKey::AlterPartitionReassignments, 0, 1),
    (ApiKey::ListPartitionReassignments, 0, 0),
    // Kafka 4 floors (KIP-896): DescribeAcls v1+, Create/DeleteAcls v2+.
    (ApiKey::DescribeAcls, 1, 3),
    (ApiKey::CreateAcls, 2, 3),
    (ApiKey::DeleteAcls, 2, 3),
    // Answered by security::sasl before authentication; here (PLAINTEXT,
    // SSL, or after authentication) with ILLEGAL_SASL_STATE, as Kafka.
    (ApiKey::SaslHandshake, 0, 1),
    (ApiKey::SaslAuthenticate, 0, 2),
    (ApiKey::DescribeClientQuotas, 0, 1),
    (ApiKey::AlterClientQuotas, 0, 1),
    (ApiKey::ListConfigResources, 0, 1),
    (ApiKey::DescribeUserScramCredentials, 0, 0),
    (ApiKey::AlterUserScramCredentials, 0, 0),
    // Listed in ApiVersions only while client telemetry is on (see
    // handlers::telemetry), as Kafka lists them only with a receiver.
    (ApiKey::GetTelemetrySubscriptions, 0, 0),
    (ApiKey::PushTelemetry, 0, 0),
];

/// The versions of `key` a broker listener serves, if any.
pub fn supported(key: ApiKey) -> Option<VersionRange> {
    SUPPORTED
        .iter()
        .find(|(k, _, _)| *k == key)
        .map(|&(_, min, max)| VersionRange { min, max })
}

/// The versions of `key` served on a listener of this kind.
pub fn supported_on(is_controller: bool, key: ApiKey) -> Option<VersionRange> {
    if is_controller {
        super::controller_listener::supported(key)
    } else {
        supported(key)
    }
}

/// The ApiVersions list of a listener, in api key order.
fn api_keys(is_controller: bool) -> Vec<ApiVersion> {
    let mut keys: Vec<ApiVersion> = ApiKey::iter()
        .filter_map(|key| {
            let range = supported_on(is_controller, key)?;
            Some(
                ApiVersion::default()
                    .with_api_key(key as i16)
                    .with_min_version(range.min)
                    .with_max_version(range.max),
            )
        })
        .collect();
    if !is_controller {
        // The APIs kafka-protocol has no ApiKey for (generated types).
        keys.extend(
            super::streams_groups::served()
                .into_iter()
                .chain(super::share_state_frames::served())
                .map(|(key, range)| {
                    ApiVersion::default()
                        .with_api_key(key)
                        .with_min_version(range.min)
                        .with_max_version(range.max)
                }),
        );
    }
    keys.sort_by_key(|k| k.api_key);
    keys
}

/// Feature flags as Kafka 4.4 reports them for a fresh single-node cluster:
/// (name, supported min, supported max, finalized level). Clients read
/// `transaction.version` to pick the transaction protocol (2 = KIP-890
/// part 2: an epoch bump per transaction, partitions added by the first
/// write) and `kafka-features describe` lists them all, `share.version`
/// included (share groups are served).
pub const FEATURES: &[(&str, i16, i16, i16)] = &[
    // 7 = 3.3-IV3 (the oldest KRaft level Kafka 4 accepts), 33 = 4.4-IV2.
    (
        METADATA_VERSION,
        MIN_METADATA_VERSION_LEVEL,
        METADATA_VERSION_LEVEL,
        METADATA_VERSION_LEVEL,
    ),
    // The static single-voter quorum runs at 0, as a fresh Kafka does.
    ("kraft.version", 0, 1, 0),
    (
        "transaction.version",
        0,
        2,
        gregor_coordinator::txn::TRANSACTION_VERSION,
    ),
    // 1: the consumer group protocol (KIP-848) is enabled.
    ("group.version", 0, 1, 1),
    // 1: streams groups (KIP-1071) are served.
    ("streams.version", 0, 1, 1),
    // Share groups (KIP-932): Kafka 4.4 supports 0-2 and finalizes its
    // latest production level, 2, on new clusters.
    ("share.version", 0, 2, 2),
    // Eligible leader replicas (KIP-966): on for new clusters, as Kafka 4.4
    // formats them; the finalized level a broker reports is its metadata's.
    (
        gregor_metadata::elr::FEATURE,
        0,
        1,
        gregor_metadata::elr::DEFAULT_LEVEL,
    ),
];

pub const METADATA_VERSION: &str = "metadata.version";
pub const MIN_METADATA_VERSION_LEVEL: i16 = 7;
/// Kafka 4.4's latest production metadata version, 4.4-IV2.
pub const METADATA_VERSION_LEVEL: i16 = 33;

/// The feature levels never change, so their epoch does not either; it
/// must be at least 0 for clients to take them into account.
const FINALIZED_FEATURES_EPOCH: i64 = 0;

/// The ApiVersions answer of a broker or controller listener: the APIs that
/// listener serves (Kafka's ApiMessageType scopes) and the feature levels
/// (the defaults of a new cluster).
pub fn handle(is_controller: bool) -> ApiVersionsResponse {
    let defaults = FEATURES.iter().map(|&(name, _, _, level)| (name, level));
    answer(is_controller, defaults.collect())
}

/// As [`handle`], with the feature levels finalized in `image` where it
/// holds them (a cluster formatted before ELR existed stays at level 0).
pub fn handle_for(
    is_controller: bool,
    image: &gregor_metadata::MetadataImage,
) -> ApiVersionsResponse {
    let levels = FEATURES
        .iter()
        .map(|&(name, _, _, level)| {
            if name == gregor_metadata::elr::FEATURE {
                (name, image.features.get(name).copied().unwrap_or(0))
            } else {
                (name, level)
            }
        })
        .collect();
    answer(is_controller, levels)
}

fn answer(is_controller: bool, levels: Vec<(&'static str, i16)>) -> ApiVersionsResponse {
    let supported = FEATURES
        .iter()
        .map(|&(name, min, max, _)| {
            SupportedFeatureKey::default()
                .with_name(StrBytes::from_static_str(name))
                .with_min_version(min)
                .with_max_version(max)
        })
        .collect();
    // Kafka lists only the features finalized above level 0.
    let finalized = levels
        .into_iter()
        .filter(|&(_, level)| level > 0)
        .map(|(name, level)| {
            FinalizedFeatureKey::default()
                .with_name(StrBytes::from_static_str(name))
                .with_min_version_level(level)
                .with_max_version_level(level)
        })
        .collect();
    ApiVersionsResponse::default()
        .with_error_code(error_codes::NONE)
        .with_api_keys(api_keys(is_controller))
        .with_supported_features(supported)
        .with_finalized_features_epoch(FINALIZED_FEATURES_EPOCH)
        .with_finalized_features(finalized)
}

/// The v0 answer to an ApiVersions request at a version we do not know.
pub fn unsupported_version_response(is_controller: bool) -> kafka_protocol::messages::ResponseKind {
    kafka_protocol::messages::ResponseKind::ApiVersions(
        ApiVersionsResponse::default()
            .with_error_code(error_codes::UNSUPPORTED_VERSION)
            .with_api_keys(api_keys(is_controller)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_advertised_range_is_encodable_by_kafka_protocol() {
        for &(key, min, max) in SUPPORTED {
            // Frames of these keys bypass kafka-protocol (own_frames).
            if super::super::own_frames::is_own_frame(&(key as i16).to_be_bytes()) {
                continue;
            }
            let mut known = key.valid_versions();
            if key == ApiKey::WriteTxnMarkers {
                // v2 (KIP-1228) has Gregor's own codec.
                known.max = gregor_protocol::write_txn_markers_v2::VERSION;
            }
            assert!(
                known.min <= min && max <= known.max,
                "{key:?} {min}-{max} outside {known}"
            );
        }
    }
}
