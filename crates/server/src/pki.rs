//! The server's own certificate authority: generated at first start, reused
//! after, and used to issue the server's TLS certificate and the nodes'
//! client certificates.

use std::fs;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SanType,
};
use time::{Duration, OffsetDateTime};

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("cannot read or write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the CA in {path} is unreadable ({reason}); move the pki directory aside to make a new CA (agents and users must then trust the new ca.pem)"
    )]
    BadCa { path: PathBuf, reason: String },
    #[error("certificate generation failed: {0}")]
    Rcgen(#[from] rcgen::Error),
}

/// The CA and the server certificate, as PEM.
pub struct Pki {
    pub ca_cert_pem: String,
    ca_key: KeyPair,
    ca_params: CertificateParams,
    pub server_cert_pem: String,
    pub server_key_pem: String,
    /// True when this call generated a new CA.
    pub created_ca: bool,
}

impl std::fmt::Debug for Pki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pki")
            .field("created_ca", &self.created_ca)
            .finish_non_exhaustive()
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> PkiError + '_ {
    move |source| PkiError::Io {
        path: path.to_owned(),
        source,
    }
}

pub use airlock_proto::profile::write_private;

fn save(path: &Path, data: &str) -> Result<(), PkiError> {
    write_private(path, data.as_bytes()).map_err(io_err(path))
}

impl Pki {
    /// Loads the CA from `dir`, or creates it; then makes sure the server
    /// certificate covers `names` (DNS names or IP addresses).
    pub fn load_or_create(dir: &Path, names: &[String]) -> Result<Self, PkiError> {
        let ca_pem_path = dir.join("ca.pem");
        let ca_key_path = dir.join("ca.key");
        let (ca_cert_pem, ca_key, ca_params, created_ca) = if ca_pem_path.exists() {
            let bad = |reason: String| PkiError::BadCa {
                path: ca_pem_path.clone(),
                reason,
            };
            let pem = fs::read_to_string(&ca_pem_path).map_err(io_err(&ca_pem_path))?;
            let key_pem = fs::read_to_string(&ca_key_path).map_err(io_err(&ca_key_path))?;
            let key = KeyPair::from_pem(&key_pem).map_err(|e| bad(e.to_string()))?;
            let params =
                CertificateParams::from_ca_cert_pem(&pem).map_err(|e| bad(e.to_string()))?;
            (pem, key, params, false)
        } else {
            let key = KeyPair::generate()?;
            let mut params = CertificateParams::default();
            let mut dn = DistinguishedName::new();
            dn.push(DnType::CommonName, "airlock CA");
            dn.push(DnType::OrganizationName, "airlock");
            params.distinguished_name = dn;
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.key_usages = vec![
                KeyUsagePurpose::KeyCertSign,
                KeyUsagePurpose::CrlSign,
                KeyUsagePurpose::DigitalSignature,
            ];
            let now = OffsetDateTime::now_utc();
            params.not_before = now - Duration::hours(1);
            params.not_after = now + Duration::days(3650);
            let cert = params.clone().self_signed(&key)?;
            save(&ca_key_path, &key.serialize_pem())?;
            save(&ca_pem_path, &cert.pem())?;
            (cert.pem(), key, params, true)
        };
        let mut pki = Pki {
            ca_cert_pem,
            ca_key,
            ca_params,
            server_cert_pem: String::new(),
            server_key_pem: String::new(),
            created_ca,
        };
        pki.ensure_server_cert(dir, names)?;
        Ok(pki)
    }

    fn issuer(&self) -> Result<Certificate, PkiError> {
        Ok(self.ca_params.clone().self_signed(&self.ca_key)?)
    }

