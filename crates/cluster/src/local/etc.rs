//! A cluster's shared filesystem: its own `/etc` (a copy of the host's with
//! the host's people removed and the cluster user added), `/home`,
//! `/shared`, munge key, host key and Slurm configuration, owned by the
//! cluster's id range. The host's own `/etc` and `/home` are never written.

use std::os::unix::fs::{PermissionsExt, chown};
use std::path::Path;

use super::layout::{ClusterLayout, NetworkPlan, node_paths};
use super::{Result, io, run, userns};

/// Uid and gid of the cluster user, as on an EC2 image.
pub const CLUSTER_UID: u32 = 1000;

/// What the cluster's filesystem is made from.
pub struct EtcPlan<'a> {
    pub cluster_user: &'a str,
    /// OpenSSH public keys installed for the cluster user.
    pub authorized_keys: &'a [String],
    pub slurm_conf: &'a str,
    pub head_ip: &'a str,
}

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

fn lines(mut v: Vec<String>, extra: String) -> String {
    v.push(extra);
    v.join("\n") + "\n"
}

/// Builds the cluster's accounts from the host's, plus the cluster user.
fn accounts(etc: &Path, user: &str) -> Result<()> {
    let read = |f: &str| std::fs::read_to_string(etc.join(f)).unwrap_or_default();
    let passwd = system_entries(&read("passwd"), 2);
    let group = system_entries(&read("group"), 2);
    let shadow = keep_named(&read("shadow"), &names(&passwd));
    let gshadow = keep_named(&read("gshadow"), &names(&group));
    let id = CLUSTER_UID;
    write(
        &etc.join("passwd"),
        &lines(
            passwd,
            format!("{user}:x:{id}:{id}:Cluster user:/home/{user}:/bin/bash"),
        ),
        0o644,
    )?;
    write(
        &etc.join("group"),
        &lines(group, format!("{user}:x:{id}:")),
        0o644,
    )?;
    write(
        &etc.join("shadow"),
        &lines(shadow, format!("{user}:!:20000:0:99999:7:::")),
        0o640,
    )?;
    write(
        &etc.join("gshadow"),
        &lines(gshadow, format!("{user}:!::")),
        0o640,
    )?;
    // As on EC2 images, the cluster user may sudo.
    write(
        &etc.join("sudoers.d/90-cloud-init-users"),
        &format!(
            "Defaults secure_path=\"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:{}\"\n{user} ALL=(ALL) NOPASSWD:ALL\n",
            node_paths::BIN_DIR
        ),
        0o440,
    )
}

fn home(layout: &ClusterLayout, user: &str, keys: &[String]) -> Result<()> {
    let h = layout.home().join(user);
    mkdir(&h.join(".ssh"), 0o700)?;
    for f in [".bashrc", ".profile", ".bash_logout"] {
        let _ = std::fs::copy(Path::new("/etc/skel").join(f), h.join(f));
    }
    write(
        &h.join(".ssh/authorized_keys"),
        &(keys.join("\n") + "\n"),
        0o600,
    )?;
    run(
        "chown",
        &[
            "-R",
            &format!("{CLUSTER_UID}:{CLUSTER_UID}"),
            &h.to_string_lossy(),
        ],
        None,
    )?;
    std::fs::set_permissions(&h, std::fs::Permissions::from_mode(0o755))
        .map_err(io("setting the home's mode"))
}

fn munge_key(etc: &Path) -> Result<()> {
    use rand::RngCore;
    let dir = etc.join("munge");
    mkdir(&dir, 0o700)?;
    let mut key = vec![0u8; 1024];
    rand::thread_rng().fill_bytes(&mut key);
    let path = dir.join("munge.key");
    std::fs::write(&path, &key).map_err(io("writing the munge key"))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400))
        .map_err(io("setting the munge key's mode"))?;
    if let Ok(Some(u)) = nix::unistd::User::from_name("munge") {
        let (uid, gid) = (Some(u.uid.as_raw()), Some(u.gid.as_raw()));
        chown(&dir, uid, gid).map_err(io("chown munge"))?;
        chown(&path, uid, gid).map_err(io("chown munge key"))?;
    }
    Ok(())
}

/// The node's own ssh host key (the host's keys are not copied).
fn ssh_host_key(etc: &Path) -> Result<()> {
    let ssh = etc.join("ssh");
    if let Ok(rd) = std::fs::read_dir(&ssh) {
        for e in rd.flatten() {
            if e.file_name().to_string_lossy().starts_with("ssh_host_") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    let key = etc.join(node_paths::SSH_HOST_KEY.trim_start_matches("/etc/"));
    if Path::new("/usr/bin/ssh-keygen").exists() && ssh.is_dir() {
        run(
            "ssh-keygen",
            &[
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-f",
                &key.to_string_lossy(),
            ],
            None,
        )?;
    }
    Ok(())
}

/// The cluster's `/etc/hosts`: the server's name and every node's, as
/// ParallelCluster's private DNS gives them. Replaced atomically.
pub fn write_hosts(
    layout: &ClusterLayout,
    net: &NetworkPlan,
    nodes: &[(&str, &str)],
) -> Result<()> {
    let mut text = format!("127.0.0.1\tlocalhost\n{}\tairlock-server\n", net.gateway());
    for (name, ip) in nodes {
        text.push_str(&format!("{ip}\t{name}\n"));
    }
    let path = layout.etc().join("hosts");
    let tmp = path.with_extension("airlock-tmp");
    write(&tmp, &text, 0o644)?;
    userns::shift(&tmp, userns::base(net))?;
    std::fs::rename(&tmp, &path).map_err(io("replacing /etc/hosts"))
}

/// Creates the cluster's directories and `/etc`.
pub fn prepare(layout: &ClusterLayout, net: &NetworkPlan, plan: &EtcPlan<'_>) -> Result<()> {
    mkdir(&layout.dir, 0o700)?;
    for d in [layout.home(), layout.spool(), layout.log()] {
        mkdir(&d, 0o755)?;
    }
    mkdir(&layout.shared(), 0o1777)?;
    mkdir(&layout.munge(), 0o755)?;
    mkdir(&layout.nodes(), 0o700)?;
    let etc = layout.etc();
    let _ = std::fs::remove_dir_all(&etc);
    run(
        "cp",
        &["-a", "/etc/.", &format!("{}/", etc.display())],
        None,
    )?;
    accounts(&etc, plan.cluster_user)?;
    home(layout, plan.cluster_user, plan.authorized_keys)?;
    munge_key(&etc)?;
    ssh_host_key(&etc)?;
    write_hosts(layout, net, &[("head", plan.head_ip)])?;
    write(&etc.join("slurm/slurm.conf"), plan.slurm_conf, 0o644)?;
    write(
        &etc.join("profile.d/airlock.sh"),
        &format!(
            "export PATH=\"$PATH:{}\"\nexport SLURM_CONF={}\n",
            node_paths::BIN_DIR,
            node_paths::SLURM_CONF
        ),
        0o644,
    )?;
    std::fs::write(
        layout.network_file(),
        serde_json::to_string_pretty(net)
            .map_err(|e| super::ProviderError::Invalid(e.to_string()))?,
    )
    .map_err(io("writing network.json"))?;
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
