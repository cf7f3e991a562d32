//! Splits a connection's byte stream into request frames.
//!
//! Reads go into one growing buffer and frames are split off it as `Bytes`
//! without copying: a large produce request is read straight into the
//! allocation its records will live in (no zeroing first), and several small
//! pipelined requests arrive with one read instead of two reads each (length
//! prefix, then body).

use bytes::{Buf, Bytes, BytesMut};
use gregor_protocol::frame::{frame_length, FrameError, LENGTH_PREFIX_LEN};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Smallest read while requests are streaming in: enough for many small
/// pipelined requests at once.
const READ_CHUNK: usize = 64 * 1024;

/// The read that starts a request after the buffer ran empty: enough for
/// most requests (fetches, heartbeats, commits), small enough that a
/// connection waiting for its next request holds little. Allocated for
/// every waiting connection, a `READ_CHUNK` would cost each one the pages
/// it touched and keep the allocator from reusing the rest (about 7 KiB
/// per idle connection, measured).
const FIRST_READ: usize = 2 * 1024;

#[derive(Debug)]
pub enum FrameRead {
    Frame(Bytes),
    /// The peer closed the connection (or it failed) before a whole frame.
    Closed,
    /// The length prefix is refused; Kafka closes the connection.
    Refused(FrameError),
}

pub struct FrameReader {
    buf: BytesMut,
    max_frame: usize,
}

impl FrameReader {
    /// Frames larger than `max_frame` (`socket.request.max.bytes`) are refused.
    pub fn new(max_frame: usize) -> FrameReader {
        FrameReader {
            buf: BytesMut::new(),
            max_frame,
        }
    }

    /// Bytes read and not yet handed out as a frame (part of the next one).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next frame, without its length prefix. Cancel-safe: bytes read
    /// before a cancellation stay buffered.
    pub async fn next(&mut self, stream: &mut (impl AsyncRead + Unpin)) -> FrameRead {
        if !self.fill(stream, LENGTH_PREFIX_LEN).await {
            return FrameRead::Closed;
        }
        let prefix = [self.buf[0], self.buf[1], self.buf[2], self.buf[3]];
        let size = match frame_length(prefix, self.max_frame) {
            Ok(size) => size,
            Err(err) => return FrameRead::Refused(err),
        };
        if !self.fill(stream, LENGTH_PREFIX_LEN + size).await {
            return FrameRead::Closed;
        }
        self.buf.advance(LENGTH_PREFIX_LEN);
        FrameRead::Frame(self.buf.split_to(size).freeze())
    }

    /// Reads until `len` bytes are buffered; false if the stream ends first.
    async fn fill(&mut self, stream: &mut (impl AsyncRead + Unpin), len: usize) -> bool {
        while self.buf.len() < len {
            let missing = len - self.buf.len();
            let chunk = if self.buf.is_empty() {
                FIRST_READ
            } else {
                READ_CHUNK
            };
            self.buf.reserve(missing.max(chunk));
            match stream.read_buf(&mut self.buf).await {
                Ok(0) | Err(_) => return false,
                Ok(_) => {}
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    fn frame(body: &[u8]) -> Vec<u8> {
        let mut out = (body.len() as i32).to_be_bytes().to_vec();
        out.extend_from_slice(body);
        out
    }

    fn body(read: FrameRead) -> Vec<u8> {
        match read {
            FrameRead::Frame(b) => b.to_vec(),
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn splits_pipelined_frames_and_joins_split_ones() {
        let (mut client, mut server) = tokio::io::duplex(1 << 20);
        let big = vec![7u8; 300_000];
        let mut bytes = frame(b"one");
        bytes.extend(frame(b""));
        bytes.extend(frame(&big));
        bytes.extend(frame(b"last"));
        // Written in odd pieces: prefixes and bodies straddle reads.
        let writer = tokio::spawn(async move {
            for piece in bytes.chunks(1000 + 7) {
                client.write_all(piece).await.unwrap();
            }
        });
        let mut reader = FrameReader::new(1 << 20);
        assert_eq!(body(reader.next(&mut server).await), b"one");
        assert_eq!(body(reader.next(&mut server).await), b"");
        assert_eq!(body(reader.next(&mut server).await), big);
        assert_eq!(body(reader.next(&mut server).await), b"last");
        writer.await.unwrap();
        assert!(matches!(reader.next(&mut server).await, FrameRead::Closed));
    }

    #[tokio::test]
    async fn a_first_frame_beyond_the_first_read_grows_the_buffer() {
        let (mut client, mut server) = tokio::io::duplex(1 << 20);
        let large: Vec<u8> = (0..3 * FIRST_READ).map(|i| i as u8).collect();
        let mut bytes = frame(&large);
        bytes.extend(frame(b"after"));
        client.write_all(&bytes).await.unwrap();
        let mut reader = FrameReader::new(1 << 20);
        assert_eq!(body(reader.next(&mut server).await), large);
        assert_eq!(body(reader.next(&mut server).await), b"after");
    }

    #[tokio::test]
    async fn refuses_oversized_and_negative_lengths_and_reports_torn_frames() {
        let (mut client, mut server) = tokio::io::duplex(1024);
        client.write_all(&101i32.to_be_bytes()).await.unwrap();
        let mut reader = FrameReader::new(100);
        assert!(matches!(
            reader.next(&mut server).await,
            FrameRead::Refused(FrameError::TooLarge { size: 101, .. })
        ));

        let (mut client, mut server) = tokio::io::duplex(1024);
        client.write_all(&(-1i32).to_be_bytes()).await.unwrap();
        let mut reader = FrameReader::new(100);
        assert!(matches!(
            reader.next(&mut server).await,
            FrameRead::Refused(FrameError::Negative(-1))
        ));

        let (mut client, mut server) = tokio::io::duplex(1024);
        client.write_all(&50i32.to_be_bytes()).await.unwrap();
        client.write_all(b"only part").await.unwrap();
        drop(client);
        let mut reader = FrameReader::new(100);
        assert!(matches!(reader.next(&mut server).await, FrameRead::Closed));
    }
}
