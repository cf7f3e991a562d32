//! Timestamp lookups inside a segment (ListOffsets by time and
//! MAX_TIMESTAMP). The indexes only narrow the search to a batch; the exact
//! record needs the batch decoded, as Kafka does.

use crate::segment::Segment;
use crate::LogError;
use gregor_protocol::batch::BatchHeader;
use gregor_protocol::records::decode_batches;

impl Segment {
    /// The first record at or after `start_offset` whose timestamp is at
    /// least `target`, as (offset, timestamp).
    pub(crate) fn offset_for_timestamp(
        &self,
        target: i64,
        start_offset: i64,
    ) -> Result<Option<(i64, i64)>, LogError> {
        if self.max_timestamp < target {
            return Ok(None);
        }
        // Every batch before the time index entry at or below `target` has
        // a smaller max timestamp, so the scan can start at that batch.
        let from_time = self
            .time_index
            .lookup(target)
            .map_or(self.base_offset, |e| {
                self.base_offset + i64::from(e.relative_offset)
            });
        let start = self.position_for(from_time.max(start_offset));
        for (position, header) in self.headers_from(start)? {
            if header.max_timestamp < target || header.last_offset() < start_offset {
                continue;
            }
            let found = self.first_record_matching(position, &header, |offset, ts| {
                offset >= start_offset && ts >= target
            })?;
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }

    /// The record carrying this segment's largest timestamp.
    pub(crate) fn record_with_max_timestamp(&self) -> Result<Option<(i64, i64)>, LogError> {
        if self.max_timestamp < 0 {
            return Ok(None);
        }
        let Some((position, header)) = self.find_batch(self.offset_of_max_timestamp)? else {
            return Ok(None);
        };
        let max = self.max_timestamp;
        let found = self.first_record_matching(position, &header, |_, ts| ts == max)?;
        // A batch whose records disagree with its header still answers with
        // the batch itself rather than nothing.
        Ok(found.or(Some((header.base_offset, max))))
    }

    /// The timestamp of the first record at or after `offset` in the batch
    /// holding `offset` (consumer lag in seconds): one batch decoded.
    pub(crate) fn timestamp_at(&self, offset: i64) -> Result<Option<i64>, LogError> {
        let Some((position, header)) = self.find_batch(offset)? else {
            return Ok(None);
        };
        let found = self.first_record_matching(position, &header, |o, _| o >= offset)?;
        Ok(found.map(|(_, timestamp)| timestamp))
    }

    /// Decodes the batch at `position` and returns the first record for
    /// which `pred(offset, timestamp)` holds.
    fn first_record_matching(
        &self,
        position: u64,
        header: &BatchHeader,
        pred: impl Fn(i64, i64) -> bool,
    ) -> Result<Option<(i64, i64)>, LogError> {
        if header.is_log_append_time() {
            // Every record's timestamp is the batch's max timestamp.
            let ts = header.max_timestamp;
            return Ok((header.base_offset..=header.last_offset())
                .find(|o| pred(*o, ts))
                .map(|o| (o, ts)));
        }
        let bytes = self.read_bytes(position, header.total_size())?;
        let batches = decode_batches(&bytes).map_err(|e| {
            LogError::Corrupt(format!("batch at offset {}: {e}", header.base_offset))
        })?;
        Ok(batches
            .iter()
            .flat_map(|b| b.records.iter())
            .find(|r| pred(r.offset, r.timestamp))
            .map(|r| (r.offset, r.timestamp)))
    }
}
