//! Gregor's own record codec. Unlike `kafka-protocol`'s decoder it keeps
//! headers as an ordered list (Kafka allows duplicate keys and null values)
//! and never loses a field. Used by the client, the CLI, recompression and,
//! later, compaction; never on the broker's produce or fetch hot path.

use crate::batch::{BatchError, BatchHeader};
use crate::compression::Compression;
use bytes::{Bytes, BytesMut};

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

/// Builds one magic-v2 batch with base offset 0, as a producer sends it.
#[derive(Debug)]
pub struct BatchBuilder {
    compression: Compression,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    transactional: bool,
    records: Vec<(i64, Option<Bytes>, Option<Bytes>, Vec<Header>)>,
}

impl BatchBuilder {
    pub fn new(compression: Compression) -> Self {
        BatchBuilder {
            compression,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            transactional: false,
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

    pub fn push(&mut self, timestamp: i64, key: Option<Bytes>, value: Option<Bytes>, headers: Vec<Header>) {
        self.records.push((timestamp, key, value, headers));
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Encodes the batch (CRC included). Fails only if compression fails.
    pub fn build(self) -> anyhow::Result<BytesMut> {
        let _ = (self.compression, self.producer_id, self.producer_epoch, self.base_sequence, self.transactional);
        todo!("gregor-protocol records: build batch")
    }
}

/// Decodes every complete batch in `buf` (e.g. a fetch response's records).
/// A trailing partial batch, which fetch responses may carry, is ignored.
pub fn decode_batches(buf: &[u8]) -> Result<Vec<DecodedBatch>, BatchError> {
    let _ = buf;
    todo!("gregor-protocol records: decode batches")
}

/// Re-encodes one batch with another codec, keeping offsets, timestamps,
/// producer fields and attributes other than the codec bits. Used when a
/// topic's `compression.type` names a codec.
pub fn recompress(batch: &[u8], target: Compression) -> Result<BytesMut, BatchError> {
    let _ = (batch, target);
    todo!("gregor-protocol records: recompress")
}
