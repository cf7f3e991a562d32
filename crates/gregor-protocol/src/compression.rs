//! The four Kafka compression codecs, by the names Kafka configs use.
//! The codecs themselves come from `kafka-protocol` (xerial framing for
//! snappy, LZ4 frame format for lz4), so they match what Java clients write.

use anyhow::{bail, Context};
use bytes::{Bytes, BytesMut};
use kafka_protocol::compression::{Compressor, Decompressor, Gzip, Lz4, Snappy, Zstd};
use std::io::Read;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Compression {
    /// From the codec id in attribute bits 0-2 (0 none, 1 gzip, 2 snappy,
    /// 3 lz4, 4 zstd).
    pub fn from_id(id: i16) -> Option<Compression> {
        match id {
            0 => Some(Compression::None),
            1 => Some(Compression::Gzip),
            2 => Some(Compression::Snappy),
            3 => Some(Compression::Lz4),
            4 => Some(Compression::Zstd),
            _ => None,
        }
    }

    pub fn id(self) -> i16 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }

    /// From a config value: `none`/`uncompressed`, `gzip`, `snappy`, `lz4`, `zstd`.
    /// Case-sensitive, as Kafka's config validators are. `producer` (a
    /// topic-level choice meaning "keep what the producer sent") is not a
    /// codec and gives `None`; callers handle it.
    pub fn from_name(name: &str) -> Option<Compression> {
        match name {
            "none" | "uncompressed" => Some(Compression::None),
            "gzip" => Some(Compression::Gzip),
            "snappy" => Some(Compression::Snappy),
            "lz4" => Some(Compression::Lz4),
            "zstd" => Some(Compression::Zstd),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }

    pub fn compress(self, raw: &[u8]) -> anyhow::Result<Bytes> {
        let fill = |tmp: &mut BytesMut| {
            tmp.extend_from_slice(raw);
            Ok(())
        };
        let mut out = BytesMut::new();
        match self {
            Compression::None => out.extend_from_slice(raw),
            Compression::Gzip => Gzip::compress(&mut out, fill)?,
            Compression::Snappy => Snappy::compress(&mut out, fill)?,
            Compression::Lz4 => Lz4::compress(&mut out, fill)?,
            Compression::Zstd => Zstd::compress(&mut out, fill)?,
        }
        Ok(out.freeze())
    }

    /// Decompresses one batch's records section, refusing to produce more
    /// than [`MAX_DECOMPRESSED_LEN`] bytes. Snappy accepts both the xerial
    /// framing Java writes and the raw format librdkafka writes.
    pub fn decompress(self, compressed: &[u8]) -> anyhow::Result<Bytes> {
        self.decompress_limited(compressed, MAX_DECOMPRESSED_LEN)
    }

    /// Like [`Compression::decompress`] with a caller-chosen output limit.
    /// Output is streamed and counted, so a small "bomb" fails once it
    /// passes `max_len` instead of exhausting memory.
    pub fn decompress_limited(self, compressed: &[u8], max_len: usize) -> anyhow::Result<Bytes> {
        let out = match self {
            Compression::None => Bytes::copy_from_slice(compressed),
            // Java's GZIPInputStream reads concatenated members; so does this.
            Compression::Gzip => {
                read_limited(flate2::read::MultiGzDecoder::new(compressed), max_len)?
            }
            Compression::Snappy => {
                snappy_lengths_plausible(compressed, max_len)?;
                let mut input = Bytes::copy_from_slice(compressed);
                Snappy::decompress(&mut input, |out: &mut Bytes| Ok(std::mem::take(out)))?
            }
            Compression::Lz4 => {
                let decoder = lz4::Decoder::new(compressed).context("lz4 frame header")?;
                read_limited(decoder, max_len)?
            }
            Compression::Zstd => {
                let decoder =
                    zstd::stream::read::Decoder::new(compressed).context("zstd decoder")?;
                read_limited(decoder, max_len)?
            }
        };
        if out.len() > max_len {
            return Err(OverLimit { max_len }.into());
        }
        Ok(out)
    }
}

/// The default cap on one decompressed records section: far above any
/// real batch (message.max.bytes defaults to 1 MiB compressed), far below
/// what would take a process down.
pub const MAX_DECOMPRESSED_LEN: usize = 256 << 20;

/// Reads a decoder to its end, failing once it yields more than `max_len`.
fn read_limited(decoder: impl Read, max_len: usize) -> anyhow::Result<Bytes> {
    let mut out = Vec::new();
    decoder
        .take(max_len as u64 + 1)
        .read_to_end(&mut out)
        .context("corrupt compressed data")?;
    if out.len() > max_len {
        return Err(OverLimit { max_len }.into());
    }
    Ok(Bytes::from(out))
}

/// Data that decompresses past the caller's limit, told apart from corrupt
/// data by downcasting (PushTelemetry answers the two differently).
#[derive(Debug, thiserror::Error)]
#[error("compressed data expands past the {max_len}-byte limit")]
pub struct OverLimit {
    pub max_len: usize,
}

