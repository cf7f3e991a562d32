//! A request the consumer group coordinator turns down: the Kafka error code
//! and the message Kafka sends with it.

use gregor_protocol::error_codes::{FENCED_MEMBER_EPOCH, INVALID_REQUEST, UNKNOWN_MEMBER_ID};

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub code: i16,
    pub message: String,
}

impl Refusal {
    pub fn new(code: i16, message: impl Into<String>) -> Self {
        Refusal {
            code,
            message: message.into(),
        }
    }

    pub fn invalid(message: &str) -> Self {
        Refusal::new(INVALID_REQUEST, message)
    }

    pub fn unknown_member(member_id: &str, group_id: &str) -> Self {
        Refusal::new(
            UNKNOWN_MEMBER_ID,
            format!("Member {member_id} is not a member of group {group_id}."),
        )
    }

    pub fn fenced_epoch(relation: &str, received: i32, known: i32) -> Self {
        Refusal::new(
            FENCED_MEMBER_EPOCH,
            format!(
                "The consumer group member has a {relation} member epoch ({received}) than the \
                 one known by the group coordinator ({known}). The member must abandon all its \
                 partitions and rejoin."
            ),
        )
    }
}
