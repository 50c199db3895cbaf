//! Who a session runs as. As root the agent runs sessions as the run-as
//! user, or `ssm-user` (created with a sudoers entry, as the incumbent's
//! agent does). Not as root, sessions run as the agent's own user.

use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use nix::unistd::{Uid, User};

/// The sudoers file the incumbent writes for `ssm-user`.
pub const SUDOERS_FILE: &str = "/etc/sudoers.d/ssm-agent-users";
pub const DEFAULT_USER: &str = "ssm-user";

#[derive(Debug, Clone)]
pub struct Login {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
    pub shell: PathBuf,
    /// False when the agent could not switch users (not root).
    pub switch: bool,
}

fn from_user(u: User, switch: bool) -> Login {
    Login {
        name: u.name,
        uid: u.uid.as_raw(),
        gid: u.gid.as_raw(),
        home: u.dir,
        shell: if u.shell.as_os_str().is_empty() {
            "/bin/sh".into()
        } else {
            u.shell
        },
        switch,
    }
}

fn create_ssm_user() -> Result<(), String> {
    let st = std::process::Command::new("useradd")
        .args(["--create-home", "--shell", "/bin/bash", DEFAULT_USER])
        .status()
        .map_err(|e| format!("cannot run useradd: {e}"))?;
    if !st.success() {
        return Err(format!("useradd {DEFAULT_USER} failed ({st})"));
    }
    if let Some(dir) = std::path::Path::new(SUDOERS_FILE).parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    // sudo ignores (and warns about) a sudoers file other than 0440.
    let rule = format!("# User rules for {DEFAULT_USER}\n{DEFAULT_USER} ALL=(ALL) NOPASSWD:ALL\n");
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o440)
        .open(SUDOERS_FILE)
        .and_then(|mut f| std::io::Write::write_all(&mut f, rule.as_bytes()))
        .map_err(|e| format!("cannot write {SUDOERS_FILE}: {e}"))?;
    tracing::info!(
        user = DEFAULT_USER,
        "created the session user with a sudoers entry"
    );
    Ok(())
}

/// Resolves the login for a session. With `as_self` (or when not root)
/// sessions run as the agent's own user.
pub fn resolve(run_as: Option<&str>, as_self: bool) -> Result<Login, String> {
    if as_self || !Uid::effective().is_root() {
        let me = User::from_uid(Uid::effective())
            .ok()
            .flatten()
            .ok_or("cannot look up the agent's own user")?;
        return Ok(from_user(me, false));
    }
    let name = run_as.filter(|n| !n.is_empty()).unwrap_or(DEFAULT_USER);
    if let Some(u) = User::from_name(name).map_err(|e| e.to_string())? {
        return Ok(from_user(u, true));
    }
    if name == DEFAULT_USER {
        create_ssm_user()?;
        if let Some(u) = User::from_name(name).map_err(|e| e.to_string())? {
            return Ok(from_user(u, true));
        }
    }
    Err(format!(
        "Unable to start session: the run-as user {name} does not exist on this node"
    ))
}

impl Login {
    /// The environment a login gets.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("HOME".into(), self.home.display().to_string()),
            ("USER".into(), self.name.clone()),
            ("LOGNAME".into(), self.name.clone()),
            ("SHELL".into(), self.shell.display().to_string()),
            (
                "PATH".into(),
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
            ),
        ]
    }
    /// The working directory: home if it exists, else `/`.
    pub fn cwd(&self) -> PathBuf {
        if self.home.is_dir() {
            self.home.clone()
        } else {
            "/".into()
        }
    }
}
