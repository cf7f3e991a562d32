//! Gregor's own record codec. Unlike `kafka-protocol`'s decoder it keeps
//! headers as an ordered list (Kafka allows duplicate keys and null values)
//! and never loses a field. Used by the client, the CLI, recompression and,
//! later, compaction; never on the broker's produce or fetch hot path.

use crate::batch::{
    split_first, verify_crc, write_crc, BatchError, BatchHeader, Split, ATTR_CODEC_MASK,
    ATTR_CONTROL, ATTR_LOG_APPEND_TIME, ATTR_TRANSACTIONAL, BATCH_HEADER_LEN, LOG_OVERHEAD,
};
use crate::compression::Compression;
use crate::record_wire::{for_each_record, write_record, RecordParts, RecordView};
use bytes::{BufMut, Bytes, BytesMut};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub key: String,
    pub value: Option<Bytes>,
}

/// A record as a user sees it, with absolute offset and timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<Header>,
}

/// A decoded batch: its header and its records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedBatch {
    pub header: BatchHeader,
    pub records: Vec<Record>,
}

/// A pushed record: timestamp, key, value, headers.
type PendingRecord = (i64, Option<Bytes>, Option<Bytes>, Vec<Header>);

/// Builds one magic-v2 batch with base offset 0, as a producer sends it.
#[derive(Debug)]
pub struct BatchBuilder {
    compression: Compression,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    transactional: bool,
    control: bool,
    records: Vec<PendingRecord>,
}

impl BatchBuilder {
    pub fn new(compression: Compression) -> Self {
        BatchBuilder {
            compression,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            transactional: false,
            control: false,
            records: Vec::new(),
        }
    }

    /// Sets the idempotent-producer fields (defaults: -1, -1, -1).
    pub fn producer(mut self, producer_id: i64, producer_epoch: i16, base_sequence: i32) -> Self {
        self.producer_id = producer_id;
        self.producer_epoch = producer_epoch;
        self.base_sequence = base_sequence;
        self
    }

    pub fn transactional(mut self, transactional: bool) -> Self {
        self.transactional = transactional;
        self
    }

    /// Marks the batch as a control batch (transaction markers). Its records
    /// must then hold control keys/values; the builder does not check them.
    pub fn control(mut self, control: bool) -> Self {
        self.control = control;
        self
    }

