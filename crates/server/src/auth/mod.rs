//! Authentication: who is calling. Checks the request signature, the clock
//! skew, the nonce (no replay) and the key's status, and names the caller.

pub use airlock_proto::signature;

use rusqlite::{Connection, OptionalExtension, params};

use crate::api_error::{ApiError, ErrorCode};
use crate::audit;
use crate::iam::store::{Iam, Tag};

/// An authenticated principal.
#[derive(Debug, Clone)]
pub struct Caller {
    pub arn: String,
    pub user_name: String,
    pub user_id: String,
    pub tags: Vec<Tag>,
    pub access_key_id: String,
    pub source_ip: Option<String>,
}

/// The signed parts of an HTTP request.
pub struct SignedRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub body: &'a [u8],
    pub authorization: Option<&'a str>,
    pub date: Option<&'a str>,
    pub nonce: Option<&'a str>,
    pub source_ip: Option<String>,
    pub request_id: &'a str,
}

fn invalid_signature(msg: &str) -> ApiError {
    ApiError::new(ErrorCode::InvalidSignatureException, msg)
}

/// Authenticates a request; every refusal is audited.
pub fn authenticate(
    conn: &Connection,
    req: &SignedRequest<'_>,
    now: i64,
) -> Result<Caller, ApiError> {
    let mut key_id = String::from("anonymous");
    let result = check(conn, req, now, &mut key_id);
    if let Err(e) = &result {
        audit::append(
            conn,
            &audit::Record {
                request_id: req.request_id,
                principal: &key_id,
                action: "sts:Authenticate",
                resource: req.path,
                decision: "Deny",
                source_ip: req.source_ip.as_deref(),
                detail: Some(&e.message),
                ..audit::Record::default()
            },
        )?;
    }
    result
}

fn check(
    conn: &Connection,
    req: &SignedRequest<'_>,
    now: i64,
    key_id: &mut String,
) -> Result<Caller, ApiError> {
    let header = req.authorization.ok_or_else(|| {
        ApiError::new(ErrorCode::MissingAuthenticationTokenException,
            "Missing Authentication Token: the request is not signed (configure a profile in ~/.airlock/credentials)",
        )
    })?;
    let cred = signature::parse_authorization(header)
        .map_err(|e| ApiError::new(ErrorCode::IncompleteSignatureException, e.to_string()))?;
    key_id.clone_from(&cred.access_key_id);
    let (date, nonce) = match (req.date, req.nonce) {
        (Some(d), Some(n)) if !n.is_empty() && n.len() <= 64 => (d, n),
        _ => {
            return Err(ApiError::new(
                ErrorCode::IncompleteSignatureException,
                "the request must carry X-Airlock-Date and X-Airlock-Nonce headers",
            ));
        }
    };
    let iam = Iam::new(conn)?;
    let record = iam.key_record(&cred.access_key_id)?.ok_or_else(|| {
        ApiError::unauthenticated("The security token included in the request is invalid.")
    })?;
    let sts = signature::string_to_sign(
        req.method,
        req.path,
        req.query,
        req.body,
        date,
        nonce,
        &cred.access_key_id,
    );
    signature::verify(&record.public_key, &sts, &cred.signature).map_err(|_| {
        invalid_signature(
            "The request signature we calculated does not match the signature you provided.",
        )
    })?;
    let ts: i64 = date
        .parse()
        .map_err(|_| invalid_signature("X-Airlock-Date must be a Unix time in seconds"))?;
    if !signature::within_skew(now, ts) {
        return Err(invalid_signature(&format!(
            "Signature expired: the request time {ts} is more than {} seconds from the server time {now} (check the clock)",
            signature::MAX_SKEW_SECS
        )));
    }
    if !record.active {
        return Err(ApiError::unauthenticated(
            "The security token included in the request is invalid.",
        ));
    }
    let key = format!("{}:{nonce}", cred.access_key_id);
    let expires = now.saturating_add(2 * signature::MAX_SKEW_SECS + 1);
    if !nonce_fresh(conn, &key, now, expires)? {
        return Err(invalid_signature(
            "This request has already been used (replayed nonce).",
        ));
    }
    let user = iam.get_user(&record.user_name)?;
    match iam.touch_access_key(&cred.access_key_id) {
        // Last-used is advisory: a full disk must not refuse reads.
        Err(e) if !e.is_disk_full() => return Err(e.into()),
        _ => {}
    }
    Ok(Caller {
        arn: user.arn,
        user_name: user.user_name,
        user_id: user.user_id,
        tags: user.tags,
        access_key_id: cred.access_key_id,
        source_ip: req.source_ip.clone(),
    })
}

/// Records a request's nonce; false if it was seen before (a replay).
/// While the disk is full, nonces are kept in memory instead, and checked
/// there until they expire, so reads still answer and replays still fail.
fn nonce_fresh(conn: &Connection, key: &str, now: i64, expires: i64) -> Result<bool, ApiError> {
    static HELD: std::sync::Mutex<Vec<(String, i64)>> = std::sync::Mutex::new(Vec::new());
    let held_has = |add: bool| -> Result<bool, ApiError> {
        let mut held = HELD
            .lock()
            .map_err(|_| ApiError::internal("the nonce table is poisoned"))?;
        held.retain(|(_, exp)| *exp >= now);
        let has = held.iter().any(|(k, _)| k == key);
        if add && !has {
            held.push((key.to_owned(), expires));
        }
        Ok(has)
    };
    if held_has(false)? {
        return Ok(false);
    }
    let full = |e: &rusqlite::Error| crate::api_error::is_disk_full(e);
    match conn
        .prepare_cached("DELETE FROM request_nonces WHERE expires_at < ?1")
        .and_then(|mut s| s.execute(params![now]))
    {
        Err(e) if !full(&e) => return Err(e.into()),
        _ => {}
    }
    match conn
        .prepare_cached("INSERT OR IGNORE INTO request_nonces(nonce, expires_at) VALUES (?1, ?2)")
        .and_then(|mut s| s.execute(params![key, expires]))
    {
        Ok(n) => Ok(n > 0 && !held_has(false)?),
        Err(e) if full(&e) => {
            let stored = conn
                .query_row(
                    "SELECT 1 FROM request_nonces WHERE nonce = ?1",
                    params![key],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
            Ok(!stored && !held_has(true)?)
        }
        Err(e) => Err(e.into()),
    }
}
