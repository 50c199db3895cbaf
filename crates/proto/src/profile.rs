//! The user's `~/.airlock/` files, in the manner of `~/.aws/`: `config`
//! (endpoint and CA bundle per profile), `credentials` (access key id and
//! private key per profile) and `ca.pem`.

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

/// Writes `data` to `path` readable by its owner only (0600), through a
/// temporary file, fsync and a rename, so a reader never sees half a file.
/// The one way airlock writes a secret (keys, credentials, certificates).
pub fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(data)?;
    f.sync_all()?;
    fs::rename(&tmp, path)
}

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("cannot find your home directory: set HOME or AIRLOCK_CONFIG_DIR")]
    NoHome,
    #[error("cannot read or write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: expected `[section]` or `key = value`")]
    Syntax { path: PathBuf, line: usize },
    #[error(
        "profile '{profile}' has no {what} in {path} (run `airlock server start` once to create the admin profile, or ask your administrator for an access key)"
    )]
    Missing {
        profile: String,
        what: &'static str,
        path: PathBuf,
    },
    #[error(
        "The config profile ({profile}) could not be found in {config} or {credentials} (make it with `airlock iam create-access-key --user-name USER --save-profile {profile}`, or choose another with --profile or AIRLOCK_PROFILE)"
    )]
    NotFound {
        profile: String,
        config: PathBuf,
        credentials: PathBuf,
    },
}

/// One profile's settings, from both files.
#[derive(Debug, Clone, Default)]
pub struct Profile {
    pub name: String,
    pub endpoint: Option<String>,
    pub ca_bundle: Option<PathBuf>,
    pub access_key_id: Option<String>,
    pub private_key: Option<String>,
}

/// The directory holding the files: `$AIRLOCK_CONFIG_DIR`, else `~/.airlock`.
#[derive(Debug, Clone)]
pub struct ClientFiles {
    pub dir: PathBuf,
}

type Sections = Vec<(String, Vec<(String, String)>)>;

fn parse(path: &Path, text: &str) -> Result<Sections, ProfileError> {
    let mut out: Sections = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
            continue;
        }
        if let Some(name) = t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            out.push((name.trim().to_owned(), Vec::new()));
            continue;
        }
        let syntax = || ProfileError::Syntax {
            path: path.to_owned(),
            line: i + 1,
        };
        let (k, v) = t.split_once('=').ok_or_else(syntax)?;
        out.last_mut()
            .ok_or_else(syntax)?
            .1
            .push((k.trim().to_owned(), v.trim().to_owned()));
    }
    Ok(out)
}

fn render(sections: &Sections) -> String {
    let mut s = String::new();
    for (name, entries) in sections {
        if !s.is_empty() {
            s.push('\n');
        }
        s.push_str(&format!("[{name}]\n"));
        for (k, v) in entries {
            s.push_str(&format!("{k} = {v}\n"));
        }
    }
    s
}

