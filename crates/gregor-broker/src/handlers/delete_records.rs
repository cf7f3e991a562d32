//! DeleteRecords: moves a partition's log start offset forward
//! (`kafka-delete-records`, `Admin.deleteRecords`). Consumers positioned
//! below it then get OFFSET_OUT_OF_RANGE and reset; ListOffsets earliest
//! follows. The new start offset is checkpointed before it is used, so it
//! survives a restart.

use crate::handlers::leader_hint::led_partition;
use crate::internal_topics::{OFFSETS_TOPIC, TXN_TOPIC};
use crate::log_config::{effective, BrokerLayers};
use crate::server::Broker;
use gregor_metadata::topic_config;
use gregor_protocol::error_codes;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

/// The low watermark Kafka reports with an error.
const INVALID_LOW_WATERMARK: i64 = -1;

pub fn handle(broker: &Broker, request: DeleteRecordsRequest) -> DeleteRecordsResponse {
    let image = broker.controller.image();
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            // Kafka never lets clients cut its internal topics.
            let internal = [OFFSETS_TOPIC, TXN_TOPIC].contains(&topic.name.as_str());
            let compacted_only = image
                .topic(&topic.name)
                .is_some_and(|t| !deletes_records(&BrokerLayers::new(&image, &broker.config), t));
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let result = DeleteRecordsPartitionResult::default()
                        .with_partition_index(p.partition_index)
                        .with_low_watermark(INVALID_LOW_WATERMARK);
                    let partition = match led_partition(broker, &topic.name, p.partition_index) {
                        Ok(partition) => partition,
                        Err(not_led) => return result.with_error_code(not_led.code),
                    };
                    if internal {
                        return result.with_error_code(error_codes::INVALID_TOPIC_EXCEPTION);
                    }
                    // Kafka refuses to cut a log that is only compacted.
                    if compacted_only {
                        return result.with_error_code(error_codes::POLICY_VIOLATION);
                    }
                    match partition.delete_records(p.offset) {
                        Ok(low_watermark) => result
                            .with_error_code(error_codes::NONE)
                            .with_low_watermark(low_watermark),
                        Err(err) => result.with_error_code(err.error_code()),
                    }
                })
                .collect();
            DeleteRecordsTopicResult::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    DeleteRecordsResponse::default().with_topics(topics)
}

/// Whether the topic's `cleanup.policy` includes `delete`.
fn deletes_records(layers: &BrokerLayers, topic: &gregor_metadata::TopicImage) -> bool {
    topic_config::find("cleanup.policy").is_none_or(|def| {
        effective(topic, layers, def)
            .0
            .split(',')
            .any(|policy| policy.trim() == "delete")
    })
}
