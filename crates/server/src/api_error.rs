//! The error every API call returns: an AWS-style code, an HTTP status and a
//! message, sent as `{"__type": code, "message": …}`; and how database
//! failures read (a full disk says so, with what to free).

use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// The code of [`ApiError::disk_full`].
pub const DISK_FULL: &str = "InsufficientStorageException";

/// Database writes refused because the disk was full, since start.
pub static DISK_FULL_ERRORS: AtomicU64 = AtomicU64::new(0);

/// The state directory the disk-full message names (set when the
/// database pool opens).
static STATE_DIR: RwLock<Option<PathBuf>> = RwLock::new(None);

pub fn note_state_dir(dir: &Path) {
    if let Ok(mut d) = STATE_DIR.write() {
        *d = Some(dir.to_owned());
    }
}

/// Whether SQLite failed because the disk is full.
pub fn is_disk_full(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    #[serde(rename = "__type")]
    pub code: String,
    pub message: String,
    #[serde(skip)]
    pub status: u16,
}

impl ApiError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.to_owned(),
            message: message.into(),
            status,
        }
    }
    pub fn no_such_entity(message: impl Into<String>) -> Self {
        Self::new(404, "NoSuchEntity", message)
    }
    pub fn already_exists(message: impl Into<String>) -> Self {
        Self::new(409, "EntityAlreadyExists", message)
    }
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(400, "ValidationError", message)
    }
    pub fn access_denied(message: impl Into<String>) -> Self {
        Self::new(403, "AccessDeniedException", message)
    }
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(403, "UnrecognizedClientException", message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalFailure", message)
    }
    /// 507: the state directory's disk is full; says what to free.
    pub fn disk_full() -> Self {
        let dir = STATE_DIR.read().ok().and_then(|d| d.clone());
        let (place, recordings) = match &dir {
            Some(d) => (
                d.display().to_string(),
                d.join("recordings").display().to_string(),
            ),
            None => ("unknown".into(), "recordings".into()),
        };
        Self::new(
            507,
            DISK_FULL,
            format!(
                "the state directory's disk is full ({place}); reads still work, writes wait for space: free space on that filesystem (old session recordings in {recordings}, other files on the disk) and retry; the server recovers by itself"
            ),
        )
    }
    pub fn is_disk_full(&self) -> bool {
        self.code == DISK_FULL
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> Self {
        if is_disk_full(&e) {
            let n = DISK_FULL_ERRORS.fetch_add(1, Ordering::Relaxed) + 1;
            let err = ApiError::disk_full();
            // Once per 10 s at most: every background write fails too.
            static LAST: AtomicU64 = AtomicU64::new(0);
            let now = std::time::UNIX_EPOCH
                .elapsed()
                .map(|d| d.as_secs())
                .unwrap_or_default();
            let last = LAST.load(Ordering::Relaxed);
            if now >= last + 10
                && LAST
                    .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
            {
                tracing::error!(error = %e, refused_writes = n, "{}", err.message);
            }
            return err;
        }
        tracing::error!(error = %e, "database error");
        ApiError::internal("the server's database failed; see the server log")
    }
}
