//! The relay's side of recording: opening a session's recorder with the
//! preferences' limits, syncing it to disk every second, and acting when a
//! recording stops early (audit, `RecordingStatus`, and the session's
//! `recordingCapAction`) or has a gap (audit).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::preferences::{CapAction, Preferences};
use super::recording::{Recorder, StopKind, Stopped};
use super::{documents, store};
use crate::http::Shared;
use crate::instances::ServerMessage;

pub type SharedRecorder = Arc<Mutex<Recorder>>;

/// How often written recording data is synced to disk.
pub const SYNC_EVERY: Duration = Duration::from_secs(1);

/// What a relay records.
pub enum Opened {
    Recording(SharedRecorder),
    Unrecorded,
    /// The recording could not start and `recordingCapAction` ended the session.
    SessionEnded,
}

/// The session's recorder, if it is recorded: kept from an earlier relay,
/// or opened (appending) for this one. A recording that already stopped
/// (before a server restart too) stays stopped.
pub async fn open(state: &Shared, session: &store::Session, prefs: &Preferences) -> Opened {
    let recorded = matches!(
        session.document_name.as_str(),
        documents::RUN_SHELL | documents::INTERACTIVE_COMMAND
    );
    let stopped_before = matches!(
        session.recording_status.as_deref(),
        Some("Truncated" | "Failed")
    );
    if !prefs.recording_enabled || !recorded || stopped_before {
        return Opened::Unrecorded;
    }
    let id = &session.session_id;
    let dir = state.state_dir.join("recordings");
    let path = dir.join(format!("{id}.cast"));
    let limits = prefs.recording_limits();
    let opened = state.broker.recorder(id, || {
        std::fs::create_dir_all(&dir)?;
        Recorder::open(&path, limits)
    });
    let (rec, created) = match opened {
        Ok(r) => r,
        Err(e) => {
            let stop = Stopped {
                kind: StopKind::Failed,
                reason: format!("cannot open {}: {e}", path.display()),
                bytes: 0,
            };
            return stopped_at_open(state, id, stop, prefs.recording_cap_action).await;
        }
    };
    let (i2, p) = (id.clone(), path.display().to_string());
    let _ = crate::db::run(state, move |c| Ok(store::set_recording(c, &i2, &p)?)).await;
    let early = rec.lock().ok().and_then(|r| r.stopped().cloned());
    match early {
        Some(stop) if created => stopped_at_open(state, id, stop, prefs.recording_cap_action).await,
        Some(_) => Opened::Unrecorded,
        None => Opened::Recording(rec),
    }
}

async fn stopped_at_open(state: &Shared, id: &str, stop: Stopped, action: CapAction) -> Opened {
    if stopped(state.clone(), id.to_owned(), stop, action).await {
        Opened::SessionEnded
    } else {
        Opened::Unrecorded
    }
}

/// Syncs the recording every [`SYNC_EVERY`] while anything was written;
/// runs until dropped.
pub async fn sync_loop(rec: SharedRecorder) {
    let Some((file, dirty)) = rec.lock().ok().map(|r| r.syncer()) else {
        return;
    };
    let mut tick = tokio::time::interval(SYNC_EVERY);
    loop {
        tick.tick().await;
        if dirty.swap(false, Ordering::Relaxed) {
            let f = file.clone();
            let _ = tokio::task::spawn_blocking(move || f.sync_data()).await;
        }
    }
}

/// How often, and for how long, a stop that could not be noted (full
/// disk) is retried.
const NOTE_RETRY_EVERY: Duration = Duration::from_secs(1);
const NOTE_RETRY_FOR: Duration = Duration::from_secs(3600);

/// A recording stopped early: notes it on the session, audits it, and
/// ends the session if `action` says so (returning true if it did).
pub async fn stopped(state: Shared, id: String, stop: Stopped, action: CapAction) -> bool {
    let then = match action {
        CapAction::Continue => "the session goes on unrecorded",
        CapAction::Terminate => "the session is terminated",
    };
    let detail = format!("{}; {} bytes written; {then}", stop.reason, stop.bytes);
    tracing::warn!(session = %id, %detail, "session recording stopped");
    let terminate = action == CapAction::Terminate;
    // A full state disk is the likely reason a recording stopped, and the
    // note lives on that disk: retry (each step is idempotent) until space
    // returns, so the session never reads as completely recorded.
    let mut waited = Duration::ZERO;
    let ended = loop {
        let (i2, status, reason) = (id.clone(), stop.kind.status(), stop.reason.clone());
        let detail = detail.clone();
        let r = crate::db::run(&state, move |c| {
            store::set_recording_stopped(c, &i2, status, &reason)?;
            audit(c, "airlock:StopSessionRecording", &i2, &detail)?;
            let ended = terminate && store::end(c, &i2, store::SessionStatus::Terminated)?;
            if ended {
                audit(c, "ssm:TerminateSession", &i2, &reason)?;
            }
            Ok(ended
                .then(|| store::get(c, &i2).map(|s| s.target))
                .transpose()?)
        })
        .await;
        match r {
            Err(e) if e.is_disk_full() && waited < NOTE_RETRY_FOR => {
                tokio::time::sleep(NOTE_RETRY_EVERY).await;
                waited += NOTE_RETRY_EVERY;
            }
            r => break r,
        }
    };
    match ended {
        Ok(Some(target)) => {
            state.hub.send(
                &target,
                ServerMessage::TerminateSession {
                    session_id: id.clone(),
                },
            );
            state.broker.terminate(&id);
            true
        }
        Ok(None) => false,
        Err(e) => {
            tracing::error!(session = %id, error = %e.message, "cannot note the stopped recording");
            false
        }
    }
}

/// A gap in a recording: the client resumed with output the recording
/// lacks (a server that restarted without its last writes). The recording
/// marks the place; this audits it.
pub async fn gap(state: Shared, id: String, lost: u64) {
    let detail = format!(
        "the recording lacks {lost} bytes of output the client received (the server restarted without its last writes); a marker in the recording shows where"
    );
    tracing::warn!(session = %id, %detail, "session recording gap");
    let r = crate::db::run(&state, move |c| {
        audit(c, "airlock:RecordingGap", &id, &detail)?;
        store::set_recording_incomplete(c, &id, &detail)?;
        Ok(())
    })
    .await;
    if let Err(e) = r {
        tracing::error!(error = %e.message, "cannot audit the recording gap");
    }
}

fn audit(
    c: &rusqlite::Connection,
    action: &str,
    id: &str,
    detail: &str,
) -> Result<(), crate::api_error::ApiError> {
    crate::audit::append(
        c,
        &crate::audit::Record {
            request_id: "recorder",
            principal: "airlock",
            action,
            resource: id,
            decision: "Allow",
            detail: Some(detail),
            ..Default::default()
        },
    )
}
