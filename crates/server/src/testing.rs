//! The in-process server for this crate's own tests: a real state
//! directory, database, CA and router, driven without a binary or a socket;
//! an admin key; users with the policies a test gives them; and calls
//! signed exactly as the CLI signs them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use serde_json::Value;
use tower::ServiceExt;

use crate::auth::signature;
use crate::http::{AppState, Shared};
use crate::iam::ids;
use crate::iam::store::{Iam, PrincipalKind};

/// An access key to sign with.
pub struct Key {
    pub id: String,
    key: ed25519_dalek::SigningKey,
}

pub struct Harness {
    _dir: tempfile::TempDir,
    pub state: Shared,
    pub admin: Key,
}

impl Harness {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary state directory");
        let path = dir.path().join("airlock.db");
        let (conn, _) = crate::db::open(&path).expect("the state database");
        let iam = Iam::new(&conn).expect("the IAM store");
        iam.create_user("admin", &[]).expect("the admin user");
        iam.attach_policy(
            PrincipalKind::User,
            "admin",
            "arn:aws:iam::aws:policy/AdministratorAccess",
        )
        .expect("AdministratorAccess");
        let (meta, key) = iam.create_access_key("admin").expect("the admin's key");
        drop(conn);
        std::fs::create_dir_all(dir.path().join("pki")).expect("the pki directory");
        let state = Arc::new(AppState {
            db: crate::db::pool(&path).expect("the database pool"),
            started: Instant::now(),
            state_dir: dir.path().to_owned(),
            listen: vec![],
            pki: crate::pki::Pki::load_or_create(&dir.path().join("pki"), &["localhost".into()])
                .expect("the CA"),
            hub: Default::default(),
            ping_interval: Duration::from_secs(10),
            region: "us-east-1".into(),
            broker: Default::default(),
            listeners: Default::default(),
            clusters: crate::clusters::Manager::new(
                dir.path(),
                "airlock".into(),
                0,
                &Default::default(),
            ),
            me: Default::default(),
        });
        let _ = state.me.set(Arc::downgrade(&state));
        Harness {
            _dir: dir,
            state,
            admin: Key {
                id: meta.access_key_id,
                key,
            },
        }
    }

    /// The real routes, with their panic guard.
    pub fn app(&self) -> Router {
        crate::http::router(self.state.clone())
    }

    /// A user with `policy` (a JSON policy document) inline, if any, and a key.
    pub fn user(&self, name: &str, policy: Option<&str>) -> Key {
        let conn = crate::db::checkout(&self.state.db).expect("a database connection");
        let iam = Iam::new(&conn).expect("the IAM store");
        iam.create_user(name, &[]).expect("the user");
        if let Some(doc) = policy {
            iam.put_inline_policy(PrincipalKind::User, name, "test", doc)
                .expect("the inline policy");
        }
        let (meta, key) = iam.create_access_key(name).expect("the user's key");
        Key {
            id: meta.access_key_id,
            key,
        }
    }

    /// Calls `service:op` as `key`'s user through the router; the status and the body.
    pub async fn call(&self, key: &Key, service: &str, op: &str, body: &Value) -> (u16, Value) {
        send(&self.app(), signed(key, service, op, body, now())).await
    }

    /// Runs `f` on a database connection.
    pub fn with_db<T>(&self, f: impl FnOnce(&rusqlite::Connection) -> T) -> T {
        f(&crate::db::checkout(&self.state.db).expect("a database connection"))
    }
}

/// Sends `req` as if from 127.0.0.1.
pub async fn send(app: &Router, mut req: Request<Body>) -> (u16, Value) {
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
    let resp = app.clone().oneshot(req).await.expect("the router answers");
    let status = resp.status().as_u16();
    let bytes = axum::body::to_bytes(resp.into_body(), 16 << 20)
        .await
        .expect("the body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// `POST /v1/{service}/{op}` signed by `key` at time `date`.
pub fn signed(key: &Key, service: &str, op: &str, body: &Value, date: i64) -> Request<Body> {
    let path = format!("/v1/{service}/{op}");
    let body = body.to_string();
    let h = signature::sign(
        &key.key,
        &key.id,
        "POST",
        &path,
        "",
        body.as_bytes(),
        date,
        &ids::random_hex(8),
    );
    Request::post(path)
        .header("authorization", h.authorization)
        .header(signature::DATE_HEADER, h.date)
        .header(signature::NONCE_HEADER, h.nonce)
        .body(Body::from(body))
        .expect("a request")
}

pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}
