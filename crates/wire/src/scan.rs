//! Frame boundaries in a relayed byte stream, without decoding payloads: a
//! relay uses it to tell what a session carries (user data, or only
//! heartbeats and flow control) at the cost of reading 12-byte headers.

use crate::frame::{FrameType, HEADER_LEN};

/// Walks a stream of frames fed in arbitrary pieces.
#[derive(Debug, Default)]
pub struct FrameScanner {
    header: [u8; HEADER_LEN],
    have: usize,
    /// Payload bytes of the current frame still to skip.
    skip: u64,
    /// The stream is not a frame stream (bad header): stop reporting types.
    lost: bool,
}

impl FrameScanner {
    /// Feeds the next bytes; calls `seen` with the type of each frame whose
    /// header completes in them, or with None once the stream stops looking
    /// like frames (an unknown version or type).
    pub fn feed(&mut self, mut bytes: &[u8], mut seen: impl FnMut(Option<FrameType>)) {
        while !bytes.is_empty() {
            if self.lost {
                seen(None);
                return;
            }
            if self.skip > 0 {
                let n = bytes
                    .len()
                    .min(usize::try_from(self.skip).unwrap_or(usize::MAX));
                self.skip -= n as u64;
                bytes = &bytes[n..];
                continue;
            }
            let n = (HEADER_LEN - self.have).min(bytes.len());
            self.header[self.have..self.have + n].copy_from_slice(&bytes[..n]);
            self.have += n;
            bytes = &bytes[n..];
            if self.have < HEADER_LEN {
                return;
            }
            self.have = 0;
            let ty = FrameType::from_u8(self.header[1]);
            if self.header[0] != 1 || ty.is_none() {
                self.lost = true;
                continue;
            }
            let len = u32::from_be_bytes([
                self.header[8],
                self.header[9],
                self.header[10],
                self.header[11],
            ]);
            self.skip = u64::from(len);
            seen(ty);
        }
    }
}

impl FrameType {
    /// Whether a frame of this type is a user's doing (data, a channel
    /// opened or ended, a resize or signal), not the connection keeping
    /// itself alive (handshake, pings, acks, window updates).
    pub fn is_activity(self) -> bool {
        !matches!(
            self,
            FrameType::Hello
                | FrameType::HelloAck
                | FrameType::Ping
                | FrameType::Pong
                | FrameType::WindowUpdate
                | FrameType::Ack
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(ty: u8, payload: usize) -> Vec<u8> {
        let mut f = vec![1, ty, 0, 0, 0, 0, 0, 1];
        f.extend_from_slice(&(payload as u32).to_be_bytes());
        f.extend(std::iter::repeat_n(7u8, payload));
        f
    }

    fn types(stream: &[u8], piece: usize) -> Vec<Option<FrameType>> {
        let mut s = FrameScanner::default();
        let mut out = Vec::new();
        for c in stream.chunks(piece) {
            s.feed(c, |t| out.push(t));
        }
        out
    }

    #[test]
    fn frames_are_found_in_any_pieces() {
        let mut stream = frame(0x03, 8);
        stream.extend(frame(0x20, 70_000));
        stream.extend(frame(0x22, 8));
        let want = vec![
            Some(FrameType::Ping),
            Some(FrameType::Data),
            Some(FrameType::Ack),
        ];
        for piece in [1, 5, 12, 13, 4096, 1 << 20] {
            assert_eq!(types(&stream, piece), want, "pieces of {piece}");
        }
    }

    #[test]
    fn a_stream_that_is_not_frames_reports_none() {
        let got = types(b"GET / HTTP/1.1\r\n\r\n", 64);
        assert_eq!(got.last(), Some(&None));
    }

    #[test]
    fn only_user_frames_are_activity() {
        assert!(FrameType::Data.is_activity() && FrameType::Resize.is_activity());
        assert!(!FrameType::Ping.is_activity() && !FrameType::Ack.is_activity());
    }
}
