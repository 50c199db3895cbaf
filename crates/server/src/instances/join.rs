//! Join tokens: how a node that boots from user data gets its identity.
//!
//! Whoever launches a machine (the provider) first creates its instance row
//! (no certificate yet), then [`mint`]s a token bound to that instance id
//! and its role, and writes the token into the machine's user data
//! ([`super::user_data`]). The machine makes its own key and redeems the
//! token with a CSR at `POST /v1/agent/register` ([`redeem`]): the instance
//! gets the certificate's fingerprint and the token is spent.
//!
//! - Only the SHA-256 of a token is stored: a copy of the database joins no
//!   machine.
//! - A token is single use, expires ([`DEFAULT_TTL_SECS`] by default), and
//!   names one instance id and one role; an instance that already has a
//!   certificate cannot be joined again.
//! - Every refusal looks the same to the caller ([`JoinError::public`]); the
//!   audit log keeps the real reason.

use rusqlite::{Connection, OptionalExtension, params};

use crate::api_error::{ApiError, ErrorCode};
use crate::iam::ids;
use crate::iam::store::now_iso;

/// How long a token lasts unless its minter says otherwise: long enough for
/// a machine to boot and fetch the agent.
pub const DEFAULT_TTL_SECS: i64 = 600;
/// The longest a token may last.
pub const MAX_TTL_SECS: i64 = 3600;

/// What the one answer to every refused join says.
pub const REFUSED: &str = "The join token is not valid for this instance: it is unknown, expired, already used, or minted for another instance.";

/// What minting and redeeming join tokens can fail with. The refusals'
/// messages are the real reasons, for the audit log; callers see
/// [`REFUSED`] for all of them.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error("ExpiresInSeconds must be between 1 and {MAX_TTL_SECS}, not {0}")]
    Ttl(i64),
    #[error("The instance ID '{0}' does not exist")]
    NoSuchInstance(String),
    #[error(
        "Instance {0} is registered already; a join token is for an instance without a certificate."
    )]
    AlreadyJoined(String),
    #[error("instance {instance} is launched as role {has}, not {wanted}")]
    RoleMismatch {
        instance: String,
        has: String,
        wanted: String,
    },
    // Refusals of a redemption: each is answered with REFUSED.
    #[error("no such join token")]
    UnknownToken,
    #[error("the join token expired at {0}")]
    Expired(String),
    #[error("the join token was used at {0}")]
    Used(String),
    #[error("the join token is for instance {minted_for}, not {presented}")]
    WrongInstance {
        minted_for: String,
        presented: String,
    },
    #[error("the join token is for role {token}, but instance {instance} is launched as {row}")]
    WrongRole {
        instance: String,
        token: String,
        row: String,
    },
    #[error("instance {0} no longer exists")]
    InstanceGone(String),
    #[error("instance {0} has a certificate already")]
    InstanceJoined(String),
    #[error("the CSR was refused: {0}")]
    CsrRefused(String),
    #[error("InstanceId {0} is not an instance id (i- and hex digits)")]
    BadInstanceId(String),
    #[error("the user data cannot be written: {0}")]
    UserData(#[from] super::user_data::UserDataError),
    #[error(transparent)]
    Database(#[from] rusqlite::Error),
}

impl JoinError {
    /// Whether this is a refused redemption (answered with [`REFUSED`]).
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            JoinError::UnknownToken
                | JoinError::Expired(_)
                | JoinError::Used(_)
                | JoinError::WrongInstance { .. }
                | JoinError::WrongRole { .. }
                | JoinError::InstanceGone(_)
                | JoinError::InstanceJoined(_)
        )
    }
}

