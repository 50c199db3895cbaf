//! The cluster's secrets on the node: the munge key (with munge's
//! directories) and the ssh host key every node presents.

use base64::Engine as _;

use super::system::{self, System};

pub const MUNGE_KEY: &str = "/etc/munge/munge.key";
pub const SSH_HOST_KEY: &str = "/etc/ssh/airlock_host_ed25519_key";

/// The shortest munge key munged accepts.
const MIN_MUNGE_KEY: usize = 32;

/// Decodes the configuration's munge key.
pub fn decode_munge_key(b64: &str) -> Result<Vec<u8>, String> {
    let clean: String = b64.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let key = base64::engine::general_purpose::STANDARD
        .decode(clean)
        .map_err(|e| format!("the munge key is not base64: {e}"))?;
    if key.len() < MIN_MUNGE_KEY {
        return Err(format!(
            "the munge key has {} bytes, fewer than munge's {MIN_MUNGE_KEY}",
            key.len()
        ));
    }
    Ok(key)
}

/// Writes the munge key (0400 in /etc/munge, 0700) and makes munge's
/// directories, all owned by the `munge` user if the node has one. Returns
/// whether the key changed.
pub fn install_munge_key(sys: &mut dyn System, b64: &str) -> Result<bool, String> {
    let key = decode_munge_key(b64)?;
    system::ensure_dir(sys, "/etc/munge", Some(0o700))?;
    let changed = system::put(sys, MUNGE_KEY, &key, 0o400)?;
    let dirs = [
        ("/var/lib/munge", 0o700),
        ("/var/log/munge", 0o700),
        ("/run/munge", 0o755),
    ];
    for (d, mode) in dirs {
        system::ensure_dir(sys, d, Some(mode))?;
    }
    if let Some((uid, gid)) = sys.user_ids("munge")? {
        for p in ["/etc/munge", MUNGE_KEY]
            .into_iter()
            .chain(dirs.map(|d| d.0))
        {
            system::ensure_owner(sys, p, uid, gid)?;
        }
    }
    Ok(changed)
}

/// Writes the ssh host key (0600) and, if the node has `ssh-keygen`, its
/// public half. Returns whether the key changed.
pub fn install_ssh_host_key(sys: &mut dyn System, key: &str) -> Result<bool, String> {
    let mut text = key.to_string();
    if !text.ends_with('\n') {
        // OpenSSH will not load a private key without its final newline.
        text.push('\n');
    }
    system::ensure_dir(sys, "/etc/ssh", None)?;
    let changed = system::put(sys, SSH_HOST_KEY, text.as_bytes(), 0o600)?;
    let public = format!("{SSH_HOST_KEY}.pub");
    let has_keygen = ["/usr/bin/ssh-keygen", "/bin/ssh-keygen"]
        .iter()
        .any(|p| system::exists(sys, p));
    if has_keygen && (changed || !system::exists(sys, &public)) {
        let out = sys.run(&["ssh-keygen", "-y", "-f", SSH_HOST_KEY])?;
        system::put(sys, &public, out.as_bytes(), 0o644)?;
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_munge_key_is_base64_of_at_least_32_bytes() {
        let b64 = base64::engine::general_purpose::STANDARD;
        assert_eq!(
            decode_munge_key(&b64.encode([7u8; 32])).unwrap(),
            vec![7u8; 32]
        );
        let wrapped = b64.encode([1u8; 64]);
        let wrapped = format!("{}\n{}\n", &wrapped[..40], &wrapped[40..]);
        assert_eq!(decode_munge_key(&wrapped).unwrap().len(), 64);
        assert!(
            decode_munge_key(&b64.encode([7u8; 31]))
                .unwrap_err()
                .contains("31 bytes")
        );
        assert!(
            decode_munge_key("not*base64")
                .unwrap_err()
                .contains("not base64")
        );
    }
}
