//! The console's JSON API, called by its own pages: sign-in (redeeming a
//! link), sign-out, `whoami`, the nodes and clusters pages' data, and a
//! short list of signed-API operations passed through `ops::dispatch` as
//! the signed-in user. Every request is authenticated by the cookie; every
//! POST must come from the console's own Origin and, once signed in, carry
//! the CSRF token.

use std::net::SocketAddr;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::session::{self, ConsoleUser};
use super::signin;
use super::{Console, clusters, nodes};
use crate::api_error::{ApiError, ErrorCode};
use crate::audit;
use crate::iam::ids;
use crate::ops::Ctx;

/// The signed-API operations the console's pages may call.
pub const PASSTHROUGH: &[(&str, &str)] = &[
    ("ssm", "DescribeSessions"),
    ("ssm", "TerminateSession"),
    ("ssm", "GetSessionRecording"),
    // The Session Manager preferences page: the SSM-SessionManagerRunShell
    // document, as `airlock ssm get-document`/`update-document` see it.
    ("ssm", "GetDocument"),
    ("ssm", "UpdateDocument"),
    // The read-only audit page: the log `airlock audit` reads, with the
    // same action (cloudtrail:LookupEvents) deciding who may read it.
    ("cloudtrail", "LookupEvents"),
];

/// Whether a request must carry the CSRF token.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Csrf {
    Required,
    NotNeeded,
}

