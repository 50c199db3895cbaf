//! In-process tests of the router's trust boundary: a panicking handler is
//! answered 500 and harms no later request, database ones included.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use axum::routing::post;
use tower::ServiceExt;

use super::*;
use crate::iam::store::{Iam, PrincipalKind};

struct Fixture {
    _dir: tempfile::TempDir,
    state: Shared,
    key: ed25519_dalek::SigningKey,
    key_id: String,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("airlock.db");
    let (conn, _) = crate::db::open(&path).unwrap();
    let iam = Iam::new(&conn).unwrap();
    iam.create_user("admin", &[]).unwrap();
    iam.attach_policy(
        PrincipalKind::User,
        "admin",
        "arn:aws:iam::aws:policy/AdministratorAccess",
    )
    .unwrap();
    let (meta, key) = iam.create_access_key("admin").unwrap();
    drop(conn);
    std::fs::create_dir_all(dir.path().join("pki")).unwrap();
    let state = Arc::new(AppState {
        db: crate::db::pool(&path).unwrap(),
        started: Instant::now(),
        state_dir: dir.path().to_owned(),
        listen: vec![],
        pki: crate::pki::Pki::load_or_create(&dir.path().join("pki"), &["localhost".into()])
            .unwrap(),
        hub: Default::default(),
        ping_interval: std::time::Duration::from_secs(10),
        region: "us-east-1".into(),
        broker: Default::default(),
        listeners: Default::default(),
        clusters: crate::clusters::Manager::new(dir.path(), "airlock".into(), 0),
        me: Default::default(),
    });
    Fixture {
        _dir: dir,
        state,
        key,
        key_id: meta.access_key_id,
    }
}

/// The real routes plus three that panic: in the async handler, in a
/// blocking database step, and inside a write transaction after a write.
fn app(state: &Shared) -> Router {
    let (s1, s2) = (state.clone(), state.clone());
    guard(
        routes(state.clone())
            .route(
                "/test/panic/async",
                post(|| async {
                    if true {
                        panic!("injected panic in an async handler");
                    }
                    "unreachable"
                }),
            )
            .route(
                "/test/panic/db",
                post(move || async move {
                    db(&s1, |_| -> Result<(), ApiError> {
                        panic!("injected panic in a database step")
                    })
                    .await
                }),
            )
            .route(
                "/test/panic/tx",
                post(move || async move {
                    let st = s2.clone();
                    blocking(move || {
                        let mut conn = crate::db::checkout(&st.db)?;
                        in_write_tx(&mut conn, |c| -> Result<(), ApiError> {
                            c.execute(
                                "INSERT INTO users(user_name, user_id, created_at) VALUES ('ghost', 'AIDAGHOST', 'x')",
                                [],
                            )?;
                            panic!("injected panic inside a write transaction")
                        })
                    })
                    .await
                }),
            ),
    )
}

async fn send(app: &Router, req: Request<Body>) -> (u16, Value) {
    let mut req = req;
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status().as_u16();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn signed(f: &Fixture, op: &str, body: &Value, date: i64) -> Request<Body> {
    let path = format!("/v1/iam/{op}");
    let body = body.to_string();
    let h = signature::sign(
        &f.key,
        &f.key_id,
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
        .unwrap()
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_gets_500_and_later_requests_still_work() {
    let f = fixture();
    let app = app(&f.state);
    for (i, route) in ["/test/panic/async", "/test/panic/db", "/test/panic/tx"]
        .iter()
        .enumerate()
    {
        let (st, v) = send(&app, Request::post(*route).body(Body::empty()).unwrap()).await;
        assert_eq!(st, 500, "{route}: {v}");
        assert_eq!(v["__type"], "InternalFailure", "{route}: {v}");
        assert!(v["message"].as_str().unwrap().contains("server log"), "{v}");
        // Everyone else goes on: reads and writes through the database.
        let user = format!("after-panic-{i}");
        let (st, v) = send(
            &app,
            signed(&f, "CreateUser", &json!({"UserName": user}), now()),
        )
        .await;
        assert_eq!(st, 200, "after {route}: {v}");
        let (st, v) = send(&app, signed(&f, "ListUsers", &json!({}), now())).await;
        assert_eq!(st, 200, "after {route}: {v}");
        assert!(v.to_string().contains(&user), "{v}");
    }
    // The transaction that panicked was rolled back, not half applied.
    let ghost = db(&f.state, |c| {
        Ok(c.query_row(
            "SELECT count(*) FROM users WHERE user_name = 'ghost'",
            [],
            |r| r.get::<_, i64>(0),
        )?)
    })
    .await
    .unwrap();
    assert_eq!(ghost, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extreme_request_times_are_refused_without_a_panic() {
    let f = fixture();
    let app = app(&f.state);
    for date in [i64::MIN, i64::MIN + 1, -1, 0, i64::MAX] {
        let (st, v) = send(&app, signed(&f, "ListUsers", &json!({}), date)).await;
        assert_eq!(st, 403, "{date}: {v}");
        assert_eq!(v["__type"], "InvalidSignatureException", "{date}: {v}");
        assert!(
            v["message"]
                .as_str()
                .unwrap()
                .starts_with("Signature expired"),
            "{v}"
        );
        let (st, v) = send(&app, signed(&f, "ListUsers", &json!({}), now())).await;
        assert_eq!(st, 200, "after {date}: {v}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_do_not_lose_updates() {
    let f = fixture();
    let app = app(&f.state);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..12 {
        let req = signed(
            &f,
            "CreateUser",
            &json!({"UserName": format!("u{i}")}),
            now(),
        );
        let app = app.clone();
        tasks.spawn(async move { send(&app, req).await });
    }
    while let Some(r) = tasks.join_next().await {
        let (st, v) = r.unwrap();
        assert_eq!(st, 200, "{v}");
    }
    let (_, v) = send(&app, signed(&f, "ListUsers", &json!({}), now())).await;
    assert_eq!(v["Users"].as_array().map(Vec::len), Some(13), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_access_key_creation_keeps_the_two_key_limit() {
    let f = fixture();
    let app = app(&f.state);
    let (st, v) = send(
        &app,
        signed(&f, "CreateUser", &json!({"UserName": "bob"}), now()),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let req = signed(&f, "CreateAccessKey", &json!({"UserName": "bob"}), now());
        let app = app.clone();
        tasks.spawn(async move { send(&app, req).await });
    }
    let mut made = 0;
    while let Some(r) = tasks.join_next().await {
        let (st, v) = r.unwrap();
        match st {
            200 => made += 1,
            409 => assert_eq!(v["__type"], "LimitExceeded", "{v}"),
            _ => panic!("unexpected answer {st}: {v}"),
        }
    }
    assert_eq!(made, 2);
}
