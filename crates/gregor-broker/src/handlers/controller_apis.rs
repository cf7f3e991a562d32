//! What brokers ask the active controller (Kafka's broker-to-controller
//! APIs): BrokerRegistration, BrokerHeartbeat, AllocateProducerIds and
//! AlterPartition; and what controllers ask it: ControllerRegistration.
//! A node that is not the active controller answers NOT_CONTROLLER, and
//! the broker retries against the one the quorum names.

use crate::controller::Controller;
use gregor_metadata::alter_partition::{accepted_code, IsrChange};
use gregor_metadata::membership::{BrokerRegistration, Heartbeat};
use gregor_metadata::Endpoint;
use gregor_protocol::error_codes;
use kafka_protocol::messages::alter_partition_response::{
    PartitionData as PartitionAnswer, TopicData as TopicAnswer,
};
use kafka_protocol::messages::{
    AllocateProducerIdsRequest, AllocateProducerIdsResponse, AlterPartitionRequest,
    AlterPartitionResponse, BrokerHeartbeatRequest, BrokerHeartbeatResponse, BrokerId,
    BrokerRegistrationRequest, BrokerRegistrationResponse, ControllerRegistrationRequest,
    ControllerRegistrationResponse, ProducerId,
};
use kafka_protocol::protocol::StrBytes;

pub fn register_broker(
    controller: &Controller,
    cluster_id: &str,
    request: BrokerRegistrationRequest,
) -> BrokerRegistrationResponse {
    let response = BrokerRegistrationResponse::default().with_broker_epoch(-1);
    if request.cluster_id.as_str() != cluster_id {
        return response.with_error_code(error_codes::INCONSISTENT_CLUSTER_ID);
    }
    let registration = BrokerRegistration {
        id: request.broker_id.0,
        incarnation_id: request.incarnation_id,
        listeners: request
            .listeners
            .iter()
            .map(|l| Endpoint {
                name: l.name.to_string(),
                host: l.host.to_string(),
                port: i32::from(l.port),
                security_protocol: l.security_protocol,
            })
            .collect(),
        rack: request.rack.as_ref().map(|r| r.to_string()),
        previous_broker_epoch: request.previous_broker_epoch,
    };
    tracing::debug!(
        broker = registration.id,
        previous_broker_epoch = registration.previous_broker_epoch,
        "broker registration"
    );
    match controller.register_broker(&registration) {
        Ok(epoch) => response.with_broker_epoch(epoch),
        Err(err) => {
            tracing::debug!(broker = registration.id, code = err.code, message = %err.message, "registration refused");
            response.with_error_code(err.code)
        }
    }
}

pub fn heartbeat(
    controller: &Controller,
    request: BrokerHeartbeatRequest,
) -> BrokerHeartbeatResponse {
    let heartbeat = Heartbeat {
        id: request.broker_id.0,
        epoch: request.broker_epoch,
        current_metadata_offset: request.current_metadata_offset,
        want_fence: request.want_fence,
        want_shutdown: request.want_shut_down,
    };
    match controller.heartbeat(&heartbeat) {
        Ok(reply) => BrokerHeartbeatResponse::default()
            .with_is_caught_up(reply.is_caught_up)
            .with_is_fenced(reply.is_fenced)
            .with_should_shut_down(reply.should_shutdown),
        Err(err) => BrokerHeartbeatResponse::default()
            .with_error_code(err.code)
            .with_is_fenced(true),
    }
}

