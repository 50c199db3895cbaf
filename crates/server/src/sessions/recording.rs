//! Session recordings as asciicast v2: a JSON header line, then
//! `[seconds, "o", text]` events for what the shell printed and
//! `[seconds, "r", "COLSxROWS"]` for resizes. The recorder reads the relayed
//! bytes passively with the protocol's decoder and follows each shell's
//! sequence numbers as the client's receive cursor does: a replay after a
//! resume is not recorded twice, and data past a gap (sent before the
//! replay of what was lost) waits for the replay.
//!
//! Each event is written to the file as it passes (no user-space buffer),
//! and the stream position after it to `ID.cast.pos`, before the relay
//! forwards the bytes; the relay syncs both to disk every second. A
//! reopened recording is appended to from its noted position. A recording stops at its size cap, at the state directory's
//! free-space floor, or at a write error, ending with an `"m"` marker event.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use airlock_wire::{AckKind, ChannelId, ChannelKind, Decoder, Frame, Stream};

use super::recording_position::{Position, PositionFile};

/// At most this much output text in one `"o"` event, so that every line of
/// a recording fits in one replay page.
pub const MAX_EVENT_TEXT: usize = 32 * 1024;
/// Room kept below the cap for the closing marker.
const MARKER_ROOM: u64 = 512;
/// How often (in bytes written) the free space is checked again.
const FREE_CHECK_EVERY: u64 = 1 << 20;

/// What a recording may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest the `.cast` file may grow, marker included.
    pub max_bytes: u64,
    /// Stop when the filesystem holding the file has less free than this.
    pub min_free_bytes: u64,
}

/// How a recording ended early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopKind {
    /// The size cap or the free-space floor: the file ends with a marker.
    Truncated,
    /// A write failed (e.g. ENOSPC).
    Failed,
}

impl StopKind {
    /// The session's `RecordingStatus`.
    pub fn status(self) -> &'static str {
        match self {
            StopKind::Truncated => "Truncated",
            StopKind::Failed => "Failed",
        }
    }
}

/// Why and where a recording stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stopped {
    pub kind: StopKind,
    pub reason: String,
    /// The file's size when it stopped.
    pub bytes: u64,
}

/// Records one session's shell channels.
pub struct Recorder {
    file: Arc<File>,
    path: PathBuf,
    limits: Limits,
    written: u64,
    since_free_check: u64,
    dirty: Arc<AtomicBool>,
    started: Instant,
    header_written: bool,
    /// Reopened without a noted position (an older recording): adopt the
    /// shells opened before the restart where the client resumes them.
    unplaced: bool,
    /// Per shell channel: the next unit expected from the agent.
    shells: HashMap<ChannelId, u64>,
    position: Option<PositionFile>,
    /// The position changed since it was last noted.
    moved: bool,
    /// Units of output lost to a gap, not yet reported.
    gap: u64,
    /// Channels whose client resume point this transport already took: a
    /// client's resume point is taken once per channel, and only on a
    /// transport that resumed (never mid-stream, where in-flight output
    /// would pass unrecorded).
    resume_taken: Option<std::collections::HashSet<ChannelId>>,
    to_agent: Decoder,
    to_client: Decoder,
    broken: bool,
    stopped: Option<Stopped>,
}

fn mb(bytes: u64) -> u64 {
    bytes >> 20
}

/// Free bytes for unprivileged users on the filesystem holding `dir`.
pub fn free_bytes(dir: &Path) -> Option<u64> {
    let s = nix::sys::statvfs::statvfs(dir).ok()?;
    Some((s.blocks_available() as u64).saturating_mul(s.fragment_size() as u64))
}

/// Up to `n` bytes of `f` from `from`.
fn read_at(f: &mut File, from: u64, n: u64) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    f.seek(SeekFrom::Start(from))?;
    Read::take(&mut *f, n).read_to_end(&mut buf)?;
    Ok(buf)
}

