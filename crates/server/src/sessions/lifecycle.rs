//! A session's state follows its streams: the rules that end a session
//! whose streams are gone (past the resume window, or closed by the
//! client), that never paired, that idled or ran too long, or whose node
//! is gone; and [`end`], which ends one, audits why and tells the agent.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use crate::http::Shared;
use crate::instances::ServerMessage;

use super::store::{self, SessionStatus};

/// After the client closes its stream cleanly, how long a redial may still
/// take (a transport cut by a middlebox looks like a close) before the
/// session ends. Never more than the resume window.
pub const CLOSE_GRACE: Duration = Duration::from_secs(10);

fn secs_from_env(var: &str, default: Duration) -> Duration {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|s| *s > 0)
        .map(Duration::from_secs)
        .unwrap_or(default)
}

/// How long after its streams are gone a session may still resume:
/// [`airlock_wire::RESUME_WINDOW`] (`AIRLOCK_RESUME_WINDOW_SECS` for tests).
pub fn resume_window() -> Duration {
    static W: OnceLock<Duration> = OnceLock::new();
    *W.get_or_init(|| secs_from_env("AIRLOCK_RESUME_WINDOW_SECS", airlock_wire::RESUME_WINDOW))
}

/// How long one side of a new session waits for the other
/// (`AIRLOCK_PAIRING_TIMEOUT_SECS` for tests).
pub fn pairing_timeout() -> Duration {
    static T: OnceLock<Duration> = OnceLock::new();
    *T.get_or_init(|| {
        secs_from_env(
            "AIRLOCK_PAIRING_TIMEOUT_SECS",
            super::stream::PAIRING_TIMEOUT,
        )
    })
}

/// How long after the pairing timeout the reaper fails a session that no
/// side joined: a side parked late still gets to end it with its reason.
const LONE_SIDE_MARGIN: Duration = Duration::from_secs(5);

/// Why a session whose client closed its stream (and did not redial) ends.
pub const CLIENT_CLOSED: &str = "the client closed its stream and did not resume";

/// Why a session ends whose node's agent disconnected and did not come
/// back: Failed, whether or not a session worker still relays its streams.
pub const AGENT_GONE: &str = "the node's agent disconnected (its control channel was lost) and stayed away past the resume window";

/// How a session ends, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct End {
    /// `Terminated` or `Failed`.
    pub status: SessionStatus,
    pub reason: String,
    /// Cut short (streams lost, node gone): its recording says so.
    pub lost: bool,
}

impl End {
    fn terminated(reason: impl Into<String>) -> Self {
        End {
            status: SessionStatus::Terminated,
            reason: reason.into(),
            lost: false,
        }
    }
    fn lost(reason: impl Into<String>) -> Self {
        End {
            lost: true,
            ..End::terminated(reason)
        }
    }
    fn failed(reason: impl Into<String>) -> Self {
        End {
            status: SessionStatus::Failed,
            reason: reason.into(),
            lost: true,
        }
    }
}

/// Why a side that waited alone ends its session: Failed, naming the side
/// that never joined; or, for a redial of a session that had paired, the
/// streams gone past the resume window, or the node's agent gone with them
/// (`agent_gone`: its control channel lost and not back).
pub fn unpaired(waiting_client: bool, ever_paired: bool, agent_gone: bool) -> End {
    let secs = pairing_timeout().as_secs();
    if ever_paired && agent_gone {
        End::failed(AGENT_GONE)
    } else if ever_paired {
        End::lost("the session's streams were gone past the resume window")
    } else if waiting_client {
        End::failed(format!(
            "the node's agent never joined the session within {secs} s"
        ))
    } else {
        End::failed(format!(
            "the client never joined the session within {secs} s"
        ))
    }
}

/// Why a session that had not reached its node ends when the node's
/// control channel is lost: its agent will not start it.
pub fn agent_lost() -> End {
    End::failed("the node's agent lost its control channel before the session started")
}

/// The limits the rules apply.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub idle: Duration,
    pub max: Option<Duration>,
    pub resume_window: Duration,
    pub pairing: Duration,
}

/// What the reaper knows of one active session.
#[derive(Debug, Clone)]
pub struct Facts {
    pub now: SystemTime,
    /// When the server process started.
    pub restart: SystemTime,
    pub started: SystemTime,
    /// Paired at least once (`Connected`), as opposed to `Connecting`.
    pub ever_paired: bool,
    pub relaying: bool,
    /// Sides parked waiting for the other: (client, agent).
    pub parked: (bool, bool),
    /// When bytes last moved (memory or database, the later).
    pub last_activity: Option<SystemTime>,
    /// When this process saw the relay end, and how.
    pub gone: Option<super::clocks::Gone>,
    /// When the streams were last seen relaying, from the database.
    pub seen: Option<SystemTime>,
    pub target_exists: bool,
    /// When this process saw the node's agent disconnect, while it has
    /// not come back.
    pub agent_gone: Option<SystemTime>,
}

