//! The primitive encodings the generated messages use: Kafka's classic
//! (int16/int32 length) and flexible (unsigned varint length + 1) forms,
//! and tagged-field sections. Reads never panic: running out of input is an
//! error, as is a length the remaining bytes cannot hold.

use anyhow::{bail, Result};
use bytes::{Buf, BufMut, Bytes};
use std::collections::BTreeMap;
use uuid::Uuid;

pub fn put_uvarint<B: BufMut>(buf: &mut B, mut v: u32) {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

pub fn get_uvarint<B: Buf>(buf: &mut B) -> Result<u32> {
    let mut value: u32 = 0;
    for shift in (0..35).step_by(7) {
        let byte = buf.try_get_u8()?;
        value |= u32::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    bail!("unsigned varint longer than 5 bytes")
}

pub fn uvarint_size(mut v: u32) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// A length (or None for null) of a string, bytes or array.
pub fn put_len<B: BufMut>(
    buf: &mut B,
    len: Option<usize>,
    flexible: bool,
    array: bool,
) -> Result<()> {
    match (flexible, len) {
        (true, None) => put_uvarint(buf, 0),
        (true, Some(n)) => put_uvarint(
            buf,
            u32::try_from(n)?
                .checked_add(1)
                .ok_or_else(|| anyhow::anyhow!("length overflow"))?,
        ),
        (false, None) if array => buf.put_i32(-1),
        (false, None) => buf.put_i16(-1),
        (false, Some(n)) if array => buf.put_i32(i32::try_from(n)?),
        (false, Some(n)) => buf.put_i16(i16::try_from(n)?),
    }
    Ok(())
}

pub fn len_size(len: Option<usize>, flexible: bool, array: bool) -> usize {
    match (flexible, array) {
        (true, _) => uvarint_size(len.map_or(0, |n| n as u32 + 1)),
        (false, true) => 4,
        (false, false) => 2,
    }
}

/// Reads a length; None is null. A length larger than the remaining
/// bytes is refused before anything is allocated for it.
pub fn get_len<B: Buf>(buf: &mut B, flexible: bool, array: bool) -> Result<Option<usize>> {
    let len: i64 = match (flexible, array) {
        (true, _) => i64::from(get_uvarint(buf)?) - 1,
        (false, true) => i64::from(buf.try_get_i32()?),
        (false, false) => i64::from(buf.try_get_i16()?),
    };
    if len < 0 {
        return Ok(None);
    }
    let len = usize::try_from(len)?;
    if len > buf.remaining() {
        bail!(
            "length {len} exceeds the {} remaining bytes",
            buf.remaining()
        );
    }
    Ok(Some(len))
}

pub fn put_str<B: BufMut>(buf: &mut B, s: Option<&str>, flexible: bool) -> Result<()> {
    put_len(buf, s.map(str::len), flexible, false)?;
    if let Some(s) = s {
        buf.put_slice(s.as_bytes());
    }
    Ok(())
}

pub fn str_size(s: Option<&str>, flexible: bool) -> usize {
    len_size(s.map(str::len), flexible, false) + s.map_or(0, str::len)
}

pub fn get_str<B: Buf>(buf: &mut B, flexible: bool) -> Result<Option<String>> {
    match get_len(buf, flexible, false)? {
        None => Ok(None),
        Some(n) => {
            let mut raw = vec![0u8; n];
            buf.try_copy_to_slice(&mut raw)?;
            Ok(Some(String::from_utf8(raw)?))
        }
    }
}

pub fn put_bytes<B: BufMut>(buf: &mut B, b: Option<&Bytes>, flexible: bool) -> Result<()> {
    put_len(buf, b.map(Bytes::len), flexible, true)?;
    if let Some(b) = b {
        buf.put_slice(b);
    }
    Ok(())
}

pub fn bytes_size(b: Option<&Bytes>, flexible: bool) -> usize {
    len_size(b.map(Bytes::len), flexible, true) + b.map_or(0, Bytes::len)
}

pub fn get_bytes<B: Buf>(buf: &mut B, flexible: bool) -> Result<Option<Bytes>> {
    match get_len(buf, flexible, true)? {
        None => Ok(None),
        Some(n) => Ok(Some(buf.copy_to_bytes(n))),
    }
}

pub fn put_uuid<B: BufMut>(buf: &mut B, u: &Uuid) {
    buf.put_slice(u.as_bytes());
}

pub fn get_uuid<B: Buf>(buf: &mut B) -> Result<Uuid> {
    let mut raw = [0u8; 16];
    buf.try_copy_to_slice(&mut raw)?;
    Ok(Uuid::from_bytes(raw))
}

pub fn get_bool<B: Buf>(buf: &mut B) -> Result<bool> {
    Ok(buf.try_get_u8()? != 0)
}

/// A nullable struct's presence byte: -1 for null, 1 for present.
pub fn get_presence<B: Buf>(buf: &mut B) -> Result<bool> {
    match buf.try_get_i8()? {
        -1 => Ok(false),
        1 => Ok(true),
        other => bail!("invalid nullable struct marker {other}"),
    }
}

/// A tagged-field section: the known fields (already encoded, by tag)
/// merged with the unknown ones, in tag order.
pub fn put_tagged<B: BufMut>(
    buf: &mut B,
    known: BTreeMap<i32, Vec<u8>>,
    unknown: &BTreeMap<i32, Bytes>,
) -> Result<()> {
    let mut all: BTreeMap<i32, &[u8]> = unknown.iter().map(|(t, v)| (*t, v.as_ref())).collect();
    for (tag, value) in &known {
        all.insert(*tag, value.as_slice());
    }
    put_uvarint(buf, u32::try_from(all.len())?);
    for (tag, value) in all {
        put_uvarint(buf, u32::try_from(tag)?);
        put_uvarint(buf, u32::try_from(value.len())?);
        buf.put_slice(value);
    }
    Ok(())
}

pub fn tagged_size(known: &BTreeMap<i32, Vec<u8>>, unknown: &BTreeMap<i32, Bytes>) -> usize {
    let mut count = 0usize;
    let mut size = 0usize;
    for (tag, value) in known {
        count += 1;
        size += uvarint_size(*tag as u32) + uvarint_size(value.len() as u32) + value.len();
    }
    for (tag, value) in unknown.iter().filter(|(t, _)| !known.contains_key(*t)) {
        count += 1;
        size += uvarint_size(*tag as u32) + uvarint_size(value.len() as u32) + value.len();
    }
    uvarint_size(count as u32) + size
}

/// Reads a tagged-field section into (tag, raw value) pairs; the generated
/// code decodes the tags it knows and keeps the rest.
pub fn get_tagged<B: Buf>(buf: &mut B) -> Result<Vec<(i32, Bytes)>> {
    let count = get_uvarint(buf)?;
    let mut out = Vec::new();
    for _ in 0..count {
        let tag = i32::try_from(get_uvarint(buf)?)?;
        let len = usize::try_from(get_uvarint(buf)?)?;
        if len > buf.remaining() {
            bail!("tagged field {tag} of {len} bytes exceeds the remaining bytes");
        }
        out.push((tag, buf.copy_to_bytes(len)));
    }
    Ok(out)
}

/// Bounds an element count by the bytes left, so a forged count cannot
/// make a decoder reserve more than the frame could hold.
pub fn capacity<B: Buf>(buf: &B, n: usize) -> usize {
    n.min(buf.remaining())
}
