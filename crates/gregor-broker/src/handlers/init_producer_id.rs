//! InitProducerId. Without a transactional id: a fresh producer id at epoch
//! 0, as Kafka answers idempotent producers. With one: the transaction
//! coordinator's answer (a new epoch for the id, fencing older instances
//! and aborting their open transaction first).

use crate::server::Broker;
use gregor_protocol::error_codes;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse};

/// KIP-360: from v3 a producer recovering from an error sends the producer
/// id and epoch it had; -1 means none.
const NO_PRODUCER_ID: i64 = -1;

pub async fn handle(broker: &Broker, request: InitProducerIdRequest) -> InitProducerIdResponse {
    let response = InitProducerIdResponse::default()
        .with_producer_id((-1).into())
        .with_producer_epoch(-1);
    let result = match request.transactional_id.as_deref() {
        None => broker
            .controller
            .next_producer_id(broker.config.node_id)
            .map(|id| (id, 0))
            .map_err(|e| e.code),
        Some(transactional_id) => {
            let expected = (request.producer_id.0 != NO_PRODUCER_ID)
                .then_some((request.producer_id.0, request.producer_epoch));
            broker
                .txns
                .init_producer_id(transactional_id, request.transaction_timeout_ms, expected)
                .await
        }
    };
    match result {
        Ok((id, epoch)) => response
            .with_error_code(error_codes::NONE)
            .with_producer_id(id.into())
            .with_producer_epoch(epoch),
        Err(error) => response.with_error_code(error),
    }
}