fn since(now: SystemTime, t: SystemTime) -> Duration {
    now.duration_since(t).unwrap_or_default()
}

/// Whether (and how) the reaper ends a session now.
pub fn decide(f: &Facts, l: &Limits) -> Option<End> {
    let age = since(f.now, f.started);
    if l.max.is_some_and(|m| age > m) {
        return Some(End::terminated("maximum session duration reached"));
    }
    if !f.target_exists {
        return Some(End::lost("the session's node was deregistered or deleted"));
    }
    // An agent that stays away leaves nobody on the node to run, end or
    // account for the session, even if its worker still relays.
    if f.agent_gone
        .is_some_and(|t| since(f.now, t) > l.resume_window)
    {
        return Some(End::failed(AGENT_GONE));
    }
    // Unknown activity (a session older than these clocks) counts from
    // the restart, as it did before they were stored.
    let active = f
        .last_activity
        .map_or(f.started.max(f.restart), |t| t.max(f.started));
    if since(f.now, active) > l.idle {
        return Some(End::terminated("idle session timeout"));
    }
    if f.relaying {
        return None;
    }
    if !f.ever_paired {
        // A side that waits ends the session itself (see `unpaired`).
        let from = f.started.max(f.restart);
        // Later than a waiting side's own deadline, so that one says which
        // side never came.
        let late = since(f.now, from) > l.pairing + LONE_SIDE_MARGIN;
        return (f.parked == (false, false) && late).then(|| {
            End::failed(format!(
                "neither the client nor the node's agent joined the session within {} s",
                l.pairing.as_secs()
            ))
        });
    }
    // Gone since this process saw the relay end; after a restart, since the
    // streams were last seen, or else since the restart.
    let gone_at = f
        .gone
        .map(|g| g.at)
        .or(f.seen)
        .unwrap_or(f.restart.max(f.started));
    let closed = f.gone.is_some_and(|g| g.client_closed);
    let gone_for = since(f.now, gone_at);
    // A client that redialled (parked) came back; the window still holds.
    if closed && !f.parked.0 && gone_for > CLOSE_GRACE.min(l.resume_window) {
        return Some(End::terminated(CLIENT_CLOSED));
    }
    (gone_for > l.resume_window).then(|| match f.agent_gone {
        Some(_) => End::failed(AGENT_GONE),
        None => End::lost("the session's streams were gone past the resume window"),
    })
}

/// Ends a session (once): its record (status, end time, reason), an audit
/// record saying why, its streams and recorder, and the agent's worker.
/// Returns whether this call ended it.
pub async fn end(state: &Shared, session_id: &str, target: &str, why: End) -> bool {
    let (id, w) = (session_id.to_owned(), why.clone());
    let ended = crate::db::run(state, move |c| record_end(c, &id, &w)).await;
    let ended = match ended {
        Ok(e) => e,
        Err(e) => {
            if !e.is_disk_full() {
                tracing::warn!(session = %session_id, error = %e.message, "cannot end the session");
            }
            return false;
        }
    };
    if ended {
        tracing::info!(session = %session_id, status = %why.status, reason = %why.reason, "session ended");
        if why.lost {
            mark_recording_cut(state, session_id, &why.reason).await;
        }
        state.broker.terminate(session_id);
        state.hub.send(
            target,
            ServerMessage::TerminateSession {
                session_id: session_id.to_owned(),
            },
        );
    }
    ended
}

/// Ends a session's record (once) with its reason, audited; returns
/// whether this call ended it. The caller drops its streams.
pub fn record_end(
    c: &rusqlite::Connection,
    id: &str,
    why: &End,
) -> Result<bool, crate::api_error::ApiError> {
    let ended = store::end_because(c, id, why.status, Some(&why.reason))?;
    if ended {
        let detail = format!("{}: {}", why.status, why.reason);
        crate::audit::append(
            c,
            &crate::audit::Record {
                request_id: "session-lifecycle",
                principal: "airlock",
                action: "ssm:TerminateSession",
                resource: id,
                decision: "Allow",
                detail: Some(&detail),
                ..Default::default()
            },
        )?;
    }
    Ok(ended)
}

/// Why sessions end when their node is deregistered.
pub fn deregistered() -> End {
    End::lost("its instance was deregistered")
}

