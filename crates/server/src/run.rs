//! Starting the server in the foreground: prepare the state directory, open
//! the database, load the CA, bootstrap the admin on first start, bind, and
//! serve HTTPS until SIGINT or SIGTERM.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};

use crate::http::{AppState, router};
use crate::iam::store::{Iam, PrincipalKind};
use crate::pki::Pki;
use crate::state_dir::StateDir;
use crate::{auth, db};
use airlock_proto::profile::{ClientFiles, Profile};

#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub state_dir: PathBuf,
    /// The first address is the users' endpoint; more may serve agents.
    pub listen: Vec<SocketAddr>,
    /// Agents' heartbeat interval (default 10 s; dead after three missed).
    pub ping_interval: Duration,
    /// The region written in instance ARNs.
    pub region: String,
    /// The `airlock` binary that cluster nodes run.
    pub node_binary: PathBuf,
    /// Where cluster machines come from and how they reach the server.
    pub clusters: crate::clusters::ClusterOptions,
}

fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    let l = TcpListener::bind(addr).map_err(|e| match e.kind() {
        std::io::ErrorKind::AddrInUse => anyhow!(
            "cannot start the server: {addr} is already in use (is another `airlock server` running? see `airlock server status`, or choose another address with --listen)"
        ),
        std::io::ErrorKind::PermissionDenied => anyhow!(
            "cannot start the server: no permission to listen on {addr} (ports below 1024 need root; choose another with --listen)"
        ),
        std::io::ErrorKind::AddrNotAvailable => anyhow!(
            "cannot start the server: {addr} is not an address of this machine (choose another with --listen)"
        ),
        _ => anyhow!("cannot start the server: cannot listen on {addr}: {e}"),
    })?;
    l.set_nonblocking(true)?;
    Ok(l)
}

/// The names the server certificate must carry.
fn cert_names(listen: &[SocketAddr]) -> Vec<String> {
    let mut names = vec![
        "localhost".to_owned(),
        // Nodes reach the server by this name (their /etc/hosts has it).
        "airlock-server".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    if let Ok(h) = nix::unistd::gethostname()
        && let Some(h) = h.to_str().filter(|h| !h.is_empty())
    {
        names.push(h.to_owned());
    }
    for a in listen {
        if !a.ip().is_unspecified() {
            names.push(a.ip().to_string());
        }
    }
    names
}

/// The URL clients use for the first listen address.
pub fn endpoint_url(addr: SocketAddr) -> String {
    let host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_owned()
    } else if addr.is_ipv6() {
        format!("[{}]", addr.ip())
    } else {
        addr.ip().to_string()
    };
    format!("https://{host}:{}", addr.port())
}

/// Creates the `admin` user with AdministratorAccess and writes its
/// credentials to the profile `default` of whoever runs the server.
fn bootstrap_admin(conn: &rusqlite::Connection, pki: &Pki, endpoint: &str) -> anyhow::Result<()> {
    let iam = Iam::new(conn)?;
    let run = || -> Result<_, crate::iam::store::IamError> {
        iam.create_user("admin", &[])?;
        iam.attach_policy(
            PrincipalKind::User,
            "admin",
            "arn:aws:iam::aws:policy/AdministratorAccess",
        )?;
        iam.create_access_key("admin")
    };
    let (meta, key) = run().context("creating the admin identity")?;
    let files = ClientFiles::locate()?;
    files.save(&Profile {
        name: "default".into(),
        endpoint: Some(endpoint.to_owned()),
        ca_bundle: Some(files.ca_path()),
        access_key_id: Some(meta.access_key_id.clone()),
        private_key: Some(auth::signature::encode_private_key(&key)),
    })?;
    // Last: tools wait for the CA as the sign that the profile is complete.
    files.save_ca(&pki.ca_cert_pem)?;
    tracing::info!(
        user = "admin",
        access_key_id = %meta.access_key_id,
        credentials = %files.credentials_path().display(),
        "created the admin identity (profile 'default')"
    );
    Ok(())
}

