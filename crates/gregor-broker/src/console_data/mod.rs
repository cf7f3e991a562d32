//! The data behind the console's consumer-group, transaction, ACL and user
//! pages, as plain functions over the broker.
//!
//! Every read and write goes through the broker's own Kafka API handlers
//! ([`kafka::KafkaCaller`]) as the console user's principal: a console
//! action is authorized, validated and persisted exactly as the same
//! request from a Kafka client (an offset reset is an OffsetCommit, a
//! group deletion a DeleteGroups, ...). Pages only render what these
//! functions return.

pub mod acl_users;
pub mod groups;
pub mod kafka;
pub mod offsets;
pub mod reset;
pub mod txns;

pub use kafka::KafkaCaller;

use gregor_protocol::error_codes;

/// A refused console request: the HTTP status and a message for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleError {
    pub status: u16,
    pub message: String,
}

impl ConsoleError {
    pub fn bad_request(message: impl Into<String>) -> ConsoleError {
        ConsoleError {
            status: 400,
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> ConsoleError {
        ConsoleError {
            status: 404,
            message: message.into(),
        }
    }

    pub fn conflict(message: impl Into<String>) -> ConsoleError {
        ConsoleError {
            status: 409,
            message: message.into(),
        }
    }

    /// A Kafka error code from a handler, with what the console was doing:
    /// authorization failures are 403, unknown things 404, a coordinator
    /// that cannot answer now 503, the rest 400 (the request cannot work).
    pub fn kafka(code: i16, doing: &str) -> ConsoleError {
        let status = match code {
            error_codes::GROUP_AUTHORIZATION_FAILED
            | error_codes::TOPIC_AUTHORIZATION_FAILED
            | error_codes::CLUSTER_AUTHORIZATION_FAILED
            | error_codes::TRANSACTIONAL_ID_AUTHORIZATION_FAILED => 403,
            error_codes::GROUP_ID_NOT_FOUND
            | error_codes::UNKNOWN_TOPIC_OR_PARTITION
            | error_codes::TRANSACTIONAL_ID_NOT_FOUND
            | error_codes::RESOURCE_NOT_FOUND => 404,
            error_codes::NON_EMPTY_GROUP | error_codes::CONCURRENT_TRANSACTIONS => 409,
            error_codes::COORDINATOR_LOAD_IN_PROGRESS
            | error_codes::COORDINATOR_NOT_AVAILABLE
            | error_codes::NOT_COORDINATOR
            | error_codes::NOT_LEADER_OR_FOLLOWER
            | error_codes::LEADER_NOT_AVAILABLE
            | error_codes::REQUEST_TIMED_OUT
            | error_codes::NOT_CONTROLLER => 503,
            _ => 400,
        };
        ConsoleError {
            status,
            message: format!("{doing}: {}", error_name(code)),
        }
    }
}

impl std::fmt::Display for ConsoleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConsoleError {}

/// A Kafka error code as Kafka's tools print it: `NON_EMPTY_GROUP (68)`.
pub fn error_name(code: i16) -> String {
    format!("{} ({code})", gregor_client::error_name(code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_names_read_as_kafka_prints_them() {
        assert_eq!(error_name(68), "NON_EMPTY_GROUP (68)");
        assert_eq!(error_name(69), "GROUP_ID_NOT_FOUND (69)");
        assert_eq!(error_name(9999), "UNKNOWN_ERROR_CODE_9999 (9999)");
    }

    #[test]
    fn statuses_follow_the_kind_of_error() {
        assert_eq!(ConsoleError::kafka(30, "x").status, 403);
        assert_eq!(ConsoleError::kafka(69, "x").status, 404);
        assert_eq!(ConsoleError::kafka(68, "x").status, 409);
        assert_eq!(ConsoleError::kafka(15, "x").status, 503);
        assert_eq!(ConsoleError::kafka(42, "x").status, 400);
    }
}
