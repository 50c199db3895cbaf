//! An interactive shell on a PTY: the login's shell (or a command), window
//! resize, signals to the foreground process group, and the exit status.

use std::time::Duration;

use airlock_wire::{ChannelEvent, CloseStatus, Stream};
use anyhow::Context;

use super::login::Login;
use airlock_transport::mux::Incoming;
use airlock_transport::pump::{pump_process_output, write_in};

/// The close status of a finished process.
pub fn close_status(st: std::process::ExitStatus) -> CloseStatus {
    use std::os::unix::process::ExitStatusExt;
    match (st.code(), st.signal()) {
        (Some(c), _) => CloseStatus::Exited(c),
        (None, Some(s)) => CloseStatus::Killed {
            signal: s as u8,
            core_dumped: st.core_dumped(),
        },
        (None, None) => CloseStatus::None,
    }
}

/// Delivers a signal to a process group (or the process).
pub fn deliver(pid: Option<u32>, sig: airlock_wire::Signal, group: bool) {
    let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) else {
        return;
    };
    let Ok(s) = nix::sys::signal::Signal::try_from(sig as i32) else {
        return;
    };
    let target = nix::unistd::Pid::from_raw(if group { -pid } else { pid });
    let _ = nix::sys::signal::kill(target, s);
}

/// What the client asked for.
pub struct ShellSpec<'a> {
    pub term: &'a str,
    pub cols: u16,
    pub rows: u16,
    pub env: Vec<(String, String)>,
    pub command: Option<String>,
    /// Typed into the shell before the user's input.
    pub profile: Option<String>,
}

pub async fn run(inc: Incoming, login: &Login, spec: ShellSpec<'_>) -> anyhow::Result<()> {
    let ShellSpec {
        term,
        cols,
        rows,
        env,
        command,
        profile,
    } = spec;
    let (pty, pts) = pty_process::open().context("allocating a PTY")?;
    pty.resize(pty_process::Size::new(rows.max(1), cols.max(1)))?;
    let shell_name = login
        .shell
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "sh".into());
    let mut cmd = pty_process::Command::new(&login.shell)
        .env_clear()
        .envs(login.env())
        .env(
            "TERM",
            if term.is_empty() {
                "xterm-256color"
            } else {
                term
            },
        )
        .envs(
            env.into_iter()
                .filter(|(k, _)| k == "LANG" || k.starts_with("LC_") || k == "COLORTERM"),
        )
        .current_dir(login.cwd());
    cmd = match &command {
        Some(c) => cmd.arg("-c").arg(c),
        None => cmd.arg0(format!("-{shell_name}")),
    };
    if login.switch {
        cmd = cmd.uid(login.uid).gid(login.gid);
    }
    let mut child = match cmd.spawn(pts) {
        Ok(c) => c,
        Err(e) => {
            inc.reject(
                airlock_wire::OpenFailCode::ConnectFailed,
                &format!("cannot start the shell: {e}"),
            );
            return Ok(());
        }
    };
    let mut ch = inc.accept().await?;
    let pid = child.id();
    let (rd, mut wr) = pty.into_split();
    if let Some(p) = profile {
        use tokio::io::AsyncWriteExt;
        let _ = wr.write_all(format!("{}\n", p.trim_end()).as_bytes()).await;
    }
    let (exited, exited_rx) = tokio::sync::watch::channel(false);
    let out = tokio::spawn(pump_process_output(
        rd,
        ch.sender(),
        Stream::Main,
        true,
        exited_rx,
    ));
    let status = loop {
        tokio::select! {
            st = child.wait() => break st.map(close_status).unwrap_or(CloseStatus::None),
            ev = ch.recv() => match ev {
                Some(ChannelEvent::Data { data, .. }) => {
                    if write_in(&mut wr, &ch, &data).await.is_err() {
                        break child.wait().await.map(close_status).unwrap_or(CloseStatus::None);
                    }
                }
                Some(ChannelEvent::Resize { cols, rows }) => {
                    let _ = wr.resize(pty_process::Size::new(rows.max(1), cols.max(1)));
                }
                Some(ChannelEvent::Signal(s)) => deliver(pid, s, true),
                Some(ChannelEvent::Eof) => {}
                Some(ChannelEvent::Closed(_) | ChannelEvent::Error { .. }) | None => {
                    deliver(pid, airlock_wire::Signal::Hup, true);
                    let _ = tokio::time::timeout(Duration::from_secs(2), child.wait()).await;
                    let _ = child.start_kill();
                    out.abort();
                    return Ok(());
                }
                Some(_) => {}
            },
        }
    };
    // Forward all the shell wrote (however long the session is away), then
    // report its status: a close never hides output.
    let _ = exited.send(true);
    let _ = out.await;
    ch.close(status);
    Ok(())
}
