//! The node as `apply` sees it: the [`System`] trait (a root directory for
//! files, and every privileged act — commands, mounts, the hostname,
//! ownership, signalling PID 1, the clock) and [`Real`], which does it all
//! for real on this machine. Also the file primitives every step uses:
//! write only what differs, atomically, never through a symbolic link.

use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::fcntl::OFlag;

/// What applying a configuration needs of the machine. Paths are the
/// node's absolute paths (`/etc/hosts`); files live under [`System::root`].
pub trait System {
    /// Where the node's `/` is (`/` for real, a temporary directory in tests).
    fn root(&self) -> &Path;

    /// `path` (absolute, as on the node) under [`System::root`].
    fn host_path(&self, path: &str) -> PathBuf {
        self.root().join(path.trim_start_matches('/'))
    }

    /// Replaces the file at `path` atomically (a temporary file, then a
    /// rename) with `data` and `mode`, keeping the owner of the file it
    /// replaces.
    fn write_file(&mut self, path: &str, data: &[u8], mode: u32) -> Result<(), String> {
        replace_file(&self.host_path(path), data, mode)
    }

    /// The owner (uid, gid) of `path` itself (a link is not followed).
    fn owner(&mut self, path: &str) -> Result<(u32, u32), String> {
        let p = self.host_path(path);
        let m = std::fs::symlink_metadata(&p).map_err(|e| format!("reading {path}: {e}"))?;
        Ok((m.uid(), m.gid()))
    }

    /// Gives `path` itself (a link is not followed) to `uid`:`gid`.
    fn chown(&mut self, path: &str, uid: u32, gid: u32) -> Result<(), String>;

    /// Runs `argv` (no shell), returning its standard output if it succeeded.
    fn run(&mut self, argv: &[&str]) -> Result<String, String>;

    /// Bind-mounts `source` on `target`, recursively.
    fn bind_mount(&mut self, source: &str, target: &str) -> Result<(), String>;

    /// Whether something is mounted on `path`.
    fn is_mount_point(&mut self, path: &str) -> Result<bool, String>;

    fn hostname(&mut self) -> Result<String, String>;
    fn set_hostname(&mut self, name: &str) -> Result<(), String>;

    /// The uid and gid of the login `name`, if the node has it.
    fn user_ids(&mut self, name: &str) -> Result<Option<(u32, u32)>, String>;

    /// Sends `SIGHUP` to PID 1 (airlock's init re-reads its services).
    fn hup_init(&mut self) -> Result<(), String>;

    /// A monotonic clock, for deadlines.
    fn now(&mut self) -> Duration;

    /// Waits `d` (between polls and retries).
    fn pause(&mut self, d: Duration);
}

/// This machine, for real (run as root).
pub struct Real {
    root: PathBuf,
    start: Instant,
}

impl Real {
    pub fn new() -> Self {
        Real {
            root: PathBuf::from("/"),
            start: Instant::now(),
        }
    }
}

impl Default for Real {
    fn default() -> Self {
        Self::new()
    }
}

/// The `PATH` commands run with: the agent may have been started with less.
const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

impl System for Real {
    fn root(&self) -> &Path {
        &self.root
    }

    fn chown(&mut self, path: &str, uid: u32, gid: u32) -> Result<(), String> {
        std::os::unix::fs::lchown(self.host_path(path), Some(uid), Some(gid))
            .map_err(|e| format!("giving {path} to {uid}:{gid}: {e}"))
    }

    fn run(&mut self, argv: &[&str]) -> Result<String, String> {
        let line = argv.join(" ");
        let (prog, args) = argv
            .split_first()
            .ok_or_else(|| "an empty command".to_string())?;
        let out = Command::new(prog)
            .args(args)
            .env("PATH", PATH)
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("could not run `{line}`: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            let err = String::from_utf8_lossy(&out.stderr);
            Err(format!("`{line}` failed ({}): {}", out.status, err.trim()))
        }
    }

