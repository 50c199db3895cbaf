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

/// One process: its pid, its parent's, and its command line as shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proc {
    pub pid: u32,
    pub ppid: u32,
    pub command: String,
}

/// Every process of this host (those that vanish while read are skipped).
fn processes() -> Vec<Proc> {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out: Vec<Proc> = rd
        .flatten()
        .filter_map(|e| {
            let pid = e.file_name().to_str()?.parse::<u32>().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok())?;
            Some(Proc {
                pid,
                ppid,
                command: command(&e.path()),
            })
        })
        .collect();
    out.sort_by_key(|p| p.pid);
    out
}

/// The command line, with `/proc/self/exe` (how an agent spawns its
/// session workers) shown as the executable it names.
fn command(proc_dir: &Path) -> String {
    let line = cmdline(proc_dir);
    match line.strip_prefix("/proc/self/exe") {
        Some(rest) if rest.is_empty() || rest.starts_with(' ') => {
            match std::fs::read_link(proc_dir.join("exe")) {
                Ok(exe) => format!("{}{rest}", exe.display()),
                Err(_) => line,
            }
        }
        _ => line,
    }
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

/// The `CGroup:` tree of `systemctl status`: the main process, then its
/// children at the same level, each with its own descendants below it;
/// `├─` for a branch, `└─` for the last, `│` continuing a level.
pub fn tree(main: u32, procs: &[Proc]) -> String {
    fn below(pid: u32, procs: &[Proc], prefix: &str, out: &mut String) {
        let kids: Vec<&Proc> = procs.iter().filter(|p| p.ppid == pid).collect();
        for (i, p) in kids.iter().enumerate() {
            let last = i + 1 == kids.len();
            let branch = if last { "└─" } else { "├─" };
            out.push_str(&format!("{prefix}{branch}{:>6} {}\n", p.pid, p.command));
            let deeper = format!("{prefix}{}", if last { "  " } else { "│ " });
            below(p.pid, procs, &deeper, out);
        }
    }
    let indent = "             ";
    let mut top: Vec<Proc> = procs.iter().filter(|p| p.pid == main).cloned().collect();
    top.extend(
        procs
            .iter()
            .filter(|p| p.ppid == main && p.pid != main)
            .cloned(),
    );
    let mut out = String::new();
    for (i, p) in top.iter().enumerate() {
        let last = i + 1 == top.len();
        let lead = if i == 0 { "     CGroup: " } else { indent };
        let branch = if last { "└─" } else { "├─" };
        out.push_str(&format!("{lead}{branch}{:>6} {}\n", p.pid, p.command));
        if p.pid != main {
            let deeper = format!("{indent}{}", if last { "  " } else { "│ " });
            below(p.pid, procs, &deeper, &mut out);
        }
    }
    out
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
    out.push('\n');
    out.push_str(&tree(st.pid, &processes()));
    (out, true)
}

#[cfg(test)]
mod tests {
    use super::{Proc, tree};

    fn p(pid: u32, ppid: u32, command: &str) -> Proc {
        Proc {
            pid,
            ppid,
            command: command.into(),
        }
    }

    #[test]
    fn the_tree_closes_each_level_and_shows_a_sessions_shell_under_its_worker() {
        let procs = [
            p(1, 0, "init"),
            p(100, 1, "/usr/bin/airlock agent run"),
            p(
                200,
                100,
                "/usr/bin/airlock agent session-worker --session-id a",
            ),
            p(210, 200, "-bash"),
            p(211, 210, "sleep 60"),
            p(
                300,
                100,
                "/usr/bin/airlock agent session-worker --session-id b",
            ),
            p(310, 300, "sh -c true"),
        ];
        assert_eq!(
            tree(100, &procs),
            "     CGroup: ├─   100 /usr/bin/airlock agent run\n\
             \x20            ├─   200 /usr/bin/airlock agent session-worker --session-id a\n\
             \x20            │ └─   210 -bash\n\
             \x20            │   └─   211 sleep 60\n\
             \x20            └─   300 /usr/bin/airlock agent session-worker --session-id b\n\
             \x20              └─   310 sh -c true\n"
        );
        // An agent without workers: one line, closed.
        assert_eq!(
            tree(100, &procs[..2]),
            "     CGroup: └─   100 /usr/bin/airlock agent run\n"
        );
    }
}