/// Runs the server until a signal stops it.
pub async fn run(opts: ServerOptions) -> anyhow::Result<()> {
    if opts.listen.is_empty() {
        return Err(anyhow!("no listen address given"));
    }
    let dir = StateDir::new(&opts.state_dir);
    dir.prepare()?;
    let _lock = dir.lock()?;
    let listeners = opts
        .listen
        .iter()
        .map(|a| bind(*a))
        .collect::<anyhow::Result<Vec<_>>>()?;
    // Port 0 means "any": from here on, the addresses are the bound ones.
    let listen = listeners
        .iter()
        .map(TcpListener::local_addr)
        .collect::<std::io::Result<Vec<_>>>()
        .context("reading the bound addresses")?;
    let first = listen[0];
    let (conn, _) = db::open(&dir.database())?;
    let mut names = cert_names(&listen);
    if let Some(a) = opts.clusters.node_endpoint {
        names.push(a.ip().to_string());
    }
    let pki = Pki::load_or_create(&dir.pki(), &names)?;
    let endpoint = endpoint_url(first);
    let users: i64 = conn.query_row("SELECT count(*) FROM users", [], |r| r.get(0))?;
    if users == 0 {
        bootstrap_admin(&conn, &pki, &endpoint)?;
    }
    let listen_lines: String = listen.iter().map(|a| format!("{a}\n")).collect();
    std::fs::write(dir.listen_file(), listen_lines)
        .with_context(|| format!("writing {}", dir.listen_file().display()))?;
    std::fs::write(dir.endpoint_file(), format!("{endpoint}\n"))
        .with_context(|| format!("writing {}", dir.endpoint_file().display()))?;
    std::fs::write(dir.pid_file(), format!("{}\n", std::process::id()))
        .with_context(|| format!("writing {}", dir.pid_file().display()))?;
    let tls = crate::http::tls::server_config(&pki)?;
    crate::instances::store::mark_all_disconnected(&conn)?;
    drop(conn);
    let state = Arc::new(AppState {
        db: db::pool(&dir.database())?,
        started: Instant::now(),
        state_dir: opts.state_dir.clone(),
        listen: listen.clone(),
        pki,
        hub: crate::instances::Hub::default(),
        ping_interval: opts.ping_interval,
        region: opts.region.clone(),
        broker: crate::sessions::Broker::default(),
        listeners: Default::default(),
        clusters: crate::clusters::Manager::new(
            &opts.state_dir,
            opts.node_binary.clone(),
            first.port(),
            &opts.clusters,
        ),
        me: Default::default(),
    });
    let _ = state.me.set(Arc::downgrade(&state));
    tokio::spawn(crate::sessions::reaper::run(state.clone()));
    tokio::spawn(crate::instances::flush_pings(state.clone()));
    let app = router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let handle = axum_server::Handle::new();
    state
        .listeners
        .init(app.clone(), tls.clone(), handle.clone());
    crate::clusters::start(state.clone());
    let mut tasks = tokio::task::JoinSet::new();
    for l in listeners {
        let server = axum_server::from_tcp_rustls(l, tls.clone())
            .map(crate::http::tls::PeerCertAcceptor::new)
            .handle(handle.clone());
        let app = app.clone();
        tasks.spawn(async move { server.serve(app).await });
    }
    tracing::info!(
        version = crate::VERSION,
        endpoint = %endpoint,
        listen = ?listen,
        state_dir = %opts.state_dir.display(),
        "airlock server ready"
    );
    let h = handle.clone();
    tasks.spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        h.graceful_shutdown(Some(Duration::from_secs(5)));
        Ok(())
    });
    while let Some(r) = tasks.join_next().await {
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(anyhow!("the server stopped: {e}")),
            Err(e) => return Err(anyhow!("a server task failed: {e}")),
        }
        if handle.connection_count() == 0 && tasks.is_empty() {
            break;
        }
    }
    let pings = state.hub.take_pings();
    if let Ok(conn) = crate::db::checkout(&state.db)
        && let Err(e) = crate::instances::store::record_pings(&conn, &pings)
    {
        tracing::warn!(error = %e, "cannot record the last heartbeats");
    }
    let _ = std::fs::remove_file(dir.pid_file());
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