pub fn allocate_producer_ids(
    controller: &Controller,
    request: AllocateProducerIdsRequest,
) -> AllocateProducerIdsResponse {
    let image = controller.image();
    let registered = image
        .brokers
        .get(&request.broker_id.0)
        .is_some_and(|b| b.epoch == request.broker_epoch);
    if !registered {
        return AllocateProducerIdsResponse::default()
            .with_error_code(error_codes::STALE_BROKER_EPOCH)
            .with_producer_id_start(ProducerId(-1));
    }
    match controller.allocate_producer_ids(request.broker_id.0) {
        Ok(start) => AllocateProducerIdsResponse::default()
            .with_producer_id_start(ProducerId(start))
            .with_producer_id_len(
                i32::try_from(gregor_metadata::controller::PRODUCER_ID_BLOCK_SIZE)
                    .unwrap_or(i32::MAX),
            ),
        Err(err) => AllocateProducerIdsResponse::default()
            .with_error_code(err.code)
            .with_producer_id_start(ProducerId(-1)),
    }
}

pub fn register_controller(
    controller: &Controller,
    request: ControllerRegistrationRequest,
) -> ControllerRegistrationResponse {
    let listeners = request
        .listeners
        .iter()
        .map(|l| Endpoint {
            name: l.name.to_string(),
            host: l.host.to_string(),
            port: i32::from(l.port),
            security_protocol: l.security_protocol,
        })
        .collect();
    match controller.register_controller(request.controller_id, request.incarnation_id, listeners) {
        Ok(()) => ControllerRegistrationResponse::default(),
        Err(err) => ControllerRegistrationResponse::default()
            .with_error_code(err.code)
            .with_error_message(Some(StrBytes::from_string(err.message))),
    }
}

/// NewIsrWithEpochs replaces NewIsr from this version on (KIP-903).
const ISR_WITH_EPOCHS_VERSION: i16 = 3;

/// AlterPartition: a partition leader's ISR changes. Each partition gets
/// its own error or the state the controller committed.
pub fn alter_partition(
    controller: &Controller,
    request: AlterPartitionRequest,
    version: i16,
) -> AlterPartitionResponse {
    let mut changes = Vec::new();
    for topic in &request.topics {
        for partition in &topic.partitions {
            let new_isr = if version >= ISR_WITH_EPOCHS_VERSION {
                partition
                    .new_isr_with_epochs
                    .iter()
                    .map(|b| (b.broker_id.0, b.broker_epoch))
                    .collect()
            } else {
                partition.new_isr.iter().map(|b| (b.0, -1)).collect()
            };
            changes.push(IsrChange {
                topic_id: topic.topic_id,
                partition: partition.partition_index,
                leader_epoch: partition.leader_epoch,
                partition_epoch: partition.partition_epoch,
                new_isr,
            });
        }
    }
    let results = match controller.alter_partition(
        request.broker_id.0,
        request.broker_epoch,
        &changes,
        version,
    ) {
        Ok(results) => results,
        Err(err) => {
            tracing::debug!(broker = request.broker_id.0, code = err.code, message = %err.message, "AlterPartition refused");
            return AlterPartitionResponse::default().with_error_code(err.code);
        }
    };
    let mut topics: Vec<TopicAnswer> = Vec::new();
    for (change, result) in changes.iter().zip(results) {
        let answer = match result {
            Ok(state) => PartitionAnswer::default()
                .with_partition_index(change.partition)
                // NEW_LEADER_ELECTED when the change finished a
                // reassignment that moved leadership off the sender.
                .with_error_code(accepted_code(request.broker_id.0, &state))
                .with_leader_id(BrokerId(state.leader))
                .with_leader_epoch(state.leader_epoch)
                .with_isr(state.isr.iter().map(|&r| BrokerId(r)).collect())
                .with_partition_epoch(state.partition_epoch),
            Err(code) => {
                tracing::debug!(broker = request.broker_id.0, topic_id = %change.topic_id, partition = change.partition, code, "ISR change refused");
                PartitionAnswer::default()
                    .with_partition_index(change.partition)
                    .with_error_code(code)
            }
        };
        match topics.last_mut() {
            Some(topic) if topic.topic_id == change.topic_id => topic.partitions.push(answer),
            _ => topics.push(
                TopicAnswer::default()
                    .with_topic_id(change.topic_id)
                    .with_partitions(vec![answer]),
            ),
        }
    }
    AlterPartitionResponse::default().with_topics(topics)
}
