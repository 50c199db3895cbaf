//! A command without a PTY: stdout on the main stream, stderr apart, stdin
//! streamed when asked for, and the exit status at the end.

use std::process::Stdio;

use airlock_wire::{ChannelEvent, CloseStatus, OpenFailCode, Stream};

use super::login::Login;
use super::shell::{close_status, deliver};
use airlock_transport::mux::Incoming;
use airlock_transport::pump::{pump_process_output, write_in};

pub async fn run(inc: Incoming, login: &Login, command: &str, stdin: bool) -> anyhow::Result<()> {
    let mut cmd = tokio::process::Command::new(&login.shell);
    cmd.arg("-c")
        .arg(command)
        .env_clear()
        .envs(login.env())
        .current_dir(login.cwd())
        .stdin(if stdin { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if login.switch {
        cmd.uid(login.uid).gid(login.gid);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            inc.reject(
                OpenFailCode::ConnectFailed,
                &format!("cannot start the command: {e}"),
            );
            return Ok(());
        }
    };
    let mut ch = inc.accept().await?;
    let pid = child.id();
    let mut child_in = child.stdin.take();
    let (exited, exited_rx) = tokio::sync::watch::channel(false);
    let (tx, rx) = (ch.sender(), exited_rx.clone());
    let out = child
        .stdout
        .take()
        .map(|o| tokio::spawn(pump_process_output(o, tx, Stream::Main, false, rx)));
    let (tx, rx) = (ch.sender(), exited_rx);
    let err = child
        .stderr
        .take()
        .map(|e| tokio::spawn(pump_process_output(e, tx, Stream::Stderr, false, rx)));
    let status = loop {
        tokio::select! {
            st = child.wait() => break st.map(close_status).unwrap_or(CloseStatus::None),
            ev = ch.recv() => match ev {
                Some(ChannelEvent::Data { data, .. }) => match child_in.as_mut() {
                    Some(w) => {
                        if write_in(w, &ch, &data).await.is_err() {
                            child_in = None;
                        }
                    }
                    None => ch.consumed(data.len()),
                },
                Some(ChannelEvent::Eof) => child_in = None,
                Some(ChannelEvent::Signal(s)) => deliver(pid, s, true),
                Some(ChannelEvent::Closed(_) | ChannelEvent::Error { .. }) | None => {
                    let _ = child.start_kill();
                    return Ok(());
                }
                Some(_) => {}
            },
        }
    };
    // All the output, then the status: a close never hides output.
    let _ = exited.send(true);
    for t in [out, err].into_iter().flatten() {
        let _ = t.await;
    }
    ch.close(status);
    Ok(())
}
