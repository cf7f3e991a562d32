//! Checks for batches that do not come from a producer: written by the
//! broker's own coordinators (control batches allowed, several batches per
//! call) or replicated from a leader (offsets already assigned, compacted
//! batches may hold fewer records than their offset span). Producer payloads
//! go through `gregor_protocol::batch::validate_produce` instead.

use crate::scan::last_offset_overflows;
use gregor_protocol::batch::{verify_crc, BatchError, BatchHeader, BatchIter};

/// Who wrote the batches being checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// The broker itself (transaction markers, group/offset records).
    Coordinator { max_message_bytes: usize },
    /// A leader's log, fetched by a follower.
    Replica,
}

/// Headers of the whole, CRC-valid magic-2 batches making up `buf`.
pub(crate) fn validate_batches(buf: &[u8], source: Source) -> Result<Vec<BatchHeader>, BatchError> {
    let mut headers = Vec::new();
    for item in BatchIter::new(buf) {
        let (header, batch) = item?;
        if header.magic != 2 {
            return Err(BatchError::UnsupportedMagic(header.magic));
        }
        if !verify_crc(batch) {
            return Err(BatchError::Corrupt(format!(
                "CRC mismatch in batch at offset {}",
                header.base_offset
            )));
        }
        header.compression()?;
        if header.base_offset < 0 || last_offset_overflows(&header) {
            return Err(BatchError::Corrupt(format!(
                "impossible base offset {}",
                header.base_offset
            )));
        }
        if header.last_offset_delta < 0 || header.records_count < 0 {
            return Err(BatchError::InvalidRecord(
                "negative record count or offset delta".into(),
            ));
        }
        if let Source::Coordinator { max_message_bytes } = source {
            if header.total_size() > max_message_bytes {
                return Err(BatchError::TooLarge {
                    size: header.total_size(),
                    max: max_message_bytes,
                });
            }
            if i64::from(header.records_count) != i64::from(header.last_offset_delta) + 1 {
                return Err(BatchError::InvalidRecord(
                    "record count does not match last offset delta".into(),
                ));
            }
        }
        headers.push(header);
    }
    Ok(headers)
}
