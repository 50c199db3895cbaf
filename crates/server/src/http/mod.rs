//! The HTTPS API: unauthenticated `/healthz` and `/version`, and signed
//! `POST /v1/{service}/{Operation}` calls with JSON bodies, AWS style.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

pub mod listeners;
pub mod tls;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::api_error::{ApiError, ErrorCode};
use crate::auth::{self, SignedRequest, signature};
use crate::iam::ids;

/// Largest accepted API request body.
pub const MAX_BODY: usize = 1 << 20;

/// What every handler shares.
pub struct AppState {
    /// Connections to the state database; each request borrows its own.
    pub db: crate::db::Pool,
    pub started: Instant,
    pub state_dir: PathBuf,
    pub listen: Vec<SocketAddr>,
    pub pki: crate::pki::Pki,
    pub hub: crate::instances::Hub,
    /// How often agents heartbeat; three missed beats mean ConnectionLost.
    pub ping_interval: std::time::Duration,
    /// The region in instance ARNs.
    pub region: String,
    pub broker: crate::sessions::Broker,
    /// Extra listeners (clusters' agent endpoints).
    pub listeners: listeners::Listeners,
    /// Clusters on the local provider.
    pub clusters: crate::clusters::Manager,
    /// This state's own `Arc`, for work that outlives a request.
    pub me: std::sync::OnceLock<std::sync::Weak<AppState>>,
}

impl AppState {
    /// The shared handle to this state (set when the server starts).
    pub fn shared(&self) -> Option<Shared> {
        self.me.get().and_then(std::sync::Weak::upgrade)
    }
}

pub type Shared = Arc<AppState>;

/// Runs `f` on a blocking thread; a panic there becomes a logged
/// `InternalFailure` instead of taking the caller down.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(join_failure(e)))
}

fn join_failure(e: tokio::task::JoinError) -> ApiError {
    if e.is_panic() {
        panic_failure(e.into_panic().as_ref())
    } else {
        ApiError::internal_because("the request was cancelled", e)
    }
}

/// What a handler's panic said, kept as the cause of its 500.
#[derive(Debug, thiserror::Error)]
#[error("a request handler panicked: {0}")]
struct Panicked(String);

/// The 500 the client sees for a panic; its message goes to the log.
fn panic_failure(cause: &(dyn std::any::Any + Send)) -> ApiError {
    let msg = cause
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| cause.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into());
    ApiError::internal_because(
        "The request processing has failed because of an unknown error (see the server log).",
        Panicked(msg),
    )
}

fn panic_response(cause: Box<dyn std::any::Any + Send + 'static>) -> Response {
    panic_failure(cause.as_ref()).into_response()
}

/// Answers a panic in any handler with a logged 500 `InternalFailure`.
pub fn guard(app: Router) -> Router {
    app.layer(tower_http::catch_panic::CatchPanicLayer::custom(
        panic_response,
    ))
}

pub fn router(state: Shared) -> Router {
    guard(routes(state))
}

/// Every route, without the panic guard.
fn routes(state: Shared) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/version", get(version))
        .route(
            "/v1/agent/register",
            post(crate::instances::control::register),
        )
        .route("/v1/agent/control", get(crate::instances::control::control))
        .route(
            crate::instances::binary::BINARY_PATH,
            get(crate::instances::binary::binary),
        )
        .route(
            "/v1/session/{id}/stream",
            get(crate::sessions::stream::stream),
        )
        .route(
            "/v1/node/{operation}",
            post(crate::clusters::node_api::call),
        )
        .route("/v1/{service}/{operation}", post(call))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(state.clone())
        .merge(crate::console::router_with(
            state,
            std::sync::Arc::new(crate::clusters::console_source::Stacks),
        ))
}

async fn version() -> impl IntoResponse {
    axum::Json(json!({
        "Version": crate::VERSION,
        "ApiVersion": "v1",
    }))
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        // Every server fault is logged once, here, with its cause.
        if status.is_server_error() && !self.is_disk_full() {
            match &self.cause {
                Some(cause) => {
                    tracing::error!(code = %self.code, error = %cause, "{}", self.message)
                }
                None => tracing::error!(code = %self.code, "{}", self.message),
            }
        }
        (status, axum::Json(self.body())).into_response()
    }
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

async fn call(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path((service, operation)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request_id = ids::random_hex(16);
    let st = state.clone();
    let rid = request_id.clone();
    let result = blocking(move || {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        // Statements commit one by one, as under the old single connection:
        // what an operation hands to an agent or a thread is already visible.
        let conn = crate::db::checkout(&st.db)?;
        let conn: &rusqlite::Connection = &conn;
        let req = SignedRequest {
            method: "POST",
            path: uri.path(),
            query: uri.query().unwrap_or(""),
            body: &body,
            authorization: header(&headers, "authorization"),
            date: header(&headers, signature::DATE_HEADER),
            nonce: header(&headers, signature::NONCE_HEADER),
            source_ip: Some(peer.ip().to_string()),
            request_id: &rid,
        };
        let caller = auth::authenticate(conn, &req, now)?;
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
        let ctx = crate::ops::Ctx {
            conn,
            caller: &caller,
            request_id: &rid,
            state: &st,
        };
        crate::ops::dispatch(&ctx, &service, &operation, &input)
    })
    .await;
    match result {
        Ok(v) => {
            let mut r = axum::Json(v).into_response();
            if let Ok(h) = request_id.parse() {
                r.headers_mut().insert("x-airlock-request-id", h);
            }
            r
        }
        Err(e) => {
            let mut r = e.into_response();
            if let Ok(h) = request_id.parse() {
                r.headers_mut().insert("x-airlock-request-id", h);
            }
            r
        }
    }
}

#[cfg(test)]
mod tests;
