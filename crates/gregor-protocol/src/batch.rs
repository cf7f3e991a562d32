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
use crate::error_codes;
use crate::record_wire::for_each_record;
use thiserror::Error;

/// Bytes before the first record of a batch.
pub const BATCH_HEADER_LEN: usize = 61;
/// baseOffset + batchLength: what precedes the `batchLength` bytes.
pub const LOG_OVERHEAD: usize = 12;
/// The smallest `batchLength` a v2 batch can have (a header, no records).
pub const MIN_BATCH_LENGTH: i32 = (BATCH_HEADER_LEN - LOG_OVERHEAD) as i32;
/// Where the magic byte sits, in every message format version.
pub const MAGIC_OFFSET: usize = 16;
/// The CRC covers the batch from here (the attributes) to its end.
pub const CRC_START: usize = 21;
const CRC_OFFSET: usize = 17;
const ATTRIBUTES_OFFSET: usize = 21;
const MAX_TIMESTAMP_OFFSET: usize = 35;

/// Attribute bit 3: timestamps are the broker's append time.
pub const ATTR_LOG_APPEND_TIME: i16 = 0x08;
/// Attribute bit 4.
pub const ATTR_TRANSACTIONAL: i16 = 0x10;
/// Attribute bit 5.
pub const ATTR_CONTROL: i16 = 0x20;
/// Attribute bits 0-2.
pub const ATTR_CODEC_MASK: i16 = 0x07;

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
    /// Magic v0/v1 (Kafka 4 dropped them). The Java broker answers
    /// INVALID_RECORD (87): `ProduceRequest.validateRecords` rejects any
    /// batch whose magic is not 2 before the log sees it.
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
            BatchError::Corrupt(_) => error_codes::CORRUPT_MESSAGE,
            BatchError::TooLarge { .. } => error_codes::MESSAGE_TOO_LARGE,
            BatchError::UnsupportedMagic(_) | BatchError::InvalidRecord(_) => {
                error_codes::INVALID_RECORD
            }
        }
    }
}

impl BatchHeader {
    /// Parses the header at the start of `buf`. Fails if `buf` is shorter than
    /// [`BATCH_HEADER_LEN`] or the length field is impossible; does not check
    /// the CRC or that the whole batch is present.
    pub fn parse(buf: &[u8]) -> Result<BatchHeader, BatchError> {
        let Some(h) = buf.first_chunk::<BATCH_HEADER_LEN>() else {
            return Err(BatchError::Corrupt(format!(
                "{} bytes cannot hold a {BATCH_HEADER_LEN}-byte batch header",
                buf.len()
            )));
        };
        let header = BatchHeader {
            base_offset: be_i64(h, 0),
            batch_length: be_i32(h, 8),
            partition_leader_epoch: be_i32(h, 12),
            magic: h[MAGIC_OFFSET] as i8,
            crc: be_i32(h, CRC_OFFSET) as u32,
            attributes: be_i16(h, ATTRIBUTES_OFFSET),
            last_offset_delta: be_i32(h, 23),
            base_timestamp: be_i64(h, 27),
            max_timestamp: be_i64(h, MAX_TIMESTAMP_OFFSET),
            producer_id: be_i64(h, 43),
            producer_epoch: be_i16(h, 51),
            base_sequence: be_i32(h, 53),
            records_count: be_i32(h, 57),
        };
        check_batch_length(header.batch_length)?;
        Ok(header)
    }

    /// Size of the whole batch on disk/wire: `batch_length + LOG_OVERHEAD`.
    pub fn total_size(&self) -> usize {
        self.batch_length as usize + LOG_OVERHEAD
    }

    pub fn last_offset(&self) -> i64 {
        self.base_offset + self.last_offset_delta as i64
    }

    pub fn compression(&self) -> Result<Compression, BatchError> {
        let id = self.attributes & ATTR_CODEC_MASK;
        Compression::from_id(id)
            .ok_or_else(|| BatchError::Corrupt(format!("unknown compression codec id {id}")))
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
        let step = split_first(self.buf);
        match step {
            Ok(Split::Complete(header, batch, rest)) => {
                self.buf = rest;
                Some(Ok((header, batch)))
            }
            Ok(Split::End) => None,
            Ok(Split::Partial) => {
                let len = self.buf.len();
                self.buf = &[];
                Some(Err(BatchError::Corrupt(format!(
                    "truncated record batch: {len} trailing bytes"
                ))))
            }
            Err(e) => {
                self.buf = &[];
                Some(Err(e))
            }
        }
    }
}