/// Runs `f` as the request's console user, on a blocking thread with the
/// database; the result is JSON, or the error as the signed API sends it.
pub async fn as_user<T: serde::Serialize + Send + 'static>(
    c: &Console,
    headers: HeaderMap,
    peer: SocketAddr,
    csrf: Csrf,
    f: impl FnOnce(&Ctx<'_>, &ConsoleUser) -> Result<T, ApiError> + Send + 'static,
) -> Response {
    let st = c.app.clone();
    let request_id = ids::random_hex(16);
    let rid = request_id.clone();
    let r = crate::http::blocking(move || {
        let conn = crate::db::checkout(&st.db)?;
        let conn: &rusqlite::Connection = &conn;
        let user = session::lookup(conn, &headers, signin::now(), Some(peer.ip().to_string()))?;
        if csrf == Csrf::Required {
            session::check_csrf(&headers, &user)?;
        }
        let ctx = Ctx {
            conn,
            caller: &user.caller,
            request_id: &rid,
            state: &st,
        };
        f(&ctx, &user)
    })
    .await;
    let mut resp = match r {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    };
    if let Ok(h) = request_id.parse() {
        resp.headers_mut().insert("x-airlock-request-id", h);
    }
    resp
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SignInIn {
    token: String,
}

/// `POST /console/api/signin {"Token": …}`: redeems a sign-in link for a
/// session cookie. Audited as `signin:ConsoleLogin`.
pub async fn signin(
    State(c): State<std::sync::Arc<Console>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(e) = session::check_origin(&headers, &uri) {
        return e.into_response();
    }
    let st = c.app.clone();
    let r = crate::http::blocking(move || {
        let conn = crate::db::checkout(&st.db)?;
        let i: SignInIn = serde_json::from_slice(&body)
            .map_err(|e| ApiError::validation(format!("invalid request: {e}")))?;
        let now = signin::now();
        let ip = peer.ip().to_string();
        let request_id = ids::random_hex(16);
        let redeemed = signin::redeem(&conn, i.token.trim(), now);
        let iam = crate::iam::store::Iam::new(&conn)?;
        let (principal, decision, detail) = match &redeemed {
            Ok(r) => (
                iam.get_user(&r.user_name)
                    .map(|u| u.arn)
                    .unwrap_or_else(|_| r.user_name.clone()),
                "Allow",
                format!("console session for {} s", r.session_seconds),
            ),
            Err(e) => ("anonymous".to_owned(), "Deny", e.message.clone()),
        };
        audit::append(
            &conn,
            &audit::Record {
                request_id: &request_id,
                principal: &principal,
                action: "signin:ConsoleLogin",
                resource: signin::SIGNIN_PATH,
                decision,
                source_ip: Some(&ip),
                detail: Some(&detail),
                ..audit::Record::default()
            },
        )?;
        let r = redeemed?;
        let cookie = session::create(
            &conn,
            &r.user_name,
            &r.access_key_id,
            r.session_seconds,
            now,
            Some(&ip),
        )?;
        Ok::<_, ApiError>((cookie, r, principal))
    })
    .await;
    match r {
        Ok((cookie, r, arn)) => {
            let mut resp = Json(json!({
                "UserName": r.user_name,
                "Arn": arn,
                "SessionDuration": r.session_seconds,
            }))
            .into_response();
            if let Some(h) = session::set_cookie(&cookie, r.session_seconds) {
                resp.headers_mut().insert(header::SET_COOKIE, h);
            }
            resp
        }
        Err(e) => e.into_response(),
    }
}

/// `POST /console/api/signout`: ends the session and clears the cookie.
pub async fn signout(
    State(c): State<std::sync::Arc<Console>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Err(e) = session::check_origin(&headers, &uri) {
        return e.into_response();
    }
    let mut resp = as_user(&c, headers, peer, Csrf::Required, |ctx, user| {
        session::end(ctx.conn, &user.cookie_sha256, signin::now())?;
        audit::append(
            ctx.conn,
            &audit::Record {
                request_id: ctx.request_id,
                principal: &ctx.caller.arn,
                action: "signin:ConsoleLogout",
                resource: signin::SIGNIN_PATH,
                decision: "Allow",
                source_ip: ctx.caller.source_ip.as_deref(),
                ..audit::Record::default()
            },
        )?;
        Ok(json!({}))
    })
    .await;
    resp.headers_mut()
        .insert(header::SET_COOKIE, session::clear_cookie());
    resp
}

/// `GET /console/api/whoami`: the signed-in user and the CSRF token.
pub async fn whoami(
    State(c): State<std::sync::Arc<Console>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    as_user(&c, headers, peer, Csrf::NotNeeded, |_, user| {
        Ok(json!({
            "UserName": user.caller.user_name,
            "Arn": user.caller.arn,
            "CsrfToken": user.csrf_token,
            "ExpiresAt": user.expires_at,
        }))
    })
    .await
}

/// `POST /console/api/nodes`: the nodes the user may describe.
pub async fn list_nodes(
    State(c): State<std::sync::Arc<Console>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Err(e) = session::check_origin(&headers, &uri) {
        return e.into_response();
    }
    as_user(&c, headers, peer, Csrf::Required, |ctx, _| {
        Ok(json!({ "Nodes": nodes::visible(ctx)? }))
    })
    .await
}

/// `POST /console/api/clusters`: the clusters the user may describe, with
/// their `sinfo` lines.
pub async fn list_clusters(
    State(c): State<std::sync::Arc<Console>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Err(e) = session::check_origin(&headers, &uri) {
        return e.into_response();
    }
    let source = c.clusters.clone();
    as_user(&c, headers, peer, Csrf::Required, move |ctx, _| {
        ctx.authorize("airlock:ListClusters", "*")?;
        let vis = super::filter::Visibility::load(ctx)?;
        let all = source.clusters(ctx.state, ctx.conn)?;
        let out: Vec<Value> = all
            .into_iter()
            .filter(|cl| vis.allows("airlock:DescribeCluster", &cl.arn, &[]))
            .map(|cl| {
                let (rows, text, note) = match &cl.slurm {
                    clusters::Slurm::Partitions(p) => {
                        let rows = clusters::sinfo_rows(p);
                        let text = clusters::sinfo_text(&rows);
                        (rows, Some(text), None)
                    }
                    clusters::Slurm::Unavailable(why) => (Vec::new(), None, Some(why.clone())),
                };
                json!({
                    "Name": cl.name,
                    "StackName": cl.stack_name,
                    "StackStatus": cl.stack_status,
                    "Sinfo": rows,
                    "SinfoText": text,
                    "SlurmUnavailable": note,
                })
            })
            .collect();
        Ok(json!({ "Clusters": out }))
    })
    .await
}

/// `POST /console/api/call/{service}/{operation}`: one of [`PASSTHROUGH`],
/// through the same dispatch, authorisation and audit as the signed API.
pub async fn call(
    State(c): State<std::sync::Arc<Console>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path((service, operation)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(e) = session::check_origin(&headers, &uri) {
        return e.into_response();
    }
    if !PASSTHROUGH
        .iter()
        .any(|(s, o)| *s == service && *o == operation)
    {
        return crate::ops::unknown_operation(&service, &operation).into_response();
    }
    as_user(&c, headers, peer, Csrf::Required, move |ctx, _| {
        let input: Value = if body.is_empty() {
            json!({})
        } else {
            serde_json::from_slice(&body).map_err(|e| {
                ApiError::new(
                    ErrorCode::SerializationException,
                    format!("the request body is not valid JSON: {e}"),
                )
            })?
        };
        crate::ops::dispatch(ctx, &service, &operation, &input)
    })
    .await
}
