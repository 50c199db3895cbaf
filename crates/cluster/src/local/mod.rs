//! The local provider: a cluster is a bridge and subnet on this machine, a
//! node is a user namespace (the cluster's id range) owning a network,
//! UTS, mount and PID namespace whose first process is the node
//! supervisor. Everything here needs root and shells out to the distro's
//! `ip`, `nft` and `unshare`, the tools an administrator would use.

pub mod image;
pub mod layout;
pub mod net;
pub mod node;
pub mod provider;
pub mod rootfs;
pub mod supervisor;
pub mod userns;

use std::process::{Command, Stdio};

pub use layout::{ClusterLayout, NetworkPlan};
pub use provider::LocalProvider;

/// Errors of the local provider, each saying what failed and why.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error(
        "the local provider needs root (it creates network namespaces, bridges and firewall rules); run as root, e.g. with sudo"
    )]
    NotRoot,
    #[error("`{cmd}` failed: {detail}")]
    Command { cmd: String, detail: String },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T> = std::result::Result<T, ProviderError>;

pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ProviderError {
    let what = what.into();
    move |source| ProviderError::Io { what, source }
}

/// Whether this process may use the local provider.
pub fn check_root() -> Result<()> {
    if nix::unistd::geteuid().is_root() {
        Ok(())
    } else {
        Err(ProviderError::NotRoot)
    }
}

/// Runs a command to completion, feeding `stdin`; fails with its stderr.
pub(crate) fn run(program: &str, args: &[&str], stdin: Option<&str>) -> Result<String> {
    use std::io::Write;
    let shown = format!("{program} {}", args.join(" "));
    let mut child = Command::new(program)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| ProviderError::Command {
            cmd: shown.clone(),
            detail: format!("cannot start it: {e} (is it installed? see scripts/install-deps.sh)"),
        })?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes())
            .map_err(io(format!("writing to {program}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(io(format!("waiting for {program}")))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(ProviderError::Command {
            cmd: shown,
            detail: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

/// Runs a command on the host and returns its output.
pub fn run_cmd(program: &str, args: &[&str]) -> Result<String> {
    run(program, args, None)
}
