//! A zero-copy view of RecordBatch (magic v2) headers, validation of produced
//! batches without decompressing them, and in-place patching of the fields the
//! broker owns (base offset, leader epoch, log-append time, CRC).
//!
//! Layout (big-endian), offsets in bytes:
//!   0 baseOffset i64 | 8 batchLength i32 | 12 partitionLeaderEpoch i32 |
//!   16 magic i8 | 17 crc u32 | 21 attributes i16 | 23 lastOffsetDelta i32 |
//!   27 baseTimestamp i64 | 35 maxTimestamp i64 | 43 producerId i64 |
//!   51 producerEpoch i16 | 53 baseSequence i32 | 57 recordsCount i32 | 61 records
//! The CRC32C covers bytes 21.. (attributes to the end of the batch).

use crate::compression::Compression;
use thiserror::Error;

/// Bytes before the first record of a batch.
pub const BATCH_HEADER_LEN: usize = 61;
/// baseOffset + batchLength: what precedes the `batchLength` bytes.
pub const LOG_OVERHEAD: usize = 12;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub records_count: i32,
}

/// Why a batch was refused. Each maps to the Kafka error code the Java broker
/// returns for it.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum BatchError {
    /// CORRUPT_MESSAGE (2): bad CRC, truncated batch, inconsistent sizes.
    #[error("corrupt record batch: {0}")]
    Corrupt(String),
    /// UNSUPPORTED_FOR_MESSAGE_FORMAT (43) is what Kafka 4 answers for magic v0/v1.
    #[error("unsupported record batch magic {0}")]
    UnsupportedMagic(i8),
    /// MESSAGE_TOO_LARGE (10): one batch is larger than max.message.bytes.
    #[error("record batch of {size} bytes exceeds max.message.bytes ({max})")]
    TooLarge { size: usize, max: usize },
    /// INVALID_RECORD (87): well-formed bytes that break a record rule
    /// (record count vs last offset delta, records that do not parse, ...).
    #[error("invalid record: {0}")]
    InvalidRecord(String),
}

impl BatchError {
    /// The Kafka error code for this failure.
    pub fn error_code(&self) -> i16 {
        match self {
            BatchError::Corrupt(_) => 2,
            BatchError::TooLarge { .. } => 10,
            BatchError::UnsupportedMagic(_) => 43,
            BatchError::InvalidRecord(_) => 87,
        }
    }
}

impl BatchHeader {
    /// Parses the header at the start of `buf`. Fails if `buf` is shorter than
    /// [`BATCH_HEADER_LEN`] or the length field is impossible; does not check
    /// the CRC or that the whole batch is present.
    pub fn parse(buf: &[u8]) -> Result<BatchHeader, BatchError> {
        let _ = buf;
        todo!("gregor-protocol batch: parse header")
    }

    /// Size of the whole batch on disk/wire: `batch_length + LOG_OVERHEAD`.
    pub fn total_size(&self) -> usize {
        self.batch_length as usize + LOG_OVERHEAD
    }

    pub fn last_offset(&self) -> i64 {
        self.base_offset + self.last_offset_delta as i64
    }

    pub fn compression(&self) -> Result<Compression, BatchError> {
        todo!("gregor-protocol batch: codec from attributes bits 0-2")
    }

    /// Attribute bit 3.
    pub fn is_log_append_time(&self) -> bool {
        self.attributes & 0x08 != 0
    }

    /// Attribute bit 4.
    pub fn is_transactional(&self) -> bool {
        self.attributes & 0x10 != 0
    }

    /// Attribute bit 5.
    pub fn is_control(&self) -> bool {
        self.attributes & 0x20 != 0
    }
}

/// Iterates over the complete batches in a byte range (a produce payload or a
/// slice of a segment). A trailing partial batch ends iteration with `Err`
/// from [`BatchIter::next`] returning `Some(Err(Corrupt))`; callers reading
/// segments decide whether that is a torn tail.
pub struct BatchIter<'a> {
    buf: &'a [u8],
}

impl<'a> BatchIter<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        BatchIter { buf }
    }
}

impl<'a> Iterator for BatchIter<'a> {
    /// The parsed header and the batch's full bytes (header included).
    type Item = Result<(BatchHeader, &'a [u8]), BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        let _ = &self.buf;
        todo!("gregor-protocol batch: iterate")
    }
}

/// Computes the CRC32C of a whole batch as Kafka defines it (bytes 21..).
pub fn compute_crc(batch: &[u8]) -> u32 {
    let _ = batch;
    todo!("gregor-protocol batch: crc")
}

/// True when the stored CRC matches the batch's bytes.
pub fn verify_crc(batch: &[u8]) -> bool {
    let _ = batch;
    todo!("gregor-protocol batch: verify crc")
}

/// Validates a produce payload (one or more concatenated batches) the way the
/// Java broker does before appending, without decompressing: magic 2, CRC,
/// sizes, `records_count == last_offset_delta + 1`, each batch no larger than
/// `max_message_bytes`; for uncompressed batches also that the records parse
/// and their count matches. Returns the headers in order.
pub fn validate_produce(buf: &[u8], max_message_bytes: usize) -> Result<Vec<BatchHeader>, BatchError> {
    let _ = (buf, max_message_bytes);
    todo!("gregor-protocol batch: validate produce payload")
}

/// Rewrites `baseOffset` in place. The CRC does not cover it.
pub fn set_base_offset(batch: &mut [u8], base_offset: i64) {
    batch[0..8].copy_from_slice(&base_offset.to_be_bytes());
}

/// Rewrites `partitionLeaderEpoch` in place. The CRC does not cover it.
pub fn set_partition_leader_epoch(batch: &mut [u8], epoch: i32) {
    batch[12..16].copy_from_slice(&epoch.to_be_bytes());
}

/// For topics with `message.timestamp.type=LogAppendTime`: sets the
/// timestamp-type attribute and `maxTimestamp` to `now_ms`, then rewrites the
/// CRC (both fields are covered by it).
pub fn set_log_append_time(batch: &mut [u8], now_ms: i64) {
    let _ = (batch, now_ms);
    todo!("gregor-protocol batch: log append time")
}
