//! Dialling the server: TCP (through an `HTTPS_PROXY` with CONNECT unless
//! `NO_PROXY` says otherwise), TLS with the node certificate, then an
//! HTTP/1.1 upgrade to a named protocol.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use anyhow::{Context, anyhow, bail};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use airlock_proto::{ErrorBody, ErrorCode};

/// Host and port of an `https://host:port` endpoint.
pub fn host_port(endpoint: &str) -> anyhow::Result<(String, u16)> {
    let rest = endpoint
        .strip_prefix("https://")
        .ok_or_else(|| anyhow!("endpoint {endpoint} must start with https://"))?;
    let authority = rest.split('/').next().unwrap_or(rest);
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
            (h, p.parse().map_err(|_| anyhow!("bad port in {endpoint}"))?)
        }
        _ => (authority, 443),
    };
    Ok((
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
        port,
    ))
}

/// The proxy to use for `host`, from `HTTPS_PROXY`/`https_proxy` and `NO_PROXY`.
pub fn proxy_for(host: &str) -> Option<(String, u16)> {
    let proxy = std::env::var("HTTPS_PROXY")
        .or_else(|_| std::env::var("https_proxy"))
        .ok()
        .filter(|p| !p.is_empty())?;
    let no_proxy = std::env::var("NO_PROXY")
        .or_else(|_| std::env::var("no_proxy"))
        .unwrap_or_default();
    let bypass = no_proxy
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .any(|e| {
            e == "*" || host == e || host.ends_with(&format!(".{}", e.trim_start_matches('.')))
        });
    if bypass {
        return None;
    }
    let p = proxy.trim_start_matches("http://").trim_end_matches('/');
    let (h, port) = p
        .rsplit_once(':')
        .map_or((p, Some(3128)), |(h, po)| (h, po.parse().ok()));
    Some((h.to_owned(), port?))
}

/// A direct connection from `local`'s address (any port), when given.
async fn connect_from(host: &str, port: u16, local: IpAddr) -> anyhow::Result<TcpStream> {
    let mut last = None;
    for addr in tokio::net::lookup_host((host, port)).await? {
        if addr.is_ipv4() != local.is_ipv4() {
            continue;
        }
        let socket = match addr {
            SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
            SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
        };
        socket.bind(SocketAddr::new(local, 0))?;
        match socket.connect(addr).await {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    Err(last.map_or_else(
        || anyhow!("{host} has no address of {local}'s family"),
        anyhow::Error::from,
    ))
}

async fn tcp(host: &str, port: u16, local: Option<IpAddr>) -> anyhow::Result<TcpStream> {
    let stream = match (proxy_for(host), local) {
        (None, Some(local)) => connect_from(host, port, local)
            .await
            .with_context(|| format!("cannot connect to {host}:{port} from {local}"))?,
        (None, None) => TcpStream::connect((host, port))
            .await
            .with_context(|| format!("cannot connect to {host}:{port}"))?,
        (Some((ph, pp)), _) => {
            let mut s = TcpStream::connect((ph.as_str(), pp))
                .await
                .with_context(|| format!("cannot connect to the proxy {ph}:{pp}"))?;
            s.write_all(
                format!("CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n").as_bytes(),
            )
            .await?;
            let (code, _) = read_head(&mut s).await?;
            if code != 200 {
                bail!("the proxy {ph}:{pp} refused CONNECT {host}:{port} (HTTP {code})");
            }
            s
        }
    };
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Reads an HTTP/1.1 response head; returns the status and the headers.
async fn read_head<S: AsyncRead + Unpin>(
    s: &mut S,
) -> anyhow::Result<(u16, Vec<(String, String)>)> {
    let mut buf = Vec::with_capacity(512);
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if buf.len() > 16 * 1024 {
            bail!("the server's response header is too long");
        }
        if s.read(&mut byte).await? == 0 {
            bail!("the connection closed during the HTTP handshake");
        }
        buf.push(byte[0]);
    }
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    resp.parse(&buf).context("malformed HTTP response")?;
    let code = resp.code.ok_or_else(|| anyhow!("no HTTP status"))?;
    let hs = resp
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_ascii_lowercase(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    Ok((code, hs))
}

/// A node's TLS client config: trust only the server's CA (`ca_pem`), present
/// the node certificate.
pub fn node_tls_config(
    ca_pem: &[u8],
    cert_pem: &[u8],
    key_pem: &[u8],
) -> anyhow::Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem) {
        roots.add(c.context("reading the CA")?)?;
    }
    let certs = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .context("reading the node certificate")?;
    let key = PrivateKeyDer::from_pem_slice(key_pem).context("reading the node key")?;
    let provider = crypto_provider();
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_client_auth_cert(certs, key)?)
}

/// ring's suites with AES-128-GCM first: the TLS 1.3 suite every peer must
/// support, and about a fifth cheaper per byte than AES-256-GCM on the data path.
pub fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    use rustls::crypto::ring::{cipher_suite, default_provider};
    let mut p = default_provider();
    let first = cipher_suite::TLS13_AES_128_GCM_SHA256.suite();
    p.cipher_suites.sort_by_key(|s| s.suite() != first);
    Arc::new(p)
}

/// The server answered the upgrade with an error.
#[derive(Debug, thiserror::Error)]
#[error("the server refused the connection (HTTP {status}): {message}")]
pub struct Refused {
    pub status: u16,
    /// The error code of the body, when it is one this side knows.
    pub code: Option<ErrorCode>,
    pub message: String,
}

