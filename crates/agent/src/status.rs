//! The agent's state for `airlock agent status`, written by the running
//! agent to `status.json` and shown the way `systemctl status` shows a
//! service: active since when, main PID, and its worker processes.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::identity::AgentDir;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct AgentStatus {
    pub pid: u32,
    pub started_at: String,
    pub instance_id: String,
    pub endpoint: String,
    /// `Connecting`, `Online` or `Refused`.
    pub state: String,
    pub reason: Option<String>,
    pub since: String,
    pub last_pong: Option<String>,
}

pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

impl AgentStatus {
    pub fn save(&self, dir: &AgentDir) {
        if let Ok(json) = serde_json::to_vec_pretty(self)
            && let Err(e) = dir.write_private(&dir.status_file(), &json)
        {
            tracing::warn!(error = %e, "cannot write the status file");
        }
    }
    pub fn load(dir: &AgentDir) -> Option<Self> {
        serde_json::from_slice(&std::fs::read(dir.status_file()).ok()?).ok()
    }
}

fn alive(pid: u32) -> bool {
    i32::try_from(pid)
        .ok()
        .is_some_and(|p| nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), None).is_ok())
}

/// Processes whose parent is `pid`, as (pid, command line).
fn children(pid: u32) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in rd.flatten() {
        let Some(child) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(pid) {
            out.push((child, cmdline(&e.path())));
        }
    }
    out.sort();
    out
}

fn cmdline(proc_dir: &Path) -> String {
    std::fs::read(proc_dir.join("cmdline"))
        .map(|b| {
            b.split(|c| *c == 0)
                .filter(|s| !s.is_empty())
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

fn ago(since: &str) -> String {
    let fmt = time::format_description::well_known::Rfc3339;
    let Ok(t) = time::OffsetDateTime::parse(since, &fmt) else {
        return String::new();
    };
    let s = (time::OffsetDateTime::now_utc() - t).whole_seconds().max(0);
    match s {
        0..=59 => format!("{s}s ago"),
        60..=3599 => format!("{}min ago", s / 60),
        _ => format!("{}h {}min ago", s / 3600, s / 60 % 60),
    }
}

/// Renders the status; returns the text and whether the agent is active.
pub fn render(dir: &AgentDir) -> (String, bool) {
    let st = AgentStatus::load(dir).filter(|s| alive(s.pid));
    let Some(st) = st else {
        return (
            format!(
                "○ airlock-agent - airlock agent\n     Active: inactive (dead)\n  Directory: {}\n",
                dir.0.display()
            ),
            false,
        );
    };
    let mut out = format!(
        "● airlock-agent - airlock agent ({})\n     Active: active (running) since {}; {}\n   Main PID: {} (airlock)\n     Server: {} — {}",
        st.instance_id,
        st.started_at,
        ago(&st.started_at),
        st.pid,
        st.endpoint,
        st.state,
    );
    if let Some(p) = &st.last_pong {
        out.push_str(&format!(" (last heartbeat {})", ago(p)));
    }
    if let Some(r) = &st.reason {
        out.push_str(&format!("\n     Reason: {r}"));
    }
    out.push_str(&format!(
        "\n     CGroup: ├─{:>6} {}\n",
        st.pid,
        cmdline(Path::new(&format!("/proc/{}", st.pid)))
    ));
    for (pid, cmd) in children(st.pid) {
        out.push_str(&format!("             ├─{pid:>6} {cmd}\n"));
    }
    (out, true)
}
