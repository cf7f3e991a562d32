//! Writes a fetch response to a plaintext socket, records straight from the
//! segment files with `sendfile(2)`: the kernel moves page-cache pages to
//! the socket, the broker never touches the bytes.
//!
//! Where `sendfile` is refused (a file system or socket that cannot do it)
//! the range is copied through a buffer instead. A TLS connection always
//! copies: the records must be encrypted, so they pass through one buffer
//! the connection keeps for its whole life ([`FetchSink`]).

use gregor_log::FileSlice;
use gregor_protocol::fetch_response::{Chunk, EncodedFetch};
use std::future::Future;
use std::io;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use tokio::io::{AsyncWrite, AsyncWriteExt, Interest};
use tokio::net::TcpStream;

type WriteFuture<'a> = Pin<Box<dyn Future<Output = io::Result<()>> + Send + 'a>>;

/// A connection's stream as the fetch path sees it: how a fetch response
/// with records in segment files goes out. `copy_buf` is the connection's
/// own buffer, reused across responses.
pub trait FetchSink: AsyncWrite + Unpin + Send {
    fn write_fetch<'a>(
        &'a mut self,
        encoded: EncodedFetch<FileSlice>,
        copy_buf: &'a mut Vec<u8>,
    ) -> WriteFuture<'a>;
}

/// Plain TCP: `sendfile` straight from the page cache.
impl FetchSink for TcpStream {
    fn write_fetch<'a>(
        &'a mut self,
        encoded: EncodedFetch<FileSlice>,
        copy_buf: &'a mut Vec<u8>,
    ) -> WriteFuture<'a> {
        Box::pin(write_fetch(self, encoded, copy_buf))
    }
}

/// TLS: the records are read into the buffer and encrypted from there.
impl FetchSink for tokio_rustls::server::TlsStream<TcpStream> {
    fn write_fetch<'a>(
        &'a mut self,
        encoded: EncodedFetch<FileSlice>,
        copy_buf: &'a mut Vec<u8>,
    ) -> WriteFuture<'a> {
        Box::pin(copy_fetch(self, encoded, copy_buf))
    }
}

/// Writes every chunk through the copy path.
pub async fn copy_fetch(
    stream: &mut (impl AsyncWrite + Unpin),
    encoded: EncodedFetch<FileSlice>,
    copy_buf: &mut Vec<u8>,
) -> io::Result<()> {
    for chunk in encoded.chunks {
        match chunk {
            Chunk::Bytes(bytes) => stream.write_all(&bytes).await?,
            Chunk::Records(slice) => copy_slice(stream, &slice, copy_buf).await?,
        }
    }
    Ok(())
}

/// Copy-path buffer size, reused across the ranges of one response.
const COPY_CHUNK: usize = 64 * 1024;

/// Writes every chunk in order. With several chunks the socket is corked so
/// the small header pieces between ranges leave in full segments instead of
/// one tiny packet each (the listener sets TCP_NODELAY).
pub async fn write_fetch(
    stream: &mut TcpStream,
    encoded: EncodedFetch<FileSlice>,
    copy_buf: &mut Vec<u8>,
) -> io::Result<()> {
    let cork = encoded.chunks.len() > 1;
    if cork {
        set_cork(stream, true);
    }
    let result = write_chunks(stream, encoded.chunks, copy_buf).await;
    if cork {
        // Uncorking pushes out whatever is still queued.
        set_cork(stream, false);
    }
    result
}

async fn write_chunks(
    stream: &mut TcpStream,
    chunks: Vec<Chunk<FileSlice>>,
    copy_buf: &mut Vec<u8>,
) -> io::Result<()> {
    for chunk in chunks {
        match chunk {
            Chunk::Bytes(bytes) => stream.write_all(&bytes).await?,
            Chunk::Records(slice) => {
                send_slice(stream, &slice, copy_buf).await?;
            }
        }
    }
    Ok(())
}

/// How a slice went out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    ZeroCopy,
    Copied,
}

