//! KIP-932 share group membership APIs: ShareGroupHeartbeat (76, v1) and
//! ShareGroupDescribe (77, v1), answered by the group coordinator. Group
//! and topic authorization happen in `authz` before these run.
//!
//! A heartbeat may report share-partitions that have no persisted state
//! yet; they are initialized here through the persister (state epoch 0,
//! start offset -1: the share-partition leader picks the start from
//! `share.auto.offset.reset` on first fetch), then reported back to the
//! coordinator, which makes them assignable — as Kafka's coordinator
//! initializes them with InitializeShareGroupState.

use crate::security::Session;
use crate::server::Broker;
use gregor_coordinator::group::share::{ShareContext, TopicPartitionsToInit};
use gregor_coordinator::share::ShareKey;
use gregor_protocol::error_codes::{INVALID_GROUP_ID, INVALID_REQUEST, NONE};
use kafka_protocol::messages::share_group_describe_response::DescribedGroup;
use kafka_protocol::messages::{
    ShareGroupDescribeRequest, ShareGroupDescribeResponse, ShareGroupHeartbeatRequest,
    ShareGroupHeartbeatResponse,
};
use kafka_protocol::protocol::StrBytes;

/// Kafka's `KafkaApis.isMemberIdValid`: clients pick a UUID string.
const MAX_MEMBER_ID_LEN: usize = 36;

/// A `share.*` GROUP config of the group, else the broker's default.
fn group_setting(broker: &Broker, group_id: &str, key: &str, default: i32) -> i32 {
    broker
        .controller
        .image()
        .group_configs
        .get(group_id)
        .and_then(|c| c.get(key))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The member epoch of a ShareGroupHeartbeat that leaves the group.
const LEAVE_GROUP_MEMBER_EPOCH: i32 = -1;

pub async fn heartbeat(
    broker: &Broker,
    request: ShareGroupHeartbeatRequest,
    client_id: &str,
    session: &Session,
) -> ShareGroupHeartbeatResponse {
    let refuse = |code, message: &str| {
        ShareGroupHeartbeatResponse::default()
            .with_error_code(code)
            .with_error_message(Some(StrBytes::from_string(message.to_string())))
    };
    if request.member_id.is_empty() || request.member_id.len() > MAX_MEMBER_ID_LEN {
        return refuse(INVALID_REQUEST, "Invalid member id in the request.");
    }
    // Validated before routing, as Kafka's coordinator service does.
    if request.group_id.trim().is_empty() {
        return refuse(INVALID_REQUEST, "GroupId can't be empty.");
    }
    let cfg = &broker.config.group_share;
    let group_id = request.group_id.to_string();
    let context = ShareContext {
        client_id: client_id.to_string(),
        client_host: format!("/{}", session.peer.ip()),
        heartbeat_interval_ms: group_setting(
            broker,
            &group_id,
            "share.heartbeat.interval.ms",
            cfg.heartbeat_interval_ms,
        ),
        session_timeout_ms: group_setting(
            broker,
            &group_id,
            "share.session.timeout.ms",
            cfg.session_timeout_ms,
        ),
    };
    let image = broker.controller.image();
    let answer = broker
        .groups
        .immediate(&group_id, |c, now| {
            let (response, mut effects) = c.share_group_heartbeat(&request, &context, &*image, now);
            let records = std::mem::take(&mut effects.records);
            ((response, effects.to_initialize), records)
        })
        .await;
    match answer {
        Ok((response, to_initialize)) => {
            // In the background, as Kafka's coordinator does: the state
            // topic may still be coming up, and the heartbeat need not wait
            // (the partitions are assigned on a later one).
            if !to_initialize.is_empty() {
                let persister = broker.share_persister.clone();
                let groups = broker.groups.clone();
                let group_id = group_id.clone();
                tokio::spawn(async move {
                    initialize(&persister, &groups, &group_id, to_initialize).await
                });
            }
            // A member that left gives back what it holds in the
            // share-partitions this broker leads (Kafka's
            // ShareGroupListener.onMemberLeave); elsewhere its locks expire.
            if request.member_epoch == LEAVE_GROUP_MEMBER_EPOCH && response.error_code == NONE {
                crate::share::fetch::member_left(broker, &group_id, &request.member_id).await;
            }
            response
        }
        Err(code) => ShareGroupHeartbeatResponse::default().with_error_code(code),
    }
}

/// Initializes the share-partitions' state, then tells the coordinator
/// (which makes them assignable, or forgets them to retry on a later
/// heartbeat).
async fn initialize(
    persister: &crate::share::Persister,
    groups: &crate::group_service::GroupService,
    group_id: &str,
    runs: Vec<TopicPartitionsToInit>,
) {
    let mut failed = None;
    'all: for (topic_id, _, partitions) in &runs {
        for partition in partitions {
            let key = ShareKey {
                group_id: group_id.to_string(),
                topic_id: *topic_id,
                partition: *partition,
            };
            if let Err(code) = persister.initialize(&key, 0, -1).await {
                failed = Some(code);
                break 'all;
            }
        }
    }
    if let Some(code) = failed {
        tracing::warn!(
            group_id,
            code,
            "share-partition state initialization failed"
        );
    }
    let succeeded = failed.is_none();
    let reported = groups
        .immediate(group_id, |c, now| {
            (
                (),
                c.share_partitions_initialized(group_id, &runs, succeeded, now),
            )
        })
        .await;
    if let Err(code) = reported {
        tracing::warn!(
            group_id,
            code,
            "could not record initialized share-partitions"
        );
    }
}

pub fn describe(broker: &Broker, request: ShareGroupDescribeRequest) -> ShareGroupDescribeResponse {
    let image = broker.controller.image();
    let groups = request
        .group_ids
        .iter()
        .map(|id| {
            if id.is_empty() {
                return DescribedGroup::default()
                    .with_group_id(id.clone())
                    .with_error_code(INVALID_GROUP_ID);
            }
            match broker
                .groups
                .read(id, |c| c.share_group_describe(id, &*image))
            {
                Ok(described) => described,
                Err(code) => DescribedGroup::default()
                    .with_group_id(id.clone())
                    .with_error_code(code),
            }
        })
        .collect();
    ShareGroupDescribeResponse::default().with_groups(groups)
}

/// DeleteGroups removed these share groups: their share-partition state
/// goes too (Kafka deletes it through DeleteShareGroupState).
pub async fn delete_state(broker: &Broker, keys: Vec<ShareKey>) {
    for key in keys {
        if let Err(code) = broker.share_persister.delete(&key).await {
            if code != NONE {
                tracing::warn!(group = %key.group_id, code, "share-partition state not deleted");
            }
        }
    }
}
