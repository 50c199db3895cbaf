//! The console's browser session: an HttpOnly, Secure, SameSite=Strict
//! cookie whose SHA-256 names a row of `console_sessions`; the CSRF token
//! derived from it; the Origin check; and the IAM user a request acts as.

use axum::http::{HeaderMap, HeaderValue, Uri, header};
use rusqlite::{Connection, OptionalExtension, params};

use crate::api_error::{ApiError, ErrorCode};
use crate::auth::Caller;
use crate::iam::ids;
use crate::iam::store::Iam;
use crate::sessions::store::sha256_hex;

/// The cookie's name.
pub const COOKIE: &str = "airlock-console";
/// The header every state-changing console request must carry.
pub const CSRF_HEADER: &str = "x-airlock-csrf";

/// A signed-in browser, resolved to its IAM user.
#[derive(Debug, Clone)]
pub struct ConsoleUser {
    pub caller: Caller,
    pub cookie_sha256: String,
    pub csrf_token: String,
    pub expires_at: i64,
}

fn not_signed_in() -> ApiError {
    ApiError::new(
        ErrorCode::NotSignedIn,
        "You are not signed in to the console. Run `airlock console` and open the link it prints.",
    )
}

/// The CSRF token that goes with a cookie: only someone who can read the
/// cookie's session (our own pages, through `whoami`) knows it.
pub fn csrf_token(cookie: &str) -> String {
    sha256_hex(&format!("airlock-console-csrf:{cookie}"))
}

/// The console cookie of a request, if any.
pub fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_owned())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

/// `Set-Cookie` for a new session.
pub fn set_cookie(value: &str, max_age: i64) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path=/console; Max-Age={max_age}; Secure; HttpOnly; SameSite=Strict"
    ))
    .ok()
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_cookie() -> HeaderValue {
    HeaderValue::from_static(
        "airlock-console=; Path=/console; Max-Age=0; Secure; HttpOnly; SameSite=Strict",
    )
}

/// The host the request was sent to.
fn request_host(headers: &HeaderMap, uri: &Uri) -> Option<String> {
    headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| uri.authority().map(|a| a.to_string()))
}

/// Refuses a request whose `Origin` is not this server's own (or is
/// missing: browsers always send it on POST and WebSocket requests).
pub fn check_origin(headers: &HeaderMap, uri: &Uri) -> Result<(), ApiError> {
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let host = request_host(headers, uri);
    match (origin, host) {
        (Some(o), Some(h)) if o.eq_ignore_ascii_case(&format!("https://{h}")) => Ok(()),
        (o, _) => Err(ApiError::new(
            ErrorCode::InvalidOrigin,
            format!(
                "Cross-origin request refused: Origin {} is not this console's.",
                o.unwrap_or("(none)")
            ),
        )),
    }
}

/// Refuses a state-changing request without the session's CSRF token.
pub fn check_csrf(headers: &HeaderMap, user: &ConsoleUser) -> Result<(), ApiError> {
    let sent = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
    if sent != Some(user.csrf_token.as_str()) {
        return Err(ApiError::new(
            ErrorCode::InvalidCsrfToken,
            "The request did not carry this console session's CSRF token; reload the page.",
        ));
    }
    Ok(())
}

/// Opens a console session for a user; returns the cookie value.
pub fn create(
    conn: &Connection,
    user_name: &str,
    access_key_id: &str,
    seconds: i64,
    now: i64,
    source_ip: Option<&str>,
) -> Result<String, ApiError> {
    let cookie = ids::random_hex(32);
    conn.execute(
        "DELETE FROM console_sessions WHERE expires_at < ?1",
        params![now - 86_400],
    )?;
    conn.execute(
        "INSERT INTO console_sessions(cookie_sha256, user_name, access_key_id, created_at, expires_at, source_ip)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![sha256_hex(&cookie), user_name, access_key_id, now, now + seconds, source_ip],
    )?;
    Ok(cookie)
}

/// Ends a console session (sign-out).
pub fn end(conn: &Connection, cookie_sha256: &str, now: i64) -> Result<(), ApiError> {
    conn.execute(
        "UPDATE console_sessions SET ended_at = ?2 WHERE cookie_sha256 = ?1 AND ended_at IS NULL",
        params![cookie_sha256, now],
    )?;
    Ok(())
}

