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
        /// Ended sessions instead of active ones.
        #[arg(long)]
        history: bool,
    },
    /// Show or change Session Manager preferences (the SSM-SessionManagerRunShell document).
    Preferences {
        /// Minutes (1-60), or seconds ending in s.
        #[arg(long)]
        idle_session_timeout: Option<String>,
        /// Minutes (1-1440), or seconds ending in s; "" for no limit.
        #[arg(long)]
        max_session_duration: Option<String>,
        /// Run sessions as the user's SSMSessionRunAs tag (or the default
        /// below) instead of ssm-user.
        #[arg(long)]
        run_as_enabled: Option<bool>,
        /// The Unix user for sessions of users without an SSMSessionRunAs tag.
        #[arg(long)]
        run_as_default_user: Option<String>,
        /// Commands run at the start of every shell session.
        #[arg(long)]
        shell_profile: Option<String>,
        /// Record shell sessions (asciicast).
        #[arg(long)]
        recording_enabled: Option<bool>,
        /// The largest one session's recording may grow, in MB (1-102400; default 100).
        #[arg(long)]
        max_recording_size_mb: Option<String>,
        /// Stop recording when the server's state directory has less than this many MB free (default 1024).
        #[arg(long)]
        recording_min_free_space_mb: Option<String>,
        /// When a recording stops early: go on unrecorded, or end the session.
        #[arg(long, value_parser = ["continue", "terminate"])]
        recording_cap_action: Option<String>,
    },
    /// One session's record (owner, target, document, status, times, recording).
    Show {
        /// The session's id (`airlock session list`).
        session_id: String,
    },
    /// Terminate a session.
    Terminate {
        /// The session's id (`airlock session list`).
        session_id: String,
    },
    /// Print a session's recording (asciicast v2), or play it with --play.
    Replay {
        /// The session's id (`airlock session list --history`).
        session_id: String,
        /// Play it in this terminal at its own pace (speed factor).
        #[arg(long)]
        play: Option<f64>,
        /// Fetch it in API pages of at most this many bytes (max 1048576)
        /// instead of one streamed download.
        #[arg(long)]
        page_size: Option<u64>,
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
        SessionCommand::Preferences {
            idle_session_timeout,
            max_session_duration,
            run_as_enabled,
            run_as_default_user,
            shell_profile,
            recording_enabled,
            max_recording_size_mb,
            recording_min_free_space_mb,
            recording_cap_action,
        } => {
            let doc = "SSM-SessionManagerRunShell";
            let v = client.call("ssm", "GetDocument", &json!({"Name": doc}))?;
            let content: serde_json::Value =
                serde_json::from_str(v["Content"].as_str().unwrap_or("{}"))?;
            let mut inputs = content["inputs"].clone();
            let mut changed = false;
            let mut set = |k: &str, val: Option<serde_json::Value>| {
                if let Some(val) = val {
                    inputs[k] = val;
                    changed = true;
                }
            };
            set("idleSessionTimeout", idle_session_timeout.map(Into::into));
            set("maxSessionDuration", max_session_duration.map(Into::into));
            set("runAsEnabled", run_as_enabled.map(Into::into));
            set("runAsDefaultUser", run_as_default_user.map(Into::into));
            set("shellProfile", shell_profile.map(|p| json!({"linux": p})));
            set("recordingEnabled", recording_enabled.map(Into::into));
            set("maxRecordingSizeMB", max_recording_size_mb.map(Into::into));
            set(
                "recordingMinFreeSpaceMB",
                recording_min_free_space_mb.map(Into::into),
            );
            set("recordingCapAction", recording_cap_action.map(Into::into));
            let v = if changed {
                let content = json!({"schemaVersion": "1.0", "sessionType": "Standard_Stream", "inputs": inputs});
                client.call(
                    "ssm",
                    "UpdateDocument",
                    &json!({"Name": doc, "Content": content.to_string()}),
                )?
            } else {
                v
            };
            let content: serde_json::Value =
                serde_json::from_str(v["Content"].as_str().unwrap_or("{}"))?;
            output::value(&content["inputs"]);
            Ok(0)
        }
        SessionCommand::Show { session_id } => {
            let v = client.call("ssm", "DescribeSessions", &json!({"SessionId": session_id}))?;
            let one = v["Sessions"]
                .get(0)
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("no session {session_id}"))?;
            output::value(&without_nulls(one));
            Ok(0)
        }
        SessionCommand::Terminate { session_id } => {
            client.call("ssm", "TerminateSession", &json!({"SessionId": session_id}))?;
            Ok(0)
        }
        SessionCommand::Replay {
            session_id,
            play,
            page_size,
        } => {
            let mut player = play.map(|speed| Player::new(speed.max(0.01)));
            let mut out = std::io::stdout().lock();
            let mut sink = |chunk: &[u8]| -> anyhow::Result<()> {
                match &mut player {
                    None => Ok(out.write_all(chunk)?),
                    Some(p) => p.feed(chunk, &mut out),
                }
            };
            let v = client.call(
                "ssm",
                "GetSessionRecording",
                &json!({"SessionId": session_id, "Stream": page_size.is_none(), "MaxBytes": page_size}),
            )?;
            match (v["StreamUrl"].as_str(), v["TokenValue"].as_str()) {
                (Some(url), Some(token)) => download(&client, url, token, &mut sink)?,
                // A server without streamed downloads: follow its pages.
                _ => pages(&client, &session_id, page_size, v, &mut sink)?,
            }
            if let Some(p) = &mut player {
                // The last line, had the file no final newline.
                p.feed(b"\n", &mut out)?;
            }
            out.flush()?;
            Ok(0)
        }
    }
}

