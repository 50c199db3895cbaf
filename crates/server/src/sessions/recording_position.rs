//! Where a session recording stands in the relayed stream, kept beside its
//! `.cast` file (`ID.cast.pos`): for each shell channel the next sequence
//! unit expected from the agent, and the `.cast` length that position
//! belongs to. A recording reopened after a server restart continues from
//! there exactly: the agent's replay of what the client missed is neither
//! skipped nor recorded twice. One page, rewritten in place by one `pwrite`
//! after each write to the recording and before the bytes are relayed.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The position file's size: one page, so a rewrite is never torn by a kill.
pub const PAGE: usize = 4096;

/// A recording's place in its session's stream.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// The `.cast` file's length when this position was noted.
    pub cast_bytes: u64,
    /// `(channel, next unit expected from the agent)` for each shell channel.
    pub shells: Vec<(u32, u64)>,
}

/// The open position file of one recording.
pub struct PositionFile {
    file: File,
}

/// `ID.cast` → `ID.cast.pos`.
pub fn path_for(cast: &Path) -> PathBuf {
    let mut p = cast.as_os_str().to_owned();
    p.push(".pos");
    PathBuf::from(p)
}

impl PositionFile {
    /// Opens (creating) the position file of the recording at `cast`, with
    /// the position it holds; `None` when it is new or unreadable.
    pub fn open(cast: &Path) -> std::io::Result<(Self, Option<Position>)> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path_for(cast))?;
        let mut buf = Vec::new();
        Read::take(&mut file, PAGE as u64).read_to_end(&mut buf)?;
        let held = serde_json::from_slice::<Position>(buf.trim_ascii_end()).ok();
        Ok((Self { file }, held))
    }

    /// Notes `pos`, padded to one page.
    pub fn note(&self, pos: &Position) -> std::io::Result<()> {
        let mut buf = serde_json::to_vec(pos).map_err(std::io::Error::other)?;
        if buf.len() >= PAGE {
            return Err(std::io::Error::other(format!(
                "{} shell channels are more than the recording's position file holds",
                pos.shells.len()
            )));
        }
        buf.resize(PAGE - 1, b' ');
        buf.push(b'\n');
        self.file.write_all_at(&buf, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_noted_position_reads_back_and_a_shorter_one_replaces_a_longer() {
        let tmp = tempfile::tempdir().unwrap();
        let cast = tmp.path().join("s.cast");
        let (f, held) = PositionFile::open(&cast).unwrap();
        assert_eq!(held, None);
        let long = Position {
            cast_bytes: 123_456,
            shells: (0..40).map(|c| (c, u64::MAX - u64::from(c))).collect(),
        };
        f.note(&long).unwrap();
        let short = Position {
            cast_bytes: 7,
            shells: vec![(1, 9)],
        };
        f.note(&short).unwrap();
        drop(f);
        assert_eq!(
            std::fs::metadata(path_for(&cast)).unwrap().len(),
            PAGE as u64
        );
        let (_, held) = PositionFile::open(&cast).unwrap();
        assert_eq!(held, Some(short));
    }

    #[test]
    fn garbage_reads_as_no_position_and_too_many_channels_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let cast = tmp.path().join("s.cast");
        std::fs::write(path_for(&cast), b"{\"cast_bytes\":1,\"shel").unwrap();
        let (f, held) = PositionFile::open(&cast).unwrap();
        assert_eq!(held, None);
        let many = Position {
            cast_bytes: 0,
            shells: (0..400).map(|c| (c, u64::MAX)).collect(),
        };
        let e = f.note(&many).unwrap_err();
        assert!(e.to_string().contains("400 shell channels"), "{e}");
    }
}
