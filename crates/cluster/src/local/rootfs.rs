//! A node's root filesystem: a tmpfs with read-only binds of the host's
//! `/usr` (with the cluster's node-owned setuid copies over it), its own
//! copy of the machine image's `/etc`, the cluster's volume attached at
//! `/mnt/cluster-volume` (the node mounts `/home` and `/shared` from it
//! when it configures itself), the node's own identity, its own `/proc`,
//! and a private `/dev` (a few host device nodes, its own devpts and
//! `/dev/shm`); then `pivot_root` into it.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sys::statvfs::{FsFlags, statvfs};

use super::layout::node_paths as np;
use super::{ProviderError, Result, io, userns};

fn mnt(
    src: Option<&Path>,
    dst: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<()> {
    mount(src, dst, fstype, flags, data).map_err(|e| {
        ProviderError::Invalid(format!(
            "mounting {} on {}: {e}",
            src.map(|s| s.display().to_string()).unwrap_or_default(),
            dst.display()
        ))
    })
}

pub(crate) fn dir(p: &Path, mode: u32) -> Result<()> {
    std::fs::create_dir_all(p).map_err(io(format!("creating {}", p.display())))?;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
        .map_err(io(format!("chmod {}", p.display())))
}

/// The flags a read-only remount of a bind of `src` must keep: in a user
/// namespace the kernel refuses to drop nosuid, nodev, noexec or atime
/// flags the source mount has.
fn kept_flags(src: &Path) -> MsFlags {
    let Ok(st) = statvfs(src) else {
        return MsFlags::empty();
    };
    let f = st.flags();
    let mut m = MsFlags::empty();
    for (fs, ms) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if f.contains(fs) {
            m |= ms;
        }
    }
    m
}

fn bind(src: &Path, dst: &Path, read_only: bool) -> Result<()> {
    // A mount point that exists (e.g. a file in the read-only /usr) is used as is.
    if !dst.exists() {
        if src.is_dir() {
            dir(dst, 0o755)?;
        } else {
            std::fs::write(dst, b"").map_err(io(format!("creating {}", dst.display())))?;
        }
    }
    mnt(
        Some(src),
        dst,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    )?;
    if read_only {
        mnt(
            None,
            dst,
            None,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | kept_flags(src),
            None,
        )?;
    }
    Ok(())
}

fn tmpfs(dst: &Path, mode: u32) -> Result<()> {
    dir(dst, 0o755)?;
    mnt(
        Some(Path::new("tmpfs")),
        dst,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(&format!("mode={mode:o}")),
    )
}

fn symlink(target: &str, link: &Path) -> Result<()> {
    std::os::unix::fs::symlink(target, link).map_err(io(format!("linking {}", link.display())))
}