/// Whether a console session (by its cookie's hash) is still live: not
/// signed out, not expired. Long-lived WebSockets check it as they go.
pub fn is_live(conn: &Connection, cookie_sha256: &str, now: i64) -> Result<bool, ApiError> {
    let live: Option<i64> = conn
        .query_row(
            "SELECT 1 FROM console_sessions WHERE cookie_sha256 = ?1 AND ended_at IS NULL AND expires_at > ?2",
            params![cookie_sha256, now],
            |r| r.get(0),
        )
        .optional()?;
    Ok(live.is_some())
}

/// The user a request's cookie signs in, if the session is live, the user
/// exists and the access key that signed them in is still active.
pub fn lookup(
    conn: &Connection,
    headers: &HeaderMap,
    now: i64,
    source_ip: Option<String>,
) -> Result<ConsoleUser, ApiError> {
    let cookie = cookie(headers).ok_or_else(not_signed_in)?;
    let hash = sha256_hex(&cookie);
    let row: Option<(String, String, i64, Option<i64>)> = conn
        .query_row(
            "SELECT user_name, access_key_id, expires_at, ended_at FROM console_sessions WHERE cookie_sha256 = ?1",
            params![hash],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    let Some((user_name, access_key_id, expires_at, ended_at)) = row else {
        return Err(not_signed_in());
    };
    if ended_at.is_some() {
        return Err(ApiError::new(
            ErrorCode::NotSignedIn,
            "You signed out of this console session. Run `airlock console` to sign in again.",
        ));
    }
    if now >= expires_at {
        return Err(ApiError::new(
            ErrorCode::ExpiredSession,
            "Your console session has expired. Run `airlock console` for a new sign-in link.",
        ));
    }
    let iam = Iam::new(conn)?;
    let key_ok = iam
        .key_record(&access_key_id)?
        .is_some_and(|k| k.active && k.user_name == user_name);
    if !key_ok {
        return Err(ApiError::unauthenticated(
            "The access key that signed this console session in is no longer active.",
        ));
    }
    let user = iam.get_user(&user_name).map_err(|_| not_signed_in())?;
    Ok(ConsoleUser {
        caller: Caller {
            arn: user.arn,
            user_name: user.user_name,
            user_id: user.user_id,
            tags: user.tags,
            access_key_id,
            source_ip,
        },
        cookie_sha256: hash,
        csrf_token: csrf_token(&cookie),
        expires_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let h = headers(&[("cookie", "a=1; airlock-console=abc; b=2")]);
        assert_eq!(cookie(&h).as_deref(), Some("abc"));
        assert_eq!(cookie(&headers(&[("cookie", "a=1")])), None);
    }

    #[test]
    fn only_the_servers_own_origin_passes() {
        let uri: Uri = "/console/ws/terminal".parse().unwrap();
        let ok = headers(&[
            ("host", "127.0.0.1:7443"),
            ("origin", "https://127.0.0.1:7443"),
        ]);
        assert!(check_origin(&ok, &uri).is_ok());
        let evil = headers(&[
            ("host", "127.0.0.1:7443"),
            ("origin", "https://evil.example"),
        ]);
        assert!(check_origin(&evil, &uri).is_err());
        let plain = headers(&[
            ("host", "127.0.0.1:7443"),
            ("origin", "http://127.0.0.1:7443"),
        ]);
        assert!(check_origin(&plain, &uri).is_err());
        assert!(check_origin(&headers(&[("host", "127.0.0.1:7443")]), &uri).is_err());
    }

    #[test]
    fn an_expired_or_ended_session_does_not_sign_in() {
        let tmp = tempfile::tempdir().unwrap();
        let (conn, _) = crate::db::open(&tmp.path().join("a.db")).unwrap();
        let iam = Iam::new(&conn).unwrap();
        iam.create_user("alice", &[]).unwrap();
        let (meta, _) = iam.create_access_key("alice").unwrap();
        let c = create(&conn, "alice", &meta.access_key_id, 10, 1000, None).unwrap();
        let h = headers(&[("cookie", &format!("{COOKIE}={c}"))]);
        let u = lookup(&conn, &h, 1005, None).unwrap();
        assert_eq!(u.caller.user_name, "alice");
        assert_eq!(u.csrf_token, csrf_token(&c));
        let e = lookup(&conn, &h, 1010, None).unwrap_err();
        assert_eq!(e.code.as_str(), "ExpiredSession");
        end(&conn, &u.cookie_sha256, 1006).unwrap();
        assert!(lookup(&conn, &h, 1007, None).is_err());
    }
}
