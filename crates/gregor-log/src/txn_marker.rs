//! End-transaction markers: the control batches that close a producer's
//! transaction in a partition, in Kafka's format (`EndTransactionMarker`,
//! `ControlRecordType`). A marker batch is transactional and control, has
//! the producer's id and epoch, base sequence -1 and one record whose
//! key is `int16 version (0), int16 type (0 ABORT, 1 COMMIT)` and whose
//! value is `int16 version (0), int32 coordinator epoch`.

use crate::LogError;
use bytes::Bytes;
use gregor_protocol::batch::{BatchError, BatchHeader};
use gregor_protocol::compression::Compression;
use gregor_protocol::records::{decode_batches, BatchBuilder};

/// A marker the transaction coordinator asks this partition to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnMarker {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub coordinator_epoch: i32,
    /// COMMIT if true, ABORT otherwise.
    pub commit: bool,
    /// The transaction version the coordinator ended the transaction with
    /// (KIP-1228; 2 when it bumped the epoch for the markers, else 0/1).
    /// Decides the epoch check; not written to the log.
    pub transaction_version: i8,
}

/// What a marker record says, as read back from a control batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EndTxnMarker {
    pub commit: bool,
    pub coordinator_epoch: i32,
}

/// Kafka's `ControlRecordType` ids of the two end-transaction types.
const ABORT: i16 = 0;
const COMMIT: i16 = 1;
/// Kafka writes version 0 of both the control key and the marker value and
/// reads later versions as version 0.
const VERSION: i16 = 0;

/// The marker's control batch, offsets still relative (base offset 0):
/// uncompressed, as Kafka writes it, with `timestamp` on its record.
pub(crate) fn marker_batch(marker: &TxnMarker, timestamp: i64) -> Result<Vec<u8>, LogError> {
    let mut key = Vec::with_capacity(4);
    key.extend_from_slice(&VERSION.to_be_bytes());
    key.extend_from_slice(&(if marker.commit { COMMIT } else { ABORT }).to_be_bytes());
    let mut value = Vec::with_capacity(6);
    value.extend_from_slice(&VERSION.to_be_bytes());
    value.extend_from_slice(&marker.coordinator_epoch.to_be_bytes());
    let mut builder = BatchBuilder::new(Compression::None)
        .producer(marker.producer_id, marker.producer_epoch, -1)
        .transactional(true)
        .control(true);
    builder.push(
        timestamp,
        Some(Bytes::from(key)),
        Some(Bytes::from(value)),
        Vec::new(),
    );
    let batch = builder
        .build()
        .map_err(|e| LogError::Corrupt(format!("cannot encode a transaction marker: {e:#}")))?;
    Ok(batch.to_vec())
}

/// Reads the end-transaction marker of one whole control `batch`. `None`
/// for a control batch without records (Kafka: its transaction was cleaned
/// away, nothing to apply). An error when the first record is not an
/// ABORT/COMMIT marker, as Kafka's `EndTransactionMarker.deserialize` fails.
pub(crate) fn parse(batch: &[u8]) -> Result<Option<EndTxnMarker>, BatchError> {
    let decoded = decode_batches(batch)?;
    let Some(record) = decoded.first().and_then(|b| b.records.first()) else {
        return Ok(None);
    };
    let bad = |why: &str| BatchError::InvalidRecord(format!("invalid transaction marker: {why}"));
    let key = record.key.as_deref().ok_or_else(|| bad("no key"))?;
    let value = record.value.as_deref().ok_or_else(|| bad("no value"))?;
    if key.len() < 4 || value.len() < 6 {
        return Err(bad("key or value too short"));
    }
    if be_i16(&key[0..2]) < 0 || be_i16(&value[0..2]) < 0 {
        return Err(bad("negative version"));
    }
    let commit = match be_i16(&key[2..4]) {
        ABORT => false,
        COMMIT => true,
        other => return Err(bad(&format!("control record type {other}"))),
    };
    let mut epoch = [0u8; 4];
    epoch.copy_from_slice(&value[2..6]);
    Ok(Some(EndTxnMarker {
        commit,
        coordinator_epoch: i32::from_be_bytes(epoch),
    }))
}

fn be_i16(bytes: &[u8]) -> i16 {
    i16::from_be_bytes([bytes[0], bytes[1]])
}

/// Control batches that carry producer state: they have a producer id.
/// (KRaft's own control records, in metadata logs, have none.)
pub(crate) fn is_marker_candidate(header: &BatchHeader) -> bool {
    header.is_control() && header.producer_id >= 0
}

/// The markers among the batches of one append, by batch index. Holds
/// nothing (and allocates nothing) when there is no control batch, which
/// is every client produce.
#[derive(Debug, Default)]
pub(crate) struct Markers(Vec<(usize, EndTxnMarker)>);

impl Markers {
    /// For batches written by this broker: a control batch with a producer
    /// id must be a readable marker.
    pub fn strict(bytes: &[u8], headers: &[BatchHeader]) -> Result<Markers, LogError> {
        let mut found = Vec::new();
        for (i, batch) in candidates(bytes, headers) {
            if let Some(marker) = parse(batch?)? {
                found.push((i, marker));
            }
        }
        Ok(Markers(found))
    }