/// The node's own `/dev`: the harmless host device nodes bound in, a
/// private devpts instance for PTYs and a private `/dev/shm`. No disks.
fn dev(dev: &Path) -> Result<()> {
    dir(dev, 0o755)?;
    mnt(
        Some(Path::new("tmpfs")),
        dev,
        Some("tmpfs"),
        MsFlags::MS_NOSUID,
        Some("mode=755,size=64k"),
    )?;
    for n in ["null", "zero", "full", "random", "urandom", "tty"] {
        bind(&Path::new("/dev").join(n), &dev.join(n), false)?;
    }
    let pts = dev.join("pts");
    dir(&pts, 0o755)?;
    mnt(
        Some(Path::new("devpts")),
        &pts,
        Some("devpts"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=0620,gid=5"),
    )?;
    symlink("pts/ptmx", &dev.join("ptmx"))?;
    tmpfs(&dev.join("shm"), 0o1777)?;
    symlink("/proc/self/fd", &dev.join("fd"))?;
    for (i, n) in ["stdin", "stdout", "stderr"].iter().enumerate() {
        symlink(&format!("/proc/self/fd/{i}"), &dev.join(n))?;
    }
    Ok(())
}

/// Builds the node's root under `root` (not yet pivoted) from the node's
/// directory `node` and its cluster's `cluster`; each of `masked` (a
/// program under `/usr`) is `/dev/null` there, as if the image lacked it.
pub fn build(node: &Path, cluster: &Path, root: &Path, masked: &[String]) -> Result<()> {
    let c = |p: &str| cluster.join(p);
    mnt(
        Some(Path::new("tmpfs")),
        root,
        Some("tmpfs"),
        MsFlags::empty(),
        Some("mode=755"),
    )?;
    for top in ["bin", "sbin", "lib", "lib32", "lib64", "libx32"] {
        let host = Path::new("/").join(top);
        match std::fs::read_link(&host) {
            Ok(target) => std::os::unix::fs::symlink(target, root.join(top))
                .map_err(io(format!("linking /{top}")))?,
            Err(_) if host.is_dir() => bind(&host, &root.join(top), true)?,
            Err(_) => {}
        }
    }
    bind(Path::new("/usr"), &root.join("usr"), true)?;
    // The cluster's copies of setuid programs, owned by the node's root.
    for (copy, host) in userns::setuid_binds(cluster) {
        bind(&copy, &root.join(host.trim_start_matches('/')), true)?;
    }
    if Path::new("/opt").is_dir() {
        bind(Path::new("/opt"), &root.join("opt"), true)?;
    }
    dev(&root.join("dev"))?;
    bind(Path::new("/sys"), &root.join("sys"), false)?;
    // The machine's own /etc, from the image.
    tmpfs(&root.join("etc"), 0o755)?;
    super::run(
        "cp",
        &[
            "-a",
            &format!("{}/.", c("image/etc").display()),
            &format!("{}/", root.join("etc").display()),
        ],
        None,
    )?;
    for d in ["home", "shared"] {
        dir(&root.join(d), 0o755)?;
    }
    bind(
        &c("volume"),
        &root.join(np::VOLUME.trim_start_matches('/')),
        false,
    )?;
    // A new proc needs one already visible: mount it before the host's goes.
    dir(&root.join("proc"), 0o555)?;
    mnt(
        Some(Path::new("proc")),
        &root.join("proc"),
        Some("proc"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None,
    )?;
    dir(&root.join("root"), 0o700)?;
    tmpfs(&root.join("tmp"), 0o1777)?;
    let run = root.join("run");
    tmpfs(&run, 0o755)?;
    for d in ["sshd", "lock", "airlock/bin", "airlock/init"] {
        dir(&run.join(d), 0o755)?;
    }
    // The agent binary is not here: the machine's user data installs it
    // at `np::AIRLOCK`, where the Slurm hooks below point.
    for hook in [
        "slurm_resume",
        "slurm_suspend",
        "slurm_resume_fail",
        "slurm_prolog",
    ] {
        std::os::unix::fs::symlink("airlock", run.join("airlock/bin").join(hook))
            .map_err(io("linking the Slurm hooks"))?;
    }
    let var = root.join("var");
    tmpfs(&var, 0o755)?;
    for (d, mode) in [
        ("tmp", 0o1777),
        ("lib/munge", 0o700),
        ("log/munge", 0o700),
        ("lib/sudo", 0o700),
        ("cache", 0o755),
    ] {
        dir(&var.join(d), mode)?;
    }
    symlink("../run", &var.join("run"))?;
    symlink("../run/lock", &var.join("lock"))?;
    bind(&node.join("agent"), &var.join("lib/airlock-agent"), false)?;
    dir(&var.join("spool/slurm"), 0o755)?;
    bind(&c("log"), &var.join("log/slurm"), false)?;
    for m in masked {
        mask(root, m)?;
    }
    Ok(())
}

/// Makes the program at `path` (under `/usr`, as the machine sees it)
/// `/dev/null`: its links are followed inside `root` (Debian's
/// `/usr/sbin/slurmctld` is a link through `/etc/alternatives`), so the
/// file masked is the machine's, never one of the host's.
fn mask(root: &Path, path: &str) -> Result<()> {
    let refuse = |why: &str| ProviderError::Invalid(format!("cannot mask {path:?}: {why}"));
    if !path.starts_with("/usr/") || path.contains("/../") {
        return Err(refuse("only programs under /usr are masked"));
    }
    let mut p = root.join(path.trim_start_matches('/'));
    for _ in 0..16 {
        let Ok(target) = std::fs::read_link(&p) else {
            break;
        };
        let next = if target.is_absolute() {
            root.join(target.strip_prefix("/").unwrap_or(&target))
        } else {
            p.parent().unwrap_or(root).join(&target)
        };
        if next
            .components()
            .any(|c| c == std::path::Component::ParentDir)
        {
            return Err(refuse("a link on the way leaves the machine's root"));
        }
        p = next;
    }
    if !p.starts_with(root) {
        return Err(refuse("it is not in the machine's root"));
    }
    if p.is_file() {
        bind(Path::new("/dev/null"), &p, true)?;
    }
    Ok(())
}

/// Moves into `root` and drops the host's tree.
pub fn pivot(root: &Path) -> Result<()> {
    let old = root.join(".oldroot");
    dir(&old, 0o700)?;
    nix::unistd::pivot_root(root, &old)
        .map_err(|e| ProviderError::Invalid(format!("pivot_root: {e}")))?;
    std::env::set_current_dir("/").map_err(io("chdir /"))?;
    umount2("/.oldroot", MntFlags::MNT_DETACH)
        .map_err(|e| ProviderError::Invalid(format!("unmounting the old root: {e}")))?;
    let _ = std::fs::remove_dir("/.oldroot");
    Ok(())
}
