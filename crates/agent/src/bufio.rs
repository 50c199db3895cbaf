//! Fewer, larger reads on the data path.
//!
//! rustls pulls TLS bytes from its socket a few KiB at a time (about one
//! `recvfrom` per record), and a TLS stream hands out one record's plaintext
//! per read. [`ReadAhead`] sits under TLS and reads the socket in large
//! pieces while data keeps coming; [`read_available`] takes every record
//! that is already decrypted, so one write carries many of them; and
//! [`write_all_pieces`] writes frames without first copying them together.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Reads shorter than this are copied out of a reusable buffer rather than
/// handed on as slices of it: a small slice would pin the whole buffer for
/// as long as it is held (in a channel's queue, or a retransmit log).
pub const COPY_BELOW: usize = 16 * 1024;

/// Spare room below which a reader takes a fresh buffer instead of filling
/// the rest of its current one.
pub const MIN_READ: usize = 64 * 1024;

/// Bytes read from the socket at a time once a stream is busy.
pub const READ_AHEAD: usize = 256 * 1024;
/// A read-ahead shorter than this means the stream is not busy: go back to
/// plain reads and free the buffer (an idle connection holds none).
const BUSY: usize = 16 * 1024;

/// A transport that reads ahead in [`READ_AHEAD`] pieces while its peer
/// keeps it busy, and passes writes through.
pub struct ReadAhead<T> {
    io: T,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    busy: bool,
}

impl<T> ReadAhead<T> {
    pub fn new(io: T) -> Self {
        ReadAhead {
            io,
            buf: Vec::new(),
            pos: 0,
            end: 0,
            busy: false,
        }
    }

    pub fn get_ref(&self) -> &T {
        &self.io
    }

    pub fn get_mut(&mut self) -> &mut T {
        &mut self.io
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for ReadAhead<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        dst: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.pos == this.end {
            if !this.busy || dst.remaining() >= READ_AHEAD {
                // Straight into the caller's buffer. Filling it means more
                // is probably waiting: read ahead from now on.
                let want = dst.remaining();
                let before = dst.filled().len();
                ready!(Pin::new(&mut this.io).poll_read(cx, dst))?;
                let n = dst.filled().len() - before;
                this.busy = want > 0 && n == want && want < READ_AHEAD;
                return Poll::Ready(Ok(()));
            }
            if this.buf.is_empty() {
                this.buf = vec![0; READ_AHEAD];
            }
            let mut rb = ReadBuf::new(&mut this.buf);
            ready!(Pin::new(&mut this.io).poll_read(cx, &mut rb))?;
            let n = rb.filled().len();
            (this.pos, this.end) = (0, n);
            if n < BUSY {
                this.busy = false;
            }
        }
        let n = dst.remaining().min(this.end - this.pos);
        dst.put_slice(&this.buf[this.pos..this.pos + n]);
        this.pos += n;
        if this.pos == this.end && !this.busy {
            this.buf = Vec::new();
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ReadAhead<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// Reads into `buf` what `from` has ready: waits for the first bytes, then
/// keeps reading until `buf` is full or `from` would block. 0 means EOF.
/// An error after some bytes were read is left for the next call.
pub fn read_available<'a, R: AsyncRead + Unpin + ?Sized>(
    from: &'a mut R,
    buf: &'a mut [u8],
) -> impl Future<Output = io::Result<usize>> + 'a {
    std::future::poll_fn(move |cx| {
        let mut filled = 0;
        while filled < buf.len() {
            let mut rb = ReadBuf::new(&mut buf[filled..]);
            match Pin::new(&mut *from).poll_read(cx, &mut rb) {
                Poll::Ready(Ok(())) if rb.filled().is_empty() => break,
                Poll::Ready(Ok(())) => filled += rb.filled().len(),
                Poll::Ready(Err(e)) if filled == 0 => return Poll::Ready(Err(e)),
                Poll::Pending if filled == 0 => return Poll::Pending,
                Poll::Ready(Err(_)) | Poll::Pending => break,
            }
        }
        Poll::Ready(Ok(filled))
    })
}

/// As [`read_available`], into the spare capacity of a `BytesMut` (at most
/// `limit` more bytes; it never grows the buffer).
pub fn read_available_buf<'a, R: AsyncRead + Unpin + ?Sized>(
    from: &'a mut R,
    buf: &'a mut bytes::BytesMut,
    limit: usize,
) -> impl Future<Output = io::Result<usize>> + 'a {
    use bytes::BufMut;
    std::future::poll_fn(move |cx| {
        let mut total = 0;
        loop {
            let room = (limit - total).min(buf.capacity() - buf.len());
            if room == 0 {
                break;
            }
            let mut dst = (&mut *buf).limit(room);
            match tokio_util::io::poll_read_buf(Pin::new(&mut *from), cx, &mut dst) {
                Poll::Ready(Ok(0)) => break,
                Poll::Ready(Ok(n)) => total += n,
                Poll::Ready(Err(e)) if total == 0 => return Poll::Ready(Err(e)),
                Poll::Pending if total == 0 => return Poll::Pending,
                Poll::Ready(Err(_)) | Poll::Pending => break,
            }
        }
        Poll::Ready(Ok(total))
    })
}

