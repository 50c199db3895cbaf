//! The text of the node's `/etc` files, as pure functions: `/etc/hosts`,
//! the account databases (passwd, group, shadow, gshadow), sudoers,
//! `/etc/exports` and `authorized_keys`. Nothing here touches the disk.

use airlock_proto::node_config::ClusterUser;

/// The `secure_path` sudo runs commands with (airlock's tools included).
pub const SECURE_PATH: &str =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/run/airlock/bin";

/// `/etc/hosts`: localhost, then one line per entry.
pub fn hosts(entries: &[(String, String)]) -> String {
    let mut s = String::from("127.0.0.1\tlocalhost\n");
    for (addr, name) in entries {
        s.push_str(&format!("{addr}\t{name}\n"));
    }
    s
}

pub fn passwd_line(u: &ClusterUser) -> String {
    format!(
        "{0}:x:{1}:{2}:Cluster user:/home/{0}:/bin/bash",
        u.name, u.uid, u.gid
    )
}

pub fn group_line(u: &ClusterUser) -> String {
    format!("{}:x:{}:", u.name, u.gid)
}

pub fn shadow_line(u: &ClusterUser) -> String {
    format!("{}:!:20000:0:99999:7:::", u.name)
}

pub fn gshadow_line(u: &ClusterUser) -> String {
    format!("{}:!::", u.name)
}

/// `text` (a colon-separated database) with `name`'s line replaced by
/// `line`, or `line` appended if it has none; other lines stay as they
/// were (a second line for `name` goes).
pub fn upsert_line(text: &str, name: &str, line: &str) -> Result<String, String> {
    if name.is_empty() || name.contains([':', '\n']) {
        return Err(format!("{name:?} cannot be an account name"));
    }
    if line.contains('\n') || line.split(':').next() != Some(name) {
        return Err(format!("{line:?} is not one line for {name}"));
    }
    let mut out = String::with_capacity(text.len() + line.len() + 1);
    let mut done = false;
    for l in text.lines() {
        if l.split(':').next() == Some(name) {
            if !done {
                out.push_str(line);
                out.push('\n');
                done = true;
            }
        } else {
            out.push_str(l);
            out.push('\n');
        }
    }
    if !done {
        out.push_str(line);
        out.push('\n');
    }
    Ok(out)
}

/// Fails if a line of `text` other than `name`'s has `id` in its third
/// field (the uid of passwd, the gid of group). `what` is "uid" or "gid",
/// `file` the database's path, for the reason.
pub fn id_free(text: &str, file: &str, what: &str, id: u32, name: &str) -> Result<(), String> {
    for l in text.lines() {
        let mut f = l.split(':');
        let (Some(other), Some(_), Some(other_id)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        if other != name && other_id.parse::<u32>() == Ok(id) {
            return Err(format!(
                "cannot add user {name}: {what} {id} already belongs to {other:?} in {file}"
            ));
        }
    }
    Ok(())
}

/// The sudoers file of the users who may sudo, `None` if none may.
pub fn sudoers(users: &[ClusterUser]) -> Option<String> {
    let names: Vec<&str> = users
        .iter()
        .filter(|u| u.sudo)
        .map(|u| u.name.as_str())
        .collect();
    if names.is_empty() {
        return None;
    }
    let mut s = format!(
        "# The cluster's users who may sudo (written by airlock).\nDefaults secure_path=\"{SECURE_PATH}\"\n"
    );
    for n in names {
        s.push_str(&format!("{n} ALL=(ALL) NOPASSWD:ALL\n"));
    }
    Some(s)
}

/// `/etc/exports` exporting each of `dirs` to `to`: their lines replaced
/// (or appended), other lines kept.
pub fn exports(text: &str, dirs: &[String], to: &str) -> String {
    let ours = |d: &str| format!("{d} {to}(rw,sync,no_root_squash,no_subtree_check)");
    let mut done = vec![false; dirs.len()];
    let mut out = String::new();
    for l in text.lines() {
        let first = l.split_whitespace().next().unwrap_or("");
        match dirs.iter().position(|d| d == first) {
            Some(i) if !done[i] => {
                out.push_str(&ours(&dirs[i]));
                done[i] = true;
            }
            Some(_) => continue,
            None => out.push_str(l),
        }
        out.push('\n');
    }
    for (d, done) in dirs.iter().zip(done) {
        if !done {
            out.push_str(&ours(d));
            out.push('\n');
        }
    }
    out
}

/// `authorized_keys`: the user's keys, then keys pushed by
/// `SendSSHPublicKey` (`expiry-time=` lines) that were there, which expire
/// on their own.
pub fn authorized_keys(keys: &[String], existing: &str) -> String {
    let mut s: String = keys.iter().map(|k| format!("{k}\n")).collect();
    for l in existing.lines().filter(|l| l.starts_with("expiry-time=\"")) {
        s.push_str(l);
        s.push('\n');
    }
    s
}

/// Whether `s` can follow a directory in `/etc/exports` (a host, network
/// or wildcard, nothing the file would read as options).
pub fn export_target_ok(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('-')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || ".:/-*?_[]".contains(c))
}

