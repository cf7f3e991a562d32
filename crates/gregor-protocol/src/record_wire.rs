//! The wire form of one record inside a v2 batch, read without allocating
//! (validation walks every record of an uncompressed produce batch on the
//! hot path) and written from owned parts.
//!
//! Layout: length varint | attributes i8 | timestampDelta varlong |
//! offsetDelta varint | keyLength varint + key | valueLength varint + value |
//! headerCount varint | per header: keyLength varint + key,
//! valueLength varint + value. Negative key/value lengths mean null.

use crate::records::Header;
use crate::varint::{put_varint, put_varlong, Cursor};
use bytes::BufMut;

/// A record borrowed from a batch's (decompressed) records section.
#[derive(Debug, Clone)]
pub(crate) struct RecordView<'a> {
    pub timestamp_delta: i64,
    pub offset_delta: i32,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub header_count: usize,
    /// The already-validated header bytes, re-walked by [`RecordView::headers`].
    headers: &'a [u8],
}

/// One header as it sits in the record.
pub(crate) struct HeaderView<'a> {
    pub key: &'a [u8],
    pub value: Option<&'a [u8]>,
}

impl<'a> RecordView<'a> {
    pub(crate) fn headers(&self) -> impl Iterator<Item = HeaderView<'a>> + 'a {
        let mut cur = Cursor::new(self.headers);
        // The bytes were checked by `read_record`, so a failed read here can
        // only mean the end; stopping is the right outcome either way.
        (0..self.header_count).map_while(move |_| read_header(&mut cur))
    }
}

/// Java treats any negative length as null (`if (size >= 0) read`).
fn nullable<'a>(cur: &mut Cursor<'a>) -> Option<Option<&'a [u8]>> {
    let len = cur.varint()?;
    if len < 0 {
        return Some(None);
    }
    cur.bytes(len as usize).map(Some)
}

fn read_header<'a>(cur: &mut Cursor<'a>) -> Option<HeaderView<'a>> {
    let key_len = cur.varint()?;
    if key_len < 0 {
        return None;
    }
    let key = cur.bytes(key_len as usize)?;
    let value = nullable(cur)?;
    Some(HeaderView { key, value })
}

/// Reads one record, checking that its body is exactly as long as its
/// length prefix says. The error text is for INVALID_RECORD messages.
pub(crate) fn read_record<'a>(cur: &mut Cursor<'a>) -> Result<RecordView<'a>, String> {
    let body_len = cur.varint().ok_or("truncated record length")?;
    if body_len < 0 {
        return Err(format!("negative record length {body_len}"));
    }
    let body = cur
        .bytes(body_len as usize)
        .ok_or_else(|| format!("record length {body_len} runs past the end of the batch"))?;
    let mut body = Cursor::new(body);
    let structure = || "invalid record structure".to_string();
    // Record attributes are unused by Kafka; read only to move past them.
    body.i8().ok_or_else(structure)?;
    let timestamp_delta = body.varlong().ok_or_else(structure)?;
    let offset_delta = body.varint().ok_or_else(structure)?;
    let key = nullable(&mut body).ok_or_else(structure)?;
    let value = nullable(&mut body).ok_or_else(structure)?;
    let header_count = body.varint().ok_or_else(structure)?;
    if header_count < 0 {
        return Err(format!("invalid header count {header_count}"));
    }
    let headers_start = body.position();
    let mut probe = body.clone();
    for _ in 0..header_count {
        read_header(&mut probe).ok_or_else(structure)?;
    }
    let headers = body
        .bytes(probe.position() - headers_start)
        .ok_or_else(structure)?;
    if body.remaining() != 0 {
        return Err(format!(
            "record length {body_len} but its fields use {} bytes",
            body.position()
        ));
    }
    Ok(RecordView {
        timestamp_delta,
        offset_delta,
        key,
        value,
        header_count: header_count as usize,
        headers,
    })
}

