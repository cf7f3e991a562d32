use gregor_protocol::batch::BatchError;
use gregor_protocol::error_codes;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum LogError {
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// The produced batches were refused; the error carries the Kafka code.
    #[error(transparent)]
    Batch(#[from] BatchError),
    /// OFFSET_OUT_OF_RANGE (1).
    #[error("offset {requested} is outside [{log_start}, {log_end}]")]
    OffsetOutOfRange {
        requested: i64,
        log_start: i64,
        log_end: i64,
    },
    /// RECORD_LIST_TOO_LARGE (18): a produce payload larger than a segment can hold.
    #[error("record set of {size} bytes is larger than segment.bytes ({max})")]
    RecordListTooLarge { size: usize, max: u64 },
    /// INVALID_PRODUCER_EPOCH (47): an idempotent batch from an older
    /// producer epoch than the partition knows. Kafka 4 answers produce
    /// requests with this code (not PRODUCER_FENCED) since 2.7.
    #[error("producer {producer_id} epoch {epoch} is older than the current epoch {current}")]
    InvalidProducerEpoch {
        producer_id: i64,
        epoch: i16,
        current: i16,
    },
    /// OUT_OF_ORDER_SEQUENCE_NUMBER (45): an idempotent batch that neither
    /// follows the producer's last sequence nor repeats a cached batch.
    /// `last_sequence` is -1 when a new epoch did not start at 0.
    #[error("out of order sequence {sequence} for producer {producer_id} epoch {epoch} (last sequence {last_sequence})")]
    OutOfOrderSequence {
        producer_id: i64,
        epoch: i16,
        sequence: i32,
        last_sequence: i32,
    },
    /// INVALID_TXN_STATE (48): a non-transactional batch from a producer
    /// whose transaction in this partition is still open.
    #[error("producer {producer_id} sent a non-transactional batch while its transaction starting at offset {txn_first_offset} is open")]
    InvalidTxnState {
        producer_id: i64,
        txn_first_offset: i64,
    },
    /// INVALID_TXN_STATE (48): the first transactional batch of a producer
    /// whose verification with the transaction coordinator no longer holds
    /// (a marker of the producer was written since, KIP-890).
    #[error("producer {producer_id}: the record was not part of an ongoing transaction")]
    UnverifiedTransaction { producer_id: i64 },
    /// TRANSACTION_COORDINATOR_FENCED (52): a transaction marker written
    /// by an older coordinator epoch than the last marker of its producer
    /// (a zombie coordinator).
    #[error("marker for producer {producer_id} has coordinator epoch {coordinator_epoch}, older than {current}")]
    TransactionCoordinatorFenced {
        producer_id: i64,
        coordinator_epoch: i32,
        current: i32,
    },
    /// INVALID_RECORD (87): a record without a key sent to a compacted
    /// topic; the text is Kafka's (`LogValidator.validateKey`).
    #[error("Compacted topic cannot accept message without key in topic partition {partition}")]
    KeylessRecordOnCompactedTopic {
        partition: String,
        /// Index of each keyless record in the batch.
        batch_indexes: Vec<usize>,
    },
    /// Data on disk that cannot be recovered (not a torn tail).
    #[error("corrupt log: {0}")]
    Corrupt(String),
}

impl LogError {
    /// The Kafka error code to answer a client with.
    pub fn error_code(&self) -> i16 {
        match self {
            LogError::Io(_) | LogError::Corrupt(_) => error_codes::KAFKA_STORAGE_ERROR,
            LogError::Batch(e) => e.error_code(),
            LogError::OffsetOutOfRange { .. } => error_codes::OFFSET_OUT_OF_RANGE,
            LogError::RecordListTooLarge { .. } => error_codes::RECORD_LIST_TOO_LARGE,
            LogError::InvalidProducerEpoch { .. } => error_codes::INVALID_PRODUCER_EPOCH,
            LogError::OutOfOrderSequence { .. } => error_codes::OUT_OF_ORDER_SEQUENCE_NUMBER,
            LogError::InvalidTxnState { .. } | LogError::UnverifiedTransaction { .. } => {
                error_codes::INVALID_TXN_STATE
            }
            LogError::KeylessRecordOnCompactedTopic { .. } => error_codes::INVALID_RECORD,
            LogError::TransactionCoordinatorFenced { .. } => {
                error_codes::TRANSACTION_COORDINATOR_FENCED
            }
        }
    }
}
