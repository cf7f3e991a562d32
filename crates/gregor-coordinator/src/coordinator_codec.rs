//! Kafka's primitive wire types for the records coordinators keep in their
//! internal topics (`__consumer_offsets`, `__transaction_state`): big-endian
//! integers, int16-length strings, and the compact forms and tagged fields
//! of flexible versions. Reading untrusted bytes never panics and never
//! sizes anything from a length that is not backed by bytes.

use bytes::{BufMut, BytesMut};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CodecError {
    #[error("record ends early")]
    Truncated,
    #[error("unknown record key type {0}")]
    UnknownKey(i16),
    #[error("unknown {kind} value version {version}")]
    UnknownValueVersion { kind: &'static str, version: i16 },
    #[error("string is not UTF-8")]
    InvalidUtf8,
    #[error("a non-nullable field is null")]
    UnexpectedNull,
    #[error("a string of {0} bytes does not fit the record format")]
    TooLong(usize),
    #[error("unknown transaction state {0}")]
    UnknownState(i8),
    /// A record type encoded by the generated schema code failed.
    #[error("{0}")]
    Schema(String),
}

/// Writes an int16-length string (non-flexible versions).
pub fn put_string(buf: &mut BytesMut, s: &str) -> Result<(), CodecError> {
    let len = i16::try_from(s.len()).map_err(|_| CodecError::TooLong(s.len()))?;
    buf.put_i16(len);
    buf.put_slice(s.as_bytes());
    Ok(())
}

/// Writes an int16-length string, or -1 for none.
pub fn put_nullable_string(buf: &mut BytesMut, s: Option<&str>) -> Result<(), CodecError> {
    match s {
        Some(s) => put_string(buf, s),
        None => {
            buf.put_i16(-1);
            Ok(())
        }
    }
}

/// An array or bytes length as Kafka's int32.
pub fn len_i32(len: usize) -> Result<i32, CodecError> {
    i32::try_from(len).map_err(|_| CodecError::TooLong(len))
}

/// Writes int32-length bytes (non-flexible versions).
pub fn put_bytes(buf: &mut BytesMut, b: &[u8]) -> Result<(), CodecError> {
    buf.put_i32(len_i32(b.len())?);
    buf.put_slice(b);
    Ok(())
}

/// Writes an unsigned varint (compact lengths, tags).
pub fn put_uvarint(buf: &mut BytesMut, mut value: u64) {
    while value >= 0x80 {
        buf.put_u8((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    buf.put_u8(value as u8);
}

/// Writes a compact string: varint(length + 1), then the bytes.
pub fn put_compact_string(buf: &mut BytesMut, s: &str) {
    put_uvarint(buf, s.len() as u64 + 1);
    buf.put_slice(s.as_bytes());
}

/// Reads Kafka's primitive types; `flexible` switches to the compact forms
/// and tagged fields of flexible versions.
pub struct Reader<'a> {
    buf: &'a [u8],
    flexible: bool,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8], flexible: bool) -> Self {
        Reader { buf, flexible }
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        if self.buf.len() < n {
            return Err(CodecError::Truncated);
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], CodecError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub fn i8(&mut self) -> Result<i8, CodecError> {
        Ok(i8::from_be_bytes(self.array()?))
    }

    pub fn i16(&mut self) -> Result<i16, CodecError> {
        Ok(i16::from_be_bytes(self.array()?))
    }

    pub fn i32(&mut self) -> Result<i32, CodecError> {
        Ok(i32::from_be_bytes(self.array()?))
    }

    pub fn i64(&mut self) -> Result<i64, CodecError> {
        Ok(i64::from_be_bytes(self.array()?))
    }

    pub fn uvarint(&mut self) -> Result<u64, CodecError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.take(1)?[0];
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(CodecError::Truncated)
    }

    /// A length that may be null (`None`): int16/int32 -1 or compact 0.
    pub fn length(&mut self, wide: bool) -> Result<Option<usize>, CodecError> {
        let len = if self.flexible {
            self.uvarint()? as i64 - 1
        } else if wide {
            i64::from(self.i32()?)
        } else {
            i64::from(self.i16()?)
        };
        if len < 0 {
            return Ok(None);
        }
        let len = usize::try_from(len).map_err(|_| CodecError::Truncated)?;
        // Never trust a length beyond what is there: it sizes nothing below.
        if len > self.buf.len() {
            return Err(CodecError::Truncated);
        }
        Ok(Some(len))
    }

    pub fn nullable_string(&mut self) -> Result<Option<String>, CodecError> {
        match self.length(false)? {
            None => Ok(None),
            Some(len) => {
                let raw = self.take(len)?;
                let s = std::str::from_utf8(raw).map_err(|_| CodecError::InvalidUtf8)?;
                Ok(Some(s.to_string()))
            }
        }
    }

    pub fn string(&mut self) -> Result<String, CodecError> {
        self.nullable_string()?.ok_or(CodecError::UnexpectedNull)
    }

    /// Non-null bytes (int32 length, or compact in flexible versions).
    pub fn bytes(&mut self) -> Result<bytes::Bytes, CodecError> {
        let len = self.length(true)?.ok_or(CodecError::UnexpectedNull)?;
        Ok(bytes::Bytes::copy_from_slice(self.take(len)?))
    }

    /// An array count; `None` for a null array.
    pub fn nullable_array_len(&mut self) -> Result<Option<usize>, CodecError> {
        // Each element takes at least one byte, so a count beyond the
        // remaining bytes is corrupt; `length` already refuses those.
        self.length(true)
    }

    pub fn array_len(&mut self) -> Result<usize, CodecError> {
        self.nullable_array_len()?.ok_or(CodecError::UnexpectedNull)
    }

    /// The tagged fields of a flexible structure as (tag, bytes); none for
    /// non-flexible versions.
    pub fn tagged_fields(&mut self) -> Result<Vec<(u64, &'a [u8])>, CodecError> {
        if !self.flexible {
            return Ok(Vec::new());
        }
        let count = self.uvarint()?;
        let mut fields = Vec::new();
        for _ in 0..count {
            let tag = self.uvarint()?;
            let size = usize::try_from(self.uvarint()?).map_err(|_| CodecError::Truncated)?;
            fields.push((tag, self.take(size)?));
        }
        Ok(fields)
    }

    pub fn skip_tags(&mut self) -> Result<(), CodecError> {
        self.tagged_fields().map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uvarints_round_trip() {
        for value in [
            0u64,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            u32::MAX as u64,
            u64::MAX,
        ] {
            let mut buf = BytesMut::new();
            put_uvarint(&mut buf, value);
            let mut reader = Reader::new(&buf, true);
            assert_eq!(reader.uvarint(), Ok(value));
            assert!(reader.take(1).is_err(), "{value} left bytes behind");
        }
    }

    #[test]
    fn lengths_beyond_the_input_are_errors() {
        // int16 length 5 with 2 bytes behind it.
        let mut reader = Reader::new(&[0, 5, b'a', b'b'], false);
        assert_eq!(reader.string(), Err(CodecError::Truncated));
        // compact length 1000 with nothing behind it.
        let mut buf = BytesMut::new();
        put_uvarint(&mut buf, 1001);
        assert_eq!(
            Reader::new(&buf, true).array_len(),
            Err(CodecError::Truncated)
        );
    }

    #[test]
    fn tagged_fields_are_read_back() {
        let mut buf = BytesMut::new();
        put_uvarint(&mut buf, 2);
        put_uvarint(&mut buf, 0);
        put_uvarint(&mut buf, 2);
        buf.put_i16(7);
        put_uvarint(&mut buf, 5);
        put_uvarint(&mut buf, 1);
        buf.put_u8(9);
        let fields = Reader::new(&buf, true).tagged_fields().unwrap();
        assert_eq!(fields, vec![(0, &[0u8, 7][..]), (5, &[9u8][..])]);
    }
}
