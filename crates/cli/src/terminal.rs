//! The interactive terminal of `airlock connect`: raw mode on the local
//! terminal (so Ctrl-C, Ctrl-Z and Ctrl-\ reach the remote process), the
//! window size and its changes, and the remote shell's exit status.

use std::io::IsTerminal;
use std::os::fd::AsFd;

use airlock_wire::ChannelKind;
use nix::sys::termios::{self, SetArg, Termios};
use serde_json::Value;

use crate::Global;
use crate::client::ApiClient;
use crate::session_client::{self as sc, drain_output, exit_code};

/// Restores the terminal's settings when dropped, whatever happened.
struct RawMode(Option<Termios>);

impl RawMode {
    fn enter() -> Self {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return RawMode(None);
        }
        let Ok(saved) = termios::tcgetattr(stdin.as_fd()) else {
            return RawMode(None);
        };
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        if termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw).is_err() {
            return RawMode(None);
        }
        RawMode(Some(saved))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(saved) = &self.0 {
            let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, saved);
        }
    }
}

/// The size of the controlling terminal, as (cols, rows).
pub fn window_size() -> Option<(u16, u16)> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one winsize into the pointer we own.
    let r = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) };
    (r == 0 && ws.ws_col > 0 && ws.ws_row > 0).then_some((ws.ws_col, ws.ws_row))
}

pub fn shell(g: &Global, target: &str, document: &str, params: Value) -> anyhow::Result<i32> {
    let client = ApiClient::from_global(g)?;
    let command = params
        .get("command")
        .and_then(|v| v.get(0))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let s = sc::start(&client, target, document, params)?;
    eprintln!("\nStarting session with SessionId: {}", s.id);
    let (cols, rows) = window_size().unwrap_or((80, 24));
    let term = std::env::var("TERM").unwrap_or_else(|_| "xterm-256color".into());
    let env: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| k == "LANG" || k.starts_with("LC_"))
        .collect();
    let raw = RawMode::enter();
    let result = client.block_on(async {
        let mut ch = s
            .mux
            .open(
                ChannelKind::Shell {
                    term,
                    cols,
                    rows,
                    env,
                    command,
                },
                Some(s.id.clone()),
                None,
            )
            .await?;
        s.mux.end_when_idle();
        sc::forward_stdin(ch.sender());
        let resize = ch.sender();
        tokio::spawn(async move {
            use tokio::signal::unix::{SignalKind, signal};
            let Ok(mut winch) = signal(SignalKind::window_change()) else {
                return;
            };
            while winch.recv().await.is_some() {
                if let Some((c, r)) = window_size() {
                    resize.resize(c, r);
                }
            }
        });
        drain_output(&mut ch).await
    });
    drop(raw);
    sc::terminate(&client, &s.id);
    eprintln!("\n\nExiting session with sessionId: {}.\n", s.id);
    Ok(exit_code(&result?))
}
