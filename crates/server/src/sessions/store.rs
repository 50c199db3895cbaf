//! Session records in the database.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::api_error::{ApiError, ErrorCode};

/// What the session store can fail with; turned into the API's error once.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("Session {0} does not exist.")]
    NoSuchSession(String),
    #[error(transparent)]
    Database(#[from] rusqlite::Error),
}

impl From<SessionError> for ApiError {
    fn from(e: SessionError) -> ApiError {
        match e {
            SessionError::NoSuchSession(_) => {
                ApiError::new(ErrorCode::DoesNotExistException, e.to_string())
            }
            SessionError::Database(e) => ApiError::from(e),
        }
    }
}
use crate::iam::store::now_iso;

crate::text_enum! {
    /// A session's state, with SSM's names.
    pub enum SessionStatus {
        /// Waiting for both sides to join.
        Connecting = "Connecting",
        Connected = "Connected",
        Terminated = "Terminated",
        /// It never started: a side never joined, or the node was gone.
        Failed = "Failed",
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Session {
    pub session_id: String,
    pub owner: String,
    pub owner_arn: String,
    pub target: String,
    pub document_name: String,
    pub parameters: serde_json::Value,
    pub run_as: Option<String>,
    pub status: SessionStatus,
    pub reason: Option<String>,
    pub start_date: String,
    pub end_date: Option<String>,
    pub recording: Option<String>,
    /// `InProgress`, `Complete`, `Truncated` or `Failed` (with a recording).
    pub recording_status: Option<String>,
    pub recording_status_reason: Option<String>,
    /// Why the server ended the session (streams gone, never joined, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    /// The reaper's clocks as last written (RFC 3339); see `clocks`.
    #[serde(skip)]
    pub last_activity_at: Option<String>,
    #[serde(skip)]
    pub streams_seen_at: Option<String>,
}

pub struct NewSession<'a> {
    pub session_id: &'a str,
    pub owner: &'a str,
    pub owner_arn: &'a str,
    pub target: &'a str,
    pub document_name: &'a str,
    pub parameters: &'a serde_json::Value,
    pub run_as: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub client_token: &'a str,
    pub agent_token: &'a str,
}

pub fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

pub fn create(conn: &Connection, s: &NewSession<'_>) -> Result<(), SessionError> {
    conn.execute(
        "INSERT INTO sessions(session_id, owner, owner_arn, target, document_name, parameters, run_as, status, reason, start_date, client_token_sha256, agent_token_sha256)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?12, ?8, ?9, ?10, ?11)",
        params![
            s.session_id, s.owner, s.owner_arn, s.target, s.document_name, s.parameters.to_string(),
            s.run_as, s.reason, now_iso(), sha256_hex(s.client_token), sha256_hex(s.agent_token),
            SessionStatus::Connecting
        ],
    )?;
    Ok(())
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Session> {
    let end_date: Option<String> = r.get(10)?;
    let recording: Option<String> = r.get(11)?;
    let stopped: Option<String> = r.get(12)?;
    let recording_status = match (&recording, stopped) {
        (None, _) => None,
        (Some(_), Some(s)) => Some(s),
        (Some(_), None) if end_date.is_some() => Some("Complete".to_owned()),
        (Some(_), None) => Some("InProgress".to_owned()),
    };
    Ok(Session {
        session_id: r.get(0)?,
        owner: r.get(1)?,
        owner_arn: r.get(2)?,
        target: r.get(3)?,
        document_name: r.get(4)?,
        parameters: serde_json::from_str(&r.get::<_, String>(5)?).unwrap_or_default(),
        run_as: r.get(6)?,
        status: r.get(7)?,
        reason: r.get(8)?,
        start_date: r.get(9)?,
        end_date,
        recording,
        recording_status,
        recording_status_reason: r.get(13)?,
        status_reason: r.get(14)?,
        last_activity_at: r.get(15)?,
        streams_seen_at: r.get(16)?,
    })
}

const COLUMNS: &str = "session_id, owner, owner_arn, target, document_name, parameters, run_as, status, reason, start_date, end_date, recording, recording_status, recording_status_reason, status_reason, last_activity_at, streams_seen_at";

pub fn get(conn: &Connection, id: &str) -> Result<Session, SessionError> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM sessions WHERE session_id = ?1"),
        params![id],
        row,
    )
    .optional()?
    .ok_or_else(|| SessionError::NoSuchSession(id.to_owned()))
}

/// Sessions in `Active` (not ended) or `History` (ended) state.
pub fn list(conn: &Connection, active: bool) -> Result<Vec<Session>, SessionError> {
    let cond = if active {
        "end_date IS NULL"
    } else {
        "end_date IS NOT NULL"
    };
    let mut st = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM sessions WHERE {cond} ORDER BY start_date DESC LIMIT 1000"
    ))?;
    let rows = st.query_map([], row)?.collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Which side a stream token belongs to, if any.
