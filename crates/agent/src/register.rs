//! Hybrid activation: redeem an activation code for an `mi-` instance id and
//! a client certificate. The private key never leaves this machine: the
//! server signs a CSR.

use anyhow::{Context, anyhow};
use serde_json::{Value, json};

use crate::identity::{AgentDir, Identity};

/// Registers this machine; returns its instance id.
pub async fn register(
    dir: &AgentDir,
    endpoint: &str,
    ca_pem: &[u8],
    activation_id: &str,
    activation_code: &str,
) -> anyhow::Result<String> {
    let key = rcgen::KeyPair::generate()?;
    let csr = rcgen::CertificateParams::default()
        .serialize_request(&key)?
        .pem()?;
    let mut http = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .timeout(std::time::Duration::from_secs(30));
    for cert in reqwest::Certificate::from_pem_bundle(ca_pem).context("reading the CA bundle")? {
        http = http.add_root_certificate(cert);
    }
    let endpoint = endpoint.trim_end_matches('/');
    let resp = http
        .build()?
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
    let cert = v["Certificate"]
        .as_str()
        .ok_or_else(|| anyhow!("the server's answer has no Certificate"))?;
    dir.create()?;
    dir.write_private(&dir.key(), key.serialize_pem().as_bytes())?;
    dir.write_private(&dir.cert(), cert.as_bytes())?;
    dir.write_private(&dir.ca(), ca_pem)?;
    dir.save_identity(&Identity {
        instance_id: instance_id.clone(),
        endpoint: endpoint.to_owned(),
    })?;
    Ok(instance_id)
}
