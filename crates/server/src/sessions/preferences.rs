//! Session Manager preferences, as the `SSM-SessionManagerRunShell`
//! document holds them in AWS: idle timeout, maximum duration, run-as,
//! shell profile, and recording.

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::api_error::ApiError;

/// The preferences' `inputs`, with AWS's names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Preferences {
    /// Minutes (1–60); a value ending in `s` is seconds.
    pub idle_session_timeout: String,
    /// Minutes (1–1440); empty means no limit. A value ending in `s` is seconds.
    pub max_session_duration: String,
    pub run_as_enabled: bool,
    pub run_as_default_user: String,
    /// Commands run at the start of a shell session on Linux.
    pub shell_profile: ShellProfile,
    /// Record shell sessions as asciicast (airlock's own; on by default).
    pub recording_enabled: bool,
    /// The largest one session's recording may grow, in MB (MiB; 1–102400).
    #[serde(rename = "maxRecordingSizeMB")]
    pub max_recording_size_mb: String,
    /// Recording stops when the state directory's filesystem has less than
    /// this many MB (MiB) free.
    #[serde(rename = "recordingMinFreeSpaceMB")]
    pub recording_min_free_space_mb: String,
    /// What a session does when its recording stops early (cap, floor or
    /// write error): `continue` unrecorded or `terminate`.
    pub recording_cap_action: CapAction,
}

/// `recordingCapAction`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CapAction {
    #[default]
    Continue,
    Terminate,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ShellProfile {
    pub linux: String,
}

impl Default for Preferences {
    fn default() -> Self {
        Preferences {
            idle_session_timeout: "20".into(),
            max_session_duration: String::new(),
            run_as_enabled: false,
            run_as_default_user: String::new(),
            shell_profile: ShellProfile::default(),
            recording_enabled: true,
            max_recording_size_mb: "100".into(),
            recording_min_free_space_mb: "1024".into(),
            recording_cap_action: CapAction::Continue,
        }
    }
}

/// `20` (minutes) or `90s` as seconds; empty is None.
fn seconds(v: &str, what: &str, max_minutes: u64) -> Result<Option<u64>, ApiError> {
    let v = v.trim();
    if v.is_empty() {
        return Ok(None);
    }
    let bad = || {
        ApiError::validation(format!(
            "{what} must be minutes (1-{max_minutes}) or seconds ending in s, not {v:?}"
        ))
    };
    let secs = match v.strip_suffix('s') {
        Some(s) => s.parse::<u64>().map_err(|_| bad())?,
        None => v
            .parse::<u64>()
            .map_err(|_| bad())?
            .checked_mul(60)
            .ok_or_else(bad)?,
    };
    if secs == 0 || secs > max_minutes * 60 {
        return Err(bad());
    }
    Ok(Some(secs))
}

/// A whole number of MB within `lo..=hi`.
fn megabytes(v: &str, what: &str, lo: u64, hi: u64) -> Result<u64, ApiError> {
    v.trim()
        .parse::<u64>()
        .ok()
        .filter(|n| (lo..=hi).contains(n))
        .ok_or_else(|| {
            ApiError::validation(format!(
                "{what} must be a whole number of MB ({lo}-{hi}), not {v:?}"
            ))
        })
}

const MAX_RECORDING_MB: (u64, u64) = (1, 102_400);
const MIN_FREE_MB: (u64, u64) = (0, 1 << 20);

impl Preferences {
    pub fn validate(&self) -> Result<(), ApiError> {
        let (lo, hi) = MAX_RECORDING_MB;
        megabytes(&self.max_recording_size_mb, "maxRecordingSizeMB", lo, hi)?;
        let (lo, hi) = MIN_FREE_MB;
        megabytes(
            &self.recording_min_free_space_mb,
            "recordingMinFreeSpaceMB",
            lo,
            hi,
        )?;
        if seconds(&self.idle_session_timeout, "idleSessionTimeout", 60)?.is_none() {
            return Err(ApiError::validation("idleSessionTimeout is required"));
        }
        seconds(&self.max_session_duration, "maxSessionDuration", 1440)?;
        if self.run_as_default_user.len() > 32 || self.run_as_default_user.contains(['/', ':', ' '])
        {
            return Err(ApiError::validation(
                "runAsDefaultUser is not a valid user name",
            ));
        }
        Ok(())
    }
    pub fn idle_timeout_secs(&self) -> u64 {
        seconds(&self.idle_session_timeout, "", 60)
            .ok()
            .flatten()
            .unwrap_or(20 * 60)
    }
    pub fn max_duration_secs(&self) -> Option<u64> {
        seconds(&self.max_session_duration, "", 1440).ok().flatten()
    }
    /// The recording limits in bytes (defaults where a value is bad).
    pub fn recording_limits(&self) -> crate::sessions::recording::Limits {
        let (lo, hi) = MAX_RECORDING_MB;
        let max = megabytes(&self.max_recording_size_mb, "", lo, hi).unwrap_or(100);
        let (lo, hi) = MIN_FREE_MB;
        let floor = megabytes(&self.recording_min_free_space_mb, "", lo, hi).unwrap_or(1024);
        crate::sessions::recording::Limits {
            max_bytes: max << 20,
            min_free_bytes: floor << 20,
        }
    }
}

pub fn load(conn: &Connection) -> Result<Preferences, ApiError> {
    let json: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'session_preferences'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    Ok(json
        .and_then(|j| serde_json::from_str(&j).ok())
        .unwrap_or_default())
}

pub fn save(conn: &Connection, p: &Preferences) -> Result<(), ApiError> {
    p.validate()?;
    let json = serde_json::to_string(p)
        .map_err(|e| ApiError::internal_because("encoding the preferences", e))?;
    conn.execute(
        "INSERT INTO meta(key, value) VALUES ('session_preferences', ?1) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![json],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_read_as_minutes_or_seconds_within_aws_limits() {
        let mut p = Preferences::default();
        assert_eq!(p.idle_timeout_secs(), 1200);
        assert_eq!(p.max_duration_secs(), None);
        p.idle_session_timeout = "5s".into();
        p.max_session_duration = "90".into();
        assert!(p.validate().is_ok());
        assert_eq!(
            (p.idle_timeout_secs(), p.max_duration_secs()),
            (5, Some(5400))
        );
        p.idle_session_timeout = "61".into();
        assert!(p.validate().is_err());
        p.idle_session_timeout = "soon".into();
        assert!(p.validate().is_err());
    }

    #[test]
    fn recording_limits_default_to_100_mb_and_a_1_gb_floor() {
        let p: Preferences = serde_json::from_str(r#"{"idleSessionTimeout":"20"}"#).unwrap();
        let l = p.recording_limits();
        assert_eq!((l.max_bytes, l.min_free_bytes), (100 << 20, 1 << 30));
        assert_eq!(p.recording_cap_action, CapAction::Continue);
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["maxRecordingSizeMB"], "100");
        assert_eq!(v["recordingMinFreeSpaceMB"], "1024");
        assert_eq!(v["recordingCapAction"], "continue");
        let p: Preferences = serde_json::from_str(
            r#"{"idleSessionTimeout":"20","maxRecordingSizeMB":"0","recordingCapAction":"terminate"}"#,
        )
        .unwrap();
        assert_eq!(p.recording_cap_action, CapAction::Terminate);
        let e = p.validate().unwrap_err();
        assert!(
            e.message
                .contains("maxRecordingSizeMB must be a whole number of MB (1-102400)")
        );
        assert!(
            serde_json::from_str::<Preferences>(r#"{"recordingCapAction":"explode"}"#).is_err()
        );
    }
}
