//! `airlock session start | list | show | terminate | replay`.

use std::io::Write;

use serde_json::json;

use crate::Global;
use crate::client::ApiClient;
use crate::output::{self, s};

#[derive(clap::Subcommand)]
pub enum SessionCommand {
    /// Start a session with any session document (default: a shell).
    Start(super::session::StartArgs),
    /// Active sessions, or ended ones with --history.
    List {
        #[arg(long)]
        history: bool,
    },
    /// Terminate a session.
    Terminate { session_id: String },
    /// Print a session's recording (asciicast v2), or play it with --play.
    Replay {
        session_id: String,
        /// Play it in this terminal at its own pace (speed factor).
        #[arg(long)]
        play: Option<f64>,
    },
}

pub fn run(g: &Global, c: SessionCommand) -> anyhow::Result<i32> {
    if let SessionCommand::Start(a) = c {
        return super::session::start(g, a);
    }
    let client = ApiClient::from_global(g)?;
    match c {
        SessionCommand::Start(_) => Ok(0),
        SessionCommand::List { history } => {
            let v = client.call(
                "ssm",
                "DescribeSessions",
                &json!({"State": if history { "History" } else { "Active" }}),
            )?;
            let rows = v["Sessions"]
                .as_array()
                .map(|l| {
                    l.iter()
                        .map(|x| {
                            vec![
                                s(x, "SessionId"),
                                s(x, "Owner"),
                                s(x, "Target"),
                                s(x, "DocumentName"),
                                s(x, "Status"),
                                s(x, "StartDate"),
                                s(x, "EndDate"),
                            ]
                        })
                        .collect()
                })
                .unwrap_or_default();
            output::listing(
                g.json,
                &v,
                &[
                    "SessionId",
                    "Owner",
                    "Target",
                    "Document",
                    "Status",
                    "Start",
                    "End",
                ],
                rows,
            );
            Ok(0)
        }
        SessionCommand::Terminate { session_id } => {
            client.call("ssm", "TerminateSession", &json!({"SessionId": session_id}))?;
            Ok(0)
        }
        SessionCommand::Replay { session_id, play } => {
            let v = client.call(
                "ssm",
                "GetSessionRecording",
                &json!({"SessionId": session_id}),
            )?;
            let cast = v["Asciicast"].as_str().unwrap_or_default();
            match play {
                None => print!("{cast}"),
                Some(speed) => replay(cast, speed.max(0.01))?,
            }
            Ok(0)
        }
    }
}

/// Plays an asciicast's output events at `speed`.
fn replay(cast: &str, speed: f64) -> anyhow::Result<()> {
    let mut out = std::io::stdout();
    let mut last = 0.0;
    for line in cast.lines().skip(1) {
        let Ok(ev) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let (Some(t), Some(kind), Some(data)) = (ev[0].as_f64(), ev[1].as_str(), ev[2].as_str())
        else {
            continue;
        };
        if kind == "o" {
            let wait = ((t - last) / speed).clamp(0.0, 5.0);
            std::thread::sleep(std::time::Duration::from_secs_f64(wait));
            last = t;
            out.write_all(data.as_bytes())?;
            out.flush()?;
        }
    }
    Ok(())
}
