//! KIP-1071 streams group APIs, StreamsGroupHeartbeat (88),
//! StreamsGroupDescribe (89) and StreamsGroupTopologyDescriptionUpdate (93,
//! KIP-1331). kafka-protocol 0.18 has none of them (nor their api keys), so
//! these frames are decoded here with the types generated
//! from Kafka's schemas (`gregor_protocol::generated`) instead of going
//! through `decode_request`. Internal topics the coordinator reports
//! missing are created here, as Kafka's coordinator creates them.

use crate::security::{Audit, Session};
use crate::server::Broker;
use bytes::{Bytes, BytesMut};
use gregor_coordinator::group::streams::{MissingTopic, StreamsContext};
use gregor_metadata::acl::{AclOperation, Action, ResourceType};
use gregor_metadata::controller::NewTopic;
use gregor_protocol::error_codes::{GROUP_AUTHORIZATION_FAILED, INVALID_GROUP_ID};
use gregor_protocol::generated::streams_group_describe_request::StreamsGroupDescribeRequest;
use gregor_protocol::generated::streams_group_describe_response::{
    DescribedGroup, StreamsGroupDescribeResponse,
};
use gregor_protocol::generated::streams_group_heartbeat_request::StreamsGroupHeartbeatRequest;
use gregor_protocol::generated::streams_group_heartbeat_response::StreamsGroupHeartbeatResponse;
use gregor_protocol::generated::streams_group_topology_description_update_request::{
    self as update_request, StreamsGroupTopologyDescriptionUpdateRequest,
};
use gregor_protocol::generated::streams_group_topology_description_update_response::StreamsGroupTopologyDescriptionUpdateResponse;
use gregor_protocol::generated::{streams_group_describe_request, streams_group_heartbeat_request};
use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::{Decodable, Encodable, VersionRange};

pub const HEARTBEAT_KEY: i16 = streams_group_heartbeat_request::API_KEY;
pub const DESCRIBE_KEY: i16 = streams_group_describe_request::API_KEY;
pub const DESCRIPTION_KEY: i16 = update_request::API_KEY;

/// The (api key, versions) served, for ApiVersions. Kafka 4.4 advertises
/// API 93 whether or not a description plugin is configured (without one
/// it answers UNSUPPORTED_VERSION).
pub fn served() -> [(i16, VersionRange); 3] {
    [
        (HEARTBEAT_KEY, streams_group_heartbeat_request::VERSIONS),
        (DESCRIBE_KEY, streams_group_describe_request::VERSIONS),
        (DESCRIPTION_KEY, update_request::VERSIONS),
    ]
}

/// Whether a request frame is one of ours (by its api key).
pub fn is_streams_frame(frame: &[u8]) -> bool {
    frame.len() >= 2
        && matches!(
            i16::from_be_bytes([frame[0], frame[1]]),
            HEARTBEAT_KEY | DESCRIBE_KEY | DESCRIPTION_KEY
        )
}

/// Handles one frame of ours; returns the framed response, or `None` to
/// close the connection (malformed, or a version we do not serve — what
/// Kafka does for any API).
pub async fn handle_frame(broker: &Broker, mut frame: Bytes, session: &Session) -> Option<Bytes> {
    let (key, version, header) = super::own_frames::open(&mut frame, &served(), "streams group")?;
    let client_id = header.client_id.as_deref().unwrap_or("").to_string();
    let mut body = BytesMut::new();
    let encoded = if key == HEARTBEAT_KEY {
        let Ok(req) = StreamsGroupHeartbeatRequest::decode(&mut frame, version) else {
            tracing::warn!(
                version,
                "malformed StreamsGroupHeartbeat; closing connection"
            );
            return None;
        };
        heartbeat(broker, req, version, &client_id, session)
            .await
            .encode(&mut body, version)
    } else if key == DESCRIPTION_KEY {
        let Ok(req) = StreamsGroupTopologyDescriptionUpdateRequest::decode(&mut frame, version)
        else {
            tracing::warn!(
                version,
                "malformed StreamsGroupTopologyDescriptionUpdate; closing connection"
            );
            return None;
        };
        description_update(broker, req, session)
            .await
            .encode(&mut body, version)
    } else {
        let Ok(req) = StreamsGroupDescribeRequest::decode(&mut frame, version) else {
            tracing::warn!(
                version,
                "malformed StreamsGroupDescribe; closing connection"
            );
            return None;
        };
        describe(broker, req, session).encode(&mut body, version)
    };
    if let Err(err) = encoded {
        tracing::error!(key, version, %err, "cannot encode streams group response");
        return None;
    }
    super::own_frames::framed(header.correlation_id, &body)
}