    fn ensure_server_cert(&mut self, dir: &Path, names: &[String]) -> Result<(), PkiError> {
        let cert_path = dir.join("server.pem");
        let key_path = dir.join("server.key");
        let sans_path = dir.join("server.names");
        let mut wanted: Vec<String> = names.to_vec();
        wanted.sort();
        wanted.dedup();
        let wanted_line = wanted.join(",");
        if !self.created_ca && cert_path.exists() && key_path.exists() {
            let issued = fs::read_to_string(&sans_path).unwrap_or_default();
            if issued.trim() == wanted_line {
                self.server_cert_pem =
                    fs::read_to_string(&cert_path).map_err(io_err(&cert_path))?;
                self.server_key_pem = fs::read_to_string(&key_path).map_err(io_err(&key_path))?;
                return Ok(());
            }
        }
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, "airlock server");
        params.subject_alt_names = wanted
            .iter()
            .map(|n| match n.parse::<std::net::IpAddr>() {
                Ok(ip) => Ok(SanType::IpAddress(ip)),
                Err(_) => Ok(SanType::DnsName(n.clone().try_into()?)),
            })
            .collect::<Result<_, rcgen::Error>>()?;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::hours(1);
        params.not_after = now + Duration::days(825);
        let cert = params.signed_by(&key, &self.issuer()?, &self.ca_key)?;
        self.server_cert_pem = cert.pem();
        self.server_key_pem = key.serialize_pem();
        save(&key_path, &self.server_key_pem)?;
        save(&cert_path, &self.server_cert_pem)?;
        save(&sans_path, &wanted_line)?;
        Ok(())
    }
}

impl Pki {
    /// Issues a client certificate for a node, bound to its instance id, for
    /// the public key in `csr_pem`. Returns the PEM and its SHA-256.
    pub fn issue_node_cert(
        &self,
        instance_id: &str,
        csr_pem: &str,
    ) -> Result<(String, String), PkiError> {
        let csr = rcgen::CertificateSigningRequestParams::from_pem(csr_pem)?;
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, instance_id);
        params.subject_alt_names = vec![SanType::URI(
            format!("urn:airlock:instance:{instance_id}").try_into()?,
        )];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::hours(1);
        params.not_after = now + Duration::days(825);
        let cert = params.signed_by(&csr.public_key, &self.issuer()?, &self.ca_key)?;
        Ok((cert.pem(), cert_sha256(cert.der())))
    }
}

/// The hex SHA-256 of a DER certificate: how the server recognises a node.
pub fn cert_sha256(der: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(der))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_load_reuses_the_ca_and_server_cert() {
        let tmp = tempfile::tempdir().unwrap();
        let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        let a = Pki::load_or_create(tmp.path(), &names).unwrap();
        assert!(a.created_ca);
        let b = Pki::load_or_create(tmp.path(), &names).unwrap();
        assert!(!b.created_ca);
        assert_eq!(a.ca_cert_pem, b.ca_cert_pem);
        assert_eq!(a.server_cert_pem, b.server_cert_pem);
    }

    #[test]
    fn new_listen_name_reissues_server_cert_under_same_ca() {
        let tmp = tempfile::tempdir().unwrap();
        let a = Pki::load_or_create(tmp.path(), &["localhost".into()]).unwrap();
        let b = Pki::load_or_create(tmp.path(), &["localhost".into(), "10.0.0.1".into()]).unwrap();
        assert_eq!(a.ca_cert_pem, b.ca_cert_pem);
        assert_ne!(a.server_cert_pem, b.server_cert_pem);
    }

    #[test]
    fn node_certificate_is_issued_for_the_csr_key() {
        let tmp = tempfile::tempdir().unwrap();
        let pki = Pki::load_or_create(tmp.path(), &["localhost".into()]).unwrap();
        let key = KeyPair::generate().unwrap();
        let csr = CertificateParams::default()
            .serialize_request(&key)
            .unwrap()
            .pem()
            .unwrap();
        let (pem, sha) = pki.issue_node_cert("mi-0123456789abcdef0", &csr).unwrap();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert_eq!(sha.len(), 64);
        assert!(pki.issue_node_cert("mi-1", "not a csr").is_err());
    }

    #[test]
    fn key_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        Pki::load_or_create(tmp.path(), &["localhost".into()]).unwrap();
        for f in ["ca.key", "server.key"] {
            let mode = fs::metadata(tmp.path().join(f))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "{f} is readable by others");
        }
    }
}
