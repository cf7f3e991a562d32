//! Walks the batch headers of a segment file without reading record bodies.
//!
//! Headers are read through a small buffer refilled by positional reads, so a
//! scan takes `&File` and never moves a file cursor (reads take `&self`).

use gregor_protocol::batch::{BatchHeader, BATCH_HEADER_LEN, LOG_OVERHEAD};
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

const CHUNK: usize = 16 * 1024;

/// Batches at least this large leave no other header in a chunk, so after
/// one of them only the next header is read: a fetch of large batches then
/// copies 61 bytes per batch to find its range, not 16 KiB.
const LARGE_BATCH: usize = 2 * 1024;

/// What the scanner found at its current position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// A plausible header of a batch lying wholly before the end.
    Batch { position: u64, header: BatchHeader },
    /// The end was reached exactly at a batch boundary.
    End,
    /// Bytes at `position` are not a whole, sane batch (torn or garbage).
    Invalid { position: u64, reason: String },
}

pub(crate) struct HeaderScanner<'a> {
    file: &'a File,
    position: u64,
    end: u64,
    buf: Vec<u8>,
    buf_start: u64,
    /// Size of the batch passed last, to size the next refill.
    last_batch_size: usize,
}

impl<'a> HeaderScanner<'a> {
    /// Scans `[start, end)` of `file`.
    pub fn new(file: &'a File, start: u64, end: u64) -> Self {
        HeaderScanner {
            file,
            position: start,
            end,
            buf: Vec::new(),
            buf_start: start,
            last_batch_size: 0,
        }
    }

    /// The header at the current position; advances past its batch.
    pub fn next_step(&mut self) -> io::Result<Step> {
        let position = self.position;
        if position >= self.end {
            return Ok(Step::End);
        }
        if self.end - position < BATCH_HEADER_LEN as u64 {
            return Ok(invalid(position, "partial batch header"));
        }
        let header = match BatchHeader::parse(self.header_bytes(position)?) {
            Ok(h) => h,
            Err(e) => return Ok(invalid(position, &e.to_string())),
        };
        if let Some(reason) = insane(&header) {
            return Ok(invalid(position, reason));
        }
        let next = position + header.total_size() as u64;
        if next > self.end {
            return Ok(invalid(
                position,
                "batch extends past the end of the segment",
            ));
        }
        self.position = next;
        self.last_batch_size = header.total_size();
        Ok(Step::Batch { position, header })
    }

    /// The 61 header bytes at `position`, refilling the buffer when needed.
    fn header_bytes(&mut self, position: u64) -> io::Result<&[u8]> {
        let buffered_end = self.buf_start + self.buf.len() as u64;
        if position < self.buf_start || position + BATCH_HEADER_LEN as u64 > buffered_end {
            // The caller checked that a whole header fits before `end`.
            let want = if self.last_batch_size >= LARGE_BATCH {
                BATCH_HEADER_LEN
            } else {
                CHUNK
            };
            let len = usize::try_from((self.end - position).min(want as u64)).unwrap_or(want);
            self.buf.resize(len, 0);
            self.file.read_exact_at(&mut self.buf, position)?;
            self.buf_start = position;
        }
        // In range by construction: the buffer covers [position, position + 61).
        let from = (position - self.buf_start) as usize;
        Ok(&self.buf[from..from + BATCH_HEADER_LEN])
    }
}

fn invalid(position: u64, reason: &str) -> Step {
    Step::Invalid {
        position,
        reason: reason.to_string(),
    }
}

/// Checks a header must pass before the log trusts its length and offsets.
pub(crate) fn insane(header: &BatchHeader) -> Option<&'static str> {
    if header.magic != 2 {
        return Some("unsupported magic");
    }
    if (header.batch_length as i64) < (BATCH_HEADER_LEN - LOG_OVERHEAD) as i64 {
        return Some("batch length shorter than a header");
    }
    if header.last_offset_delta < 0 || header.base_offset < 0 {
        return Some("negative offsets");
    }
    if last_offset_overflows(header) {
        return Some("last offset overflows");
    }
    None
}

/// `BatchHeader::last_offset` would overflow: only garbage looks like this.
pub(crate) fn last_offset_overflows(header: &BatchHeader) -> bool {
    header
        .base_offset
        .checked_add(i64::from(header.last_offset_delta))
        .is_none()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use gregor_protocol::batch::set_base_offset;
    use gregor_protocol::compression::Compression;
    use gregor_protocol::records::BatchBuilder;
    use std::io::Write;

    fn batch(base_offset: i64, value_len: usize) -> Vec<u8> {
        let mut builder = BatchBuilder::new(Compression::None);
        builder.push(0, None, Some(Bytes::from(vec![b'x'; value_len])), vec![]);
        let mut bytes = builder.build().unwrap().to_vec();
        set_base_offset(&mut bytes, base_offset);
        bytes
    }

    #[test]
    fn finds_every_header_whatever_the_mix_of_batch_sizes() {
        // Small, large, small runs: the refill size switches between a
        // chunk and a single header, and every batch must still be found.
        let sizes = [10, 50_000, 20, 30, 3_000, 40_000, 5, 16_000, 100, 70_000];
        let mut file = tempfile::tempfile().unwrap();
        let mut expected = Vec::new();
        let mut position = 0u64;
        for (i, size) in sizes.iter().enumerate() {
            let bytes = batch(i as i64, *size);
            expected.push((position, i as i64));
            position += bytes.len() as u64;
            file.write_all(&bytes).unwrap();
        }
        let mut scanner = HeaderScanner::new(&file, 0, position);
        let mut found = Vec::new();
        loop {
            match scanner.next_step().unwrap() {
                Step::Batch { position, header } => found.push((position, header.base_offset)),
                Step::End => break,
                Step::Invalid { reason, .. } => panic!("{reason}"),
            }
        }
        assert_eq!(found, expected);
    }
}
