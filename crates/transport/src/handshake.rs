//! The session protocol's handshake over a fresh transport: the client
//! (dialer) sends `Hello`, the agent (acceptor) answers `HelloAck`. Frames
//! are read exactly, so no byte after the handshake is lost.

use airlock_wire::handshake::{check_hello, check_hello_ack, hello, hello_ack};
use airlock_wire::{
    DEFAULT_MAX_PAYLOAD, Decoder, Encoder, Frame, HEADER_LEN, HelloAck, Negotiated, ResumeToken,
};
use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Largest handshake frame accepted.
const MAX_HANDSHAKE: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum HandshakeFailed {
    #[error("the connection closed during the session handshake")]
    Closed,
    #[error("session handshake: {0}")]
    Protocol(String),
}

async fn read_frame<T: AsyncRead + Unpin>(io: &mut T) -> Result<Frame, HandshakeFailed> {
    let mut header = [0u8; HEADER_LEN];
    io.read_exact(&mut header)
        .await
        .map_err(|_| HandshakeFailed::Closed)?;
    let len = u32::from_be_bytes([header[8], header[9], header[10], header[11]]) as usize;
    if len > MAX_HANDSHAKE {
        return Err(HandshakeFailed::Protocol(format!(
            "handshake frame of {len} bytes"
        )));
    }
    let mut payload = vec![0u8; len];
    io.read_exact(&mut payload)
        .await
        .map_err(|_| HandshakeFailed::Closed)?;
    let mut d = Decoder::new(MAX_HANDSHAKE as u32);
    d.feed(&header);
    d.feed(&payload);
    d.next_frame()
        .map_err(|e| HandshakeFailed::Protocol(e.to_string()))?
        .ok_or_else(|| HandshakeFailed::Protocol("incomplete handshake frame".into()))
}

async fn write_frame<T: AsyncWrite + Unpin>(io: &mut T, f: &Frame) -> Result<(), HandshakeFailed> {
    let mut buf = BytesMut::new();
    Encoder::new(MAX_HANDSHAKE as u32)
        .encode(f, &mut buf)
        .map_err(|e| HandshakeFailed::Protocol(e.to_string()))?;
    io.write_all(&buf)
        .await
        .map_err(|_| HandshakeFailed::Closed)?;
    io.flush().await.map_err(|_| HandshakeFailed::Closed)
}

/// The client's side: returns what was negotiated and the agent's answer
/// (whether it resumed, and the token for next time).
pub async fn dial<T: AsyncRead + AsyncWrite + Unpin>(
    io: &mut T,
    resume: Option<ResumeToken>,
) -> Result<(Negotiated, HelloAck), HandshakeFailed> {
    write_frame(io, &Frame::Hello(hello(DEFAULT_MAX_PAYLOAD, resume))).await?;
    match read_frame(io).await? {
        Frame::HelloAck(ack) => {
            let n = check_hello_ack(&ack).map_err(|e| HandshakeFailed::Protocol(e.to_string()))?;
            Ok((n, ack))
        }
        Frame::Error { reason, .. } => Err(HandshakeFailed::Protocol(reason)),
        other => Err(HandshakeFailed::Protocol(format!(
            "expected HelloAck, got {:?}",
            other.frame_type()
        ))),
    }
}

/// The agent's side. `decide` gets the offered resume token and returns
/// whether it resumes a live connection and the token to hand out.
pub async fn accept<T: AsyncRead + AsyncWrite + Unpin>(
    io: &mut T,
    decide: impl FnOnce(Option<&ResumeToken>) -> (bool, ResumeToken),
) -> Result<(Negotiated, bool), HandshakeFailed> {
    let h = match read_frame(io).await? {
        Frame::Hello(h) => h,
        other => {
            return Err(HandshakeFailed::Protocol(format!(
                "expected Hello, got {:?}",
                other.frame_type()
            )));
        }
    };
    let n = check_hello(&h).map_err(|e| HandshakeFailed::Protocol(e.to_string()))?;
    let (resumed, token) = decide(h.resume.as_ref());
    write_frame(
        io,
        &Frame::HelloAck(hello_ack(DEFAULT_MAX_PAYLOAD, resumed, token)),
    )
    .await?;
    Ok((n, resumed))
}
