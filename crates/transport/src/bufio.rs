//! Buffers on the data path.
//!
//! Readers fill the rest of a buffer before taking a new one and copy small
//! reads out (so a few bytes never pin a large allocation), and
//! [`write_all_pieces`] writes frames without first copying them together.

use std::io;

use tokio::io::AsyncWrite;

/// Reads shorter than this are copied out of a reusable buffer rather than
/// handed on as slices of it: a small slice would pin the whole buffer for
/// as long as it is held (in a channel's queue, or a retransmit log).
pub const COPY_BELOW: usize = 16 * 1024;

/// Spare room below which a reader takes a fresh buffer instead of filling
/// the rest of its current one.
pub const MIN_READ: usize = 64 * 1024;

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

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 % 251) as u8).collect()
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
