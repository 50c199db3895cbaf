//! stdin and stdout as async streams for `airlock proxy`.
//!
//! ssh starts a ProxyCommand with a pipe on each side. A pipe is read and
//! written without blocking on the runtime's own thread, with its buffer
//! raised to 1 MiB so each wake-up moves more. Anything else (a terminal, a
//! file) goes through a reader thread and tokio's stdout, which hop through
//! other threads for every chunk.

use std::os::fd::AsFd;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::unix::pipe;

use crate::session_client as sc;

pub type Reader = Box<dyn AsyncRead + Send + Unpin>;
pub type Writer = Box<dyn AsyncWrite + Send + Unpin>;

/// The pipe buffer asked for (Linux's default is 64 KiB; unprivileged
/// users may raise it up to `/proc/sys/fs/pipe-max-size`, 1 MiB by default).
const PIPE_SIZE: i32 = 1 << 20;

/// Raises a pipe's buffer (best effort: a smaller one only means more wake-ups).
fn grow(fd: impl AsFd) {
    let _ = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_SETPIPE_SZ(PIPE_SIZE));
}

/// stdin; must be called inside the runtime.
pub fn stdin() -> Reader {
    if let Ok(fd) = std::io::stdin().as_fd().try_clone_to_owned()
        && let Ok(rx) = pipe::Receiver::from_owned_fd(fd)
    {
        grow(&rx);
        return Box::new(rx);
    }
    Box::new(ThreadStdin(sc::stdin_reader(), Vec::new(), 0))
}

/// stdout; must be called inside the runtime.
pub fn stdout() -> Writer {
    if let Ok(fd) = std::io::stdout().as_fd().try_clone_to_owned()
        && let Ok(tx) = pipe::Sender::from_owned_fd(fd)
    {
        grow(&tx);
        return Box::new(tx);
    }
    Box::new(tokio::io::stdout())
}

/// stdin as an `AsyncRead`, fed by [`sc::stdin_reader`]'s thread.
struct ThreadStdin(tokio::sync::mpsc::Receiver<Vec<u8>>, Vec<u8>, usize);

impl AsyncRead for ThreadStdin {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::task::Poll;
        loop {
            if self.2 < self.1.len() {
                let n = buf.remaining().min(self.1.len() - self.2);
                let start = self.2;
                buf.put_slice(&self.1[start..start + n]);
                self.2 += n;
                return Poll::Ready(Ok(()));
            }
            match self.0.poll_recv(cx) {
                Poll::Ready(Some(chunk)) => {
                    self.1 = chunk;
                    self.2 = 0;
                }
                Poll::Ready(None) => return Poll::Ready(Ok(())),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
