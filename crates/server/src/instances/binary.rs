//! `GET /v1/agent/binary`: the `airlock` binary that nodes run, for a
//! machine booting from its user data to fetch. Unauthenticated: the binary
//! is no secret, and the user data pins its SHA-256 (sent as
//! `X-Airlock-Sha256`, computed once per file version and cached).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

use crate::api_error::ApiError;
use crate::http::Shared;

/// The path nodes fetch the agent from.
pub const BINARY_PATH: &str = "/v1/agent/binary";
/// The header that carries the binary's SHA-256 (hex).
pub const SHA256_HEADER: &str = "x-airlock-sha256";

/// The file a digest was computed for: path, length and mtime.
type Version = (PathBuf, u64, Option<SystemTime>);

/// The last digest computed, with the file version it belongs to.
static DIGEST: Mutex<Option<(Version, String)>> = Mutex::new(None);

fn version(path: &Path) -> std::io::Result<Version> {
    let m = std::fs::metadata(path)?;
    Ok((path.to_owned(), m.len(), m.modified().ok()))
}

/// The SHA-256 (hex) of the file at `path`, computed once per version of
/// the file (its length and mtime) and cached. Blocking: reads the file the
/// first time.
pub fn sha256(path: &Path) -> std::io::Result<String> {
    let v = version(path)?;
    if let Ok(g) = DIGEST.lock()
        && let Some((seen, hex)) = g.as_ref()
        && *seen == v
    {
        return Ok(hex.clone());
    }
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h)?;
    let hex = hex::encode(h.finalize());
    if let Ok(mut g) = DIGEST.lock() {
        *g = Some((v, hex.clone()));
    }
    Ok(hex)
}

fn unreadable(path: &Path, e: std::io::Error) -> ApiError {
    ApiError::internal_because(
        "the agent binary is not available on this server",
        std::io::Error::new(e.kind(), format!("{}: {e}", path.display())),
    )
}

/// Streams the binary with its length and SHA-256; the file is read in
/// chunks, never held whole in memory.
pub async fn binary(State(state): State<Shared>) -> Response {
    serve(state.clusters.exe.clone()).await
}

/// The answer for the binary at `path`.
pub async fn serve(path: PathBuf) -> Response {
    let p2 = path.clone();
    let digest = match tokio::task::spawn_blocking(move || sha256(&p2)).await {
        Ok(Ok(d)) => d,
        Ok(Err(e)) => return unreadable(&path, e).into_response(),
        Err(e) => {
            return ApiError::internal_because("hashing the agent binary", e).into_response();
        }
    };
    let file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) => return unreadable(&path, e).into_response(),
    };
    let len = file.metadata().await.map(|m| m.len()).ok();
    let chunks = futures_util::stream::unfold(file, |mut f| async move {
        let mut buf = vec![0u8; 64 * 1024];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(bytes::Bytes::from(buf)), f))
            }
            Err(e) => Some((Err(e), f)),
        }
    });
    let mut resp = Response::new(Body::from_stream(chunks));
    *resp.status_mut() = StatusCode::OK;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Some(n) = len {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(n));
    }
    if let Ok(v) = HeaderValue::from_str(&digest) {
        h.insert(SHA256_HEADER, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;
    use tower::ServiceExt;

    #[test]
    fn the_digest_follows_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("airlock");
        std::fs::write(&p, b"one").unwrap();
        let a = sha256(&p).unwrap();
        assert_eq!(a, hex::encode(Sha256::digest(b"one")));
        assert_eq!(sha256(&p).unwrap(), a);
        std::fs::write(&p, b"two!").unwrap();
        assert_eq!(sha256(&p).unwrap(), hex::encode(Sha256::digest(b"two!")));
    }

    #[tokio::test]
    async fn the_binary_streams_with_its_length_and_hash() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("airlock");
        let content: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&p, &content).unwrap();
        let resp = serve(p).await;
        assert_eq!(resp.status(), 200);
        let want = hex::encode(Sha256::digest(&content));
        assert_eq!(resp.headers()[SHA256_HEADER], want.as_str());
        assert_eq!(resp.headers()[header::CONTENT_LENGTH], "200000");
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        assert_eq!(&body[..], &content[..]);
    }

    #[tokio::test]
    async fn the_route_is_open_and_a_missing_binary_is_a_server_fault() {
        let h = crate::testing::Harness::new();
        let resp = h
            .app()
            .oneshot(Request::get(BINARY_PATH).body(Body::empty()).unwrap())
            .await
            .unwrap();
        // The harness's node binary ("airlock", relative) does not exist here.
        assert_eq!(resp.status(), 500);
    }
}
