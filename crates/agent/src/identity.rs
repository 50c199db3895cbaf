//! The node's identity on disk: instance id, endpoint, the server's CA, and
//! the client certificate and key (readable only by the agent's user).

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("cannot find a home for the agent directory: set --agent-dir or AIRLOCK_AGENT_DIR")]
    NoHome,
    #[error(
        "this machine is not registered ({0} is missing); run `airlock agent register --activation-code … --activation-id … --endpoint …` first"
    )]
    NotRegistered(PathBuf),
    #[error("cannot read or write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

/// What `identity.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Identity {
    pub instance_id: String,
    pub endpoint: String,
}

/// The agent's directory: `/var/lib/airlock-agent` as root, else
/// `$XDG_STATE_HOME/airlock-agent`.
#[derive(Debug, Clone)]
pub struct AgentDir(pub PathBuf);

impl AgentDir {
    pub fn locate(explicit: Option<PathBuf>) -> Result<Self, IdentityError> {
        if let Some(p) = explicit {
            return Ok(Self(p));
        }
        if nix::unistd::geteuid().is_root() {
            return Ok(Self("/var/lib/airlock-agent".into()));
        }
        if let Some(x) = std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
            return Ok(Self(PathBuf::from(x).join("airlock-agent")));
        }
        let home = std::env::var_os("HOME")
            .filter(|v| !v.is_empty())
            .ok_or(IdentityError::NoHome)?;
        Ok(Self(PathBuf::from(home).join(".local/state/airlock-agent")))
    }
    pub fn identity(&self) -> PathBuf {
        self.0.join("identity.json")
    }
    pub fn key(&self) -> PathBuf {
        self.0.join("node.key")
    }
    pub fn cert(&self) -> PathBuf {
        self.0.join("node.pem")
    }
    pub fn ca(&self) -> PathBuf {
        self.0.join("ca.pem")
    }
    pub fn pid_file(&self) -> PathBuf {
        self.0.join("agent.pid")
    }
    pub fn status_file(&self) -> PathBuf {
        self.0.join("status.json")
    }
    /// The outcome of the last node configuration this agent applied.
    pub fn node_configuration_file(&self) -> PathBuf {
        self.0.join("node-configuration.json")
    }

    pub fn create(&self) -> Result<(), IdentityError> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.0)
            .map_err(|source| IdentityError::Io {
                path: self.0.clone(),
                source,
            })
    }

    /// Writes a file readable only by its owner, atomically.
    pub fn write_private(&self, path: &Path, data: &[u8]) -> Result<(), IdentityError> {
        let io = |source| IdentityError::Io {
            path: path.to_owned(),
            source,
        };
        airlock_proto::profile::write_private(path, data).map_err(io)
    }

    pub fn read(&self, path: &Path) -> Result<Vec<u8>, IdentityError> {
        fs::read(path).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => IdentityError::NotRegistered(path.to_owned()),
            _ => IdentityError::Io {
                path: path.to_owned(),
                source,
            },
        })
    }

    /// The node's TLS client config: trust only the server's CA, present
    /// the node certificate.
    pub fn tls_config(&self) -> anyhow::Result<rustls::ClientConfig> {
        airlock_transport::dial::node_tls_config(
            &self.read(&self.ca())?,
            &self.read(&self.cert())?,
            &self.read(&self.key())?,
        )
    }
    pub fn load_identity(&self) -> Result<Identity, IdentityError> {
        let p = self.identity();
        let bytes = self.read(&p)?;
        serde_json::from_slice(&bytes).map_err(|e| IdentityError::Invalid {
            path: p,
            reason: e.to_string(),
        })
    }

    pub fn save_identity(&self, id: &Identity) -> Result<(), IdentityError> {
        let json = serde_json::to_vec_pretty(id).map_err(|e| IdentityError::Invalid {
            path: self.identity(),
            reason: e.to_string(),
        })?;
        self.write_private(&self.identity(), &json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_identity_says_how_to_register() {
        let tmp = tempfile::tempdir().unwrap();
        let d = AgentDir(tmp.path().to_owned());
        let err = d.load_identity().unwrap_err().to_string();
        assert!(err.contains("airlock agent register"), "{err}");
    }

    #[test]
    fn identity_round_trips_and_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let d = AgentDir(tmp.path().join("a"));
        d.create().unwrap();
        let id = Identity {
            instance_id: "mi-0123456789abcdef0".into(),
            endpoint: "https://x:1".into(),
        };
        d.save_identity(&id).unwrap();
        assert_eq!(d.load_identity().unwrap(), id);
        let mode = fs::metadata(d.identity()).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0);
    }
}
