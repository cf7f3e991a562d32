//! A request the consumer group coordinator turns down: the Kafka error code
//! and the message Kafka sends with it.

pub const UNSUPPORTED_VERSION: i16 = 35;
pub const INVALID_REQUEST: i16 = 42;
pub const GROUP_ID_NOT_FOUND: i16 = 69;
pub const GROUP_MAX_SIZE_REACHED: i16 = 81;
pub const FENCED_INSTANCE_ID: i16 = 82;
pub const FENCED_MEMBER_EPOCH: i16 = 110;
pub const UNRELEASED_INSTANCE_ID: i16 = 111;
pub const UNSUPPORTED_ASSIGNOR: i16 = 112;
pub const STALE_MEMBER_EPOCH: i16 = 113;
pub const UNKNOWN_MEMBER_ID: i16 = 25;
pub const INVALID_REGULAR_EXPRESSION: i16 = 128;

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
