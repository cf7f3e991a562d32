//! Splits a connection's byte stream into request frames.
//!
//! Reads go into one growing buffer and frames are split off it as `Bytes`
//! without copying: a large produce request is read straight into the
//! allocation its records will live in (no zeroing first), and several small
//! pipelined requests arrive with one read instead of two reads each (length
//! prefix, then body).
//!
//! Between requests, with nothing buffered, the reader holds no buffer at
//! all: the next length prefix is read into the reader itself (as Kafka's
//! `NetworkReceive` reads its 4-byte size first), and only then is a buffer
//! sized for the frame allocated. A connection waiting for its next request
//! (most connections, most of the time) costs no read buffer.

use crate::request_memory::{Lease, RequestMemory};
use bytes::{Buf, Bytes, BytesMut};
use gregor_protocol::frame::{frame_length, FrameError, LENGTH_PREFIX_LEN};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Smallest read while requests are streaming in: enough for many small
/// pipelined requests at once.
const READ_CHUNK: usize = 64 * 1024;

/// The smallest buffer a frame is read into when nothing was buffered:
/// room for the small requests a client pipelines behind it.
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
    /// The next frame's length prefix while nothing else is buffered.
    prefix: [u8; LENGTH_PREFIX_LEN],
    prefix_len: usize,
    /// The size of the frame whose prefix was taken and whose body is not
    /// whole yet (kept here so a cancelled read loses nothing).
    pending: Option<usize>,
    max_frame: usize,
    /// `queued.max.request.bytes`: the pending frame's bytes are taken from
    /// it before its body is read.
    memory: Option<Arc<RequestMemory>>,
    lease: Option<Lease>,
}

impl FrameReader {
    /// Frames larger than `max_frame` (`socket.request.max.bytes`) are refused.
    pub fn new(max_frame: usize) -> FrameReader {
        FrameReader {
            buf: BytesMut::new(),
            prefix: [0; LENGTH_PREFIX_LEN],
            prefix_len: 0,
            pending: None,
            max_frame,
            memory: None,
            lease: None,
        }
    }

    /// Takes every frame's bytes from `memory` before reading its body
    /// (waiting while it is empty); [`take_lease`](Self::take_lease) hands
    /// them to the caller with the frame.
    pub fn with_memory(mut self, memory: Option<Arc<RequestMemory>>) -> FrameReader {
        self.memory = memory;
        self
    }

    /// The bytes the last frame took from the request memory: held until the
    /// request is answered.
    pub fn take_lease(&mut self) -> Option<Lease> {
        self.lease.take()
    }

    /// Bytes read and not yet handed out as a frame (part of the next one).
    pub fn buffered(&self) -> usize {
        self.buf.len() + self.prefix_len
    }

    /// The next frame, without its length prefix. Cancel-safe: bytes read
    /// before a cancellation stay buffered.
    pub async fn next(&mut self, stream: &mut (impl AsyncRead + Unpin)) -> FrameRead {
        let size = match self.pending {
            Some(size) => size,
            None => {
                let Some(prefix) = self.read_prefix(stream).await else {
                    return FrameRead::Closed;
                };
                match frame_length(prefix, self.max_frame) {
                    Ok(size) => {
                        self.pending = Some(size);
                        size
                    }
                    Err(err) => return FrameRead::Refused(err),
                }
            }
        };
        if let (Some(memory), None, true) = (&self.memory, &self.lease, size > 0) {
            self.lease = Some(memory.acquire(size).await);
        }
        if !self.fill(stream, size).await {
            return FrameRead::Closed;
        }
        self.pending = None;
        let frame = self.buf.split_to(size).freeze();
        if self.buf.is_empty() {
            // Let go of the allocation the frame lives in (and its spare
            // room): the connection may now wait long for its next request.
            self.buf = BytesMut::new();
        }
        FrameRead::Frame(frame)
    }

    /// The next length prefix: from the buffer when requests are pipelined,
    /// else read on its own into `prefix`. `None` if the stream ends first.
    async fn read_prefix(
        &mut self,
        stream: &mut (impl AsyncRead + Unpin),
    ) -> Option<[u8; LENGTH_PREFIX_LEN]> {
        if !self.buf.is_empty() {
            if !self.fill(stream, LENGTH_PREFIX_LEN).await {
                return None;
            }
            let prefix = [self.buf[0], self.buf[1], self.buf[2], self.buf[3]];
            self.buf.advance(LENGTH_PREFIX_LEN);
            return Some(prefix);
        }
        while self.prefix_len < LENGTH_PREFIX_LEN {
            match stream.read(&mut self.prefix[self.prefix_len..]).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.prefix_len += n,
            }
        }
        self.prefix_len = 0;
        Some(self.prefix)
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

    #[tokio::test]
    async fn a_waiting_reader_holds_no_buffer_and_cancelled_reads_lose_nothing() {
        let (mut client, mut server) = tokio::io::duplex(1 << 16);
        let mut reader = FrameReader::new(1 << 20);
        client.write_all(&frame(&[5u8; 1000])).await.unwrap();
        assert_eq!(body(reader.next(&mut server).await), [5u8; 1000]);
        // The frame went out whole: the reader keeps no allocation for the wait.
        assert_eq!(reader.buf.capacity(), 0);

        // The next frame trickles in, each read cancelled before it completes:
        // two bytes of prefix, the rest of it, then the body in pieces.
        let whole = frame(b"trickled in");
        for piece in [&whole[..2], &whole[2..4], &whole[4..9], &whole[9..]] {
            let poll = tokio::time::timeout(
                std::time::Duration::from_millis(20),
                reader.next(&mut server),
            );
            assert!(
                poll.await.is_err(),
                "a frame was returned before it was whole"
            );
            client.write_all(piece).await.unwrap();
        }
        assert_eq!(body(reader.next(&mut server).await), b"trickled in");
        assert_eq!(reader.buffered(), 0);
    }
}
