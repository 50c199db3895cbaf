//! A cluster's user namespace: the host uid/gid range its nodes' ids
//! 0..65536 map to (one range per cluster, from its subnet index), moving
//! the cluster's files into that range, node-owned copies of the setuid
//! programs nodes need (sudo), and starting a process as root of a new
//! user namespace with that map.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt, lchown};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use nix::libc;

use super::layout::{ClusterLayout, NetworkPlan};
use super::{ProviderError, Result, io};

/// Ids a node has: 0..SPAN inside, `base..base + SPAN` on the host.
pub const SPAN: u32 = 65536;
/// Far above the ranges `/etc/subuid` hands out (100000 upwards).
const FIRST: u32 = 0x4000_0000;

/// The first host id of the cluster's range.
pub fn base(net: &NetworkPlan) -> u32 {
    FIRST + u32::from(net.index) * SPAN
}

/// The host id a node id stands for; host ids outside both ranges become
/// the node's `nobody`.
fn shifted(id: u32, base: u32) -> u32 {
    if id < SPAN {
        base + id
    } else if (base..base + SPAN).contains(&id) {
        id
    } else {
        base + 65534
    }
}

/// Gives `path` (not following a symlink) to the node id it has now.
pub fn shift(path: &Path, base: u32) -> Result<()> {
    let md = std::fs::symlink_metadata(path).map_err(io(format!("stat {}", path.display())))?;
    let (uid, gid) = (shifted(md.uid(), base), shifted(md.gid(), base));
    if (uid, gid) == (md.uid(), md.gid()) {
        return Ok(());
    }
    lchown(path, Some(uid), Some(gid)).map_err(io(format!("chown {}", path.display())))?;
    // chown clears setuid and setgid bits; put them back.
    if md.is_file() && md.mode() & 0o6000 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(md.mode() & 0o7777))
            .map_err(io(format!("chmod {}", path.display())))?;
    }
    Ok(())
}

/// [`shift`] on `dir` and everything beneath it (symlinks not followed).
pub fn shift_tree(dir: &Path, base: u32) -> Result<()> {
    shift(dir, base)?;
    let md = std::fs::symlink_metadata(dir).map_err(io(format!("stat {}", dir.display())))?;
    if !md.is_dir() {
        return Ok(());
    }
    for e in std::fs::read_dir(dir).map_err(io(format!("reading {}", dir.display())))? {
        let e = e.map_err(io(format!("reading {}", dir.display())))?;
        shift_tree(&e.path(), base)?;
    }
    Ok(())
}

/// Host programs a node uses setuid, with what they load that must have
/// the same owner (sudo refuses a plugin not owned by its root; Debian 12
/// keeps them in /usr/libexec/sudo, older releases in /usr/lib/sudo).
const SETUID: [&str; 3] = ["/usr/bin/sudo", "/usr/libexec/sudo", "/usr/lib/sudo"];

/// Where the cluster keeps its node-owned copy of a host path.
pub fn copy_of(layout: &ClusterLayout, host: &str) -> PathBuf {
    layout.dir.join("setuid").join(host.trim_start_matches('/'))
}

/// The node-owned copies of [`SETUID`] that exist, as (copy, host path).
pub fn setuid_binds(cluster_dir: &Path) -> Vec<(PathBuf, &'static str)> {
    let l = ClusterLayout {
        dir: cluster_dir.to_owned(),
        name: String::new(),
    };
    SETUID
        .iter()
        .map(|h| (copy_of(&l, h), *h))
        .filter(|(c, _)| c.exists())
        .collect()
}

/// Copies the host's setuid programs into the cluster, owned by its root.
pub fn copy_setuid(layout: &ClusterLayout, base: u32) -> Result<()> {
    for host in SETUID.iter().filter(|h| Path::new(h).exists()) {
        let copy = copy_of(layout, host);
        if let Some(p) = copy.parent() {
            std::fs::create_dir_all(p).map_err(io(format!("creating {}", p.display())))?;
        }
        super::run("cp", &["-a", "-T", host, &copy.to_string_lossy()], None)?;
        shift_tree(&copy, base)?;
    }
    Ok(())
}

/// Gives the cluster's files to its id range (everything a node writes)
/// and makes its node-owned setuid copies.
pub fn own_cluster(layout: &ClusterLayout, base: u32) -> Result<()> {
    copy_setuid(layout, base)?;
    for d in [layout.image_etc(), layout.volume(), layout.log()] {
        shift_tree(&d, base)?;
    }
    shift(&layout.dir, base)?;
    shift(&layout.nodes(), base)
}

/// Whether the cluster's files are already its range's (a cluster made
/// before nodes had user namespaces is not).
pub fn owns_cluster(layout: &ClusterLayout, base: u32) -> bool {
    std::fs::metadata(layout.image_etc()).is_ok_and(|m| m.uid() == base)
}

