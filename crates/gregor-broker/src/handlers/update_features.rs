//! UpdateFeatures (`kafka-features upgrade|downgrade|disable`). Gregor runs
//! at the fixed feature levels of `api_versions::FEATURES`: a request for the
//! level already finalized succeeds (as in Kafka, a no-op), and the checks
//! Kafka's controller makes are answered with its messages. Moving a feature
//! to another level is refused, since Gregor's behaviour does not switch.
//! As in Kafka 4, the first refused feature fails the whole request.

use super::api_versions::{FEATURES, METADATA_VERSION};
use super::str_bytes;
use crate::server::Broker;
use gregor_protocol::error_codes;
use kafka_protocol::messages::update_features_response::UpdatableFeatureResult;
use kafka_protocol::messages::{UpdateFeaturesRequest, UpdateFeaturesResponse};

/// `upgrade_type` values (v1+); v0 says `allow_downgrade` instead.
const UPGRADE: i8 = 1;
const SAFE_DOWNGRADE: i8 = 2;

pub fn handle(
    broker: &Broker,
    request: UpdateFeaturesRequest,
    version: i16,
) -> UpdateFeaturesResponse {
    let node = broker.config.node_id;
    let image = broker.controller.image();
    let elr_level = image
        .features
        .get(gregor_metadata::elr::FEATURE)
        .copied()
        .unwrap_or(0);
    let refusal = request.feature_updates.iter().find_map(|update| {
        let upgrade_type = if version == 0 {
            if update.allow_downgrade {
                SAFE_DOWNGRADE
            } else {
                UPGRADE
            }
        } else {
            update.upgrade_type
        };
        check(
            node,
            update.feature.as_str(),
            update.max_version_level,
            upgrade_type,
            elr_level,
        )
    });
    if let Some(message) = refusal {
        return UpdateFeaturesResponse::default()
            .with_error_code(error_codes::INVALID_UPDATE_VERSION)
            .with_error_message(Some(str_bytes(&format!(
                "The update failed for all features since the following feature had an error: {message}"
            ))));
    }
    // The one feature whose level moves: eligible leader replicas.
    for update in &request.feature_updates {
        let level = update.max_version_level;
        if update.feature.as_str() != gregor_metadata::elr::FEATURE || level == elr_level {
            continue;
        }
        if let Err(err) = broker
            .controller
            .set_elr_level(level, request.validate_only)
        {
            return UpdateFeaturesResponse::default()
                .with_error_code(err.code)
                .with_error_message(Some(str_bytes(&err.message)));
        }
    }
    let results = request
        .feature_updates
        .iter()
        .map(|update| {
            UpdatableFeatureResult::default()
                .with_feature(update.feature.clone())
                .with_error_code(error_codes::NONE)
                .with_error_message(None)
        })
        .collect();
    UpdateFeaturesResponse::default()
        .with_error_code(error_codes::NONE)
        .with_error_message(None)
        .with_results(results)
}

/// Why one update cannot be made, in Kafka's words where Kafka refuses too.
fn check(node: i32, name: &str, level: i16, upgrade_type: i8, elr_level: i16) -> Option<String> {
    let invalid = |reason: String| {
        Some(format!(
            "Invalid update version {level} for feature {name}. {reason}"
        ))
    };
    let Some(&(_, min, max, fixed)) = FEATURES.iter().find(|f| f.0 == name) else {
        return invalid(format!(
            "Local controller {node} does not support this feature."
        ));
    };
    // ELR's level is the metadata's; the others are fixed.
    let is_elr = name == gregor_metadata::elr::FEATURE;
    let current = if is_elr { elr_level } else { fixed };
    if level < min || level > max {
        return invalid(format!(
            "Local controller {node} only supports versions {min}-{max}"
        ));
    }
    if level == current {
        return None;
    }
    if level < current && upgrade_type == UPGRADE {
        return invalid(
            "Can't downgrade the version of this feature without setting the upgrade type to \
             either safe or unsafe downgrade."
                .to_string(),
        );
    }
    if is_elr {
        return None;
    }
    if name == METADATA_VERSION && level < current {
        return Some(format!(
            "Unsupported metadata.version downgrade from {current} to {level}. Refusing to \
             perform the requested downgrade because it might delete metadata information."
        ));
    }
    invalid(format!(
        "Gregor runs this feature at the fixed level {current}."
    ))
}
