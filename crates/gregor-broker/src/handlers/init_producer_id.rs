//! InitProducerId for idempotent producers: a fresh producer id at epoch 0,
//! as Kafka answers every request without a transactional id.
//! Transactional ids need the transaction coordinator, which is not there yet.

use super::code;
use crate::server::Broker;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse};

pub fn handle(broker: &Broker, request: InitProducerIdRequest) -> InitProducerIdResponse {
    let response = InitProducerIdResponse::default()
        .with_producer_id((-1).into())
        .with_producer_epoch(-1);
    if request.transactional_id.is_some() {
        return response.with_error_code(code::INVALID_REQUEST);
    }
    match broker.controller.next_producer_id(broker.config.node_id) {
        Ok(id) => response.with_producer_id(id.into()).with_producer_epoch(0),
        Err(e) => response.with_error_code(e.code),
    }
}
