//! A local server's state directory: where it is, what lives in it, the
//! files by which a running server announces itself (pid, listen addresses,
//! endpoint, log) to `airlock server start|stop|status`, and the lock that
//! keeps two servers off the same state.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

/// The default API address of a local server.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7443";

/// Errors preparing the state directory. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum StateDirError {
    #[error(
        "cannot use state directory {path}: {source} (choose another with --state-dir or AIRLOCK_STATE_DIR, or fix its permissions)"
    )]
    Unusable { path: PathBuf, source: io::Error },
    #[error(
        "state directory {0} is in use by another airlock server (see `airlock server status`, or stop it with `airlock server stop`)"
    )]
    Locked(PathBuf),
    #[error("cannot find a home for the state directory: set --state-dir or AIRLOCK_STATE_DIR")]
    NoHome,
}

/// The default state directory: `/var/lib/airlock` for root, else
/// `$XDG_STATE_HOME/airlock` (`~/.local/state/airlock`).
pub fn default_path() -> Result<PathBuf, StateDirError> {
    if nix::unistd::geteuid().is_root() {
        return Ok(PathBuf::from("/var/lib/airlock"));
    }
    if let Some(xdg) = std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(xdg).join("airlock"));
    }
    let home = std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .ok_or(StateDirError::NoHome)?;
    Ok(PathBuf::from(home).join(".local/state/airlock"))
}

/// The layout of a state directory.
#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }
    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn database(&self) -> PathBuf {
        self.root.join("airlock.db")
    }
    pub fn pki(&self) -> PathBuf {
        self.root.join("pki")
    }
    pub fn pid_file(&self) -> PathBuf {
        self.root.join("server.pid")
    }
    pub fn log_file(&self) -> PathBuf {
        self.root.join("server.log")
    }
    /// Every address a running server listens on, one per line (ports as bound),
    /// written just before the endpoint file.
    pub fn listen_file(&self) -> PathBuf {
        self.root.join("server.listen")
    }
    /// The address file: where a running server says where it listens.
    pub fn endpoint_file(&self) -> PathBuf {
        self.root.join("server.endpoint")
    }
    fn lock_file(&self) -> PathBuf {
        self.root.join("server.lock")
    }

    /// Creates the directory (mode 0700) and checks that it is writable.
    pub fn prepare(&self) -> Result<(), StateDirError> {
        let unusable = |source| StateDirError::Unusable {
            path: self.root.clone(),
            source,
        };
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.root)
            .map_err(unusable)?;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(self.pki())
            .map_err(unusable)?;
        let probe = self.root.join(".write-test");
        File::create(&probe).map_err(unusable)?;
        fs::remove_file(&probe).map_err(unusable)?;
        let meta = fs::metadata(&self.root).map_err(unusable)?;
        if meta.permissions().mode() & 0o077 != 0 {
            fs::set_permissions(&self.root, fs::Permissions::from_mode(0o700)).map_err(unusable)?;
        }
        Ok(())
    }

    /// Takes the exclusive server lock, held for as long as the value lives.
    pub fn lock(&self) -> Result<Flock<File>, StateDirError> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.lock_file())
            .map_err(|source| StateDirError::Unusable {
                path: self.root.clone(),
                source,
            })?;
        Flock::lock(file, FlockArg::LockExclusiveNonblock)
            .map_err(|_| StateDirError::Locked(self.root.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_on_same_state_dir_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = StateDir::new(tmp.path().join("s"));
        dir.prepare().unwrap();
        let _held = dir.lock().unwrap();
        let err = dir.lock().unwrap_err();
        assert!(matches!(err, StateDirError::Locked(_)), "{err}");
    }

    #[test]
    fn state_dir_that_is_a_file_says_what_to_do() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("f");
        fs::write(&file, b"x").unwrap();
        let err = StateDir::new(&file).prepare().unwrap_err();
        assert!(err.to_string().contains("--state-dir"), "{err}");
    }

    #[test]
    fn unwritable_state_dir_says_what_to_do() {
        // Root writes through permissions, so the state dir sits on a
        // read-only filesystem: /proc, which no one can create in.
        let err = StateDir::new("/proc/airlock-state").prepare().unwrap_err();
        assert!(err.to_string().contains("--state-dir"), "{err}");
    }
}
