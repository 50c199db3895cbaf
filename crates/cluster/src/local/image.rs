//! A local cluster's machine image and volume. The image is the host's
//! installed packages with their `/etc`, copied once per cluster with the
//! host's people removed (as an AMI carries only system accounts) and an
//! `/etc/hosts` that names the server, as a VPC's DNS would; each machine
//! boots with its own copy of it. The volume stands in for shared storage
//! (`/home`, `/shared`) that each node mounts itself. Nothing
//! cluster-specific (users, keys, Slurm) is here: nodes configure that.
//! The host's own `/etc` and `/home` are never written.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::layout::{ClusterLayout, NetworkPlan};
use super::{Result, io, run, userns};

fn write(path: &Path, text: &str, mode: u32) -> Result<()> {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).map_err(io(format!("creating {}", p.display())))?;
    }
    std::fs::write(path, text).map_err(io(format!("writing {}", path.display())))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(io(format!("setting the mode of {}", path.display())))
}

fn mkdir(path: &Path, mode: u32) -> Result<()> {
    std::fs::create_dir_all(path).map_err(io(format!("creating {}", path.display())))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(io(format!("setting the mode of {}", path.display())))
}

/// Keeps system accounts (ids below 1000, and 60000 and above) of an
/// `/etc/passwd`-style file, whose id is in field `id_field`.
pub fn system_entries(text: &str, id_field: usize) -> Vec<String> {
    text.lines()
        .filter(|l| {
            l.split(':')
                .nth(id_field)
                .and_then(|id| id.parse::<u32>().ok())
                .is_some_and(|id| !(1000..60000).contains(&id))
        })
        .map(str::to_owned)
        .collect()
}

fn names(lines: &[String]) -> Vec<&str> {
    lines.iter().filter_map(|l| l.split(':').next()).collect()
}

fn keep_named(text: &str, keep: &[&str]) -> Vec<String> {
    text.lines()
        .filter(|l| l.split(':').next().is_some_and(|n| keep.contains(&n)))
        .map(str::to_owned)
        .collect()
}

fn joined(v: Vec<String>) -> String {
    v.join("\n") + "\n"
}

/// The image's accounts: the host's system accounts only.
fn accounts(etc: &Path) -> Result<()> {
    let read = |f: &str| std::fs::read_to_string(etc.join(f)).unwrap_or_default();
    let passwd = system_entries(&read("passwd"), 2);
    let group = system_entries(&read("group"), 2);
    let shadow = keep_named(&read("shadow"), &names(&passwd));
    let gshadow = keep_named(&read("gshadow"), &names(&group));
    write(&etc.join("passwd"), &joined(passwd), 0o644)?;
    write(&etc.join("group"), &joined(group), 0o644)?;
    write(&etc.join("shadow"), &joined(shadow), 0o640)?;
    write(&etc.join("gshadow"), &joined(gshadow), 0o640)?;
    let _ = std::fs::remove_file(etc.join("sudoers.d/90-cloud-init-users"));
    Ok(())
}

/// No host key of the host's goes into the image.
fn drop_host_keys(etc: &Path) {
    if let Ok(rd) = std::fs::read_dir(etc.join("ssh")) {
        for e in rd.flatten() {
            if e.file_name().to_string_lossy().starts_with("ssh_host_") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    let _ = std::fs::remove_file(etc.join("munge/munge.key"));
}

/// Makes the cluster's image (`image/etc`), its volume and its log
/// directory, owned by the cluster's id range; `server` is the address
/// the image's `/etc/hosts` gives `airlock-server`.
pub fn prepare(layout: &ClusterLayout, net: &NetworkPlan, server: &str) -> Result<()> {
    mkdir(&layout.dir, 0o700)?;
    for d in [layout.volume(), layout.log()] {
        mkdir(&d, 0o755)?;
    }
    mkdir(&layout.nodes(), 0o700)?;
    let etc = layout.image_etc();
    let _ = std::fs::remove_dir_all(&etc);
    mkdir(&etc, 0o755)?;
    run(
        "cp",
        &["-a", "/etc/.", &format!("{}/", etc.display())],
        None,
    )?;
    accounts(&etc)?;
    drop_host_keys(&etc);
    write(
        &etc.join("hosts"),
        &format!("127.0.0.1\tlocalhost\n{server}\tairlock-server\n"),
        0o644,
    )?;
    write(
        &etc.join("profile.d/airlock.sh"),
        &format!(
            "export PATH=\"$PATH:{}\"\n",
            super::layout::node_paths::BIN_DIR
        ),
        0o644,
    )?;
    userns::own_cluster(layout, userns::base(net))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_people_are_left_out_system_accounts_kept() {
        let p = "root:x:0:0::/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n\
                 slurm:x:64030:64030::/nonexistent:/bin/false\nnobody:x:65534:65534::/:/bin/false\n";
        let kept = system_entries(p, 2);
        assert_eq!(names(&kept), ["root", "slurm", "nobody"]);
    }
}
