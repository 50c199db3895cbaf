//! Reading a recording back in pages, so that a large one is served in
//! bounded pieces: each page ends at a line end where it can (and always
//! at a UTF-8 character boundary), and names the offset of the next.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// The most one page holds, and the default.
pub const MAX_PAGE: u64 = 1 << 20;

/// One page of a recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub text: String,
    /// Where the next page starts; None at the end of the file.
    pub next: Option<u64>,
    /// The file's size when read.
    pub total: u64,
}

/// Reads up to `limit` bytes of `path` from `offset`.
pub fn read_page(path: &Path, offset: u64, limit: u64) -> std::io::Result<Page> {
    let mut f = File::open(path)?;
    let total = f.metadata()?.len();
    let offset = offset.min(total);
    f.seek(SeekFrom::Start(offset))?;
    let mut buf = Vec::new();
    f.take(limit.clamp(1, MAX_PAGE)).read_to_end(&mut buf)?;
    let end_of_file = offset + buf.len() as u64 >= total;
    if !end_of_file {
        match buf.iter().rposition(|&b| b == b'\n') {
            Some(i) => buf.truncate(i + 1),
            None => {
                let whole = match std::str::from_utf8(&buf) {
                    Ok(_) => buf.len(),
                    Err(e) if e.error_len().is_none() => e.valid_up_to(),
                    Err(_) => buf.len(),
                };
                buf.truncate(whole.max(1));
            }
        }
    }
    let next = offset + buf.len() as u64;
    Ok(Page {
        text: String::from_utf8_lossy(&buf).into_owned(),
        next: (next < total).then_some(next),
        total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recording_pages_end_at_line_ends_and_join_to_the_whole_file() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("r.cast");
        let mut whole = String::from("{\"version\":2}\n");
        for i in 0..500 {
            whole.push_str(&format!("[{i}.0, \"o\", \"line {i} é€\"]\n"));
        }
        std::fs::write(&p, &whole).unwrap();
        let (mut joined, mut at, mut pages) = (String::new(), Some(0), 0);
        while let Some(off) = at {
            let page = read_page(&p, off, 1000).unwrap();
            assert!(page.text.len() <= 1000);
            assert!(page.text.ends_with('\n'), "{:?}", page.text);
            joined.push_str(&page.text);
            at = page.next;
            pages += 1;
        }
        assert_eq!(joined, whole);
        assert!(pages > 10);
    }

    #[test]
    fn a_line_longer_than_a_page_is_split_at_a_character_boundary() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("r.cast");
        let whole = "€".repeat(1000);
        std::fs::write(&p, &whole).unwrap();
        let page = read_page(&p, 0, 100).unwrap();
        assert_eq!(page.text, "€".repeat(33));
        assert_eq!(page.next, Some(99));
        let last = read_page(&p, 2991, 100).unwrap();
        assert_eq!((last.text.as_str(), last.next), ("€€€", None));
        assert_eq!(read_page(&p, 9999, 100).unwrap().text, "");
    }
}