impl From<JoinError> for ApiError {
    fn from(e: JoinError) -> ApiError {
        if e.is_refusal() {
            return ApiError::new(ErrorCode::InvalidActivation, REFUSED);
        }
        let code = match &e {
            JoinError::Ttl(_) | JoinError::RoleMismatch { .. } => ErrorCode::ValidationException,
            JoinError::AlreadyJoined(_) | JoinError::BadInstanceId(_) | JoinError::UserData(_) => {
                ErrorCode::ValidationException
            }
            JoinError::NoSuchInstance(_) => ErrorCode::InvalidInstanceIdNotFound,
            JoinError::CsrRefused(_) => ErrorCode::ValidationError,
            _ => ErrorCode::InternalFailure,
        };
        match e {
            JoinError::Database(e) => ApiError::from(e),
            e => ApiError::new(code, e.to_string()),
        }
    }
}

use super::store::{iso, sha256_hex, unix_now};

/// A minted token: the secret (shown once) and when it expires.
#[derive(Debug, Clone)]
pub struct Minted {
    pub token: String,
    /// Unix seconds.
    pub expires_at: i64,
}

impl Minted {
    /// RFC 3339.
    pub fn expiration_date(&self) -> String {
        iso(self.expires_at)
    }
}

/// `i-` and 17 hex digits, as EC2 names instances.
pub fn ec2_instance_id() -> String {
    format!("i-{}", &ids::random_hex(9)[..17])
}

/// Creates the row of an instance that will join with a token: no
/// certificate yet, not registered. `tags` is its tag map (JSON object).
pub fn create_pending_instance(
    conn: &Connection,
    instance_id: &str,
    role_name: &str,
    name: Option<&str>,
    tags: &serde_json::Map<String, serde_json::Value>,
) -> Result<(), JoinError> {
    conn.execute(
        "INSERT INTO instances(instance_id, resource_type, role_name, name, registered_at, tags)
         VALUES (?1, 'EC2Instance', ?2, ?3, ?4, ?5)",
        params![
            instance_id,
            role_name,
            name,
            now_iso(),
            serde_json::Value::Object(tags.clone()).to_string()
        ],
    )?;
    Ok(())
}

