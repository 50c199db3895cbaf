//! The error every API call returns: a code from `airlock_proto::ErrorCode`
//! (which fixes the HTTP status) and a message, sent as
//! `{"__type": code, "message": …}`, with the cause of a server fault kept
//! for the log; and how database failures read (a full disk says so, with
//! what to free).

use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

pub use airlock_proto::{ErrorBody, ErrorCode};
use std::sync::Arc;

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

/// An API call's failure: a code (which fixes the HTTP status), the message
/// the caller reads, and for server faults the cause, which the HTTP layer
/// logs with the request id and never sends.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// What went wrong inside the server (for 5xx): logged, not sent.
    pub cause: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl PartialEq for ApiError {
    fn eq(&self, other: &Self) -> bool {
        (self.code, &self.message) == (other.code, &other.message)
    }
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            cause: None,
        }
    }
    /// The HTTP status of the code.
    pub fn status(&self) -> u16 {
        self.code.status()
    }
    /// The body sent to the caller.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            code: self.code.as_str().to_owned(),
            message: self.message.clone(),
        }
    }
    pub fn no_such_entity(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NoSuchEntity, message)
    }
    pub fn already_exists(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::EntityAlreadyExists, message)
    }
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ValidationError, message)
    }
    pub fn access_denied(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::AccessDeniedException, message)
    }
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::UnrecognizedClientException, message)
    }
    /// A server fault: the caller reads `message`; `cause` goes to the log.
    pub fn internal_because(
        message: impl Into<String>,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            cause: Some(Arc::new(cause)),
            ..Self::new(ErrorCode::InternalFailure, message)
        }
    }
    /// A server fault whose message says all there is.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InternalFailure, message)
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
            ErrorCode::InsufficientStorageException,
            format!(
                "the state directory's disk is full ({place}); reads still work, writes wait for space: free space on that filesystem (old session recordings in {recordings}, other files on the disk) and retry; the server recovers by itself"
            ),
        )
    }
    pub fn is_disk_full(&self) -> bool {
        self.code == ErrorCode::InsufficientStorageException
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
        ApiError::internal_because("the server's database failed; see the server log", e)
    }
}