pub fn token_side(
    conn: &Connection,
    id: &str,
    token: &str,
) -> Result<Option<&'static str>, SessionError> {
    let hashes: Option<(String, String, Option<String>)> = conn
        .query_row(
            "SELECT client_token_sha256, agent_token_sha256, end_date FROM sessions WHERE session_id = ?1",
            params![id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((c, a, ended)) = hashes else {
        return Ok(None);
    };
    if ended.is_some() {
        return Ok(None);
    }
    let h = sha256_hex(token);
    Ok(if h == c {
        Some("client")
    } else if h == a {
        Some("agent")
    } else {
        None
    })
}

pub fn set_status(conn: &Connection, id: &str, status: SessionStatus) -> Result<(), SessionError> {
    conn.execute(
        "UPDATE sessions SET status = ?2 WHERE session_id = ?1 AND end_date IS NULL",
        params![id, status],
    )?;
    Ok(())
}

pub fn set_recording(conn: &Connection, id: &str, path: &str) -> Result<(), SessionError> {
    conn.execute(
        "UPDATE sessions SET recording = ?2 WHERE session_id = ?1",
        params![id, path],
    )?;
    Ok(())
}

/// Notes that a session's recording stopped early (`Truncated`/`Failed`).
pub fn set_recording_stopped(
    conn: &Connection,
    id: &str,
    status: &str,
    reason: &str,
) -> Result<(), SessionError> {
    conn.execute(
        "UPDATE sessions SET recording_status = ?2, recording_status_reason = ?3 WHERE session_id = ?1 AND recording IS NOT NULL",
        params![id, status, reason],
    )?;
    Ok(())
}

/// Notes that a recording lacks part of the session (`Incomplete`) while it
/// goes on; a recording that stopped (`Truncated`, `Failed`) keeps saying so.
pub fn set_recording_incomplete(
    conn: &Connection,
    id: &str,
    reason: &str,
) -> Result<(), SessionError> {
    conn.execute(
        "UPDATE sessions SET recording_status = 'Incomplete', recording_status_reason = ?2 WHERE session_id = ?1 AND recording IS NOT NULL AND recording_status IS NULL",
        params![id, reason],
    )?;
    Ok(())
}

/// Ends a session (once); returns whether this call ended it.
pub fn end(conn: &Connection, id: &str, status: SessionStatus) -> Result<bool, SessionError> {
    end_because(conn, id, status, None)
}

/// [`end`], noting why the server ended it.
pub fn end_because(
    conn: &Connection,
    id: &str,
    status: SessionStatus,
    reason: Option<&str>,
) -> Result<bool, SessionError> {
    let n = conn.execute(
        "UPDATE sessions SET status = ?2, end_date = ?3, status_reason = ?4 WHERE session_id = ?1 AND end_date IS NULL",
        params![id, status, now_iso(), reason],
    )?;
    Ok(n > 0)
}

/// One session's clocks to write: when bytes last moved, when its streams
/// were last seen relaying (RFC 3339; None leaves the stored value).
pub struct ClockWrite {
    pub session_id: String,
    pub last_activity_at: Option<String>,
    pub streams_seen_at: Option<String>,
}

/// Writes many sessions' clocks in one transaction; never moves one back.
pub fn record_clocks(conn: &Connection, clocks: &[ClockWrite]) -> Result<(), SessionError> {
    crate::db::immediate(conn, || {
        let mut st = conn.prepare_cached(
            "UPDATE sessions SET
               last_activity_at = CASE WHEN ?2 IS NOT NULL AND (last_activity_at IS NULL OR last_activity_at < ?2) THEN ?2 ELSE last_activity_at END,
               streams_seen_at = CASE WHEN ?3 IS NOT NULL AND (streams_seen_at IS NULL OR streams_seen_at < ?3) THEN ?3 ELSE streams_seen_at END
             WHERE session_id = ?1 AND end_date IS NULL",
        )?;
        for c in clocks {
            st.execute(params![c.session_id, c.last_activity_at, c.streams_seen_at])?;
        }
        Ok(())
    })
}

/// Whether the instance a session targets is still registered.
pub fn target_exists(conn: &Connection, instance_id: &str) -> Result<bool, SessionError> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM instances WHERE instance_id = ?1",
            params![instance_id],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(conn: &Connection, id: &str) {
        create(
            conn,
            &NewSession {
                session_id: id,
                owner: "alice",
                owner_arn: "arn:aws:iam::1:user/alice",
                target: "mi-1",
                document_name: "SSM-SessionManagerRunShell",
                parameters: &serde_json::json!({}),
                run_as: None,
                reason: None,
                client_token: "c",
                agent_token: "a",
            },
        )
        .unwrap();
        set_recording(conn, id, "/r.cast").unwrap();
    }

    fn status(conn: &Connection, id: &str) -> (Option<String>, Option<String>) {
        let s = get(conn, id).unwrap();
        (s.recording_status, s.recording_status_reason)
    }

    #[test]
    fn a_recording_with_a_gap_never_reads_complete() {
        let dir = tempfile::tempdir().unwrap();
        let (conn, _) = crate::db::open(&dir.path().join("t.db")).unwrap();
        session(&conn, "s-gap");
        assert_eq!(status(&conn, "s-gap").0.as_deref(), Some("InProgress"));
        set_recording_incomplete(&conn, "s-gap", "lacks 12 bytes").unwrap();
        end(&conn, "s-gap", SessionStatus::Terminated).unwrap();
        let (st, why) = status(&conn, "s-gap");
        assert_eq!(st.as_deref(), Some("Incomplete"));
        assert_eq!(why.as_deref(), Some("lacks 12 bytes"));
        // Without a gap it ends Complete.
        session(&conn, "s-whole");
        end(&conn, "s-whole", SessionStatus::Terminated).unwrap();
        assert_eq!(status(&conn, "s-whole").0.as_deref(), Some("Complete"));
    }

    #[test]
    fn a_stopped_recording_keeps_its_status_after_a_gap() {
        let dir = tempfile::tempdir().unwrap();
        let (conn, _) = crate::db::open(&dir.path().join("t.db")).unwrap();
        session(&conn, "s-1");
        set_recording_stopped(&conn, "s-1", "Truncated", "size cap").unwrap();
        set_recording_incomplete(&conn, "s-1", "lacks 12 bytes").unwrap();
        assert_eq!(
            status(&conn, "s-1"),
            (Some("Truncated".into()), Some("size cap".into()))
        );
    }
}
