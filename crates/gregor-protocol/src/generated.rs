//! Message types generated at build time (build.rs) from the Kafka JSON
//! schemas in `schemas/`: the ones kafka-protocol 0.18 lacks. They implement
//! kafka-protocol's traits, so they encode and decode like its own types.

pub mod wire;

include!(concat!(env!("OUT_DIR"), "/kafka_messages.rs"));

#[cfg(test)]
mod tests;