/// What starts a byte range of concatenated batches.
pub(crate) enum Split<'a> {
    /// A whole batch (header, its bytes) and what follows it.
    Complete(BatchHeader, &'a [u8], &'a [u8]),
    /// The start of a batch whose end is missing.
    Partial,
    /// Nothing left.
    End,
}

/// Splits the first batch off `buf`. A length field smaller than a v2
/// header is corruption, not truncation: more bytes would not fix it.
pub(crate) fn split_first(buf: &[u8]) -> Result<Split<'_>, BatchError> {
    if buf.is_empty() {
        return Ok(Split::End);
    }
    let Some(prefix) = buf.first_chunk::<LOG_OVERHEAD>() else {
        return Ok(Split::Partial);
    };
    let batch_length = be_i32(prefix, 8);
    check_batch_length(batch_length)?;
    let total = batch_length as usize + LOG_OVERHEAD;
    if buf.len() < total {
        return Ok(Split::Partial);
    }
    let (batch, rest) = buf.split_at(total);
    let header = BatchHeader::parse(batch)?;
    Ok(Split::Complete(header, batch, rest))
}

fn check_batch_length(batch_length: i32) -> Result<(), BatchError> {
    if batch_length < MIN_BATCH_LENGTH {
        return Err(BatchError::Corrupt(format!(
            "batch length {batch_length} is smaller than the minimum {MIN_BATCH_LENGTH}"
        )));
    }
    Ok(())
}

fn be_i16(b: &[u8; BATCH_HEADER_LEN], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}

