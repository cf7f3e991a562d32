//! DescribeProducers: the idempotent producers each partition knows, with
//! their epoch, last sequence and last timestamp (no transactions yet, so
//! coordinator epoch and transaction start offset are always -1).

use crate::handlers::leader_hint::led_partition;
use crate::server::Broker;
use kafka_protocol::messages::describe_producers_response::{
    PartitionResponse, ProducerState, TopicResponse,
};
use kafka_protocol::messages::{DescribeProducersRequest, DescribeProducersResponse};

pub fn handle(broker: &Broker, request: DescribeProducersRequest) -> DescribeProducersResponse {
    let topics = request
        .topics
        .iter()
        .map(|topic| {
            let partitions = topic
                .partition_indexes
                .iter()
                .map(|&index| {
                    let base = PartitionResponse::default().with_partition_index(index);
                    let partition = match led_partition(broker, &topic.name, index) {
                        Ok(partition) => partition,
                        Err(not_led) => return base.with_error_code(not_led.code),
                    };
                    match partition.producer_states() {
                        Ok(states) => base.with_active_producers(
                            states
                                .into_iter()
                                .map(|s| {
                                    ProducerState::default()
                                        .with_producer_id(s.producer_id.into())
                                        .with_producer_epoch(s.producer_epoch as i32)
                                        .with_last_sequence(s.last_sequence)
                                        .with_last_timestamp(s.last_timestamp)
                                        .with_coordinator_epoch(s.coordinator_epoch)
                                        .with_current_txn_start_offset(s.current_txn_start_offset)
                                })
                                .collect(),
                        ),
                        Err(err) => base.with_error_code(err.error_code()),
                    }
                })
                .collect();
            TopicResponse::default()
                .with_name(topic.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    DescribeProducersResponse::default().with_topics(topics)
}
