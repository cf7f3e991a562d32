//! Zigzag varints as Kafka's record format v2 writes them (protobuf style:
//! 7 bits per byte, least significant group first, zigzag for the sign).
//!
//! Reading never panics: every read returns `None` when the input runs out
//! or the encoding is longer than the type allows.

use bytes::BufMut;

/// A forward-only reader over untrusted bytes.
#[derive(Debug, Clone)]
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn i8(&mut self) -> Option<i8> {
        let byte = *self.buf.get(self.pos)?;
        self.pos += 1;
        Some(byte as i8)
    }

    /// Takes `len` bytes, or `None` if fewer remain.
    pub(crate) fn bytes(&mut self, len: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(len)?;
        let out = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(out)
    }

    /// Reads an unsigned LEB128 value of at most `max_bytes` bytes. Like
    /// Java's `ByteUtils`, bits beyond the target width in the last byte are
    /// dropped rather than rejected.
    fn unsigned(&mut self, max_bytes: usize) -> Option<u64> {
        let mut value: u64 = 0;
        for i in 0..max_bytes {
            let byte = *self.buf.get(self.pos)?;
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    /// A zigzag varint (i32, at most 5 bytes).
    pub(crate) fn varint(&mut self) -> Option<i32> {
        let raw = self.unsigned(5)? as u32;
        Some(((raw >> 1) as i32) ^ -((raw & 1) as i32))
    }

    /// A zigzag varlong (i64, at most 10 bytes).
    pub(crate) fn varlong(&mut self) -> Option<i64> {
        let raw = self.unsigned(10)?;
        Some(((raw >> 1) as i64) ^ -((raw & 1) as i64))
    }
}

fn put_unsigned(buf: &mut impl BufMut, mut value: u64) {
    while value >= 0x80 {
        buf.put_u8((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    buf.put_u8(value as u8);
}

pub(crate) fn put_varint(buf: &mut impl BufMut, value: i32) {
    put_unsigned(buf, u64::from(((value << 1) ^ (value >> 31)) as u32));
}

pub(crate) fn put_varlong(buf: &mut impl BufMut, value: i64) {
    put_unsigned(buf, ((value << 1) ^ (value >> 63)) as u64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_edge_values() {
        for v in [0, 1, -1, 63, -64, 64, 300, -300, i32::MAX, i32::MIN] {
            let mut buf = Vec::new();
            put_varint(&mut buf, v);
            let mut cur = Cursor::new(&buf);
            assert_eq!(cur.varint(), Some(v));
            assert_eq!(cur.remaining(), 0);
        }
        for v in [0i64, -1, 1 << 40, -(1 << 40), i64::MAX, i64::MIN] {
            let mut buf = Vec::new();
            put_varlong(&mut buf, v);
            assert_eq!(Cursor::new(&buf).varlong(), Some(v));
        }
    }

    #[test]
    fn known_encodings_match_kafka() {
        // -1 zigzags to 1; 1 to 2; 64 to 128 (two bytes).
        let mut buf = Vec::new();
        put_varint(&mut buf, -1);
        put_varint(&mut buf, 1);
        put_varint(&mut buf, 64);
        assert_eq!(buf, [0x01, 0x02, 0x80, 0x01]);
    }

    #[test]
    fn rejects_truncated_and_overlong() {
        assert_eq!(Cursor::new(&[0x80]).varint(), None);
        assert_eq!(Cursor::new(&[0xff; 6]).varint(), None);
        assert_eq!(Cursor::new(&[0xff; 11]).varlong(), None);
        assert_eq!(Cursor::new(&[]).i8(), None);
        assert_eq!(Cursor::new(&[1, 2]).bytes(3), None);
    }
}