    pub fn push(
        &mut self,
        timestamp: i64,
        key: Option<Bytes>,
        value: Option<Bytes>,
        headers: Vec<Header>,
    ) {
        self.records.push((timestamp, key, value, headers));
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Encodes the batch (CRC included). Fails only if compression fails.
    ///
    /// Like Java's producer, the base timestamp is the first record's and
    /// deltas may be negative; an empty batch gets timestamps -1.
    pub fn build(self) -> anyhow::Result<BytesMut> {
        let base_timestamp = self.records.first().map_or(-1, |r| r.0);
        let max_timestamp = self.records.iter().map(|r| r.0).max().unwrap_or(-1);
        let mut section = Vec::new();
        let mut scratch = Vec::new();
        for (i, (timestamp, key, value, headers)) in self.records.iter().enumerate() {
            let parts = RecordParts {
                timestamp_delta: timestamp.wrapping_sub(base_timestamp),
                offset_delta: i as i32,
                key: key.as_deref(),
                value: value.as_deref(),
                headers,
            };
            write_record(&mut section, &mut scratch, &parts);
        }
        let mut attributes = self.compression.id();
        if self.transactional {
            attributes |= ATTR_TRANSACTIONAL;
        }
        if self.control {
            attributes |= ATTR_CONTROL;
        }
        let count = self.records.len() as i32;
        let header = BatchHeader {
            base_offset: 0,
            batch_length: 0, // filled in by `assemble`
            partition_leader_epoch: -1,
            magic: 2,
            crc: 0,
            attributes,
            last_offset_delta: (count - 1).max(0),
            base_timestamp,
            max_timestamp,
            producer_id: self.producer_id,
            producer_epoch: self.producer_epoch,
            base_sequence: self.base_sequence,
            records_count: count,
        };
        let body = self.compression.compress(&section)?;
        Ok(assemble(&header, &body))
    }
}

/// Writes a batch from its header fields and its (compressed) records
/// section, setting `batchLength` and the CRC.
fn assemble(header: &BatchHeader, section: &[u8]) -> BytesMut {
    let total = BATCH_HEADER_LEN + section.len();
    let mut out = BytesMut::with_capacity(total);
    out.put_i64(header.base_offset);
    out.put_i32((total - LOG_OVERHEAD) as i32);
    out.put_i32(header.partition_leader_epoch);
    out.put_i8(2);
    out.put_u32(0); // CRC, written last
    out.put_i16(header.attributes);
    out.put_i32(header.last_offset_delta);
    out.put_i64(header.base_timestamp);
    out.put_i64(header.max_timestamp);
    out.put_i64(header.producer_id);
    out.put_i16(header.producer_epoch);
    out.put_i32(header.base_sequence);
    out.put_i32(header.records_count);
    out.put_slice(section);
    write_crc(&mut out);
    out
}

/// Checks a whole batch (magic, CRC, codec) and returns its records
/// section, decompressed, as one buffer the records can slice.
fn records_section(header: &BatchHeader, batch: &[u8]) -> Result<Bytes, BatchError> {
    if header.magic != 2 {
        return Err(BatchError::UnsupportedMagic(header.magic));
    }
    if !verify_crc(batch) {
        return Err(BatchError::Corrupt(format!(
            "record batch at offset {} fails its CRC check",
            header.base_offset
        )));
    }
    let raw = &batch[BATCH_HEADER_LEN..];
    match header.compression()? {
        Compression::None => Ok(Bytes::copy_from_slice(raw)),
        codec => codec
            .decompress(raw)
            .map_err(|e| BatchError::Corrupt(format!("{e:#}"))),
    }
}

fn to_record(header: &BatchHeader, section: &Bytes, view: &RecordView<'_>) -> Record {
    // Zero-copy: keys, values and header values share the section buffer.
    let slice = |part: &[u8]| section.slice_ref(part);
    let timestamp = if header.is_log_append_time() {
        header.max_timestamp
    } else {
        header.base_timestamp.wrapping_add(view.timestamp_delta)
    };
    Record {
        offset: header
            .base_offset
            .wrapping_add(i64::from(view.offset_delta)),
        timestamp,
        key: view.key.map(slice),
        value: view.value.map(slice),
        headers: view
            .headers()
            .map(|h| Header {
                // Java decodes header keys leniently (bad UTF-8 becomes U+FFFD).
                key: String::from_utf8_lossy(h.key).into_owned(),
                value: h.value.map(slice),
            })
            .collect(),
    }
}

fn decode_one(header: &BatchHeader, batch: &[u8]) -> Result<DecodedBatch, BatchError> {
    let section = records_section(header, batch)?;
    let mut records = Vec::new();
    for_each_record(&section, header.records_count, |view| {
        records.push(to_record(header, &section, &view));
    })
    .map_err(BatchError::InvalidRecord)?;
    Ok(DecodedBatch {
        header: *header,
        records,
    })
}

/// Decodes every complete batch in `buf` (e.g. a fetch response's records).
/// A trailing partial batch, which fetch responses may carry, is ignored.
/// Every batch's CRC is checked (as Java consumers do with `check.crcs`).
pub fn decode_batches(buf: &[u8]) -> Result<Vec<DecodedBatch>, BatchError> {
    let mut out = Vec::new();
    let mut rest = buf;
    while let Split::Complete(header, batch, tail) = split_first(rest)? {
        out.push(decode_one(&header, batch)?);
        rest = tail;
    }
    Ok(out)
}

/// The header of `batch`, which must be exactly one whole batch.
fn parse_whole_batch(batch: &[u8]) -> Result<BatchHeader, BatchError> {
    let header = BatchHeader::parse(batch)?;
    if header.total_size() != batch.len() {
        return Err(BatchError::Corrupt(format!(
            "batch length says {} bytes but {} were given",
            header.total_size(),
            batch.len()
        )));
    }
    Ok(header)
}

/// Re-encodes one batch with another codec, keeping offsets, timestamps,
/// producer fields and attributes other than the codec bits. Used when a
/// topic's `compression.type` names a codec.
///
/// `batch` must be exactly one whole batch. The records are re-wrapped
/// byte for byte (after checking they parse), so record attributes, deltas
/// and headers survive untouched.
pub fn recompress(batch: &[u8], target: Compression) -> Result<BytesMut, BatchError> {
    let header = parse_whole_batch(batch)?;
    let section = records_section(&header, batch)?;
    for_each_record(&section, header.records_count, |_| ()).map_err(BatchError::InvalidRecord)?;
    let body = target
        .compress(&section)
        .map_err(|e| BatchError::Corrupt(format!("{} compression failed: {e:#}", target.name())))?;
    let attributes = (header.attributes & !ATTR_CODEC_MASK) | target.id();
    Ok(assemble(
        &BatchHeader {
            attributes,
            ..header
        },
        &body,
    ))
}

/// Attribute bit 6 of a v2 batch (KIP-534): the base timestamp holds the
/// batch's delete horizon, set by the log cleaner.
pub const ATTR_DELETE_HORIZON: i16 = 0x40;

/// The delete horizon of a batch, if the cleaner set one.
pub fn delete_horizon(header: &BatchHeader) -> Option<i64> {
    (header.attributes & ATTR_DELETE_HORIZON != 0).then_some(header.base_timestamp)
}

/// Decodes exactly one whole batch (CRC checked).
pub fn decode_batch(batch: &[u8]) -> Result<DecodedBatch, BatchError> {
    let header = parse_whole_batch(batch)?;
    decode_one(&header, batch)
}

/// Re-encodes a batch with only some of its records, as Kafka's log cleaner
/// does: base offset, last offset delta, partition leader epoch, producer id,
/// epoch and base sequence, codec and transactional/control bits are kept,
/// so offsets and sequences do not move. `kept` are records of `header`'s
/// batch (absolute offsets and timestamps). With `delete_horizon` the
/// delete-horizon bit is set and the base timestamp becomes the horizon,
/// record timestamps staying exact through their deltas. An empty `kept`
/// gives Kafka's empty batch header: no records, uncompressed, timestamps
/// the old max timestamp.
pub fn rebuild_batch(
    header: &BatchHeader,
    kept: &[Record],
    delete_horizon: Option<i64>,
) -> Result<BytesMut, BatchError> {
    let flags = header.attributes & (ATTR_TRANSACTIONAL | ATTR_CONTROL | ATTR_LOG_APPEND_TIME);
    if kept.is_empty() {
        let empty = BatchHeader {
            attributes: flags,
            base_timestamp: header.max_timestamp,
            records_count: 0,
            ..*header
        };
        return Ok(assemble(&empty, &[]));
    }
    let log_append_time = header.is_log_append_time();
    let base_timestamp = match delete_horizon {
        Some(horizon) => horizon,
        None => kept[0].timestamp,
    };
    let max_timestamp = if log_append_time {
        header.max_timestamp
    } else {
        kept.iter().map(|r| r.timestamp).max().unwrap_or(-1)
    };
    let mut section = Vec::new();
    let mut scratch = Vec::new();
    for record in kept {
        let delta = record.offset - header.base_offset;
        let offset_delta = i32::try_from(delta).map_err(|_| {
            BatchError::Corrupt(format!("record offset {} outside its batch", record.offset))
        })?;
        let parts = RecordParts {
            timestamp_delta: if log_append_time {
                0
            } else {
                record.timestamp.wrapping_sub(base_timestamp)
            },
            offset_delta,
            key: record.key.as_deref(),
            value: record.value.as_deref(),
            headers: &record.headers,
        };
        write_record(&mut section, &mut scratch, &parts);
    }
    let codec = header.compression()?;
    let body = codec
        .compress(&section)
        .map_err(|e| BatchError::Corrupt(format!("{} compression failed: {e:#}", codec.name())))?;
    let mut attributes = flags | codec.id();
    if delete_horizon.is_some() {
        attributes |= ATTR_DELETE_HORIZON;
    }
    let rebuilt = BatchHeader {
        attributes,
        base_timestamp,
        max_timestamp,
        records_count: kept.len() as i32,
        ..*header
    };
    Ok(assemble(&rebuilt, &body))
}

/// Indexes of the records without a key (compacted topics refuse them),
/// counted across the batches of `buf`; control batches are skipped.
pub fn keyless_records(buf: &[u8]) -> Result<Vec<usize>, BatchError> {
    let mut out = Vec::new();
    let mut index = 0usize;
    let mut rest = buf;
    while let Split::Complete(header, batch, tail) = split_first(rest)? {
        if !header.is_control() {
            let section = records_section(&header, batch)?;
            for_each_record(&section, header.records_count, |view| {
                if view.key.is_none() {
                    out.push(index);
                }
                index += 1;
            })
            .map_err(BatchError::InvalidRecord)?;
        }
        rest = tail;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{set_base_offset, set_log_append_time, validate_produce, verify_crc};

    const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    fn h(key: &str, value: Option<&'static [u8]>) -> Header {
        Header {
            key: key.into(),
            value: value.map(Bytes::from_static),
        }
    }

    /// Records covering the awkward cases: null key, null value, empty
    /// value, duplicate header keys, null header value, out-of-order times.
    fn sample() -> Vec<PendingRecord> {
        vec![
            (5_000, None, Some(Bytes::from_static(b"v0")), vec![]),
            (
                4_990,
                Some(Bytes::from_static(b"k1")),
                None,
                vec![h("dup", Some(b"1")), h("dup", Some(b"2")), h("nul", None)],
            ),
            (
                5_010,
                Some(Bytes::from_static(b"")),
                Some(Bytes::new()),
                vec![h("", Some(b""))],
            ),
        ]
    }

    fn build(codec: Compression) -> BytesMut {
        let mut b = BatchBuilder::new(codec)
            .producer(9, 1, 100)
            .transactional(true);
        for (ts, k, v, hs) in sample() {
            b.push(ts, k, v, hs);
        }
        assert_eq!(b.len(), 3);
        b.build().unwrap()
    }

    fn check_records(records: &[Record], base_offset: i64) {
        for (i, (rec, (ts, k, v, hs))) in records.iter().zip(sample()).enumerate() {
            assert_eq!(rec.offset, base_offset + i as i64);
            assert_eq!(rec.timestamp, ts);
            assert_eq!(rec.key, k);
            assert_eq!(rec.value, v);
            assert_eq!(rec.headers, hs);
        }
        assert_eq!(records.len(), 3);
    }

    #[test]
    fn round_trips_every_codec() {
        for codec in ALL {
            let mut bytes = build(codec);
            set_base_offset(&mut bytes, 1_000);
            let decoded = decode_batches(&bytes).unwrap();
            assert_eq!(decoded.len(), 1, "{}", codec.name());
            let header = decoded[0].header;
            assert_eq!(header.compression(), Ok(codec));
            assert!(header.is_transactional());
            assert_eq!(
                (header.base_timestamp, header.max_timestamp),
                (5_000, 5_010)
            );
            assert_eq!(
                (
                    header.producer_id,
                    header.producer_epoch,
                    header.base_sequence
                ),
                (9, 1, 100)
            );
            check_records(&decoded[0].records, 1_000);
            assert!(validate_produce(&build(codec), 1 << 20).is_ok());
        }
    }

    #[test]
    fn empty_builder_builds_a_header_only_batch() {
        let b = BatchBuilder::new(Compression::None);
        assert!(b.is_empty());
        let bytes = b.build().unwrap();
        let decoded = decode_batches(&bytes).unwrap();
        assert_eq!(decoded[0].header.records_count, 0);
        assert!(decoded[0].records.is_empty());
    }

    #[test]
    fn control_flag_is_written() {
        let mut b = BatchBuilder::new(Compression::None).control(true);
        b.push(
            1,
            Some(Bytes::from_static(&[0, 0, 0, 1])),
            Some(Bytes::new()),
            vec![],
        );
        let decoded = decode_batches(&b.build().unwrap()).unwrap();
        assert!(decoded[0].header.is_control());
        assert_eq!(decoded[0].records.len(), 1);
    }

    #[test]
    fn log_append_time_overrides_record_timestamps() {
        let mut bytes = build(Compression::Lz4);
        set_log_append_time(&mut bytes, 123);
        let decoded = decode_batches(&bytes).unwrap();
        assert!(decoded[0].records.iter().all(|r| r.timestamp == 123));
    }

    #[test]
    fn ignores_a_trailing_partial_batch_but_not_corruption() {
        let mut buf = build(Compression::None).to_vec();
        let mut second = build(Compression::Gzip);
        set_base_offset(&mut second, 3);
        buf.extend_from_slice(&second);
        let full = decode_batches(&buf).unwrap();
        assert_eq!(full.len(), 2);
        assert_eq!(full[1].records[0].offset, 3);
        for cut in buf.len() - second.len()..buf.len() {
            assert_eq!(decode_batches(&buf[..cut]).unwrap().len(), 1, "cut {cut}");
        }
        let mut corrupt = buf.clone();
        corrupt[70] ^= 1;
        assert!(matches!(
            decode_batches(&corrupt),
            Err(BatchError::Corrupt(_))
        ));
        assert!(decode_batches(&[]).unwrap().is_empty());
    }

    #[test]
    fn recompress_keeps_everything_but_the_codec() {
        for from in ALL {
            for to in ALL {
                let mut src = build(from);
                set_base_offset(&mut src, 77);
                crate::batch::set_partition_leader_epoch(&mut src, 4);
                set_log_append_time(&mut src, 9_999);
                let out = recompress(&src, to).unwrap();
                assert!(verify_crc(&out));
                let a = decode_batches(&src).unwrap().remove(0);
                let b = decode_batches(&out).unwrap().remove(0);
                assert_eq!(b.header.compression(), Ok(to));
                let strip = |h: BatchHeader| BatchHeader {
                    attributes: h.attributes & !ATTR_CODEC_MASK,
                    batch_length: 0,
                    crc: 0,
                    ..h
                };
                assert_eq!(strip(a.header), strip(b.header));
                assert_eq!(b.header.partition_leader_epoch, 4);
                assert!(b.header.is_log_append_time() && b.header.is_transactional());
                assert_eq!(a.records, b.records);
            }
        }
    }

    #[test]
    fn recompress_refuses_bad_input() {
        let good = build(Compression::None);
        assert!(recompress(&good[..good.len() - 1], Compression::Gzip).is_err());
        let mut bad = good.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(recompress(&bad, Compression::Gzip).is_err());
        assert!(recompress(&[1, 2, 3], Compression::Gzip).is_err());
    }

    #[test]
    fn rebuild_keeps_offsets_sequences_and_exact_timestamps() {
        for codec in ALL {
            let mut builder = BatchBuilder::new(codec).producer(7, 3, 40);
            for (i, ts) in [100i64, 90, 130].iter().enumerate() {
                let value = (i != 1).then(|| Bytes::from(format!("v{i}")));
                builder.push(
                    *ts,
                    Some(Bytes::from(format!("k{i}"))),
                    value,
                    vec![h("h", None)],
                );
            }
            let mut bytes = builder.build().unwrap().to_vec();
            set_base_offset(&mut bytes, 1000);
            let original = decode_batch(&bytes).unwrap();
            let kept = vec![original.records[1].clone(), original.records[2].clone()];
            let rebuilt = rebuild_batch(&original.header, &kept, Some(5_000)).unwrap();
            assert!(verify_crc(&rebuilt));
            let again = decode_batch(&rebuilt).unwrap();
            let hd = again.header;
            assert_eq!(hd.base_offset, 1000);
            assert_eq!(hd.last_offset(), 1002);
            assert_eq!(
                (hd.producer_id, hd.producer_epoch, hd.base_sequence),
                (7, 3, 40)
            );
            assert_eq!(hd.compression().unwrap(), codec);
            assert_eq!(delete_horizon(&hd), Some(5_000));
            assert_eq!(hd.max_timestamp, 130);
            assert_eq!(again.records, kept);

            let empty = rebuild_batch(&original.header, &[], None).unwrap();
            let e = decode_batch(&empty).unwrap();
            assert!(e.records.is_empty());
            assert_eq!((e.header.base_offset, e.header.last_offset()), (1000, 1002));
            assert_eq!(e.header.base_sequence, 40);
            assert_eq!(e.header.max_timestamp, 130);
            assert_eq!(delete_horizon(&e.header), None);
        }
    }

    #[test]
    fn keyless_records_are_found_in_compressed_batches() {
        let mut builder = BatchBuilder::new(Compression::Zstd);
        builder.push(0, Some(Bytes::from_static(b"k")), None, vec![]);
        builder.push(0, None, Some(Bytes::from_static(b"v")), vec![]);
        builder.push(0, None, None, vec![]);
        let bytes = builder.build().unwrap();
        assert_eq!(keyless_records(&bytes).unwrap(), vec![1, 2]);
        let mut keyed = BatchBuilder::new(Compression::None);
        keyed.push(0, Some(Bytes::from_static(b"k")), None, vec![]);
        assert!(keyless_records(&keyed.build().unwrap()).unwrap().is_empty());
    }
}