/// A recording of a session that was cut short ends with a marker event
/// (when this process holds it) and the status `Truncated` (a session
/// without a recording shows no recording status either way).
async fn mark_recording_cut(state: &Shared, session_id: &str, why: &str) {
    let reason = format!("the session ended abnormally: {why}");
    let _ = state.broker.cut_recording(session_id, &reason);
    let (id, r) = (session_id.to_owned(), reason);
    if let Err(e) = crate::db::run(state, move |c| {
        Ok(store::set_recording_stopped(c, &id, "Truncated", &r)?)
    })
    .await
    {
        tracing::warn!(session = %session_id, error = %e.message, "cannot note the cut recording");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sessions::clocks::Gone;

    const T0: Duration = Duration::from_secs(1_800_000_000);

    fn at(s: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + T0 + Duration::from_secs(s)
    }

    fn limits() -> Limits {
        Limits {
            idle: Duration::from_secs(1200),
            max: None,
            resume_window: Duration::from_secs(60),
            pairing: Duration::from_secs(60),
        }
    }

    fn connected(now: u64) -> Facts {
        Facts {
            now: at(now),
            restart: at(0),
            started: at(0),
            ever_paired: true,
            relaying: false,
            parked: (false, false),
            last_activity: Some(at(0)),
            gone: None,
            seen: None,
            target_exists: true,
            agent_gone: None,
        }
    }

    #[test]
    fn streams_gone_past_the_window_end_the_session() {
        let mut f = connected(100);
        f.gone = Some(Gone {
            at: at(50),
            client_closed: false,
        });
        assert_eq!(decide(&f, &limits()), None, "within the window");
        f.now = at(111);
        let end = decide(&f, &limits()).unwrap();
        assert_eq!(end.status, SessionStatus::Terminated);
        assert!(end.reason.contains("resume window"), "{end:?}");
        f.relaying = true;
        assert_eq!(decide(&f, &limits()), None, "a resumed relay keeps it");
    }

    #[test]
    fn a_clean_close_by_the_client_ends_it_after_a_short_grace() {
        let mut f = connected(15);
        f.gone = Some(Gone {
            at: at(1),
            client_closed: true,
        });
        f.parked = (false, true);
        assert_eq!(decide(&f, &limits()).unwrap().reason, CLIENT_CLOSED);
        f.parked = (true, true);
        assert_eq!(decide(&f, &limits()), None, "the client redialled");
        f.now = at(62);
        assert!(
            decide(&f, &limits()).is_some(),
            "redials do not stretch the window"
        );
    }

    #[test]
    fn after_a_restart_the_clocks_come_from_the_database() {
        // Streams last seen at 100 s; the server came back at 130 s.
        let mut f = connected(165);
        f.restart = at(130);
        f.seen = Some(at(100));
        assert!(
            decide(&f, &limits()).is_some(),
            "counted from when last seen"
        );
        f.seen = None;
        assert_eq!(
            decide(&f, &limits()),
            None,
            "unknown: counted from the restart"
        );
        f.now = at(191);
        assert!(decide(&f, &limits()).is_some());
        // Idle time is not reset by the restart either.
        let mut f = connected(1250);
        f.restart = at(1200);
        f.relaying = true;
        f.last_activity = Some(at(40));
        assert_eq!(
            decide(&f, &limits()).unwrap().reason,
            "idle session timeout"
        );
    }

    #[test]
    fn a_session_that_never_paired_fails_with_its_reason() {
        let mut f = connected(64);
        f.ever_paired = false;
        f.last_activity = None;
        assert_eq!(decide(&f, &limits()), None, "a late side may still come");
        let mut f = connected(66);
        f.ever_paired = false;
        f.last_activity = None;
        let end = decide(&f, &limits()).unwrap();
        assert_eq!(end.status, SessionStatus::Failed);
        assert!(end.reason.starts_with("neither the client"), "{end:?}");
        f.parked = (true, false);
        assert_eq!(decide(&f, &limits()), None, "the waiting side decides");
        assert_eq!(unpaired(true, false, false).status, SessionStatus::Failed);
        assert!(
            unpaired(true, false, false)
                .reason
                .contains("agent never joined")
        );
        assert!(
            unpaired(false, false, false)
                .reason
                .contains("client never joined")
        );
        assert_eq!(
            unpaired(true, true, false).status,
            SessionStatus::Terminated
        );
        assert_eq!(unpaired(true, true, true).reason, AGENT_GONE);
    }

    #[test]
    fn a_session_on_a_deleted_node_ends() {
        let mut f = connected(1);
        f.relaying = true;
        f.target_exists = false;
        assert!(
            decide(&f, &limits())
                .unwrap()
                .reason
                .contains("deregistered")
        );
    }

    #[test]
    fn a_session_whose_agent_stays_away_past_the_window_fails_saying_so() {
        let mut f = connected(100);
        f.relaying = true;
        f.agent_gone = Some(at(50));
        assert_eq!(decide(&f, &limits()), None, "the agent may still come back");
        f.now = at(111);
        let end = decide(&f, &limits()).unwrap();
        assert_eq!(
            (end.status, end.reason.as_str(), end.lost),
            (SessionStatus::Failed, AGENT_GONE, true),
            "even while a worker still relays"
        );
        // Streams and agent gone together: the agent is the reason.
        let mut f = connected(100);
        f.gone = Some(Gone {
            at: at(30),
            client_closed: false,
        });
        f.agent_gone = Some(at(60));
        assert_eq!(decide(&f, &limits()).unwrap().reason, AGENT_GONE);
        f.agent_gone = None;
        assert!(decide(&f, &limits()).unwrap().reason.contains("streams"));
    }
}
