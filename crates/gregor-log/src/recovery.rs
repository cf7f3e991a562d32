//! Rebuilding a segment after an unclean shutdown: every batch is re-read and
//! its CRC checked, the file is cut at the first batch that is torn, garbage
//! or out of order, and both indexes are rebuilt from the batches that remain.

use crate::offset_index::OffsetIndex;
use crate::scan::{HeaderScanner, Step};
use crate::segment::Segment;
use crate::time_index::TimeIndex;
use gregor_protocol::batch::verify_crc;
use std::io;
use std::os::unix::fs::FileExt;

impl Segment {
    /// Validates the whole segment and rebuilds its indexes. Returns the
    /// number of bytes truncated from the end of the `.log` file.
    pub(crate) fn recover(&mut self, index_interval: u64) -> io::Result<u64> {
        let file_size = self.log.metadata()?.len();
        self.offset_index = OffsetIndex::create(self.offset_index.path())?;
        self.time_index = TimeIndex::create(self.time_index.path())?;
        self.size = file_size;
        self.next_offset = self.base_offset;
        self.bytes_since_index = 0;
        self.max_timestamp = -1;
        self.offset_of_max_timestamp = -1;

        let valid_end = self.validate_batches(file_size, index_interval)?;
        let truncated = file_size - valid_end;
        if truncated > 0 {
            tracing::warn!(
                segment = %self.log.path().display(),
                valid_bytes = valid_end,
                truncated_bytes = truncated,
                "truncating invalid bytes at the end of a segment"
            );
            let file = self.log.handle()?;
            file.set_len(valid_end)?;
            file.sync_all()?;
        }
        self.size = valid_end;
        self.offset_index.sync()?;
        self.time_index.sync()?;
        Ok(truncated)
    }

    /// Walks the batches from the start, indexing each valid one; returns the
    /// position just after the last valid batch.
    fn validate_batches(&mut self, file_size: u64, index_interval: u64) -> io::Result<u64> {
        let log = self.log.handle()?;
        let mut scanner = HeaderScanner::new(&log, 0, file_size);
        let mut buf = Vec::new();
        let mut position = 0;
        loop {
            let header = match scanner.next_step()? {
                Step::Batch { header, .. } => header,
                Step::End => return Ok(position),
                Step::Invalid { reason, .. } => {
                    tracing::debug!(position, reason, "recovery stops at invalid batch");
                    return Ok(position);
                }
            };
            if !self.fits(&header) || header.base_offset < self.next_offset {
                tracing::debug!(position, "recovery stops at out-of-order batch");
                return Ok(position);
            }
            buf.resize(header.total_size(), 0);
            log.read_exact_at(&mut buf, position)?;
            if !verify_crc(&buf) {
                tracing::debug!(position, "recovery stops at batch with bad CRC");
                return Ok(position);
            }
            self.index_batch(position, &header, index_interval);
            position += header.total_size() as u64;
        }
    }
}
