//! Kafka error codes as the names operators know (UNKNOWN_TOPIC_OR_PARTITION).

use gregor_protocol::error_codes::{
    FENCED_LEADER_EPOCH, LEADER_NOT_AVAILABLE, NONE, NOT_LEADER_OR_FOLLOWER, UNKNOWN_LEADER_EPOCH,
    UNKNOWN_TOPIC_OR_PARTITION,
};
use kafka_protocol::error::ResponseError;

/// Codes that say the client's idea of who leads a partition is out of date
/// (or the leader is mid-election). The request was not applied, so asking
/// metadata again and retrying is safe.
pub fn is_stale_metadata_code(code: i16) -> bool {
    matches!(
        code,
        UNKNOWN_TOPIC_OR_PARTITION
            | LEADER_NOT_AVAILABLE
            | NOT_LEADER_OR_FOLLOWER
            | FENCED_LEADER_EPOCH
            | UNKNOWN_LEADER_EPOCH
    )
}

/// A non-zero error code from a broker, with the context it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaError {
    pub code: i16,
    pub message: String,
}

impl std::fmt::Display for KafkaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, error_name(self.code))
    }
}

impl std::error::Error for KafkaError {}

/// `UnknownTopicOrPartition` -> `UNKNOWN_TOPIC_OR_PARTITION`, as Kafka's
/// tools print error names.
pub fn error_name(code: i16) -> String {
    match ResponseError::try_from_code(code) {
        None => "NONE".to_string(),
        Some(ResponseError::Unknown(code)) => format!("UNKNOWN_ERROR_CODE_{code}"),
        Some(error) => {
            let camel = format!("{error:?}");
            let mut out = String::with_capacity(camel.len() + 8);
            for (i, c) in camel.chars().enumerate() {
                if c.is_ascii_uppercase() && i > 0 {
                    out.push('_');
                }
                out.push(c.to_ascii_uppercase());
            }
            out
        }
    }
}

/// `Ok(())` for code 0, else the error with `message` as context.
pub fn check(code: i16, message: impl FnOnce() -> String) -> Result<(), KafkaError> {
    if code == NONE {
        Ok(())
    } else {
        Err(KafkaError {
            code,
            message: message(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_kafkas_spelling() {
        assert_eq!(error_name(3), "UNKNOWN_TOPIC_OR_PARTITION");
        assert_eq!(error_name(10), "MESSAGE_TOO_LARGE");
        assert_eq!(error_name(36), "TOPIC_ALREADY_EXISTS");
        assert_eq!(error_name(0), "NONE");
        assert_eq!(error_name(-1), "UNKNOWN_SERVER_ERROR");
        assert_eq!(error_name(9999), "UNKNOWN_ERROR_CODE_9999");
    }
}