/// Seconds into an existing recording: its last event's time, or the wall
/// time since its header's timestamp, whichever is later.
fn resume_offset(f: &mut File, len: u64) -> std::io::Result<f64> {
    let head = read_at(f, 0, 4096)?;
    let first = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let wall = serde_json::from_slice::<serde_json::Value>(first)
        .ok()
        .and_then(|h| h["timestamp"].as_i64())
        .map(|ts| (time::OffsetDateTime::now_utc().unix_timestamp() - ts).max(0) as f64)
        .unwrap_or(0.0);
    let from = len.saturating_sub(64 * 1024);
    let tail = read_at(f, from, 64 * 1024)?;
    let last = tail
        .split(|&b| b == b'\n')
        .rev()
        .filter_map(|l| serde_json::from_slice::<serde_json::Value>(l).ok())
        .find_map(|ev| ev[0].as_f64())
        .unwrap_or(0.0);
    Ok(wall.max(last))
}

/// Cuts a partial last line (a crash mid-write) so the file stays valid.
fn drop_partial_line(f: &mut File, len: u64) -> std::io::Result<u64> {
    let from = len.saturating_sub(64 * 1024);
    let tail = read_at(f, from, 64 * 1024)?;
    if tail.last().is_none_or(|&b| b == b'\n') {
        return Ok(len);
    }
    let keep = match tail.iter().rposition(|&b| b == b'\n') {
        Some(i) => from + i as u64 + 1,
        None if from == 0 => 0,
        None => return Ok(len),
    };
    f.set_len(keep)?;
    Ok(keep)
}

