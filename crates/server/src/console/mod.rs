//! The web console, served by the server on its HTTPS port under
//! `/console/`: a one-time sign-in link (`airlock console`) exchanged for a
//! short-lived cookie session; the managed nodes the user may describe; a
//! terminal in the page (xterm.js over a WebSocket, bridged into the same
//! session broker, relay and recording as the CLI); session history with
//! in-page replay and Terminate; the Session Manager preferences; a
//! read-only view of the audit log; and each cluster's stack and Slurm
//! node states.
//!
//! The console acts as the signed-in IAM user: every request goes through
//! `iam::authz` with the user's policies and is audited, and refusals carry
//! the signed API's words. Web security: same-Origin checks on every POST
//! and WebSocket upgrade, a CSRF token on every state-changing request, a
//! strict Content-Security-Policy, and assets embedded in the binary.

pub mod api;
pub mod assets;
pub mod clusters;
pub mod filter;
pub mod nodes;
pub mod session;
pub mod signin;
pub mod terminal;

use std::sync::Arc;

use axum::Router;
use axum::response::Redirect;
use axum::routing::{get, post};

use crate::http::Shared;

/// What the console's handlers share.
pub struct Console {
    pub app: Shared,
    pub clusters: Arc<dyn clusters::ClusterSource>,
}

/// The console's routes, learning about clusters from `clusters`.
pub fn router_with(app: Shared, clusters: Arc<dyn clusters::ClusterSource>) -> Router {
    let c = Arc::new(Console { app, clusters });
    Router::new()
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .route("/console/", get(assets::index))
        .route("/console/signin", get(assets::signin_page))
        .route("/console/assets/{*path}", get(assets::asset))
        .route("/console/api/signin", post(api::signin))
        .route("/console/api/signout", post(api::signout))
        .route("/console/api/whoami", get(api::whoami))
        .route("/console/api/nodes", post(api::list_nodes))
        .route("/console/api/clusters", post(api::list_clusters))
        .route("/console/api/call/{service}/{operation}", post(api::call))
        .route("/console/ws/terminal", get(terminal::ws))
        .layer(axum::middleware::map_response(|r| async move {
            assets::secure(r)
        }))
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024))
        .with_state(c)
}