/// The xerial (snappy-java) stream header; a stream without it is raw snappy.
const XERIAL_MAGIC: &[u8; 8] = b"\x82SNAPPY\x00";
const XERIAL_HEADER_LEN: usize = 16;

/// A snappy element of n input bytes can produce at most 64 output bytes
/// (a 2-byte-offset copy is 3 bytes for 64), so any block that claims more
/// is corrupt. Checking the claims first stops a few forged bytes from
/// making the decoder allocate the up to 4 GiB a length preamble may claim.
const SNAPPY_MAX_EXPANSION: u64 = 64;

/// Checks every block's claimed uncompressed length, raw or xerial-framed,
/// and that their total stays within `max_len`.
fn snappy_lengths_plausible(compressed: &[u8], max_len: usize) -> anyhow::Result<()> {
    let total = match compressed.strip_prefix(XERIAL_MAGIC) {
        Some(_) if compressed.len() >= XERIAL_HEADER_LEN => {
            let mut rest = &compressed[XERIAL_HEADER_LEN..];
            let mut total = 0u64;
            while !rest.is_empty() {
                let Some((len, tail)) = rest.split_first_chunk::<4>() else {
                    bail!("truncated xerial snappy block length");
                };
                let len = u32::from_be_bytes(*len) as usize;
                let Some(block) = tail.get(..len) else {
                    bail!("xerial snappy block of {len} bytes runs past the end");
                };
                total = total.saturating_add(snappy_block_claim(block)?);
                rest = &tail[len..];
            }
            total
        }
        // Like snappy-java, anything without the full header is raw snappy.
        _ => snappy_block_claim(compressed)?,
    };
    if total > max_len as u64 {
        return Err(OverLimit { max_len }.into());
    }
    Ok(())
}

/// Reads a raw snappy block's uncompressed-length preamble (a plain LEB128
/// varint of up to 5 bytes) and checks it against the block's size.
fn snappy_block_claim(block: &[u8]) -> anyhow::Result<u64> {
    let mut claimed: u64 = 0;
    for (i, byte) in block.iter().take(5).enumerate() {
        claimed |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            let limit = (block.len() as u64).saturating_mul(SNAPPY_MAX_EXPANSION);
            if claimed > limit {
                bail!(
                    "snappy block of {} bytes claims {claimed} uncompressed",
                    block.len()
                );
            }
            return Ok(claimed);
        }
    }
    bail!("invalid snappy length preamble")
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    #[test]
    fn ids_and_names_round_trip() {
        for (i, c) in ALL.iter().enumerate() {
            assert_eq!(c.id(), i as i16);
            assert_eq!(Compression::from_id(c.id()), Some(*c));
            assert_eq!(Compression::from_name(c.name()), Some(*c));
        }
        assert_eq!(
            Compression::from_name("uncompressed"),
            Some(Compression::None)
        );
        assert_eq!(Compression::from_name("producer"), None);
        assert_eq!(Compression::from_name("GZIP"), None);
        assert_eq!(Compression::from_id(5), None);
        assert_eq!(Compression::from_id(-1), None);
    }

    #[test]
    fn every_codec_round_trips() {
        let raw: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        for c in ALL {
            for input in [&raw[..], b"", b"x"] {
                let packed = c.compress(input).unwrap();
                assert_eq!(&c.decompress(&packed).unwrap()[..], input, "{}", c.name());
            }
        }
    }

    #[test]
    fn snappy_is_xerial_framed_and_raw_is_accepted() {
        let packed = Compression::Snappy.compress(b"hello hello hello").unwrap();
        assert!(packed.starts_with(XERIAL_MAGIC));
        // Raw snappy of "abc": length 3, then a literal tag (len-1)<<2, then bytes.
        let raw = [3u8, 2 << 2, b'a', b'b', b'c'];
        assert_eq!(&Compression::Snappy.decompress(&raw).unwrap()[..], b"abc");
    }

    #[test]
    fn output_limit_is_enforced_for_every_codec() {
        let raw = vec![7u8; 100_000];
        for c in ALL {
            let packed = c.compress(&raw).unwrap();
            assert_eq!(
                c.decompress_limited(&packed, raw.len()).unwrap().len(),
                raw.len()
            );
            assert!(
                c.decompress_limited(&packed, raw.len() - 1).is_err(),
                "{}",
                c.name()
            );
        }
    }

    #[test]
    fn gzip_reads_concatenated_members() {
        let mut two = Compression::Gzip.compress(b"ab").unwrap().to_vec();
        two.extend_from_slice(&Compression::Gzip.compress(b"cd").unwrap());
        assert_eq!(&Compression::Gzip.decompress(&two).unwrap()[..], b"abcd");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        // A raw snappy preamble claiming 4 GiB from 6 bytes.
        let bomb = [0xff, 0xff, 0xff, 0xff, 0x0f, 0];
        assert!(Compression::Snappy.decompress(&bomb).is_err());
        for c in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            assert!(
                c.decompress(b"definitely not compressed").is_err(),
                "{}",
                c.name()
            );
        }
    }
}
