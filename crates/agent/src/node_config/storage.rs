//! The cluster's shared directories: bind mounts of the provider's volume,
//! or NFS (the head node exports, compute nodes mount).

use std::time::Duration;

use airlock_proto::node_config::{NodeType, SharedStorage, StorageSource};

use super::etc_files;
use super::system::{self, System};

/// How often a compute node tries its NFS mount (the head may be starting).
pub const NFS_TRIES: u32 = 5;
pub const NFS_RETRY_PAUSE: Duration = Duration::from_secs(3);

/// The step's name: `mounting /home and /shared`.
pub fn step_name(s: &SharedStorage) -> String {
    format!("mounting {}", s.dirs.join(" and "))
}

/// Makes each shared directory what it should be on a node of `node_type`.
pub fn mount(sys: &mut dyn System, s: &SharedStorage, node_type: NodeType) -> Result<(), String> {
    match (&s.source, node_type) {
        (StorageSource::Volume { source }, _) => bind_volume(sys, source, &s.dirs),
        (StorageSource::Nfs { .. }, NodeType::HeadNode) => export(sys, &s.dirs, &s.export_to),
        (StorageSource::Nfs { server }, NodeType::Compute) => mount_nfs(sys, server, &s.dirs),
    }
}

fn bind_volume(sys: &mut dyn System, source: &str, dirs: &[String]) -> Result<(), String> {
    let source = source.trim_end_matches('/');
    for d in dirs {
        let from = format!("{source}{d}");
        system::ensure_dir(sys, &from, None)?;
        system::ensure_dir(sys, d, None)?;
        if !sys.is_mount_point(d)? {
            sys.bind_mount(&from, d)?;
        }
    }
    Ok(())
}

fn export(sys: &mut dyn System, dirs: &[String], to: &str) -> Result<(), String> {
    if !etc_files::export_target_ok(to) {
        return Err(format!("cannot export to {to:?}: not a host or network"));
    }
    for d in dirs {
        system::ensure_dir(sys, d, None)?;
    }
    let old = system::read_text(sys, "/etc/exports")?;
    let new = etc_files::exports(&old, dirs, to);
    let changed = system::put(sys, "/etc/exports", new.as_bytes(), 0o644)?;
    let systemd = system::is_dir(sys, "/run/systemd/system");
    if changed {
        sys.run(&["exportfs", "-ra"])?;
    }
    if systemd
        && (changed
            || sys
                .run(&["systemctl", "is-active", "--quiet", "nfs-server"])
                .is_err())
    {
        sys.run(&["systemctl", "enable", "--now", "nfs-server"])?;
    }
    Ok(())
}

fn mount_nfs(sys: &mut dyn System, server: &str, dirs: &[String]) -> Result<(), String> {
    if !etc_files::nfs_server_ok(server) {
        return Err(format!("{server:?} is not an NFS server"));
    }
    for d in dirs {
        system::ensure_dir(sys, d, None)?;
        if sys.is_mount_point(d)? {
            continue;
        }
        let remote = format!("{server}:{d}");
        let argv = [
            "mount",
            "-t",
            "nfs",
            "-o",
            "hard,_netdev,noatime,vers=4",
            &remote,
            d,
        ];
        let mut tries = 0;
        loop {
            tries += 1;
            match sys.run(&argv) {
                Ok(_) => break,
                Err(e) if tries >= NFS_TRIES => {
                    return Err(format!("could not mount {remote} after {tries} tries: {e}"));
                }
                Err(_) => sys.pause(NFS_RETRY_PAUSE),
            }
        }
    }
    Ok(())
}
