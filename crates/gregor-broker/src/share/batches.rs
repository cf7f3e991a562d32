//! Just enough of the record batch header (magic 2) to tell a share fetch
//! which offsets a log read covers and which batches belong to aborted
//! transactions.

/// One record batch in a log read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchInfo {
    pub base_offset: i64,
    pub last_offset: i64,
    pub producer_id: i64,
    pub transactional: bool,
    pub control: bool,
    /// Byte range in the read.
    pub position: usize,
    pub size: usize,
}

const HEADER: usize = 61;
const TRANSACTIONAL: i16 = 0x10;
const CONTROL: i16 = 0x20;

/// The whole batches in `bytes`, in order (a trailing partial batch is
/// left out).
pub fn parse(bytes: &[u8]) -> Vec<BatchInfo> {
    let mut batches = Vec::new();
    let mut position = 0usize;
    while bytes.len() >= position + HEADER {
        let b = &bytes[position..];
        let base_offset = i64::from_be_bytes(b[0..8].try_into().unwrap_or_default());
        let length = i32::from_be_bytes(b[8..12].try_into().unwrap_or_default());
        let Ok(length) = usize::try_from(length) else {
            break;
        };
        let size = 12 + length;
        if length < HEADER - 12 || bytes.len() < position + size {
            break;
        }
        let attributes = i16::from_be_bytes(b[21..23].try_into().unwrap_or_default());
        let last_delta = i32::from_be_bytes(b[23..27].try_into().unwrap_or_default());
        let producer_id = i64::from_be_bytes(b[43..51].try_into().unwrap_or_default());
        batches.push(BatchInfo {
            base_offset,
            last_offset: base_offset + i64::from(last_delta),
            producer_id,
            transactional: attributes & TRANSACTIONAL != 0,
            control: attributes & CONTROL != 0,
            position,
            size,
        });
        position += size;
    }
    batches
}

/// The offset ranges of data batches from aborted transactions, given the
/// read's aborted transaction list `(producer id, first offset)`: a
/// producer's batches from its first offset on are aborted until its abort
/// marker (a control batch).
pub fn aborted_ranges(batches: &[BatchInfo], aborted: &[(i64, i64)]) -> Vec<(i64, i64)> {
    let mut pending: Vec<(i64, i64)> = aborted.to_vec();
    pending.sort_by_key(|(_, first)| *first);
    let mut open: std::collections::HashSet<i64> = Default::default();
    let mut ranges = Vec::new();
    for batch in batches {
        pending.retain(|&(producer, first)| {
            if first <= batch.last_offset {
                open.insert(producer);
                false
            } else {
                true
            }
        });
        if !batch.transactional || !open.contains(&batch.producer_id) {
            continue;
        }
        if batch.control {
            open.remove(&batch.producer_id);
        } else {
            ranges.push((batch.base_offset, batch.last_offset));
        }
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(base: i64, count: i32, producer: i64, attributes: i16) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend(base.to_be_bytes());
        b.extend(((HEADER - 12) as i32).to_be_bytes());
        b.extend(0i32.to_be_bytes()); // leader epoch
        b.push(2); // magic
        b.extend(0u32.to_be_bytes()); // crc
        b.extend(attributes.to_be_bytes());
        b.extend((count - 1).to_be_bytes());
        b.extend([0u8; 16]); // timestamps
        b.extend(producer.to_be_bytes());
        b.extend([0u8; 2 + 4]);
        b.extend(0i32.to_be_bytes());
        b
    }

    #[test]
    fn parses_whole_batches_and_finds_aborted_ones() {
        let mut bytes = batch(0, 3, -1, 0);
        bytes.extend(batch(3, 2, 7, TRANSACTIONAL));
        bytes.extend(batch(5, 1, 7, TRANSACTIONAL | CONTROL));
        bytes.extend(batch(6, 2, 7, TRANSACTIONAL));
        bytes.extend(&batch(8, 1, 1, 0)[..20]); // partial
        let batches = parse(&bytes);
        assert_eq!(batches.len(), 4);
        assert_eq!((batches[1].base_offset, batches[1].last_offset), (3, 4));
        assert!(batches[2].control);
        assert_eq!(aborted_ranges(&batches, &[(7, 3)]), vec![(3, 4)]);
        assert_eq!(aborted_ranges(&batches, &[]), vec![]);
    }
}