/// Writes every piece in order, with vectored writes (TLS encrypts straight
/// from the pieces: no copy into one buffer first).
pub async fn write_all_pieces<W: AsyncWrite + Unpin + ?Sized>(
    to: &mut W,
    mut pieces: Vec<bytes::Bytes>,
) -> io::Result<()> {
    use bytes::Buf;
    use tokio::io::AsyncWriteExt;
    /// Slices per call (Linux allows 1024).
    const MAX_SLICES: usize = 64;
    let mut first = 0;
    loop {
        while pieces.get(first).is_some_and(|p| p.is_empty()) {
            first += 1;
        }
        if first == pieces.len() {
            return Ok(());
        }
        let slices: Vec<io::IoSlice<'_>> = pieces[first..]
            .iter()
            .take(MAX_SLICES)
            .map(|p| io::IoSlice::new(p))
            .collect();
        let mut n = to.write_vectored(&slices).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        while n > 0 {
            let Some(p) = pieces.get_mut(first) else {
                break;
            };
            let take = n.min(p.len());
            p.advance(take);
            n -= take;
            if p.is_empty() {
                first += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A reader that hands out its data in pieces of the given sizes.
    struct Pieces(Vec<Vec<u8>>);

    impl AsyncRead for Pieces {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            dst: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            if let Some(p) = self.0.first_mut() {
                let n = p.len().min(dst.remaining());
                dst.put_slice(&p[..n]);
                p.drain(..n);
                if p.is_empty() {
                    self.0.remove(0);
                }
            }
            Poll::Ready(Ok(()))
        }
    }

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[tokio::test]
    async fn read_ahead_returns_the_stream_unchanged_for_any_read_sizes() {
        let all = data(3 * READ_AHEAD + 12345);
        let sizes = [4096, 100_000, 7, READ_AHEAD + 1, 20_000, 1];
        let mut pieces = Vec::new();
        let (mut at, mut i) = (0, 0);
        while at < all.len() {
            let n = sizes[i % sizes.len()].min(all.len() - at);
            pieces.push(all[at..at + n].to_vec());
            (at, i) = (at + n, i + 1);
        }
        let mut r = ReadAhead::new(Pieces(pieces));
        let mut out = Vec::new();
        let mut buf = Vec::new();
        for k in 0.. {
            buf.resize([4096, 17, 300_000, 16_709][k % 4], 0);
            let n = r.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        assert_eq!(out, all);
        assert!(r.buf.is_empty(), "an idle stream holds no buffer");
    }

    #[tokio::test]
    async fn read_available_gathers_what_is_ready() {
        let mut r = Pieces(vec![data(10), data(20), data(30)]);
        let mut buf = vec![0u8; 45];
        assert_eq!(read_available(&mut r, &mut buf).await.unwrap(), 45);
        assert_eq!(read_available(&mut r, &mut buf).await.unwrap(), 15);
        assert_eq!(read_available(&mut r, &mut buf).await.unwrap(), 0);
        let mut r = Pieces(vec![data(10), data(20)]);
        let mut b = bytes::BytesMut::with_capacity(64);
        assert_eq!(read_available_buf(&mut r, &mut b, 25).await.unwrap(), 25);
        assert_eq!(b.len(), 25);
    }

    #[tokio::test]
    async fn pieces_are_written_whole_and_in_order() {
        let (mut a, mut b) = tokio::io::duplex(1000);
        let parts: Vec<bytes::Bytes> = (0..200usize)
            .map(|i| bytes::Bytes::from(data(i % 7 * 100)))
            .collect();
        let want: Vec<u8> = parts.iter().flat_map(|p| p.to_vec()).collect();
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            b.read_to_end(&mut got).await.unwrap();
            got
        });
        write_all_pieces(&mut a, parts).await.unwrap();
        a.shutdown().await.unwrap();
        drop(a);
        assert_eq!(reader.await.unwrap(), want);
    }
}
