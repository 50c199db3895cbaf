//! EC2-style key pairs: imported or created OpenSSH public keys that a
//! cluster's `key_name` names and that are installed for its user.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use ssh_key::{Algorithm, HashAlg, LineEnding, PrivateKey, PublicKey};

use super::ClusterError;
use crate::iam::ids;
use crate::iam::store::now_iso;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyPairInfo {
    pub key_name: String,
    pub key_pair_id: String,
    pub key_fingerprint: String,
    pub key_type: String,
    pub create_time: String,
}

fn check_name(name: &str) -> Result<(), ClusterError> {
    if name.is_empty()
        || name.len() > 255
        || !name.chars().all(|c| c.is_ascii_graphic() || c == ' ')
    {
        return Err(ClusterError::KeyName(name.to_owned()));
    }
    Ok(())
}

fn store(conn: &Connection, name: &str, key: &PublicKey) -> Result<KeyPairInfo, ClusterError> {
    check_name(name)?;
    let line = key.to_openssh().map_err(ClusterError::fault)?;
    let fp = key.fingerprint(HashAlg::Sha256).to_string();
    let id = format!("key-{}", &ids::random_hex(9)[..17]);
    let n = conn.execute(
        "INSERT OR IGNORE INTO key_pairs(key_name, key_pair_id, fingerprint, public_key, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![name, id, fp, line, now_iso()],
    )?;
    if n == 0 {
        return Err(ClusterError::KeyPairDuplicate(name.to_owned()));
    }
    describe(conn, &[name.to_owned()])?
        .pop()
        .ok_or_else(|| ClusterError::Internal("lost a key pair".into()))
}

/// `ImportKeyPair`: an OpenSSH public key line.
pub fn import(conn: &Connection, name: &str, material: &str) -> Result<KeyPairInfo, ClusterError> {
    let key = PublicKey::from_openssh(material.trim()).map_err(ClusterError::KeyFormat)?;
    store(conn, name, &key)
}

/// `CreateKeyPair`: a new ed25519 key; the private key is returned once.
pub fn create(conn: &Connection, name: &str) -> Result<(KeyPairInfo, String), ClusterError> {
    let key = PrivateKey::random(&mut rand::rngs::OsRng, Algorithm::Ed25519)
        .map_err(ClusterError::fault)?;
    let info = store(conn, name, key.public_key())?;
    let pem = key
        .to_openssh(LineEnding::LF)
        .map_err(ClusterError::fault)?;
    Ok((info, pem.to_string()))
}

pub fn describe(conn: &Connection, names: &[String]) -> Result<Vec<KeyPairInfo>, ClusterError> {
    let mut st = conn.prepare("SELECT key_name, key_pair_id, fingerprint, public_key, created_at FROM key_pairs ORDER BY key_name")?;
    let all: Vec<KeyPairInfo> = st
        .query_map([], |r| {
            let line: String = r.get(3)?;
            Ok(KeyPairInfo {
                key_name: r.get(0)?,
                key_pair_id: r.get(1)?,
                key_fingerprint: r.get(2)?,
                key_type: line
                    .split(' ')
                    .next()
                    .unwrap_or("")
                    .trim_start_matches("ssh-")
                    .to_owned(),
                create_time: r.get(4)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    for n in names {
        if !all.iter().any(|k| &k.key_name == n) {
            return Err(ClusterError::KeyPairNotFound(n.clone()));
        }
    }
    Ok(all
        .into_iter()
        .filter(|k| names.is_empty() || names.contains(&k.key_name))
        .collect())
}

pub fn delete(conn: &Connection, name: &str) -> Result<(), ClusterError> {
    conn.execute("DELETE FROM key_pairs WHERE key_name = ?1", params![name])?;
    Ok(())
}

/// The OpenSSH public key line of a key pair.
pub fn public_key(conn: &Connection, name: &str) -> Result<String, ClusterError> {
    conn.query_row(
        "SELECT public_key FROM key_pairs WHERE key_name = ?1",
        params![name],
        |r| r.get(0),
    )
    .optional()?
    .ok_or_else(|| ClusterError::KeyPairNotFound(name.to_owned()))
}

/// The key pair a configuration's `key_name` names must exist; the error
/// says how to import it.
pub fn require_for_config(conn: &Connection, name: &str) -> Result<(), ClusterError> {
    match public_key(conn, name) {
        Ok(_) => Ok(()),
        Err(ClusterError::KeyPairNotFound(n)) => Err(ClusterError::KeyNameNotFound(n)),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_create_describe_delete() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(include_str!("../db/0004_clusters.sql"))
            .unwrap();
        let line = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHcaTPhTLjZdbhTHVAO8VswSwApYdZ6OCUMuDqC7gC3j me@host";
        let k = import(&conn, "sandbox-key-useast1", line).unwrap();
        assert!(k.key_fingerprint.starts_with("SHA256:"));
        assert_eq!(
            import(&conn, "sandbox-key-useast1", line)
                .map_err(crate::api_error::ApiError::from)
                .unwrap_err()
                .code
                .as_str(),
            "InvalidKeyPair.Duplicate"
        );
        assert_eq!(
            import(&conn, "bad", "ssh-rsa nonsense")
                .map_err(crate::api_error::ApiError::from)
                .unwrap_err()
                .code
                .as_str(),
            "InvalidKey.Format"
        );
        let (_, private) = create(&conn, "made").unwrap();
        assert!(private.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"));
        assert_eq!(describe(&conn, &[]).unwrap().len(), 2);
        assert_eq!(
            crate::api_error::ApiError::from(describe(&conn, &["nope".into()]).unwrap_err())
                .code
                .as_str(),
            "InvalidKeyPair.NotFound"
        );
        delete(&conn, "made").unwrap();
        assert!(
            public_key(&conn, "sandbox-key-useast1")
                .unwrap()
                .starts_with("ssh-ed25519 ")
        );
    }
}
