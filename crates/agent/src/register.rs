//! Hybrid activation: redeem an activation code for an `mi-` instance id and
//! a client certificate. The private key never leaves this machine: the
//! server signs a CSR.

use anyhow::{Context, anyhow};
use serde_json::{Value, json};

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
    let key = rcgen::KeyPair::generate()?;
    let csr = rcgen::CertificateParams::default()
        .serialize_request(&key)?
        .pem()?;
    let endpoint = endpoint.trim_end_matches('/');
    let resp = http
        .post(format!("{endpoint}/v1/agent/register"))
        .json(&json!({
            "ActivationId": activation_id,
            "ActivationCode": activation_code,
            "Csr": csr,
        }))
        .send()
        .await
        .with_context(|| format!("cannot reach the airlock server at {endpoint}"))?;
    let status = resp.status();
    let v: Value = resp.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        return Err(anyhow!(
            "registration refused ({}): {}",
            v["__type"].as_str().unwrap_or("error"),
            v["message"].as_str().unwrap_or("no reason given")
        ));
    }
    let instance_id = v["InstanceId"]
        .as_str()
        .ok_or_else(|| anyhow!("the server's answer has no InstanceId"))?
        .to_owned();
    let cert_pem = v["Certificate"]
        .as_str()
        .ok_or_else(|| anyhow!("the server's answer has no Certificate"))?
        .to_owned();
    Ok(Registration {
        instance_id,
        key_pem: key.serialize_pem(),
        cert_pem,
    })
}

/// Registers this machine; returns its instance id.
pub async fn register(
    dir: &AgentDir,
    endpoint: &str,
    ca_pem: &[u8],
    activation_id: &str,
    activation_code: &str,
) -> anyhow::Result<String> {
    let http = http_client(ca_pem)?;
    let r = redeem(&http, endpoint, activation_id, activation_code).await?;
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
