//! The `authorizedOperations` bit fields of Metadata (topics; the cluster in
//! v8–10), DescribeCluster, DescribeGroups (v3+), ConsumerGroupDescribe and
//! DescribeTopicPartitions, filled into the handler's response as Kafka's
//! `KafkaApis` does: only when the request asks for them (always for
//! DescribeTopicPartitions), only for entries the principal may see
//! (refused or hidden entries keep the schema's default, INT_MIN), and
//! computed with or without an authorizer (without one: every operation
//! the resource type supports).

use crate::security::Session;
use crate::server::Broker;
use gregor_metadata::acl::{AclOperation, ResourceType};
use gregor_protocol::error_codes::{NONE, TOPIC_AUTHORIZATION_FAILED, UNKNOWN_TOPIC_ID};
use gregor_protocol::request::Request;
use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};

/// What a request asked to have filled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wanted {
    cluster: bool,
    entries: bool,
}

/// Reads the request's `include_*_authorized_operations` flags, before the
/// request is moved into its handler.
pub fn wanted(request: &Request) -> Option<Wanted> {
    let version = request.version();
    let wanted = match &request.body {
        RequestKind::Metadata(r) => Wanted {
            // The cluster flag exists in v8–10 only; Kafka reads it there.
            cluster: (8..=10).contains(&version) && r.include_cluster_authorized_operations,
            entries: version >= 8 && r.include_topic_authorized_operations,
        },
        RequestKind::DescribeCluster(r) => Wanted {
            cluster: r.include_cluster_authorized_operations,
            entries: false,
        },
        RequestKind::DescribeGroups(r) => Wanted {
            cluster: false,
            entries: version >= 3 && r.include_authorized_operations,
        },
        RequestKind::ConsumerGroupDescribe(r) => Wanted {
            cluster: false,
            entries: r.include_authorized_operations,
        },
        RequestKind::ShareGroupDescribe(r) => Wanted {
            cluster: false,
            entries: r.include_authorized_operations,
        },
        // No flag: Kafka always fills them in.
        RequestKind::DescribeTopicPartitions(_) => Wanted {
            cluster: false,
            entries: true,
        },
        _ => return None,
    };
    (wanted.cluster || wanted.entries).then_some(wanted)
}

/// Fills the asked-for bit fields into `response`.
pub fn fill(broker: &Broker, session: &Session, wanted: Wanted, response: &mut ResponseKind) {
    let image = broker.controller.image();
    let ops = |resource_type: ResourceType, name: &str| {
        broker
            .authorizer
            .authorized_operations(&image, session, resource_type, name)
    };
    // Kafka gives the cluster's field only to a principal that may
    // describe the cluster, 0 to others (this check is audited as usual).
    let cluster = |api: ApiKey| {
        if broker
            .authorizer
            .allows_cluster(&image, session, api, AclOperation::Describe)
        {
            ops(ResourceType::Cluster, gregor_metadata::acl::CLUSTER_NAME)
        } else {
            0
        }
    };
    match response {
        ResponseKind::Metadata(r) => {
            if wanted.cluster {
                r.cluster_authorized_operations = cluster(ApiKey::Metadata);
            }
            if wanted.entries {
                for t in r.topics.iter_mut() {
                    // Refused topics and unknown/hidden ids keep the default.
                    if t.error_code == TOPIC_AUTHORIZATION_FAILED
                        || t.error_code == UNKNOWN_TOPIC_ID
                    {
                        continue;
                    }
                    if let Some(name) = &t.name {
                        t.topic_authorized_operations = ops(ResourceType::Topic, name);
                    }
                }
            }
        }
        ResponseKind::DescribeCluster(r) if wanted.cluster && r.error_code == NONE => {
            r.cluster_authorized_operations = cluster(ApiKey::DescribeCluster);
        }
        ResponseKind::DescribeGroups(r) => {
            for g in r.groups.iter_mut().filter(|g| g.error_code == NONE) {
                g.authorized_operations = ops(ResourceType::Group, &g.group_id);
            }
        }
        ResponseKind::ConsumerGroupDescribe(r) => {
            for g in r.groups.iter_mut().filter(|g| g.error_code == NONE) {
                g.authorized_operations = ops(ResourceType::Group, &g.group_id);
            }
        }
        ResponseKind::ShareGroupDescribe(r) => {
            for g in r.groups.iter_mut().filter(|g| g.error_code == NONE) {
                g.authorized_operations = ops(ResourceType::Group, &g.group_id);
            }
        }
        ResponseKind::DescribeTopicPartitions(r) => {
            for t in r.topics.iter_mut() {
                if t.error_code == TOPIC_AUTHORIZATION_FAILED {
                    continue;
                }
                if let Some(name) = &t.name {
                    t.topic_authorized_operations = ops(ResourceType::Topic, name);
                }
            }
        }
        _ => {}
    }
}