/// Whether `s` is an NFS server `mount` can take before `:/dir`.
pub fn nfs_server_ok(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('-')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || ".:-_[]".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, uid: u32, sudo: bool) -> ClusterUser {
        ClusterUser {
            name: name.into(),
            uid,
            gid: uid,
            sudo,
            authorized_keys: vec![],
        }
    }

    #[test]
    fn hosts_starts_with_localhost() {
        let h = hosts(&[("10.0.0.2".into(), "head".into())]);
        assert_eq!(h, "127.0.0.1\tlocalhost\n10.0.0.2\thead\n");
    }

    #[test]
    fn account_lines() {
        let u = user("alice", 1001, false);
        assert_eq!(
            passwd_line(&u),
            "alice:x:1001:1001:Cluster user:/home/alice:/bin/bash"
        );
        assert_eq!(group_line(&u), "alice:x:1001:");
        assert_eq!(shadow_line(&u), "alice:!:20000:0:99999:7:::");
        assert_eq!(gshadow_line(&u), "alice:!::");
    }

    #[test]
    fn upsert_replaces_the_names_line_and_keeps_the_others() {
        let t = "root:x:0:0::/root:/bin/bash\nalice:x:1:1::/h:/bin/sh\nbob:x:2:2::/h:/bin/sh\n";
        let r = upsert_line(t, "alice", "alice:x:1001:1001::/home/alice:/bin/bash").unwrap();
        assert_eq!(
            r,
            "root:x:0:0::/root:/bin/bash\nalice:x:1001:1001::/home/alice:/bin/bash\nbob:x:2:2::/h:/bin/sh\n"
        );
        assert_eq!(
            upsert_line(&r, "alice", "alice:x:1001:1001::/home/alice:/bin/bash").unwrap(),
            r
        );
        // Appended, even to a file without a final newline; a prefix is not a match.
        let r = upsert_line("root:x:0:0::/root:/bin/bash", "roo", "roo:x:5:").unwrap();
        assert_eq!(r, "root:x:0:0::/root:/bin/bash\nroo:x:5:\n");
        assert_eq!(upsert_line("", "a", "a:x:1:").unwrap(), "a:x:1:\n");
        // A duplicate goes.
        assert_eq!(
            upsert_line("a:1\nb:2\na:3\n", "a", "a:4").unwrap(),
            "a:4\nb:2\n"
        );
        assert!(upsert_line("", "a", "b:x").is_err());
        assert!(upsert_line("", "a", "a:x\nroot::0:0").is_err());
        assert!(upsert_line("", "a:b", "a:b").is_err());
    }

    #[test]
    fn an_id_of_another_name_is_a_collision() {
        let t = "root:x:0:0::/root:/bin/bash\ndebian:x:1000:1000::/home/debian:/bin/bash\n";
        assert_eq!(id_free(t, "/etc/passwd", "uid", 1001, "alice"), Ok(()));
        assert_eq!(id_free(t, "/etc/passwd", "uid", 1000, "debian"), Ok(()));
        let e = id_free(t, "/etc/passwd", "uid", 1000, "alice").unwrap_err();
        assert_eq!(
            e,
            "cannot add user alice: uid 1000 already belongs to \"debian\" in /etc/passwd"
        );
    }

    #[test]
    fn sudoers_lists_the_users_who_may_sudo() {
        assert_eq!(sudoers(&[user("a", 1000, false)]), None);
        let s = sudoers(&[user("a", 1000, true), user("b", 1001, false)]).unwrap();
        assert!(s.contains(
            "Defaults secure_path=\"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/run/airlock/bin\"\n"
        ));
        assert!(s.ends_with("\na ALL=(ALL) NOPASSWD:ALL\n"));
        assert!(!s.contains("b ALL"));
    }

    #[test]
    fn exports_replace_our_lines_and_keep_others() {
        let dirs = vec!["/home".to_string(), "/shared".to_string()];
        let t = "# comment\n/home 10.9.0.0/16(ro)\n/srv *(ro)\n/home x(rw)\n";
        let e = exports(t, &dirs, "10.0.0.0/24");
        assert_eq!(
            e,
            "# comment\n/home 10.0.0.0/24(rw,sync,no_root_squash,no_subtree_check)\n/srv *(ro)\n\
             /shared 10.0.0.0/24(rw,sync,no_root_squash,no_subtree_check)\n"
        );
        assert_eq!(exports(&e, &dirs, "10.0.0.0/24"), e);
        assert!(export_target_ok("10.0.0.0/24") && export_target_ok("*.cluster"));
        assert!(!export_target_ok("x(rw) *") && !export_target_ok("a\nb") && !export_target_ok(""));
        assert!(nfs_server_ok("10.0.0.2") && nfs_server_ok("head.c"));
        assert!(!nfs_server_ok("-oexec") && !nfs_server_ok("a b"));
    }

    #[test]
    fn authorized_keys_keep_pushed_keys() {
        let existing = "ssh-ed25519 AAAAold\nexpiry-time=\"20261207130000Z\" ssh-ed25519 AAAAp pushed-by-bob\n";
        assert_eq!(
            authorized_keys(&["ssh-ed25519 AAAAnew k".into()], existing),
            "ssh-ed25519 AAAAnew k\nexpiry-time=\"20261207130000Z\" ssh-ed25519 AAAAp pushed-by-bob\n"
        );
        assert_eq!(authorized_keys(&[], ""), "");
    }
}
