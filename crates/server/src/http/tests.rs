//! Tests of the router's trust boundary, on the in-process server
//! (`crate::testing`): a panicking handler is answered 500 and harms no
//! later request, database ones included.

use axum::body::Body;
use axum::http::Request;
use axum::routing::post;

use super::*;
use crate::testing::{Harness, now, send};

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
                    crate::db::run(&s1, |_| -> Result<(), ApiError> {
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
                        crate::db::write_tx(&mut conn, |c| -> Result<(), ApiError> {
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

fn signed(h: &Harness, op: &str, body: &Value, date: i64) -> Request<Body> {
    crate::testing::signed(&h.admin, "iam", op, body, date)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_gets_500_and_later_requests_still_work() {
    let f = Harness::new();
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
    let ghost = crate::db::run(&f.state, |c| {
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
    let f = Harness::new();
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
    let f = Harness::new();
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
    let f = Harness::new();
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
