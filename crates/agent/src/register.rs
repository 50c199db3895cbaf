//! Registration: redeem a hybrid activation (for a new `mi-` instance id) or
//! a join token (for the instance id the server minted it for, as a node
//! booting from its user data does) for a client certificate. The private
//! key never leaves this machine: the server signs a CSR.

use airlock_proto::ErrorBody;
pub use airlock_proto::registration::Credential;
use airlock_proto::registration::{REGISTER_PATH, RegisterRequest, RegisterResponse};
use anyhow::{Context, anyhow};

use crate::identity::{AgentDir, Identity};

/// What a redeemed activation gives a node: its id, its key and the
/// certificate the server issued for that key.
pub struct Registration {
    pub instance_id: String,
    pub key_pem: String,
    pub cert_pem: String,
}

/// An HTTPS client that trusts only the CA in `ca_pem`.
pub fn http_client(ca_pem: &[u8]) -> anyhow::Result<reqwest::Client> {
    let mut http = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .timeout(std::time::Duration::from_secs(30));
    for cert in reqwest::Certificate::from_pem_bundle(ca_pem).context("reading the CA bundle")? {
        http = http.add_root_certificate(cert);
    }
    Ok(http.build()?)
}

/// Generates a key pair here, sends its CSR with the activation, and
/// returns the issued identity. Nothing is written to disk.
pub async fn redeem(
    http: &reqwest::Client,
    endpoint: &str,
    activation_id: &str,
    activation_code: &str,
) -> anyhow::Result<Registration> {
    let credential = Credential::Activation {
        activation_id: activation_id.to_owned(),
        activation_code: activation_code.to_owned(),
    };
    redeem_with(http, endpoint, &credential).await
}

/// Generates a key pair here, sends its CSR with `credential`, and returns
/// the issued identity. Nothing is written to disk.
pub async fn redeem_with(
    http: &reqwest::Client,
    endpoint: &str,
    credential: &Credential,
) -> anyhow::Result<Registration> {
    let key = rcgen::KeyPair::generate()?;
    let csr = rcgen::CertificateParams::default()
        .serialize_request(&key)?
        .pem()?;
    let endpoint = endpoint.trim_end_matches('/');
    let resp = http
        .post(format!("{endpoint}{REGISTER_PATH}"))
        .json(&RegisterRequest {
            credential: credential.clone(),
            csr,
        })
        .send()
        .await
        .with_context(|| format!("cannot reach the airlock server at {endpoint}"))?;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    if !status.is_success() {
        let e = serde_json::from_str::<ErrorBody>(&text).unwrap_or_else(|_| ErrorBody {
            code: format!("HTTP {status}"),
            message: "no reason given".into(),
        });
        return Err(anyhow!("registration refused ({}): {}", e.code, e.message));
    }
    let RegisterResponse {
        instance_id,
        certificate: cert_pem,
        ..
    } = serde_json::from_str(&text).context("the server's answer to the registration")?;
    if let Credential::Join {
        instance_id: wanted,
        ..
    } = credential
    {
        anyhow::ensure!(
            &instance_id == wanted,
            "the server registered this machine as {instance_id}, not the instance {wanted} its join token is for"
        );
    }
    Ok(Registration {
        instance_id,
        key_pem: key.serialize_pem(),
        cert_pem,
    })
}

/// Registers this machine with `credential`; returns its instance id.
pub async fn register(
    dir: &AgentDir,
    endpoint: &str,
    ca_pem: &[u8],
    credential: &Credential,
) -> anyhow::Result<String> {
    let http = http_client(ca_pem)?;
    let r = redeem_with(&http, endpoint, credential).await?;
    dir.create()?;
    dir.write_private(&dir.key(), r.key_pem.as_bytes())?;
    dir.write_private(&dir.cert(), r.cert_pem.as_bytes())?;
    dir.write_private(&dir.ca(), ca_pem)?;
    dir.save_identity(&Identity {
        instance_id: r.instance_id.clone(),
        endpoint: endpoint.trim_end_matches('/').to_owned(),
    })?;
    Ok(r.instance_id)
}