fn be_i32<const N: usize>(b: &[u8; N], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn be_i64(b: &[u8; BATCH_HEADER_LEN], at: usize) -> i64 {
    let mut raw = [0u8; 8];
    raw.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(raw)
}

/// Computes the CRC32C of a whole batch as Kafka defines it (bytes 21..).
pub fn compute_crc(batch: &[u8]) -> u32 {
    crc32c::crc32c(batch.get(CRC_START..).unwrap_or_default())
}

/// True when the stored CRC matches the batch's bytes.
pub fn verify_crc(batch: &[u8]) -> bool {
    match batch.get(CRC_OFFSET..CRC_START) {
        Some(stored) if batch.len() >= BATCH_HEADER_LEN => {
            let stored = u32::from_be_bytes([stored[0], stored[1], stored[2], stored[3]]);
            stored == compute_crc(batch)
        }
        _ => false,
    }
}

/// Validates one partition's produce payload the way the Java broker does
/// before appending, without decompressing: magic 2, CRC, sizes,
/// `records_count == last_offset_delta + 1` (and >= 1), the batch no larger
/// than `max_message_bytes`; for uncompressed batches also that the records
/// parse and their count matches. Returns the headers in order.
///
/// Like Kafka 4 (every produce version it serves is >= 3, so
/// `ProduceRequest.validateRecords` applies) the payload must hold exactly
/// one batch: none, a lone truncated batch, or a second batch are
/// INVALID_RECORD, so the returned vector always has one element. Java silently trims a partial batch that follows a
/// whole one; we refuse it instead, since the caller appends `buf` as is.
/// Also refused as Java does: control batches from clients, and a producer
/// id without a base sequence.
pub fn validate_produce(
    buf: &[u8],
    max_message_bytes: usize,
) -> Result<Vec<BatchHeader>, BatchError> {
    // The magic byte sits at the same offset in every format and Java checks
    // it first, so v0/v1 payloads get the magic error, not a v2 size error.
    if buf.len() > MAGIC_OFFSET {
        let magic = buf[MAGIC_OFFSET] as i8;
        if magic != 2 {
            return Err(if (0..2).contains(&magic) {
                BatchError::UnsupportedMagic(magic)
            } else {
                BatchError::Corrupt(format!("invalid magic {magic}"))
            });
        }
    }
    let (header, batch) = match split_first(buf)? {
        Split::Complete(header, batch, rest) => {
            if !rest.is_empty() {
                return Err(BatchError::InvalidRecord(
                    "produce requests may contain exactly one record batch per partition".into(),
                ));
            }
            (header, batch)
        }
        Split::Partial | Split::End => {
            return Err(BatchError::InvalidRecord(
                "produce request partition holds no complete record batch".into(),
            ))
        }
    };
    validate_batch(&header, batch, max_message_bytes)?;
    Ok(vec![header])
}

/// The checks `UnifiedLog.analyzeAndValidateRecords` and
/// `LogValidator.validateBatch` make, in their order.
fn validate_batch(
    header: &BatchHeader,
    batch: &[u8],
    max_message_bytes: usize,
) -> Result<(), BatchError> {
    let size = header.total_size();
    if size > max_message_bytes {
        return Err(BatchError::TooLarge {
            size,
            max: max_message_bytes,
        });
    }
    if !verify_crc(batch) {
        return Err(BatchError::Corrupt(format!(
            "record batch CRC {:#010x} does not match its contents ({:#010x})",
            header.crc,
            compute_crc(batch)
        )));
    }
    let codec = header.compression()?;
    let count_from_offsets = i64::from(header.last_offset_delta) + 1;
    if count_from_offsets <= 0 {
        return Err(BatchError::InvalidRecord(format!(
            "invalid last offset delta {}",
            header.last_offset_delta
        )));
    }
    if header.records_count <= 0 {
        return Err(BatchError::InvalidRecord(format!(
            "invalid record count {}",
            header.records_count
        )));
    }
    if count_from_offsets != i64::from(header.records_count) {
        return Err(BatchError::InvalidRecord(format!(
            "record count {} does not match last offset delta {}",
            header.records_count, header.last_offset_delta
        )));
    }
    if header.is_control() {
        return Err(BatchError::InvalidRecord(
            "clients are not allowed to write control records".into(),
        ));
    }
    if header.producer_id >= 0 && header.base_sequence < 0 {
        return Err(BatchError::InvalidRecord(format!(
            "invalid sequence number {} for producer id {}",
            header.base_sequence, header.producer_id
        )));
    }
    if codec == Compression::None {
        for_each_record(&batch[BATCH_HEADER_LEN..], header.records_count, |_| ())
            .map_err(BatchError::InvalidRecord)?;
    }
    Ok(())
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
/// A slice shorter than a batch header is left untouched.
pub fn set_log_append_time(batch: &mut [u8], now_ms: i64) {
    if batch.len() < BATCH_HEADER_LEN {
        return;
    }
    let attributes = i16::from_be_bytes([batch[ATTRIBUTES_OFFSET], batch[ATTRIBUTES_OFFSET + 1]])
        | ATTR_LOG_APPEND_TIME;
    batch[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2].copy_from_slice(&attributes.to_be_bytes());
    batch[MAX_TIMESTAMP_OFFSET..MAX_TIMESTAMP_OFFSET + 8].copy_from_slice(&now_ms.to_be_bytes());
    write_crc(batch);
}

/// Recomputes and stores the CRC of a whole batch (after editing a field
/// it covers). A slice shorter than a batch header is left untouched.
pub fn write_crc(batch: &mut [u8]) {
    if batch.len() < BATCH_HEADER_LEN {
        return;
    }
    let crc = compute_crc(batch);
    batch[CRC_OFFSET..CRC_START].copy_from_slice(&crc.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error_codes::{CORRUPT_MESSAGE, INVALID_RECORD, MESSAGE_TOO_LARGE};
    use crate::records::BatchBuilder;
    use bytes::Bytes;

    const MAX: usize = 1 << 20;

    fn batch(codec: Compression, n: usize) -> Vec<u8> {
        let mut b = BatchBuilder::new(codec).producer(42, 3, 7);
        for i in 0..n {
            b.push(
                1_000 + i as i64,
                None,
                Some(Bytes::from(format!("v{i}"))),
                vec![],
            );
        }
        b.build().unwrap().to_vec()
    }

    /// Sets a header field and fixes the CRC so only that rule is broken.
    fn patch(mut b: Vec<u8>, at: usize, bytes: &[u8]) -> Vec<u8> {
        b[at..at + bytes.len()].copy_from_slice(bytes);
        write_crc(&mut b);
        b
    }

    #[test]
    fn parses_a_built_header() {
        let b = batch(Compression::None, 3);
        let h = BatchHeader::parse(&b).unwrap();
        assert_eq!(h.base_offset, 0);
        assert_eq!(h.total_size(), b.len());
        assert_eq!(h.partition_leader_epoch, -1);
        assert_eq!(h.magic, 2);
        assert_eq!(h.last_offset_delta, 2);
        assert_eq!(h.last_offset(), 2);
        assert_eq!((h.base_timestamp, h.max_timestamp), (1_000, 1_002));
        assert_eq!(
            (h.producer_id, h.producer_epoch, h.base_sequence),
            (42, 3, 7)
        );
        assert_eq!(h.records_count, 3);
        assert_eq!(h.compression(), Ok(Compression::None));
        assert!(!h.is_transactional() && !h.is_control() && !h.is_log_append_time());
        assert_eq!(h.crc, compute_crc(&b));
    }

    #[test]
    fn parse_rejects_short_and_impossible_lengths() {
        let b = batch(Compression::None, 1);
        assert!(BatchHeader::parse(&b[..BATCH_HEADER_LEN - 1]).is_err());
        let bad = patch(b, 8, &10i32.to_be_bytes());
        assert!(matches!(
            BatchHeader::parse(&bad),
            Err(BatchError::Corrupt(_))
        ));
    }

    #[test]
    fn crc_detects_any_flipped_covered_byte() {
        let b = batch(Compression::Gzip, 2);
        assert!(verify_crc(&b));
        for i in CRC_START..b.len() {
            let mut c = b.clone();
            c[i] ^= 0x01;
            assert!(!verify_crc(&c), "flip at {i} not detected");
        }
        // Base offset and leader epoch are outside the CRC.
        let mut c = b.clone();
        set_base_offset(&mut c, 99);
        set_partition_leader_epoch(&mut c, 5);
        assert!(verify_crc(&c));
        assert!(!verify_crc(&b[..20]));
    }

    #[test]
    fn iterates_batches_and_flags_a_torn_tail() {
        let mut buf = batch(Compression::None, 2);
        let second = batch(Compression::Lz4, 3);
        buf.extend_from_slice(&second);
        let all: Vec<_> = BatchIter::new(&buf).collect();
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].as_ref().unwrap().1, &second[..]);

        let torn = &buf[..buf.len() - 1];
        let got: Vec<_> = BatchIter::new(torn).collect();
        assert_eq!(got.len(), 2);
        assert!(got[0].is_ok());
        assert!(matches!(got[1], Err(BatchError::Corrupt(_))));
        assert_eq!(BatchIter::new(&[]).count(), 0);
        let mut it = BatchIter::new(&[0u8; 5]);
        assert!(matches!(it.next(), Some(Err(_))));
        assert!(it.next().is_none());
    }

    #[test]
    fn accepts_valid_batches_of_every_codec() {
        for codec in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let b = batch(codec, 5);
            let headers = validate_produce(&b, MAX).unwrap();
            assert_eq!(headers.len(), 1);
            assert_eq!(headers[0].records_count, 5);
        }
    }

    fn code(buf: &[u8]) -> i16 {
        validate_produce(buf, MAX).unwrap_err().error_code()
    }

    #[test]
    fn refuses_what_java_refuses() {
        let good = batch(Compression::None, 3);

        let mut bad_crc = good.clone();
        let last = bad_crc.len() - 1;
        bad_crc[last] ^= 0xff;
        assert_eq!(code(&bad_crc), CORRUPT_MESSAGE);

        for magic in [0u8, 1] {
            let mut old = good.clone();
            old[MAGIC_OFFSET] = magic;
            assert_eq!(
                validate_produce(&old, MAX),
                Err(BatchError::UnsupportedMagic(magic as i8))
            );
        }
        let mut future = good.clone();
        future[MAGIC_OFFSET] = 3;
        assert_eq!(code(&future), CORRUPT_MESSAGE);

        assert_eq!(code(&[]), INVALID_RECORD);
        assert_eq!(code(&good[..good.len() - 1]), INVALID_RECORD);
        assert_eq!(code(&good[..10]), INVALID_RECORD);

        let mut two = good.clone();
        two.extend_from_slice(&good);
        assert_eq!(code(&two), INVALID_RECORD);
        let mut tail = good.clone();
        tail.push(0);
        assert_eq!(code(&tail), INVALID_RECORD);

        // Count vs last offset delta, count zero, negative delta.
        assert_eq!(
            code(&patch(good.clone(), 57, &4i32.to_be_bytes())),
            INVALID_RECORD
        );
        assert_eq!(
            code(&patch(good.clone(), 23, &3i32.to_be_bytes())),
            INVALID_RECORD
        );
        let empty = patch(
            patch(good.clone(), 57, &0i32.to_be_bytes()),
            23,
            &(-1i32).to_be_bytes(),
        );
        assert_eq!(code(&empty), INVALID_RECORD);
        // Count and delta agree but the records do not: 2 declared, 3 present.
        let short = patch(
            patch(good.clone(), 57, &2i32.to_be_bytes()),
            23,
            &1i32.to_be_bytes(),
        );
        assert_eq!(code(&short), INVALID_RECORD);
        // A record whose length runs past the batch.
        let mut rec = good.clone();
        rec[BATCH_HEADER_LEN] = 0x7e;
        write_crc(&mut rec);
        assert_eq!(code(&rec), INVALID_RECORD);

        // Control batches from clients, producer id without sequence, codec 7.
        assert_eq!(
            code(&patch(good.clone(), 21, &ATTR_CONTROL.to_be_bytes())),
            INVALID_RECORD
        );
        assert_eq!(
            code(&patch(good.clone(), 53, &(-1i32).to_be_bytes())),
            INVALID_RECORD
        );
        assert_eq!(
            code(&patch(good.clone(), 21, &7i16.to_be_bytes())),
            CORRUPT_MESSAGE
        );

        assert_eq!(
            validate_produce(&good, good.len() - 1),
            Err(BatchError::TooLarge {
                size: good.len(),
                max: good.len() - 1
            })
        );
        assert!(validate_produce(&good, good.len()).is_ok());

        assert_eq!(code(&[0xff; 100]), 2);
        assert_eq!(code(&patch(good, 8, &12i32.to_be_bytes())), CORRUPT_MESSAGE);
    }

    #[test]
    fn compressed_records_are_not_inspected() {
        // A compressed section that is not even valid compression passes, as
        // the broker must not decompress on the produce path.
        let mut b = batch(Compression::Zstd, 1);
        let last = b.len() - 1;
        b[last] ^= 0x55;
        write_crc(&mut b);
        assert!(validate_produce(&b, MAX).is_ok());
    }

    #[test]
    fn log_append_time_patches_attribute_timestamp_and_crc() {
        let mut b = batch(Compression::Snappy, 2);
        set_log_append_time(&mut b, 77_777);
        let h = BatchHeader::parse(&b).unwrap();
        assert!(h.is_log_append_time());
        assert_eq!(h.max_timestamp, 77_777);
        assert_eq!(h.base_timestamp, 1_000);
        assert_eq!(h.compression(), Ok(Compression::Snappy));
        assert!(verify_crc(&b));
        let mut short = [0u8; 10];
        set_log_append_time(&mut short, 1);
        assert_eq!(short, [0u8; 10]);
    }

    #[test]
    fn error_codes_match_kafka() {
        assert_eq!(
            BatchError::Corrupt(String::new()).error_code(),
            CORRUPT_MESSAGE
        );
        assert_eq!(
            BatchError::TooLarge { size: 2, max: 1 }.error_code(),
            MESSAGE_TOO_LARGE
        );
        assert_eq!(BatchError::UnsupportedMagic(1).error_code(), INVALID_RECORD);
        assert_eq!(
            BatchError::InvalidRecord(String::new()).error_code(),
            INVALID_RECORD
        );
    }
}
