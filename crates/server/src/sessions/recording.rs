//! Session recordings as asciicast v2: a JSON header line, then
//! `[seconds, "o", text]` events for what the shell printed and
//! `[seconds, "r", "COLSxROWS"]` for resizes. The recorder reads the relayed
//! bytes passively with the protocol's decoder; a replay after a resume is
//! recognised by its sequence numbers and not recorded twice.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use airlock_wire::{ChannelId, ChannelKind, Decoder, Frame, Stream};

/// Records one session's shell channels.
pub struct Recorder {
    out: BufWriter<File>,
    started: Instant,
    header_written: bool,
    shells: HashMap<ChannelId, u64>,
    to_agent: Decoder,
    to_client: Decoder,
    broken: bool,
}

impl Recorder {
    pub fn create(path: &Path) -> std::io::Result<Self> {
        let max = airlock_wire::frame::MAX_MAX_PAYLOAD;
        Ok(Self {
            out: BufWriter::new(File::create(path)?),
            started: Instant::now(),
            header_written: false,
            shells: HashMap::new(),
            to_agent: Decoder::new(max),
            to_client: Decoder::new(max),
            broken: false,
        })
    }

    fn event(&mut self, kind: &str, data: &str) {
        let t = self.started.elapsed().as_secs_f64();
        let line = serde_json::json!([(t * 1e6).round() / 1e6, kind, data]);
        let _ = writeln!(self.out, "{line}");
    }

    fn header(&mut self, cols: u16, rows: u16, term: &str) {
        if self.header_written {
            self.event("r", &format!("{cols}x{rows}"));
            return;
        }
        self.header_written = true;
        let ts = time::OffsetDateTime::now_utc().unix_timestamp();
        let h = serde_json::json!({"version": 2, "width": cols, "height": rows, "timestamp": ts, "env": {"TERM": term}});
        let _ = writeln!(self.out, "{h}");
    }

    /// Feeds bytes going from `client` (true) or from the agent.
    pub fn feed(&mut self, from_client: bool, mut bytes: &[u8]) {
        while !bytes.is_empty() && !self.broken {
            let dec = if from_client {
                &mut self.to_agent
            } else {
                &mut self.to_client
            };
            let n = dec.feed(bytes);
            bytes = &bytes[n..];
            loop {
                let dec = if from_client {
                    &mut self.to_agent
                } else {
                    &mut self.to_client
                };
                match dec.next_frame() {
                    Ok(Some(f)) => self.frame(from_client, f),
                    Ok(None) => break,
                    Err(e) if e.is_fatal() => {
                        self.broken = true;
                        break;
                    }
                    Err(_) => {}
                }
            }
            if n == 0 {
                break;
            }
        }
    }

    /// A new transport starts mid-stream at a frame boundary: reset decoders.
    pub fn reconnected(&mut self) {
        let max = airlock_wire::frame::MAX_MAX_PAYLOAD;
        self.to_agent = Decoder::new(max);
        self.to_client = Decoder::new(max);
        self.broken = false;
    }

    fn frame(&mut self, from_client: bool, f: Frame) {
        match f {
            Frame::Open { channel, open } if from_client => {
                if let ChannelKind::Shell {
                    term, cols, rows, ..
                } = open.kind
                {
                    self.shells.entry(channel).or_insert(0);
                    self.header(cols, rows, &term);
                }
            }
            Frame::Resize {
                channel,
                cols,
                rows,
                ..
            } if from_client && self.shells.contains_key(&channel) => {
                self.event("r", &format!("{cols}x{rows}"));
            }
            Frame::Data {
                channel,
                seq,
                stream: Stream::Main,
                data,
            } if !from_client => {
                let Some(upto) = self.shells.get(&channel).copied() else {
                    return;
                };
                let end = seq + data.len() as u64;
                if end <= upto {
                    return;
                }
                let skip = upto.saturating_sub(seq) as usize;
                let fresh = data.get(skip..).unwrap_or_default();
                self.shells.insert(channel, end);
                let text = String::from_utf8_lossy(fresh).into_owned();
                self.event("o", &text);
            }
            _ => {}
        }
    }

    pub fn flush(&mut self) {
        let _ = self.out.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use airlock_wire::{Encoder, Open};
    use bytes::{Bytes, BytesMut};

    fn enc(f: &Frame) -> Vec<u8> {
        let mut b = BytesMut::new();
        Encoder::new(airlock_wire::DEFAULT_MAX_PAYLOAD)
            .encode(f, &mut b)
            .unwrap();
        b.to_vec()
    }

    #[test]
    fn shell_output_is_recorded_once_even_when_replayed() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("s.cast");
        let mut r = Recorder::create(&p).unwrap();
        let ch = ChannelId(1);
        let open = Frame::Open {
            channel: ch,
            open: Open {
                window: 1 << 20,
                session: None,
                run_as: None,
                kind: ChannelKind::Shell {
                    term: "xterm".into(),
                    cols: 80,
                    rows: 24,
                    env: vec![],
                    command: None,
                },
            },
        };
        r.feed(true, &enc(&open));
        let d1 = Frame::Data {
            channel: ch,
            seq: 0,
            stream: Stream::Main,
            data: Bytes::from_static(b"hello "),
        };
        let d2 = Frame::Data {
            channel: ch,
            seq: 6,
            stream: Stream::Main,
            data: Bytes::from_static(b"world"),
        };
        let bytes = enc(&d1);
        r.feed(false, &bytes[..5]);
        r.feed(false, &bytes[5..]);
        r.reconnected();
        r.feed(false, &enc(&d1));
        r.feed(false, &enc(&d2));
        r.flush();
        let text = std::fs::read_to_string(&p).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].contains("\"version\":2") && lines[0].contains("\"width\":80"));
        assert!(lines[1].ends_with(",\"o\",\"hello \"]"), "{}", lines[1]);
        assert!(lines[2].ends_with(",\"o\",\"world\"]"), "{}", lines[2]);
    }
}
