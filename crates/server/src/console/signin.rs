//! One-time sign-in links. `console:CreateSignInToken` (a signed API call,
//! authorised as `airlock:CreateConsoleSignInToken` on the caller's own ARN)
//! mints a token valid for [`TOKEN_TTL_SECS`]; the browser redeems it once for
//! a console session. Only the token's SHA-256 is stored.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api_error::{ApiError, ErrorCode};
use crate::iam::ids;
use crate::iam::store::Iam;
use crate::op;
use crate::ops::{Allowed, Operation, Resource};
use crate::sessions::store::sha256_hex;

/// How long a sign-in link may be used.
pub const TOKEN_TTL_SECS: i64 = 60;
/// The console session's lifetime unless the caller asks for another.
pub const DEFAULT_SESSION_SECS: i64 = 3600;
/// The shortest console session (AWS's federation minimum, 15 minutes).
pub const MIN_SESSION_SECS: i64 = 900;
/// The longest console session (AWS's federation maximum, 12 hours).
pub const MAX_SESSION_SECS: i64 = 43_200;
/// A drill for tests of session expiry: the server's administrator may
/// lower the minimum (never below 1 s) with this variable.
pub const MIN_SESSION_ENV: &str = "AIRLOCK_CONSOLE_MIN_SESSION_SECS";
/// Where the browser redeems a token (the token goes in the URL fragment,
/// so it never reaches a log, a proxy or a `Referer`).
pub const SIGNIN_PATH: &str = "/console/signin";

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateIn {
    /// Seconds the console session lasts once signed in.
    #[serde(default)]
    session_duration: Option<i64>,
}

/// The `console` service of the signed API.
pub const OPERATIONS: &[Operation] = &[op!(
    "console",
    "CreateSignInToken",
    "airlock:CreateConsoleSignInToken",
    |ctx, _: &CreateIn| Ok(vec![Resource::arn(ctx.caller.arn.clone())]),
    create_sign_in_token,
)];

fn create_sign_in_token(ctx: &Allowed<'_, '_>, i: CreateIn) -> Result<Value, ApiError> {
    let secs = check_duration(i.session_duration.unwrap_or(DEFAULT_SESSION_SECS))?;
    let token = ids::random_hex(32);
    let now = now();
    ctx.conn.execute(
        "DELETE FROM console_signin_tokens WHERE expires_at < ?1",
        params![now.saturating_sub(3600)],
    )?;
    ctx.conn.execute(
        "INSERT INTO console_signin_tokens(token_sha256, user_name, access_key_id, session_seconds, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            sha256_hex(&token),
            ctx.caller.user_name,
            ctx.caller.access_key_id,
            secs,
            now,
            now + TOKEN_TTL_SECS
        ],
    )?;
    Ok(json!({
        "SignInToken": token,
        "SignInPath": SIGNIN_PATH,
        "ExpiresInSeconds": TOKEN_TTL_SECS,
        "SessionDuration": secs,
    }))
}

/// The shortest session the server allows: [`MIN_SESSION_SECS`] unless
/// its administrator set [`MIN_SESSION_ENV`] lower.
fn min_session_secs() -> i64 {
    std::env::var(MIN_SESSION_ENV)
        .ok()
        .and_then(|v| v.parse::<i64>().ok())
        .map_or(MIN_SESSION_SECS, |v| v.clamp(1, MIN_SESSION_SECS))
}

/// Refuses a console session length outside AWS's 900 to 43200 s.
fn check_duration(secs: i64) -> Result<i64, ApiError> {
    let min = min_session_secs();
    if (min..=MAX_SESSION_SECS).contains(&secs) {
        Ok(secs)
    } else {
        Err(ApiError::validation(format!(
            "1 validation error detected: Value '{secs}' at 'sessionDuration' failed to satisfy constraint: Member must have value between {min} and {MAX_SESSION_SECS} (seconds: 15 minutes to 12 hours)"
        )))
    }
}

/// Who a redeemed token signs in, and for how long.
#[derive(Debug)]
pub struct Redeemed {
    pub user_name: String,
    pub access_key_id: String,
    pub session_seconds: i64,
}

fn refused(msg: &str) -> ApiError {
    ApiError::new(ErrorCode::InvalidSignInLink, msg)
}

