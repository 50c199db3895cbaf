//! Keys pushed by `ec2-instance-connect:SendSSHPublicKey`: the node writes
//! them into the login's `~/.ssh/authorized_keys` with sshd's
//! `expiry-time`, dropping pushed keys that have expired. The node holds
//! the server to it: only login users (uid ≥ 1000), one well-formed key
//! line, an expiry of sshd's form.

use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use airlock_proto::control::AuthorizeKey;
use anyhow::{Context, bail};

/// The lowest uid a pushed key may be for (Debian's first login user).
const FIRST_LOGIN_UID: u32 = 1000;

/// Whether `line` is one OpenSSH public key line, with nothing sshd would
/// read as options.
fn well_formed(line: &str) -> bool {
    let mut parts = line.split(' ');
    let (Some(kind), Some(blob)) = (parts.next(), parts.next()) else {
        return false;
    };
    let kind_ok = ["ssh-", "ecdsa-", "sk-"]
        .iter()
        .any(|p| kind.starts_with(p))
        && kind
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-@.".contains(c));
    let blob_ok = !blob.is_empty()
        && blob
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+/=".contains(c));
    kind_ok && blob_ok && !line.contains(['"', '\n', '\r', '\0'])
}

/// `existing` without pushed keys expired at `now`, plus the new key.
pub fn merged(existing: &str, k: &AuthorizeKey, now: &str) -> String {
    let mut kept: Vec<&str> = existing
        .lines()
        .filter(
            |l| match l.strip_prefix("expiry-time=\"").and_then(|r| r.get(..14)) {
                Some(ts) => ts > now,
                None => true,
            },
        )
        .collect();
    let line = format!(
        "expiry-time=\"{}Z\" {} pushed-by-{}",
        k.expiry, k.public_key, k.pushed_by
    );
    kept.push(&line);
    kept.join("\n") + "\n"
}

/// Checks what the server asked for.
pub fn check(k: &AuthorizeKey) -> anyhow::Result<()> {
    if !well_formed(k.public_key.trim()) {
        bail!("the pushed key is not one OpenSSH public key line");
    }
    if k.expiry.len() != 14 || !k.expiry.chars().all(|c| c.is_ascii_digit()) {
        bail!(
            "the pushed key's expiry {:?} is not YYYYMMDDHHMMSS",
            k.expiry
        );
    }
    if !k
        .pushed_by
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
    {
        bail!(
            "the pusher's name {:?} is not an IAM user name",
            k.pushed_by
        );
    }
    Ok(())
}

/// Installs the key for its login.
pub fn install(k: &AuthorizeKey) -> anyhow::Result<()> {
    check(k)?;
    let user = nix::unistd::User::from_name(&k.os_user)
        .with_context(|| format!("looking up {}", k.os_user))?
        .with_context(|| format!("no user {} on this node", k.os_user))?;
    if user.uid.as_raw() < FIRST_LOGIN_UID {
        bail!(
            "refusing a pushed key for {} (uid {}): only login users (uid ≥ {FIRST_LOGIN_UID})",
            k.os_user,
            user.uid
        );
    }
    let ssh = user.dir.join(".ssh");
    if !ssh.exists() {
        std::fs::create_dir_all(&ssh).with_context(|| format!("creating {}", ssh.display()))?;
        nix::unistd::chown(&ssh, Some(user.uid), Some(user.gid))?;
        std::fs::set_permissions(&ssh, std::fs::Permissions::from_mode(0o700))?;
    }
    let path = ssh.join("authorized_keys");
    let existing = std::fs::read_to_string(&path).unwrap_or_default();
    let now = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year][month][day][hour][minute][second]"
        ))
        .unwrap_or_default();
    write_owned(&path, &merged(&existing, k, &now), &user)
}

/// Writes through a temporary file owned by `user`, mode 0600, and a rename.
fn write_owned(path: &Path, text: &str, user: &nix::unistd::User) -> anyhow::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("airlock-tmp");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    f.write_all(text.as_bytes())?;
    nix::unistd::chown(&tmp, Some(user.uid), Some(user.gid))?;
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(public_key: &str) -> AuthorizeKey {
        AuthorizeKey {
            os_user: "ubuntu".into(),
            public_key: public_key.into(),
            expiry: "20261207120000".into(),
            pushed_by: "alice".into(),
            request_id: None,
        }
    }

    #[test]
    fn expired_pushed_keys_go_and_others_stay() {
        let existing = "ssh-ed25519 AAAAown me\nexpiry-time=\"20261207110000Z\" ssh-ed25519 AAAAold pushed-by-bob\nexpiry-time=\"20261207130000Z\" ssh-ed25519 AAAAlive pushed-by-bob\n";
        let out = merged(existing, &key("ssh-ed25519 AAAAnew k"), "20261207115959");
        assert_eq!(
            out,
            "ssh-ed25519 AAAAown me\nexpiry-time=\"20261207130000Z\" ssh-ed25519 AAAAlive pushed-by-bob\nexpiry-time=\"20261207120000Z\" ssh-ed25519 AAAAnew k pushed-by-alice\n"
        );
    }

    #[test]
    fn a_key_line_with_options_or_a_second_line_is_refused() {
        assert!(check(&key("ssh-ed25519 AAAAC3Nza comment")).is_ok());
        for bad in [
            "command=\"sh\" ssh-ed25519 AAAA",
            "ssh-ed25519 AAAA\nssh-rsa BBBB",
            "ssh-ed25519",
            "ssh-ed25519 AAA\"A",
            "no-pty ssh-ed25519 AAAA",
        ] {
            assert!(check(&key(bad)).is_err(), "{bad:?}");
        }
        let mut k = key("ssh-ed25519 AAAA");
        k.expiry = "2026".into();
        assert!(check(&k).is_err());
        k.expiry = "20261207120000".into();
        k.pushed_by = "a b".into();
        assert!(check(&k).is_err());
    }

    #[test]
    fn root_and_system_users_get_no_pushed_key() {
        let mut k = key("ssh-ed25519 AAAA");
        k.os_user = "root".into();
        let e = install(&k).unwrap_err().to_string();
        assert!(e.contains("only login users"), "{e}");
    }
}