/// Walks the records section of a batch: exactly `count` records and not a
/// byte more, as Java's record iterator requires. Calls `visit` for each.
pub(crate) fn for_each_record<'a>(
    section: &'a [u8],
    count: i32,
    mut visit: impl FnMut(RecordView<'a>),
) -> Result<(), String> {
    if count < 0 {
        return Err(format!("invalid record count {count}"));
    }
    let mut cur = Cursor::new(section);
    for i in 0..count {
        if cur.remaining() == 0 {
            return Err(format!("batch declares {count} records but holds {i}"));
        }
        visit(read_record(&mut cur)?);
    }
    if cur.remaining() != 0 {
        return Err(format!(
            "{} bytes left after the {count} declared records",
            cur.remaining()
        ));
    }
    Ok(())
}

/// The owned parts of a record to encode.
pub(crate) struct RecordParts<'a> {
    pub timestamp_delta: i64,
    pub offset_delta: i32,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub headers: &'a [Header],
}

fn put_nullable(buf: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        Some(b) => {
            put_varint(buf, b.len() as i32);
            buf.extend_from_slice(b);
        }
        None => put_varint(buf, -1),
    }
}

/// Appends one record (length prefix included) to `out`. `scratch` is a
/// reusable buffer for the body, whose length must be known first.
pub(crate) fn write_record(out: &mut impl BufMut, scratch: &mut Vec<u8>, rec: &RecordParts<'_>) {
    scratch.clear();
    scratch.push(0); // record attributes: unused by Kafka, always 0
    put_varlong(scratch, rec.timestamp_delta);
    put_varint(scratch, rec.offset_delta);
    put_nullable(scratch, rec.key);
    put_nullable(scratch, rec.value);
    put_varint(scratch, rec.headers.len() as i32);
    for header in rec.headers {
        put_nullable(scratch, Some(header.key.as_bytes()));
        put_nullable(scratch, header.value.as_deref());
    }
    put_varint(out, scratch.len() as i32);
    out.put_slice(scratch);
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn encode(parts: &RecordParts<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        write_record(&mut out, &mut Vec::new(), parts);
        out
    }

    #[test]
    fn round_trips_nulls_and_duplicate_headers() {
        let headers = vec![
            Header {
                key: "a".into(),
                value: None,
            },
            Header {
                key: "a".into(),
                value: Some(Bytes::from_static(b"")),
            },
            Header {
                key: "b".into(),
                value: Some(Bytes::from_static(b"x")),
            },
        ];
        let bytes = encode(&RecordParts {
            timestamp_delta: -5,
            offset_delta: 3,
            key: None,
            value: Some(b""),
            headers: &headers,
        });
        let mut cur = Cursor::new(&bytes);
        let rec = read_record(&mut cur).unwrap();
        assert_eq!(cur.remaining(), 0);
        assert_eq!((rec.timestamp_delta, rec.offset_delta), (-5, 3));
        assert_eq!(rec.key, None);
        assert_eq!(rec.value, Some(&b""[..]));
        let got: Vec<_> = rec
            .headers()
            .map(|h| (h.key.to_vec(), h.value.map(<[u8]>::to_vec)))
            .collect();
        assert_eq!(
            got,
            vec![
                (b"a".to_vec(), None),
                (b"a".to_vec(), Some(vec![])),
                (b"b".to_vec(), Some(b"x".to_vec()))
            ]
        );
    }

    #[test]
    fn rejects_length_mismatch_and_truncation() {
        let mut bytes = encode(&RecordParts {
            timestamp_delta: 0,
            offset_delta: 0,
            key: Some(b"k"),
            value: Some(b"v"),
            headers: &[],
        });
        // Claim one byte more than the body has, then pad so it is present.
        bytes[0] += 2;
        bytes.push(0);
        assert!(read_record(&mut Cursor::new(&bytes)).is_err());
        for cut in 0..bytes.len() - 1 {
            assert!(read_record(&mut Cursor::new(&bytes[..cut])).is_err());
        }
    }

    #[test]
    fn count_must_match_exactly() {
        let one = encode(&RecordParts {
            timestamp_delta: 0,
            offset_delta: 0,
            key: None,
            value: None,
            headers: &[],
        });
        assert!(for_each_record(&one, 1, |_| ()).is_ok());
        assert!(for_each_record(&one, 2, |_| ()).is_err());
        assert!(for_each_record(&one, 0, |_| ()).is_err());
        assert!(for_each_record(&one, -1, |_| ()).is_err());
    }
}