/// Mints a single-use token for `instance_id` (whose row must exist, have
/// no certificate yet, and be launched as `role_name`), valid for `ttl_secs`.
/// Stores only its SHA-256.
pub fn mint(
    conn: &Connection,
    instance_id: &str,
    role_name: &str,
    ttl_secs: i64,
) -> Result<Minted, JoinError> {
    if !(1..=MAX_TTL_SECS).contains(&ttl_secs) {
        return Err(JoinError::Ttl(ttl_secs));
    }
    let row: Option<(String, Option<String>)> = conn
        .query_row(
            "SELECT role_name, cert_sha256 FROM instances WHERE instance_id = ?1",
            params![instance_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let (has, cert) = row.ok_or_else(|| JoinError::NoSuchInstance(instance_id.to_owned()))?;
    if cert.is_some() {
        return Err(JoinError::AlreadyJoined(instance_id.to_owned()));
    }
    if has != role_name {
        return Err(JoinError::RoleMismatch {
            instance: instance_id.to_owned(),
            has,
            wanted: role_name.to_owned(),
        });
    }
    // Tokens a day past their expiry are of no use, even to the audit (the
    // audit log has its own records).
    conn.execute(
        "DELETE FROM join_tokens WHERE expires_at < ?1",
        params![unix_now() - 86_400],
    )?;
    let token = ids::random_hex(32);
    let expires_at = unix_now() + ttl_secs;
    conn.execute(
        "INSERT INTO join_tokens(token_sha256, instance_id, role_name, expires_at, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            sha256_hex(&token),
            instance_id,
            role_name,
            expires_at,
            now_iso()
        ],
    )?;
    Ok(Minted { token, expires_at })
}

/// Redeems `token` for `instance_id`: checks it, has `issue` make the
/// certificate (returning its PEM and SHA-256), binds the instance to it and
/// spends the token. Nothing is written unless every check passes.
pub fn redeem(
    conn: &Connection,
    instance_id: &str,
    token: &str,
    issue: impl FnOnce(&str) -> Result<(String, String), JoinError>,
) -> Result<String, JoinError> {
    let hash = sha256_hex(token);
    let row: Option<(String, String, i64, Option<String>)> = conn
        .query_row(
            "SELECT instance_id, role_name, expires_at, used_at FROM join_tokens WHERE token_sha256 = ?1",
            params![hash],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    let (minted_for, role, expires_at, used_at) = row.ok_or(JoinError::UnknownToken)?;
    if let Some(at) = used_at {
        return Err(JoinError::Used(at));
    }
    if expires_at < unix_now() {
        return Err(JoinError::Expired(iso(expires_at)));
    }
    if minted_for != instance_id {
        return Err(JoinError::WrongInstance {
            minted_for,
            presented: instance_id.to_owned(),
        });
    }
    let inst: Option<(String, Option<String>)> = conn
        .query_row(
            "SELECT role_name, cert_sha256 FROM instances WHERE instance_id = ?1",
            params![instance_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let (row_role, cert) = inst.ok_or_else(|| JoinError::InstanceGone(instance_id.to_owned()))?;
    if cert.is_some() {
        return Err(JoinError::InstanceJoined(instance_id.to_owned()));
    }
    if row_role != role {
        return Err(JoinError::WrongRole {
            instance: instance_id.to_owned(),
            token: role,
            row: row_role,
        });
    }
    let (cert_pem, fp) = issue(instance_id)?;
    conn.execute(
        "UPDATE instances SET cert_sha256 = ?2, registered_at = ?3, registration_error = NULL
         WHERE instance_id = ?1",
        params![instance_id, fp, now_iso()],
    )?;
    conn.execute(
        "UPDATE join_tokens SET used_at = ?2 WHERE token_sha256 = ?1",
        params![hash, now_iso()],
    )?;
    Ok(cert_pem)
}

/// What a launcher needs to boot a machine that joins on its own.
#[derive(Debug, Clone)]
pub struct Prepare<'a> {
    pub instance_id: &'a str,
    pub role_name: &'a str,
    /// The instance's `Name` (as `DescribeInstanceInformation` shows it).
    pub name: Option<&'a str>,
    /// Tags of a new instance row (ignored when the row exists).
    pub tags: &'a serde_json::Map<String, serde_json::Value>,
    pub ttl_secs: i64,
    /// The server as the machine reaches it, the CA and the binary's hash.
    pub endpoint: &'a str,
    pub ca_pem: &'a str,
    pub binary_sha256: &'a str,
}

/// A machine's way in: its token (secret, shown once) and its user data.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub minted: Minted,
    pub user_data: String,
}

/// In one transaction: creates the instance's row unless it exists (it must
/// then have no certificate and be launched as `role_name`), mints its
/// token, renders its user data and records it. What a provider calls
/// before it launches a machine with that user data.
pub fn prepare(conn: &Connection, p: &Prepare<'_>) -> Result<Prepared, JoinError> {
    if !p.instance_id.starts_with("i-")
        || !airlock_proto::control::looks_like_instance_id(p.instance_id)
    {
        return Err(JoinError::BadInstanceId(p.instance_id.to_owned()));
    }
    // Read, then write: BEGIN IMMEDIATE, so a writer elsewhere makes this
    // wait (busy timeout) instead of failing with a stale snapshot.
    crate::db::immediate(conn, || {
        let exists: bool = conn
            .query_row(
                "SELECT 1 FROM instances WHERE instance_id = ?1",
                params![p.instance_id],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        if !exists {
            create_pending_instance(conn, p.instance_id, p.role_name, p.name, p.tags)?;
        }
        let minted = mint(conn, p.instance_id, p.role_name, p.ttl_secs)?;
        let user_data = super::user_data::render(&super::user_data::UserData {
            endpoint: p.endpoint,
            ca_pem: p.ca_pem,
            binary_sha256: p.binary_sha256,
            instance_id: p.instance_id,
            join_token: &minted.token,
        })?;
        record_user_data(conn, p.instance_id, &user_data)?;
        Ok(Prepared { minted, user_data })
    })
}

/// The identity of the instance `instance_id` (exactly that id).
pub fn instance(
    conn: &Connection,
    instance_id: &str,
) -> Result<super::store::InstanceIdentity, JoinError> {
    conn.query_row(
        "SELECT instance_id, role_name, resource_type FROM instances WHERE instance_id = ?1",
        params![instance_id],
        |r| {
            Ok(super::store::InstanceIdentity {
                instance_id: r.get(0)?,
                role_name: r.get(1)?,
                resource_type: r.get(2)?,
            })
        },
    )
    .optional()?
    .ok_or_else(|| JoinError::NoSuchInstance(instance_id.to_owned()))
}

/// Keeps the user data an instance was launched with (what
/// `ec2:DescribeInstanceAttribute` shows).
pub fn record_user_data(conn: &Connection, instance_id: &str, text: &str) -> Result<(), JoinError> {
    let n = conn.execute(
        "UPDATE instances SET user_data = ?2 WHERE instance_id = ?1",
        params![instance_id, text],
    )?;
    if n == 0 {
        return Err(JoinError::NoSuchInstance(instance_id.to_owned()));
    }
    Ok(())
}

/// The user data an instance was launched with; `None` if it has none;
/// an error if there is no such instance.
pub fn user_data(conn: &Connection, instance_id: &str) -> Result<Option<String>, JoinError> {
    conn.query_row(
        "SELECT user_data FROM instances WHERE instance_id = ?1",
        params![instance_id],
        |r| r.get::<_, Option<String>>(0),
    )
    .optional()?
    .ok_or_else(|| JoinError::NoSuchInstance(instance_id.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let (conn, _) = crate::db::open(&dir.path().join("a.db")).unwrap();
        (dir, conn)
    }

    fn pending(conn: &Connection, id: &str) {
        create_pending_instance(conn, id, "NodeRole", None, &Default::default()).unwrap();
    }

    fn issue_ok(fp: &'static str) -> impl FnOnce(&str) -> Result<(String, String), JoinError> {
        move |_| Ok(("CERT".into(), fp.into()))
    }

    fn cert_of(conn: &Connection, id: &str) -> Option<String> {
        conn.query_row(
            "SELECT cert_sha256 FROM instances WHERE instance_id = ?1",
            params![id],
            |r| r.get(0),
        )
        .unwrap()
    }

    #[test]
    fn a_token_joins_its_instance_once() {
        let (_d, conn) = db();
        pending(&conn, "i-1");
        let m = mint(&conn, "i-1", "NodeRole", DEFAULT_TTL_SECS).unwrap();
        assert_eq!(m.token.len(), 64);
        assert_eq!(cert_of(&conn, "i-1"), None);
        assert_eq!(
            redeem(&conn, "i-1", &m.token, issue_ok("fp1")).unwrap(),
            "CERT"
        );
        assert_eq!(cert_of(&conn, "i-1").as_deref(), Some("fp1"));
        let again = redeem(&conn, "i-1", &m.token, issue_ok("fp2")).unwrap_err();
        assert!(matches!(again, JoinError::Used(_)), "{again}");
        assert_eq!(cert_of(&conn, "i-1").as_deref(), Some("fp1"));
    }

    #[test]
    fn the_token_is_stored_only_as_its_hash() {
        let (_d, conn) = db();
        pending(&conn, "i-1");
        let m = mint(&conn, "i-1", "NodeRole", 60).unwrap();
        let stored: Vec<String> = conn
            .prepare(
                "SELECT token_sha256 || instance_id || role_name || created_at FROM join_tokens",
            )
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(stored.len(), 1);
        assert!(!stored[0].contains(&m.token));
        assert!(stored[0].starts_with(&sha256_hex(&m.token)));
    }

    #[test]
    fn an_expired_token_is_refused() {
        let (_d, conn) = db();
        pending(&conn, "i-1");
        let m = mint(&conn, "i-1", "NodeRole", 60).unwrap();
        conn.execute("UPDATE join_tokens SET expires_at = expires_at - 61", [])
            .unwrap();
        let e = redeem(&conn, "i-1", &m.token, issue_ok("fp")).unwrap_err();
        assert!(matches!(e, JoinError::Expired(_)), "{e}");
        assert_eq!(cert_of(&conn, "i-1"), None);
    }

    #[test]
    fn another_instance_and_unknown_tokens_are_refused() {
        let (_d, conn) = db();
        pending(&conn, "i-1");
        pending(&conn, "i-2");
        let m = mint(&conn, "i-1", "NodeRole", 60).unwrap();
        let e = redeem(&conn, "i-2", &m.token, issue_ok("fp")).unwrap_err();
        assert!(matches!(e, JoinError::WrongInstance { .. }), "{e}");
        let e = redeem(&conn, "i-1", "00", issue_ok("fp")).unwrap_err();
        assert!(matches!(e, JoinError::UnknownToken), "{e}");
        assert_eq!(cert_of(&conn, "i-1"), None);
        assert_eq!(cert_of(&conn, "i-2"), None);
        // Refused attempts do not spend the token.
        redeem(&conn, "i-1", &m.token, issue_ok("fp")).unwrap();
    }

    #[test]
    fn every_refusal_reads_the_same_to_the_caller() {
        for e in [
            JoinError::UnknownToken,
            JoinError::Expired("t".into()),
            JoinError::Used("t".into()),
            JoinError::WrongInstance {
                minted_for: "i-1".into(),
                presented: "i-2".into(),
            },
            JoinError::InstanceJoined("i-1".into()),
        ] {
            assert!(e.is_refusal());
            let api = ApiError::from(e);
            assert_eq!(api.message, REFUSED);
            assert_eq!(api.code, ErrorCode::InvalidActivation);
        }
    }

    #[test]
    fn minting_checks_the_instance_its_role_and_the_ttl() {
        let (_d, conn) = db();
        assert!(matches!(
            mint(&conn, "i-9", "NodeRole", 60).unwrap_err(),
            JoinError::NoSuchInstance(_)
        ));
        pending(&conn, "i-1");
        assert!(matches!(
            mint(&conn, "i-1", "OtherRole", 60).unwrap_err(),
            JoinError::RoleMismatch { .. }
        ));
        assert!(matches!(
            mint(&conn, "i-1", "NodeRole", 0).unwrap_err(),
            JoinError::Ttl(0)
        ));
        assert!(matches!(
            mint(&conn, "i-1", "NodeRole", MAX_TTL_SECS + 1).unwrap_err(),
            JoinError::Ttl(_)
        ));
        let m = mint(&conn, "i-1", "NodeRole", 60).unwrap();
        redeem(&conn, "i-1", &m.token, issue_ok("fp")).unwrap();
        assert!(matches!(
            mint(&conn, "i-1", "NodeRole", 60).unwrap_err(),
            JoinError::AlreadyJoined(_)
        ));
    }

    #[test]
    fn a_second_token_cannot_rejoin_a_joined_instance() {
        let (_d, conn) = db();
        pending(&conn, "i-1");
        let a = mint(&conn, "i-1", "NodeRole", 60).unwrap();
        let b = mint(&conn, "i-1", "NodeRole", 60).unwrap();
        redeem(&conn, "i-1", &a.token, issue_ok("fp")).unwrap();
        let e = redeem(&conn, "i-1", &b.token, issue_ok("fp2")).unwrap_err();
        assert!(matches!(e, JoinError::InstanceJoined(_)), "{e}");
    }

    #[test]
    fn user_data_is_kept_per_instance() {
        let (_d, conn) = db();
        pending(&conn, "i-1");
        assert_eq!(user_data(&conn, "i-1").unwrap(), None);
        record_user_data(&conn, "i-1", "#!/bin/sh\n").unwrap();
        assert_eq!(
            user_data(&conn, "i-1").unwrap().as_deref(),
            Some("#!/bin/sh\n")
        );
        assert!(matches!(
            record_user_data(&conn, "i-9", "x").unwrap_err(),
            JoinError::NoSuchInstance(_)
        ));
    }

    fn csr() -> String {
        let key = rcgen::KeyPair::generate().unwrap();
        rcgen::CertificateParams::default()
            .serialize_request(&key)
            .unwrap()
            .pem()
            .unwrap()
    }

    async fn register(
        h: &crate::testing::Harness,
        body: serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let req = axum::http::Request::post(airlock_proto::registration::REGISTER_PATH)
            .header("content-type", "application/json")
            .body(axum::body::Body::from(body.to_string()))
            .unwrap();
        crate::testing::send(&h.app(), req).await
    }

    fn audit_rows(h: &crate::testing::Harness) -> Vec<(String, String, String, Option<String>)> {
        h.with_db(|c| {
            c.prepare(
                "SELECT principal, resource, decision, detail FROM audit_log
                 WHERE action = 'ssm:RegisterManagedInstance' ORDER BY id",
            )
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
        })
    }

    #[tokio::test]
    async fn a_join_over_the_api_is_audited_and_a_refusal_says_nothing_of_why() {
        let h = crate::testing::Harness::new();
        let token = h.with_db(|c| {
            pending(c, "i-0abc");
            mint(c, "i-0abc", "NodeRole", 60).unwrap().token
        });
        let (status, body) = register(
            &h,
            serde_json::json!({"InstanceId": "i-0abc", "JoinToken": "0".repeat(64), "Csr": csr()}),
        )
        .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["message"], REFUSED, "{body}");
        let (status, body) = register(
            &h,
            serde_json::json!({"InstanceId": "i-0abc", "JoinToken": token, "Csr": csr()}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["InstanceId"], "i-0abc");
        assert!(
            body["Certificate"]
                .as_str()
                .unwrap()
                .contains("BEGIN CERTIFICATE")
        );
        let (status, body) = register(
            &h,
            serde_json::json!({"InstanceId": "i-0abc", "JoinToken": token, "Csr": csr()}),
        )
        .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["message"], REFUSED, "{body}");
        let rows = audit_rows(&h);
        assert_eq!(rows.len(), 3, "{rows:?}");
        for r in &rows {
            assert_eq!(r.0, "join/i-0abc");
            assert_eq!(r.1, "i-0abc");
        }
        assert_eq!(
            (rows[0].2.as_str(), rows[0].3.as_deref()),
            ("Deny", Some("no such join token"))
        );
        assert_eq!((rows[1].2.as_str(), rows[1].3.as_deref()), ("Allow", None));
        assert_eq!(rows[2].2, "Deny");
        assert!(
            rows[2]
                .3
                .as_deref()
                .unwrap()
                .starts_with("the join token was used at")
        );
        // The node's certificate now names the instance.
        let fp: Option<String> = h.with_db(|c| cert_of(c, "i-0abc"));
        assert!(fp.is_some());
    }

    #[tokio::test]
    async fn a_request_that_mixes_credentials_is_a_validation_error() {
        let h = crate::testing::Harness::new();
        let (status, body) = register(
            &h,
            serde_json::json!({"ActivationId": "a", "JoinToken": "t", "Csr": csr()}),
        )
        .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["__type"], "ValidationError", "{body}");
        let m = body["message"].as_str().unwrap();
        assert!(
            m.contains("either ActivationId and ActivationCode, or InstanceId and JoinToken"),
            "{m}"
        );
        assert!(audit_rows(&h).is_empty());
    }

    #[test]
    fn prepare_makes_the_row_the_token_and_the_user_data_at_once() {
        let (_d, conn) = db();
        let ca = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        let digest = "a".repeat(64);
        let no_tags = serde_json::Map::new();
        let p = |id: &'static str| Prepare {
            instance_id: id,
            role_name: "NodeRole",
            name: Some("HeadNode"),
            tags: &no_tags,
            ttl_secs: DEFAULT_TTL_SECS,
            endpoint: "https://10.77.1.1:7443",
            ca_pem: ca,
            binary_sha256: &digest,
        };
        let made = prepare(&conn, &p("i-0abc")).unwrap();
        assert!(made.user_data.contains(&made.minted.token));
        assert_eq!(user_data(&conn, "i-0abc").unwrap(), Some(made.user_data));
        assert_eq!(instance(&conn, "i-0abc").unwrap().role_name, "NodeRole");
        for bad in ["mi-0abc", "i-xyz", "0abc"] {
            let e = prepare(&conn, &p(bad)).unwrap_err();
            assert!(matches!(e, JoinError::BadInstanceId(_)), "{bad}: {e}");
        }
        // A value the script cannot hold leaves nothing behind.
        let mut q = p("i-0def");
        q.endpoint = "https://x'y";
        assert!(matches!(
            prepare(&conn, &q).unwrap_err(),
            JoinError::UserData(_)
        ));
        assert!(matches!(
            instance(&conn, "i-0def").unwrap_err(),
            JoinError::NoSuchInstance(_)
        ));
    }

    #[test]
    fn long_expired_tokens_are_swept_when_one_is_minted() {
        let (_d, conn) = db();
        pending(&conn, "i-1");
        mint(&conn, "i-1", "NodeRole", 60).unwrap();
        conn.execute(
            "UPDATE join_tokens SET expires_at = expires_at - 2 * 86400",
            [],
        )
        .unwrap();
        mint(&conn, "i-1", "NodeRole", 60).unwrap();
        let n: i64 = conn
            .query_row("SELECT count(*) FROM join_tokens", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
    }

    /// A database of schema 8 with a registered instance keeps it, and the
    /// rebuilt table takes instances without a certificate.
    #[test]
    fn the_migration_keeps_existing_instances() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        {
            let conn = Connection::open(&path).unwrap();
            for sql in [
                include_str!("../db/0001_init.sql"),
                include_str!("../db/0002_instances.sql"),
                include_str!("../db/0003_sessions.sql"),
                include_str!("../db/0004_clusters.sql"),
                include_str!("../db/0005_console.sql"),
                include_str!("../db/0006_iam_names_nocase.sql"),
                include_str!("../db/0007_recording.sql"),
                include_str!("../db/0008_session_activity.sql"),
            ] {
                conn.execute_batch(sql).unwrap();
            }
            conn.pragma_update(None, "user_version", 8).unwrap();
            conn.execute(
                "INSERT INTO instances(instance_id, resource_type, role_name, cert_sha256, registered_at, ping_status, tags)
                 VALUES ('mi-1', 'ManagedInstance', 'R', 'fp', '2026-01-01T00:00:00Z', 'Online', '{\"k\":\"v\"}')",
                [],
            )
            .unwrap();
        }
        let (conn, created) = crate::db::open(&path).unwrap();
        assert!(!created);
        let row: (String, String, String, String) = conn
            .query_row(
                "SELECT role_name, cert_sha256, ping_status, tags FROM instances WHERE instance_id = 'mi-1'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        assert_eq!(
            row,
            (
                "R".into(),
                "fp".into(),
                "Online".into(),
                "{\"k\":\"v\"}".into()
            )
        );
        pending(&conn, "i-2");
        assert_eq!(cert_of(&conn, "i-2"), None);
        // The fingerprint stays unique.
        let dup = conn.execute(
            "INSERT INTO instances(instance_id, resource_type, role_name, cert_sha256, registered_at) VALUES ('mi-3', 'ManagedInstance', 'R', 'fp', 'now')",
            [],
        );
        assert!(dup.is_err());
    }
}
