//! Turns a validated produce payload into the bytes the log stores: codec
//! policy applied, offsets assigned from the log end, leader epoch stamped,
//! log-append time set. All of it happens in one buffer so the segment can
//! take it with a single write.

use crate::{CompressionPolicy, LogError, TimestampType};
use gregor_protocol::batch::{
    set_base_offset, set_log_append_time, set_partition_leader_epoch, BatchError, BatchHeader,
};
use gregor_protocol::compression::Compression;
use gregor_protocol::records::recompress;

/// The topic policy applied to every batch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stamp {
    pub first_offset: i64,
    pub leader_epoch: i32,
    pub compression: CompressionPolicy,
    pub timestamp_type: TimestampType,
    pub now_ms: i64,
    pub max_message_bytes: usize,
}

pub(crate) struct Prepared {
    pub bytes: Vec<u8>,
    /// Headers of the batches in `bytes`, as stored.
    pub headers: Vec<BatchHeader>,
}

/// `headers` come from `validate_produce(payload)`, one per batch, in order.
pub(crate) fn prepare(
    payload: &[u8],
    headers: &[BatchHeader],
    stamp: Stamp,
) -> Result<Prepared, LogError> {
    let mut bytes = Vec::with_capacity(payload.len());
    let mut stored = Vec::with_capacity(headers.len());
    let mut next_offset = stamp.first_offset;
    let mut position = 0usize;
    for header in headers {
        let end = position + header.total_size();
        let batch = payload
            .get(position..end)
            .ok_or_else(|| BatchError::Corrupt("batch sizes disagree with the payload".into()))?;
        position = end;

        let start = bytes.len();
        match stamp.compression {
            // Kafka never compresses a control batch written uncompressed.
            CompressionPolicy::Codec(_)
                if header.is_control() && header.compression()? == Compression::None =>
            {
                bytes.extend_from_slice(batch)
            }
            CompressionPolicy::Codec(target) if header.compression()? != target => {
                let recompressed = recompress(batch, target)?;
                if recompressed.len() > stamp.max_message_bytes {
                    return Err(BatchError::TooLarge {
                        size: recompressed.len(),
                        max: stamp.max_message_bytes,
                    }
                    .into());
                }
                bytes.extend_from_slice(&recompressed);
            }
            _ => bytes.extend_from_slice(batch),
        }
        // Base offset and leader epoch are outside the CRC; log-append time
        // is inside it and recomputes it, so it comes last.
        let out = &mut bytes[start..];
        set_base_offset(out, next_offset);
        set_partition_leader_epoch(out, stamp.leader_epoch);
        if stamp.timestamp_type == TimestampType::LogAppendTime {
            set_log_append_time(out, stamp.now_ms);
        }
        let final_header = BatchHeader::parse(out)?;
        next_offset = final_header.last_offset() + 1;
        stored.push(final_header);
    }
    if position != payload.len() {
        return Err(BatchError::Corrupt("trailing bytes after the last batch".into()).into());
    }
    Ok(Prepared {
        bytes,
        headers: stored,
    })
}