    fn bind_mount(&mut self, source: &str, target: &str) -> Result<(), String> {
        use nix::mount::{MsFlags, mount};
        mount(
            Some(source),
            target,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(|e| format!("bind-mounting {source} on {target}: {e}"))
    }

    fn is_mount_point(&mut self, path: &str) -> Result<bool, String> {
        let info = std::fs::read_to_string("/proc/self/mountinfo")
            .map_err(|e| format!("reading /proc/self/mountinfo: {e}"))?;
        Ok(mountinfo_has(&info, path))
    }

    fn hostname(&mut self) -> Result<String, String> {
        nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .map_err(|e| format!("reading the hostname: {e}"))
    }

    fn set_hostname(&mut self, name: &str) -> Result<(), String> {
        nix::unistd::sethostname(name).map_err(|e| format!("setting the hostname: {e}"))
    }

    fn user_ids(&mut self, name: &str) -> Result<Option<(u32, u32)>, String> {
        nix::unistd::User::from_name(name)
            .map(|u| u.map(|u| (u.uid.as_raw(), u.gid.as_raw())))
            .map_err(|e| format!("looking up user {name}: {e}"))
    }

    fn hup_init(&mut self) -> Result<(), String> {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(1),
            nix::sys::signal::Signal::SIGHUP,
        )
        .map_err(|e| format!("signalling init: {e}"))
    }

    fn now(&mut self) -> Duration {
        self.start.elapsed()
    }

    fn pause(&mut self, d: Duration) {
        std::thread::sleep(d);
    }
}

/// Whether `/proc/self/mountinfo` text has a mount on `path` (field 5, with
/// the kernel's octal escapes).
pub(crate) fn mountinfo_has(info: &str, path: &str) -> bool {
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|m| unescape_octal(m) == path)
}

fn unescape_octal(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = u16::from(b[i + 1] - b'0') * 64
                + u16::from(b[i + 2] - b'0') * 8
                + u16::from(b[i + 3] - b'0');
            out.push(v as u8);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Opens `path` without following a link at its end.
fn open_nofollow(path: &Path, flags: OFlag) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags((OFlag::O_NOFOLLOW | flags).bits())
        .open(path)
}

/// Writes `data` to a new temporary file next to `path`, mode `mode`, with
/// the owner of the file it replaces, then renames it over `path`.
pub fn replace_file(path: &Path, data: &[u8], mode: u32) -> Result<(), String> {
    let shown = path.display();
    let name = path
        .file_name()
        .ok_or_else(|| format!("{shown} names no file"))?
        .to_string_lossy();
    let tmp = path.with_file_name(format!(".{name}.airlock-tmp"));
    if let Err(e) = std::fs::remove_file(&tmp)
        && e.kind() != ErrorKind::NotFound
    {
        return Err(format!("removing {}: {e}", tmp.display()));
    }
    let previous = match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_file() => Some((m.uid(), m.gid())),
        Ok(_) => None,
        Err(e) if e.kind() == ErrorKind::NotFound => None,
        Err(e) => return Err(format!("reading {shown}: {e}")),
    };
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .custom_flags(OFlag::O_NOFOLLOW.bits())
            .open(&tmp)?;
        f.write_all(data)?;
        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        if let Some((uid, gid)) = previous {
            let m = f.metadata()?;
            if (m.uid(), m.gid()) != (uid, gid) {
                std::os::unix::fs::fchown(&f, Some(uid), Some(gid))?;
            }
        }
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("writing {shown}: {e}")
    })
}

/// The contents of the regular file `path`, `None` if there is none (or it
/// is a link, which is then replaced rather than followed).
pub fn read(sys: &dyn System, path: &str) -> Result<Option<Vec<u8>>, String> {
    let p = sys.host_path(path);
    match std::fs::symlink_metadata(&p) {
        Ok(m) if m.file_type().is_file() => std::fs::read(&p)
            .map(Some)
            .map_err(|e| format!("reading {path}: {e}")),
        Ok(_) => Ok(None),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("reading {path}: {e}")),
    }
}

/// `path`'s text, empty if there is no such file.
pub fn read_text(sys: &dyn System, path: &str) -> Result<String, String> {
    let b = read(sys, path)?.unwrap_or_default();
    String::from_utf8(b).map_err(|_| format!("{path} is not UTF-8 text"))
}

/// Whether anything (even a dangling link) is at `path`.
pub fn exists(sys: &dyn System, path: &str) -> bool {
    std::fs::symlink_metadata(sys.host_path(path)).is_ok()
}

/// Whether `path` is a program: a regular file (following a link) that
/// someone may execute.
pub fn is_program(sys: &dyn System, path: &str) -> bool {
    std::fs::metadata(sys.host_path(path)).is_ok_and(|m| m.is_file() && m.mode() & 0o111 != 0)
}

