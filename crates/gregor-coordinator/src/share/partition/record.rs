//! The delivery state of one in-flight record of a share-partition.

/// Kafka's `RecordState` (AVAILABLE → ACQUIRED → ACKNOWLEDGED | ARCHIVED,
/// or back to AVAILABLE when released or its lock expires).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordState {
    Available,
    Acquired,
    Acknowledged,
    Archived,
}

impl RecordState {
    /// Done for good: the start offset may move past it.
    pub fn is_terminal(self) -> bool {
        matches!(self, RecordState::Acknowledged | RecordState::Archived)
    }
}

/// How a consumer acknowledged a record (`AcknowledgeTypes` in
/// ShareFetch/ShareAcknowledge, KIP-932).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AckType {
    /// The offset holds no record for the consumer (control record, compacted away).
    Gap,
    Accept,
    /// Give it back: another delivery attempt, unless the limit is reached.
    Release,
    /// Unprocessable: never delivered again.
    Reject,
    /// Still being processed: extend the acquisition lock, keep the record
    /// (KIP-1222; ShareFetch/ShareAcknowledge v2 with `IsRenewAck`).
    Renew,
}

impl AckType {
    pub fn from_code(code: i8) -> Option<AckType> {
        match code {
            0 => Some(AckType::Gap),
            1 => Some(AckType::Accept),
            2 => Some(AckType::Release),
            3 => Some(AckType::Reject),
            4 => Some(AckType::Renew),
            _ => None,
        }
    }
}

/// One in-flight offset. `owner`/`lock_deadline_ms` only mean something
/// while ACQUIRED.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InFlight {
    pub state: RecordState,
    pub delivery_count: i16,
    pub owner: Option<String>,
    pub lock_deadline_ms: i64,
}

impl InFlight {
    pub fn available(delivery_count: i16) -> InFlight {
        InFlight {
            state: RecordState::Available,
            delivery_count,
            owner: None,
            lock_deadline_ms: 0,
        }
    }

    pub fn settled(state: RecordState, delivery_count: i16) -> InFlight {
        InFlight {
            state,
            delivery_count,
            owner: None,
            lock_deadline_ms: 0,
        }
    }
}
