//! The cluster's logins: their lines in the account databases and sudoers
//! (every node), and their home directories with `~/.ssh/authorized_keys`
//! (the head node, whose `/home` the others share).

use airlock_proto::node_config::ClusterUser;

use super::etc_files;
use super::system::{self, System};

/// The account databases: path, mode, the line of a user, and which id the
/// file holds in its third field (checked for collisions).
type Db = (
    &'static str,
    u32,
    fn(&ClusterUser) -> String,
    Option<&'static str>,
);

const DBS: [Db; 4] = [
    ("/etc/passwd", 0o644, etc_files::passwd_line, Some("uid")),
    ("/etc/group", 0o644, etc_files::group_line, Some("gid")),
    ("/etc/shadow", 0o640, etc_files::shadow_line, None),
    ("/etc/gshadow", 0o640, etc_files::gshadow_line, None),
];

const SUDOERS: &str = "/etc/sudoers.d/90-cloud-init-users";

/// Adds (or corrects) each user's lines, and sudoers for those who may sudo.
pub fn add_users(sys: &mut dyn System, users: &[ClusterUser]) -> Result<(), String> {
    system::ensure_dir(sys, "/etc", None)?;
    // Every collision is found before any file is written.
    let mut texts = Vec::new();
    for (path, _, line, id) in DBS {
        let mut text = system::read_text(sys, path)?;
        for u in users {
            if let Some(what) = id {
                let n = if what == "uid" { u.uid } else { u.gid };
                etc_files::id_free(&text, path, what, n, &u.name)?;
            }
            text = etc_files::upsert_line(&text, &u.name, &line(u))?;
        }
        texts.push(text);
    }
    for ((path, mode, _, _), text) in DBS.iter().zip(texts) {
        system::put(sys, path, text.as_bytes(), *mode)?;
    }
    if let Some(s) = etc_files::sudoers(users) {
        system::ensure_dir(sys, "/etc/sudoers.d", None)?;
        system::put(sys, SUDOERS, s.as_bytes(), 0o440)?;
    }
    Ok(())
}

/// Files of `/etc/skel` a new home gets.
const SKEL: [&str; 3] = [".bashrc", ".profile", ".bash_logout"];

/// Each user's home (0755) with the skeleton's files it lacks, and
/// `~/.ssh/authorized_keys` holding the user's keys, all theirs.
pub fn make_homes(sys: &mut dyn System, users: &[ClusterUser]) -> Result<(), String> {
    for u in users {
        let home = format!("/home/{}", u.name);
        system::ensure_dir(sys, &home, Some(0o755))?;
        system::ensure_owner(sys, &home, u.uid, u.gid)?;
        for f in SKEL {
            let dst = format!("{home}/{f}");
            if system::exists(sys, &dst) {
                continue;
            }
            if let Some(data) = system::read(sys, &format!("/etc/skel/{f}"))? {
                system::put(sys, &dst, &data, 0o644)?;
                system::ensure_owner(sys, &dst, u.uid, u.gid)?;
            }
        }
        let ssh = format!("{home}/.ssh");
        system::ensure_dir(sys, &ssh, Some(0o700))?;
        system::ensure_owner(sys, &ssh, u.uid, u.gid)?;
        let keys_path = format!("{ssh}/authorized_keys");
        let existing = system::read(sys, &keys_path)?.unwrap_or_default();
        let keys =
            etc_files::authorized_keys(&u.authorized_keys, &String::from_utf8_lossy(&existing));
        system::put(sys, &keys_path, keys.as_bytes(), 0o600)?;
        system::ensure_owner(sys, &keys_path, u.uid, u.gid)?;
    }
    Ok(())
}
