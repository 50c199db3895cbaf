//! Listeners added while the server runs: each cluster's agent endpoint on
//! its bridge's gateway address, serving the same API as the main address.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Mutex, OnceLock};

use axum::extract::connect_info::IntoMakeServiceWithConnectInfo;
use axum_server::tls_rustls::RustlsConfig;

type App = IntoMakeServiceWithConnectInfo<axum::Router, SocketAddr>;

/// What serving one more address needs; set once the router exists.
pub struct Listeners {
    serve: OnceLock<(
        App,
        RustlsConfig,
        axum_server::Handle,
        tokio::runtime::Handle,
    )>,
    running: Mutex<HashMap<SocketAddr, tokio::task::JoinHandle<()>>>,
}

impl Default for Listeners {
    fn default() -> Self {
        Listeners {
            serve: OnceLock::new(),
            running: Mutex::new(HashMap::new()),
        }
    }
}

impl Listeners {
    pub fn init(&self, app: App, tls: RustlsConfig, handle: axum_server::Handle) {
        let _ = self
            .serve
            .set((app, tls, handle, tokio::runtime::Handle::current()));
    }

    /// Starts serving `addr` (idempotent).
    pub fn add(&self, addr: SocketAddr) -> std::io::Result<()> {
        let mut running = self
            .running
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?;
        if running.get(&addr).is_some_and(|h| !h.is_finished()) {
            return Ok(());
        }
        let Some((app, tls, handle, rt)) = self.serve.get() else {
            return Err(std::io::Error::other("the server is not serving yet"));
        };
        let l = std::net::TcpListener::bind(addr)?;
        l.set_nonblocking(true)?;
        let server = axum_server::from_tcp_rustls(l, tls.clone())
            .map(super::tls::PeerCertAcceptor::new)
            .handle(handle.clone());
        let app = app.clone();
        let task = rt.spawn(async move {
            if let Err(e) = server.serve(app).await {
                tracing::warn!(%addr, error = %e, "agent endpoint stopped");
            }
        });
        running.insert(addr, task);
        tracing::info!(%addr, "serving an agent endpoint");
        Ok(())
    }

    /// Stops accepting on `addr`.
    pub fn remove(&self, addr: SocketAddr) {
        if let Ok(mut r) = self.running.lock()
            && let Some(t) = r.remove(&addr)
        {
            t.abort();
        }
    }
}