/// A record without its empty fields (`"RunAs": null` for an ssm-user
/// session, `"EndDate": null` for an active one), as the AWS CLI leaves
/// out what a response does not have.
fn without_nulls(mut v: serde_json::Value) -> serde_json::Value {
    if let Some(m) = v.as_object_mut() {
        m.retain(|_, x| !x.is_null());
    }
    v
}

/// Streams a recording download into `sink`, chunk by chunk.
fn download(
    client: &ApiClient,
    url: &str,
    token: &str,
    sink: &mut dyn FnMut(&[u8]) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let http = crate::client::http_client(client.ca.as_ref())?;
    let endpoint = client.endpoint.trim_end_matches('/');
    client.block_on(async {
        let mut resp = http
            .get(format!("{endpoint}{url}"))
            .header("x-airlock-recording-token", token)
            .send()
            .await
            .map_err(|e| crate::client::unreachable_error(&client.endpoint, e))?;
        if !resp.status().is_success() {
            let status = resp.status();
            let text = resp.text().await.unwrap_or_default();
            let msg = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v["Message"].as_str().map(str::to_owned))
                .unwrap_or(text);
            anyhow::bail!("cannot download the recording ({status}): {msg}");
        }
        while let Some(chunk) = resp.chunk().await? {
            sink(&chunk)?;
        }
        Ok(())
    })
}

/// Follows `GetSessionRecording` pages (`NextToken`) into `sink`.
fn pages(
    client: &ApiClient,
    session_id: &str,
    page_size: Option<u64>,
    mut v: serde_json::Value,
    sink: &mut dyn FnMut(&[u8]) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    loop {
        sink(v["Asciicast"].as_str().unwrap_or_default().as_bytes())?;
        let Some(token) = v["NextToken"].as_str() else {
            return Ok(());
        };
        v = client.call(
            "ssm",
            "GetSessionRecording",
            &json!({"SessionId": session_id, "NextToken": token, "MaxBytes": page_size}),
        )?;
    }
}

/// Plays an asciicast's output events at `speed`, fed in pieces.
struct Player {
    speed: f64,
    last: f64,
    header_seen: bool,
    /// A line not yet ended by the pieces so far.
    partial: Vec<u8>,
}

impl Player {
    fn new(speed: f64) -> Self {
        Player {
            speed,
            last: 0.0,
            header_seen: false,
            partial: Vec::new(),
        }
    }

    fn feed(&mut self, bytes: &[u8], out: &mut impl Write) -> anyhow::Result<()> {
        self.partial.extend_from_slice(bytes);
        let Some(end) = self.partial.iter().rposition(|&b| b == b'\n') else {
            return Ok(());
        };
        let rest = self.partial.split_off(end + 1);
        let whole = std::mem::replace(&mut self.partial, rest);
        for line in whole.split(|&b| b == b'\n') {
            if line.is_empty() || !std::mem::replace(&mut self.header_seen, true) {
                continue;
            }
            self.event(line, out)?;
        }
        Ok(())
    }

    fn event(&mut self, line: &[u8], out: &mut impl Write) -> anyhow::Result<()> {
        let Ok(ev) = serde_json::from_slice::<serde_json::Value>(line) else {
            return Ok(());
        };
        let (Some(t), Some(kind), Some(data)) = (ev[0].as_f64(), ev[1].as_str(), ev[2].as_str())
        else {
            return Ok(());
        };
        match kind {
            "o" => {
                let wait = ((t - self.last) / self.speed).clamp(0.0, 5.0);
                std::thread::sleep(std::time::Duration::from_secs_f64(wait));
                self.last = t;
                out.write_all(data.as_bytes())?;
                out.flush()?;
            }
            // A marker, e.g. where the recording was cut.
            "m" => {
                out.write_all(format!("\r\n[{data}]\r\n").as_bytes())?;
                out.flush()?;
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn a_session_record_shows_no_empty_fields() {
        let v = super::without_nulls(json!({"SessionId": "s", "RunAs": null, "Owner": "o"}));
        assert_eq!(v, json!({"SessionId": "s", "Owner": "o"}));
    }
}
