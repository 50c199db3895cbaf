//! TLS for the API port: the server certificate, optional client
//! certificates (nodes present theirs; users sign requests instead), and an
//! acceptor that hands each request the peer certificate's SHA-256.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;

use airlock_transport::dial::TLS_BUFFER_LIMIT;
use anyhow::Context;
use axum::Extension;
use axum_server::accept::{Accept, NoDelayAcceptor};
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::server::TlsStream;
use tower_layer::Layer;

use crate::pki::{Pki, cert_sha256};

/// The SHA-256 of the client certificate of this connection, if any.
#[derive(Debug, Clone)]
pub struct PeerCert(pub Option<String>);

pub fn server_config(pki: &Pki) -> anyhow::Result<RustlsConfig> {
    let certs = CertificateDer::pem_slice_iter(pki.server_cert_pem.as_bytes())
        .chain(CertificateDer::pem_slice_iter(pki.ca_cert_pem.as_bytes()))
        .collect::<Result<Vec<_>, _>>()
        .context("reading the server certificate")?;
    let key = PrivateKeyDer::from_pem_slice(pki.server_key_pem.as_bytes())
        .context("reading the server key")?;
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(pki.ca_cert_pem.as_bytes()) {
        roots.add(ca.context("reading the CA")?)?;
    }
    let provider = airlock_transport::dial::crypto_provider();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .allow_unauthenticated()
    .build()?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(RustlsConfig::from_config(Arc::new(cfg)))
}

/// Wraps the rustls acceptor to attach [`PeerCert`] to every request. It
/// sets `TCP_NODELAY` first: small frames (window updates, keystrokes) must
/// not wait for Nagle's algorithm.
#[derive(Clone)]
pub struct PeerCertAcceptor(pub RustlsAcceptor<NoDelayAcceptor>);

impl PeerCertAcceptor {
    pub fn new(tls: RustlsAcceptor) -> Self {
        PeerCertAcceptor(tls.acceptor(NoDelayAcceptor::new()))
    }
}

type BoxFut<T> = Pin<Box<dyn Future<Output = io::Result<T>> + Send>>;

impl<S> Accept<tokio::net::TcpStream, S> for PeerCertAcceptor
where
    S: Send + 'static,
{
    type Stream = TlsStream<tokio::net::TcpStream>;
    type Service = axum::middleware::AddExtension<S, PeerCert>;
    type Future = BoxFut<(Self::Stream, Self::Service)>;

    fn accept(&self, stream: tokio::net::TcpStream, service: S) -> Self::Future {
        let fut = self.0.accept(stream, service);
        Box::pin(async move {
            let (mut stream, service) = fut.await?;
            stream.get_mut().1.set_buffer_limit(Some(TLS_BUFFER_LIMIT));
            let fp = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| cert_sha256(c.as_ref()));
            Ok((stream, Extension(PeerCert(fp)).layer(service)))
        })
    }
}