/// Whether `path` is a directory (following a link).
pub fn is_dir(sys: &dyn System, path: &str) -> bool {
    sys.host_path(path).is_dir()
}

/// Makes `path` a regular file holding `data` with `mode`, writing only if
/// it differs. Returns whether it wrote.
pub fn put(sys: &mut dyn System, path: &str, data: &[u8], mode: u32) -> Result<bool, String> {
    let p = sys.host_path(path);
    let same_mode = std::fs::symlink_metadata(&p)
        .map(|m| m.file_type().is_file() && m.mode() & 0o7777 == mode)
        .unwrap_or(false);
    if same_mode && read(sys, path)?.as_deref() == Some(data) {
        return Ok(false);
    }
    sys.write_file(path, data, mode)?;
    Ok(true)
}

/// Makes `path` a directory (and its missing parents, 0755). With `mode`,
/// also gives it that mode and refuses a link there. Returns whether it
/// changed anything.
pub fn ensure_dir(sys: &mut dyn System, path: &str, mode: Option<u32>) -> Result<bool, String> {
    let p = sys.host_path(path);
    let mut changed = false;
    match std::fs::symlink_metadata(&p) {
        Ok(m) if m.file_type().is_symlink() => {
            if mode.is_some() {
                return Err(format!("{path} is a symbolic link"));
            }
            if !p.is_dir() {
                return Err(format!(
                    "{path} is a link to something other than a directory"
                ));
            }
            return Ok(false);
        }
        Ok(m) if !m.is_dir() => return Err(format!("{path} exists and is not a directory")),
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(&p)
                .map_err(|e| format!("creating {path}: {e}"))?;
            changed = true;
        }
        Err(e) => return Err(format!("reading {path}: {e}")),
    }
    if let Some(mode) = mode {
        let f =
            open_nofollow(&p, OFlag::O_DIRECTORY).map_err(|e| format!("opening {path}: {e}"))?;
        let m = f.metadata().map_err(|e| format!("reading {path}: {e}"))?;
        if m.mode() & 0o7777 != mode {
            f.set_permissions(std::fs::Permissions::from_mode(mode))
                .map_err(|e| format!("setting the mode of {path}: {e}"))?;
            changed = true;
        }
    }
    Ok(changed)
}

/// Gives `path` to `uid`:`gid` unless it is theirs already.
pub fn ensure_owner(sys: &mut dyn System, path: &str, uid: u32, gid: u32) -> Result<(), String> {
    if sys.owner(path)? != (uid, gid) {
        sys.chown(path, uid, gid)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_is_read_with_its_escapes() {
        let info = "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n\
                    30 22 8:1 /vol/home /home rw - ext4 /dev/sda1 rw\n\
                    31 22 0:5 / /my\\040dir rw - tmpfs tmpfs rw\n";
        assert!(mountinfo_has(info, "/home"));
        assert!(mountinfo_has(info, "/my dir"));
        assert!(!mountinfo_has(info, "/shared"));
        assert!(!mountinfo_has(info, "/vol/home"));
    }

    #[test]
    fn a_file_is_replaced_atomically_and_only_when_it_differs() {
        let dir = tempfile::tempdir().unwrap();
        let mut sys = Real {
            root: dir.path().to_path_buf(),
            start: Instant::now(),
        };
        ensure_dir(&mut sys, "/etc", None).unwrap();
        assert!(put(&mut sys, "/etc/x", b"a", 0o640).unwrap());
        assert!(!put(&mut sys, "/etc/x", b"a", 0o640).unwrap());
        assert!(put(&mut sys, "/etc/x", b"a", 0o600).unwrap());
        let m = std::fs::metadata(dir.path().join("etc/x")).unwrap();
        assert_eq!(m.mode() & 0o7777, 0o600);
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("etc/l")).unwrap();
        assert!(put(&mut sys, "/etc/l", b"b", 0o600).unwrap());
        assert!(
            std::fs::symlink_metadata(dir.path().join("etc/l"))
                .unwrap()
                .is_file()
        );
        assert!(ensure_dir(&mut sys, "/etc/l2", Some(0o700)).unwrap());
        assert!(!ensure_dir(&mut sys, "/etc/l2", Some(0o700)).unwrap());
        std::os::unix::fs::symlink("/etc", dir.path().join("etc/l3")).unwrap();
        assert!(ensure_dir(&mut sys, "/etc/l3", Some(0o700)).is_err());
    }
}