impl Refused {
    /// Whether the refusal is the server's last word on a session (its token
    /// no longer admits anyone, or it ended): redialling cannot help.
    pub fn ends_session(&self) -> bool {
        matches!(
            self.code,
            Some(ErrorCode::AccessDeniedException | ErrorCode::SessionEnded)
        )
    }
}

/// Why a dial failed: the server said no, or the connection, its TLS or
/// the handshake after it failed (worth retrying).
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    #[error(transparent)]
    Refused(#[from] Refused),
    #[error(transparent)]
    Handshake(#[from] crate::handshake::HandshakeFailed),
    #[error("{0:#}")]
    Failed(#[from] anyhow::Error),
}

/// A TLS client config for a user: trust only `ca_pem`, no client certificate.
pub fn user_tls_config(ca_pem: &[u8]) -> anyhow::Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem) {
        roots.add(c.context("reading the CA bundle")?)?;
    }
    let provider = crypto_provider();
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// A TLS connection to the server.
pub type Tls = TlsStream<TcpStream>;

/// Most TLS bytes rustls queues before writing them out: one write of the
/// mux (256 KiB of frames) leaves in one `writev` instead of four.
pub const TLS_BUFFER_LIMIT: usize = 256 * 1024;

/// Connects and upgrades `GET path` to `protocol`, sending `headers`.
pub async fn upgrade(
    cfg: Arc<rustls::ClientConfig>,
    endpoint: &str,
    path: &str,
    protocol: &str,
    headers: &[(&str, &str)],
) -> Result<Tls, DialError> {
    upgrade_from(cfg, endpoint, path, protocol, headers, None).await
}

/// [`upgrade`] from a given local address (the agent simulator gives each
/// agent its own loopback address, as each real node has its own).
pub async fn upgrade_from(
    cfg: Arc<rustls::ClientConfig>,
    endpoint: &str,
    path: &str,
    protocol: &str,
    headers: &[(&str, &str)],
    local: Option<IpAddr>,
) -> Result<Tls, DialError> {
    // A dial into a partition would otherwise hang in the kernel's SYN
    // retries (about 2 min), long after the network is back.
    tokio::time::timeout(
        DIAL_TIMEOUT,
        dial_upgrade(cfg, endpoint, path, protocol, headers, local),
    )
    .await
    .map_err(|_| anyhow!("no answer from {endpoint} within {DIAL_TIMEOUT:?}"))?
}

/// Longest a connection, its TLS handshake and the upgrade may take.
pub const DIAL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

async fn dial_upgrade(
    cfg: Arc<rustls::ClientConfig>,
    endpoint: &str,
    path: &str,
    protocol: &str,
    headers: &[(&str, &str)],
    local: Option<IpAddr>,
) -> Result<Tls, DialError> {
    let (host, port) = host_port(endpoint)?;
    let tcp = tcp(&host, port, local).await?;
    let name = ServerName::try_from(host.clone()).map_err(|_| anyhow!("bad server name {host}"))?;
    let mut tls = tokio_rustls::TlsConnector::from(cfg)
        .connect(name, tcp)
        .await
        .with_context(|| format!("TLS handshake with {host}:{port} failed"))?;
    tls.get_mut().1.set_buffer_limit(Some(TLS_BUFFER_LIMIT));
    let mut head = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: Upgrade\r\nUpgrade: {protocol}\r\n"
    );
    for (k, v) in headers {
        if k.contains(['\r', '\n']) || v.contains(['\r', '\n']) {
            return Err(anyhow!("header {k} contains a line break").into());
        }
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    tls.write_all(head.as_bytes())
        .await
        .context("sending the upgrade request")?;
    let (code, _) = read_head(&mut tls).await?;
    if code != 101 {
        let mut body = vec![0u8; 4096];
        let n = tokio::time::timeout(std::time::Duration::from_secs(2), tls.read(&mut body))
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or(0);
        let text = String::from_utf8_lossy(&body[..n]);
        let body = serde_json::from_str::<ErrorBody>(&text).ok();
        return Err(Refused {
            status: code,
            code: body.as_ref().and_then(ErrorBody::known_code),
            message: body.map_or_else(|| text.trim().to_owned(), |b| b.message),
        }
        .into());
    }
    Ok(tls)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aes_128_gcm_is_offered_first_and_nothing_is_dropped() {
        use rustls::CipherSuite;
        let p = crypto_provider();
        let suites: Vec<CipherSuite> = p.cipher_suites.iter().map(|s| s.suite()).collect();
        assert_eq!(suites[0], CipherSuite::TLS13_AES_128_GCM_SHA256);
        let ring = rustls::crypto::ring::default_provider();
        assert_eq!(suites.len(), ring.cipher_suites.len());
    }

    #[test]
    fn endpoints_split_into_host_and_port() {
        assert_eq!(
            host_port("https://127.0.0.1:7443").unwrap(),
            ("127.0.0.1".into(), 7443)
        );
        assert_eq!(
            host_port("https://airlock.example.com/").unwrap(),
            ("airlock.example.com".into(), 443)
        );
        assert_eq!(
            host_port("https://[::1]:9000").unwrap(),
            ("::1".into(), 9000)
        );
        assert!(host_port("http://x:1").is_err());
    }
}
