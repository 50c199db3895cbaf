//! Reading a recording back without holding it in memory, two ways:
//! - streamed: `GetSessionRecording` with `Stream: true` grants a
//!   single-use token, and `GET /v1/session/{id}/stream` with that token
//!   (and no Upgrade) streams the file, with no database access;
//! - in pages of at most 1 MiB, each ending at a line end where it can (and
//!   always at a UTF-8 character boundary) and naming the next page's offset.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use tokio::io::AsyncReadExt;

use crate::api_error::ApiError;
use crate::http::Shared;

/// The header carrying a recording download token.
pub const TOKEN_HEADER: &str = "x-airlock-recording-token";
/// How long a download token stays valid.
pub const TOKEN_TTL: Duration = Duration::from_secs(60);
/// Bytes read from the file per streamed chunk.
const CHUNK: usize = 64 * 1024;

/// What a download token grants.
pub struct Grant {
    pub session: String,
    pub path: PathBuf,
    pub expires: Instant,
}

/// Streams the recording that `token` grants for `session`, as far as it
/// was written when the download began.
pub async fn serve(state: &Shared, session: &str, token: &str) -> Response {
    let Some(path) = state.broker.redeem_replay(session, token) else {
        return ApiError::access_denied(
            "the recording token is not valid for this session (it is single-use and expires after 60 s)",
        )
        .into_response();
    };
    let file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) => {
            return ApiError::internal_because("cannot read the recording", e).into_response();
        }
    };
    let len = match file.metadata().await {
        Ok(m) => m.len(),
        Err(e) => {
            return ApiError::internal_because("cannot read the recording", e).into_response();
        }
    };
    let chunks = futures_util::stream::unfold(Some(file.take(len)), |f| async move {
        let mut f = f?;
        let mut buf = vec![0u8; CHUNK];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Bytes::from(buf)), Some(f)))
            }
            Err(e) => Some((Err(e), None)),
        }
    });
    let mut resp = Response::new(Body::from_stream(chunks));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-asciicast"),
    );
    resp
}

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
    fn recording_download_tokens_are_single_use_and_bound_to_their_session() {
        let b = crate::sessions::Broker::default();
        let p = PathBuf::from("/x.cast");
        let t = b.replay_token("alice-1", p.clone()).unwrap();
        assert_eq!(b.redeem_replay("bob-2", &t), None, "another session's");
        let t = b.replay_token("alice-1", p.clone()).unwrap();
        assert_eq!(b.redeem_replay("alice-1", "guess"), None);
        assert_eq!(b.redeem_replay("alice-1", &t), Some(p));
        assert_eq!(b.redeem_replay("alice-1", &t), None, "used once");
    }

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