/// Sends the slice with `sendfile`, falling back to copying when the kernel
/// refuses it before the first byte.
pub async fn send_slice(
    stream: &mut TcpStream,
    slice: &FileSlice,
    copy_buf: &mut Vec<u8>,
) -> io::Result<Sent> {
    let Some((file, start)) = slice.file() else {
        return Ok(Sent::ZeroCopy);
    };
    let socket = stream.as_raw_fd();
    let source = file.as_raw_fd();
    let end = start + slice.len() as u64;
    let mut offset = i64::try_from(start).map_err(io::Error::other)?;
    loop {
        let sent = offset as u64 - start;
        if offset as u64 >= end {
            return Ok(Sent::ZeroCopy);
        }
        let remaining = (end - offset as u64) as usize;
        stream.writable().await?;
        let result = stream.try_io(Interest::WRITABLE, || {
            // SAFETY: both descriptors are open for the duration of the
            // call (the stream and the slice's file are borrowed), and
            // `offset` is a valid off_t the kernel advances.
            let n = unsafe { libc::sendfile(socket, source, &mut offset, remaining) };
            if n < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(n as usize)
            }
        });
        match result {
            // The file ends before the range: follower truncation cut the
            // segment under us. The length prefix is already out, so the
            // only honest answer is to close the connection.
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "segment file is shorter than the fetched range",
                ))
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if sent == 0 && sendfile_unsupported(&e) => {
                copy_slice(stream, slice, copy_buf).await?;
                return Ok(Sent::Copied);
            }
            Err(e) => return Err(e),
        }
    }
}

fn sendfile_unsupported(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP)
    )
}

/// The copying path: positional reads into a reused buffer, then writes.
pub async fn copy_slice(
    stream: &mut (impl AsyncWrite + Unpin),
    slice: &FileSlice,
    copy_buf: &mut Vec<u8>,
) -> io::Result<()> {
    let mut done = 0;
    while done < slice.len() {
        let n = (slice.len() - done).min(COPY_CHUNK);
        copy_buf.resize(n, 0);
        slice.read_at(done, copy_buf)?;
        stream.write_all(copy_buf).await?;
        done += n;
    }
    Ok(())
}

fn set_cork(stream: &TcpStream, on: bool) {
    let value: libc::c_int = on.into();
    // SAFETY: a valid socket descriptor and a c_int option of the right size.
    // A failure only costs packet coalescing, so it is ignored.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_CORK,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use gregor_log::{LogConfig, PartitionLog};
    use gregor_protocol::compression::Compression;
    use gregor_protocol::records::BatchBuilder;
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;

    /// A log holding about `mb` MiB of batches, and a slice over all of it.
    fn log_with_data(dir: &std::path::Path, mb: usize) -> (PartitionLog, FileSlice, Vec<u8>) {
        let mut log = PartitionLog::open(dir, LogConfig::default(), false).unwrap();
        for i in 0..(mb * 16) {
            let mut builder = BatchBuilder::new(Compression::None);
            for j in 0..64 {
                let mut value = format!("{i}-{j}-").into_bytes();
                value.resize(1024, b'x');
                builder.push(0, None, Some(Bytes::from(value)), vec![]);
            }
            log.append(&builder.build().unwrap(), 0, 0).unwrap();
        }
        let end = log.log_end_offset();
        let slice = log.read_slice(0, usize::MAX, end, true).unwrap().records;
        let bytes = slice.to_vec().unwrap();
        (log, slice, bytes)
    }

    async fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap());
        let (server, client) = tokio::join!(listener.accept(), client);
        (server.unwrap().0, client.unwrap())
    }

    async fn read_n(mut stream: TcpStream, n: usize) -> Vec<u8> {
        let mut out = vec![0u8; n];
        stream.read_exact(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn sendfile_and_the_copy_path_send_the_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        // Several MiB: more than a socket buffer, so sendfile must wait for
        // the reader and resume where it stopped.
        let (_log, slice, expected) = log_with_data(dir.path(), 6);
        assert!(expected.len() > 4 << 20);

        let (mut server, client) = pair().await;
        let reader = tokio::spawn(read_n(client, expected.len()));
        send_slice(&mut server, &slice, &mut Vec::new())
            .await
            .unwrap();
        assert!(reader.await.unwrap() == expected);

        let (mut server, client) = pair().await;
        let reader = tokio::spawn(read_n(client, expected.len()));
        copy_slice(&mut server, &slice, &mut Vec::new())
            .await
            .unwrap();
        assert!(reader.await.unwrap() == expected);
    }

    #[tokio::test]
    async fn a_truncated_file_fails_the_send_instead_of_hanging() {
        let dir = tempfile::tempdir().unwrap();
        let (log, slice, expected) = log_with_data(dir.path(), 1);
        // Cut the segment under the slice, as follower truncation would.
        let segment = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "log"))
            .unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&segment)
            .unwrap()
            .set_len(expected.len() as u64 / 2)
            .unwrap();
        let (mut server, client) = pair().await;
        let reader = tokio::spawn(async move {
            let mut client = client;
            let mut sink = Vec::new();
            let _ = client.read_to_end(&mut sink).await;
        });
        let err = send_slice(&mut server, &slice, &mut Vec::new())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        drop(server);
        reader.await.unwrap();
        drop(log);
    }
}