/// Uses a token up: it works once, within its minute, for an existing
/// user whose key is still active.
pub fn redeem(conn: &Connection, token: &str, now: i64) -> Result<Redeemed, ApiError> {
    let hash = sha256_hex(token);
    let row: Option<(String, String, i64, i64, Option<i64>)> = conn
        .query_row(
            "SELECT user_name, access_key_id, session_seconds, expires_at, used_at
             FROM console_signin_tokens WHERE token_sha256 = ?1",
            params![hash],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .optional()?;
    let Some((user_name, access_key_id, session_seconds, expires_at, used_at)) = row else {
        return Err(refused(
            "This sign-in link is not valid. Run `airlock console` for a new one.",
        ));
    };
    let used =
        || refused("This sign-in link has already been used. Run `airlock console` for a new one.");
    if used_at.is_some() {
        return Err(used());
    }
    if now > expires_at {
        return Err(refused(&format!(
            "This sign-in link has expired (links are valid for {TOKEN_TTL_SECS} s). Run `airlock console` for a new one."
        )));
    }
    let n = conn.execute(
        "UPDATE console_signin_tokens SET used_at = ?2 WHERE token_sha256 = ?1 AND used_at IS NULL",
        params![hash, now],
    )?;
    if n == 0 {
        return Err(used());
    }
    let iam = Iam::new(conn)?;
    let active = iam
        .key_record(&access_key_id)?
        .is_some_and(|k| k.active && k.user_name == user_name);
    if !active {
        return Err(ApiError::unauthenticated(
            "The access key that created this sign-in link is no longer active.",
        ));
    }
    Ok(Redeemed {
        user_name,
        access_key_id,
        session_seconds,
    })
}

/// Unix time now.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> (tempfile::TempDir, Connection) {
        let tmp = tempfile::tempdir().unwrap();
        let (conn, _) = crate::db::open(&tmp.path().join("a.db")).unwrap();
        let iam = Iam::new(&conn).unwrap();
        iam.create_user("alice", &[]).unwrap();
        (tmp, conn)
    }

    fn mint(conn: &Connection, key: &str, at: i64) -> String {
        let token = ids::random_hex(32);
        conn.execute(
            "INSERT INTO console_signin_tokens(token_sha256, user_name, access_key_id, session_seconds, created_at, expires_at)
             VALUES (?1, 'alice', ?2, 60, ?3, ?4)",
            params![sha256_hex(&token), key, at, at + TOKEN_TTL_SECS],
        )
        .unwrap();
        token
    }

    #[test]
    fn a_link_works_once_within_its_minute() {
        let (_t, conn) = db();
        let (meta, _) = Iam::new(&conn).unwrap().create_access_key("alice").unwrap();
        let now = now();
        let t = mint(&conn, &meta.access_key_id, now);
        let r = redeem(&conn, &t, now + 5).unwrap();
        assert_eq!(r.user_name, "alice");
        let again = redeem(&conn, &t, now + 6).unwrap_err();
        assert!(again.message.contains("already been used"), "{again:?}");
        let late = mint(&conn, &meta.access_key_id, now);
        let e = redeem(&conn, &late, now + TOKEN_TTL_SECS + 1).unwrap_err();
        assert!(e.message.contains("expired"), "{e:?}");
        let e = redeem(&conn, "nope", now).unwrap_err();
        assert!(e.message.contains("not valid"), "{e:?}");
    }

    #[test]
    fn session_durations_outside_aws_limits_are_refused() {
        for bad in [i64::MIN, -1, 0, 1, 899, 43_201, i64::MAX] {
            let e = check_duration(bad).unwrap_err();
            assert_eq!(
                (e.status(), e.code.as_str()),
                (400, "ValidationError"),
                "{bad}"
            );
            assert!(e.message.contains("between 900 and 43200"), "{e:?}");
        }
        for ok in [900, 3600, 43_200] {
            assert_eq!(check_duration(ok), Ok(ok));
        }
    }

    #[test]
    fn a_link_from_a_deactivated_key_does_not_sign_in() {
        let (_t, conn) = db();
        let iam = Iam::new(&conn).unwrap();
        let (meta, _) = iam.create_access_key("alice").unwrap();
        iam.update_access_key("alice", &meta.access_key_id, false)
            .unwrap();
        let t = mint(&conn, &meta.access_key_id, now());
        assert!(redeem(&conn, &t, now()).is_err());
    }
}
