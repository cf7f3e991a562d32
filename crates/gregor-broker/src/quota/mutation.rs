//! The controller mutation quota of one CreateTopics, CreatePartitions or
//! DeleteTopics request (KIP-599): each topic's partitions created or
//! deleted are taken from the (user, client id)'s token bucket. From the
//! versions that can say so (CreateTopics v6, CreatePartitions v3,
//! DeleteTopics v5) a topic arriving while the bucket is empty is refused
//! with THROTTLING_QUOTA_EXCEEDED; older clients are never refused, only
//! throttled, as Kafka's ControllerApis does.

use super::Mutation;
use crate::server::Broker;
use kafka_protocol::messages::ApiKey;

/// Kafka's error message for THROTTLING_QUOTA_EXCEEDED.
pub const THROTTLED_MESSAGE: &str = "The throttling quota has been exceeded.";

pub struct MutationQuota<'a> {
    broker: &'a Broker,
    user: &'a str,
    client_id: &'a str,
    strict: bool,
    throttle_ms: u64,
}

impl<'a> MutationQuota<'a> {
    pub fn for_request(
        broker: &'a Broker,
        user: &'a str,
        client_id: &'a str,
        api_key: ApiKey,
        version: i16,
    ) -> MutationQuota<'a> {
        let strict_since = match api_key {
            ApiKey::CreateTopics => 6,
            ApiKey::CreatePartitions => 3,
            ApiKey::DeleteTopics => 5,
            _ => i16::MAX,
        };
        MutationQuota {
            broker,
            user,
            client_id,
            strict: version >= strict_since,
            throttle_ms: 0,
        }
    }

    /// Takes `partitions` mutations; `false` when the topic must be refused
    /// with THROTTLING_QUOTA_EXCEEDED.
    pub fn admit(&mut self, partitions: i32) -> bool {
        let image = self.broker.controller.image();
        if image.client_quotas.is_empty() || partitions <= 0 {
            return true;
        }
        let outcome = self.broker.client_quotas.record_mutation(
            &image.client_quotas,
            self.user,
            self.client_id,
            f64::from(partitions),
            self.strict,
            crate::clock::now_ms(),
        );
        match outcome {
            Mutation::Accepted { throttle_ms } => {
                self.throttle_ms = self.throttle_ms.max(throttle_ms);
                true
            }
            Mutation::Refused { throttle_ms } => {
                self.throttle_ms = self.throttle_ms.max(throttle_ms);
                false
            }
        }
    }

    /// The response's throttle time from this quota, in ms.
    pub fn throttle_time_ms(&self) -> i32 {
        self.throttle_ms.min(i32::MAX as u64) as i32
    }
}