/// A user namespace to be created by a child of this process: the child
/// unshares it, this process writes its id maps, then the child becomes
/// root there and runs its program.
pub struct Pending {
    maps: std::thread::JoinHandle<std::result::Result<(), String>>,
    ours: [OwnedFd; 2],
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| ProviderError::Invalid(format!("pipe: {e}")))
}

fn write_maps(pid: i32, base: u32) -> std::result::Result<(), String> {
    let line = format!("0 {base} {SPAN}\n");
    for f in ["uid_map", "gid_map"] {
        let p = format!("/proc/{pid}/{f}");
        std::fs::write(&p, &line).map_err(|e| format!("writing {p}: {e}"))?;
    }
    Ok(())
}

/// Arranges for `cmd` to run as root of a new user namespace mapping ids
/// 0..SPAN to `base..`; namespaces its program creates belong to it.
/// Call [`Pending::finish`] once `cmd` has been spawned.
pub fn prepare(cmd: &mut Command, base: u32) -> Result<Pending> {
    let (from_child, to_us) = pipe()?;
    let (from_us, to_child) = pipe()?;
    let fds = [
        from_child.as_raw_fd(),
        to_us.as_raw_fd(),
        from_us.as_raw_fd(),
        to_child.as_raw_fd(),
    ];
    let mut from_child = std::fs::File::from(from_child);
    let mut to_child = std::fs::File::from(to_child);
    let maps = std::thread::spawn(move || {
        let mut pid = [0u8; 4];
        from_child
            .read_exact(&mut pid)
            .map_err(|e| format!("the node's process did not start: {e}"))?;
        let r = write_maps(i32::from_ne_bytes(pid), base);
        // The child goes on (or fails) once it reads this byte or EOF.
        if r.is_ok() {
            let _ = to_child.write_all(b"m");
        }
        r
    });
    // SAFETY: only async-signal-safe system calls on raw descriptors.
    unsafe {
        cmd.pre_exec(move || in_child(fds));
    }
    Ok(Pending {
        maps,
        ours: [to_us, from_us],
    })
}

/// In the forked child: a new user namespace, wait for the maps, become
/// its root with no supplementary groups.
fn in_child([from_child, to_us, from_us, to_child]: [i32; 4]) -> std::io::Result<()> {
    let err = std::io::Error::last_os_error;
    // SAFETY: plain system calls on descriptors this closure owns.
    unsafe {
        libc::close(from_child);
        libc::close(to_child);
        if libc::unshare(libc::CLONE_NEWUSER) != 0 {
            return Err(err());
        }
        let pid = libc::getpid().to_ne_bytes();
        if libc::write(to_us, pid.as_ptr().cast(), pid.len()) != pid.len() as isize {
            return Err(err());
        }
        libc::close(to_us);
        let mut b = 0u8;
        if libc::read(from_us, (&raw mut b).cast(), 1) != 1 {
            return Err(std::io::Error::from_raw_os_error(libc::EPERM));
        }
        libc::close(from_us);
        // Raw system calls: this thread is the only one.
        if libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<libc::gid_t>()) != 0
            || libc::syscall(libc::SYS_setresgid, 0, 0, 0) != 0
            || libc::syscall(libc::SYS_setresuid, 0, 0, 0) != 0
        {
            return Err(err());
        }
    }
    Ok(())
}

impl Pending {
    /// After the spawn (whether it worked or not): closes this process's
    /// ends, and says whether the maps were written.
    pub fn finish(self) -> Result<()> {
        drop(self.ours);
        self.maps
            .join()
            .map_err(|_| ProviderError::Invalid("the id-map thread panicked".into()))?
            .map_err(|e| ProviderError::Invalid(format!("user namespace: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_move_into_the_range_once() {
        let b = base(&NetworkPlan::new(3, "v", "s"));
        assert_eq!(b, 0x4000_0000 + 3 * 65536);
        assert_eq!(shifted(0, b), b);
        assert_eq!(shifted(1000, b), b + 1000);
        assert_eq!(shifted(b + 5, b), b + 5);
        assert_eq!(shifted(b - 1, b), b + 65534);
        let other = base(&NetworkPlan::new(4, "v", "s"));
        assert_eq!(shifted(other, b), b + 65534, "another cluster's ids");
    }

    #[test]
    #[ignore = "needs root"]
    fn a_child_is_root_of_its_own_range_and_a_failed_spawn_does_not_hang() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let b = base(&NetworkPlan::new(250, "v", "s"));
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "id -u; cat /proc/self/uid_map /proc/self/gid_map"]);
        let p = prepare(&mut cmd, b).unwrap();
        let out = cmd.output();
        p.finish().unwrap();
        let text = String::from_utf8(out.unwrap().stdout).unwrap();
        let words: Vec<&str> = text.split_whitespace().collect();
        let b = b.to_string();
        assert_eq!(words, ["0", "0", &b, "65536", "0", &b, "65536"], "{text}");

        let mut cmd = Command::new("/nonexistent/airlock-test");
        let p = prepare(&mut cmd, 0x4000_0000).unwrap();
        assert!(cmd.spawn().is_err());
        p.finish().unwrap();
    }
}