impl Recorder {
    /// Opens `path` for appending (creating it); an existing recording is
    /// continued, never truncated.
    pub fn open(path: &Path, limits: Limits) -> std::io::Result<Self> {
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)?;
        let meta = file.metadata()?;
        let mut len = meta.len();
        // Only a regular file has a position worth keeping (not /dev/full).
        let (position, held) = match meta.is_file() {
            true => {
                let (p, held) = PositionFile::open(path)?;
                (Some(p), held)
            }
            false => (None, None),
        };
        // A position past the file's end: the machine went down after the
        // position reached the disk but before the recording's last writes
        // did. Those bytes were relayed, so no replay brings them: a gap.
        let lost = held
            .as_ref()
            .map_or(0, |h| h.cast_bytes.saturating_sub(len));
        let mut started = Instant::now();
        if len > 0 {
            len = match &held {
                // Drop what was written after the last noted position: it
                // was never relayed, and the replay brings it again.
                Some(h) if lost == 0 => {
                    file.set_len(h.cast_bytes)?;
                    h.cast_bytes
                }
                _ => drop_partial_line(&mut file, len)?,
            };
            let offset = resume_offset(&mut file, len)?;
            started = Instant::now()
                .checked_sub(Duration::from_secs_f64(offset))
                .unwrap_or(started);
        }
        let shells = held
            .iter()
            .flat_map(|h| &h.shells)
            .map(|&(c, next)| (ChannelId(c), next))
            .collect();
        let max = airlock_wire::frame::MAX_MAX_PAYLOAD;
        let mut r = Self {
            file: Arc::new(file),
            path: path.to_owned(),
            limits,
            written: len,
            since_free_check: 0,
            dirty: Arc::new(AtomicBool::new(false)),
            started,
            header_written: len > 0,
            unplaced: len > 0 && held.is_none(),
            shells,
            position,
            moved: false,
            gap: 0,
            // Reopened (a file, or a position that outlived it): the next
            // transport is a resumed one.
            resume_taken: (len > 0 || held.is_some()).then(Default::default),
            to_agent: Decoder::new(max),
            to_client: Decoder::new(max),
            broken: false,
            stopped: None,
        };
        if lost > 0 {
            if !r.header_written {
                r.header(80, 24, "xterm-256color");
            }
            r.event(
                "m",
                &format!("recording gap: {lost} bytes of the recording lost when the server's machine went down"),
            );
            r.gap = lost;
        }
        r.check_free();
        Ok(r)
    }

    /// Why the recording stopped, if it did.
    pub fn stopped(&self) -> Option<&Stopped> {
        self.stopped.as_ref()
    }

    /// What the relay's ticker needs to sync the file: the file and a flag
    /// set when something was written since the last sync.
    pub fn syncer(&self) -> (Arc<File>, Arc<AtomicBool>) {
        (self.file.clone(), self.dirty.clone())
    }

    fn elapsed(&self) -> f64 {
        (self.started.elapsed().as_secs_f64() * 1e6).round() / 1e6
    }

    /// Writes one line whole, or stops the recording.
    fn write_line(&mut self, line: &str) {
        if self.stopped.is_some() {
            return;
        }
        let n = line.len() as u64 + 1;
        if self.written + n + MARKER_ROOM > self.limits.max_bytes {
            let cap = mb(self.limits.max_bytes);
            self.cut(StopKind::Truncated, format!("size cap {cap} MB reached"));
            return;
        }
        if self.since_free_check + n >= FREE_CHECK_EVERY {
            self.check_free();
            if self.stopped.is_some() {
                return;
            }
        }
        let mut buf = Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line.as_bytes());
        buf.push(b'\n');
        match (&*self.file).write_all(&buf) {
            Ok(()) => {
                self.written += n;
                self.since_free_check += n;
                self.moved = true;
                self.dirty.store(true, Ordering::Relaxed);
            }
            Err(e) => {
                // Drop a partly written line; keep what was whole.
                let _ = self.file.set_len(self.written);
                self.stopped = Some(Stopped {
                    kind: StopKind::Failed,
                    reason: format!("cannot write {}: {e}", self.path.display()),
                    bytes: self.written,
                });
            }
        }
    }

    fn check_free(&mut self) {
        self.since_free_check = 0;
        let dir = self.path.parent().unwrap_or(Path::new("."));
        if let Some(free) = free_bytes(dir)
            && free < self.limits.min_free_bytes
        {
            let floor = mb(self.limits.min_free_bytes);
            self.cut(
                StopKind::Truncated,
                format!("less than {floor} MB free in the state directory"),
            );
        }
    }

    /// Ends a recording whose session was cut short (unless it already
    /// stopped): a marker event naming `why`, status `Truncated`.
    pub fn cut_short(&mut self, why: &str) -> Option<&Stopped> {
        if self.stopped.is_none() {
            self.cut(StopKind::Truncated, why.to_owned());
            self.note_position();
        }
        self.stopped.as_ref()
    }

    /// Notes the position after what was written, before the relay
    /// forwards it; a failure stops the recording.
    fn note_position(&mut self) {
        let Some(file) = self.position.as_ref().filter(|_| self.moved) else {
            return;
        };
        self.moved = false;
        let mut shells: Vec<(u32, u64)> = self.shells.iter().map(|(c, &n)| (c.0, n)).collect();
        shells.sort_unstable();
        let pos = Position {
            cast_bytes: self.written,
            shells,
        };
        if let Err(e) = file.note(&pos)
            && self.stopped.is_none()
        {
            let at = super::recording_position::path_for(&self.path);
            self.stopped = Some(Stopped {
                kind: StopKind::Failed,
                reason: format!("cannot note the position in {}: {e}", at.display()),
                bytes: self.written,
            });
        }
    }

    /// Ends the recording with a marker event naming `why`.
    fn cut(&mut self, kind: StopKind, why: String) {
        let text = format!("recording stopped: {why}");
        let line = serde_json::json!([self.elapsed(), "m", text]).to_string();
        let mut stop = Stopped {
            kind,
            reason: text,
            bytes: self.written,
        };
        if self.header_written {
            match (&*self.file).write_all(format!("{line}\n").as_bytes()) {
                Ok(()) => {
                    self.written += line.len() as u64 + 1;
                    stop.bytes = self.written;
                    self.moved = true;
                    self.dirty.store(true, Ordering::Relaxed);
                }
                Err(e) => {
                    let _ = self.file.set_len(self.written);
                    stop.reason = format!("{}; the marker was not written: {e}", stop.reason);
                }
            }
        }
        self.stopped = Some(stop);
    }

    fn event(&mut self, kind: &str, data: &str) {
        let line = serde_json::json!([self.elapsed(), kind, data]).to_string();
        self.write_line(&line);
    }

    fn output(&mut self, text: &str) {
        let mut rest = text;
        while !rest.is_empty() && self.stopped.is_none() {
            let mut end = rest.len().min(MAX_EVENT_TEXT);
            while !rest.is_char_boundary(end) {
                end -= 1;
            }
            self.event("o", &rest[..end]);
            rest = &rest[end..];
        }
    }

    fn header(&mut self, cols: u16, rows: u16, term: &str) {
        if self.header_written {
            self.event("r", &format!("{cols}x{rows}"));
            return;
        }
        self.header_written = true;
        let ts = time::OffsetDateTime::now_utc().unix_timestamp();
        let h = serde_json::json!({"version": 2, "width": cols, "height": rows, "timestamp": ts, "env": {"TERM": term}});
        self.write_line(&h.to_string());
    }

    /// Feeds bytes going from `client` (true) or from the agent. Returns
    /// why the recording stopped, once, when these bytes stopped it.
    pub fn feed(&mut self, from_client: bool, mut bytes: &[u8]) -> Option<Stopped> {
        if self.stopped.is_some() {
            return None;
        }
        while !bytes.is_empty() && !self.broken && self.stopped.is_none() {
            let dec = if from_client {
                &mut self.to_agent
            } else {
                &mut self.to_client
            };
            let n = dec.feed(bytes);
            bytes = &bytes[n..];
            while self.stopped.is_none() {
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
        self.note_position();
        self.stopped.clone()
    }

    /// Output the recording lacks since the last call (a gap at a resume),
    /// for the relay to report.
    pub fn take_gap(&mut self) -> Option<u64> {
        (self.gap > 0).then(|| std::mem::take(&mut self.gap))
    }

    /// A new transport starts mid-stream at a frame boundary: reset decoders.
    pub fn reconnected(&mut self) {
        let max = airlock_wire::frame::MAX_MAX_PAYLOAD;
        self.to_agent = Decoder::new(max);
        self.to_client = Decoder::new(max);
        self.broken = false;
        self.resume_taken = Some(Default::default());
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
            // The client's resume point: where an older recording (no
            // noted position) goes on, and past this one's position a gap
            // the node will not send again (a server that lost its last
            // writes): marked in the recording and reported, never skipped.
            Frame::Ack {
                channel,
                received,
                kind: AckKind::Resume | AckKind::ResumeRequest,
            } if from_client
                && self
                    .resume_taken
                    .as_mut()
                    .is_some_and(|taken| taken.insert(channel)) =>
            {
                match self.shells.get(&channel).copied() {
                    None if self.unplaced => {
                        self.shells.insert(channel, received);
                    }
                    Some(next) if received > next => {
                        let lost = received - next;
                        self.event(
                            "m",
                            &format!("recording gap: {lost} bytes the server did not record"),
                        );
                        self.gap = self.gap.saturating_add(lost);
                        self.shells.insert(channel, received);
                        self.moved = true;
                    }
                    _ => {}
                }
            }
            Frame::Data {
                channel,
                seq,
                stream,
                data,
            } if !from_client => {
                let next = match self.shells.get(&channel) {
                    Some(n) => *n,
                    None if self.unplaced => seq,
                    None => return,
                };
                let end = seq + data.len() as u64;
                // Past a gap (sent before the replay of what was lost), or
                // all seen already.
                if seq > next || end <= next {
                    return;
                }
                let fresh = data.get((next - seq) as usize..).unwrap_or_default();
                self.shells.insert(channel, end);
                self.moved = true;
                if stream == Stream::Main {
                    let text = String::from_utf8_lossy(fresh).into_owned();
                    self.output(&text);
                }
            }
            Frame::Eof { channel, seq }
                if !from_client && self.shells.get(&channel) == Some(&seq) =>
            {
                self.shells.insert(channel, seq + 1);
                self.moved = true;
            }
            Frame::Close { channel, seq, .. }
                if !from_client && self.shells.get(&channel) == Some(&seq) =>
            {
                self.shells.remove(&channel);
                self.moved = true;
            }
            _ => {}
        }
    }

    /// Syncs what was written to disk.
    pub fn flush(&mut self) {
        if self.dirty.swap(false, Ordering::Relaxed) {
            let _ = self.file.sync_data();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use airlock_wire::{Encoder, Open};
    use bytes::{Bytes, BytesMut};

    const ROOMY: Limits = Limits {
        max_bytes: 100 << 20,
        min_free_bytes: 0,
    };

    fn enc(f: &Frame) -> Vec<u8> {
        let mut b = BytesMut::new();
        Encoder::new(airlock_wire::frame::MAX_MAX_PAYLOAD)
            .encode(f, &mut b)
            .unwrap();
        b.to_vec()
    }

    fn open_shell(ch: ChannelId) -> Vec<u8> {
        enc(&Frame::Open {
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
        })
    }

    fn data(ch: ChannelId, seq: u64, d: &[u8]) -> Vec<u8> {
        enc(&Frame::Data {
            channel: ch,
            seq,
            stream: Stream::Main,
            data: Bytes::copy_from_slice(d),
        })
    }

    fn lines(p: &Path) -> Vec<String> {
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn shell_output_is_recorded_once_even_when_replayed() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("s.cast");
        let mut r = Recorder::open(&p, ROOMY).unwrap();
        let ch = ChannelId(1);
        r.feed(true, &open_shell(ch));
        let d1 = data(ch, 0, b"hello ");
        r.feed(false, &d1[..5]);
        r.feed(false, &d1[5..]);
        r.reconnected();
        r.feed(false, &d1);
        r.feed(false, &data(ch, 6, b"world"));
        let lines = lines(&p);
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(lines[0].contains("\"version\":2") && lines[0].contains("\"width\":80"));
        assert!(lines[1].ends_with(",\"o\",\"hello \"]"), "{}", lines[1]);
        assert!(lines[2].ends_with(",\"o\",\"world\"]"), "{}", lines[2]);
    }

    #[test]
    fn recording_reaches_the_file_as_frames_pass_without_a_flush_or_close() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("s.cast");
        let mut r = Recorder::open(&p, ROOMY).unwrap();
        let ch = ChannelId(1);
        r.feed(true, &open_shell(ch));
        r.feed(false, &data(ch, 0, b"on-disk-now"));
        let (_, dirty) = r.syncer();
        assert!(dirty.load(Ordering::Relaxed), "a sync is due");
        // Read through another handle while the recorder is still open.
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains("on-disk-now"), "{text:?}");
        r.flush();
        assert!(!dirty.load(Ordering::Relaxed));
        drop(r);
    }

    #[test]
    fn a_reopened_recording_is_appended_to_and_never_truncated() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("s.cast");
        let ch = ChannelId(1);
        first_life(&p, ch, b"before restart");
        // A crash left half a line behind.
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(b"[1.5, \"o\", \"half").unwrap();
        drop(f);
        // After a server restart the shell goes on; no new Open is seen.
        let mut r = Recorder::open(&p, ROOMY).unwrap();
        r.feed(false, &data(ch, 14, b"after restart"));
        let lines = lines(&p);
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(lines[0].contains("\"version\":2"));
        assert!(lines[1].contains("before restart"));
        assert!(lines[2].contains("after restart"));
        let t = |l: &str| serde_json::from_str::<serde_json::Value>(l).unwrap()[0].as_f64();
        assert!(t(&lines[2]) >= t(&lines[1]), "times keep going up");
    }

    /// A recorder that opened a shell, recorded `text` at 0, and went.
    fn first_life(p: &Path, ch: ChannelId, text: &[u8]) {
        let mut r = Recorder::open(p, ROOMY).unwrap();
        r.feed(true, &open_shell(ch));
        r.feed(false, &data(ch, 0, text));
    }

    /// After a reconnect: "three" sent before the client's resume point
    /// reached the agent, then the replay from "two" (lost with the
    /// transport).
    fn fresh_then_replay(r: &mut Recorder, ch: ChannelId) {
        r.feed(false, &data(ch, 8, b"three\n"));
        r.feed(false, &data(ch, 4, b"two\n"));
        r.feed(false, &data(ch, 8, b"three\n"));
    }

    fn outputs(p: &Path) -> Vec<String> {
        lines(p)[1..]
            .iter()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|ev| ev[1] == "o")
            .map(|ev| ev[2].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn data_past_a_gap_waits_for_the_replay_of_what_was_lost() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("s.cast");
        let mut r = Recorder::open(&p, ROOMY).unwrap();
        let ch = ChannelId(1);
        r.feed(true, &open_shell(ch));
        r.feed(false, &data(ch, 0, b"one\n"));
        // "two" was lost with the transport; after the reconnect the agent
        // sends "three" before the client's resume point reaches it, then
        // replays from that point.
        r.reconnected();
        fresh_then_replay(&mut r, ch);
        assert_eq!(outputs(&p), ["one\n", "two\n", "three\n"]);
    }

    #[test]
    fn after_a_restart_the_recording_goes_on_exactly_from_its_noted_position() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("s.cast");
        let ch = ChannelId(1);
        first_life(&p, ch, b"one\n");
        // Killed between writing an event and noting the position: that
        // event was never relayed, so it goes (the replay brings it).
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(b"[1.5,\"o\",\"two\\n\"]\n").unwrap();
        drop(f);
        // No Open after a restart; fresh data comes before the replay.
        let mut r = Recorder::open(&p, ROOMY).unwrap();
        fresh_then_replay(&mut r, ch);
        drop(r);
        assert_eq!(outputs(&p), ["one\n", "two\n", "three\n"]);
        // The same after a second restart: nothing twice.
        let mut r = Recorder::open(&p, ROOMY).unwrap();
        r.feed(false, &data(ch, 4, b"two\nthree\n"));
        r.feed(false, &data(ch, 14, b"four\n"));
        assert_eq!(outputs(&p), ["one\n", "two\n", "three\n", "four\n"]);
    }

    #[test]
    fn a_client_resuming_past_the_recording_leaves_a_marked_and_reported_gap() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("s.cast");
        let ch = ChannelId(1);
        first_life(&p, ch, b"one\n");
        // The client already has "two" (4..8): a server that lost its
        // last writes. The node replays from 8 only.
        let mut r = Recorder::open(&p, ROOMY).unwrap();
        let resume = enc(&Frame::Ack {
            channel: ch,
            received: 8,
            kind: AckKind::ResumeRequest,
        });
        r.feed(true, &resume);
        assert_eq!(r.take_gap(), Some(4));
        assert_eq!(r.take_gap(), None, "reported once");
        r.feed(false, &data(ch, 8, b"three\n"));
        assert_eq!(outputs(&p), ["one\n", "three\n"]);
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(
            text.contains(r#""m","recording gap: 4 bytes the server did not record"]"#),
            "{text}"
        );
        // A resume at or before the position is no gap.
        r.reconnected();
        r.feed(true, &resume);
        assert_eq!(r.take_gap(), None);
        // A second resume point on the same transport (a client's forged
        // mid-stream request) moves nothing: output in flight is recorded.
        let forged = enc(&Frame::Ack {
            channel: ch,
            received: 20,
            kind: AckKind::ResumeRequest,
        });
        r.feed(true, &forged);
        assert_eq!(r.take_gap(), None);
        r.feed(false, &data(ch, 14, b"four\n"));
        assert_eq!(outputs(&p), ["one\n", "three\n", "four\n"]);
    }

    #[test]
    fn a_position_past_the_end_of_the_file_is_a_reported_gap() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("s.cast");
        let ch = ChannelId(1);
        first_life(&p, ch, b"one\n");
        let mut r = Recorder::open(&p, ROOMY).unwrap();
        r.feed(false, &data(ch, 4, b"two\n"));
        drop(r);
        // The machine went down: the position reached the disk, the
        // recording's last line ("two", relayed) did not.
        let text = std::fs::read_to_string(&p).unwrap();
        let cut = text.trim_end_matches('\n').rfind('\n').unwrap() + 1;
        let lost = (text.len() - cut) as u64;
        std::fs::OpenOptions::new()
            .write(true)
            .open(&p)
            .unwrap()
            .set_len(cut as u64)
            .unwrap();
        let mut r = Recorder::open(&p, ROOMY).unwrap();
        assert_eq!(r.take_gap(), Some(lost));
        assert_eq!(r.take_gap(), None, "reported once");
        // The replay of what the client missed is not recorded twice, and
        // the recording goes on after the marker.
        r.feed(false, &data(ch, 4, b"two\n"));
        r.feed(false, &data(ch, 8, b"three\n"));
        assert_eq!(outputs(&p), ["one\n", "three\n"]);
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(
            text.contains(&format!(
                r#""m","recording gap: {lost} bytes of the recording lost when the server's machine went down"]"#
            )),
            "{text}"
        );
    }

    #[test]
    fn a_resume_point_on_the_first_transport_is_ignored() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("s.cast");
        let ch = ChannelId(1);
        let mut r = Recorder::open(&p, ROOMY).unwrap();
        r.feed(true, &open_shell(ch));
        r.feed(false, &data(ch, 0, b"one\n"));
        let forged = enc(&Frame::Ack {
            channel: ch,
            received: 100,
            kind: AckKind::ResumeRequest,
        });
        r.feed(true, &forged);
        assert_eq!(r.take_gap(), None);
        r.feed(false, &data(ch, 4, b"two\n"));
        assert_eq!(outputs(&p), ["one\n", "two\n"]);
    }

    #[test]
    fn an_older_recording_without_a_position_resumes_where_the_client_does() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("s.cast");
        let ch = ChannelId(1);
        first_life(&p, ch, b"one\n");
        std::fs::remove_file(super::super::recording_position::path_for(&p)).unwrap();
        let mut r = Recorder::open(&p, ROOMY).unwrap();
        let resume = enc(&Frame::Ack {
            channel: ch,
            received: 4,
            kind: AckKind::ResumeRequest,
        });
        r.feed(true, &resume);
        r.feed(false, &data(ch, 8, b"three\n"));
        r.feed(false, &data(ch, 4, b"two\nthree\n"));
        assert_eq!(outputs(&p), ["one\n", "two\nthree\n"]);
    }

    #[test]
    fn recording_stops_at_its_size_cap_with_a_marker() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("s.cast");
        let cap = 1 << 20;
        let mut r = Recorder::open(
            &p,
            Limits {
                max_bytes: cap,
                min_free_bytes: 0,
            },
        )
        .unwrap();
        let ch = ChannelId(1);
        r.feed(true, &open_shell(ch));
        let chunk = vec![b'A'; 200_000];
        let mut stops = Vec::new();
        for i in 0..20u64 {
            if let Some(s) = r.feed(false, &data(ch, i * 200_000, &chunk)) {
                stops.push(s);
            }
        }
        assert_eq!(stops.len(), 1, "the stop is reported once: {stops:?}");
        let s = &stops[0];
        assert_eq!(s.kind, StopKind::Truncated);
        assert_eq!(s.reason, "recording stopped: size cap 1 MB reached");
        let size = std::fs::metadata(&p).unwrap().len();
        assert_eq!(size, s.bytes);
        assert!(size <= cap && size > cap / 2, "{size}");
        let lines = lines(&p);
        assert!(
            lines[1..lines.len() - 1].iter().all(|l| l.len() < 40_000),
            "output is split into small events"
        );
        let last: serde_json::Value = serde_json::from_str(lines.last().unwrap()).unwrap();
        assert_eq!(last[1], "m");
        assert_eq!(last[2], "recording stopped: size cap 1 MB reached");
    }

    #[test]
    fn recording_stops_below_the_free_space_floor() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("s.cast");
        let free = free_bytes(tmp.path()).unwrap();
        let mut r = Recorder::open(
            &p,
            Limits {
                max_bytes: 100 << 20,
                min_free_bytes: free + (1 << 40),
            },
        )
        .unwrap();
        let stop = r.stopped().cloned().unwrap();
        assert_eq!(stop.kind, StopKind::Truncated);
        assert!(
            stop.reason.contains("MB free in the state directory"),
            "{stop:?}"
        );
        assert_eq!(r.feed(true, &open_shell(ChannelId(1))), None);
    }

    #[test]
    fn a_write_error_stops_recording_as_failed() {
        let dev_full = Path::new("/dev/full");
        let mut r = Recorder::open(dev_full, ROOMY).unwrap();
        let stop = r.feed(true, &open_shell(ChannelId(1))).unwrap();
        assert_eq!(stop.kind, StopKind::Failed);
        assert!(stop.reason.contains("/dev/full"), "{stop:?}");
        assert_eq!(stop.kind.status(), "Failed");
    }
}