/// Kafka checks READ on the group for heartbeats, DESCRIBE for describes.
fn group_allowed(broker: &Broker, session: &Session, group: &str, op: AclOperation) -> bool {
    let image = broker.controller.image();
    // kafka-protocol has no ApiKey for these APIs; the consumer group one
    // stands in for the audit log.
    broker.authorizer.allows(
        &image,
        session,
        ApiKey::ConsumerGroupHeartbeat,
        Action::new(op, ResourceType::Group, group),
        Audit::Record,
    )
}

pub async fn heartbeat(
    broker: &Broker,
    request: StreamsGroupHeartbeatRequest,
    version: i16,
    client_id: &str,
    session: &Session,
) -> StreamsGroupHeartbeatResponse {
    let refuse = |code| StreamsGroupHeartbeatResponse {
        error_code: code,
        ..Default::default()
    };
    if request.group_id.is_empty() {
        return refuse(INVALID_GROUP_ID);
    }
    if !group_allowed(broker, session, &request.group_id, AclOperation::Read) {
        return refuse(GROUP_AUTHORIZATION_FAILED);
    }
    let image = broker.controller.image();
    let context = StreamsContext {
        client_id: client_id.to_string(),
        client_host: format!("/{}", session.peer.ip()),
        api_version: version,
        group_config: crate::config::group_resource::streams_config(
            &broker.config.group_streams,
            image.group_configs.get(request.group_id.as_str()),
        ),
    };
    let answer = broker
        .groups
        .immediate(&request.group_id, |c, now| {
            let (response, mut effects) =
                c.streams_group_heartbeat(&request, &context, &*image, now);
            // Written to __consumer_offsets before the answer goes out.
            let records = std::mem::take(&mut effects.records);
            ((response, effects), records)
        })
        .await;
    match answer {
        Ok((response, effects)) => {
            create_internal_topics(broker, &request.group_id, &effects.missing_topics);
            response
        }
        Err(code) => refuse(code),
    }
}

/// Creates the internal topics a streams group is missing; the members see
/// MISSING_INTERNAL_TOPICS until the next heartbeat finds them.
fn create_internal_topics(broker: &Broker, group: &str, missing: &[MissingTopic]) {
    for topic in missing {
        let new_topic = NewTopic {
            name: topic.name.clone(),
            num_partitions: topic.partitions,
            // 0 in the topology: the broker default.
            replication_factor: if topic.replication_factor > 0 {
                topic.replication_factor
            } else {
                -1
            },
            assignments: Vec::new(),
            configs: topic.configs.clone(),
        };
        match broker.controller.create_topic(&new_topic, false) {
            Ok(_) => {
                tracing::info!(%group, topic = %topic.name, partitions = topic.partitions, "created streams internal topic")
            }
            Err(err) => {
                tracing::warn!(%group, topic = %topic.name, code = err.code, message = %err.message, "cannot create streams internal topic")
            }
        }
    }
}

pub fn describe(
    broker: &Broker,
    request: StreamsGroupDescribeRequest,
    session: &Session,
) -> StreamsGroupDescribeResponse {
    let include_description = request.include_topology_description;
    let groups = request
        .group_ids
        .iter()
        .map(|id| {
            let error = |code| DescribedGroup {
                group_id: id.clone(),
                error_code: code,
                ..Default::default()
            };
            if id.is_empty() {
                return error(INVALID_GROUP_ID);
            }
            if !group_allowed(broker, session, id, AclOperation::Describe) {
                return error(GROUP_AUTHORIZATION_FAILED);
            }
            broker
                .groups
                .read(id, |c| c.streams_group_describe(id, include_description))
                .unwrap_or_else(error)
        })
        .collect();
    StreamsGroupDescribeResponse {
        groups,
        ..Default::default()
    }
}

/// StreamsGroupTopologyDescriptionUpdate: READ on the group, as the
/// heartbeat; the description lives in the coordinator's memory, so nothing
/// is written to `__consumer_offsets`.
pub async fn description_update(
    broker: &Broker,
    request: StreamsGroupTopologyDescriptionUpdateRequest,
    session: &Session,
) -> StreamsGroupTopologyDescriptionUpdateResponse {
    let refuse = |code| StreamsGroupTopologyDescriptionUpdateResponse {
        error_code: code,
        ..Default::default()
    };
    if !request.group_id.is_empty()
        && !group_allowed(broker, session, &request.group_id, AclOperation::Read)
    {
        return refuse(GROUP_AUTHORIZATION_FAILED);
    }
    let answer = broker
        .groups
        .immediate(&request.group_id, |c, _now| {
            (c.streams_topology_description_update(&request), Vec::new())
        })
        .await;
    answer.unwrap_or_else(refuse)
}