    /// For batches already in a log (replicated from a leader, re-read at
    /// open): a control batch that is not a marker changes nothing, as
    /// every replica must accept what its leader holds.
    pub fn lenient(bytes: &[u8], headers: &[BatchHeader]) -> Markers {
        let mut found = Vec::new();
        for (i, batch) in candidates(bytes, headers) {
            match batch.and_then(parse) {
                Ok(Some(marker)) => found.push((i, marker)),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(offset = headers[i].base_offset, error = %e, "ignoring unreadable control batch");
                }
            }
        }
        Markers(found)
    }

    /// Markers given by batch index (unit tests of producer state).
    #[cfg(test)]
    pub fn of(markers: Vec<(usize, EndTxnMarker)>) -> Markers {
        Markers(markers)
    }

    /// The marker of batch `index`, if it is one.
    pub fn get(&self, index: usize) -> Option<EndTxnMarker> {
        self.0.iter().find(|(i, _)| *i == index).map(|(_, m)| *m)
    }
}

/// The control batches with a producer id among `headers`, with their bytes.
fn candidates<'a>(
    bytes: &'a [u8],
    headers: &'a [BatchHeader],
) -> impl Iterator<Item = (usize, Result<&'a [u8], BatchError>)> + 'a {
    let mut position = 0usize;
    headers.iter().enumerate().filter_map(move |(i, header)| {
        let start = position;
        position += header.total_size();
        if !is_marker_candidate(header) {
            return None;
        }
        let batch = bytes
            .get(start..position)
            .ok_or_else(|| BatchError::Corrupt("batch sizes disagree with the payload".into()));
        Some((i, batch))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use gregor_protocol::batch::{verify_crc, BatchHeader, ATTR_CONTROL, ATTR_TRANSACTIONAL};

    fn marker(commit: bool) -> TxnMarker {
        TxnMarker {
            producer_id: 42,
            producer_epoch: 3,
            coordinator_epoch: 7,
            commit,
            transaction_version: 0,
        }
    }

    #[test]
    fn marker_batches_have_kafkas_layout() {
        let batch = marker_batch(&marker(true), 1_234).unwrap();
        let header = BatchHeader::parse(&batch).unwrap();
        assert!(verify_crc(&batch));
        assert_eq!(header.attributes, ATTR_TRANSACTIONAL | ATTR_CONTROL);
        assert_eq!(
            (
                header.producer_id,
                header.producer_epoch,
                header.base_sequence
            ),
            (42, 3, -1)
        );
        assert_eq!((header.records_count, header.max_timestamp), (1, 1_234));
        let decoded = decode_batches(&batch).unwrap();
        let record = &decoded[0].records[0];
        assert_eq!(record.key.as_deref(), Some(&[0u8, 0, 0, 1][..]));
        assert_eq!(record.value.as_deref(), Some(&[0u8, 0, 0, 0, 0, 7][..]));
        let abort = marker_batch(&marker(false), 0).unwrap();
        let decoded = decode_batches(&abort).unwrap();
        assert_eq!(
            decoded[0].records[0].key.as_deref(),
            Some(&[0u8, 0, 0, 0][..])
        );
    }

    #[test]
    fn markers_parse_back() {
        for commit in [true, false] {
            let batch = marker_batch(&marker(commit), 5).unwrap();
            assert_eq!(
                parse(&batch).unwrap(),
                Some(EndTxnMarker {
                    commit,
                    coordinator_epoch: 7
                })
            );
        }
    }

    fn control_batch(key: &[u8], value: &[u8]) -> Vec<u8> {
        let mut b = BatchBuilder::new(Compression::None)
            .producer(1, 0, -1)
            .transactional(true)
            .control(true);
        b.push(
            0,
            Some(Bytes::copy_from_slice(key)),
            Some(Bytes::copy_from_slice(value)),
            vec![],
        );
        b.build().unwrap().to_vec()
    }

    #[test]
    fn other_control_records_are_not_markers() {
        // LEADER_CHANGE (2), a short key, a negative version.
        for (key, value) in [
            (&[0u8, 0, 0, 2][..], &[0u8, 0, 0, 0, 0, 1][..]),
            (&[0u8, 0, 0][..], &[0u8, 0, 0, 0, 0, 1][..]),
            (&[0xffu8, 0xff, 0, 1][..], &[0u8, 0, 0, 0, 0, 1][..]),
            (&[0u8, 0, 0, 1][..], &[0u8, 0, 0, 0][..]),
        ] {
            assert!(parse(&control_batch(key, value)).is_err(), "{key:?}");
        }
        // A later version is read as version 0, as Kafka does.
        let later = control_batch(&[0, 1, 0, 0], &[0, 3, 0, 0, 0, 9, 1, 2]);
        assert_eq!(
            parse(&later).unwrap(),
            Some(EndTxnMarker {
                commit: false,
                coordinator_epoch: 9
            })
        );
    }

    #[test]
    fn markers_are_found_by_batch_index() {
        let data = {
            let mut b = BatchBuilder::new(Compression::None).producer(1, 0, 0);
            b.push(0, None, Some(Bytes::from_static(b"v")), vec![]);
            b.build().unwrap().to_vec()
        };
        let m = marker_batch(&marker(false), 0).unwrap();
        let junk = control_batch(&[0, 0, 0, 9], &[0, 0, 0, 0, 0, 0]);
        let mut bytes = data.clone();
        bytes.extend_from_slice(&m);
        bytes.extend_from_slice(&junk);
        let headers: Vec<BatchHeader> = [&data, &m, &junk]
            .iter()
            .map(|b| BatchHeader::parse(b).unwrap())
            .collect();
        let lenient = Markers::lenient(&bytes, &headers);
        assert_eq!(lenient.get(0), None);
        assert_eq!(
            lenient.get(1),
            Some(EndTxnMarker {
                commit: false,
                coordinator_epoch: 7
            })
        );
        assert_eq!(lenient.get(2), None);
        assert!(Markers::strict(&bytes, &headers).is_err());
        assert!(Markers::strict(&bytes[..data.len() + m.len()], &headers[..2]).is_ok());
    }
}
