//! The Gregor broker.
//!
//! Reads top to bottom like this: [`server`] starts everything and accepts
//! connections; [`connection`] turns bytes into requests and responses;
//! [`handlers`] answer each Kafka API against the [`controller`] (metadata)
//! and the [`replica_manager`] (partition logs). The group and transaction
//! coordinators' state machines live in `gregor-coordinator`;
//! [`group_service`] and [`txn_service`] are their edges here (persistence,
//! timers, markers).

pub mod admin_http;
pub mod clean_history;
pub mod cleaner_throttle;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod connection;
pub mod console;
pub mod controller;
pub mod fd_limit;
pub mod fetch;
pub mod frame_reader;
pub mod group_service;
pub mod handlers;
pub mod internal_topics;
pub mod log_cleaner;
pub mod log_config;

pub mod meta_properties;
pub mod metrics;
pub mod quota;
pub mod replica;
pub mod replica_manager;
pub mod request_memory;
pub mod security;
pub mod send_file;
pub mod server;
pub mod share;
pub mod telemetry;
pub mod txn_markers;
pub mod txn_service;
pub mod txn_verification;

pub use config::{BrokerConfig, ConfigError};
pub use server::{Broker, RunningBroker};
