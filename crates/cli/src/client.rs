//! The API client: finds the profile, signs each request with the user's
//! key, and turns AWS-style error bodies into the AWS CLI's sentence.

use std::path::PathBuf;

use airlock_proto::ErrorBody;
use airlock_proto::profile::{ClientFiles, Profile};
use airlock_proto::signature;
use anyhow::{Context, anyhow};
use rand::RngCore;
use serde_json::Value;

use crate::Global;

#[derive(Debug)]
pub enum CallError {
    /// The server answered with an error.
    Api {
        code: String,
        operation: String,
        message: String,
    },
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Api {
                code,
                operation,
                message,
            } => write!(
                f,
                "An error occurred ({code}) when calling the {operation} operation: {message}"
            ),
        }
    }
}

impl std::error::Error for CallError {}

pub struct ApiClient {
    pub endpoint: String,
    pub ca: Option<PathBuf>,
    access_key_id: String,
    key: ed25519_dalek::SigningKey,
    http: reqwest::Client,
    rt: tokio::runtime::Runtime,
}

/// Builds an HTTPS client that trusts only `ca` (or the system roots).
pub fn http_client(ca: Option<&PathBuf>) -> anyhow::Result<reqwest::Client> {
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(ca.is_none())
        .timeout(std::time::Duration::from_secs(60));
    if let Some(ca) = ca {
        let pem =
            std::fs::read(ca).with_context(|| format!("reading CA bundle {}", ca.display()))?;
        for cert in reqwest::Certificate::from_pem_bundle(&pem)
            .with_context(|| format!("{} is not a PEM certificate bundle", ca.display()))?
        {
            b = b.add_root_certificate(cert);
        }
    }
    Ok(b.build()?)
}

pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

impl ApiClient {
    /// The client for the selected profile, with `--endpoint` applied.
    pub fn from_global(g: &Global) -> anyhow::Result<Self> {
        let files = ClientFiles::locate()?;
        let p: Profile = files.load_named(&g.profile)?;
        let missing =
            |what: &'static str, path: PathBuf| airlock_proto::profile::ProfileError::Missing {
                profile: g.profile.clone(),
                what,
                path,
            };
        let endpoint = g
            .endpoint
            .clone()
            .or(p.endpoint.clone())
            .ok_or_else(|| missing("endpoint", files.config_path()))?;
        let access_key_id = p
            .access_key_id
            .clone()
            .ok_or_else(|| missing("airlock_access_key_id", files.credentials_path()))?;
        let key = p
            .private_key
            .as_deref()
            .and_then(signature::decode_private_key)
            .ok_or_else(|| missing("valid airlock_private_key", files.credentials_path()))?;
        let ca = p.ca_bundle.clone().or_else(|| {
            let c = files.ca_path();
            c.exists().then_some(c)
        });
        Ok(Self {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            ca: ca.clone(),
            access_key_id,
            key,
            http: http_client(ca.as_ref())?,
            rt: runtime()?,
        })
    }

    /// Runs a future on the client's runtime.
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// Calls `service:operation` with a JSON body.
    pub fn call(&self, service: &str, operation: &str, body: &Value) -> anyhow::Result<Value> {
        let path = format!("/v1/{service}/{operation}");
        let bytes = serde_json::to_vec(body)?;
        let mut nonce = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut nonce);
        let h = signature::sign(
            &self.key,
            &self.access_key_id,
            "POST",
            &path,
            "",
            &bytes,
            time::OffsetDateTime::now_utc().unix_timestamp(),
            &hex::encode(nonce),
        );
        let url = format!("{}{path}", self.endpoint);
        let resp = self.rt.block_on(async {
            let r = self
                .http
                .post(&url)
                .header("authorization", h.authorization)
                .header(signature::DATE_HEADER, h.date)
                .header(signature::NONCE_HEADER, h.nonce)
                .header("content-type", "application/json")
                .body(bytes)
                .send()
                .await?;
            let status = r.status();
            let text = r.text().await?;
            Ok::<_, reqwest::Error>((status, text))
        });
        let (status, text) = resp.map_err(|e| unreachable_error(&self.endpoint, e))?;
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(v);
        }
        // A body that is not the API's error shape (a proxy's page) still
        // reads as an error, with the HTTP status.
        let body = serde_json::from_value::<ErrorBody>(v).unwrap_or_else(|_| ErrorBody {
            code: "HttpError".into(),
            message: String::new(),
        });
        Err(CallError::Api {
            message: if body.message.is_empty() {
                format!("HTTP {status}")
            } else {
                body.message
            },
            code: body.code,
            operation: operation.to_owned(),
        }
        .into())
    }
}

/// Words a transport failure so the user knows what to check.
pub fn unreachable_error(endpoint: &str, e: reqwest::Error) -> anyhow::Error {
    let mut detail = e.to_string();
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(&e);
    while let Some(s) = src {
        detail = s.to_string();
        src = s.source();
    }
    if e.is_connect() {
        anyhow!(
            "cannot reach the airlock server at {endpoint} ({detail}); is it running? see `airlock server status`"
        )
    } else {
        anyhow!("request to {endpoint} failed: {detail}")
    }
}