impl ClientFiles {
    pub fn locate() -> Result<Self, ProfileError> {
        if let Some(d) = std::env::var_os("AIRLOCK_CONFIG_DIR").filter(|v| !v.is_empty()) {
            return Ok(Self { dir: d.into() });
        }
        let home = std::env::var_os("HOME")
            .filter(|v| !v.is_empty())
            .ok_or(ProfileError::NoHome)?;
        Ok(Self {
            dir: PathBuf::from(home).join(".airlock"),
        })
    }
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config")
    }
    pub fn credentials_path(&self) -> PathBuf {
        self.dir.join("credentials")
    }
    pub fn ca_path(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    fn read(&self, path: &Path) -> Result<Sections, ProfileError> {
        match fs::read_to_string(path) {
            Ok(t) => parse(path, &t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(source) => Err(ProfileError::Io {
                path: path.to_owned(),
                source,
            }),
        }
    }

    fn write(&self, path: &Path, data: &str) -> Result<(), ProfileError> {
        let io = |source| ProfileError::Io {
            path: path.to_owned(),
            source,
        };
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(io)?;
        write_private(path, data.as_bytes()).map_err(io)
    }

    /// Loads a profile; missing files or sections give an empty profile.
    pub fn load(&self, name: &str) -> Result<Profile, ProfileError> {
        let config_section = if name == "default" {
            "default".to_owned()
        } else {
            format!("profile {name}")
        };
        let mut p = Profile {
            name: name.to_owned(),
            ..Profile::default()
        };
        for (sec, entries) in self.read(&self.config_path())? {
            if sec == config_section {
                for (k, v) in entries {
                    match k.as_str() {
                        "endpoint" => p.endpoint = Some(v),
                        "ca_bundle" => p.ca_bundle = Some(v.into()),
                        _ => {}
                    }
                }
            }
        }
        for (sec, entries) in self.read(&self.credentials_path())? {
            if sec == name {
                for (k, v) in entries {
                    match k.as_str() {
                        "airlock_access_key_id" => p.access_key_id = Some(v),
                        "airlock_private_key" => p.private_key = Some(v),
                        _ => {}
                    }
                }
            }
        }
        Ok(p)
    }

    /// Loads a profile the user names; one that neither file has is an
    /// error (as the AWS CLI's "could not be found"). `default` may be
    /// empty: its settings say what is missing.
    pub fn load_named(&self, name: &str) -> Result<Profile, ProfileError> {
        let p = self.load(name)?;
        let empty = p.endpoint.is_none()
            && p.ca_bundle.is_none()
            && p.access_key_id.is_none()
            && p.private_key.is_none();
        if empty && name != "default" {
            return Err(ProfileError::NotFound {
                profile: name.to_owned(),
                config: self.config_path(),
                credentials: self.credentials_path(),
            });
        }
        Ok(p)
    }

    /// Writes (or replaces) a profile in both files, keeping other profiles.
    pub fn save(&self, p: &Profile) -> Result<(), ProfileError> {
        let config_section = if p.name == "default" {
            "default".to_owned()
        } else {
            format!("profile {}", p.name)
        };
        let mut cfg = Vec::new();
        if let Some(e) = &p.endpoint {
            cfg.push(("endpoint".to_owned(), e.clone()));
        }
        if let Some(c) = &p.ca_bundle {
            cfg.push(("ca_bundle".to_owned(), c.display().to_string()));
        }
        let mut cred = Vec::new();
        if let Some(k) = &p.access_key_id {
            cred.push(("airlock_access_key_id".to_owned(), k.clone()));
        }
        if let Some(k) = &p.private_key {
            cred.push(("airlock_private_key".to_owned(), k.clone()));
        }
        for (path, section, entries) in [
            (self.config_path(), config_section, cfg),
            (self.credentials_path(), p.name.clone(), cred),
        ] {
            let mut all = self.read(&path)?;
            match all.iter_mut().find(|(s, _)| *s == section) {
                Some(slot) => slot.1 = entries,
                None => all.push((section, entries)),
            }
            self.write(&path, &render(&all))?;
        }
        Ok(())
    }

    pub fn save_ca(&self, pem: &str) -> Result<(), ProfileError> {
        self.write(&self.ca_path(), pem)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_named_profile_that_no_file_has_is_not_found() {
        let tmp = tempfile::tempdir().unwrap();
        let files = ClientFiles {
            dir: tmp.path().join(".airlock"),
        };
        files
            .save(&Profile {
                name: "alice".into(),
                endpoint: Some("https://a:1".into()),
                ..Profile::default()
            })
            .unwrap();
        assert!(files.load_named("alice").is_ok());
        let e = files.load_named("nosuch").unwrap_err();
        assert!(matches!(e, ProfileError::NotFound { .. }), "{e}");
        assert!(
            e.to_string()
                .starts_with("The config profile (nosuch) could not be found")
        );
        // `default` may be empty: what it lacks is said by the caller.
        assert!(files.load_named("default").is_ok());
    }

    #[test]
    fn saving_a_profile_keeps_the_others() {
        let tmp = tempfile::tempdir().unwrap();
        let files = ClientFiles {
            dir: tmp.path().join(".airlock"),
        };
        let mut alice = Profile {
            name: "alice".into(),
            endpoint: Some("https://a:1".into()),
            access_key_id: Some("AKIAAAAAAAAAAAAAAAAA".into()),
            private_key: Some("k1".into()),
            ..Profile::default()
        };
        files.save(&alice).unwrap();
        let admin = Profile {
            name: "default".into(),
            endpoint: Some("https://b:2".into()),
            access_key_id: Some("AKIABBBBBBBBBBBBBBBB".into()),
            private_key: Some("k2".into()),
            ca_bundle: Some("/x/ca.pem".into()),
        };
        files.save(&admin).unwrap();
        alice.private_key = Some("k3".into());
        files.save(&alice).unwrap();
        let d = files.load("default").unwrap();
        assert_eq!(d.endpoint.as_deref(), Some("https://b:2"));
        assert_eq!(d.private_key.as_deref(), Some("k2"));
        let a = files.load("alice").unwrap();
        assert_eq!(a.private_key.as_deref(), Some("k3"));
        let text = fs::read_to_string(files.config_path()).unwrap();
        assert!(text.contains("[profile alice]"), "{text}");
    }

    #[test]
    fn garbage_line_is_reported_with_its_line_number() {
        let tmp = tempfile::tempdir().unwrap();
        let files = ClientFiles {
            dir: tmp.path().to_owned(),
        };
        fs::write(files.config_path(), "[default]\nendpoint = x\nnonsense\n").unwrap();
        let err = files.load("default").unwrap_err().to_string();
        assert!(
            err.ends_with("config:3: expected `[section]` or `key = value`"),
            "{err}"
        );
    }
}
